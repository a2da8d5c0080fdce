//! Configuration through the environment: bad values get one clear line and
//! a safe default, never a crash; the CLI works.

mod common;
use common::*;
use std::process::Command;

#[test]
fn bad_values_get_one_line_each_and_the_program_runs() {
    let bin = example("toyjit");
    let want = stock(&bin, &["--funcs", "50"]);
    let stats = tmp("badenv.json");
    let got = guarded(
        &bin,
        &["--funcs", "50"],
        &[
            ("JITGUARD_MODE", "enforcing"),
            ("JITGUARD_POLICY", "random"),
            ("JITGUARD_BACKEND", "mpk"),
            ("JITGUARD_LOG", "chatty"),
            ("JITGUARD_STATS", stats.to_str().unwrap()),
        ],
    );
    assert_eq!(got.stdout, want.stdout);
    assert_eq!(got.code, Some(0));
    // One line per bad value, besides the notice that toyjit has no
    // writer profile (tests/attacks.rs covers that line).
    let lines: Vec<_> = got
        .stderr
        .lines()
        .filter(|l| !l.contains("notice: no writer profile"))
        .collect();
    assert_eq!(lines.len(), 4, "{}", got.stderr);
    for (var, accepted) in [
        ("JITGUARD_MODE", "enforce, audit, learn, off"),
        ("JITGUARD_POLICY", "hashed, single"),
        ("JITGUARD_BACKEND", "auto, pkey, mprotect"),
        ("JITGUARD_LOG", "off, error, warn, info, debug, trace"),
    ] {
        assert!(
            lines
                .iter()
                .any(|l| l.contains(var) && l.contains(accepted)),
            "{var}: {}",
            got.stderr
        );
    }
    // Safe default: still enforcing, still guarding.
    assert_eq!(stat_text(&stats, "mode"), "enforce");
    assert!(stat(&stats, "write_faults") >= 50);
}

#[test]
fn pkey_requested_without_pku_says_so_and_falls_back() {
    if cpu_has_pku() {
        eprintln!("SKIPPED pkey_requested_without_pku_says_so_and_falls_back: this CPU has PKU");
        return;
    }
    let bin = example("toyjit");
    let stats = tmp("pkey-fallback.json");
    let got = guarded(
        &bin,
        &["--funcs", "20"],
        &[
            ("JITGUARD_BACKEND", "pkey"),
            ("JITGUARD_STATS", stats.to_str().unwrap()),
        ],
    );
    assert_eq!(got.code, Some(0));
    let lines = got
        .stderr
        .lines()
        .filter(|l| !l.contains("notice: no writer profile"));
    assert_eq!(lines.count(), 1, "{}", got.stderr);
    assert!(got.stderr.contains("no protection keys") && got.stderr.contains("mprotect"));
    assert_eq!(stat_text(&stats, "backend"), "mprotect");
}

#[test]
fn mode_off_guards_nothing() {
    let bin = example("toyjit");
    let stats = tmp("off.json");
    let _ = std::fs::remove_file(&stats);
    let got = guarded(
        &bin,
        &["--funcs", "20"],
        &[
            ("JITGUARD_MODE", "off"),
            ("JITGUARD_STATS", stats.to_str().unwrap()),
        ],
    );
    assert_eq!(got.code, Some(0));
    assert!(got.stderr.is_empty(), "{}", got.stderr);
    assert!(!stats.exists(), "off writes no stats");
}

#[test]
fn cli_help_and_errors() {
    for args in [
        &["--help"][..],
        &["run", "--help"][..],
        &["check", "--help"][..],
    ] {
        let o = Command::new(cli()).args(args).output().unwrap();
        assert!(o.status.success());
        assert!(String::from_utf8_lossy(&o.stdout).contains("USAGE"));
    }
    let o = Command::new(cli())
        .args(["run", "--policy", "nope", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("hashed, single"));
}

#[test]
fn cli_check_names_a_backend() {
    let o = Command::new(cli()).arg("check").output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}");
    let want = if cpu_has_pku() {
        "backend:         pkey"
    } else {
        "backend:         mprotect"
    };
    assert!(out.contains(want), "{out}");
}

#[test]
fn cli_run_preloads_and_passes_the_exit_status() {
    let bin = example("toyjit");
    let stats = tmp("cli-run.json");
    let o = Command::new(cli())
        .args([
            "run",
            "--stats",
            stats.to_str().unwrap(),
            "--",
            bin.to_str().unwrap(),
            "--funcs",
            "30",
        ])
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(stat(&stats, "write_faults") >= 30);
    let o = Command::new(cli())
        .args(["run", "--", bin.to_str().unwrap(), "--bogus"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "the program's own exit status");
}

/// Runs toyjit under the library with JITGUARD_CONFIG=`conf` and `env`.
fn with_config(
    conf: &std::path::Path,
    env: &[(&str, &str)],
    name: &str,
) -> (Run, std::path::PathBuf) {
    let bin = example("toyjit");
    let stats = tmp(&format!("{name}.json"));
    let _ = std::fs::remove_file(&stats);
    let mut all = vec![
        ("JITGUARD_STATS", stats.to_str().unwrap()),
        ("JITGUARD_BACKEND", "mprotect"),
    ];
    all.extend_from_slice(env);
    let mut c = Command::new(&bin);
    c.args(["--funcs", "20"]).env("LD_PRELOAD", lib());
    for k in jitguard::config::vars::ALL {
        c.env_remove(k);
    }
    c.env("JITGUARD_CONFIG", conf);
    for (k, v) in all {
        c.env(k, v);
    }
    (c.output().unwrap().into(), stats)
}

#[test]
fn the_config_file_sets_defaults_and_program_sections_override_them() {
    let conf = tmp("jitguard-test.conf");
    std::fs::write(
        &conf,
        "# test configuration\n\
         mode = audit\n\
         policy = single\n\
         [program toyjit]\n\
         window = insn   # this program only\n\
         [program /no/such/program]\n\
         mode = learn\n",
    )
    .unwrap();
    let (run, stats) = with_config(&conf, &[], "conf-file");
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(stat_text(&stats, "mode"), "audit");
    assert_eq!(
        stat_text(&stats, "window"),
        "insn",
        "[program toyjit] applies"
    );
    // Environment variables override the file.
    let (run, stats) = with_config(&conf, &[("JITGUARD_MODE", "enforce")], "conf-env");
    assert_eq!(run.code, Some(0));
    assert_eq!(stat_text(&stats, "mode"), "enforce");
    assert_eq!(stat_text(&stats, "window"), "insn");
}

#[test]
fn a_bad_config_line_is_one_warning_with_file_and_line() {
    let conf = tmp("jitguard-bad.conf");
    std::fs::write(&conf, "mode = audit\n\nmode = of\ncolour = blue\n").unwrap();
    let (run, stats) = with_config(&conf, &[], "conf-bad");
    assert_eq!(run.code, Some(0));
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| !l.contains("notice: no writer profile"))
        .collect();
    let at = conf.display().to_string();
    assert_eq!(lines.len(), 2, "{}", run.stderr);
    assert!(
        lines[0].starts_with(&format!("jitguard: {at}:3: mode = \"of\"")),
        "{}",
        lines[0]
    );
    assert!(lines[0].ends_with("using enforce"), "{}", lines[0]);
    assert!(lines[1].starts_with(&format!("jitguard: {at}:4: unknown key \"colour\"")));
    assert_eq!(stat_text(&stats, "mode"), "enforce", "the safe default");
    // A named file that does not exist: one line, and the program runs.
    let (run, _) = with_config(&tmp("no-such.conf"), &[], "conf-missing");
    assert_eq!(run.code, Some(0));
    assert!(
        run.stderr
            .contains("no-such.conf: cannot read the configuration file"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_wrapper_that_guarded_nothing_does_not_clobber_the_stats_file() {
    let bin = example("toyjit");
    let stats = tmp("wrapped.json");
    // bash exits through exit(3) after its child (dash uses _exit and
    // never wrote stats); /usr/bin/time waits and exits after it too.
    let mut wrappers = vec![
        vec![
            "bash".to_string(),
            "-c".into(),
            format!("{} --funcs 25; true", bin.display()),
        ],
        vec![
            "bash".to_string(),
            "-c".into(),
            format!("env {} --funcs 25; exit 0", bin.display()),
        ],
    ];
    if std::path::Path::new("/usr/bin/time").exists() {
        wrappers.push(vec![
            "/usr/bin/time".into(),
            "-o".into(),
            "/dev/null".into(),
            bin.display().to_string(),
            "--funcs".into(),
            "25".into(),
        ]);
    }
    for w in &wrappers {
        let _ = std::fs::remove_file(&stats);
        let args: Vec<&str> = w[1..].iter().map(String::as_str).collect();
        let prog = which(&w[0]);
        let got = guarded(&prog, &args, &[("JITGUARD_STATS", stats.to_str().unwrap())]);
        assert_eq!(got.code, Some(0), "{got:?}");
        // The wrapper exits after toyjit with the same JITGUARD_STATS: its
        // empty stats must not replace toyjit's.
        assert!(stat(&stats, "regions") >= 1, "{w:?}: clobbered");
        assert!(stat(&stats, "write_faults") >= 25, "{w:?}");
    }
    // With %p each process writes its own file, guarded or not.
    let (got, files) = guarded_with_pid_stats(
        &which("bash"),
        &["-c", &format!("{} --funcs 5; true", bin.display())],
        "mprotect",
        "wrapped-pid",
    );
    assert_eq!(got.code, Some(0));
    assert_eq!(files.len(), 2, "bash and toyjit: {files:?}");
    assert!(files.iter().any(|f| stat(f, "regions") == 0));
    assert!(files.iter().any(|f| stat(f, "write_faults") >= 5));
}

fn which(prog: &str) -> std::path::PathBuf {
    let o = Command::new("sh")
        .args(["-c", &format!("command -v {prog}")])
        .output()
        .unwrap();
    std::path::PathBuf::from(String::from_utf8_lossy(&o.stdout).trim())
}
