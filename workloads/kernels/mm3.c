/* 3mm: G = (A*B) * (C*D) (PolyBench linear-algebra/kernels kind).
 * argv[1]: matrix order N (all four inputs are N x N). */
#include "common.h"

static void matmul(int n, double (*X)[n], double (*Y)[n], double (*Z)[n])
{
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++)
            Z[i][j] = 0.0;
        for (int k = 0; k < n; k++) {
            double x = X[i][k];
            for (int j = 0; j < n; j++)
                Z[i][j] += x * Y[k][j];
        }
    }
}

int main(int argc, char **argv)
{
    int n = arg_int(argc, argv, 1, 420);
    size_t sz = (size_t)n * n;
    double (*A)[n] = xcalloc(sz, sizeof(double));
    double (*B)[n] = xcalloc(sz, sizeof(double));
    double (*C)[n] = xcalloc(sz, sizeof(double));
    double (*D)[n] = xcalloc(sz, sizeof(double));
    double (*E)[n] = xcalloc(sz, sizeof(double));
    double (*F)[n] = xcalloc(sz, sizeof(double));
    double (*G)[n] = xcalloc(sz, sizeof(double));

    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            A[i][j] = (double)((i * j + 1) % n) / (5 * n);
            B[i][j] = (double)((i * (j + 1) + 2) % n) / (5 * n);
            C[i][j] = (double)(i * (j + 3) % n) / (5 * n);
            D[i][j] = (double)((i * (j + 2) + 2) % n) / (5 * n);
        }

    matmul(n, A, B, E);
    matmul(n, C, D, F);
    matmul(n, E, F, G);

    cks_t c;
    cks_init(&c);
    cks_doubles(&c, &G[0][0], sz);
    return cks_report("3mm", &c);
}
