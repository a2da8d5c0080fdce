//! libc's generic `syscall()` wrapper, so that `syscall(SYS_openat, ...)`,
//! `syscall(SYS_openat2, ...)` (glibc has no `openat2` wrapper),
//! `syscall(SYS_process_vm_writev, ...)` and `syscall(SYS_read, ...)`
//! into code memory are judged like the libc functions of the same name.
//! `syscall(SYS_exit_group)` runs jitguard's exit work first. Every other
//! number goes straight to the kernel.
//!
//! jitguard's own raw system calls (`crate::sys`, the logger) reach this
//! function too, as the definition of `syscall` in the preloaded library:
//! so it issues the system call itself (the `syscall` instruction, as
//! glibc's wrapper does), never through a resolved pointer (no symbol
//! lookup, usable before start-up and in the handlers), and its judged
//! numbers cost jitguard's own calls (the read-back's `openat`/`pread64`,
//! the walk's `process_vm_readv` into the handler's stack) only the
//! buffer test. A `syscall` instruction the attacker runs directly is not
//! seen here (see SECURITY.md).

use super::files::{judged_fd, refuses_writev_into_self};
use super::io::{add_addr, add_msghdr, buf, with_iovs};
use crate::gate::{self, Dest};
use crate::{memfile, state};
use libc::{c_int, c_long, c_void, iovec};

/// The system call `n` with six arguments: the kernel's return value.
///
/// # Safety
/// The arguments are the program's (or jitguard's) for system call `n`.
unsafe fn raw6(n: c_long, a: [c_long; 6]) -> c_long {
    let ret: c_long;
    // SAFETY: the caller's contract; the syscall instruction clobbers rcx
    // and r11 only.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") n => ret,
            in("rdi") a[0],
            in("rsi") a[1],
            in("rdx") a[2],
            in("r10") a[3],
            in("r8") a[4],
            in("r9") a[5],
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// As glibc's wrapper: -1 and errno for the kernel's -4095..-1.
fn libc_result(r: c_long) -> c_long {
    if (-4095..0).contains(&r) {
        crate::sys::set_errno(-r as c_int);
        -1
    } else {
        r
    }
}

/// How a report names the judged system call.
fn raw_name(n: c_long) -> &'static str {
    match n {
        libc::SYS_open => "syscall(SYS_open)",
        libc::SYS_openat => "syscall(SYS_openat)",
        libc::SYS_creat => "syscall(SYS_creat)",
        libc::SYS_openat2 => "syscall(SYS_openat2)",
        libc::SYS_process_vm_writev => "syscall(SYS_process_vm_writev)",
        libc::SYS_read => "syscall(SYS_read)",
        libc::SYS_pread64 => "syscall(SYS_pread64)",
        libc::SYS_getrandom => "syscall(SYS_getrandom)",
        libc::SYS_readv => "syscall(SYS_readv)",
        libc::SYS_preadv => "syscall(SYS_preadv)",
        libc::SYS_preadv2 => "syscall(SYS_preadv2)",
        libc::SYS_process_vm_readv => "syscall(SYS_process_vm_readv)",
        libc::SYS_recvfrom => "syscall(SYS_recvfrom)",
        libc::SYS_recvmsg => "syscall(SYS_recvmsg)",
        _ => "syscall",
    }
}

/// # Safety
/// libc's `syscall` contract: the arguments system call `n` takes (the
/// unused ones are read from their registers or stack slots and ignored,
/// as the kernel does).
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn syscall(
    n: c_long,
    a0: c_long,
    a1: c_long,
    a2: c_long,
    a3: c_long,
    a4: c_long,
    a5: c_long,
) -> c_long {
    let a = [a0, a1, a2, a3, a4, a5];
    // SAFETY: the caller's system call, as it asked.
    let direct = || libc_result(unsafe { raw6(n, a) });
    if !state::ready() {
        return direct();
    }
    match n {
        // A program that ends the process with the raw system call (QEMU's
        // user-mode emulators do, for the guest's exit_group) runs no
        // destructors: jitguard's exit work (the stats file, learn mode's
        // profile) is done first.
        libc::SYS_exit_group => {
            crate::init::jitguard_fini();
            direct()
        }
        libc::SYS_open | libc::SYS_openat | libc::SYS_creat | libc::SYS_openat2 => {
            let r = direct();
            let flags = match n {
                libc::SYS_open => a0 as c_int,
                libc::SYS_openat => a2 as c_int,
                libc::SYS_creat => libc::O_WRONLY,
                // The call succeeded: its open_how was readable.
                // SAFETY: as above.
                _ if r >= 0 => unsafe { (a2 as *const libc::open_how).read().flags as c_int },
                _ => 0,
            };
            if r < 0 {
                return r;
            }
            judged_fd(raw_name(n), r as c_int, flags) as c_long
        }
        libc::SYS_process_vm_writev => {
            if refuses_writev_into_self(raw_name(n), a0 as libc::pid_t) {
                return -1;
            }
            direct()
        }
        libc::SYS_read | libc::SYS_pread64 | libc::SYS_getrandom => {
            let (b, len) = if n == libc::SYS_getrandom {
                (a0, a1)
            } else {
                (a1, a2)
            };
            if !gate::touches(b as u64, len as u64) {
                return direct();
            }
            gate::call(raw_name(n), &buf(b as *const c_void, len as usize), direct)
        }
        libc::SYS_readlink | libc::SYS_readlinkat | libc::SYS_msgrcv | libc::SYS_recvfrom => {
            if !gate::any_guarded() {
                return direct();
            }
            let mut d = match n {
                libc::SYS_readlink => buf(a1 as *const c_void, a2 as usize),
                libc::SYS_readlinkat => buf(a2 as *const c_void, a3 as usize),
                libc::SYS_msgrcv => buf(a1 as *const c_void, (a2 as usize).saturating_add(8)),
                _ => buf(a1 as *const c_void, a2 as usize),
            };
            if n == libc::SYS_recvfrom {
                // SAFETY: the kernel's contract for the address arguments.
                unsafe {
                    add_addr(
                        &mut d,
                        a4 as *mut libc::sockaddr,
                        a5 as *const libc::socklen_t,
                    )
                };
            }
            gate::call(raw_name(n), &d, direct)
        }
        libc::SYS_readv | libc::SYS_preadv | libc::SYS_preadv2 | libc::SYS_process_vm_readv => {
            // The destination array is the second argument of all four
            // (process_vm_readv's local buffers). SAFETY: the kernel's
            // contract for the array; it gets the judged copy in its slot.
            unsafe {
                with_iovs(raw_name(n), a1 as *const iovec, a2 as usize, |v| {
                    let mut b = a;
                    b[1] = v as c_long;
                    libc_result(raw6(n, b))
                })
            }
        }
        libc::SYS_vmsplice if !memfile::writable(a0 as c_int) => {
            // SAFETY: as above.
            unsafe {
                with_iovs(raw_name(n), a1 as *const iovec, a2 as usize, |v| {
                    let mut b = a;
                    b[1] = v as c_long;
                    libc_result(raw6(n, b))
                })
            }
        }
        libc::SYS_recvmsg if gate::any_guarded() && a1 != 0 => {
            let mut d = Dest::new();
            // SAFETY: the kernel's contract: a valid message header.
            unsafe { add_msghdr(&mut d, a1 as *const libc::msghdr) };
            gate::call(raw_name(n), &d, direct)
        }
        _ => direct(),
    }
}
