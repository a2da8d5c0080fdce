//! The periodic sweep (`JITGUARD_ATTEST=MS`): a thread of jitguard's own
//! that checks every sealed record each period.
//!
//! The thread is named `jitguard-attest` (it shows in /proc/PID/task like
//! any thread), blocks every signal so the program's asynchronous signals
//! always go to the program's threads, and runs with jitguard's keys
//! readable and write-disabled. It does not survive fork (a child has only
//! the forking thread; its checks are those on open and at exit), and it
//! never keeps the process alive: the process exits when the program does.

use crate::state::protection;
use std::time::Duration;

pub fn start(ms: u32) {
    let r = std::thread::Builder::new()
        .name("jitguard-attest".into())
        .stack_size(64 * 1024)
        .spawn(move || run(ms));
    if let Err(e) = r {
        crate::log!(Warn, "attestation sweep thread not started ({e})");
    }
}

fn run(ms: u32) {
    // SAFETY: a full signal set, then this thread's mask set to it.
    unsafe {
        let mut all: libc::sigset_t = core::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, core::ptr::null_mut());
    }
    if let Some(k) = protection().keys() {
        // New threads inherit their creator's PKRU; say it anyway: read
        // allowed, write disabled for every jitguard key.
        crate::pkru::write(crate::pkru::read().sealed(k.set));
    }
    loop {
        std::thread::sleep(Duration::from_millis(u64::from(ms)));
        if super::check_all(super::Found::Sweep) {
            // SAFETY: abort is always sound; tampered code must not run on.
            unsafe { libc::abort() };
        }
    }
}
