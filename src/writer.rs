//! The writer policy: may this write open a code page?
//!
//! The fault handler names the write (`WriteSite`) and asks the policy for a
//! `Decision`; the decision is pure, so it is tested without a fault. For
//! now the only policy allows every writer and counts it; the trusted-writer
//! work (profiles of emit sites) adds real policies behind this interface.

use crate::config::Mode;

/// What the fault handler knows of one faulting write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteSite {
    /// Address of the faulting instruction.
    pub ip: u64,
    /// Address written.
    pub addr: u64,
    /// Kernel thread id of the writer.
    pub tid: u32,
}

/// Which writers a policy trusts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriterPolicy {
    /// Every writer is trusted: pages are keyed and writes counted, but the
    /// writer is not authenticated.
    AllowAll,
}

/// What the handler does with the write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Open the page for this one emit.
    Open,
    /// Open it, but report and count the write as one the policy refuses
    /// (audit mode).
    OpenAudited,
    /// Open it and record the writer into the profile (learn mode).
    OpenLearned,
    /// Refuse: report, and let the write die as the crash it is.
    Deny,
}

impl WriterPolicy {
    /// Whether the policy trusts the writer at `site`.
    pub fn trusts(&self, _site: &WriteSite) -> bool {
        match self {
            WriterPolicy::AllowAll => true,
        }
    }

    /// The handler's decision for `site` under `mode`.
    pub fn decide(&self, site: &WriteSite, mode: Mode) -> Decision {
        match (mode, self.trusts(site)) {
            (Mode::Learn, _) => Decision::OpenLearned,
            (_, true) => Decision::Open,
            (Mode::Audit, false) | (Mode::Off, false) => Decision::OpenAudited,
            (Mode::Enforce, false) => Decision::Deny,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_all_opens_in_every_mode_and_learns_in_learn() {
        let site = WriteSite {
            ip: 0x1000,
            addr: 0x2000,
            tid: 1,
        };
        let p = WriterPolicy::AllowAll;
        assert_eq!(p.decide(&site, Mode::Enforce), Decision::Open);
        assert_eq!(p.decide(&site, Mode::Audit), Decision::Open);
        assert_eq!(p.decide(&site, Mode::Learn), Decision::OpenLearned);
    }
}
