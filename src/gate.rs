//! The call gate's bookkeeping, pure: the destination ranges one gated
//! system call opens, kept in a fixed array (no allocation: the gate runs
//! where libc's `read` may, in a signal handler) in the gate's own copy, so
//! the reseal closes exactly what was opened even if the program's iovec
//! array changes under the call. Past `MAX_RANGES` ranges, the bounding
//! range of them all stands for them (the hooks then open only its
//! guarded pieces).

pub const MAX_RANGES: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DestRanges {
    ranges: [(u64, u64); MAX_RANGES],
    n: usize,
    lo: u64,
    hi: u64,
    overflow: bool,
}

impl Default for DestRanges {
    fn default() -> Self {
        Self::new()
    }
}

impl DestRanges {
    pub const fn new() -> DestRanges {
        DestRanges {
            ranges: [(0, 0); MAX_RANGES],
            n: 0,
            lo: u64::MAX,
            hi: 0,
            overflow: false,
        }
    }

    /// Records `[lo, hi)` (non-empty).
    pub fn add(&mut self, lo: u64, hi: u64) {
        if lo >= hi {
            return;
        }
        self.lo = self.lo.min(lo);
        self.hi = self.hi.max(hi);
        if self.n < MAX_RANGES {
            self.ranges[self.n] = (lo, hi);
            self.n += 1;
        } else {
            self.overflow = true;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The first range's start (the address a report names).
    pub fn first_addr(&self) -> Option<u64> {
        (self.n > 0).then_some(self.ranges[0].0)
    }

    /// Each range to open and seal: the ranges, or their bounding range.
    pub fn each(&self, mut f: impl FnMut(u64, u64)) {
        if self.overflow {
            f(self.lo, self.hi);
        } else {
            for &(a, b) in &self.ranges[..self.n] {
                f(a, b);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(d: &DestRanges) -> Vec<(u64, u64)> {
        let mut v = vec![];
        d.each(|a, b| v.push((a, b)));
        v
    }

    #[test]
    fn ranges_are_kept_as_given() {
        let mut d = DestRanges::new();
        assert!(d.is_empty());
        assert_eq!(d.first_addr(), None);
        d.add(0x5000, 0x5010);
        d.add(0x1000, 0x1004);
        d.add(0x9000, 0x9000);
        assert_eq!(all(&d), vec![(0x5000, 0x5010), (0x1000, 0x1004)]);
        assert_eq!(d.first_addr(), Some(0x5000));
    }

    #[test]
    fn past_the_array_the_bounding_range_stands_for_all() {
        let mut d = DestRanges::new();
        for i in 0..(MAX_RANGES as u64 + 3) {
            d.add(0x10_000 + i * 0x2000, 0x10_010 + i * 0x2000);
        }
        d.add(0x8000, 0x8001);
        assert_eq!(
            all(&d),
            vec![(0x8000, 0x10_010 + (MAX_RANGES as u64 + 2) * 0x2000)]
        );
    }
}
