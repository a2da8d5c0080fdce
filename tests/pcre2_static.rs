//! A second build of PCRE2, one the `pcre2-jit` profile was not written
//! from: crates.io's `pcre2-sys` compiles PCRE2's own sources (another
//! release than Debian's libpcre2-8, JIT enabled) into
//! examples/pcre2_static.rs statically, so PCRE2's functions live in the
//! program itself and no libpcre2-8 is loaded. The built-in profile's
//! `during` entries find PCRE2's entry points there by name and enforce
//! it with zero denials; a store into the JIT's code from the program's
//! main(), in the same module but outside any PCRE2 call, is denied. The
//! control shows the store lands without jitguard.

mod common;
use common::*;
use std::path::PathBuf;

const SIGSEGV: i32 = 11;

/// Built by cargo with the tests (an example of the `jitguard` package).
fn program() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let p = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("examples/pcre2_static");
    assert!(
        p.is_file(),
        "{} missing (cargo builds it with the tests)",
        p.display()
    );
    p
}

const TEXT: &str = "/usr/share/common-licenses/GPL-3";

fn text() -> String {
    if std::path::Path::new(TEXT).is_file() {
        TEXT.into()
    } else {
        String::new() // the program's built-in text
    }
}

#[test]
fn control_rogue_store_changes_the_static_pcre2s_code() {
    let run = stock(&program(), &["rogue", &text()]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.contains("code changed: yes"), "{run:?}");
}

#[test]
fn a_second_pcre2_build_is_enforced_by_the_builtin_profile() {
    let bin = program();
    let t = text();
    let want = stock(&bin, &["benign", &t]);
    assert!(want.stdout.contains("done"), "{want:?}");
    for backend in backends() {
        let (got, stats) = guarded_with_stats(
            &bin,
            &["benign", &t],
            backend,
            &[],
            &format!("pcre2-static-{backend}"),
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
fn rogue_store_outside_the_static_pcre2s_calls_is_denied() {
    for backend in backends() {
        let got = guarded(
            &program(),
            &["rogue", &text()],
            &[("JITGUARD_BACKEND", backend)],
        );
        assert_eq!(got.signal, Some(SIGSEGV), "{backend}: {got:?}");
        assert!(!got.stdout.contains("code changed"), "{backend}");
        assert!(
            got.stderr.contains("jitguard: denied write")
                && got.stderr.contains("pcre2_static4main")
                && got.stderr.contains("writer profile: builtin:pcre2-jit"),
            "{backend}: {}",
            got.stderr
        );
    }
}
