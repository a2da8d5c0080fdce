//! The key policy: which protection key each 4 KiB code page gets.
//!
//! Hashed policy (the paper's): a page's key is computed from its address
//! and a per-run random secret, never stored in a table. jitguard adds a
//! *guarantee* the plain `hash % 15 + 1` formula lacks: two adjacent pages
//! never share a key.
//!
//! Construction, for `n >= 3` code keys: an even page takes key index
//! `h(p) % n`. An odd page excludes the indices of both even neighbours
//! (`p-1` and `p+1`) and picks among the remaining `n-1` or `n-2` indices by
//! `h(p)`. Every adjacent pair is one even and one odd page, and the odd one
//! avoided the even one's key, so adjacent keys always differ. Every page's
//! key still depends only on its address and the secret (an odd page looks at
//! two neighbours' hashes), so no table is needed and lookups are
//! allocation-free. With 14 code keys, even pages draw from 14 keys and odd
//! pages from at least 12.
//!
//! Keys come from what the process actually obtained: the kernel or the
//! runtime (node takes one at start) may hold some. One obtained key is kept
//! aside as the *reserve* key: pages of a guarded region that have never been
//! written wait under it, sealed, until their first write gives them their
//! hashed key (lazy keying keeps big reservations at one mapping).

use crate::config::Policy;
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Most keys x86-64 has; key 0 is the process default and never ours.
pub const MAX_KEYS: usize = 16;

/// The key assignment of one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPolicy {
    policy: Policy,
    secret: u64,
    code: [u32; MAX_KEYS],
    n: usize,
    reserve: u32,
}

/// Why a policy could not be built as asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyPolicyNote {
    /// Fewer than three keys: the hashed policy cannot keep adjacent pages
    /// apart with a reserve key, so every page shares one key.
    TooFewKeysForHashed { obtained: usize },
}

impl KeyPolicy {
    /// Builds the policy over the keys obtained (each in 1..=15, distinct).
    /// Returns `None` when no key was obtained. The note says when the
    /// hashed policy had to fall back to a single key.
    pub fn new(
        policy: Policy,
        secret: u64,
        obtained: &[u32],
    ) -> Option<(KeyPolicy, Option<KeyPolicyNote>)> {
        let mut keys: Vec<u32> = obtained
            .iter()
            .copied()
            .filter(|k| (1..MAX_KEYS as u32).contains(k))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let first = *keys.first()?;
        let mut code = [0u32; MAX_KEYS];
        let (policy, note, reserve, n) = match policy {
            Policy::Hashed if keys.len() >= 3 => {
                for (slot, k) in code.iter_mut().zip(&keys[1..]) {
                    *slot = *k;
                }
                (Policy::Hashed, None, first, keys.len() - 1)
            }
            Policy::Hashed => {
                code[0] = first;
                let note = KeyPolicyNote::TooFewKeysForHashed {
                    obtained: keys.len(),
                };
                (Policy::Single, Some(note), first, 1)
            }
            Policy::Single => {
                code[0] = first;
                (Policy::Single, None, first, 1)
            }
        };
        let kp = KeyPolicy {
            policy,
            secret,
            code,
            n,
            reserve,
        };
        Some((kp, note))
    }

    /// The policy in force (may be `Single` after a fallback).
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// The key that unwritten pages of a guarded region wait under. Under
    /// the single policy it is the one code key itself.
    pub fn reserve_key(&self) -> u32 {
        self.reserve
    }

    /// The keys code pages are spread over.
    pub fn code_keys(&self) -> &[u32] {
        &self.code[..self.n]
    }

    /// Every key this policy uses (reserve and code keys), as a bit set.
    pub fn key_mask(&self) -> u16 {
        let mut m = 1u16 << self.reserve;
        for k in self.code_keys() {
            m |= 1 << k;
        }
        m
    }

    /// Whether `key` is one of jitguard's.
    pub fn owns(&self, key: u32) -> bool {
        key < MAX_KEYS as u32 && self.key_mask() & (1 << key) != 0
    }

    fn hash(&self, page: u64) -> u64 {
        xxh3_64_with_seed(&page.to_le_bytes(), self.secret)
    }

    fn even_index(&self, page: u64) -> usize {
        (self.hash(page) % self.n as u64) as usize
    }

    /// Index into `code_keys()` for a page number.
    pub fn index_for_page(&self, page: u64) -> usize {
        if self.n == 1 {
            return 0;
        }
        if self.n == 2 {
            // Two keys: strict alternation, with the secret choosing the phase.
            return ((page ^ self.secret) & 1) as usize;
        }
        if page & 1 == 0 {
            return self.even_index(page);
        }
        let a = self.even_index(page.wrapping_sub(1));
        let b = self.even_index(page.wrapping_add(1));
        let excluded = if a == b { 1 } else { 2 };
        let mut r = (self.hash(page) % (self.n - excluded) as u64) as usize;
        for i in 0..self.n {
            if i == a || i == b {
                continue;
            }
            if r == 0 {
                return i;
            }
            r -= 1;
        }
        unreachable!("r < n - excluded")
    }

    /// The key for the page holding `addr`.
    pub fn key_for_addr(&self, addr: u64) -> u32 {
        self.code[self.index_for_page(addr >> 12)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_keys() -> Vec<u32> {
        (1..=15).collect()
    }

    fn hashed(secret: u64, keys: &[u32]) -> KeyPolicy {
        let (kp, note) = KeyPolicy::new(Policy::Hashed, secret, keys).unwrap();
        assert!(note.is_none());
        kp
    }

    #[test]
    fn same_page_same_key_within_a_run() {
        let kp = hashed(0x1234, &all_keys());
        for page in 0..10_000u64 {
            let a = page << 12;
            assert_eq!(kp.key_for_addr(a), kp.key_for_addr(a + 4095));
            assert_eq!(kp.key_for_addr(a), kp.clone().key_for_addr(a));
        }
    }

    #[test]
    fn adjacent_pages_never_share_a_key() {
        for secret in 0..64u64 {
            for keys in [all_keys(), vec![3, 4, 5], vec![1, 2, 9, 11]] {
                let kp = KeyPolicy::new(Policy::Hashed, secret, &keys).unwrap().0;
                let base = 0x7f00_0000_0000u64 >> 12;
                for p in base..base + 4096 {
                    assert_ne!(
                        kp.key_for_addr(p << 12),
                        kp.key_for_addr((p + 1) << 12),
                        "secret {secret} keys {keys:?} page {p:#x}"
                    );
                }
            }
        }
        // Around page 0 and the top of the address space too.
        let kp = hashed(7, &all_keys());
        for p in [0u64, 1, 2, (1 << 52) - 2] {
            assert_ne!(kp.index_for_page(p), kp.index_for_page(p + 1));
        }
    }

    #[test]
    fn keys_spread_over_all_obtained_code_keys() {
        let kp = hashed(99, &all_keys());
        assert_eq!(kp.reserve_key(), 1);
        assert_eq!(kp.code_keys().len(), 14);
        let mut counts = [0usize; MAX_KEYS];
        let pages = 14_000u64;
        for p in 0..pages {
            counts[kp.key_for_addr(p << 12) as usize] += 1;
        }
        assert_eq!(counts[0], 0, "key 0 is never a code key");
        assert_eq!(counts[1], 0, "the reserve key is never a code key");
        for (k, &c) in counts.iter().enumerate().skip(2) {
            // Expect 1000 each; allow generous slack for hashing.
            assert!((700..1300).contains(&c), "key {k}: {c} of {pages}");
        }
    }

    #[test]
    fn different_secrets_give_different_assignments() {
        let a = hashed(1, &all_keys());
        let b = hashed(2, &all_keys());
        let differ = (0..1000u64)
            .filter(|p| a.key_for_addr(p << 12) != b.key_for_addr(p << 12))
            .count();
        // Independent assignments agree about 1 time in 14.
        assert!(differ > 850, "only {differ} of 1000 pages differ");
    }

    #[test]
    fn maps_onto_the_keys_actually_obtained() {
        // The kernel or runtime kept keys 1 and 2: we got 3..=15.
        let keys: Vec<u32> = (3..=15).collect();
        let kp = hashed(5, &keys);
        assert_eq!(kp.reserve_key(), 3);
        for p in 0..5000u64 {
            let k = kp.key_for_addr(p << 12);
            assert!((4..=15).contains(&k), "{k}");
        }
        assert!(kp.owns(3) && kp.owns(15) && !kp.owns(1) && !kp.owns(0));
    }

    #[test]
    fn single_policy_uses_one_key_for_everything() {
        let (kp, note) = KeyPolicy::new(Policy::Single, 3, &all_keys()).unwrap();
        assert!(note.is_none());
        assert_eq!(kp.code_keys(), &[1]);
        assert_eq!(kp.reserve_key(), 1);
        assert!((0..100u64).all(|p| kp.key_for_addr(p << 12) == 1));
        assert_eq!(kp.key_mask(), 1 << 1);
    }

    #[test]
    fn too_few_keys_fall_back_to_single_with_a_note() {
        let (kp, note) = KeyPolicy::new(Policy::Hashed, 3, &[6, 9]).unwrap();
        assert_eq!(kp.policy(), Policy::Single);
        assert_eq!(
            note,
            Some(KeyPolicyNote::TooFewKeysForHashed { obtained: 2 })
        );
        assert!(KeyPolicy::new(Policy::Hashed, 3, &[]).is_none());
        assert!(KeyPolicy::new(Policy::Hashed, 3, &[0, 16]).is_none());
    }
}
