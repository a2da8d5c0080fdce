/* A trusted writer fills its code region with memset (a REP string store
 * that jitguard completes itself) while another thread keeps executing
 * pages of that region. Under the mprotect backend, the executing thread's
 * fault on a page the emulation holds open seals that page again, and the
 * emulation's next store faults: jitguard must recognise that fault as its
 * own REP emulation's (trusted by its code's address range), not deny it.
 * Prints "survived". Profile: `symbol writer`.
 *
 * `rep_race ROUNDS ALTSTACK`: the writer's thread runs signal handlers on
 * an alternate stack of ALTSTACK bytes (BEAM gives its threads 13504), so
 * a fault that jitguard handles nested inside its own handler has to fit.
 */
#include <signal.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define PAGES 64
#define PAGE 4096
static unsigned char *region;
static atomic_int stop;

static void *runner(void *arg)
{
    (void)arg;
    unsigned long i = 0;
    while (!atomic_load(&stop)) {
        void (*f)(void) = (void (*)(void))(void *)(region + (32 + (i++ % 16)) * PAGE);
        f();
    }
    return NULL;
}

/* The barrier keeps memset a real call (not a tail jump), so the writer
 * is named by this function. */
__attribute__((noinline)) void writer(void)
{
    memset(region, 0xc3, PAGES * PAGE);
    __asm__ volatile("" ::: "memory");
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 2000;
    if (argc > 2) {
        stack_t ss = {.ss_size = (size_t)atol(argv[2])};
        ss.ss_sp = malloc(ss.ss_size);
        if (!ss.ss_sp || sigaltstack(&ss, NULL) != 0)
            return 1;
    }
    region = mmap(0, PAGES * PAGE, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED)
        return 1;
    writer();
    pthread_t t;
    pthread_create(&t, NULL, runner, NULL);
    for (int k = 0; k < rounds; k++)
        writer();
    atomic_store(&stop, 1);
    pthread_join(t, NULL);
    puts("survived");
    return 0;
}
