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
    let enabled = enabled && sections_are_whole_pages();
    // No update may run while the sections move.
    let _lock = super::update::Open::new();
    // SAFETY: start-up, under the vault lock, before freezing.
    let p = unsafe { PARAMS.get_mut() };
    if !use_keys || !enabled {
        for k in [p.vault_key, p.secret_key] {
            if k >= 0 {
                let _ = sys::pkey_free(k);
            }
        }
        p.vault_key = -1;
        p.secret_key = -1;
    }
    if !enabled {
        p.mode = Mode::Open;
        return;
    }
    // The sections are private pages of the library file: an
    // madvise(MADV_DONTNEED) would give them back the file's initial
    // values (jitguard "not started", nothing published), and mseal
    // guards only anonymous memory against that. So they become
    // anonymous copies, at the same addresses, first.
    let anonymous = merged([frozen_range(), vault_range(), secret_range()])
        .into_iter()
        .flatten()
        .all(anonymise);
    let rw = libc::PROT_READ | libc::PROT_WRITE;
    let keyed = |(s, e): (u64, u64), key: i32| sys::pkey_mprotect(s, e - s, rw, key).is_ok();
    let vault_keyed = p.vault_key >= 0 && keyed(vault_range(), p.vault_key);
    if vault_keyed && arena::range().is_none_or(|r| keyed(r, p.vault_key)) {
        p.mode = Mode::Key;
    } else {
        // Nothing may keep a key that goes back to the program.
        if vault_keyed {
            let _ = keyed(vault_range(), 0);
            if let Some(r) = arena::range() {
                let _ = keyed(r, 0);
            }
        }
        if p.vault_key >= 0 {
            let _ = sys::pkey_free(p.vault_key);
            p.vault_key = -1;
        }
        p.mode = Mode::ReadOnly;
        set_vault_prot(libc::PROT_READ);
    }
    if p.secret_key >= 0 && !keyed(secret_range(), p.secret_key) {
        let _ = keyed(secret_range(), 0);
        let _ = sys::pkey_free(p.secret_key);
        p.secret_key = -1;
    }
    pkru_for_this_thread();
    // Under keys nothing changes the vault's protection again: seal it
    // (mseal refuses to discard anonymous pages no thread may write).
    let mut sealed = anonymous;
    if p.mode == Mode::Key {
        let mut ranges = vec![vault_range(), secret_range()];
        ranges.extend(arena::range());
        for (s, e) in ranges {
            sealed &= sys::mseal(s, e - s).is_ok();
        }
    }
    let (s, e) = frozen_range();
    // From here on `p` is read-only memory: no more writes.
    if sys::mprotect(s, e - s, libc::PROT_READ).is_ok() {
        sealed &= sys::mseal(s, e - s).is_ok();
        MSEALED.store(sealed, Relaxed);
    }
}

/// Whether each of jitguard's sections is whole pages (what
/// `hooks/sections.ld` makes them). Otherwise protecting one would also
/// protect the ordinary data that shares its first or last page: the
/// state then stays unprotected, with one line that says so.
fn sections_are_whole_pages() -> bool {
    let whole = [frozen_range(), vault_range(), secret_range()]
        .iter()
        .all(|&(s, e)| s % 4096 == 0 && e % 4096 == 0 && s < e);
    if !whole {
        crate::log::emit(format_args!(
            "jitguard: its own-state sections are not whole pages (built without hooks/sections.ld?); its own state stays writable"
        ));
    }
    whole
}

/// The sections' ranges, adjacent ones joined (the linker script places
/// them side by side): one move for all of them instead of one each.
fn merged(mut ranges: [(u64, u64); 3]) -> [Option<(u64, u64)>; 3] {
    ranges.sort_unstable();
    let mut out = [None; 3];
    let mut n = 0;
    for (s, e) in ranges {
        match &mut out[..n] {
            [.., Some((_, last_end))] if *last_end == s => *last_end = e,
            _ => {
                out[n] = Some((s, e));
                n += 1;
            }
        }
    }
    out
}

/// Replaces `[s, e)` of the library's data by an anonymous copy at the
/// same address.
fn anonymise((s, e): (u64, u64)) -> bool {
    let len = (e - s) as usize;
    let rw = libc::PROT_READ | libc::PROT_WRITE;
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
    let Ok(tmp) = sys::mmap(core::ptr::null_mut(), len, rw, flags, -1, 0) else {
        return false;
    };
    // Page by page, skipping pages of zeros: the fresh mapping is zeros
    // already, and a page not written is a page not faulted in (most of
    // the sections are page-aligned statics that start at zero).
    const PAGE: usize = 4096;
    for off in (0..len).step_by(PAGE) {
        let n = PAGE.min(len - off);
        // SAFETY: `[s + off, s + off + n)` lies inside the mapped section
        // and `[tmp + off, ...)` inside the fresh mapping of `len` bytes;
        // the two are disjoint, and nothing writes the sections meanwhile
        // (start-up, under the vault lock).
        unsafe {
            let from = core::slice::from_raw_parts((s as usize + off) as *const u8, n);
            if from.iter().any(|&b| b != 0) {
                core::ptr::copy_nonoverlapping(from.as_ptr(), (tmp as *mut u8).add(off), n);
            }
        }
    }
    let moved = sys::mremap(
        tmp as *mut libc::c_void,
        len,
        len,
        libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
        s as *mut libc::c_void,
    );
    if moved.is_err() {
        let _ = sys::munmap(tmp as *mut libc::c_void, len);
    }
    moved.is_ok()
}

/// Sets this thread's PKRU to what `thread_pkru` says (start-up, and each
/// thread jitguard starts).
pub fn pkru_for_this_thread() {
    let p = params();
    if p.mode == Mode::Key || p.secret_key >= 0 {
        pkru::write(thread_pkru(pkru::read()));
    }
}

/// Overwrites the stack below the caller's frame: start-up's copies of
/// the per-run secret (the key policy is built and moved by value on its
/// way to the secret page) must not stay readable there.
#[inline(never)]
pub fn scrub_stack() {
    let mut buf = [0u8; 32 * 1024];
    core::hint::black_box(&mut buf);
}
