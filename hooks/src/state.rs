//! What start-up decides, fixed afterwards: the configuration and the
//! protection in force; and how far start-up has got. Both live in the
//! vault's frozen section: read-only (and sealed) once start-up is done,
//! so no store can change the mode, the backend or the keys.

use crate::protect::Protection;
use crate::vault::OwnState;
use core::sync::atomic::{AtomicU8, Ordering};
use jg::config::Config;
use once_cell::sync::OnceCell;

/// Where initialisation stands; hooks pass straight through until `READY`.
pub const UNINIT: u8 = 0;
pub const INITIALISING: u8 = 1;
pub const READY: u8 = 2;
pub const DISABLED: u8 = 3;

#[link_section = "jitguard_frozen"]
pub static STATE: OwnState<AtomicU8> = OwnState(AtomicU8::new(UNINIT));

pub fn ready() -> bool {
    STATE.load(Ordering::Acquire) == READY
}

/// Everything decided at start and read-only afterwards.
pub struct Globals {
    pub config: Config,
    pub protection: Protection,
}

#[link_section = "jitguard_frozen"]
static GLOBALS: OwnState<OnceCell<Globals>> = OwnState(OnceCell::new());

/// Fixes the globals (once, at start-up).
pub fn set_globals(g: Globals) -> &'static Globals {
    GLOBALS.get_or_init(|| g)
}

/// The globals; only called once `ready()` said so (or by start-up after
/// `set_globals`).
pub fn globals() -> &'static Globals {
    match GLOBALS.get() {
        Some(g) => g,
        None => {
            crate::log::emit(format_args!(
                "jitguard: internal error: state used before initialisation"
            ));
            // SAFETY: abort is always sound; continuing without the
            // protection in force would guess at it.
            unsafe { libc::abort() }
        }
    }
}

/// The protection in force.
pub fn protection() -> &'static Protection {
    &globals().protection
}
