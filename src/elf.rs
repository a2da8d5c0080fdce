//! Just enough ELF64 to name code: function symbols and the GNU build id,
//! read with the `object` crate's ELF types.
//!
//! Writers are named by module + offset, and the built-in profiles by
//! function name, so jitguard reads each loaded module's symbol tables once,
//! outside any signal handler. `.symtab` holds the local functions (WAMR's
//! allocator is `static`), `.dynsym` the exported ones; both are read when
//! present. Reads go through `ReadAt`, so a module file is never read whole
//! (a browser-sized binary has a symbol table of a few MiB and a hundred MiB
//! of code): `object` reads through a `ReadCache` over `ReadAt`, and only the
//! headers, the symbol and string tables and the small note sections are
//! fetched.

use object::elf::{FileHeader64, Sym64};
use object::read::elf::{FileHeader, ProgramHeader, SectionHeader, Sym};
use object::read::{ReadCache, ReadCacheOps, StringTable};
use object::LittleEndian as LE;

/// Random access to a file's bytes.
pub trait ReadAt {
    /// `len` bytes from `off`, or None when the file is shorter.
    fn read_at(&self, off: u64, len: usize) -> Option<Vec<u8>>;
}

impl ReadAt for [u8] {
    fn read_at(&self, off: u64, len: usize) -> Option<Vec<u8>> {
        let off = usize::try_from(off).ok()?;
        self.get(off..off.checked_add(len)?).map(<[u8]>::to_vec)
    }
}

/// A function symbol, at its link-time virtual address; its name lives
/// in the table's one string (no allocation per symbol: a browser-sized
/// binary has about 80,000 of them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Symbol {
    pub start: u64,
    pub size: u64,
    name_at: u32,
    name_len: u32,
}

/// Function symbols sorted by address, one per address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SymbolTable {
    syms: Vec<Symbol>,
    names: String,
}

impl SymbolTable {
    /// A table from (start, size, name) triples, in any order.
    pub fn from_list<'a>(list: impl IntoIterator<Item = (u64, u64, &'a str)>) -> SymbolTable {
        let mut t = SymbolTable::default();
        for (start, size, name) in list {
            t.push(start, size, name);
        }
        t.finish();
        t
    }

    fn push(&mut self, start: u64, size: u64, name: &str) {
        let (Ok(name_at), Ok(name_len)) =
            (u32::try_from(self.names.len()), u32::try_from(name.len()))
        else {
            return;
        };
        self.names.push_str(name);
        self.syms.push(Symbol {
            start,
            size,
            name_at,
            name_len,
        });
    }

    /// Sorts by address, and by size at one address, keeping aliases (a
    /// C++ constructor's C1 and C2 names share one body, and a profile may
    /// name either): a lookup lands on the largest symbol at an address.
    fn finish(&mut self) {
        self.syms
            .sort_unstable_by(|a, b| a.start.cmp(&b.start).then(a.size.cmp(&b.size)));
        let names = &self.names;
        let name =
            |s: &Symbol| &names.as_bytes()[s.name_at as usize..(s.name_at + s.name_len) as usize];
        self.syms
            .dedup_by(|b, a| a.start == b.start && a.size == b.size && name(a) == name(b));
    }

    pub fn len(&self) -> usize {
        self.syms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.syms.is_empty()
    }

    pub fn name(&self, s: &Symbol) -> &str {
        let at = s.name_at as usize;
        self.names.get(at..at + s.name_len as usize).unwrap_or("")
    }

    /// Every symbol as (start, size, name).
    pub fn iter(&self) -> impl Iterator<Item = (u64, u64, &str)> + '_ {
        self.syms.iter().map(|s| (s.start, s.size, self.name(s)))
    }

    /// The symbol covering `addr` (a link-time address) and the offset
    /// into it. A symbol of size 0 covers only its first byte.
    pub fn at(&self, addr: u64) -> Option<(&str, u64)> {
        let i = self
            .syms
            .partition_point(|s| s.start <= addr)
            .checked_sub(1)?;
        let s = &self.syms[i];
        let off = addr - s.start;
        (off < s.size.max(1)).then(|| (self.name(s), off))
    }

    /// Keeps the symbols `keep` accepts.
    pub fn retain(&mut self, keep: impl Fn(u64, u64, &str) -> bool) {
        let names = &self.names;
        self.syms.retain(|s| {
            let at = s.name_at as usize;
            keep(
                s.start,
                s.size,
                names.get(at..at + s.name_len as usize).unwrap_or(""),
            )
        });
    }
}

/// What jitguard takes from one ELF file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ElfInfo {
    pub symbols: SymbolTable,
    /// The GNU build id in hex, the module's identity across runs.
    pub build_id: Option<String>,
}

/// Symbol tables beyond this are not read (a sane bound on start-up cost).
const MAX_TABLE: u64 = 64 << 20;
/// Note sections beyond this are not searched for the build id.
const MAX_NOTES: u64 = 4096;

/// `ReadAt` as the stream `object`'s `ReadCache` reads from.
struct Stream<'a, R: ?Sized> {
    file: &'a R,
    pos: u64,
}

impl<R: ReadAt + ?Sized> ReadCacheOps for Stream<'_, R> {
    /// `ReadAt` does not know the file's length: every range passes the
    /// cache's bounds check, and a read past the end fails in `read_at`.
    fn len(&mut self) -> Result<u64, ()> {
        Ok(u64::MAX)
    }

    fn seek(&mut self, pos: u64) -> Result<u64, ()> {
        self.pos = pos;
        Ok(pos)
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ()> {
        self.read_exact(buf).map(|()| buf.len())
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), ()> {
        let bytes = self.file.read_at(self.pos, buf.len()).ok_or(())?;
        let got = bytes.get(..buf.len()).ok_or(())?;
        buf.copy_from_slice(got);
        self.pos = self.pos.checked_add(buf.len() as u64).ok_or(())?;
        Ok(())
    }
}

type Header = FileHeader64<LE>;

/// Reads the symbols and build id of a little-endian ELF64 file; None when
/// it is not one.
pub fn parse(file: &(impl ReadAt + ?Sized)) -> Option<ElfInfo> {
    parse_tables(file, false)
}

/// As `parse`; with `always_dynsym`, the dynamic table is read even
/// beside a whole static one (the tests compare the two).
fn parse_tables(file: &(impl ReadAt + ?Sized), always_dynsym: bool) -> Option<ElfInfo> {
    let cache = ReadCache::new(Stream { file, pos: 0 });
    let data = &cache;
    let header = Header::parse(data).ok()?;
    let endian = header.endian().ok()?;
    // A file whose section headers cannot be read has no symbols (as one
    // stripped of them).
    let Ok(sections) = header.section_headers(endian, data) else {
        return Some(ElfInfo::default());
    };
    let mut info = ElfInfo::default();
    let (mut symtabs, mut dynsyms) = (Vec::new(), Vec::new());
    for s in sections {
        match s.sh_type(endian) {
            object::elf::SHT_SYMTAB => symtabs.push(s),
            object::elf::SHT_DYNSYM => dynsyms.push(s),
            object::elf::SHT_NOTE if info.build_id.is_none() && s.sh_size(endian) <= MAX_NOTES => {
                info.build_id = build_id(data, endian, s);
            }
            _ => {}
        }
    }
    let read = |s: &Section, known: Option<&[u64]>, out: &mut SymbolTable| {
        sections
            .get(s.sh_link(endian) as usize)
            .is_some_and(|strs| read_symbols(data, endian, s, strs, known, out))
    };
    let mut static_read = false;
    for s in symtabs {
        static_read |= read(s, None, &mut info.symbols);
    }
    // The linker writes every dynamic symbol into `.symtab` too, so once
    // that is read, a dynamic symbol is taken only at an address it does
    // not name (a file stripped of some static symbols), and its name is
    // read only then: reading both tables whole doubled the work for a
    // large binary (node: 75,000 dynamic symbols beside 110,000 static
    // ones, nearly all the same).
    let mut starts: Vec<u64> = info.symbols.syms.iter().map(|s| s.start).collect();
    starts.sort_unstable();
    let known = (static_read && !always_dynsym).then_some(&starts[..]);
    for s in dynsyms {
        read(s, known, &mut info.symbols);
    }
    info.symbols.finish();
    Some(info)
}

type Section = <Header as FileHeader>::SectionHeader;

/// The function symbols of one symbol table: defined, at a non-zero
/// address, with a non-empty UTF-8 name; with `known` (sorted), only those
/// at an address not in it (whose names alone are then read). Whether the
/// table could be read.
fn read_symbols<R: ReadCacheOps>(
    data: &ReadCache<R>,
    endian: LE,
    syms: &Section,
    strs: &Section,
    known: Option<&[u64]>,
    out: &mut SymbolTable,
) -> bool {
    if syms.sh_size(endian) > MAX_TABLE || strs.sh_size(endian) > MAX_TABLE {
        return false;
    }
    let Ok(table) = syms.data_as_array::<Sym64<LE>, _>(endian, data) else {
        return false;
    };
    let mut names = None;
    for sym in table {
        let kind = sym.st_type();
        let start = sym.st_value(endian);
        if !(kind == object::elf::STT_FUNC || kind == object::elf::STT_GNU_IFUNC)
            || sym.st_shndx(endian) == object::elf::SHN_UNDEF
            || start == 0
            || known.is_some_and(|k| k.binary_search(&start).is_ok())
        {
            continue;
        }
        let names = match names {
            Some(n) => n,
            None => {
                let Ok(n) = strs.data(endian, data) else {
                    return false;
                };
                *names.insert(StringTable::new(n, 0, n.len() as u64))
            }
        };
        let Ok(name) = sym.name(endian, names) else {
            continue;
        };
        let Ok(name) = std::str::from_utf8(name) else {
            continue;
        };
        if !name.is_empty() {
            out.push(start, sym.st_size(endian), name);
        }
    }
    true
}

/// The GNU build id in a note section, in hex.
fn build_id<R: ReadCacheOps>(data: &ReadCache<R>, endian: LE, notes: &Section) -> Option<String> {
    let mut notes = notes.notes(endian, data).ok()??;
    while let Ok(Some(note)) = notes.next() {
        if note.n_type(endian) == object::elf::NT_GNU_BUILD_ID
            && note.name() == object::elf::ELF_NOTE_GNU
        {
            return Some(note.desc().iter().map(|b| format!("{b:02x}")).collect());
        }
    }
    None
}

/// One program header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub kind: u32,
    pub flags: u32,
    pub offset: u64,
    pub vaddr: u64,
    pub filesz: u64,
    pub memsz: u64,
}

pub const PT_LOAD: u32 = object::elf::PT_LOAD;
pub const PT_GNU_EH_FRAME: u32 = object::elf::PT_GNU_EH_FRAME;
pub const PF_X: u32 = object::elf::PF_X;
pub const PF_R: u32 = object::elf::PF_R;

/// The program headers of a little-endian ELF64 file.
pub fn segments(file: &(impl ReadAt + ?Sized)) -> Option<Vec<Segment>> {
    let cache = ReadCache::new(Stream { file, pos: 0 });
    let header = Header::parse(&cache).ok()?;
    let endian = header.endian().ok()?;
    let phdrs = header.program_headers(endian, &cache).ok()?;
    Some(
        phdrs
            .iter()
            .map(|p| Segment {
                kind: p.p_type(endian),
                flags: p.p_flags(endian),
                offset: p.p_offset(endian),
                vaddr: p.p_vaddr(endian),
                filesz: p.p_filesz(endian),
                memsz: p.p_memsz(endian),
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own_exe() -> ElfInfo {
        let bytes = std::fs::read("/proc/self/exe").unwrap();
        parse(&bytes[..]).expect("the test binary is ELF64")
    }

    #[test]
    fn reads_own_symbols_and_build_id() {
        let info = own_exe();
        assert!(info.symbols.len() > 100, "{} symbols", info.symbols.len());
        let starts: Vec<u64> = info.symbols.iter().map(|(a, _, _)| a).collect();
        assert!(starts.windows(2).all(|w| w[0] <= w[1]));
        assert!(info.symbols.iter().any(|(_, _, n)| n == "main"));
        let id = info.build_id.expect("rustc links with a build id");
        assert!(id.len() >= 16 && id.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn a_whole_static_table_makes_the_dynamic_one_redundant() {
        // Every file here that exists: the same functions whether or not
        // `.dynsym` is read beside `.symtab` (libc has no `.symtab`: its
        // dynamic table is the one read).
        let set = |i: &ElfInfo| -> std::collections::BTreeSet<(u64, u64, String)> {
            i.symbols
                .iter()
                .map(|(a, z, n)| (a, z, n.to_string()))
                .collect()
        };
        let mut checked = 0;
        for path in [
            "/proc/self/exe",
            "/lib/x86_64-linux-gnu/libc.so.6",
            "/lib64/ld-linux-x86-64.so.2",
            "/usr/bin/node",
            "/usr/lib/jvm/java-17-openjdk-amd64/lib/server/libjvm.so",
            "/usr/bin/python3",
        ] {
            let Ok(bytes) = std::fs::read(path) else {
                continue;
            };
            let (fast, both) = (parse(&bytes[..]), parse_tables(&bytes[..], true));
            let (fast, both) = (fast.unwrap(), both.unwrap());
            assert!(!fast.symbols.is_empty(), "{path}");
            assert_eq!(set(&fast), set(&both), "{path}");
            assert_eq!(fast.build_id, both.build_id, "{path}");
            checked += 1;
        }
        assert!(checked >= 2, "no ELF file to compare");
    }

    /// A small shared library built with cc, with `jg_stripped` removed
    /// from its `.symtab` by `objcopy --strip-symbol` (so that table stays
    /// longer than `.dynsym` but lacks a function); None, with a note,
    /// without cc or objcopy.
    fn stripped_library(tag: &str) -> Option<Vec<u8>> {
        let dir = std::env::temp_dir().join(format!("jg-elf-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        let (c, so) = (dir.join("lib.c"), dir.join("lib.so"));
        std::fs::write(
            &c,
            "__attribute__((noinline)) static int helper(int x) { return x * 3; }\n\
             int jg_kept(int x) { return helper(x) + 1; }\n\
             int jg_stripped(int x) { return helper(x) + 2; }\n",
        )
        .ok()?;
        let run = |cmd: &str, args: &[&std::ffi::OsStr]| {
            std::process::Command::new(cmd)
                .args(args)
                .status()
                .is_ok_and(|s| s.success())
        };
        let built = run(
            "cc",
            &[
                "-shared".as_ref(),
                "-fPIC".as_ref(),
                "-O1".as_ref(),
                "-o".as_ref(),
                so.as_os_str(),
                c.as_os_str(),
            ],
        ) && run(
            "objcopy",
            &["--strip-symbol=jg_stripped".as_ref(), so.as_os_str()],
        );
        let bytes = std::fs::read(&so).ok().filter(|_| built);
        let _ = std::fs::remove_dir_all(&dir);
        if bytes.is_none() {
            eprintln!("SKIPPED elf stripped-library test ({tag}): no cc or objcopy");
        }
        bytes
    }

    #[test]
    fn a_function_stripped_from_the_static_table_is_taken_from_the_dynamic_one() {
        let Some(bytes) = stripped_library("stripped") else {
            return;
        };
        let info = parse(&bytes[..]).unwrap();
        let names: Vec<&str> = info.symbols.iter().map(|(_, _, n)| n).collect();
        assert!(names.contains(&"jg_kept"), "{names:?}");
        assert!(names.contains(&"jg_stripped"), "{names:?}");
        assert!(
            names.contains(&"helper"),
            "the static table was read: {names:?}"
        );
    }

    #[test]
    fn an_unreadable_static_table_leaves_the_dynamic_one() {
        // The same library with its `.symtab` naming a string table that
        // is not there: the dynamic table still gives its functions.
        let Some(mut bytes) = stripped_library("unreadable") else {
            return;
        };
        let header = Header::parse(&bytes[..]).unwrap();
        let e = header.endian().unwrap();
        let (shoff, shentsize) = (header.e_shoff(e) as usize, header.e_shentsize(e) as usize);
        let i = header
            .section_headers(e, &bytes[..])
            .unwrap()
            .iter()
            .position(|s| s.sh_type(e) == object::elf::SHT_SYMTAB)
            .expect("cc writes a .symtab");
        // sh_link is at offset 40 of an ELF64 section header.
        let at = shoff + i * shentsize + 40;
        bytes[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let info = parse(&bytes[..]).unwrap();
        let names: Vec<&str> = info.symbols.iter().map(|(_, _, n)| n).collect();
        assert!(
            names.contains(&"jg_kept") && names.contains(&"jg_stripped"),
            "{names:?}"
        );
        assert!(
            !names.contains(&"helper"),
            "a static-only name from nowhere: {names:?}"
        );
    }

    #[test]
    fn symbol_lookup_covers_the_body_only() {
        let syms = SymbolTable::from_list([
            (0x200, 0, "b"),
            (0x100, 0x20, "a"),
            (0x100, 0x20, "a_alias"),
            (0x100, 0, "a_label"),
        ]);
        assert_eq!(
            syms.iter().filter(|s| s.0 == 0x100).count(),
            3,
            "aliases kept"
        );
        assert!(matches!(syms.at(0x110), Some(("a" | "a_alias", 0x10))));
        assert!(syms.at(0x120).is_none());
        assert!(syms.at(0xff).is_none());
        assert_eq!(syms.at(0x200), Some(("b", 0)));
        assert!(syms.at(0x201).is_none());
    }

    /// A file read at offsets, counting the bytes fetched.
    struct Counted(std::fs::File, std::cell::Cell<u64>);

    impl ReadAt for Counted {
        fn read_at(&self, off: u64, len: usize) -> Option<Vec<u8>> {
            use std::os::unix::fs::FileExt;
            let mut v = vec![0; len];
            self.0.read_exact_at(&mut v, off).ok()?;
            self.1.set(self.1.get() + len as u64);
            Some(v)
        }
    }

    #[test]
    fn reads_a_file_in_parts_with_the_same_result() {
        let f = Counted(std::fs::File::open("/proc/self/exe").unwrap(), 0.into());
        let size = f.0.metadata().unwrap().len();
        let info = parse(&f).expect("the test binary is ELF64");
        assert_eq!(info, own_exe());
        assert!(f.1.get() < size, "read {} of {size} bytes", f.1.get());
        let bytes = std::fs::read("/proc/self/exe").unwrap();
        let segs = segments(&f).unwrap();
        assert_eq!(segs, segments(&bytes[..]).unwrap());
        assert!(segs
            .iter()
            .any(|s| s.kind == PT_LOAD && s.flags & PF_X != 0));
        assert!(segs.iter().any(|s| s.kind == PT_GNU_EH_FRAME));
    }

    #[test]
    fn rejects_what_is_not_elf64() {
        assert!(parse(&b"#!/bin/sh\n"[..]).is_none());
        assert!(parse(&[0u8; 3][..]).is_none());
        assert!(segments(&b"#!/bin/sh\n"[..]).is_none());
        let mut elf32 = std::fs::read("/proc/self/exe").unwrap();
        elf32[4] = 1; // ELFCLASS32
        assert!(parse(&elf32[..]).is_none());
    }
}
