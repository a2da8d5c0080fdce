#!/usr/bin/env python3
"""Writes a deterministic text corpus for the PCRE2 workloads (pcre2grep
and grep -P with patterns.txt): log-like lines with dates, IPv4
addresses, e-mail addresses, URLs, key=value pairs, hex ids, numbers,
repeated words, brackets and some UTF-8 words, from a fixed-seed LCG (no
`random` module, so every Python version writes the same bytes).

    gen_corpus.py [LINES] > corpus.txt      (default 20000 lines)
"""
import sys

SEED = 0x2545F491


class Lcg:
    def __init__(self, seed):
        self.x = seed

    def next(self):
        self.x = (self.x * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        return self.x >> 33

    def pick(self, seq):
        return seq[self.next() % len(seq)]

    def below(self, n):
        return self.next() % n


WORDS = ("alpha beta gamma delta error warning info debug request response "
         "timeout retry cache miss hit user admin guest session token key "
         "value index table query commit rollback the a of to and").split()
UNICODE = ["café", "naïve", "Straße", "Ωmega", "λambda", "日本語", "Zürich", "façade"]
LEVELS = ["INFO", "WARN", "ERROR", "DEBUG", "TRACE"]
TLDS = ["com", "org", "net", "io", "de"]


def word(r):
    if r.below(12) == 0:
        return r.pick(UNICODE)
    return r.pick(WORDS)


def line(r, n):
    parts = [
        "%04d-%02d-%02dT%02d:%02d:%02d" % (2020 + r.below(5), 1 + r.below(12), 1 + r.below(28),
                                         r.below(24), r.below(60), r.below(60)),
        r.pick(LEVELS),
    ]
    for _ in range(2 + r.below(6)):
        k = r.below(10)
        if k == 0:
            parts.append("%d.%d.%d.%d" % tuple(r.below(256) for _ in range(4)))
        elif k == 1:
            parts.append("%s.%s@%s.%s" % (r.pick(WORDS), r.pick(WORDS), r.pick(WORDS), r.pick(TLDS)))
        elif k == 2:
            parts.append("https://%s.%s/%s?%s=%d" % (r.pick(WORDS), r.pick(TLDS), r.pick(WORDS),
                                                    r.pick(WORDS), r.below(1000)))
        elif k == 3:
            parts.append("%s=%s" % (r.pick(WORDS), r.below(100000)))
        elif k == 4:
            parts.append("id:%08x" % r.next())
        elif k == 5:
            w = word(r)
            parts.append("%s %s" % (w, w) if r.below(4) == 0 else w)
        elif k == 6:
            parts.append("[%s(%s)]" % (word(r), word(r)))
        elif k == 7:
            parts.append("%d.%02d" % (r.below(10000), r.below(100)))
        else:
            parts.append(word(r).upper() if r.below(3) == 0 else word(r))
    return " ".join(parts) + " #%d" % n


def main():
    lines = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    r = Lcg(SEED)
    out = sys.stdout.buffer
    for n in range(lines):
        out.write((line(r, n) + "\n").encode("utf-8"))


if __name__ == "__main__":
    main()
