/* gemm: C = alpha*A*B + beta*C (PolyBench linear-algebra/blas kind).
 * argv[1]: matrix order N. */
#include "common.h"

int main(int argc, char **argv)
{
    int n = arg_int(argc, argv, 1, 640);
    double (*A)[n] = xcalloc((size_t)n * n, sizeof(double));
    double (*B)[n] = xcalloc((size_t)n * n, sizeof(double));
    double (*C)[n] = xcalloc((size_t)n * n, sizeof(double));
    const double alpha = 1.5, beta = 1.2;

    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            A[i][j] = (double)((i * j + 1) % n) / n;
            B[i][j] = (double)((i * (j + 1) + 2) % n) / n;
            C[i][j] = (double)((i * (j + 2) + 3) % n) / n;
        }

    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++)
            C[i][j] *= beta;
        for (int k = 0; k < n; k++) {
            double a = alpha * A[i][k];
            for (int j = 0; j < n; j++)
                C[i][j] += a * B[k][j];
        }
    }

    cks_t c;
    cks_init(&c);
    cks_doubles(&c, &C[0][0], (size_t)n * n);
    return cks_report("gemm", &c);
}
