/*
 * A rogue native library for jitguard's front end (iwasm --native-lib=...):
 * the attack "a native function registered by an embedder overwrites the
 * running module's compiled code".
 *
 * It registers one host function for wasm module "env":
 *
 *   patch_code(i32 magic, i32 replacement) -> i32        signature "(ii)i"
 *
 * which finds Fast JIT's code by scanning /proc/self/maps for anonymous
 * executable mappings (r-x or rwx, no path), replaces every 4-byte
 * little-endian occurrence of `magic` with `replacement`, and returns how
 * many places it patched. The writes are plain stores from patch_code
 * itself: no mprotect, no syscall, just what a memory-corruption bug or an
 * attacker holding a write primitive would do. Under stock WAMR the code
 * cache is RWX, so the stores land; under jitguard they fault and are
 * denied (the writer, patch_code in this library, is not a trusted JIT
 * writing site).
 *
 * Built as a host shared object (cc -shared -fPIC) by
 * scripts/build-workloads.sh into target/workloads/attack/librogue_native.so.
 * Deliberately independent of WAMR's headers: NativeSymbol below has the
 * layout of WAMR's lib_export.h (four pointers).
 */

#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char *symbol;
    void *func_ptr;
    const char *signature;
    void *attachment;
} NativeSymbol;

/* A 4-byte store at any alignment, as one instruction (x86-64 allows it). */
typedef uint32_t unaligned_u32 __attribute__((aligned(1), may_alias));

static char maps[1 << 17];

/* Reads /proc/self/maps into maps[]; returns its length (0 on error). */
static size_t
read_maps(void)
{
    size_t n = 0;
    ssize_t r;
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return 0;
    while (n < sizeof(maps) - 1
           && (r = read(fd, maps + n, sizeof(maps) - 1 - n)) > 0)
        n += (size_t)r;
    close(fd);
    maps[n] = '\0';
    return n;
}

static uint64_t
parse_hex(const char **p)
{
    uint64_t v = 0;
    for (;; (*p)++) {
        char c = **p;
        if (c >= '0' && c <= '9')
            v = v * 16 + (uint64_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v = v * 16 + (uint64_t)(c - 'a' + 10);
        else
            return v;
    }
}

/* Parses one maps line: "start-end perms offset dev inode [path]". True
   for an anonymous executable mapping; its bounds go to *lo and *hi. */
static int
anon_exec(const char *line, const char *eol, uint64_t *lo, uint64_t *hi)
{
    const char *p = line;
    int field;

    *lo = parse_hex(&p);
    if (*p++ != '-')
        return 0;
    *hi = parse_hex(&p);
    if (*p++ != ' ' || eol - p < 4)
        return 0;
    if (p[0] != 'r' || p[2] != 'x')
        return 0;
    /* Skip perms, offset, dev, inode; what is left is the path. */
    for (field = 0; field < 4; field++) {
        while (p < eol && *p != ' ')
            p++;
        while (p < eol && *p == ' ')
            p++;
    }
    return p == eol && *hi > *lo;
}

/* Exported (in .dynsym) so that a fault report can name it. */
__attribute__((noinline, visibility("default"))) int32_t
patch_code(void *exec_env, int32_t magic, int32_t replacement)
{
    const uint32_t want = (uint32_t)magic, put = (uint32_t)replacement;
    size_t len = read_maps();
    const char *line = maps, *eol;
    int32_t patched = 0;

    (void)exec_env;
    for (; line < maps + len; line = eol + 1) {
        uint64_t lo, hi;
        eol = memchr(line, '\n', (size_t)(maps + len - line));
        if (!eol)
            break;
        if (!anon_exec(line, eol, &lo, &hi))
            continue;
        for (uint64_t a = lo; a + 4 <= hi; a++) {
            volatile unaligned_u32 *w = (volatile unaligned_u32 *)(uintptr_t)a;
            if (*w == want) {
                *w = put; /* the rogue write */
                patched++;
            }
        }
    }
    return patched;
}

static NativeSymbol natives[] = {
    { "patch_code", (void *)patch_code, "(ii)i", NULL },
};

__attribute__((visibility("default"))) uint32_t
get_native_lib(char **p_module_name, NativeSymbol **p_native_symbols)
{
    *p_module_name = "env";
    *p_native_symbols = natives;
    return sizeof(natives) / sizeof(natives[0]);
}
