/*
 * aliases: code that is executable in one mapping and writable in another
 * (a dual-mapped JIT, as Erlang's BEAM maps its code from one memfd), and
 * the other ways memory becomes executable without a W+X mmap: SysV
 * shmat(SHM_EXEC) and personality(READ_IMPLIES_EXEC).
 *
 * Every scenario emits `mov eax, 42; ret` through its writable view with
 * the trusted emitter `emit_code`, runs it through the executable view,
 * and prints "code() = N". With MODE `attack`, `rogue_store` (not an
 * emitter) then stores 1337 over the immediate through the writable view
 * and the code runs again: without jitguard it returns 1337 (the control),
 * under jitguard with a profile trusting `emit_code` the store is denied.
 *
 * usage: aliases SCENARIO [benign|attack]
 *   memfd-rx     a memfd mapped RX, then RW (BEAM's order)
 *   memfd-rwx    a memfd mapped RWX, then RW
 *   rw-first     a memfd mapped RW, code emitted, then mapped RX
 *   posix-shm    a POSIX shm object (shm_open) mapped RX and RW
 *   file         a file mapped RX (private) and RW (shared)
 *   sysv-exec    a SysV segment attached SHM_EXEC (writable and executable)
 *   sysv-alias   a SysV segment attached SHM_EXEC|SHM_RDONLY and again RW
 *   rie          personality(READ_IMPLIES_EXEC), then an RW anonymous map
 *   unmapped     memfd-rx, then the RX view is unmapped: the RW view is
 *                data again, and any function may write it (benign only)
 *   flip         memfd-rx; the RX view loses exec (a store is fine), gets
 *                it back, and the code is emitted again
 *   fork         memfd-rx; a forked child does the store (attack) or
 *                re-emits (benign); the parent reports how the child ended
 *   remap        memfd-rx with an 8-page RW view written to, then grown to
 *                16 pages by mremap (moved): the code is emitted into the
 *                grown part (page 12) through the moved view
 *   early        the views a preloaded library mapped before jitguard
 *                started (examples/aliases_early.c)
 *   early-rwx    the anonymous W+X page that library mapped before
 *                jitguard started
 *   loop         memfd-rx; 2,000 emits into 16 pages, checked and summed
 *
 * With ALIASES_SMAPS=FILE, /proc/self/smaps is copied to FILE at the end
 * and the views' addresses go to stderr ("rw=ADDR x=ADDR"), so a test can
 * read the protection keys of the RW view.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096
#define LEN (16 * PAGE)

typedef int (*fn_t)(void);

/* The trusted emitter: `mov eax, imm32; ret`. */
__attribute__((noinline)) static void emit_code(unsigned char *at, int value)
{
    unsigned char body[6] = {0xB8, 0, 0, 0, 0, 0xC3};
    memcpy(body + 1, &value, 4);
    for (int i = 0; i < 6; i++)
        ((volatile unsigned char *)at)[i] = body[i];
}

/* Not an emitter. */
__attribute__((noinline)) static void rogue_store(unsigned char *at, int value)
{
    *(volatile uint32_t *)(at + 1) = (uint32_t)value;
}

/* Any function may write data. */
__attribute__((noinline)) static void data_store(unsigned char *at, int value)
{
    *(volatile int *)at = value;
}

static void die(const char *what)
{
    perror(what);
    exit(2);
}

static int run(unsigned char *x) { return ((fn_t)(void *)x)(); }

static int memfd(size_t len)
{
    int fd = memfd_create("aliases", 0);
    if (fd < 0 || ftruncate(fd, len) != 0)
        die("memfd");
    return fd;
}

static void *map(size_t len, int prot, int flags, int fd)
{
    void *p = mmap(NULL, len, prot, flags, fd, 0);
    if (p == MAP_FAILED)
        die("mmap");
    return p;
}

/* Emit, run, and (attack) store through `rw` and run again. */
static void exercise(unsigned char *rw, unsigned char *x, int attack)
{
    emit_code(rw, 42);
    printf("code() = %d\n", run(x));
    fflush(stdout);
    if (attack) {
        rogue_store(rw, 1337);
        printf("code() = %d\n", run(x));
    }
}

static void dump_smaps(const void *rw, const void *x)
{
    const char *path = getenv("ALIASES_SMAPS");
    if (!path)
        return;
    FILE *in = fopen("/proc/self/smaps", "r"), *out = fopen(path, "w");
    if (!in || !out)
        die("smaps");
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        fwrite(buf, 1, n, out);
    fclose(in);
    fclose(out);
    fprintf(stderr, "rw=%p x=%p\n", rw, x);
}

static void dual(int fd, unsigned char **rw, unsigned char **x, int xprot)
{
    *x = map(LEN, xprot, MAP_SHARED, fd);
    *rw = map(LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    const char *s = argv[1];
    int attack = argc > 2 && strcmp(argv[2], "attack") == 0;
    unsigned char *rw, *x;
    if (!strcmp(s, "memfd-rx") || !strcmp(s, "memfd-rwx")) {
        int xprot = PROT_READ | PROT_EXEC | (!strcmp(s, "memfd-rwx") ? PROT_WRITE : 0);
        dual(memfd(LEN), &rw, &x, xprot);
        exercise(rw, x, attack);
        dump_smaps(rw, x);
    } else if (!strcmp(s, "rw-first")) {
        int fd = memfd(LEN);
        rw = map(LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
        emit_code(rw, 7); /* not code yet: any writer may */
        data_store(rw + PAGE, 7);
        x = map(LEN, PROT_READ | PROT_EXEC, MAP_SHARED, fd);
        printf("before: %d\n", run(x));
        exercise(rw, x, attack);
    } else if (!strcmp(s, "posix-shm") || !strcmp(s, "file")) {
        char name[64];
        int fd;
        if (!strcmp(s, "posix-shm")) {
            snprintf(name, sizeof name, "/jitguard-aliases-%d", getpid());
            fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
            if (fd >= 0)
                shm_unlink(name);
        } else {
            snprintf(name, sizeof name, "/tmp/jitguard-aliases-%d", getpid());
            fd = open(name, O_RDWR | O_CREAT | O_EXCL, 0700);
            if (fd >= 0)
                unlink(name);
        }
        if (fd < 0 || ftruncate(fd, LEN) != 0)
            die(s);
        x = map(LEN, PROT_READ | PROT_EXEC, !strcmp(s, "file") ? MAP_PRIVATE : MAP_SHARED, fd);
        rw = map(LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
        exercise(rw, x, attack);
    } else if (!strcmp(s, "sysv-exec") || !strcmp(s, "sysv-alias")) {
        int id = shmget(IPC_PRIVATE, LEN, IPC_CREAT | 0700);
        if (id < 0)
            die("shmget");
        if (!strcmp(s, "sysv-exec")) {
            x = shmat(id, NULL, SHM_EXEC);
            rw = x;
        } else {
            x = shmat(id, NULL, SHM_EXEC | SHM_RDONLY);
            rw = shmat(id, NULL, 0);
        }
        shmctl(id, IPC_RMID, NULL);
        if (x == (void *)-1 || rw == (void *)-1)
            die("shmat");
        exercise(rw, x, attack);
        shmdt(rw);
        if (rw != x)
            shmdt(x);
    } else if (!strcmp(s, "rie")) {
        if (personality(READ_IMPLIES_EXEC) == -1)
            die("personality");
        rw = map(LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
        exercise(rw, rw, attack);
    } else if (!strcmp(s, "unmapped")) {
        dual(memfd(LEN), &rw, &x, PROT_READ | PROT_EXEC);
        exercise(rw, x, 0);
        munmap(x, LEN);
        data_store(rw, 5);
        printf("data = %d\n", *(volatile int *)rw);
    } else if (!strcmp(s, "flip")) {
        dual(memfd(LEN), &rw, &x, PROT_READ | PROT_EXEC);
        exercise(rw, x, 0);
        if (mprotect(x, LEN, PROT_READ) != 0)
            die("mprotect");
        data_store(rw + PAGE, 9);
        if (mprotect(x, LEN, PROT_READ | PROT_EXEC) != 0)
            die("mprotect");
        emit_code(rw, 43);
        printf("code() = %d\n", run(x));
        fflush(stdout);
        if (attack) {
            rogue_store(rw, 1337);
            printf("code() = %d\n", run(x));
        }
    } else if (!strcmp(s, "fork")) {
        dual(memfd(LEN), &rw, &x, PROT_READ | PROT_EXEC);
        exercise(rw, x, 0);
        pid_t pid = fork();
        if (pid == 0) {
            if (attack)
                rogue_store(rw, 1337);
            else
                emit_code(rw, 44);
            _exit(0);
        }
        int st;
        waitpid(pid, &st, 0);
        printf("child: %s %d\n", WIFSIGNALED(st) ? "signal" : "exit",
               WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
        printf("code() = %d\n", run(x));
    } else if (!strcmp(s, "remap")) {
        int fd = memfd(LEN);
        x = map(LEN, PROT_READ | PROT_EXEC, MAP_SHARED, fd);
        rw = map(LEN / 2, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
        for (int i = 0; i < 8; i++)
            emit_code(rw + (size_t)i * PAGE, i);
        /* A hole after the view, so the grow has to move it. */
        void *block = mmap(rw + LEN / 2, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        unsigned char *moved = mremap(rw, LEN / 2, LEN, MREMAP_MAYMOVE);
        if (moved == MAP_FAILED)
            die("mremap");
        if (block != MAP_FAILED)
            munmap(block, PAGE);
        printf("moved: %s, page 3: %d\n", moved != rw ? "yes" : "no", run(x + 3 * PAGE));
        exercise(moved + 12 * PAGE, x + 12 * PAGE, attack);
    } else if (!strcmp(s, "early")) {
        void (*views)(unsigned char **, unsigned char **) =
            (void (*)(unsigned char **, unsigned char **))dlsym(RTLD_DEFAULT, "aliases_early_views");
        if (!views) {
            fprintf(stderr, "preload libaliases_early.so\n");
            return 2;
        }
        views(&rw, &x);
        exercise(rw, x, attack);
    } else if (!strcmp(s, "early-rwx")) {
        unsigned char *(*page)(void) =
            (unsigned char *(*)(void))dlsym(RTLD_DEFAULT, "aliases_early_rwx");
        if (!page) {
            fprintf(stderr, "preload libaliases_early.so\n");
            return 2;
        }
        rw = page();
        exercise(rw, rw, attack);
    } else if (!strcmp(s, "loop")) {
        dual(memfd(LEN), &rw, &x, PROT_READ | PROT_EXEC);
        long sum = 0;
        for (int i = 0; i < 2000; i++) {
            size_t at = (size_t)(i % 16) * PAGE + (size_t)(i % 64) * 8;
            emit_code(rw + at, i);
            sum += run(x + at);
        }
        printf("sum = %ld\n", sum);
        dump_smaps(rw, x);
    } else {
        return 2;
    }
    return 0;
}
