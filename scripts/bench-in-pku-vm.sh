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
#
#   scripts/bench-in-pku-vm.sh --syscalls [jitguard bench options]
#   System calls per write fault and faults per window (`jitguard bench
#   --syscalls`, strace -f -c) for the pkey backend; with no other option:
#   --kinds kernel,big,compile --workloads many_funcs_small,sqlite_bench,gemm
#   --configs hashed,single,mprotect --out target/bench-pku-vm-syscalls.
#   Counts, unlike times, are not distorted by the emulation. The guest
#   sees the host's / read-only: strace must be installed on the host (the
#   script says so in its output when the guest has none).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
cargo build --release --workspace --quiet
bash scripts/build-wamr.sh >/dev/null
bash scripts/build-workloads.sh >/dev/null
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--reps 3 --kinds kernel,compile --out "$ROOT/target/bench-pku-vm")
if [ "${args[*]}" = --syscalls ]; then
	args=(--syscalls --kinds kernel,big,compile --workloads many_funcs_small,sqlite_bench,gemm
		--configs hashed,single,mprotect --out "$ROOT/target/bench-pku-vm-syscalls")
fi
syscalls=0
for a in "${args[@]}"; do [ "$a" != --syscalls ] || syscalls=1; done
if [ $syscalls = 1 ] && ! command -v strace >/dev/null; then
	echo "bench-in-pku-vm: strace is not installed on the host, so the guest (which shares the host's / read-only) has none either: no system-call report (apt-get install strace on the host)" >&2
	exit 1
fi
# In the guest: say plainly when strace is missing or cannot trace (the
# bench would stop with an error of its own).
guest='if [ "$1" = 1 ]; then
	if ! command -v strace >/dev/null; then
		echo "bench-in-pku-vm: strace is not available in the guest: no system-call report"
	elif ! strace -f -c -o /dev/null /bin/true 2>/dev/null; then
		echo "bench-in-pku-vm: strace cannot trace in the guest (ptrace refused): no system-call report"
	fi
fi
shift
exec "$@"'
exec bash scripts/pku-vm.sh --timeout 5400 "$ROOT" -- /bin/sh -c "$guest" sh "$syscalls" "$ROOT/target/release/jitguard" bench "${args[@]}"
