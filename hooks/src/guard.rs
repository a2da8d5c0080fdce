//! Turning ranges into guarded regions and back: the page-protection side
//! of the bookkeeping. Called by the interposed mapping calls with the
//! REGIONS lock held; never from a signal handler (except `key_page`).

use crate::state::{self, globals, COUNTERS, REGIONS};
use crate::sys;
use jg::config::Backend;
use jg::regions::RegionMap;
use libc::c_int;

pub const WX: c_int = libc::PROT_WRITE | libc::PROT_EXEC;

pub fn is_wx(prot: c_int) -> bool {
    prot & WX == WX
}

/// The calling thread's stack pointer (approximately: a local's address).
pub fn stack_pointer() -> u64 {
    let here = 0u8;
    core::hint::black_box(&here) as *const u8 as u64
}

/// Whether `[start, end)` holds the calling thread's stack: never guarded,
/// since an unwritable stack kills the thread at its next push.
pub fn holds_own_stack(start: u64, end: u64) -> bool {
    let sp = stack_pointer();
    start <= sp && sp < end
}

/// The protection a guarded page really has while sealed.
pub fn sealed_prot(prot: c_int) -> c_int {
    match globals().backend {
        // Keys do the write-protection; the page keeps what was asked.
        Backend::Pkey => prot,
        // The page-table method: no write until a fault opens the page.
        _ => prot & !libc::PROT_WRITE,
    }
}

/// Puts `[start, end)` (page-aligned, mapped) under guard: every page under
/// the reserve key (pkey) or without write (mprotect). Pages the map
/// already guards keep their code keys.
pub fn guard(map: &mut RegionMap, start: u64, end: u64, prot: c_int) -> sys::SysResult {
    let g = globals();
    match (g.backend, &g.keys) {
        (Backend::Pkey, Some(keys)) => {
            for (s, e) in map.uncovered(start, end) {
                sys::pkey_mprotect(s, e - s, prot, keys.reserve_key() as c_int)?;
            }
        }
        _ => {
            sys::mprotect(start, end - start, sealed_prot(prot))?;
        }
    }
    if map.overlapping(start, end).is_empty() {
        state::bump(&COUNTERS.regions);
        crate::writers::notice_if_unauthenticated();
    }
    map.insert(start, end, prot);
    crate::log!(
        Debug,
        "guarding {start:#x}-{end:#x} ({} pages)",
        (end - start) / 4096
    );
    Ok(0)
}

/// After fork, under the mprotect backend: every guarded region sealed
/// again (a call window of a thread that does not exist in the child could
/// have left pages writable).
pub fn reseal_all_in_child() {
    if globals().backend == Backend::Pkey {
        return; // PKRU is per thread; the child's one thread keeps its own.
    }
    let map = state::REGIONS.lock();
    for r in map.iter() {
        let _ = sys::mprotect(r.start, r.end - r.start, sealed_prot(r.prot));
    }
}

/// Takes `[start, end)` out of guard with the program's new protection
/// `prot`: guarded parts lose jitguard's key (back to key 0, or the
/// program's `pkey` when it asked for one).
pub fn unguard(
    map: &mut RegionMap,
    start: u64,
    end: u64,
    prot: c_int,
    pkey: c_int,
) -> sys::SysResult {
    for piece in map.overlapping(start, end) {
        match globals().backend {
            Backend::Pkey => sys::pkey_mprotect(piece.start, piece.len(), prot, pkey)?,
            _ => sys::mprotect(piece.start, piece.len(), prot)?,
        };
    }
    map.remove(start, end);
    Ok(0)
}

/// Gives one page its code key (first write under the pkey backend).
/// Async-signal-safe: one syscall.
pub fn key_page(page: u64, prot: c_int, key: u32) -> bool {
    sys::pkey_mprotect(page, 4096, prot, key as c_int).is_ok()
}

/// Runs `f` on the region map under the lock and publishes the result.
pub fn edit<R>(f: impl FnOnce(&mut RegionMap) -> R) -> R {
    let mut map = REGIONS.lock();
    let r = f(&mut map);
    state::publish(&map);
    r
}

/// Whether any guarded region overlaps `[start, end)` (lock-free).
pub fn overlaps(start: u64, end: u64) -> bool {
    state::with_snapshot(|s| s.is_some_and(|s| s.overlaps(start, end)))
}

pub fn page_span(addr: u64, len: u64) -> (u64, u64) {
    (
        jg::page_floor(addr),
        jg::page_ceil(addr.saturating_add(len)),
    )
}
