//! The agent server: holds the master identity in locked, zeroed-on-drop memory and performs
//! decrypt/encrypt for clients of the same uid. No request returns the identity.
//!
//! `serve` takes its listener (so tests run it in-process) and returns once a `Stop` request
//! arrives. The clock is injectable so the idle-lock test is deterministic.

use std::io::BufReader;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::prelude::{Engine as _, BASE64_STANDARD};
use zeroize::Zeroizing;

use super::protocol::{read_frame, write_frame, ErrorKind, FrameError, Request, Response, VERSION};
use crate::secret::Secret;
use crate::vault::crypto::{CryptoError, MasterIdentity};

/// A clock: the real one, or a test's.
pub type Clock = Box<dyn Fn() -> Instant + Send + Sync>;

/// The agent's state.
pub struct Agent {
    vault_dir: PathBuf,
    idle: Duration,
    clock: Clock,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    master: Option<Box<MasterIdentity>>,
    deadline: Option<Instant>,
    stopped: bool,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("vault_dir", &self.vault_dir)
            .field("idle", &self.idle)
            .finish_non_exhaustive()
    }
}

impl Agent {
    /// An agent for the vault in `vault_dir` that locks after `idle` without use (at most
    /// [`crate::cli::args::MAX_DURATION`], so `now + idle` cannot overflow a clock).
    pub fn new(vault_dir: PathBuf, idle: Duration, clock: Option<Clock>) -> Arc<Agent> {
        Arc::new(Agent {
            vault_dir,
            idle: idle.min(crate::cli::args::MAX_DURATION),
            clock: clock.unwrap_or_else(|| Box::new(Instant::now)),
            inner: Mutex::default(),
        })
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the key half-written; keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops the key if the idle deadline has passed; returns whether it is held.
    pub fn expire_if_idle(&self) -> bool {
        let now = (self.clock)();
        let mut inner = self.inner();
        if inner.deadline.is_some_and(|d| now >= d) {
            tracing::info!("idle timeout: dropping the key");
            inner.master = None;
            inner.deadline = None;
        }
        inner.master.is_some()
    }

    /// Whether the key is held (after applying the idle rule).
    pub fn unlocked(&self) -> bool {
        self.expire_if_idle()
    }

    /// Whether a Stop arrived.
    pub fn stopped(&self) -> bool {
        self.inner().stopped
    }

    fn error(kind: ErrorKind, message: impl Into<String>) -> Response {
        Response::Error {
            kind,
            message: message.into(),
        }
    }

    fn crypto_error(e: CryptoError) -> Response {
        match e {
            CryptoError::WrongPassphrase => Self::error(ErrorKind::WrongPassphrase, e.to_string()),
            other => Self::error(ErrorKind::Tampered, other.to_string()),
        }
    }

    /// Keeps `master` (in locked memory) and starts the idle timer.
    fn hold(&self, master: MasterIdentity) -> Response {
        let master = Box::new(master);
        super::harden::lock_memory(&*master);
        let mut inner = self.inner();
        inner.master = Some(master);
        inner.deadline = Some((self.clock)() + self.idle);
        tracing::info!("unlocked");
        Response::Ok
    }

    /// Answers one request.
    pub fn handle(&self, req: Request) -> Response {
        self.expire_if_idle();
        match req {
            Request::Hello { .. } => Response::Hello {
                version: VERSION,
                pid: std::process::id(),
                unlocked: Some(self.inner().master.is_some()),
            },
            Request::Unlock {
                passphrase,
                backend,
            } => {
                let slot = match crate::vault::open_backend(&self.vault_dir, &backend, false)
                    .map(crate::vault::Vault::new)
                    .and_then(|v| {
                        v.check_no_rekey()?;
                        Ok(v.backend().get(crate::vault::SLOT)?)
                    }) {
                    Ok(Some(s)) => s,
                    Ok(None) => return Self::error(ErrorKind::NotFound, "no vault here"),
                    Err(e) => return Self::error(ErrorKind::Other, e.to_string()),
                };
                match MasterIdentity::open_slot(&slot, &passphrase) {
                    Ok((master, _)) => self.hold(master),
                    Err(e) => Self::crypto_error(e),
                }
            }
            Request::UnlockKeychain { backend } => {
                let vault = crate::vault::open_backend(&self.vault_dir, &backend, false)
                    .map(crate::vault::Vault::new);
                match vault.and_then(|v| v.unlock_keychain()) {
                    Ok(Some(master)) => self.hold(master),
                    Ok(None) => Self::error(ErrorKind::NotFound, "this vault has no keychain slot"),
                    Err(e) => Self::error(ErrorKind::Other, e.to_string()),
                }
            }
            Request::Open { name, ciphertext } => {
                let Ok(ct) = BASE64_STANDARD.decode(ciphertext) else {
                    return Self::error(ErrorKind::Other, "ciphertext is not base64");
                };
                let mut inner = self.inner();
                let Some(master) = &inner.master else {
                    return Self::error(ErrorKind::Locked, "the agent is locked");
                };
                let result = master.open(&ct);
                inner.deadline = Some((self.clock)() + self.idle);
                match result {
                    Ok(pt) => Response::Plaintext {
                        data: Secret::new(BASE64_STANDARD.encode(&*pt)),
                    },
                    Err(e) => {
                        tracing::info!("could not open {name}: {e}");
                        Self::crypto_error(e)
                    }
                }
            }
            Request::Seal { plaintext } => {
                let Ok(pt) = BASE64_STANDARD
                    .decode(plaintext.expose())
                    .map(Zeroizing::new)
                else {
                    return Self::error(ErrorKind::Other, "plaintext is not base64");
                };
                let mut inner = self.inner();
                let Some(master) = &inner.master else {
                    return Self::error(ErrorKind::Locked, "the agent is locked");
                };
                let ct = master.seal(&pt);
                inner.deadline = Some((self.clock)() + self.idle);
                Response::Ciphertext {
                    data: BASE64_STANDARD.encode(ct),
                }
            }
            Request::Touch => {
                let mut inner = self.inner();
                if inner.master.is_none() {
                    return Self::error(ErrorKind::Locked, "the agent is locked");
                }
                inner.deadline = Some((self.clock)() + self.idle);
                Response::Ok
            }
            Request::Lock => {
                let mut inner = self.inner();
                inner.master = None;
                inner.deadline = None;
                tracing::info!("locked on request");
                Response::Ok
            }
            Request::Status => {
                let now = (self.clock)();
                let inner = self.inner();
                Response::Status {
                    unlocked: inner.master.is_some(),
                    idle_left_secs: inner
                        .deadline
                        .map(|d| d.saturating_duration_since(now).as_secs()),
                    vault_dir: self.vault_dir.display().to_string(),
                    pid: std::process::id(),
                }
            }
            Request::Stop => {
                let mut inner = self.inner();
                inner.master = None;
                inner.deadline = None;
                inner.stopped = true;
                Response::Ok
            }
        }
    }
}

/// Serves one connection; refuses a peer of another uid before reading anything.
pub fn connection(agent: &Agent, stream: UnixStream) {
    let me = rustix::process::geteuid();
    match super::harden::peer_uid(&stream) {
        Ok(uid) if uid == me => {}
        Ok(uid) => {
            tracing::warn!("refused a connection from uid {}", uid.as_raw());
            return;
        }
        Err(e) => {
            tracing::warn!("refused a connection: no peer credentials ({e})");
            return;
        }
    }
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let req: Request = match read_frame(&mut reader) {
            Ok(r) => r,
            Err(FrameError::Closed) => return,
            Err(e) => {
                let _ = write_frame(
                    &mut writer,
                    &Agent::error(ErrorKind::Other, format!("bad request: {e}")),
                );
                return;
            }
        };
        let stop = matches!(req, Request::Stop);
        let resp = agent.handle(req);
        if write_frame(&mut writer, &resp).is_err() || stop {
            return;
        }
    }
}

/// Accepts connections until a `Stop` request; each connection gets a thread. A timer thread
/// applies the idle lock even when no one asks.
///
/// `socket`, when given, is the path the listener is bound at and its (device, inode): once
/// the path is gone or names another socket (the vault's directory was deleted, or a racing
/// agent replaced it), no client can reach this agent again and it exits.
pub fn serve(listener: UnixListener, agent: Arc<Agent>, socket: Option<(PathBuf, (u64, u64))>) {
    {
        let agent = Arc::clone(&agent);
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(250));
            agent.expire_if_idle();
            if agent.stopped() {
                return;
            }
            if let Some((path, id)) = &socket {
                use std::os::unix::fs::MetadataExt;
                let ours = std::fs::symlink_metadata(path).is_ok_and(|m| (m.dev(), m.ino()) == *id);
                if !ours {
                    tracing::info!("the agent's socket is gone or replaced; exiting");
                    std::process::exit(0);
                }
            }
        });
    }
    for stream in listener.incoming() {
        if agent.stopped() {
            return;
        }
        let Ok(stream) = stream else { continue };
        let agent = Arc::clone(&agent);
        std::thread::spawn(move || {
            connection(&agent, stream);
            if agent.stopped() {
                tracing::info!("stopping on request");
                std::process::exit(0);
            }
        });
    }
}

#[cfg(test)]
mod tests;
