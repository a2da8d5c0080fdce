//! A thread's write window: what the fault handler has opened for it, and
//! how that ends.
//!
//! A window is either an *instruction* window (one stepped instruction,
//! ended by the trap flag's SIGTRAP) or a *call* window (a trusted writer's
//! pages stay open until that writer returns, through the reseal
//! trampoline that replaced its return address). Both remember the keys
//! (pkey) and pages (mprotect) they opened, so sealing knows exactly what
//! to close, and the signal mask the thread had before, so sealing gives
//! it back. The type is pure: the hooks crate keeps one per thread and
//! applies its transitions.

use crate::pkru::KeySet;

/// At most this many pages are remembered per window. A call window that
/// needs more seals what it has and starts the list again.
pub const MAX_OPEN_PAGES: usize = 8;

/// The pages a window opened, in order, without repeats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pages {
    n: usize,
    list: [u64; MAX_OPEN_PAGES],
}

/// What adding a page to a window did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Added {
    /// The page is now in the list.
    New,
    /// It was already there.
    Known,
    /// The list is full; the page is not recorded.
    Full,
}

impl Pages {
    pub const EMPTY: Pages = Pages {
        n: 0,
        list: [0; MAX_OPEN_PAGES],
    };

    pub fn one(page: u64) -> Pages {
        let mut p = Pages::EMPTY;
        p.add(page);
        p
    }

    pub fn add(&mut self, page: u64) -> Added {
        if self.contains(page) {
            Added::Known
        } else if self.n == MAX_OPEN_PAGES {
            Added::Full
        } else {
            self.list[self.n] = page;
            self.n += 1;
            Added::New
        }
    }

    pub fn contains(&self, page: u64) -> bool {
        self.as_slice().contains(&page)
    }

    pub fn is_full(&self) -> bool {
        self.n == MAX_OPEN_PAGES
    }

    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    pub fn as_slice(&self) -> &[u64] {
        &self.list[..self.n]
    }
}

/// Where a call window ends: the stack slot whose return address now
/// points at the reseal trampoline, and the address it held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallEnd {
    pub slot: u64,
    pub ret: u64,
}

/// One thread's window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Window {
    Closed,
    /// Open for the one instruction being stepped.
    Insn {
        keys: KeySet,
        pages: Pages,
        /// The program had the trap flag set itself (a debugger's step):
        /// the reseal leaves it set.
        tf_was_set: bool,
        /// The signal mask before the window (asynchronous signals are
        /// held for the stepped instruction).
        saved_mask: u64,
    },
    /// Open until the trusted writer returns.
    Call {
        keys: KeySet,
        /// The keys among `keys` that a write faulted on (the others were
        /// opened ahead by key prediction).
        faulted: KeySet,
        pages: Pages,
        end: CallEnd,
        saved_mask: u64,
    },
}

impl Window {
    /// An instruction window opening `page` under `key`.
    pub fn insn(page: u64, key: u32, tf_was_set: bool, saved_mask: u64) -> Window {
        Window::Insn {
            keys: KeySet::single(key),
            pages: Pages::one(page),
            tf_was_set,
            saved_mask,
        }
    }

    /// A call window opening `page` under `key`, ended by `end`.
    pub fn call(page: u64, key: u32, end: CallEnd, saved_mask: u64) -> Window {
        Window::Call {
            keys: KeySet::single(key),
            faulted: KeySet::single(key),
            pages: Pages::one(page),
            end,
            saved_mask,
        }
    }

    /// A call window that also holds `ahead` open (key prediction): open
    /// from the start, not faulted on. Other windows are unchanged.
    pub fn opening_ahead(mut self, ahead: KeySet) -> Window {
        if let Window::Call { keys, .. } = &mut self {
            *keys = KeySet(keys.0 | ahead.0);
        }
        self
    }

    /// The keys a write of this window faulted on: what key prediction
    /// learns from (a key opened ahead and used shows no fault).
    pub fn faulted_keys(&self) -> KeySet {
        match self {
            Window::Closed => KeySet::EMPTY,
            Window::Insn { keys, .. } => *keys,
            Window::Call { faulted, .. } => *faulted,
        }
    }

    pub fn is_open(&self) -> bool {
        !matches!(self, Window::Closed)
    }

    pub fn is_call(&self) -> bool {
        matches!(self, Window::Call { .. })
    }

    pub fn is_insn(&self) -> bool {
        matches!(self, Window::Insn { .. })
    }

    /// The keys the window holds open (empty when closed).
    pub fn keys(&self) -> KeySet {
        match self {
            Window::Closed => KeySet::EMPTY,
            Window::Insn { keys, .. } | Window::Call { keys, .. } => *keys,
        }
    }

    /// The pages the window opened (empty when closed).
    pub fn pages(&self) -> &[u64] {
        match self {
            Window::Closed => &[],
            Window::Insn { pages, .. } | Window::Call { pages, .. } => pages.as_slice(),
        }
    }

    /// The mask to give back when the window closes.
    pub fn saved_mask(&self) -> Option<u64> {
        match self {
            Window::Closed => None,
            Window::Insn { saved_mask, .. } | Window::Call { saved_mask, .. } => Some(*saved_mask),
        }
    }

    /// Where a call window ends.
    pub fn call_end(&self) -> Option<CallEnd> {
        match self {
            Window::Call { end, .. } => Some(*end),
            _ => None,
        }
    }

    /// Adds `page` under `key` to an open window (a store straddling two
    /// pages inside an instruction window; a trusted writer's next page in
    /// a call window). A closed window stays closed.
    pub fn add(&mut self, page: u64, key: u32) -> Added {
        match self {
            Window::Closed => Added::Full,
            Window::Insn { keys, pages, .. } => {
                *keys = keys.with(key);
                pages.add(page)
            }
            Window::Call {
                keys,
                faulted,
                pages,
                ..
            } => {
                if !keys.contains(key) {
                    *faulted = faulted.with(key);
                }
                *keys = keys.with(key);
                pages.add(page)
            }
        }
    }

    /// Forgets the recorded pages (after sealing them) so a long call
    /// window can go on recording; the keys stay open.
    pub fn forget_pages(&mut self) {
        if let Window::Insn { pages, .. } | Window::Call { pages, .. } = self {
            *pages = Pages::EMPTY;
        }
    }

    /// Closes the window, returning what it was.
    pub fn take(&mut self) -> Window {
        core::mem::replace(self, Window::Closed)
    }

    /// Whether a fault with stack pointer `sp` on the thread's own stack
    /// shows that a call window's writer is gone: the stack has unwound
    /// above the writer's return slot (a longjmp past it), within a sane
    /// distance (a pointer gigabytes away is some other stack).
    pub fn writer_gone(&self, sp: u64) -> bool {
        match self {
            Window::Call { end, .. } => sp > end.slot && sp - end.slot < 1 << 30,
            _ => false,
        }
    }

    /// The keys a fault handler leaves open in the interrupted context. A
    /// read fault comes from code running with the kernel's PKRU (a signal
    /// handler, an unsealed thread): a call window's keys belong to the
    /// writer it interrupted, not to that code.
    pub fn keys_for_context(&self, is_write: bool) -> KeySet {
        match self {
            Window::Insn { keys, .. } => *keys,
            Window::Call { keys, .. } if is_write => *keys,
            _ => KeySet::EMPTY,
        }
    }
}

/// The pages of a window as runs of adjacent pages with one protection,
/// for resealing each run with one system call (`prot_of` gives a page's
/// protection, or None for a page no longer guarded, which is left
/// alone). `seal(start, end, prot)` is called once per run, in address
/// order. Allocation-free: called from the reseal paths.
pub fn sealing_runs(
    pages: &[u64],
    prot_of: impl Fn(u64) -> Option<i32>,
    mut seal: impl FnMut(u64, u64, i32),
) {
    let n = pages.len().min(MAX_OPEN_PAGES);
    let mut sorted = [0u64; MAX_OPEN_PAGES];
    sorted[..n].copy_from_slice(&pages[..n]);
    sorted[..n].sort_unstable();
    let mut run: Option<(u64, u64, i32)> = None;
    for (i, &page) in sorted[..n].iter().enumerate() {
        if i > 0 && sorted[i - 1] == page {
            continue;
        }
        let prot = prot_of(page);
        match (run, prot) {
            (Some((s, e, p)), Some(q)) if e == page && p == q => {
                run = Some((s, e + crate::PAGE_SIZE, p))
            }
            _ => {
                if let Some((s, e, p)) = run.take() {
                    seal(s, e, p);
                }
                run = prot.map(|q| (page, page + crate::PAGE_SIZE, q));
            }
        }
    }
    if let Some((s, e, p)) = run {
        seal(s, e, p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const END: CallEnd = CallEnd {
        slot: 0x7000_0000,
        ret: 0x40_1234,
    };

    #[test]
    fn closed_has_nothing() {
        let w = Window::Closed;
        assert!(!w.is_open() && !w.is_call() && !w.is_insn());
        assert!(w.keys().is_empty());
        assert!(w.pages().is_empty());
        assert_eq!(w.saved_mask(), None);
        assert_eq!(w.call_end(), None);
    }

    #[test]
    fn insn_window_records_page_key_and_mask() {
        let w = Window::insn(0x1000, 3, false, 0xff);
        assert!(w.is_insn() && w.is_open() && !w.is_call());
        assert_eq!(w.keys(), KeySet::single(3));
        assert_eq!(w.pages(), &[0x1000]);
        assert_eq!(w.saved_mask(), Some(0xff));
    }

    #[test]
    fn straddling_store_adds_second_page_and_key() {
        let mut w = Window::insn(0x1000, 3, false, 0);
        assert_eq!(w.add(0x2000, 4), Added::New);
        assert_eq!(w.add(0x2000, 4), Added::Known);
        assert_eq!(w.pages(), &[0x1000, 0x2000]);
        assert_eq!(w.keys(), KeySet::single(3).with(4));
    }

    #[test]
    fn call_window_knows_its_end() {
        let w = Window::call(0x5000, 7, END, 1);
        assert!(w.is_call());
        assert_eq!(w.call_end(), Some(END));
        assert_eq!(w.saved_mask(), Some(1));
    }

    #[test]
    fn full_page_list_is_reported_and_forgettable() {
        let mut w = Window::call(0, 1, END, 0);
        for i in 1..MAX_OPEN_PAGES as u64 {
            assert_eq!(w.add(i * 4096, 1), Added::New);
        }
        assert_eq!(w.add(0x100_0000, 2), Added::Full);
        // The key is open even though the page is not listed.
        assert!(w.keys().contains(2));
        w.forget_pages();
        assert!(w.pages().is_empty());
        assert!(w.keys().contains(1) && w.keys().contains(2));
        assert_eq!(w.add(0x100_0000, 2), Added::New);
    }

    #[test]
    fn keys_opened_ahead_are_open_but_not_faulted() {
        let ahead = KeySet::single(4).with(9);
        let mut w = Window::call(0x1000, 3, END, 0).opening_ahead(ahead);
        assert_eq!(w.keys(), KeySet::single(3).with(4).with(9));
        assert_eq!(w.faulted_keys(), KeySet::single(3));
        // A page re-keyed into an open key faulted on the reserve key, not
        // on that key; a key not yet open did fault.
        w.add(0x2000, 4);
        w.add(0x3000, 6);
        assert_eq!(w.faulted_keys(), KeySet::single(3).with(6));
        assert!(w.keys().contains(6));
        let insn = Window::insn(0x1000, 2, false, 0);
        assert_eq!(insn.opening_ahead(ahead), insn);
        assert_eq!(insn.faulted_keys(), KeySet::single(2));
    }

    #[test]
    fn take_closes() {
        let mut w = Window::insn(0x1000, 1, true, 0);
        let was = w.take();
        assert!(was.is_insn());
        assert_eq!(w, Window::Closed);
        assert_eq!(w.add(0x1000, 1), Added::Full);
        assert_eq!(w, Window::Closed);
    }

    #[test]
    fn writer_gone_only_above_the_slot_and_nearby() {
        let w = Window::call(0, 1, END, 0);
        assert!(
            !w.writer_gone(END.slot - 64),
            "deeper: the writer still runs"
        );
        assert!(!w.writer_gone(END.slot), "at the slot: not yet returned");
        assert!(w.writer_gone(END.slot + 64));
        assert!(!w.writer_gone(END.slot + (2 << 30)), "another stack");
        assert!(!Window::insn(0, 1, false, 0).writer_gone(u64::MAX));
    }

    #[test]
    fn read_faults_do_not_inherit_call_keys() {
        let call = Window::call(0, 5, END, 0);
        assert_eq!(call.keys_for_context(true), KeySet::single(5));
        assert_eq!(call.keys_for_context(false), KeySet::EMPTY);
        let insn = Window::insn(0, 6, false, 0);
        assert_eq!(insn.keys_for_context(false), KeySet::single(6));
        assert_eq!(Window::Closed.keys_for_context(true), KeySet::EMPTY);
    }

    #[test]
    fn adjacent_pages_of_one_protection_reseal_as_one_run() {
        let mut got = Vec::new();
        let prot = |p: u64| match p {
            0x5000 => None,
            0x9000 => Some(7),
            _ => Some(5),
        };
        sealing_runs(
            &[
                0x3000, 0x1000, 0x2000, 0x2000, 0x5000, 0x6000, 0x8000, 0x9000,
            ],
            prot,
            |s, e, p| got.push((s, e, p)),
        );
        assert_eq!(
            got,
            [
                (0x1000, 0x4000, 5),
                (0x6000, 0x7000, 5),
                (0x8000, 0x9000, 5),
                (0x9000, 0xa000, 7)
            ]
        );
        let mut none = 0;
        sealing_runs(&[], prot, |_, _, _| none += 1);
        assert_eq!(none, 0);
    }
}
