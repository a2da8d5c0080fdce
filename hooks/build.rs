//! Keeps jitguard's protected-state sections (`jitguard_frozen`,
//! `jitguard_vault`, `jitguard_secret`) whole: their bounds are the
//! linker's `__start_`/`__stop_` symbols, and a linker that garbage-collects
//! sections referenced only through those symbols (lld's default) would
//! leave them undefined.
fn main() {
    println!("cargo:rustc-link-arg=-Wl,-z,nostart-stop-gc");
    println!("cargo:rerun-if-changed=build.rs");
}
