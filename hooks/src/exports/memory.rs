//! The mapping calls.

use crate::{mapping, vault};
use libc::{c_int, c_void, off_t, size_t};

/// # Safety
/// libc's `mmap` contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn mmap(
    addr: *mut c_void,
    len: size_t,
    prot: c_int,
    flags: c_int,
    fd: c_int,
    off: off_t,
) -> *mut c_void {
    if flags & libc::MAP_FIXED != 0 && vault::refused("mmap", addr as u64, len as u64) {
        return libc::MAP_FAILED;
    }
    mapping::mmap(addr, len, prot, flags, fd, off)
}

/// # Safety
/// libc's `mmap64` contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn mmap64(
    addr: *mut c_void,
    len: size_t,
    prot: c_int,
    flags: c_int,
    fd: c_int,
    off: off_t,
) -> *mut c_void {
    if flags & libc::MAP_FIXED != 0 && vault::refused("mmap", addr as u64, len as u64) {
        return libc::MAP_FAILED;
    }
    mapping::mmap(addr, len, prot, flags, fd, off)
}

/// # Safety
/// libc's `mprotect` contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn mprotect(addr: *mut c_void, len: size_t, prot: c_int) -> c_int {
    if vault::refused("mprotect", addr as u64, len as u64) {
        return -1;
    }
    mapping::mprotect(addr as u64, len as u64, prot)
}

/// # Safety
/// libc's `pkey_mprotect` contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn pkey_mprotect(
    addr: *mut c_void,
    len: size_t,
    prot: c_int,
    pkey: c_int,
) -> c_int {
    if vault::refused("pkey_mprotect", addr as u64, len as u64) {
        return -1;
    }
    mapping::pkey_mprotect(addr as u64, len as u64, prot, pkey)
}

/// # Safety
/// libc's `munmap` contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn munmap(addr: *mut c_void, len: size_t) -> c_int {
    if vault::refused("munmap", addr as u64, len as u64) {
        return -1;
    }
    mapping::munmap(addr, len)
}

/// # Safety
/// libc's `pkey_free` contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn pkey_free(pkey: c_int) -> c_int {
    mapping::pkey_free(pkey)
}

/// `mremap` is variadic (the fifth argument only with MREMAP_FIXED). On
/// x86-64 the fifth argument arrives in the same register either way, so
/// it is read as a plain parameter and ignored without MREMAP_FIXED.
///
/// # Safety
/// libc's `mremap` contract.
#[cfg_attr(not(test), no_mangle)]
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
    if vault::refused("mremap", old as u64, old_len as u64)
        || (!new.is_null() && vault::refused("mremap", new as u64, new_len as u64))
    {
        return libc::MAP_FAILED;
    }
    crate::remap::mremap(old, old_len, new_len, flags, new)
}

/// Only refuses jitguard's own memory: discarding its pages would give
/// them back their initial contents (or zeroes).
///
/// # Safety
/// libc's `madvise` contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn madvise(addr: *mut c_void, len: size_t, advice: c_int) -> c_int {
    if vault::refused("madvise", addr as u64, len as u64) {
        return -1;
    }
    mapping::madvise(addr, len, advice)
}
