//! An allocation-free logger: messages are formatted into a stack buffer
//! and written to stderr with one write(2), so it is usable in a signal
//! handler and while the heap is in any state.

use core::sync::atomic::{AtomicU8, Ordering};
use jg::config::LogLevel;

static LEVEL: AtomicU8 = AtomicU8::new(LogLevel::Warn as u8);

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
