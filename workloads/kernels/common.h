/* Shared helpers for the jitguard compute kernels (wasm32-wasi).
 *
 * Every kernel takes an optional problem size / iteration count as argv[1]
 * (the manifest passes none: each kernel has a default tuned to run in a
 * fraction of a second under a JIT), and ends its output with one line
 *
 *     checksum: <16 hex digits>
 *
 * that depends only on the computed data. Doubles are hashed by their bit
 * patterns (wasm arithmetic is exact IEEE, so every correct engine agrees)
 * and also summarised with a fixed-precision sum for humans.
 */
#ifndef JITGUARD_KERNEL_COMMON_H
#define JITGUARD_KERNEL_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* CoreMark-style CRC-16 (poly 0xA001) folded over a 32-bit value, for the
   CoreMark-kind kernels' checksums. */
static inline uint16_t crc16(uint16_t crc, uint32_t v)
{
    for (int i = 0; i < 32; i++) {
        uint16_t bit = (uint16_t)((crc ^ (v >> i)) & 1);
        crc >>= 1;
        if (bit)
            crc ^= 0xA001;
    }
    return crc;
}

static int arg_int(int argc, char **argv, int idx, int def)
{
    if (argc > idx && argv[idx][0] != '\0') {
        int v = atoi(argv[idx]);
        if (v > 0)
            return v;
    }
    return def;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (!p) {
        fprintf(stderr, "out of memory (%zu x %zu bytes)\n", n, size);
        exit(2);
    }
    return p;
}

/* xorshift32: deterministic pseudo-random numbers. */
static inline uint32_t rng_next(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *s = x;
    return x;
}

/* Running checksum: FNV-1a-64 over 64-bit words plus a weighted sum. */
typedef struct {
    uint64_t h;
    double sum;
    uint64_t count;
} cks_t;

static void cks_init(cks_t *c)
{
    c->h = 0xcbf29ce484222325ull;
    c->sum = 0.0;
    c->count = 0;
}

static inline void cks_u64(cks_t *c, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        c->h ^= (v >> (i * 8)) & 0xff;
        c->h *= 0x100000001b3ull;
    }
    c->count++;
}

static inline void cks_double(cks_t *c, double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    cks_u64(c, bits);
    c->sum += d * (double)(1 + (c->count % 7));
}

static inline void cks_int(cks_t *c, int64_t v)
{
    cks_u64(c, (uint64_t)v);
    c->sum += (double)v;
}

static void cks_doubles(cks_t *c, const double *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cks_double(c, p[i]);
}

static void cks_ints(cks_t *c, const int32_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cks_int(c, p[i]);
}

static int cks_report(const char *name, const cks_t *c)
{
    printf("%s: values=%llu sum=%.6f\n", name, (unsigned long long)c->count, c->sum);
    printf("checksum: %016llx\n", (unsigned long long)c->h);
    return 0;
}

#endif
