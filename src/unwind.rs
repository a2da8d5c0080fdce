//! One step of DWARF call-frame unwinding, for naming a writer's callers.
//!
//! When a write faults inside a shared routine (libc's `memcpy`, a pthread
//! mutex operation), the writer that matters is the caller. Frame pointers
//! cannot find it (libc and most JITs are built without them), so this
//! evaluates the module's `.eh_frame` call-frame information, found through
//! `.eh_frame_hdr`'s sorted table, the same data a C++ exception uses.
//!
//! It runs inside the fault handler: no allocation, no locks, fixed-size
//! state, and every read goes through `Memory`, which the caller bounds to
//! the modules' mapped data and to checked stack reads. Anything unexpected
//! (an expression rule, an encoding other than the linker's) ends the walk:
//! an unnamed caller is an untrusted one.

/// Reads for the unwinder.
pub trait Memory {
    /// Static module data from `addr` to the end of its mapping, or None
    /// when `addr` is not inside a module's readable data.
    fn data(&self, addr: u64) -> Option<&[u8]>;
    /// One word of the interrupted thread's stack, if readable.
    fn stack_u64(&self, addr: u64) -> Option<u64>;
}

/// DWARF register numbers on x86-64.
pub const RBX: usize = 3;
pub const RBP: usize = 6;
pub const RSP: usize = 7;
/// The return-address column (the caller's rip).
pub const RA: usize = 16;
const NREGS: usize = 17;
/// Registers a callee must preserve: unchanged unless the CFI says saved.
const CALLEE_SAVED: [usize; 6] = [RBX, RBP, 12, 13, 14, 15];

/// Register values of one frame, with a mask of those known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Regs {
    pub r: [u64; NREGS],
    pub known: u32,
}

impl Regs {
    /// A frame with only `rip`, `rsp` and `rbp` known.
    pub fn new(ip: u64, sp: u64, bp: u64) -> Regs {
        let mut r = Regs {
            r: [0; NREGS],
            known: 0,
        };
        r.set(RA, ip);
        r.set(RSP, sp);
        r.set(RBP, bp);
        r
    }

    pub fn set(&mut self, reg: usize, v: u64) {
        self.r[reg] = v;
        self.known |= 1 << reg;
    }

    pub fn get(&self, reg: usize) -> Option<u64> {
        (reg < NREGS && self.known & (1 << reg) != 0).then(|| self.r[reg])
    }

    pub fn ip(&self) -> u64 {
        self.r[RA]
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rule {
    /// Not described: callee-saved registers keep their value.
    Same,
    Undefined,
    /// Saved at CFA + n.
    Offset(i64),
    /// Its value is CFA + n.
    ValOffset(i64),
    /// Described by something this unwinder does not evaluate.
    Unknown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Row {
    cfa_reg: usize,
    cfa_off: i64,
    /// The CFA is an expression (not evaluated).
    cfa_unknown: bool,
    rules: [Rule; NREGS],
}

/// Nesting of remember_state (compilers use one or two levels).
const MAX_REMEMBERED: usize = 4;

/// A byte cursor over module data.
struct Cursor<'a> {
    bytes: &'a [u8],
    /// Address of `bytes[0]`.
    base: u64,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn at(mem: &'a impl Memory, addr: u64) -> Option<Cursor<'a>> {
        Some(Cursor {
            bytes: mem.data(addr)?,
            base: addr,
            pos: 0,
        })
    }

    fn addr(&self) -> u64 {
        self.base + self.pos as u64
    }

    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let b = self
            .bytes
            .get(self.pos..self.pos.checked_add(N)?)?
            .try_into()
            .ok()?;
        self.pos += N;
        Some(b)
    }

    /// Skips `n` bytes, which must exist (a bad length ends the parse
    /// rather than wrapping around or running off the data).
    fn skip(&mut self, n: usize) -> Option<()> {
        let to = self.pos.checked_add(n)?;
        (to <= self.bytes.len()).then(|| self.pos = to)
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.take::<1>()?[0])
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take()?))
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take()?))
    }

    fn uleb(&mut self) -> Option<u64> {
        let (mut v, mut shift) = (0u64, 0u32);
        loop {
            let b = self.u8()?;
            if shift < 64 {
                v |= u64::from(b & 0x7f) << shift;
            }
            shift += 7;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
    }

    fn sleb(&mut self) -> Option<i64> {
        let (mut v, mut shift) = (0i64, 0u32);
        loop {
            let b = self.u8()?;
            if shift < 64 {
                v |= i64::from(b & 0x7f) << shift;
            }
            shift += 7;
            if b & 0x80 == 0 {
                if shift < 64 && b & 0x40 != 0 {
                    v |= -1i64 << shift;
                }
                return Some(v);
            }
        }
    }

    /// A DW_EH_PE-encoded pointer; `datarel` is the base for 0x30.
    fn pointer(&mut self, enc: u8, datarel: u64) -> Option<u64> {
        if enc == 0xff {
            return None;
        }
        let here = self.addr();
        let v = match enc & 0x0f {
            0x00 | 0x04 => self.u64()?,
            0x01 => self.uleb()?,
            0x02 => u64::from(self.u16()?),
            0x03 => u64::from(self.u32()?),
            0x09 => self.sleb()? as u64,
            0x0a => self.u16()? as i16 as i64 as u64,
            0x0b => self.u32()? as i32 as i64 as u64,
            0x0c => self.u64()?,
            _ => return None,
        };
        let base = match enc & 0x70 {
            0x00 => 0,
            0x10 => here,
            0x30 => datarel,
            _ => return None,
        };
        if enc & 0x80 != 0 {
            return None; // indirect: not used by the linker's tables
        }
        Some(base.wrapping_add(v))
    }
}

/// What a CIE tells its FDEs.
struct Cie<'a> {
    code_align: u64,
    data_align: i64,
    ra_reg: usize,
    fde_enc: u8,
    has_aug_data: bool,
    insns: Cursor<'a>,
    insns_end: usize,
}

fn parse_cie(mem: &impl Memory, addr: u64) -> Option<Cie<'_>> {
    let mut c = Cursor::at(mem, addr)?;
    let len = c.u32()?;
    if len == 0 || len == u32::MAX {
        return None;
    }
    let end = c.pos.checked_add(len as usize)?;
    if c.u32()? != 0 {
        return None; // not a CIE
    }
    let version = c.u8()?;
    let mut aug = [0u8; 8];
    let mut n = 0;
    loop {
        let b = c.u8()?;
        if b == 0 {
            break;
        }
        *aug.get_mut(n)? = b;
        n += 1;
    }
    let aug = &aug[..n];
    if aug.starts_with(b"eh") {
        return None;
    }
    let code_align = c.uleb()?;
    let data_align = c.sleb()?;
    let ra_reg = if version == 1 {
        usize::from(c.u8()?)
    } else {
        c.uleb()? as usize
    };
    let mut fde_enc = 0;
    let has_aug_data = aug.first() == Some(&b'z');
    if has_aug_data {
        let len = c.uleb()? as usize;
        let after = c.pos.checked_add(len)?;
        for &a in &aug[1..] {
            match a {
                b'R' => fde_enc = c.u8()?,
                b'L' => {
                    c.u8()?;
                }
                b'P' => {
                    let enc = c.u8()?;
                    c.pointer(enc & 0x7f, 0)?;
                }
                b'S' | b'B' => {}
                _ => break,
            }
        }
        c.pos = after.min(c.bytes.len());
    }
    if ra_reg >= NREGS || c.pos > end {
        return None;
    }
    Some(Cie {
        code_align,
        data_align,
        ra_reg,
        fde_enc,
        has_aug_data,
        insns: c,
        insns_end: end,
    })
}

/// Runs call-frame instructions from `c` up to `end`, for code at `pc`
/// given the location `loc` the instructions start at. Returns false when
/// the table uses something this unwinder does not follow.
fn run(
    c: &mut Cursor<'_>,
    end: usize,
    cie: &Cie<'_>,
    row: &mut Row,
    initial: &Row,
    mut loc: u64,
    pc: u64,
) -> Option<()> {
    let mut stack = [*row; MAX_REMEMBERED];
    let mut depth = 0;
    let set = |row: &mut Row, reg: u64, rule: Rule| {
        if let Some(r) = row.rules.get_mut(reg as usize) {
            *r = rule;
        }
    };
    while c.pos < end {
        let op = c.u8()?;
        let advance = match op >> 6 {
            1 => Some(u64::from(op & 0x3f)),
            2 => {
                let off = (c.uleb()? as i64).wrapping_mul(cie.data_align);
                set(row, u64::from(op & 0x3f), Rule::Offset(off));
                None
            }
            3 => {
                let r = usize::from(op & 0x3f);
                if r < NREGS {
                    row.rules[r] = initial.rules[r];
                }
                None
            }
            _ => match op {
                0x00 => None,
                0x01 => {
                    loc = c.pointer(cie.fde_enc, 0)?;
                    if loc > pc {
                        return Some(());
                    }
                    None
                }
                0x02 => Some(u64::from(c.u8()?)),
                0x03 => Some(u64::from(c.u16()?)),
                0x04 => Some(u64::from(c.u32()?)),
                0x05 => {
                    let r = c.uleb()?;
                    let off = (c.uleb()? as i64).wrapping_mul(cie.data_align);
                    set(row, r, Rule::Offset(off));
                    None
                }
                0x06 => {
                    let r = c.uleb()? as usize;
                    if r < NREGS {
                        row.rules[r] = initial.rules[r];
                    }
                    None
                }
                0x07 => {
                    let r = c.uleb()?;
                    set(row, r, Rule::Undefined);
                    None
                }
                0x08 => {
                    let r = c.uleb()?;
                    set(row, r, Rule::Same);
                    None
                }
                0x09 => {
                    let r = c.uleb()?;
                    c.uleb()?;
                    set(row, r, Rule::Unknown);
                    None
                }
                0x0a => {
                    *stack.get_mut(depth)? = *row;
                    depth += 1;
                    None
                }
                0x0b => {
                    // The remembered state includes the CFA rule (as GCC
                    // emits and libgcc reads it: code after an epilogue's
                    // ret restores the body's rule this way).
                    depth = depth.checked_sub(1)?;
                    *row = stack[depth];
                    None
                }
                0x0c => {
                    row.cfa_reg = c.uleb()? as usize;
                    row.cfa_off = c.uleb()? as i64;
                    row.cfa_unknown = false;
                    None
                }
                0x0d => {
                    row.cfa_reg = c.uleb()? as usize;
                    row.cfa_unknown = false;
                    None
                }
                0x0e => {
                    row.cfa_off = c.uleb()? as i64;
                    None
                }
                0x0f => {
                    let n = c.uleb()? as usize;
                    c.skip(n)?;
                    row.cfa_unknown = true;
                    None
                }
                0x10 | 0x16 => {
                    let r = c.uleb()?;
                    let n = c.uleb()? as usize;
                    c.skip(n)?;
                    set(row, r, Rule::Unknown);
                    None
                }
                0x11 => {
                    let r = c.uleb()?;
                    let off = c.sleb()?.wrapping_mul(cie.data_align);
                    set(row, r, Rule::Offset(off));
                    None
                }
                0x12 => {
                    row.cfa_reg = c.uleb()? as usize;
                    row.cfa_off = c.sleb()?.wrapping_mul(cie.data_align);
                    row.cfa_unknown = false;
                    None
                }
                0x13 => {
                    row.cfa_off = c.sleb()?.wrapping_mul(cie.data_align);
                    None
                }
                0x14 => {
                    let r = c.uleb()?;
                    let off = (c.uleb()? as i64).wrapping_mul(cie.data_align);
                    set(row, r, Rule::ValOffset(off));
                    None
                }
                0x15 => {
                    let r = c.uleb()?;
                    let off = c.sleb()?.wrapping_mul(cie.data_align);
                    set(row, r, Rule::ValOffset(off));
                    None
                }
                0x2e => {
                    c.uleb()?;
                    None
                }
                0x2f => {
                    let r = c.uleb()?;
                    let off = (c.uleb()? as i64)
                        .wrapping_neg()
                        .wrapping_mul(cie.data_align);
                    set(row, r, Rule::Offset(off));
                    None
                }
                _ => return None,
            },
        };
        if let Some(delta) = advance {
            loc = loc.wrapping_add(delta.wrapping_mul(cie.code_align));
            if loc > pc {
                return Some(());
            }
        }
    }
    Some(())
}

/// The FDE covering `pc`, found in the `.eh_frame_hdr` at `hdr`: its
/// address and start.
fn find_fde(mem: &impl Memory, hdr: u64, pc: u64) -> Option<u64> {
    let mut c = Cursor::at(mem, hdr)?;
    if c.u8()? != 1 {
        return None;
    }
    let ptr_enc = c.u8()?;
    let count_enc = c.u8()?;
    let table_enc = c.u8()?;
    c.pointer(ptr_enc, hdr)?;
    let count = c.pointer(count_enc, hdr)? as usize;
    if table_enc != 0x3b {
        return None; // datarel|sdata4 is what linkers write
    }
    let table = c
        .bytes
        .get(c.pos..c.pos.checked_add(count.checked_mul(8)?)?)?;
    let entry = |i: usize| -> (u64, u64) {
        let e = &table[i * 8..i * 8 + 8];
        let loc = i32::from_le_bytes(e[0..4].try_into().unwrap_or_default());
        let fde = i32::from_le_bytes(e[4..8].try_into().unwrap_or_default());
        (
            hdr.wrapping_add(loc as i64 as u64),
            hdr.wrapping_add(fde as i64 as u64),
        )
    };
    let (mut lo, mut hi) = (0, count);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if entry(mid).0 <= pc {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    Some(entry(lo.checked_sub(1)?).1)
}

/// The extent [start, end) of the function whose FDE covers `pc`: how a
/// profile names a whole function of a module that has no symbols.
pub fn function_range(mem: &impl Memory, hdr: u64, pc: u64) -> Option<(u64, u64)> {
    let fde_addr = find_fde(mem, hdr, pc)?;
    let mut c = Cursor::at(mem, fde_addr)?;
    let len = c.u32()?;
    if len == 0 || len == u32::MAX {
        return None;
    }
    let cie_ptr_at = c.addr();
    let cie_off = c.u32()?;
    let cie = parse_cie(mem, cie_ptr_at.wrapping_sub(u64::from(cie_off)))?;
    let start = c.pointer(cie.fde_enc, 0)?;
    let range = c.pointer(cie.fde_enc & 0x0f, 0)?;
    let end = start.checked_add(range)?;
    (start <= pc && pc < end).then_some((start, end))
}

/// The row of the call-frame table for `pc`, from the `.eh_frame_hdr` at
/// `hdr`.
fn row_for(mem: &impl Memory, hdr: u64, pc: u64) -> Option<Row> {
    let fde_addr = find_fde(mem, hdr, pc)?;
    let mut c = Cursor::at(mem, fde_addr)?;
    let len = c.u32()?;
    if len == 0 || len == u32::MAX {
        return None;
    }
    let end = c.pos.checked_add(len as usize)?;
    let cie_ptr_at = c.addr();
    let cie_off = c.u32()?;
    let cie = parse_cie(mem, cie_ptr_at.wrapping_sub(u64::from(cie_off)))?;
    let start = c.pointer(cie.fde_enc, 0)?;
    let range = c.pointer(cie.fde_enc & 0x0f, 0)?;
    if pc < start || pc >= start.wrapping_add(range) {
        return None;
    }
    if cie.has_aug_data {
        let n = c.uleb()? as usize;
        c.skip(n)?;
    }
    let mut row = Row {
        cfa_reg: RSP,
        cfa_off: 8,
        cfa_unknown: false,
        rules: [Rule::Same; NREGS],
    };
    let blank = row;
    let mut ci = Cursor {
        bytes: cie.insns.bytes,
        base: cie.insns.base,
        pos: cie.insns.pos,
    };
    run(
        &mut ci,
        cie.insns_end,
        &cie,
        &mut row,
        &blank,
        start,
        u64::MAX,
    )?;
    let initial = row;
    run(&mut c, end, &cie, &mut row, &initial, start, pc)?;
    if cie.ra_reg != RA {
        row.rules[RA] = row.rules[cie.ra_reg];
    }
    Some(row)
}

/// The caller's registers, given a frame's. `first` marks the interrupted
/// frame itself, whose `ip` is the faulting instruction; a caller's `ip` is
/// a return address, looked up one byte earlier (inside the call). Returns
/// None at the end of the stack or where the tables cannot say.
pub fn step(mem: &impl Memory, eh_frame_hdr: u64, regs: &Regs, first: bool) -> Option<Regs> {
    let pc = if first {
        regs.ip()
    } else {
        regs.ip().checked_sub(1)?
    };
    let row = row_for(mem, eh_frame_hdr, pc)?;
    if row.cfa_unknown {
        return None;
    }
    let cfa = regs.get(row.cfa_reg)?.wrapping_add(row.cfa_off as u64);
    let mut out = Regs {
        r: [0; NREGS],
        known: 0,
    };
    for reg in 0..NREGS {
        match row.rules[reg] {
            Rule::Offset(n) => {
                if let Some(v) = mem.stack_u64(cfa.wrapping_add(n as u64)) {
                    out.set(reg, v);
                }
            }
            Rule::ValOffset(n) => out.set(reg, cfa.wrapping_add(n as u64)),
            Rule::Same if CALLEE_SAVED.contains(&reg) => {
                if let Some(v) = regs.get(reg) {
                    out.set(reg, v);
                }
            }
            _ => {}
        }
    }
    out.set(RSP, cfa);
    let ip = out.get(RA).filter(|&ip| ip != 0)?;
    out.set(RA, ip);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf;
    use std::collections::HashMap;

    /// Module data at link-time addresses, plus a sparse stack.
    struct Image {
        segs: Vec<(u64, Vec<u8>)>,
        stack: HashMap<u64, u64>,
    }

    impl Memory for Image {
        fn data(&self, addr: u64) -> Option<&[u8]> {
            self.segs.iter().find_map(|(base, bytes)| {
                let off = addr.checked_sub(*base)? as usize;
                bytes.get(off..)
            })
        }
        fn stack_u64(&self, addr: u64) -> Option<u64> {
            self.stack.get(&addr).copied()
        }
    }

    /// A hand-written `.eh_frame_hdr` + `.eh_frame` for one function at
    /// 0x1000..0x1100 with a classic frame-pointer prologue:
    /// 0x1000 push rbp; 0x1001 mov rbp,rsp; 0x1004.. body; 0x10f0 leave.
    fn synthetic() -> (Image, u64) {
        let hdr = 0x4000u64;
        let eh = 0x4100u64;
        let mut cie = vec![];
        cie.extend_from_slice(&0u32.to_le_bytes()); // CIE id
        cie.push(1); // version
        cie.extend_from_slice(b"zR\0");
        cie.push(1); // code align
        cie.push(0x78); // data align -8
        cie.push(16); // RA register
        cie.push(1); // aug data length
        cie.push(0x1b); // FDE pointers pcrel|sdata4
        cie.extend_from_slice(&[0x0c, 7, 8]); // def_cfa rsp+8
        cie.extend_from_slice(&[0x80 | 16, 1]); // RA at cfa-8
        while (cie.len() + 4) % 8 != 0 {
            cie.push(0);
        }
        let mut frame = vec![];
        frame.extend_from_slice(&(cie.len() as u32).to_le_bytes());
        frame.extend_from_slice(&cie);
        let fde_at = eh + frame.len() as u64;
        let mut fde = vec![];
        fde.extend_from_slice(&((fde_at + 4 - eh) as u32).to_le_bytes());
        let pc_field = fde_at + 8;
        fde.extend_from_slice(&((0x1000i64 - pc_field as i64) as i32).to_le_bytes());
        fde.extend_from_slice(&0x100u32.to_le_bytes());
        fde.push(0); // aug data length
        fde.extend_from_slice(&[0x41, 0x0e, 16, 0x80 | 6, 2]); // +1: cfa rsp+16, rbp at cfa-16
        fde.extend_from_slice(&[0x43, 0x0d, 6]); // +3: cfa rbp+16
        fde.extend_from_slice(&[0x0a]); // remember_state (cfa rbp+16)
        fde.extend_from_slice(&[0x02, 0xec, 0x0c, 7, 8]); // +0xec: cfa rsp+8 (after leave)
        fde.extend_from_slice(&[0x41, 0x0b]); // +1: restore_state: cfa rbp+16 again
        while (fde.len() + 4) % 8 != 0 {
            fde.push(0);
        }
        frame.extend_from_slice(&(fde.len() as u32).to_le_bytes());
        frame.extend_from_slice(&fde);
        frame.extend_from_slice(&0u32.to_le_bytes());
        let mut h = vec![1, 0x1b, 0x03, 0x3b];
        h.extend_from_slice(&((eh as i64 - (hdr as i64 + 4)) as i32).to_le_bytes());
        h.extend_from_slice(&1u32.to_le_bytes());
        h.extend_from_slice(&((0x1000 - hdr as i64) as i32).to_le_bytes());
        h.extend_from_slice(&((fde_at as i64 - hdr as i64) as i32).to_le_bytes());
        let img = Image {
            segs: vec![(hdr, h), (eh, frame)],
            stack: HashMap::new(),
        };
        (img, hdr)
    }

    #[test]
    fn follows_a_frame_pointer_prologue() {
        let (mut img, hdr) = synthetic();
        let sp = 0x7000u64;
        img.stack.insert(sp, 0xaaaa); // at entry: return address at rsp
        let at_entry = step(&img, hdr, &Regs::new(0x1000, sp, 0x1), true).unwrap();
        assert_eq!((at_entry.ip(), at_entry.get(RSP)), (0xaaaa, Some(sp + 8)));
        assert_eq!(
            at_entry.get(RBP),
            Some(0x1),
            "rbp untouched before the push"
        );

        // After push rbp (rsp = sp-8 holds the old rbp).
        img.stack.insert(sp - 8, 0xbbbb);
        let pushed = step(&img, hdr, &Regs::new(0x1001, sp - 8, 0x1), true).unwrap();
        assert_eq!((pushed.ip(), pushed.get(RBP)), (0xaaaa, Some(0xbbbb)));

        // In the body: the CFA comes from rbp whatever rsp is.
        let body = Regs::new(0x1050, 0x100, sp - 8);
        let b = step(&img, hdr, &body, true).unwrap();
        assert_eq!(
            (b.ip(), b.get(RSP), b.get(RBP)),
            (0xaaaa, Some(sp + 8), Some(0xbbbb))
        );

        // As a caller (return address 0x1051): looked up inside the call.
        assert_eq!(
            step(&img, hdr, &Regs::new(0x1051, 0x100, sp - 8), false)
                .unwrap()
                .ip(),
            0xaaaa
        );
        // After leave.
        assert_eq!(
            step(&img, hdr, &Regs::new(0x10f0, sp, 0), true)
                .unwrap()
                .ip(),
            0xaaaa
        );
        // Past the ret, another path of the body: the remembered rule.
        let after = step(&img, hdr, &Regs::new(0x10f1, 0x100, sp - 8), true).unwrap();
        assert_eq!((after.ip(), after.get(RSP)), (0xaaaa, Some(sp + 8)));
    }

    #[test]
    fn a_function_is_named_by_its_fde() {
        let (img, hdr) = synthetic();
        assert_eq!(function_range(&img, hdr, 0x1050), Some((0x1000, 0x1100)));
        assert_eq!(function_range(&img, hdr, 0x1100), None);
    }

    #[test]
    fn outside_every_fde_there_is_no_answer() {
        let (img, hdr) = synthetic();
        assert!(step(&img, hdr, &Regs::new(0x0fff, 0x7000, 0), true).is_none());
        assert!(step(&img, hdr, &Regs::new(0x1100, 0x7000, 0), true).is_none());
        assert!(step(&img, 0x9999, &Regs::new(0x1000, 0x7000, 0), true).is_none());
    }

    #[test]
    fn unreadable_return_address_ends_the_walk() {
        let (img, hdr) = synthetic();
        assert!(step(&img, hdr, &Regs::new(0x1000, 0x7000, 0), true).is_none());
    }

    /// The test binary's own tables, at link-time addresses: every function
    /// has CFI, and at its first instruction the CFA is rsp+8 with the
    /// return address just below.
    #[test]
    fn the_linkers_tables_say_return_address_at_entry() {
        let bytes = std::fs::read("/proc/self/exe").unwrap();
        let segs = elf::segments(&bytes[..]).unwrap();
        let hdr = segs
            .iter()
            .find(|s| s.kind == elf::PT_GNU_EH_FRAME)
            .expect("linked with --eh-frame-hdr")
            .vaddr;
        let mut img = Image {
            segs: segs
                .iter()
                .filter(|s| s.kind == elf::PT_LOAD)
                .map(|s| {
                    let o = s.offset as usize;
                    (s.vaddr, bytes[o..o + s.filesz as usize].to_vec())
                })
                .collect(),
            stack: HashMap::new(),
        };
        img.stack.insert(0x7000, 0x1234_5678);
        let info = elf::parse(&bytes[..]).unwrap();
        let mut checked = 0;
        for (start, _, name) in info.symbols.iter().filter(|s| s.1 >= 16).take(400) {
            if let Some(r) = step(&img, hdr, &Regs::new(start, 0x7000, 0), true) {
                assert_eq!(r.ip(), 0x1234_5678, "{name}");
                assert_eq!(r.get(RSP), Some(0x7008), "{name}");
                checked += 1;
            }
        }
        assert!(checked > 300, "only {checked} functions unwound");
    }
}
