//! Start-up: the arena first, the vault's keys before the code keys,
//! and at the end the protection of everything and the freeze.

use super::update::set_vault_prot;
use super::{
    arena, frozen_range, params, secret_range, thread_pkru, vault_range, Mode, MSEALED, PARAMS,
};
use crate::{pkru, sys};
use core::sync::atomic::Ordering::*;

/// The first thing start-up does: make the arena, so that everything
/// start-up builds lands in it.
pub fn prepare() -> bool {
    arena::prepare()
}

/// Allocates the vault's keys (before the code keys, so that the
/// policy's key count is what is left). Returns false when none was
/// free: the vault then falls back to read-only pages.
pub fn allocate_keys() {
    let (vk, sk) = match (sys::pkey_alloc(0, 0), sys::pkey_alloc(0, 0)) {
        (Ok(v), Ok(s)) => (v as i32, s as i32),
        (Ok(v), Err(_)) => (v as i32, -1),
        (Err(_), _) => (-1, -1),
    };
    // SAFETY: start-up, single-threaded, before the frozen section is
    // made read-only.
    let p = unsafe { PARAMS.get_mut() };
    p.vault_key = vk;
    p.secret_key = sk;
}

/// The end of start-up: protect everything, freeze what never changes,
/// and set this thread's PKRU. `use_keys`: the pkey backend is in force
/// (otherwise any keys allocated for the vault go back).
pub fn seal(enabled: bool, use_keys: bool) {
    // SAFETY: start-up, single-threaded, before freezing.
    let p = unsafe { PARAMS.get_mut() };
    if !use_keys {
        for k in [p.vault_key, p.secret_key] {
            if k >= 0 {
                let _ = sys::pkey_free(k);
            }
        }
        p.vault_key = -1;
        p.secret_key = -1;
    }
    if !enabled {
        for k in [p.vault_key, p.secret_key] {
            if k >= 0 {
                let _ = sys::pkey_free(k);
            }
        }
        p.vault_key = -1;
        p.secret_key = -1;
        p.mode = Mode::Open;
    } else {
        let rw = libc::PROT_READ | libc::PROT_WRITE;
        let keyed = |(s, e): (u64, u64), key: i32| sys::pkey_mprotect(s, e - s, rw, key).is_ok();
        if p.vault_key >= 0
            && keyed(vault_range(), p.vault_key)
            && arena::range().is_none_or(|r| keyed(r, p.vault_key))
        {
            p.mode = Mode::Key;
        } else {
            p.mode = Mode::ReadOnly;
            if p.vault_key >= 0 {
                let _ = sys::pkey_free(p.vault_key);
                p.vault_key = -1;
            }
            set_vault_prot(libc::PROT_READ);
        }
        if p.secret_key >= 0 && !keyed(secret_range(), p.secret_key) {
            let _ = sys::pkey_free(p.secret_key);
            p.secret_key = -1;
        }
    }
    pkru_for_this_thread();
    if enabled {
        let (s, e) = frozen_range();
        // From here on `p` is read-only memory: no more writes.
        if sys::mprotect(s, e - s, libc::PROT_READ).is_ok() {
            MSEALED.store(sys::mseal(s, e - s).is_ok(), Relaxed);
        }
    }
}

/// Sets this thread's PKRU to what `thread_pkru` says (start-up, and each
/// thread jitguard starts).
pub fn pkru_for_this_thread() {
    let p = params();
    if p.mode == Mode::Key || p.secret_key >= 0 {
        pkru::write(thread_pkru(pkru::read()));
    }
}
