/*
 * jitguard's own command-line front end for the stock WAMR runtime.
 *
 * The crate that carries WAMR's core (wamrx-sys) does not ship WAMR's
 * product-mini, so this small embedder takes its place. It is written only
 * against WAMR's public embedding API (wasm_export.h) and does nothing
 * clever: load a .wasm file, give it WASI arguments, run its _start/main in
 * Fast JIT (default) or classic-interpreter mode, and exit with the module's
 * WASI exit code. Like stock iwasm, --native-lib=PATH registers host
 * functions from a shared library for the module to import.
 *
 * Exit status:
 *   the module's WASI exit code   when the module ran to completion
 *   1                             bad usage, unreadable module, unusable
 *                                 --native-lib, runtime init, load or
 *                                 instantiate failure, or a trap
 *                                 (the trap's text goes to stderr)
 */

#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wasm_export.h"

/* Same defaults as WAMR's own iwasm, so results compare with stock. */
#define DEFAULT_STACK_SIZE (64u * 1024u)
#define DEFAULT_HEAP_SIZE (16u * 1024u)
#define MAX_LIST 64
#define MAX_NATIVE_LIBS 8

/* What a --native-lib library exports: it sets *p_module_name and
   *p_native_symbols and returns how many symbols there are. */
typedef uint32_t (*get_native_lib_fn)(char **p_module_name,
                                      NativeSymbol **p_native_symbols);

static const char *prog = "iwasm";

static void
usage(FILE *out)
{
    fprintf(out,
            "Usage: %s [options] MODULE.wasm [module args...]\n"
            "\n"
            "Runs a WASI command module on WAMR (stock core, jitguard front "
            "end).\n"
            "\n"
            "Options (must come before MODULE):\n"
            "  --fast-jit                 run in Fast JIT mode (default)\n"
            "  --interp                   run in the classic interpreter\n"
            "  --jit-codecache-size=N     Fast JIT code cache size in bytes\n"
            "                             (default: WAMR's, 10 MiB)\n"
            "  --stack-size=N             wasm operand stack size "
            "(default %u)\n"
            "  --heap-size=N              host-managed app heap size "
            "(default %u)\n"
            "  --dir=DIR                  preopen DIR for WASI (repeatable)\n"
            "  --env=NAME=VALUE           set a WASI environment variable "
            "(repeatable;\n"
            "                             the host environment is not "
            "passed through)\n"
            "  --native-lib=PATH          dlopen PATH and register the host "
            "functions its\n"
            "                             get_native_lib() returns, for the "
            "module to\n"
            "                             import (repeatable, max %d)\n"
            "  -v, --verbose              WAMR verbose logging\n"
            "  --version                  print WAMR's version\n"
            "  -h, --help                 this text\n"
            "  --                         end of options\n"
            "\n"
            "N may end in k, m or g (powers of 1024).\n"
            "The module sees argv[0] = MODULE as given, then the module "
            "args.\n"
            "Exit status: the module's WASI exit code, or 1 on a load/"
            "instantiate\n"
            "failure or a trap (WAMR's exception text goes to stderr).\n",
            prog, DEFAULT_STACK_SIZE, DEFAULT_HEAP_SIZE, MAX_NATIVE_LIBS);
}

/* Parses a byte count like 65536, 64k, 10m. Returns false on junk or on a
   value that does not fit WAMR's 32-bit size fields. */
static bool
parse_size(const char *s, uint32_t *out)
{
    char *end;
    unsigned long long v, mul = 1;

    if (*s == '\0' || *s == '-')
        return false;
    errno = 0;
    v = strtoull(s, &end, 0);
    if (errno != 0 || end == s)
        return false;
    switch (*end) {
        case '\0':
            break;
        case 'k':
        case 'K':
            mul = 1024ull;
            end++;
            break;
        case 'm':
        case 'M':
            mul = 1024ull * 1024ull;
            end++;
            break;
        case 'g':
        case 'G':
            mul = 1024ull * 1024ull * 1024ull;
            end++;
            break;
        default:
            return false;
    }
    if (*end != '\0' || v > UINT32_MAX / mul)
        return false;
    *out = (uint32_t)(v * mul);
    return true;
}

/* Returns the value of "--name=value" if arg starts with "--name=". */
static const char *
opt_value(const char *arg, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(arg, name, n) == 0 && arg[n] == '=')
        return arg + n + 1;
    return NULL;
}

/* Reads the whole file into a malloc'd buffer. WAMR wants the buffer
   writable and alive until the module is unloaded. */
static uint8_t *
read_file(const char *path, uint32_t *size_out)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    long len;

    if (!f) {
        fprintf(stderr, "%s: cannot open %s: %s\n", prog, path,
                strerror(errno));
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "%s: cannot size %s: %s\n", prog, path,
                strerror(errno));
        goto out;
    }
    if ((unsigned long)len > UINT32_MAX) {
        fprintf(stderr, "%s: %s is too large\n", prog, path);
        goto out;
    }
    /* +1 so an empty file still gets a non-NULL buffer. */
    if (!(buf = malloc((size_t)len + 1))) {
        fprintf(stderr, "%s: out of memory reading %s\n", prog, path);
        goto out;
    }
    if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
        fprintf(stderr, "%s: cannot read %s\n", prog, path);
        free(buf);
        buf = NULL;
        goto out;
    }
    *size_out = (uint32_t)len;
out:
    fclose(f);
    return buf;
}

/* Loaded --native-lib libraries and what each registered. */
struct native_lib {
    void *handle;
    const char *path;
    char *module_name;
    NativeSymbol *symbols;
    uint32_t count;
};

/* dlopens every --native-lib and registers its symbols with the runtime
   (which must be initialized). On failure prints why and returns false;
   what was registered so far is in libs[0..*loaded). */
static bool
load_native_libs(const char *const *paths, uint32_t n, struct native_lib *libs,
                 uint32_t *loaded)
{
    uint32_t k;

    *loaded = 0;
    for (k = 0; k < n; k++) {
        struct native_lib *l = &libs[k];
        get_native_lib_fn get;

        memset(l, 0, sizeof(*l));
        l->path = paths[k];
        /* RTLD_NOW: an unresolved symbol fails here, not mid-run. */
        l->handle = dlopen(l->path, RTLD_NOW | RTLD_GLOBAL);
        if (!l->handle) {
            fprintf(stderr, "%s: cannot load native lib %s: %s\n", prog,
                    l->path, dlerror());
            return false;
        }
        *(void **)&get = dlsym(l->handle, "get_native_lib");
        if (!get) {
            fprintf(stderr, "%s: native lib %s has no get_native_lib()\n",
                    prog, l->path);
            dlclose(l->handle);
            return false;
        }
        l->count = get(&l->module_name, &l->symbols);
        if (l->count == 0 || !l->module_name || !l->symbols) {
            fprintf(stderr, "%s: native lib %s exports no native symbols\n",
                    prog, l->path);
            dlclose(l->handle);
            return false;
        }
        if (!wasm_runtime_register_natives(l->module_name, l->symbols,
                                           l->count)) {
            fprintf(stderr,
                    "%s: cannot register the %u native symbols of %s "
                    "(module \"%s\")\n",
                    prog, l->count, l->path, l->module_name);
            dlclose(l->handle);
            return false;
        }
        (*loaded)++;
    }
    return true;
}

/* Undoes load_native_libs, last first. Call while the runtime is up. */
static void
unload_native_libs(struct native_lib *libs, uint32_t loaded)
{
    while (loaded > 0) {
        struct native_lib *l = &libs[--loaded];
        wasm_runtime_unregister_natives(l->module_name, l->symbols);
        dlclose(l->handle);
    }
}

int
main(int argc, char *argv[])
{
    RunningMode mode = Mode_Fast_JIT;
    uint32_t code_cache_size = 0; /* 0 = WAMR's default */
    uint32_t stack_size = DEFAULT_STACK_SIZE;
    uint32_t heap_size = DEFAULT_HEAP_SIZE;
    const char *dirs[MAX_LIST];
    uint32_t dir_count = 0;
    const char *envs[MAX_LIST];
    uint32_t env_count = 0;
    const char *native_paths[MAX_NATIVE_LIBS];
    uint32_t native_count = 0;
    struct native_lib native_libs[MAX_NATIVE_LIBS];
    uint32_t native_loaded = 0;
    bool verbose = false;
    int i;

    if (argc > 0 && argv[0] && argv[0][0])
        prog = argv[0];

    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v;

        if (a[0] != '-')
            break;
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        else if (strcmp(a, "--version") == 0) {
            uint32_t major, minor, patch;
            wasm_runtime_get_version(&major, &minor, &patch);
            printf("WAMR %u.%u.%u (jitguard front end)\n", major, minor,
                   patch);
            return 0;
        }
        else if (strcmp(a, "--fast-jit") == 0)
            mode = Mode_Fast_JIT;
        else if (strcmp(a, "--interp") == 0)
            mode = Mode_Interp;
        else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0)
            verbose = true;
        else if ((v = opt_value(a, "--jit-codecache-size"))) {
            if (!parse_size(v, &code_cache_size) || code_cache_size == 0) {
                fprintf(stderr, "%s: bad --jit-codecache-size: %s\n", prog, v);
                return 1;
            }
        }
        else if ((v = opt_value(a, "--stack-size"))) {
            if (!parse_size(v, &stack_size)) {
                fprintf(stderr, "%s: bad --stack-size: %s\n", prog, v);
                return 1;
            }
        }
        else if ((v = opt_value(a, "--heap-size"))) {
            if (!parse_size(v, &heap_size)) {
                fprintf(stderr, "%s: bad --heap-size: %s\n", prog, v);
                return 1;
            }
        }
        else if ((v = opt_value(a, "--dir"))) {
            if (dir_count == MAX_LIST) {
                fprintf(stderr, "%s: too many --dir (max %d)\n", prog,
                        MAX_LIST);
                return 1;
            }
            dirs[dir_count++] = v;
        }
        else if ((v = opt_value(a, "--env"))) {
            if (!strchr(v, '=') || v[0] == '=') {
                fprintf(stderr, "%s: --env wants NAME=VALUE, got: %s\n", prog,
                        v);
                return 1;
            }
            if (env_count == MAX_LIST) {
                fprintf(stderr, "%s: too many --env (max %d)\n", prog,
                        MAX_LIST);
                return 1;
            }
            envs[env_count++] = v;
        }
        else if ((v = opt_value(a, "--native-lib"))) {
            if (*v == '\0') {
                fprintf(stderr, "%s: --native-lib wants a path\n", prog);
                return 1;
            }
            if (native_count == MAX_NATIVE_LIBS) {
                fprintf(stderr, "%s: too many --native-lib (max %d)\n", prog,
                        MAX_NATIVE_LIBS);
                return 1;
            }
            native_paths[native_count++] = v;
        }
        else {
            fprintf(stderr, "%s: unknown option: %s\n", prog, a);
            usage(stderr);
            return 1;
        }
    }

    if (i >= argc) {
        fprintf(stderr, "%s: no module given\n", prog);
        usage(stderr);
        return 1;
    }

    /* The module's own argv: argv[0] is the module path as given. */
    const char *wasm_path = argv[i];
    char **mod_argv = &argv[i];
    int mod_argc = argc - i;

    uint32_t wasm_size = 0;
    uint8_t *wasm_buf = read_file(wasm_path, &wasm_size);
    if (!wasm_buf)
        return 1;

    RuntimeInitArgs init;
    memset(&init, 0, sizeof(init));
    /* Plain malloc: keeps the runtime's own data off any pool of ours, so
       the only non-libc mapping the runtime makes for code is Fast JIT's
       code cache. */
    init.mem_alloc_type = Alloc_With_System_Allocator;
    init.running_mode = mode;
    init.fast_jit_code_cache_size = code_cache_size;

    if (!wasm_runtime_full_init(&init)) {
        fprintf(stderr, "%s: WAMR runtime initialization failed\n", prog);
        free(wasm_buf);
        return 1;
    }
    if (verbose)
        wasm_runtime_set_log_level(WASM_LOG_LEVEL_VERBOSE);

    int status = 1;
    char error_buf[256];
    wasm_module_t module = NULL;
    wasm_module_inst_t inst = NULL;

    if (!wasm_runtime_is_running_mode_supported(mode)) {
        fprintf(stderr, "%s: running mode %s is not built into this iwasm\n",
                prog, mode == Mode_Fast_JIT ? "fast-jit" : "interp");
        goto out;
    }

    /* Host functions must be registered before the module is loaded:
       WAMR resolves imports at load time. */
    if (!load_native_libs(native_paths, native_count, native_libs,
                          &native_loaded))
        goto out;

    error_buf[0] = '\0';
    module = wasm_runtime_load(wasm_buf, wasm_size, error_buf,
                               sizeof(error_buf));
    if (!module) {
        fprintf(stderr, "%s: failed to load %s: %s\n", prog, wasm_path,
                error_buf);
        goto out;
    }

    /* Must be set before instantiation: WASI state is built then. */
    wasm_runtime_set_wasi_args(module, dirs, dir_count, NULL, 0, envs,
                               env_count, mod_argv, mod_argc);

    error_buf[0] = '\0';
    inst = wasm_runtime_instantiate(module, stack_size, heap_size, error_buf,
                                    sizeof(error_buf));
    if (!inst) {
        fprintf(stderr, "%s: failed to instantiate %s: %s\n", prog,
                wasm_path, error_buf);
        goto out;
    }
    /* The instance takes the runtime's default mode (init.running_mode). */
    if (wasm_runtime_get_running_mode(inst) != mode) {
        fprintf(stderr, "%s: instance is not in the requested running mode\n",
                prog);
        goto out;
    }

    if (wasm_application_execute_main(inst, mod_argc, mod_argv)) {
        /* A WASI proc_exit (including exit(n) from C) lands here too:
           WAMR reports it as success and keeps the code. */
        status = (int)wasm_runtime_get_wasi_exit_code(inst);
    }
    else {
        const char *exc = wasm_runtime_get_exception(inst);
        fprintf(stderr, "%s\n", exc ? exc : "Exception: (unknown)");
        status = 1;
    }

out:
    if (inst)
        wasm_runtime_deinstantiate(inst);
    if (module)
        wasm_runtime_unload(module);
    unload_native_libs(native_libs, native_loaded);
    wasm_runtime_destroy();
    free(wasm_buf);
    return status;
}
