//! The PKRU tamper check, at every entry into jitguard: the hooks check
//! the running thread's PKRU (one RDPKRU), the handlers the PKRU saved in
//! the signal frame (the interrupted context's), and the fault handler
//! checks the frame again after a program's handler had it (a handler
//! that edits the saved PKRU, or clears XSTATE_BV's PKRU bit, forges a
//! sigreturn that opens every key). Any of jitguard's keys write-enabled
//! outside the thread's own window is tampering: one report line naming
//! the thread and the keys; fatal (SIGSEGV) in enforce mode; in audit and
//! learn modes counted and repaired (those keys sealed again, in the
//! thread or the frame), so later writes fault and are judged as usual. pkey backend only (under mprotect there is no
//! register to forge). See SECURITY.md for what this cannot see.

use crate::counters::{self, COUNTERS};
use crate::state::{globals, protection, ready};
use crate::{pkru, signals, sys, window};
use core::sync::atomic::{AtomicU32, Ordering};
use jg::config::Mode;
use jg::pkru::{KeySet, Pkru};
use jg::tamper::{tampered, KeyList};

/// Reports printed, at most `MAX_REPORTS` (audit mode would otherwise
/// print one per hook call until the thread is sealed again).
static REPORTS: AtomicU32 = AtomicU32::new(0);
const MAX_REPORTS: u32 = 16;

/// Where the PKRU that was judged came from.
#[derive(Clone, Copy)]
pub enum Seen {
    /// The running thread, entering hook `0`.
    Hook(&'static str),
    /// A signal frame on entry to handler `0`.
    Entry(&'static str),
    /// A signal frame after the program's handler for signal `0` ran.
    AfterHandler(i32),
}

/// The keys jitguard owns, if the pkey backend is in force.
fn our_keys() -> Option<KeySet> {
    if !ready() {
        return None;
    }
    protection().keys().map(|k| k.set)
}

/// Checks the running thread's PKRU on entry into hook `name`.
#[inline]
pub fn check_here(name: &'static str) {
    let Some(ours) = our_keys() else { return };
    let p = pkru::read();
    let bad = tampered(p, ours, window::current().keys());
    if !bad.is_empty() {
        found(Seen::Hook(name), p, bad);
        pkru::write(p.sealed(bad));
    }
}

/// Checks the PKRU saved in signal frame `ctx` (the interrupted context
/// of this thread). Returns whether it was tampered with.
pub fn check_frame(ctx: *mut libc::c_void, seen: Seen) -> bool {
    let Some(ours) = our_keys() else {
        return false;
    };
    let Some(p) = pkru::frame_get(ctx) else {
        return false;
    };
    let bad = tampered(p, ours, window::current().keys());
    if bad.is_empty() {
        return false;
    }
    found(seen, p, bad);
    pkru::frame_set(ctx, p.sealed(bad));
    true
}

fn found(seen: Seen, p: Pkru, bad: KeySet) {
    use core::fmt::Write;
    counters::bump(&COUNTERS.pkru_tampered);
    let enforce = globals().config.mode == Mode::Enforce;
    if REPORTS.fetch_add(1, Ordering::Relaxed) < MAX_REPORTS {
        let mut b = jg::report::StackBuf::<384>::new();
        let _ = write!(
            b,
            "jitguard: PKRU tampered in thread {}: key(s) {} write-enabled outside any window (PKRU {:#010x}",
            sys::tid(),
            KeyList(bad),
            p.0
        );
        let _ = match seen {
            Seen::Hook(h) => write!(b, ", found entering {h})"),
            Seen::Entry(h) => write!(b, ", in the frame of a {h})"),
            Seen::AfterHandler(sig) => write!(
                b,
                ", in the signal frame after the program's handler for signal {sig}: a forged sigreturn)"
            ),
        };
        let _ = b.write_str(if enforce {
            "\n"
        } else {
            "; resealed, not fatal outside enforce mode\n"
        });
        crate::log::report(b.as_bytes());
    }
    if enforce {
        signals::die_now(libc::SIGSEGV);
    }
}
