/* zstd_bench: compress and decompress a generated corpus with the zstd
 * library (built from the sources bundled by the zstd-sys crate), through
 * the one-shot, streaming and dictionary APIs, verify every roundtrip, and
 * print sizes and an FNV-1a checksum of all compressed frames.
 *
 * The corpus mixes generated English-like text, structured binary records
 * and low-entropy noise, so the compressor visits many code paths.
 *
 * argv[1]: corpus size in KiB (default 2048).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ZSTD_STATIC_LINKING_ONLY
#include "zstd.h"
#include "zdict.h"

static uint64_t fnv = 0xcbf29ce484222325ull;

static void fold(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        fnv ^= b[i];
        fnv *= 0x100000001b3ull;
    }
}

static uint32_t rng = 0xA5A5F00Du;
static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        fprintf(stderr, "zstd_bench: out of memory (%zu bytes)\n", n);
        exit(2);
    }
    return p;
}

static void check(size_t r, const char *what)
{
    if (ZSTD_isError(r)) {
        fprintf(stderr, "zstd_bench: %s: %s\n", what, ZSTD_getErrorName(r));
        exit(1);
    }
}

static const char *const words[] = {
    "the", "of", "and", "to", "in", "code", "page", "key", "write", "fault",
    "block", "memory", "protect", "signal", "handler", "thread", "compile",
    "function", "module", "runtime", "allocator", "header", "pool", "grant",
    "seal", "open", "close", "domain", "register", "value", "stack", "frame",
};

/* Fill buf with n bytes of mixed content. */
static void make_corpus(unsigned char *buf, size_t n)
{
    size_t pos = 0;
    while (pos < n) {
        uint32_t kind = next_rand() % 8;
        size_t chunk = 512 + next_rand() % 4096;
        if (chunk > n - pos)
            chunk = n - pos;
        size_t end = pos + chunk;
        if (kind < 5) { /* text */
            while (pos < end) {
                const char *w = words[next_rand() % 32];
                if (next_rand() % 4 == 0)
                    w = words[(next_rand() % 8)];
                size_t wl = strlen(w);
                for (size_t k = 0; k < wl && pos < end; k++)
                    buf[pos++] = (unsigned char)w[k];
                if (pos < end)
                    buf[pos++] = next_rand() % 13 == 0 ? '\n' : ' ';
            }
        } else if (kind < 7) { /* records: id, small counters, repeated tags */
            uint32_t id = next_rand() % 100000;
            while (pos < end) {
                unsigned char rec[16];
                id += 1 + next_rand() % 3;
                memcpy(rec, &id, 4);
                rec[4] = (unsigned char)(next_rand() % 4);
                rec[5] = 0;
                rec[6] = (unsigned char)(id & 0x0f);
                rec[7] = 0xff;
                memcpy(rec + 8, "RECORD\0\0", 8);
                for (size_t k = 0; k < 16 && pos < end; k++)
                    buf[pos++] = rec[k];
            }
        } else { /* noise with a small alphabet */
            while (pos < end)
                buf[pos++] = (unsigned char)(next_rand() % 23);
        }
    }
}

static void roundtrip_simple(const unsigned char *src, size_t n, int level)
{
    size_t cap = ZSTD_compressBound(n);
    unsigned char *dst = xmalloc(cap);
    unsigned char *back = xmalloc(n);
    size_t c = ZSTD_compress(dst, cap, src, n, level);
    check(c, "compress");
    unsigned long long fsz = ZSTD_getFrameContentSize(dst, c);
    if (fsz != n) {
        fprintf(stderr, "zstd_bench: bad frame content size\n");
        exit(1);
    }
    size_t d = ZSTD_decompress(back, n, dst, c);
    check(d, "decompress");
    if (d != n || memcmp(back, src, n) != 0) {
        fprintf(stderr, "zstd_bench: roundtrip mismatch at level %d\n", level);
        exit(1);
    }
    fold(dst, c);
    printf("level %-3d one-shot  %8zu -> %8zu bytes (%.3f)\n", level, n, c, (double)c / (double)n);
    free(dst);
    free(back);
}

static void roundtrip_stream(const unsigned char *src, size_t n, int level)
{
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    size_t cap = ZSTD_compressBound(n) + 1024;
    unsigned char *dst = xmalloc(cap);
    unsigned char *back = xmalloc(n);
    check(ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level), "level");
    check(ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1), "checksum flag");
    check(ZSTD_CCtx_setParameter(cctx, ZSTD_c_windowLog, 18), "windowLog");

    /* feed input in irregular pieces */
    ZSTD_outBuffer out = { dst, cap, 0 };
    size_t fed = 0;
    while (fed < n) {
        size_t piece = 1000 + next_rand() % 30000;
        if (piece > n - fed)
            piece = n - fed;
        ZSTD_inBuffer in = { src + fed, piece, 0 };
        ZSTD_EndDirective mode = fed + piece == n ? ZSTD_e_end : ZSTD_e_continue;
        size_t r;
        do {
            r = ZSTD_compressStream2(cctx, &out, &in, mode);
            check(r, "compressStream2");
        } while (mode == ZSTD_e_end ? r != 0 : in.pos < in.size);
        fed += piece;
    }
    size_t csize = out.pos;

    /* decompress into small output windows */
    ZSTD_inBuffer din = { dst, csize, 0 };
    size_t got = 0;
    while (din.pos < din.size) {
        size_t win = 4096 + next_rand() % 8192;
        if (win > n - got)
            win = n - got;
        ZSTD_outBuffer dout = { back + got, win, 0 };
        size_t r = ZSTD_decompressStream(dctx, &dout, &din);
        check(r, "decompressStream");
        got += dout.pos;
        if (r == 0)
            break;
        if (dout.pos == 0 && din.pos == din.size)
            break;
    }
    if (got != n || memcmp(back, src, n) != 0) {
        fprintf(stderr, "zstd_bench: stream roundtrip mismatch at level %d\n", level);
        exit(1);
    }
    fold(dst, csize);
    printf("level %-3d streaming %8zu -> %8zu bytes (%.3f)\n", level, n, csize, (double)csize / (double)n);
    ZSTD_freeCCtx(cctx);
    ZSTD_freeDCtx(dctx);
    free(dst);
    free(back);
}

/* Train a dictionary on small samples, then compress many small records. */
static void roundtrip_dict(const unsigned char *src, size_t n)
{
    enum { NSAMPLES = 600, DICT_CAP = 16 * 1024 };
    size_t sizes[NSAMPLES];
    size_t total = 0;
    for (int i = 0; i < NSAMPLES; i++) {
        sizes[i] = 200 + next_rand() % 400;
        total += sizes[i];
    }
    if (total > n)
        total = n;
    unsigned char *samples = xmalloc(total);
    size_t off = 0, used = 0;
    int nsamp = 0;
    for (; nsamp < NSAMPLES && used + sizes[nsamp] <= total; nsamp++) {
        off = (off + 7919 * (size_t)nsamp) % (n - sizes[nsamp]);
        memcpy(samples + used, src + off, sizes[nsamp]);
        used += sizes[nsamp];
    }
    unsigned char *dict = xmalloc(DICT_CAP);
    size_t dsize = ZDICT_trainFromBuffer(dict, DICT_CAP, samples, sizes, (unsigned)nsamp);
    if (ZDICT_isError(dsize)) {
        fprintf(stderr, "zstd_bench: dictionary training: %s\n", ZDICT_getErrorName(dsize));
        exit(1);
    }
    fold(dict, dsize);

    ZSTD_CDict *cd = ZSTD_createCDict(dict, dsize, 5);
    ZSTD_DDict *dd = ZSTD_createDDict(dict, dsize);
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    unsigned char cbuf[2048], dbuf[1024];
    size_t in_total = 0, out_total = 0;
    used = 0;
    for (int i = 0; i < nsamp; i++) {
        const unsigned char *s = samples + used;
        size_t c = ZSTD_compress_usingCDict(cctx, cbuf, sizeof cbuf, s, sizes[i], cd);
        check(c, "compress_usingCDict");
        size_t d = ZSTD_decompress_usingDDict(dctx, dbuf, sizeof dbuf, cbuf, c, dd);
        check(d, "decompress_usingDDict");
        if (d != sizes[i] || memcmp(dbuf, s, d) != 0) {
            fprintf(stderr, "zstd_bench: dictionary roundtrip mismatch\n");
            exit(1);
        }
        fold(cbuf, c);
        in_total += sizes[i];
        out_total += c;
        used += sizes[i];
    }
    printf("dictionary %zu bytes: %d samples %zu -> %zu bytes (%.3f)\n", dsize, nsamp, in_total, out_total,
           (double)out_total / (double)in_total);
    ZSTD_freeCDict(cd);
    ZSTD_freeDDict(dd);
    ZSTD_freeCCtx(cctx);
    ZSTD_freeDCtx(dctx);
    free(dict);
    free(samples);
}

int main(int argc, char **argv)
{
    size_t kib = argc > 1 ? (size_t)atoi(argv[1]) : 2048;
    if (kib == 0)
        kib = 2048;
    size_t n = kib * 1024;
    unsigned char *corpus = xmalloc(n);
    make_corpus(corpus, n);
    printf("zstd %s, corpus %zu bytes\n", ZSTD_versionString(), n);

    roundtrip_simple(corpus, n, 1);
    roundtrip_simple(corpus, n, 3);
    roundtrip_simple(corpus, n / 2, 9);
    roundtrip_simple(corpus, n / 8, 19);
    roundtrip_simple(corpus, n / 4, -5);
    roundtrip_stream(corpus, n, 4);
    roundtrip_dict(corpus, n);

    free(corpus);
    printf("checksum: %016llx\n", (unsigned long long)fnv);
    return 0;
}
