//! The mapping calls, interposed: every call that can make memory writable
//! and executable at once, or change memory jitguard guards.
//!
//! Until jitguard is initialised every call passes straight through to the
//! raw system call. Afterwards, calls that neither create W+X memory nor
//! touch a guarded region take a lock-free fast path, so malloc's own
//! mmap/munmap traffic never waits on jitguard's lock (and allocation under
//! that lock cannot deadlock on it).

use crate::aliases;
use crate::regions::{edit, overlaps, page_span};
use crate::state::{protection, ready};
use crate::sys::{self, SysResult};
use crate::writers;
use libc::{c_int, c_void, off_t, size_t};

pub const WX: c_int = libc::PROT_WRITE | libc::PROT_EXEC;

pub fn is_wx(prot: c_int) -> bool {
    prot & WX == WX
}

/// Whether `[start, end)` holds the calling thread's stack: never guarded,
/// since an unwritable stack kills the thread at its next push.
fn holds_own_stack(start: u64, end: u64) -> bool {
    let sp = sys::stack_pointer();
    start <= sp && sp < end
}

pub fn ret_ptr(r: SysResult) -> *mut c_void {
    match r {
        Ok(v) => v as *mut c_void,
        Err(e) => {
            sys::set_errno(e);
            libc::MAP_FAILED
        }
    }
}

pub fn ret_int(r: SysResult) -> c_int {
    match r {
        Ok(_) => 0,
        Err(e) => {
            sys::set_errno(e);
            -1
        }
    }
}

/// Guards `[s, e)` in `map` (already mapped without write), reporting a
/// failure and leaving the range as the program asked.
/// `creator` is where the program's call returns (see `before_guarding`).
fn guard_new(
    map: &mut jg::regions::RegionMap,
    s: u64,
    e: u64,
    prot: c_int,
    creator: u64,
) -> SysResult {
    let r = protection().guard(map, s, e, prot);
    if r.is_ok() {
        map.set_creator(s, e, creator);
    }
    if let Ok(1) = r {
        writers::notice_if_unauthenticated(creator);
    }
    r
}

/// Builds the writer view before the first region is guarded (outside
/// the region lock: building reads the loader's module list), and names
/// the caller creating the region: its module chooses the profile that
/// judges writes there (0: unknown). False: that profile says this W+X
/// memory is not code (`unguarded-during`), and it is left unguarded.
#[inline(always)]
fn before_guarding() -> (u64, bool) {
    writers::ensure_view();
    writers::view().map_or((0, true), |v| {
        let c = writers::creator(&v);
        (c.at(), v.guards(&c))
    })
}

pub fn mmap(
    addr: *mut c_void,
    len: size_t,
    prot: c_int,
    flags: c_int,
    fd: c_int,
    off: off_t,
) -> *mut c_void {
    if !ready() {
        return ret_ptr(sys::mmap(addr, len, prot, flags, fd, off));
    }
    let eff = crate::persona::effective(prot);
    if aliases::wants_mmap(addr as u64, len as u64, eff, flags, fd) {
        return ret_ptr(aliases::mmap(addr, len, prot, eff, flags, fd, off));
    }
    ret_ptr(mmap_guarded(addr, len, prot, eff, flags, fd, off))
}

/// mmap with W+X memory guarded and guarded memory a fixed mapping
/// replaces forgotten. `eff` is `prot` as the kernel applies it
/// (READ_IMPLIES_EXEC adds exec).
pub fn mmap_guarded(
    addr: *mut c_void,
    len: size_t,
    prot: c_int,
    eff: c_int,
    flags: c_int,
    fd: c_int,
    off: off_t,
) -> SysResult {
    // Thread stacks (glibc maps them W+X for -z execstack programs) are
    // never guarded: an unwritable stack kills the thread.
    let stack = flags & (libc::MAP_STACK | libc::MAP_GROWSDOWN) != 0;
    let wx = is_wx(eff) && !stack;
    let fixed = flags & (libc::MAP_FIXED | libc::MAP_FIXED_NOREPLACE) != 0;
    if !(wx || fixed && overlaps(addr as u64, addr as u64 + len as u64)) {
        return sys::mmap(addr, len, prot, flags, fd, off);
    }
    let (creator, wx) = if wx { before_guarding() } else { (0, false) };
    // W+X memory is created without write, then keyed: it is never
    // writable under key 0, not even between two system calls.
    let first_prot = if wx { prot & !libc::PROT_WRITE } else { prot };
    if fixed {
        // New memory replaces whatever was guarded there.
        crate::attest::forget(addr as u64, addr as u64 + len as u64);
    }
    let r = sys::mmap(addr, len, first_prot, flags, fd, off);
    let Ok(base) = r else { return r };
    let (s, e) = page_span(base as u64, len as u64);
    edit(|map| {
        map.remove(s, e);
        if wx {
            if let Err(err) = guard_new(map, s, e, eff, creator) {
                crate::log!(
                    Warn,
                    "could not guard {s:#x}-{e:#x} (errno {err}); left unguarded"
                );
                let _ = sys::mprotect(s, e - s, prot);
            }
        }
    });
    Ok(base)
}

pub fn mprotect(addr: u64, len: u64, prot: c_int) -> c_int {
    if !ready() {
        return ret_int(sys::mprotect(addr, len, prot));
    }
    let (s, e) = page_span(addr, len);
    let eff = crate::persona::effective(prot);
    if addr & (jg::PAGE_SIZE - 1) == 0 && aliases::tracks(s, e) {
        return ret_int(aliases::mprotect(addr, len, prot, eff));
    }
    ret_int(mprotect_guarded(addr, len, prot, eff))
}

/// mprotect with W+X memory guarded and guarded memory that loses write
/// or exec released. `eff` as for `mmap_guarded`.
pub fn mprotect_guarded(addr: u64, len: u64, prot: c_int, eff: c_int) -> SysResult {
    let (s, e) = page_span(addr, len);
    // glibc makes stacks executable with mprotect for -z execstack code.
    let wx = is_wx(eff) && !holds_own_stack(s, e);
    if (!wx && !overlaps(s, e)) || addr & (jg::PAGE_SIZE - 1) != 0 {
        return sys::mprotect(addr, len, prot);
    }
    let (creator, wx) = if wx { before_guarding() } else { (0, false) };
    let p = protection();
    edit(|map| {
        if wx {
            // Validate the range and drop write everywhere first, so no
            // page is writable under key 0 while keys are applied.
            sys::mprotect(s, e - s, prot & !libc::PROT_WRITE)?;
            if p.keys().is_some() {
                for piece in map.overlapping(s, e) {
                    sys::mprotect(piece.start, piece.len(), prot)?;
                }
            }
            guard_new(map, s, e, eff, creator).map(|_| 0)
        } else {
            crate::attest::forget(s, e);
            p.unguard(map, s, e, prot, 0)?;
            sys::mprotect(s, e - s, prot)
        }
    })
}

pub fn pkey_mprotect(addr: u64, len: u64, prot: c_int, pkey: c_int) -> c_int {
    if !ready() {
        return ret_int(sys::pkey_mprotect(addr, len, prot, pkey));
    }
    if pkey > 0 && protection().owns_key(pkey as u32) {
        // jitguard's keys are not the program's to hand out.
        sys::set_errno(libc::EINVAL);
        return -1;
    }
    let (s, e) = page_span(addr, len);
    if is_wx(prot) {
        // Re-key: W+X memory is guarded with jitguard's keys whatever key
        // the program asked for (documented in SECURITY.md).
        crate::log!(
            Info,
            "pkey_mprotect({s:#x}, W+X, key {pkey}): re-keyed by jitguard"
        );
        return mprotect(addr, len, prot);
    }
    if addr & (jg::PAGE_SIZE - 1) == 0 && aliases::tracks(s, e) {
        // A view of a shared object: the alias table follows the change,
        // and a writable alias of code keeps jitguard's keys (as W+X
        // memory does); the program's key applies to the rest.
        return ret_int(aliases::pkey_mprotect(s, e, prot, pkey));
    }
    if !overlaps(s, e) || addr & (jg::PAGE_SIZE - 1) != 0 {
        return ret_int(sys::pkey_mprotect(addr, len, prot, pkey));
    }
    // The program's call first: one the kernel refuses (a key it never
    // allocated) changes nothing, the guard included.
    ret_int(edit(|map| {
        crate::attest::forget(s, e);
        sys::pkey_mprotect(s, e - s, prot, pkey)?;
        map.remove(s, e);
        Ok(0)
    }))
}

pub fn munmap(addr: *mut c_void, len: size_t) -> c_int {
    let (s, e) = page_span(addr as u64, len as u64);
    if ready() && aliases::tracks(s, e) {
        return ret_int(aliases::munmap(addr, len));
    }
    if !ready() || !overlaps(s, e) {
        return ret_int(sys::munmap(addr, len));
    }
    // The unmapping and its bookkeeping happen under the lock together:
    // otherwise another thread's new W+X mapping could land at the freed
    // address in between, and this edit would then forget it.
    ret_int(edit(|map| {
        crate::attest::forget(s, e);
        let r = sys::munmap(addr, len);
        if r.is_ok() {
            map.remove(s, e);
        }
        r
    }))
}

fn discards(advice: c_int) -> bool {
    /// Linux 5.18's MADV_DONTNEED_LOCKED (not in every libc crate).
    const MADV_DONTNEED_LOCKED: c_int = 24;
    matches!(
        advice,
        libc::MADV_DONTNEED | libc::MADV_FREE | libc::MADV_REMOVE | MADV_DONTNEED_LOCKED
    )
}

pub fn pkey_free(pkey: c_int) -> c_int {
    if ready() && pkey > 0 && protection().owns_key(pkey as u32) {
        sys::set_errno(libc::EINVAL);
        return -1;
    }
    ret_int(sys::pkey_free(pkey))
}

/// The program's madvise (the export refuses jitguard's own memory
/// first). Advice that discards guarded pages' content (they read back as
/// zeros or the file's bytes) forgets their attestation records first.
pub fn madvise(addr: *mut c_void, len: size_t, advice: c_int) -> c_int {
    let (s, e) = page_span(addr as u64, len as u64);
    if ready() && discards(advice) && overlaps(s, e) {
        crate::attest::forget(s, e);
    }
    ret_int(sys::madvise(addr as u64, len as u64, advice))
}
