//! The unlock agent, like ssh-agent: one per user and vault, holding the master identity so
//! that one passphrase serves a whole session.
//!
//! The socket lives in `$XDG_RUNTIME_DIR/vault/` (else `$TMPDIR/vault-<uid>/`); that directory
//! must be ours, 0700 and not a symlink. Every connection's peer uid is checked as well, so
//! loosened file modes alone do not let another user in.

pub mod client;
pub mod harden;
pub mod protocol;
pub mod server;

use std::fs::DirBuilder;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::error::{Error, Msg, Result};
use crate::settings::Settings;
use client::Client;

/// The default idle lock.
pub const DEFAULT_IDLE: Duration = Duration::from_secs(15 * 60);

/// The private directory for sockets, created 0700 when missing and checked when present.
pub fn runtime_dir(settings: &Settings) -> Result<PathBuf> {
    let uid = rustix::process::geteuid().as_raw();
    let dir = settings.runtime_dir.clone();
    match DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(Error::Io {
                op: "creating",
                path: dir,
                source: e,
            })
        }
    }
    let meta = std::fs::symlink_metadata(&dir).map_err(|e| Error::Io {
        op: "checking",
        path: dir.clone(),
        source: e,
    })?;
    let problem = if meta.file_type().is_symlink() {
        Some("it is a symlink".to_owned())
    } else if !meta.is_dir() {
        Some("it is not a directory".to_owned())
    } else {
        match vault_backends::fs::check_owner_mode(&dir, &meta, uid, 0o077, "chmod 700") {
            Err(vault_backends::Error::UnsafePermissions { problem, .. }) => Some(problem),
            _ => None,
        }
    };
    if let Some(problem) = problem {
        return Err(Error::Backend(vault_backends::Error::UnsafePermissions {
            path: dir.clone(),
            problem,
            fix: format!(
                "remove {} (someone may have planted it) or point XDG_RUNTIME_DIR at a private directory",
                dir.display()
            ),
        }));
    }
    Ok(dir)
}

/// The agent socket for the vault in `vault_dir`, named after the directory's device and
/// inode (issue 13, point 2): every spelling of the path (a symlink, `a/../vault`, a bind
/// mount) reaches the same agent, so `vault rekey` stops the one agent that serves the vault
/// in this runtime directory. A directory that does not exist yet is named by its absolute
/// path.
pub fn socket_path(settings: &Settings) -> Result<PathBuf> {
    let vault_dir = &settings.vault_dir;
    let digest = match std::fs::metadata(vault_dir) {
        Ok(meta) => Sha256::digest(format!("dev {} ino {}", meta.dev(), meta.ino())),
        Err(_) => {
            let abs = std::path::absolute(vault_dir).unwrap_or_else(|_| vault_dir.to_owned());
            Sha256::digest(abs.as_os_str().as_encoded_bytes())
        }
    };
    let hex = vault_backends::fs::hex(&digest[..8]);
    Ok(runtime_dir(settings)?.join(format!("agent-{hex}.sock")))
}

/// Connects to a running agent of this version; `None` when there is none (a stale socket
/// or an agent of another version is stopped and removed).
pub fn connect(settings: &Settings) -> Result<Option<Client>> {
    let path = socket_path(settings)?;
    let Ok(mut client) = Client::connect(&path) else {
        let _ = std::fs::remove_file(&path);
        return Ok(None);
    };
    match client.hello() {
        Ok((protocol::VERSION, _)) => Ok(Some(client)),
        Ok((other, pid)) => {
            tracing::info!(
                "agent {pid} speaks protocol v{other}, not v{}; replacing it",
                protocol::VERSION
            );
            let _ = client.lock(true);
            let _ = std::fs::remove_file(&path);
            Ok(None)
        }
        Err(_) => {
            let _ = std::fs::remove_file(&path);
            Ok(None)
        }
    }
}

/// Connects to a running agent that holds the key; `None` when none does. Never prompts,
/// never starts an agent, and needs one round trip (the hello exchange).
pub fn connect_unlocked(settings: &Settings) -> Result<Option<Client>> {
    Ok(
        connect(settings)?.and_then(|mut c| match c.unlocked_at_hello() {
            Some(true) => Some(c),
            Some(false) => None,
            // An agent that does not say at hello is asked.
            None => c.status().ok().filter(|s| s.unlocked).map(|_| c),
        }),
    )
}

/// Connects to the agent, starting one when none runs.
pub fn connect_or_start(settings: &Settings) -> Result<Client> {
    if let Some(c) = connect(settings)? {
        return Ok(c);
    }
    let exe = std::env::current_exe()
        .map_err(|e| Error::Other(format!("finding vault's own path: {e}").into()))?;
    tracing::info!("starting the vault agent");
    let mut cmd = Command::new(exe);
    cmd.arg("--vault-dir")
        .arg(&settings.vault_dir)
        .arg("--backend")
        .arg(settings.backend.kind.to_string())
        .arg("agent")
        .arg("--idle-timeout")
        .arg(settings.agent_idle.as_secs().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    crate::exec::scrub(&mut cmd);
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd.spawn().map_err(|e| {
        Error::Other(Msg::hinted(
            format!("starting the vault agent: {e}"),
            "use --no-agent",
        ))
    })?;
    let deadline = Instant::now() + Duration::from_secs(5);
    let path = socket_path(settings)?;
    while Instant::now() < deadline {
        if let Ok(mut c) = Client::connect(&path) {
            if c.hello().is_ok() {
                return Ok(c);
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err(Error::Other(Msg::hinted(
        "the vault agent did not start within 5 s",
        "run `vault agent` in a terminal to see why, or use --no-agent",
    )))
}

/// Runs the agent in this process (the `vault agent` command): binds the socket, hardens the
/// process and serves until stopped.
pub fn run(settings: &Settings, idle: Duration) -> Result<()> {
    harden::close_inherited_fds();
    harden::harden_process();
    let vault_dir = &settings.vault_dir;
    let path = socket_path(settings)?;
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let io = |op, e| Error::Io {
        op,
        path: path.clone(),
        source: e,
    };
    // Agents started at once by parallel commands take turns: the first binds, the others
    // find it answering and leave, so none is orphaned behind a replaced socket.
    let lock = vault_backends::fs::open_lock_file(&path.with_extension("lock"))
        .map_err(|e| io("locking", e))?;
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| io("locking", e.into()))?;
    if let Ok(mut c) = Client::connect(&path) {
        if c.hello().is_ok() {
            tracing::info!("an agent already serves {}", vault_dir.display());
            return Ok(());
        }
    }
    let _ = std::fs::remove_file(&path);
    let listener = std::os::unix::net::UnixListener::bind(&path).map_err(|e| io("binding", e))?;
    let meta = std::fs::symlink_metadata(&path).map_err(|e| io("checking", e))?;
    drop(lock);
    let agent = server::Agent::new(vault_dir.to_owned(), idle, None);
    server::serve(
        listener,
        agent,
        Some((path.clone(), (meta.dev(), meta.ino()))),
    );
    let _ = std::fs::remove_file(&path);
    Ok(())
}
