//! The attack "a native function registered by an embedder overwrites the
//! running module's compiled code", against stock WAMR Fast JIT.
//!
//! workloads/attack/victim.c prints keyed(0) = 0 ^ 0x13572468, asks the
//! host function env.patch_code (workloads/attack/rogue_native.c, loaded
//! with iwasm --native-lib) to replace that constant in the JIT's code
//! with 0x0badc0de, and prints keyed(0) again. Stock WAMR runs the
//! rewritten code; under jitguard (built-in WAMR writer profile) the
//! library's store is denied and the process dies by SIGSEGV.
//!
//! Needs target/wamr/iwasm (scripts/build-wamr.sh) and
//! target/workloads/attack (scripts/build-workloads.sh); scripts/test.sh
//! builds both first.

mod common;
use common::*;
use std::path::PathBuf;

const ORIGINAL: &str = "13572468";
const PATCHED: &str = "0badc0de";
const SIGSEGV: i32 = 11;

fn built(rel: &str, script: &str) -> PathBuf {
    let p = root().join(rel);
    assert!(
        p.is_file(),
        "{} missing: run {script} (scripts/test.sh does)",
        p.display()
    );
    p
}

fn iwasm() -> PathBuf {
    built("target/wamr/iwasm", "scripts/build-wamr.sh")
}

/// iwasm's arguments: the rogue library, the victim, its own args.
fn args(victim_args: &[&str]) -> Vec<String> {
    let dir = "target/workloads/attack";
    let lib = built(
        &format!("{dir}/librogue_native.so"),
        "scripts/build-workloads.sh",
    );
    let wasm = built(&format!("{dir}/victim.wasm"), "scripts/build-workloads.sh");
    let mut a = vec![
        format!("--native-lib={}", lib.display()),
        wasm.display().to_string(),
    ];
    a.extend(victim_args.iter().map(|s| s.to_string()));
    a
}

/// The value of the victim's `NAME: value` line, if it printed one.
fn line<'a>(out: &'a str, name: &str) -> Option<&'a str> {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
}

#[test]
fn control_rogue_native_rewrites_stock_wamr_code() {
    let a = args(&[]);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let got = stock(&iwasm(), &a);
    assert_eq!(got.code, Some(0), "{got:?}");
    assert_eq!(line(&got.stdout, "first"), Some(ORIGINAL), "{got:?}");
    let patched: u32 = line(&got.stdout, "patched")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no patched count: {got:?}"));
    assert!(patched >= 1, "nothing patched: {got:?}");
    // The compiled keyed() was rewritten and the rewritten code ran.
    assert_eq!(line(&got.stdout, "second"), Some(PATCHED), "{got:?}");
}

#[test]
fn guarded_rogue_native_write_is_denied() {
    let a = args(&[]);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    for backend in backends() {
        // Default enforce mode, no JITGUARD_PROFILE: the built-in WAMR
        // writer profile applies.
        let got = guarded(&iwasm(), &a, &[("JITGUARD_BACKEND", backend)]);
        assert_eq!(got.signal, Some(SIGSEGV), "{backend}: {got:?}");
        let report = got
            .stderr
            .lines()
            .find(|l| l.starts_with("jitguard: denied write"))
            .unwrap_or_else(|| panic!("{backend}: no denial report: {got:?}"));
        assert!(report.contains("patch_code"), "{backend}: {report}");
        assert!(report.contains("librogue_native.so"), "{backend}: {report}");
        assert_eq!(
            line(&got.stdout, "first"),
            Some(ORIGINAL),
            "{backend}: {got:?}"
        );
        assert!(!got.stdout.contains(PATCHED), "{backend}: {got:?}");
        eprintln!("{backend}: {report}");
    }
}

#[test]
fn guarded_victim_without_patch_runs_clean() {
    let a = args(&["--no-patch"]);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let want = stock(&iwasm(), &a);
    assert_eq!(want.code, Some(0), "{want:?}");
    assert_eq!(line(&want.stdout, "second"), Some("13572469"), "{want:?}");
    for backend in backends() {
        let (got, stats) =
            guarded_with_stats(&iwasm(), &a, backend, &[], &format!("attack-{backend}"));
        assert_eq!(got.stdout, want.stdout, "{backend}: {}", got.stderr);
        assert_eq!(got.code, Some(0), "{backend}: {}", got.stderr);
        assert!(!got.stderr.contains("jitguard: denied"), "{}", got.stderr);
        assert_eq!(stat(&stats, "denials"), 0, "{backend}");
        assert!(stat(&stats, "write_faults") > 0, "{backend}: JIT guarded");
    }
}
