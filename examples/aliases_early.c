/*
 * aliases_early: a shared library whose constructor maps a memfd twice,
 * RX and RW, before jitguard's own constructor runs (preload it after
 * libjitguard.so: LD_PRELOAD="libjitguard.so:libaliases_early.so"; the
 * later preload is initialised first). jitguard finds the two views in
 * /proc/self/maps at start-up. `aliases early` (examples/aliases.c) gets
 * them through aliases_early_views.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define LEN (16 * 4096)

static unsigned char *rw_view, *x_view;

void aliases_early_views(unsigned char **rw, unsigned char **x)
{
    *rw = rw_view;
    *x = x_view;
}

__attribute__((constructor)) static void map_views(void)
{
    int fd = memfd_create("aliases-early", 0);
    if (fd < 0 || ftruncate(fd, LEN) != 0) {
        perror("memfd");
        exit(2);
    }
    x_view = mmap(NULL, LEN, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
    rw_view = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (x_view == MAP_FAILED || rw_view == MAP_FAILED) {
        perror("mmap");
        exit(2);
    }
}
