//! Is this descriptor the process's own `mem` file, opened for writing?
//! The evidence (`jg::procmem`) is gathered with raw system calls only:
//! no allocation, no lock, no libc call the hooks interpose, so it is as
//! async-signal-safe as the `open` it follows.
//!
//! Costs: an open without write access costs nothing more; one with write
//! access one `fcntl` and one `fstatfs`; only a procfs 0600 file (a `mem`
//! file or a few like it) goes on to the link and the read-back.

use crate::sys;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use jg::procmem::{self, Evidence};
use libc::{c_char, c_int, c_long};

/// Where `/proc/self/fd/N` is spelled, on the stack.
struct FdPath {
    buf: [u8; 32],
}

impl FdPath {
    fn new(fd: c_int) -> FdPath {
        use core::fmt::Write;
        let mut b = jg::report::StackBuf::<31>::new();
        let _ = write!(b, "/proc/self/fd/{fd}");
        let mut buf = [0u8; 32];
        buf[..b.as_bytes().len()].copy_from_slice(b.as_bytes());
        FdPath { buf }
    }

    fn as_ptr(&self) -> *const c_char {
        self.buf.as_ptr().cast()
    }
}

fn raw(r: c_long) -> Option<c_long> {
    (r >= 0).then_some(r)
}

/// The descriptor's file status flags.
fn status_flags(fd: c_int) -> Option<c_int> {
    // SAFETY: F_GETFL reads the descriptor's flags; no memory is touched.
    raw(unsafe { libc::syscall(libc::SYS_fcntl, fd, libc::F_GETFL) }).map(|f| f as c_int)
}

/// Whether `fd` is open with write access (the access mode of the open
/// file description, whatever the open call's flags said).
pub fn writable(fd: c_int) -> bool {
    status_flags(fd).is_some_and(procmem::opens_for_write)
}

/// Whether `fd` could be a `mem` file at all (procfs, regular, 0600): one
/// `fstatfs` for any other file system.
fn may_be_mem(fd: c_int) -> bool {
    // SAFETY: zeroed statfs/stat are valid out-buffers for the kernel.
    let mut fs: libc::statfs = unsafe { core::mem::zeroed() };
    // SAFETY: the out-pointer is valid for its type.
    if unsafe { libc::syscall(libc::SYS_fstatfs, fd, &mut fs) } != 0
        || fs.f_type != procmem::PROC_SUPER_MAGIC
    {
        return false;
    }
    // SAFETY: as above.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: the out-pointer is valid for its type.
    let ok = unsafe { libc::syscall(libc::SYS_fstat, fd, &mut st) } == 0;
    ok && procmem::may_be_mem_file(fs.f_type, st.st_mode)
}

/// What `/proc/self/fd/N` names: outer None if it cannot be read.
fn link_of(fd: c_int) -> Option<Option<procmem::MemLink>> {
    let path = FdPath::new(fd);
    let mut buf = [0u8; 512];
    // SAFETY: `path` is NUL-terminated; `buf` is writable for its length.
    let n = raw(unsafe {
        libc::syscall(
            libc::SYS_readlinkat,
            libc::AT_FDCWD,
            path.as_ptr(),
            buf.as_mut_ptr(),
            buf.len(),
        )
    })? as usize;
    if n >= buf.len() {
        // Cut (procfs mounted this deep): unknown, so the read-back decides.
        return None;
    }
    Some(
        core::str::from_utf8(&buf[..n])
            .ok()
            .and_then(procmem::parse_mem_link),
    )
}

static NONCE: AtomicU64 = AtomicU64::new(0x6a09_e667_f3bc_c908);

/// Reads a fresh value of this thread's stack back through `fd` (or, for a
/// write-only descriptor, through a read-only reopening of the same file
/// by `/proc/self/fd/N`): Some(true) if the file reads this address space.
fn read_back(fd: c_int, readable: bool) -> Option<bool> {
    let value = NONCE.fetch_add(0x9e37_79b9_7f4a_7c15, Relaxed) ^ sys::now_ns().rotate_left(29);
    let mut here = core::hint::black_box(value);
    // SAFETY: a volatile write keeps the value in memory where the kernel
    // will read it.
    unsafe { core::ptr::write_volatile(&mut here, value) };
    let at = (&raw const here) as i64;
    let (rfd, close) = if readable {
        (fd, false)
    } else {
        let path = FdPath::new(fd);
        // SAFETY: opens (read-only, close-on-exec) the file `fd` holds.
        let r = unsafe {
            libc::syscall(
                libc::SYS_openat,
                libc::AT_FDCWD,
                path.as_ptr(),
                libc::O_RDONLY | libc::O_CLOEXEC,
            )
        };
        (raw(r)? as c_int, true)
    };
    let mut got = 0u64;
    // SAFETY: `got` is a valid 8-byte buffer.
    let n = unsafe { libc::syscall(libc::SYS_pread64, rfd, &mut got, 8usize, at) };
    if close {
        // SAFETY: closes the descriptor opened above.
        unsafe { libc::syscall(libc::SYS_close, rfd) };
    }
    core::hint::black_box(&here);
    (n == 8).then_some(got == value)
}

/// Whether `fd` (just opened by the program) is this process's own `mem`
/// file with write access. `flags`, when the call's own: an access mode
/// without write settles it at no cost (the kernel gives the new open file
/// exactly that mode). errno is left as it was.
pub fn is_own_mem_for_write(fd: c_int, flags: Option<c_int>) -> bool {
    if fd < 0 || flags.is_some_and(|f| !procmem::opens_for_write(f)) {
        return false;
    }
    let saved = sys::errno();
    let verdict = judge(fd, flags);
    sys::set_errno(saved);
    verdict
}

fn judge(fd: c_int, flags: Option<c_int>) -> bool {
    let Some(flags) = flags.or_else(|| status_flags(fd)) else {
        return false;
    };
    if !procmem::opens_for_write(flags) || !may_be_mem(fd) {
        return false;
    }
    let link = link_of(fd);
    if link == Some(None) {
        return false;
    }
    let readable = flags & libc::O_ACCMODE == libc::O_RDWR;
    let link_is_own = match link {
        Some(Some(l)) => pid_is_own(l.tid.unwrap_or(l.pid) as i32),
        _ => false,
    };
    procmem::is_own_mem(Evidence {
        link,
        read_back: read_back(fd, readable),
        link_is_own,
    })
}

/// `KCMP_VM`: whether two tasks share their address space.
const KCMP_VM: c_long = 1;

/// Whether `pid` names this process or one of its threads (a thread of
/// this process answers a signal-0 `tgkill` with this pid as its group),
/// or any task sharing this address space (`kcmp`: a vfork child's
/// parent, a `CLONE_VM` child), where the kernel has `kcmp`.
pub fn pid_is_own(pid: i32) -> bool {
    let own = sys::getpid();
    procmem::pid_is_own(pid, own, |tid| {
        // SAFETY: signal 0 checks existence and membership; nothing is
        // sent. kcmp compares two tasks' mm pointers; no memory is touched.
        unsafe {
            libc::syscall(libc::SYS_tgkill, own, tid, 0) == 0
                || libc::syscall(libc::SYS_kcmp, own, tid, KCMP_VM, 0, 0) == 0
        }
    })
}

/// Whether opening `path` with `oflag` would give a write handle on this
/// process's memory, judged by the file the path names now (opened
/// `O_PATH`, which reads nothing and runs no open handler). For opens made
/// elsewhere on the process's behalf: a `posix_spawn` child opens its file
/// actions with libc's internal `open` while it still shares this address
/// space, and its `mem` file descriptor would outlive the exec.
pub fn path_is_own_mem_for_write(path: *const c_char, oflag: c_int) -> bool {
    if path.is_null() || !procmem::opens_for_write(oflag) {
        return false;
    }
    let saved = sys::errno();
    let follow = oflag & libc::O_NOFOLLOW;
    // SAFETY: the program's NUL-terminated path; O_PATH opens nothing.
    let r = unsafe {
        libc::syscall(
            libc::SYS_openat,
            libc::AT_FDCWD,
            path,
            libc::O_PATH | libc::O_CLOEXEC | follow,
        )
    };
    let verdict = match raw(r) {
        // The access mode the program asked for, but never read through
        // the O_PATH descriptor itself: write-only makes the read-back
        // reopen the file read-only.
        Some(fd) => {
            let v = judge(fd as c_int, Some(libc::O_WRONLY));
            // SAFETY: closes the descriptor opened above.
            unsafe { libc::syscall(libc::SYS_close, fd) };
            v
        }
        None => false,
    };
    sys::set_errno(saved);
    verdict
}
