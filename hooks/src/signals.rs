//! Signals stay the program's: jitguard keeps its SIGSEGV and SIGTRAP
//! handlers installed, and the program's `sigaction` (and the older
//! `signal`, `bsd_signal`, `sysv_signal`, `sigset`, which glibc implements
//! without going through the PLT) only records the program's action. Every
//! signal that is not jitguard's own is passed to that recorded action with
//! the same siginfo and context, honouring SA_SIGINFO, SA_NODEFER,
//! SA_RESETHAND, sa_mask, SIG_IGN and SIG_DFL, like Android's sigchain.
//!
//! A recorded action is an immutable record behind an atomic pointer: the
//! handler reads it without locks. Replaced records are leaked on purpose
//! (a handler may still be reading one; programs set these few actions a
//! handful of times).

use crate::state::{self, COUNTERS};
use crate::sys;
use core::sync::atomic::{AtomicBool, Ordering};
use libc::{c_int, c_void, sighandler_t, siginfo_t};
use redhook::{hook, real};

/// The signals jitguard owns.
pub const OWNED: [c_int; 2] = [libc::SIGSEGV, libc::SIGTRAP];

#[derive(Clone, Copy)]
struct AppAction {
    handler: sighandler_t,
    flags: c_int,
    mask: libc::sigset_t,
}

/// Recorded actions live in a fixed ring per signal (no allocation: the
/// program may call sigaction from a signal handler, and SA_RESETHAND is
/// applied inside jitguard's). A reader copies the record the published
/// index names; a slot is reused only after RING more updates.
const RING: usize = 64;

struct Records {
    slots: [[core::cell::UnsafeCell<AppAction>; RING]; 2],
    next: [core::sync::atomic::AtomicUsize; 2],
    current: [core::sync::atomic::AtomicUsize; 2],
}

// SAFETY: slots are written only at a fresh index claimed with fetch_add
// and published after the write; readers copy published slots.
unsafe impl Sync for Records {}

const EMPTY_ACTION: AppAction = AppAction {
    handler: libc::SIG_DFL,
    flags: 0,
    // SAFETY: an all-zero sigset_t is the empty set.
    mask: unsafe { core::mem::zeroed() },
};

static RECORDS: Records = Records {
    slots: [
        [const { core::cell::UnsafeCell::new(EMPTY_ACTION) }; RING],
        [const { core::cell::UnsafeCell::new(EMPTY_ACTION) }; RING],
    ],
    next: [const { core::sync::atomic::AtomicUsize::new(1) }; 2],
    current: [const { core::sync::atomic::AtomicUsize::new(0) }; 2],
};

static INSTALLED: AtomicBool = AtomicBool::new(false);

fn slot(sig: c_int) -> Option<usize> {
    OWNED.iter().position(|&s| s == sig)
}

fn owned(sig: c_int) -> Option<usize> {
    if INSTALLED.load(Ordering::Acquire) {
        slot(sig)
    } else {
        None
    }
}

fn empty_set() -> libc::sigset_t {
    // SAFETY: an all-zero sigset_t is the empty set; sigemptyset makes sure.
    unsafe {
        let mut s: libc::sigset_t = core::mem::zeroed();
        libc::sigemptyset(&mut s);
        s
    }
}

/// Every signal but the synchronous fault signals, which the kernel must
/// be able to deliver (it kills a process whose fault signal is blocked).
fn async_signals() -> libc::sigset_t {
    // SAFETY: valid sets.
    unsafe {
        let mut s: libc::sigset_t = core::mem::zeroed();
        libc::sigfillset(&mut s);
        for sig in [
            libc::SIGSEGV,
            libc::SIGBUS,
            libc::SIGTRAP,
            libc::SIGILL,
            libc::SIGFPE,
        ] {
            libc::sigdelset(&mut s, sig);
        }
        s
    }
}

fn record(i: usize, a: AppAction) {
    let slot = RECORDS.next[i].fetch_add(1, Ordering::AcqRel) % RING;
    // SAFETY: the slot index was just claimed; it is published below.
    unsafe { *RECORDS.slots[i][slot].get() = a };
    RECORDS.current[i].store(slot, Ordering::Release);
}

fn recorded(i: usize) -> AppAction {
    let slot = RECORDS.current[i].load(Ordering::Acquire);
    // SAFETY: a published slot holds a complete record (Copy).
    unsafe { *RECORDS.slots[i][slot].get() }
}

fn real_sigaction(sig: c_int, act: *const libc::sigaction, old: *mut libc::sigaction) -> c_int {
    // SAFETY: libc's own sigaction, resolved by redhook at first use
    // (jitguard's start-up), with pointers valid for the call.
    unsafe { real!(sigaction)(sig, act, old) }
}

/// Installs jitguard's handlers for the owned signals, recording whatever
/// was installed before as the program's action.
pub fn install(segv: usize, trap: usize) -> bool {
    for (i, (&sig, h)) in OWNED.iter().zip([segv, trap]).enumerate() {
        // SAFETY: zeroed sigaction is a valid out-parameter / starting value.
        let mut prev: libc::sigaction = unsafe { core::mem::zeroed() };
        if real_sigaction(sig, core::ptr::null(), &mut prev) == 0 {
            record(
                i,
                AppAction {
                    handler: prev.sa_sigaction,
                    flags: prev.sa_flags,
                    mask: prev.sa_mask,
                },
            );
        }
        // SAFETY: as above.
        let mut act: libc::sigaction = unsafe { core::mem::zeroed() };
        act.sa_sigaction = h;
        // Asynchronous signals wait until jitguard's handler is done: no
        // program handler ever runs nested inside it (a fast timer whose
        // handler writes code would otherwise livelock the thread).
        act.sa_mask = async_signals();
        // ONSTACK: run on the program's alternate stack where it set one.
        // NODEFER: the mask for the program's handler is set explicitly.
        act.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_NODEFER | libc::SA_RESTART;
        if real_sigaction(sig, &act, core::ptr::null_mut()) != 0 {
            return false;
        }
    }
    INSTALLED.store(true, Ordering::Release);
    true
}

/// Lets `sig` take its default action: the process dies by it.
fn die_by(sig: c_int, info: *mut siginfo_t) {
    // SAFETY: as above.
    let mut dfl: libc::sigaction = unsafe { core::mem::zeroed() };
    dfl.sa_sigaction = libc::SIG_DFL;
    real_sigaction(sig, &dfl, core::ptr::null_mut());
    // SAFETY: info is the kernel's siginfo for this delivery.
    let code = unsafe { (*info).si_code };
    // A hardware fault re-executes the faulting instruction on return and
    // is delivered again, now fatally, with its own siginfo. Anything else
    // (sent signals, int3, a trace trap) must be raised again.
    let refaults = code > 0 && sig != libc::SIGTRAP;
    if !refaults {
        sys::raise_here(sig);
    }
}

/// Makes jitguard's own denial fatal: SIGSEGV's default action, then the
/// caller returns and the write faults again.
pub fn die_by_segv_on_return() {
    // SAFETY: as above.
    let mut dfl: libc::sigaction = unsafe { core::mem::zeroed() };
    dfl.sa_sigaction = libc::SIG_DFL;
    real_sigaction(libc::SIGSEGV, &dfl, core::ptr::null_mut());
}

/// `into |= from`, word by word.
fn or_sigset(into: &mut libc::sigset_t, from: &libc::sigset_t) {
    // SAFETY: sigset_t is plain words; both references are valid.
    unsafe {
        let n = core::mem::size_of::<libc::sigset_t>() / 8;
        let a = into as *mut libc::sigset_t as *mut u64;
        let b = from as *const libc::sigset_t as *const u64;
        for k in 0..n {
            *a.add(k) |= *b.add(k);
        }
    }
}

/// Passes a signal that is not jitguard's to the program's action.
pub fn chain(sig: c_int, info: *mut siginfo_t, ctx: *mut c_void) {
    state::bump(&COUNTERS.chained_signals);
    let Some(i) = slot(sig) else { return };
    let a = recorded(i);
    match a.handler {
        libc::SIG_DFL => die_by(sig, info),
        libc::SIG_IGN => {
            // The kernel cannot ignore a fault or trap it raised itself: it
            // kills instead. Only sent signals are ignored.
            // SAFETY: info is the kernel's siginfo.
            if unsafe { (*info).si_code } > 0 {
                die_by(sig, info);
            }
        }
        h => {
            // The mask the program's handler would have had without us: the
            // interrupted context's, plus sa_mask, plus the signal.
            // SAFETY: ctx is the kernel's ucontext for this delivery.
            let mut mask = unsafe { (*(ctx as *const libc::ucontext_t)).uc_sigmask };
            or_sigset(&mut mask, &a.mask);
            if a.flags & libc::SA_NODEFER == 0 {
                // SAFETY: valid set.
                unsafe { libc::sigaddset(&mut mask, sig) };
            }
            // Mask first, then SA_RESETHAND: a sent signal arriving in
            // between must not find SIG_DFL while the handler is unblocked.
            // The owned signals stay deliverable (a handler may write JIT
            // code); the program sees them blocked through the virtual mask.
            let virt = without_owned(&mut mask);
            let virt_before = VIRTUALLY_BLOCKED.with(|c| c.replace(virt));
            let old = sys::set_sigmask(&mask);
            if a.flags & libc::SA_RESETHAND != 0 {
                record(i, EMPTY_ACTION);
            }
            // SAFETY: the program installed `h` for this signal with these
            // flags; we call it as the kernel would, with the kernel's
            // siginfo and context (it may edit the context or longjmp).
            unsafe {
                if a.flags & libc::SA_SIGINFO != 0 {
                    let f: extern "C" fn(c_int, *mut siginfo_t, *mut c_void) =
                        core::mem::transmute(h);
                    f(sig, info, ctx);
                } else {
                    let f: extern "C" fn(c_int) = core::mem::transmute(h);
                    f(sig);
                }
            }
            sys::set_sigmask(&old);
            VIRTUALLY_BLOCKED.with(|c| c.set(virt_before));
        }
    }
}

fn do_sigaction(sig: c_int, act: *const libc::sigaction, old: *mut libc::sigaction) -> c_int {
    let Some(i) = owned(sig) else {
        return real_sigaction(sig, act, old);
    };
    let cur = recorded(i);
    // SAFETY: the program passes valid (or null) pointers, as for libc.
    // `act` is read before `old` is written: they may be the same struct.
    unsafe {
        let new = act.as_ref().map(|a| AppAction {
            handler: a.sa_sigaction,
            flags: a.sa_flags,
            mask: a.sa_mask,
        });
        if !old.is_null() {
            *old = core::mem::zeroed();
            (*old).sa_sigaction = cur.handler;
            (*old).sa_flags = cur.flags;
            (*old).sa_mask = cur.mask;
        }
        if let Some(a) = new {
            record(i, a);
        }
    }
    0
}

/// Installs `handler` for an owned signal the way the `signal` family does,
/// returning the previous handler.
fn set_simple(
    i: usize,
    sig: c_int,
    handler: sighandler_t,
    flags: c_int,
    block_self: bool,
) -> sighandler_t {
    let prev = recorded(i).handler;
    let mut mask = empty_set();
    if block_self {
        // SAFETY: valid set.
        unsafe { libc::sigaddset(&mut mask, sig) };
    }
    record(
        i,
        AppAction {
            handler,
            flags,
            mask,
        },
    );
    prev
}

hook! {
    unsafe fn sigaction(sig: c_int, act: *const libc::sigaction, old: *mut libc::sigaction) -> c_int => jg_sigaction {
        do_sigaction(sig, act, old)
    }
}

hook! {
    unsafe fn signal(sig: c_int, handler: sighandler_t) -> sighandler_t => jg_signal {
        match owned(sig) {
            // BSD semantics, as glibc's signal(): restart, block while running.
            Some(i) => set_simple(i, sig, handler, libc::SA_RESTART, true),
            None => real!(signal)(sig, handler),
        }
    }
}

hook! {
    unsafe fn bsd_signal(sig: c_int, handler: sighandler_t) -> sighandler_t => jg_bsd_signal {
        match owned(sig) {
            Some(i) => set_simple(i, sig, handler, libc::SA_RESTART, true),
            None => real!(bsd_signal)(sig, handler),
        }
    }
}

hook! {
    unsafe fn sysv_signal(sig: c_int, handler: sighandler_t) -> sighandler_t => jg_sysv_signal {
        match owned(sig) {
            // System V semantics: one shot, not blocked while running.
            Some(i) => set_simple(i, sig, handler, libc::SA_RESETHAND | libc::SA_NODEFER, false),
            None => real!(sysv_signal)(sig, handler),
        }
    }
}

const SIG_HOLD: sighandler_t = 2;

hook! {
    unsafe fn sigset(sig: c_int, disp: sighandler_t) -> sighandler_t => jg_sigset {
        let Some(i) = owned(sig) else { return real!(sigset)(sig, disp) };
        // Holding an owned signal is virtual (see the sigprocmask hooks).
        let bit = 1u64 << (sig - 1);
        let was_held = VIRTUALLY_BLOCKED.with(|c| c.get() & bit != 0);
        let prev = recorded(i).handler;
        if disp == SIG_HOLD {
            VIRTUALLY_BLOCKED.with(|c| c.set(c.get() | bit));
        } else {
            record(i, AppAction { handler: disp, flags: 0, mask: empty_set() });
            VIRTUALLY_BLOCKED.with(|c| c.set(c.get() & !bit));
        }
        if was_held { SIG_HOLD } else { prev }
    }
}

hook! {
    unsafe fn __sigaction(sig: c_int, act: *const libc::sigaction, old: *mut libc::sigaction) -> c_int => jg_libc_sigaction {
        do_sigaction(sig, act, old)
    }
}

hook! {
    unsafe fn ssignal(sig: c_int, handler: sighandler_t) -> sighandler_t => jg_ssignal {
        match owned(sig) {
            Some(i) => set_simple(i, sig, handler, libc::SA_RESTART, true),
            None => real!(ssignal)(sig, handler),
        }
    }
}

hook! {
    unsafe fn __sysv_signal(sig: c_int, handler: sighandler_t) -> sighandler_t => jg_libc_sysv_signal {
        match owned(sig) {
            Some(i) => set_simple(i, sig, handler, libc::SA_RESETHAND | libc::SA_NODEFER, false),
            None => real!(__sysv_signal)(sig, handler),
        }
    }
}

hook! {
    unsafe fn siginterrupt(sig: c_int, flag: c_int) -> c_int => jg_siginterrupt {
        let Some(i) = owned(sig) else { return real!(siginterrupt)(sig, flag) };
        let mut a = recorded(i);
        if flag != 0 {
            a.flags &= !libc::SA_RESTART;
        } else {
            a.flags |= libc::SA_RESTART;
        }
        record(i, a);
        0
    }
}

// The fault signals are never really blocked: the kernel kills a thread
// whose SIGSEGV (or trap SIGTRAP) is blocked when the fault happens, and
// any thread may write JIT code. A program's blocking of them is kept as a
// per-thread virtual mask it sees in `oldset`; sent SIGSEGV/SIGTRAP are
// still delivered while virtually blocked (documented limitation).
thread_local! {
    static VIRTUALLY_BLOCKED: core::cell::Cell<u64> = const { core::cell::Cell::new(0) };
}

fn owned_bits() -> u64 {
    OWNED.iter().fold(0, |m, &s| m | 1 << (s - 1))
}

fn first_word(set: &libc::sigset_t) -> u64 {
    // SAFETY: sigset_t is at least one 64-bit word.
    unsafe { (set as *const libc::sigset_t as *const u64).read() }
}

fn set_first_word(set: &mut libc::sigset_t, w: u64) {
    // SAFETY: as above.
    unsafe { (set as *mut libc::sigset_t as *mut u64).write(w) }
}

/// Removes the owned signals from a mask that is about to be really
/// installed (chain uses it for the program's handler).
pub fn without_owned(set: &mut libc::sigset_t) -> u64 {
    let w = first_word(set);
    set_first_word(set, w & !owned_bits());
    w & owned_bits()
}

type SigmaskFn = unsafe extern "C" fn(c_int, *const libc::sigset_t, *mut libc::sigset_t) -> c_int;

fn do_sigmask(
    how: c_int,
    set: *const libc::sigset_t,
    old: *mut libc::sigset_t,
    real: SigmaskFn,
) -> c_int {
    if !INSTALLED.load(Ordering::Acquire) {
        // SAFETY: libc's own function with the program's arguments.
        return unsafe { real(how, set, old) };
    }
    let before = VIRTUALLY_BLOCKED.with(core::cell::Cell::get);
    // SAFETY: the program's pointers, valid or null as for libc.
    let new = unsafe { set.as_ref() }.copied();
    let r = match new {
        Some(mut n) => {
            let asked = without_owned(&mut n);
            let after = match how {
                libc::SIG_BLOCK => before | asked,
                libc::SIG_UNBLOCK => before & !asked,
                libc::SIG_SETMASK => asked,
                _ => before,
            };
            // SAFETY: as above, with our filtered copy of the set.
            let r = unsafe { real(how, &n, old) };
            if r == 0 {
                VIRTUALLY_BLOCKED.with(|c| c.set(after));
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

hook! {
    unsafe fn sigprocmask(how: c_int, set: *const libc::sigset_t, old: *mut libc::sigset_t) -> c_int => jg_sigprocmask {
        do_sigmask(how, set, old, real!(sigprocmask))
    }
}

hook! {
    unsafe fn pthread_sigmask(how: c_int, set: *const libc::sigset_t, old: *mut libc::sigset_t) -> c_int => jg_pthread_sigmask {
        do_sigmask(how, set, old, real!(pthread_sigmask))
    }
}
