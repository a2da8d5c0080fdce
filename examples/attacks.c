/*
 * attacks: a small JIT with one trusted emitter, and rogue writers that try
 * to overwrite the code it emitted. jitguard's attack suite runs each
 * scenario twice: without jitguard (the control: the rogue write must
 * really change the code that then runs, or the scenario proves nothing)
 * and under jitguard with the profile learned from `--benign` (the write
 * must be refused: a `jitguard: denied write` report, then SIGSEGV).
 *
 * The code region is 4 RWX pages. `answer` (page 0) returns 42; `other`
 * (page 2) is re-emitted by the busy scenarios. The trusted emitter is
 * `emit_function`, which copies a finished function in with libc memcpy
 * (through a pointer, so the call is not inlined) and then stores the
 * trailing int3 itself: both routes a real JIT uses.
 *
 * usage: attacks SCENARIO
 *   benign        emit, run, re-emit from two threads (the learn run)
 *   other-thread  a second thread stores over answer's immediate
 *   same-thread   a non-emitter function of the emitting thread does
 *   callback      a trusted emitter, mid-emit on page 2, calls a callback
 *                 that writes page 0 (the window is the emitter's, not
 *                 its callees')
 *   setcontext    the emitter's callback leaves by setcontext; then a
 *                 non-emitter writes the page the emitter had open
 *   pthread-exit  a thread's emitter calls pthread_exit mid-emit; then
 *                 main writes that page from a non-emitter
 *   thread-in-window  the emitter's callback creates a thread, which
 *                 writes once the emit is over (it must not inherit
 *                 the emitter's open keys or mask)
 *   after-longjmp a trusted emitter leaves by longjmp; then a non-emitter
 *                 writes the page it had open (nothing may stay open)
 *   memcpy        a non-emitter calls libc memcpy to do it
 *   window        while the emitter is busy emitting into page 2, a
 *                 timer signal's handler on that same thread writes
 *                 page 2 (trying to ride an open write window), and
 *                 reports whether the store landed
 *   race          for 0.3 s, a rogue thread stores into answer's page in
 *                 a loop while the emitter thread re-emits answer
 *   via-hook      a non-emitter asks sigaction() to store the old action
 *                 into the code page (jitguard's hooks write it, and
 *                 must not lend them their trust)
 *   misaligned    (a defect, not an attack) the trusted emitter is called
 *                 with the stack 8 bytes off the ABI's 16-byte alignment,
 *                 as GCC -O2 may call a same-unit function; its call
 *                 window's reseal must not crash
 * Prints "answer() = N"; the race prints how many rogue stores landed;
 * via-hook prints whether the code bytes changed.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <ucontext.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <unistd.h>

#define PAGE 4096
#define ROGUE 1337

static unsigned char *code;
static void *(*volatile copy)(void *, const void *, size_t) = memcpy;

typedef int (*fn_t)(void);

/* The trusted emitter: `mov eax, imm32; ret; int3`. */
__attribute__((noinline)) static void emit_function(unsigned char *at, int value)
{
    unsigned char body[6] = {0xB8, 0, 0, 0, 0, 0xC3};
    memcpy(body + 1, &value, 4);
    copy(at, body, sizeof body);
    ((volatile unsigned char *)at)[6] = 0xCC;
}

/* A trusted emitter that leaves by longjmp (as an error path may). */
static jmp_buf escape;

__attribute__((noinline)) static void emit_then_escape(unsigned char *at, int value)
{
    unsigned char body[6] = {0xB8, 0, 0, 0, 0, 0xC3};
    memcpy(body + 1, &value, 4);
    copy(at, body, sizeof body);
    ((volatile unsigned char *)at)[6] = 0xCC;
    longjmp(escape, 1);
}

/* A trusted emitter that calls back into other code mid-emit (a hook,
 * a logger): the callback is not an emitter. */
static void (*volatile emit_callback)(void);
static void rogue_store_late(void);
static void *emit_then_exit_thread(void *arg);

__attribute__((noinline)) static void emit_with_callback(unsigned char *at, int value)
{
    unsigned char body[6] = {0xB8, 0, 0, 0, 0, 0xC3};
    memcpy(body + 1, &value, 4);
    copy(at, body, sizeof body);
    emit_callback();
    ((volatile unsigned char *)at)[6] = 0xCC;
}

static void harmless_callback(void) {}

/* Callbacks that leave or copy the emitter's frame mid-emit. */
static ucontext_t resume_point;
static volatile int parent_done;
static pthread_t late_thread;

static void jump_back(void) { setcontext(&resume_point); }
static void exit_thread(void) { pthread_exit(NULL); }

static void *late_writer(void *arg)
{
    (void)arg;
    while (!parent_done)
        usleep(1000);
    rogue_store_late();
    return NULL;
}

static void spawn_late_writer(void) { pthread_create(&late_thread, NULL, late_writer, NULL); }

static void *emit_then_exit_thread(void *arg)
{
    (void)arg;
    emit_callback = exit_thread;
    emit_with_callback(code, 42);
    return NULL;
}

/* Rogue writers: none of them is an emitter. */
__attribute__((noinline)) static void rogue_store(unsigned char *at, int value)
{
    *(volatile uint32_t *)(at + 1) = (uint32_t)value;
}

__attribute__((noinline)) static void rogue_memcpy(unsigned char *at, int value)
{
    copy(at + 1, &value, 4);
}

static int answer(void) { return ((fn_t)(void *)code)(); }

/* Calls f(at, value) with rsp = 8 (mod 16) at the call instruction: the
 * callee, and whatever its return runs through, starts misaligned. */
__attribute__((noinline)) static void call_misaligned(void (*f)(unsigned char *, int),
                                                      unsigned char *at, int value)
{
    __asm__ volatile("mov %%rsp, %%rbx\n\t"
                     "and $-16, %%rsp\n\t"
                     "sub $8, %%rsp\n\t"
                     "call *%%rax\n\t"
                     "mov %%rbx, %%rsp"
                     : "+D"(at), "+S"(value), "+a"(f)
                     :
                     : "rbx", "rcx", "rdx", "r8", "r9", "r10", "r11", "memory", "cc",
                       "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
                       "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
}

/* Called by the trusted emitter while its window on page 2 is open. */
static void rogue_callback(void) { rogue_store(code, ROGUE); }

/* A thread created mid-emit writes once its creator's emit is over. */
__attribute__((noinline)) static void rogue_store_late(void) { rogue_store(code, ROGUE); }

static void *emit_other_loop(void *arg)
{
    long n = (long)arg;
    for (long i = 0; i < n; i++)
        emit_function(code + 2 * PAGE, (int)i);
    return NULL;
}

static void *rogue_thread(void *arg)
{
    (void)arg;
    rogue_store(code, ROGUE);
    return NULL;
}

static volatile sig_atomic_t rogue_done, window_landed;

static void on_alarm(int sig)
{
    (void)sig;
    if (!rogue_done) {
        /* The page the emitter is writing: a store landing inside its
         * open window would pass unseen. */
        rogue_store(code + 2 * PAGE, ROGUE);
        window_landed = *(volatile uint32_t *)(code + 2 * PAGE + 1) == ROGUE;
        rogue_done = 1;
    }
}

static volatile int race_stop;
static volatile long race_landed;

static void *race_emitter(void *arg)
{
    (void)arg;
    while (!race_stop)
        emit_function(code, 42);
    return NULL;
}

static void *race_rogue(void *arg)
{
    (void)arg;
    while (!race_stop) {
        rogue_store(code, ROGUE);
        if (*(volatile uint32_t *)(code + 1) == ROGUE)
            race_landed++;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    const char *s = argc > 1 ? argv[1] : "benign";
    setvbuf(stdout, NULL, _IONBF, 0);
    code = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE | PROT_EXEC,
                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (code == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    emit_function(code, 42);
    emit_function(code + 2 * PAGE, 7);
    printf("emitted: answer() = %d\n", answer());

    if (strcmp(s, "benign") == 0) {
        pthread_t t;
        pthread_create(&t, NULL, emit_other_loop, (void *)200L);
        emit_other_loop((void *)200L);
        pthread_join(t, NULL);
        if (!setjmp(escape))
            emit_then_escape(code, 42);
        emit_callback = harmless_callback;
        emit_with_callback(code + 2 * PAGE, 7);
        emit_function(code, 42);
    } else if (strcmp(s, "misaligned") == 0) {
        call_misaligned(emit_function, code, 43);
        printf("misaligned emit: answer() = %d\n", answer());
    } else if (strcmp(s, "other-thread") == 0) {
        pthread_t t;
        pthread_create(&t, NULL, rogue_thread, NULL);
        pthread_join(t, NULL);
    } else if (strcmp(s, "after-longjmp") == 0) {
        if (!setjmp(escape))
            emit_then_escape(code, 42);
        rogue_store(code, ROGUE);
    } else if (strcmp(s, "setcontext") == 0) {
        volatile int once = 0;
        getcontext(&resume_point);
        if (!once) {
            once = 1;
            emit_callback = jump_back;
            emit_with_callback(code, 42);
        }
        rogue_store(code, ROGUE);
    } else if (strcmp(s, "pthread-exit") == 0) {
        pthread_t t;
        pthread_create(&t, NULL, emit_then_exit_thread, NULL);
        pthread_join(t, NULL);
        rogue_store(code, ROGUE);
    } else if (strcmp(s, "thread-in-window") == 0) {
        emit_callback = spawn_late_writer;
        emit_with_callback(code, 42);
        parent_done = 1;
        pthread_join(late_thread, NULL);
    } else if (strcmp(s, "callback") == 0) {
        /* The window is on page 1, the rogue writes page 0: under the
         * hashed policy neighbours never share a key, so the rogue store
         * faults and is judged (a page two away shares the window's key
         * one time in fourteen and is then writable without a fault, as
         * SECURITY.md says of call windows). */
        emit_callback = rogue_callback;
        emit_with_callback(code + PAGE, 7);
    } else if (strcmp(s, "same-thread") == 0) {
        rogue_store(code, ROGUE);
    } else if (strcmp(s, "memcpy") == 0) {
        rogue_memcpy(code, ROGUE);
    } else if (strcmp(s, "window") == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_alarm;
        sigaction(SIGALRM, &sa, NULL);
        struct itimerval it = {{0, 200}, {0, 200}};
        setitimer(ITIMER_REAL, &it, NULL);
        while (!rogue_done)
            emit_other_loop((void *)50L);
        it = (struct itimerval){{0, 0}, {0, 0}};
        setitimer(ITIMER_REAL, &it, NULL);
        printf("open-page write landed: %d\n", (int)window_landed);
        return 0;
    } else if (strcmp(s, "via-hook") == 0) {
        unsigned char before[64];
        memcpy(before, code + 2 * PAGE, sizeof before);
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_alarm;
        sigaction(SIGUSR1, &sa, NULL);
        sigaction(SIGUSR1, NULL, (struct sigaction *)(void *)(code + 2 * PAGE));
        printf("code changed: %s\n",
               memcmp(before, code + 2 * PAGE, sizeof before) ? "yes" : "no");
        return 0;
    } else if (strcmp(s, "race") == 0) {
        pthread_t e, r;
        pthread_create(&e, NULL, race_emitter, NULL);
        pthread_create(&r, NULL, race_rogue, NULL);
        usleep(300 * 1000);
        race_stop = 1;
        pthread_join(r, NULL);
        pthread_join(e, NULL);
        printf("rogue stores landed: %ld\n", race_landed);
        return 0;
    } else {
        fprintf(stderr, "attacks: unknown scenario %s\n", s);
        return 2;
    }
    printf("answer() = %d\n", answer());
    return 0;
}
