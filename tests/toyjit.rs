//! The toy JIT under jitguard: same output, pages really protected, write
//! faults counted, REP string writes completed in one go.

mod common;
use common::*;

const ARGS: &[&str] = &[
    "--funcs",
    "400",
    "--pages",
    "64",
    "--blob",
    "96",
    "--repatch",
];

#[test]
fn same_output_with_and_without_jitguard_for_every_backend_and_policy() {
    let bin = example("toyjit");
    let want = stock(&bin, ARGS);
    assert_eq!(want.code, Some(0), "{want:?}");
    assert!(want.stdout.contains("functions: 400"));
    for backend in backends() {
        for policy in ["hashed", "single"] {
            let (got, stats) = guarded_with_stats(
                &bin,
                ARGS,
                backend,
                &[("JITGUARD_POLICY", policy)],
                &format!("toyjit-{backend}-{policy}"),
            );
            assert_eq!(
                got.stdout, want.stdout,
                "{backend}/{policy}: {}",
                got.stderr
            );
            assert_eq!(got.code, Some(0), "{backend}/{policy}: {got:?}");
            assert_eq!(stat_text(&stats, "backend"), backend);
            // Every one of the 400 functions is written after sealing.
            assert!(stat(&stats, "write_faults") >= 400, "{backend}/{policy}");
            assert!(stat(&stats, "opens") >= 400);
            assert!(stat(&stats, "regions") >= 2, "code region and blob");
            assert_eq!(stat(&stats, "denials"), 0);
        }
    }
}

#[test]
fn a_10_mib_memset_costs_a_handful_of_faults_not_millions() {
    let bin = example("toyjit");
    let args = ["--funcs", "4", "--big-memset", "10"];
    let want = stock(&bin, &args);
    for backend in backends() {
        let (got, stats) =
            guarded_with_stats(&bin, &args, backend, &[], &format!("bigmemset-{backend}"));
        assert_eq!(got.stdout, want.stdout, "{}", got.stderr);
        let faults = stat(&stats, "write_faults");
        assert!(faults < 200, "{backend}: {faults} write faults");
        assert!(stat(&stats, "rep_emulations") >= 1);
        assert!(
            stat(&stats, "rep_bytes") >= 10 << 20,
            "the whole 10 MiB went through one emulated REP"
        );
    }
}

#[test]
fn mprotect_backend_leaves_no_guarded_page_writable() {
    // The kernel's own view: after the run every page of the code region
    // is mapped without write (sealed), though the program asked for RWX.
    let bin = example("toyjit");
    let smaps = tmp("toyjit-mprotect.smaps");
    let got = guarded(
        &bin,
        &["--funcs", "400", "--smaps", smaps.to_str().unwrap()],
        &[("JITGUARD_BACKEND", "mprotect")],
    );
    assert_eq!(got.code, Some(0), "{got:?}");
    let region = hex_line(&got.stdout, "region");
    let maps = jitguard::maps::parse_smaps(&std::fs::read_to_string(&smaps).unwrap());
    let mut covered = 0;
    for m in maps
        .iter()
        .filter(|m| m.start < region[1] && region[0] < m.end)
    {
        assert!(
            !m.write,
            "page range {:#x}-{:#x} is writable",
            m.start, m.end
        );
        assert!(m.exec && m.read);
        covered += m.end.min(region[1]) - m.start.max(region[0]);
    }
    assert_eq!(covered, region[1] - region[0]);
}

#[test]
fn pkey_pages_are_keyed_hashed_many_keys_no_adjacent_pair_alike() {
    if !need_pku("pkey_pages_are_keyed_hashed_many_keys_no_adjacent_pair_alike") {
        return;
    }
    let bin = example("toyjit");
    let smaps = tmp("toyjit-hashed.smaps");
    let got = guarded(
        &bin,
        &[
            "--funcs",
            "400",
            "--pages",
            "64",
            "--smaps",
            smaps.to_str().unwrap(),
        ],
        &[("JITGUARD_BACKEND", "pkey"), ("JITGUARD_POLICY", "hashed")],
    );
    assert_eq!(got.code, Some(0), "{got:?}");
    let region = hex_line(&got.stdout, "region");
    let code_end = hex_line(&got.stdout, "code_end")[0];
    let maps = jitguard::maps::parse_smaps(&std::fs::read_to_string(&smaps).unwrap());
    let keys = jitguard::maps::page_keys(&maps, region[0], region[1]);
    assert!(
        keys.iter().all(|k| k.is_some()),
        "every page has a ProtectionKey line"
    );
    assert!(
        keys.iter().all(|k| *k != Some(0)),
        "no page of the region under key 0: {keys:?}"
    );
    let code_pages = ((code_end - region[0]) / 4096) as usize;
    let code_keys: std::collections::BTreeSet<_> = keys[..code_pages].iter().collect();
    assert!(
        code_keys.len() >= 8,
        "code pages under only {} keys",
        code_keys.len()
    );
    for w in keys[..code_pages].windows(2) {
        assert_ne!(w[0], w[1], "two adjacent code pages share a key: {keys:?}");
    }
}

#[test]
fn pkey_single_policy_puts_the_region_under_one_key() {
    if !need_pku("pkey_single_policy_puts_the_region_under_one_key") {
        return;
    }
    let bin = example("toyjit");
    let smaps = tmp("toyjit-single.smaps");
    let got = guarded(
        &bin,
        &["--funcs", "400", "--smaps", smaps.to_str().unwrap()],
        &[("JITGUARD_BACKEND", "pkey"), ("JITGUARD_POLICY", "single")],
    );
    assert_eq!(got.code, Some(0), "{got:?}");
    let region = hex_line(&got.stdout, "region");
    let maps = jitguard::maps::parse_smaps(&std::fs::read_to_string(&smaps).unwrap());
    let keys: std::collections::BTreeSet<_> =
        jitguard::maps::page_keys(&maps, region[0], region[1])
            .into_iter()
            .collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(!keys.contains(&Some(0)));
}

#[test]
fn regions_follow_munmap_mremap_map_fixed_and_mprotect() {
    let bin = example("toyjit");
    let args = ["--funcs", "8", "--remap"];
    let want = stock(&bin, &args);
    assert!(want.stdout.contains("remap: sum 53"), "{want:?}");
    for backend in backends() {
        let (got, stats) =
            guarded_with_stats(&bin, &args, backend, &[], &format!("remap-{backend}"));
        assert_eq!(got.stdout, want.stdout, "{backend}: {}", got.stderr);
        assert_eq!(got.code, Some(0));
        // Code region, the remap region, and the page made W+X again.
        assert!(stat(&stats, "regions") >= 3, "{backend}");
    }
}

#[test]
fn a_store_straddling_two_pages_opens_both_and_reseals_both() {
    let bin = example("toyjit");
    let args = ["--funcs", "4", "--straddle"];
    let want = stock(&bin, &args);
    for backend in backends() {
        let (got, stats) =
            guarded_with_stats(&bin, &args, backend, &[], &format!("straddle-{backend}"));
        assert_eq!(got.stdout, want.stdout, "{backend}: {}", got.stderr);
        // Nine straddling stores each fault twice (once per page) inside one
        // window; every window is resealed.
        let (faults, opens, reseals) = (
            stat(&stats, "write_faults"),
            stat(&stats, "opens"),
            stat(&stats, "reseals"),
        );
        assert!(
            faults >= opens + 9,
            "{backend}: {faults} faults, {opens} opens"
        );
        assert_eq!(
            opens,
            reseals + stat(&stats, "rep_emulations"),
            "{backend}: every window resealed"
        );
    }
}
