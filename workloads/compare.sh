#!/usr/bin/env bash
# Run the built workloads under several engines and compare their outputs.
#
#   workloads/compare.sh [--no-node] [--no-interp] [--iwasm PATH]
#                        [--timeout SECONDS] [--wrap CMD] [NAME...]
#
# Engines: node's WASI (workloads/run-node.mjs), then the project's iwasm
# front end (default target/wamr/iwasm, or $IWASM) with --fast-jit and,
# where the manifest's interp_ok is "yes", --interp. For each workload it
# prints wall time per engine and whether everything agrees with the
# manifest: exit code, expected stderr text, and an identical full stdout
# across engines (every workload prints only deterministic text, ending
# with "checksum: ..."). --wrap CMD prefixes the iwasm runs (for example
# --wrap "env LD_PRELOAD=$PWD/target/release/libjitguard.so").
# Build first with scripts/build-workloads.sh. Exit status 1 if anything
# disagrees.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/target/workloads"
MANIFEST="$ROOT/workloads/manifest.tsv"
IWASM="${IWASM:-$ROOT/target/wamr/iwasm}"
USE_NODE=1 USE_INTERP=1 TMO=600 WRAP=""
ONLY=()
while [ $# -gt 0 ]; do
    case "$1" in
        --no-node) USE_NODE=0 ;;
        --no-interp) USE_INTERP=0 ;;
        --iwasm) IWASM="$2"; shift ;;
        --timeout) TMO="$2"; shift ;;
        --wrap) WRAP="$2"; shift ;;
        -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "compare.sh: unknown option $1" >&2; exit 2 ;;
        *) ONLY+=("$1") ;;
    esac
    shift
done
[ -x "$IWASM" ] || { echo "compare.sh: no iwasm at $IWASM: comparing node only" >&2; IWASM=""; }

LOG="$OUT/compare"
mkdir -p "$LOG"
wrap=()
[ -n "$WRAP" ] && read -r -a wrap <<<"$WRAP"

# run TAG CMD... : run with timeout; sets RC and MS; output in $LOG/NAME.TAG.*
run() {
    local tag="$1"
    shift
    local start
    start=$(date +%s%N)
    RC=0
    timeout "$TMO" "$@" >"$LOG/$name.$tag.out" 2>"$LOG/$name.$tag.err" </dev/null || RC=$?
    MS=$(( ($(date +%s%N) - start) / 1000000 ))
}

printf '%-18s %-9s %9s %9s %9s  %s\n' name kind node_ms jit_ms interp_ms result
fail=0
while IFS=$'\t' read -r name kind args expected _desc experr opts interp_ok _rest || [ -n "$name" ]; do
    case "$name" in ''|'#'*|name) continue ;; esac
    if [ "${#ONLY[@]}" -gt 0 ]; then
        printf '%s\n' "${ONLY[@]}" | grep -qx -- "$name" || continue
    fi
    wasm="$OUT/$name.wasm"
    if [ ! -f "$wasm" ]; then
        printf '%-18s %-9s %9s %9s %9s  %s\n' "$name" "$kind" - - - "MISSING (run scripts/build-workloads.sh)"
        fail=1
        continue
    fi
    [ "$args" = - ] && args=""
    [ "$experr" = - ] && experr=""
    [ "$opts" = - ] && opts=""
    read -r -a argv <<<"$args"
    read -r -a optv <<<"$opts"
    tags=() problems=()
    check() { # TAG
        local tag="$1"
        if [ "$RC" = 124 ]; then
            problems+=("$tag timed out")
        elif [ "$RC" != "$expected" ]; then
            problems+=("$tag exit $RC")
        elif [ -n "$experr" ] && ! grep -qF -- "$experr" "$LOG/$name.$tag.err"; then
            problems+=("$tag stderr lacks '$experr'")
        fi
        tags+=("$tag")
    }
    node_ms=- jit_ms=- interp_ms=-
    if [ "$USE_NODE" -eq 1 ]; then
        run node node "$ROOT/workloads/run-node.mjs" "$wasm" "${argv[@]+"${argv[@]}"}"
        node_ms=$MS; check node
    fi
    if [ -n "$IWASM" ]; then
        run jit "${wrap[@]+"${wrap[@]}"}" "$IWASM" --fast-jit "${optv[@]+"${optv[@]}"}" "$wasm" "${argv[@]+"${argv[@]}"}"
        jit_ms=$MS; check jit
        if [ "$USE_INTERP" -eq 1 ] && [ "$interp_ok" = yes ]; then
            run interp "${wrap[@]+"${wrap[@]}"}" "$IWASM" --interp "${optv[@]+"${optv[@]}"}" "$wasm" "${argv[@]+"${argv[@]}"}"
            interp_ms=$MS; check interp
        fi
    fi
    # identical stdout across engines
    first="${tags[0]:-}"
    for t in "${tags[@]+"${tags[@]}"}"; do
        cmp -s "$LOG/$name.$first.out" "$LOG/$name.$t.out" || problems+=("$t stdout differs from $first")
    done
    if [ "${#problems[@]}" -eq 0 ]; then
        res="ok $(tail -n1 "$LOG/$name.$first.out" 2>/dev/null)"
    else
        res="FAIL: $(IFS=';'; echo "${problems[*]}")"
        fail=1
    fi
    printf '%-18s %-9s %9s %9s %9s  %s\n' "$name" "$kind" "$node_ms" "$jit_ms" "$interp_ms" "$res"
done <"$MANIFEST"
exit "$fail"
