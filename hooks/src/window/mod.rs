//! The calling thread's write window: the one place that holds it, opens
//! it, and closes it from ordinary code (the reseal trampoline, the hooks
//! that leave a writer's frame). The fault handler changes it only through
//! these functions; the transitions themselves are `jg::window::Window`'s.

mod trampoline;

use crate::protect::{Context, Keys};
use crate::state::{globals, protection};
use crate::sys;
use core::cell::Cell;
use jg::pkru::KeySet;
use jg::predict::KeyHistory;
use jg::window::{CallEnd, Window};

thread_local! {
    static WINDOW: Cell<Window> = const { Cell::new(Window::Closed) };
    /// Key prediction's history of this thread's writers (ordinary memory,
    /// like the window record: see `jg::predict`).
    static HISTORY: KeyHistory = const { KeyHistory::new() };
    /// Set while this thread records into `HISTORY` (a signal handler's
    /// window may open and close meanwhile).
    static HISTORY_BUSY: Cell<bool> = const { Cell::new(false) };
}

/// Key prediction's setting here: `JITGUARD_PREDICT` and what the
/// protection and the detectors in force allow of it (`jg::predict`).
pub fn prediction() -> jg::predict::Setting {
    let g = globals();
    let keys = g.protection.keys();
    jg::predict::Setting {
        configured: g.config.predict,
        pkey: keys.is_some(),
        hashed: keys.is_some_and(|k| k.policy() == jg::config::Policy::Hashed),
        call_windows: g.config.window == jg::config::Window::Call,
        attest: crate::attest::in_force().enabled(),
        gadgets_deny: g.config.gadgets == jg::config::Gadgets::Deny
            && g.config.mode == jg::config::Mode::Enforce,
    }
}

/// How many windows key prediction looks back (0: off). Asked at every
/// window's opening and closing: off (the default) answers at once.
pub fn prediction_depth() -> u8 {
    if globals().config.predict == 0 {
        return 0;
    }
    prediction().depth().unwrap_or(0)
}

/// The code keys to open ahead, with `key`, for a new call window ending
/// at `site`: what the site's last windows on this thread faulted on,
/// never the reserve key (every page not written yet) nor a key that is
/// not jitguard's.
pub fn keys_ahead(site: u64, key: u32, keys: &Keys) -> KeySet {
    let depth = prediction_depth();
    if depth == 0 {
        return KeySet::EMPTY;
    }
    // A handler's window nested in this thread's own `learn` sees the
    // history half written: it predicts nothing.
    if HISTORY_BUSY.with(Cell::get) {
        return KeySet::EMPTY;
    }
    let predicted = HISTORY.with(|h| h.predict(site, depth));
    KeySet(
        predicted.0 & keys.set.0 & !KeySet::single(keys.reserve_key()).0 & !KeySet::single(key).0,
    )
}

/// Teaches key prediction what a closing call window faulted on.
pub fn learn(w: &Window) {
    let (Some(end), depth) = (w.call_end(), prediction_depth()) else {
        return;
    };
    if depth > 0 && !HISTORY_BUSY.with(|b| b.replace(true)) {
        HISTORY.with(|h| h.record(end.ret, w.faulted_keys(), depth));
        HISTORY_BUSY.with(|b| b.set(false));
    }
}

/// This thread's window, as it is now.
pub fn current() -> Window {
    WINDOW.with(Cell::get)
}

/// Replaces this thread's window.
pub fn set(w: Window) {
    WINDOW.with(|c| c.set(w));
}

/// Closes this thread's window, returning what it was.
pub fn take() -> Window {
    WINDOW.with(|c| c.replace(Window::Closed))
}

/// Where a call window's writer is made to return.
pub fn trampoline_address() -> u64 {
    trampoline::address()
}

/// Makes the trusted writer return through the trampoline.
///
/// # Safety
/// `end.slot` must be the writer's return-address slot on this thread's
/// stack, just read back holding `end.ret`, with the thread stopped (in a
/// handler) so nothing else uses the slot meanwhile.
pub unsafe fn redirect_return(end: CallEnd) {
    // SAFETY: the caller's contract.
    unsafe { (end.slot as *mut u64).write(trampoline::address()) };
}

/// Seals a window from the thread's own ordinary code (not a signal
/// frame): its keys in PKRU or its pages, and the signal mask it held.
fn seal_here(w: &Window) {
    let p = protection();
    p.seal_window(w, Context::Here);
    if let (true, Some(mask)) = (p.windows_open_to_handlers(), w.saved_mask()) {
        sys::set_sigmask_word(mask);
    }
    learn(w);
}

/// Puts the writer's real return address back in its slot if the slot
/// still holds the trampoline's (a live frame then returns normally; a
/// dead one is unused stack).
pub fn give_back_return_address(end: CallEnd) {
    if sys::read_u64(end.slot) == Some(trampoline::address()) {
        // SAFETY: the slot is in this thread's stack and was just read.
        unsafe { (end.slot as *mut u64).write(end.ret) };
    }
}

/// Ends this thread's call window when its writer returns (the
/// trampoline's call, outside any handler): seals what it opened and
/// hands back the real return address.
fn end_call_window() -> u64 {
    let w = take();
    let Some(end) = w.call_end() else {
        crate::log::emit(format_args!(
            "jitguard: internal error: reseal trampoline reached with no call window"
        ));
        // SAFETY: no return address to go back to; abort is always sound.
        unsafe { libc::abort() };
    };
    seal_here(&w);
    end.ret
}

/// Closes this thread's call window from ordinary code (a longjmp is about
/// to leave the writer, a thread is created or exits, an unwinder is about
/// to walk the stack): seals what it opened and gives the writer's frame
/// its return address back if it still runs.
pub fn close_call_window_now() {
    if !current().is_call() {
        return;
    }
    let w = take();
    seal_here(&w);
    if let Some(end) = w.call_end() {
        give_back_return_address(end);
    }
}
