//! Stock WAMR Fast JIT under jitguard: every workload of
//! workloads/manifest.tsv prints the same output and exits the same way
//! under stock WAMR and under jitguard, for every backend and policy this
//! machine has; WAMR's own hardware bounds checks keep working.
//!
//! Needs target/wamr/iwasm (scripts/build-wamr.sh) and target/workloads
//! (scripts/build-workloads.sh); scripts/test.sh builds both first.

mod common;
use common::*;
use std::path::PathBuf;

use jitguard::bench::{parse_manifest, WorkloadSpec as Workload};

fn iwasm() -> PathBuf {
    let p = root().join("target/wamr/iwasm");
    assert!(
        p.is_file(),
        "{} missing: run scripts/build-wamr.sh (scripts/test.sh does)",
        p.display()
    );
    p
}

fn workloads() -> Vec<Workload> {
    parse_manifest(
        &std::fs::read_to_string(root().join("workloads/manifest.tsv"))
            .expect("workloads/manifest.tsv"),
    )
}

fn module(w: &Workload) -> PathBuf {
    let p = root()
        .join("target/workloads")
        .join(format!("{}.wasm", w.name));
    assert!(
        p.is_file(),
        "{} missing: run scripts/build-workloads.sh",
        p.display()
    );
    p
}

fn argv(w: &Workload) -> Vec<String> {
    w.iwasm_args(&module(w).to_string_lossy())
}

fn configs() -> Vec<Vec<(&'static str, &'static str)>> {
    // JITGUARD_TEST_BACKENDS narrows the run (the PKU guest runs pkey
    // only: the host already ran mprotect).
    let mut c = Vec::new();
    if wanted("mprotect") {
        c.push(vec![("JITGUARD_BACKEND", "mprotect")]);
    }
    if !wanted("pkey") {
        return c;
    }
    if cpu_has_pku() {
        c.push(vec![
            ("JITGUARD_BACKEND", "pkey"),
            ("JITGUARD_POLICY", "hashed"),
        ]);
        c.push(vec![
            ("JITGUARD_BACKEND", "pkey"),
            ("JITGUARD_POLICY", "single"),
        ]);
    } else {
        need_pku("wamr workloads under the pkey backend (hashed and single)");
    }
    c
}

fn check(kind_filter: fn(&str) -> bool) {
    let bin = iwasm();
    let list: Vec<_> = workloads()
        .into_iter()
        .filter(|w| kind_filter(&w.kind))
        .collect();
    assert!(!list.is_empty());
    for w in &list {
        let args = argv(w);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let want = stock(&bin, &args);
        assert_eq!(
            want.code,
            Some(w.expected_exit),
            "{} stock: {want:?}",
            w.name
        );
        for cfg in configs() {
            let stats = tmp(&format!(
                "wamr-{}-{}.json",
                w.name,
                cfg.iter().map(|(_, v)| *v).collect::<Vec<_>>().join("-")
            ));
            let mut env = cfg.clone();
            let sp = stats.to_string_lossy().into_owned();
            env.push(("JITGUARD_STATS", &sp));
            let got = guarded(&bin, &args, &env);
            assert_eq!(
                got.stdout, want.stdout,
                "{} under {cfg:?}: {}",
                w.name, got.stderr
            );
            assert_eq!(
                got.code, want.code,
                "{} under {cfg:?}: {}",
                w.name, got.stderr
            );
            // Enforced by the built-in WAMR profile, with nothing refused.
            assert_eq!(stat(&stats, "denials"), 0, "{} under {cfg:?}", w.name);
            assert_eq!(
                stat_text(&stats, "writer_profile"),
                "builtin:wamr-fast-jit",
                "{} under {cfg:?}",
                w.name
            );
            assert_eq!(
                stat(&stats, "unnamed_writers"),
                0,
                "{} under {cfg:?}",
                w.name
            );
            assert_eq!(
                stat_text(&stats, "mode"),
                "enforce",
                "{} under {cfg:?}",
                w.name
            );
            assert!(
                stat(&stats, "regions") >= 1,
                "{}: the code pool was guarded",
                w.name
            );
            assert!(
                stat(&stats, "write_faults") > 0,
                "{}: JIT writes went through jitguard",
                w.name
            );
            assert!(
                stat(&stats, "pages") > 0,
                "{}: pages keyed or opened",
                w.name
            );
            eprintln!(
                "{} {:?}: {} write faults, {} pages",
                w.name,
                cfg,
                stat(&stats, "write_faults"),
                stat(&stats, "pages")
            );
        }
    }
}

#[test]
fn compute_kernels_same_output() {
    check(|k| k == "kernel");
}

#[test]
fn large_programs_same_output() {
    check(|k| k == "big");
}

#[test]
fn compile_bound_module_same_output() {
    check(|k| k == "compile");
}

#[test]
fn out_of_bounds_access_still_traps_in_wamr() {
    let bin = iwasm();
    let negative: Vec<_> = workloads()
        .into_iter()
        .filter(|w| w.kind == "negative")
        .collect();
    assert!(!negative.is_empty());
    for w in negative {
        let args = argv(&w);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let expect = if w.expected_stderr.is_empty() {
            "out of bounds memory access"
        } else {
            w.expected_stderr.as_str()
        };
        let want = stock(&bin, &args);
        assert!(want.stderr.contains(expect), "{want:?}");
        assert_eq!(want.code, Some(w.expected_exit), "{want:?}");
        for cfg in configs() {
            let got = guarded(&bin, &args, &cfg);
            assert!(got.stderr.contains(expect), "{} {cfg:?}: {got:?}", w.name);
            assert_eq!((got.code, got.signal), (want.code, want.signal));
            assert_eq!(got.stdout, want.stdout);
        }
    }
}
