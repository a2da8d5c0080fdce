//! Threads, fork and exec under jitguard.

mod common;
use common::*;

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
        let dir = tmp(&format!("fork-{backend}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let pattern = dir.join("stats.%p.json");
        let got = guarded(
            &bin,
            &args,
            &[
                ("JITGUARD_BACKEND", backend),
                ("JITGUARD_STATS", pattern.to_str().unwrap()),
            ],
        );
        assert_eq!(got.stdout, want.stdout, "{}", got.stderr);
        // _exit in the child skips destructors: the parent's file is there,
        // and the child's writes were handled (its output is right).
        let files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
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
        let dir = tmp(&format!("exec-{backend}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let pattern = dir.join("stats.%p.json");
        let got = guarded(
            &bin,
            &args,
            &[
                ("JITGUARD_BACKEND", backend),
                ("JITGUARD_STATS", pattern.to_str().unwrap()),
            ],
        );
        assert_eq!(got.stdout, want.stdout, "{}", got.stderr);
        // exec replaces the image in the same pid: the new image writes the
        // stats file, and it saw its own 16 functions' writes.
        let files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        assert!(stat(&files[0], "write_faults") >= 16);
        assert!(stat(&files[0], "regions") >= 1);
    }
}
