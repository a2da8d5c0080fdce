//! Call windows: a trusted writer's page stays open until the writer
//! returns (through jitguard's reseal trampoline), instead of for one
//! instruction. toyjit's scenarios run under a profile learned from the
//! same run, with call windows: same output as without jitguard, nothing
//! denied, and the windows really were call windows. WAMR's whole suite
//! runs this way too (tests/wamr.rs: the default window is `call`).

mod common;

use common::*;

fn learned(bin: &std::path::Path, args: &[&str], backend: &str, tag: &str) -> String {
    let profile = tmp(&format!("cw-{tag}-{backend}.profile"));
    let _ = std::fs::remove_file(&profile);
    let got = guarded(
        bin,
        args,
        &[
            ("JITGUARD_BACKEND", backend),
            ("JITGUARD_MODE", "learn"),
            ("JITGUARD_PROFILE", profile.to_str().unwrap()),
        ],
    );
    assert_eq!(got.code, Some(0), "learn {tag}: {}", got.stderr);
    profile.to_string_lossy().into_owned()
}

#[test]
fn toyjit_scenarios_under_call_windows_match_stock() {
    let bin = example("toyjit");
    let scenarios: [(&str, &[&str]); 7] = [
        ("plain", &["--funcs", "300"]),
        ("threads", &["--threads", "4", "--funcs", "200"]),
        ("fork", &["--fork", "--funcs", "100"]),
        ("straddle", &["--straddle"]),
        ("repatch", &["--repatch", "--funcs", "200"]),
        ("blob", &["--blob", "64", "--funcs", "50"]),
        ("storm", &["--storm", "--funcs", "300"]),
    ];
    for (tag, args) in scenarios {
        let want = stock(&bin, args);
        for backend in backends() {
            let profile = learned(&bin, args, backend, tag);
            let (got, stats) = guarded_with_stats(
                &bin,
                args,
                backend,
                &[("JITGUARD_PROFILE", &profile), ("JITGUARD_WINDOW", "call")],
                &format!("cw-{tag}-{backend}"),
            );
            assert_eq!(
                got.stdout, want.stdout,
                "{tag} on {backend}: {}",
                got.stderr
            );
            assert_eq!(got.code, want.code, "{tag} on {backend}: {}", got.stderr);
            assert_eq!(stat(&stats, "denials"), 0, "{tag} on {backend}");
            assert_eq!(stat_text(&stats, "window"), "call");
            assert!(
                stat(&stats, "call_windows") > 0,
                "{tag} on {backend}: no call window"
            );
        }
    }
}

#[test]
fn call_windows_need_fewer_faults_than_instruction_windows() {
    let bin = example("toyjit");
    let args = ["--funcs", "400"];
    for backend in backends() {
        let profile = learned(&bin, &args, backend, "fewer");
        let faults = |window: &str| {
            let (got, stats) = guarded_with_stats(
                &bin,
                &args,
                backend,
                &[("JITGUARD_PROFILE", &profile), ("JITGUARD_WINDOW", window)],
                &format!("cw-fewer-{window}-{backend}"),
            );
            assert_eq!(got.code, Some(0), "{}", got.stderr);
            stat(&stats, "write_faults")
        };
        let (insn, call) = (faults("insn"), faults("call"));
        assert!(
            call * 2 < insn,
            "{backend}: call {call} vs insn {insn} faults"
        );
    }
}
