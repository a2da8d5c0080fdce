//! PCRE2's built-in profile trusts writes made while PCRE2's exported
//! compile and free entry points run (`during` entries), so it holds for
//! any build of the stripped library. A store into the JIT's code from the
//! program's own code, outside those calls, must still be denied.
//!
//! examples/pcre2_rogue.c loads the system's libpcre2-8, JIT-compiles a
//! pattern, matches, and with `rogue` overwrites a byte of the compiled
//! code from main(). The control run (stock) shows the store lands.

mod common;
use common::*;

const SIGSEGV: i32 = 11;

fn program(test: &str) -> Option<std::path::PathBuf> {
    let bin = example("pcre2_rogue");
    if stock(&bin, &["benign"]).code == Some(77) {
        eprintln!("SKIPPED {test}: no libpcre2-8 on this machine (Debian's libpcre2-8-0)");
        return None;
    }
    Some(bin)
}

#[test]
fn control_rogue_store_changes_pcre2_jit_code() {
    let Some(bin) = program("control_rogue_store_changes_pcre2_jit_code") else {
        return;
    };
    let run = stock(&bin, &["rogue"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.contains("code changed: yes"), "{run:?}");
}

#[test]
fn pcre2_jit_enforced_by_its_builtin_profile_with_no_denial() {
    let Some(bin) = program("pcre2_jit_enforced_by_its_builtin_profile_with_no_denial") else {
        return;
    };
    let want = stock(&bin, &["benign"]);
    for backend in backends() {
        let (got, stats) = guarded_with_stats(
            &bin,
            &["benign"],
            backend,
            &[],
            &format!("pcre2-benign-{backend}"),
        );
        assert_eq!(got.stdout, want.stdout, "{backend}: {}", got.stderr);
        assert_eq!(got.code, Some(0), "{backend}: {}", got.stderr);
        assert_eq!(stat_text(&stats, "writer_profile"), "builtin:pcre2-jit");
        assert!(
            stat(&stats, "write_faults") > 0,
            "{backend}: nothing guarded"
        );
        assert_eq!(stat(&stats, "denials"), 0, "{backend}");
    }
}

#[test]
fn rogue_store_outside_pcre2_calls_is_denied() {
    let Some(bin) = program("rogue_store_outside_pcre2_calls_is_denied") else {
        return;
    };
    for backend in backends() {
        let got = guarded(&bin, &["rogue"], &[("JITGUARD_BACKEND", backend)]);
        assert_eq!(got.signal, Some(SIGSEGV), "{backend}: {got:?}");
        assert!(
            !got.stdout.contains("code changed"),
            "{backend}: the store landed"
        );
        assert!(
            got.stderr.contains("jitguard: denied write")
                && got.stderr.contains("writer main+")
                && got.stderr.contains("writer profile: builtin:pcre2-jit"),
            "{backend}: {}",
            got.stderr
        );
    }
}
