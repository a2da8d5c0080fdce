/* covariance: sample covariance matrix of M variables over N observations
 * (PolyBench datamining kind). argv[1]: M; N = M + M/4. */
#include "common.h"

int main(int argc, char **argv)
{
    int m = arg_int(argc, argv, 1, 490);
    int n = m + m / 4;
    double (*data)[m] = xcalloc((size_t)n * m, sizeof(double));
    double (*cov)[m] = xcalloc((size_t)m * m, sizeof(double));
    double *mean = xcalloc(m, sizeof(double));
    uint32_t s = 0xBADC0DEu;

    for (int i = 0; i < n; i++)
        for (int j = 0; j < m; j++)
            data[i][j] = ((double)i * j) / m + (double)(rng_next(&s) % 1024) / 512.0;

    for (int j = 0; j < m; j++) {
        mean[j] = 0.0;
        for (int i = 0; i < n; i++)
            mean[j] += data[i][j];
        mean[j] /= n;
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < m; j++)
            data[i][j] -= mean[j];
    for (int i = 0; i < m; i++)
        for (int j = i; j < m; j++) {
            double w = 0.0;
            for (int k = 0; k < n; k++)
                w += data[k][i] * data[k][j];
            w /= (n - 1.0);
            cov[i][j] = cov[j][i] = w;
        }

    cks_t c;
    cks_init(&c);
    cks_doubles(&c, &cov[0][0], (size_t)m * m);
    return cks_report("covariance", &c);
}
