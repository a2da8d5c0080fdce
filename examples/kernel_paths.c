/*
 * kernel_paths: a toy JIT (the same 4 RWX pages and trusted emitter as
 * attacks.c) attacked through the kernel instead of a store: its own
 * memory file opened for writing, process_vm_writev into itself, and
 * system calls that make the kernel write into the code. jitguard's suite
 * runs each scenario without jitguard (the control: the code changes) and
 * under it, enforcing the profile learned from `benign`.
 *
 * The trusted writers are `emit_function` (a store and memcpy) and
 * `emit_by_read`, which read()s a finished function from a pipe straight
 * into code memory (a JIT loading cached code). Everything named rogue_*
 * is not a writer.
 *
 * usage: kernel_paths SCENARIO [DIR]
 *   benign        emit; re-emit by read(); the learn run
 *   mem-abs       open("/proc/self/mem", O_RDWR), pwrite over answer
 *   mem-pid       the same through /proc/PID/mem
 *   mem-relative  openat(open("/proc"), "self/mem")
 *   mem-symlink   a symlink DIR/mem -> /proc/self/mem
 *   mem-thread-self  /proc/thread-self/mem
 *   mem-task      /proc/self/task/TID/mem
 *   mem-fdreopen  /proc/self/mem read-only, then /proc/self/fd/N O_RDWR
 *   mem-fopen     fopen("/proc/self/mem", "r+"), fseek, fwrite
 *   raw-openat, raw-openat2, raw-read, raw-pvw  the same through libc's
 *                 syscall() wrapper (openat2 has no other libc entry)
 *   pvw           process_vm_writev(getpid()) over answer
 *   pvw-tid       process_vm_writev to another thread's id
 *   fread, readv, recv, aio  those calls, from a pipe or socket into answer
 *   recvmsg       recvmsg into answer; recvmsg-ok an ordinary one (its
 *                 header's outputs printed)
 *   spawn         posix_spawn with a file action opening /proc/self/mem
 *                 O_RDWR as fd 9; the child (sh + dd) writes through it
 *   vfork         the same from a vfork child's own open()
 *   vfork-pvw     a vfork child's process_vm_writev to its parent's pid
 *   read-probe    read() from a pipe into answer, up to 1000 times
 *   pvr           process_vm_readv from this process into answer
 *   trusted-read  emit_by_read() a new function, then a rogue store into
 *                 the same page (the page must be sealed again)
 *   gate-longjmp  a trusted read() into code memory blocks and is left by
 *                 siglongjmp from a timer's handler; then a rogue store
 *                 into that page (nothing may have stayed open)
 *   mem-readonly  /proc/self/mem read-only: pread answer's first bytes
 * Prints "answer() = N" at the end (1337: the attack landed).
 */
#define _GNU_SOURCE
#include <aio.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/time.h>
#include <spawn.h>
#include <sys/wait.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <linux/openat2.h>
#include <sys/uio.h>
#include <unistd.h>

#define PAGE 4096
#define ROGUE 1337

static unsigned char *code;
static void *(*volatile copy)(void *, const void *, size_t) = memcpy;

typedef int (*fn_t)(void);
static int answer(void) { return ((fn_t)(void *)code)(); }

/* The trusted emitter: `mov eax, imm32; ret; int3`. */
__attribute__((noinline)) static void emit_function(unsigned char *at, int value)
{
    unsigned char body[6] = {0xB8, 0, 0, 0, 0, 0xC3};
    memcpy(body + 1, &value, 4);
    copy(at, body, sizeof body);
    ((volatile unsigned char *)at)[6] = 0xCC;
}

/* A trusted emitter that reads a finished function from `fd`. */
static volatile int reads_done;

__attribute__((noinline)) static ssize_t emit_by_read(unsigned char *at, int fd)
{
    ssize_t n = read(fd, at, 6);
    reads_done++; /* not a tail call: the call site is in this function */
    return n;
}

static int pipe_with_function(int value)
{
    int p[2];
    unsigned char body[6] = {0xB8, 0, 0, 0, 0, 0xC3};
    memcpy(body + 1, &value, 4);
    if (pipe(p) != 0 || write(p[1], body, sizeof body) != sizeof body) {
        perror("pipe");
        exit(1);
    }
    close(p[1]);
    return p[0];
}

/* The rogue writers. */
__attribute__((noinline)) static void rogue_store(unsigned char *at, int value)
{
    *(volatile uint32_t *)(at + 1) = (uint32_t)value;
}

/* Writes the immediate through a descriptor of the process's memory. */
static void write_through(int fd, const char *how)
{
    if (fd < 0) {
        printf("%s: open refused: %s\n", how, strerror(errno));
        return;
    }
    int32_t v = ROGUE;
    ssize_t n = pwrite(fd, &v, 4, (off_t)(uintptr_t)(code + 1));
    printf("%s: pwrite %s\n", how, n == 4 ? "landed" : strerror(errno));
    close(fd);
}

static volatile int opens_done;

/* Not tail calls: the report names these functions as the callers. */
__attribute__((noinline)) static int rogue_open(const char *path)
{
    int fd = open(path, O_RDWR);
    opens_done++;
    return fd;
}

__attribute__((noinline)) static int rogue_openat(int dir, const char *path)
{
    int fd = openat(dir, path, O_RDWR);
    opens_done++;
    return fd;
}

__attribute__((noinline)) static void rogue_fopen(void)
{
    FILE *f = fopen("/proc/self/mem", "r+");
    if (!f) {
        printf("fopen: refused: %s\n", strerror(errno));
        return;
    }
    int32_t v = ROGUE;
    int ok = fseeko(f, (off_t)(uintptr_t)(code + 1), SEEK_SET) == 0 && fwrite(&v, 4, 1, f) == 1 &&
             fflush(f) == 0;
    printf("fopen: fwrite %s\n", ok ? "landed" : strerror(errno));
    fclose(f);
}

__attribute__((noinline)) static void rogue_pvw(void)
{
    int32_t v = ROGUE;
    struct iovec l = {&v, 4}, r = {code + 1, 4};
    ssize_t n = process_vm_writev(getpid(), &l, 1, &r, 1, 0);
    printf("process_vm_writev: %s\n", n == 4 ? "landed" : strerror(errno));
}

__attribute__((noinline)) static void rogue_pvr(void)
{
    int32_t v = ROGUE;
    struct iovec l = {code + 1, 4}, r = {&v, 4};
    ssize_t n = process_vm_readv(getpid(), &l, 1, &r, 1, 0);
    printf("process_vm_readv: %s\n", n == 4 ? "landed" : strerror(errno));
}

/* Probes for an open window: one read() per try, EFAULT meaning "sealed,
 * try again". */
__attribute__((noinline)) static void rogue_read_probe(void)
{
    int p[2];
    if (pipe(p) != 0)
        exit(1);
    int32_t v = ROGUE;
    int tries = 0, faults = 0;
    for (; tries < 1000; tries++) {
        if (write(p[1], &v, 4) != 4)
            exit(1);
        ssize_t n = read(p[0], code + 1, 4);
        if (n == 4)
            break;
        if (errno == EFAULT)
            faults++;
        char drain[4];
        if (read(p[0], drain, 4) != 4)
            exit(1);
    }
    printf("read probe: %d tries, %d EFAULT\n", tries + 1, faults);
}

/* The same rogue value through other calls the kernel writes with. */
static int pipe_with_rogue(void)
{
    int p[2];
    int32_t v = ROGUE;
    if (pipe(p) != 0 || write(p[1], &v, 4) != 4)
        exit(1);
    close(p[1]);
    return p[0];
}

__attribute__((noinline)) static void rogue_fread(void)
{
    FILE *f = fdopen(pipe_with_rogue(), "r");
    size_t n = fread(code + 1, 1, 4, f);
    printf("fread: %s\n", n == 4 ? "landed" : "failed");
    fclose(f);
}

__attribute__((noinline)) static void rogue_readv(void)
{
    int fd = pipe_with_rogue();
    char other[8];
    struct iovec v[2] = {{other, 0}, {code + 1, 4}};
    ssize_t n = readv(fd, v, 2);
    printf("readv: %s\n", n == 4 ? "landed" : strerror(errno));
    close(fd);
}

__attribute__((noinline)) static void rogue_recv(void)
{
    int sv[2];
    int32_t v = ROGUE;
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0 || write(sv[1], &v, 4) != 4)
        exit(1);
    ssize_t n = recv(sv[0], code + 1, 4, 0);
    printf("recv: %s\n", n == 4 ? "landed" : strerror(errno));
}

static volatile long idle_tid;
static volatile int idle_stop;

static void *idle_thread(void *arg)
{
    (void)arg;
    idle_tid = syscall(SYS_gettid);
    while (!idle_stop)
        usleep(1000);
    return NULL;
}

/* process_vm_writev aimed at a thread id of this process. */
__attribute__((noinline)) static void rogue_pvw_tid(void)
{
    pthread_t t;
    pthread_create(&t, NULL, idle_thread, NULL);
    while (!idle_tid)
        usleep(1000);
    int32_t v = ROGUE;
    struct iovec l = {&v, 4}, r = {code + 1, 4};
    ssize_t n = process_vm_writev((pid_t)idle_tid, &l, 1, &r, 1, 0);
    printf("process_vm_writev to a thread: %s\n", n == 4 ? "landed" : strerror(errno));
    idle_stop = 1;
    pthread_join(t, NULL);
}

/* A spawned child that inherits a descriptor of this process's memory
 * (opened by the spawn's file action while the child still shares this
 * address space) and writes through it after its exec. */
__attribute__((noinline)) static void rogue_spawn(void)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    int r = posix_spawn_file_actions_addopen(&fa, 9, "/proc/self/mem", O_RDWR, 0);
    if (r != 0) {
        printf("spawn file action: refused: %s\n", strerror(r));
        return;
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd,
             "printf '\\071\\005\\000\\000' | dd bs=1 seek=%lu conv=notrunc >&9 "
             "status=none",
             (unsigned long)(uintptr_t)(code + 1));
    char *argv[] = {"sh", "-c", cmd, NULL};
    pid_t pid;
    extern char **environ;
    if (posix_spawn(&pid, "/bin/sh", &fa, NULL, argv, environ) != 0) {
        printf("posix_spawn failed\n");
        return;
    }
    int st;
    waitpid(pid, &st, 0);
    printf("spawned writer: exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

/* The same through a vfork child, which shares this address space until
 * it execs: it opens its own (that is, this) memory and passes it on. */
__attribute__((noinline)) static void rogue_vfork(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd,
             "printf '\\071\\005\\000\\000' | dd bs=1 seek=%lu conv=notrunc >&9 status=none",
             (unsigned long)(uintptr_t)(code + 1));
    pid_t pid = vfork();
    if (pid == 0) {
        int fd = open("/proc/self/mem", O_RDWR);
        if (fd < 0)
            _exit(77);
        if (fd != 9 && dup2(fd, 9) != 9)
            _exit(1);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    printf("vfork child: exit %d%s\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1,
           WIFEXITED(st) && WEXITSTATUS(st) == 77 ? " (open refused)" : "");
}

/* A vfork child aiming process_vm_writev at its parent: another pid, the
 * same address space. */
__attribute__((noinline)) static void rogue_vfork_pvw(void)
{
    static int32_t v = ROGUE;
    pid_t pid = vfork();
    if (pid == 0) {
        struct iovec l = {&v, 4}, r = {code + 1, 4};
        _exit(process_vm_writev(getppid(), &l, 1, &r, 1, 0) == 4 ? 0 : 77);
    }
    int st;
    waitpid(pid, &st, 0);
    printf("vfork child's process_vm_writev: exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

/* POSIX AIO: the read happens later, on libc's helper thread. */
__attribute__((noinline)) static void rogue_aio(void)
{
    struct aiocb cb;
    memset(&cb, 0, sizeof cb);
    cb.aio_fildes = pipe_with_rogue();
    cb.aio_buf = code + 1;
    cb.aio_nbytes = 4;
    if (aio_read(&cb) != 0) {
        printf("aio_read: %s\n", strerror(errno));
        return;
    }
    const struct aiocb *list[1] = {&cb};
    aio_suspend(list, 1, NULL);
    printf("aio_read: %s\n", aio_return(&cb) == 4 ? "landed" : strerror(aio_error(&cb)));
}

/* A trusted read() that blocks, left by siglongjmp from a timer's
 * handler: the gate must not stay open behind it. */
static sigjmp_buf out_of_read;

static void on_timer(int sig)
{
    (void)sig;
    siglongjmp(out_of_read, 1);
}

static void trusted_read_left_by_longjmp(void)
{
    int p[2];
    if (pipe(p) != 0)
        exit(1);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_timer;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 0}, {0, 50 * 1000}};
    if (!sigsetjmp(out_of_read, 1)) {
        setitimer(ITIMER_REAL, &it, NULL);
        emit_by_read(code, p[0]); /* no data: blocks until the timer */
        printf("emit_by_read returned\n");
    } else {
        printf("left the blocked read by siglongjmp\n");
    }
    close(p[0]);
    close(p[1]);
}

/* Through libc's generic syscall() wrapper. */
__attribute__((noinline)) static int rogue_raw_openat(void)
{
    int fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/mem", O_RDWR);
    opens_done++;
    return fd;
}

__attribute__((noinline)) static int rogue_raw_openat2(void)
{
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = O_RDWR;
    int fd = (int)syscall(SYS_openat2, AT_FDCWD, "/proc/self/mem", &how, sizeof how);
    opens_done++;
    return fd;
}

__attribute__((noinline)) static void rogue_raw_read(void)
{
    int fd = pipe_with_rogue();
    long n = syscall(SYS_read, fd, code + 1, 4);
    printf("syscall(SYS_read): %s\n", n == 4 ? "landed" : strerror(errno));
}

__attribute__((noinline)) static void rogue_raw_pvw(void)
{
    int32_t v = ROGUE;
    struct iovec l = {&v, 4}, r = {code + 1, 4};
    long n = syscall(SYS_process_vm_writev, getpid(), &l, 1, &r, 1, 0);
    printf("syscall(SYS_process_vm_writev): %s\n", n == 4 ? "landed" : strerror(errno));
}

/* recvmsg, rogue (into code) and ordinary (its header's outputs must be
 * what the kernel says, with code mapped: the hook's copy path). */
static int socket_with(int32_t v, int with_fd)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) != 0)
        exit(1);
    struct iovec io = {&v, 4};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr mh = {0};
    mh.msg_iov = &io;
    mh.msg_iovlen = 1;
    if (with_fd) {
        mh.msg_control = u.buf;
        mh.msg_controllen = sizeof u.buf;
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        int zero = 0;
        memcpy(CMSG_DATA(c), &zero, sizeof zero);
    }
    if (sendmsg(sv[1], &mh, 0) != 4)
        exit(1);
    return sv[0];
}

__attribute__((noinline)) static void rogue_recvmsg(void)
{
    int s = socket_with(ROGUE, 0);
    struct iovec io = {code + 1, 4};
    struct msghdr mh = {0};
    mh.msg_iov = &io;
    mh.msg_iovlen = 1;
    ssize_t n = recvmsg(s, &mh, 0);
    printf("recvmsg: %s\n", n == 4 ? "landed" : strerror(errno));
}

static void recvmsg_ok(void)
{
    int s = socket_with(7, 1);
    int32_t got = 0;
    char small[2];
    struct iovec io[2] = {{small, 2}, {&got, 2}};
    char ctl[64];
    struct sockaddr_un from;
    struct msghdr mh = {0};
    mh.msg_name = &from;
    mh.msg_namelen = sizeof from;
    mh.msg_iov = io;
    mh.msg_iovlen = 2;
    mh.msg_control = ctl;
    mh.msg_controllen = sizeof ctl;
    ssize_t n = recvmsg(s, &mh, MSG_CMSG_CLOEXEC);
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    printf("recvmsg: %zd bytes, namelen %u, controllen %zu, flags %#x, rights %d\n", n,
           (unsigned)mh.msg_namelen, (size_t)mh.msg_controllen, mh.msg_flags,
           c && c->cmsg_type == SCM_RIGHTS);
}

static void emit_all(void)
{
    emit_function(code, 42);
    emit_function(code + 2 * PAGE, 7);
}

int main(int argc, char **argv)
{
    const char *s = argc > 1 ? argv[1] : "benign";
    const char *dir = argc > 2 ? argv[2] : "/tmp";
    char path[256];
    setvbuf(stdout, NULL, _IONBF, 0);
    code = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
                -1, 0);
    if (code == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    emit_all();
    printf("emitted: answer() = %d\n", answer());

    if (strcmp(s, "benign") == 0) {
        int fd = pipe_with_function(42);
        printf("emit_by_read: %zd\n", emit_by_read(code, fd));
        close(fd);
        emit_function(code, 42);
    } else if (strcmp(s, "mem-abs") == 0) {
        write_through(rogue_open("/proc/self/mem"), "/proc/self/mem");
    } else if (strcmp(s, "mem-pid") == 0) {
        snprintf(path, sizeof path, "/proc/%d/mem", (int)getpid());
        write_through(rogue_open(path), "/proc/PID/mem");
    } else if (strcmp(s, "mem-relative") == 0) {
        int d = open("/proc", O_RDONLY | O_DIRECTORY);
        write_through(rogue_openat(d, "self/mem"), "openat(/proc, self/mem)");
        close(d);
    } else if (strcmp(s, "mem-symlink") == 0) {
        snprintf(path, sizeof path, "%s/mem-link", dir);
        unlink(path);
        if (symlink("/proc/self/mem", path) != 0) {
            perror("symlink");
            return 1;
        }
        write_through(rogue_open(path), "symlink");
        unlink(path);
    } else if (strcmp(s, "mem-thread-self") == 0) {
        write_through(rogue_open("/proc/thread-self/mem"), "/proc/thread-self/mem");
    } else if (strcmp(s, "mem-task") == 0) {
        snprintf(path, sizeof path, "/proc/self/task/%ld/mem", (long)syscall(SYS_gettid));
        write_through(rogue_open(path), "/proc/self/task/TID/mem");
    } else if (strcmp(s, "mem-fdreopen") == 0) {
        int ro = open("/proc/self/mem", O_RDONLY);
        snprintf(path, sizeof path, "/proc/self/fd/%d", ro);
        write_through(rogue_open(path), "/proc/self/fd/N");
        close(ro);
    } else if (strcmp(s, "mem-fopen") == 0) {
        rogue_fopen();
    } else if (strcmp(s, "pvw") == 0) {
        rogue_pvw();
    } else if (strcmp(s, "pvw-tid") == 0) {
        rogue_pvw_tid();
    } else if (strcmp(s, "vfork-pvw") == 0) {
        rogue_vfork_pvw();
    } else if (strcmp(s, "vfork") == 0) {
        rogue_vfork();
    } else if (strcmp(s, "spawn") == 0) {
        rogue_spawn();
    } else if (strcmp(s, "raw-openat") == 0) {
        write_through(rogue_raw_openat(), "syscall(SYS_openat)");
    } else if (strcmp(s, "raw-openat2") == 0) {
        write_through(rogue_raw_openat2(), "syscall(SYS_openat2)");
    } else if (strcmp(s, "raw-read") == 0) {
        rogue_raw_read();
    } else if (strcmp(s, "raw-pvw") == 0) {
        rogue_raw_pvw();
    } else if (strcmp(s, "recvmsg") == 0) {
        rogue_recvmsg();
    } else if (strcmp(s, "recvmsg-ok") == 0) {
        recvmsg_ok();
    } else if (strcmp(s, "aio") == 0) {
        rogue_aio();
    } else if (strcmp(s, "fread") == 0) {
        rogue_fread();
    } else if (strcmp(s, "readv") == 0) {
        rogue_readv();
    } else if (strcmp(s, "recv") == 0) {
        rogue_recv();
    } else if (strcmp(s, "pvr") == 0) {
        rogue_pvr();
    } else if (strcmp(s, "read-probe") == 0) {
        rogue_read_probe();
    } else if (strcmp(s, "trusted-read") == 0) {
        int fd = pipe_with_function(99);
        printf("emit_by_read: %zd\n", emit_by_read(code, fd));
        printf("after emit_by_read: answer() = %d\n", answer());
        close(fd);
        rogue_store(code, ROGUE);
    } else if (strcmp(s, "gate-longjmp") == 0) {
        trusted_read_left_by_longjmp();
        rogue_store(code, ROGUE);
    } else if (strcmp(s, "mem-readonly") == 0) {
        int fd = open("/proc/self/mem", O_RDONLY);
        unsigned char b[6] = {0};
        ssize_t n = fd < 0 ? -1 : pread(fd, b, 6, (off_t)(uintptr_t)code);
        printf("read-only /proc/self/mem: %zd bytes: %02x %02x %02x %02x %02x %02x\n", n, b[0],
               b[1], b[2], b[3], b[4], b[5]);
        if (fd >= 0)
            close(fd);
    } else {
        fprintf(stderr, "kernel_paths: unknown scenario %s\n", s);
        return 2;
    }
    printf("answer() = %d\n", answer());
    return 0;
}
