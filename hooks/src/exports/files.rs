//! The kernel paths that write any page regardless of its protection:
//! the process's own `mem` file opened for writing (through every libc
//! entry that opens a file) and `process_vm_writev` into this process.
//!
//! The file that was opened is judged, never the path (`crate::memfile`):
//! the real call runs, and a descriptor that turns out to be this
//! process's own `mem` file with write access is closed again and the
//! call fails with EACCES (enforce mode), with a report naming the caller.
//! Read-only opens are never refused (debuggers, sanitizers and `cat
//! /proc/self/mem`-style readers keep working), and since a descriptor's
//! access mode never widens (reopening `/proc/self/fd/N` is an open, judged
//! again), no descriptor this process holds can `write`/`pwrite`/`pwritev2`
//! its memory.
//!
//! Audit and learn modes report and allow (as stock would).

use crate::{memfile, state, sys, writers};
use jg::config::Mode;
use libc::{c_char, c_int, c_ulong, iovec, mode_t, ssize_t, FILE};

/// What the policy does with a write handle on this process's memory.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Refuse,
    Allow,
}

/// Reports the program's call of `hook` that would give it write access to
/// its own memory (`what`), and says whether to refuse it.
fn report(hook: &str, what: core::fmt::Arguments<'_>) -> Verdict {
    use core::fmt::Write;
    let g = state::globals();
    let verdict = if g.config.mode == Mode::Enforce {
        Verdict::Refuse
    } else {
        Verdict::Allow
    };
    let counter = if verdict == Verdict::Refuse {
        &crate::counters::COUNTERS.denials
    } else {
        &crate::counters::COUNTERS.audited
    };
    crate::counters::bump(counter);
    // Naming the caller needs the writer view; a process that has not
    // mapped code yet has none, and builds it now (this path is taken
    // only by a call being refused).
    writers::ensure_view();
    let view = writers::view();
    let mut b = jg::report::StackBuf::<1280>::new();
    let _ = write!(
        b,
        "jitguard: {} {what} by thread {}: ",
        if verdict == Verdict::Refuse {
            "denied"
        } else {
            "audited"
        },
        sys::tid()
    );
    // No code address is involved: the profile named is the one for
    // memory no runtime created.
    crate::gate::describe_caller(&mut b, hook, view.as_deref(), 0);
    let _ = writeln!(
        b,
        "; {}",
        if verdict == Verdict::Refuse {
            "refused"
        } else {
            "allowed (not enforcing)"
        }
    );
    crate::log::report(b.as_bytes());
    verdict
}

/// Judges the descriptor an open call of `hook` returned: the descriptor,
/// or -1 with EACCES if it is this process's own memory for writing.
pub(super) fn judged_fd(hook: &str, fd: c_int, flags: c_int) -> c_int {
    if !state::ready() || fd < 0 || !memfile::is_own_mem_for_write(fd, Some(flags)) {
        return fd;
    }
    let verdict = report(
        hook,
        format_args!("opening the process's own memory for writing (descriptor {fd})"),
    );
    if verdict == Verdict::Allow {
        return fd;
    }
    // SAFETY: closes the descriptor the program's own open just made.
    unsafe { libc::syscall(libc::SYS_close, fd) };
    sys::set_errno(libc::EACCES);
    -1
}

/// `open`-like calls returning a descriptor: the real call, then the
/// judgement of what it opened. The optional mode argument of the variadic
/// ones arrives in the same register either way on x86-64, so it is taken
/// as a plain parameter and passed on.
macro_rules! opens {
    ($(fn $name:ident($($arg:ident: $ty:ty),*) flags $flags:expr;)*) => {
        $(
            /// Fails with EACCES if it opened this process's own `mem`
            /// file with write access.
            ///
            /// # Safety
            /// libc's contract for the function of this name.
            #[cfg_attr(not(test), no_mangle)]
            pub unsafe extern "C" fn $name($($arg: $ty),*) -> c_int {
                // SAFETY: libc's own function, with the program's arguments.
                let fd = unsafe { crate::real!($name)($($arg),*) };
                judged_fd(stringify!($name), fd, $flags)
            }
        )*
    };
}

opens! {
    fn open(path: *const c_char, flags: c_int, mode: mode_t) flags flags;
    fn open64(path: *const c_char, flags: c_int, mode: mode_t) flags flags;
    fn __open(path: *const c_char, flags: c_int, mode: mode_t) flags flags;
    fn __open64(path: *const c_char, flags: c_int, mode: mode_t) flags flags;
    fn __open_2(path: *const c_char, flags: c_int) flags flags;
    fn __open64_2(path: *const c_char, flags: c_int) flags flags;
    fn openat(dir: c_int, path: *const c_char, flags: c_int, mode: mode_t) flags flags;
    fn openat64(dir: c_int, path: *const c_char, flags: c_int, mode: mode_t) flags flags;
    fn __openat_2(dir: c_int, path: *const c_char, flags: c_int) flags flags;
    fn __openat64_2(dir: c_int, path: *const c_char, flags: c_int) flags flags;
    fn creat(path: *const c_char, mode: mode_t) flags libc::O_WRONLY;
    fn creat64(path: *const c_char, mode: mode_t) flags libc::O_WRONLY;
}

/// A stream whose descriptor is this process's own memory for writing is
/// closed and the call fails with EACCES.
fn judged_stream(hook: &str, f: *mut FILE) -> *mut FILE {
    if f.is_null() || !state::ready() {
        return f;
    }
    // SAFETY: a stream the real call just returned.
    let fd = unsafe { libc::fileno(f) };
    if judged_fd_keep(hook, fd) {
        return f;
    }
    // SAFETY: as above; closing it is the refusal.
    unsafe { libc::fclose(f) };
    sys::set_errno(libc::EACCES);
    core::ptr::null_mut()
}

/// As `judged_fd`, leaving the descriptor to the stream: whether to keep
/// it.
fn judged_fd_keep(hook: &str, fd: c_int) -> bool {
    if fd < 0 || !memfile::is_own_mem_for_write(fd, None) {
        return true;
    }
    report(
        hook,
        format_args!("opening the process's own memory for writing (descriptor {fd})"),
    ) == Verdict::Allow
}

macro_rules! streams {
    ($(fn $name:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            /// Fails with EACCES if it opened this process's own `mem`
            /// file with write access.
            ///
            /// # Safety
            /// libc's contract for the function of this name.
            #[cfg_attr(not(test), no_mangle)]
            pub unsafe extern "C" fn $name($($arg: $ty),*) -> *mut FILE {
                // SAFETY: libc's own function, with the program's arguments.
                let f = unsafe { crate::real!($name)($($arg),*) };
                judged_stream(stringify!($name), f)
            }
        )*
    };
}

streams! {
    fn fopen(path: *const c_char, mode: *const c_char);
    fn fopen64(path: *const c_char, mode: *const c_char);
    fn freopen(path: *const c_char, mode: *const c_char, stream: *mut FILE);
    fn freopen64(path: *const c_char, mode: *const c_char, stream: *mut FILE);
}

/// `process_vm_writev` into this process (its pid, or any of its threads'
/// ids) writes pages whatever their protection keys: refused with EPERM
/// (enforce mode) and reported, whichever pages it aims at.
///
/// # Safety
/// libc's `process_vm_writev` contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn process_vm_writev(
    pid: libc::pid_t,
    local: *const iovec,
    ln: c_ulong,
    remote: *const iovec,
    rn: c_ulong,
    fl: c_ulong,
) -> ssize_t {
    let real = crate::real!(process_vm_writev);
    if refuses_writev_into_self("process_vm_writev", pid) {
        return -1;
    }
    // SAFETY: libc's own function, with the program's arguments.
    unsafe { real(pid, local, ln, remote, rn, fl) }
}

/// Whether a `process_vm_writev` (through `hook`) to `pid` is refused:
/// reported if aimed at this process; then errno is EPERM.
pub(super) fn refuses_writev_into_self(hook: &str, pid: libc::pid_t) -> bool {
    if !state::ready() || !memfile::pid_is_own(pid) {
        return false;
    }
    let saved = sys::errno();
    let verdict = report(
        hook,
        format_args!("process_vm_writev into the process's own memory (pid {pid})"),
    );
    if verdict == Verdict::Refuse {
        sys::set_errno(libc::EPERM);
        return true;
    }
    sys::set_errno(saved);
    false
}

/// A `posix_spawn` file action that would open this process's own `mem`
/// file for writing in the child (which shares this address space until
/// it execs, and keeps the descriptor after) is refused with EACCES.
///
/// # Safety
/// libc's `posix_spawn_file_actions_addopen` contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn posix_spawn_file_actions_addopen(
    actions: *mut libc::posix_spawn_file_actions_t,
    fd: c_int,
    path: *const c_char,
    oflag: c_int,
    mode: mode_t,
) -> c_int {
    if state::ready() && memfile::path_is_own_mem_for_write(path, oflag) {
        let verdict = report(
            "posix_spawn_file_actions_addopen",
            format_args!("a spawn file action opening the process's own memory for writing"),
        );
        if verdict == Verdict::Refuse {
            return libc::EACCES;
        }
    }
    // SAFETY: libc's own function, with the program's arguments.
    unsafe { crate::real!(posix_spawn_file_actions_addopen)(actions, fd, path, oflag, mode) }
}
