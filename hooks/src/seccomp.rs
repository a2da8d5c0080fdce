//! The seccomp filter (`JITGUARD_SECCOMP`): installed at start-up, and
//! the SIGSYS handler that runs trapped raw system calls through
//! jitguard's guarded path. The filter itself is pure data
//! (`jg::seccomp_policy`); this file asks the kernel for it and answers
//! its traps.
//!
//! A trapped call is a raw `syscall` instruction outside jitguard (libc's
//! `syscall()`, an inline one, glibc's internal calls) asking for W+X
//! memory, a key change or a write into this process. The handler calls
//! the same functions the libc hooks call (`mapping`), so the program gets
//! the result it would have got through `mmap()`/`mprotect()`/...: it is
//! put in RAX and the thread resumes after its `syscall`. The interrupted
//! thread is never inside jitguard (jitguard's own calls come from the
//! gate, which the filter lets through), so the mapping code's lock is
//! never held by it; see SECURITY.md for the allocation this may do.

use crate::counters::{self, COUNTERS};
use crate::fault::Frame;
use crate::state::{ready, Globals};
use crate::tamper::{self, Seen};
use crate::{mapping, signals, sys};
use jg::config::{Mode, Seccomp};
use jg::seccomp_policy::{self as policy, Install, Plan, Trapped};
use libc::{c_int, c_long, c_void, siginfo_t};

const PR_GET_NO_NEW_PRIVS: c_int = 39;
const PR_SET_NO_NEW_PRIVS: c_int = 38;
const SECCOMP_SET_MODE_FILTER: c_long = 1;
const SECCOMP_FILTER_FLAG_TSYNC: c_long = 1;
const CAP_SYS_ADMIN: u32 = 21;

/// Whether this thread has CAP_SYS_ADMIN in its effective set (start-up
/// only). capget(2), one system call: reading `/proc/self/status` for the
/// same bit cost tens of microseconds in every process.
fn has_cap_sys_admin() -> bool {
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    #[repr(C)]
    struct Header {
        version: u32,
        pid: c_int,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut header = Header {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [Data {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: capget writes two `Data` records (version 3) into `data`
    // and may rewrite `header.version`; both are locals alive for the
    // call.
    let r = unsafe { sys::syscall!(libc::SYS_capget, &raw mut header, data.as_mut_ptr()) };
    r == 0 && data[0].effective & (1 << CAP_SYS_ADMIN) != 0
}

fn no_new_privs() -> bool {
    // SAFETY: a query; no memory is passed.
    unsafe { libc::prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1 }
}

/// READ_IMPLIES_EXEC inherited at start-up (`setarch -X`): cleared in
/// enforce mode (every readable mapping would be W+X behind the hooks),
/// reported otherwise.
fn check_inherited_personality(g: &Globals) {
    // SAFETY: a query (0xffffffff changes nothing).
    let cur = unsafe { sys::syscall!(libc::SYS_personality, policy::PERSONALITY_QUERY) };
    if cur < 0 || cur as u32 & policy::READ_IMPLIES_EXEC == 0 {
        return;
    }
    if g.config.mode == Mode::Enforce {
        // SAFETY: sets this process's personality, without the one flag.
        unsafe {
            sys::syscall!(
                libc::SYS_personality,
                cur as u32 & !policy::READ_IMPLIES_EXEC
            )
        };
        crate::log::emit(format_args!(
            "jitguard: READ_IMPLIES_EXEC personality cleared: it makes every readable mapping executable, unseen by jitguard"
        ));
    } else {
        crate::log::emit(format_args!(
            "jitguard: READ_IMPLIES_EXEC personality is set: readable mappings are executable and not guarded"
        ));
    }
}

/// Installs the filter `JITGUARD_SECCOMP` asks for (start-up, after the
/// keys are allocated and the other handlers installed), after clearing
/// an inherited READ_IMPLIES_EXEC.
pub fn start(g: &Globals) {
    check_inherited_personality(g);
    let setting = g.config.seccomp;
    let Install::Filter {
        trap,
        set_no_new_privs,
    } = policy::install_for(setting, no_new_privs(), has_cap_sys_admin())
    else {
        if setting == Seccomp::Auto {
            crate::log!(
                Debug,
                "seccomp: no filter (auto: no_new_privs is not set and there is no CAP_SYS_ADMIN)"
            );
        }
        return;
    };
    if trap {
        // A trapped call may be reported from the SIGSYS handler before
        // any region is guarded.
        crate::log::learn_time_zone();
    }
    if trap && !signals::install_sigsys(on_sigsys as *const () as usize) {
        crate::log!(
            Error,
            "seccomp: could not install the SIGSYS handler; no filter"
        );
        return;
    }
    // SAFETY: sets a flag of this process; no memory is passed.
    if set_no_new_privs && unsafe { libc::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        log_failure("PR_SET_NO_NEW_PRIVS", sys::errno());
        return;
    }
    // The gated calls' secret: set before the filter that checks it.
    let secret = rand::RngCore::next_u64(&mut rand::rngs::OsRng) | 1;
    sys::set_gate_secret(secret);
    let plan = Plan {
        secret,
        gate: sys::gate::after_address(),
        trap,
        mprotect_backend: g.protection.keys().is_none(),
        pid: sys::getpid(),
    };
    let prog = policy::build(&plan);
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_ptr() as *mut libc::sock_filter,
    };
    // TSYNC: every thread of the process, including any an earlier
    // constructor started. The kernel copies the program.
    // SAFETY: fprog describes `prog`, a valid classic BPF program
    // (`policy::build`'s layout is `struct sock_filter`'s), alive for the
    // call.
    let r = unsafe {
        sys::syscall!(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            SECCOMP_FILTER_FLAG_TSYNC,
            &raw const fprog
        )
    };
    match r {
        0 => crate::log!(
            Info,
            "seccomp filter installed ({}{})",
            if trap { "trap" } else { "vmwrite" },
            if set_no_new_privs {
                ", no_new_privs set"
            } else {
                ""
            }
        ),
        -1 => log_failure("seccomp(SECCOMP_SET_MODE_FILTER)", sys::errno()),
        tid => crate::log!(
            Warn,
            "seccomp: thread {tid} could not take the filter; no filter"
        ),
    }
}

fn log_failure(what: &str, errno: c_int) {
    crate::log::emit(format_args!(
        "jitguard: JITGUARD_SECCOMP: {what} failed (errno {errno}); no seccomp filter"
    ));
}

/// The fields of a SIGSYS siginfo (`_sigsys` at offset 16).
struct SysInfo {
    code: c_int,
    errno: c_int,
    nr: c_int,
}

/// # Safety
/// `info` is the kernel's siginfo for a SIGSYS.
unsafe fn read_info(info: *const siginfo_t) -> SysInfo {
    let b = info.cast::<u8>();
    // SAFETY: the caller's contract; a siginfo is 128 bytes, and si_errno
    // (4), si_code (8) and _sigsys._syscall (24) lie inside it.
    unsafe {
        SysInfo {
            errno: b.add(4).cast::<c_int>().read_unaligned(),
            code: b.add(8).cast::<c_int>().read_unaligned(),
            nr: b.add(24).cast::<c_int>().read_unaligned(),
        }
    }
}

/// SIGSYS: jitguard's filter's trap (run the call guarded), or the
/// program's (its own filter's, or a sent signal).
extern "C" fn on_sigsys(sig: c_int, info: *mut siginfo_t, ctx: *mut c_void) {
    let saved = sys::errno();
    // SAFETY: the kernel's siginfo for this SIGSYS.
    let si = unsafe { read_info(info) };
    if si.code != policy::SYS_SECCOMP || si.errno as u32 != policy::TRAP_DATA {
        signals::chain(sig, info, ctx);
        tamper::check_frame(ctx, Seen::AfterHandler(sig));
        sys::set_errno(saved);
        return;
    }
    // SAFETY: the kernel's ucontext for this delivery, valid until return.
    let f = unsafe { Frame::new(ctx) };
    tamper::check_frame(ctx, Seen::Entry("seccomp trap"));
    let g = f.gregs();
    let a = [
        g[libc::REG_RDI as usize],
        g[libc::REG_RSI as usize],
        g[libc::REG_RDX as usize],
        g[libc::REG_R10 as usize],
        g[libc::REG_R8 as usize],
        g[libc::REG_R9 as usize],
    ];
    counters::bump(&COUNTERS.seccomp_traps);
    let r = run_guarded(si.nr as c_long, a, f.rip());
    f.set_reg(libc::REG_RAX, r);
    sys::set_errno(saved);
}

/// -errno from a libc-style result.
fn kernel_int(r: c_int) -> i64 {
    if r == -1 {
        -(sys::errno() as i64)
    } else {
        r as i64
    }
}

/// Runs trapped call `nr` as jitguard's hook for it would; returns what
/// the kernel would have put in RAX.
fn run_guarded(nr: c_long, a: [i64; 6], rip: u64) -> i64 {
    let raw = || {
        // SAFETY: the program's own system call with its own arguments,
        // made from the gate (so the filter lets it through).
        unsafe { sys::gate::call(nr, a) }
    };
    if !ready() {
        return raw();
    }
    crate::log!(
        Debug,
        "seccomp: raw system call {nr} from {rip:#x} runs through jitguard"
    );
    match policy::classify(nr) {
        Trapped::Mmap => {
            let p = mapping::mmap(
                a[0] as *mut c_void,
                a[1] as usize,
                a[2] as c_int,
                a[3] as c_int,
                a[4] as c_int,
                a[5],
            );
            if p == libc::MAP_FAILED {
                -(sys::errno() as i64)
            } else {
                p as i64
            }
        }
        Trapped::Mprotect => kernel_int(mapping::mprotect(a[0] as u64, a[1] as u64, a[2] as c_int)),
        Trapped::PkeyMprotect => kernel_int(mapping::pkey_mprotect(
            a[0] as u64,
            a[1] as u64,
            a[2] as c_int,
            a[3] as c_int,
        )),
        Trapped::PkeyFree => kernel_int(mapping::pkey_free(a[0] as c_int)),
        // jitguard's keys are allocated: the kernel cannot hand them out.
        // (Passed on with the gate's secret in the unused sixth register.)
        Trapped::PkeyAlloc => {
            let mut a = a;
            a[5] = sys::gate_secret() as i64;
            // SAFETY: the program's pkey_alloc with its own two arguments.
            unsafe { sys::gate::call(nr, a) }
        }
        Trapped::ProcessVmWritev if into_this_process(a[0] as i32) => {
            counters::bump(&COUNTERS.seccomp_refused);
            use core::fmt::Write;
            let mut b = jg::report::StackBuf::<256>::new();
            let _ = writeln!(
                b,
                "jitguard: refused process_vm_writev into this process (target id {}) by thread {} from {rip:#x}",
                a[0] as i32,
                sys::tid()
            );
            crate::log::report(b.as_bytes());
            -(libc::EPERM as i64)
        }
        Trapped::ProcessVmWritev => raw(),
        Trapped::Other => -(libc::ENOSYS as i64),
    }
}

/// Whether `id` names this process or one of its threads (a thread id
/// reaches the same memory): tgkill with signal 0 succeeds only for a
/// thread of the group.
fn into_this_process(id: i32) -> bool {
    if id <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks that the thread exists in the group.
    let r = unsafe { sys::syscall!(libc::SYS_tgkill, sys::getpid(), id, 0) };
    r == 0
}
