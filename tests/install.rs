//! scripts/install.sh into a temporary prefix; then a guarded program runs
//! from the installed files only, and the man page renders.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Installs once per test binary into tmpdir/prefix.
fn prefix() -> PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        lib(); // the build the script reuses
        let p = tmp("prefix");
        let _ = std::fs::remove_dir_all(&p);
        let o = Command::new("bash")
            .arg(root().join("scripts/install.sh"))
            .arg("--prefix")
            .arg(&p)
            .env("CARGO", env!("CARGO"))
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "install.sh: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        p
    })
    .clone()
}

/// PATH with the installed bin/ first and no build tree on it.
fn path_with(bin: &Path) -> String {
    format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display())
}

#[test]
fn installs_the_documented_files() {
    let p = prefix();
    for f in [
        "bin/jitguard",
        "lib/jitguard/libjitguard.so",
        "share/man/man1/jitguard.1",
        "share/doc/jitguard/README.md",
        "share/doc/jitguard/SECURITY.md",
        "share/doc/jitguard/jitguard.conf.example",
        "share/doc/jitguard/profiles/wamr-fast-jit.profile",
        "share/doc/jitguard/profiles/hotspot.profile",
    ] {
        assert!(p.join(f).is_file(), "{f} not installed");
    }
}

#[test]
fn the_installed_cli_runs_a_program_under_the_installed_library() {
    let p = prefix();
    // The program, copied out of the build tree too.
    let toy = p.join("toyjit");
    std::fs::copy(example("toyjit"), &toy).unwrap();
    let stats = tmp("installed-run.json");
    let _ = std::fs::remove_file(&stats);
    let o = Command::new("jitguard")
        .args(["run", "--stats", stats.to_str().unwrap(), "--"])
        .arg(&toy)
        .args(["--funcs", "40"])
        .env("PATH", path_with(&p.join("bin")))
        .env("JITGUARD_CONFIG", "/dev/null")
        .env_remove("JITGUARD_LIB")
        .env_remove("LD_PRELOAD")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stat(&stats, "write_faults") >= 40, "guarded");
    assert!(stat(&stats, "regions") >= 1);

    // And it was the installed library that did it.
    let o = Command::new("jitguard")
        .args(["run", "--", "cat", "/proc/self/maps"])
        .env("PATH", path_with(&p.join("bin")))
        .env("JITGUARD_CONFIG", "/dev/null")
        .env_remove("JITGUARD_LIB")
        .env_remove("LD_PRELOAD")
        .output()
        .unwrap();
    let maps = String::from_utf8_lossy(&o.stdout);
    let installed = p
        .join("lib/jitguard/libjitguard.so")
        .canonicalize()
        .unwrap();
    assert!(
        maps.contains(installed.to_str().unwrap()),
        "installed library not mapped:\n{maps}"
    );
    assert!(!maps.contains("target/release/libjitguard.so"));

    // check and systemd-dropin name the installed library too.
    let o = Command::new(p.join("bin/jitguard"))
        .args(["systemd-dropin", "myjit.service"])
        .env_remove("JITGUARD_LIB")
        .output()
        .unwrap();
    let dropin = String::from_utf8_lossy(&o.stdout);
    assert!(
        dropin.contains(&format!("Environment=LD_PRELOAD={}", installed.display())),
        "{dropin}"
    );
}

#[test]
fn the_man_page_renders() {
    let page = prefix().join("share/man/man1/jitguard.1");
    let out = if have_tool("the_man_page_renders", "man", "man-db") {
        Command::new("man")
            .arg("-l")
            .arg(&page)
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "80")
            .output()
            .unwrap()
    } else if have_tool("the_man_page_renders", "groff", "groff-base") {
        Command::new("groff")
            .args(["-man", "-Tutf8", "-ww"])
            .arg(&page)
            .output()
            .unwrap()
    } else {
        return;
    };
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    // man may render bold with overstrikes when not on a terminal.
    let plain: String = {
        let b = text.as_bytes();
        let mut s = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if i + 2 < b.len() && b[i + 1] == 8 {
                i += 2;
                continue;
            }
            s.push(b[i]);
            i += 1;
        }
        String::from_utf8_lossy(&s).into_owned()
    };
    for want in [
        "JITGUARD(1)",
        "jitguard status",
        "JITGUARD_REPORT",
        "/etc/jitguard.conf",
        "/etc/ld.so.preload",
    ] {
        assert!(plain.contains(want), "{want} not in:\n{plain}");
    }
    let warn = String::from_utf8_lossy(&out.stderr);
    assert!(!warn.contains("warning"), "{warn}");
}
