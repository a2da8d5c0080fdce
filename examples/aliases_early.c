/*
 * aliases_early: a shared library whose constructor maps a memfd twice,
 * RX and RW, before jitguard's own constructor runs (preload it after
 * libjitguard.so: LD_PRELOAD="libjitguard.so:libaliases_early.so"; the
 * later preload is initialised first). jitguard finds the two views in
 * /proc/self/maps at start-up. `aliases early` (examples/aliases.c) gets
 * them through aliases_early_views. It also maps one anonymous W+X page
 * (`aliases early-rwx` gets it through aliases_early_rwx), which
 * jitguard must find and guard at start-up too.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define LEN (16 * 4096)

static unsigned char *rw_view, *x_view, *rwx_page;

void aliases_early_views(unsigned char **rw, unsigned char **x)
{
    *rw = rw_view;
    *x = x_view;
}

unsigned char *aliases_early_rwx(void)
{
    return rwx_page;
}

__attribute__((constructor)) static void map_views(void)
{
    rwx_page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (rwx_page == MAP_FAILED) {
        perror("mmap rwx");
        exit(2);
    }
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
