/*
 * hostile: programs that were broken by early jitguard versions (found in
 * review), each a scenario that must behave exactly as without jitguard.
 * Every scenario prints one deterministic line and exits 0; a 5 s alarm
 * turns a hang into exit 3.
 *
 * usage: hostile SCENARIO
 *   blocked     a worker thread with every signal blocked emits JIT code
 *   segvpatch   the program's SIGSEGV handler (no SA_NODEFER) patches JIT code
 *   longjmp     a store straddling from a guarded page into PROT_NONE faults;
 *               the program's handler siglongjmps out of jitguard's window;
 *               the page must be sealed afterwards and its code must run
 *   repsrc      rep movsb into JIT memory from a source whose second page
 *               is PROT_NONE, under a fault-tolerant copy
 *   xpage       a JIT instruction whose bytes cross into the page it writes
 *   alias       sigaction(SIGTRAP, &sa, &sa): the new action must be taken
 *   ssignal     ssignal() installs a handler without replacing jitguard's
 *   masks       sigprocmask reports SIGSEGV blocked after blocking it
 *   sighold     sigset(SIGSEGV, SIG_HOLD) holds it (as the program sees it)
 *               and JIT writes still work
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

extern __sighandler_t ssignal(int, __sighandler_t);

static sigjmp_buf jb;
static unsigned char *code;
static volatile int hits;

static void on_alarm(int s) {
    (void)s;
    static const char m[] = "HANG: still running after 5 s\n";
    write(2, m, sizeof m - 1);
    _exit(3);
}

static unsigned char *rwx(size_t n) {
    void *p = mmap(0, n, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) { perror("mmap"); exit(1); }
    return p;
}

static int ret42(unsigned char *f) { /* mov eax, 42 ; ret */
    f[0] = 0xB8; f[1] = 42; f[2] = 0; f[3] = 0; f[4] = 0; f[5] = 0xC3;
    return ((int (*)(void))(void *)f)();
}

static void *worker(void *a) { (void)a; printf("blocked: worker ran %d\n", ret42(code)); return 0; }

static void jump_out(int s, siginfo_t *i, void *c) { (void)s; (void)i; (void)c; hits++; siglongjmp(jb, 1); }

static void patch(int s, siginfo_t *i, void *c) {
    (void)s; (void)i; (void)c;
    hits++;
    code[64] = 0xC3; /* emits from inside the program's own handler */
    siglongjmp(jb, 1);
}

static void on_trap(int s) { (void)s; hits++; }
static void on_segv_plain(int s) { (void)s; hits++; siglongjmp(jb, 1); }

static void install(void (*h)(int, siginfo_t *, void *)) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = h;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, 0);
}

int main(int argc, char **argv) {
    const char *s = argc > 1 ? argv[1] : "";
    setvbuf(stdout, 0, _IONBF, 0);
    signal(SIGALRM, on_alarm);
    alarm(5);
    code = rwx(3 * 4096);
    if (!strcmp(s, "bad-pkey")) {
        /* A pkey_mprotect the kernel refuses (key 15 was never
         * allocated) must change nothing: the page stays guarded. */
        int first = ret42(code);
        int r = pkey_mprotect(code, 4096, PROT_READ | PROT_WRITE, 15);
        int e = errno;
        printf("bad-pkey: %d %d, pkey_mprotect %d %s, ret42 %d\n", first, 0, r,
               r == -1 && e == EINVAL ? "EINVAL" : "other", ret42(code));
    } else if (!strcmp(s, "blocked")) {
        sigset_t all;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, 0); /* inherited by the worker */
        pthread_t t;
        pthread_create(&t, 0, worker, 0);
        pthread_join(t, 0);
    } else if (!strcmp(s, "segvpatch")) {
        install(patch);
        unsigned char *none = mmap(0, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (!sigsetjmp(jb, 1)) *(volatile char *)none = 1;
        printf("segvpatch: handler patched code, runs %d\n", (((void (*)(void))(void *)(code + 64))(), hits));
    } else if (!strcmp(s, "longjmp")) {
        install(jump_out);
        mprotect(code + 4096, 4096, PROT_NONE);
        if (!sigsetjmp(jb, 1)) *(volatile unsigned long *)(code + 4096 - 4) = 0x1122334455667788ul;
        printf("longjmp: caught %d, code runs %d\n", hits, ret42(code));
    } else if (!strcmp(s, "repsrc")) {
        install(jump_out);
        unsigned char *src = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        memset(src, 0xC3, 4096);
        mprotect(src + 4096, 4096, PROT_NONE);
        if (!sigsetjmp(jb, 1)) {
            void *d = code, *sp = src;
            unsigned long n = 8192;
            __asm__ volatile("rep movsb" : "+D"(d), "+S"(sp), "+c"(n) : : "memory");
        }
        ((void (*)(void))(void *)code)();
        printf("repsrc: copy faulted %d, code runs\n", hits);
    } else if (!strcmp(s, "xpage")) {
        unsigned char *f = code + 4093; /* 6-byte insn: 3 bytes on page 0, 3 on page 1 */
        int disp = (int)((code + 4096 + 0x100) - (f + 6));
        unsigned char insn[] = {0x89, 0x05, 0, 0, 0, 0, 0xC3}; /* mov [rip+disp], eax ; ret */
        memcpy(insn + 2, &disp, 4);
        memcpy(f, insn, sizeof insn);
        ((void (*)(void))(void *)f)();
        printf("xpage: stored %d\n", *(unsigned *)(code + 4096 + 0x100) != 0);
    } else if (!strcmp(s, "alias")) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_trap;
        sigaction(SIGTRAP, &sa, &sa);
        __asm__ volatile("int3");
        printf("alias: old was default %d, new handler ran %d\n", sa.sa_handler == SIG_DFL, hits);
    } else if (!strcmp(s, "ssignal")) {
        ssignal(SIGSEGV, on_segv_plain);
        printf("ssignal: jit code runs %d\n", ret42(code));
        unsigned char *none = mmap(0, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (!sigsetjmp(jb, 1)) *(volatile char *)none = 1;
        printf("ssignal: own fault handled %d\n", hits);
    } else if (!strcmp(s, "masks")) {
        sigset_t b, cur;
        sigemptyset(&b);
        sigaddset(&b, SIGSEGV);
        sigprocmask(SIG_BLOCK, &b, 0);
        int jit = ret42(code);
        sigprocmask(SIG_BLOCK, 0, &cur);
        printf("masks: segv reported blocked %d, jit code runs %d\n", sigismember(&cur, SIGSEGV), jit);
    } else if (!strcmp(s, "sighold")) {
        sigset(SIGSEGV, SIG_HOLD);
        int jit = ret42(code);
        __sighandler_t prev = sigset(SIGSEGV, SIG_DFL);
        printf("sighold: was held %d, jit code runs %d\n", prev == SIG_HOLD, jit);
    } else {
        fprintf(stderr, "hostile: unknown scenario %s\n", s);
        return 2;
    }
    return 0;
}
