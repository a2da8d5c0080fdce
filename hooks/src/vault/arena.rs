//! The vault's heap, and the allocator that puts into it whatever an
//! update builds.
//!
//! The writer view, the profile, the region map and the configuration own
//! heap memory (vectors, strings, module tables); protecting their statics
//! alone would leave the data they point at writable. So libjitguard's
//! global allocator sends every allocation made inside `vault::update`
//! (and during start-up) to one reserved arena that shares the vault's
//! protection, managed by `talc` (a well-kept allocator for claimed
//! spans: one heap, no system calls of its own). Everything else goes to
//! the C library's malloc, as before.
//!
//! Freeing or growing an arena object opens the vault for that one
//! operation, wherever it happens, so an object built in an update may be
//! dropped outside one. Writing into one outside an update faults and is
//! refused: vault data is built in updates and read elsewhere.
//!
//! Nothing here runs in a signal handler: jitguard's handlers never
//! allocate.

use super::update::Open;
use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, Ordering::*};
use std::alloc::System;
use talc::base::Talc;
use talc::source::Manual;
use talc::DefaultBinning;

/// Virtual space reserved for the arena (memory is committed only as it
/// is used); smaller sizes are tried where the first is refused.
const SIZES: [usize; 3] = [1 << 30, 256 << 20, 64 << 20];

/// The arena's bounds, frozen after start-up: pointed elsewhere, every
/// update would make that range writable (read-only mode) and the
/// allocator would send vault objects to the C heap.
#[link_section = "jitguard_frozen"]
static START: super::OwnState<AtomicU64> = super::OwnState(AtomicU64::new(0));
#[link_section = "jitguard_frozen"]
static END: super::OwnState<AtomicU64> = super::OwnState(AtomicU64::new(0));

struct Heap(UnsafeCell<Talc<Manual, DefaultBinning>>);

// SAFETY: the heap is used only under the vault lock (every call below
// runs inside an `Open`).
unsafe impl Sync for Heap {}

#[link_section = "jitguard_vault"]
static HEAP: super::OwnState<Heap> = super::OwnState(Heap(UnsafeCell::new(Talc::new(Manual))));

/// Allocations that wanted the arena but did not fit (they went to the
/// C heap, unprotected); reported in the stats.
pub static SPILLED: AtomicU64 = AtomicU64::new(0);

/// The arena's bounds, once it exists.
pub fn range() -> Option<(u64, u64)> {
    let s = START.load(Acquire);
    (s != 0).then(|| (s, END.load(Acquire)))
}

fn contains(p: *mut u8) -> bool {
    let a = p as u64;
    a >= START.load(Relaxed) && a < END.load(Relaxed)
}

/// Reserves the arena and hands it to the allocator (start-up, before
/// anything is built).
pub fn prepare() -> bool {
    if range().is_some() {
        return true;
    }
    for size in SIZES {
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
        let prot = libc::PROT_READ | libc::PROT_WRITE;
        let Ok(base) = crate::sys::mmap(core::ptr::null_mut(), size, prot, flags, -1, 0) else {
            continue;
        };
        let _open = Open::new();
        // SAFETY: a fresh private mapping of `size` bytes that nothing else
        // uses, handed to the heap under the vault lock.
        let ok = unsafe { (*HEAP.0 .0.get()).claim(base as *mut u8, size) }.is_some();
        if ok {
            END.store(base as u64 + size as u64, Release);
            START.store(base as u64, Release);
            return true;
        }
        let _ = crate::sys::munmap(base as *mut libc::c_void, size);
    }
    false
}

/// libjitguard's allocator: the arena inside updates, malloc elsewhere.
pub struct Allocator;

// SAFETY: arena blocks come from talc under the vault lock and are
// returned to it by address range; everything else is the C library's.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // Inside this thread's own update the lock is held and the vault
        // open already: no nested opening (one per allocation made
        // start-up and the writer view's build pay a lock and signal-mask
        // system calls each).
        if super::updating() && range().is_some() {
            let _open = (!super::update::holds_update()).then(Open::new);
            // SAFETY: under the vault lock (this thread's update, or the
            // Open just made), with a non-zero layout as GlobalAlloc
            // guarantees.
            if let Some(p) = unsafe { (*HEAP.0 .0.get()).allocate(l) } {
                return p.as_ptr();
            }
            SPILLED.fetch_add(1, Relaxed);
        }
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc(l) }
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        if contains(p) {
            let _open = (!super::update::holds_update()).then(Open::new);
            // SAFETY: p came from this heap with layout l; under the vault
            // lock (this thread's update, or the Open just made).
            unsafe { (*HEAP.0 .0.get()).deallocate(p, l) };
        } else {
            // SAFETY: p came from System.
            unsafe { System.dealloc(p, l) }
        }
    }

    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        if !contains(p) {
            // SAFETY: p came from System.
            return unsafe { System.realloc(p, l, new) };
        }
        let _open = (!super::update::holds_update()).then(Open::new);
        // SAFETY: under the vault lock (as in dealloc); p came from this
        // heap with layout l.
        let heap = unsafe { &mut *HEAP.0 .0.get() };
        // SAFETY: as above; new is non-zero (GlobalAlloc's contract).
        if unsafe { heap.try_realloc_in_place(p, l, new) } {
            return p;
        }
        let nl = Layout::from_size_align(new, l.align()).expect("realloc layout");
        // SAFETY: as above.
        let q = match unsafe { heap.allocate(nl) } {
            Some(q) => q.as_ptr(),
            None => {
                SPILLED.fetch_add(1, Relaxed);
                // SAFETY: a fresh System block of the new layout.
                unsafe { System.alloc(nl) }
            }
        };
        if !q.is_null() {
            // SAFETY: both blocks are live and at least min(old, new) long.
            unsafe {
                core::ptr::copy_nonoverlapping(p, q, l.size().min(new));
                heap.deallocate(p, l);
            }
        }
        q
    }
}

#[global_allocator]
static GLOBAL: Allocator = Allocator;
