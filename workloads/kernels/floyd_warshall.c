/* floyd-warshall: all-pairs shortest paths on a sparse random digraph,
 * with path-length bookkeeping (PolyBench medley kind). argv[1]: nodes. */
#include "common.h"

#define INF 0x3fffffff

int main(int argc, char **argv)
{
    int n = arg_int(argc, argv, 1, 600);
    int32_t (*D)[n] = xcalloc((size_t)n * n, sizeof(int32_t));
    int32_t (*H)[n] = xcalloc((size_t)n * n, sizeof(int32_t)); /* hop counts */
    uint32_t s = 0x5EEDu;

    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            uint32_t r = rng_next(&s);
            if (i == j) {
                D[i][j] = 0; H[i][j] = 0;
            } else if (r % 8 == 0 || j == (i + 1) % n) {
                D[i][j] = 1 + (int32_t)((r >> 8) % 100); H[i][j] = 1;
            } else {
                D[i][j] = INF; H[i][j] = 0;
            }
        }

    for (int k = 0; k < n; k++)
        for (int i = 0; i < n; i++) {
            int32_t dik = D[i][k], hik = H[i][k];
            if (dik == INF)
                continue;
            for (int j = 0; j < n; j++) {
                int32_t via = dik + D[k][j];
                if (via < D[i][j]) {
                    D[i][j] = via;
                    H[i][j] = hik + H[k][j];
                }
            }
        }

    cks_t c;
    cks_init(&c);
    cks_ints(&c, &D[0][0], (size_t)n * n);
    cks_ints(&c, &H[0][0], (size_t)n * n);
    return cks_report("floyd-warshall", &c);
}
