#!/usr/bin/env python3
"""Turn learned writer profiles into the symbol lines of a built-in profile.

    scripts/profile-symbols.py [--module NAME] [--prefix P]... LEARNED...

Reads the `site ... # SYMBOL+0xOFF [via LIB]` lines that `jitguard learn`
writes, keeps those of module NAME (default: every module), and prints one
`symbol NAME` line per function that wrote (sorted), except functions whose
name starts with a --prefix, which are covered by one `prefix P` line each.
Sites without a symbol (stripped modules) are printed as `function` lines.
This is how profiles/node-v8.profile and profiles/hotspot.profile were
made; the detect lines and comments are written by hand.
"""
import re
import sys


def main(argv):
    module, prefixes, files = None, [], []
    it = iter(argv)
    for a in it:
        if a == "--module":
            module = next(it)
        elif a == "--prefix":
            prefixes.append(next(it))
        elif a in ("-h", "--help"):
            print(__doc__)
            return 0
        else:
            files.append(a)
    if not files:
        print(__doc__, file=sys.stderr)
        return 2
    symbols, functions = set(), set()
    site = re.compile(r"^site\s+(\S+)\+(0x[0-9a-f]+)\s*(?:#\s*(\S+?)(?:\+0x[0-9a-f]+)?(?:\s|$))?")
    for f in files:
        for line in open(f):
            m = site.match(line)
            if not m or (module and m.group(1) != module):
                continue
            name = m.group(3)
            if name is None or name == "via":
                functions.add(f"{m.group(1)}+{m.group(2)}")
            elif not any(name.startswith(p) for p in prefixes):
                symbols.add(name)
    for p in sorted(prefixes):
        print(f"prefix {p}")
    for s in sorted(symbols):
        print(f"symbol {s}")
    for f in sorted(functions):
        print(f"function {f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
