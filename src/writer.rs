//! The writer policy: may this write open a code page?
//!
//! The fault handler names the write (`WriteSite`) and asks the policy for a
//! `Decision`; the decision is pure, so it is tested without a fault. A
//! policy is either a resolved profile (learned, or built in for a known
//! runtime) or, when none applies, "allow all" (keyed, counted, logged, not
//! authenticated; jitguard says so once at start).

use crate::config::Mode;
use crate::profile::Allowed;

/// What the fault handler knows of one faulting write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteSite {
    /// Address of the faulting instruction.
    pub ip: u64,
    /// Address written.
    pub addr: u64,
    /// Kernel thread id of the writer.
    pub tid: u32,
    /// The deciding frame (see `jg::profile`): `ip` itself, or the return
    /// address into the first caller outside the shared routine libraries.
    /// None when the walk out of a shared routine failed: an unnamed writer.
    pub decider: Option<u64>,
    /// A frame above the writer returns into a function the profile's
    /// `during` entries name (see `jg::profile`).
    pub vouched: bool,
}

/// Which writers a policy trusts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriterPolicy {
    /// Every writer is trusted: pages are keyed and writes counted, but the
    /// writer is not authenticated (no profile applies).
    AllowAll,
    /// Only deciding frames inside these ranges (a resolved profile).
    Profile(Allowed),
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
    pub fn trusts(&self, site: &WriteSite) -> bool {
        match self {
            WriterPolicy::AllowAll => true,
            WriterPolicy::Profile(a) => site.vouched || site.decider.is_some_and(|d| a.contains(d)),
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
            decider: None,
            vouched: false,
        };
        let p = WriterPolicy::AllowAll;
        assert_eq!(p.decide(&site, Mode::Enforce), Decision::Open);
        assert_eq!(p.decide(&site, Mode::Audit), Decision::Open);
        assert_eq!(p.decide(&site, Mode::Learn), Decision::OpenLearned);
    }

    #[test]
    fn a_profile_trusts_only_its_deciders() {
        let p = WriterPolicy::Profile(Allowed::new(vec![(0x1000, 0x1100)]));
        let site = |decider| WriteSite {
            ip: 0x7000,
            addr: 0x2000,
            tid: 1,
            decider,
            vouched: false,
        };
        assert_eq!(p.decide(&site(Some(0x1010)), Mode::Enforce), Decision::Open);
        assert_eq!(p.decide(&site(Some(0x1100)), Mode::Enforce), Decision::Deny);
        assert_eq!(
            p.decide(&site(None), Mode::Enforce),
            Decision::Deny,
            "unnamed writer"
        );
        assert_eq!(
            p.decide(&site(Some(0x9999)), Mode::Audit),
            Decision::OpenAudited
        );
        assert_eq!(
            p.decide(&site(Some(0x9999)), Mode::Learn),
            Decision::OpenLearned
        );
        let vouched = WriteSite {
            vouched: true,
            ..site(Some(0x9999))
        };
        assert_eq!(p.decide(&vouched, Mode::Enforce), Decision::Open);
    }
}
