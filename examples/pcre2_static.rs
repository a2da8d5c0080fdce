//! PCRE2's JIT from a build jitguard's profile was not written from:
//! crates.io's `pcre2-sys` compiles PCRE2's own sources (JIT enabled)
//! into this program statically (`.cargo/config.toml` sets
//! PCRE2_SYS_STATIC), so no libpcre2-8 is loaded and the library's
//! functions live in this executable.
//!
//!   pcre2_static benign   JIT-compile a few patterns, count their matches
//!                         in FILE (or built-in text), free them
//!   pcre2_static rogue    the same, then store into the JIT's code from
//!                         main(), outside any PCRE2 call, and print
//!                         whether the code changed
//!
//! The JIT's code is found as the executable anonymous mapping that
//! appeared while compiling.

use pcre2_sys::*;
use std::ptr::null_mut;

/// Start addresses of the executable anonymous mappings.
fn exec_anon() -> Vec<usize> {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    maps.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let anon = f.len() < 6;
            let x = f.get(1)?.as_bytes().get(2) == Some(&b'x');
            let start = usize::from_str_radix(f[0].split('-').next()?, 16).ok()?;
            (anon && x).then_some(start)
        })
        .collect()
}

const PATTERNS: [&str; 6] = [
    "a+b",
    r"\b\w+ing\b",
    r"(?i)licen[cs]e",
    r"\d{2,}",
    r"(\w+)\s+\1",
    r"[A-Z][a-z]+ [A-Z][a-z]+",
];

/// Rust's runtime gives the main thread an 8 KiB signal stack (for its
/// stack-overflow report); jitguard's fault handler, which runs on the
/// thread's signal stack, needs more than that (a known jitguard
/// limitation, see SECURITY.md), so this program sets a larger one, as a
/// program with deep signal handlers of its own would.
fn roomy_signal_stack() {
    const SIZE: usize = 256 * 1024;
    let stack: &'static mut [u8] = Box::leak(vec![0u8; SIZE].into_boxed_slice());
    let ss = libc::stack_t {
        ss_sp: stack.as_mut_ptr().cast(),
        ss_flags: 0,
        ss_size: SIZE,
    };
    // SAFETY: a valid stack_t describing leaked memory that lives for the
    // rest of the process.
    let rc = unsafe { libc::sigaltstack(&ss, null_mut()) };
    assert_eq!(rc, 0, "sigaltstack");
}

fn main() {
    roomy_signal_stack();
    let args: Vec<String> = std::env::args().collect();
    let rogue = args.get(1).map(String::as_str) == Some("rogue");
    let text = args
        .get(2)
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_else(|| "xxaaab Counting things: 12 and 345, the the Free Software".repeat(50));
    let before = exec_anon();
    let mut codes = vec![];
    for p in PATTERNS {
        let (mut err, mut off) = (0, 0);
        // SAFETY: PCRE2's C API with a valid pattern buffer and its length;
        // every result is checked before use.
        let code =
            unsafe { pcre2_compile_8(p.as_ptr(), p.len(), 0, &mut err, &mut off, null_mut()) };
        assert!(!code.is_null(), "compile {p}: error {err}");
        // SAFETY: `code` is a compiled pattern.
        let rc = unsafe { pcre2_jit_compile_8(code, PCRE2_JIT_COMPLETE) };
        assert_eq!(rc, 0, "JIT compile {p}");
        codes.push((p, code));
    }
    let jit = exec_anon().into_iter().find(|a| !before.contains(a));
    for &(p, code) in &codes {
        // SAFETY: `code` is a compiled pattern, `md` its match data, the
        // subject a valid buffer and length; offsets stay inside it.
        let n = unsafe {
            let md = pcre2_match_data_create_from_pattern_8(code, null_mut());
            let mut n = 0;
            let mut at = 0;
            while at <= text.len() {
                let rc = pcre2_match_8(code, text.as_ptr(), text.len(), at, 0, md, null_mut());
                if rc < 0 {
                    break;
                }
                let ov = pcre2_get_ovector_pointer_8(md);
                n += 1;
                at = (*ov.add(1)).max(*ov + 1);
            }
            pcre2_match_data_free_8(md);
            n
        };
        println!("{p}: {n}");
    }
    if rogue {
        let Some(jit) = jit else {
            eprintln!("no JIT code mapping found");
            std::process::exit(3);
        };
        let at = (jit + 64) as *mut u8;
        // SAFETY: the JIT's code mapping, mapped and readable; the store is
        // the attack this program stands for (it lands without jitguard).
        let changed = unsafe {
            let b = at.read_volatile();
            at.write_volatile(b ^ 0xcc);
            at.read_volatile() != b
        };
        println!("code changed: {}", if changed { "yes" } else { "no" });
    }
    for (_, code) in codes {
        // SAFETY: each compiled pattern is freed once.
        unsafe { pcre2_code_free_8(code) };
    }
    println!("done");
}
