//! Instruction sequences that can load PKRU, found anywhere in a run of
//! bytes (a diverted jump may land on any byte, so every offset counts,
//! not just instruction boundaries):
//!
//! - `WRPKRU` = `0F 01 EF` (PKRU := EAX when ECX = EDX = 0);
//! - `XRSTOR m` = `0F AE /5` with a memory operand (ModRM mod != 3; mod = 3
//!   with reg 5 is LFENCE), and `XRSTOR64` with REX.W;
//! - `XRSTORS m` = `0F C7 /3` with a memory operand, and `XRSTORS64`.
//!
//! XRSTOR/XRSTORS load PKRU from the save area when EDX:EAX has bit 9 set,
//! so each memory form is a gadget if the attacker controls the area.
//! The REX.W byte (0x48-0x4F) right before `0F` names the 64-bit variant;
//! its gadget then starts at the REX byte. Legacy prefixes are not looked
//! at: a jump straight to the `0F` skips them anyway.
//!
//! Pure and allocation-free (the window scan runs in signal handlers).

/// What a gadget does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Wrpkru,
    Xrstor,
    Xrstor64,
    Xrstors,
    Xrstors64,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Wrpkru => "WRPKRU",
            Kind::Xrstor => "XRSTOR",
            Kind::Xrstor64 => "XRSTOR64",
            Kind::Xrstors => "XRSTORS",
            Kind::Xrstors64 => "XRSTORS64",
        }
    }

    pub fn is_wrpkru(self) -> bool {
        self == Kind::Wrpkru
    }
}

/// One gadget: where its first byte is (the REX byte of a 64-bit
/// variant, else the `0F`), relative to the scanned body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gadget {
    pub offset: isize,
    pub kind: Kind,
}

const MODRM_MOD_REG: u8 = 0xC0;

fn memory_form_with_reg(modrm: u8, reg: u8) -> bool {
    modrm & MODRM_MOD_REG != MODRM_MOD_REG && (modrm >> 3) & 7 == reg
}

fn is_rex_w(b: u8) -> bool {
    (0x48..=0x4F).contains(&b)
}

/// The gadget whose opcode is `b1 b2` after a `0F` (`prev` is the byte
/// before the `0F`, if known).
fn classify(b1: u8, b2: u8, prev: Option<u8>) -> Option<(Kind, bool)> {
    let wide = prev.is_some_and(is_rex_w);
    match (b1, b2) {
        (0x01, 0xEF) => Some((Kind::Wrpkru, false)),
        (0xAE, m) if memory_form_with_reg(m, 5) => Some(if wide {
            (Kind::Xrstor64, true)
        } else {
            (Kind::Xrstor, false)
        }),
        (0xC7, m) if memory_form_with_reg(m, 3) => Some(if wide {
            (Kind::Xrstors64, true)
        } else {
            (Kind::Xrstors, false)
        }),
        _ => None,
    }
}

/// Every gadget in `body`, with the bytes just before it (`before`, at
/// most its last 3 bytes are used) and just after it (`after`, at most 2)
/// as context, so a sequence straddling an edge of `body` is seen. A
/// gadget is reported when its `0F` lies in `body` or its opcode bytes
/// reach into `body`; offsets are relative to `body` (negative: it starts
/// in `before`).
pub fn scan(before: &[u8], body: &[u8], after: &[u8], mut found: impl FnMut(Gadget)) {
    let nb = before.len() as isize;
    let at = |i: isize| -> Option<u8> {
        if i < 0 {
            before.get((nb + i) as usize).copied()
        } else if (i as usize) < body.len() {
            Some(body[i as usize])
        } else {
            after.get(i as usize - body.len()).copied()
        }
    };
    // The `0F` may sit in the last two bytes of `before`.
    let mut check = |i: isize| {
        if let (Some(0x0F), Some(b1), Some(b2)) = (at(i), at(i + 1), at(i + 2)) {
            if let Some((kind, rex)) = classify(b1, b2, at(i - 1)) {
                found(Gadget {
                    offset: if rex { i - 1 } else { i },
                    kind,
                });
            }
        }
    };
    check(-2);
    check(-1);
    // A bit mask of the 0x0F bytes of each 32-byte block (a loop without
    // early exit, which the compiler vectorises: the scan runs on every
    // page a reseal finds changed), then a look at each one found.
    let mut base = 0usize;
    for block in body.chunks(32) {
        let mut m = 0u32;
        for (j, &b) in block.iter().enumerate() {
            m |= u32::from(b == 0x0F) << j;
        }
        while m != 0 {
            check((base + m.trailing_zeros() as usize) as isize);
            m &= m - 1;
        }
        base += block.len();
    }
}

/// Counts of the gadgets in some code.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub wrpkru: u64,
    pub xrstor: u64,
}

impl Counts {
    pub fn add(&mut self, k: Kind) {
        if k.is_wrpkru() {
            self.wrpkru += 1;
        } else {
            self.xrstor += 1;
        }
    }
}

/// The gadgets of an ELF file's executable segments, as (virtual address,
/// kind) at link-time addresses. None if it is not a readable ELF64 file.
pub fn scan_elf(file: &(impl crate::elf::ReadAt + ?Sized)) -> Option<Vec<(u64, Kind)>> {
    let mut out = Vec::new();
    for s in crate::elf::segments(file)? {
        if s.kind != crate::elf::PT_LOAD || s.flags & crate::elf::PF_X == 0 {
            continue;
        }
        let data = file.read_at(s.offset, s.filesz as usize)?;
        scan(&[], &data, &[], |g| {
            out.push((s.vaddr.wrapping_add_signed(g.offset as i64), g.kind))
        });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(before: &[u8], body: &[u8], after: &[u8]) -> Vec<(isize, Kind)> {
        let mut v = Vec::new();
        scan(before, body, after, |g| v.push((g.offset, g.kind)));
        v
    }

    #[test]
    fn wrpkru_anywhere() {
        assert_eq!(
            all(&[], &[0x90, 0x0F, 0x01, 0xEF, 0xC3], &[]),
            [(1, Kind::Wrpkru)]
        );
        // Inside an immediate: mov eax, 0xEF010F00.
        assert_eq!(
            all(&[], &[0xB8, 0x00, 0x0F, 0x01, 0xEF], &[]),
            [(2, Kind::Wrpkru)]
        );
        // RDPKRU (0F 01 EE) and XSETBV-like neighbours are not gadgets.
        assert!(all(&[], &[0x0F, 0x01, 0xEE, 0x0F, 0x01, 0xD1], &[]).is_empty());
    }

    #[test]
    fn xrstor_memory_forms_only() {
        // xrstor [rax] = 0F AE 28 (mod 0, reg 5, rm 0).
        assert_eq!(all(&[], &[0x0F, 0xAE, 0x28], &[]), [(0, Kind::Xrstor)]);
        // xrstor64 [rsp+8] = 48 0F AE 6C 24 08.
        assert_eq!(
            all(&[], &[0x48, 0x0F, 0xAE, 0x6C, 0x24, 0x08], &[]),
            [(0, Kind::Xrstor64)]
        );
        // lfence = 0F AE E8 (mod 3, reg 5): not a load.
        assert!(all(&[], &[0x0F, 0xAE, 0xE8], &[]).is_empty());
        // xsave [rax] = 0F AE 20 (reg 4), fxrstor [rax] = 0F AE 08 (reg 1).
        assert!(all(&[], &[0x0F, 0xAE, 0x20, 0x0F, 0xAE, 0x08], &[]).is_empty());
        // REX without W (0x41) is the 32-bit form.
        assert_eq!(
            all(&[], &[0x41, 0x0F, 0xAE, 0x29], &[]),
            [(1, Kind::Xrstor)]
        );
    }

    #[test]
    fn xrstors_memory_forms_only() {
        // xrstors [rcx] = 0F C7 19 (mod 0, reg 3, rm 1).
        assert_eq!(all(&[], &[0x0F, 0xC7, 0x19], &[]), [(0, Kind::Xrstors)]);
        assert_eq!(
            all(&[], &[0x4F, 0x0F, 0xC7, 0x5F, 0x10], &[]),
            [(0, Kind::Xrstors64)]
        );
        // cmpxchg8b [rax] = 0F C7 08 (reg 1); rdrand eax = 0F C7 F0 (reg 6, mod 3);
        // 0F C7 D8 (reg 3, mod 3) is not a memory form.
        assert!(all(
            &[],
            &[0x0F, 0xC7, 0x08, 0x0F, 0xC7, 0xF0, 0x0F, 0xC7, 0xD8],
            &[]
        )
        .is_empty());
    }

    #[test]
    fn sequences_straddling_the_edges_are_seen() {
        // 0F | 01 EF: starts one byte before the body.
        assert_eq!(all(&[0x90, 0x0F], &[0x01, 0xEF], &[]), [(-1, Kind::Wrpkru)]);
        // 0F 01 | EF: the body's last two bytes and the next page's first.
        assert_eq!(all(&[], &[0x90, 0x0F, 0x01], &[0xEF]), [(1, Kind::Wrpkru)]);
        // REX.W in `before`, 0F AE /5 in the body.
        assert_eq!(
            all(&[0x48], &[0x0F, 0xAE, 0x2E, 0, 0, 0, 0], &[]),
            [(-1, Kind::Xrstor64)]
        );
        // A sequence wholly in `before` is that page's, not this one's.
        assert!(all(&[0x0F, 0x01, 0xEF], &[0x90], &[]).is_empty());
        // Truncated at the end of everything: not a gadget (yet).
        assert!(all(&[], &[0x0F, 0x01], &[]).is_empty());
    }

    #[test]
    fn counts_split_by_kind() {
        let mut c = Counts::default();
        c.add(Kind::Wrpkru);
        c.add(Kind::Xrstors64);
        assert_eq!(
            c,
            Counts {
                wrpkru: 1,
                xrstor: 1
            }
        );
    }

    #[test]
    fn libc_has_the_wrpkru_of_pkey_set() {
        let Ok(bytes) = std::fs::read("/lib/x86_64-linux-gnu/libc.so.6") else {
            return;
        };
        let found = scan_elf(&bytes[..]).expect("libc is ELF64");
        assert!(found.iter().any(|(_, k)| *k == Kind::Wrpkru), "{found:?}");
    }
}
