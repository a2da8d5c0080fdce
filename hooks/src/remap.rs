//! `mremap` of guarded memory: the bookkeeping follows the move, and a
//! move the kernel refuses for memory jitguard split into many mappings is
//! done here instead.

use crate::mapping::ret_ptr;
use crate::regions::{edit, overlaps, page_span};
use crate::state::{protection, ready};
use crate::sys::{self, SysResult};
use libc::{c_int, c_void, size_t};

pub fn mremap(
    old: *mut c_void,
    old_len: size_t,
    new_len: size_t,
    flags: c_int,
    new: *mut c_void,
) -> *mut c_void {
    let (os, oe) = page_span(old as u64, old_len as u64);
    let fixed_onto_view = flags & libc::MREMAP_FIXED != 0
        && crate::aliases::tracks(new as u64, (new as u64).saturating_add(new_len as u64));
    if ready() && (crate::aliases::tracks(os, oe) || fixed_onto_view) {
        // A view of a shared object: the alias table follows the move.
        let r = crate::aliases::mremap(os, old_len as u64, new_len as u64, || {
            let p = mremap_regions(old, old_len, new_len, flags, new);
            if p == libc::MAP_FAILED {
                Err(sys::errno())
            } else {
                Ok(p as libc::c_long)
            }
        });
        return ret_ptr(r);
    }
    mremap_regions(old, old_len, new_len, flags, new)
}

/// mremap with the guarded regions following the move.
fn mremap_regions(
    old: *mut c_void,
    old_len: size_t,
    new_len: size_t,
    flags: c_int,
    new: *mut c_void,
) -> *mut c_void {
    let (os, oe) = page_span(old as u64, old_len as u64);
    let fixed = flags & libc::MREMAP_FIXED != 0;
    let grown = jg::page_ceil(new_len as u64);
    let touches = |map_new: u64| overlaps(os, oe) || (fixed && overlaps(map_new, map_new + grown));
    if !ready() || !touches(new as u64) {
        return ret_ptr(sys::mremap(old, old_len, new_len, flags, new));
    }
    // Syscall and bookkeeping under the lock together (see do_munmap).
    ret_ptr(edit(|map| {
        // Moved pages are sealed anew under the reserve key; their old
        // records describe addresses that no longer hold them.
        crate::attest::forget(os, oe);
        let moved_to = match sys::mremap(old, old_len, new_len, flags, new) {
            Ok(p) => p as u64,
            Err(libc::EFAULT) => return emulate_mremap(map, os, oe - os, grown, flags),
            Err(e) => return Err(e),
        };
        // Hashed keys depend on the address: moved pages wait under the
        // reserve key again until their next write re-keys them.
        for r in map.remap(os, oe - os, moved_to, grown) {
            if let Err(e) = protection().seal_piece(r.start, r.len(), r.prot) {
                crate::log!(
                    Warn,
                    "re-sealing moved region {:#x} failed (errno {e})",
                    r.start
                );
            }
        }
        Ok(moved_to as libc::c_long)
    }))
}

/// Whether every byte of `[start, end)` is mapped private and anonymous
/// (from /proc/self/maps; called under the lock, never in a handler).
fn private_anonymous(start: u64, end: u64) -> bool {
    let Ok(text) = std::fs::read_to_string("/proc/self/maps") else {
        return false;
    };
    let mut at = start;
    for m in jg::maps::parse_maps(&text) {
        if m.end <= at || m.start >= end {
            continue;
        }
        if m.start > at || !m.path.is_empty() || !m.private {
            return false;
        }
        at = m.end;
    }
    at >= end
}

/// mremap of a guarded range the kernel refused. Pages that were opened
/// and resealed, or given their own keys, became separate kernel mappings,
/// each with its own anonymous-memory tracking, and the kernel can neither
/// merge them back nor move them as one. For a private anonymous range that
/// jitguard guards whole, the move is done here instead: fresh memory,
/// a copy, the same guard, and the old range unmapped, which is what
/// mremap does for such memory.
fn emulate_mremap(
    map: &mut jg::regions::RegionMap,
    os: u64,
    old_len: u64,
    new_len: u64,
    flags: c_int,
) -> SysResult {
    let oe = os + old_len;
    let movable = flags & libc::MREMAP_MAYMOVE != 0
        && flags & (libc::MREMAP_FIXED | libc::MREMAP_DONTUNMAP) == 0;
    if !movable || !map.uncovered(os, oe).is_empty() || !private_anonymous(os, oe) {
        return Err(libc::EFAULT);
    }
    let flags_new = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
    let dst = sys::mmap(
        core::ptr::null_mut(),
        new_len as usize,
        libc::PROT_READ | libc::PROT_WRITE,
        flags_new,
        -1,
        0,
    )? as u64;
    // SAFETY: both ranges are mapped (checked above / just created), the old
    // one readable (guarded pages stay readable), and they do not overlap.
    unsafe {
        core::ptr::copy_nonoverlapping(
            os as *const u8,
            dst as *mut u8,
            old_len.min(new_len) as usize,
        )
    };
    let moved = map.remap(os, old_len, dst, new_len);
    for r in &moved {
        protection().seal_piece(r.start, r.len(), r.prot)?;
    }
    sys::munmap(os as *mut c_void, old_len as usize)?;
    crate::log!(
        Debug,
        "mremap of guarded {os:#x}+{old_len:#x} emulated: moved to {dst:#x}"
    );
    Ok(dst as libc::c_long)
}
