/* Self-test module for target/wamr/iwasm: reads far past the end of linear
   memory. WAMR must turn the fault (a SIGSEGV in its guard region when
   hardware bound checks are on) into the trap "out of bounds memory access"
   and the front end must exit nonzero. */
#include <stdint.h>
#include <stdio.h>

int
main(int argc, char **argv)
{
    (void)argv;
    /* volatile + argc-dependent address: the compiler can neither fold nor
       drop the load. 0xfffff000 is far beyond any memory this module has. */
    volatile int32_t *p = (volatile int32_t *)(uintptr_t)(0xfffff000u + 4u * (uint32_t)argc);
    printf("about to read out of bounds\n");
    fflush(stdout);
    int32_t v = *p;
    printf("read %d: bounds check did not fire\n", (int)v);
    return 0;
}
