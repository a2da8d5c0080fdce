//! SysV shared memory and the personality (for the alias guard).

use libc::{c_int, c_ulong, c_void};

/// # Safety
/// libc's `shmat` contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn shmat(id: c_int, addr: *const c_void, flags: c_int) -> *mut c_void {
    crate::shm::shmat(id, addr, flags)
}

/// # Safety
/// libc's `shmdt` contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn shmdt(addr: *const c_void) -> c_int {
    crate::shm::shmdt(addr)
}

/// # Safety
/// libc's `personality` contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn personality(persona: c_ulong) -> c_int {
    crate::shm::personality(persona)
}
