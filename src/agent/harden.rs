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

/// Closes every file descriptor above stderr that the agent inherited from whoever started it
/// (a passphrase file opened by a shell, a build tool's pipe): a long-lived agent must not keep
/// them open. Call first thing, before this process opens anything of its own.
pub fn close_inherited_fds() {
    let fds: Vec<i32> = match std::fs::read_dir("/proc/self/fd") {
        Ok(dir) => dir
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .filter(|&fd| fd > 2)
            .collect(),
        Err(_) => return,
    };
    for fd in fds {
        // SAFETY: `fd` is only used for this fcntl, during which nothing else can close it
        // (the agent is single-threaded here).
        let open = rustix::io::fcntl_getfd(unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) });
        // The directory handle that listed them is already closed: skip it.
        if open.is_err() {
            continue;
        }
        // SAFETY: called before the agent opens any descriptor of its own, so no Rust object
        // in this process owns `fd`: it was inherited across exec, and nothing will use or
        // close it again after this.
        unsafe { rustix::io::close(fd) };
    }
}
