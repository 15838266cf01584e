//! `vault`: the small front (`vault::front`). It answers a warm `exec` or `export` from the
//! unlocked agent in one round trip and hands everything else to `vault-core`, the full CLI,
//! in the same directory.
//!
//! It has its own C `main` (`#![no_main]`): Rust's start-up would read `/proc/self/maps` for
//! the main thread's stack guard, install a signal stack and SIGSEGV/SIGBUS handlers, and poll
//! the standard descriptors, about a quarter of a millisecond of a path whose whole budget is
//! one millisecond (issue 17). The front needs none of it: it runs no deep recursion, and the
//! SIGPIPE disposition std would set is set by `front::main` where it matters. Arguments and
//! the environment are still read through std (glibc hands them to std's initialiser).
#![no_main]
// `no_mangle` on `main` is the only unsafe construct here: the symbol the C runtime calls.
#![allow(unsafe_code)]

/// The C entry point.
#[unsafe(no_mangle)]
pub extern "C" fn main(_argc: i32, _argv: *const *const u8) -> i32 {
    i32::from(vault::front::main())
}
