/*
 * beam_rogue_nif: a NIF library (native code loaded into Erlang's VM) with
 * one function, beam_rogue:store/0, that stores through the RW view of
 * BEAM's dual-mapped code memory (the memfd `/memfd:vmem`, mapped once
 * executable and once writable) and reads the byte back through the
 * executable view: "landed" when the code memory changed (the store is
 * then undone), "unchanged" otherwise. It writes into the last bytes of
 * the view, which the JIT has not used, so the VM keeps running.
 *
 * Without jitguard the store lands (the control). Under jitguard the RW
 * view is guarded as a writable alias of code and the NIF is not a writer
 * the erlang-beam-jit profile trusts: the store is refused.
 *
 * Build: cc -shared -fPIC -I/usr/lib/erlang/usr/include (erlang-dev).
 */
#include <erl_nif.h>
#include <stdio.h>
#include <string.h>

struct view {
    unsigned long start, end, inode;
    int exec;
};

/* The largest executable and non-executable shared views of one vmem
 * memfd. */
static int find_views(struct view *rw, struct view *rx)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return 0;
    char line[512];
    memset(rw, 0, sizeof *rw);
    memset(rx, 0, sizeof *rx);
    while (fgets(line, sizeof line, f)) {
        unsigned long s, e, off, ino;
        char perms[8], dev[16];
        if (!strstr(line, "/memfd:vmem"))
            continue;
        if (sscanf(line, "%lx-%lx %7s %lx %15s %lu", &s, &e, perms, &off, dev, &ino) != 6 || perms[3] != 's')
            continue;
        struct view *v = perms[2] == 'x' ? rx : rw;
        /* Under jitguard the RW view may show as several mappings
         * (pages resealed or keyed apart): keep the highest one's end. */
        if (v->inode == ino && s == v->end) {
            v->end = e;
        } else if (e - s > v->end - v->start) {
            v->start = s;
            v->end = e;
            v->inode = ino;
        }
    }
    fclose(f);
    return rw->start && rx->start && rw->inode == rx->inode;
}

__attribute__((noinline)) static void rogue_store(volatile unsigned char *at, unsigned char v)
{
    *at = v;
}

static ERL_NIF_TERM store(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    (void)argc;
    (void)argv;
    struct view rw, rx;
    if (!find_views(&rw, &rx))
        return enif_make_atom(env, "no_views");
    unsigned long len = rx.end - rx.start;
    volatile unsigned char *w = (unsigned char *)rw.start + len - 64;
    volatile unsigned char *x = (unsigned char *)rx.start + len - 64;
    unsigned char before = *x;
    rogue_store(w, (unsigned char)(before ^ 0xff));
    int landed = *x != before;
    rogue_store(w, before);
    return enif_make_atom(env, landed ? "landed" : "unchanged");
}

static ErlNifFunc funcs[] = {{"store", 0, store, 0}};

ERL_NIF_INIT(beam_rogue, funcs, NULL, NULL, NULL, NULL)
