//! Key prediction for call windows (`JITGUARD_PREDICT`, pkey backend only,
//! off by default).
//!
//! Under the hashed policy a trusted writer's call touches pages under
//! several keys, and each key it has not opened yet costs one more write
//! fault. WAMR's code-heap allocator is the measured case: its lock word on
//! the heap's first page, the heap's last page, then one or two free-tree
//! nodes anywhere in the heap, about three keys a window (BENCHMARKS.md,
//! "Faults per window"). Prediction opens, with a window's first key, the
//! keys the same call site's last `depth` windows faulted on, so a writer
//! that repeats itself faults once.
//!
//! This widens the window on purpose: for the length of the trusted call,
//! this thread can write every page under the predicted keys, whether or
//! not this call touches them. It never opens a key outside a window,
//! for another thread, or beyond the keys the site's own faults named, so
//! the exposure stays between the hashed policy's and the single key's
//! (SECURITY.md says so).
//!
//! Only keys that *faulted* are recorded. A predicted key the writer used
//! shows no fault, so it drops out after `depth` windows and costs one
//! fault to come back: the table cannot grow itself to every key.
//!
//! The table is per thread and in ordinary memory, like the window record;
//! it holds relaxed atomics so a handler that interrupts an update reads a
//! whole word, never a torn one.

use crate::pkru::KeySet;
use core::sync::atomic::{AtomicU16, AtomicU64, AtomicU8, Ordering::Relaxed};

/// Where prediction would apply, and why not: what the configuration and
/// the protection in force allow of the configured depth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setting {
    pub configured: u8,
    /// The pkey backend is in force (a page-table window opened ahead
    /// costs two `mprotect` calls a page, more than the fault it saves).
    pub pkey: bool,
    /// The hashed policy is in force (under one key nothing is left to
    /// open ahead).
    pub hashed: bool,
    /// Windows last a writer call (`JITGUARD_WINDOW=call`).
    pub call_windows: bool,
    /// Attestation is on: its records follow the keys faults opened.
    pub attest: bool,
    /// The gadget scan kills (`JITGUARD_GADGETS=deny`, enforce mode): it
    /// sees only pages that faulted, and a page written under a key opened
    /// ahead does not fault.
    pub gadgets_deny: bool,
}

impl Setting {
    /// The depth in force, or why prediction is off although configured.
    pub fn depth(&self) -> Result<u8, &'static str> {
        let why = match *self {
            Setting { configured: 0, .. } => return Ok(0),
            Setting { pkey: false, .. } => "it works under the pkey backend only",
            Setting { hashed: false, .. } => "under one key there is nothing to open ahead",
            Setting {
                call_windows: false,
                ..
            } => "it works with call windows only",
            Setting { attest: true, .. } => "attestation is on",
            Setting {
                gadgets_deny: true, ..
            } => "JITGUARD_GADGETS=deny needs every written page to fault",
            _ => return Ok(self.configured.min(MAX_DEPTH)),
        };
        Err(why)
    }
}

/// The most windows a site's prediction remembers.
pub const MAX_DEPTH: u8 = 8;

/// Call sites remembered per thread (direct-mapped; a collision replaces).
const SITES: usize = 16;

struct Site {
    /// The writer's return address (the window's end), 0 when unused.
    site: AtomicU64,
    /// The keys each of its last windows faulted on.
    ring: [AtomicU16; MAX_DEPTH as usize],
    /// Where the next window's keys go in `ring`.
    next: AtomicU8,
}

/// One thread's key history, by writer call site.
pub struct KeyHistory {
    sites: [Site; SITES],
}

impl Default for KeyHistory {
    fn default() -> Self {
        Self::new()
    }
}

impl KeyHistory {
    pub const fn new() -> KeyHistory {
        KeyHistory {
            sites: [const {
                Site {
                    site: AtomicU64::new(0),
                    ring: [const { AtomicU16::new(0) }; MAX_DEPTH as usize],
                    next: AtomicU8::new(0),
                }
            }; SITES],
        }
    }

    fn slot(&self, site: u64) -> &Site {
        // Return addresses differ in their low bits; fold the rest in.
        let h = site ^ (site >> 7) ^ (site >> 17);
        &self.sites[h as usize % SITES]
    }

    /// The keys to open ahead for a new window ending at `site`: those its
    /// last `depth` windows faulted on (empty for an unknown site or depth
    /// 0).
    pub fn predict(&self, site: u64, depth: u8) -> KeySet {
        let s = self.slot(site);
        if depth == 0 || site == 0 || s.site.load(Relaxed) != site {
            return KeySet::EMPTY;
        }
        let depth = depth.min(MAX_DEPTH) as usize;
        KeySet(
            s.ring[..depth]
                .iter()
                .fold(0, |acc, k| acc | k.load(Relaxed)),
        )
    }

    /// Records the keys a window ending at `site` faulted on.
    pub fn record(&self, site: u64, faulted: KeySet, depth: u8) {
        if depth == 0 || site == 0 {
            return;
        }
        let depth = depth.min(MAX_DEPTH);
        let s = self.slot(site);
        if s.site.load(Relaxed) != site {
            // A new site (or a collision): its history starts empty.
            for k in &s.ring {
                k.store(0, Relaxed);
            }
            s.next.store(0, Relaxed);
            s.site.store(site, Relaxed);
        }
        let i = s.next.load(Relaxed) % depth;
        s.ring[i as usize].store(faulted.0, Relaxed);
        s.next.store((i + 1) % depth, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: u64 = 0x5555_5556_9bfb;
    const B: u64 = 0x5555_5560_7586;

    fn keys(ks: &[u32]) -> KeySet {
        ks.iter().fold(KeySet::EMPTY, |s, &k| s.with(k))
    }

    #[test]
    fn prediction_applies_only_where_it_can_work() {
        let on = Setting {
            configured: 8,
            pkey: true,
            hashed: true,
            call_windows: true,
            attest: false,
            gadgets_deny: false,
        };
        assert_eq!(on.depth(), Ok(8));
        assert_eq!(
            Setting {
                configured: 0,
                pkey: false,
                ..on
            }
            .depth(),
            Ok(0)
        );
        for off in [
            Setting { pkey: false, ..on },
            Setting {
                hashed: false,
                ..on
            },
            Setting {
                call_windows: false,
                ..on
            },
            Setting { attest: true, ..on },
            Setting {
                gadgets_deny: true,
                ..on
            },
        ] {
            assert!(off.depth().is_err(), "{off:?}");
        }
    }

    #[test]
    fn off_and_unknown_sites_predict_nothing() {
        let h = KeyHistory::new();
        h.record(A, keys(&[3, 4]), 0);
        assert_eq!(h.predict(A, 0), KeySet::EMPTY);
        assert_eq!(h.predict(A, 4), KeySet::EMPTY);
        h.record(A, keys(&[3, 4]), 4);
        assert_eq!(h.predict(B, 4), KeySet::EMPTY);
        assert_eq!(h.predict(0, 4), KeySet::EMPTY);
    }

    #[test]
    fn a_site_predicts_the_union_of_its_last_windows() {
        let h = KeyHistory::new();
        h.record(A, keys(&[1, 2]), 2);
        h.record(A, keys(&[5]), 2);
        assert_eq!(h.predict(A, 2), keys(&[1, 2, 5]));
        // A third window pushes the first out.
        h.record(A, keys(&[7]), 2);
        assert_eq!(h.predict(A, 2), keys(&[5, 7]));
    }

    #[test]
    fn a_key_that_stops_faulting_ages_out() {
        let h = KeyHistory::new();
        h.record(A, keys(&[9]), 3);
        for _ in 0..3 {
            assert!(h.predict(A, 3).contains(9));
            // Predicted, so it did not fault: only the first key is recorded.
            h.record(A, keys(&[1]), 3);
        }
        assert!(!h.predict(A, 3).contains(9));
    }

    #[test]
    fn a_colliding_site_starts_empty() {
        let h = KeyHistory::new();
        h.record(A, keys(&[4]), 4);
        // Find another site in the same slot.
        let other = (1..)
            .map(|i| A + i * 4096)
            .find(|&s| core::ptr::eq(h.slot(s), h.slot(A)))
            .unwrap();
        h.record(other, keys(&[6]), 4);
        assert_eq!(h.predict(other, 4), keys(&[6]));
        assert_eq!(h.predict(A, 4), KeySet::EMPTY);
    }

    #[test]
    fn depth_is_capped() {
        let h = KeyHistory::new();
        for k in 0..12 {
            h.record(A, keys(&[k]), 200);
        }
        assert_eq!(h.predict(A, 200).len(), MAX_DEPTH as u32);
    }
}
