/*
 * memcpy_bench: libc memcpy on ordinary (unguarded) memory, for jitguard's
 * "no cost elsewhere" check. jitguard interposes no copy routine, so with
 * the library loaded this must run as fast as without; `jitguard bench`
 * (kind `micro`) times it stock and guarded side by side.
 *
 * A fixed amount of work (not a fixed time), so wall time is throughput:
 * 64 KiB, 4 KiB and 64-byte copies within 1 MiB buffers, through a pointer
 * so the compiler cannot inline or elide them. Prints a checksum.
 *
 * usage: memcpy_bench [SCALE]   (default 1: about 1 s on this project's hosts)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *(*volatile copy)(void *, const void *, size_t) = memcpy;

int main(int argc, char **argv)
{
    long scale = argc > 1 ? atol(argv[1]) : 1;
    size_t size = 1 << 20;
    unsigned char *a = malloc(size), *b = malloc(size);
    if (!a || !b)
        return 1;
    for (size_t i = 0; i < size; i++)
        a[i] = (unsigned char)(i * 131 + 7);
    uint64_t sum = 0;
    const struct { size_t len; long reps; } plan[] = {
        {65536, 360000}, {4096, 3600000}, {64, 48000000},
    };
    for (size_t p = 0; p < sizeof plan / sizeof plan[0]; p++) {
        size_t len = plan[p].len, span = size - len;
        for (long r = 0; r < plan[p].reps * scale; r++) {
            size_t off = ((size_t)r * 4160) % span;
            copy(b + off, a + (span - off), len);
            sum += b[off + (r % len)];
        }
    }
    printf("checksum: %016llx\n", (unsigned long long)sum);
    return 0;
}
