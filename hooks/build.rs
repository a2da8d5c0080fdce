//! Keeps jitguard's protected-state sections (`jitguard_frozen`,
//! `jitguard_vault`, `jitguard_secret`) whole: their bounds are the
//! linker's `__start_`/`__stop_` symbols, and a linker that garbage-collects
//! sections referenced only through those symbols (lld's default) would
//! leave them undefined. `sections.ld` pads each to whole pages (see
//! there).
fn main() {
    println!("cargo:rustc-link-arg=-Wl,-z,nostart-stop-gc");
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rustc-link-arg=-Wl,-T,{dir}/sections.ld");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=sections.ld");
}
