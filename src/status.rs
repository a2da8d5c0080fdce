//! `jitguard status`: which processes on this machine run under jitguard,
//! with their settings and live counters.
//!
//! Each guarded process carries one status record in libjitguard.so's
//! data, exported as the dynamic symbol `JITGUARD_STATUS` (the library side
//! is `hooks/src/status.rs`, which explains the design). This module finds
//! the library in `/proc/PID/maps`, the record's address through the
//! library file's symbol table, and decodes the record and the counters it
//! points to, read through `/proc/PID/mem` (root, or ptrace rights over
//! the process). Decoding is pure; `scan` does the /proc reading.

use crate::elf::ReadAt;
use std::fmt::Write as _;

/// The record's symbol in libjitguard.so.
pub const SYMBOL: &str = "JITGUARD_STATUS";
/// Bytes of the profile text field.
pub const TEXT_LEN: usize = 256;
/// Bytes of the whole record.
pub const RECORD_SIZE: usize = 80 + 4 * 16 + TEXT_LEN;

/// The record as published (version 1 layout, little-endian):
/// magic u64 @0, version u32 @8, size u32 @12, pid u32 @16, pad u32 @20,
/// addresses of the counters write_faults @24, denials @32, audited @40,
/// opens @48, regions @56, guarded_pages @64, tampered @72 (0: none),
/// then NUL-padded text: backend @80 (16), mode @96 (16), policy @112
/// (16), window @128 (16), profile @144 (256).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub pid: u32,
    pub counter_addrs: CounterAddrs,
    pub backend: String,
    pub mode: String,
    pub policy: String,
    pub window: String,
    pub profile: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CounterAddrs {
    pub write_faults: u64,
    pub denials: u64,
    pub audited: u64,
    pub opens: u64,
    pub regions: u64,
    pub guarded_pages: u64,
    pub tampered: u64,
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
}

fn text_at(b: &[u8], o: usize, n: usize) -> String {
    let f = &b[o..o + n];
    let end = f.iter().position(|&c| c == 0).unwrap_or(n);
    String::from_utf8_lossy(&f[..end]).into_owned()
}

/// Why a record could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// No magic: the library has not finished start-up, or guards nothing
    /// (`mode = off`, or no signal handlers).
    NotPublished,
    /// Another layout than this CLI knows (a different jitguard version).
    Version(u32),
}

impl Record {
    pub const MAGIC: u64 = u64::from_le_bytes(*b"JGSTATUS");
    pub const VERSION: u32 = 1;

    pub fn decode(b: &[u8]) -> Result<Record, DecodeError> {
        if b.len() < RECORD_SIZE || u64_at(b, 0) != Self::MAGIC {
            return Err(DecodeError::NotPublished);
        }
        let version = u32_at(b, 8);
        if version != Self::VERSION || u32_at(b, 12) as usize != RECORD_SIZE {
            return Err(DecodeError::Version(version));
        }
        Ok(Record {
            pid: u32_at(b, 16),
            counter_addrs: CounterAddrs {
                write_faults: u64_at(b, 24),
                denials: u64_at(b, 32),
                audited: u64_at(b, 40),
                opens: u64_at(b, 48),
                regions: u64_at(b, 56),
                guarded_pages: u64_at(b, 64),
                tampered: u64_at(b, 72),
            },
            backend: text_at(b, 80, 16),
            mode: text_at(b, 96, 16),
            policy: text_at(b, 112, 16),
            window: text_at(b, 128, 16),
            profile: text_at(b, 144, TEXT_LEN),
        })
    }
}

/// Whether a mapped file is the jitguard library.
pub fn is_jitguard_lib(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or("");
    name.starts_with("libjitguard") && (name.ends_with(".so") || name.contains(".so."))
}

/// The library's path and load base in a maps text: the start of its
/// mapping at file offset 0 (the library's first load segment has virtual
/// address 0, as every shared object the Rust toolchain links).
pub fn find_lib(maps: &str) -> Option<(String, u64)> {
    for line in maps.lines() {
        let mut f = line.split_whitespace();
        let (Some(range), Some(_perms), Some(offset), Some(_dev), Some(_inode)) =
            (f.next(), f.next(), f.next(), f.next(), f.next())
        else {
            continue;
        };
        let path = f.collect::<Vec<_>>().join(" ");
        if !is_jitguard_lib(&path) || u64::from_str_radix(offset, 16).ok() != Some(0) {
            continue;
        }
        let start = u64::from_str_radix(range.split_once('-')?.0, 16).ok()?;
        return Some((path, start));
    }
    None
}

/// Live counters read from a process.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub write_faults: u64,
    pub denials: u64,
    pub audited: u64,
    pub opens: u64,
    pub regions: u64,
    pub guarded_pages: u64,
    pub tampered: u64,
}

/// What `status` says about one process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcStatus {
    pub pid: u32,
    pub program: String,
    pub library: String,
    /// The record and counters, or why they could not be read.
    pub state: Result<(Record, Counters), String>,
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

impl ProcStatus {
    /// One JSON object. Unreadable processes carry `"error"` and no
    /// settings or counters.
    pub fn to_json(&self) -> String {
        let mut o = format!(
            "{{\"pid\": {}, \"program\": {}, \"library\": {}",
            self.pid,
            json_str(&self.program),
            json_str(&self.library)
        );
        match &self.state {
            Ok((r, c)) => {
                let _ = write!(
                    o,
                    ", \"backend\": {}, \"mode\": {}, \"policy\": {}, \"window\": {}, \"profile\": {}, \"regions\": {}, \"guarded_pages\": {}, \"write_faults\": {}, \"opens\": {}, \"denials\": {}, \"audited\": {}, \"tampered\": {}",
                    json_str(&r.backend),
                    json_str(&r.mode),
                    json_str(&r.policy),
                    json_str(&r.window),
                    json_str(&r.profile),
                    c.regions,
                    c.guarded_pages,
                    c.write_faults,
                    c.opens,
                    c.denials,
                    c.audited,
                    c.tampered
                );
            }
            Err(e) => {
                let _ = write!(o, ", \"error\": {}", json_str(e));
            }
        }
        o.push('}');
        o
    }
}

/// `--json`: an array, one object per process.
pub fn to_json(all: &[ProcStatus]) -> String {
    let items: Vec<String> = all.iter().map(|p| format!("  {}", p.to_json())).collect();
    if items.is_empty() {
        "[]\n".to_string()
    } else {
        format!("[\n{}\n]\n", items.join(",\n"))
    }
}

/// The table.
pub fn table(all: &[ProcStatus]) -> String {
    let mut o = format!(
        "{:>7}  {:<16} {:<8} {:<7} {:<6} {:>7} {:>9} {:>7} {:>8}  {}\n",
        "PID",
        "PROGRAM",
        "BACKEND",
        "MODE",
        "POLICY",
        "PAGES",
        "FAULTS",
        "DENIED",
        "TAMPERED",
        "PROFILE"
    );
    for p in all {
        let prog = p.program.rsplit('/').next().unwrap_or(&p.program);
        match &p.state {
            Ok((r, c)) => {
                let _ = writeln!(
                    o,
                    "{:>7}  {:<16} {:<8} {:<7} {:<6} {:>7} {:>9} {:>7} {:>8}  {}",
                    p.pid,
                    prog,
                    r.backend,
                    r.mode,
                    r.policy,
                    c.guarded_pages,
                    c.write_faults,
                    c.denials,
                    c.tampered,
                    r.profile
                );
            }
            Err(e) => {
                let _ = writeln!(o, "{:>7}  {:<16} ({e})", p.pid, prog);
            }
        }
    }
    o
}

/// The value of a symbol of any type (the record is a data object) from
/// `.dynsym`, or `.symtab` when the dynamic table lacks it.
pub fn symbol_value(file: &(impl ReadAt + ?Sized), name: &str) -> Option<u64> {
    let eh = file.read_at(0, 64)?;
    if eh.get(0..4)? != b"\x7fELF" || eh[4] != 2 || eh[5] != 1 {
        return None;
    }
    let shoff = u64_at(&eh, 0x28);
    let shentsize = u16::from_le_bytes([eh[0x3a], eh[0x3b]]) as usize;
    let shnum = u16::from_le_bytes([eh[0x3c], eh[0x3d]]) as usize;
    if shentsize < 64 || shnum == 0 {
        return None;
    }
    let t = file.read_at(shoff, shentsize.checked_mul(shnum)?)?;
    let sec = |i: usize| {
        let o = i * shentsize;
        (
            u32_at(&t, o + 4),
            u64_at(&t, o + 24),
            u64_at(&t, o + 32),
            u32_at(&t, o + 40),
        )
    };
    for want in [11u32, 2] {
        for i in 0..shnum {
            let (kind, off, size, link) = sec(i);
            if kind != want || size > 64 << 20 || link as usize >= shnum {
                continue;
            }
            let (_, soff, ssize, _) = sec(link as usize);
            if ssize > 64 << 20 {
                continue;
            }
            let (Some(syms), Some(strs)) = (
                file.read_at(off, size as usize),
                file.read_at(soff, ssize as usize),
            ) else {
                continue;
            };
            for e in syms.chunks_exact(24) {
                let n = u32_at(e, 0) as usize;
                let Some(tail) = strs.get(n..) else { continue };
                let end = tail.iter().position(|&c| c == 0).unwrap_or(tail.len());
                if &tail[..end] == name.as_bytes() && u16::from_le_bytes([e[6], e[7]]) != 0 {
                    return Some(u64_at(e, 8));
                }
            }
        }
    }
    None
}

struct FileAt(std::fs::File);

impl ReadAt for FileAt {
    fn read_at(&self, off: u64, len: usize) -> Option<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        let mut v = vec![0u8; len];
        self.0.read_exact_at(&mut v, off).ok()?;
        Some(v)
    }
}

fn read_mem(mem: &FileAt, addr: u64) -> Result<u64, String> {
    mem.read_at(addr, 8)
        .map(|b| u64_at(&b, 0))
        .ok_or_else(|| format!("cannot read counter at {addr:#x}"))
}

/// Reads one process's record and counters.
fn read_process(pid: u32, lib: &str, base: u64) -> Result<(Record, Counters), String> {
    // The file the process mapped, even if it was replaced on disk since.
    let elf = std::fs::File::open(format!("/proc/{pid}/root{lib}"))
        .or_else(|_| std::fs::File::open(lib))
        .map_err(|e| format!("cannot open {lib}: {e}"))?;
    let off = symbol_value(&FileAt(elf), SYMBOL)
        .ok_or_else(|| format!("{lib} has no {SYMBOL} (an older jitguard?)"))?;
    let mem = std::fs::File::open(format!("/proc/{pid}/mem")).map_err(|e| {
        format!("cannot read its memory ({e}; needs root or ptrace rights over the process)")
    })?;
    let mem = FileAt(mem);
    let bytes = mem
        .read_at(base + off, RECORD_SIZE)
        .ok_or("cannot read its status record (needs root or ptrace rights)")?;
    let r = Record::decode(&bytes).map_err(|e| match e {
        DecodeError::NotPublished => "not guarding (mode off, or still starting)".to_string(),
        DecodeError::Version(v) => format!("status record version {v}, this jitguard reads 1"),
    })?;
    let a = r.counter_addrs;
    let c = Counters {
        write_faults: read_mem(&mem, a.write_faults)?,
        denials: read_mem(&mem, a.denials)?,
        audited: read_mem(&mem, a.audited)?,
        opens: read_mem(&mem, a.opens)?,
        regions: read_mem(&mem, a.regions)?,
        guarded_pages: read_mem(&mem, a.guarded_pages)?,
        tampered: if a.tampered == 0 {
            0
        } else {
            read_mem(&mem, a.tampered)?
        },
    };
    Ok((r, c))
}

/// Every process on this machine with libjitguard.so mapped, by pid.
pub fn scan() -> Vec<ProcStatus> {
    let me = std::process::id();
    let mut pids: Vec<u32> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|&p| p != me)
        .collect();
    pids.sort_unstable();
    let mut out = Vec::new();
    for pid in pids {
        let Ok(maps) = std::fs::read_to_string(format!("/proc/{pid}/maps")) else {
            continue;
        };
        let Some((lib, base)) = find_lib(&maps) else {
            continue;
        };
        let program = std::fs::read_link(format!("/proc/{pid}/exe"))
            .map(|p| p.to_string_lossy().into_owned())
            .or_else(|_| {
                std::fs::read_to_string(format!("/proc/{pid}/comm")).map(|s| s.trim().to_string())
            })
            .unwrap_or_default();
        out.push(ProcStatus {
            pid,
            program,
            state: read_process(pid, &lib, base),
            library: lib,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record_bytes() -> Vec<u8> {
        let mut b = vec![0u8; RECORD_SIZE];
        b[0..8].copy_from_slice(&Record::MAGIC.to_le_bytes());
        b[8..12].copy_from_slice(&1u32.to_le_bytes());
        b[12..16].copy_from_slice(&(RECORD_SIZE as u32).to_le_bytes());
        b[16..20].copy_from_slice(&77u32.to_le_bytes());
        for (i, o) in (24..80).step_by(8).enumerate() {
            b[o..o + 8].copy_from_slice(&(0x1000 + i as u64 * 8).to_le_bytes());
        }
        b[80..88].copy_from_slice(b"mprotect");
        b[96..103].copy_from_slice(b"enforce");
        b[112..118].copy_from_slice(b"hashed");
        b[128..132].copy_from_slice(b"call");
        b[144..160].copy_from_slice(b"builtin:hotspot\"");
        b
    }

    #[test]
    fn decodes_a_published_record() {
        let r = Record::decode(&record_bytes()).unwrap();
        assert_eq!(r.pid, 77);
        assert_eq!(r.backend, "mprotect");
        assert_eq!(r.mode, "enforce");
        assert_eq!(r.policy, "hashed");
        assert_eq!(r.window, "call");
        assert_eq!(r.profile, "builtin:hotspot\"");
        assert_eq!(r.counter_addrs.write_faults, 0x1000);
        assert_eq!(r.counter_addrs.tampered, 0x1030);
    }

    #[test]
    fn refuses_unpublished_and_foreign_records() {
        let mut b = record_bytes();
        b[8] = 2;
        assert_eq!(Record::decode(&b), Err(DecodeError::Version(2)));
        b[0] = 0;
        assert_eq!(Record::decode(&b), Err(DecodeError::NotPublished));
        assert_eq!(Record::decode(&[0; 8]), Err(DecodeError::NotPublished));
    }

    #[test]
    fn finds_the_library_base() {
        let maps = "\
55d0c0000000-55d0c0001000 r--p 00000000 08:01 12 /usr/bin/toy
7f0000000000-7f0000010000 r--p 00000000 08:01 34 /usr/local/lib/jitguard/libjitguard.so
7f0000010000-7f0000200000 r-xp 00010000 08:01 34 /usr/local/lib/jitguard/libjitguard.so
7f1000000000-7f1000001000 r--p 00000000 08:01 35 /usr/lib/libjitguardian.txt
";
        assert_eq!(
            find_lib(maps),
            Some((
                "/usr/local/lib/jitguard/libjitguard.so".to_string(),
                0x7f00_0000_0000
            ))
        );
        assert_eq!(find_lib("7f-80 r--p 0 0:0 0 /lib/libc.so.6\n"), None);
    }

    #[test]
    fn json_and_table() {
        let r = Record::decode(&record_bytes()).unwrap();
        let ok = ProcStatus {
            pid: 77,
            program: "/usr/bin/toy".into(),
            library: "/l/libjitguard.so".into(),
            state: Ok((
                r,
                Counters {
                    write_faults: 5,
                    guarded_pages: 3,
                    ..Counters::default()
                },
            )),
        };
        let bad = ProcStatus {
            pid: 78,
            program: "x".into(),
            library: "/l/libjitguard.so".into(),
            state: Err("not guarding".into()),
        };
        let j = to_json(&[ok.clone(), bad.clone()]);
        assert!(
            j.contains("\"pid\": 77, \"program\": \"/usr/bin/toy\""),
            "{j}"
        );
        assert!(j.contains("\"write_faults\": 5") && j.contains("\"guarded_pages\": 3"));
        assert!(j.contains("\"profile\": \"builtin:hotspot\\\"\""), "{j}");
        assert!(j.contains("\"error\": \"not guarding\""));
        assert_eq!(to_json(&[]), "[]\n");
        let t = table(&[ok, bad]);
        assert!(t.lines().nth(1).unwrap().contains("toy"), "{t}");
        assert!(t.contains("(not guarding)"));
    }

    #[test]
    fn finds_a_data_symbol_in_a_real_elf() {
        // The test binary itself: it has a .symtab with `main`.
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert!(symbol_value(&exe[..], "main").is_some());
        assert!(symbol_value(&exe[..], "no_such_symbol_here").is_none());
        assert!(symbol_value(&b"not elf"[..], "main").is_none());
    }
}
