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

use crate::vault::Paged;
use core::sync::atomic::{AtomicUsize, Ordering};
use libc::{c_char, c_int, c_void, sighandler_t, sigset_t};

macro_rules! reals {
    ($($name:ident: fn($($arg:ty),*) $(-> $ret:ty)?;)*) => {
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        enum Id { $($name,)* COUNT }

        /// The addresses, in the vault: overwritten, one would send
        /// jitguard's own call to the attacker's code.
        #[link_section = "jitguard_vault"]
        static SLOTS: Paged<[AtomicUsize; Id::COUNT as usize]> =
            Paged([const { AtomicUsize::new(0) }; Id::COUNT as usize]);

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
