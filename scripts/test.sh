#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs (C
# compiler, cmake, the wasm toolchain, stock WAMR, the workloads), checks
# formatting and lints, then runs every unit and integration test.
#
# Tests that need Intel MPK skip with a visible "SKIPPED" line on CPUs
# without it; where /proc/cpuinfo shows pku they are required
# (JITGUARD_REQUIRE_PKU=1) and fail instead of skipping.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"

step "toolchain"
need_packages gcc libc6-dev
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

if grep -qw pku /proc/cpuinfo && grep -qw ospke /proc/cpuinfo; then
    export JITGUARD_REQUIRE_PKU="${JITGUARD_REQUIRE_PKU:-1}"
    echo "this CPU has protection keys: pkey tests are required" >&2
else
    echo "this CPU has no protection keys: pkey tests will say SKIPPED" >&2
fi

step "tests"
# --show-output so that SKIPPED notices of passing tests are visible.
cargo test --release --workspace -- --show-output
