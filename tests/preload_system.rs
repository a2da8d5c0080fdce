//! The whole machine: libjitguard.so listed in /etc/ld.so.preload, in a
//! private mount namespace (`unshare -m`) so that the real machine's file
//! is never changed. A corpus of ordinary programs (a bash script,
//! coreutils, python3, perl, git, gcc, make, sqlite3, grep -P) must give
//! the same output and exit codes as without, and no jitguard report.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const CORPUS: &str = r#"#!/bin/bash
# corpus.sh OUT WORK: runs each case in WORK, output into OUT/NAME.{out,err,rc}
set -u
OUT=$1 WORK=$2
mkdir -p "$WORK" && cd "$WORK" || exit 99
export HOME=$WORK LC_ALL=C TZ=UTC
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.org GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.org
export GIT_AUTHOR_DATE='2020-01-01T00:00:00Z' GIT_COMMITTER_DATE='2020-01-01T00:00:00Z'
run() { local name=$1; shift; "$@" >"$OUT/$name.out" 2>"$OUT/$name.err"; echo $? >"$OUT/$name.rc"; }
have() { command -v "$1" >/dev/null 2>&1; }

cat >script.sh <<'SCRIPT'
f() { local n=$1; echo $((n * n)); }
for i in 1 2 3; do f $i; done | paste -sd+ | bc 2>/dev/null || echo nobc
x=$(echo sub | tr a-z A-Z); echo "$x"
(cd /; pwd)
declare -A m=([a]=1 [b]=2); echo "${!m[@]}" | tr ' ' '\n' | sort | tr '\n' ' '; echo
exit 3
SCRIPT
run bash-script bash script.sh
seq 1 2000 >nums
run coreutils sh -c 'sort -rn nums | head -3; wc -l <nums; sha256sum nums | cut -c1-16; tac nums | tail -1; ls -1 /; stat -c %s nums; printf "%s\n" b a c | sort | uniq -c'
run false false
PY=python3; [ -x /usr/bin/python3 ] && PY=/usr/bin/python3
have $PY && run python3 $PY -c 'import json, hashlib, re; print(json.dumps({"s": sum(range(1000)), "h": hashlib.sha1(b"x").hexdigest(), "r": re.findall(r"\d+", "a1b22c333")}))'
have perl && run perl perl -e 'my %h = map { $_ => $_ ** 2 } 1..10; print join(",", map { $h{$_} } sort { $a <=> $b } keys %h), "\n"; print "ok\n" if "abc123" =~ /(\d+)/ && $1 == 123'
if have git; then
    mkdir -p repo
    run git sh -c 'cd repo && git init -q -b main . && echo hello >a && git add a && git commit -q -m first && echo more >>a && git commit -q -am second && git log --format="%H %s" && git status --short && git show --stat HEAD | tail -2'
fi
if have gcc; then
    printf '#include <stdio.h>\nint main(void){int s=0;for(int i=0;i<100;i++)s+=i;printf("%%d\\n",s);return 7;}\n' >hello.c
    run gcc-compile gcc -O2 -o hello hello.c
    run gcc-run ./hello
fi
if have make; then
    printf 'all: out.txt\n\t@cat out.txt\nout.txt: nums\n\t@wc -l nums > out.txt\n' >Makefile
    run make make -s
fi
have sqlite3 && run sqlite3 sqlite3 :memory: 'create table t(x); insert into t values (1),(2),(3); select sum(x), group_concat(x) from t;'
if [ "${WITH_GREP_P:-0}" = 1 ]; then
    # grep -P: PCRE2's JIT makes W+X memory, which jitguard guards.
    run grep-P grep -P -c '^\d*7\d*$' nums
fi
"#;

fn run_corpus(corpus: &Path, out: &Path, work: &Path, wrap: Option<&[String]>, grep_p: bool) {
    let _ = std::fs::remove_dir_all(out);
    let _ = std::fs::remove_dir_all(work);
    std::fs::create_dir_all(out).unwrap();
    let mut c = match wrap {
        Some(w) => {
            let mut c = Command::new(&w[0]);
            c.args(&w[1..]);
            c
        }
        None => Command::new("bash"),
    };
    c.arg(corpus).arg(out).arg(work);
    for k in jitguard::config::vars::ALL {
        c.env_remove(k);
    }
    c.env_remove("LD_PRELOAD")
        .env("JITGUARD_CONFIG", "/dev/null");
    c.env("WITH_GREP_P", if grep_p { "1" } else { "0" });
    let o = c.output().unwrap();
    assert!(
        o.status.success(),
        "corpus run failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn read(p: PathBuf) -> String {
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The shell command that, inside a fresh mount namespace, puts `list`
/// at /etc/ld.so.preload: a bind mount over the machine's file, or where
/// there is none, an overlay over /etc that exists only in the namespace.
fn preload_setup(list: &Path, upper: &Path) -> String {
    if Path::new("/etc/ld.so.preload").exists() {
        format!("mount --bind {} /etc/ld.so.preload", list.display())
    } else {
        let u = upper.join("upper");
        let w = upper.join("work");
        format!(
            "mkdir -p {u} {w} && mount -t overlay overlay -o lowerdir=/etc,upperdir={u},workdir={w} /etc && cp {l} /etc/ld.so.preload",
            u = u.display(),
            w = w.display(),
            l = list.display()
        )
    }
}

#[test]
fn ordinary_programs_are_unchanged_under_ld_so_preload() {
    corpus_under_ld_so_preload("ordinary_programs_are_unchanged_under_ld_so_preload", false);
}

/// grep -P: a JIT (PCRE2's) under the machine-wide preload, enforced by
/// the built-in `pcre2-jit` profile, whatever build of libpcre2-8 the
/// machine has (the profile vouches by PCRE2's exported entry points).
#[test]
fn grep_perl_regex_is_unchanged_under_ld_so_preload() {
    corpus_under_ld_so_preload("grep_perl_regex_is_unchanged_under_ld_so_preload", true);
}

fn corpus_under_ld_so_preload(test: &str, with_grep_p: bool) {
    // Root: the uid from /proc.
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().next().map(str::to_string));
    if uid.as_deref() != Some("0") {
        eprintln!("SKIPPED {test}: needs root (a mount namespace with /etc/ld.so.preload)");
        return;
    }
    if !have_tool(test, "unshare", "util-linux") {
        return;
    }
    let probe = Command::new("unshare")
        .args(["-m", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !probe {
        eprintln!("SKIPPED {test}: unshare -m is not permitted here");
        return;
    }
    // The emulated-PKU guest's kernel boots from a minimal initramfs
    // without overlayfs; the host run covers this test.
    let overlay = std::fs::read_to_string("/proc/filesystems")
        .is_ok_and(|f| f.lines().any(|l| l.trim_end().ends_with("overlay")));
    if !overlay && std::env::var_os("JITGUARD_IN_PKU_VM").is_some() {
        eprintln!("SKIPPED {test}: no overlayfs in the PKU guest (the host run covers it)");
        return;
    }
    let dir = tmp(&format!("preload-system-{with_grep_p}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let corpus = dir.join("corpus.sh");
    std::fs::write(&corpus, CORPUS).unwrap();
    let list = dir.join("ld.so.preload");
    std::fs::write(&list, format!("{}\n", lib().display())).unwrap();
    let setup = preload_setup(&list, &dir.join("overlay"));

    // Without jitguard.
    let (plain, work_a) = (dir.join("plain"), dir.join("work-a"));
    run_corpus(&corpus, &plain, &work_a, None, with_grep_p);
    // With it, machine-wide in the namespace; every process writes stats.
    let (pre, work_b) = (dir.join("preload"), dir.join("work-b"));
    let stats = dir.join("stats");
    std::fs::create_dir_all(&stats).unwrap();
    let inner = format!(
        "{setup} && JITGUARD_STATS={}/%p.json exec bash \"$0\" \"$@\"",
        stats.display()
    );
    let wrap = vec![
        "unshare".to_string(),
        "-m".into(),
        "--propagation".into(),
        "private".into(),
        "sh".into(),
        "-c".into(),
        inner.clone(),
    ];
    run_corpus(&corpus, &pre, &work_b, Some(&wrap), with_grep_p);

    let mut cases: Vec<String> = std::fs::read_dir(&plain)
        .unwrap()
        .filter_map(|e| {
            let n = e.unwrap().file_name().into_string().unwrap();
            n.strip_suffix(".rc").map(str::to_string)
        })
        .collect();
    cases.sort();
    assert!(cases.len() >= 6, "too few programs ran: {cases:?}");
    for case in &cases {
        let a_out = read(plain.join(format!("{case}.out")));
        let b_out = read(pre.join(format!("{case}.out")))
            .replace(work_b.to_str().unwrap(), work_a.to_str().unwrap());
        assert_eq!(a_out, b_out, "{case}: stdout differs");
        assert_eq!(
            read(plain.join(format!("{case}.rc"))),
            read(pre.join(format!("{case}.rc"))),
            "{case}: exit code differs"
        );
        let err = read(pre.join(format!("{case}.err")));
        assert!(!err.contains("jitguard"), "{case}: {err}");
        assert!(!err.contains("ld.so"), "{case}: {err}");
    }
    eprintln!("preload corpus: {} cases identical: {cases:?}", cases.len());

    // It really was loaded everywhere: every process wrote its stats (and
    // with grep -P, PCRE2's JIT memory was guarded).
    let files: Vec<PathBuf> = std::fs::read_dir(&stats)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(
        files.len() >= 20,
        "only {} processes loaded jitguard",
        files.len()
    );
    if cases.iter().any(|c| c == "grep-P") {
        assert!(
            files
                .iter()
                .any(|f| stat(f, "regions") >= 1 && stat(f, "denials") == 0),
            "grep -P's JIT memory was not guarded"
        );
    }
    // And the machine's own /etc/ld.so.preload is untouched.
    let real = std::fs::read_to_string("/etc/ld.so.preload").unwrap_or_default();
    assert!(!real.contains(lib().to_str().unwrap()));
}
