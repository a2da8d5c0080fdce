//! Signals stay the program's: jitguard keeps its SIGSEGV and SIGTRAP
//! handlers installed, and the program's `sigaction` (and the older
//! `signal` family, which glibc implements without going through the PLT)
//! only records the program's action. Every signal that is not jitguard's
//! own is passed to that recorded action with the same siginfo and
//! context, honouring SA_SIGINFO, SA_NODEFER, SA_RESETHAND, sa_mask,
//! SIG_IGN and SIG_DFL, like Android's sigchain.
//!
//! One `Chain` per owned signal holds the program's action, published for
//! lock-free reads; replacing it allocates nothing, so it may happen in a
//! handler (SA_RESETHAND, a program handler calling sigaction).

use crate::counters::{self, COUNTERS};
use crate::published::{Published, Readers};
use crate::sigmask;
use crate::sys;
use crate::vault::{self, OwnState};
use core::sync::atomic::{AtomicBool, Ordering};
use libc::{c_int, c_void, sighandler_t, siginfo_t};

pub use crate::sigmask::OWNED;

/// The program's action for one signal.
#[derive(Clone, Copy)]
pub struct AppAction {
    pub handler: sighandler_t,
    pub flags: c_int,
    pub mask: libc::sigset_t,
}

pub const DEFAULT_ACTION: AppAction = AppAction {
    handler: libc::SIG_DFL,
    flags: 0,
    // SAFETY: an all-zero sigset_t is the empty set.
    mask: unsafe { core::mem::zeroed() },
};

/// One owned signal: the program's recorded action.
pub struct Chain {
    action: Published<AppAction>,
}

impl Chain {
    const fn new(readers: &'static Readers) -> Chain {
        Chain {
            action: Published::new(readers),
        }
    }

    /// The program's action (SIG_DFL until it sets one).
    pub fn action(&self) -> AppAction {
        self.action.read().map_or(DEFAULT_ACTION, |a| *a)
    }

    /// Records the program's action (a vault update: it allocates
    /// nothing, so it may run in a handler).
    pub fn set(&self, a: AppAction) {
        vault::update(|| self.action.publish(a));
    }
}

static READERS: [Readers; 2] = [Readers::new(), Readers::new()];
#[link_section = "jitguard_vault"]
static CHAINS: OwnState<[Chain; 2]> = OwnState([Chain::new(&READERS[0]), Chain::new(&READERS[1])]);
/// Set once at start-up, then frozen: cleared, the program's sigaction
/// would replace jitguard's handlers.
#[link_section = "jitguard_frozen"]
static INSTALLED: OwnState<AtomicBool> = OwnState(AtomicBool::new(false));
/// SIGSYS, owned only while jitguard's seccomp filter traps (decided at
/// start-up: frozen).
static SYS_READERS: Readers = Readers::new();
#[link_section = "jitguard_vault"]
static SYS_CHAIN: OwnState<Chain> = OwnState(Chain::new(&SYS_READERS));
#[link_section = "jitguard_frozen"]
static SYS_OWNED: OwnState<AtomicBool> = OwnState(AtomicBool::new(false));

/// The chain of an owned signal, once jitguard's handlers are installed.
pub fn owned(sig: c_int) -> Option<&'static Chain> {
    if INSTALLED.load(Ordering::Acquire) {
        chain_of(sig)
    } else {
        None
    }
}

fn chain_of(sig: c_int) -> Option<&'static Chain> {
    if sig == libc::SIGSYS && SYS_OWNED.load(Ordering::Acquire) {
        return Some(&SYS_CHAIN);
    }
    OWNED.iter().position(|&s| s == sig).map(|i| &CHAINS[i])
}

/// After fork: counts held by readers on threads that are gone.
pub fn reset_readers_in_child() {
    for c in CHAINS.iter().chain([&*SYS_CHAIN]) {
        c.action.reset_readers_in_child();
    }
}

pub fn installed() -> bool {
    INSTALLED.load(Ordering::Acquire)
}

fn real_sigaction(sig: c_int, act: *const libc::sigaction, old: *mut libc::sigaction) -> c_int {
    // SAFETY: libc's own sigaction, with pointers valid for the call.
    unsafe { crate::real!(sigaction)(sig, act, old) }
}

/// Every signal but the synchronous fault signals, which the kernel must
/// be able to deliver (it kills a process whose fault signal is blocked).
fn async_signals() -> libc::sigset_t {
    let mut s = sigmask::empty_set();
    // SAFETY: filling and editing a valid set.
    unsafe {
        libc::sigfillset(&mut s);
        for sig in sigmask::FAULT_SIGNALS {
            libc::sigdelset(&mut s, sig);
        }
    }
    s
}

/// Installs jitguard's handlers for the owned signals, recording whatever
/// was installed before as the program's action.
pub fn install(segv: usize, trap: usize) -> bool {
    for (&sig, h) in OWNED.iter().zip([segv, trap]) {
        let chain = chain_of(sig).expect("owned signal");
        // SAFETY: zeroed sigaction is a valid out-parameter / starting value.
        let mut prev: libc::sigaction = unsafe { core::mem::zeroed() };
        if real_sigaction(sig, core::ptr::null(), &mut prev) == 0 {
            chain.set(AppAction {
                handler: prev.sa_sigaction,
                flags: prev.sa_flags,
                mask: prev.sa_mask,
            });
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

/// Installs jitguard's SIGSYS handler (the seccomp filter's traps),
/// recording the program's action as for the other owned signals. Call
/// before the filter is installed: a trap with no handler kills.
pub fn install_sigsys(h: usize) -> bool {
    // SAFETY: zeroed sigaction is a valid out-parameter / starting value.
    let mut prev: libc::sigaction = unsafe { core::mem::zeroed() };
    if real_sigaction(libc::SIGSYS, core::ptr::null(), &mut prev) == 0 {
        SYS_CHAIN.set(AppAction {
            handler: prev.sa_sigaction,
            flags: prev.sa_flags,
            mask: prev.sa_mask,
        });
    }
    // SAFETY: as above.
    let mut act: libc::sigaction = unsafe { core::mem::zeroed() };
    act.sa_sigaction = h;
    act.sa_mask = async_signals();
    // NODEFER: a trap while SIGSYS is blocked kills the process, and the
    // handler's own work may trap (never its own calls: the gate).
    act.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_NODEFER | libc::SA_RESTART;
    if real_sigaction(libc::SIGSYS, &act, core::ptr::null_mut()) != 0 {
        return false;
    }
    sigmask::own_also(libc::SIGSYS);
    SYS_OWNED.store(true, Ordering::Release);
    true
}

/// The process dies by `sig` now (its default action, raised here).
pub fn die_now(sig: c_int) {
    set_default(sig);
    sys::raise_here(sig);
}

fn set_default(sig: c_int) {
    // SAFETY: a zeroed sigaction with SIG_DFL is a valid action.
    let mut dfl: libc::sigaction = unsafe { core::mem::zeroed() };
    dfl.sa_sigaction = libc::SIG_DFL;
    real_sigaction(sig, &dfl, core::ptr::null_mut());
}

/// Lets `sig` take its default action: the process dies by it.
fn die_by(sig: c_int, info: *mut siginfo_t) {
    set_default(sig);
    // SAFETY: info is the kernel's siginfo for this delivery.
    let code = unsafe { (*info).si_code };
    // A hardware fault re-executes the faulting instruction on return and
    // is delivered again, now fatally, with its own siginfo. Anything else
    // (sent signals, int3, a trace trap) must be raised again.
    // (A seccomp SIGSYS resumes after the system call: raised again too.)
    let refaults = code > 0 && sig != libc::SIGTRAP && sig != libc::SIGSYS;
    if !refaults {
        sys::raise_here(sig);
    }
}

/// Makes jitguard's own denial fatal: SIGSEGV's default action, then the
/// handler returns and the write faults again.
pub fn die_by_segv_on_return() {
    set_default(libc::SIGSEGV);
}

/// Passes a signal that is not jitguard's to the program's action.
pub fn chain(sig: c_int, info: *mut siginfo_t, ctx: *mut c_void) {
    counters::bump(&COUNTERS.chained_signals);
    let Some(chain) = chain_of(sig) else { return };
    let a = chain.action();
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
            sigmask::or_sigset(&mut mask, &a.mask);
            if a.flags & libc::SA_NODEFER == 0 {
                // SAFETY: valid set.
                unsafe { libc::sigaddset(&mut mask, sig) };
            }
            // Mask first, then SA_RESETHAND: a sent signal arriving in
            // between must not find SIG_DFL while the handler is unblocked.
            // The owned signals stay deliverable (a handler may write JIT
            // code); the program sees them blocked through the virtual mask.
            let virt = sigmask::without_owned(&mut mask);
            let virt_before = sigmask::replace_virtual(virt);
            let old = sys::set_sigmask(&mask);
            if a.flags & libc::SA_RESETHAND != 0 {
                chain.set(DEFAULT_ACTION);
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
            sigmask::replace_virtual(virt_before);
        }
    }
}

/// The program's `sigaction` for any signal.
///
/// # Safety
/// `act` and `old` are valid or null, as for libc's sigaction.
pub unsafe fn sigaction(
    sig: c_int,
    act: *const libc::sigaction,
    old: *mut libc::sigaction,
) -> c_int {
    let Some(chain) = owned(sig) else {
        // SAFETY: the caller's contract (`act` valid or null).
        if let Some(a) = unsafe { act.as_ref() } {
            // No handler may really block the owned signals: a write fault
            // on guarded code (or, while the seccomp filter traps, a
            // trapped call) inside it would kill the process. As for
            // sigprocmask, the blocking stays virtual.
            let mut a = *a;
            sigmask::without_owned(&mut a.sa_mask);
            return real_sigaction(sig, &a, old);
        }
        return real_sigaction(sig, act, old);
    };
    let cur = chain.action();
    // SAFETY: the caller's contract. `act` is read before `old` is
    // written: they may be the same struct.
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
            chain.set(a);
        }
    }
    0
}

/// The `signal` family's semantics.
#[derive(Clone, Copy)]
pub enum Simple {
    /// BSD (glibc's `signal`, `bsd_signal`, `ssignal`): restart, block the
    /// signal while its handler runs.
    Bsd,
    /// System V (`sysv_signal`): one shot, not blocked while running.
    SysV,
}

/// Installs `handler` for `sig` the way the `signal` family does,
/// returning the previous handler; None when `sig` is not owned (the
/// caller then calls the real function).
pub fn set_simple(sig: c_int, handler: sighandler_t, how: Simple) -> Option<sighandler_t> {
    let chain = owned(sig)?;
    let prev = chain.action().handler;
    let mut mask = sigmask::empty_set();
    let flags = match how {
        Simple::Bsd => {
            // SAFETY: valid set.
            unsafe { libc::sigaddset(&mut mask, sig) };
            libc::SA_RESTART
        }
        Simple::SysV => libc::SA_RESETHAND | libc::SA_NODEFER,
    };
    chain.set(AppAction {
        handler,
        flags,
        mask,
    });
    Some(prev)
}

const SIG_HOLD: sighandler_t = 2;

/// `sigset` for an owned signal: holding it is virtual (see `sigmask`).
pub fn sigset(sig: c_int, disp: sighandler_t) -> Option<sighandler_t> {
    let chain = owned(sig)?;
    let bit = 1u64 << (sig - 1);
    let was_held = sigmask::virtual_mask() & bit != 0;
    let prev = chain.action().handler;
    if disp == SIG_HOLD {
        sigmask::replace_virtual(sigmask::virtual_mask() | bit);
    } else {
        chain.set(AppAction {
            handler: disp,
            flags: 0,
            mask: sigmask::empty_set(),
        });
        sigmask::replace_virtual(sigmask::virtual_mask() & !bit);
    }
    Some(if was_held { SIG_HOLD } else { prev })
}

/// `siginterrupt` for an owned signal.
pub fn siginterrupt(sig: c_int, flag: c_int) -> Option<c_int> {
    let chain = owned(sig)?;
    let mut a = chain.action();
    if flag != 0 {
        a.flags &= !libc::SA_RESTART;
    } else {
        a.flags |= libc::SA_RESTART;
    }
    chain.set(a);
    Some(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_starts_at_sig_dfl_and_keeps_the_latest_action() {
        let c = Chain::new(Box::leak(Box::new(Readers::new())));
        assert_eq!(c.action().handler, libc::SIG_DFL);
        for h in 10..40 {
            c.set(AppAction {
                handler: h,
                flags: libc::SA_SIGINFO,
                mask: sigmask::empty_set(),
            });
        }
        assert_eq!(c.action().handler, 39);
        assert_eq!(c.action().flags, libc::SA_SIGINFO);
    }

    #[test]
    fn only_segv_and_trap_have_chains() {
        assert!(chain_of(libc::SIGSEGV).is_some());
        assert!(chain_of(libc::SIGTRAP).is_some());
        assert!(chain_of(libc::SIGBUS).is_none());
        assert!(owned(libc::SIGSEGV).is_none(), "not before install");
    }

    #[test]
    fn async_signals_leave_the_fault_signals_deliverable() {
        let s = sigmask::first_word(&async_signals());
        for sig in sigmask::FAULT_SIGNALS {
            assert_eq!(s & (1 << (sig - 1)), 0);
        }
        assert_ne!(s & (1 << (libc::SIGALRM - 1)), 0);
    }
}
