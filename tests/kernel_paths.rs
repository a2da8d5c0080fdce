//! Kernel paths around the seal (examples/kernel_paths.c): the process's
//! own `mem` file opened for writing by every spelling, process_vm_writev
//! into itself, and system calls that make the kernel write into code
//! memory. Each scenario first runs without jitguard, where the attack
//! must change the code (the control), then under jitguard on every
//! backend, enforcing the profile learned from the benign run.

mod common;

use common::*;
use std::path::{Path, PathBuf};

const LANDED: &str = "answer() = 1337";
const INTACT: &str = "answer() = 42";
const OPEN_DENIED: &str = "jitguard: denied opening the process's own memory for writing";

fn bin() -> PathBuf {
    example("kernel_paths")
}

/// Learns the benign run's profile (both trusted writers, nothing rogue).
fn learn(backend: &str, test: &str) -> PathBuf {
    let profile = tmp(&format!("kernel-paths-{test}-{backend}.profile"));
    let _ = std::fs::remove_file(&profile);
    let got = guarded(
        &bin(),
        &["benign"],
        &[
            ("JITGUARD_BACKEND", backend),
            ("JITGUARD_MODE", "learn"),
            ("JITGUARD_PROFILE", profile.to_str().unwrap()),
        ],
    );
    assert_eq!(got.code, Some(0), "learn run: {}", got.stderr);
    let text = std::fs::read_to_string(&profile).expect("learn mode wrote the profile");
    assert!(text.contains("emit_function"), "{text}");
    assert!(
        text.contains("emit_by_read"),
        "the gated read is learned: {text}"
    );
    assert!(!text.contains("rogue"), "{text}");
    profile
}

fn dir_for(scenario: &str, backend: &str) -> PathBuf {
    let d = tmp(&format!("kernel-paths-{scenario}-{backend}"));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn enforce(backend: &str, profile: &Path, scenario: &str, extra: &[(&str, &str)]) -> Run {
    let dir = dir_for(scenario, backend);
    let mut env = vec![
        ("JITGUARD_BACKEND", backend),
        ("JITGUARD_PROFILE", profile.to_str().unwrap()),
    ];
    env.extend_from_slice(extra);
    guarded(&bin(), &[scenario, dir.to_str().unwrap()], &env)
}

/// Without jitguard the attack lands.
fn control(scenario: &str) {
    let dir = dir_for(scenario, "stock");
    let got = stock(&bin(), &[scenario, dir.to_str().unwrap()]);
    assert_eq!(got.code, Some(0), "{scenario}: {}", got.stderr);
    assert!(
        got.stdout.contains(LANDED),
        "control {scenario}: {}",
        got.stdout
    );
}

/// How a report names the call: `read()`, or `syscall(SYS_read)` as is.
fn through(hook: &str) -> String {
    if hook.ends_with(')') {
        format!("through {hook}")
    } else {
        format!("through {hook}()")
    }
}

fn lines<'a>(stderr: &'a str, prefix: &str) -> Vec<&'a str> {
    stderr.lines().filter(|l| l.starts_with(prefix)).collect()
}

/// The open fails with EACCES, the code is unchanged, one report names
/// the caller.
fn open_refused(scenario: &str, caller: &str, hook: &str) {
    control(scenario);
    for backend in backends() {
        let profile = learn(backend, scenario);
        let got = enforce(backend, &profile, scenario, &[]);
        let what = format!("{scenario} on {backend}");
        assert_eq!(got.code, Some(0), "{what}: {}", got.stderr);
        assert!(
            got.stdout.contains("refused: Permission denied"),
            "{what}: {}",
            got.stdout
        );
        assert!(got.stdout.contains(INTACT), "{what}: {}", got.stdout);
        assert!(!got.stdout.contains(LANDED), "{what}: {}", got.stdout);
        let r = lines(&got.stderr, OPEN_DENIED);
        assert_eq!(r.len(), 1, "{what}: {}", got.stderr);
        for part in [caller, &through(hook), "by thread ", "; refused"] {
            assert!(r[0].contains(part), "{what}: `{part}` missing in {}", r[0]);
        }
    }
}

#[test]
fn proc_self_mem_by_absolute_path_is_refused() {
    open_refused("mem-abs", "writer rogue_open", "open");
}

#[test]
fn proc_pid_mem_is_refused() {
    open_refused("mem-pid", "writer rogue_open", "open");
}

#[test]
fn a_relative_path_from_a_proc_directory_fd_is_refused() {
    open_refused("mem-relative", "writer rogue_openat", "openat");
}

#[test]
fn a_symlink_to_proc_self_mem_is_refused() {
    open_refused("mem-symlink", "writer rogue_open", "open");
}

#[test]
fn proc_thread_self_mem_and_task_mem_are_refused() {
    open_refused("mem-thread-self", "writer rogue_open", "open");
    open_refused("mem-task", "writer rogue_open", "open");
}

#[test]
fn reopening_a_read_only_mem_fd_for_writing_is_refused() {
    open_refused("mem-fdreopen", "writer rogue_open", "open");
}

#[test]
fn fopen_of_proc_self_mem_for_update_is_refused() {
    open_refused("mem-fopen", "writer rogue_fopen", "fopen");
}

#[test]
fn a_spawned_child_cannot_inherit_a_write_handle_on_the_parents_memory() {
    // The file action runs in the child while it still shares the parent's
    // address space; the descriptor it opens outlives the exec (sh + dd).
    control("spawn");
    for backend in backends() {
        let profile = learn(backend, "spawn");
        let got = enforce(backend, &profile, "spawn", &[]);
        assert!(
            got.stdout
                .contains("spawn file action: refused: Permission denied"),
            "{backend}: {}\n{}",
            got.stdout,
            got.stderr
        );
        assert!(got.stdout.contains(INTACT), "{backend}: {}", got.stdout);
        let r = lines(
            &got.stderr,
            "jitguard: denied a spawn file action opening the process's own memory",
        );
        assert_eq!(r.len(), 1, "{backend}: {}", got.stderr);
        assert!(r[0].contains("writer rogue_spawn"), "{}", r[0]);
    }
}

#[test]
fn a_vfork_child_cannot_open_the_shared_memory_for_writing() {
    control("vfork");
    for backend in backends() {
        let profile = learn(backend, "vfork");
        let got = enforce(backend, &profile, "vfork", &[]);
        assert!(
            got.stdout.contains("vfork child: exit 77 (open refused)"),
            "{backend}: {}\n{}",
            got.stdout,
            got.stderr
        );
        assert!(got.stdout.contains(INTACT), "{backend}: {}", got.stdout);
        assert_eq!(lines(&got.stderr, OPEN_DENIED).len(), 1, "{}", got.stderr);
    }
}

#[test]
fn a_vfork_childs_process_vm_writev_to_its_parent_is_refused() {
    // Another pid, the same address space: told by kcmp.
    control("vfork-pvw");
    for backend in backends() {
        let profile = learn(backend, "vfork-pvw");
        let got = enforce(backend, &profile, "vfork-pvw", &[]);
        assert!(
            got.stdout
                .contains("vfork child's process_vm_writev: exit 77"),
            "{backend}: {}\n{}",
            got.stdout,
            got.stderr
        );
        assert!(got.stdout.contains(INTACT), "{backend}: {}", got.stdout);
    }
}

#[test]
fn the_syscall_wrapper_is_judged_like_the_functions() {
    open_refused(
        "raw-openat",
        "writer rogue_raw_openat",
        "syscall(SYS_openat)",
    );
    open_refused(
        "raw-openat2",
        "writer rogue_raw_openat2",
        "syscall(SYS_openat2)",
    );
    write_call_refused("raw-read", "writer rogue_raw_read", "syscall(SYS_read)");
    control("raw-pvw");
    for backend in backends() {
        let profile = learn(backend, "raw-pvw");
        let got = enforce(backend, &profile, "raw-pvw", &[]);
        assert!(
            got.stdout
                .contains("syscall(SYS_process_vm_writev): Operation not permitted"),
            "{backend}: {}\n{}",
            got.stdout,
            got.stderr
        );
        assert!(got.stdout.contains(INTACT), "{backend}: {}", got.stdout);
    }
}

#[test]
fn process_vm_writev_into_the_own_process_is_refused() {
    control("pvw");
    for backend in backends() {
        let profile = learn(backend, "pvw");
        let got = enforce(backend, &profile, "pvw", &[]);
        assert_eq!(got.code, Some(0), "{backend}: {}", got.stderr);
        assert!(
            got.stdout
                .contains("process_vm_writev: Operation not permitted"),
            "{backend}: {}",
            got.stdout
        );
        assert!(got.stdout.contains(INTACT), "{backend}: {}", got.stdout);
        let r = lines(
            &got.stderr,
            "jitguard: denied process_vm_writev into the process's own memory",
        );
        assert_eq!(r.len(), 1, "{backend}: {}", got.stderr);
        assert!(r[0].contains("writer rogue_pvw"), "{}", r[0]);
    }
}

#[test]
fn process_vm_writev_to_a_thread_id_of_the_own_process_is_refused() {
    control("pvw-tid");
    for backend in backends() {
        let profile = learn(backend, "pvw-tid");
        let got = enforce(backend, &profile, "pvw-tid", &[]);
        assert!(
            got.stdout.contains("to a thread: Operation not permitted"),
            "{backend}: {}\n{}",
            got.stdout,
            got.stderr
        );
        assert!(got.stdout.contains(INTACT), "{backend}: {}", got.stdout);
        assert!(
            got.stderr.contains("writer rogue_pvw_tid"),
            "{}",
            got.stderr
        );
    }
}

/// A system call writing into sealed code from an untrusted caller: the
/// store's report (once: at the first try), then SIGSEGV.
fn write_call_refused(scenario: &str, caller: &str, hook: &str) {
    control(scenario);
    for backend in backends() {
        let profile = learn(backend, scenario);
        let got = enforce(backend, &profile, scenario, &[]);
        let what = format!("{scenario} on {backend}");
        assert_eq!(got.signal, Some(11), "{what}: {}", got.stderr);
        assert!(!got.stdout.contains(LANDED), "{what}: {}", got.stdout);
        assert!(
            !got.stdout.contains("read probe:"),
            "killed at the first probe: {}",
            got.stdout
        );
        let r = lines(&got.stderr, "jitguard: denied write at ");
        assert_eq!(r.len(), 1, "{what}: {}", got.stderr);
        for part in ["(page 0x", caller, &through(hook), "writer profile: file:"] {
            assert!(r[0].contains(part), "{what}: `{part}` missing in {}", r[0]);
        }
    }
}

#[test]
fn a_read_probe_into_a_sealed_page_dies_at_the_first_probe() {
    write_call_refused("read-probe", "writer rogue_read_probe", "read");
}

#[test]
fn process_vm_readv_into_sealed_code_is_refused() {
    write_call_refused("pvr", "writer rogue_pvr", "process_vm_readv");
}

#[test]
fn fread_readv_recv_and_aio_into_sealed_code_are_refused() {
    write_call_refused("fread", "writer rogue_fread", "fread");
    write_call_refused("readv", "writer rogue_readv", "readv");
    write_call_refused("recv", "writer rogue_recv", "recv");
    write_call_refused("aio", "writer rogue_aio", "aio_read");
    write_call_refused("recvmsg", "writer rogue_recvmsg", "recvmsg");
}

#[test]
fn an_ordinary_recvmsg_sees_what_the_kernel_wrote_into_its_header() {
    // With code mapped the hook hands the kernel a copy of the header and
    // its iovec array: the outputs must reach the program's header.
    let want = same_as_stock("kernel_paths", "recvmsg-ok");
    assert!(
        want.stdout.contains("recvmsg: 4 bytes,") && want.stdout.contains("rights 1"),
        "{}",
        want.stdout
    );
}

#[test]
fn a_trusted_writer_reads_into_code_and_the_page_is_sealed_again() {
    let stock_run = stock(&bin(), &["trusted-read"]);
    assert!(
        stock_run
            .stdout
            .contains("after emit_by_read: answer() = 99"),
        "{}",
        stock_run.stdout
    );
    assert!(
        stock_run.stdout.contains(LANDED),
        "control: {}",
        stock_run.stdout
    );
    for backend in backends() {
        let profile = learn(backend, "trusted-read");
        let got = enforce(backend, &profile, "trusted-read", &[]);
        assert!(
            got.stdout
                .contains("emit_by_read: 6\nafter emit_by_read: answer() = 99"),
            "{backend}: the trusted read lands: {}\n{}",
            got.stdout,
            got.stderr
        );
        // The rogue store right after it, into the same page, faults: the
        // page was sealed again when read() returned.
        assert_eq!(got.signal, Some(11), "{backend}: {}", got.stderr);
        assert!(!got.stdout.contains(LANDED), "{backend}: {}", got.stdout);
        let r = lines(&got.stderr, "jitguard: denied write at ");
        assert_eq!(r.len(), 1, "{backend}: {}", got.stderr);
        assert!(r[0].contains("writer rogue_store"), "{}", r[0]);
    }
}

#[test]
fn a_gated_read_left_by_siglongjmp_leaves_nothing_open() {
    let stock_run = stock(&bin(), &["gate-longjmp"]);
    assert!(stock_run
        .stdout
        .contains("left the blocked read by siglongjmp"));
    assert!(
        stock_run.stdout.contains(LANDED),
        "control: {}",
        stock_run.stdout
    );
    for backend in backends() {
        let profile = learn(backend, "gate-longjmp");
        let got = enforce(backend, &profile, "gate-longjmp", &[]);
        assert!(
            got.stdout.contains("left the blocked read by siglongjmp"),
            "{backend}: {}\n{}",
            got.stdout,
            got.stderr
        );
        assert_eq!(got.signal, Some(11), "{backend}: {}", got.stderr);
        assert!(!got.stdout.contains(LANDED), "{backend}: {}", got.stdout);
        let r = lines(&got.stderr, "jitguard: denied write at ");
        assert_eq!(r.len(), 1, "{backend}: {}", got.stderr);
        assert!(r[0].contains("writer rogue_store"), "{}", r[0]);
    }
}

#[test]
fn the_benign_run_passes_with_its_gated_read() {
    let want = stock(&bin(), &["benign"]);
    for backend in backends() {
        let profile = learn(backend, "benign");
        let (got, stats) = guarded_with_stats(
            &bin(),
            &["benign"],
            backend,
            &[("JITGUARD_PROFILE", profile.to_str().unwrap())],
            &format!("kernel-paths-benign-{backend}"),
        );
        assert_eq!(
            (got.code, &got.stdout),
            (Some(0), &want.stdout),
            "{}",
            got.stderr
        );
        assert!(!got.stderr.contains("jitguard:"), "{}", got.stderr);
        assert_eq!(stat(&stats, "denials"), 0);
        // Without a profile the read into code memory works too.
        let plain = guarded(&bin(), &["benign"], &[("JITGUARD_BACKEND", backend)]);
        assert_eq!(plain.stdout, want.stdout, "{}", plain.stderr);
    }
}

#[test]
fn read_only_opens_of_proc_self_mem_keep_working() {
    let want = stock(&bin(), &["mem-readonly"]);
    assert!(
        want.stdout.contains("6 bytes: b8 2a 00 00 00 c3"),
        "{}",
        want.stdout
    );
    for backend in backends() {
        let profile = learn(backend, "mem-readonly");
        let got = enforce(backend, &profile, "mem-readonly", &[]);
        assert_eq!(
            (got.code, &got.stdout),
            (Some(0), &want.stdout),
            "{}",
            got.stderr
        );
        assert!(!got.stderr.contains("jitguard:"), "{}", got.stderr);
    }
}

#[test]
fn audit_mode_reports_and_lets_the_kernel_paths_run_as_stock() {
    for backend in backends() {
        let profile = learn(backend, "audit");
        let audit = [("JITGUARD_MODE", "audit")];
        let got = enforce(backend, &profile, "mem-abs", &audit);
        assert!(got.stdout.contains(LANDED), "{backend}: {}", got.stdout);
        assert_eq!(
            lines(
                &got.stderr,
                "jitguard: audited opening the process's own memory"
            )
            .len(),
            1,
            "{}",
            got.stderr
        );
        let got = enforce(backend, &profile, "read-probe", &audit);
        assert!(
            got.stdout.contains("read probe: 1 tries"),
            "{backend}: {}",
            got.stdout
        );
        assert!(got.stdout.contains(LANDED), "{backend}: {}", got.stdout);
        assert_eq!(
            lines(&got.stderr, "jitguard: audited write at ").len(),
            1,
            "{}",
            got.stderr
        );
    }
}
