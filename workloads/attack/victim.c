/*
 * The victim of workloads/attack/rogue_native.c: a wasm32-wasi program whose
 * compiled code a rogue host function rewrites.
 *
 *   victim.wasm            run keyed() (Fast JIT compiles it on this first
 *                          call), ask env.patch_code to replace the constant
 *                          MAGIC in the JIT's code with REPLACEMENT, run
 *                          keyed() again
 *   victim.wasm --no-patch the same without the patch_code call
 *
 * Output, one line each, flushed at once (so a run killed mid-way still
 * shows what ran before):
 *   first: XXXXXXXX        keyed(x) before the patch
 *   patched: N             places patch_code changed (or "skipped")
 *   second: XXXXXXXX       keyed(x) after the patch
 * keyed(x) is x ^ MAGIC with x = argc - 1, a value the compiler cannot
 * fold: a plain run prints 13572468 twice unless the attack works, which
 * makes the second line 0badc0de; --no-patch prints 13572469 twice.
 */

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define MAGIC 0x13572468u
#define REPLACEMENT 0x0BADC0DEu

__attribute__((import_module("env"), import_name("patch_code"))) int32_t
patch_code(int32_t magic, int32_t replacement);

/* The arguments to patch_code come from memory, not immediates, so the
   only copy of MAGIC in compiled code is the one in keyed(). */
static volatile uint32_t magic_arg = MAGIC;
static volatile uint32_t replacement_arg = REPLACEMENT;

/* noinline: a function of its own in the module, which Fast JIT compiles
   on its first call. The empty asm with a memory clobber keeps clang from
   taking keyed() as pure and reusing the first result for the second
   call. */
__attribute__((noinline)) static uint32_t
keyed(uint32_t x)
{
    __asm__ volatile("" ::: "memory");
    return x ^ MAGIC;
}

int
main(int argc, char **argv)
{
    int no_patch = argc > 1 && strcmp(argv[1], "--no-patch") == 0;
    uint32_t x = (uint32_t)(argc - 1);

    printf("first: %08x\n", keyed(x));
    fflush(stdout);
    if (no_patch) {
        printf("patched: skipped\n");
    }
    else {
        printf("patched: %d\n",
               (int)patch_code((int32_t)magic_arg, (int32_t)replacement_arg));
    }
    fflush(stdout);
    printf("second: %08x\n", keyed(x));
    fflush(stdout);
    return 0;
}
