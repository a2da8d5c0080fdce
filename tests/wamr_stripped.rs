//! A stripped WAMR (issue 15, "profiles that hold for builds they have
//! not seen"): the project's iwasm after `strip` keeps no function name at
//! all (it exports nothing: `nm -D` lists only imports), so the built-in
//! `wamr-fast-jit` profile cannot match it and no `during` rule has a name
//! to hold on to. What works is learning: `jitguard learn --append` over
//! a few runs, each saying how many new sites and functions it added (a
//! stripped writer's whole function is recorded, by its FDE, so one run's
//! instructions stand for the rest of the function, such as the
//! allocator's frees at unload). The learned profile is then enforced on
//! the whole WAMR suite with zero denials, and the native library's store
//! into compiled code (tests/wamr_attack.rs) is still denied, with its
//! control.
//!
//! Needs target/wamr/iwasm and target/workloads (scripts/test.sh builds
//! them) and `strip` (binutils).

mod common;
use common::*;
use jitguard::bench::{parse_manifest, WorkloadSpec};
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

const SIGSEGV: i32 = 11;

fn built(rel: &str) -> PathBuf {
    let p = root().join(rel);
    assert!(p.is_file(), "{} missing: run scripts/test.sh", p.display());
    p
}

/// A stripped copy of the project's iwasm, made once.
fn stripped() -> PathBuf {
    static ONCE: OnceLock<PathBuf> = OnceLock::new();
    ONCE.get_or_init(|| {
        let out = tmp("iwasm-stripped");
        let _ = std::fs::remove_file(&out);
        std::fs::copy(built("target/wamr/iwasm"), &out).unwrap();
        let st = Command::new("strip")
            .arg(&out)
            .status()
            .expect("strip (binutils)");
        assert!(st.success(), "strip failed");
        out
    })
    .clone()
}

fn workloads() -> Vec<WorkloadSpec> {
    parse_manifest(&std::fs::read_to_string(root().join("workloads/manifest.tsv")).unwrap())
}

fn argv(w: &WorkloadSpec) -> Vec<String> {
    let m = built(&format!("target/workloads/{}.wasm", w.name));
    w.iwasm_args(&m.to_string_lossy())
}

/// Learns a profile for the stripped iwasm over three workloads (a
/// kernel, QuickJS, 1,500 small functions), merged with --append; returns
/// it and what each run said about new entries.
fn learned() -> &'static (PathBuf, Vec<String>) {
    static ONCE: OnceLock<(PathBuf, Vec<String>)> = OnceLock::new();
    ONCE.get_or_init(|| {
        let bin = stripped();
        let profile = tmp("iwasm-stripped.profile");
        let _ = std::fs::remove_file(&profile);
        let all = workloads();
        let mut said = vec![];
        for name in ["gemm", "quickjs_bench", "many_funcs_small"] {
            let w = all.iter().find(|w| w.name == name).unwrap();
            let out = Command::new(cli())
                .args(["learn", "--append", "-o"])
                .arg(&profile)
                .arg("--")
                .arg(&bin)
                .args(argv(w))
                .env("JITGUARD_CONFIG", "/dev/null")
                .output()
                .expect("jitguard learn");
            assert!(out.status.success(), "learn {name}: {out:?}");
            let err = String::from_utf8_lossy(&out.stderr);
            let line = err
                .lines()
                .find(|l| l.contains("this run added"))
                .unwrap_or_else(|| panic!("learn {name}: no convergence line: {err}"))
                .to_string();
            eprintln!("learn {name}: {line}");
            said.push(line);
        }
        (profile, said)
    })
}

fn added(line: &str) -> usize {
    line.split("this run added ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {line}"))
}

#[test]
fn a_stripped_iwasm_matches_no_builtin_profile() {
    let bin = stripped();
    let w = workloads().into_iter().find(|w| w.name == "crc").unwrap();
    let a = argv(&w);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let (got, stats) = guarded_with_stats(&bin, &a, "mprotect", &[], "stripped-none");
    assert_eq!(got.code, Some(0), "{got:?}");
    assert_eq!(stat_text(&stats, "writer_profile"), "none");
    assert!(got
        .stderr
        .contains("notice: no writer profile for iwasm-stripped"));
}

#[test]
fn learning_merges_runs_and_says_what_each_added() {
    let (profile, said) = learned();
    assert!(added(&said[0]) > 0, "{said:?}");
    let text = std::fs::read_to_string(profile).unwrap();
    let p = jitguard::profile::Profile::parse(&text).unwrap();
    assert!(
        !p.functions.is_empty(),
        "stripped writers learned as functions"
    );
    assert_eq!(
        p.learned_entries(),
        said.iter().map(|l| added(l)).sum::<usize>(),
        "{said:?}"
    );
}

#[test]
fn learned_profile_enforces_the_whole_wamr_suite_on_the_stripped_iwasm() {
    let bin = stripped();
    let (profile, _) = learned();
    let pp = profile.to_str().unwrap();
    for w in workloads() {
        let a = argv(&w);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let want = stock(&bin, &a);
        assert_eq!(want.code, Some(w.expected_exit), "{}: {want:?}", w.name);
        for backend in backends() {
            let (got, stats) = guarded_with_stats(
                &bin,
                &a,
                backend,
                &[("JITGUARD_PROFILE", pp)],
                &format!("stripped-{}-{backend}", w.name),
            );
            let what = format!("{} under {backend}", w.name);
            assert_eq!(got.stdout, want.stdout, "{what}: {}", got.stderr);
            assert_eq!(got.code, want.code, "{what}: {}", got.stderr);
            assert_eq!(stat(&stats, "denials"), 0, "{what}: {}", got.stderr);
            assert_eq!(stat_text(&stats, "writer_profile"), format!("file:{pp}"));
            assert!(stat(&stats, "write_faults") > 0, "{what}");
        }
    }
}

fn attack_args(extra: &[&str]) -> Vec<String> {
    let dir = "target/workloads/attack";
    let mut a = vec![
        format!(
            "--native-lib={}",
            built(&format!("{dir}/librogue_native.so")).display()
        ),
        built(&format!("{dir}/victim.wasm")).display().to_string(),
    ];
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

fn line<'a>(out: &'a str, name: &str) -> Option<&'a str> {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
}

#[test]
fn control_rogue_native_rewrites_the_stripped_iwasms_code() {
    let a = attack_args(&[]);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let got = stock(&stripped(), &a);
    assert_eq!(got.code, Some(0), "{got:?}");
    assert_eq!(line(&got.stdout, "second"), Some("0badc0de"), "{got:?}");
}

#[test]
fn rogue_native_write_is_denied_under_the_learned_profile() {
    let (profile, _) = learned();
    let a = attack_args(&[]);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    for backend in backends() {
        let got = guarded(
            &stripped(),
            &a,
            &[
                ("JITGUARD_BACKEND", backend),
                ("JITGUARD_PROFILE", profile.to_str().unwrap()),
            ],
        );
        assert_eq!(got.signal, Some(SIGSEGV), "{backend}: {got:?}");
        assert!(!got.stdout.contains("0badc0de"), "{backend}: {got:?}");
        assert!(
            got.stderr.contains("jitguard: denied write")
                && got.stderr.contains("patch_code")
                && got.stderr.contains("librogue_native.so"),
            "{backend}: {}",
            got.stderr
        );
    }
}
