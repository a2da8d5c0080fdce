//! The fault and trap handlers: decode what the kernel reports, decide
//! what it means, apply the decision (`decode`, `decide`, `apply`).
//!
//! A write to a sealed guarded page faults (SIGSEGV: SEGV_PKUERR on one of
//! jitguard's keys, or SEGV_ACCERR on a guarded page under mprotect). The
//! writer policy decides; if it allows, the page is opened for the
//! faulting thread (pkey: its key's write bit in the PKRU saved in the
//! signal frame; mprotect: the page becomes RW without X) until the
//! trusted writer returns (a call window) or for one stepped instruction
//! (the trap flag's SIGTRAP reseals it). Everything else goes on to the
//! program's own handler.
//!
//! Nothing here allocates or takes a lock: state is atomics, the thread's
//! window and lock-free published data.

mod apply;
mod decide;
pub(crate) mod decode;

use crate::counters::{self, COUNTERS};
use crate::state::{protection, ready};
use crate::{pkru, regions, rep, signals, sys, vault, window};
pub use decode::Frame;
use decode::{Fault, Info};

/// The interrupted context, for reports.
pub type FrameRef = Frame;
use libc::{c_int, c_void, siginfo_t};

/// SIGSEGV: jitguard's own write faults, or the program's.
pub extern "C" fn on_segv(sig: c_int, info: *mut siginfo_t, ctx: *mut c_void) {
    dispatch(sig, info, ctx, |f| {
        // SAFETY: the kernel's siginfo for this SIGSEGV.
        let info = unsafe { Info::read(info) };
        let write = f.error_code() & decode::PF_WRITE != 0;
        if own_state_write(&info, f, write) || rep::refault(info.code, write, f.rip(), info.addr) {
            return true;
        }
        apply::close_stale_call_window(f);
        let p = protection();
        let fault = decode::decode_segv(info, f.error_code(), p.keys().map(|k| k.set), |a| {
            regions::guarded_prot(a).is_some()
        });
        if let (Fault::KeyWrite { .. } | Fault::KeyRead { .. }, Some(k)) = (fault, p.keys()) {
            // The handler runs with the kernel's PKRU (access disabled for
            // keys 1..15): let it read and write guarded memory for its
            // own work (instruction bytes, REP emulation).
            pkru::write(pkru::read().opened(k.set));
        }
        let w = window::current();
        let judge = decide::FrameJudge {
            frame: f,
            window: &w,
        };
        apply::apply(decide::decide(fault, &w, &judge), f, w)
    });
}

/// A store into jitguard's own protected state: refused in every mode
/// (letting it through would open the vault to whoever wrote), reported,
/// then SIGSEGV. Reads of the vault are allowed to every thread; one that
/// faults comes from a thread that predates the vault's key.
// Out of line: the handler's own frame stays small (programs run it on
// small alternate stacks).
#[inline(never)]
fn own_state_write(info: &Info, f: &Frame, write: bool) -> bool {
    let own = match info.code {
        decode::SEGV_PKUERR => vault::is_own_key(info.pkey),
        decode::SEGV_ACCERR => write && vault::is_own_state(info.addr) && vault::protected(),
        _ => false,
    };
    if !own {
        return false;
    }
    if !write {
        // A read of the vault by a thread whose PKRU never had the vault's
        // rights (it was created before start-up allocated the key, with
        // access disabled for every key): give it the program threads'
        // rights (read, not write) and let the read run again.
        if let Some(p) = pkru::frame_get(f.ctx()) {
            let fixed = vault::thread_pkru(p);
            if fixed != p && crate::vault::frame_set(f.ctx(), fixed) {
                return true;
            }
        }
    }
    counters::bump(&COUNTERS.denials);
    crate::report::own_state(info.addr, f, write);
    signals::die_by_segv_on_return();
    true
}

/// SIGTRAP: the end of one stepped instruction, or the program's.
pub extern "C" fn on_trap(sig: c_int, info: *mut siginfo_t, ctx: *mut c_void) {
    dispatch(sig, info, ctx, |f| {
        // SAFETY: the kernel's siginfo for this SIGTRAP.
        let code = unsafe { (*info).si_code };
        let w = window::current();
        if !decode::is_step_end(code, w.is_insn()) {
            return false;
        }
        apply::seal_insn_window(f, &w);
        window::set(jg::window::Window::Closed);
        true
    });
}

/// Runs jitguard's part of a handler with errno saved and its time
/// counted; a signal that is not jitguard's goes on to the program.
fn dispatch(sig: c_int, info: *mut siginfo_t, ctx: *mut c_void, ours: impl FnOnce(&Frame) -> bool) {
    // Before anything reads jitguard's state: the kernel's PKRU denies
    // the vault's key.
    vault::enter_handler();
    let saved = sys::errno();
    let t0 = sys::now_ns();
    // SAFETY: the kernel's ucontext for this delivery, valid until return.
    let f = unsafe { Frame::new(ctx) };
    let entry = if sig == libc::SIGSEGV {
        "SIGSEGV"
    } else {
        "SIGTRAP"
    };
    crate::tamper::check_frame(ctx, crate::tamper::Seen::Entry(entry));
    if ready() && ours(&f) {
        counters::add(&COUNTERS.handler_ns, sys::now_ns().saturating_sub(t0));
        sys::set_errno(saved);
        return;
    }
    if ready() {
        close_insn_window_before_chaining(&f);
        // The program's handler never runs with a code key writable
        // (jitguard's own work in this handler may have opened them).
        if let Some(k) = protection().keys() {
            let cur = pkru::read();
            if !cur.writable(k.set).is_empty() {
                pkru::write(cur.sealed(k.set));
            }
        }
    }
    sys::set_errno(saved);
    signals::chain(sig, info, ctx);
    // The program's handler had the frame: a saved PKRU of 0, or
    // XSTATE_BV's PKRU bit cleared, would return with every key open.
    let saved = sys::errno();
    crate::tamper::check_frame(ctx, crate::tamper::Seen::AfterHandler(sig));
    sys::set_errno(saved);
}

/// A signal that is not jitguard's arrived while this thread's
/// instruction window is open (the stepped instruction faulted on
/// something else): seal the window into this frame first, so the
/// program's handler never runs with a page open, and a handler that
/// longjmps leaves nothing open behind. If the handler returns, the
/// instruction faults again and a fresh window opens. A call window stays:
/// the program's handler interrupts the trusted writer, which goes on
/// writing after it returns (pkey: the kernel runs the handler with
/// jitguard's keys disabled anyway).
fn close_insn_window_before_chaining(f: &Frame) {
    let w = window::current();
    if w.is_insn() {
        apply::seal_insn_window(f, &w);
        window::set(jg::window::Window::Closed);
    }
}
