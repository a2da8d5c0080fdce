//! The signal calls: the program's actions for jitguard's signals are
//! recorded, not installed; masks of them are virtual.

use crate::sigmask;
use crate::signals::{self as chain, Simple};
use libc::{c_int, sighandler_t, sigset_t};

/// # Safety
/// libc's `sigaction` contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn sigaction(
    sig: c_int,
    act: *const libc::sigaction,
    old: *mut libc::sigaction,
) -> c_int {
    crate::tamper::check_here("sigaction");
    // SAFETY: the program's pointers, under libc's contract.
    unsafe { chain::sigaction(sig, act, old) }
}

/// # Safety
/// As `sigaction` (glibc's internal alias).
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn __sigaction(
    sig: c_int,
    act: *const libc::sigaction,
    old: *mut libc::sigaction,
) -> c_int {
    crate::tamper::check_here("__sigaction");
    // SAFETY: as above.
    unsafe { chain::sigaction(sig, act, old) }
}

/// # Safety
/// libc's `signal` contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn signal(sig: c_int, h: sighandler_t) -> sighandler_t {
    crate::tamper::check_here("signal");
    chain::set_simple(sig, h, Simple::Bsd)
        // SAFETY: libc\'s own function, with the program\'s arguments.
        .unwrap_or_else(|| unsafe { crate::real!(signal)(sig, h) })
}

/// # Safety
/// libc's `bsd_signal` contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn bsd_signal(sig: c_int, h: sighandler_t) -> sighandler_t {
    crate::tamper::check_here("bsd_signal");
    chain::set_simple(sig, h, Simple::Bsd)
        // SAFETY: libc\'s own function, with the program\'s arguments.
        .unwrap_or_else(|| unsafe { crate::real!(bsd_signal)(sig, h) })
}

/// # Safety
/// libc's `ssignal` contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn ssignal(sig: c_int, h: sighandler_t) -> sighandler_t {
    crate::tamper::check_here("ssignal");
    chain::set_simple(sig, h, Simple::Bsd)
        // SAFETY: libc\'s own function, with the program\'s arguments.
        .unwrap_or_else(|| unsafe { crate::real!(ssignal)(sig, h) })
}

/// # Safety
/// libc's `sysv_signal` contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn sysv_signal(sig: c_int, h: sighandler_t) -> sighandler_t {
    crate::tamper::check_here("sysv_signal");
    chain::set_simple(sig, h, Simple::SysV)
        // SAFETY: libc\'s own function, with the program\'s arguments.
        .unwrap_or_else(|| unsafe { crate::real!(sysv_signal)(sig, h) })
}

/// # Safety
/// libc's `__sysv_signal` contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn __sysv_signal(sig: c_int, h: sighandler_t) -> sighandler_t {
    crate::tamper::check_here("__sysv_signal");
    chain::set_simple(sig, h, Simple::SysV)
        // SAFETY: libc\'s own function, with the program\'s arguments.
        .unwrap_or_else(|| unsafe { crate::real!(__sysv_signal)(sig, h) })
}

/// # Safety
/// libc's `sigset` contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn sigset(sig: c_int, disp: sighandler_t) -> sighandler_t {
    crate::tamper::check_here("sigset");
    chain::sigset(sig, disp)
        // SAFETY: libc\'s own function, with the program\'s arguments.
        .unwrap_or_else(|| unsafe { crate::real!(sigset)(sig, disp) })
}

/// # Safety
/// libc's `siginterrupt` contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn siginterrupt(sig: c_int, flag: c_int) -> c_int {
    crate::tamper::check_here("siginterrupt");
    chain::siginterrupt(sig, flag)
        // SAFETY: libc\'s own function, with the program\'s arguments.
        .unwrap_or_else(|| unsafe { crate::real!(siginterrupt)(sig, flag) })
}

/// # Safety
/// libc's `sigprocmask` contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn sigprocmask(
    how: c_int,
    set: *const sigset_t,
    old: *mut sigset_t,
) -> c_int {
    crate::tamper::check_here("sigprocmask");
    let real = crate::real::required(crate::real::sigprocmask(), "sigprocmask");
    // SAFETY: the program's pointers, under libc's contract.
    unsafe { sigmask::sigmask(how, set, old, real, chain::installed()) }
}

/// # Safety
/// libc's `pthread_sigmask` contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn pthread_sigmask(
    how: c_int,
    set: *const sigset_t,
    old: *mut sigset_t,
) -> c_int {
    crate::tamper::check_here("pthread_sigmask");
    let real = crate::real::required(crate::real::pthread_sigmask(), "pthread_sigmask");
    // SAFETY: as above.
    unsafe { sigmask::sigmask(how, set, old, real, chain::installed()) }
}
