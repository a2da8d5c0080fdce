//! Deciding what a fault means: one walk names the writer and finds where
//! a call window would end, the writer policy judges it, and the result
//! is one `Action` for `apply` to carry out.

use super::decode::{Fault, Frame};
use crate::counters::{self, COUNTERS};
use crate::state::globals;
use crate::sys;
use crate::writers;
use jg::config::{Mode, Window as WindowKind};
use jg::pkru::KeySet;
use jg::window::{CallEnd, Window};
use jg::writer::{Decision, WriteSite, WriterPolicy};

/// How a write the policy allows is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum How {
    /// Into the thread's open call window.
    JoinCall,
    /// As a new call window, ended by the writer's return.
    NewCall(CallEnd),
    /// For the one instruction (stepped with the trap flag).
    Insn,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Not jitguard's fault: the program's handler gets it.
    Chain,
    /// pkey: a context running with the kernel's PKRU touched guarded code:
    /// give it jitguard's seal (reads allowed), keeping `keep` open.
    SealContext { keep: KeySet },
    /// mprotect: this thread's stepped instruction runs from a page it
    /// opened without X.
    GiveExec { page: u64 },
    /// mprotect: executing a page another thread holds open: seal it again
    /// and retry (waiting could deadlock a call window's writer that
    /// waits for this thread).
    ResealForeign { page: u64 },
    /// Open the written page. `key` is the faulting key (pkey).
    Open {
        addr: u64,
        key: Option<u32>,
        how: How,
    },
    /// Refuse: reported; the write faults again, fatally.
    Deny,
}

/// The writer policy's verdict on one write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Judgement {
    pub decision: Decision,
    /// Where a call window for this writer would end, when one may open.
    pub call: Option<CallEnd>,
}

/// Names and judges the writer of a faulting write (reports and learns as
/// a side effect).
pub trait Judge {
    fn judge(&self, addr: u64, key: Option<u32>) -> Judgement;
}

/// The decision step: pure given the judge.
pub fn decide(fault: Fault, w: &Window, judge: &impl Judge) -> Action {
    let (addr, key) = match fault {
        Fault::NotOurs => return Action::Chain,
        Fault::KeyRead { .. } => {
            return Action::SealContext {
                keep: w.keys_for_context(false),
            }
        }
        Fault::PageExec { page } if w.pages().contains(&page) => return Action::GiveExec { page },
        Fault::PageExec { page } => return Action::ResealForeign { page },
        Fault::KeyWrite { addr, key } => (addr, Some(key)),
        Fault::PageWrite { addr } => (addr, None),
    };
    let j = judge.judge(addr, key);
    if j.decision == Decision::Deny {
        return Action::Deny;
    }
    let how = match (w, j.call) {
        (Window::Call { .. }, _) => How::JoinCall,
        (Window::Closed, Some(end)) if j.decision == Decision::Open => How::NewCall(end),
        _ => How::Insn,
    };
    Action::Open { addr, key, how }
}

/// The judge of a real fault: walks the interrupted thread's stack.
pub struct FrameJudge<'a> {
    pub frame: &'a Frame,
    pub window: &'a Window,
}

impl Judge for FrameJudge<'_> {
    fn judge(&self, addr: u64, key: Option<u32>) -> Judgement {
        let g = globals();
        counters::bump(&COUNTERS.write_faults);
        let view = writers::view();
        let rip = self.frame.rip();
        let call_ret = self.window.call_end().map(|e| e.ret);
        // The profile of the runtime that created the written region.
        let policy = view
            .as_deref()
            .map_or(&WriterPolicy::AllowAll, |v| &v.judging(addr).policy);
        // The walk out of shared routines is only needed when a profile
        // judges the writer or learn mode records it.
        let walked = view
            .as_deref()
            .filter(|_| g.config.mode == Mode::Learn || *policy != WriterPolicy::AllowAll)
            .map(|v| {
                let regs = writers::regs_from(self.frame.gregs());
                (v, writers::walk(v, regs, true, call_ret))
            });
        let (decider, first, decider_regs) = match &walked {
            Some((_, w)) => (
                w.decider.map(|i| w.frames[i]),
                w.decider == Some(0),
                w.decider_regs,
            ),
            None => (Some(rip), true, None),
        };
        let vouched = match (&walked, policy, decider_regs) {
            (Some((v, _)), WriterPolicy::Profile(a), Some(r))
                if !decider.is_some_and(|d| a.contains(d)) =>
            {
                writers::vouched(v, a, r, first, call_ret)
            }
            _ => false,
        };
        let site = WriteSite {
            ip: rip,
            addr,
            tid: sys::tid(),
            decider,
            vouched,
        };
        if decider.is_none() {
            counters::bump(&COUNTERS.unnamed_writers);
        }
        crate::log!(
            Trace,
            "write fault at {addr:#x} ip {rip:#x} decider {:#x} vouched {vouched} thread {}",
            decider.unwrap_or(0),
            site.tid
        );
        let decision = policy.decide(&site, g.config.mode);
        let what = match decision {
            Decision::OpenLearned => {
                if let Some(d) = decider {
                    writers::learn(d, rip);
                }
                None
            }
            Decision::OpenAudited => {
                counters::bump(&COUNTERS.audited);
                Some("audited write")
            }
            Decision::Deny => {
                counters::bump(&COUNTERS.denials);
                Some("denied write")
            }
            Decision::Open => None,
        };
        if let Some(what) = what {
            crate::report::write_report(
                what,
                self.frame.gregs(),
                &site,
                key,
                view.as_deref(),
                call_ret,
            );
        }
        // Only a writer a profile trusts gets a window longer than one
        // instruction: its own call, ended by its return.
        let call = match (&walked, decider_regs) {
            (Some((v, _)), Some(r))
                if decision == Decision::Open
                    && !self.window.is_open()
                    && g.config.window == WindowKind::Call
                    && *policy != WriterPolicy::AllowAll =>
            {
                writers::call_window_slot(v, policy, r, first)
            }
            _ => None,
        };
        Judgement { decision, call }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::cell::Cell;

    struct Fixed {
        j: Judgement,
        asked: Cell<u32>,
    }

    impl Judge for Fixed {
        fn judge(&self, _addr: u64, _key: Option<u32>) -> Judgement {
            self.asked.set(self.asked.get() + 1);
            self.j
        }
    }

    const END: CallEnd = CallEnd {
        slot: 0x7fff_0000,
        ret: 0x40_2000,
    };

    fn judge(decision: Decision, call: Option<CallEnd>) -> Fixed {
        Fixed {
            j: Judgement { decision, call },
            asked: Cell::new(0),
        }
    }

    const WRITE: Fault = Fault::KeyWrite {
        addr: 0x9008,
        key: 3,
    };

    #[test]
    fn the_programs_faults_are_chained_unjudged() {
        let j = judge(Decision::Open, None);
        assert_eq!(decide(Fault::NotOurs, &Window::Closed, &j), Action::Chain);
        assert_eq!(j.asked.get(), 0);
    }

    #[test]
    fn a_trusted_writer_with_a_return_slot_opens_a_call_window() {
        let j = judge(Decision::Open, Some(END));
        assert_eq!(
            decide(WRITE, &Window::Closed, &j),
            Action::Open {
                addr: 0x9008,
                key: Some(3),
                how: How::NewCall(END)
            }
        );
    }

    #[test]
    fn without_a_slot_the_write_gets_one_instruction() {
        let j = judge(Decision::Open, None);
        let a = decide(Fault::PageWrite { addr: 0x9008 }, &Window::Closed, &j);
        assert_eq!(
            a,
            Action::Open {
                addr: 0x9008,
                key: None,
                how: How::Insn
            }
        );
    }

    #[test]
    fn audited_and_learned_writes_never_get_call_windows() {
        for d in [Decision::OpenAudited, Decision::OpenLearned] {
            let j = judge(d, Some(END));
            assert_eq!(
                decide(WRITE, &Window::Closed, &j),
                Action::Open {
                    addr: 0x9008,
                    key: Some(3),
                    how: How::Insn
                }
            );
        }
    }

    #[test]
    fn inside_a_call_window_writes_join_it() {
        let w = Window::call(0x8000, 2, END, 0);
        let j = judge(Decision::Open, None);
        assert_eq!(
            decide(WRITE, &w, &j),
            Action::Open {
                addr: 0x9008,
                key: Some(3),
                how: How::JoinCall
            }
        );
        assert_eq!(j.asked.get(), 1, "still judged: a callee may be untrusted");
    }

    #[test]
    fn a_second_page_of_a_stepped_store_stays_an_instruction_window() {
        let w = Window::insn(0x8000, 2, false, 0);
        let j = judge(Decision::Open, Some(END));
        assert_eq!(
            decide(WRITE, &w, &j),
            Action::Open {
                addr: 0x9008,
                key: Some(3),
                how: How::Insn
            }
        );
    }

    #[test]
    fn denials_are_denials_in_any_window() {
        for w in [
            Window::Closed,
            Window::call(0, 1, END, 0),
            Window::insn(0, 1, false, 0),
        ] {
            assert_eq!(
                decide(WRITE, &w, &judge(Decision::Deny, Some(END))),
                Action::Deny
            );
        }
    }

    #[test]
    fn read_faults_seal_the_context_keeping_only_an_instruction_windows_keys() {
        let j = judge(Decision::Deny, None);
        let read = Fault::KeyRead {
            addr: 0x9000,
            key: 3,
        };
        assert_eq!(
            decide(read, &Window::insn(0, 4, false, 0), &j),
            Action::SealContext {
                keep: KeySet::single(4)
            }
        );
        assert_eq!(
            decide(read, &Window::call(0, 4, END, 0), &j),
            Action::SealContext {
                keep: KeySet::EMPTY
            }
        );
        assert_eq!(j.asked.get(), 0);
    }

    #[test]
    fn exec_faults_tell_own_pages_from_other_threads() {
        let j = judge(Decision::Deny, None);
        let w = Window::insn(0x5000, 0, false, 0);
        assert_eq!(
            decide(Fault::PageExec { page: 0x5000 }, &w, &j),
            Action::GiveExec { page: 0x5000 }
        );
        assert_eq!(
            decide(Fault::PageExec { page: 0x6000 }, &w, &j),
            Action::ResealForeign { page: 0x6000 }
        );
    }
}
