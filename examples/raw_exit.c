/* Writes into RWX memory, then ends the process the way QEMU's user-mode
 * emulators end it for their guest: the raw exit_group system call, which
 * runs no atexit handler or destructor. jitguard's exit work (its stats
 * file) must still happen. Exits with status 3.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void)
{
    unsigned char *code = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (code == MAP_FAILED)
        return 2;
    code[0] = 0xc3; /* ret */
    ((void (*)(void))code)();
    printf("ran\n");
    fflush(stdout);
    syscall(SYS_exit_group, 3);
    return 0;
}
