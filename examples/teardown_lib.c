/*
 * teardown_lib: a JIT runtime in a shared library (as libiwasm.so or a
 * language runtime is), whose destructor frees its code memory and, the
 * way an allocator does, writes into it while doing so (poisoning the
 * freed block). The program that links it is loaded before it, and
 * jitguard (preloaded) is initialised after it: so this destructor runs
 * after jitguard's own exit code. Used by tests/learn_teardown.rs.
 */
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#define PAGE 4096
static unsigned char *code;
static void *(*volatile copy)(void *, const void *, size_t) = memcpy;

__attribute__((noinline)) static void rt_emit(unsigned char *at, int value)
{
    unsigned char body[6] = {0xB8, 0, 0, 0, 0, 0xC3};
    memcpy(body + 1, &value, 4);
    copy(at, body, sizeof body);
}

/* The allocator's free: poisons the block (a write no emit ever makes). */
__attribute__((noinline)) static void rt_code_free(unsigned char *at, size_t n)
{
    for (size_t i = 0; i < n; i += 64)
        ((volatile unsigned char *)at)[i] = 0xCC;
}

int rt_run(int value)
{
    if (!code) {
        code = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE | PROT_EXEC,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (code == MAP_FAILED)
            return -1;
    }
    rt_emit(code, value);
    return ((int (*)(void))(void *)code)();
}

__attribute__((destructor)) static void rt_teardown(void)
{
    if (code)
        rt_code_free(code, 2 * PAGE);
}
