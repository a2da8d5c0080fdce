//! Region bookkeeping: which address ranges jitguard guards.
//!
//! A guarded region is a page-aligned range the program made writable and
//! executable. Regions split when part of one is unmapped or loses write or
//! exec, shrink and grow and move with `mremap`, and vanish with `munmap`.
//! The map never holds overlapping regions: inserting over an existing one
//! replaces the overlap (that is what `MAP_FIXED` does to mappings).

use std::collections::BTreeMap;

/// One guarded range `[start, end)` and the protection the program asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub start: u64,
    pub end: u64,
    pub prot: i32,
    /// Where in the program the call that created the region returns to
    /// (the first frame outside jitguard and the shared routine libraries;
    /// 0 when unknown): the module there chooses the profile that judges
    /// writes to the region. It moves and splits with the region.
    pub creator: u64,
}

impl Region {
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    pub fn contains(&self, addr: u64) -> bool {
        self.start <= addr && addr < self.end
    }
}

/// The set of guarded regions, keyed by start address.
#[derive(Clone, Debug, Default)]
pub struct RegionMap {
    by_start: BTreeMap<u64, Region>,
}

impl RegionMap {
    pub const fn new() -> Self {
        RegionMap {
            by_start: BTreeMap::new(),
        }
    }

    /// Number of separate regions.
    pub fn len(&self) -> usize {
        self.by_start.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_start.is_empty()
    }

    /// Total guarded bytes.
    pub fn bytes(&self) -> u64 {
        self.by_start.values().map(Region::len).sum()
    }

    /// All regions in address order.
    pub fn iter(&self) -> impl Iterator<Item = &Region> {
        self.by_start.values()
    }

    /// The region holding `addr`, if any.
    pub fn find(&self, addr: u64) -> Option<Region> {
        let (_, r) = self.by_start.range(..=addr).next_back()?;
        r.contains(addr).then_some(*r)
    }

    /// The parts of regions inside `[start, end)`, clipped to it.
    pub fn overlapping(&self, start: u64, end: u64) -> Vec<Region> {
        let mut out = Vec::new();
        if start >= end {
            return out;
        }
        // The region starting before `start` may reach into the range.
        if let Some((_, r)) = self.by_start.range(..start).next_back() {
            if r.end > start {
                out.push(Region {
                    start,
                    end: r.end.min(end),
                    ..*r
                });
            }
        }
        for (_, r) in self.by_start.range(start..end) {
            out.push(Region {
                end: r.end.min(end),
                ..*r
            });
        }
        out
    }

    /// The parts of `[start, end)` no region covers.
    pub fn uncovered(&self, start: u64, end: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut at = start;
        for r in self.overlapping(start, end) {
            if r.start > at {
                out.push((at, r.start));
            }
            at = r.end;
        }
        if at < end {
            out.push((at, end));
        }
        out
    }

    /// Removes `[start, end)` from the map, splitting regions at its edges.
    /// Returns the removed pieces.
    pub fn remove(&mut self, start: u64, end: u64) -> Vec<Region> {
        let removed = self.overlapping(start, end);
        if removed.is_empty() {
            return removed;
        }
        // Re-insert the parts of the edge regions that lie outside the range.
        if let Some((&s, r)) = self.by_start.range(..start).next_back() {
            let r = *r;
            if r.end > start {
                self.by_start.insert(s, Region { end: start, ..r });
                if r.end > end {
                    self.by_start.insert(end, Region { start: end, ..r });
                }
            }
        }
        let inside: Vec<u64> = self.by_start.range(start..end).map(|(&s, _)| s).collect();
        for s in inside {
            let r = self.by_start.remove(&s).expect("key just listed");
            if r.end > end {
                self.by_start.insert(end, Region { start: end, ..r });
            }
        }
        removed
    }

    /// Guards `[start, end)` with `prot`, replacing whatever it overlapped.
    pub fn insert(&mut self, start: u64, end: u64, prot: i32) {
        if start >= end {
            return;
        }
        self.remove(start, end);
        self.by_start.insert(
            start,
            Region {
                start,
                end,
                prot,
                creator: 0,
            },
        );
    }

    /// Records `creator` (see `Region::creator`) for the regions inside
    /// `[start, end)` (the range just guarded).
    pub fn set_creator(&mut self, start: u64, end: u64, creator: u64) {
        for (_, r) in self.by_start.range_mut(start..end) {
            if r.end <= end {
                r.creator = creator;
            }
        }
    }

    /// Applies an `mremap` of `[old, old+old_len)` to `[new, new+new_len)`:
    /// guarded parts move with their offset, a shrink drops the tail, a
    /// grow extends a region that reached the old end, and anything the new
    /// range covered before is replaced. Returns the guarded parts at their
    /// new place (the caller re-keys them: hashed keys depend on the address).
    pub fn remap(&mut self, old: u64, old_len: u64, new: u64, new_len: u64) -> Vec<Region> {
        let old_end = old + old_len;
        let pieces = self.remove(old, old_end);
        self.remove(new, new + new_len);
        let mut moved = Vec::new();
        for p in &pieces {
            let off = p.start - old;
            if off >= new_len {
                continue;
            }
            let end_off = (p.end - old).min(new_len);
            let mut r = Region {
                start: new + off,
                end: new + end_off,
                ..*p
            };
            if p.end == old_end && new_len > old_len {
                r.end = new + new_len;
            }
            moved.push(r);
        }
        for r in &moved {
            self.by_start.insert(r.start, *r);
        }
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    const P: u64 = 4096;

    /// The obvious model: one entry per guarded page.
    #[derive(Default)]
    struct Model(BTreeMap<u64, i32>);

    impl Model {
        fn insert(&mut self, s: u64, e: u64, prot: i32) {
            for p in (s..e).step_by(P as usize) {
                self.0.insert(p, prot);
            }
        }
        fn remove(&mut self, s: u64, e: u64) {
            for p in (s..e).step_by(P as usize) {
                self.0.remove(&p);
            }
        }
        fn remap(&mut self, old: u64, old_len: u64, new: u64, new_len: u64) {
            let mut moved = Vec::new();
            let last = self.0.get(&(old + old_len - P)).copied();
            for p in (old..old + old_len).step_by(P as usize) {
                if let Some(prot) = self.0.remove(&p) {
                    if p - old < new_len {
                        moved.push((new + p - old, prot));
                    }
                }
            }
            self.remove(new, new + new_len);
            for (p, prot) in moved {
                self.0.insert(p, prot);
            }
            if let (Some(prot), true) = (last, new_len > old_len) {
                self.insert(new + old_len, new + new_len, prot);
            }
        }
    }

    fn pages_of(map: &RegionMap) -> BTreeMap<u64, i32> {
        let mut out = BTreeMap::new();
        for r in map.iter() {
            assert!(r.start < r.end && r.start % P == 0 && r.end % P == 0);
            for p in (r.start..r.end).step_by(P as usize) {
                out.insert(p, r.prot);
            }
        }
        out
    }

    #[test]
    fn matches_a_page_model_under_random_operations() {
        for seed in 0..200u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut map = RegionMap::new();
            let mut model = Model::default();
            for step in 0..60 {
                let s = rng.gen_range(0..64u64) * P;
                let len = rng.gen_range(1..16u64) * P;
                let op = rng.gen_range(0..4);
                match op {
                    0 | 1 => {
                        let prot = rng.gen_range(5..8);
                        map.insert(s, s + len, prot);
                        model.insert(s, s + len, prot);
                    }
                    2 => {
                        let removed = map.remove(s, s + len);
                        let expect: usize = (s..s + len)
                            .step_by(P as usize)
                            .filter(|p| model.0.contains_key(p))
                            .count();
                        let got: u64 = removed.iter().map(|r| r.len() / P).sum();
                        assert_eq!(got as usize, expect, "seed {seed} step {step}");
                        model.remove(s, s + len);
                    }
                    _ => {
                        let new = rng.gen_range(0..64u64) * P;
                        let new_len = rng.gen_range(1..16u64) * P;
                        // mremap's ranges never overlap.
                        if new < s + len && s < new + new_len {
                            continue;
                        }
                        map.remap(s, len, new, new_len);
                        model.remap(s, len, new, new_len);
                    }
                }
                assert_eq!(pages_of(&map), model.0, "seed {seed} step {step} op {op}");
                for probe in 0..80u64 {
                    let a = probe * P + 17;
                    assert_eq!(
                        map.find(a).map(|r| r.prot),
                        model.0.get(&(probe * P)).copied(),
                        "find {a:#x} seed {seed} step {step}"
                    );
                }
            }
        }
    }

    #[test]
    fn uncovered_and_overlapping_partition_the_range() {
        let mut map = RegionMap::new();
        map.insert(2 * P, 4 * P, 7);
        map.insert(6 * P, 9 * P, 7);
        let over = map.overlapping(3 * P, 7 * P);
        assert_eq!(
            over.iter().map(|r| (r.start, r.end)).collect::<Vec<_>>(),
            vec![(3 * P, 4 * P), (6 * P, 7 * P)]
        );
        assert_eq!(map.uncovered(3 * P, 7 * P), vec![(4 * P, 6 * P)]);
        assert_eq!(map.uncovered(0, P), vec![(0, P)]);
        assert!(map.uncovered(6 * P, 9 * P).is_empty());
    }

    #[test]
    fn remove_splits_a_region_in_two() {
        let mut map = RegionMap::new();
        map.insert(0, 10 * P, 7);
        map.remove(3 * P, 5 * P);
        assert_eq!(map.len(), 2);
        assert_eq!(map.bytes(), 8 * P);
        assert!(map.find(4 * P).is_none());
        assert_eq!(map.find(5 * P).unwrap().start, 5 * P);
    }

    #[test]
    fn the_creator_splits_and_moves_with_its_region() {
        let mut map = RegionMap::new();
        map.insert(0, 10 * P, 7);
        map.insert(20 * P, 22 * P, 7);
        map.set_creator(0, 10 * P, 0x4000_1234);
        assert_eq!(map.find(20 * P).unwrap().creator, 0, "another region");
        map.remove(3 * P, 5 * P);
        assert_eq!(map.find(P).unwrap().creator, 0x4000_1234);
        assert_eq!(map.find(6 * P).unwrap().creator, 0x4000_1234);
        map.remap(5 * P, 5 * P, 100 * P, 8 * P);
        assert_eq!(map.find(107 * P).unwrap().creator, 0x4000_1234);
        assert_eq!(map.overlapping(0, P)[0].creator, 0x4000_1234);
        map.insert(0, 2 * P, 7);
        assert_eq!(map.find(0).unwrap().creator, 0, "guarded again: unknown");
    }

    #[test]
    fn remap_grow_extends_and_moves() {
        let mut map = RegionMap::new();
        map.insert(0, 4 * P, 7);
        let moved = map.remap(0, 4 * P, 100 * P, 8 * P);
        assert_eq!(moved.len(), 1);
        assert_eq!((moved[0].start, moved[0].end), (100 * P, 108 * P));
        assert!(map.find(0).is_none());
        assert_eq!(map.bytes(), 8 * P);
    }
}
