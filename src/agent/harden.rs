//! Process hardening for the agent: the only `unsafe` in vault.
//!
//! The agent makes itself non-dumpable (no core files, no ptrace or /proc/PID/mem access by
//! other processes of the same user without CAP_SYS_PTRACE), sets RLIMIT_CORE to 0, and locks
//! the page that holds the master identity into RAM so it is never swapped out.
#![allow(unsafe_code)]

/// Non-dumpable and no core files. Failures are reported, not fatal: the agent still works.
pub fn harden_process() {
    if let Err(e) =
        rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
    {
        tracing::warn!("could not make the agent non-dumpable: {e}");
    }
    let zero = rustix::process::Rlimit {
        current: Some(0),
        maximum: Some(0),
    };
    if let Err(e) = rustix::process::setrlimit(rustix::process::Resource::Core, zero) {
        tracing::warn!("could not set RLIMIT_CORE to 0: {e}");
    }
}

/// Locks the memory of `value` (a boxed secret) into RAM. Best effort: an unprivileged user's
/// RLIMIT_MEMLOCK may forbid it, which is logged.
pub fn lock_memory<T>(value: &T) {
    let ptr = value as *const T as *mut std::ffi::c_void;
    let len = std::mem::size_of::<T>();
    // SAFETY: `ptr..ptr+len` is the memory of a live value we borrow; mlock only changes the
    // paging attributes of the pages containing it and never reads or writes them.
    if let Err(e) = unsafe { rustix::mm::mlock(ptr, len) } {
        tracing::warn!("could not mlock the master key: {e}");
    }
}
