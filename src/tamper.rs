//! The PKRU tamper check, as arithmetic: which of jitguard's keys a
//! context can write that no window of its thread holds open.
//!
//! jitguard write-disables its keys in every thread and opens one only
//! inside a window. A key of its own found write-enabled anywhere else was
//! opened by someone else: a WRPKRU gadget, a forged signal frame
//! (saved PKRU 0, or XSTATE_BV's PKRU bit cleared, which restores the
//! init value 0), or `pkey_free` + `pkey_alloc` with open rights.

use crate::pkru::{KeySet, Pkru};
use core::fmt;

/// jitguard's keys (`ours`) that `pkru` lets the thread write although the
/// thread's window holds only `open`.
pub fn tampered(pkru: Pkru, ours: KeySet, open: KeySet) -> KeySet {
    KeySet(pkru.writable(ours).0 & !open.0)
}

/// A key set as `1,4,9` for reports.
pub struct KeyList(pub KeySet);

impl fmt::Display for KeyList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for k in 0..16 {
            if self.0.contains(k) {
                if !first {
                    f.write_str(",")?;
                }
                write!(f, "{k}")?;
                first = false;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkru::KERNEL_INIT;

    const OURS: KeySet = KeySet(0b1110); // keys 1, 2, 3

    #[test]
    fn sealed_and_kernel_init_contexts_are_clean() {
        let sealed = Pkru(0).sealed(OURS);
        assert!(tampered(sealed, OURS, KeySet::EMPTY).is_empty());
        // The kernel's PKRU for handlers and new processes: access
        // disabled for 1..15, so not writable.
        assert!(tampered(KERNEL_INIT, OURS, KeySet::EMPTY).is_empty());
    }

    #[test]
    fn pkru_zero_opens_every_key() {
        assert_eq!(tampered(Pkru(0), OURS, KeySet::EMPTY), OURS);
        assert_eq!(KeyList(OURS).to_string(), "1,2,3");
    }

    #[test]
    fn keys_of_an_open_window_are_allowed() {
        let one_open = Pkru(0).sealed(OURS).opened(KeySet::single(2));
        assert!(tampered(one_open, OURS, KeySet::single(2)).is_empty());
        assert_eq!(
            tampered(one_open, OURS, KeySet::EMPTY),
            KeySet::single(2),
            "the same key outside the window"
        );
    }

    #[test]
    fn the_programs_own_keys_are_not_ours_to_judge() {
        let own_key_open = Pkru(0).sealed(OURS).opened(KeySet::single(5));
        assert!(tampered(own_key_open, OURS, KeySet::EMPTY).is_empty());
    }
}
