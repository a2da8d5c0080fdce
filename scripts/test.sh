#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs (C
# compiler, cmake, the wasm toolchain, stock WAMR, the workloads), checks
# formatting and lints, then runs every unit and integration test.
#
# Tests that need Intel MPK skip with a visible "SKIPPED" line on CPUs
# without it; where /proc/cpuinfo shows pku they are required
# (JITGUARD_REQUIRE_PKU=1) and fail instead of skipping. On a host without
# PKU the integration tests then run a second time inside a QEMU TCG guest
# whose CPU has PKU (scripts/test-in-pku-vm.sh), where they are required:
# so the pkey backend is tested everywhere. JITGUARD_SKIP_PKU_VM=1 skips
# that stage.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"

step "toolchain"
need_packages gcc libc6-dev
# pcre2grep for tests/runtimes.rs (node and java are on the machines
# already; their tests skip where missing).
need_packages pcre2-utils
# QEMU user mode for tests/runtimes.rs and tests/regions.rs (a second JIT
# beside PCRE2 in one process).
need_packages qemu-user
# Deployment tests: a real syslog daemon (tests/syslog.rs), the man page
# (tests/install.rs), the ordinary programs run under /etc/ld.so.preload
# (tests/preload_system.rs), /usr/bin/time as a wrapper (tests/config_env.rs).
need_packages rsyslog man-db groff-base sqlite3 make git perl python3 bc time util-linux
cargo --version

step "stock WAMR (Fast JIT)"
bash scripts/build-wamr.sh

step "wasm workloads"
bash scripts/build-workloads.sh

step "build"
cargo build --release --workspace

step "format and lints"
cargo fmt --all -- --check
cargo clippy --release --workspace --all-targets --quiet -- -D warnings

host_pku=0
if grep -qw pku /proc/cpuinfo && grep -qw ospke /proc/cpuinfo; then
    host_pku=1
    export JITGUARD_REQUIRE_PKU="${JITGUARD_REQUIRE_PKU:-1}"
    echo "this CPU has protection keys: pkey tests are required" >&2
else
    echo "this CPU has no protection keys: pkey tests say SKIPPED here and run in a PKU guest next" >&2
fi

step "tests"
# --show-output so that SKIPPED notices of passing tests are visible.
cargo test --release --workspace -- --show-output

if [ "$host_pku" = 0 ] && [ "${JITGUARD_SKIP_PKU_VM:-0}" != 1 ]; then
    step "integration tests again, in a QEMU TCG guest with protection keys"
    scripts/test-in-pku-vm.sh
fi
