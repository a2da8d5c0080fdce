//! Raw system calls: the "real" mmap/mprotect/munmap/mremap and the pkey
//! calls the libc crate does not wrap. Raw syscalls (not `dlsym(RTLD_NEXT)`)
//! so they work before anything is resolved and inside signal handlers.
//! Each returns the kernel's value and leaves errno set like libc does.
//!
//! Every system call jitguard makes goes through one `syscall`
//! instruction, `gate::call` (not libc's `syscall()`, which any code may
//! call): the seccomp filter (`crate::seccomp`) lets the guarded calls
//! through only from that instruction's address.

use libc::{c_int, c_long, c_void, size_t};

pub mod gate {
    use libc::c_long;

    // The one system-call instruction of jitguard. It takes the System V
    // call registers (nr, a1..a6 in rdi, rsi, rdx, rcx, r8, r9, [rsp+8])
    // and moves them into the kernel's (rax, rdi, rsi, rdx, r10, r8, r9).
    // `jitguard_gate_after` is the address seccomp reports as the
    // instruction pointer (the instruction after `syscall`).
    core::arch::global_asm!(
        ".pushsection .text.jitguard_gate,\"ax\",@progbits",
        ".p2align 4",
        ".hidden jitguard_gate",
        ".globl jitguard_gate",
        ".type jitguard_gate,@function",
        "jitguard_gate:",
        "mov rax, rdi",
        "mov rdi, rsi",
        "mov rsi, rdx",
        "mov rdx, rcx",
        "mov r10, r8",
        "mov r8, r9",
        "mov r9, [rsp + 8]",
        "syscall",
        ".hidden jitguard_gate_after",
        ".globl jitguard_gate_after",
        "jitguard_gate_after:",
        "ret",
        ".size jitguard_gate, . - jitguard_gate",
        ".popsection",
    );

    extern "C" {
        fn jitguard_gate(
            nr: c_long,
            a1: c_long,
            a2: c_long,
            a3: c_long,
            a4: c_long,
            a5: c_long,
            a6: c_long,
        ) -> c_long;
        static jitguard_gate_after: u8;
    }

    /// The address the kernel reports for a system call made by `call`.
    pub fn after_address() -> u64 {
        // Only the address of the label is taken, never its contents.
        &raw const jitguard_gate_after as u64
    }

    /// One raw system call; returns the kernel's value (-errno on error).
    ///
    /// # Safety
    /// The system call's own contract for these arguments.
    pub unsafe fn call(nr: c_long, a: [c_long; 6]) -> c_long {
        // SAFETY: the gate clobbers only what a C call may (rax, rcx, r11
        // and the argument registers), per its System V prototype.
        unsafe { jitguard_gate(nr, a[0], a[1], a[2], a[3], a[4], a[5]) }
    }
}

/// `libc::syscall`'s interface over the gate: -1 with errno set on error.
macro_rules! syscall {
    ($nr:expr $(, $a:expr)* $(,)?) => {{
        let given: &[libc::c_long] = &[$($a as libc::c_long),*];
        let mut args = [0 as libc::c_long; 6];
        args[..given.len()].copy_from_slice(given);
        let r = $crate::sys::gate::call($nr as libc::c_long, args);
        if (-4095..0).contains(&r) {
            $crate::sys::set_errno(-r as libc::c_int);
            -1 as libc::c_long
        } else {
            r
        }
    }};
}
pub(crate) use syscall;

/// General registers in a signal frame's mcontext (x86-64).
pub const NGREG: usize = 23;

/// The calling thread's stack pointer (approximately: a local's address).
pub fn stack_pointer() -> u64 {
    let here = 0u8;
    core::hint::black_box(&here) as *const u8 as u64
}

/// Result of a syscall: `Ok(value)` or `Err(errno)`.
pub type SysResult = Result<c_long, c_int>;

fn check(r: c_long) -> SysResult {
    if r == -1 {
        Err(errno())
    } else {
        Ok(r)
    }
}

pub fn errno() -> c_int {
    // SAFETY: __errno_location returns this thread's errno slot, always valid.
    unsafe { *libc::__errno_location() }
}

pub fn set_errno(e: c_int) {
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = e }
}

pub fn mmap(
    addr: *mut c_void,
    len: size_t,
    prot: c_int,
    flags: c_int,
    fd: c_int,
    off: i64,
) -> SysResult {
    // SAFETY: the kernel validates every argument; a bad one is an error return.
    check(unsafe { syscall!(libc::SYS_mmap, addr, len, prot, flags, fd, off) })
}

pub fn munmap(addr: *mut c_void, len: size_t) -> SysResult {
    // SAFETY: the caller asked for this unmapping; the kernel validates it.
    check(unsafe { syscall!(libc::SYS_munmap, addr, len) })
}

/// The per-run value jitguard's gated calls (mprotect, pkey_mprotect,
/// pkey_alloc, pkey_free) carry in their sixth argument register, which
/// those calls do not use and the kernel ignores. The seccomp filter lets
/// them through only with it (`jg::seccomp_policy::Plan::secret`), so
/// jumping to the gate's `syscall` with chosen registers (code reuse) also
/// needs this value. Zero until the filter is installed.
/// Frozen after start-up (a plain store would otherwise let a jump to the
/// gate pass the filter's secret check).
#[link_section = "jitguard_frozen"]
static GATE_SECRET: crate::vault::OwnState<core::sync::atomic::AtomicU64> =
    crate::vault::OwnState(core::sync::atomic::AtomicU64::new(0));

/// Sets the gate's secret (start-up, before the filter that checks it).
pub fn set_gate_secret(v: u64) {
    GATE_SECRET.store(v, core::sync::atomic::Ordering::Release);
}

pub fn gate_secret() -> u64 {
    GATE_SECRET.load(core::sync::atomic::Ordering::Acquire)
}

pub fn mprotect(addr: u64, len: u64, prot: c_int) -> SysResult {
    let s = gate_secret();
    // SAFETY: changes protections only; the kernel validates the range
    // (and ignores the unused argument registers).
    check(unsafe { syscall!(libc::SYS_mprotect, addr, len, prot, 0, 0, s) })
}

pub fn pkey_mprotect(addr: u64, len: u64, prot: c_int, key: c_int) -> SysResult {
    let s = gate_secret();
    // SAFETY: as mprotect, plus a key the kernel checks is allocated.
    check(unsafe { syscall!(libc::SYS_pkey_mprotect, addr, len, prot, key, 0, s) })
}

pub fn mremap(
    old: *mut c_void,
    old_len: size_t,
    new_len: size_t,
    flags: c_int,
    new: *mut c_void,
) -> SysResult {
    // SAFETY: the program's own mremap request, validated by the kernel.
    check(unsafe { syscall!(libc::SYS_mremap, old, old_len, new_len, flags, new) })
}

pub fn madvise(addr: u64, len: u64, advice: c_int) -> SysResult {
    // SAFETY: the program's own madvise request, validated by the kernel.
    check(unsafe { crate::sys::syscall!(libc::SYS_madvise, addr, len, advice) })
}

/// Seals `[addr, addr+len)` against mprotect, munmap, mremap and
/// mmap(MAP_FIXED) for the life of the process (Linux 6.10; ENOSYS
/// before).
pub fn mseal(addr: u64, len: u64) -> SysResult {
    const SYS_MSEAL: c_long = 462;
    // SAFETY: only restricts later changes to this range.
    check(unsafe { crate::sys::syscall!(SYS_MSEAL, addr, len, 0) })
}

pub fn pkey_alloc(flags: u32, rights: u32) -> SysResult {
    let s = gate_secret();
    // SAFETY: allocates a key; no memory is touched.
    check(unsafe { syscall!(libc::SYS_pkey_alloc, flags, rights, 0, 0, 0, s) })
}

pub fn pkey_free(key: c_int) -> SysResult {
    let s = gate_secret();
    // SAFETY: frees a key; no memory is touched.
    check(unsafe { syscall!(libc::SYS_pkey_free, key, 0, 0, 0, 0, s) })
}

pub fn gettid() -> u32 {
    // SAFETY: no arguments, cannot fail.
    unsafe { syscall!(libc::SYS_gettid) as u32 }
}

pub fn getpid() -> u32 {
    // SAFETY: no arguments, cannot fail.
    unsafe { syscall!(libc::SYS_getpid) as u32 }
}

/// The process id, fetched once (start-up and each fork child) instead of
/// once per fault.
static PID: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);

thread_local! {
    static TID: core::cell::Cell<u32> = const { core::cell::Cell::new(0) };
}

pub fn pid() -> u32 {
    match PID.load(core::sync::atomic::Ordering::Relaxed) {
        0 => {
            let p = getpid();
            PID.store(p, core::sync::atomic::Ordering::Relaxed);
            p
        }
        p => p,
    }
}

/// This thread's id, fetched once per thread.
pub fn tid() -> u32 {
    TID.with(|t| match t.get() {
        0 => {
            let v = gettid();
            t.set(v);
            v
        }
        v => v,
    })
}

/// In a fork child: the cached ids are the parent's. (A child made
/// without fork handlers, by `_Fork` or a raw `clone`, keeps them: its
/// checked copies then read the parent's memory and fail or mislead the
/// walk, which ends it; see SECURITY.md.)
pub fn forget_ids_in_child() {
    PID.store(0, core::sync::atomic::Ordering::Relaxed);
    TID.with(|t| t.set(0));
}

/// Sends `sig` to this thread.
pub fn raise_here(sig: c_int) {
    // SAFETY: tgkill on our own pid/tid.
    unsafe {
        syscall!(
            libc::SYS_tgkill,
            getpid() as c_long,
            gettid() as c_long,
            sig as c_long,
        );
    }
}

pub fn sched_yield() {
    // SAFETY: no arguments.
    unsafe {
        syscall!(libc::SYS_sched_yield);
    }
}

/// Writes all of `buf` to `fd`, retrying on EINTR and short writes.
pub fn write_all(fd: c_int, mut buf: &[u8]) {
    while !buf.is_empty() {
        // SAFETY: buf is a valid slice for its length.
        let r = unsafe { syscall!(libc::SYS_write, fd, buf.as_ptr(), buf.len()) };
        if r > 0 {
            buf = &buf[r as usize..];
        } else if r == -1 && errno() == libc::EINTR {
            continue;
        } else {
            return;
        }
    }
}

/// Nanoseconds on the monotonic clock (vDSO, async-signal-safe).
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Replaces the calling thread's signal mask, returning the old one.
pub fn set_sigmask(new: &libc::sigset_t) -> libc::sigset_t {
    // SAFETY: zeroed sigset_t is a valid empty set; both pointers are valid.
    unsafe {
        let mut old: libc::sigset_t = core::mem::zeroed();
        syscall!(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            new as *const libc::sigset_t,
            &mut old as *mut libc::sigset_t,
            8usize,
        );
        old
    }
}

/// Sets the calling thread's signal mask from its first 64 bits (the
/// kernel's sigset).
pub fn set_sigmask_word(word: u64) {
    // SAFETY: a zeroed sigset_t is valid; its first 8 bytes are the
    // kernel's mask word.
    let mut set: libc::sigset_t = unsafe { core::mem::zeroed() };
    // SAFETY: sigset_t is at least 8 bytes.
    unsafe { (&raw mut set).cast::<u64>().write_unaligned(word) };
    set_sigmask(&set);
}

/// Copies `buf.len()` bytes from `addr` in this process, failing instead
/// of faulting: a process_vm_readv from ourselves (async-signal-safe;
/// mincore cannot tell PROT_NONE).
fn copy_checked_in(pid: u32, addr: u64, buf: &mut [u8]) -> bool {
    read_prefix_as(pid, addr, buf) == buf.len()
}

fn copy_checked(addr: u64, buf: &mut [u8]) -> bool {
    copy_checked_in(pid(), addr, buf)
}

/// Whether the byte at `addr` is readable by this process.
pub fn readable(addr: u64) -> bool {
    copy_checked(addr, &mut [0u8])
}

/// Copies up to `buf.len()` bytes from `addr` of this process (`pid`),
/// stopping where the memory stops being readable; returns how many.
pub fn read_prefix_as(pid: u32, addr: u64, buf: &mut [u8]) -> usize {
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let remote = libc::iovec {
        iov_base: addr as *mut c_void,
        iov_len: buf.len(),
    };
    // SAFETY: `local` describes `buf`; the kernel checks `remote` and
    // copies what is readable (a partial read stops at the first fault).
    let r = unsafe {
        syscall!(
            libc::SYS_process_vm_readv,
            pid as c_long,
            &raw const local,
            1usize,
            &raw const remote,
            1usize,
            0usize,
        )
    };
    r.max(0) as usize
}

/// The word at `addr` of this process (`pid`, fetched once per walk
/// rather than once per read), if readable.
pub fn read_u64_as(pid: u32, addr: u64) -> Option<u64> {
    let mut b = [0u8; 8];
    copy_checked_in(pid, addr, &mut b).then(|| u64::from_le_bytes(b))
}

/// The word at `addr`, if readable (a stack slot while unwinding).
pub fn read_u64(addr: u64) -> Option<u64> {
    let mut b = [0u8; 8];
    copy_checked(addr, &mut b).then(|| u64::from_le_bytes(b))
}
