//! The writer view: the loaded modules and the writer policy resolved
//! against them, published for the fault handler to read without locks.
//!
//! Nothing of it is built until the first guarded region appears: a
//! process that never maps W+X memory never reads a symbol table. Once a
//! view exists it is rebuilt after every `dlopen`/`dlclose`.

use super::modules::loaded_modules;
use crate::published::{Published, ReadGuard, Readers};
use crate::state::globals;
use crate::vault::{self, Paged, VaultCell};
use core::sync::atomic::{AtomicBool, Ordering::Relaxed};
use jg::config::Mode;
use jg::modules::{Module, ModuleTable};
use jg::profile::Profile;
use jg::writer::WriterPolicy;
use libc::c_void;
use parking_lot::Mutex;
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

pub struct View {
    pub table: ModuleTable,
    pub policy: WriterPolicy,
    pub source: Source,
}

pub type ViewGuard = ReadGuard<'static, View, 8>;

static VIEW_READERS: Readers = Readers::new();
#[link_section = "jitguard_vault"]
static VIEW: Paged<Published<View>> = Paged(Published::new(&VIEW_READERS));

/// The profile chosen, and the modules already parsed (a rebuild after
/// dlopen reuses them rather than reading every file again).
struct Chosen {
    started: bool,
    profile: Option<Profile>,
    source: Source,
    modules: Vec<Arc<Module>>,
    /// The profile's name entries resolved per module, kept across
    /// rebuilds.
    ranges: jg::profile::RangeCache,
}

/// The lock of `CHOSEN` (in ordinary memory: taking it writes it).
static CHOSEN_LOCK: Mutex<()> = Mutex::new(());

#[link_section = "jitguard_vault"]
static CHOSEN: Paged<VaultCell<Chosen>> = Paged(VaultCell::new(Chosen {
    started: false,
    profile: None,
    source: Source::None,
    modules: Vec::new(),
    ranges: jg::profile::RangeCache::new(),
}));

/// Runs `f` on the chosen profile under its lock, inside a vault update:
/// everything it builds (module tables, resolved ranges, the view) lands
/// in the vault.
fn with_chosen<R>(f: impl FnOnce(&mut Chosen) -> R) -> R {
    let _lock = CHOSEN_LOCK.lock();
    // SAFETY: under CHOSEN_LOCK and inside an update.
    vault::update(|| f(unsafe { CHOSEN.get_mut() }))
}

/// The view in force, if one has been built; held until the guard drops.
pub fn view() -> Option<ViewGuard> {
    VIEW.read()
}

/// The policy's source, for the stats file.
pub fn source_name() -> String {
    view().map_or_else(|| "none".into(), |v| v.source.to_string())
}

/// Builds the first view if there is none: reads the profile named in the
/// configuration (or finds a built-in one). Called before the first region
/// is guarded, outside the region lock and any handler.
pub fn ensure_view() {
    if VIEW.is_published() {
        return;
    }
    with_chosen(build_first);
}

fn build_first(c: &mut Chosen) {
    if c.started {
        return;
    }
    c.started = true;
    let t0 = crate::sys::now_ns();
    let config = &globals().config;
    match (config.mode, config.profile.as_deref()) {
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
    rebuild(c);
    crate::log!(
        Info,
        "writer view built in {} µs",
        (crate::sys::now_ns() - t0) / 1000
    );
}

/// Rebuilds the view after the set of loaded modules changed (only once
/// a view exists).
pub fn refresh() {
    if !VIEW.is_published() {
        return;
    }
    with_chosen(rebuild);
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
                |m, addr| super::walk::function_range(&table, m, addr),
                &mut c.ranges,
            );
            for w in warnings {
                crate::log::emit(format_args!("jitguard: {w}"));
            }
            // jitguard's own REP emulation writes guarded pages (under
            // mprotect another thread's reseal can revoke a page mid-copy
            // and fault it): that one routine, by the address range of the
            // section it is linked into, is trusted; nothing else of
            // jitguard's (its hooks write through program pointers).
            WriterPolicy::Profile(allowed.including(&[crate::rep::code_range()]))
        }
        _ => WriterPolicy::AllowAll,
    };
    crate::status::set_profile(&c.source.to_string());
    VIEW.publish(View {
        table,
        policy,
        source: c.source.clone(),
    });
}

/// Holds the view's lock across fork (a child must not inherit it held by
/// a thread that does not exist there).
pub fn lock_for_fork() {
    core::mem::forget(CHOSEN_LOCK.lock());
}

/// # Safety
/// Only after `lock_for_fork` on this thread.
pub unsafe fn unlock_after_fork(child: bool) {
    if child {
        VIEW.reset_readers_in_child();
    }
    // SAFETY: the caller's contract.
    unsafe { CHOSEN_LOCK.force_unlock() };
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
    with_chosen(|c| {
        let Some(v) = view() else { return };
        let modules: Vec<Arc<Module>> = v
            .table
            .modules()
            .iter()
            .filter(|m| m.bias != bias || m.bias == 0)
            .cloned()
            .collect();
        drop(v);
        // Re-resolved, so the closed module's ranges stop being trusted too.
        publish(c, ModuleTable::new(modules));
    });
}
