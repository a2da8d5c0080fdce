/* oob: a negative workload. It does some ordinary work, then loads (or,
 * built with -DOOB_WRITE, stores) through a pointer that lies beyond the
 * end of linear memory, computed at run time from memory.size so that no
 * compiler can see it coming. Every correct wasm engine must trap:
 * WAMR reports "out of bounds memory access" (with hardware bounds checks
 * this goes through the engine's SIGSEGV handler), node reports
 * "memory access out of bounds".
 *
 * If the access does not trap, the program prints "NO TRAP" and exits 3.
 * argv[1]: distance in bytes past the end of memory (default 65536).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static volatile uint32_t sink;

int main(int argc, char **argv)
{
    uint32_t past = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 0) : 65536u;
    uint32_t acc = 0;
    for (uint32_t i = 0; i < 100000; i++)
        acc = acc * 1664525u + 1013904223u + i;
    sink = acc;

    uintptr_t end = (uintptr_t)__builtin_wasm_memory_size(0) * 65536u;
    volatile uint32_t *p = (volatile uint32_t *)(end + past);
    /* (the memory size is not printed: engines size memory differently,
     * and outputs should be identical across engines) */
#ifdef OOB_WRITE
    printf("oob: storing past the end of linear memory\n");
#else
    printf("oob: loading past the end of linear memory\n");
#endif
    fflush(stdout);
#ifdef OOB_WRITE
    *p = acc;
#else
    sink = *p;
#endif
    printf("oob: NO TRAP (value %u)\n", (unsigned)sink);
    return 3;
}
