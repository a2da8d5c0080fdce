/* Two trusted writers share code pages, as a JIT's compiler threads share
 * its code cache: one fills the pages with memset (a REP string store that
 * jitguard completes itself), the other keeps storing into them (the way
 * WAMR's code-cache allocator writes its free-list headers). Under the
 * mprotect backend an open page is writable by every thread, so the
 * second writer's stores land without faulting while the first one's
 * emulation holds the pages open; jitguard's attestation must not read
 * those stores as tampering. Prints "survived". Profile: `symbol writer`,
 * `symbol patcher`.
 *
 * `rep_neighbour ROUNDS`
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define PAGES 16
#define PAGE 4096
static unsigned char *region;
static atomic_int stop;

/* The barrier keeps memset a real call (not a tail jump), so the writer
 * is named by this function. */
__attribute__((noinline)) void writer(void)
{
    memset(region, 0xc3, PAGES * PAGE);
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void patcher(unsigned long i)
{
    ((volatile unsigned char *)region)[(i % PAGES) * PAGE + 64 + i % 3000] = (unsigned char)(0x80 | (i & 0x7f));
}

static void *patching(void *arg)
{
    (void)arg;
    unsigned long i = 0;
    while (!atomic_load(&stop))
        patcher(i++);
    return NULL;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 2000;
    region = mmap(0, PAGES * PAGE, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED)
        return 1;
    writer();
    pthread_t t;
    pthread_create(&t, NULL, patching, NULL);
    for (int k = 0; k < rounds; k++)
        writer();
    atomic_store(&stop, 1);
    pthread_join(t, NULL);
    ((void (*)(void))(void *)region)();
    puts("survived");
    return 0;
}
