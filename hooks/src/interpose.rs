//! The exported mapping hooks: every call that can make memory writable
//! and executable at once, or change memory jitguard guards.
//!
//! Until jitguard is initialised every hook passes straight through to the
//! raw system call. Afterwards, calls that neither create W+X memory nor
//! touch a guarded region take a lock-free fast path, so malloc's own
//! mmap/munmap traffic never waits on jitguard's lock (and allocation under
//! that lock cannot deadlock on it).

use crate::guard::{self, edit, is_wx, overlaps, page_span};
use crate::state::{globals, ready};
use crate::sys::{self, SysResult};
use jg::config::Backend;
use libc::{c_int, c_void, off_t, size_t};
use redhook::hook;

fn ret_ptr(r: SysResult) -> *mut c_void {
    match r {
        Ok(v) => v as *mut c_void,
        Err(e) => {
            sys::set_errno(e);
            libc::MAP_FAILED
        }
    }
}

fn ret_int(r: SysResult) -> c_int {
    match r {
        Ok(_) => 0,
        Err(e) => {
            sys::set_errno(e);
            -1
        }
    }
}

fn our_key(pkey: c_int) -> bool {
    pkey > 0 && globals().keys.as_ref().is_some_and(|k| k.owns(pkey as u32))
}

pub fn do_mmap(
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
    // Thread stacks (glibc maps them W+X for -z execstack programs) are
    // never guarded: an unwritable stack kills the thread.
    let stack = flags & (libc::MAP_STACK | libc::MAP_GROWSDOWN) != 0;
    let wx = is_wx(prot) && !stack;
    let fixed = flags & (libc::MAP_FIXED | libc::MAP_FIXED_NOREPLACE) != 0;
    if !(wx || fixed && overlaps(addr as u64, addr as u64 + len as u64)) {
        return ret_ptr(sys::mmap(addr, len, prot, flags, fd, off));
    }
    // W+X memory is created without write, then keyed: it is never
    // writable under key 0, not even between two syscalls.
    let first_prot = if wx { prot & !libc::PROT_WRITE } else { prot };
    let r = sys::mmap(addr, len, first_prot, flags, fd, off);
    let Ok(base) = r else { return ret_ptr(r) };
    let (s, e) = page_span(base as u64, len as u64);
    edit(|map| {
        map.remove(s, e);
        if wx {
            if let Err(err) = guard::guard(map, s, e, prot) {
                crate::log!(
                    Warn,
                    "could not guard {s:#x}-{e:#x} (errno {err}); left unguarded"
                );
                let _ = sys::mprotect(s, e - s, prot);
            }
        }
    });
    base as *mut c_void
}

pub fn do_mprotect(addr: u64, len: u64, prot: c_int) -> c_int {
    if !ready() {
        return ret_int(sys::mprotect(addr, len, prot));
    }
    let (s, e) = page_span(addr, len);
    // glibc makes stacks executable with mprotect for -z execstack code.
    let wx = is_wx(prot) && !guard::holds_own_stack(s, e);
    if (!wx && !overlaps(s, e)) || addr & 4095 != 0 {
        return ret_int(sys::mprotect(addr, len, prot));
    }
    ret_int(edit(|map| {
        if wx {
            // Validate the range and drop write everywhere first, so no
            // page is writable under key 0 while keys are applied.
            sys::mprotect(s, e - s, prot & !libc::PROT_WRITE)?;
            if globals().backend == Backend::Pkey {
                for piece in map.overlapping(s, e) {
                    sys::mprotect(piece.start, piece.len(), prot)?;
                }
            }
            guard::guard(map, s, e, prot)
        } else {
            guard::unguard(map, s, e, prot, 0)?;
            sys::mprotect(s, e - s, prot)
        }
    }))
}

pub fn do_pkey_mprotect(addr: u64, len: u64, prot: c_int, pkey: c_int) -> c_int {
    if !ready() {
        return ret_int(sys::pkey_mprotect(addr, len, prot, pkey));
    }
    if our_key(pkey) {
        // jitguard's keys are not the program's to hand out.
        sys::set_errno(libc::EINVAL);
        return -1;
    }
    let (s, e) = page_span(addr, len);
    if is_wx(prot) {
        // Re-key: W+X memory is guarded with jitguard's keys whatever key the
        // program asked for (documented in SECURITY.md).
        crate::log!(
            Info,
            "pkey_mprotect({s:#x}, W+X, key {pkey}): re-keyed by jitguard"
        );
        return do_mprotect(addr, len, prot);
    }
    if !overlaps(s, e) || addr & 4095 != 0 {
        return ret_int(sys::pkey_mprotect(addr, len, prot, pkey));
    }
    ret_int(edit(|map| {
        guard::unguard(map, s, e, prot, pkey)?;
        sys::pkey_mprotect(s, e - s, prot, pkey)
    }))
}

pub fn do_munmap(addr: *mut c_void, len: size_t) -> c_int {
    let (s, e) = page_span(addr as u64, len as u64);
    if !ready() || !overlaps(s, e) {
        return ret_int(sys::munmap(addr, len));
    }
    // The unmapping and its bookkeeping happen under the lock together:
    // otherwise another thread's new W+X mapping could land at the freed
    // address in between, and this edit would then forget it.
    ret_int(edit(|map| {
        let r = sys::munmap(addr, len);
        if r.is_ok() {
            map.remove(s, e);
        }
        r
    }))
}

pub fn do_mremap(
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
        let moved_to = match sys::mremap(old, old_len, new_len, flags, new) {
            Ok(p) => p as u64,
            Err(libc::EFAULT) => return emulate_mremap(map, os, oe - os, grown, flags),
            Err(e) => return Err(e),
        };
        // Hashed keys depend on the address: moved pages wait under the
        // reserve key again until their next write re-keys them.
        for r in map.remap(os, oe - os, moved_to, grown) {
            if let Err(e) = guard_piece(r.start, r.len(), r.prot) {
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
        guard_piece(r.start, r.len(), r.prot)?;
    }
    sys::munmap(os as *mut c_void, old_len as usize)?;
    crate::log!(
        Debug,
        "mremap of guarded {os:#x}+{old_len:#x} emulated: moved to {dst:#x}"
    );
    Ok(dst as libc::c_long)
}

/// Seals a moved piece: the reserve key (pkey) or no write (mprotect).
fn guard_piece(start: u64, len: u64, prot: c_int) -> SysResult {
    match (globals().backend, &globals().keys) {
        (Backend::Pkey, Some(keys)) => {
            sys::pkey_mprotect(start, len, prot, keys.reserve_key() as c_int)
        }
        _ => sys::mprotect(start, len, guard::sealed_prot(prot)),
    }
}

hook! {
    unsafe fn mmap(addr: *mut c_void, len: size_t, prot: c_int, flags: c_int, fd: c_int, off: off_t) -> *mut c_void => jg_mmap {
        do_mmap(addr, len, prot, flags, fd, off)
    }
}

hook! {
    unsafe fn mmap64(addr: *mut c_void, len: size_t, prot: c_int, flags: c_int, fd: c_int, off: off_t) -> *mut c_void => jg_mmap64 {
        do_mmap(addr, len, prot, flags, fd, off)
    }
}

hook! {
    unsafe fn mprotect(addr: *mut c_void, len: size_t, prot: c_int) -> c_int => jg_mprotect {
        do_mprotect(addr as u64, len as u64, prot)
    }
}

hook! {
    unsafe fn pkey_mprotect(addr: *mut c_void, len: size_t, prot: c_int, pkey: c_int) -> c_int => jg_pkey_mprotect {
        do_pkey_mprotect(addr as u64, len as u64, prot, pkey)
    }
}

/// Hooks that close this thread's call window before the real function
/// runs: each is a way a trusted writer's frame can be left, copied or
/// walked. A `longjmp` family jump or a context switch would skip the
/// reseal trampoline (if it lands inside the writer, the next write just
/// opens a new window); a new thread copies its creator's PKRU and signal
/// mask, so it must not start inside a window; a thread exit leaves
/// nothing open; an unwinder (C++ exception, backtrace) then sees the real
/// caller, because closing puts the return address back on the stack.
macro_rules! closes_call_window_first {
    ($(fn $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)? => $export:ident;)*) => {
        $(hook! {
            unsafe fn $name($($arg: $ty),*) $(-> $ret)? => $export {
                if ready() {
                    crate::handler::close_call_window_now();
                }
                redhook::real!($name)($($arg),*)
            }
        })*
    };
}

closes_call_window_first! {
    fn longjmp(env: *mut c_void, val: c_int) => jg_longjmp;
    fn _longjmp(env: *mut c_void, val: c_int) => jg_underscore_longjmp;
    fn siglongjmp(env: *mut c_void, val: c_int) => jg_siglongjmp;
    fn __longjmp_chk(env: *mut c_void, val: c_int) => jg_longjmp_chk;
    fn setcontext(ucp: *const libc::ucontext_t) -> c_int => jg_setcontext;
    fn swapcontext(oucp: *mut libc::ucontext_t, ucp: *const libc::ucontext_t) -> c_int => jg_swapcontext;
    fn pthread_create(
        thread: *mut libc::pthread_t,
        attr: *const libc::pthread_attr_t,
        start: extern "C" fn(*mut c_void) -> *mut c_void,
        arg: *mut c_void
    ) -> c_int => jg_pthread_create;
    fn pthread_exit(retval: *mut c_void) => jg_pthread_exit;
    fn __cxa_throw(obj: *mut c_void, tinfo: *mut c_void, dest: *mut c_void) => jg_cxa_throw;
    fn backtrace(buffer: *mut *mut c_void, size: c_int) -> c_int => jg_backtrace;
}

hook! {
    unsafe fn dlopen(file: *const libc::c_char, mode: c_int) -> *mut c_void => jg_dlopen {
        let h = redhook::real!(dlopen)(file, mode);
        if ready() && !h.is_null() {
            crate::writers::refresh();
        }
        h
    }
}

hook! {
    unsafe fn dlclose(handle: *mut c_void) -> c_int => jg_dlclose {
        if ready() {
            crate::writers::before_dlclose(handle);
        }
        let r = redhook::real!(dlclose)(handle);
        if ready() {
            crate::writers::refresh();
        }
        r
    }
}

hook! {
    unsafe fn munmap(addr: *mut c_void, len: size_t) -> c_int => jg_munmap {
        do_munmap(addr, len)
    }
}

hook! {
    unsafe fn pkey_free(pkey: c_int) -> c_int => jg_pkey_free {
        if ready() && our_key(pkey) {
            sys::set_errno(libc::EINVAL);
            return -1;
        }
        ret_int(sys::pkey_free(pkey))
    }
}

/// `mremap` is variadic (the fifth argument only with MREMAP_FIXED), which
/// redhook's macro cannot express. On x86-64 the fifth argument arrives in
/// the same register either way, so it is read as a plain parameter.
///
/// # Safety
/// Called by the program as libc's mremap.
#[no_mangle]
pub unsafe extern "C" fn mremap(
    old: *mut c_void,
    old_len: size_t,
    new_len: size_t,
    flags: c_int,
    new: *mut c_void,
) -> *mut c_void {
    let new = if flags & libc::MREMAP_FIXED != 0 {
        new
    } else {
        core::ptr::null_mut()
    };
    do_mremap(old, old_len, new_len, flags, new)
}
