/* nussinov: RNA secondary-structure folding by dynamic programming
 * (PolyBench medley kind). argv[1]: sequence length. */
#include "common.h"

#define MAXI(a, b) ((a) >= (b) ? (a) : (b))
#define MATCH(b1, b2) (((b1) + (b2)) == 3 ? 1 : 0)

int main(int argc, char **argv)
{
    int n = arg_int(argc, argv, 1, 1000);
    int8_t *seq = xcalloc(n, 1);
    int32_t (*T)[n] = xcalloc((size_t)n * n, sizeof(int32_t));
    uint32_t s = 0xACE1u;

    for (int i = 0; i < n; i++)
        seq[i] = (int8_t)(rng_next(&s) % 4); /* A=0 C=1 G=2 U=3: A-U and C-G pair */

    for (int i = n - 1; i >= 0; i--) {
        for (int j = i + 1; j < n; j++) {
            if (j - 1 >= 0)
                T[i][j] = MAXI(T[i][j], T[i][j - 1]);
            if (i + 1 < n)
                T[i][j] = MAXI(T[i][j], T[i + 1][j]);
            if (j - 1 >= 0 && i + 1 < n) {
                if (i < j - 1)
                    T[i][j] = MAXI(T[i][j], T[i + 1][j - 1] + MATCH(seq[i], seq[j]));
                else
                    T[i][j] = MAXI(T[i][j], T[i + 1][j - 1]);
            }
            for (int k = i + 1; k < j; k++)
                T[i][j] = MAXI(T[i][j], T[i][k] + T[k + 1][j]);
        }
    }

    cks_t c;
    cks_init(&c);
    for (int i = 0; i < n; i++)
        cks_ints(&c, &T[i][i], n - i);
    printf("nussinov: max pairs = %d\n", (int)T[0][n - 1]);
    return cks_report("nussinov", &c);
}
