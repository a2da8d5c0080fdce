//! Tests of `unwind`: hand-written tables and the test binary's own.

use super::*;
use crate::elf;
use gimli::constants::*;
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

/// Appends one length-prefixed `.eh_frame` entry, padded to 8 bytes.
fn entry(frame: &mut Vec<u8>, mut body: Vec<u8>) {
    while !(body.len() + 4).is_multiple_of(8) {
        body.push(DW_CFA_nop.0);
    }
    frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
    frame.extend_from_slice(&body);
}

/// An FDE for [start, start + len) at `fde_at`, with its instructions.
fn fde(eh: u64, fde_at: u64, start: u64, len: u32, insns: &[u8]) -> Vec<u8> {
    let mut fde = vec![];
    fde.extend_from_slice(&((fde_at + 4 - eh) as u32).to_le_bytes()); // CIE pointer
    let pc_field = fde_at + 8;
    fde.extend_from_slice(&((start as i64 - pc_field as i64) as i32).to_le_bytes());
    fde.extend_from_slice(&len.to_le_bytes());
    fde.push(0); // augmentation data length
    fde.extend_from_slice(insns);
    fde
}

/// A hand-written `.eh_frame_hdr` + `.eh_frame` for one function at
/// 0x1000..0x1100 with a classic frame-pointer prologue:
/// 0x1000 push rbp; 0x1001 mov rbp,rsp; 0x1004.. body; 0x10f0 leave;
/// and a PLT-like stub at 0x2000..0x2010 whose CFA is an expression.
fn synthetic() -> (Image, u64) {
    let hdr = 0x4000u64;
    let eh = 0x4100u64;
    let (ra, sp, bp) = (RA as u8, RSP as u8, RBP as u8);
    let mut cie = vec![];
    cie.extend_from_slice(&0u32.to_le_bytes()); // CIE id
    cie.push(1); // version
    cie.extend_from_slice(b"zR\0");
    cie.push(1); // code align
    cie.push(0x78); // data align: sleb128 -8
    cie.push(ra);
    cie.push(1); // augmentation data length
    cie.push(DW_EH_PE_pcrel.0 | DW_EH_PE_sdata4.0); // FDE pointers
    cie.extend_from_slice(&[DW_CFA_def_cfa.0, sp, 8]); // cfa rsp+8
    cie.extend_from_slice(&[DW_CFA_offset.0 | ra, 1]); // RA at cfa-8
    let mut frame = vec![];
    entry(&mut frame, cie);
    let advance = |n: u8| DW_CFA_advance_loc.0 | n;
    let body = [
        advance(1),
        DW_CFA_def_cfa_offset.0,
        16, // cfa rsp+16
        DW_CFA_offset.0 | bp,
        2, // rbp at cfa-16
        advance(3),
        DW_CFA_def_cfa_register.0,
        bp, // cfa rbp+16
        DW_CFA_remember_state.0,
        DW_CFA_advance_loc1.0,
        0xec,
        DW_CFA_def_cfa.0,
        sp,
        8, // after leave: cfa rsp+8
        advance(1),
        DW_CFA_restore_state.0, // past the ret: cfa rbp+16 again
    ];
    let fn_fde = eh + frame.len() as u64;
    entry(&mut frame, fde(eh, fn_fde, 0x1000, 0x100, &body));
    // The linker's PLT rule: rsp + 8 + ((rip & 15) >= 11 ? 8 : 0).
    let plt = [
        DW_CFA_def_cfa_expression.0,
        11,
        DW_OP_breg7.0,
        8,
        DW_OP_breg16.0,
        0,
        DW_OP_lit15.0,
        DW_OP_and.0,
        DW_OP_lit11.0,
        DW_OP_ge.0,
        DW_OP_lit3.0,
        DW_OP_shl.0,
        DW_OP_plus.0,
    ];
    let plt_fde = eh + frame.len() as u64;
    entry(&mut frame, fde(eh, plt_fde, 0x2000, 0x10, &plt));
    frame.extend_from_slice(&0u32.to_le_bytes()); // terminator
    let table = DW_EH_PE_datarel.0 | DW_EH_PE_sdata4.0;
    let mut h = vec![
        1,
        DW_EH_PE_pcrel.0 | DW_EH_PE_sdata4.0,
        DW_EH_PE_udata4.0,
        table,
    ];
    h.extend_from_slice(&((eh as i64 - (hdr as i64 + 4)) as i32).to_le_bytes());
    h.extend_from_slice(&2u32.to_le_bytes());
    for (start, at) in [(0x1000, fn_fde), (0x2000, plt_fde)] {
        h.extend_from_slice(&((start - hdr as i64) as i32).to_le_bytes());
        h.extend_from_slice(&((at as i64 - hdr as i64) as i32).to_le_bytes());
    }
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

#[test]
fn a_frame_at_or_below_the_stack_pointer_ends_the_walk() {
    let (mut img, hdr) = synthetic();
    // A body frame whose rbp points below rsp: the CFA (rbp+16) would be
    // a frame the stack has already left, though its slots read fine.
    img.stack.insert(0x6000, 0x6100);
    img.stack.insert(0x6008, 0x1051);
    assert!(step(&img, hdr, &Regs::new(0x1050, 0x7000, 0x6000), true).is_none());
    // The same frame read from a lower stack pointer unwinds.
    let ok = step(&img, hdr, &Regs::new(0x1050, 0x5000, 0x6000), true).unwrap();
    assert_eq!((ok.ip(), ok.get(RSP)), (0x1051, Some(0x6010)));
    // A CFA that wraps around the address space.
    assert!(step(&img, hdr, &Regs::new(0x1050, 0x7000, u64::MAX - 4), true).is_none());
}

#[test]
fn a_looping_stack_ends_the_walk() {
    let (mut img, hdr) = synthetic();
    // Two frames whose saved rbp values point at each other, each
    // returning into the function's body again.
    img.stack.insert(0x7000, 0x7100);
    img.stack.insert(0x7008, 0x1051);
    img.stack.insert(0x7100, 0x7000);
    img.stack.insert(0x7108, 0x1051);
    let mut regs = Regs::new(0x1050, 0x6f00, 0x7000);
    let mut steps = 0;
    let mut first = true;
    while let Some(next) = step(&img, hdr, &regs, first) {
        assert!(next.get(RSP) > regs.get(RSP), "the stack pointer moves up");
        (regs, first) = (next, false);
        steps += 1;
        assert!(steps < 4, "the walk did not end");
    }
    assert_eq!(steps, 2);
}

#[test]
fn a_plt_entrys_expression_ends_the_walk() {
    let (mut img, hdr) = synthetic();
    img.stack.insert(0x7000, 0xaaaa);
    assert!(step(&img, hdr, &Regs::new(0x2004, 0x7000, 0), true).is_none());
    assert_eq!(function_range(&img, hdr, 0x2004), Some((0x2000, 0x2010)));
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

#[test]
fn the_unwind_context_fits_a_signal_handlers_stack() {
    let size = std::mem::size_of::<UnwindContext<usize, OnStack>>();
    assert!(size <= 8 << 10, "{size} bytes");
}
