//! PKRU arithmetic: the per-thread protection-key rights register.
//!
//! Two bits per key: bit `2k` is access-disable (AD), bit `2k+1`
//! write-disable (WD). A sealed jitguard key has WD set and AD clear: code
//! stays readable and executable, writes fault.

/// A PKRU value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pkru(pub u32);

/// A set of keys, bit `k` for key `k`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeySet(pub u16);

/// The value the kernel gives a signal handler and a new process: access
/// disabled for keys 1..=15, everything allowed for key 0.
pub const KERNEL_INIT: Pkru = Pkru(0x5555_5554);

const AD: u32 = 1;
const WD: u32 = 2;

impl KeySet {
    pub const EMPTY: KeySet = KeySet(0);

    pub fn single(key: u32) -> KeySet {
        debug_assert!(key < 16);
        KeySet(1 << key)
    }

    pub fn with(self, key: u32) -> KeySet {
        KeySet(self.0 | 1 << key)
    }

    pub fn contains(self, key: u32) -> bool {
        key < 16 && self.0 & (1 << key) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn len(self) -> u32 {
        self.0.count_ones()
    }

    /// The two-bit rights field of every key in the set, spread into PKRU
    /// position, multiplied by `bits` (AD, WD or both).
    fn spread(self, bits: u32) -> u32 {
        let mut m = 0;
        for k in 0..16 {
            if self.contains(k) {
                m |= bits << (2 * k);
            }
        }
        m
    }
}

impl Pkru {
    /// Write disabled, read allowed for every key in `keys`; others untouched.
    pub fn sealed(self, keys: KeySet) -> Pkru {
        Pkru((self.0 & !keys.spread(AD)) | keys.spread(WD))
    }

    /// Read and write allowed for every key in `keys`; others untouched.
    pub fn opened(self, keys: KeySet) -> Pkru {
        Pkru(self.0 & !keys.spread(AD | WD))
    }

    /// Neither read nor write allowed for any key in `keys`.
    pub fn closed(self, keys: KeySet) -> Pkru {
        Pkru(self.0 | keys.spread(AD | WD))
    }

    /// Read allowed (AD cleared) for `keys`, write rights left as they are.
    pub fn readable(self, keys: KeySet) -> Pkru {
        Pkru(self.0 & !keys.spread(AD))
    }

    pub fn can_write(self, key: u32) -> bool {
        self.0 >> (2 * key) & (AD | WD) == 0
    }

    pub fn can_read(self, key: u32) -> bool {
        self.0 >> (2 * key) & AD == 0
    }

    /// Keys of `among` this value lets the thread write.
    pub fn writable(self, among: KeySet) -> KeySet {
        let mut s = KeySet::EMPTY;
        for k in 0..16 {
            if among.contains(k) && self.can_write(k) {
                s = s.with(k);
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_denies_both_and_leaves_others() {
        let p = Pkru(0).closed(KeySet::single(3));
        assert!(!p.can_read(3) && !p.can_write(3));
        assert!(p.can_write(2) && p.can_write(4));
        assert_eq!(p.opened(KeySet::single(3)), Pkru(0));
    }

    #[test]
    fn kernel_init_denies_keys_1_to_15_only() {
        assert!(KERNEL_INIT.can_write(0));
        for k in 1..16 {
            assert!(!KERNEL_INIT.can_read(k) && !KERNEL_INIT.can_write(k));
        }
    }

    #[test]
    fn seal_open_roundtrip_touches_only_the_named_keys() {
        let ours = KeySet(0b1110);
        let p = Pkru(0).sealed(ours);
        assert_eq!(p.0, 0b10_10_10_00);
        for k in 1..=3 {
            assert!(p.can_read(k) && !p.can_write(k));
        }
        assert!(p.can_write(0) && p.can_write(4));
        let o = p.opened(KeySet::single(2));
        assert!(o.can_write(2) && !o.can_write(1) && !o.can_write(3));
        assert_eq!(o.sealed(KeySet::single(2)), p);
        assert_eq!(o.writable(ours), KeySet::single(2));
    }

    #[test]
    fn readable_clears_access_disable_but_keeps_write_disable() {
        // Keys 1..=3 fully disabled (AD and WD).
        let p = Pkru(0b11_11_11_00).readable(KeySet(0b110));
        assert!(p.can_read(1) && p.can_read(2) && !p.can_read(3));
        assert!(!p.can_write(1) && !p.can_write(2));
        // The kernel's init value sets AD only: making it readable would
        // make it writable too, which is why unsealed threads get `sealed`.
        assert!(KERNEL_INIT.readable(KeySet(0b10)).can_write(1));
        assert!(!KERNEL_INIT.sealed(KeySet(0b10)).can_write(1));
    }

    #[test]
    fn other_keys_rights_survive() {
        // A runtime's own key 15 fully open, key 14 access-disabled.
        let theirs = Pkru(0b01 << 28);
        let p = theirs.sealed(KeySet(0b110)).opened(KeySet::single(1));
        assert!(p.can_write(15));
        assert!(!p.can_read(14));
    }
}
