/* A library (built with -shared -fPIC, loaded with LD_PRELOAD beside
 * libjitguard.so) standing for an attacker's write primitive inside a
 * program with a JIT of its own, such as QEMU: its constructor starts a
 * thread that waits for the largest RWX anonymous mapping (QEMU's code
 * buffer), then overwrites a byte of its last page from this library's
 * code, outside anything the runtime runs, and prints whether the byte
 * changed.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

/* The largest run of adjacent executable anonymous mappings (jitguard's
 * page-table backend shows guarded pages without w, and the kernel may
 * keep a region as several mappings). */
static uintptr_t largest_exec(uintptr_t *end)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    uintptr_t best = 0, best_end = 0, run = 0, run_end = 0;
    while (f && fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char perm[8];
        int path = 0;
        if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", &lo, &hi, perm, &path) < 3)
            continue;
        if (perm[2] != 'x' || (path && line[path] != '\n' && line[path] != 0))
            continue;
        if (lo != run_end)
            run = lo;
        run_end = hi;
        if (run_end - run > best_end - best)
            best = run, best_end = run_end;
    }
    if (f)
        fclose(f);
    *end = best_end;
    return best;
}

__attribute__((noinline)) static void rogue_store(volatile unsigned char *at)
{
    *at ^= 0xcc;
}

static void *rogue(void *arg)
{
    (void)arg;
    for (int i = 0; i < 200; i++) {
        uintptr_t end, lo = largest_exec(&end);
        if (lo && end - lo >= (64u << 20)) {
            volatile unsigned char *at = (unsigned char *)(end - 4096 + 17);
            unsigned char before = *at;
            rogue_store(at);
            fprintf(stderr, "rogue: code changed: %s\n", *at != before ? "yes" : "no");
            return NULL;
        }
        usleep(10000);
    }
    fprintf(stderr, "rogue: no code buffer found\n");
    return NULL;
}

__attribute__((constructor)) static void start(void)
{
    pthread_t t;
    if (pthread_create(&t, NULL, rogue, NULL) == 0)
        pthread_detach(t);
}
