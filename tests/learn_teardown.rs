//! Learn mode covers the whole run: writes made by destructors that run
//! after jitguard's own exit code (a runtime in a shared library freeing
//! its code memory at unload) are in the learned profile, so enforcing
//! that profile on the next run does not kill the program at exit.
//! (Before the fix, the learned profile lacked the destructor's site and
//! the enforced run died by SIGSEGV after printing its result.)

mod common;

use common::*;
use std::path::PathBuf;
use std::process::Command;

/// Builds the runtime library and the program linked against it.
fn build() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let lib = example_with("teardown_lib", "libteardown_rt.so", &["-shared", "-fPIC"]);
    let bin = dir.join("teardown");
    let st = Command::new("cc")
        .args(["-O2", "-g", "-o"])
        .arg(&bin)
        .arg(root().join("examples/teardown.c"))
        .arg(&lib)
        .arg(format!("-Wl,-rpath,{}", dir.display()))
        .status()
        .expect("cc");
    assert!(st.success());
    bin
}

#[test]
fn a_profile_learned_from_a_whole_run_holds_at_exit() {
    let bin = build();
    let stock_run = stock(&bin, &[]);
    assert_eq!(stock_run.code, Some(0), "{stock_run:?}");
    for backend in backends() {
        let profile = tmp(&format!("teardown-{backend}.profile"));
        let _ = std::fs::remove_file(&profile);
        let learn = guarded(
            &bin,
            &[],
            &[
                ("JITGUARD_BACKEND", backend),
                ("JITGUARD_MODE", "learn"),
                ("JITGUARD_PROFILE", profile.to_str().unwrap()),
            ],
        );
        assert_eq!(learn.code, Some(0), "{learn:?}");
        let text = std::fs::read_to_string(&profile).unwrap();
        assert!(text.contains("rt_emit"), "{text}");
        assert!(
            text.contains("rt_code_free"),
            "the destructor's write, after jitguard's exit code, is learned too:\n{text}"
        );
        assert!(!text.contains("libjitguard"), "{text}");
        for _ in 0..3 {
            let got = guarded(
                &bin,
                &[],
                &[
                    ("JITGUARD_BACKEND", backend),
                    ("JITGUARD_PROFILE", profile.to_str().unwrap()),
                ],
            );
            assert_eq!(got.code, Some(0), "{backend}: {got:?}");
            assert_eq!(got.stdout, stock_run.stdout);
            assert!(!got.stderr.contains("denied"), "{}", got.stderr);
        }
        // The learned profile still parses as a whole.
        let p = jitguard::profile::Profile::parse(&std::fs::read_to_string(&profile).unwrap());
        assert!(p.is_ok(), "{p:?}");
    }
}
