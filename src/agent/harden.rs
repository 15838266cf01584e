//! Process hardening for the agent, and the OS calls behind its guarantees: the only `unsafe`
//! in vault.
//!
//! The agent makes itself non-dumpable (Linux: `PR_SET_DUMPABLE` 0, so no core files and no
//! ptrace or /proc/PID/mem access by other processes of the same user without CAP_SYS_PTRACE;
//! macOS: `ptrace(PT_DENY_ATTACH)`, so no debugger can attach), sets RLIMIT_CORE to 0, and locks
//! the page that holds the master identity into RAM so it is never swapped out. It learns the
//! uid of each peer of its socket from the kernel (Linux `SO_PEERCRED`, macOS `getpeereid`).
//! Each OS-specific part exists for Linux and macOS; any other OS fails to compile here rather
//! than run an agent without them.
#![allow(unsafe_code)]

use std::os::unix::net::UnixStream;

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
compile_error!(
    "the agent's hardening (non-dumpable process, socket peer uid) is written for Linux and macOS only"
);

/// The directory listing this process's open file descriptors.
#[cfg(target_os = "linux")]
const FD_DIR: &str = "/proc/self/fd";
#[cfg(target_os = "macos")]
const FD_DIR: &str = "/dev/fd";

/// Non-dumpable and no core files. Failures are reported, not fatal: the agent still works.
pub fn harden_process() {
    if let Err(e) = deny_inspection() {
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

/// The soft RLIMIT_CORE this process started with, saved by [`no_core_dumps`].
static ORIGINAL_CORE: std::sync::OnceLock<rustix::process::Rlimit> = std::sync::OnceLock::new();

/// For every vault command (they unlock, or hold credentials or the `--server` token): no
/// core file. Linux: `PR_SET_DUMPABLE` 0; everywhere: the soft RLIMIT_CORE to 0 (the hard
/// limit is kept, so [`restore_core_limit`] can give `exec`'s child the original back).
/// Failures are logged, not fatal. `execve` resets dumpable by itself.
pub fn no_core_dumps() {
    #[cfg(target_os = "linux")]
    if let Err(e) = deny_inspection() {
        tracing::debug!("could not make vault non-dumpable: {e}");
    }
    let original = rustix::process::getrlimit(rustix::process::Resource::Core);
    let zero = rustix::process::Rlimit {
        current: Some(0),
        maximum: original.maximum,
    };
    match rustix::process::setrlimit(rustix::process::Resource::Core, zero) {
        Ok(()) => {
            let _ = ORIGINAL_CORE.set(original);
        }
        Err(e) => tracing::debug!("could not set RLIMIT_CORE to 0: {e}"),
    }
}

/// Ignores SIGPIPE, as Rust's own start-up does, so a write to a closed pipe is an error
/// (`vault export | head -c0` exits quietly) rather than death by signal: for the front
/// binary, which skips that start-up (`src/bin/vault.rs`). A child started through
/// `std::process::Command` gets the default disposition back.
pub fn ignore_sigpipe() {
    // SAFETY: `signal` with SIG_IGN installs no handler code, so nothing runs in signal
    // context; it is called before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// Gives the program `cmd` starts the core-file limit vault itself was started with, so
/// `exec`'s child does not silently inherit vault's 0.
pub fn restore_core_limit(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    let Some(original) = ORIGINAL_CORE.get().copied() else {
        return;
    };
    // SAFETY: the closure runs in the forked child before execve; it only makes one
    // setrlimit system call (async-signal-safe: no allocation, no lock) on a value copied in
    // before the fork, and ignores its result.
    unsafe {
        cmd.pre_exec(move || {
            let _ = rustix::process::setrlimit(rustix::process::Resource::Core, original);
            Ok(())
        });
    }
}

/// `PR_SET_DUMPABLE` 0.
#[cfg(target_os = "linux")]
fn deny_inspection() -> std::io::Result<()> {
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        .map_err(Into::into)
}

/// `ptrace(PT_DENY_ATTACH)`: later attach attempts fail (a process traced already is killed).
#[cfg(target_os = "macos")]
fn deny_inspection() -> std::io::Result<()> {
    // SAFETY: PT_DENY_ATTACH takes no address or data (null and 0 are what ptrace(2) documents)
    // and only sets a flag on this process in the kernel; no memory of ours is touched.
    let r = unsafe { libc::ptrace(libc::PT_DENY_ATTACH, 0, std::ptr::null_mut(), 0) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The effective uid of the process at the other end of `stream`, as the kernel recorded it
/// when that process connected.
#[cfg(target_os = "linux")]
pub fn peer_uid(stream: &UnixStream) -> std::io::Result<rustix::process::Uid> {
    Ok(rustix::net::sockopt::socket_peercred(stream)?.uid)
}

/// The effective uid of the process at the other end of `stream`, as the kernel recorded it
/// when that process connected.
#[cfg(target_os = "macos")]
pub fn peer_uid(stream: &UnixStream) -> std::io::Result<rustix::process::Uid> {
    use std::os::fd::AsRawFd;
    let (mut uid, mut gid) = (0, 0);
    // SAFETY: the descriptor is open for the call (we borrow `stream`), and both pointers are
    // to live locals of the types getpeereid(3) writes.
    let r = unsafe { libc::getpeereid(stream.as_raw_fd(), &mut uid, &mut gid) };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(rustix::process::Uid::from_raw(uid))
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

/// Sets `FD_CLOEXEC` on `fd`, an inherited descriptor (`--passphrase-fd N`), so that no
/// program vault starts inherits it.
pub fn close_on_exec(fd: i32) -> std::io::Result<()> {
    // SAFETY: the borrow lives only for these two fcntl calls, and no Rust object in this
    // process owns `fd` (it is a number from the command line, inherited across exec); an fd
    // that is not open makes fcntl fail with EBADF, which is returned.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    let flags = rustix::io::fcntl_getfd(fd)?;
    rustix::io::fcntl_setfd(fd, flags | rustix::io::FdFlags::CLOEXEC)?;
    Ok(())
}

/// Closes every file descriptor above stderr that the agent inherited from whoever started it
/// (a passphrase file opened by a shell, a build tool's pipe): a long-lived agent must not keep
/// them open. Call first thing, before this process opens anything of its own.
pub fn close_inherited_fds() {
    let fds: Vec<i32> = match std::fs::read_dir(FD_DIR) {
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
