//! Where each thread's stack is, so the unwinder reads stack slots
//! directly instead of through a checked copy (a system call per block).
//!
//! Bounds are recorded outside any handler: for the main thread from
//! `/proc/self/maps` at start-up, for threads the program creates through
//! `pthread_create` by the thread itself before its start routine runs.
//! A slot is read directly only when it lies between the interrupted
//! context's stack pointer and the top of that thread's stack: memory the
//! thread is running on, hence mapped and readable. Anything else (a
//! thread jitguard did not see start, a coroutine's or signal stack, a
//! corrupt frame pointing elsewhere) goes through the checked copy, so a
//! bad address ends the walk instead of faulting.

use core::cell::Cell;
use libc::c_void;

thread_local! {
    /// This thread's stack: lowest and one-past-highest address (0, 0:
    /// unknown).
    static BOUNDS: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// The calling thread's stack bounds, if recorded.
pub fn bounds() -> Option<(u64, u64)> {
    let b = BOUNDS.with(Cell::get);
    (b.1 > b.0).then_some(b)
}

/// Whether `[addr, addr + len)` lies on the running thread's stack at or
/// above `sp`, with `sp` itself on that stack (an interrupted context on a
/// signal stack or a coroutine's says nothing about which parts of the
/// thread's own stack are mapped: programs put guard pages inside stacks).
pub fn readable_directly(sp: u64, addr: u64, len: u64) -> bool {
    match bounds() {
        Some((lo, hi)) => {
            lo <= sp && sp < hi && addr >= sp && addr.checked_add(len).is_some_and(|e| e <= hi)
        }
        None => false,
    }
}

/// Records the main thread's stack from the mapping holding its stack
/// pointer (at start-up, on the main thread, from `/proc/self/maps`).
pub fn record_main_thread(maps: &[jg::maps::Mapping]) {
    let sp = crate::sys::stack_pointer();
    if let Some(m) = maps.iter().find(|m| m.start <= sp && sp < m.end) {
        BOUNDS.with(|b| b.set((m.start, m.end)));
    }
}

/// Records the calling thread's stack from its pthread attributes.
fn record_this_thread() {
    // SAFETY: a zeroed attr is a valid out-parameter for
    // pthread_getattr_np, destroyed below; the out-pointers are locals.
    unsafe {
        let mut attr: libc::pthread_attr_t = core::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return;
        }
        let mut lo: *mut c_void = core::ptr::null_mut();
        let mut size: libc::size_t = 0;
        if libc::pthread_attr_getstack(&attr, &mut lo, &mut size) == 0 && !lo.is_null() {
            BOUNDS.with(|b| b.set((lo as u64, lo as u64 + size as u64)));
        }
        libc::pthread_attr_destroy(&mut attr);
    }
}

/// What a new thread runs first: the program's start routine and its
/// argument.
pub struct Start {
    pub routine: extern "C" fn(*mut c_void) -> *mut c_void,
    pub arg: *mut c_void,
}

/// The start routine jitguard gives `pthread_create`: records the
/// thread's stack, then runs the program's. "C-unwind": a thread that
/// ends by `pthread_exit` unwinds through this frame.
pub extern "C-unwind" fn thread_start(start: *mut c_void) -> *mut c_void {
    // SAFETY: `start` is the Box<Start> that `pthread_create` leaked for
    // this thread, handed over exactly once.
    let s = unsafe { Box::from_raw(start.cast::<Start>()) };
    let (routine, arg) = (s.routine, s.arg);
    // Freed before the routine runs: a thread that ends by pthread_exit
    // unwinds through this frame without running destructors.
    drop(s);
    record_this_thread();
    // A thread copies its creator's PKRU; a creator running in a signal
    // handler (or one whose PKRU was changed) must not hand it the vault.
    crate::vault::pkru_for_this_thread();
    routine(arg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_bounds_read_nothing_directly() {
        std::thread::spawn(|| {
            assert!(bounds().is_none());
            assert!(!readable_directly(0x1000, 0x2000, 8));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_recorded_thread_reads_its_own_live_stack_only() {
        std::thread::spawn(|| {
            record_this_thread();
            let (lo, hi) = bounds().expect("recorded");
            let here = 0u64;
            let sp = core::hint::black_box(&here) as *const u64 as u64;
            assert!(lo <= sp && sp < hi);
            assert!(readable_directly(sp, sp, 8));
            assert!(readable_directly(sp, hi - 8, 8));
            assert!(!readable_directly(sp, hi - 4, 8), "past the top");
            assert!(!readable_directly(sp, sp - 8, 8), "below the stack pointer");
            assert!(!readable_directly(sp, u64::MAX - 3, 8), "wrapping");
            assert!(
                !readable_directly(lo - 4096, sp, 8),
                "a stack pointer off this stack"
            );
        })
        .join()
        .unwrap();
    }
}
