#!/usr/bin/env python3
"""V8's own protection-key scheme beside jitguard's, on the same wasm.

    scripts/bench-v8.py [--reps N] [--workloads a,b] [--out DIR]

Runs wasm32-wasi workloads (target/workloads/NAME.wasm) in node 20 under:
  v8-key          node's default: V8 keys its wasm code with one protection
                  key of its own (where the CPU has PKU; else it is off)
  v8-off          --no-wasm-memory-protection-keys: wasm code plain RWX
  jitguard-hashed v8-off under libjitguard.so, pkey backend, hashed policy
  jitguard-single v8-off under libjitguard.so, pkey backend, one key
(without PKU the two jitguard configurations use the mprotect backend and
are named so). Runs are interleaved, as in `jitguard bench`. Reports the
median wall time, the ratio to v8-off, and the exposure: pages the writing
thread can write while one write is open. For V8's scheme that is every
page under V8's key (counted from /proc/self/smaps at the end of the run);
for jitguard it is the stats file's exposed_pages_sum / opens.
Writes DIR/v8-table.md and DIR/v8-results.csv (default DIR: target/bench).
"""
import json, os, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def has_pku():
    try:
        flags = open("/proc/cpuinfo").read().split()
    except OSError:
        return False
    return "pku" in flags and "ospke" in flags


def configs(pku):
    lib = os.path.join(ROOT, "target/release/libjitguard.so")
    backend = "pkey" if pku else "mprotect"
    suffix = "" if pku else "-mprotect"
    return [
        ("v8-key", [], {}),
        ("v8-off", ["--no-wasm-memory-protection-keys"], {}),
        (f"jitguard-hashed{suffix}", ["--no-wasm-memory-protection-keys"],
         {"LD_PRELOAD": lib, "JITGUARD_BACKEND": backend, "JITGUARD_POLICY": "hashed"}),
        (f"jitguard-single{suffix}", ["--no-wasm-memory-protection-keys"],
         {"LD_PRELOAD": lib, "JITGUARD_BACKEND": backend, "JITGUARD_POLICY": "single"}),
    ]


def run_once(name, flags, extra, module, stats):
    env = {k: v for k, v in os.environ.items() if not k.startswith("JITGUARD_") and k != "LD_PRELOAD"}
    env.update(extra)
    if "LD_PRELOAD" in extra:
        env["JITGUARD_STATS"] = stats
        try:
            os.unlink(stats)
        except OSError:
            pass
    script = os.path.join(ROOT, "workloads/runtimes/node/wasi_keyed.mjs")
    t = time.monotonic()
    p = subprocess.run(["node", *flags, script, module], env=env, capture_output=True, text=True)
    secs = time.monotonic() - t
    if p.returncode != 0:
        sys.exit(f"bench-v8: {os.path.basename(module)} under {name} exited {p.returncode}: {p.stderr[-300:]}")
    keyed = 0
    for line in p.stderr.splitlines():
        if line.startswith("keyed pages: "):
            keyed = max(keyed, float(line.split()[-1]))
    exposure, faults = None, 0
    if "LD_PRELOAD" in extra:
        s = json.load(open(stats))
        faults = s["write_faults"]
        exposure = s["exposed_pages_sum"] / s["opens"] if s["opens"] else 0.0
    elif name == "v8-key" and keyed:
        exposure = keyed  # V8 opens its one key: every keyed page is writable
    return secs, exposure, faults, p.stdout


def main(argv):
    reps, names, out = 3, ["crc", "gemm", "many_funcs_small", "sqlite_bench"], os.path.join(ROOT, "target/bench")
    it = iter(argv)
    for a in it:
        if a == "--reps":
            reps = int(next(it))
        elif a == "--workloads":
            names = next(it).split(",")
        elif a == "--out":
            out = next(it)
        else:
            print(__doc__)
            return 0 if a in ("-h", "--help") else 2
    os.makedirs(out, exist_ok=True)
    cfgs = configs(has_pku())
    stats = os.path.join(out, "v8-run-stats.json")
    samples = {(w, c[0]): [] for w in names for c in cfgs}
    outputs = {}
    total, done, start = reps * len(names) * len(cfgs), 0, time.monotonic()
    for rep in range(reps):
        for wi, w in enumerate(names):
            module = os.path.join(ROOT, f"target/workloads/{w}.wasm")
            for k in range(len(cfgs)):
                name, flags, extra = cfgs[(k + rep + wi) % len(cfgs)]
                s = run_once(name, flags, extra, module, stats)
                samples[(w, name)].append(s)
                outputs.setdefault(w, s[3])
                if s[3] != outputs[w]:
                    sys.exit(f"bench-v8: {w} under {name} printed different output")
                done += 1
                eta = (time.monotonic() - start) / done * (total - done)
                print(f"[{done:4}/{total}] rep {rep + 1} {w:18} {name:24} {s[0]:7.3f} s (eta {eta:.0f} s)", file=sys.stderr)
    rows = ["| workload | config | median s | × v8-off | write faults (jitguard) | pages writable per open write |",
            "|---|---|---:|---:|---:|---:|"]
    csv = ["workload,config,median_s,ratio,write_faults,exposure_pages"]
    for w in names:
        base = statistics.median(x[0] for x in samples[(w, "v8-off")])
        for name, _, _ in cfgs:
            xs = samples[(w, name)]
            med = statistics.median(x[0] for x in xs)
            exp = [x[1] for x in xs if x[1] is not None]
            faults = int(statistics.median(x[2] for x in xs))
            e = f"{statistics.median(exp):.1f}" if exp else "–"
            rows.append(f"| {w} | {name} | {med:.3f} | {med / base:.2f} | {faults if 'jitguard' in name else '–'} | {e} |")
            csv.append(f"{w},{name},{med:.4f},{med / base:.4f},{faults},{statistics.median(exp) if exp else ''}")
    open(os.path.join(out, "v8-table.md"), "w").write("\n".join(rows) + "\n")
    open(os.path.join(out, "v8-results.csv"), "w").write("\n".join(csv) + "\n")
    print("\n".join(rows))
    print(f"\nwritten: {out}/v8-table.md, v8-results.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
