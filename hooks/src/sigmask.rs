//! The fault signals are never really blocked: the kernel kills a thread
//! whose SIGSEGV (or trap SIGTRAP) is blocked when the fault happens, and
//! any thread may write JIT code. A program's blocking of them is kept as
//! a per-thread virtual mask it sees in `oldset`; sent SIGSEGV/SIGTRAP are
//! still delivered while virtually blocked (documented limitation).

use core::cell::Cell;
use libc::{c_int, sigset_t};

/// The signals jitguard owns: its handlers stay installed, the program's
/// actions for them are recorded.
pub const OWNED: [c_int; 2] = [libc::SIGSEGV, libc::SIGTRAP];

/// The synchronous fault signals: the kernel kills a thread that raises
/// one while it is blocked, so jitguard never blocks them (SIGSYS: a
/// seccomp trap, see `crate::seccomp`).
pub const FAULT_SIGNALS: [c_int; 6] = [
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGTRAP,
    libc::SIGILL,
    libc::SIGFPE,
    libc::SIGSYS,
];

/// Signals owned besides `OWNED` once their handler is installed (SIGSYS
/// while jitguard's seccomp filter traps), as kernel mask bits.
static ALSO_OWNED: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// Makes `sig` owned from now on: the program's masks of it are virtual.
pub fn own_also(sig: c_int) {
    ALSO_OWNED.fetch_or(bit(sig), core::sync::atomic::Ordering::Release);
}

/// The kernel's mask bit of `sig`.
pub const fn bit(sig: c_int) -> u64 {
    1 << (sig - 1)
}

thread_local! {
    static VIRTUALLY_BLOCKED: Cell<u64> = const { Cell::new(0) };
}

pub fn empty_set() -> sigset_t {
    // SAFETY: an all-zero sigset_t is the empty set; sigemptyset makes sure.
    unsafe {
        let mut s: sigset_t = core::mem::zeroed();
        libc::sigemptyset(&mut s);
        s
    }
}

pub fn first_word(set: &sigset_t) -> u64 {
    // SAFETY: sigset_t is at least one 64-bit word.
    unsafe { (set as *const sigset_t as *const u64).read_unaligned() }
}

pub fn set_first_word(set: &mut sigset_t, w: u64) {
    // SAFETY: as above.
    unsafe { (set as *mut sigset_t as *mut u64).write_unaligned(w) }
}

/// `into |= from`, word by word.
pub fn or_sigset(into: &mut sigset_t, from: &sigset_t) {
    const WORDS: usize = core::mem::size_of::<sigset_t>() / 8;
    let a = (into as *mut sigset_t).cast::<u64>();
    let b = (from as *const sigset_t).cast::<u64>();
    for k in 0..WORDS {
        // SAFETY: sigset_t is WORDS plain 64-bit words; both are valid.
        unsafe {
            a.add(k)
                .write_unaligned(a.add(k).read_unaligned() | b.add(k).read_unaligned())
        };
    }
}

fn owned_bits() -> u64 {
    OWNED.iter().fold(0, |m, &s| m | 1 << (s - 1))
        | ALSO_OWNED.load(core::sync::atomic::Ordering::Acquire)
}

/// Removes the owned signals from a mask that is about to be really
/// installed, returning the ones it held.
pub fn without_owned(set: &mut sigset_t) -> u64 {
    let w = first_word(set);
    set_first_word(set, w & !owned_bits());
    w & owned_bits()
}

/// This thread's virtual mask of owned signals.
pub fn virtual_mask() -> u64 {
    VIRTUALLY_BLOCKED.with(Cell::get)
}

/// Replaces this thread's virtual mask, returning the previous one.
pub fn replace_virtual(m: u64) -> u64 {
    VIRTUALLY_BLOCKED.with(|c| c.replace(m))
}

/// The virtual mask after `how` with the owned signals `asked`.
pub fn next_virtual(before: u64, how: c_int, asked: u64) -> u64 {
    match how {
        libc::SIG_BLOCK => before | asked,
        libc::SIG_UNBLOCK => before & !asked,
        libc::SIG_SETMASK => asked,
        _ => before,
    }
}

pub type SigmaskFn = unsafe extern "C" fn(c_int, *const sigset_t, *mut sigset_t) -> c_int;

/// `sigprocmask`/`pthread_sigmask` with the owned signals kept virtual
/// (once jitguard's handlers are `installed`).
///
/// # Safety
/// `set` and `old` valid or null, as for libc.
pub unsafe fn sigmask(
    how: c_int,
    set: *const sigset_t,
    old: *mut sigset_t,
    real: SigmaskFn,
    installed: bool,
) -> c_int {
    if !installed {
        // SAFETY: libc's own function with the program's arguments.
        return unsafe { real(how, set, old) };
    }
    let before = virtual_mask();
    // SAFETY: the caller's contract.
    let new = unsafe { set.as_ref() }.copied();
    let r = match new {
        Some(mut n) => {
            let asked = without_owned(&mut n);
            // SAFETY: as above, with our filtered copy of the set.
            let r = unsafe { real(how, &n, old) };
            if r == 0 {
                replace_virtual(next_virtual(before, how, asked));
            }
            r
        }
        // SAFETY: a query only.
        None => unsafe { real(how, set, old) },
    };
    if r == 0 {
        // SAFETY: `old` was filled by libc when non-null.
        if let Some(o) = unsafe { old.as_mut() } {
            set_first_word(o, first_word(o) | before);
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEGV: u64 = 1 << (libc::SIGSEGV - 1);
    const USR1: u64 = 1 << (libc::SIGUSR1 - 1);

    #[test]
    fn owned_signals_are_taken_out_of_real_masks() {
        let mut s = empty_set();
        set_first_word(&mut s, SEGV | USR1);
        assert_eq!(without_owned(&mut s), SEGV);
        assert_eq!(first_word(&s), USR1);
    }

    #[test]
    fn virtual_mask_follows_block_unblock_setmask() {
        assert_eq!(next_virtual(0, libc::SIG_BLOCK, SEGV), SEGV);
        assert_eq!(next_virtual(SEGV, libc::SIG_UNBLOCK, SEGV), 0);
        assert_eq!(next_virtual(SEGV, libc::SIG_SETMASK, 0), 0);
        assert_eq!(next_virtual(SEGV, 99, 0), SEGV);
    }

    #[test]
    fn or_sigset_unions_every_word() {
        let mut a = empty_set();
        let mut b = empty_set();
        set_first_word(&mut a, 1);
        set_first_word(&mut b, 4);
        // SAFETY: a valid set.
        unsafe { libc::sigaddset(&mut b, 64) };
        or_sigset(&mut a, &b);
        assert_eq!(first_word(&a), 5 | 1 << 63);
    }
}
