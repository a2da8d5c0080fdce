//! Calls that make the kernel write into the caller's buffers: the read
//! and receive families, `getrandom`, `process_vm_readv` into this process,
//! `readlink`, message queues, `vmsplice` from a pipe, and `fread`, whose
//! large reads go straight from the kernel into the caller's buffer
//! (POSIX AIO reads: `aio.rs`; the `syscall()` wrapper: `raw.rs`). Each
//! names its destination buffers and hands the real call to the gate
//! (`crate::gate`): straight through unless a buffer touches guarded
//! memory, then judged by the program's call site.
//!
//! iovec arrays (and `recvmsg` headers) of up to `COPY_IOVS` entries are
//! copied to the stack and the copy is what the kernel gets, so another
//! thread cannot point an entry into guarded memory between the check and
//! the call; longer arrays and `recvmmsg` headers are checked in place.

use crate::gate::{self, Dest};
use libc::{c_char, c_int, c_long, c_uint, c_ulong, c_void, iovec, off_t, size_t, ssize_t};

const COPY_IOVS: usize = 64;

pub(super) fn buf(addr: *const c_void, len: size_t) -> Dest {
    let mut d = Dest::new();
    d.add(addr as u64, len as u64);
    d
}

/// Adds every entry of an iovec array the program passed.
///
/// # Safety
/// `iov` points at `n` readable iovecs (libc's contract for the call).
pub(super) unsafe fn add_iovs(d: &mut Dest, iov: *const iovec, n: usize) {
    for i in 0..n {
        // SAFETY: the caller's contract.
        let v = unsafe { iov.add(i).read() };
        d.add(v.iov_base as u64, v.iov_len as u64);
    }
}

/// Runs `f` with the program's iovec array judged: `f` gets the array the
/// kernel must read (a stack copy when it fits).
///
/// # Safety
/// `iov`/`cnt` as libc's contract for the call.
pub(super) unsafe fn with_iovs<R>(
    hook: &str,
    iov: *const iovec,
    cnt: usize,
    f: impl FnOnce(*const iovec) -> R,
) -> R {
    if !gate::any_guarded() || iov.is_null() || cnt == 0 || cnt > libc::UIO_MAXIOV as usize {
        return f(iov);
    }
    let mut d = Dest::new();
    if cnt <= COPY_IOVS {
        let mut copy = [iovec {
            iov_base: core::ptr::null_mut(),
            iov_len: 0,
        }; COPY_IOVS];
        // SAFETY: the caller's contract: `cnt` readable entries.
        unsafe { core::ptr::copy_nonoverlapping(iov, copy.as_mut_ptr(), cnt) };
        // SAFETY: the copy holds `cnt` entries.
        unsafe { add_iovs(&mut d, copy.as_ptr(), cnt) };
        gate::call(hook, &d, || f(copy.as_ptr()))
    } else {
        // SAFETY: the caller's contract.
        unsafe { add_iovs(&mut d, iov, cnt) };
        gate::call(hook, &d, || f(iov))
    }
}

/// A call with one destination buffer `$buf` of `$len` bytes.
macro_rules! one_buffer {
    ($(fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty, writes ($b:ident, $len:expr);)*) => {
        $(
            /// Judged by the gate when its buffer touches guarded memory.
            ///
            /// # Safety
            /// libc's contract for the function of this name.
            #[cfg_attr(not(test), no_mangle)]
            pub unsafe extern "C" fn $name($($arg: $ty),*) -> $ret {
                let real = crate::real!($name);
                if !gate::touches($b as u64, $len as u64) {
                    // SAFETY: libc's own function, the program's arguments.
                    return unsafe { real($($arg),*) };
                }
                let d = buf($b as *const c_void, $len);
                // SAFETY: as above.
                gate::call(stringify!($name), &d, || unsafe { real($($arg),*) })
            }
        )*
    };
}

one_buffer! {
    fn read(fd: c_int, b: *mut c_void, n: size_t) -> ssize_t, writes (b, n);
    fn __read_chk(fd: c_int, b: *mut c_void, n: size_t, bl: size_t) -> ssize_t, writes (b, n);
    fn pread(fd: c_int, b: *mut c_void, n: size_t, o: off_t) -> ssize_t, writes (b, n);
    fn pread64(fd: c_int, b: *mut c_void, n: size_t, o: off_t) -> ssize_t, writes (b, n);
    fn __pread_chk(fd: c_int, b: *mut c_void, n: size_t, o: off_t, bl: size_t) -> ssize_t, writes (b, n);
    fn __pread64_chk(fd: c_int, b: *mut c_void, n: size_t, o: off_t, bl: size_t) -> ssize_t, writes (b, n);
    fn recv(fd: c_int, b: *mut c_void, n: size_t, fl: c_int) -> ssize_t, writes (b, n);
    fn __recv_chk(fd: c_int, b: *mut c_void, n: size_t, bl: size_t, fl: c_int) -> ssize_t, writes (b, n);
    fn getrandom(b: *mut c_void, n: size_t, fl: c_uint) -> ssize_t, writes (b, n);
    fn fread(b: *mut c_void, sz: size_t, n: size_t, f: *mut libc::FILE) -> size_t, writes (b, sz.saturating_mul(n));
    fn fread_unlocked(b: *mut c_void, sz: size_t, n: size_t, f: *mut libc::FILE) -> size_t, writes (b, sz.saturating_mul(n));
    fn __fread_chk(b: *mut c_void, bl: size_t, sz: size_t, n: size_t, f: *mut libc::FILE) -> size_t, writes (b, sz.saturating_mul(n));
    fn __fread_unlocked_chk(b: *mut c_void, bl: size_t, sz: size_t, n: size_t, f: *mut libc::FILE) -> size_t, writes (b, sz.saturating_mul(n));
    fn readlink(p: *const c_char, b: *mut c_char, n: size_t) -> ssize_t, writes (b, n);
    fn readlinkat(d: c_int, p: *const c_char, b: *mut c_char, n: size_t) -> ssize_t, writes (b, n);
    fn msgrcv(id: c_int, b: *mut c_void, n: size_t, t: c_long, fl: c_int) -> ssize_t, writes (b, n.saturating_add(core::mem::size_of::<c_long>()));
}

/// A socket address buffer the kernel fills (`*alen` bytes at `addr`).
///
/// # Safety
/// `alen` is null or readable (libc's contract).
pub(super) unsafe fn add_addr(
    d: &mut Dest,
    addr: *mut libc::sockaddr,
    alen: *const libc::socklen_t,
) {
    if !addr.is_null() && !alen.is_null() {
        // SAFETY: the caller's contract.
        let n = unsafe { alen.read() };
        d.add(addr as u64, n as u64);
        d.add(alen as u64, core::mem::size_of::<libc::socklen_t>() as u64);
    }
}

/// `recvfrom` writes the sender's address too.
///
/// # Safety
/// libc's `recvfrom` contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn recvfrom(
    fd: c_int,
    b: *mut c_void,
    n: size_t,
    fl: c_int,
    addr: *mut libc::sockaddr,
    alen: *mut libc::socklen_t,
) -> ssize_t {
    let real = crate::real!(recvfrom);
    if !gate::any_guarded() {
        // SAFETY: libc's own function, the program's arguments.
        return unsafe { real(fd, b, n, fl, addr, alen) };
    }
    let mut d = buf(b, n);
    // SAFETY: libc's contract for the address arguments.
    unsafe { add_addr(&mut d, addr, alen) };
    // SAFETY: as above.
    gate::call("recvfrom", &d, || unsafe { real(fd, b, n, fl, addr, alen) })
}

/// # Safety
/// libc's `__recvfrom_chk` contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn __recvfrom_chk(
    fd: c_int,
    b: *mut c_void,
    n: size_t,
    bl: size_t,
    fl: c_int,
    addr: *mut libc::sockaddr,
    alen: *mut libc::socklen_t,
) -> ssize_t {
    let real = crate::real!(__recvfrom_chk);
    if !gate::any_guarded() {
        // SAFETY: libc's own function, the program's arguments.
        return unsafe { real(fd, b, n, bl, fl, addr, alen) };
    }
    let mut d = buf(b, n);
    // SAFETY: libc's contract for the address arguments.
    unsafe { add_addr(&mut d, addr, alen) };
    // SAFETY: as above.
    gate::call("__recvfrom_chk", &d, || unsafe {
        real(fd, b, n, bl, fl, addr, alen)
    })
}

/// Everything one received message writes: its address, data, control
/// data and the header's own fields.
///
/// # Safety
/// `m` points at a readable msghdr whose iovec array is readable.
pub(super) unsafe fn add_msghdr(d: &mut Dest, m: *const libc::msghdr) {
    // SAFETY: the caller's contract.
    let h = unsafe { m.read() };
    d.add(m as u64, core::mem::size_of::<libc::msghdr>() as u64);
    d.add(h.msg_name as u64, h.msg_namelen as u64);
    d.add(h.msg_control as u64, h.msg_controllen as u64);
    if !h.msg_iov.is_null() && h.msg_iovlen <= libc::UIO_MAXIOV as usize {
        // SAFETY: the caller's contract.
        unsafe { add_iovs(d, h.msg_iov, h.msg_iovlen) };
    }
}

/// # Safety
/// libc's `recvmsg` contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn recvmsg(fd: c_int, m: *mut libc::msghdr, fl: c_int) -> ssize_t {
    let real = crate::real!(recvmsg);
    if !gate::any_guarded() || m.is_null() {
        // SAFETY: libc's own function, the program's arguments.
        return unsafe { real(fd, m, fl) };
    }
    // SAFETY: libc's contract: a valid message header.
    let mut h = unsafe { m.read() };
    if h.msg_iov.is_null() || h.msg_iovlen > COPY_IOVS {
        let mut d = Dest::new();
        // SAFETY: as above.
        unsafe { add_msghdr(&mut d, m) };
        // SAFETY: as above.
        return gate::call("recvmsg", &d, || unsafe { real(fd, m, fl) });
    }
    // The kernel gets a judged copy of the header and its iovec array (no
    // other thread can re-point them under the call); what it writes into
    // the header is handed back, inside the gate.
    let mut iov = [iovec {
        iov_base: core::ptr::null_mut(),
        iov_len: 0,
    }; COPY_IOVS];
    // SAFETY: libc's contract: `msg_iovlen` readable entries.
    unsafe { core::ptr::copy_nonoverlapping(h.msg_iov, iov.as_mut_ptr(), h.msg_iovlen) };
    h.msg_iov = iov.as_mut_ptr();
    let mut d = Dest::new();
    d.add(m as u64, core::mem::size_of::<libc::msghdr>() as u64);
    // SAFETY: the copy is a valid header with a valid iovec array.
    unsafe { add_msghdr(&mut d, &h) };
    gate::call("recvmsg", &d, || {
        // SAFETY: the kernel fills our copy; the program's header gets the
        // fields recvmsg returns in it.
        unsafe {
            let r = real(fd, &mut h, fl);
            (&raw mut (*m).msg_namelen).write(h.msg_namelen);
            (&raw mut (*m).msg_controllen).write(h.msg_controllen);
            (&raw mut (*m).msg_flags).write(h.msg_flags);
            r
        }
    })
}

/// # Safety
/// libc's `recvmmsg` contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn recvmmsg(
    fd: c_int,
    v: *mut libc::mmsghdr,
    n: c_uint,
    fl: c_int,
    t: *mut libc::timespec,
) -> c_int {
    let real = crate::real!(recvmmsg);
    if !gate::any_guarded() || v.is_null() {
        // SAFETY: libc's own function, the program's arguments.
        return unsafe { real(fd, v, n, fl, t) };
    }
    let mut d = Dest::new();
    // The kernel takes at most UIO_MAXIOV messages.
    for i in 0..(n as usize).min(libc::UIO_MAXIOV as usize) {
        // SAFETY: libc's contract: `n` valid headers.
        let e = unsafe { v.add(i) };
        // SAFETY: as above.
        unsafe { add_msghdr(&mut d, &raw const (*e).msg_hdr) };
        // SAFETY: as above (an address, not a read).
        d.add(
            unsafe { &raw const (*e).msg_len } as u64,
            core::mem::size_of::<c_uint>() as u64,
        );
    }
    // SAFETY: as above.
    gate::call("recvmmsg", &d, || unsafe { real(fd, v, n, fl, t) })
}

macro_rules! iov_calls {
    ($(fn $name:ident($fd:ident: c_int, $iov:ident: *const iovec, $cnt:ident: c_int $(, $arg:ident: $ty:ty)*) -> ssize_t;)*) => {
        $(
            /// Judged by the gate when an entry touches guarded memory.
            ///
            /// # Safety
            /// libc's contract for the function of this name.
            #[cfg_attr(not(test), no_mangle)]
            pub unsafe extern "C" fn $name($fd: c_int, $iov: *const iovec, $cnt: c_int $(, $arg: $ty)*) -> ssize_t {
                let real = crate::real!($name);
                // SAFETY: libc's contract for the array; the real function
                // gets it, or its judged copy.
                unsafe {
                    with_iovs(stringify!($name), $iov, $cnt.max(0) as usize, |v| {
                        real($fd, v, $cnt $(, $arg)*)
                    })
                }
            }
        )*
    };
}

iov_calls! {
    fn readv(fd: c_int, iov: *const iovec, cnt: c_int) -> ssize_t;
    fn preadv(fd: c_int, iov: *const iovec, cnt: c_int, o: off_t) -> ssize_t;
    fn preadv64(fd: c_int, iov: *const iovec, cnt: c_int, o: off_t) -> ssize_t;
    fn preadv2(fd: c_int, iov: *const iovec, cnt: c_int, o: off_t, fl: c_int) -> ssize_t;
    fn preadv64v2(fd: c_int, iov: *const iovec, cnt: c_int, o: off_t, fl: c_int) -> ssize_t;
}

/// `process_vm_readv` writes this process's `local` buffers (whichever
/// process it reads).
///
/// # Safety
/// libc's `process_vm_readv` contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn process_vm_readv(
    pid: libc::pid_t,
    local: *const iovec,
    ln: c_ulong,
    remote: *const iovec,
    rn: c_ulong,
    fl: c_ulong,
) -> ssize_t {
    let real = crate::real!(process_vm_readv);
    // SAFETY: libc's contract for the arrays.
    unsafe {
        with_iovs("process_vm_readv", local, ln as usize, |v| {
            real(pid, v, ln, remote, rn, fl)
        })
    }
}

/// `vmsplice` on a pipe's read end copies into the caller's buffers; on a
/// write end it only reads them.
///
/// # Safety
/// libc's `vmsplice` contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn vmsplice(fd: c_int, iov: *const iovec, n: size_t, fl: c_uint) -> ssize_t {
    let real = crate::real!(vmsplice);
    if !gate::any_guarded() || crate::memfile::writable(fd) {
        // SAFETY: libc's own function, the program's arguments.
        return unsafe { real(fd, iov, n, fl) };
    }
    // SAFETY: libc's contract for the array.
    unsafe { with_iovs("vmsplice", iov, n, |v| real(fd, v, n, fl)) }
}

/// # Safety
/// libc's `mq_receive` contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn mq_receive(
    q: libc::mqd_t,
    b: *mut c_char,
    n: size_t,
    prio: *mut c_uint,
) -> ssize_t {
    let real = crate::real!(mq_receive);
    if !gate::any_guarded() {
        // SAFETY: libc's own function, the program's arguments.
        return unsafe { real(q, b, n, prio) };
    }
    let mut d = buf(b.cast(), n);
    d.add(prio as u64, core::mem::size_of::<c_uint>() as u64);
    // SAFETY: as above.
    gate::call("mq_receive", &d, || unsafe { real(q, b, n, prio) })
}

/// # Safety
/// libc's `mq_timedreceive` contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn mq_timedreceive(
    q: libc::mqd_t,
    b: *mut c_char,
    n: size_t,
    prio: *mut c_uint,
    t: *const libc::timespec,
) -> ssize_t {
    let real = crate::real!(mq_timedreceive);
    if !gate::any_guarded() {
        // SAFETY: libc's own function, the program's arguments.
        return unsafe { real(q, b, n, prio, t) };
    }
    let mut d = buf(b.cast(), n);
    d.add(prio as u64, core::mem::size_of::<c_uint>() as u64);
    // SAFETY: as above.
    gate::call("mq_timedreceive", &d, || unsafe { real(q, b, n, prio, t) })
}
