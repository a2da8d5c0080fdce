//! The writer view: the loaded modules and the writer policy resolved
//! against them, published for the fault handler to read without locks.
//!
//! Nothing of it is built until the first guarded region appears: a
//! process that never maps W+X memory never reads a symbol table. Once a
//! view exists it is rebuilt after every `dlopen`/`dlclose`.

use super::modules::loaded_modules;
use crate::published::{Published, ReadGuard, Readers};
use crate::state::globals;
use crate::vault::{self, OwnState, VaultCell};
use core::sync::atomic::{AtomicBool, Ordering::Relaxed};
use jg::config::Mode;
use jg::coverage::{self, Judges};
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

/// One profile in force: its policy resolved against the loaded modules,
/// and where it came from.
pub struct Judging {
    pub policy: WriterPolicy,
    pub source: Source,
    /// Its `unguarded-during` functions.
    pub unguarded: coverage::Covers,
}

pub struct View {
    pub table: ModuleTable,
    /// The profiles in force, each with the modules whose regions it
    /// judges (see `jg::coverage`).
    pub judges: Judges<Judging>,
}

impl View {
    /// The profile that judges a write to `addr`: the one covering the
    /// module that created its region. Lock-free (the region snapshot).
    pub fn judging(&self, addr: u64) -> &Judging {
        self.judges.for_creator(crate::regions::creator_of(addr))
    }

    /// Whether W+X memory made by the call `c` is guarded: not when the
    /// profile covering its creator says the memory is not code.
    pub fn guards(&self, c: &super::Creator) -> bool {
        let j = self.judges.for_creator(Some(c.at()).filter(|&a| a != 0));
        !coverage::made_beneath(&j.unguarded, &c.frames[..c.n])
    }

    /// The profiles in force, comma-separated (status and stats).
    pub fn sources(&self) -> String {
        let mut names: Vec<String> = self.judges.all().map(|j| j.source.to_string()).collect();
        names.dedup(); // learn mode: one `learning`
        names.join(",")
    }
}

pub type ViewGuard = ReadGuard<'static, View, 8>;

static VIEW_READERS: Readers = Readers::new();
#[link_section = "jitguard_vault"]
static VIEW: OwnState<Published<View>> = OwnState(Published::new(&VIEW_READERS));

/// A profile chosen for this process, with its name entries resolved per
/// module (kept across rebuilds).
struct Held<N> {
    name: N,
    profile: Profile,
    ranges: jg::profile::RangeCache,
}

/// The profiles chosen, and the modules already parsed (a rebuild after
/// dlopen reuses them rather than reading every file again).
struct Chosen {
    started: bool,
    learning: bool,
    /// `JITGUARD_PROFILE`'s profile, by path.
    given: Option<Held<String>>,
    /// The built-in profiles detected so far.
    builtin: Vec<Held<&'static str>>,
    modules: Vec<Arc<Module>>,
}

/// The lock of `CHOSEN` (in ordinary memory: taking it writes it).
static CHOSEN_LOCK: Mutex<()> = Mutex::new(());

#[link_section = "jitguard_vault"]
static CHOSEN: OwnState<VaultCell<Chosen>> = OwnState(VaultCell::new(Chosen {
    started: false,
    learning: false,
    given: None,
    builtin: Vec::new(),
    modules: Vec::new(),
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

/// The profiles in force, for the stats file.
pub fn source_name() -> String {
    view().map_or_else(|| "none".into(), |v| v.sources())
}

/// Builds the first view if there is none: reads the profile named in the
/// configuration (or finds a built-in one). Called before the first region
/// is guarded, outside the region lock and any handler.
pub fn ensure_view() {
    if VIEW.is_published() {
        return;
    }
    // Reports may follow from here on, some from signal handlers. Outside
    // the view's lock and the vault's update: localtime_r takes glibc's
    // own lock and reads a file.
    crate::log::learn_time_zone();
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
        (Mode::Learn, Some(_)) => c.learning = true,
        (Mode::Learn, None) => {
            crate::log::emit(format_args!(
                "jitguard: JITGUARD_MODE=learn needs JITGUARD_PROFILE=PATH to write to; nothing will be recorded"
            ));
            c.learning = true;
        }
        (_, Some(path)) => match std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| Profile::parse(&t).map_err(|e| e.to_string()))
        {
            Ok(profile) => {
                c.given = Some(Held {
                    name: path.to_string(),
                    profile,
                    ranges: jg::profile::RangeCache::new(),
                })
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
    // Every built-in profile whose runtime is loaded applies, each to the
    // code memory its runtime creates, beside any given profile.
    // In learn mode too: their `unguarded-during` rules still say which
    // W+X memory is not code.
    {
        for (name, profile) in jg::profile::builtin() {
            if !c.builtin.iter().any(|h| h.name == name) && profile.detected(&table) {
                crate::log!(Info, "built-in writer profile `{name}` applies");
                c.builtin.push(Held {
                    name,
                    profile,
                    ranges: jg::profile::RangeCache::new(),
                });
            }
        }
    }
    publish(c, table);
}

/// `p` resolved against `table` into the handler's policy.
fn resolve(p: &Profile, table: &ModuleTable, ranges: &mut jg::profile::RangeCache) -> WriterPolicy {
    let (allowed, warnings) = p.resolve_with(
        table,
        |m, addr| super::walk::function_range(table, m, addr),
        ranges,
    );
    for w in warnings {
        crate::log::emit(format_args!("jitguard: {w}"));
    }
    // jitguard's own REP emulation writes guarded pages (under mprotect
    // another thread's reseal can revoke a page mid-copy and fault it):
    // that one routine, by the address range of the section it is linked
    // into, is trusted; nothing else of jitguard's (its hooks write
    // through program pointers).
    WriterPolicy::Profile(allowed.including(&[crate::rep::code_range()]))
}

/// Resolves the chosen profiles against `table` and publishes the view.
fn publish(c: &mut Chosen, table: ModuleTable) {
    let judges = if c.learning {
        // Every writer is recorded; the built-in profiles only keep
        // saying which W+X memory is not code.
        let learning = |unguarded| Judging {
            policy: WriterPolicy::AllowAll,
            source: Source::Learning,
            unguarded,
        };
        Judges {
            given: None,
            builtin: c
                .builtin
                .iter()
                .map(|h| {
                    let covers = coverage::home(&h.profile, &table);
                    let u = coverage::unguarded(&h.profile, &table, &covers);
                    (covers, learning(u))
                })
                .collect(),
            fallback: learning(coverage::Covers::default()),
        }
    } else {
        Judges {
            given: c.given.as_mut().map(|h| {
                let covers = coverage::named(&h.profile, &table);
                let j = Judging {
                    policy: resolve(&h.profile, &table, &mut h.ranges),
                    source: Source::File(h.name.clone()),
                    unguarded: coverage::unguarded(&h.profile, &table, &covers),
                };
                (covers, j)
            }),
            builtin: c
                .builtin
                .iter_mut()
                .map(|h| {
                    let covers = coverage::home(&h.profile, &table);
                    let j = Judging {
                        policy: resolve(&h.profile, &table, &mut h.ranges),
                        source: Source::Builtin(h.name),
                        unguarded: coverage::unguarded(&h.profile, &table, &covers),
                    };
                    (covers, j)
                })
                .collect(),
            fallback: Judging {
                policy: WriterPolicy::AllowAll,
                source: Source::None,
                unguarded: coverage::Covers::default(),
            },
        }
    };
    let view = View { table, judges };
    crate::status::set_profile(&view.sources());
    VIEW.publish(view);
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

/// Says once, when the first code region no profile covers is guarded
/// (created from `creator`, 0 if unknown), that writers to it are not
/// authenticated.
pub fn notice_if_unauthenticated(creator: u64) {
    let Some(v) = view() else { return };
    let creator = Some(creator).filter(|&c| c != 0);
    if v.judges.for_creator(creator).source != Source::None || NOTICE_SHOWN.swap(true, Relaxed) {
        return;
    }
    let exe = creator
        .and_then(|c| v.table.find(c))
        .or_else(|| v.table.modules().first().map(|m| &**m))
        .map_or("", |m| &m.name[..]);
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
