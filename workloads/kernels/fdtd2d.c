/* fdtd-2d: 2-D finite-difference time-domain kernel updating the ex, ey
 * and hz fields (PolyBench stencils kind). argv[1]: time steps; grid is
 * 360 x 400. */
#include "common.h"

#define NX 360
#define NY 400

static double ex[NX][NY], ey[NX][NY], hz[NX][NY];

int main(int argc, char **argv)
{
    int tmax = arg_int(argc, argv, 1, 500);
    double *fict = xcalloc(tmax, sizeof(double));

    for (int t = 0; t < tmax; t++)
        fict[t] = (double)t;
    for (int i = 0; i < NX; i++)
        for (int j = 0; j < NY; j++) {
            ex[i][j] = ((double)i * (j + 1)) / NX;
            ey[i][j] = ((double)i * (j + 2)) / NY;
            hz[i][j] = ((double)i * (j + 3)) / NX;
        }

    for (int t = 0; t < tmax; t++) {
        for (int j = 0; j < NY; j++)
            ey[0][j] = fict[t];
        for (int i = 1; i < NX; i++)
            for (int j = 0; j < NY; j++)
                ey[i][j] = ey[i][j] - 0.5 * (hz[i][j] - hz[i - 1][j]);
        for (int i = 0; i < NX; i++)
            for (int j = 1; j < NY; j++)
                ex[i][j] = ex[i][j] - 0.5 * (hz[i][j] - hz[i][j - 1]);
        for (int i = 0; i < NX - 1; i++)
            for (int j = 0; j < NY - 1; j++)
                hz[i][j] = hz[i][j] - 0.7 * (ex[i][j + 1] - ex[i][j] + ey[i + 1][j] - ey[i][j]);
    }

    cks_t c;
    cks_init(&c);
    cks_doubles(&c, &ex[0][0], (size_t)NX * NY);
    cks_doubles(&c, &ey[0][0], (size_t)NX * NY);
    cks_doubles(&c, &hz[0][0], (size_t)NX * NY);
    return cks_report("fdtd-2d", &c);
}
