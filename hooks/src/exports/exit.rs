//! `syscall`, interposed for one number: `exit_group`. A program that
//! ends the process with the raw system call (QEMU's user-mode emulators
//! do, for the guest's exit_group) runs no destructors, so jitguard's
//! exit work (the stats file, learn mode's profile) would never happen.
//! It is done first.
//!
//! Every call is made here with the `syscall` instruction, as libc's
//! `syscall` does, never through a looked-up libc function: jitguard's
//! own dependencies call `syscall` too (futex waits), and they bind to
//! this export, also before anything could be looked up (and the lookup
//! itself may wait on a lock).

use libc::{c_int, c_long};

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
    let ret: c_long;
    // SAFETY: the caller's contract: a system call with its arguments, in
    // the kernel's registers; the kernel clobbers rcx and r11 only.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") number => ret,
            in("rdi") a1,
            in("rsi") a2,
            in("rdx") a3,
            in("r10") a4,
            in("r8") a5,
            in("r9") a6,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    // libc's convention: -1 and errno for the kernel's -4095..-1.
    if (-4095..0).contains(&ret) {
        crate::sys::set_errno(-ret as c_int);
        return -1;
    }
    ret
}
