#!/usr/bin/env bash
# Self-test of target/wamr/iwasm (stock WAMR 2.4.3 + our front end).
#
# Usage: wamr/selftest.sh            (works from any directory)
#
# Builds iwasm if needed (scripts/build-wamr.sh, cached), installs a C to
# wasm32-wasi toolchain from Debian if missing, compiles the modules in
# wamr/selftest/ and checks, in both --fast-jit and --interp:
#   - hello.wasm prints its argv (argv[0] = module path) and exits with 3;
#   - oob.wasm's out-of-bounds read traps with WAMR's
#     "out of bounds memory access" on stderr and a nonzero exit;
#   - many.wasm (300 functions through a table) prints the same checksum as
#     the same C built natively.
# Ends with "N passed, N failed"; exits 1 if anything failed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="$ROOT/wamr/selftest"
WORK="$ROOT/target/wamr/selftest"
IWASM="$ROOT/target/wamr/iwasm"

log() { printf 'selftest: %s\n' "$*" >&2; }

"$ROOT/scripts/build-wamr.sh"

# ---------------------------------------------------- toolchain (Debian 12)
# clang-14 + lld for wasm32, wasi-libc's sysroot, and compiler-rt's wasm32
# builtins (libclang_rt.builtins-wasm32.a, which clang links by default).
export DEBIAN_FRONTEND=noninteractive
SUDO=()
[[ "$(id -u)" == 0 ]] || SUDO=(sudo -n)
pkgs=(clang lld wasi-libc libclang-rt-14-dev-wasm32)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
        || missing+=("$p")
done
if ((${#missing[@]})); then
    # Refresh apt's lists only when they do not know a package we need.
    for p in "${missing[@]}"; do
        if ! apt-cache show "$p" >/dev/null 2>&1; then
            log "apt-get update"; "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=300 update -qq; break
        fi
    done
    log "apt-get install ${missing[*]}"
    if ! "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
        # Stale lists (a 404 on a superseded .deb): refresh once and retry.
        log "apt-get update"; "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=300 update -qq
        "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
fi

mkdir -p "$WORK"
for m in hello oob many; do
    clang --target=wasm32-wasi -O2 -o "$WORK/$m.wasm" "$SRC/$m.c"
done
# The reference answer for many.wasm: the same C, built natively.
cc -O2 -o "$WORK/many.native" "$SRC/many.c"
many_expected="$("$WORK/many.native")"

passed=0 failed=0
pass() { passed=$((passed + 1)); echo "ok   - $*"; }
fail() { failed=$((failed + 1)); echo "FAIL - $*"; }

# run MODE MODULE [ARGS...]: runs iwasm, leaving out/err/rc in globals.
run() {
    local mode="$1"; shift
    set +e
    "$IWASM" "$mode" "$@" > "$WORK/out" 2> "$WORK/err"
    rc=$?
    set -e
    out="$(cat "$WORK/out")"
    err="$(cat "$WORK/err")"
}

for mode in --fast-jit --interp; do
    run "$mode" "$WORK/hello.wasm" one "two words"
    expected="hello from wasm: argc=3 [$WORK/hello.wasm] [one] [two words]"
    if [[ "$rc" == 3 && "$out" == "$expected" && -z "$err" ]]; then
        pass "$mode hello: output and exit code 3"
    else
        fail "$mode hello: rc=$rc out='$out' err='$err' (want rc=3 out='$expected')"
    fi

    run "$mode" "$WORK/oob.wasm"
    if [[ "$rc" != 0 && "$err" == *"out of bounds memory access"* ]]; then
        pass "$mode oob: trapped ($err), exit $rc"
    else
        fail "$mode oob: rc=$rc out='$out' err='$err'"
    fi

    run "$mode" "$WORK/many.wasm"
    if [[ "$rc" == 0 && "$out" == "$many_expected" ]]; then
        pass "$mode many: $out"
    else
        fail "$mode many: rc=$rc out='$out' err='$err' (want '$many_expected')"
    fi
done

# Fast JIT with a small code cache still works (and the option is honoured).
run --fast-jit --jit-codecache-size=1m "$WORK/many.wasm"
if [[ "$rc" == 0 && "$out" == "$many_expected" ]]; then
    pass "--jit-codecache-size=1m many"
else
    fail "--jit-codecache-size=1m many: rc=$rc out='$out' err='$err'"
fi

# Load failures exit 1 with a message.
printf 'not wasm' > "$WORK/bad.wasm"
run --fast-jit "$WORK/bad.wasm"
if [[ "$rc" == 1 && "$err" == *"failed to load"* ]]; then
    pass "bad module: exit 1 with a load error"
else
    fail "bad module: rc=$rc err='$err'"
fi

echo "$passed passed, $failed failed"
((failed == 0))
