//! Start-up, in stages: until the state is READY every hook passes
//! straight through, because other libraries' constructors (and start-up's
//! own allocations) call hooked functions first. Start-up resolves the
//! real functions, reads the configuration, picks the protection and
//! allocates keys (sealing this thread: write disabled, read allowed),
//! installs the signal handlers, guards any W+X mappings that already
//! exist, and only then turns the hooks on. The writer view (symbols,
//! profiles) waits for the first guarded region.

use crate::protect::Protection;
use crate::state::{self, Globals, DISABLED, INITIALISING, READY, STATE, UNINIT};
use crate::{fault, log, pkru, real, regions, signals, stats_file, sys, vault, writers};
use core::sync::atomic::Ordering;
use jg::config::{Backend, Config, Mode, Policy};
use jg::keys::{KeyPolicy, KeyPolicyNote};
use rand::RngCore;

const PKEY_DISABLE_WRITE: u32 = 2;

#[cfg(not(test))]
#[used]
#[link_section = ".init_array"]
static INIT: extern "C" fn() = jitguard_init;

#[cfg(not(test))]
#[used]
#[link_section = ".fini_array"]
static FINI: extern "C" fn() = jitguard_fini;

pub extern "C" fn jitguard_init() {
    // A load first: once start-up is done STATE is read-only, and a
    // compare-exchange writes even when it fails.
    if STATE.load(Ordering::Acquire) != UNINIT
        || STATE
            .compare_exchange(UNINIT, INITIALISING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
    {
        return;
    }
    let arena = vault::prepare();
    // Everything start-up builds (configuration, profile, view) lands in
    // the vault's arena.
    let Some((protect, use_keys)) = vault::update(start_up) else {
        return;
    };
    if protect && !arena {
        log::emit(format_args!(
            "jitguard: could not reserve the memory for its own state; it stays writable"
        ));
    }
    vault::seal(protect && arena, use_keys);
    // Outside the vault's arena: the thread's own allocations are not
    // jitguard's state.
    crate::attest::start_sweep();
    let g = state::globals();
    crate::log!(
        Info,
        "{} backend, {} policy, {} keys, mode {}, own state {}",
        g.protection.backend().name(),
        g.protection
            .keys()
            .map_or("page-table", |k| k.policy().name()),
        g.protection.key_set().len(),
        g.config.mode.name(),
        vault::mode_name()
    );
    if let Err(why) = crate::window::prediction().depth() {
        crate::log!(
            Warn,
            "JITGUARD_PREDICT={} has no effect here: {why}",
            g.config.predict
        );
    }
}

/// Start-up inside the vault: Some((protect own state, with keys)) once
/// the hooks are on, None when jitguard stays off.
fn start_up() -> Option<(bool, bool)> {
    real::resolve_all();
    writers::record_startup_modules();
    let (config, warnings) = Config::load(|| std::fs::read_link("/proc/self/exe").ok());
    log::set_level(config.log);
    for w in &warnings {
        // Always shown: a bad value must never pass silently.
        log::emit(format_args!("{w}"));
    }
    if config.mode == Mode::Off {
        crate::log!(Info, "JITGUARD_MODE=off: guarding nothing");
        STATE.store(DISABLED, Ordering::Release);
        return None;
    }
    let protection = choose_protection(&config);
    if protection.keys().is_some() {
        // Only a key policy (built under pkey) carries the per-run secret
        // through start-up's stack; scrubbing faults in 32 KiB of it.
        vault::scrub_stack();
    }
    let g = state::set_globals(Globals { config, protection });
    crate::attest::init(rand::rngs::OsRng.next_u64());
    // The modules' own gadgets are only reported (stats file, info log):
    // scanned (about 1 ms per MiB of code) only when someone will see it.
    if g.config.gadgets != jg::config::Gadgets::Off
        && (g.config.stats.is_some() || g.config.log >= jg::config::LogLevel::Info)
    {
        crate::startup_gadgets::scan();
    }
    if !signals::install(
        fault::on_segv as *const () as usize,
        fault::on_trap as *const () as usize,
    ) {
        crate::log!(Error, "could not install signal handlers; guarding nothing");
        STATE.store(DISABLED, Ordering::Release);
        return None;
    }
    log::configure(&g.config);
    // One look at the memory map serves the main thread's stack bounds,
    // the shared views and the W+X mappings made before start-up.
    let maps = crate::procmap::startup_mappings(sys::stack_pointer());
    crate::stack::record_main_thread(&maps);
    crate::persona::check_personality_at_start();
    crate::aliases::record_existing(&maps);
    guard_existing_mappings(maps);
    register_fork_handlers();
    crate::status::publish(g, &writers::source_name());
    STATE.store(READY, Ordering::Release);
    // After READY: a trap is then always run through the guarded path
    // (never passed through raw, which would trap again for W+X mmap).
    crate::seccomp::start(g);
    let keys = g.protection.keys().is_some();
    Some((g.config.vault, keys))
}

/// Picks the backend and, for pkey, allocates the keys.
fn choose_protection(config: &Config) -> Protection {
    let has_pku = pkru::init_frame_offset();
    let want_pkey = match config.backend {
        Backend::Mprotect => false,
        Backend::Auto => has_pku,
        Backend::Pkey => {
            if !has_pku {
                log::emit(format_args!(
                    "jitguard: JITGUARD_BACKEND=pkey but this CPU or kernel has no protection keys (no pku/ospke); using mprotect"
                ));
            }
            has_pku
        }
    };
    if !want_pkey {
        return Protection::Mprotect;
    }
    // The vault's own keys first: the code keys are what is left.
    if config.vault {
        vault::allocate_keys();
    }
    // Single policy takes one key, leaving the rest to the program; hashed
    // takes every key it can get.
    let wanted = if config.policy == Policy::Single {
        1
    } else {
        15
    };
    let mut obtained = Vec::new();
    while obtained.len() < wanted {
        match sys::pkey_alloc(0, PKEY_DISABLE_WRITE) {
            Ok(k) => obtained.push(k as u32),
            Err(_) => break,
        }
    }
    let secret = rand::rngs::OsRng.next_u64();
    match KeyPolicy::new(config.policy, secret, &obtained) {
        None => {
            log::emit(format_args!(
                "jitguard: no protection key could be allocated; using mprotect"
            ));
            Protection::Mprotect
        }
        Some((kp, note)) => {
            if let Some(KeyPolicyNote::TooFewKeysForHashed { obtained }) = note {
                log::emit(format_args!(
                    "jitguard: only {obtained} protection key(s) free; the hashed policy needs 3, every page shares one key"
                ));
            }
            // Keys beyond what the policy uses go back to the program.
            for k in obtained {
                if !kp.owns(k) {
                    let _ = sys::pkey_free(k as i32);
                }
            }
            Protection::pkey(kp)
        }
    }
}

/// W+X mappings made before start-up (by other constructors) are guarded
/// too.
fn guard_existing_mappings(maps: Vec<jg::maps::Mapping>) {
    let sp = sys::stack_pointer();
    // An executable stack (binaries linked with -z execstack) is W+X too,
    // but write-protecting it kills the thread at its next push.
    let rwx: Vec<_> = maps
        .into_iter()
        .filter(|m| m.is_rwx() && !m.path.starts_with("[stack") && !(m.start <= sp && sp < m.end))
        .collect();
    if rwx.is_empty() {
        return;
    }
    writers::ensure_view();
    let p = state::protection();
    regions::edit(|map| {
        for m in rwx {
            let prot = libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC;
            if let Err(e) = p.guard(map, m.start, m.end, prot) {
                crate::log!(
                    Warn,
                    "could not guard existing mapping {:#x}-{:#x} (errno {e})",
                    m.start,
                    m.end
                );
            }
        }
    });
    writers::notice_if_unauthenticated(0);
}

// Lock order: the writer view's lock, then the region lock (the mapping
// calls take them one at a time, never nested the other way).
extern "C" fn before_fork() {
    writers::lock_for_fork();
    crate::aliases::lock_for_fork();
    regions::lock_for_fork();
    vault::lock_for_fork();
}

extern "C" fn after_fork_parent() {
    crate::attest::after_fork_parent();
    // SAFETY: before_fork took the locks on this thread and forgot the
    // guards.
    unsafe {
        vault::unlock_after_fork(false);
        regions::unlock_after_fork(false);
        crate::aliases::unlock_after_fork();
        writers::unlock_after_fork(false);
    }
}

extern "C" fn after_fork_child() {
    // SAFETY: as above; the child has only this thread.
    unsafe {
        vault::unlock_after_fork(true);
        regions::unlock_after_fork(true);
        crate::aliases::unlock_after_fork();
        writers::unlock_after_fork(true);
    }
    signals::reset_readers_in_child();
    sys::forget_ids_in_child();
    crate::status::after_fork();
    crate::attest::after_fork_child(&crate::window::current());
    stats_file::reset_for_child();
    // Pages other threads had open in call windows stay RW in the child's
    // copy of the page tables, with no thread left to reseal them: seal
    // every guarded region again (the forking thread's own window, if any,
    // just refaults).
    regions::read(|map| state::protection().reseal_all_in_child(map));
}

fn register_fork_handlers() {
    // SAFETY: three valid extern "C" functions with static lifetime.
    unsafe {
        libc::pthread_atfork(
            Some(before_fork),
            Some(after_fork_parent),
            Some(after_fork_child),
        );
    }
}

pub extern "C" fn jitguard_fini() {
    if STATE.load(Ordering::Acquire) == READY {
        // Checked before the stats are written, so they count the checks.
        let fatal = crate::attest::at_exit_check();
        stats_file::write_at_exit();
        if fatal {
            // SAFETY: abort is always sound; tampered code was found.
            unsafe { libc::abort() };
        }
        let g = state::globals();
        if let (Mode::Learn, Some(path)) = (g.config.mode, &g.config.profile) {
            writers::save_learned(&jg::config::expand_pid(path, sys::getpid()));
        }
    }
}
