//! Calls that leave, copy or walk a trusted writer's frame, and the loader
//! calls that change the modules writers are named by.
//!
//! A `longjmp` family jump or a context switch would skip the reseal
//! trampoline (if it lands inside the writer, the next write just opens a
//! new window); a new thread copies its creator's PKRU and signal mask, so
//! it must not start inside a window; a thread exit leaves nothing open;
//! an unwinder (C++ exception, backtrace) then sees the real caller,
//! because closing puts the return address back on the stack.

use crate::state::ready;
use crate::window::close_call_window_now;
use crate::writers;
use libc::{c_char, c_int, c_void};

fn close_window() {
    if ready() {
        close_call_window_now();
        crate::gate::close_open_gate();
    }
}

macro_rules! closes_call_window_first {
    ($(fn $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)?;)*) => {
        $(
            /// Closes this thread's call window, then calls libc's.
            ///
            /// # Safety
            /// libc's contract for the function of this name.
            #[cfg_attr(not(test), no_mangle)]
            pub unsafe extern "C" fn $name($($arg: $ty),*) $(-> $ret)? {
                close_window();
                // SAFETY: libc's own function, with the program's arguments.
                unsafe { crate::real!($name)($($arg),*) }
            }
        )*
    };
}

closes_call_window_first! {
    fn longjmp(env: *mut c_void, val: c_int);
    fn _longjmp(env: *mut c_void, val: c_int);
    fn siglongjmp(env: *mut c_void, val: c_int);
    fn __longjmp_chk(env: *mut c_void, val: c_int);
    fn setcontext(ucp: *const libc::ucontext_t) -> c_int;
    fn swapcontext(oucp: *mut libc::ucontext_t, ucp: *const libc::ucontext_t) -> c_int;
    fn pthread_exit(retval: *mut c_void);
    fn __cxa_throw(obj: *mut c_void, tinfo: *mut c_void, dest: *mut c_void);
    fn backtrace(buffer: *mut *mut c_void, size: c_int) -> c_int;
}

/// A new thread copies its creator's PKRU and signal mask, so it must not
/// start inside a window; it records where its stack is before the
/// program's start routine runs (see `crate::stack`).
///
/// # Safety
/// libc's `pthread_create` contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn pthread_create(
    thread: *mut libc::pthread_t,
    attr: *const libc::pthread_attr_t,
    start: extern "C" fn(*mut c_void) -> *mut c_void,
    arg: *mut c_void,
) -> c_int {
    close_window();
    let boxed = Box::into_raw(Box::new(crate::stack::Start {
        routine: start,
        arg,
    }));
    // SAFETY: the type of `thread_start` differs from the C prototype only
    // in allowing unwinding (pthread_exit's forced unwind passes it).
    let entry: extern "C" fn(*mut c_void) -> *mut c_void = unsafe {
        core::mem::transmute(
            crate::stack::thread_start as extern "C-unwind" fn(*mut c_void) -> *mut c_void,
        )
    };
    // SAFETY: libc's own function, with the program's thread and
    // attributes and our start record.
    let r = unsafe { crate::real!(pthread_create)(thread, attr, entry, boxed.cast()) };
    if r != 0 {
        // SAFETY: no thread was created: the record is still ours.
        drop(unsafe { Box::from_raw(boxed) });
    }
    r
}

/// # Safety
/// libc's `dlopen` contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn dlopen(file: *const c_char, mode: c_int) -> *mut c_void {
    // SAFETY: libc's own function, with the program's arguments.
    let h = unsafe { crate::real!(dlopen)(file, mode) };
    if ready() && !h.is_null() {
        writers::refresh();
    }
    h
}

/// # Safety
/// libc's `dlclose` contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn dlclose(handle: *mut c_void) -> c_int {
    if ready() {
        writers::before_dlclose(handle);
    }
    // SAFETY: libc's own function, with the program's arguments.
    let r = unsafe { crate::real!(dlclose)(handle) };
    if ready() {
        writers::refresh();
    }
    r
}
