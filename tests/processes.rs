//! Threads, fork and exec under jitguard.

mod common;
use common::*;
use std::process::Command;

#[test]
fn threads_emit_and_run_concurrently() {
    let bin = example("toyjit");
    let args = ["--funcs", "400", "--threads", "4"];
    let want = stock(&bin, &args);
    for backend in backends() {
        for _ in 0..3 {
            let got = guarded(&bin, &args, &[("JITGUARD_BACKEND", backend)]);
            assert_eq!(got.stdout, want.stdout, "{backend}: {}", got.stderr);
            assert_eq!(got.code, Some(0));
        }
    }
}

#[test]
fn forked_child_stays_protected() {
    let bin = example("toyjit");
    let args = ["--funcs", "200", "--fork"];
    let want = stock(&bin, &args);
    for backend in backends() {
        let (got, files) = guarded_with_pid_stats(&bin, &args, backend, &format!("fork-{backend}"));
        assert_eq!(got.stdout, want.stdout, "{}", got.stderr);
        // _exit in the child skips destructors: the parent's file is there,
        // and the child's writes were handled (its output is right).
        assert!(!files.is_empty());
        assert!(got.stdout.contains("child checksum"));
    }
}

#[test]
fn exec_keeps_the_new_image_protected() {
    let bin = example("toyjit");
    let args = ["--funcs", "32", "--exec"];
    let want = stock(&bin, &args);
    for backend in backends() {
        let (got, files) = guarded_with_pid_stats(&bin, &args, backend, &format!("exec-{backend}"));
        assert_eq!(got.stdout, want.stdout, "{}", got.stderr);
        // exec replaces the image in the same pid: the new image writes the
        // stats file, and it saw its own 16 functions' writes.
        assert_eq!(files.len(), 1, "{files:?}");
        assert!(stat(&files[0], "write_faults") >= 16);
        assert!(stat(&files[0], "regions") >= 1);
    }
}

#[test]
fn a_signal_storm_whose_handler_writes_code_during_emission() {
    // A 5 kHz timer whose handler emits into the guarded region while the
    // main thread emits too: jitguard's handler must never nest the
    // program's handler inside an open window, and both emitters finish.
    let bin = example("toyjit");
    let args = ["--funcs", "300", "--storm"];
    let want = stock(&bin, &args);
    assert!(
        want.stdout.contains("storm: handler code ran 1"),
        "{want:?}"
    );
    for backend in backends() {
        let got = guarded(&bin, &args, &[("JITGUARD_BACKEND", backend)]);
        assert_eq!(got.stdout, want.stdout, "{backend}: {}", got.stderr);
    }
}

#[test]
fn a_1_gib_reservation_stays_one_cheap_mapping() {
    // V8-style: a huge RWX reservation with a few pages written. Lazy
    // keying keeps the whole reservation one mapping until pages are
    // written; only written pages split off.
    let bin = example("toyjit");
    let args = ["--funcs", "4", "--reserve", "1024"];
    let want = stock(&bin, &args);
    let base: i64 = mappings(&want.stderr);
    for backend in backends() {
        let t = std::time::Instant::now();
        let got = guarded(&bin, &args, &[("JITGUARD_BACKEND", backend)]);
        let took = t.elapsed();
        assert_eq!(got.stdout, want.stdout, "{backend}: {}", got.stderr);
        let n = mappings(&got.stderr);
        // 1 GiB / 256 KiB = 4096 pages written: at worst each written page
        // becomes a mapping of its own plus the gap after it (its own key
        // under pkey; under mprotect, kernels before 6.18 do not merge a
        // resealed page back). The untouched 1 GiB stays one mapping.
        let limit = base + 2 * 4096 + 64;
        assert!(n <= limit, "{backend}: {n} mappings (stock {base})");
        assert!(took.as_secs() < 20, "{backend}: {took:?}");
    }
}

fn mappings(stderr: &str) -> i64 {
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("mappings: "))
        .unwrap_or_else(|| panic!("no mappings line in {stderr}"))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn a_thread_started_before_jitguard_is_sealed_and_can_emit() {
    // The later LD_PRELOAD entry is initialised first: this library's
    // thread exists before jitguard's constructor allocates its keys.
    let early = example_with("earlythread", "libearlythread.so", &["-shared", "-fPIC"]);
    let sleep = std::path::Path::new("/bin/sleep");
    let want = Command::new(sleep)
        .arg("1")
        .env("LD_PRELOAD", &early)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&want.stdout),
        "early thread: read 0, ran 42\n"
    );
    for backend in backends() {
        let stats = tmp(&format!("early-{backend}.json"));
        let got = Command::new(sleep)
            .arg("1")
            .env(
                "LD_PRELOAD",
                format!("{}:{}", lib().display(), early.display()),
            )
            .env("JITGUARD_BACKEND", backend)
            .env("JITGUARD_STATS", &stats)
            .output()
            .unwrap();
        assert_eq!(
            got.stdout,
            want.stdout,
            "{backend}: {}",
            String::from_utf8_lossy(&got.stderr)
        );
        assert!(
            stat(&stats, "write_faults") >= 1,
            "{backend}: the early thread's write went through jitguard"
        );
        if backend == "pkey" {
            // Its first access (a read) hit access-disabled keys and was
            // sealed in place: reads allowed, writes still faulting.
            assert!(stat(&stats, "seal_fixups") >= 1);
        }
    }
}
