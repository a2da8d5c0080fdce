/*
 * sigprobe: a program with its own SIGSEGV/SIGTRAP handling, the way JIT
 * runtimes have (guard-page probes, implicit checks, context edits). Under
 * jitguard every scenario must behave exactly as without it.
 *
 * usage: sigprobe SCENARIO
 *   probe      SA_SIGINFO handler + guard page + siglongjmp, 1000 times
 *   query      sigaction(SIGSEGV, NULL, &old) returns the program's handler
 *   null       NULL dereference with no handler: must die by SIGSEGV
 *   ign        SIG_IGN for SIGSEGV, then a fault: must still die by SIGSEGV
 *   resethand  SA_RESETHAND: first fault handled, second dies by SIGSEGV
 *   ctxedit    the handler edits RIP in the context to skip the fault
 *   signal     handler installed with signal() (BSD semantics)
 *   sysv       handler installed with sysv_signal() (one shot)
 *   altstack   SA_ONSTACK handler runs on the sigaltstack
 *   mask       sa_mask blocks SIGUSR1 during the handler; NODEFER unblocks SIGSEGV
 *   trap       the program's own SIGTRAP handler for int3
 *   jit        a guarded RWX region written between guard-page probes
 *   kill       SIGSEGV sent with kill() to a program with SIG_DFL: dies by it
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

extern __sighandler_t sysv_signal(int, __sighandler_t);

static sigjmp_buf jb;
static volatile void *last_addr;
static volatile int hits;
static char *guard_page;
static char *alt_lo, *alt_hi;
static volatile int on_alt;
static volatile int usr1_blocked, segv_blocked;

static void on_segv_info(int sig, siginfo_t *si, void *ctx) {
    (void)sig; (void)ctx;
    last_addr = si->si_addr;
    hits++;
    char here;
    on_alt = (&here >= alt_lo && &here < alt_hi);
    sigset_t cur;
    sigprocmask(SIG_BLOCK, NULL, &cur);
    usr1_blocked = sigismember(&cur, SIGUSR1);
    segv_blocked = sigismember(&cur, SIGSEGV);
    siglongjmp(jb, 1);
}

static void on_segv_plain(int sig) {
    (void)sig;
    hits++;
    siglongjmp(jb, 1);
}

static void on_segv_skip(int sig, siginfo_t *si, void *ctx) {
    (void)sig; (void)si;
    ucontext_t *uc = ctx;
    /* The faulting instruction is `movb $1, (%rax)`: 3 bytes (c6 00 01). */
    uc->uc_mcontext.gregs[REG_RIP] += 3;
    hits++;
}

static void on_trap(int sig, siginfo_t *si, void *ctx) {
    (void)sig; (void)si; (void)ctx;
    hits++;
}

static void probe(void) { *(volatile char *)guard_page = 1; }

static void install(void (*h)(int, siginfo_t *, void *), int flags) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = h;
    sa.sa_flags = SA_SIGINFO | flags;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR1);
    if (sigaction(SIGSEGV, &sa, NULL)) { perror("sigaction"); exit(1); }
}

int main(int argc, char **argv) {
    const char *s = argc > 1 ? argv[1] : "probe";
    guard_page = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (!strcmp(s, "probe")) {
        install(on_segv_info, 0);
        for (int i = 0; i < 1000; i++)
            if (!sigsetjmp(jb, 1)) probe();
        printf("probe: %d hits, addr ok %d\n", hits, last_addr == guard_page);
    } else if (!strcmp(s, "query")) {
        install(on_segv_info, SA_NODEFER);
        struct sigaction old;
        sigaction(SIGSEGV, NULL, &old);
        printf("query: handler ours %d, siginfo %d, nodefer %d, usr1 in mask %d\n",
               old.sa_sigaction == on_segv_info, !!(old.sa_flags & SA_SIGINFO),
               !!(old.sa_flags & SA_NODEFER), sigismember(&old.sa_mask, SIGUSR1));
    } else if (!strcmp(s, "null")) {
        printf("null: about to crash\n");
        fflush(stdout);
        *(volatile int *)(uintptr_t)(argc * 0) = 1; /* NULL */
        printf("null: survived?!\n");
    } else if (!strcmp(s, "ign")) {
        signal(SIGSEGV, SIG_IGN);
        fflush(stdout);
        probe();
        printf("ign: survived?!\n");
    } else if (!strcmp(s, "resethand")) {
        install(on_segv_info, SA_RESETHAND);
        if (!sigsetjmp(jb, 1)) probe();
        printf("resethand: first fault handled (%d)\n", hits);
        fflush(stdout);
        probe();
        printf("resethand: survived?!\n");
    } else if (!strcmp(s, "ctxedit")) {
        install(on_segv_skip, 0);
        for (int i = 0; i < 10; i++)
            __asm__ volatile("movb $1, (%0)" ::"a"(guard_page) : "memory");
        printf("ctxedit: skipped %d faults\n", hits);
    } else if (!strcmp(s, "signal")) {
        signal(SIGSEGV, on_segv_plain);
        for (int i = 0; i < 5; i++)
            if (!sigsetjmp(jb, 1)) probe();
        void (*prev)(int) = signal(SIGSEGV, SIG_DFL);
        printf("signal: %d hits, previous handler ours %d\n", hits, prev == on_segv_plain);
    } else if (!strcmp(s, "sysv")) {
        sysv_signal(SIGSEGV, on_segv_plain);
        if (!sigsetjmp(jb, 1)) probe();
        printf("sysv: first fault handled (%d)\n", hits);
        fflush(stdout);
        probe();
        printf("sysv: survived?!\n");
    } else if (!strcmp(s, "altstack")) {
        stack_t ss;
        ss.ss_size = 65536;
        ss.ss_sp = alt_lo = malloc(ss.ss_size);
        alt_hi = alt_lo + ss.ss_size;
        ss.ss_flags = 0;
        sigaltstack(&ss, NULL);
        install(on_segv_info, SA_ONSTACK);
        if (!sigsetjmp(jb, 1)) probe();
        printf("altstack: on alternate stack %d\n", on_alt);
    } else if (!strcmp(s, "mask")) {
        install(on_segv_info, 0);
        if (!sigsetjmp(jb, 1)) probe();
        printf("mask: usr1 blocked %d, segv blocked %d\n", usr1_blocked, segv_blocked);
        install(on_segv_info, SA_NODEFER);
        if (!sigsetjmp(jb, 1)) probe();
        printf("mask nodefer: usr1 blocked %d, segv blocked %d\n", usr1_blocked, segv_blocked);
    } else if (!strcmp(s, "trap")) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_trap;
        sa.sa_flags = SA_SIGINFO;
        sigaction(SIGTRAP, &sa, NULL);
        for (int i = 0; i < 3; i++) __asm__ volatile("int3");
        printf("trap: %d int3 handled\n", hits);
    } else if (!strcmp(s, "jit")) {
        install(on_segv_info, 0);
        unsigned char *jit = mmap(NULL, 8 * 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        int64_t sum = 0;
        for (int i = 0; i < 200; i++) {
            unsigned char *f = jit + (size_t)(i % 8) * 4096 + (size_t)(i % 50) * 16;
            /* mov eax, imm32 ; ret */
            f[0] = 0xB8; memcpy(f + 1, &i, 4); f[5] = 0xC3;
            sum += ((int (*)(void))(void *)f)();
            if (!sigsetjmp(jb, 1)) probe();
        }
        printf("jit: sum %lld, probes %d\n", (long long)sum, hits);
    } else if (!strcmp(s, "kill")) {
        fflush(stdout);
        kill(getpid(), SIGSEGV);
        printf("kill: survived?!\n");
    } else {
        fprintf(stderr, "sigprobe: unknown scenario %s\n", s);
        return 2;
    }
    return 0;
}
