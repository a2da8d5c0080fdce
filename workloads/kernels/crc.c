/* crc: checksum algorithms over a generated 256 KiB buffer: table-driven
 * CRC-32 (reflected 0xEDB88320), bitwise CRC-16/ARC, CRC-32C by slicing,
 * and Adler-32, with the buffer rewritten between passes (CoreMark CRC
 * kind). argv[1]: passes. */
#include "common.h"

#define LEN (256 * 1024)

static uint8_t data[LEN];
static uint32_t t32[256];
static uint32_t t32c[4][256];

static void make_tables(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i, d = i;
        for (int k = 0; k < 8; k++) {
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            d = d & 1 ? 0x82F63B78u ^ (d >> 1) : d >> 1;
        }
        t32[i] = c;
        t32c[0][i] = d;
    }
    for (int i = 0; i < 256; i++)
        for (int k = 1; k < 4; k++)
            t32c[k][i] = (t32c[k - 1][i] >> 8) ^ t32c[0][t32c[k - 1][i] & 0xff];
}

static uint32_t crc32(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    while (n--)
        c = t32[(c ^ *p++) & 0xff] ^ (c >> 8);
    return ~c;
}

static uint32_t crc32c_slice4(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    while (n >= 4) {
        uint32_t w = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        c ^= w;
        c = t32c[3][c & 0xff] ^ t32c[2][(c >> 8) & 0xff] ^ t32c[1][(c >> 16) & 0xff] ^ t32c[0][c >> 24];
        p += 4;
        n -= 4;
    }
    while (n--)
        c = t32c[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    return ~c;
}

static uint16_t crc16_bitwise(const uint8_t *p, size_t n)
{
    uint16_t c = 0;
    while (n--) {
        c ^= *p++;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (uint16_t)((c >> 1) ^ 0xA001) : (uint16_t)(c >> 1);
    }
    return c;
}

static uint32_t adler32(const uint8_t *p, size_t n)
{
    uint32_t a = 1, b = 0;
    while (n) {
        size_t chunk = n < 5552 ? n : 5552;
        n -= chunk;
        while (chunk--) {
            a += *p++;
            b += a;
        }
        a %= 65521;
        b %= 65521;
    }
    return b << 16 | a;
}

int main(int argc, char **argv)
{
    int passes = arg_int(argc, argv, 1, 36);
    uint32_t s = 0xDEADBEEFu;
    cks_t c;

    make_tables();
    for (size_t i = 0; i < LEN; i++)
        data[i] = (uint8_t)rng_next(&s);

    /* self-test on a known vector */
    if (crc32((const uint8_t *)"123456789", 9) != 0xCBF43926u ||
        crc32c_slice4((const uint8_t *)"123456789", 9) != 0xE3069283u ||
        crc16_bitwise((const uint8_t *)"123456789", 9) != 0xBB3D ||
        adler32((const uint8_t *)"Wikipedia", 9) != 0x11E60398u) {
        printf("crc: self-test FAILED\n");
        return 1;
    }

    cks_init(&c);
    for (int pass = 0; pass < passes; pass++) {
        uint32_t a = crc32(data, LEN);
        uint32_t b = crc32c_slice4(data, LEN);
        uint16_t d = crc16_bitwise(data, LEN);
        uint32_t e = adler32(data, LEN);
        cks_int(&c, a);
        cks_int(&c, b);
        cks_int(&c, d);
        cks_int(&c, e);
        for (size_t i = pass % 7; i < LEN; i += 7)
            data[i] = (uint8_t)(data[i] + (a >> (i & 7)) + d);
    }
    printf("crc: self-test ok\n");
    return cks_report("crc", &c);
}
