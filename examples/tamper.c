/*
 * tamper: a small JIT whose emitted code is changed behind the seal, and
 * one that emits PKRU-loading gadgets, for jitguard's attestation and
 * gadget-scan tests (tests/attest.rs).
 *
 * The code region is 4 RWX pages. `answer` (page 0) returns 42. A bypass
 * then rewrites its immediate to 1337 without any store instruction of
 * the process touching the page (so no fault, no window):
 *   procmem   pwrite to /proc/self/mem, opened with a raw openat system
 *             call (a `syscall` instruction of its own: neither libc's
 *             wrappers nor its syscall() function, which a preloaded
 *             library can interpose)
 *   vmwrite   a forked child's raw process_vm_writev into its parent
 *             (the kernel ignores the parent's PKRU; page-table
 *             permissions still stop it, so pkey backend only)
 *   alias     the region is a MAP_SHARED memfd; a second, read-write
 *             (not executable, so not guarded) mapping of it is written
 * and the program goes on (second argument):
 *   open      re-emits into page 0 (the write opens the page again)
 *   rep-open  the same by a `rep movsb` (jitguard's REP emulation)
 *   exit      prints the answer and exits
 *   sleep     prints the answer, sleeps 0.6 s, prints "slept" and exits
 * Other scenarios:
 *   gadget       emits `mov eax, 0xEF010F90; ret`: a WRPKRU in an immediate
 *   gadget-edge  emits 0F as page 1's last byte, then 01 EF at page 2's
 *                start (one sequence across two pages and two emits)
 *   legit     every legitimate change: re-emits, madvise(MADV_DONTNEED),
 *             munmap + mmap again, mremap, mprotect RX then RWX, and two
 *             threads emitting at once for 0.3 s
 * Prints "answer() = N".
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096
#define PAGES 4
#define RWX (PROT_READ | PROT_WRITE | PROT_EXEC)

static unsigned char *code;
static const unsigned char ret42[] = {0xB8, 0x2A, 0x00, 0x00, 0x00, 0xC3};
static void *(*volatile copy)(void *, const void *, size_t) = memcpy;

/* The emitter: one memcpy into the code region. */
__attribute__((noinline)) static void emit(size_t at, const void *bytes, size_t n) {
    copy(code + at, bytes, n);
}

/* The same emit as one `rep movsb` of the program's own: jitguard
 * completes such a string store itself (its REP emulation), which checks
 * the pages before it opens them. */
__attribute__((noinline)) static void emit_rep(size_t at, const void *bytes, size_t n) {
    void *dst = code + at;
    __asm__ volatile("rep movsb" : "+D"(dst), "+S"(bytes), "+c"(n) : : "memory");
}

static int call_at(size_t at) { return ((int (*)(void))(code + at))(); }

static void answer(void) { printf("answer() = %d\n", call_at(0)); fflush(stdout); }

static const int32_t evil = 1337;

/* A system call by this program's own `syscall` instruction. */
static long raw6(long n, long a, long b, long c, long d, long e, long f) {
    long r;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall"
                     : "=a"(r)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return r;
}

static void bypass_procmem(void) {
    long fd = raw6(SYS_openat, AT_FDCWD, (long)"/proc/self/mem", O_RDWR, 0, 0, 0);
    if (fd < 0) { fprintf(stderr, "openat /proc/self/mem: %ld\n", fd); exit(3); }
    long n = raw6(SYS_pwrite64, fd, (long)&evil, 4, (long)(uintptr_t)(code + 1), 0, 0);
    if (n != 4) { fprintf(stderr, "pwrite /proc/self/mem: %ld\n", n); exit(3); }
    raw6(SYS_close, fd, 0, 0, 0, 0, 0);
}

static void bypass_vmwrite(void) {
    pid_t parent = getpid();
    pid_t kid = fork();
    if (kid == 0) {
        struct iovec local = {(void *)&evil, 4}, remote = {code + 1, 4};
        long n = raw6(SYS_process_vm_writev, parent, (long)&local, 1, (long)&remote, 1, 0);
        _exit(n == 4 ? 0 : 1);
    }
    int st = 0;
    waitpid(kid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) { fprintf(stderr, "process_vm_writev failed\n"); exit(3); }
}

static unsigned char *alias;

static void bypass_alias(void) { memcpy(alias + 1, &evil, 4); }

static void map_region(int shared) {
    if (shared) {
        int fd = memfd_create("tamper", 0);
        if (fd < 0 || ftruncate(fd, PAGES * PAGE) != 0) { perror("memfd"); exit(2); }
        code = mmap(NULL, PAGES * PAGE, RWX, MAP_SHARED, fd, 0);
        alias = mmap(NULL, PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (alias == MAP_FAILED) { perror("mmap alias"); exit(2); }
    } else {
        code = mmap(NULL, PAGES * PAGE, RWX, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    }
    if (code == MAP_FAILED) { perror("mmap"); exit(2); }
}

static void go_on(const char *then) {
    if (!strcmp(then, "open")) {
        emit(64, ret42, sizeof ret42); /* page 0 again */
        printf("re-emitted\n");
        answer();
    } else if (!strcmp(then, "rep-open")) {
        emit_rep(64, ret42, sizeof ret42); /* page 0 again, by REP */
        printf("re-emitted\n");
        answer();
    } else if (!strcmp(then, "exit")) {
        answer();
    } else if (!strcmp(then, "sleep")) {
        answer();
        struct timespec t = {0, 600 * 1000 * 1000};
        nanosleep(&t, NULL);
        printf("slept\n");
    } else {
        fprintf(stderr, "unknown phase %s\n", then); exit(2);
    }
}

static volatile int stop;

static void *busy(void *arg) {
    size_t at = (size_t)arg;
    unsigned char f[] = {0xB8, 0, 0, 0, 0, 0xC3};
    for (int i = 0; !stop; i++) {
        memcpy(f + 1, &i, 4);
        emit(at + (i % 8) * 16, f, sizeof f);
        if (call_at(at + (i % 8) * 16) != i) { fprintf(stderr, "bad code\n"); exit(4); }
    }
    return NULL;
}

static void legit(void) {
    emit(0, ret42, sizeof ret42);
    answer();
    emit(PAGE, ret42, sizeof ret42);
    if (madvise(code + PAGE, PAGE, MADV_DONTNEED) != 0) perror("madvise");
    emit(PAGE + 8, ret42, sizeof ret42);
    munmap(code + 2 * PAGE, PAGE);
    if (mmap(code + 2 * PAGE, PAGE, RWX, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED) perror("mmap fixed");
    emit(2 * PAGE, ret42, sizeof ret42);
    mprotect(code, PAGE, PROT_READ | PROT_EXEC);
    answer();
    mprotect(code, PAGE, RWX);
    emit(16, ret42, sizeof ret42);
    unsigned char *moved = mremap(code, PAGES * PAGE, PAGES * PAGE, MREMAP_MAYMOVE);
    if (moved == MAP_FAILED) { perror("mremap"); exit(2); }
    code = moved;
    emit(32, ret42, sizeof ret42);
    answer();
    pthread_t a, b;
    pthread_create(&a, NULL, busy, (void *)(uintptr_t)(PAGE + 512));
    pthread_create(&b, NULL, busy, (void *)(uintptr_t)(3 * PAGE));
    struct timespec t = {0, 300 * 1000 * 1000};
    nanosleep(&t, NULL);
    stop = 1;
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    answer();
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: tamper SCENARIO [PHASE]\n"); return 2; }
    const char *s = argv[1];
    map_region(!strcmp(s, "alias"));
    if (!strcmp(s, "legit")) { legit(); return 0; }
    if (!strcmp(s, "gadget")) {
        static const unsigned char f[] = {0xB8, 0x90, 0x0F, 0x01, 0xEF, 0xC3};
        emit(0, f, sizeof f);
        printf("gadget() = %#x\n", (unsigned)call_at(0));
        return 0;
    }
    if (!strcmp(s, "gadget-edge")) {
        static const unsigned char tail[] = {0x0F}, head[] = {0x01, 0xEF, 0xC3};
        emit(2 * PAGE - 1, tail, 1);
        emit(2 * PAGE, head, sizeof head);
        printf("emitted across the edge\n");
        return 0;
    }
    emit(0, ret42, sizeof ret42);
    answer();
    if (!strcmp(s, "procmem")) bypass_procmem();
    else if (!strcmp(s, "vmwrite")) bypass_vmwrite();
    else if (!strcmp(s, "alias")) bypass_alias();
    else { fprintf(stderr, "unknown scenario %s\n", s); return 2; }
    printf("tampered\n");
    fflush(stdout);
    go_on(argc > 2 ? argv[2] : "exit");
    return 0;
}
