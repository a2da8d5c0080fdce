/* lu: LU decomposition without pivoting of a diagonally dominant matrix,
 * then forward and back substitution for A x = b (PolyBench solvers kind:
 * lu + ludcmp). argv[1]: matrix order N. */
#include "common.h"

int main(int argc, char **argv)
{
    int n = arg_int(argc, argv, 1, 600);
    double (*A)[n] = xcalloc((size_t)n * n, sizeof(double));
    double *b = xcalloc(n, sizeof(double));
    double *x = xcalloc(n, sizeof(double));
    double *y = xcalloc(n, sizeof(double));
    uint32_t s = 0x12345u;

    for (int i = 0; i < n; i++) {
        double row = 0.0;
        for (int j = 0; j < n; j++) {
            A[i][j] = (double)(rng_next(&s) % 1000) / 1000.0 - 0.5;
            row += A[i][j] < 0 ? -A[i][j] : A[i][j];
        }
        A[i][i] = row + 1.0; /* strictly diagonally dominant: no pivoting needed */
        b[i] = (double)(i + 1) / n;
    }

    for (int i = 0; i < n; i++) {
        for (int j = 0; j < i; j++) {
            double w = A[i][j];
            for (int k = 0; k < j; k++)
                w -= A[i][k] * A[k][j];
            A[i][j] = w / A[j][j];
        }
        for (int j = i; j < n; j++) {
            double w = A[i][j];
            for (int k = 0; k < i; k++)
                w -= A[i][k] * A[k][j];
            A[i][j] = w;
        }
    }

    for (int i = 0; i < n; i++) {
        double w = b[i];
        for (int j = 0; j < i; j++)
            w -= A[i][j] * y[j];
        y[i] = w;
    }
    for (int i = n - 1; i >= 0; i--) {
        double w = y[i];
        for (int j = i + 1; j < n; j++)
            w -= A[i][j] * x[j];
        x[i] = w / A[i][i];
    }

    cks_t c;
    cks_init(&c);
    cks_doubles(&c, &A[0][0], (size_t)n * n);
    cks_doubles(&c, x, n);
    return cks_report("lu", &c);
}
