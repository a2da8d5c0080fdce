//! Process-wide state: the configuration and keys fixed at start, the
//! counters, and the guarded-region map with its lock-free snapshot.
//!
//! The region map is edited under a mutex by the interposed mapping calls
//! (never in a signal handler). After each edit an immutable snapshot (a
//! sorted array) is published through an atomic pointer; signal handlers and
//! fast paths read it without locks. A replaced snapshot is freed only after
//! every reader that might hold it has left (signal-hook-registry's
//! "half lock" idea: readers count themselves in and out).

use core::sync::atomic::{AtomicPtr, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use jg::config::{Backend, Config};
use jg::keys::KeyPolicy;
use jg::pkru::KeySet;
use jg::regions::{Region, RegionMap};
use once_cell::sync::OnceCell;
use parking_lot::Mutex;

/// Where initialisation stands; hooks pass straight through until `READY`.
pub const UNINIT: u8 = 0;
pub const INITIALISING: u8 = 1;
pub const READY: u8 = 2;
pub const DISABLED: u8 = 3;

pub static STATE: AtomicU8 = AtomicU8::new(UNINIT);

pub fn ready() -> bool {
    STATE.load(Ordering::Acquire) == READY
}

/// Everything decided at start and read-only afterwards.
pub struct Globals {
    pub config: Config,
    /// The backend in force (never `Auto`).
    pub backend: Backend,
    /// Present under the pkey backend.
    pub keys: Option<KeyPolicy>,
    pub key_set: KeySet,
}

pub static GLOBALS: OnceCell<Globals> = OnceCell::new();

/// The globals; only called once `ready()` said so.
pub fn globals() -> &'static Globals {
    GLOBALS.get().expect("jitguard used before initialisation")
}

/// Event counters, written with relaxed atomics from hooks and handlers.
#[derive(Default)]
pub struct Counters {
    pub regions: AtomicU64,
    pub write_faults: AtomicU64,
    pub opens: AtomicU64,
    pub denials: AtomicU64,
    pub audited: AtomicU64,
    pub rep_emulations: AtomicU64,
    pub rep_bytes: AtomicU64,
    pub reseals: AtomicU64,
    pub seal_fixups: AtomicU64,
    pub chained_signals: AtomicU64,
    pub handler_ns: AtomicU64,
    pub exposed_pages_sum: AtomicU64,
    pub pages_opened: AtomicU64,
    /// Writes from shared routines whose caller could not be found.
    pub unnamed_writers: AtomicU64,
    /// Windows that lasted one trusted writer call.
    pub call_windows: AtomicU64,
    /// Pages given each code key (pkey backend), for the exposure figure.
    pub pages_by_key: [AtomicU64; 16],
}

pub static COUNTERS: Counters = Counters {
    regions: AtomicU64::new(0),
    write_faults: AtomicU64::new(0),
    opens: AtomicU64::new(0),
    denials: AtomicU64::new(0),
    audited: AtomicU64::new(0),
    rep_emulations: AtomicU64::new(0),
    rep_bytes: AtomicU64::new(0),
    reseals: AtomicU64::new(0),
    seal_fixups: AtomicU64::new(0),
    chained_signals: AtomicU64::new(0),
    handler_ns: AtomicU64::new(0),
    exposed_pages_sum: AtomicU64::new(0),
    pages_opened: AtomicU64::new(0),
    unnamed_writers: AtomicU64::new(0),
    call_windows: AtomicU64::new(0),
    pages_by_key: [const { AtomicU64::new(0) }; 16],
};

/// Guarded pages right now, kept up to date by every edit of the map.
pub static GUARDED_PAGES: AtomicU64 = AtomicU64::new(0);

pub fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

pub fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// The bookkeeping, edited only under this lock and never in a handler.
pub static REGIONS: Mutex<RegionMap> = Mutex::new(RegionMap::new());

/// An immutable copy of the region list for lock-free readers.
pub struct Snapshot {
    regions: Box<[Region]>,
}

impl Snapshot {
    pub fn find(&self, addr: u64) -> Option<Region> {
        let i = self.regions.partition_point(|r| r.end <= addr);
        self.regions.get(i).filter(|r| r.contains(addr)).copied()
    }

    pub fn overlaps(&self, start: u64, end: u64) -> bool {
        let i = self.regions.partition_point(|r| r.end <= start);
        self.regions.get(i).is_some_and(|r| r.start < end)
    }

    /// The guarded bytes contiguous with `addr`'s region: neighbours that
    /// touch are merged, so a REP write may run across them.
    pub fn extent(&self, addr: u64) -> Option<(u64, u64)> {
        let i = self.regions.partition_point(|r| r.end <= addr);
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

static SNAPSHOT: AtomicPtr<Snapshot> = AtomicPtr::new(core::ptr::null_mut());
static READERS: AtomicUsize = AtomicUsize::new(0);

/// After fork only the forking thread exists: readers counted in by other
/// threads will never leave.
pub fn reset_readers_in_child() {
    READERS.store(0, Ordering::SeqCst);
}

/// Runs `f` on the current snapshot (empty if none yet). Lock-free and
/// allocation-free: safe in a signal handler.
pub fn with_snapshot<R>(f: impl FnOnce(Option<&Snapshot>) -> R) -> R {
    READERS.fetch_add(1, Ordering::SeqCst);
    let p = SNAPSHOT.load(Ordering::SeqCst);
    // SAFETY: a published snapshot is freed only after READERS drops to
    // zero following its replacement, and we are counted in READERS.
    let r = f(unsafe { p.as_ref() });
    READERS.fetch_sub(1, Ordering::SeqCst);
    r
}

/// Publishes the map's current contents. Call with the REGIONS lock held.
pub fn publish(map: &RegionMap) {
    GUARDED_PAGES.store(map.bytes() / 4096, Ordering::Relaxed);
    let snap = Box::new(Snapshot {
        regions: map.iter().copied().collect(),
    });
    let old = SNAPSHOT.swap(Box::into_raw(snap), Ordering::SeqCst);
    if old.is_null() {
        return;
    }
    // Wait until no reader can still hold `old`. Readers are signal
    // handlers and hook fast paths: short, and never blocked on us. But a
    // reader on *this* thread, interrupted by a signal whose handler mapped
    // memory, can never leave while we wait: after a bounded wait the old
    // snapshot is leaked instead of freed.
    let mut spins = 0u32;
    while READERS.load(Ordering::SeqCst) != 0 {
        spins += 1;
        if spins > 100_000 {
            return;
        }
        crate::sys::sched_yield();
    }
    // SAFETY: `old` came from Box::into_raw and no reader holds it any more.
    drop(unsafe { Box::from_raw(old) });
}
