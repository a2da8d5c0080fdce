//! Signals stay the program's: every scenario of examples/sigprobe.c ends
//! the same way, with the same output, exit status or fatal signal, with
//! and without jitguard.

mod common;
use common::*;

fn same(scenario: &str) {
    same_as_stock("sigprobe", scenario);
}

fn dies_by_segv(scenario: &str) {
    let want = stock(&example("sigprobe"), &[scenario]);
    assert_eq!(
        want.signal,
        Some(libc_sigsegv()),
        "{scenario} without jitguard: {want:?}"
    );
    same(scenario);
}

fn libc_sigsegv() -> i32 {
    11
}

#[test]
fn guard_page_probe_with_siglongjmp() {
    same("probe");
}

#[test]
fn sigaction_query_sees_the_programs_own_handler() {
    let got = guarded(&example("sigprobe"), &["query"], &[]);
    assert!(
        got.stdout
            .contains("handler ours 1, siginfo 1, nodefer 1, usr1 in mask 1"),
        "{got:?}"
    );
    same("query");
}

#[test]
fn null_dereference_still_dies_by_sigsegv() {
    dies_by_segv("null");
}

#[test]
fn sig_ign_cannot_ignore_a_real_fault() {
    dies_by_segv("ign");
}

#[test]
fn sa_resethand_is_honoured() {
    dies_by_segv("resethand");
}

#[test]
fn sysv_signal_is_one_shot() {
    dies_by_segv("sysv");
}

#[test]
fn handler_can_edit_the_context() {
    same("ctxedit");
}

#[test]
fn signal_api_installs_and_returns_the_previous_handler() {
    same("signal");
}

#[test]
fn sigaltstack_is_used() {
    let got = guarded(&example("sigprobe"), &["altstack"], &[]);
    assert!(got.stdout.contains("on alternate stack 1"), "{got:?}");
    same("altstack");
}

#[test]
fn sa_mask_and_sa_nodefer_are_honoured() {
    same("mask");
}

#[test]
fn programs_own_sigtrap_handler_gets_int3() {
    same("trap");
}

#[test]
fn jit_writes_interleaved_with_the_programs_own_faults() {
    let bin = example("sigprobe");
    for backend in backends() {
        let (got, stats) = guarded_with_stats(
            &bin,
            &["jit"],
            backend,
            &[],
            &format!("sigprobe-jit-{backend}"),
        );
        assert_eq!(got.stdout, "jit: sum 19900, probes 200\n", "{got:?}");
        assert!(
            stat(&stats, "write_faults") >= 200,
            "jitguard saw the JIT writes"
        );
        assert!(
            stat(&stats, "chained_signals") >= 200,
            "and passed the program's faults on"
        );
    }
}

#[test]
fn sent_sigsegv_with_default_action_kills() {
    dies_by_segv("kill");
}
