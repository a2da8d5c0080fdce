//! `syscall`, interposed for one number: `exit_group`. A program that
//! ends the process with the raw system call (QEMU's user-mode emulators
//! do, for the guest's exit_group) runs no destructors, so jitguard's
//! exit work (the stats file, learn mode's profile) would never happen.
//! It is done first; every other number passes straight through.

use libc::c_long;

/// # Safety
/// libc's `syscall` contract. It is variadic; on x86-64 the six possible
/// arguments arrive in registers either way, and are passed on as they
/// came (unused ones are whatever the caller left there, as with libc's
/// own `syscall`).
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn syscall(
    number: c_long,
    a1: c_long,
    a2: c_long,
    a3: c_long,
    a4: c_long,
    a5: c_long,
    a6: c_long,
) -> c_long {
    if number == libc::SYS_exit_group {
        crate::init::jitguard_fini();
    }
    let real = crate::real::required(crate::real::syscall(), "syscall");
    // SAFETY: the caller's contract, forwarded unchanged.
    unsafe { real(number, a1, a2, a3, a4, a5, a6) }
}
