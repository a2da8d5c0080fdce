#!/usr/bin/env bash
# Runs `jitguard bench` inside the QEMU TCG guest with protection keys
# (scripts/pku-vm.sh), the only way to compare the pkey configurations
# (hashed, single) with stock and mprotect on hosts without PKU. Under TCG
# everything is emulated, so absolute times mean nothing and ratios are
# distorted (system calls and faults are emulated too, at a different cost
# from compute): read them as a comparison *between* the configurations.
#
#   scripts/bench-in-pku-vm.sh [jitguard bench options]
#   (default: --reps 3 --kinds kernel,compile --out target/bench-pku-vm)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
cargo build --release --workspace --quiet
bash scripts/build-wamr.sh >/dev/null
bash scripts/build-workloads.sh >/dev/null
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--reps 3 --kinds kernel,compile --out "$ROOT/target/bench-pku-vm")
exec bash scripts/pku-vm.sh --timeout 5400 "$ROOT" -- "$ROOT/target/release/jitguard" bench "${args[@]}"
