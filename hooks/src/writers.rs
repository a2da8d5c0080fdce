//! Who is writing: the module table and writer policy the fault handler
//! reads, the walk from a faulting instruction to its deciding frame, and
//! learn-mode recording.
//!
//! Everything the handler needs is prepared outside it: the loaded modules
//! (from `dl_iterate_phdr`, with symbols read from their files) and the
//! profile resolved against them are published as one immutable `View`
//! behind an atomic pointer, rebuilt after `dlopen`/`dlclose`. Old views are
//! leaked, never freed, so a handler holding one can never see it vanish
//! (a process does a bounded number of dlopens; each view is small).

use crate::state::COUNTERS;
use crate::sys;
use core::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64};
use jg::config::Mode;
use jg::modules::{Module, ModuleTable};
use jg::profile::Profile;
use jg::unwind::{self, Memory, Regs};
use jg::writer::WriterPolicy;
use libc::{c_int, c_void};
use parking_lot::Mutex;
use std::ffi::CStr;
use std::sync::Arc;

/// Where the policy in force came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// No profile applies: writers are not authenticated.
    None,
    Builtin(&'static str),
    File(String),
    /// Learn mode: everything opens and is recorded.
    Learning,
}

/// Formats without allocating (it is used in the fault report).
impl core::fmt::Display for Source {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Source::None => f.write_str("none"),
            Source::Builtin(n) => write!(f, "builtin:{n}"),
            Source::File(p) => write!(f, "file:{p}"),
            Source::Learning => f.write_str("learning"),
        }
    }
}

/// The policy's source, for the stats file.
pub fn source_name() -> String {
    view().map_or_else(|| "none".into(), |v| v.source.to_string())
}

pub struct View {
    pub table: ModuleTable,
    pub policy: WriterPolicy,
    pub source: Source,
}

static VIEW: AtomicPtr<View> = AtomicPtr::new(core::ptr::null_mut());

/// The profile chosen so far, and the modules already parsed (a rebuild
/// after dlopen reuses them rather than reading every file again).
struct Chosen {
    profile: Option<Profile>,
    source: Source,
    modules: Vec<Arc<Module>>,
    /// The profile's name entries resolved per module, kept across
    /// rebuilds.
    ranges: jg::profile::RangeCache,
}

static CHOSEN: Mutex<Chosen> = Mutex::new(Chosen {
    profile: None,
    source: Source::None,
    modules: Vec::new(),
    ranges: jg::profile::RangeCache::new(),
});

/// The view in force, if start-up has built one.
pub fn view() -> Option<&'static View> {
    let p = VIEW.load(Acquire);
    // SAFETY: views are published fully built and never freed.
    unsafe { p.as_ref() }
}

/// Builds the first view: reads the profile (or finds a built-in one).
pub fn init(mode: Mode, profile_path: Option<&str>) {
    let mut c = CHOSEN.lock();
    match (mode, profile_path) {
        (Mode::Learn, Some(_)) => c.source = Source::Learning,
        (Mode::Learn, None) => {
            crate::log::emit(format_args!(
                "jitguard: JITGUARD_MODE=learn needs JITGUARD_PROFILE=PATH to write to; nothing will be recorded"
            ));
            c.source = Source::Learning;
        }
        (_, Some(path)) => match std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| Profile::parse(&t).map_err(|e| e.to_string()))
        {
            Ok(p) => {
                c.profile = Some(p);
                c.source = Source::File(path.to_string());
            }
            Err(e) => crate::log::emit(format_args!(
                "jitguard: JITGUARD_PROFILE={path}: {e}; using the built-in profiles or none"
            )),
        },
        (_, None) => {}
    }
    rebuild(&mut c);
}

/// Rebuilds the view after the set of loaded modules changed.
pub fn refresh() {
    if VIEW.load(Acquire).is_null() {
        return;
    }
    rebuild(&mut CHOSEN.lock());
}

fn rebuild(c: &mut Chosen) {
    let modules = loaded_modules(&c.modules);
    c.modules = modules.clone();
    let table = ModuleTable::new(modules);
    if c.profile.is_none() && c.source == Source::None {
        if let Some((name, p)) = jg::profile::builtin()
            .into_iter()
            .find(|(_, p)| p.detected(&table))
        {
            crate::log!(Info, "built-in writer profile `{name}` applies");
            c.profile = Some(p);
            c.source = Source::Builtin(name);
        }
    }
    publish(c, table);
}

/// Resolves the chosen profile against `table` and publishes the view.
fn publish(c: &mut Chosen, table: ModuleTable) {
    let policy = match &c.profile {
        Some(p) if c.source != Source::Learning => {
            let (allowed, warnings) = p.resolve_with(
                &table,
                |m, addr| unwind::function_range(&Mem::new(&table), m.eh_frame_hdr?, addr),
                &mut c.ranges,
            );
            for w in warnings {
                crate::log::emit(format_args!("jitguard: {w}"));
            }
            // jitguard's own REP emulation writes guarded pages (under
            // mprotect another thread's reseal can revoke a page mid-copy
            // and fault it): that one routine is trusted, nothing else of
            // jitguard's (its hooks write through program pointers).
            let own: Vec<(u64, u64)> = table
                .find(publish as *const () as usize as u64)
                .map(|m| {
                    m.symbols
                        .iter()
                        .filter(|s| s.2.contains("try_rep_string"))
                        .map(|(start, size, _)| {
                            let lo = start.wrapping_add(m.bias);
                            (lo, lo + size.max(1))
                        })
                        .collect()
                })
                .unwrap_or_default();
            WriterPolicy::Profile(allowed.including(&own))
        }
        _ => WriterPolicy::AllowAll,
    };
    let view = Box::into_raw(Box::new(View {
        table,
        policy,
        source: c.source.clone(),
    }));
    VIEW.store(view, Release);
}

/// The loaded ELF objects, reusing already-parsed ones.
fn loaded_modules(known: &[Arc<Module>]) -> Vec<Arc<Module>> {
    struct Acc<'a> {
        known: &'a [Arc<Module>],
        out: Vec<Arc<Module>>,
    }
    unsafe extern "C" fn each(
        info: *mut libc::dl_phdr_info,
        _size: usize,
        data: *mut c_void,
    ) -> c_int {
        // SAFETY: dl_iterate_phdr passes a valid info for this call and our
        // own `Acc` as data.
        let (info, acc) = unsafe { (&*info, &mut *data.cast::<Acc<'_>>()) };
        let name = if info.dlpi_name.is_null() {
            String::new()
        } else {
            // SAFETY: a NUL-terminated string owned by the loader.
            unsafe { CStr::from_ptr(info.dlpi_name) }
                .to_string_lossy()
                .into_owned()
        };
        // SAFETY: dlpi_phdr points to dlpi_phnum program headers.
        let phdrs =
            unsafe { core::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) };
        let bias = info.dlpi_addr;
        let segs: Vec<jg::elf::Segment> = phdrs
            .iter()
            .map(|p| jg::elf::Segment {
                kind: p.p_type,
                flags: p.p_flags,
                offset: p.p_offset,
                vaddr: p.p_vaddr,
                filesz: p.p_filesz,
                memsz: p.p_memsz,
            })
            .collect();
        let m = match acc
            .known
            .iter()
            .find(|m| m.bias == bias && m.path == name_or_exe(&name))
        {
            Some(m) => m.clone(),
            None => Arc::new(Module {
                // The first view's modules (the program and what it loaded
                // before jitguard started) stay loaded for good.
                permanent: acc.known.is_empty(),
                ..describe(&name, bias, &segs)
            }),
        };
        acc.out.push(m);
        0
    }
    let mut acc = Acc {
        known,
        out: Vec::new(),
    };
    // SAFETY: the callback matches dl_iterate_phdr's contract and only
    // touches `acc` for the duration of the call.
    unsafe { libc::dl_iterate_phdr(Some(each), (&raw mut acc).cast()) };
    acc.out
}

fn name_or_exe(name: &str) -> String {
    if name.is_empty() {
        std::fs::read_link("/proc/self/exe")
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else {
        name.to_string()
    }
}

/// A module from its program headers, with symbols from its file.
fn describe(name: &str, bias: u64, segs: &[jg::elf::Segment]) -> Module {
    let path = name_or_exe(name);
    let mut m = Module {
        name: path.rsplit('/').next().unwrap_or(&path).to_string(),
        path: path.clone(),
        bias,
        ..Module::default()
    };
    for s in segs {
        let lo = bias.wrapping_add(s.vaddr);
        match s.kind {
            jg::elf::PT_LOAD => {
                if s.flags & jg::elf::PF_X != 0 {
                    m.exec.push((lo, lo + s.memsz));
                }
                if s.flags & jg::elf::PF_R != 0 && s.filesz > 0 {
                    m.data.push((lo, lo + s.filesz));
                }
            }
            jg::elf::PT_GNU_EH_FRAME => m.eh_frame_hdr = Some(lo),
            _ => {}
        }
    }
    if let Ok(f) = std::fs::File::open(&path) {
        if let Some(info) = jg::elf::parse(&FileReader(f)) {
            m.symbols = info.symbols;
            m.build_id = info.build_id;
        }
    }
    m
}

struct FileReader(std::fs::File);

impl jg::elf::ReadAt for FileReader {
    fn read_at(&self, off: u64, len: usize) -> Option<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        let mut v = vec![0; len];
        self.0.read_exact_at(&mut v, off).ok()?;
        Some(v)
    }
}

/// The unwinder's reads: module data straight from memory, the stack
/// through a checked copy, a block at a time (a walk reads a few slots of
/// each frame, upwards: one system call per 512 bytes of stack instead of
/// one per word).
struct Mem<'a> {
    table: &'a ModuleTable,
    pid: u32,
    block: core::cell::RefCell<StackBlock>,
}

struct StackBlock {
    base: u64,
    len: usize,
    bytes: [u8; 512],
}

impl<'a> Mem<'a> {
    fn new(table: &'a ModuleTable) -> Mem<'a> {
        Mem {
            table,
            pid: sys::getpid(),
            block: core::cell::RefCell::new(StackBlock {
                base: 0,
                len: 0,
                bytes: [0; 512],
            }),
        }
    }
}

impl Memory for Mem<'_> {
    fn data(&self, addr: u64) -> Option<&[u8]> {
        let (lo, hi, m) = self.table.data_module(addr)?;
        // A module dlopened later and unloaded behind jitguard's back
        // (libc's own dlclose of a dependency or a gconv module) leaves a
        // stale entry: check the segment is still mapped before reading it
        // directly. Modules there at start-up are never unloaded.
        let live = m.permanent || (sys::readable(lo) && sys::readable(addr));
        if !live {
            return None;
        }
        // SAFETY: [addr, hi) lies inside a readable file-backed segment of
        // a loaded module, from its program headers, mapped a moment ago;
        // dlclose through the hook drops a module from the view first.
        Some(unsafe { core::slice::from_raw_parts(addr as *const u8, (hi - addr) as usize) })
    }

    fn stack_u64(&self, addr: u64) -> Option<u64> {
        let Ok(mut b) = self.block.try_borrow_mut() else {
            return sys::read_u64_as(self.pid, addr);
        };
        let hit = |b: &StackBlock| {
            let off = addr.checked_sub(b.base)? as usize;
            let word = b.bytes.get(off..off.checked_add(8)?.min(b.len))?;
            Some(u64::from_le_bytes(word.try_into().ok()?))
        };
        if let Some(v) = hit(&b) {
            return Some(v);
        }
        let b = &mut *b;
        b.base = addr;
        b.len = sys::read_prefix_as(self.pid, addr, &mut b.bytes);
        hit(b)
    }
}

/// How deep a walk goes: the decision stops at the first frame outside the
/// shared libraries; a report shows this many.
pub const MAX_FRAMES: usize = 8;

/// The interrupted frame's registers in DWARF numbering.
pub fn regs_from(gregs: &[i64; 23]) -> Regs {
    // libc's REG_* order -> DWARF x86-64 numbering.
    let pairs = [
        (libc::REG_RAX, 0),
        (libc::REG_RDX, 1),
        (libc::REG_RCX, 2),
        (libc::REG_RBX, 3),
        (libc::REG_RSI, 4),
        (libc::REG_RDI, 5),
        (libc::REG_RBP, 6),
        (libc::REG_RSP, 7),
        (libc::REG_R8, 8),
        (libc::REG_R9, 9),
        (libc::REG_R10, 10),
        (libc::REG_R11, 11),
        (libc::REG_R12, 12),
        (libc::REG_R13, 13),
        (libc::REG_R14, 14),
        (libc::REG_R15, 15),
        (libc::REG_RIP, unwind::RA as c_int),
    ];
    let mut r = Regs::new(0, 0, 0);
    for (g, d) in pairs {
        r.set(d as usize, gregs[g as usize] as u64);
    }
    r
}

/// The frames from the faulting instruction outwards: `frames[0]` is the
/// writer, the rest return addresses. With `until_decider`, stops at the
/// first frame outside the shared libraries. Returns how many were found
/// and the index of the deciding frame (None: the walk could not leave the
/// shared libraries, so the writer is unnamed).
pub fn walk(
    view: &View,
    regs: Regs,
    frames: &mut [u64; MAX_FRAMES],
    until_decider: bool,
    decider_regs: &mut Option<Regs>,
    call_window: Option<u64>,
) -> (usize, Option<usize>) {
    let mem = Mem::new(&view.table);
    let mut regs = regs;
    let mut n = 0;
    let mut decider = None;
    loop {
        let ip = regs.ip();
        frames[n] = ip;
        n += 1;
        let module = view.table.find(ip);
        if decider.is_none() && !module.is_some_and(Module::is_shared) {
            decider = Some(n - 1);
            *decider_regs = Some(regs);
            if until_decider {
                break;
            }
        }
        let Some(hdr) = module.and_then(|m| m.eh_frame_hdr) else {
            break;
        };
        if n == MAX_FRAMES {
            break;
        }
        match unwind::step(&mem, hdr, &regs, n == 1) {
            Some(mut next) => {
                // A frame whose return was redirected to the reseal
                // trampoline returns, really, where the window says.
                if let Some(ret) = call_window.filter(|_| next.ip() == crate::trampoline::address())
                {
                    next.set(unwind::RA, ret);
                }
                regs = next;
            }
            None => break,
        }
    }
    (n, decider)
}

/// Where a call window for the trusted writer at frame `regs` ends: the
/// stack slot holding the return address of the *outermost* trusted frame
/// from `regs` up (a trusted writer called by another trusted function,
/// like WAMR's `alloc_hmu` under `gc_alloc_vo`, is one writer), and that
/// address. `first` marks the interrupted frame itself. One walk finds
/// both: the caller that stops it is the frame the window returns to.
/// None when the tables cannot say, or the slot does not hold what they
/// say (then no call window: the write gets one step).
pub fn call_window_slot(view: &View, regs: Regs, first: bool) -> Option<(u64, u64)> {
    let allowed = match &view.policy {
        WriterPolicy::Profile(a) => Some(a),
        WriterPolicy::AllowAll => None,
    };
    let mem = Mem::new(&view.table);
    let (mut regs, mut first) = (regs, first);
    for depth in 0..=MAX_FRAMES {
        let hdr = view.table.find(regs.ip())?.eh_frame_hdr?;
        let caller = unwind::step(&mem, hdr, &regs, first)?;
        // A return address names the call inside the caller: the caller is
        // trusted if that call site is.
        let trusted = depth < MAX_FRAMES
            && !view.table.in_shared(caller.ip())
            && allowed.is_some_and(|a| a.contains(caller.ip()));
        if trusted {
            (regs, first) = (caller, false);
            continue;
        }
        let slot = caller.get(unwind::RSP)?.checked_sub(8)?;
        let ret = caller.ip();
        let held = mem.stack_u64(slot);
        if held != Some(ret) || !follows_a_call(view, ret) {
            crate::log!(
                Debug,
                "no call window: slot {slot:#x} holds {:#x}, not a return address",
                held.unwrap_or(0)
            );
            return None;
        }
        return Some((slot, ret));
    }
    None
}

/// Whether the code just before `ret` is a call instruction, as it is for
/// every real return address (`call rel32`, or `call` through a register
/// or memory operand): a check that the slot the tables named is one.
fn follows_a_call(view: &View, ret: u64) -> bool {
    let Some(m) = view.table.find(ret) else {
        return false;
    };
    // The 7 bytes before `ret` must lie in the same executable segment.
    if !m.exec.iter().any(|&(lo, hi)| lo + 7 <= ret && ret <= hi) {
        return false;
    }
    let mut b = [0u8; 7];
    // SAFETY: [ret-7, ret) is inside an executable (hence readable) segment
    // of a loaded module; its mapping was probed by `Mem::data` users and
    // the module is in the current view.
    unsafe { core::ptr::copy_nonoverlapping((ret - 7) as *const u8, b.as_mut_ptr(), 7) };
    // b[7 - k] is the byte k before ret.
    let at = |k: usize| b[7 - k];
    let indirect = |k: usize| at(k) == 0xff && (at(k - 1) >> 3) & 7 == 2;
    at(5) == 0xe8 || indirect(2) || indirect(3) || indirect(6) || indirect(7)
}

/// Learn mode: the deciding frames seen, with a writer inside a shared
/// library where there was one. A fixed open-addressing table of atomics,
/// filled from the handler without allocation or locks.
const LEARN_SLOTS: usize = 16384;
static LEARNED: [AtomicU64; LEARN_SLOTS] = [const { AtomicU64::new(0) }; LEARN_SLOTS];
static LEARNED_VIA: [AtomicU64; LEARN_SLOTS] = [const { AtomicU64::new(0) }; LEARN_SLOTS];
static LEARN_FULL: AtomicBool = AtomicBool::new(false);

pub fn learn(decider: u64, writer: u64) {
    let mut i = (decider.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 50) as usize % LEARN_SLOTS;
    for _ in 0..LEARN_SLOTS {
        match LEARNED[i].compare_exchange(0, decider, AcqRel, Acquire) {
            Ok(_) => {
                if writer != decider {
                    LEARNED_VIA[i].store(writer, Relaxed);
                }
                return;
            }
            Err(v) if v == decider => return,
            Err(_) => i = (i + 1) % LEARN_SLOTS,
        }
    }
    if !LEARN_FULL.swap(true, Relaxed) {
        crate::log!(
            Warn,
            "learn table full: later writer sites are not recorded"
        );
    }
}

/// Writes what learn mode saw into the profile at `path` (merged with what
/// the file already holds). Runs at exit, outside any handler.
pub fn save_learned(path: &str) {
    let Some(view) = view() else { return };
    let mut learned = Profile::default();
    for (d, via) in LEARNED.iter().zip(LEARNED_VIA.iter()) {
        let d = d.load(Acquire);
        if d == 0 {
            continue;
        }
        let via = via.load(Relaxed);
        let writer = (via != 0).then(|| view.table.place(via));
        learned.learn(&view.table.place(d), writer.as_ref());
    }
    let n = learned.sites.len();
    let mut profile = std::fs::read_to_string(path)
        .ok()
        .and_then(|t| Profile::parse(&t).ok())
        .unwrap_or_default();
    profile.merge(learned);
    let tmp = format!("{path}.tmp.{}", std::process::id());
    let result = std::fs::write(&tmp, profile.render()).and_then(|()| std::fs::rename(&tmp, path));
    match result {
        Ok(()) => crate::log!(
            Info,
            "learned {n} writer sites; {} in {path}",
            profile.sites.len()
        ),
        Err(e) => crate::log::emit(format_args!("jitguard: cannot write profile {path}: {e}")),
    }
    let unnamed = COUNTERS.unnamed_writers.load(Relaxed);
    if unnamed > 0 {
        crate::log::emit(format_args!(
            "jitguard: {unnamed} writes in learn mode came from a shared routine whose caller could not be found; they are not in the profile"
        ));
    }
}

static NOTICE_SHOWN: AtomicBool = AtomicBool::new(false);

/// Says once, when the first code region is guarded, that no profile
/// authenticates writers in this process.
pub fn notice_if_unauthenticated() {
    let Some(v) = view() else { return };
    if v.source != Source::None || NOTICE_SHOWN.swap(true, Relaxed) {
        return;
    }
    let exe = v.table.modules().first().map_or("", |m| &m.name[..]);
    crate::log::emit(format_args!(
        "jitguard: notice: no writer profile for {exe}: code pages are keyed and writes counted, but writers are not authenticated (set JITGUARD_PROFILE, or run `jitguard learn`)"
    ));
}

/// The module about to be unloaded by dlclose is dropped from the view
/// first, so the handler never reads a module's tables after they are
/// unmapped; the view is rebuilt from what is still loaded afterwards.
pub fn before_dlclose(handle: *mut c_void) {
    let mut lm: *mut c_void = core::ptr::null_mut();
    // SAFETY: RTLD_DI_LINKMAP stores the handle's link_map pointer.
    if unsafe { libc::dlinfo(handle, libc::RTLD_DI_LINKMAP, (&raw mut lm).cast()) } != 0
        || lm.is_null()
    {
        return;
    }
    // SAFETY: struct link_map starts with l_addr (the load bias).
    let bias = unsafe { lm.cast::<u64>().read() };
    let mut c = CHOSEN.lock();
    let Some(v) = view() else { return };
    let modules: Vec<Arc<Module>> = v
        .table
        .modules()
        .iter()
        .filter(|m| m.bias != bias || m.bias == 0)
        .cloned()
        .collect();
    // Re-resolved, so the closed module's ranges stop being trusted too.
    publish(&mut c, ModuleTable::new(modules));
}
