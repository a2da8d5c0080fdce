//! POSIX AIO reads: the kernel (on libc's helper thread) writes the
//! buffer after the call returns, so no gate can bracket the write; the
//! call is judged when it is made (`gate::judge_async`), so a refused
//! caller cannot use it as a silent probe.

use crate::gate::{self, Dest};
use libc::c_int;

/// glibc's `LIO_READ` (aio.h).
const LIO_READ: c_int = 0;

/// A read request's buffer, if the control block is readable.
///
/// # Safety
/// `cb` is null or points at a valid `aiocb` (libc's contract).
unsafe fn add_aio(d: &mut Dest, cb: *const libc::aiocb) {
    if !cb.is_null() {
        // SAFETY: the caller's contract.
        let (buf, n) = unsafe { ((*cb).aio_buf, (*cb).aio_nbytes) };
        d.add(buf as u64, n as u64);
    }
}

macro_rules! aio_reads {
    ($($name:ident),*) => {
        $(
            /// The read happens later, on libc's helper thread: a refused
            /// caller is stopped now (`gate::judge_async`).
            ///
            /// # Safety
            /// libc's contract for the function of this name.
            #[cfg_attr(not(test), no_mangle)]
            pub unsafe extern "C" fn $name(cb: *mut libc::aiocb) -> c_int {
                if gate::any_guarded() {
                    let mut d = Dest::new();
                    // SAFETY: libc's contract: a valid control block.
                    unsafe { add_aio(&mut d, cb) };
                    gate::judge_async(stringify!($name), &d);
                }
                // SAFETY: libc's own function, the program's arguments.
                unsafe { crate::real!($name)(cb) }
            }
        )*
    };
}

aio_reads!(aio_read, aio_read64);

macro_rules! lio_listios {
    ($($name:ident),*) => {
        $(
            /// Its `LIO_READ` requests, as `aio_read`.
            ///
            /// # Safety
            /// libc's contract for the function of this name.
            #[cfg_attr(not(test), no_mangle)]
            pub unsafe extern "C" fn $name(
                mode: c_int,
                list: *const *mut libc::aiocb,
                n: c_int,
                sig: *mut libc::sigevent,
            ) -> c_int {
                if gate::any_guarded() && !list.is_null() {
                    let mut d = Dest::new();
                    for i in 0..n.max(0) as usize {
                        // SAFETY: libc's contract: `n` entries, each null
                        // or a valid control block.
                        unsafe {
                            let cb = list.add(i).read();
                            if !cb.is_null() && (*cb).aio_lio_opcode == LIO_READ {
                                add_aio(&mut d, cb);
                            }
                        }
                    }
                    gate::judge_async(stringify!($name), &d);
                }
                // SAFETY: libc's own function, the program's arguments.
                unsafe { crate::real!($name)(mode, list, n, sig) }
            }
        )*
    };
}

lio_listios!(lio_listio, lio_listio64);
