//! jitguard's own state, out of the program's reach.
//!
//! jitguard lives in its adversary's address space: one store into its
//! data (the writer view, the mode, the region snapshot, a recorded signal
//! action) would switch the seal off. Everything that decides whether a
//! write opens therefore lives in one of three places:
//!
//! - **frozen** (section `jitguard_frozen`): written during start-up only
//!   (configuration, protection, start-up state, the vault's own
//!   parameters), then `PROT_READ` and, where the kernel has `mseal`
//!   (Linux 6.10), sealed against `mprotect`/`munmap`/`mremap`. Key 0, so
//!   a signal handler reads it with the kernel's PKRU.
//! - **vault** (section `jitguard_vault` and the heap arena of
//!   `arena.rs`): what jitguard changes while it runs (the region map and
//!   its snapshot, the writer view and profile, the program's signal
//!   actions, late-resolved real functions), with everything they own on
//!   the heap. Under pkey its pages carry a key of their own that every
//!   thread has write-disabled; an update opens it in the updating thread
//!   only. Without that key the pages are `PROT_READ` and an update makes
//!   them writable under the vault lock (for every thread, briefly: see
//!   SECURITY.md).
//! - **secret** (section `jitguard_secret`): the key policy, whose per-run
//!   secret makes keys unpredictable. Under pkey its key has access
//!   disabled in every thread; it is opened around the key computation.
//!
//! A store into any of them from outside an update faults and is refused
//! (`fault::own_state`). Counters, logs and per-thread bookkeeping stay in
//! ordinary memory: they decide nothing, or (the call-window record) are
//! not trusted by the pkey reseal, which closes every key (SECURITY.md).

pub mod arena;
mod setup;
mod update;

pub use setup::{allocate_keys, pkru_for_this_thread, prepare, scrub_stack, seal};
pub use update::{
    close_for_wait, lock_for_fork, reopen_after_wait, unlock_after_fork, update, updating,
};

use crate::pkru;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering::*};
use jg::pkru::{KeySet, Pkru};

/// A static of jitguard's own state, placed in one of its sections
/// (`#[link_section = "jitguard_frozen" | "jitguard_vault" |
/// "jitguard_secret"]`). Protection is per section, never per static:
/// `hooks/sections.ld` makes each section whole pages, so no neighbour
/// shares its protection, and the statics pack together (one page each
/// made every start-up copy and fault in about thirty pages).
#[repr(transparent)]
pub struct OwnState<T>(pub T);

impl<T> core::ops::Deref for OwnState<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Interior mutability for vault data: written only inside `update` by
/// code that holds the lock of the data it changes.
pub struct VaultCell<T>(UnsafeCell<T>);

// SAFETY: every `get_mut` caller holds the lock that serialises writers of
// that cell (documented at each use), and readers read only published,
// immutable values or plain words.
unsafe impl<T: Send + Sync> Sync for VaultCell<T> {}

impl<T> VaultCell<T> {
    pub const fn new(v: T) -> Self {
        VaultCell(UnsafeCell::new(v))
    }

    pub fn get(&self) -> &T {
        // SAFETY: writers hold the cell's lock and run inside `update`;
        // a reader sees either the old or the new value of plain data.
        unsafe { &*self.0.get() }
    }

    /// # Safety
    /// The caller holds the lock that serialises this cell's writers, is
    /// inside `update`, and no reference from `get` is alive across it.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn get_mut(&self) -> &mut T {
        // SAFETY: the caller's contract.
        unsafe { &mut *self.0.get() }
    }
}

/// How the vault is protected, fixed at start-up.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// Not yet sealed (start-up), or turned off (`JITGUARD_VAULT=off`, or
    /// the arena could not be made).
    Open,
    /// Pages under `key`, write-disabled in every thread's PKRU.
    Key,
    /// Pages read-only; an update makes them writable under the lock.
    ReadOnly,
}

struct Params {
    mode: Mode,
    /// The vault's key (Mode::Key), and the secret's key (-1: none).
    vault_key: i32,
    secret_key: i32,
}

#[link_section = "jitguard_frozen"]
static PARAMS: OwnState<VaultCell<Params>> = OwnState(VaultCell::new(Params {
    mode: Mode::Open,
    vault_key: -1,
    secret_key: -1,
}));

/// Whether `mseal` took on the frozen section (a report, not a decision).
static MSEALED: AtomicBool = AtomicBool::new(false);

/// Something is always in the vault section, so the section exists even
/// before anything else is placed in it.
#[link_section = "jitguard_vault"]
static VAULT_ANCHOR: OwnState<u8> = OwnState(0);

#[link_section = "jitguard_secret"]
static SECRET_ANCHOR: OwnState<u8> = OwnState(0);

extern "C" {
    static __start_jitguard_frozen: u8;
    static __stop_jitguard_frozen: u8;
    static __start_jitguard_vault: u8;
    static __stop_jitguard_vault: u8;
    static __start_jitguard_secret: u8;
    static __stop_jitguard_secret: u8;
}

fn section(start: &'static u8, stop: &'static u8) -> (u64, u64) {
    (start as *const u8 as u64, stop as *const u8 as u64)
}

/// The frozen section's bounds.
pub fn frozen_range() -> (u64, u64) {
    // SAFETY: linker-defined bounds of a section of this library.
    unsafe { section(&__start_jitguard_frozen, &__stop_jitguard_frozen) }
}

/// The vault section's bounds (the arena is separate).
pub fn vault_range() -> (u64, u64) {
    // SAFETY: as above.
    unsafe { section(&__start_jitguard_vault, &__stop_jitguard_vault) }
}

pub fn secret_range() -> (u64, u64) {
    // SAFETY: as above.
    unsafe { section(&__start_jitguard_secret, &__stop_jitguard_secret) }
}

fn params() -> &'static Params {
    core::hint::black_box(&VAULT_ANCHOR);
    core::hint::black_box(&SECRET_ANCHOR);
    PARAMS.get()
}

// ------------------------------------------------------------- threads

/// The PKRU a thread of the program should run with, given its current
/// value: the vault readable but not writable, the secret closed.
pub fn thread_pkru(base: Pkru) -> Pkru {
    let p = params();
    let mut v = base;
    if p.mode == Mode::Key {
        v = v.sealed(KeySet::single(p.vault_key as u32));
    }
    if p.secret_key >= 0 {
        v = v.closed(KeySet::single(p.secret_key as u32));
    }
    v
}

/// Sets the PKRU the interrupted thread resumes with, never with the
/// vault writable or the secret open (a frame's saved PKRU is stack data:
/// whatever was stored there, jitguard's own edit hands back the program
/// threads' rights to its state).
pub fn frame_set(ctx: *mut libc::c_void, p: Pkru) -> bool {
    pkru::frame_set(ctx, thread_pkru(p))
}

/// At the top of every signal handler of jitguard's: the kernel runs
/// handlers with access disabled for keys 1..15, so the vault must be
/// made readable (never writable) before anything reads it. Reads only
/// frozen data (key 0).
#[inline(always)]
pub fn enter_handler() {
    let p = params();
    if p.mode == Mode::Key {
        pkru::write(pkru::read().sealed(KeySet::single(p.vault_key as u32)));
    }
}

/// Runs `f` with the secret readable by this thread.
pub fn with_secret<R>(f: impl FnOnce() -> R) -> R {
    let p = params();
    if p.secret_key < 0 {
        return f();
    }
    let k = KeySet::single(p.secret_key as u32);
    let old = pkru::read();
    pkru::write(old.readable(k));
    let r = f();
    pkru::write(pkru::read().closed(k));
    r
}

// ----------------------------------------------------------- faults

/// What a faulting address or key says about jitguard's own state.
pub fn is_own_key(key: u32) -> bool {
    let p = params();
    (p.mode == Mode::Key && p.vault_key as u32 == key)
        || (p.secret_key >= 0 && p.secret_key as u32 == key)
}

/// Whether `addr` is in any of jitguard's protected state.
pub fn is_own_state(addr: u64) -> bool {
    let inside = |(s, e): (u64, u64)| s <= addr && addr < e;
    inside(frozen_range())
        || inside(vault_range())
        || inside(secret_range())
        || arena::range().is_some_and(inside)
}

/// Whether `[start, start+len)` touches any of jitguard's protected
/// state.
pub fn touches_own(start: u64, len: u64) -> bool {
    let end = start.saturating_add(len.max(1));
    let meets = |(s, e): (u64, u64)| start < e && s < end;
    meets(frozen_range())
        || meets(vault_range())
        || meets(secret_range())
        || arena::range().is_some_and(meets)
}

/// The mapping calls refuse to change jitguard's own memory (protection,
/// mapping, contents): reported once per call, EPERM (what `mseal` gives
/// where the kernel has it; the vault under the read-only method cannot
/// be sealed, so only this stands there).
pub fn refused(call: &str, start: u64, len: u64) -> bool {
    if !protected() || !touches_own(start, len) {
        return false;
    }
    crate::log::emit(format_args!(
        "jitguard: refused {call} of jitguard's own state at {start:#x} ({len:#x} bytes) by thread {}",
        crate::sys::gettid()
    ));
    crate::sys::set_errno(libc::EPERM);
    true
}

/// Whether the vault is in force (for the stats and the status record).
pub fn protected() -> bool {
    params().mode != Mode::Open
}

pub fn mode_name() -> &'static str {
    let p = params();
    match (p.mode, MSEALED.load(Relaxed)) {
        (Mode::Open, _) => "off",
        (Mode::Key, true) => "pkey+mseal",
        (Mode::Key, false) => "pkey",
        (Mode::ReadOnly, true) => "read-only+mseal",
        (Mode::ReadOnly, false) => "read-only",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_page_aligned_and_disjoint() {
        for (s, e) in [frozen_range(), vault_range(), secret_range()] {
            assert!(s < e, "{s:#x}..{e:#x}");
            assert_eq!(s % 4096, 0);
            assert_eq!(e % 4096, 0);
        }
        let (fs, fe) = frozen_range();
        let (vs, ve) = vault_range();
        assert!(fe <= vs || ve <= fs);
    }

    #[test]
    fn updates_nest_and_release_the_lock() {
        update(|| {
            assert!(updating());
            update(|| assert!(updating()));
            assert!(updating());
        });
        assert!(!updating());
        assert_eq!(update::OWNER.load(Relaxed), 0);
    }

    #[test]
    fn own_state_covers_the_sections() {
        assert!(is_own_state(frozen_range().0));
        assert!(is_own_state(vault_range().0));
        assert!(!is_own_state(0x1000));
    }
}
