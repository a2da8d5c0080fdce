/* seidel-2d: in-place 9-point Gauss-Seidel stencil (PolyBench stencils
 * kind). argv[1]: time steps; grid is 400 x 400. */
#include "common.h"

#define N 400

static double A[N][N];

int main(int argc, char **argv)
{
    int tsteps = arg_int(argc, argv, 1, 200);

    /* a bilinear start would already be a fixed point of the stencil:
     * add pseudo-random bumps so every sweep changes the grid */
    uint32_t s = 0x5E1DE1u;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++)
            A[i][j] = ((double)i * (j + 2) + 2 + (double)(rng_next(&s) % 1000)) / N;

    for (int t = 0; t < tsteps; t++)
        for (int i = 1; i <= N - 2; i++)
            for (int j = 1; j <= N - 2; j++)
                A[i][j] = (A[i - 1][j - 1] + A[i - 1][j] + A[i - 1][j + 1]
                           + A[i][j - 1] + A[i][j] + A[i][j + 1]
                           + A[i + 1][j - 1] + A[i + 1][j] + A[i + 1][j + 1]) / 9.0;

    cks_t c;
    cks_init(&c);
    cks_doubles(&c, &A[0][0], (size_t)N * N);
    return cks_report("seidel-2d", &c);
}
