//! Programs that early versions of jitguard broke (found in review): each
//! scenario of examples/hostile.c prints the same line and exits the same
//! way with and without jitguard, on every backend.

mod common;
use common::*;

fn same(scenario: &str) {
    let want = same_as_stock("hostile", scenario);
    assert_eq!(want.code, Some(0), "{scenario} without jitguard: {want:?}");
}

#[test]
fn a_thread_with_every_signal_blocked_emits_code() {
    same("blocked");
}

#[test]
fn the_programs_own_sigsegv_handler_emits_code() {
    same("segvpatch");
}

#[test]
fn a_handler_that_longjmps_out_of_an_open_window_leaves_nothing_open() {
    same("longjmp");
}

#[test]
fn rep_movs_from_an_unreadable_source_faults_as_it_would() {
    same("repsrc");
}

#[test]
fn an_instruction_that_writes_its_own_next_page() {
    same("xpage");
}

#[test]
fn sigaction_with_the_same_struct_for_new_and_old() {
    same("alias");
}

#[test]
fn ssignal_does_not_replace_jitguards_handler() {
    same("ssignal");
}

#[test]
fn a_blocked_sigsegv_is_reported_blocked_and_jit_writes_still_work() {
    same("masks");
}

#[test]
fn an_execstack_program_with_threads_runs() {
    // -z execstack: the main stack and glibc's thread stacks are W+X, and
    // must never be write-protected.
    let bin = example_with("toyjit", "toyjit-execstack", &["-z", "execstack"]);
    let args = ["--funcs", "100", "--threads", "4"];
    let want = stock(&bin, &args);
    assert_eq!(want.code, Some(0));
    for backend in backends() {
        let got = guarded(&bin, &args, &[("JITGUARD_BACKEND", backend)]);
        assert_eq!(got.stdout, want.stdout, "{backend}: {}", got.stderr);
        assert_eq!(got.code, Some(0), "{backend}: {got:?}");
    }
}

#[test]
fn sigset_sig_hold_is_honoured_and_jit_writes_still_work() {
    same("sighold");
}

#[test]
fn a_pkey_mprotect_the_kernel_refuses_changes_nothing() {
    // Regression: under mprotect, a refused pkey_mprotect (a key never
    // allocated) still took the page out of guard with the new protection
    // (RW, no X): the program's next call into its code died.
    same("bad-pkey");
}

#[test]
fn rep_emulation_racing_an_executing_thread_is_jitguards_own() {
    // Regression: under mprotect, a thread executing a page that the REP
    // emulation held open sealed it mid-copy; the emulation's next store
    // faulted inside libc's memset, named a frame outside jitguard's
    // trusted REP code, and was denied (the process died).
    rep_race("rep_race", &["2000"], 1);
}

#[test]
fn rep_emulation_racing_an_executing_thread_fits_a_small_signal_stack() {
    // Regression: the emulation's refault was judged by a second writer
    // walk nested on the first, which overflowed BEAM-sized (13504-byte)
    // alternate signal stacks: the process died by SIGSEGV, no report (in
    // about one run in three, so eight runs).
    rep_race("rep_race_altstack", &["3000", "13504"], 8);
}

#[test]
fn rep_emulation_beside_a_second_writer_of_its_pages_is_not_tampering() {
    // Regression: the attestation check of the REP emulation's pages ran
    // after it had opened them (under mprotect: writable by every thread),
    // so the other writer's stores landing meanwhile read as tampering and
    // the process was killed (every run; WAMR's sqlite_bench about one run
    // in eight under strace, its compiler threads sharing code pages).
    rep_race_with(
        "rep_neighbour",
        "rep_neighbour",
        &["2000"],
        3,
        "symbol writer\nsymbol patcher\n",
    );
}

fn rep_race(name: &str, args: &[&str], times: usize) {
    rep_race_with("rep_race", name, args, times, "symbol writer\n");
}

fn rep_race_with(example_name: &str, name: &str, args: &[&str], times: usize, profile_text: &str) {
    let bin = example(example_name);
    let profile = tmp(&format!("{name}.profile"));
    std::fs::write(&profile, profile_text).unwrap();
    let want = stock(&bin, args);
    assert_eq!(want.code, Some(0), "{want:?}");
    for backend in backends().into_iter().flat_map(|b| vec![b; times]) {
        let got = guarded(
            &bin,
            args,
            &[
                ("JITGUARD_BACKEND", backend),
                ("JITGUARD_PROFILE", profile.to_str().unwrap()),
            ],
        );
        assert_eq!(
            (got.code, got.signal),
            (Some(0), None),
            "{backend}: {}",
            got.stderr
        );
        assert_eq!(got.stdout, want.stdout, "{backend}");
    }
}
