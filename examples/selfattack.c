/*
 * selfattack: an attacker who knows jitguard is loaded, holds its shipped
 * binary (so knows where each of its statics is, from the library's own
 * symbol table) and has one data write, aims it at jitguard's own state
 * instead of the code. tests/self_defence.rs passes the symbol's offset
 * and size; the program finds libjitguard.so's load address itself.
 *
 * The JIT: one trusted emitter (`emit_function`) writes `answer` (returns
 * 42) into an RWX page; the rogue writer (`rogue_store`) is not an
 * emitter. Each scenario makes its one write into jitguard's data, then
 * does what the write was meant to enable, and prints the outcome:
 *
 *   benign                     emit and run (the learn run)
 *   dump OFF SIZE              emit, then print SIZE bytes at OFF (hex)
 *   dump-twice OFF SIZE        print them before the first code region
 *                              exists and again after it
 *   view OFF SIZE              find the word of the writer view's
 *                              publisher that says which slot is current
 *                              (8 before the first region, < 8 after),
 *                              set it to 8 (nothing published), then the
 *                              rogue store: "answer() = 1337" if it lands
 *   snapshot OFF SIZE          the same word of the region snapshot's
 *                              publisher; then pkey_mprotect the code page
 *                              RW under key 0 (jitguard's hook no longer
 *                              knows it as guarded, so passes the call
 *                              through), the rogue store, and back to RX
 *   poke OFF BYTE              one byte write (the mode), then the rogue
 *                              store
 *   state OFF BYTE             one byte write (jitguard's start-up state),
 *                              then the JIT maps a new code region, emits,
 *                              and the rogue store hits the new region
 *   sigaction OFF SIZE         the program has its own SIGSEGV handler;
 *                              every copy of its address in jitguard's
 *                              recorded actions is replaced by the
 *                              attacker's; then a genuine fault:
 *                              "hijacked" if the attacker's function ran
 *   madvise OFF 0|1            MADV_DONTNEED on the page of jitguard's
 *                              start-up state (through libc, or 1: a raw
 *                              system call), which would give it back the
 *                              library file's initial value ("not
 *                              started"); then a new region and the rogue
 *                              store into it
 *   stall ROFF WOFF SIZE       every reader count of the region snapshot
 *                              (ROFF, ordinary memory) raised by one, so
 *                              a thread's next region change waits for a
 *                              free slot inside its update; meanwhile the
 *                              main thread replaces libc's sigaction in
 *                              the real-function table (WOFF) and lowers
 *                              the counts; then it calls sigaction
 *   real OFF SIZE              every pointer to libc's sigaction in
 *                              jitguard's table of real functions is
 *                              replaced by the attacker's function; then
 *                              the program calls sigaction: "hijacked"
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PAGE 4096
#define ROGUE 1337

typedef int (*fn_t)(void);
static unsigned char *code;
static void *(*volatile copy)(void *, const void *, size_t) = memcpy;

__attribute__((noinline)) static void emit_function(unsigned char *at, int value)
{
    unsigned char body[6] = {0xB8, 0, 0, 0, 0, 0xC3};
    memcpy(body + 1, &value, 4);
    copy(at, body, sizeof body);
    ((volatile unsigned char *)at)[6] = 0xCC;
}

__attribute__((noinline)) static void rogue_store(unsigned char *at, int value)
{
    *(volatile uint32_t *)(at + 1) = (uint32_t)value;
}

static unsigned char *new_region(void)
{
    unsigned char *p = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE | PROT_EXEC,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        exit(2);
    }
    return p;
}

static uintptr_t jitguard_base;

static int find_jitguard(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    if (info->dlpi_name && strstr(info->dlpi_name, "libjitguard")) {
        jitguard_base = info->dlpi_addr;
        return 1;
    }
    return 0;
}

/* Where the symbol is in this process; without jitguard (the plain control
 * of the emit itself) there is nothing to attack. */
static unsigned char *target(const char *off)
{
    dl_iterate_phdr(find_jitguard, NULL);
    if (!jitguard_base) {
        printf("jitguard not loaded\n");
        exit(3);
    }
    return (unsigned char *)(jitguard_base + strtoull(off, NULL, 16));
}

static void dump(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        printf("%02x", p[i]);
    printf("\n");
    fflush(stdout);
}

static int answer(unsigned char *at) { return ((fn_t)(void *)at)(); }

static void report_answer(unsigned char *at)
{
    printf("answer() = %d\n", answer(at));
    fflush(stdout);
}

/* The publisher's current-slot word: an 8-aligned u64 that was 8 (nothing
 * published) before the first region and is 0..7 after. */
static uint64_t *find_current(const unsigned char *before, unsigned char *after, size_t n)
{
    for (size_t i = 0; i + 8 <= n; i += 8) {
        uint64_t b, a;
        memcpy(&b, before + i, 8);
        memcpy(&a, after + i, 8);
        if (b == 8 && a < 8)
            return (uint64_t *)(after + i);
    }
    return NULL;
}

static volatile sig_atomic_t app_faults;
static void app_handler(int sig)
{
    (void)sig;
    app_faults++;
    _exit(4);
}

static void attacker_function(int sig)
{
    (void)sig;
    static const char m[] = "hijacked\n";
    write(1, m, sizeof m - 1);
    _exit(0);
}

static int attacker_sigaction(int s, const struct sigaction *a, struct sigaction *o)
{
    (void)s;
    (void)a;
    (void)o;
    static const char m[] = "hijacked\n";
    write(1, m, sizeof m - 1);
    _exit(0);
}

/* Replaces every aligned copy of `from` in [p, p+n) by `to`. */
static int replace_word(unsigned char *p, size_t n, uintptr_t from, uintptr_t to)
{
    int hits = 0;
    for (size_t i = 0; i + 8 <= n; i += 8) {
        uintptr_t w;
        memcpy(&w, p + i, 8);
        if (w == from) {
            *(volatile uintptr_t *)(p + i) = to;
            hits++;
        }
    }
    return hits;
}

int main(int argc, char **argv)
{
    const char *s = argc > 1 ? argv[1] : "benign";
    if (!strcmp(s, "benign")) {
        code = new_region();
        emit_function(code, 42);
        report_answer(code);
        return 0;
    }
    if (argc < 4) {
        fprintf(stderr, "usage: selfattack SCENARIO OFF SIZE|BYTE\n");
        return 2;
    }
    unsigned char *t = target(argv[2]);
    size_t n = strtoull(argv[3], NULL, 0);
    if (!strcmp(s, "dump")) {
        code = new_region();
        emit_function(code, 42);
        dump(t, n);
        return 0;
    }
    if (!strcmp(s, "dump-twice") || !strcmp(s, "view") || !strcmp(s, "snapshot")) {
        unsigned char *before = malloc(n);
        memcpy(before, t, n);
        code = new_region();
        emit_function(code, 42);
        if (!strcmp(s, "dump-twice")) {
            dump(before, n);
            dump(t, n);
            return 0;
        }
        uint64_t *cur = find_current(before, t, n);
        if (!cur) {
            printf("current-slot word not found\n");
            return 5;
        }
        printf("one write: %p\n", (void *)cur);
        fflush(stdout);
        *(volatile uint64_t *)cur = 8;
        int snapshot = !strcmp(s, "snapshot");
        /* Key 0 where the CPU has keys; plain mprotect where it has none. */
        if (snapshot && pkey_mprotect(code, PAGE, PROT_READ | PROT_WRITE, 0) != 0 &&
            mprotect(code, PAGE, PROT_READ | PROT_WRITE) != 0)
            perror("mprotect");
        rogue_store(code, ROGUE);
        if (snapshot && pkey_mprotect(code, PAGE, PROT_READ | PROT_EXEC, 0) != 0 &&
            mprotect(code, PAGE, PROT_READ | PROT_EXEC) != 0)
            perror("mprotect");
        report_answer(code);
        return 0;
    }
    if (!strcmp(s, "poke") || !strcmp(s, "state")) {
        code = new_region();
        emit_function(code, 42);
        printf("one write: %p\n", (void *)t);
        fflush(stdout);
        *(volatile unsigned char *)t = (unsigned char)n;
        if (!strcmp(s, "state")) {
            code = new_region();
            emit_function(code, 42);
        }
        rogue_store(code, ROGUE);
        report_answer(code);
        return 0;
    }
    if (!strcmp(s, "sigaction")) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = app_handler;
        sigaction(SIGSEGV, &sa, NULL);
        code = new_region();
        emit_function(code, 42);
        int hits = replace_word(t, n, (uintptr_t)app_handler, (uintptr_t)attacker_function);
        printf("copies replaced: %d\n", hits);
        fflush(stdout);
        /* A genuine fault of the program's own. */
        volatile char *none = mmap(NULL, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        none[0] = 1;
        printf("not reached\n");
        return 6;
    }
    if (!strcmp(s, "madvise")) {
        code = new_region();
        emit_function(code, 42);
        void *page = (void *)((uintptr_t)t & ~(uintptr_t)(PAGE - 1));
        long r = n ? syscall(SYS_madvise, page, PAGE, MADV_DONTNEED)
                   : madvise(page, PAGE, MADV_DONTNEED);
        printf("madvise = %ld\n", r);
        fflush(stdout);
        code = new_region();
        emit_function(code, 42);
        rogue_store(code, ROGUE);
        report_answer(code);
        return 0;
    }
    if (!strcmp(s, "stall") && argc >= 5) {
        /* t: the snapshot's 8 reader counts; argv[3], argv[4]: the table. */
        volatile uint64_t *readers = (volatile uint64_t *)t;
        unsigned char *table = target(argv[3]);
        size_t tn = strtoull(argv[4], NULL, 0);
        code = new_region();
        emit_function(code, 42);
        /* Before the stall: dlopen would wait for the stalled update. */
        void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
        void *libc_sa = libc ? dlsym(libc, "sigaction") : NULL;
        for (int i = 0; i < 8; i++)
            readers[i]++;
        pthread_t th;
        pthread_create(&th, NULL, (void *(*)(void *))new_region, NULL);
        usleep(200000); /* the thread now waits inside its update */
        int hits = replace_word(table, tn, (uintptr_t)libc_sa, (uintptr_t)attacker_sigaction);
        printf("copies replaced during the stalled update: %d\n", hits);
        fflush(stdout);
        for (int i = 0; i < 8; i++)
            readers[i]--;
        pthread_join(th, NULL);
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = SIG_IGN;
        sigaction(SIGUSR1, &sa, NULL);
        printf("sigaction returned\n");
        return 0;
    }
    if (!strcmp(s, "real")) {
        code = new_region();
        emit_function(code, 42);
        /* libjitguard's sigaction is what the program calls; libc's is the
         * address jitguard's table holds. */
        void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
        void *libc_sa = libc ? dlsym(libc, "sigaction") : NULL;
        int hits = replace_word(t, n, (uintptr_t)libc_sa, (uintptr_t)attacker_sigaction);
        printf("copies replaced: %d\n", hits);
        fflush(stdout);
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = SIG_IGN;
        sigaction(SIGUSR1, &sa, NULL);
        printf("sigaction returned\n");
        return 0;
    }
    fprintf(stderr, "unknown scenario %s\n", s);
    return 2;
}
