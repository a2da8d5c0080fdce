/*
 * toyjit: a small JIT that emits x86-64 functions into RWX memory the way
 * real JITs do, then runs them. Used by jitguard's integration tests and
 * its benchmarks; its output must be identical with and without jitguard.
 *
 * Emission methods, rotating per function:
 *   0  memcpy of a finished function built in a local buffer
 *   1  memset of the NOP padding, then direct byte stores of the body
 *   2  memcpy of a template, then fix-up stores of the immediates
 *      (8- and 4-byte stores, some of which straddle a page boundary)
 * Before emitting, the region is filled with int3 by one memset of the whole
 * region (a REP string write of 256 KiB).
 *
 * usage: toyjit [options]
 *   --funcs N        functions to emit (default 400)
 *   --pages N        code region size in pages (default 64)
 *   --threads N      emit and run from N threads (default 1)
 *   --fork           after emitting, fork; the child re-emits and runs too
 *   --exec           after running, exec itself with --funcs 16 (no --exec)
 *   --blob KB        also memcpy KB KiB of code into a second region (REP movs)
 *   --big-memset MB  memset an MB MiB RWX region (REP stos)
 *   --smaps FILE     write /proc/self/smaps to FILE and print the region
 *   --repatch        rewrite every function's immediate a second time
 *   --storm          a 5 kHz SIGALRM whose handler also writes code (into
 *                    the region's last page) while emission runs
 *   --remap          exercise munmap of part of a region, mremap grow and
 *                    move, MAP_FIXED over a guarded page, and mprotect out
 *                    of and back into W+X, writing code after each step
 *   --straddle       8-byte stores across every page boundary of a
 *                    4-page guarded region (each store writes two pages)
 *   --reserve MB     reserve an MB MiB RWX region (MAP_NORESERVE, like V8's
 *                    code space), write one function in every 64th page,
 *                    print the number of mappings the process has
 *   --heap           keep allocator words in the code region, the way
 *                    WAMR's code heap does: every emit also bumps a word on
 *                    the region's first page and one on its last page, so
 *                    one emit writes three pages (and, hashed, three keys)
 *   --rogue          at the end, a function no profile names stores into
 *                    every page of the region, each from a forked child,
 *                    and prints how many of those stores landed
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static int64_t emit_tiny(unsigned char *f, int v) {
    /* mov eax, v ; ret */
    f[0] = 0xB8;
    memcpy(f + 1, &v, 4);
    f[5] = 0xC3;
    return ((int (*)(void))(void *)f)();
}

typedef int64_t (*fn_t)(int64_t);

static unsigned char *code;
static size_t code_size;
static int nfuncs = 400;
static size_t *offsets;
static size_t code_end;
static int heap;
/* With --heap: the header words at the region's start (ahead of the first
 * function) and the top word near its end (behind the storm slot). */
#define HEAP_HEAD 64
#define HEAP_TOP_AT(size) ((size) - 128)

/* mov rax, imm64 ; imul rax, rdi ; add rax, imm32 ; ret */
static const unsigned char body_template[] = {
    0x48, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, /* mov rax, imm64 */
    0x48, 0x0F, 0xAF, 0xC7,             /* imul rax, rdi */
    0x48, 0x05, 0, 0, 0, 0,             /* add rax, imm32 */
    0xC3,                               /* ret */
};
#define BODY (sizeof body_template)
#ifndef STORM_US
#define STORM_US 200
#endif
#define IMM64_AT 2
#define IMM32_AT 16

static int64_t mul_of(int i) { return (int64_t)(i * 7 + 3); }
static int32_t add_of(int i) { return (int32_t)(i * 13 - 50); }
static size_t pad_of(int i) { return 480 + (size_t)((i * 37) % 200); }

static void emit(int i, int method, int64_t mul, int32_t add) {
    unsigned char *dst = code + offsets[i];
    size_t pad = pad_of(i);
    unsigned char buf[1024];
    if (heap) ((volatile int64_t *)code)[0] += 1; /* the heap's lock word */
    switch (method) {
    case 0:
        memset(buf, 0x90, pad);
        memcpy(buf + pad, body_template, BODY);
        memcpy(buf + pad + IMM64_AT, &mul, 8);
        memcpy(buf + pad + IMM32_AT, &add, 4);
        memcpy(dst, buf, pad + BODY);
        break;
    case 1: {
        memset(dst, 0x90, pad);
        memcpy(buf, body_template, BODY);
        memcpy(buf + IMM64_AT, &mul, 8);
        memcpy(buf + IMM32_AT, &add, 4);
        volatile unsigned char *v = dst + pad;
        for (size_t k = 0; k < BODY; k++) v[k] = buf[k];
        break;
    }
    default:
        memset(buf, 0x90, pad);
        memcpy(buf + pad, body_template, BODY);
        memcpy(dst, buf, pad + BODY);
        *(volatile int64_t *)(dst + pad + IMM64_AT) = mul;
        *(volatile int32_t *)(dst + pad + IMM32_AT) = add;
        break;
    }
    if (heap) *(volatile int64_t *)(code + HEAP_TOP_AT(code_size)) = i; /* the heap's top */
}

/* A store from a function no profile names into every page of the region,
 * each from a forked child (a refused store ends the child, not the
 * count), right after the last emit: a child inherits its parent's
 * protection keys, so a key the last window left open would let its
 * child's store land. */
__attribute__((noinline)) static void rogue_store(size_t page) {
    *(volatile int64_t *)(code + page * 4096 + 8) = 0x4141414141414141;
}

static void rogue_stores(void) {
    size_t pages = code_size / 4096, landed = 0;
    fflush(stdout);
    for (size_t p = 0; p < pages; p++) {
        pid_t pid = fork();
        if (pid == 0) {
            rogue_store(p);
            _exit(0);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0) landed++;
    }
    printf("rogue stores landed: %zu of %zu pages\n", landed, pages);
}

static volatile int storm_hits;

static void on_alarm(int sig) {
    (void)sig;
    /* A handler that emits: mov eax, hits ; ret, in the last page. */
    unsigned char *f = code + code_size - 64;
    int h = ++storm_hits;
    f[0] = 0xB8;
    memcpy(f + 1, &h, 4);
    f[5] = 0xC3;
}

static int count_mappings(void) {
    FILE *f = fopen("/proc/self/maps", "r");
    int n = 0, c;
    while ((c = fgetc(f)) != EOF) n += c == '\n';
    fclose(f);
    return n;
}

static int64_t run_range(int from, int to) {
    int64_t sum = 0;
    for (int i = from; i < to; i++) {
        fn_t f = (fn_t)(void *)(code + offsets[i]);
        sum = sum * 31 + f(i + 1);
    }
    return sum;
}

struct slice { int from, to; int64_t sum; };

static void *thread_main(void *arg) {
    struct slice *s = arg;
    for (int i = s->from; i < s->to; i++) emit(i, i % 3, mul_of(i), add_of(i));
    s->sum = run_range(s->from, s->to);
    return NULL;
}

static void *map_rwx(size_t size) {
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) { perror("mmap"); exit(1); }
    return p;
}

static void dump_smaps(const char *path) {
    FILE *in = fopen("/proc/self/smaps", "r"), *out = fopen(path, "w");
    if (!in || !out) { perror("smaps"); exit(1); }
    char line[512];
    while (fgets(line, sizeof line, in)) fputs(line, out);
    fclose(in);
    fclose(out);
    printf("region: %lx %lx\n", (unsigned long)code, (unsigned long)(code + code_size));
    printf("code_end: %lx\n", (unsigned long)(code + code_end));
}

int main(int argc, char **argv) {
    int pages = 64, threads = 1, do_fork = 0, do_exec = 0, repatch = 0, storm = 0, remap = 0, straddle = 0, rogue = 0;
    long blob_kb = 0, big_mb = 0, reserve_mb = 0;
    const char *smaps = NULL;
    for (int a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--funcs") && a + 1 < argc) nfuncs = atoi(argv[++a]);
        else if (!strcmp(argv[a], "--pages") && a + 1 < argc) pages = atoi(argv[++a]);
        else if (!strcmp(argv[a], "--threads") && a + 1 < argc) threads = atoi(argv[++a]);
        else if (!strcmp(argv[a], "--blob") && a + 1 < argc) blob_kb = atol(argv[++a]);
        else if (!strcmp(argv[a], "--big-memset") && a + 1 < argc) big_mb = atol(argv[++a]);
        else if (!strcmp(argv[a], "--smaps") && a + 1 < argc) smaps = argv[++a];
        else if (!strcmp(argv[a], "--fork")) do_fork = 1;
        else if (!strcmp(argv[a], "--exec")) do_exec = 1;
        else if (!strcmp(argv[a], "--repatch")) repatch = 1;
        else if (!strcmp(argv[a], "--storm")) storm = 1;
        else if (!strcmp(argv[a], "--remap")) remap = 1;
        else if (!strcmp(argv[a], "--straddle")) straddle = 1;
        else if (!strcmp(argv[a], "--heap")) heap = 1;
        else if (!strcmp(argv[a], "--rogue")) rogue = 1;
        else if (!strcmp(argv[a], "--reserve") && a + 1 < argc) reserve_mb = atol(argv[++a]);
        else { fprintf(stderr, "toyjit: unknown argument %s\n", argv[a]); return 2; }
    }
    code_size = (size_t)pages * 4096;
    code = map_rwx(code_size);
    memset(code, 0xCC, code_size); /* one REP string write over the region */
    if (heap) memset(code, 0, HEAP_HEAD);

    offsets = calloc((size_t)nfuncs, sizeof *offsets);
    size_t at = heap ? HEAP_HEAD : 0;
    for (int i = 0; i < nfuncs; i++) {
        offsets[i] = at;
        at += pad_of(i) + BODY;
        at = (at + 15) & ~(size_t)15;
    }
    if (at > (heap ? HEAP_TOP_AT(code_size) : code_size)) { fprintf(stderr, "toyjit: %d functions need %zu bytes\n", nfuncs, at); return 2; }
    code_end = at;
    if (storm) {
        if (code_end + 64 > code_size) { fprintf(stderr, "toyjit: no room for the storm slot\n"); return 2; }
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_alarm;
        sa.sa_flags = SA_RESTART;
        sigaction(SIGALRM, &sa, NULL);
        struct itimerval it = {{0, STORM_US}, {0, STORM_US}};
        setitimer(ITIMER_REAL, &it, NULL);
    }

    int64_t total = 0;
    if (threads <= 1) {
        struct slice s = {0, nfuncs, 0};
        thread_main(&s);
        total = s.sum;
    } else {
        pthread_t tid[64];
        struct slice sl[64];
        if (threads > 64) threads = 64;
        for (int t = 0; t < threads; t++) {
            sl[t].from = nfuncs * t / threads;
            sl[t].to = nfuncs * (t + 1) / threads;
            pthread_create(&tid[t], NULL, thread_main, &sl[t]);
        }
        for (int t = 0; t < threads; t++) {
            pthread_join(tid[t], NULL);
            total = total * 1000003 + sl[t].sum;
        }
    }
    if (storm) {
        while (storm_hits < 5) { /* let the timer fire a few times */ }
        struct itimerval off = {{0, 0}, {0, 0}};
        setitimer(ITIMER_REAL, &off, NULL);
        int h = storm_hits;
        int got = ((int (*)(void))(void *)(code + code_size - 64))();
        printf("storm: handler code ran %d\n", got == h && h > 0);
    }
    printf("functions: %d\n", nfuncs);
    printf("checksum: %lld\n", (long long)total);

    if (repatch) {
        for (int i = 0; i < nfuncs; i++) *(volatile int32_t *)(code + offsets[i] + pad_of(i) + IMM32_AT) = add_of(i) + 1;
        printf("repatched checksum: %lld\n", (long long)run_range(0, nfuncs));
    }

    if (blob_kb > 0) {
        size_t n = (size_t)blob_kb * 1024;
        unsigned char *src = malloc(n), *blob = map_rwx(n + 4096);
        for (size_t k = 0; k < n; k++) src[k] = 0x90;
        memcpy(src + n - BODY, body_template, BODY);
        int64_t m = 5; int32_t ad = 11;
        memcpy(src + n - BODY + IMM64_AT, &m, 8);
        memcpy(src + n - BODY + IMM32_AT, &ad, 4);
        memcpy(blob, src, n); /* one REP movs of the whole blob */
        printf("blob: %lld\n", (long long)((fn_t)(void *)blob)(3));
        free(src);
    }

    if (big_mb > 0) {
        size_t n = (size_t)big_mb << 20;
        unsigned char *big = map_rwx(n);
        memset(big, 0xC3, n);
        printf("big memset: %d\n", big[n - 1] == 0xC3 && big[0] == 0xC3);
        ((void (*)(void))(void *)(big + n - 1))();
    }

    if (remap) {
        const size_t P = 4096;
        unsigned char *r = map_rwx(8 * P);
        int64_t sum = emit_tiny(r, 1) + emit_tiny(r + 7 * P, 2);
        if (munmap(r + 2 * P, 2 * P)) { perror("munmap"); return 1; }
        sum += emit_tiny(r + P, 3) + emit_tiny(r + 4 * P, 4);
        unsigned char *m = mremap(r + 4 * P, 4 * P, 12 * P, MREMAP_MAYMOVE);
        if (m == MAP_FAILED) { perror("mremap"); return 1; }
        sum += emit_tiny(m, 5) + emit_tiny(m + 3 * P, 6) + emit_tiny(m + 11 * P, 7);
        unsigned char *fx = mmap(r + P, P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        if (fx == MAP_FAILED) { perror("mmap fixed"); return 1; }
        memset(fx, 7, P); /* plain data now: no longer guarded */
        sum += fx[100];
        if (mprotect(r, P, PROT_READ | PROT_EXEC)) { perror("mprotect rx"); return 1; }
        sum += ((int (*)(void))(void *)r)();
        if (mprotect(r, P, PROT_READ | PROT_WRITE | PROT_EXEC)) { perror("mprotect rwx"); return 1; }
        sum += emit_tiny(r + 64, 8);
        if (mprotect(r, P, PROT_READ | PROT_WRITE)) { perror("mprotect rw"); return 1; }
        r[200] = 9; /* data page now */
        sum += r[200];
        printf("remap: sum %lld\n", (long long)sum);
    }

    if (straddle) {
        unsigned char *r = map_rwx(4 * 4096);
        uint64_t sum = 0;
        for (int round = 0; round < 3; round++)
            for (int p = 1; p < 4; p++) {
                volatile uint64_t *at = (volatile uint64_t *)(r + p * 4096 - 4);
                *at = 0x0102030405060708ull * (uint64_t)(p + round);
                sum = sum * 31 + *at + r[p * 4096 - 4] + r[p * 4096 + 3];
            }
        printf("straddle: %llu\n", (unsigned long long)sum);
    }

    if (reserve_mb > 0) {
        size_t n = (size_t)reserve_mb << 20;
        unsigned char *r = mmap(NULL, n, PROT_READ | PROT_WRITE | PROT_EXEC,
                                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (r == MAP_FAILED) { perror("reserve"); return 1; }
        int64_t sum = 0;
        for (size_t off = 0; off < n; off += 64 * 4096) {
            r[off] = 0xB8;
            int v = (int)(off >> 18);
            memcpy(r + off + 1, &v, 4);
            r[off + 5] = 0xC3;
            sum += ((int (*)(void))(void *)(r + off))();
        }
        printf("reserve: sum %lld\n", (long long)sum);
        fprintf(stderr, "mappings: %d\n", count_mappings());
    }

    if (smaps) dump_smaps(smaps);

    if (do_fork) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            for (int i = 0; i < nfuncs; i += 2) emit(i, (i + 1) % 3, mul_of(i) + 1, add_of(i));
            printf("child checksum: %lld\n", (long long)run_range(0, nfuncs));
            fflush(stdout);
            _exit(0);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        printf("child status: %d\n", st);
    }

    if (heap) printf("heap: %lld emits, top %lld\n", (long long)((int64_t *)code)[0], (long long)*(int64_t *)(code + HEAP_TOP_AT(code_size)));
    if (rogue) rogue_stores();

    if (do_exec) {
        fflush(stdout);
        execl("/proc/self/exe", argv[0], "--funcs", "16", (char *)NULL);
        perror("exec");
        return 1;
    }
    return 0;
}
