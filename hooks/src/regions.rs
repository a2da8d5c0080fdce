//! The guarded regions: the map, edited under a lock by the interposed
//! mapping calls (never in a signal handler), and its immutable snapshot,
//! which handlers and fast paths read without locks.

use crate::counters::GUARDED_PAGES;
use crate::published::{Published, Readers};
use crate::vault::{self, OwnState, VaultCell};
use core::sync::atomic::AtomicU64;
use core::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use jg::regions::{Region, RegionMap};
use libc::c_int;
use parking_lot::Mutex;

/// The lock of the bookkeeping: in ordinary memory (taking it writes it),
/// the map itself in the vault.
static LOCK: Mutex<()> = Mutex::new(());

/// The bookkeeping, edited only under `LOCK`, inside a vault update, and
/// never in a handler.
#[link_section = "jitguard_vault"]
static MAP: OwnState<VaultCell<RegionMap>> = OwnState(VaultCell::new(RegionMap::new()));

/// An immutable copy of the region list (sorted, disjoint).
pub struct Snapshot {
    regions: Box<[Region]>,
}

static SNAPSHOT_READERS: Readers = Readers::new();
#[link_section = "jitguard_vault"]
static SNAPSHOT: OwnState<Published<Snapshot>> = OwnState(Published::new(&SNAPSHOT_READERS));

impl Snapshot {
    fn index(&self, addr: u64) -> usize {
        self.regions.partition_point(|r| r.end <= addr)
    }

    pub fn find(&self, addr: u64) -> Option<Region> {
        self.regions
            .get(self.index(addr))
            .filter(|r| r.contains(addr))
            .copied()
    }

    pub fn overlaps(&self, start: u64, end: u64) -> bool {
        self.regions
            .get(self.index(start))
            .is_some_and(|r| r.start < end)
    }

    /// The guarded pieces of `[start, end)`, each with its region's
    /// protection.
    pub fn pieces(&self, start: u64, end: u64) -> impl Iterator<Item = (u64, u64, c_int)> + '_ {
        self.regions[self.index(start)..]
            .iter()
            .take_while(move |r| r.start < end)
            .map(move |r| (r.start.max(start), r.end.min(end), r.prot))
    }

    /// The guarded bytes contiguous with `addr`'s region: neighbours that
    /// touch are merged, so a REP write may run across them.
    pub fn extent(&self, addr: u64) -> Option<(u64, u64)> {
        let i = self.index(addr);
        let r = self.regions.get(i).filter(|r| r.contains(addr))?;
        let (mut lo, mut hi) = (r.start, r.end);
        let mut j = i;
        while j > 0 && self.regions[j - 1].end == lo {
            j -= 1;
            lo = self.regions[j].start;
        }
        let mut k = i;
        while k + 1 < self.regions.len() && self.regions[k + 1].start == hi {
            k += 1;
            hi = self.regions[k].end;
        }
        Some((lo, hi))
    }
}

/// Runs `f` on the current snapshot (None before the first region).
/// Lock-free and allocation-free: safe in a signal handler.
pub fn with_snapshot<R>(f: impl FnOnce(Option<&Snapshot>) -> R) -> R {
    let guard = SNAPSHOT.read();
    f(guard.as_deref())
}

/// The program's protection of the guarded region holding `addr`, if any.
pub fn guarded_prot(addr: u64) -> Option<c_int> {
    with_snapshot(|s| s.and_then(|s| s.find(addr)).map(|r| r.prot))
}

/// Where the call that created the guarded region holding `addr` returns
/// to, if known (see `jg::regions::Region::creator`). Lock-free.
pub fn creator_of(addr: u64) -> Option<u64> {
    with_snapshot(|s| s.and_then(|s| s.find(addr)).map(|r| r.creator)).filter(|&c| c != 0)
}

/// Whether any guarded region overlaps `[start, end)` (lock-free).
pub fn overlaps(start: u64, end: u64) -> bool {
    with_snapshot(|s| s.is_some_and(|s| s.overlaps(start, end)))
}

/// Runs `f` on the region map under the lock and publishes the result.
pub fn edit<R>(f: impl FnOnce(&mut RegionMap) -> R) -> R {
    let _lock = LOCK.lock();
    vault::update(|| {
        // SAFETY: under LOCK and inside an update.
        let map = unsafe { MAP.get_mut() };
        let r = f(map);
        publish(map);
        r
    })
}

/// Runs `f` on the region map under the lock, without changing it.
pub fn read<R>(f: impl FnOnce(&RegionMap) -> R) -> R {
    let _lock = LOCK.lock();
    f(MAP.get())
}

/// The lowest guarded address and the end of the highest region (both 0
/// when none): the system call hooks' first test of a buffer (two loads,
/// no shared cache line written), before the snapshot.
#[link_section = "jitguard_vault"]
static BOUNDS: OwnState<[AtomicU64; 2]> = OwnState([AtomicU64::new(0), AtomicU64::new(0)]);

/// Whether `[start, end)` may overlap a guarded region (false: surely not).
pub fn may_overlap(start: u64, end: u64) -> bool {
    start < BOUNDS[1].load(Acquire) && end > BOUNDS[0].load(Acquire)
}

fn publish(map: &RegionMap) {
    GUARDED_PAGES.store(map.bytes() / jg::PAGE_SIZE, Relaxed);
    let lo = map.iter().next().map_or(0, |r| r.start);
    let hi = map.iter().last().map_or(0, |r| r.end);
    BOUNDS[0].store(lo, Release);
    BOUNDS[1].store(hi, Release);
    SNAPSHOT.publish(Snapshot {
        regions: map.iter().copied().collect(),
    });
}

/// After fork: the lock and the snapshot's reader counts as the child's
/// one thread needs them.
///
/// # Safety
/// Only in the fork child, whose parent thread took the lock in
/// `lock_for_fork`.
pub unsafe fn unlock_after_fork(child: bool) {
    if child {
        SNAPSHOT.reset_readers_in_child();
    }
    // SAFETY: the caller's contract: this thread took the lock before fork
    // and forgot its guard.
    unsafe { LOCK.force_unlock() };
}

/// Holds the lock across fork so the child never inherits it locked by a
/// thread that does not exist there.
pub fn lock_for_fork() {
    core::mem::forget(LOCK.lock());
}

pub fn page_span(addr: u64, len: u64) -> (u64, u64) {
    (
        jg::page_floor(addr),
        jg::page_ceil(addr.saturating_add(len)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(list: &[(u64, u64)]) -> Snapshot {
        Snapshot {
            regions: list
                .iter()
                .map(|&(start, end)| Region {
                    start,
                    end,
                    prot: 7,
                    creator: 0,
                })
                .collect(),
        }
    }

    #[test]
    fn find_and_overlap() {
        let s = snap(&[(0x1000, 0x3000), (0x5000, 0x6000)]);
        assert!(s.find(0x2fff).is_some());
        assert!(s.find(0x3000).is_none());
        assert!(s.overlaps(0x2000, 0x2001));
        assert!(!s.overlaps(0x3000, 0x5000));
        assert!(s.overlaps(0x3000, 0x5001));
    }

    #[test]
    fn pieces_are_clipped_to_the_range() {
        let s = snap(&[(0x1000, 0x3000), (0x5000, 0x6000), (0x8000, 0x9000)]);
        let p: Vec<_> = s.pieces(0x2000, 0x5800).collect();
        assert_eq!(p, vec![(0x2000, 0x3000, 7), (0x5000, 0x5800, 7)]);
    }

    #[test]
    fn extent_merges_touching_regions() {
        let s = snap(&[(0x1000, 0x2000), (0x2000, 0x3000), (0x4000, 0x5000)]);
        assert_eq!(s.extent(0x2800), Some((0x1000, 0x3000)));
        assert_eq!(s.extent(0x4000), Some((0x4000, 0x5000)));
        assert_eq!(s.extent(0x3800), None);
    }
}
