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

/// Key prediction (`JITGUARD_PREDICT`, pkey only): an emit that writes
/// three pages (toyjit `--heap`, WAMR's code-heap pattern) takes about one
/// fault per window once its site's keys are known, with the same output;
/// and the keys opened ahead close with the window: a store from a
/// function no profile names into every page of the region, right after
/// the last emit, each from a forked child (which inherits its parent's
/// keys), is refused (every one lands without jitguard).
#[test]
fn key_prediction_cuts_faults_per_window_and_closes_with_the_window() {
    if !need_pku("key_prediction_cuts_faults_per_window_and_closes_with_the_window") {
        return;
    }
    let bin = example("toyjit");
    let args = ["--heap", "--funcs", "400"];
    let want = stock(&bin, &args);
    assert_eq!(want.code, Some(0), "{}", want.stderr);
    let profile = learned(&bin, &args, "pkey", "predict");
    let per_window = |predict: &str| {
        let (got, stats) = guarded_with_stats(
            &bin,
            &args,
            "pkey",
            &[
                ("JITGUARD_PROFILE", &profile),
                ("JITGUARD_POLICY", "hashed"),
                ("JITGUARD_PREDICT", predict),
            ],
            &format!("cw-predict-{predict}"),
        );
        assert_eq!(got.stdout, want.stdout, "predict {predict}: {}", got.stderr);
        assert_eq!(got.code, Some(0), "predict {predict}: {}", got.stderr);
        assert_eq!(stat(&stats, "denials"), 0, "predict {predict}");
        let windows = stat(&stats, "call_windows");
        assert!(windows >= 400, "predict {predict}: {windows} call windows");
        let faults = stat(&stats, "write_faults") as f64 / windows as f64;
        (faults, stat(&stats, "keys_ahead"))
    };
    let (plain, plain_ahead) = per_window("off");
    let (predicted, ahead) = per_window("8");
    eprintln!("faults per window: {plain:.2} without prediction, {predicted:.2} with ({ahead} keys opened ahead)");
    assert_eq!(plain_ahead, 0, "prediction off opened keys ahead");
    assert!(ahead > 0, "prediction on opened no key ahead");
    // Three pages a window; under 14 hashed keys some share one, and the
    // key of a function's page repeats for the functions on that page.
    assert!(
        plain > 1.5,
        "the heap pattern should fault on several keys: {plain:.2}"
    );
    assert!(
        predicted < plain * 0.8,
        "prediction: {predicted:.2} faults per window vs {plain:.2}"
    );

    let rogue = ["--heap", "--funcs", "400", "--rogue"];
    let control = stock(&bin, &rogue);
    assert!(
        control
            .stdout
            .contains("rogue stores landed: 64 of 64 pages"),
        "control: every store must land without jitguard: {}",
        control.stdout
    );
    for predict in ["off", "8"] {
        let (got, stats) = guarded_with_stats(
            &bin,
            &rogue,
            "pkey",
            &[
                ("JITGUARD_POLICY", "hashed"),
                ("JITGUARD_PROFILE", &profile),
                ("JITGUARD_PREDICT", predict),
            ],
            &format!("cw-predict-rogue-{predict}"),
        );
        assert!(
            got.stdout.contains("rogue stores landed: 0 of 64 pages"),
            "predict {predict}: a store after the last window landed: {}\n{}",
            got.stdout,
            got.stderr
        );
        assert!(
            got.stderr.contains("denied write") && got.stderr.contains("rogue_store"),
            "predict {predict}: {}",
            got.stderr
        );
        if predict == "8" {
            assert!(
                stat(&stats, "keys_ahead") > 0,
                "the rogue run opened no key ahead"
            );
        }
    }
}
