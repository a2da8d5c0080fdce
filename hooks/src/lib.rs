//! libjitguard.so: the LD_PRELOAD layer.
//!
//! Start-up happens in an ELF constructor, in stages: until the state is
//! READY every hook passes straight through, because other libraries'
//! constructors (and our own start-up's allocations) call hooked functions
//! first. Start-up reads the configuration, picks the backend, allocates
//! protection keys (sealing this thread: write disabled, read allowed),
//! installs the signal handlers, guards any W+X mappings that already
//! exist, and only then turns the hooks on.
//!
//! This crate is the only place with `unsafe`; every decision it acts on
//! comes from the pure `jitguard` crate (imported here as `jg`).

mod guard;
mod handler;
mod interpose;
#[macro_use]
mod log;
mod pkru;
mod signals;
mod state;
mod stats_file;
mod status;
mod sys;
mod trampoline;
mod writers;

use core::sync::atomic::Ordering;
use jg::config::{Backend, Config, Mode, Policy};
use jg::keys::{KeyPolicy, KeyPolicyNote};
use jg::pkru::KeySet;
use rand::RngCore;
use state::{Globals, DISABLED, INITIALISING, READY, STATE, UNINIT};

const PKEY_DISABLE_WRITE: u32 = 2;

#[used]
#[link_section = ".init_array"]
static INIT: extern "C" fn() = jitguard_init;

#[used]
#[link_section = ".fini_array"]
static FINI: extern "C" fn() = jitguard_fini;

extern "C" fn jitguard_init() {
    if STATE
        .compare_exchange(UNINIT, INITIALISING, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return;
    }
    let (config, warnings) = Config::load(std::fs::read_link("/proc/self/exe").ok().as_deref());
    log::set_level(config.log);
    for w in &warnings {
        // Always shown: a bad value must never pass silently.
        log::emit(format_args!("{w}"));
    }
    if config.mode == Mode::Off {
        log!(Info, "JITGUARD_MODE=off: guarding nothing");
        STATE.store(DISABLED, Ordering::Release);
        return;
    }
    let (backend, keys) = choose_backend(&config);
    let key_set = keys
        .as_ref()
        .map_or(KeySet::EMPTY, |k| KeySet(k.key_mask()));
    let globals = Globals {
        config,
        backend,
        keys,
        key_set,
    };
    let g = state::GLOBALS.get_or_init(|| globals);
    if !signals::install(
        handler::on_segv as *const () as usize,
        handler::on_trap as *const () as usize,
    ) {
        log!(Error, "could not install signal handlers; guarding nothing");
        STATE.store(DISABLED, Ordering::Release);
        return;
    }
    let t0 = sys::now_ns();
    writers::init(g.config.mode, g.config.profile.as_deref());
    log!(
        Info,
        "writer view built in {} µs",
        (sys::now_ns() - t0) / 1000
    );
    guard_existing_mappings();
    register_fork_handlers();
    log::configure(&g.config);
    status::publish(g);
    STATE.store(READY, Ordering::Release);
    log!(
        Info,
        "{} backend, {} policy, {} keys, mode {}",
        g.backend.name(),
        g.keys.as_ref().map_or("page-table", |k| k.policy().name()),
        g.key_set.len(),
        g.config.mode.name()
    );
}

/// Picks the backend and, for pkey, allocates the keys.
fn choose_backend(config: &Config) -> (Backend, Option<KeyPolicy>) {
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
        return (Backend::Mprotect, None);
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
            (Backend::Mprotect, None)
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
            (Backend::Pkey, Some(kp))
        }
    }
}

/// W+X mappings made before start-up (by other constructors) are guarded
/// too.
fn guard_existing_mappings() {
    let Ok(text) = std::fs::read_to_string("/proc/self/maps") else {
        return;
    };
    let sp = guard::stack_pointer();
    // An executable stack (binaries linked with -z execstack) is W+X too,
    // but write-protecting it kills the thread at its next push.
    let rwx: Vec<_> = jg::maps::parse_maps(&text)
        .into_iter()
        .filter(|m| m.is_rwx() && !m.path.starts_with("[stack") && !(m.start <= sp && sp < m.end))
        .collect();
    if rwx.is_empty() {
        return;
    }
    guard::edit(|map| {
        for m in rwx {
            let prot = libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC;
            if let Err(e) = guard::guard(map, m.start, m.end, prot) {
                log!(
                    Warn,
                    "could not guard existing mapping {:#x}-{:#x} (errno {e})",
                    m.start,
                    m.end
                );
            }
        }
    });
}

extern "C" fn before_fork() {
    // Hold the bookkeeping lock across fork so the child never inherits it
    // locked by a thread that does not exist there.
    core::mem::forget(state::REGIONS.lock());
}

extern "C" fn after_fork_parent() {
    // SAFETY: before_fork took the lock on this thread and forgot the guard.
    unsafe { state::REGIONS.force_unlock() };
}

extern "C" fn after_fork_child() {
    // SAFETY: as above; the child has only this thread.
    unsafe { state::REGIONS.force_unlock() };
    state::reset_readers_in_child();
    stats_file::reset_for_child();
    // Pages other threads had open in call windows stay RW in the child's
    // copy of the page tables, with no thread left to reseal them: seal
    // every guarded region again (the forking thread's own window, if any,
    // just refaults).
    guard::reseal_all_in_child();
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

extern "C" fn jitguard_fini() {
    if STATE.load(Ordering::Acquire) == READY {
        stats_file::write_at_exit();
        let g = state::globals();
        if let (Mode::Learn, Some(path)) = (g.config.mode, &g.config.profile) {
            writers::save_learned(&jg::config::expand_pid(path, sys::getpid()));
        }
    }
}
