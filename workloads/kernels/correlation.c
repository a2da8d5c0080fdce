/* correlation: Pearson correlation matrix of M variables over N
 * observations (PolyBench datamining kind). argv[1]: M; N = M + M/4. */
#include "common.h"
#include <math.h>

int main(int argc, char **argv)
{
    int m = arg_int(argc, argv, 1, 540);
    int n = m + m / 4;
    double (*data)[m] = xcalloc((size_t)n * m, sizeof(double));
    double (*corr)[m] = xcalloc((size_t)m * m, sizeof(double));
    double *mean = xcalloc(m, sizeof(double));
    double *stddev = xcalloc(m, sizeof(double));
    const double eps = 0.1;
    uint32_t s = 0xC0FFEEu;

    for (int i = 0; i < n; i++)
        for (int j = 0; j < m; j++)
            data[i][j] = (double)(i * j) / m + i + (double)(rng_next(&s) % 97) / 31.0;

    for (int j = 0; j < m; j++) {
        mean[j] = 0.0;
        for (int i = 0; i < n; i++)
            mean[j] += data[i][j];
        mean[j] /= n;
    }
    for (int j = 0; j < m; j++) {
        stddev[j] = 0.0;
        for (int i = 0; i < n; i++)
            stddev[j] += (data[i][j] - mean[j]) * (data[i][j] - mean[j]);
        stddev[j] = sqrt(stddev[j] / n);
        if (stddev[j] <= eps)
            stddev[j] = 1.0;
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < m; j++) {
            data[i][j] -= mean[j];
            data[i][j] /= sqrt((double)n) * stddev[j];
        }
    for (int i = 0; i < m - 1; i++) {
        corr[i][i] = 1.0;
        for (int j = i + 1; j < m; j++) {
            double w = 0.0;
            for (int k = 0; k < n; k++)
                w += data[k][i] * data[k][j];
            corr[i][j] = corr[j][i] = w;
        }
    }
    corr[m - 1][m - 1] = 1.0;

    cks_t c;
    cks_init(&c);
    cks_doubles(&c, &corr[0][0], (size_t)m * m);
    return cks_report("correlation", &c);
}
