/*
 * raw_syscalls: attacks that go around jitguard's libc hooks (raw system
 * calls) or around its seal (PKRU opened by a gadget or a forged signal
 * frame). jitguard's tests (tests/raw_syscalls.rs) run each scenario
 * without jitguard (the control: the attack must land there), under
 * jitguard without its seccomp filter (where the hole is), and with
 * JITGUARD_SECCOMP=trap (or vmwrite), where it must be refused or detected.
 *
 * Raw calls use the program's own `syscall` instruction (raw_syscall), not
 * libc's syscall(), which jitguard may hook.
 *
 * A small JIT as in attacks.c: `emit_code` is the trusted emitter (a
 * profile learned from `benign` names it); `rogue_store` is not.
 *
 * usage: raw_syscalls SCENARIO
 *   benign         emit into libc-mapped and raw-mapped RWX code (learn run)
 *   mmap-rwx       syscall(SYS_mmap, RWX) code, emitted, then a rogue store
 *   pkey-mprotect  guarded code, then syscall(SYS_pkey_mprotect, RWX, key 0),
 *                  then a rogue store
 *   mprotect-rwx   guarded code, then syscall(SYS_mprotect, RWX), then a
 *                  rogue store
 *   vmwrite        syscall(SYS_process_vm_writev) into the own code, by pid
 *   vmwrite-tid    the same, naming another thread's id instead of the pid
 *   gadget         the JIT emits `xor eax,eax; xor ecx,ecx; xor edx,edx;
 *                  wrpkru; ret` (a constant holding 0F 01 EF); a diverted
 *                  call runs it, then a rogue store, then mprotect()
 *   sigreturn-pkru0   a SIGUSR1 handler sets the frame's saved PKRU to 0;
 *                  after the sigreturn a rogue store, then mprotect()
 *   sigreturn-xstate  the same by clearing XSTATE_BV's PKRU bit
 *   sigreturn-segv    the same edit from a SIGSEGV handler (jitguard
 *                  passes the signal on and sees the frame come back)
 *   blocked        every signal blocked (sigprocmask, and a handler's
 *                  sa_mask), then raw W+X mmaps: the filter's SIGSYS must
 *                  still be delivered (a blocked trap kills)
 *   personality    personality(READ_IMPLIES_EXEC), then mmap(RW): the
 *                  kernel makes it RWX, and no hook sees a W+X request
 *   personality-raw   the same with syscall(SYS_personality)
 *   spawn          system("echo spawned") (glibc: posix_spawn)
 *   fork           a fork child maps raw W+X code, emits, then a rogue
 *                  store; the parent prints how the child ended
 *   exec           execs `/proc/self/exe exec-child` without jitguard
 *   exec-child     (the exec'd program) a raw process_vm_writev into its
 *                  own buffer; prints the result
 * Prints "answer() = N" (1337: the rogue store landed) and scenario facts.
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#define PAGE 4096
#define ROGUE 1337
#define RWX (PROT_READ | PROT_WRITE | PROT_EXEC)

typedef int (*fn_t)(void);

/* A system call by this program's own `syscall` instruction, not libc's
 * syscall() (which jitguard may hook): these scenarios test the seccomp
 * filter. -1 with errno set on failure, like syscall(). */
#define raw_syscall(...) raw_call(__VA_ARGS__, 0, 0, 0, 0, 0, 0)
static long raw_call(long nr, long a1, long a2, long a3, long a4, long a5, long a6, ...)
{
    long r;
    register long r10 __asm__("r10") = a4;
    register long r8 __asm__("r8") = a5;
    register long r9 __asm__("r9") = a6;
    __asm__ volatile("syscall"
                     : "=a"(r)
                     : "a"(nr), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    if (r < 0 && r > -4096) {
        errno = (int)-r;
        return -1;
    }
    return r;
}
static unsigned char *code;
static void *(*volatile copy)(void *, const void *, size_t) = memcpy;

/* The trusted emitter: libc memcpy for the body, its own store for the
 * last byte (which also keeps the call to memcpy from being a tail call). */
__attribute__((noinline)) static void emit_code(unsigned char *at, const unsigned char *bytes,
                                                size_t n)
{
    copy(at, bytes, n - 1);
    ((volatile unsigned char *)at)[n - 1] = bytes[n - 1];
}

static void emit_function(unsigned char *at, int value)
{
    unsigned char body[7] = {0xB8, 0, 0, 0, 0, 0xC3, 0xCC};
    memcpy(body + 1, &value, 4);
    emit_code(at, body, sizeof body);
}

/* A constant an attacker chose: its bytes are a WRPKRU gadget. */
static const unsigned char gadget_bytes[] = {0x31, 0xC0, 0x31, 0xC9, 0x31, 0xD2,
                                             0x0F, 0x01, 0xEF, 0xC3};

__attribute__((noinline)) static void rogue_store(unsigned char *at, int value)
{
    *(volatile uint32_t *)(at + 1) = (uint32_t)value;
}

static int answer(unsigned char *at) { return ((fn_t)(void *)at)(); }

static unsigned rdpkru(void)
{
    unsigned eax, edx;
    __asm__ volatile(".byte 0x0f,0x01,0xee" : "=a"(eax), "=d"(edx) : "c"(0));
    return eax;
}

static int has_pku(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return 0;
    return (c & (1 << 3)) && (c & (1 << 4));
}

/* ProtectionKey of the mapping holding `p`, from /proc/self/smaps. */
static int smaps_key(void *p)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[512];
    int in = 0, key = -1;
    unsigned long a = (unsigned long)p;
    while (f && fgets(line, sizeof line, f)) {
        unsigned long s, e;
        if (sscanf(line, "%lx-%lx ", &s, &e) == 2 && strchr(line, '-') < strchr(line, ' '))
            in = s <= a && a < e;
        else if (in && sscanf(line, "ProtectionKey: %d", &key) == 1)
            break;
    }
    if (f)
        fclose(f);
    return key;
}

/* Permissions of the mapping holding `p`, from /proc/self/maps. */
static const char *maps_perms(void *p)
{
    static char perms[8] = "?";
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    unsigned long a = (unsigned long)p;
    while (f && fgets(line, sizeof line, f)) {
        unsigned long s, e;
        char pr[8];
        if (sscanf(line, "%lx-%lx %7s", &s, &e, pr) == 3 && s <= a && a < e) {
            strcpy(perms, pr);
            break;
        }
    }
    if (f)
        fclose(f);
    return perms;
}

/* An entry into jitguard: any hooked call (mprotect of a spare page). */
static void enter_libc_hook(void)
{
    static unsigned char *spare;
    if (!spare)
        spare = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mprotect(spare, PAGE, PROT_READ);
}

static long vm_write(pid_t target, void *dst, const void *src, size_t n)
{
    struct iovec local = {(void *)src, n}, remote = {dst, n};
    /* A raw call, not libc's process_vm_writev: the filter is tested, not a hook. */
    return raw_syscall(SYS_process_vm_writev, target, (long)&local, 1, (long)&remote, 1, 0);
}

/* Forged sigreturns: edit the PKRU the kernel saved in the frame. */
enum { FORGE_PKRU0, FORGE_XSTATE };
static int forge_how;

static void forge_frame(void *ctx)
{
    ucontext_t *uc = ctx;
    unsigned char *fp = (unsigned char *)uc->uc_mcontext.fpregs;
    unsigned a, b, c, d;
    if (!fp || *(uint32_t *)(fp + 464) != 0x46505853u || !__get_cpuid_count(0xD, 9, &a, &b, &c, &d))
        return;
    if (forge_how == FORGE_PKRU0)
        *(uint32_t *)(fp + b) = 0;
    else
        *(uint64_t *)(fp + 512) &= ~(1ull << 9);
}

static void on_forge(int sig, siginfo_t *si, void *ctx)
{
    (void)sig;
    (void)si;
    forge_frame(ctx);
}

static void after_forged_return(void)
{
    printf("pkru after sigreturn: %x\n", rdpkru());
    rogue_store(code, ROGUE);
    printf("rogue store done\n");
    enter_libc_hook();
    rogue_store(code, ROGUE); /* again: faults if the entry resealed PKRU */
    printf("after entry: answer() = %d\n", answer(code));
}

static volatile int handler_answer;
static void on_usr2(int sig)
{
    (void)sig;
    unsigned char *p = (void *)raw_syscall(SYS_mmap, 0, PAGE, RWX, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    emit_function(p, 9);
    handler_answer = answer(p);
}

static volatile pid_t other_tid;
static volatile int other_stop;
static void *idle_thread(void *arg)
{
    (void)arg;
    other_tid = gettid();
    while (!other_stop)
        usleep(1000);
    return NULL;
}

static void vmwrite(int by_tid)
{
    pthread_t t;
    pid_t target = getpid();
    if (by_tid) {
        pthread_create(&t, NULL, idle_thread, NULL);
        while (!other_tid)
            usleep(100);
        target = other_tid;
    }
    int value = ROGUE;
    long r = vm_write(target, code + 1, &value, 4);
    printf("process_vm_writev: %ld (%s)\n", r, r < 0 ? strerror(errno) : "ok");
    if (by_tid) {
        other_stop = 1;
        pthread_join(t, NULL);
    }
}

int main(int argc, char **argv)
{
    const char *s = argc > 1 ? argv[1] : "benign";
    setvbuf(stdout, NULL, _IONBF, 0);
    if (strcmp(s, "exec-child") == 0) {
        char buf[8] = "before", src[8] = "after!";
        long r = vm_write(getpid(), buf, src, sizeof src);
        printf("child: process_vm_writev into itself: %ld (%s), buffer %s\n", r,
               r < 0 ? strerror(errno) : "ok", buf);
        return 0;
    }
    if (strcmp(s, "mmap-rwx") == 0)
        code = (void *)raw_syscall(SYS_mmap, 0, 4 * PAGE, RWX, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    else
        code = mmap(NULL, 4 * PAGE, RWX, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (code == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    emit_function(code, 42);
    emit_code(code + PAGE, gadget_bytes, sizeof gadget_bytes);
    printf("emitted: answer() = %d\n", answer(code));

    if (strcmp(s, "benign") == 0) {
        unsigned char *raw =
            (void *)raw_syscall(SYS_mmap, 0, PAGE, RWX, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        emit_function(raw, 7);
        printf("raw: %d\n", answer(raw));
        emit_function(code, 42);
    } else if (strcmp(s, "mmap-rwx") == 0) {
        printf("key: %d\n", smaps_key(code));
        printf("perms: %s\n", maps_perms(code));
        rogue_store(code, ROGUE);
    } else if (strcmp(s, "pkey-mprotect") == 0) {
        long r = raw_syscall(SYS_pkey_mprotect, (long)code, PAGE, RWX, 0);
        printf("pkey_mprotect: %ld (%s)\n", r, r < 0 ? strerror(errno) : "ok");
        printf("key: %d\n", smaps_key(code));
        rogue_store(code, ROGUE);
    } else if (strcmp(s, "mprotect-rwx") == 0) {
        long r = raw_syscall(SYS_mprotect, (long)code, PAGE, RWX);
        printf("mprotect: %ld (%s)\n", r, r < 0 ? strerror(errno) : "ok");
        printf("perms: %s\n", maps_perms(code));
        rogue_store(code, ROGUE);
    } else if (strcmp(s, "vmwrite") == 0 || strcmp(s, "vmwrite-tid") == 0) {
        vmwrite(strcmp(s, "vmwrite-tid") == 0);
    } else if (strcmp(s, "gadget") == 0) {
        if (!has_pku()) {
            printf("no pku\n");
            return 0;
        }
        ((void (*)(void))(void *)(code + PAGE))();
        printf("pkru after gadget: %x\n", rdpkru());
        rogue_store(code, ROGUE);
        printf("rogue store done\n");
        enter_libc_hook();
        rogue_store(code, ROGUE); /* again: faults if the entry resealed PKRU */
        printf("after entry: answer() = %d\n", answer(code));
    } else if (strncmp(s, "sigreturn-", 10) == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_forge;
        sa.sa_flags = SA_SIGINFO;
        forge_how = strcmp(s, "sigreturn-xstate") == 0 ? FORGE_XSTATE : FORGE_PKRU0;
        int sig = strcmp(s, "sigreturn-segv") == 0 ? SIGSEGV : SIGUSR1;
        sigaction(sig, &sa, NULL);
        printf("pkru before: %x\n", rdpkru());
        raise(sig);
        after_forged_return();
    } else if (strcmp(s, "blocked") == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_usr2;
        sigfillset(&sa.sa_mask);
        sigaction(SIGUSR2, &sa, NULL);
        raise(SIGUSR2);
        printf("in a handler blocking everything: %d\n", handler_answer);
        sigset_t all;
        sigfillset(&all);
        sigprocmask(SIG_BLOCK, &all, NULL);
        unsigned char *p =
            (void *)raw_syscall(SYS_mmap, 0, PAGE, RWX, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        emit_function(p, 8);
        printf("with every signal blocked: %d\n", answer(p));
    } else if (strcmp(s, "fork") == 0) {
        pid_t c = fork();
        if (c == 0) {
            unsigned char *p =
                (void *)raw_syscall(SYS_mmap, 0, PAGE, RWX, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            emit_function(p, 42);
            printf("child perms: %s\n", maps_perms(p));
            rogue_store(p, ROGUE);
            printf("child: answer() = %d\n", answer(p));
            _exit(0);
        }
        int st = 0;
        waitpid(c, &st, 0);
        if (WIFSIGNALED(st))
            printf("child died by signal %d\n", WTERMSIG(st));
        else
            printf("child exited %d\n", WEXITSTATUS(st));
    } else if (strncmp(s, "personality", 11) == 0) {
        long r = strcmp(s, "personality-raw") == 0 ? raw_syscall(SYS_personality, READ_IMPLIES_EXEC)
                                                   : personality(READ_IMPLIES_EXEC);
        printf("personality: %ld (%s)\n", r, r < 0 ? strerror(errno) : "ok");
        unsigned char *p =
            mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        printf("perms: %s\n", maps_perms(p));
        return 0;
    } else if (strcmp(s, "spawn") == 0) {
        int r = system("echo spawned");
        printf("system: %d\n", r);
        return 0;
    } else if (strcmp(s, "exec") == 0) {
        unsetenv("LD_PRELOAD");
        execl("/proc/self/exe", "raw_syscalls", "exec-child", (char *)NULL);
        printf("exec failed: %s\n", strerror(errno));
        return 0;
    } else {
        fprintf(stderr, "unknown scenario %s\n", s);
        return 2;
    }
    printf("answer() = %d\n", answer(code));
    return 0;
}
