//! Carrying out a decision: the frame's PKRU, trap flag and signal mask,
//! the page table, the thread's window, the writer's return address.

use super::decide::{Action, How};
use super::decode::{Frame, EFLAGS_DF};
use crate::counters::{self, COUNTERS, GUARDED_PAGES};
use crate::protect::{Context, Protection};
use crate::sigmask::bit;
use crate::state::protection;
use crate::{pkru, regions, rep, signals, sys, window};
use jg::pkru::KeySet;
use jg::window::{Added, Window};
use jg::x86::StringRegs;

/// Signals that stay deliverable during a stepped instruction: the
/// synchronous ones (the kernel kills a process whose fault signal is
/// blocked) and those that cannot be blocked.
const SYNC_SIGNALS: u64 = {
    let f = crate::sigmask::FAULT_SIGNALS;
    let mut m = bit(libc::SIGKILL) | bit(libc::SIGSTOP);
    let mut i = 0;
    while i < f.len() {
        m |= bit(f[i]);
        i += 1;
    }
    m
};

/// The protection of a guarded page (all access if it vanished meanwhile).
fn region_prot(addr: u64) -> libc::c_int {
    regions::guarded_prot(addr).unwrap_or(libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC)
}

/// Carries out `action` for the fault in `f`; `w` is the thread's window
/// as the decision saw it. Returns whether the fault was jitguard's.
pub fn apply(action: Action, f: &Frame, w: Window) -> bool {
    let p = protection();
    match action {
        Action::Chain => false,
        Action::SealContext { keep } => {
            counters::bump(&COUNTERS.seal_fixups);
            if let Some(fp) = pkru::frame_get(f.ctx()) {
                crate::vault::frame_set(f.ctx(), fp.sealed(KeySet(p.key_set().0 & !keep.0)));
            }
            true
        }
        Action::GiveExec { page } => sys::mprotect(
            page,
            jg::PAGE_SIZE,
            libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC,
        )
        .is_ok(),
        Action::ResealForeign { page } => {
            if regions::guarded_prot(page).is_some() {
                p.seal_pages(&[page]);
            } else {
                sys::sched_yield();
            }
            true
        }
        Action::Deny => {
            signals::die_by_segv_on_return();
            true
        }
        Action::Open { addr, key, how } => open(p, f, w, addr, key, how),
    }
}

fn open(p: &Protection, f: &Frame, w: Window, addr: u64, key: Option<u32>, how: How) -> bool {
    let page = jg::page_floor(addr);
    match p {
        Protection::Pkey(k) => {
            let Some(frame_pkru) = pkru::frame_get(f.ctx()) else {
                crate::log!(Error, "no PKRU in the signal frame; cannot open {addr:#x}");
                return false;
            };
            let fault_key = key.unwrap_or(0);
            // First write: the page leaves the reserve key for its own.
            let key = p.key_page(page, fault_key, region_prot(page));
            if !w.is_insn() && try_rep(f, addr) {
                return true;
            }
            let ahead = match how {
                How::NewCall(end) => window::keys_ahead(end.ret, key, k),
                _ => KeySet::EMPTY,
            };
            if !w.is_open() || (w.is_call() && !w.keys().contains(key)) {
                // Exposure: the pages this thread can write while the
                // window is open, i.e. every page under each key it opens.
                let exposed = if key == k.reserve_key() {
                    GUARDED_PAGES.load(core::sync::atomic::Ordering::Relaxed)
                } else {
                    counters::get(&COUNTERS.pages_by_key[key as usize])
                };
                counters::add(&COUNTERS.exposed_pages_sum, exposed);
            }
            for a in (0..16).filter(|&a| ahead.contains(a)) {
                counters::bump(&COUNTERS.keys_ahead);
                counters::add(
                    &COUNTERS.exposed_pages_sum,
                    counters::get(&COUNTERS.pages_by_key[a as usize]),
                );
            }
            if !crate::attest::before_open(&w, page, key, f.rip()) {
                return true;
            }
            let base = frame_pkru.sealed(KeySet(k.set.0 & !w.keys_for_context(true).0));
            open_window(p, f, w, how, page, key, ahead);
            crate::vault::frame_set(f.ctx(), base.opened(ahead.with(key)));
            true
        }
        Protection::Mprotect => {
            if !w.is_insn() && try_rep(f, addr) {
                return true;
            }
            // Opened without exec, unless the writing instruction's bytes
            // lie on that very page.
            let rip = f.rip();
            let last = rip.wrapping_add(rep::MAX_INSN_LEN as u64 - 1);
            let exec = jg::page_floor(rip) == page || jg::page_floor(last) == page;
            let mut w = w;
            if w.is_call()
                && w.pages().len() == jg::window::MAX_OPEN_PAGES
                && !w.pages().contains(&page)
            {
                // A call window that has opened many pages: seal those
                // first, so the window's record stays complete.
                p.seal_pages(w.pages());
                crate::attest::after_seal_pages(w.pages());
                w.forget_pages();
                window::set(w);
            }
            if !crate::attest::before_open(&w, page, 0, f.rip()) {
                return true;
            }
            if !p.open_page(page, exec) {
                return false;
            }
            open_window(p, f, w, how, page, 0, KeySet::EMPTY);
            true
        }
    }
}

/// Records the opened page in the thread's window, opening one as `how`
/// says; a new call window also holds `ahead` open (key prediction).
fn open_window(p: &Protection, f: &Frame, w: Window, how: How, page: u64, key: u32, ahead: KeySet) {
    match how {
        How::JoinCall => {
            let mut w = w;
            if w.add(page, key) == Added::New {
                counters::bump(&COUNTERS.pages_opened);
            }
            if crate::log::enabled(jg::config::LogLevel::Trace) {
                trace_place(f.rip(), |ip| {
                    crate::log!(
                        Trace,
                        "call window: joins page {page:#x} (key {key}, {} pages, ip {ip}) thread {}",
                        w.pages().len(),
                        crate::sys::tid()
                    )
                });
            }
            window::set(w);
        }
        How::NewCall(end) => {
            let mask = f.sigmask();
            if p.windows_open_to_handlers() {
                // Pages opened in the page table are open to every handler
                // that would run on this thread: hold asynchronous signals
                // until the writer returns.
                f.set_sigmask(mask | !SYNC_SIGNALS);
            }
            window::set(Window::call(page, key, end, mask).opening_ahead(ahead));
            // SAFETY: `end.slot` is the writer's return-address slot on
            // this thread's stack, just read back holding `end.ret` by the
            // walk; the thread is stopped in this handler.
            unsafe { window::redirect_return(end) };
            counters::bump(&COUNTERS.opens);
            counters::bump(&COUNTERS.call_windows);
            counters::bump(&COUNTERS.pages_opened);
            if crate::log::enabled(jg::config::LogLevel::Trace) {
                trace_place(f.rip(), |ip| {
                    trace_place(end.ret, |ret| {
                        crate::log!(
                            Trace,
                            "call window: page {page:#x} (key {key}, {} ahead, ip {ip}), ends at return to {ret} (slot {:#x}) thread {}",
                            ahead.len(),
                            end.slot,
                            crate::sys::tid()
                        )
                    })
                });
            }
        }
        How::Insn => {
            let mut w = w;
            if w.is_open() {
                if w.add(page, key) == Added::New {
                    counters::bump(&COUNTERS.pages_opened);
                }
            } else {
                w = Window::insn(page, key, f.trap_flag(), f.sigmask());
                f.set_sigmask(!SYNC_SIGNALS);
                counters::bump(&COUNTERS.opens);
                counters::bump(&COUNTERS.pages_opened);
            }
            window::set(w);
            f.set_trap_flag(true);
        }
    }
}

/// Hands `say` the address as the writer view names it (`sym+off
/// (module+off)`), or in hex without a view: for trace lines, which
/// `scripts/window-trace.py` reads.
fn trace_place(addr: u64, say: impl FnOnce(&dyn core::fmt::Display)) {
    let view = crate::writers::view();
    match view.as_deref() {
        Some(v) => say(&v.table.place(addr)),
        None => say(&format_args!("{addr:#x}")),
    }
}

/// Completes a faulting REP string write in one go, if it is one.
fn try_rep(f: &Frame, addr: u64) -> bool {
    let s = rep::RepState {
        rip: f.rip(),
        rax: f.reg(libc::REG_RAX) as u64,
        regs: StringRegs {
            rcx: f.reg(libc::REG_RCX) as u64,
            rsi: f.reg(libc::REG_RSI) as u64,
            rdi: f.reg(libc::REG_RDI) as u64,
            df: f.reg(libc::REG_EFL) & EFLAGS_DF != 0,
        },
    };
    let Some(done) = rep::emulate(s, addr) else {
        return false;
    };
    f.set_reg(libc::REG_RCX, done.after.rcx as i64);
    f.set_reg(libc::REG_RSI, done.after.rsi as i64);
    f.set_reg(libc::REG_RDI, done.after.rdi as i64);
    if let Some(next) = done.next_rip {
        f.set_reg(libc::REG_RIP, next as i64);
    }
    true
}

/// Seals an instruction window into the frame the handler returns
/// through: keys or pages, the trap flag, the signal mask.
pub fn seal_insn_window(f: &Frame, w: &Window) {
    protection().seal_window(w, Context::Frame(f.ctx()));
    if let Window::Insn {
        tf_was_set,
        saved_mask,
        ..
    } = *w
    {
        if !tf_was_set {
            f.set_trap_flag(false);
        }
        f.set_sigmask(saved_mask);
    }
}

/// A call window whose writer left without returning (a longjmp past it)
/// is closed at the thread's next fault from a shallower stack frame.
pub fn close_stale_call_window(f: &Frame) {
    let w = window::current();
    // A handler on an alternate signal stack may sit anywhere relative to
    // the writer's stack: only a fault on the thread's own stack, above
    // the writer's frame, shows that the writer is gone.
    if !w.is_call() || f.on_alt_stack() || !w.writer_gone(f.sp()) {
        return;
    }
    crate::log!(
        Debug,
        "stale call window closed (sp {:#x}, ip {:#x})",
        f.sp(),
        f.rip()
    );
    let p = protection();
    p.seal_window(&w, Context::Frame(f.ctx()));
    if let (true, Some(mask)) = (p.windows_open_to_handlers(), w.saved_mask()) {
        f.set_sigmask(mask);
    }
    if let Some(end) = w.call_end() {
        window::give_back_return_address(end);
    }
    window::learn(&w);
    window::set(Window::Closed);
}
