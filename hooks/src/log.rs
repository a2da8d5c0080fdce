//! An allocation-free logger: messages are formatted into a stack buffer
//! and written to stderr with one write(2), so it is usable in a signal
//! handler and while the heap is in any state.

use core::sync::atomic::{AtomicU8, Ordering};
use jg::config::LogLevel;

/// Frozen after start-up, like the rest of the reporting settings: a
/// store there would silence the reports.
#[link_section = "jitguard_frozen"]
static LEVEL: crate::vault::OwnState<AtomicU8> =
    crate::vault::OwnState(AtomicU8::new(LogLevel::Warn as u8));

pub fn set_level(l: LogLevel) {
    LEVEL.store(l as u8, Ordering::Relaxed);
}

pub fn enabled(l: LogLevel) -> bool {
    l as u8 <= LEVEL.load(Ordering::Relaxed)
}

/// Writes one formatted line to stderr (the macro adds the newline).
pub fn emit(args: core::fmt::Arguments<'_>) {
    use core::fmt::Write;
    let mut buf = jg::report::StackBuf::<1024>::new();
    let _ = buf.write_fmt(args);
    let _ = buf.write_str("\n");
    let saved = crate::sys::errno();
    crate::sys::write_all(2, buf.as_bytes());
    crate::sys::set_errno(saved);
}

/// `log!(Level, "fmt", args...)`: one line prefixed with `jitguard: `.
#[macro_export]
macro_rules! log {
    ($lvl:ident, $($arg:tt)*) => {
        if $crate::log::enabled(jg::config::LogLevel::$lvl) {
            $crate::log::emit(format_args!("jitguard: {}", format_args!($($arg)*)));
        }
    };
}

// ---------------------------------------------------------------------
// Reports (denials, audited writes, tamper reports): stderr and/or the
// system log (`JITGUARD_REPORT`, `JITGUARD_SYSLOG_SOCKET`).

use core::sync::atomic::{AtomicBool, AtomicI64};
use jg::config::{Config, Report};

/// The report destination in force (Report as u8); Auto until configured.
#[link_section = "jitguard_frozen"]
static REPORT: crate::vault::OwnState<AtomicU8> = crate::vault::OwnState(AtomicU8::new(0));
/// Seconds east of UTC, learnt by `learn_time_zone` outside any signal
/// handler (localtime_r reads the time-zone file, about 30 µs, and is not
/// async-signal-safe), once there is something to report about: at the
/// first guarded region, or at start-up when the seccomp filter traps.
/// A line reported before (a write into jitguard's own state, say) is
/// stamped in UTC. Ordinary memory, learnt after the frozen section is
/// sealed: a wrong value only misdates lines, and local syslog daemons
/// (rsyslog's imuxsock, journald) stamp them with their own reception
/// time anyway.
static UTC_OFFSET: AtomicI64 = AtomicI64::new(0);
static UTC_KNOWN: AtomicBool = AtomicBool::new(false);
#[link_section = "jitguard_frozen"]
static SYSLOG_READY: crate::vault::OwnState<AtomicBool> =
    crate::vault::OwnState(AtomicBool::new(false));

/// The system log's socket address, filled once at start-up, before the
/// handlers can report, and only read afterwards.
struct SyslogAddr(core::cell::UnsafeCell<(libc::sockaddr_un, libc::socklen_t)>);
// SAFETY: written once by `configure` before SYSLOG_READY is released;
// read only after SYSLOG_READY is acquired.
unsafe impl Sync for SyslogAddr {}
#[link_section = "jitguard_frozen"]
static SYSLOG_ADDR: crate::vault::OwnState<SyslogAddr> =
    crate::vault::OwnState(SyslogAddr(core::cell::UnsafeCell::new((
        // SAFETY: sockaddr_un is plain data; all zeroes is a valid value.
        unsafe { core::mem::zeroed() },
        0,
    ))));

fn report_code(r: Report) -> u8 {
    match r {
        Report::Auto => 0,
        Report::Stderr => 1,
        Report::Syslog => 2,
        Report::Both => 3,
    }
}

fn report_of(code: u8) -> Report {
    match code {
        1 => Report::Stderr,
        2 => Report::Syslog,
        3 => Report::Both,
        _ => Report::Auto,
    }
}

/// Takes the report settings from the configuration. Called once at
/// start-up (it allocates nothing later, but it may call localtime_r).
pub fn configure(config: &Config) {
    REPORT.store(report_code(config.report), Ordering::Relaxed);
    let path = config.syslog_socket.as_bytes();
    // SAFETY: SYSLOG_READY is still false: no reader looks at the address.
    let slot = unsafe { &mut *SYSLOG_ADDR.0 .0.get() };
    let max = slot.0.sun_path.len() - 1;
    if path.is_empty() || path.len() > max || path.contains(&0) {
        emit(format_args!(
            "jitguard: JITGUARD_SYSLOG_SOCKET={:?} is not a usable socket path; reports go to stderr only",
            config.syslog_socket
        ));
        return;
    }
    slot.0.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (d, &s) in slot.0.sun_path.iter_mut().zip(path) {
        *d = s as libc::c_char;
    }
    slot.1 = (core::mem::size_of::<libc::sa_family_t>() + path.len() + 1) as libc::socklen_t;
    SYSLOG_READY.store(true, Ordering::Release);
}

/// Learns the local time zone's offset for report lines (once; never in
/// a signal handler). See UTC_OFFSET.
pub fn learn_time_zone() {
    if UTC_KNOWN.load(Ordering::Acquire) {
        return;
    }
    // SAFETY: plain libc calls on our own stack values.
    unsafe {
        let now = libc::time(core::ptr::null_mut());
        let mut tm: libc::tm = core::mem::zeroed();
        if !libc::localtime_r(&now, &mut tm).is_null() {
            UTC_OFFSET.store(tm.tm_gmtoff, Ordering::Relaxed);
        }
    }
    UTC_KNOWN.store(true, Ordering::Release);
}

/// Whether fd 2 is an open terminal (closed: F_GETFD fails).
fn stderr_is_open_tty() -> bool {
    // SAFETY: fcntl and isatty on a descriptor number have no memory effects.
    unsafe { libc::fcntl(2, libc::F_GETFD) != -1 && libc::isatty(2) == 1 }
}

/// Sends one report line (ending in a newline) where the configuration
/// says: stderr, the system log, or both. Allocation-free and lock-free:
/// called from the signal handler. A system log that cannot be reached
/// is silently skipped.
pub fn report(line: &[u8]) {
    let saved = crate::sys::errno();
    let (to_stderr, to_syslog) =
        report_of(REPORT.load(Ordering::Relaxed)).destinations(stderr_is_open_tty());
    if to_stderr {
        crate::sys::write_all(2, line);
    }
    if to_syslog {
        send_syslog(line);
    }
    crate::sys::set_errno(saved);
}

/// One datagram to the system log socket. The socket is made for this one
/// message and closed again: a descriptor kept open could be closed by
/// the program (daemons close every descriptor) and its number reused for
/// one of the program's own sockets, which our next report would then
/// write into. Reports are rare (a denial ends the process), so the two
/// extra system calls cost nothing that matters.
fn send_syslog(line: &[u8]) {
    if !SYSLOG_READY.load(Ordering::Acquire) {
        return;
    }
    let mut buf = jg::report::StackBuf::<1536>::new();
    // SAFETY: clock_gettime writes into our stack value.
    let now = unsafe {
        let mut ts: libc::timespec = core::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts);
        ts.tv_sec
    };
    jg::syslog::format(
        &mut buf,
        jg::syslog::severity_of(line),
        now.wrapping_add(UTC_OFFSET.load(Ordering::Relaxed)),
        crate::sys::getpid(),
        line,
    );
    // SAFETY: raw socket system calls on our own descriptor and buffers;
    // SYSLOG_ADDR is immutable once SYSLOG_READY is set.
    unsafe {
        let fd = crate::sys::syscall!(
            libc::SYS_socket,
            libc::AF_UNIX,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            0,
        );
        if fd < 0 {
            return;
        }
        let (addr, len) = &*SYSLOG_ADDR.0 .0.get();
        let msg = buf.as_bytes();
        crate::sys::syscall!(
            libc::SYS_sendto,
            fd,
            msg.as_ptr(),
            msg.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            addr as *const libc::sockaddr_un,
            *len,
        );
        crate::sys::syscall!(libc::SYS_close, fd);
    }
}
