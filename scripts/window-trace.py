#!/usr/bin/env python3
"""What a program's write faults are: windows, writers, pages.

Reads the stderr of a run with JITGUARD_LOG=trace and says, per call
window (one trusted writer call): how many pages it faulted on, which call
site it belongs to (where the writer returns), which instruction opened it
and which joined it, and which pages come back window after window. That
is the measurement behind BENCHMARKS.md, "Faults per window".

    JITGUARD_LOG=trace LD_PRELOAD=target/release/libjitguard.so \\
        target/wamr/iwasm --fast-jit target/workloads/gemm.wasm 2> trace.txt
    scripts/window-trace.py trace.txt [--top N]
"""

import argparse
import collections
import re
import signal
import sys

OPEN = re.compile(
    r"call window: page (0x[0-9a-f]+) \(key (\d+), (\d+) ahead, ip (.*?)\), "
    r"ends at return to (.*) \(slot 0x[0-9a-f]+\)(?: thread (\d+))?$"
)
JOIN = re.compile(
    r"call window: joins page (0x[0-9a-f]+) \(key (\d+), \d+ pages, ip (.*)\)(?: thread (\d+))?$"
)
END = re.compile(r"call window ends.*?(?: thread (\d+))?$")


def symbol(place):
    """`sym+0x12 (mod+0x34)` -> `sym`; a bare module place stays whole."""
    m = re.match(r"([^ (]+?)\+0x[0-9a-f]+ \(", place)
    return m.group(1) if m else place


def parse(lines):
    """Windows in the order they opened; each thread's faults go to its own
    open window (older traces without thread ids count as one thread)."""
    windows, open_by_thread = [], {}
    for line in lines:
        m = OPEN.search(line)
        if m:
            w = {
                "pages": [int(m.group(1), 16)],
                "keys": [int(m.group(2))],
                "ahead": int(m.group(3)),
                "opener": symbol(m.group(4)),
                "site": symbol(m.group(5)),
                "joiners": [],
            }
            windows.append(w)
            open_by_thread[m.group(6)] = w
            continue
        m = JOIN.search(line)
        if m:
            w = open_by_thread.get(m.group(4))
            if w is not None:
                w["pages"].append(int(m.group(1), 16))
                w["keys"].append(int(m.group(2)))
                w["joiners"].append(symbol(m.group(3)))
            continue
        m = END.search(line)
        if m:
            open_by_thread.pop(m.group(1), None)
    return windows


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `| head` is not an error
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("trace", help="stderr of a JITGUARD_LOG=trace run (- for stdin)")
    ap.add_argument("--top", type=int, default=8, help="rows per table (default 8)")
    a = ap.parse_args()
    try:
        src = sys.stdin if a.trace == "-" else open(a.trace, errors="replace")
    except OSError as e:
        sys.exit(f"window-trace: {a.trace}: {e.strerror}")
    windows = parse(src)
    if not windows:
        sys.exit("window-trace: no call window in the trace (was JITGUARD_LOG=trace set?)")
    n = len(windows)
    faults = sum(len(w["pages"]) for w in windows)
    print(f"{n} call windows, {faults} write faults: {faults / n:.2f} per window")
    if any(w["ahead"] for w in windows):
        print(f"keys opened ahead (JITGUARD_PREDICT): {sum(w['ahead'] for w in windows) / n:.2f} per window")
    hist = collections.Counter(len(w["pages"]) for w in windows)
    print("faults per window: " + ", ".join(f"{k}: {hist[k]}" for k in sorted(hist)))

    print(f"\nwriter call sites (where the writer returns), top {a.top}:")
    sites = collections.defaultdict(list)
    for w in windows:
        sites[w["site"]].append(len(w["pages"]))
    for site, fs in sorted(sites.items(), key=lambda kv: -len(kv[1]))[: a.top]:
        print(f"  {len(fs):6} windows  {sum(fs) / len(fs):5.2f} faults each  {site}")

    for title, names in (
        ("first fault of a window", [w["opener"] for w in windows]),
        ("later faults (joins)", [j for w in windows for j in w["joiners"]]),
    ):
        print(f"\n{title}, by instruction's function, top {a.top}:")
        for name, c in collections.Counter(names).most_common(a.top):
            print(f"  {c:6}  {name}")

    base = min(p for w in windows for p in w["pages"])
    pages = collections.Counter(p for w in windows for p in set(w["pages"]))
    print(f"\npages faulted in the most windows (page index from {base:#x}), top {a.top}:")
    for p, c in pages.most_common(a.top):
        print(f"  {c:6} windows ({100 * c / n:4.1f}%)  page {(p - base) // 4096}")
    repeat = sum(
        1 for prev, w in zip(windows, windows[1:]) if set(w["pages"][1:]) & set(prev["pages"])
    )
    print(f"\nwindows that fault again on a page the previous window opened: {repeat} of {n - 1}")


if __name__ == "__main__":
    main()
