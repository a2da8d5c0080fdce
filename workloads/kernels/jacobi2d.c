/* jacobi-2d: 5-point Jacobi stencil, ping-pong between two grids
 * (PolyBench stencils kind). argv[1]: time steps; grid is 400 x 400. */
#include "common.h"

#define N 400

static double A[N][N], B[N][N];

int main(int argc, char **argv)
{
    int tsteps = arg_int(argc, argv, 1, 500);

    /* pseudo-random bumps: a bilinear start would be a fixed point */
    uint32_t s = 0x7AC0B1u;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            A[i][j] = ((double)i * (j + 2) + 2 + (double)(rng_next(&s) % 1000)) / N;
            B[i][j] = ((double)i * (j + 3) + 3) / N;
        }

    for (int t = 0; t < tsteps; t++) {
        for (int i = 1; i < N - 1; i++)
            for (int j = 1; j < N - 1; j++)
                B[i][j] = 0.2 * (A[i][j] + A[i][j - 1] + A[i][j + 1] + A[i + 1][j] + A[i - 1][j]);
        for (int i = 1; i < N - 1; i++)
            for (int j = 1; j < N - 1; j++)
                A[i][j] = 0.2 * (B[i][j] + B[i][j - 1] + B[i][j + 1] + B[i + 1][j] + B[i - 1][j]);
    }

    cks_t c;
    cks_init(&c);
    cks_doubles(&c, &A[0][0], (size_t)N * N);
    return cks_report("jacobi-2d", &c);
}
