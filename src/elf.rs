//! Just enough ELF64 to name code: function symbols and the GNU build id.
//!
//! Writers are named by module + offset, and the built-in profiles by
//! function name, so jitguard reads each loaded module's symbol tables once,
//! outside any signal handler. `.symtab` holds the local functions (WAMR's
//! allocator is `static`), `.dynsym` the exported ones; both are read when
//! present. Reads go through `ReadAt`, so a module file is never read whole
//! (a browser-sized binary has a symbol table of a few MiB and a hundred MiB
//! of code).

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

const SHT_SYMTAB: u32 = 2;
const SHT_NOTE: u32 = 7;
const SHT_DYNSYM: u32 = 11;
const STT_FUNC: u8 = 2;
const STT_GNU_IFUNC: u8 = 10;
const NT_GNU_BUILD_ID: u32 = 3;
/// Symbol tables beyond this are not read (a sane bound on start-up cost).
const MAX_TABLE: u64 = 64 << 20;

fn u16_at(b: &[u8], o: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(o..o + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], o: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(o..o + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], o: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(o..o + 8)?.try_into().ok()?))
}

struct Section {
    kind: u32,
    offset: u64,
    size: u64,
    link: u32,
}

/// Reads the symbols and build id of a little-endian ELF64 file; None when
/// it is not one.
pub fn parse(file: &(impl ReadAt + ?Sized)) -> Option<ElfInfo> {
    let eh = file.read_at(0, 64)?;
    if eh.get(0..4)? != b"\x7fELF" || eh[4] != 2 || eh[5] != 1 {
        return None;
    }
    let shoff = u64_at(&eh, 0x28)?;
    let shentsize = u16_at(&eh, 0x3a)? as usize;
    let shnum = u16_at(&eh, 0x3c)? as usize;
    if shoff == 0 || shentsize < 64 || shnum == 0 {
        return Some(ElfInfo::default());
    }
    let table = file.read_at(shoff, shentsize.checked_mul(shnum)?)?;
    let sections: Vec<Section> = (0..shnum)
        .filter_map(|i| {
            let o = i * shentsize;
            Some(Section {
                kind: u32_at(&table, o + 4)?,
                offset: u64_at(&table, o + 24)?,
                size: u64_at(&table, o + 32)?,
                link: u32_at(&table, o + 40)?,
            })
        })
        .collect();
    let mut info = ElfInfo::default();
    for s in &sections {
        match s.kind {
            SHT_SYMTAB | SHT_DYNSYM => {
                if let Some(strtab) = sections.get(s.link as usize) {
                    read_symbols(file, s, strtab, &mut info.symbols);
                }
            }
            SHT_NOTE if info.build_id.is_none() && s.size <= 4096 => {
                if let Some(n) = file.read_at(s.offset, s.size as usize) {
                    info.build_id = build_id(&n);
                }
            }
            _ => {}
        }
    }
    info.symbols.finish();
    Some(info)
}

fn read_symbols(
    file: &(impl ReadAt + ?Sized),
    syms: &Section,
    strs: &Section,
    out: &mut SymbolTable,
) {
    if syms.size > MAX_TABLE || strs.size > MAX_TABLE {
        return;
    }
    let (Some(st), Some(names)) = (
        file.read_at(syms.offset, syms.size as usize),
        file.read_at(strs.offset, strs.size as usize),
    ) else {
        return;
    };
    for e in st.chunks_exact(24) {
        let kind = e[4] & 0xf;
        let shndx = u16::from_le_bytes([e[6], e[7]]);
        let (Some(name_off), Some(start), Some(size)) = (u32_at(e, 0), u64_at(e, 8), u64_at(e, 16))
        else {
            continue;
        };
        if !(kind == STT_FUNC || kind == STT_GNU_IFUNC) || shndx == 0 || start == 0 {
            continue;
        }
        let Some(tail) = names.get(name_off as usize..) else {
            continue;
        };
        let end = tail.iter().position(|&c| c == 0).unwrap_or(tail.len());
        let Ok(name) = std::str::from_utf8(&tail[..end]) else {
            continue;
        };
        if !name.is_empty() {
            out.push(start, size, name);
        }
    }
}

/// The build id from the contents of a note section.
fn build_id(notes: &[u8]) -> Option<String> {
    let mut o = 0;
    while o + 12 <= notes.len() {
        let namesz = u32_at(notes, o)? as usize;
        let descsz = u32_at(notes, o + 4)? as usize;
        let kind = u32_at(notes, o + 8)?;
        let name_at = o + 12;
        let desc_at = name_at + namesz.div_ceil(4) * 4;
        let next = desc_at + descsz.div_ceil(4) * 4;
        if kind == NT_GNU_BUILD_ID && notes.get(name_at..name_at + namesz)? == b"GNU\0" {
            let desc = notes.get(desc_at..desc_at + descsz)?;
            return Some(desc.iter().map(|b| format!("{b:02x}")).collect());
        }
        o = next;
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

pub const PT_LOAD: u32 = 1;
pub const PT_GNU_EH_FRAME: u32 = 0x6474_e550;
pub const PF_X: u32 = 1;
pub const PF_R: u32 = 4;

/// The program headers of an ELF64 file.
pub fn segments(file: &(impl ReadAt + ?Sized)) -> Option<Vec<Segment>> {
    let eh = file.read_at(0, 64)?;
    if eh.get(0..4)? != b"\x7fELF" {
        return None;
    }
    let phoff = u64_at(&eh, 0x20)?;
    let size = u16_at(&eh, 0x36)? as usize;
    let n = u16_at(&eh, 0x38)? as usize;
    if size < 56 {
        return None;
    }
    let t = file.read_at(phoff, size.checked_mul(n)?)?;
    (0..n)
        .map(|i| {
            let o = i * size;
            Some(Segment {
                kind: u32_at(&t, o)?,
                flags: u32_at(&t, o + 4)?,
                offset: u64_at(&t, o + 8)?,
                vaddr: u64_at(&t, o + 16)?,
                filesz: u64_at(&t, o + 32)?,
                memsz: u64_at(&t, o + 40)?,
            })
        })
        .collect()
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

    #[test]
    fn rejects_what_is_not_elf64() {
        assert!(parse(&b"#!/bin/sh\n"[..]).is_none());
        assert!(parse(&[0u8; 3][..]).is_none());
    }
}
