/*
 * earlythread: a shared library whose constructor starts a thread before
 * jitguard's own constructor runs (preload it *after* libjitguard.so:
 * LD_PRELOAD="libjitguard.so:libearlythread.so"; the later preload is
 * initialised first). The thread's PKRU predates jitguard's keys. Once
 * jitguard is up it maps RWX memory, reads it, emits a function, runs it and
 * prints the result; the host program only has to live for a second.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void *early(void *arg) {
    (void)arg;
    usleep(200 * 1000); /* jitguard's constructor and main have run by now */
    unsigned char *p = mmap(0, 2 * 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) { perror("mmap"); return 0; }
    int before = p[100];                 /* a read first */
    p[0] = 0xB8; p[1] = 42; p[2] = 0; p[3] = 0; p[4] = 0; p[5] = 0xC3;
    int got = ((int (*)(void))(void *)p)();
    printf("early thread: read %d, ran %d\n", before, got);
    fflush(stdout);
    return 0;
}

__attribute__((constructor)) static void start(void) {
    pthread_t t;
    pthread_create(&t, 0, early, 0);
    pthread_detach(t);
}
