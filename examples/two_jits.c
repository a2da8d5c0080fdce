/* Two JITs in one process: a toy JIT of the program's own (an RWX region
 * it maps and emits into from emit()) and PCRE2's JIT (the system's
 * libpcre2-8, loaded with dlopen, no headers needed). Each region is to be
 * judged by the profile of the runtime that created it.
 *
 *   two_jits benign        emit and run toy code, JIT-compile /a+b/ and
 *                          match, print both results
 *   two_jits rogue-toy     the same, then rogue_store() (not the emitter)
 *                          overwrites a byte of the toy JIT's code
 *   two_jits rogue-pcre2   the same, then rogue_store() overwrites a byte
 *                          of PCRE2's JIT code
 *
 * After a rogue store it prints whether the code bytes changed.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

typedef void *(*compile_t)(const unsigned char *, size_t, uint32_t, int *, size_t *, void *);
typedef int (*jit_compile_t)(void *, uint32_t);
typedef void *(*md_create_t)(void *, void *);
typedef int (*match_t)(void *, const unsigned char *, size_t, size_t, uint32_t, void *, void *);
typedef void (*free_t)(void *);

#define MAX_MAPS 4096
static uintptr_t starts[MAX_MAPS];
static int nstarts;

/* Executable anonymous mappings now; with `record`, remembered; else the
 * first one not remembered. */
static uintptr_t exec_anon(int record)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    uintptr_t found = 0;
    while (f && fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char perm[8];
        int path = 0;
        if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", &lo, &hi, perm, &path) < 3)
            continue;
        if (perm[2] != 'x' || (path && line[path] != '\n' && line[path] != 0))
            continue;
        if (record) {
            if (nstarts < MAX_MAPS)
                starts[nstarts++] = lo;
            continue;
        }
        int known = 0;
        for (int i = 0; i < nstarts; i++)
            known |= starts[i] == lo;
        if (!known && !found)
            found = lo;
    }
    if (f)
        fclose(f);
    return found;
}

/* The toy JIT's emitter: `mov eax, value; ret`. */
__attribute__((noinline)) void emit(unsigned char *at, uint32_t value)
{
    at[0] = 0xb8;
    memcpy(at + 1, &value, 4);
    at[5] = 0xc3;
}

/* Not an emitter: a store into code from elsewhere in the program. */
__attribute__((noinline)) void rogue_store(unsigned char *at)
{
    *(volatile unsigned char *)at ^= 0xcc;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "benign";
    void *lib = dlopen("libpcre2-8.so.0", RTLD_NOW);
    if (!lib) {
        fprintf(stderr, "no libpcre2-8: %s\n", dlerror());
        return 77;
    }
    compile_t compile = (compile_t)dlsym(lib, "pcre2_compile_8");
    jit_compile_t jit = (jit_compile_t)dlsym(lib, "pcre2_jit_compile_8");
    md_create_t md_create = (md_create_t)dlsym(lib, "pcre2_match_data_create_from_pattern_8");
    match_t match = (match_t)dlsym(lib, "pcre2_match_8");
    free_t code_free = (free_t)dlsym(lib, "pcre2_code_free_8");
    free_t md_free = (free_t)dlsym(lib, "pcre2_match_data_free_8");

    unsigned char *toy = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (toy == MAP_FAILED) {
        perror("mmap");
        return 2;
    }
    emit(toy, 42);
    printf("toy: %d\n", ((int (*)(void))toy)());

    exec_anon(1);
    int err;
    size_t off;
    void *code = compile((const unsigned char *)"a+b", (size_t)-1, 0, &err, &off, NULL);
    if (!code || jit(code, 1 /* PCRE2_JIT_COMPLETE */) != 0) {
        fprintf(stderr, "compile failed\n");
        return 2;
    }
    unsigned char *pcre2_code = (unsigned char *)exec_anon(0);
    void *md = md_create(code, NULL);
    const char *subject = "xxaaab";
    printf("match: %d\n", match(code, (const unsigned char *)subject, strlen(subject), 0, 0, md, NULL));
    fflush(stdout);

    unsigned char *target = NULL;
    if (strcmp(mode, "rogue-toy") == 0)
        target = toy + 1;
    else if (strcmp(mode, "rogue-pcre2") == 0)
        target = pcre2_code ? pcre2_code + 64 : NULL;
    if (strncmp(mode, "rogue", 5) == 0) {
        if (!target) {
            fprintf(stderr, "no JIT code mapping found\n");
            return 3;
        }
        unsigned char before = *target;
        rogue_store(target);
        printf("code changed: %s\n", *target != before ? "yes" : "no");
        fflush(stdout);
    }
    emit(toy, 7);
    printf("toy again: %d\n", ((int (*)(void))toy)());
    md_free(md);
    code_free(code);
    printf("done\n");
    return 0;
}
