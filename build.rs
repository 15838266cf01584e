//! Link flags for a faster start that trade no hardening away (issue 17).
//!
//! On Linux with glibc the binary is linked with packed relative relocations (DT_RELR,
//! `-z pack-relative-relocs`, GNU ld >= 2.38, glibc >= 2.36 at run time): the dynamic loader
//! then applies vault's ~45,000 relative relocations from a bitmap of a few KiB instead of a
//! 1 MiB table, which was 45% of the instructions of `vault --version`. The binary stays a
//! position-independent executable with full RELRO (ASLR and read-only relocations as before).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
