//! The little x86-64 decoding the fault handler needs.
//!
//! Under the trap flag a REP string instruction (`rep movs`, `rep stos`)
//! traps after *every iteration*, and glibc's memcpy/memset use them for
//! large sizes: stepping them one iteration per fault turns a 10 MB memset
//! into millions of faults. So the handler recognises them and completes
//! the part of the write that lies inside guarded memory in one go. This
//! module decodes the instruction and plans that work; the handler only
//! copies bytes and writes registers back.

/// The string operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StringOp {
    /// `rep movs`: copy from `[rsi]` to `[rdi]`.
    Movs,
    /// `rep stos`: store `rax`'s low `size` bytes to `[rdi]`.
    Stos,
}

/// A decoded REP string instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RepString {
    pub op: StringOp,
    /// Element size in bytes: 1, 2, 4 or 8.
    pub size: u64,
    /// Length of the instruction in bytes.
    pub len: u64,
}

/// Decodes a `rep movs`/`rep stos` at the start of `code`. Anything else,
/// including forms the handler does not emulate (32-bit addressing, FS/GS
/// segment overrides), is `None`.
pub fn decode_rep_string(code: &[u8]) -> Option<RepString> {
    let mut rep = false;
    let mut opsize16 = false;
    let mut rex_w = false;
    for (i, &b) in code.iter().enumerate().take(15) {
        match b {
            0xF3 => rep = true,
            0x66 => opsize16 = true,
            // Segment overrides other than FS/GS are no-ops in 64-bit mode.
            0x2E | 0x36 | 0x3E | 0x26 => {}
            // 32-bit addressing, FS/GS bases, REPNE: not emulated.
            0x67 | 0x64 | 0x65 | 0xF2 | 0xF0 => return None,
            0x40..=0x4F => {
                // REX must come right before the opcode.
                let op = *code.get(i + 1)?;
                rex_w = b & 0x08 != 0;
                return finish(rep, opsize16, rex_w, op, i as u64 + 2);
            }
            op => return finish(rep, opsize16, rex_w, op, i as u64 + 1),
        }
    }
    None
}

fn finish(rep: bool, opsize16: bool, rex_w: bool, op: u8, len: u64) -> Option<RepString> {
    if !rep {
        return None;
    }
    let wide = if rex_w {
        8
    } else if opsize16 {
        2
    } else {
        4
    };
    let (op, size) = match op {
        0xA4 => (StringOp::Movs, 1),
        0xA5 => (StringOp::Movs, wide),
        0xAA => (StringOp::Stos, 1),
        0xAB => (StringOp::Stos, wide),
        _ => return None,
    };
    Some(RepString { op, size, len })
}

/// The registers a REP string instruction reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StringRegs {
    pub rcx: u64,
    pub rsi: u64,
    pub rdi: u64,
    /// The direction flag: addresses go down when set.
    pub df: bool,
}

/// What the handler should do for one REP string fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RepPlan {
    /// Elements to complete now.
    pub count: u64,
    /// Lowest and one-past-highest destination byte written.
    pub dst_lo: u64,
    pub dst_hi: u64,
    /// Same for the source (`Movs` only; empty for `Stos`).
    pub src_lo: u64,
    pub src_hi: u64,
    /// Registers after those elements.
    pub after: StringRegs,
    /// Whether the instruction is then finished (advance `rip` by `len`).
    pub done: bool,
}

/// Plans the completion of as many elements as lie wholly inside the
/// destination window `[win_lo, win_hi)` (the guarded memory around the
/// fault), going in the instruction's direction from `rdi`. Elements beyond
/// the window are left to the CPU: the instruction resumes with the rest, as
/// it does after an interrupt. `None` if not even one element fits.
pub fn plan_rep(insn: &RepString, regs: StringRegs, win_lo: u64, win_hi: u64) -> Option<RepPlan> {
    let s = insn.size;
    if regs.rcx == 0 {
        return None;
    }
    let room = if regs.df {
        // Elements at rdi, rdi-s, ...: the element at rdi must end by win_hi.
        if regs.rdi < win_lo || regs.rdi.checked_add(s)? > win_hi {
            0
        } else {
            (regs.rdi - win_lo) / s + 1
        }
    } else if regs.rdi < win_lo || regs.rdi >= win_hi {
        0
    } else {
        (win_hi - regs.rdi) / s
    };
    let count = room.min(regs.rcx);
    if count == 0 {
        return None;
    }
    let bytes = count.checked_mul(s)?;
    let span = |start: u64| -> Option<(u64, u64)> {
        if regs.df {
            let hi = start.checked_add(s)?;
            Some((hi.checked_sub(bytes)?, hi))
        } else {
            Some((start, start.checked_add(bytes)?))
        }
    };
    let (dst_lo, dst_hi) = span(regs.rdi)?;
    let (src_lo, src_hi) = match insn.op {
        StringOp::Movs => span(regs.rsi)?,
        StringOp::Stos => (0, 0),
    };
    let step = |r: u64| {
        if regs.df {
            r.wrapping_sub(bytes)
        } else {
            r.wrapping_add(bytes)
        }
    };
    let after = StringRegs {
        rcx: regs.rcx - count,
        rsi: if insn.op == StringOp::Movs {
            step(regs.rsi)
        } else {
            regs.rsi
        },
        rdi: step(regs.rdi),
        df: regs.df,
    };
    Some(RepPlan {
        count,
        dst_lo,
        dst_hi,
        src_lo,
        src_hi,
        after,
        done: after.rcx == 0,
    })
}

/// Whether copying element by element in the instruction's direction gives
/// a different result from `memmove` (the destination overlaps the source
/// ahead of the copy): the handler then copies element by element.
pub fn needs_elementwise(plan: &RepPlan, df: bool) -> bool {
    let overlap = plan.dst_lo < plan.src_hi && plan.src_lo < plan.dst_hi;
    overlap
        && if df {
            plan.dst_lo < plan.src_lo
        } else {
            plan.dst_lo > plan.src_lo
        }
}

/// Whether the 7 bytes before a return address end a call instruction:
/// `call rel32` (E8 + 4 bytes), or `call` through a register or memory
/// operand (FF /2 with a ModRM, SIB and displacement of 0-4 bytes: total
/// lengths 2, 3, 6 and 7). A check that a stack slot the unwind tables
/// named really holds a return address.
pub fn ends_a_call(before: &[u8; 7]) -> bool {
    // The byte `k` before the return address.
    let at = |k: usize| before[7 - k];
    let indirect = |k: usize| at(k) == 0xff && (at(k - 1) >> 3) & 7 == 2;
    at(5) == 0xe8 || indirect(2) || indirect(3) || indirect(6) || indirect(7)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_addresses_follow_calls() {
        // call rel32
        assert!(ends_a_call(&[0x90, 0x90, 0xe8, 1, 2, 3, 4]));
        // call rax (ff d0), call [rbx+8] (ff 53 08), call [rip+d32] (ff 15 ..)
        assert!(ends_a_call(&[0x90, 0x90, 0x90, 0x90, 0x90, 0xff, 0xd0]));
        assert!(ends_a_call(&[0x90, 0x90, 0x90, 0x90, 0xff, 0x53, 0x08]));
        assert!(ends_a_call(&[0x90, 0xff, 0x15, 1, 2, 3, 4]));
        // jmp rax (ff e0, /4) and plain code are not calls
        assert!(!ends_a_call(&[0x90, 0x90, 0x90, 0x90, 0x90, 0xff, 0xe0]));
        assert!(!ends_a_call(&[0x90; 7]));
    }

    #[test]
    fn decodes_the_glibc_forms() {
        let d = |b: &[u8]| decode_rep_string(b);
        assert_eq!(
            d(&[0xF3, 0xA4]),
            Some(RepString {
                op: StringOp::Movs,
                size: 1,
                len: 2
            })
        );
        assert_eq!(
            d(&[0xF3, 0xAA, 0x90]),
            Some(RepString {
                op: StringOp::Stos,
                size: 1,
                len: 2
            })
        );
        assert_eq!(
            d(&[0xF3, 0x48, 0xA5]),
            Some(RepString {
                op: StringOp::Movs,
                size: 8,
                len: 3
            })
        );
        assert_eq!(
            d(&[0xF3, 0x48, 0xAB]),
            Some(RepString {
                op: StringOp::Stos,
                size: 8,
                len: 3
            })
        );
        assert_eq!(
            d(&[0x66, 0xF3, 0xAB]),
            Some(RepString {
                op: StringOp::Stos,
                size: 2,
                len: 3
            })
        );
        assert_eq!(
            d(&[0xF3, 0xAB]),
            Some(RepString {
                op: StringOp::Stos,
                size: 4,
                len: 2
            })
        );
    }

    #[test]
    fn refuses_what_it_does_not_emulate() {
        for b in [
            &[0xA4][..],             // no REP: one step is one element
            &[0xF3, 0x67, 0xA4][..], // 32-bit addressing
            &[0x64, 0xF3, 0xA4][..], // FS override
            &[0xF2, 0xA4][..],       // REPNE
            &[0xF3, 0xA6][..],       // cmps: does not write
            &[0x48, 0x89, 0x07][..], // mov [rdi], rax
            &[0xF3][..],             // truncated
            &[][..],
        ] {
            assert_eq!(decode_rep_string(b), None, "{b:x?}");
        }
    }

    const STOSB: RepString = RepString {
        op: StringOp::Stos,
        size: 1,
        len: 2,
    };
    const MOVSQ: RepString = RepString {
        op: StringOp::Movs,
        size: 8,
        len: 3,
    };

    #[test]
    fn plans_a_whole_forward_write_inside_the_window() {
        let regs = StringRegs {
            rcx: 10 << 20,
            rsi: 0,
            rdi: 0x10_0000,
            df: false,
        };
        let p = plan_rep(&STOSB, regs, 0x10_0000, 0x10_0000 + (12 << 20)).unwrap();
        assert_eq!(p.count, 10 << 20);
        assert!(p.done);
        assert_eq!((p.dst_lo, p.dst_hi), (0x10_0000, 0x10_0000 + (10 << 20)));
        assert_eq!(p.after.rdi, 0x10_0000 + (10 << 20));
        assert_eq!(p.after.rcx, 0);
    }

    #[test]
    fn stops_at_the_window_edge_and_leaves_the_rest_to_the_cpu() {
        let regs = StringRegs {
            rcx: 100,
            rsi: 0x9000,
            rdi: 0x1FF0,
            df: false,
        };
        let p = plan_rep(&MOVSQ, regs, 0x1000, 0x2000).unwrap();
        assert_eq!(p.count, 2);
        assert!(!p.done);
        assert_eq!(
            p.after,
            StringRegs {
                rcx: 98,
                rsi: 0x9010,
                rdi: 0x2000,
                df: false
            }
        );
        assert_eq!((p.src_lo, p.src_hi), (0x9000, 0x9010));
        // An element straddling the edge is not planned.
        let regs = StringRegs {
            rcx: 4,
            rsi: 0,
            rdi: 0x1FFC,
            df: false,
        };
        assert_eq!(plan_rep(&MOVSQ, regs, 0x1000, 0x2000), None);
    }

    #[test]
    fn plans_backward_writes() {
        // std; rep movsq with rdi at the last element.
        let regs = StringRegs {
            rcx: 4,
            rsi: 0x5018,
            rdi: 0x1018,
            df: true,
        };
        let p = plan_rep(&MOVSQ, regs, 0x1000, 0x2000).unwrap();
        assert_eq!(p.count, 4);
        assert_eq!((p.dst_lo, p.dst_hi), (0x1000, 0x1020));
        assert_eq!((p.src_lo, p.src_hi), (0x5000, 0x5020));
        assert_eq!(p.after.rdi, 0x1018 - 32);
        // Window lower edge limits a backward write.
        let regs = StringRegs {
            rcx: 10,
            rsi: 0x5018,
            rdi: 0x1008,
            df: true,
        };
        assert_eq!(plan_rep(&MOVSQ, regs, 0x1000, 0x2000).unwrap().count, 2);
    }

    #[test]
    fn overlap_detection_matches_direction() {
        let forward_into_source_tail = RepPlan {
            count: 4,
            dst_lo: 0x1001,
            dst_hi: 0x1005,
            src_lo: 0x1000,
            src_hi: 0x1004,
            after: StringRegs {
                rcx: 0,
                rsi: 0,
                rdi: 0,
                df: false,
            },
            done: true,
        };
        assert!(needs_elementwise(&forward_into_source_tail, false));
        assert!(!needs_elementwise(&forward_into_source_tail, true));
        let disjoint = RepPlan {
            dst_lo: 0x2000,
            dst_hi: 0x2004,
            ..forward_into_source_tail
        };
        assert!(!needs_elementwise(&disjoint, false));
    }
}
