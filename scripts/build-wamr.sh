#!/usr/bin/env bash
# Builds stock WAMR 2.4.3 (Fast JIT + classic interpreter, WASI) with our own
# front end (wamr/iwasm.c) into target/wamr/iwasm.
#
# Usage: scripts/build-wamr.sh [--force]      (works from any directory)
#
# Where everything comes from, with no internet but the package registries:
#   - WAMR core: the crates.io crate wamrx-sys, exactly 0.3.0, which vendors the
#     unmodified WAMR 2.4.3 tree with its CMake scripts. Fetched with cargo; we
#     use only its wasm-micro-runtime/ directory (its build.rs turns the JITs
#     off, so it is never run). WAMR sources are never patched.
#   - asmjit (Fast JIT's x86-64 assembler; WAMR's CMake would git-clone it):
#     Debian's source package `asmjit`, handed to CMake through
#     FETCHCONTENT_SOURCE_DIR_ASMJIT.
#   - cmake, a C/C++ toolchain: Debian packages.
# Everything fetched or built lives under target/wamr/ (git-ignored).
#
# Idempotent: when target/wamr/iwasm is newer than this script and every file
# in wamr/ (the self-test aside), it prints one line and exits 0.
# --force (or JITGUARD_WAMR_FORCE=1) does a clean rebuild. JITGUARD_WAMR_JOBS
# sets the parallelism (default 2, this project's machine size).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/target/wamr"
BIN="$OUT/iwasm"
SCRIPT="$ROOT/scripts/build-wamr.sh"
FRONT="$ROOT/wamr"

WAMRX_VERSION="0.3.0"   # crate version: pinned exactly
WAMR_VERSION="2.4.3"    # what that crate must contain; checked below
JOBS="${JITGUARD_WAMR_JOBS:-2}"

log() { printf 'build-wamr: [%3ds] %s\n' "$SECONDS" "$*" >&2; }
die() { printf 'build-wamr: error: %s\n' "$*" >&2; exit 1; }

force="${JITGUARD_WAMR_FORCE:-0}"
for arg in "$@"; do
    case "$arg" in
        --force) force=1 ;;
        -h|--help) sed -n '2,21p' "$SCRIPT" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $arg" ;;
    esac
done

# ---------------------------------------------------------------- cache check
# Up to date when the binary exists and nothing that goes into it (this script
# or anything under wamr/ but the self-test) is newer.
if [[ "$force" != 1 && -x "$BIN" ]] \
   && [[ -z "$(find "$SCRIPT" "$FRONT" \( -path "$FRONT/selftest" -o -path "$FRONT/selftest.sh" \) -prune \
                -o -newer "$BIN" -print -quit)" ]]; then
    echo "build-wamr: up to date: ${BIN#"$ROOT"/}"
    exit 0
fi

[[ "$(uname -m)" == x86_64 ]] \
    || die "WAMR's Fast JIT only has an x86-64 back end (this is $(uname -m))"

start_s=$(date +%s)
mkdir -p "$OUT"
BUILD="$OUT/build"
# --force means a clean build. (A fresh copy of WAMR or asmjit below also
# wipes the build tree: cp -a and tar keep the upstream file times, which
# can be older than existing objects, so make would not notice.)
[[ "$force" != 1 ]] || rm -rf "$BUILD"

# ------------------------------------------------------------------- apt bits
# CI runs with CI=true and no stdin: never let apt or dpkg ask anything.
export DEBIAN_FRONTEND=noninteractive
SUDO=()
if [[ "$(id -u)" != 0 ]]; then
    command -v sudo >/dev/null || die "need root (or sudo) to install packages"
    SUDO=(sudo -n)
fi

# Wait for a concurrent apt/dpkg (another build, unattended upgrades) rather
# than failing on its lock.
APT=(apt-get -o DPkg::Lock::Timeout=300)

apt_updated=0
apt_update() {
    log "apt-get update"
    "${SUDO[@]}" "${APT[@]}" update -qq
    apt_updated=1
}

# "installed" means dpkg's status says so; `dpkg -s` alone also succeeds for
# removed-but-not-purged packages.
is_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# Installs the packages not yet installed. Runs `apt-get update` only when
# needed: when apt does not know a package (fresh machine, empty lists), or
# when an install from the existing lists fails (stale lists -> 404).
ensure_pkgs() {
    local missing=() p
    for p in "$@"; do is_installed "$p" || missing+=("$p"); done
    ((${#missing[@]})) || return 0
    if ((apt_updated == 0)); then
        for p in "${missing[@]}"; do
            if ! apt-cache show "$p" >/dev/null 2>&1; then apt_update; break; fi
        done
    fi
    log "apt-get install ${missing[*]}"
    if ! "${SUDO[@]}" "${APT[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
        ((apt_updated == 0)) || die "apt-get install ${missing[*]} failed"
        apt_update
        "${SUDO[@]}" "${APT[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

# cmake: the build; gcc/g++/make: WAMR is C plus C++ (asmjit, Fast JIT
# codegen); xz-utils: Debian's .orig.tar.xz.
ensure_pkgs cmake make gcc g++ xz-utils

# ------------------------------------------------------------- WAMR (crate)
CARGO_DIR="${CARGO_HOME:-$HOME/.cargo}"

find_crate() {
    local d
    for d in "$CARGO_DIR"/registry/src/*/"wamrx-sys-$WAMRX_VERSION"; do
        [[ -f "$d/wasm-micro-runtime/CMakeLists.txt" ]] && { echo "$d"; return 0; }
    done
    return 1
}

WAMR_SRC="$OUT/wamr-$WAMR_VERSION"
if [[ ! -f "$WAMR_SRC/.jitguard-copied" ]]; then
    if ! crate="$(find_crate)"; then
        # A throwaway cargo project whose only job is to make cargo download
        # and unpack the crate into its registry. The empty [workspace] keeps
        # cargo from attaching it to the repo's own Cargo.toml above it.
        fetch="$OUT/fetch"
        mkdir -p "$fetch/src"
        : > "$fetch/src/lib.rs"
        cat > "$fetch/Cargo.toml" <<EOF
[package]
name = "jitguard-wamr-fetch"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
wamrx-sys = "=$WAMRX_VERSION"

[workspace]
EOF
        # cargo may not be on PATH in a non-login CI shell even though
        # rustup put it in ~/.cargo/bin.
        if ! command -v cargo >/dev/null; then
            [[ -x "$CARGO_DIR/bin/cargo" ]] \
                || die "cargo not found (needed to fetch the wamrx-sys crate)"
            export PATH="$CARGO_DIR/bin:$PATH"
        fi
        log "cargo fetch wamrx-sys =$WAMRX_VERSION"
        cargo fetch --quiet --manifest-path "$fetch/Cargo.toml"
        crate="$(find_crate)" \
            || die "wamrx-sys-$WAMRX_VERSION not found under $CARGO_DIR/registry/src after cargo fetch"
    fi
    # Check it really is WAMR 2.4.3 before building anything from it.
    ver="$(sed -n 's/^set *( *WAMR_VERSION_\(MAJOR\|MINOR\|PATCH\) *\([0-9]*\) *)/\2/p' \
            "$crate/wasm-micro-runtime/build-scripts/version.cmake" | paste -sd.)"
    [[ "$ver" == "$WAMR_VERSION" ]] \
        || die "wamrx-sys-$WAMRX_VERSION carries WAMR '$ver', expected $WAMR_VERSION"
    # Build from a private copy, not from cargo's registry: WAMR's CMake
    # writes core/version.h into its own source tree at configure time.
    log "copying WAMR $WAMR_VERSION from $crate"
    rm -rf "$WAMR_SRC" "$WAMR_SRC.tmp"
    cp -a "$crate/wasm-micro-runtime" "$WAMR_SRC.tmp"
    touch "$WAMR_SRC.tmp/.jitguard-copied"
    mv "$WAMR_SRC.tmp" "$WAMR_SRC"
    rm -rf "$BUILD"
fi

# ------------------------------------------------------------ asmjit (Debian)
ASMJIT_WORK="$OUT/asmjit"
find_asmjit() {
    local d
    for d in "$ASMJIT_WORK"/src/*/; do
        [[ -f "$d/CMakeLists.txt" && -d "$d/src/asmjit" ]] && { echo "${d%/}"; return 0; }
    done
    return 1
}

# Writes a deb-src twin of every enabled Debian entry into its own file, so
# that `apt-get source` works; the existing entries are left as they are.
add_debian_deb_src() {
    local f=/etc/apt/sources.list.d/jitguard-deb-src.sources
    local g=/etc/apt/sources.list.d/jitguard-deb-src.list
    local tmp
    tmp="$(mktemp)"
    # deb822 (Debian 12's default: /etc/apt/sources.list.d/debian.sources):
    # copy each stanza whose URIs look Debian's, with Types: deb-src.
    local s
    for s in /etc/apt/sources.list.d/*.sources; do
        [[ -f "$s" && "$s" != "$f" ]] || continue
        awk '
            function flush() {
                if (n && types ~ /(^|[ \t])deb([ \t]|$)/ && uris ~ /debian/ && enabled !~ /^[ \t]*no/) {
                    print "Types: deb-src"
                    for (i = 1; i <= n; i++) print lines[i]
                    print ""
                }
                n = 0; types = ""; uris = ""; enabled = ""
            }
            /^[ \t]*$/ { flush(); next }
            /^#/ { next }
            /^Types:/ { types = substr($0, 7); next }
            /^URIs:/ { uris = substr($0, 6) }
            /^Enabled:/ { enabled = substr($0, 9) }
            { lines[++n] = $0 }
            END { flush() }
        ' "$s" >> "$tmp"
    done
    if [[ -s "$tmp" ]]; then
        log "adding deb-src entries: $f"
        "${SUDO[@]}" install -m 0644 "$tmp" "$f"
    fi
    # One-line style (/etc/apt/sources.list, *.list): deb -> deb-src.
    : > "$tmp"
    for s in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -f "$s" && "$s" != "$g" ]] || continue
        grep -E '^[[:space:]]*deb[[:space:]].*debian' "$s" \
            | sed -E 's/^[[:space:]]*deb[[:space:]]/deb-src /' >> "$tmp" || true
    done
    if [[ -s "$tmp" ]]; then
        log "adding deb-src entries: $g"
        "${SUDO[@]}" install -m 0644 "$tmp" "$g"
    fi
    rm -f "$tmp"
}

# apt-cache showsrc prints nothing (and still exits 0) when apt has no source
# index that knows the package.
have_asmjit_src() { [[ -n "$(apt-cache showsrc asmjit 2>/dev/null)" ]]; }

if ! ASMJIT_SRC="$(find_asmjit)"; then
    if ! have_asmjit_src; then
        add_debian_deb_src
        apt_update
        have_asmjit_src || die "apt knows no source package asmjit even with deb-src entries"
    fi
    rm -rf "$ASMJIT_WORK"
    mkdir -p "$ASMJIT_WORK/src"
    log "apt-get source --download-only asmjit"
    # --download-only: only the .dsc and tarballs, no dpkg-source (dpkg-dev)
    # needed. Run as root apt cannot drop to its _apt sandbox user on a
    # directory it does not own; that warning is harmless.
    (cd "$ASMJIT_WORK"; apt-get source -qq --download-only asmjit 2>&1) \
        | { grep -v 'unsandboxed as root' >&2 || true; } \
        || die "apt-get source --download-only asmjit failed"
    orig=("$ASMJIT_WORK"/asmjit_*.orig.tar.*)
    [[ -f "${orig[0]}" ]] || die "no asmjit .orig tarball in $ASMJIT_WORK"
    tar -xf "${orig[0]}" -C "$ASMJIT_WORK/src"
    ASMJIT_SRC="$(find_asmjit)" || die "unpacked ${orig[0]##*/} has no asmjit CMake tree"
    rm -rf "$BUILD"
fi
log "asmjit: ${ASMJIT_SRC#"$ROOT"/}"

# ---------------------------------------------------------------- configure
# Fast JIT: WAMR_BUILD_FAST_JIT=1 (which forces the classic interpreter on,
# fast interpreter off); SIMD must be 0 (WAMR rejects SIMD + FAST_JIT); no
# AOT/LLVM JIT. Release (-O3) plus -g: WAMR's function names (jit_codegen_*,
# gc_alloc_vo, alloc_hmu...) must show up in fault reports, so nothing is
# stripped. FETCHCONTENT_FULLY_DISCONNECTED keeps CMake from ever trying git.
cmake_args=(
    -S "$FRONT" -B "$BUILD"
    -DJITGUARD_WAMR_SRC="$WAMR_SRC"
    -DCMAKE_BUILD_TYPE=Release
    -DCMAKE_C_FLAGS="-g"
    -DCMAKE_CXX_FLAGS="-g"
    -DWAMR_BUILD_PLATFORM=linux
    -DWAMR_BUILD_TARGET=X86_64
    -DWAMR_BUILD_FAST_JIT=1
    -DWAMR_BUILD_JIT=0
    -DWAMR_BUILD_AOT=0
    -DWAMR_BUILD_INTERP=1
    -DWAMR_BUILD_FAST_INTERP=0
    -DWAMR_BUILD_SIMD=0
    -DWAMR_BUILD_LIBC_WASI=1
    -DWAMR_BUILD_LIBC_BUILTIN=1
    -DFETCHCONTENT_SOURCE_DIR_ASMJIT="$ASMJIT_SRC"
    -DFETCHCONTENT_FULLY_DISCONNECTED=ON
)
log "cmake configure"
cmake "${cmake_args[@]}" > "$OUT/configure.log" 2>&1 \
    || { tail -n 40 "$OUT/configure.log" >&2; die "cmake configure failed (full log: $OUT/configure.log)"; }

log "cmake build -j$JOBS"
cmake --build "$BUILD" --target iwasm -j "$JOBS" > "$OUT/build.log" 2>&1 \
    || { grep -E -B2 -A8 'error|Error' "$OUT/build.log" | tail -n 60 >&2; die "build failed (full log: $OUT/build.log)"; }

# Copy (not link) so the cache check above sees a fresh mtime, and via a
# temporary name so a half-written binary is never taken as up to date.
cp "$BUILD/iwasm" "$BIN.tmp"
mv "$BIN.tmp" "$BIN"
log "built ${BIN#"$ROOT"/} ($(stat -c %s "$BIN") bytes) in $(( $(date +%s) - start_s )) s"
