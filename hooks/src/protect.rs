//! The two ways of write-protecting guarded code, as one type: protection
//! keys (a key per page, write disabled in every thread's PKRU) or the
//! page-table method (no write permission until a fault opens the page).
//! "No MPK" is a variant, not a check scattered through the code: every
//! operation that differs between the two is implemented here once per
//! variant.

use crate::counters::{self, COUNTERS};
use crate::pkru;
use crate::regions;
use crate::sys::{self, SysResult};
use jg::config::{Backend, Policy};
use jg::keys::KeyPolicy;
use jg::pkru::KeySet;
use jg::regions::RegionMap;
use jg::window::Window;
use libc::{c_int, c_void};

/// The keys jitguard owns and the policy that maps pages onto them.
pub struct Keys {
    /// In the vault's secret section: its per-run secret is what makes
    /// keys unpredictable, so it is read only inside `vault::with_secret`.
    policy: &'static KeyPolicy,
    kind: Policy,
    reserve: u32,
    /// Every key jitguard owns (the reserve key and the code keys).
    pub set: KeySet,
}

/// The key policy, on the secret section's page.
#[link_section = "jitguard_secret"]
static POLICY: crate::vault::OwnState<once_cell::sync::OnceCell<KeyPolicy>> =
    crate::vault::OwnState(once_cell::sync::OnceCell::new());

impl Keys {
    pub fn policy(&self) -> Policy {
        self.kind
    }

    pub fn reserve_key(&self) -> u32 {
        self.reserve
    }

    /// The code key of the page holding `addr`.
    pub fn key_for_addr(&self, addr: u64) -> u32 {
        crate::vault::with_secret(|| self.policy.key_for_addr(addr))
    }
}

pub enum Protection {
    Pkey(Keys),
    Mprotect,
}

/// Where a window is sealed: in the signal frame the handler returns
/// through, or in the running thread itself.
#[derive(Clone, Copy)]
pub enum Context {
    Frame(*mut c_void),
    Here,
}

impl Protection {
    /// Start-up only (the policy goes to the secret page, written once).
    pub fn pkey(policy: KeyPolicy) -> Protection {
        let set = KeySet(policy.key_mask());
        let (kind, reserve) = (policy.policy(), policy.reserve_key());
        let policy = POLICY.get_or_init(|| policy);
        Protection::Pkey(Keys {
            policy,
            kind,
            reserve,
            set,
        })
    }

    pub fn backend(&self) -> Backend {
        match self {
            Protection::Pkey(_) => Backend::Pkey,
            Protection::Mprotect => Backend::Mprotect,
        }
    }

    pub fn keys(&self) -> Option<&Keys> {
        match self {
            Protection::Pkey(k) => Some(k),
            Protection::Mprotect => None,
        }
    }

    /// jitguard's keys (empty under mprotect).
    pub fn key_set(&self) -> KeySet {
        self.keys().map_or(KeySet::EMPTY, |k| k.set)
    }

    pub fn owns_key(&self, key: u32) -> bool {
        self.keys().is_some_and(|k| k.set.contains(key))
    }

    /// The key policy in force, for reports (mprotect: the configured one).
    pub fn policy_name(&self, configured: Policy) -> &'static str {
        self.keys().map_or(configured, |k| k.policy()).name()
    }

    /// The protection a guarded page really has while sealed.
    pub fn sealed_prot(&self, prot: c_int) -> c_int {
        match self {
            // Keys do the write-protection; the page keeps what was asked.
            Protection::Pkey(_) => prot,
            Protection::Mprotect => prot & !libc::PROT_WRITE,
        }
    }

    /// Seals a piece of memory that is (or is becoming) guarded: the
    /// reserve key (pkey: its first write gives each page its code key) or
    /// no write (mprotect).
    pub fn seal_piece(&self, start: u64, len: u64, prot: c_int) -> SysResult {
        match self {
            Protection::Pkey(k) => sys::pkey_mprotect(start, len, prot, k.reserve_key() as c_int),
            Protection::Mprotect => sys::mprotect(start, len, self.sealed_prot(prot)),
        }
    }

    /// Puts `[start, end)` (page-aligned, mapped) under guard. Pages the map
    /// already guards keep their code keys. Returns whether this made a
    /// new region (nothing of it was guarded before).
    pub fn guard(&self, map: &mut RegionMap, start: u64, end: u64, prot: c_int) -> SysResult {
        match self {
            Protection::Pkey(_) => {
                for (s, e) in map.uncovered(start, end) {
                    self.seal_piece(s, e - s, prot)?;
                }
            }
            Protection::Mprotect => {
                self.seal_piece(start, end - start, prot)?;
            }
        }
        let new = map.overlapping(start, end).is_empty();
        if new {
            counters::bump(&COUNTERS.regions);
        }
        map.insert(start, end, prot);
        crate::log!(
            Debug,
            "guarding {start:#x}-{end:#x} ({} pages)",
            (end - start) / jg::PAGE_SIZE
        );
        Ok(new as libc::c_long)
    }

    /// Takes `[start, end)` out of guard with the program's protection
    /// `prot`: guarded parts lose jitguard's key (back to key 0, or the
    /// program's `pkey`). The map changes only if every piece changed.
    pub fn unguard(
        &self,
        map: &mut RegionMap,
        start: u64,
        end: u64,
        prot: c_int,
        pkey: c_int,
    ) -> SysResult {
        for piece in map.overlapping(start, end) {
            match self {
                Protection::Pkey(_) => sys::pkey_mprotect(piece.start, piece.len(), prot, pkey)?,
                Protection::Mprotect => sys::mprotect(piece.start, piece.len(), prot)?,
            };
        }
        map.remove(start, end);
        Ok(0)
    }

    /// After fork: pages other threads had open in call windows stay
    /// writable in the child's page tables with no thread left to reseal
    /// them (mprotect). PKRU is per thread: under pkey nothing to do.
    pub fn reseal_all_in_child(&self, map: &RegionMap) {
        if let Protection::Mprotect = self {
            for r in map.iter() {
                let _ = sys::mprotect(r.start, r.len(), self.sealed_prot(r.prot));
            }
        }
    }

    /// Gives one page its code key (its first write under pkey), if it
    /// still sits under the reserve key. Returns the key the page has now.
    /// Async-signal-safe: one system call at most.
    pub fn key_page(&self, page: u64, fault_key: u32, prot: c_int) -> u32 {
        let Protection::Pkey(k) = self else { return 0 };
        let code_key = k.key_for_addr(page);
        if fault_key == k.reserve_key()
            && code_key != fault_key
            && sys::pkey_mprotect(page, jg::PAGE_SIZE, prot, code_key as c_int).is_ok()
        {
            counters::bump(&COUNTERS.pages_by_key[code_key as usize]);
            return code_key;
        }
        fault_key
    }

    /// Opens `page` for a write in the page table (mprotect; under pkey the
    /// handler opens keys in the frame's PKRU instead). With `exec`, the
    /// page keeps execute permission (the writing instruction is on it).
    pub fn open_page(&self, page: u64, exec: bool) -> bool {
        match self {
            Protection::Pkey(_) => true,
            Protection::Mprotect => {
                let prot = if exec {
                    libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC
                } else {
                    libc::PROT_READ | libc::PROT_WRITE
                };
                sys::mprotect(page, jg::PAGE_SIZE, prot).is_ok()
            }
        }
    }

    /// Opens `[lo, hi)` for jitguard's own REP emulation: under pkey the
    /// handler's PKRU is open already; under mprotect the pages become RW.
    pub fn open_range_for_handler(&self, lo: u64, hi: u64) -> bool {
        match self {
            Protection::Pkey(_) => true,
            Protection::Mprotect => {
                sys::mprotect(lo, hi - lo, libc::PROT_READ | libc::PROT_WRITE).is_ok()
            }
        }
    }

    /// Seals `[lo, hi)` again after `open_range_for_handler`, each guarded
    /// piece with its own region's protection.
    pub fn seal_range(&self, lo: u64, hi: u64) {
        if let Protection::Mprotect = self {
            regions::with_snapshot(|s| {
                if let Some(s) = s {
                    for (a, b, prot) in s.pieces(lo, hi) {
                        let _ = sys::mprotect(a, b - a, self.sealed_prot(prot));
                    }
                }
            });
        }
    }

    /// Seals the pages of a window again, those still guarded: a page
    /// unmapped (and perhaps reused by other memory) meanwhile is left
    /// alone. mprotect only.
    pub fn seal_pages(&self, pages: &[u64]) {
        if let Protection::Mprotect = self {
            // Adjacent pages of one protection in one call.
            jg::window::sealing_runs(
                pages,
                |page| regions::guarded_prot(page).map(|prot| self.sealed_prot(prot)),
                |start, end, prot| {
                    let _ = sys::mprotect(start, end - start, prot);
                },
            );
        }
    }

    /// Seals what window `w` opened: every jitguard key write-disabled in
    /// the context's PKRU (pkey), or its pages without write (mprotect).
    /// The window's signal mask is the caller's business.
    pub fn seal_window(&self, w: &Window, cx: Context) {
        match self {
            Protection::Pkey(k) => match cx {
                Context::Frame(ctx) => {
                    if let Some(p) = pkru::frame_get(ctx) {
                        crate::vault::frame_set(ctx, p.sealed(k.set));
                    }
                }
                Context::Here => pkru::write(pkru::read().sealed(k.set)),
            },
            Protection::Mprotect => {
                self.seal_pages(w.pages());
                // Exposure: the pages of this window (writable by every
                // thread while it was open).
                counters::add(&COUNTERS.exposed_pages_sum, w.pages().len() as u64);
            }
        }
        counters::bump(&COUNTERS.reseals);
        crate::attest::after_seal(w);
    }

    /// Whether page-table windows are open to every handler on the thread,
    /// so a call window must hold asynchronous signals (under pkey the
    /// kernel runs handlers with jitguard's keys disabled anyway).
    pub fn windows_open_to_handlers(&self) -> bool {
        matches!(self, Protection::Mprotect)
    }
}
