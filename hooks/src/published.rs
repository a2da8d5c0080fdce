//! Data that signal handlers read without locks, replaced by ordinary code
//! (and, for signal actions, by other handlers).
//!
//! One scheme serves the region snapshot, the writer view and the
//! program's recorded signal actions: a fixed set of slots, one of them
//! *current*. A reader counts itself into the current slot, checks that it
//! is still current, and holds an RAII guard; a writer fills a slot that is
//! neither current nor counted, then makes it current with one swap, and
//! the slot it replaced becomes free. Neither side ever waits on a lock or
//! allocates, so both may run in a signal handler (the writer's `T` decides
//! whether *filling* a slot allocates: boxed views do, outside handlers;
//! signal actions are plain copies).
//!
//! The slots live in jitguard's vault (read-only to the program); the
//! reader counts, which every reader writes, live apart in ordinary
//! memory (`Readers`). Corrupting a count can stall a writer or let a
//! slot be refilled under a reader, which then reads another published
//! value: never a value jitguard did not publish.
//!
//! The old value in a slot is dropped when the slot is next filled, never
//! while a reader holds it (after signal-hook-registry's half lock, with
//! per-slot counts instead of generations). The bounded wait: a writer
//! needs one free slot among `N - 1`; a slot stays taken only while some
//! reader holds it, and readers are handlers that never block, nested at
//! most a few deep on one thread. With `N = 8` a writer that finds no free
//! slot yields and retries; it would take seven readers stuck at once.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU8, AtomicUsize, Ordering::SeqCst};

const FREE: u8 = 0;
const CLAIMED: u8 = 1;
const LIVE: u8 = 2;

/// The reader counts of one `Published`, in writable memory.
pub struct Readers<const N: usize = 8>([AtomicUsize; N]);

impl<const N: usize> Readers<N> {
    pub const fn new() -> Self {
        Readers([const { AtomicUsize::new(0) }; N])
    }
}

impl<const N: usize> Default for Readers<N> {
    fn default() -> Self {
        Self::new()
    }
}

pub struct Published<T, const N: usize = 8> {
    slots: [UnsafeCell<Option<T>>; N],
    state: [AtomicU8; N],
    readers: &'static Readers<N>,
    /// The current slot, or `N` before the first publication.
    current: AtomicUsize,
}

// SAFETY: a slot's value is written only by the one writer that claimed it
// (FREE -> CLAIMED by compare-exchange) while no reader counts it and it is
// not current; readers only read a slot they counted while it was current,
// which no writer can claim until they leave. T: Send + Sync because values
// cross threads and are shared by reference.
unsafe impl<T: Send + Sync, const N: usize> Sync for Published<T, N> {}

/// A reader's hold on the current value; the slot is not reused until it
/// is dropped.
pub struct ReadGuard<'a, T, const N: usize> {
    owner: &'a Published<T, N>,
    slot: usize,
}

impl<T, const N: usize> core::ops::Deref for ReadGuard<'_, T, N> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the slot was current when this guard counted itself in,
        // so it holds a value, and no writer claims a counted slot.
        unsafe { (*self.owner.slots[self.slot].get()).as_ref() }
            .expect("a published slot holds a value")
    }
}

impl<T, const N: usize> Drop for ReadGuard<'_, T, N> {
    fn drop(&mut self) {
        self.owner.readers.0[self.slot].fetch_sub(1, SeqCst);
    }
}

impl<T, const N: usize> Published<T, N> {
    /// `readers`: this publisher's own counts (one `Readers` per
    /// `Published`).
    pub const fn new(readers: &'static Readers<N>) -> Self {
        Published {
            slots: [const { UnsafeCell::new(None) }; N],
            state: [const { AtomicU8::new(FREE) }; N],
            readers,
            current: AtomicUsize::new(N),
        }
    }

    /// The current value, held until the guard drops; None before the
    /// first publication. Lock-free and allocation-free.
    pub fn read(&self) -> Option<ReadGuard<'_, T, N>> {
        loop {
            let i = self.current.load(SeqCst);
            if i >= N {
                return None;
            }
            self.readers.0[i].fetch_add(1, SeqCst);
            if self.current.load(SeqCst) == i {
                return Some(ReadGuard {
                    owner: self,
                    slot: i,
                });
            }
            // Replaced meanwhile: that slot may be refilled; try again.
            self.readers.0[i].fetch_sub(1, SeqCst);
        }
    }

    /// Whether anything has been published.
    pub fn is_published(&self) -> bool {
        self.current.load(SeqCst) < N
    }

    /// Makes `value` current (inside `vault::update`: the slots are vault
    /// memory). The replaced value is dropped when its slot
    /// is filled again (by a later publication), never under a reader.
    pub fn publish(&self, value: T) {
        let slot = self.claim();
        // SAFETY: we claimed `slot`: it is not current, no reader counts it,
        // and no other writer may touch it until we release it.
        unsafe { *self.slots[slot].get() = Some(value) };
        self.state[slot].store(LIVE, SeqCst);
        let old = self.current.swap(slot, SeqCst);
        if old < N {
            self.state[old].store(FREE, SeqCst);
        }
    }

    fn claim(&self) -> usize {
        let mut tries = 0u32;
        // Whether this wait closed the vault (read-only method: an update
        // that waits here must not leave it writable; ordinary stack, not
        // memory an attacker can reach from another thread).
        let mut closed = false;
        loop {
            for i in 0..N {
                if self.state[i].load(SeqCst) == FREE && self.readers.0[i].load(SeqCst) == 0 {
                    if closed {
                        crate::vault::reopen_after_wait();
                        closed = false;
                    }
                    if self.state[i]
                        .compare_exchange(FREE, CLAIMED, SeqCst, SeqCst)
                        .is_ok()
                    {
                        // A reader that counted itself in after our check
                        // saw the slot not current and leaves without
                        // reading; one still counted from when it was
                        // current must be waited for.
                        if self.readers.0[i].load(SeqCst) == 0 {
                            return i;
                        }
                        self.state[i].store(FREE, SeqCst);
                    }
                }
            }
            tries += 1;
            if tries > 16 {
                if !closed {
                    closed = crate::vault::close_for_wait();
                }
                crate::sys::sched_yield();
            } else {
                core::hint::spin_loop();
            }
        }
    }

    /// After fork only the forking thread exists: counts held by readers
    /// on other threads will never be released.
    pub fn reset_readers_in_child(&self) {
        for r in &self.readers.0 {
            r.store(0, SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    fn fresh<T, const N: usize>() -> Published<T, N> {
        Published::new(Box::leak(Box::new(Readers::new())))
    }

    #[test]
    fn nothing_before_first_publication() {
        let p: Published<u32, 4> = fresh();
        assert!(p.read().is_none());
        assert!(!p.is_published());
    }

    #[test]
    fn readers_see_the_latest_value() {
        let p: Published<u32, 4> = fresh();
        p.publish(1);
        assert_eq!(*p.read().unwrap(), 1);
        p.publish(2);
        p.publish(3);
        assert_eq!(*p.read().unwrap(), 3);
        assert!(p.is_published());
    }

    #[test]
    fn a_held_value_survives_replacement() {
        let p: Published<Box<u64>, 3> = fresh();
        p.publish(Box::new(10));
        let held = p.read().unwrap();
        // Many replacements while `held` is alive: its slot is never reused.
        for v in 0..100 {
            p.publish(Box::new(v));
        }
        assert_eq!(**held, 10);
        drop(held);
        assert_eq!(**p.read().unwrap(), 99);
    }

    #[test]
    fn replaced_values_are_dropped_lazily() {
        struct Counted(Arc<AtomicUsize>);
        impl Drop for Counted {
            fn drop(&mut self) {
                self.0.fetch_add(1, SeqCst);
            }
        }
        let drops = Arc::new(AtomicUsize::new(0));
        let p: Published<Counted, 2> = fresh();
        for _ in 0..10 {
            p.publish(Counted(drops.clone()));
        }
        // Two slots: every value but the last two has been dropped.
        assert_eq!(drops.load(SeqCst), 8);
    }

    #[test]
    fn nested_readers_on_one_thread() {
        let p: Published<u32, 3> = fresh();
        p.publish(1);
        let a = p.read().unwrap();
        p.publish(2);
        let b = p.read().unwrap();
        p.publish(3);
        // Two slots held, one free: the writer still finds room.
        assert_eq!((*a, *b), (1, 2));
        drop(a);
        p.publish(4);
        assert_eq!(*p.read().unwrap(), 4);
    }

    #[test]
    fn concurrent_readers_and_writers_never_tear() {
        // Each value is a pair that must stay equal: a torn or freed read
        // would show a mismatch.
        let p: Arc<Published<Box<(u64, u64)>, 8>> = Arc::new(fresh());
        p.publish(Box::new((0, 0)));
        let stop = Arc::new(AtomicBool::new(false));
        // The writers start once every reader is reading (on a loaded
        // machine a reader thread may otherwise start after they finish).
        let reading = Arc::new(AtomicUsize::new(0));
        let mut threads = Vec::new();
        for _ in 0..3 {
            let (p, stop, reading) = (p.clone(), stop.clone(), reading.clone());
            threads.push(std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(SeqCst) {
                    let g = p.read().unwrap();
                    assert_eq!(g.0, g.1);
                    if n == 0 {
                        reading.fetch_add(1, SeqCst);
                    }
                    n += 1;
                }
                n
            }));
        }
        while reading.load(SeqCst) < 3 {
            std::thread::yield_now();
        }
        let writers: Vec<_> = (0..2)
            .map(|w| {
                let p = p.clone();
                std::thread::spawn(move || {
                    for i in 0..20_000u64 {
                        let v = i * 2 + w;
                        p.publish(Box::new((v, v)));
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        stop.store(true, SeqCst);
        for t in threads {
            assert!(t.join().unwrap() > 0);
        }
    }

    #[test]
    fn child_reset_frees_slots_of_vanished_readers() {
        let p: Published<u32, 2> = fresh();
        p.publish(1);
        let g = p.read().unwrap();
        core::mem::forget(g); // a reader on a thread that did not survive fork
        p.reset_readers_in_child();
        p.publish(2);
        p.publish(3);
        assert_eq!(*p.read().unwrap(), 3);
    }
}
