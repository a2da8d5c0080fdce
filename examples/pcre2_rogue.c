/* A program that uses PCRE2's JIT (the system's libpcre2-8, loaded with
 * dlopen, no headers needed) and, with `rogue`, then overwrites the JIT's
 * compiled code from its own main(), outside any PCRE2 call.
 *
 *   pcre2_rogue benign   compile /a+b/ with the JIT, match, print, free
 *   pcre2_rogue rogue    the same, then store into the JIT code page and
 *                        print whether the code bytes changed
 *
 * The JIT's code is found as the executable anonymous mapping that
 * pcre2_jit_compile_8 created (compared with /proc/self/maps before).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int main(int argc, char **argv)
{
    int rogue = argc > 1 && strcmp(argv[1], "rogue") == 0;
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
    exec_anon(1);
    int err;
    size_t off;
    void *code = compile((const unsigned char *)"a+b", (size_t)-1, 0, &err, &off, NULL);
    if (!code || jit(code, 1 /* PCRE2_JIT_COMPLETE */) != 0) {
        fprintf(stderr, "compile failed\n");
        return 2;
    }
    unsigned char *jit_code = (unsigned char *)exec_anon(0);
    void *md = md_create(code, NULL);
    const char *subject = "xxaaab";
    printf("match: %d\n", match(code, (const unsigned char *)subject, strlen(subject), 0, 0, md, NULL));
    fflush(stdout);
    if (rogue) {
        if (!jit_code) {
            fprintf(stderr, "no JIT code mapping found\n");
            return 3;
        }
        unsigned char before = jit_code[64];
        *(volatile unsigned char *)(jit_code + 64) = (unsigned char)(before ^ 0xcc);
        printf("code changed: %s\n", jit_code[64] != before ? "yes" : "no");
        fflush(stdout);
    }
    md_free(md);
    code_free(code);
    printf("done\n");
    return 0;
}
