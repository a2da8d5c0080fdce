//! Denials reach a real system log daemon: the test starts its own
//! rsyslogd (imuxsock on a socket of its own, writing to a file), points
//! jitguard at that socket with JITGUARD_SYSLOG_SOCKET, and provokes a
//! denial with examples/attacks.c.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

struct Rsyslog {
    pid: i32,
    socket: PathBuf,
    log: PathBuf,
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        // kill(1) on the daemon this test started, by its pid.
        let _ = Command::new("kill").arg(self.pid.to_string()).status();
    }
}

fn start_rsyslog(name: &str) -> Option<Rsyslog> {
    if !have_tool(name, "rsyslogd", "rsyslog") {
        return None;
    }
    let dir = tmp(&format!("rsyslog-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let socket = dir.join("log.sock");
    let log = dir.join("messages");
    let pidfile = dir.join("rsyslogd.pid");
    let conf = dir.join("rsyslog.conf");
    std::fs::write(
        &conf,
        format!(
            "global(workDirectory=\"{d}\")\n\
             module(load=\"imuxsock\" SysSock.Use=\"off\")\n\
             input(type=\"imuxsock\" Socket=\"{s}\" CreatePath=\"on\")\n\
             authpriv.*;auth.* action(type=\"omfile\" file=\"{l}\" template=\"RSYSLOG_FileFormat\")\n\
             template(name=\"pri\" type=\"string\" string=\"%syslogfacility-text%.%syslogseverity-text% %syslogtag%%msg%\\n\")\n\
             *.* action(type=\"omfile\" file=\"{l}.pri\" template=\"pri\")\n",
            d = dir.display(),
            s = socket.display(),
            l = log.display()
        ),
    )
    .unwrap();
    let st = Command::new("rsyslogd")
        .arg("-f")
        .arg(&conf)
        .arg("-i")
        .arg(&pidfile)
        .status()
        .expect("rsyslogd");
    assert!(st.success(), "rsyslogd did not start");
    let t0 = Instant::now();
    while !(socket.exists() && pidfile.exists()) {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "rsyslogd made no socket"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    Some(Rsyslog { pid, socket, log })
}

fn wait_for_line(log: &Path, want: &str) -> String {
    let t0 = Instant::now();
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(l) = text.lines().find(|l| l.contains(want)) {
            return l.to_string();
        }
        if t0.elapsed() > Duration::from_secs(10) {
            panic!("no {want:?} in {}:\n{text}", log.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Learns the attacks example's benign profile (mprotect backend).
fn attacks_profile(name: &str) -> PathBuf {
    let bin = example("attacks");
    let profile = tmp(&format!("syslog-attacks-{name}.profile"));
    let _ = std::fs::remove_file(&profile);
    let r = guarded(
        &bin,
        &["benign"],
        &[
            ("JITGUARD_MODE", "learn"),
            ("JITGUARD_BACKEND", "mprotect"),
            ("JITGUARD_PROFILE", profile.to_str().unwrap()),
        ],
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    profile
}

fn denial(report: Option<&str>, d: &Rsyslog, via_config_file: bool) -> (Run, u32) {
    let bin = example("attacks");
    let profile = attacks_profile("denial");
    let conf = tmp("syslog-jitguard.conf");
    let mut env: Vec<(&str, String)> = vec![
        ("JITGUARD_BACKEND", "mprotect".into()),
        ("JITGUARD_PROFILE", profile.to_str().unwrap().into()),
    ];
    let sock = d.socket.to_str().unwrap().to_string();
    if via_config_file {
        std::fs::write(
            &conf,
            format!(
                "report = {}\nsyslog_socket = {sock}\n",
                report.unwrap_or("auto")
            ),
        )
        .unwrap();
    } else {
        env.push(("JITGUARD_SYSLOG_SOCKET", sock));
        if let Some(r) = report {
            env.push(("JITGUARD_REPORT", r.into()));
        }
    }
    let mut c = Command::new(bin);
    c.arg("other-thread").env("LD_PRELOAD", lib());
    for k in [
        "JITGUARD_REPORT",
        "JITGUARD_SYSLOG_SOCKET",
        "JITGUARD_STATS",
    ] {
        c.env_remove(k);
    }
    c.env(
        "JITGUARD_CONFIG",
        if via_config_file {
            conf.to_str().unwrap()
        } else {
            "/dev/null"
        },
    );
    for (k, v) in &env {
        c.env(k, v);
    }
    let child = c
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let run: Run = child.wait_with_output().unwrap().into();
    assert_eq!(run.signal, Some(11), "denied: dies by SIGSEGV: {run:?}");
    (run, pid)
}

#[test]
fn a_denial_reaches_rsyslog_with_tag_and_pid() {
    let Some(d) = start_rsyslog("denial") else {
        return;
    };
    // Default report destination: stderr is a pipe here (no terminal), so
    // the report goes to stderr and to the system log.
    let (run, pid) = denial(None, &d, false);
    assert!(
        run.stderr.contains("jitguard: denied write"),
        "{}",
        run.stderr
    );
    let line = wait_for_line(&d.log, &format!("jitguard[{pid}]: denied write at 0x"));
    assert!(line.contains("writer rogue_store"), "{line}");
    assert!(line.contains("writer profile: file:"), "{line}");
    // Facility authpriv, severity err, tag jitguard[PID].
    wait_for_line(
        &d.log.with_extension("pri"),
        &format!("authpriv.err jitguard[{pid}]: denied write"),
    );

    // report = syslog from the configuration file: nothing on stderr.
    let (run, pid) = denial(Some("syslog"), &d, true);
    assert!(!run.stderr.contains("denied write"), "{}", run.stderr);
    wait_for_line(&d.log, &format!("jitguard[{pid}]: denied write at 0x"));

    // Default again, with stderr closed (a daemon's): the log still gets it.
    let bin = example("attacks");
    let profile = attacks_profile("denial");
    let child = Command::new("sh")
        .arg("-c")
        .arg(format!("exec 2>&- {} other-thread", bin.display()))
        .env("LD_PRELOAD", lib())
        .env("JITGUARD_CONFIG", "/dev/null")
        .env("JITGUARD_BACKEND", "mprotect")
        .env("JITGUARD_PROFILE", &profile)
        .env("JITGUARD_SYSLOG_SOCKET", &d.socket)
        .env_remove("JITGUARD_REPORT")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let _ = child.wait_with_output();
    wait_for_line(&d.log, &format!("jitguard[{pid}]: denied write at 0x"));

    // report = stderr: nothing in the log.
    let (run, pid) = denial(Some("stderr"), &d, false);
    assert!(run.stderr.contains("jitguard: denied write"));
    std::thread::sleep(Duration::from_millis(500));
    let text = std::fs::read_to_string(&d.log).unwrap_or_default();
    assert!(!text.contains(&format!("jitguard[{pid}]")), "{text}");
}

#[test]
fn an_unreachable_system_log_is_harmless() {
    let bin = example("attacks");
    let profile = attacks_profile("unreachable");
    let r = guarded(
        &bin,
        &["other-thread"],
        &[
            ("JITGUARD_BACKEND", "mprotect"),
            ("JITGUARD_PROFILE", profile.to_str().unwrap()),
            ("JITGUARD_REPORT", "both"),
            ("JITGUARD_SYSLOG_SOCKET", "/nonexistent/log.sock"),
        ],
    );
    assert_eq!(r.signal, Some(11), "{r:?}");
    assert_eq!(
        r.stderr.matches("jitguard: denied write").count(),
        1,
        "{}",
        r.stderr
    );
    // A benign program with reports to a missing log runs as usual.
    let want = stock(&bin, &["benign"]);
    let got = guarded(
        &bin,
        &["benign"],
        &[
            ("JITGUARD_PROFILE", profile.to_str().unwrap()),
            ("JITGUARD_REPORT", "syslog"),
            ("JITGUARD_SYSLOG_SOCKET", "/nonexistent/log.sock"),
        ],
    );
    assert_eq!((got.stdout, got.code), (want.stdout, want.code));
}
