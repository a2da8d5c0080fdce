#!/usr/bin/env bash
# The main job: jitguard protecting stock WAMR Fast JIT on bundled
# workloads, with a short report. Installs and builds what it needs.
#
#   scripts/demo.sh [WORKLOAD...]     (default: sqlite_bench many_funcs_small gemm)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"

WORKLOADS=("$@")
[ ${#WORKLOADS[@]} -gt 0 ] || WORKLOADS=(sqlite_bench many_funcs_small gemm)

step "building jitguard, stock WAMR and the workloads"
need_packages gcc libc6-dev
cargo build --release --workspace --quiet
bash scripts/build-wamr.sh
bash scripts/build-workloads.sh "${WORKLOADS[@]}" >/dev/null

JG="$ROOT/target/release/jitguard"
IWASM="$ROOT/target/wamr/iwasm"
OUT="$ROOT/target/demo"
mkdir -p "$OUT"

step "what protects a program on this machine"
"$JG" check

status=0
for w in "${WORKLOADS[@]}"; do
    line=$(awk -F'\t' -v n="$w" '$1 == n' workloads/manifest.tsv)
    [ -n "$line" ] || { echo "unknown workload $w" >&2; exit 2; }
    field() { local v; v=$(printf '%s' "$line" | cut -f"$1"); [ "$v" = - ] && v=; printf '%s' "$v"; }
    args=$(field 3)
    opts=$(field 7)
    module="$ROOT/target/workloads/$w.wasm"
    step "$w: $(printf '%s' "$line" | cut -f5)"
    # shellcheck disable=SC2086 # options and args are word lists
    { t0=$(date +%s.%N); "$IWASM" --fast-jit $opts "$module" $args >"$OUT/$w.stock.out" 2>&1; t1=$(date +%s.%N); } || true
    # shellcheck disable=SC2086
    { "$JG" run --stats "$OUT/$w.stats.json" -- "$IWASM" --fast-jit $opts "$module" $args >"$OUT/$w.guarded.out" 2>&1; t2=$(date +%s.%N); } || true
    if cmp -s "$OUT/$w.stock.out" "$OUT/$w.guarded.out"; then
        echo "output: identical with and without jitguard ($(wc -l <"$OUT/$w.stock.out") lines; last: $(tail -n1 "$OUT/$w.stock.out"))"
    else
        echo "output: DIFFERS (see $OUT/$w.stock.out and $OUT/$w.guarded.out)"
        status=1
    fi
    awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN { printf "time: stock %.3f s, guarded %.3f s (%.2fx)\n", b - a, c - b, (c - b) / (b - a) }'
    "$JG" report "$OUT/$w.stats.json" | tail -n +2
done

step "done"
echo "stats files and outputs: $OUT"
echo "side-by-side benchmark of every workload: target/release/jitguard bench (see BENCHMARKS.md)"
exit $status
