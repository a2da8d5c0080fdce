//! `jitguard bench --help`.

pub const BENCH_HELP: &str = "\
jitguard bench: stock vs under jitguard, side by side (WAMR workloads,
process start-up, system calls per write fault)

USAGE:
    jitguard bench [--reps N] [--kinds K,K] [--workloads W,W] [--out DIR]
                   [--iwasm PATH] [--manifest PATH] [--lib PATH]
                   [--windows call,insn] [--configs C,C] [--startup]
                   [--syscalls] [--seccomp off,trap] [--detectors]
                   [--before PATH] [--predict N,N]

Runs each workload of the manifest (default: workloads/manifest.tsv, kinds
kernel,big,compile), and the native `memcpy_bench` (kind micro: libc memcpy
on ordinary memory, to show the library costs nothing outside JIT code),
under: stock; jitguard pkey backend with the hashed
policy (the paper's scheme); pkey with one key (V8's scheme); and the
mprotect backend (the page-table method), --reps times (default 5).
Configurations this CPU cannot run are listed as skipped. Runs are interleaved so that drift in the
machine affects every configuration alike. Reports, per workload and
configuration: median wall time and spread, ratio to stock, write faults,
windows opened, time in jitguard's handlers and the exposure (pages the
faulting thread could write per open window).

--windows call,insn runs every jitguard configuration once per window
length (`NAME` with call windows, `NAME-insn` with one-instruction
windows); the default is call only.

--seccomp S,S runs every jitguard configuration once per JITGUARD_SECCOMP
setting (`NAME` with the first, `NAME-S` with the others), e.g. off,trap
for the seccomp filter's cost beside jitguard without it.

--detectors adds, beside every guarded configuration NAME (the defaults),
NAME-bare (JITGUARD_ATTEST=off, JITGUARD_GADGETS=off) and one variant per
detector alone: NAME-attest (attestation on open and at exit), NAME-sweep100
(also a sweep every 100 ms) and NAME-gadgets (the gadget scan), so each
detector's cost reads as a ratio beside NAME-bare.

--configs C,C keeps only these guarded configurations (stock always runs).

--before PATH adds, beside every guarded configuration NAME, NAME-before:
the same settings with the library at PATH (an earlier build), so a
change and its baseline are measured in one run beside the same stock runs.

--predict N,N adds, beside every hashed configuration NAME (pkey),
NAME-predictN with JITGUARD_PREDICT=N (key prediction over the writer
site's last N windows; 1, 2, 4 or 8): fewer write faults per window, and
the exposure it adds, in one run.

Writes DIR/results.csv, results.json, table.md and chart.svg (default DIR:
target/bench).

START-UP (kind `startup`; --startup is short for --kinds startup):
    /bin/true, `python3 -c pass`, `gcc -c` of a small C file, `node -e 0`,
    `java -version` and `erl -noshell -eval halt().` (names true, python3,
    gcc, node, java, erl for --workloads; a program not in PATH is skipped
    with a note), each run
    stock and under the library with its defaults in adjacent pairs (stock,
    guarded, stock, guarded, ...; one unrecorded warm-up pair first),
    --reps pairs (default 30), and beside them `empty-preload`: an empty
    shared library (built with cc) preloaded instead, the floor any
    LD_PRELOAD tool pays. With --configs (names as above, and
    `defaults`), each named configuration instead, one pass of pairs each.
    Reports per program the median stock and
    guarded wall time, their ratio, the interquartile range and min-max of
    the per-pair ratios and the extra milliseconds. Writes DIR/startup.csv,
    startup.json, startup.md and startup.svg.

SYSTEM CALLS (--syscalls, instead of timing):
    Runs each selected workload (WAMR workloads and start-up programs) once
    stock and once per guarded configuration under `strace -f -c`, and
    reports per write fault the calls of mprotect, pkey_mprotect, getpid,
    gettid, process_vm_readv, rt_sigprocmask and rt_sigreturn, and of all
    system calls, each less the stock run's; with write faults, windows
    opened, call windows and faults per window from jitguard's stats
    (summed over the processes of a run). Needs strace. Writes
    DIR/syscalls.csv, syscalls.json, syscalls.md and the raw summaries in
    DIR/strace/.
";
