//! Updates: the only way jitguard changes its own state. One lock
//! serialises them (and the arena); the open itself is per update.

use super::{arena, params, vault_range, Mode};
use crate::{pkru, sys};
use core::cell::Cell;
use core::sync::atomic::{AtomicU32, Ordering::*};
use jg::pkru::{KeySet, Pkru};

thread_local! {
    /// Updates this thread is inside, while the vault is not protected
    /// yet (start-up) or at all (`JITGUARD_VAULT=off`). Once it is, the
    /// allocator asks the protection itself (`updating`): a store into
    /// this counter must not send an update's objects to the C heap.
    static UPDATING: Cell<u32> = const { Cell::new(0) };
}

/// The lock that serialises updates (and the arena): the owner's thread
/// id, with a depth so that nested updates go through. Ordinary memory:
/// corrupting it can stall jitguard, or let a second thread's update run
/// beside the owner's (see SECURITY.md); it never opens the vault by
/// itself (the open is decided per update, on the updating thread's
/// stack). The id is the kernel's, asked at each outermost use (a cached
/// id would be writable memory; an FS base is shared by threads cloned
/// without their own TLS).
pub(super) static OWNER: AtomicU32 = AtomicU32::new(0);
static DEPTH: AtomicU32 = AtomicU32::new(0);

/// Read-only mode: the thread whose update has the pages writable, in
/// the vault itself (only an open vault can name an updater).
#[link_section = "jitguard_vault"]
static UPDATER: super::OwnState<AtomicU32> = super::OwnState(AtomicU32::new(0));

fn lock(me: u32) -> bool {
    if OWNER.load(Acquire) == me {
        DEPTH.fetch_add(1, Relaxed);
        return false;
    }
    acquire(me);
    true
}

/// Takes the lock for `me`, which does not hold it.
fn acquire(me: u32) {
    while OWNER
        .compare_exchange_weak(0, me, Acquire, Relaxed)
        .is_err()
    {
        sys::sched_yield();
    }
    DEPTH.store(1, Relaxed);
}

fn unlock() {
    if DEPTH.fetch_sub(1, Relaxed) == 1 {
        OWNER.store(0, Release);
    }
}

/// Whether this thread is inside an update: under a vault key, whether
/// this thread's PKRU lets it write the vault; in read-only mode,
/// whether the vault names this thread as its updater; before the vault
/// is protected, the thread's own count.
pub fn updating() -> bool {
    let p = params();
    match p.mode {
        Mode::Key => pkru::read().can_write(p.vault_key as u32),
        Mode::ReadOnly => {
            let u = UPDATER.load(Acquire);
            u != 0 && u == sys::gettid()
        }
        Mode::Open => UPDATING.with(|u| u.get() > 0),
    }
}

/// Whether this thread is inside an update of its own, holding the lock:
/// then a nested update or an allocation needs no opening of its own. Not
/// `updating` alone: a thread whose PKRU the program made permissive
/// writes the vault key too, and must still take the lock.
pub(super) fn holds_update() -> bool {
    let p = params();
    if p.mode == Mode::Open && UPDATING.with(|u| u.get() == 0) {
        return false;
    }
    if p.mode == Mode::Open && !crate::state::ready() {
        // Start-up, on its own thread: the count is enough (and a
        // system call per allocation is what this saves).
        return true;
    }
    let me = sys::gettid();
    OWNER.load(Acquire) == me
        && match p.mode {
            Mode::Key => pkru::read().can_write(p.vault_key as u32),
            Mode::ReadOnly => UPDATER.load(Acquire) == me,
            // JITGUARD_VAULT=off: the count and the lock's owner (threads
            // cloned without TLS of their own share the count).
            Mode::Open => true,
        }
}

/// Every signal but the fault signals: an update is not interrupted by a
/// handler that could update too (nested in the middle of the lock or of
/// a protection change).
fn async_signals() -> libc::sigset_t {
    // SAFETY: a zeroed sigset_t is a valid set to fill and edit.
    unsafe {
        let mut s: libc::sigset_t = core::mem::zeroed();
        libc::sigfillset(&mut s);
        for sig in crate::sigmask::FAULT_SIGNALS {
            libc::sigdelset(&mut s, sig);
        }
        s
    }
}

/// An open vault, for as long as it lives (on the updating thread's
/// stack): the lock held, asynchronous signals held off, and the pages
/// writable for this thread (pkey) or for the process (read-only mode,
/// outermost update only).
pub(super) struct Open {
    /// PKRU to restore (pkey).
    restore: Option<Pkru>,
    made_writable: bool,
    /// The signal mask to restore (outermost update only).
    mask: Option<libc::sigset_t>,
}

impl Open {
    pub(super) fn new() -> Open {
        let p = params();
        // Signals first, so no handler runs between taking the lock and
        // opening the pages (or between closing and releasing). A nested
        // update (this thread holds the lock: the outer one holds the
        // signals off already) leaves the mask alone: the writer view's
        // build freed and grew objects in nested updates, and masking
        // each cost two system calls, about 2,900 for WAMR's view.
        // Nesting is decided once, from one reading of the owner: a store
        // into the (ordinary) lock between two readings must not make an
        // outermost update skip the mask.
        let me = sys::gettid();
        let outermost = OWNER.load(Acquire) != me;
        let mask = if outermost {
            let mask = (p.mode != Mode::Open).then(|| sys::set_sigmask(&async_signals()));
            acquire(me);
            mask
        } else {
            DEPTH.fetch_add(1, Relaxed);
            None
        };
        UPDATING.with(|u| u.set(u.get() + 1));
        let mut o = Open {
            restore: None,
            made_writable: false,
            mask,
        };
        match p.mode {
            Mode::Open => {}
            Mode::Key => {
                let old = pkru::read();
                pkru::write(old.opened(KeySet::single(p.vault_key as u32)));
                o.restore = Some(old);
            }
            Mode::ReadOnly => {
                if outermost {
                    set_vault_prot(libc::PROT_READ | libc::PROT_WRITE);
                    UPDATER.store(me, Release);
                    o.made_writable = true;
                }
            }
        }
        o
    }
}

/// Waiting inside an update (a publisher with no free slot): under the
/// read-only method the pages are closed while this thread waits, so a
/// stalled update never leaves the vault writable. Returns whether it
/// closed them; the caller reopens before it writes again.
pub fn close_for_wait() -> bool {
    if params().mode != Mode::ReadOnly || !updating() {
        return false;
    }
    set_vault_prot(libc::PROT_READ);
    true
}

pub fn reopen_after_wait() {
    if params().mode == Mode::ReadOnly {
        set_vault_prot(libc::PROT_READ | libc::PROT_WRITE);
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        let p = params();
        if let Some(old) = self.restore {
            let k = KeySet::single(p.vault_key as u32);
            // The vault's bits as they were; everything else as it is now.
            let now = pkru::read();
            let v = if old.can_write(p.vault_key as u32) {
                now.opened(k)
            } else if old.can_read(p.vault_key as u32) {
                now.sealed(k)
            } else {
                now.closed(k)
            };
            pkru::write(v);
        }
        if self.made_writable {
            UPDATER.store(0, Release);
            set_vault_prot(libc::PROT_READ);
        }
        UPDATING.with(|u| u.set(u.get().saturating_sub(1)));
        unlock();
        if let Some(m) = self.mask {
            sys::set_sigmask(&m);
        }
    }
}

pub(super) fn set_vault_prot(prot: libc::c_int) {
    let (s, e) = vault_range();
    let _ = sys::mprotect(s, e - s, prot);
    if let Some((s, e)) = arena::range() {
        let _ = sys::mprotect(s, e - s, prot);
    }
}

/// Runs `f` with the vault writable by this thread: the only way
/// jitguard changes its own state. Objects `f` allocates go to the arena.
/// `f` must not take other locks (the vault lock is innermost).
pub fn update<R>(f: impl FnOnce() -> R) -> R {
    // Nested in this thread's own update (start-up resolves each real
    // function in one): the vault is open and the lock held already.
    if holds_update() {
        return f();
    }
    let _open = Open::new();
    f()
}

/// Holds the vault lock across fork, so the child never inherits an
/// update half done (or the lock held by a thread it does not have).
pub fn lock_for_fork() {
    let _ = lock(sys::gettid());
}

/// # Safety
/// Only after `lock_for_fork` on this thread, in the parent or the child.
pub unsafe fn unlock_after_fork(child: bool) {
    if child {
        // The child's thread id differs from the parent's: release by
        // hand.
        DEPTH.store(0, Relaxed);
        OWNER.store(0, Release);
    } else {
        unlock();
    }
}
