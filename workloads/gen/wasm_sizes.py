#!/usr/bin/env python3
"""Print the size of each wasm module, its code section and function count.

    wasm_sizes.py MODULE.wasm...

Columns: file bytes, code-section bytes, defined functions, largest
function body in bytes, module name.
"""
import sys


def leb(data: bytes, i: int):
    result = shift = 0
    while True:
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return result, i


def code_stats(path: str):
    data = open(path, "rb").read()
    if data[:4] != b"\0asm":
        raise ValueError(f"{path}: not a wasm module")
    i = 8
    while i < len(data):
        sid = data[i]
        size, i = leb(data, i + 1)
        if sid == 10:
            j = i
            count, j = leb(data, j)
            largest = 0
            for _ in range(count):
                body, j = leb(data, j)
                largest = max(largest, body)
                j += body
            return len(data), size, count, largest
        i += size
    return len(data), 0, 0, 0


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    print(f"{'bytes':>10} {'code':>10} {'funcs':>6} {'largest':>8}  module")
    for p in sys.argv[1:]:
        total, code, funcs, largest = code_stats(p)
        print(f"{total:>10} {code:>10} {funcs:>6} {largest:>8}  {p.rsplit('/', 1)[-1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
