//! The real functions behind the hooks, resolved once with
//! `dlsym(RTLD_NEXT)` at start-up (as Android's sigchain does in
//! `InitializeSignalChain`), so no symbol lookup ever happens inside a
//! signal handler (a program's SIGSEGV handler that `siglongjmp`s out goes
//! through jitguard's hook).
//!
//! A hook called before start-up (by another library's constructor)
//! resolves everything then, outside any handler jitguard knows of. A
//! function that was not found at start-up (`__cxa_throw` before
//! libstdc++ is loaded) is looked up again at its first call.

use crate::vault::OwnState;
use core::sync::atomic::{AtomicUsize, Ordering};
use libc::{
    c_char, c_int, c_uint, c_ulong, c_void, iovec, mode_t, off_t, pid_t, sighandler_t, sigset_t,
    size_t, ssize_t, FILE,
};

macro_rules! reals {
    ($($name:ident: fn($($arg:ty),*) $(-> $ret:ty)?;)*) => {
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        enum Id { $($name,)* COUNT }

        /// The addresses, in the vault: overwritten, one would send
        /// jitguard's own call to the attacker's code.
        #[link_section = "jitguard_vault"]
        static SLOTS: OwnState<[AtomicUsize; Id::COUNT as usize]> =
            OwnState([const { AtomicUsize::new(0) }; Id::COUNT as usize]);

        /// Resolves every real function (idempotent).
        pub fn resolve_all() {
            $(resolve(&SLOTS[Id::$name as usize], concat!(stringify!($name), "\0"));)*
        }

        $(
            /// The real function, resolved at start-up.
            #[allow(dead_code)]
            pub fn $name() -> Option<unsafe extern "C" fn($($arg),*) $(-> $ret)?> {
                let p = get(&SLOTS[Id::$name as usize], concat!(stringify!($name), "\0"));
                // SAFETY: the address dlsym returned for this very symbol,
                // whose C prototype is the one declared here.
                (p != 0).then(|| unsafe { core::mem::transmute::<usize, unsafe extern "C" fn($($arg),*) $(-> $ret)?>(p) })
            }
        )*
    };
}

reals! {
    sigaction: fn(c_int, *const libc::sigaction, *mut libc::sigaction) -> c_int;
    signal: fn(c_int, sighandler_t) -> sighandler_t;
    bsd_signal: fn(c_int, sighandler_t) -> sighandler_t;
    sysv_signal: fn(c_int, sighandler_t) -> sighandler_t;
    __sysv_signal: fn(c_int, sighandler_t) -> sighandler_t;
    ssignal: fn(c_int, sighandler_t) -> sighandler_t;
    sigset: fn(c_int, sighandler_t) -> sighandler_t;
    siginterrupt: fn(c_int, c_int) -> c_int;
    sigprocmask: fn(c_int, *const sigset_t, *mut sigset_t) -> c_int;
    pthread_sigmask: fn(c_int, *const sigset_t, *mut sigset_t) -> c_int;
    longjmp: fn(*mut c_void, c_int);
    _longjmp: fn(*mut c_void, c_int);
    siglongjmp: fn(*mut c_void, c_int);
    __longjmp_chk: fn(*mut c_void, c_int);
    setcontext: fn(*const libc::ucontext_t) -> c_int;
    swapcontext: fn(*mut libc::ucontext_t, *const libc::ucontext_t) -> c_int;
    pthread_create: fn(*mut libc::pthread_t, *const libc::pthread_attr_t, extern "C" fn(*mut c_void) -> *mut c_void, *mut c_void) -> c_int;
    pthread_exit: fn(*mut c_void);
    __cxa_throw: fn(*mut c_void, *mut c_void, *mut c_void);
    backtrace: fn(*mut *mut c_void, c_int) -> c_int;
    dlopen: fn(*const c_char, c_int) -> *mut c_void;
    dlclose: fn(*mut c_void) -> c_int;
    // The open family (exports/files.rs): the variadic mode argument is
    // declared as a plain one (same register on x86-64).
    open: fn(*const c_char, c_int, mode_t) -> c_int;
    open64: fn(*const c_char, c_int, mode_t) -> c_int;
    __open: fn(*const c_char, c_int, mode_t) -> c_int;
    __open64: fn(*const c_char, c_int, mode_t) -> c_int;
    __open_2: fn(*const c_char, c_int) -> c_int;
    __open64_2: fn(*const c_char, c_int) -> c_int;
    openat: fn(c_int, *const c_char, c_int, mode_t) -> c_int;
    openat64: fn(c_int, *const c_char, c_int, mode_t) -> c_int;
    __openat_2: fn(c_int, *const c_char, c_int) -> c_int;
    __openat64_2: fn(c_int, *const c_char, c_int) -> c_int;
    creat: fn(*const c_char, mode_t) -> c_int;
    creat64: fn(*const c_char, mode_t) -> c_int;
    fopen: fn(*const c_char, *const c_char) -> *mut FILE;
    fopen64: fn(*const c_char, *const c_char) -> *mut FILE;
    freopen: fn(*const c_char, *const c_char, *mut FILE) -> *mut FILE;
    freopen64: fn(*const c_char, *const c_char, *mut FILE) -> *mut FILE;
    posix_spawn_file_actions_addopen: fn(*mut libc::posix_spawn_file_actions_t, c_int, *const c_char, c_int, mode_t) -> c_int;
    process_vm_writev: fn(pid_t, *const iovec, c_ulong, *const iovec, c_ulong, c_ulong) -> ssize_t;
    // Calls the kernel writes the caller's buffers in (exports/io.rs).
    read: fn(c_int, *mut c_void, size_t) -> ssize_t;
    __read_chk: fn(c_int, *mut c_void, size_t, size_t) -> ssize_t;
    pread: fn(c_int, *mut c_void, size_t, off_t) -> ssize_t;
    pread64: fn(c_int, *mut c_void, size_t, off_t) -> ssize_t;
    __pread_chk: fn(c_int, *mut c_void, size_t, off_t, size_t) -> ssize_t;
    __pread64_chk: fn(c_int, *mut c_void, size_t, off_t, size_t) -> ssize_t;
    readv: fn(c_int, *const iovec, c_int) -> ssize_t;
    preadv: fn(c_int, *const iovec, c_int, off_t) -> ssize_t;
    preadv64: fn(c_int, *const iovec, c_int, off_t) -> ssize_t;
    preadv2: fn(c_int, *const iovec, c_int, off_t, c_int) -> ssize_t;
    preadv64v2: fn(c_int, *const iovec, c_int, off_t, c_int) -> ssize_t;
    recv: fn(c_int, *mut c_void, size_t, c_int) -> ssize_t;
    __recv_chk: fn(c_int, *mut c_void, size_t, size_t, c_int) -> ssize_t;
    recvfrom: fn(c_int, *mut c_void, size_t, c_int, *mut libc::sockaddr, *mut libc::socklen_t) -> ssize_t;
    __recvfrom_chk: fn(c_int, *mut c_void, size_t, size_t, c_int, *mut libc::sockaddr, *mut libc::socklen_t) -> ssize_t;
    recvmsg: fn(c_int, *mut libc::msghdr, c_int) -> ssize_t;
    recvmmsg: fn(c_int, *mut libc::mmsghdr, c_uint, c_int, *mut libc::timespec) -> c_int;
    getrandom: fn(*mut c_void, size_t, c_uint) -> ssize_t;
    fread: fn(*mut c_void, size_t, size_t, *mut FILE) -> size_t;
    fread_unlocked: fn(*mut c_void, size_t, size_t, *mut FILE) -> size_t;
    __fread_chk: fn(*mut c_void, size_t, size_t, size_t, *mut FILE) -> size_t;
    __fread_unlocked_chk: fn(*mut c_void, size_t, size_t, size_t, *mut FILE) -> size_t;
    readlink: fn(*const c_char, *mut c_char, size_t) -> ssize_t;
    readlinkat: fn(c_int, *const c_char, *mut c_char, size_t) -> ssize_t;
    msgrcv: fn(c_int, *mut c_void, size_t, libc::c_long, c_int) -> ssize_t;
    process_vm_readv: fn(pid_t, *const iovec, c_ulong, *const iovec, c_ulong, c_ulong) -> ssize_t;
    vmsplice: fn(c_int, *const iovec, size_t, c_uint) -> ssize_t;
    aio_read: fn(*mut libc::aiocb) -> c_int;
    aio_read64: fn(*mut libc::aiocb) -> c_int;
    lio_listio: fn(c_int, *const *mut libc::aiocb, c_int, *mut libc::sigevent) -> c_int;
    lio_listio64: fn(c_int, *const *mut libc::aiocb, c_int, *mut libc::sigevent) -> c_int;
    mq_receive: fn(libc::mqd_t, *mut c_char, size_t, *mut c_uint) -> ssize_t;
    mq_timedreceive: fn(libc::mqd_t, *mut c_char, size_t, *mut c_uint, *const libc::timespec) -> ssize_t;
}

fn resolve(slot: &AtomicUsize, name: &'static str) {
    if slot.load(Ordering::Acquire) != 0 {
        return;
    }
    // SAFETY: `name` is NUL-terminated; dlsym is safe to call outside a
    // signal handler with RTLD_NEXT from a loaded library.
    let p = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr().cast()) };
    if !p.is_null() {
        crate::vault::update(|| slot.store(p as usize, Ordering::Release));
    }
}

fn get(slot: &AtomicUsize, name: &'static str) -> usize {
    let p = slot.load(Ordering::Acquire);
    if p != 0 {
        return p;
    }
    resolve(slot, name);
    slot.load(Ordering::Acquire)
}

/// The real function, or abort with one line if no library has it.
pub fn required<T>(f: Option<T>, name: &str) -> T {
    match f {
        Some(f) => f,
        None => {
            crate::log::emit(format_args!(
                "jitguard: {name} not found in any loaded library"
            ));
            // SAFETY: abort is always sound.
            unsafe { libc::abort() }
        }
    }
}

/// The real function `$name` (aborting with one line if no loaded
/// library has it, as a call to a missing symbol would have failed to
/// link). Calling it is the caller's `unsafe`.
#[macro_export]
macro_rules! real {
    ($name:ident) => {
        $crate::real::required($crate::real::$name(), stringify!($name))
    };
}
