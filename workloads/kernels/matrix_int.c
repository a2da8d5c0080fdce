/* matrix_int: CoreMark-style integer matrix work: add/multiply by a
 * constant, matrix*vector, matrix*matrix, matrix*matrix with bit
 * extraction, each summarised by a CRC. argv[1]: iterations. */
#include "common.h"

#define N 48

typedef int16_t mdat;
typedef int32_t mres;

static mdat A[N][N], B[N][N];
static mres C[N][N];

static int16_t sum_res(mres clip)
{
    mres tmp = 0, prev = 0, cur;
    int16_t ret = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            cur = C[i][j];
            tmp += cur;
            if (tmp > clip) {
                ret += 10;
                tmp = 0;
            } else {
                ret += (cur > prev) ? 1 : 0;
            }
            prev = cur;
        }
    return ret;
}

static void add_const(mdat v)
{
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++)
            A[i][j] = (mdat)(A[i][j] + v);
}

static void mul_const(mdat v)
{
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++)
            C[i][j] = (mres)A[i][j] * (mres)v;
}

static void mul_vect(void)
{
    for (int i = 0; i < N; i++) {
        C[i][0] = 0;
        for (int j = 0; j < N; j++)
            C[i][0] += (mres)A[i][j] * (mres)B[j][0];
        for (int j = 1; j < N; j++)
            C[i][j] = C[i][0] ^ j;
    }
}

static void mul_matrix(void)
{
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            C[i][j] = 0;
            for (int k = 0; k < N; k++)
                C[i][j] += (mres)A[i][k] * (mres)B[k][j];
        }
}

static void mul_matrix_bitextract(void)
{
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            C[i][j] = 0;
            for (int k = 0; k < N; k++) {
                mres t = (mres)A[i][k] * (mres)B[k][j];
                C[i][j] += (t >> 2) & 0xf ? ((t >> 5) & 0x7f) * ((t >> 2) & 0xf) : 0;
            }
        }
}

int main(int argc, char **argv)
{
    int iters = arg_int(argc, argv, 1, 1400);
    uint32_t s = 0x66u;
    uint16_t crc = 0;
    cks_t c;

    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            A[i][j] = (mdat)(rng_next(&s) % 256);
            B[i][j] = (mdat)(rng_next(&s) % 256 + ((i + j) & 7));
        }

    cks_init(&c);
    for (int it = 0; it < iters; it++) {
        mdat val = (mdat)(it | 0xf);
        mres clip = 0x7fff + it;
        add_const(val);
        mul_const(val);
        crc = crc16(crc, (uint32_t)sum_res(clip));
        mul_vect();
        crc = crc16(crc, (uint32_t)sum_res(clip));
        mul_matrix();
        crc = crc16(crc, (uint32_t)sum_res(clip));
        mul_matrix_bitextract();
        crc = crc16(crc, (uint32_t)sum_res(clip));
        add_const((mdat)-val);
        cks_int(&c, crc);
    }
    printf("matrix_int: final crc16 = %04x\n", crc);
    return cks_report("matrix_int", &c);
}
