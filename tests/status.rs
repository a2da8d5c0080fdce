//! `jitguard status --json` finds a running guarded program and reads its
//! settings and live counters from the library's status record.

mod common;
use common::*;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// A JIT that emits N functions into an RWX region, runs them, says
/// `ready`, then waits until its stdin closes.
const LONGJIT: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 8;
    unsigned char *code = mmap(0, 16 * 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (code == MAP_FAILED) return 1;
    static const unsigned char ret42[] = {0xb8, 42, 0, 0, 0, 0xc3};
    int sum = 0;
    for (int i = 0; i < n; i++) {
        unsigned char *f = code + (i % 16) * 4096;
        memcpy(f, ret42, sizeof ret42);
        sum += ((int (*)(void))f)();
    }
    printf("ready %d\n", sum);
    fflush(stdout);
    char c;
    while (read(0, &c, 1) > 0) {}
    return 0;
}
"#;

/// Built once per test binary: the tests run in parallel, and one
/// rewriting the program while the other starts it made the start fail
/// with EACCES.
pub fn longjit() -> PathBuf {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let src = tmp("longjit.c");
        let bin = tmp("longjit");
        let part = tmp("longjit.part");
        std::fs::write(&src, LONGJIT).unwrap();
        let st = Command::new("cc")
            .args(["-O2", "-o"])
            .arg(&part)
            .arg(&src)
            .status()
            .expect("cc");
        assert!(st.success());
        std::fs::rename(&part, &bin).unwrap();
        bin
    })
    .clone()
}

/// The JSON object of `pid` in `status --json` output (one per line).
fn object_of(json: &str, pid: u32) -> Option<String> {
    json.lines()
        .map(str::trim)
        .find(|l| l.starts_with(&format!("{{\"pid\": {pid},")))
        .map(|l| l.trim_end_matches(',').to_string())
}

#[test]
fn status_lists_a_guarded_process_with_live_counters() {
    let bin = longjit();
    for backend in backends() {
        let mut child = Command::new(&bin)
            .arg("12")
            .env("LD_PRELOAD", lib())
            .env("JITGUARD_CONFIG", "/dev/null")
            .env("JITGUARD_BACKEND", backend)
            .env("JITGUARD_MODE", "audit")
            .env_remove("JITGUARD_PROFILE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready 504", "the program ran");

        let o = Command::new(cli())
            .args(["status", "--json"])
            .output()
            .unwrap();
        let json = String::from_utf8_lossy(&o.stdout).into_owned();
        let table = Command::new(cli()).arg("status").output().unwrap();
        let table = String::from_utf8_lossy(&table.stdout).into_owned();
        // End the program before asserting, so a failure leaves nothing running.
        child.stdin.take().unwrap().write_all(b"").unwrap();
        let _ = child.wait();

        assert!(o.status.success());
        let obj = object_of(&json, pid).unwrap_or_else(|| panic!("pid {pid} not in {json}"));
        for want in [
            format!("\"program\": \"{}\"", bin.display()),
            format!("\"backend\": \"{backend}\""),
            "\"mode\": \"audit\"".to_string(),
            "\"policy\": \"hashed\"".to_string(),
            "\"profile\": \"none\"".to_string(),
            "\"denials\": 0".to_string(),
            "\"tampered\": 0".to_string(),
        ] {
            assert!(obj.contains(&want), "{want} in {obj}");
        }
        let field = |name: &str| -> u64 {
            let at = obj.find(&format!("\"{name}\": ")).unwrap() + name.len() + 4;
            obj[at..]
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .unwrap()
                .parse()
                .unwrap()
        };
        assert!(field("write_faults") >= 12, "{obj}");
        assert_eq!(field("guarded_pages"), 16, "{obj}");
        assert_eq!(field("regions"), 1, "{obj}");
        let row = table
            .lines()
            .find(|l| l.split_whitespace().next() == Some(&pid.to_string()))
            .unwrap_or_else(|| panic!("{pid} not in the table:\n{table}"));
        assert!(row.contains("longjit") && row.contains(backend), "{row}");
    }
}

#[test]
fn status_says_when_a_process_is_not_guarding() {
    let bin = longjit();
    let mut child = Command::new(&bin)
        .env("LD_PRELOAD", lib())
        .env("JITGUARD_CONFIG", "/dev/null")
        .env("JITGUARD_MODE", "off")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let o = Command::new(cli())
        .args(["status", "--json"])
        .output()
        .unwrap();
    drop(child.stdin.take());
    let _ = child.wait();
    let json = String::from_utf8_lossy(&o.stdout);
    let obj = object_of(&json, pid).unwrap_or_else(|| panic!("pid {pid} not in {json}"));
    assert!(obj.contains("\"error\": \"not guarding"), "{obj}");
}
