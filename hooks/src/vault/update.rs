//! Updates: the only way jitguard changes its own state. One lock
//! serialises them (and the arena); the open itself is per update.

use super::{arena, params, vault_range, Mode};
use crate::{pkru, sys};
use core::cell::Cell;
use core::sync::atomic::{AtomicU32, Ordering::*};
use jg::pkru::{KeySet, Pkru};

thread_local! {
    /// Updates this thread is inside (the allocator puts new objects in
    /// the arena while it is non-zero).
    static UPDATING: Cell<u32> = const { Cell::new(0) };
}

/// The lock that serialises updates (and the arena): a thread id, with a
/// depth so that nested updates (and a signal handler's update on the
/// thread that holds it) go through. Ordinary memory: corrupting it can
/// stall jitguard, never open the vault (the open itself is decided per
/// update, on the updating thread's stack).
pub(super) static OWNER: AtomicU32 = AtomicU32::new(0);
static DEPTH: AtomicU32 = AtomicU32::new(0);

fn lock() {
    let me = sys::tid();
    if OWNER.load(Acquire) == me {
        DEPTH.fetch_add(1, Relaxed);
        return;
    }
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

/// Whether this thread is inside an update.
pub fn updating() -> bool {
    UPDATING.with(|u| u.get() > 0)
}

/// An open vault, for as long as it lives (on the updating thread's
/// stack): the lock held, and the pages writable for this thread (pkey)
/// or for the process (read-only mode, outermost update only).
pub(super) struct Open {
    /// PKRU to restore (pkey), or whether this update made the pages
    /// writable (read-only mode).
    restore: Option<Pkru>,
    made_writable: bool,
}

impl Open {
    pub(super) fn new() -> Open {
        lock();
        UPDATING.with(|u| u.set(u.get() + 1));
        let p = params();
        let mut o = Open {
            restore: None,
            made_writable: false,
        };
        match p.mode {
            Mode::Open => {}
            Mode::Key => {
                let old = pkru::read();
                pkru::write(old.opened(KeySet::single(p.vault_key as u32)));
                o.restore = Some(old);
            }
            Mode::ReadOnly => {
                if DEPTH.load(Relaxed) == 1 {
                    set_vault_prot(libc::PROT_READ | libc::PROT_WRITE);
                    o.made_writable = true;
                }
            }
        }
        o
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
            set_vault_prot(libc::PROT_READ);
        }
        UPDATING.with(|u| u.set(u.get().saturating_sub(1)));
        unlock();
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
    let _open = Open::new();
    f()
}

/// Holds the vault lock across fork, so the child never inherits an
/// update half done (or the lock held by a thread it does not have).
pub fn lock_for_fork() {
    lock();
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
