//! The attestation records: one per guarded page a window (or the REP
//! emulation) has opened, holding the xxh3 hash of the whole page and a
//! 16-bit hash of each of its 64-byte chunks (to name the first chunk that
//! differs; the 64-bit page hash is what decides).
//!
//! Storage is one anonymous mapping made at start-up (never in a
//! handler): an open-addressing index of page numbers and a dense array of
//! records handed out in order, so resident memory grows with the pages
//! really attested, not with the capacity. Nothing is freed: a page taken
//! out of guard keeps its record, marked not live, and gets it back if it
//! is guarded again. Every record has a try-lock: readers of the page (a
//! check, a record) hold it, and `forget` takes it before the page is
//! unmapped, so nobody reads memory that is gone. Writers that cannot get
//! the lock mark the record stale instead of waiting (handlers never
//! spin on each other); a stale record is taken again, never compared.

use core::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, Ordering::*};

/// Records available (4 KiB each of code: 256 MiB).
pub const CAPACITY: usize = 1 << 16;
const SLOTS: usize = CAPACITY * 2;
pub const CHUNK: usize = 64;
const CHUNKS: usize = jg::PAGE_SIZE as usize / CHUNK;

const LOCKED: u32 = 1;
/// The page is guarded and its record kept up to date.
const LIVE: u32 = 2;
/// `hash` and `chunks` describe the page as last resealed.
const VALID: u32 = 4;
/// A record was skipped while another held the lock: not to be trusted.
const STALE: u32 = 8;

#[repr(C)]
pub struct Record {
    state: AtomicU32,
    /// The page's key as last opened (its bucket under mprotect).
    key: AtomicU32,
    /// Which open counter covers the page (its code key under pkey).
    bucket: AtomicU32,
    page: AtomicU64,
    hash: AtomicU64,
    /// The last trusted writer's instruction address.
    writer: AtomicU64,
    chunks: [AtomicU16; CHUNKS],
}

#[repr(C)]
pub struct Table {
    index: [AtomicU64; SLOTS],
    records: [Record; CAPACITY],
    used: AtomicU32,
}

/// What comparing a page with its record found.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Verdict {
    Same,
    /// Changed: the first 64-byte chunk whose hash differs, if one does.
    Changed {
        chunk_offset: Option<u64>,
    },
    /// Not comparable (no record, stale, or busy).
    Unknown,
}

fn seed() -> u64 {
    super::seed()
}

fn page_bytes(page: u64) -> &'static [u8] {
    // SAFETY: callers hold the record's lock on a LIVE record: the page is
    // guarded and mapped (forget takes the lock before it is unmapped) and
    // readable to this thread (guarded code is never execute-only; under
    // pkey the caller made its keys readable in PKRU).
    unsafe { core::slice::from_raw_parts(page as *const u8, jg::PAGE_SIZE as usize) }
}

fn chunk_hash(bytes: &[u8]) -> u16 {
    xxhash_rust::xxh3::xxh3_64_with_seed(bytes, seed()) as u16
}

impl Record {
    pub fn page(&self) -> u64 {
        self.page.load(Relaxed)
    }
    pub fn key(&self) -> u32 {
        self.key.load(Relaxed)
    }
    pub fn bucket(&self) -> u32 {
        self.bucket.load(Relaxed)
    }
    pub fn writer(&self) -> u64 {
        self.writer.load(Relaxed)
    }
    pub fn is_live(&self) -> bool {
        self.state.load(Acquire) & LIVE != 0
    }

    fn try_lock(&self) -> bool {
        let s = self.state.load(Relaxed);
        s & LOCKED == 0
            && self
                .state
                .compare_exchange(s, s | LOCKED, Acquire, Relaxed)
                .is_ok()
    }

    /// A few tries, then give up (handlers never wait on each other).
    fn lock_briefly(&self) -> bool {
        for _ in 0..256 {
            if self.try_lock() {
                return true;
            }
            core::hint::spin_loop();
        }
        false
    }

    fn unlock(&self) {
        self.state.fetch_and(!LOCKED, Release);
    }

    /// Marks the record live (the page is guarded) with its key, bucket
    /// and writer; its hash is not valid until `take`.
    pub fn revive(&self, key: u32, bucket: u32, writer: u64) {
        self.key.store(key, Relaxed);
        self.bucket.store(bucket, Relaxed);
        if writer != 0 {
            self.writer.store(writer, Relaxed);
        }
        self.state.fetch_or(LIVE, Release);
    }

    /// Takes the page's record anew (after a reseal). Returns whether the
    /// content differs from the previous record (always true the first
    /// time), or None if the record could not be taken now. A changed
    /// page's bytes go to `changed_bytes` while the lock still keeps the
    /// page mapped.
    pub fn take(&self, changed_bytes: impl FnOnce(&[u8])) -> Option<bool> {
        if !self.lock_briefly() {
            self.state.fetch_or(STALE, Release);
            return None;
        }
        let s = self.state.fetch_and(!STALE, AcqRel);
        if s & LIVE == 0 {
            self.unlock();
            return None;
        }
        let bytes = page_bytes(self.page());
        let h = xxhash_rust::xxh3::xxh3_64_with_seed(bytes, seed());
        let changed = s & VALID == 0 || s & STALE != 0 || h != self.hash.load(Relaxed);
        if changed {
            for (c, b) in self.chunks.iter().zip(bytes.chunks(CHUNK)) {
                c.store(chunk_hash(b), Relaxed);
            }
            self.hash.store(h, Relaxed);
            self.state.fetch_or(VALID, Release);
            changed_bytes(bytes);
        }
        self.unlock();
        Some(changed)
    }

    /// Copies the page's first (`tail` false) or last bytes into `buf`
    /// if the record is live and free right now: context for a gadget scan
    /// of a neighbour. Returns how many bytes were copied.
    pub fn copy_edge(&self, tail: bool, buf: &mut [u8]) -> usize {
        if !self.is_live() || !self.try_lock() {
            return 0;
        }
        let n = if self.is_live() {
            let bytes = page_bytes(self.page());
            let from = if tail { bytes.len() - buf.len() } else { 0 };
            buf.copy_from_slice(&bytes[from..from + buf.len()]);
            buf.len()
        } else {
            0
        };
        self.unlock();
        n
    }

    /// Compares the page with its record.
    pub fn verify(&self) -> Verdict {
        let s = self.state.load(Acquire);
        if s & (LIVE | VALID) != LIVE | VALID || s & STALE != 0 || !self.try_lock() {
            return Verdict::Unknown;
        }
        let s = self.state.load(Acquire);
        if s & (LIVE | VALID) != LIVE | VALID || s & STALE != 0 {
            self.unlock();
            return Verdict::Unknown;
        }
        let bytes = page_bytes(self.page());
        let v = if xxhash_rust::xxh3::xxh3_64_with_seed(bytes, seed()) == self.hash.load(Relaxed) {
            Verdict::Same
        } else {
            let first = self
                .chunks
                .iter()
                .zip(bytes.chunks(CHUNK))
                .position(|(c, b)| c.load(Relaxed) != chunk_hash(b));
            Verdict::Changed {
                chunk_offset: first.map(|i| (i * CHUNK) as u64),
            }
        };
        self.unlock();
        v
    }

    /// The page leaves guard (unmapped, zeroed, re-protected): waits for a
    /// reader to finish, then the record is no longer live.
    pub fn forget(&self) {
        let mut tries = 0u32;
        while !self.try_lock() {
            tries += 1;
            if tries > 10_000 {
                // A reader that never finishes (its thread died in a
                // fork's child): proceed.
                break;
            }
            crate::sys::sched_yield();
        }
        self.state.fetch_and(!(LIVE | VALID | STALE), Release);
        self.unlock();
    }
}

fn slot_of(page: u64) -> usize {
    // Fibonacci hashing of the page number.
    ((jg::page_of(page).wrapping_mul(0x9E37_79B9_7F4A_7C15)) >> 47) as usize % SLOTS
}

fn pack(page: u64, idx: usize) -> u64 {
    jg::page_of(page) << 20 | (idx as u64 + 1)
}

impl Table {
    /// The storage, zero-filled (a valid empty table), made outside any
    /// handler. None if the mapping fails.
    pub fn allocate() -> Option<&'static Table> {
        let len = core::mem::size_of::<Table>();
        let r = crate::sys::mmap(
            core::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
        .ok()?;
        // SAFETY: a fresh private mapping of the table's size, zero-filled
        // by the kernel and never unmapped; every field is an atomic, for
        // which all-zero bytes are a valid value (an empty table).
        Some(unsafe { &*(r as *const Table) })
    }

    /// The records handed out so far.
    pub fn records(&self) -> &[Record] {
        let n = (self.used.load(Acquire) as usize).min(CAPACITY);
        &self.records[..n]
    }

    pub fn find(&self, page: u64) -> Option<&Record> {
        let want = jg::page_of(page);
        let mut i = slot_of(page);
        for _ in 0..SLOTS {
            let v = self.index[i].load(Acquire);
            if v == 0 {
                return None;
            }
            if v >> 20 == want {
                return self.records.get((v & 0xF_FFFF) as usize - 1);
            }
            i = (i + 1) % SLOTS;
        }
        None
    }

    /// The page's record, made if it has none. None when the table is full.
    pub fn find_or_insert(&self, page: u64) -> Option<&Record> {
        let want = jg::page_of(page);
        let mut i = slot_of(page);
        let mut mine: Option<usize> = None;
        for _ in 0..SLOTS {
            let v = self.index[i].load(Acquire);
            if v >> 20 == want && v != 0 {
                return self.records.get((v & 0xF_FFFF) as usize - 1);
            }
            if v == 0 {
                let idx = match mine {
                    Some(x) => x,
                    None => {
                        let x = self.used.fetch_add(1, AcqRel) as usize;
                        if x >= CAPACITY {
                            self.used.store(CAPACITY as u32, Release);
                            return None;
                        }
                        self.records[x].page.store(page, Release);
                        mine = Some(x);
                        x
                    }
                };
                if self.index[i]
                    .compare_exchange(0, pack(page, idx), AcqRel, Acquire)
                    .is_ok()
                {
                    return Some(&self.records[idx]);
                }
                // Another thread took this slot: look at it again.
                continue;
            }
            i = (i + 1) % SLOTS;
        }
        None
    }

    /// After fork: locks held by threads the child does not have.
    pub fn unlock_all(&self) {
        for r in self.records() {
            r.unlock();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> u64 {
        crate::sys::mmap(
            core::ptr::null_mut(),
            jg::PAGE_SIZE as usize,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
        .unwrap() as u64
    }

    #[test]
    fn a_record_finds_the_first_changed_chunk_and_forgets() {
        let t = Table::allocate().unwrap();
        let p = page();
        assert!(t.find(p).is_none());
        let r = t.find_or_insert(p).unwrap();
        assert!(core::ptr::eq(r, t.find(p).unwrap()));
        assert_eq!(r.verify(), Verdict::Unknown, "no hash yet");
        r.revive(3, 3, 0x1234);
        assert_eq!(r.take(|_| {}), Some(true), "first record");
        assert_eq!(r.take(|_| panic!("unchanged")), Some(false));
        assert_eq!(r.verify(), Verdict::Same);
        // SAFETY: `p` is this test's own read-write page.
        unsafe { (p as *mut u8).add(200).write(0xCC) };
        assert_eq!(
            r.verify(),
            Verdict::Changed {
                chunk_offset: Some(192)
            }
        );
        let mut seen = 0;
        assert_eq!(r.take(|b| seen = b[200]), Some(true));
        assert_eq!(seen, 0xCC);
        assert_eq!(r.verify(), Verdict::Same);
        r.forget();
        assert!(!r.is_live());
        assert_eq!(r.verify(), Verdict::Unknown);
        assert_eq!(r.take(|_| {}), None);
        // Revived at the same address: the same record, hash not valid.
        let again = t.find_or_insert(p).unwrap();
        assert!(core::ptr::eq(r, again));
        again.revive(3, 3, 0);
        assert_eq!(again.writer(), 0x1234, "a zero writer keeps the last one");
        assert_eq!(again.verify(), Verdict::Unknown);
    }

    #[test]
    fn many_pages_get_distinct_records() {
        let t = Table::allocate().unwrap();
        for i in 0..5000u64 {
            let r = t
                .find_or_insert(0x7000_0000_0000 + i * jg::PAGE_SIZE)
                .unwrap();
            assert_eq!(r.page(), 0x7000_0000_0000 + i * jg::PAGE_SIZE);
        }
        assert_eq!(t.records().len(), 5000);
        assert!(t.find(0x7000_0000_0000 + 4999 * jg::PAGE_SIZE).is_some());
        assert!(t.find(0x7000_0000_0000 + 5000 * jg::PAGE_SIZE).is_none());
    }
}
