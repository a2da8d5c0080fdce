#!/usr/bin/env bash
# Runs the integration tests inside a QEMU TCG guest whose CPU has
# protection keys (scripts/pku-vm.sh), with JITGUARD_REQUIRE_PKU=1, so the
# pkey backend is tested on hosts without PKU. The host's / is visible
# read-only in the guest; the repository (wherever it is, even under /tmp,
# which the guest replaces with a tmpfs) is shared read-write. Only the pkey
# backend is tested there (JITGUARD_TEST_BACKENDS=pkey): the host already
# tested mprotect, and TCG is slow.
#
#   scripts/test-in-pku-vm.sh [TEST-BINARY-NAME...]   (default: all)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"

cargo build --release --workspace --quiet
# Build the test executables on the host and list them.
mapfile -t bins < <(cargo test --release --workspace --no-run 2>&1 |
    sed -n 's/.*Executable tests\/[a-z_]*\.rs (\(.*\))$/\1/p')
[ ${#bins[@]} -gt 0 ] || { echo "no test executables found" >&2; exit 1; }
# By default the suites that exercise the pkey backend itself (keys,
# PKRU, windows, the vault's keys, attacks). Left to the host run: the
# deployment suites (install, syslog, preload_system, status,
# config_env), which do not depend on the backend, and the suites whose
# subject is profile logic over many runs (wamr_stripped, attest_suite,
# pcre2_static): under TCG each costs tens of minutes and CI has 90 in
# all. JITGUARD_PKU_VM_ALL=1 runs everything.
if [ $# -eq 0 ] && [ "${JITGUARD_PKU_VM_ALL:-0}" != 1 ]; then
    set -- attacks call_windows hostile processes signals toyjit self_defence \
        learn_teardown kernel_paths raw_syscalls aliases attest regions \
        pcre2_attack wamr_attack unwind_noalloc runtimes wamr
fi
if [ $# -gt 0 ]; then
    keep=()
    for b in "${bins[@]}"; do
        for want in "$@"; do
            case "$(basename "$b")" in "$want"-*) keep+=("$b") ;; esac
        done
    done
    bins=("${keep[@]}")
fi

script="$ROOT/target/pku-vm-tests.sh"
{
    echo 'grep -qw pku /proc/cpuinfo || { echo "guest has no pku" >&2; exit 1; }'
    echo 'failed=""'
    for b in "${bins[@]}"; do
        printf 'echo "== %s (in the PKU guest)"\n' "$(basename "$b")"
        printf '%q --test-threads=1 || failed="$failed %s"\n' "$ROOT/$b" "$(basename "$b")"
    done
    echo '[ -z "$failed" ] || { echo "failed in the PKU guest:$failed"; exit 1; }'
} >"$script"
exec bash scripts/pku-vm.sh --timeout 3600 \
    -e JITGUARD_REQUIRE_PKU=1 -e JITGUARD_TEST_BACKENDS=pkey -e JITGUARD_IN_PKU_VM=1 -e "JITGUARD_LIB=$ROOT/target/release/libjitguard.so" \
    "$ROOT" "$script"
