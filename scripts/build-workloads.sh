#!/usr/bin/env bash
# Build every wasm32-wasi workload listed in workloads/manifest.tsv into
# target/workloads/NAME.wasm (see workloads/README.md for the manifest).
#
#   scripts/build-workloads.sh              build everything (cached)
#   scripts/build-workloads.sh NAME...      build only the named workloads
#   scripts/build-workloads.sh --check      then run each under node's WASI
#                                           and check exit code and stderr
#   scripts/build-workloads.sh --clean      remove target/workloads first
#   scripts/build-workloads.sh --list       print the manifest's names
#
# A full build (no NAME given) also builds the attack pair of
# workloads/attack/ (not in the manifest: it needs a host library) into
# target/workloads/attack/: victim.wasm and the host library
# librogue_native.so, for iwasm --native-lib (tests/wamr_attack.rs).
#
# Works from any directory, needs no stdin, and installs its toolchain with
# apt-get (clang, lld, wasi-libc, libclang-rt-14-dev-wasm32, python3) when
# missing.
# The "big" workloads compile C sources bundled by crates.io -sys crates
# (SQLite, zstd, QuickJS), fetched with `cargo fetch` into $CARGO_HOME;
# nothing of them is copied into the repository.
#
# Environment:
#   JOBS=N        parallel compile jobs (default: nproc)
#   SKIP_BIG=1    skip the crate-sourced "big" workloads
#   WORKLOADS_CC  C compiler (default: clang)
#   HOST_CC       C compiler for the host library of the attack pair
#                 (default: cc)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WL="$ROOT/workloads"
OUT="$ROOT/target/workloads"
OBJ="$OUT/obj"
GEN="$OUT/gen"
FETCH="$OUT/fetch"
MANIFEST="$WL/manifest.tsv"
JOBS="${JOBS:-$(nproc 2>/dev/null || echo 2)}"
CC="${WORKLOADS_CC:-clang}"
HOST_CC="${HOST_CC:-cc}"

# Pinned crates whose bundled C sources the "big" workloads compile.
SQLITE_CRATE=libsqlite3-sys; SQLITE_VER=0.40.0            # SQLite 3.54.1
ZSTD_CRATE=zstd-sys;         ZSTD_VER=2.1.3+zstd.1.5.7    # zstd 1.5.7
QJS_CRATE=rquickjs-sys;      QJS_VER=0.14.0               # quickjs-ng 0.16.2

CHECK=0 CLEAN=0 LIST=0
ONLY=()
for a in "$@"; do
    case "$a" in
        --check) CHECK=1 ;;
        --clean) CLEAN=1 ;;
        --list) LIST=1 ;;
        -h|--help) sed -n '2,29p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "build-workloads: unknown option $a (see --help)" >&2; exit 2 ;;
        *) ONLY+=("$a") ;;
    esac
done

log() { printf '[build-workloads] %s\n' "$*" >&2; }
die() { printf '[build-workloads] error: %s\n' "$*" >&2; exit 1; }

[ -f "$MANIFEST" ] || die "missing $MANIFEST"

# ---------------------------------------------------------------- manifest
NAMES=() KINDS=()
while IFS=$'\t' read -r name kind _rest || [ -n "$name" ]; do
    case "$name" in ''|'#'*|name) continue ;; esac
    NAMES+=("$name"); KINDS+=("$kind")
done <"$MANIFEST"

if [ "$LIST" -eq 1 ]; then
    printf '%s\n' "${NAMES[@]}"
    exit 0
fi
for n in "${ONLY[@]+"${ONLY[@]}"}"; do
    printf '%s\n' "${NAMES[@]}" | grep -qx -- "$n" || die "no workload named '$n' in the manifest"
done
wanted() {
    [ "${#ONLY[@]}" -eq 0 ] && return 0
    local n
    for n in "${ONLY[@]}"; do [ "$n" = "$1" ] && return 0; done
    return 1
}

# ---------------------------------------------------------------- toolchain
ensure_toolchain() {
    local need=()
    command -v "$CC" >/dev/null 2>&1 || need+=(clang)
    command -v wasm-ld >/dev/null 2>&1 || need+=(lld)
    [ -f /usr/lib/wasm32-wasi/libc.a ] || need+=(wasi-libc)
    compgen -G '/usr/lib/llvm-*/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a' >/dev/null ||
        need+=(libclang-rt-14-dev-wasm32)
    command -v python3 >/dev/null 2>&1 || need+=(python3) # generators in workloads/gen
    [ "${#need[@]}" -eq 0 ] && return 0

    command -v apt-get >/dev/null 2>&1 || die "apt-get not found: install ${need[*]} by hand"
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo -n)
    export DEBIAN_FRONTEND=noninteractive
    local apt=("${sudo[@]}" apt-get -y -q -o DPkg::Lock::Timeout=900 -o Acquire::Retries=3)
    # Refresh the package lists only when one of the packages is unknown.
    local p refresh=0
    for p in "${need[@]}"; do
        apt-cache policy "$p" 2>/dev/null | grep -q 'Candidate: [^(]' || refresh=1
    done
    log "installing ${need[*]}"
    [ "$refresh" -eq 0 ] || "${apt[@]}" update </dev/null
    if ! "${apt[@]}" install --no-install-recommends "${need[@]}" </dev/null; then
        # Stale lists (a superseded .deb is gone): refresh once and retry.
        "${apt[@]}" update </dev/null
        "${apt[@]}" install --no-install-recommends "${need[@]}" </dev/null
    fi
    command -v "$CC" >/dev/null 2>&1 || die "$CC still missing after install"
    command -v wasm-ld >/dev/null 2>&1 || die "wasm-ld still missing after install"
}

# ---------------------------------------------------------------- build helpers
CFLAGS=(--target=wasm32-wasi -O2)
# shellcheck disable=SC2054 # the commas belong to -Wl options
LDFLAGS=(--target=wasm32-wasi -Wl,-z,stack-size=1048576 -Wl,--strip-debug)
CCVER=""

# stale OUT CMDSTRING DEP... : true when OUT must be rebuilt, i.e. it is
# missing, older than a DEP, or was made by a different command.
stale() {
    local out="$1" cmd="$2" d
    shift 2
    [ -e "$out" ] && [ -f "$out.cmd" ] || return 0
    [ "$(cat "$out.cmd")" = "$cmd" ] || return 0
    for d in "$@"; do
        [ "$d" -nt "$out" ] && return 0
    done
    return 1
}

# compile SRC OBJ [FLAGS...]; extra dependencies in the DEPS array variable.
compile() {
    local src="$1" obj="$2"
    shift 2
    local cmd=("$CC" "${CFLAGS[@]}" "$@" -c "$src" -o "$obj")
    local cmdstr="$CCVER ${cmd[*]}"
    stale "$obj" "$cmdstr" "$src" "${DEPS[@]+"${DEPS[@]}"}" || return 0
    log "cc ${src#"$ROOT"/}"
    mkdir -p "$(dirname "$obj")"
    rm -f "$obj.cmd"
    "$CC" "${CFLAGS[@]}" "$@" -c "$src" -o "$obj.tmp"
    mv -f "$obj.tmp" "$obj"
    printf '%s' "$cmdstr" >"$obj.cmd"
}

# link OUT OBJ... -- [LDFLAGS...]
link() {
    local out="$1"
    shift
    local objs=()
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do objs+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    local cmdstr="$CCVER $CC ${LDFLAGS[*]} ${objs[*]} $* -o $out"
    stale "$out" "$cmdstr" "${objs[@]}" || return 0
    log "link $(basename "$out")"
    rm -f "$out.cmd"
    "$CC" "${LDFLAGS[@]}" "${objs[@]}" "$@" -o "$out.tmp"
    mv -f "$out.tmp" "$out"
    printf '%s' "$cmdstr" >"$out.cmd"
}

# Run "$@" in the background, at most $JOBS at a time; join with wait_jobs.
PIDS=()
spawn() {
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do
        wait -n || true # failures are collected by wait_jobs
    done
    "$@" &
    PIDS+=($!)
}
wait_jobs() {
    local pid rc=0
    for pid in "${PIDS[@]+"${PIDS[@]}"}"; do
        wait "$pid" || rc=1
    done
    PIDS=()
    [ "$rc" -eq 0 ] || die "a compile step failed (see above)"
}

# ---------------------------------------------------------------- crate sources
crate_dir() { # NAME VERSION: print the unpacked source directory
    local d
    for d in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"$1-$2"; do
        [ -d "$d" ] && { printf '%s\n' "$d"; return 0; }
    done
    return 1
}

SRC_SQLITE="" SRC_ZSTD="" SRC_QJS=""
fetch_crates() {
    local specs=("$SQLITE_CRATE:$SQLITE_VER" "$ZSTD_CRATE:$ZSTD_VER" "$QJS_CRATE:$QJS_VER")
    local s c v missing=0
    for s in "${specs[@]}"; do
        crate_dir "${s%%:*}" "${s#*:}" >/dev/null || missing=1
    done
    if [ "$missing" -eq 1 ]; then
        command -v cargo >/dev/null 2>&1 || die "cargo is needed to fetch the crate sources"
        log "cargo fetch ${specs[*]}"
        mkdir -p "$FETCH/src"
        # A throwaway package that is only ever fetched, never built.
        cat >"$FETCH/Cargo.toml" <<EOF
[package]
name = "jitguard-workload-sources"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
$SQLITE_CRATE = { version = "=$SQLITE_VER", default-features = false }
$ZSTD_CRATE = { version = "=$ZSTD_VER", default-features = false }
$QJS_CRATE = { version = "=$QJS_VER", default-features = false }

[workspace]
EOF
        : >"$FETCH/src/lib.rs"
        (cd "$FETCH" && cargo fetch </dev/null)
        # cargo fetch stores .crate archives; registry/src is filled lazily
        # by builds, so unpack whatever is still missing.
        local f
        for s in "${specs[@]}"; do
            c="${s%%:*}" v="${s#*:}"
            crate_dir "$c" "$v" >/dev/null && continue
            for f in "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/"$c-$v.crate"; do
                [ -f "$f" ] || continue
                local dst
                dst="$(dirname "$(dirname "$f")")/src/$(basename "$(dirname "$f")")"
                mkdir -p "$dst"
                tar -xzf "$f" -C "$dst"
                break
            done
        done
    fi
    SRC_SQLITE="$(crate_dir "$SQLITE_CRATE" "$SQLITE_VER")" || die "no sources for $SQLITE_CRATE $SQLITE_VER"
    SRC_ZSTD="$(crate_dir "$ZSTD_CRATE" "$ZSTD_VER")" || die "no sources for $ZSTD_CRATE $ZSTD_VER"
    SRC_QJS="$(crate_dir "$QJS_CRATE" "$QJS_VER")" || die "no sources for $QJS_CRATE $QJS_VER"
}

# ---------------------------------------------------------------- recipes
WARN=(-Wall -Wno-unused-function)

build_kernel() {
    local name="$1" o="$OBJ/kernels/$1.o"
    [ -f "$WL/kernels/$name.c" ] || die "no source workloads/kernels/$name.c"
    DEPS=("$WL/kernels/common.h"); compile "$WL/kernels/$name.c" "$o" "${WARN[@]}" -I"$WL/kernels"
    link "$OUT/$name.wasm" "$o" -- -lm
}

build_negative() {
    local name="$1" src flags=()
    case "$name" in
        oob) src="$WL/negative/oob.c" ;;
        oob_write) src="$WL/negative/oob.c"; flags=(-DOOB_WRITE) ;;
        *) die "no recipe for negative workload $name" ;;
    esac
    local o="$OBJ/negative/$name.o"
    DEPS=()
    compile "$src" "$o" "${WARN[@]}" "${flags[@]+"${flags[@]}"}"
    link "$OUT/$name.wasm" "$o" --
}

# Generated compile-bound modules: name -> generator arguments.
compile_gen_args() {
    case "$1" in
        many_funcs_small) echo "--count 1500 --seed 3 --min-stmts 1 --max-stmts 2 --max-depth 0" ;;
        many_funcs) echo "--count 1600 --seed 1 --min-stmts 4 --max-stmts 8 --max-depth 1" ;;
        many_funcs_big) echo "--count 1600 --seed 2 --min-stmts 6 --max-stmts 14 --max-depth 2" ;;
        *) return 1 ;;
    esac
}

build_compile() {
    local name="$1" args
    args="$(compile_gen_args "$name")" || die "no recipe for compile workload $name"
    local gen="$WL/gen/gen_many_funcs.py" c="$GEN/$name.c"
    # shellcheck disable=SC2086
    if stale "$c" "$args" "$gen"; then
        log "generate $name.c ($args)"
        mkdir -p "$GEN"
        rm -f "$c.cmd"
        python3 "$gen" $args -o "$c.tmp"
        mv -f "$c.tmp" "$c"
        printf '%s' "$args" >"$c.cmd"
    fi
    local o="$OBJ/gen/$name.o"
    DEPS=()
    compile "$c" "$o" -Wall
    link "$OUT/$name.wasm" "$o" --
}

SQLITE_DEFS=(
    -DSQLITE_OS_OTHER=1 -DSQLITE_THREADSAFE=0 -DSQLITE_OMIT_LOAD_EXTENSION
    -DSQLITE_OMIT_WAL -DSQLITE_OMIT_SHARED_CACHE -DSQLITE_OMIT_DEPRECATED
    -DSQLITE_OMIT_AUTOINIT -DSQLITE_DQS=0 -DSQLITE_DEFAULT_MEMSTATUS=0
    -DSQLITE_TEMP_STORE=3 -DSQLITE_ENABLE_MATH_FUNCTIONS -DLONGDOUBLE_TYPE=double
)

build_sqlite_bench() {
    local amal="$SRC_SQLITE/sqlite3" d="$OBJ/sqlite"
    DEPS=(); spawn compile "$amal/sqlite3.c" "$d/sqlite3.o" -w "${SQLITE_DEFS[@]}"
    DEPS=("$amal/sqlite3.h"); spawn compile "$WL/big/sqlite_bench.c" "$d/sqlite_bench.o" "${WARN[@]}" -I"$amal"
    wait_jobs
    link "$OUT/sqlite_bench.wasm" "$d/sqlite3.o" "$d/sqlite_bench.o" -- -lm
}

build_zstd_bench() {
    local lib="$SRC_ZSTD/zstd/lib" d="$OBJ/zstd" s rel o objs=()
    local defs=(-w -DZSTD_DISABLE_ASM -DZSTD_LEGACY_SUPPORT=0 -DZSTD_NO_TRACE
                -DXXH_NAMESPACE=ZSTD_ -D_WASI_EMULATED_PROCESS_CLOCKS
                -I"$lib" -I"$lib/common")
    while IFS= read -r s; do
        rel="${s#"$lib"/}"
        o="$d/${rel%.c}.o"
        objs+=("$o")
        DEPS=(); spawn compile "$s" "$o" "${defs[@]}"
    done < <(find "$lib/common" "$lib/compress" "$lib/decompress" "$lib/dictBuilder" \
                  -name '*.c' | LC_ALL=C sort)
    [ "${#objs[@]}" -gt 10 ] || die "zstd sources not found under $lib"
    o="$d/zstd_bench.o"
    objs+=("$o")
    DEPS=("$lib/zstd.h"); spawn compile "$WL/big/zstd_bench.c" "$o" "${WARN[@]}" -I"$lib"
    wait_jobs
    # dictBuilder calls clock() for progress display only
    link "$OUT/zstd_bench.wasm" "${objs[@]}" -- -lwasi-emulated-process-clocks
}

build_quickjs_bench() {
    local q="$SRC_QJS/quickjs" d="$OBJ/quickjs" s o objs=()
    local defs=(-w -D_GNU_SOURCE -D_WASI_EMULATED_PROCESS_CLOCKS -D_WASI_EMULATED_SIGNAL -I"$q")
    for s in quickjs.c libregexp.c libunicode.c dtoa.c; do
        [ -f "$q/$s" ] || die "missing $q/$s"
        o="$d/${s%.c}.o"
        objs+=("$o")
        DEPS=(); spawn compile "$q/$s" "$o" "${defs[@]}"
    done
    # Embed the JavaScript program as a C header.
    local js="$WL/big/quickjs_bench.js" h="$GEN/quickjs_bench.js.h" emb="$WL/gen/embed.py"
    if stale "$h" "embed" "$js" "$emb"; then
        mkdir -p "$GEN"
        rm -f "$h.cmd"
        python3 "$emb" "$js" quickjs_bench_js "$h.tmp"
        mv -f "$h.tmp" "$h"
        printf 'embed' >"$h.cmd"
    fi
    o="$d/quickjs_bench.o"
    objs+=("$o")
    DEPS=("$h" "$q/quickjs.h"); spawn compile "$WL/big/quickjs_bench.c" "$o" "${WARN[@]}" -I"$q" -I"$GEN"
    wait_jobs
    link "$OUT/quickjs_bench.wasm" "${objs[@]}" -- \
        -lwasi-emulated-process-clocks -lwasi-emulated-signal -lm
}

# ---------------------------------------------------------------- attack pair
# workloads/attack/: victim.wasm and the host library it imports env.patch_code
# from (iwasm --native-lib=librogue_native.so), which overwrites the module's
# compiled code. The library is built for the host, not for wasm.
build_attack() {
    local src="$WL/attack" d="$OUT/attack" o="$OBJ/attack/victim.o"
    mkdir -p "$d"
    DEPS=(); compile "$src/victim.c" "$o" "${WARN[@]}"
    link "$d/victim.wasm" "$o" --

    command -v "$HOST_CC" >/dev/null 2>&1 || die "$HOST_CC (host C compiler) not found: install gcc"
    # -g and no stripping: fault reports name patch_code.
    local so="$d/librogue_native.so" flags=(-O2 -g -Wall -shared -fPIC) cmdstr
    cmdstr="$("$HOST_CC" --version | head -n1) $HOST_CC ${flags[*]} $src/rogue_native.c -o $so"
    stale "$so" "$cmdstr" "$src/rogue_native.c" || return 0
    log "host cc ${src#"$ROOT"/}/rogue_native.c"
    rm -f "$so.cmd"
    "$HOST_CC" "${flags[@]}" "$src/rogue_native.c" -o "$so.tmp"
    mv -f "$so.tmp" "$so"
    printf '%s' "$cmdstr" >"$so.cmd"
}

# ---------------------------------------------------------------- main
ensure_toolchain
CCVER="$("$CC" --version | head -n1)"

if [ "$CLEAN" -eq 1 ]; then
    log "clean ${OUT#"$ROOT"/}"
    rm -rf "$OUT"
fi
mkdir -p "$OUT"

need_crates=0
for i in "${!NAMES[@]}"; do
    wanted "${NAMES[$i]}" && [ "${KINDS[$i]}" = big ] && need_crates=1
done
[ "${SKIP_BIG:-0}" = 1 ] && need_crates=0
[ "$need_crates" -eq 0 ] || fetch_crates

built=()
# Small modules first, in parallel; then the big ones, each parallel inside.
for i in "${!NAMES[@]}"; do
    name="${NAMES[$i]}"
    wanted "$name" || continue
    case "${KINDS[$i]}" in
        kernel) DEPS=(); spawn build_kernel "$name" ;;
        negative) DEPS=(); spawn build_negative "$name" ;;
        compile) DEPS=(); spawn build_compile "$name" ;;
        big) continue ;;
        *) die "unknown kind '${KINDS[$i]}' for $name" ;;
    esac
    built+=("$name")
done
wait_jobs
for i in "${!NAMES[@]}"; do
    name="${NAMES[$i]}"
    if ! wanted "$name" || [ "${KINDS[$i]}" != big ]; then continue; fi
    if [ "${SKIP_BIG:-0}" = 1 ]; then
        log "skip $name (SKIP_BIG=1)"
        continue
    fi
    declare -F "build_$name" >/dev/null || die "no recipe for big workload $name"
    "build_$name"
    built+=("$name")
done

for name in "${built[@]+"${built[@]}"}"; do
    [ -s "$OUT/$name.wasm" ] || die "$name.wasm was not produced"
done
if [ "${#ONLY[@]}" -eq 0 ]; then
    build_attack
    for f in victim.wasm librogue_native.so; do
        [ -s "$OUT/attack/$f" ] || die "attack/$f was not produced"
    done
fi
log "${#built[@]} workloads up to date in ${OUT#"$ROOT"/}"

[ "$CHECK" -eq 1 ] || exit 0

# ---------------------------------------------------------------- --check
command -v node >/dev/null 2>&1 || die "--check needs node"
fail=0
while IFS=$'\t' read -r name kind args expected _desc experr _rest || [ -n "$name" ]; do
    case "$name" in ''|'#'*|name) continue ;; esac
    wanted "$name" || continue
    [ -f "$OUT/$name.wasm" ] || continue
    [ "$args" = - ] && args=""
    [ "$experr" = - ] && experr=""
    read -r -a argv <<<"$args"
    start=$(date +%s%N)
    rc=0
    node "$WL/run-node.mjs" "$OUT/$name.wasm" "${argv[@]+"${argv[@]}"}" \
        >"$OUT/$name.node.out" 2>"$OUT/$name.node.err" </dev/null || rc=$?
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    why=""
    [ "$rc" = "$expected" ] || why="exit $rc, expected $expected"
    if [ -z "$why" ] && [ -n "$experr" ] && ! grep -qF -- "$experr" "$OUT/$name.node.err"; then
        why="stderr lacks '$experr'"
    fi
    if [ -z "$why" ] && [ "$expected" = 0 ] && ! tail -n1 "$OUT/$name.node.out" | grep -q '^checksum: [0-9a-f]\{16\}$'; then
        why="no checksum line"
    fi
    if [ -z "$why" ]; then
        printf 'ok    %-18s %6d ms  %s\n' "$name" "$ms" "$(tail -n1 "$OUT/$name.node.out")"
    else
        printf 'FAIL  %-18s %6d ms  %s\n' "$name" "$ms" "$why"
        fail=1
    fi
done <"$MANIFEST"
[ "$fail" -eq 0 ] || die "some workloads failed under node"
