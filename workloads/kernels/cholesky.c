/* cholesky: A = L*L^T for a symmetric positive-definite A built as
 * B*B^T + n*I (PolyBench solvers kind). argv[1]: matrix order N. */
#include "common.h"
#include <math.h>

int main(int argc, char **argv)
{
    int n = arg_int(argc, argv, 1, 560);
    double (*A)[n] = xcalloc((size_t)n * n, sizeof(double));
    double (*B)[n] = xcalloc((size_t)n * n, sizeof(double));

    for (int i = 0; i < n; i++)
        for (int j = 0; j <= i; j++)
            B[i][j] = (double)(-j % n) / n + 1.0;

    for (int i = 0; i < n; i++)
        for (int j = 0; j <= i; j++) {
            double w = 0.0;
            for (int k = 0; k <= j; k++)
                w += B[i][k] * B[j][k];
            A[i][j] = A[j][i] = w;
        }
    for (int i = 0; i < n; i++)
        A[i][i] += n;

    for (int i = 0; i < n; i++) {
        for (int j = 0; j < i; j++) {
            for (int k = 0; k < j; k++)
                A[i][j] -= A[i][k] * A[j][k];
            A[i][j] /= A[j][j];
        }
        for (int k = 0; k < i; k++)
            A[i][i] -= A[i][k] * A[i][k];
        A[i][i] = sqrt(A[i][i]);
    }

    cks_t c;
    cks_init(&c);
    for (int i = 0; i < n; i++)
        cks_doubles(&c, A[i], i + 1);
    return cks_report("cholesky", &c);
}
