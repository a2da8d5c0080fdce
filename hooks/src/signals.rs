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
use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
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

static APP: [AtomicPtr<AppAction>; 2] = [
    AtomicPtr::new(core::ptr::null_mut()),
    AtomicPtr::new(core::ptr::null_mut()),
];
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
    APP[i].store(Box::into_raw(Box::new(a)), Ordering::Release);
}

fn recorded(i: usize) -> AppAction {
    let p = APP[i].load(Ordering::Acquire);
    // SAFETY: records are leaked, never freed, so any published pointer
    // stays valid; null means "default".
    unsafe { p.as_ref() }.copied().unwrap_or(AppAction {
        handler: libc::SIG_DFL,
        flags: 0,
        mask: empty_set(),
    })
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
            // SAFETY: sigset operations on valid, initialised sets.
            unsafe {
                for s in 1..libc::SIGRTMAX() {
                    if libc::sigismember(&a.mask, s) == 1 {
                        libc::sigaddset(&mut mask, s);
                    }
                }
                if a.flags & libc::SA_NODEFER == 0 {
                    libc::sigaddset(&mut mask, sig);
                }
            }
            if a.flags & libc::SA_RESETHAND != 0 {
                record(
                    i,
                    AppAction {
                        handler: libc::SIG_DFL,
                        flags: 0,
                        mask: empty_set(),
                    },
                );
            }
            let old = sys::set_sigmask(&mask);
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
        }
    }
}

fn do_sigaction(sig: c_int, act: *const libc::sigaction, old: *mut libc::sigaction) -> c_int {
    let Some(i) = owned(sig) else {
        return real_sigaction(sig, act, old);
    };
    let cur = recorded(i);
    // SAFETY: the program passes valid (or null) pointers, as for libc.
    unsafe {
        if !old.is_null() {
            *old = core::mem::zeroed();
            (*old).sa_sigaction = cur.handler;
            (*old).sa_flags = cur.flags;
            (*old).sa_mask = cur.mask;
        }
        if !act.is_null() {
            record(
                i,
                AppAction {
                    handler: (*act).sa_sigaction,
                    flags: (*act).sa_flags,
                    mask: (*act).sa_mask,
                },
            );
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
        let mut mask = sys::current_sigmask();
        let was_held = libc::sigismember(&mask, sig) == 1;
        let prev = recorded(i).handler;
        if disp == SIG_HOLD {
            libc::sigaddset(&mut mask, sig);
            sys::set_sigmask(&mask);
        } else {
            record(i, AppAction { handler: disp, flags: 0, mask: empty_set() });
            libc::sigdelset(&mut mask, sig);
            sys::set_sigmask(&mask);
        }
        if was_held { SIG_HOLD } else { prev }
    }
}
