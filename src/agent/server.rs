//! The agent server: holds the master identity in locked, zeroed-on-drop memory and performs
//! decrypt/encrypt for clients of the same uid. No request returns the identity.
//!
//! `serve` takes its listener (so tests run it in-process) and returns once a `Stop` request
//! arrives. The clock is injectable so the idle-lock test is deterministic.
//!
//! No client can stall the others (issue 13, point 11): crypto runs outside the state mutex
//! (on a shared handle to the identity), so `status`, `lock`, the idle timer and the socket
//! watchdog never wait for it; a file over 64 KiB or with more than a few stanzas is refused
//! before age parses it; at most [`MAX_CONNS`] connections are served (a new one closes the
//! oldest idle or half-sent one), and a frame must arrive whole within [`FRAME_DEADLINE`].

use std::cell::Cell;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::prelude::{Engine as _, BASE64_STANDARD};
use zeroize::Zeroizing;

use super::protocol::{read_frame, write_frame, ErrorKind, FrameError, Request, Response, VERSION};
use crate::secret::Secret;
use crate::vault::crypto::{CryptoError, MasterIdentity};

/// Connections served at once; a new one beyond closes the oldest that is not mid-request.
pub const MAX_CONNS: usize = 64;
/// Once a frame's first byte arrives, the whole frame must within this.
pub const FRAME_DEADLINE: Duration = Duration::from_secs(10);
/// How long a connection may wait idle between frames.
const IDLE_BETWEEN_FRAMES: Duration = Duration::from_secs(60);

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
    /// Shared so that crypto runs on a handle taken under the lock, not under it; the last
    /// handle dropped zeroes the identity.
    master: Option<Arc<MasterIdentity>>,
    /// The slot generation `master` came from, and the store it was read from (re-read
    /// before every seal: a rekey elsewhere retires the identity).
    generation: u64,
    backend: Option<crate::settings::BackendSpec>,
    /// The newest generation this agent ever unlocked: an older slot is refused.
    newest: u64,
    /// Plaintexts of the items opened lately, by the SHA-256 of their ciphertext (issue 17):
    /// a warm command opens the same session item every time, and an X25519 unwrap is half
    /// of what a warm request costs. The same ciphertext under the same identity always opens
    /// to the same plaintext, so this changes no answer. Emptied (zeroed) with the identity.
    opened: Vec<([u8; 32], Zeroizing<Vec<u8>>)>,
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
            inner.forget();
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
            state: None,
            hint: None,
        }
    }

    fn crypto_error(e: CryptoError) -> Response {
        match e {
            CryptoError::WrongPassphrase => Self::error(ErrorKind::WrongPassphrase, e.to_string()),
            other => Self::error(ErrorKind::Tampered, other.to_string()),
        }
    }

    /// The identity, for crypto outside the lock; `None` when locked.
    fn master(&self) -> Option<Arc<MasterIdentity>> {
        self.inner().master.clone()
    }

    /// Restarts the idle timer after a use, if the key is still held.
    fn touch(&self) {
        let mut inner = self.inner();
        if inner.master.is_some() {
            inner.deadline = Some((self.clock)() + self.idle);
        }
    }

    /// Answers one request.
    pub fn handle(&self, req: Request) -> Response {
        self.expire_if_idle();
        match req {
            Request::Hello { .. } => {
                let inner = self.inner();
                Response::Hello {
                    version: VERSION,
                    pid: std::process::id(),
                    unlocked: Some(inner.master.is_some()),
                    generation: inner.master.as_ref().map(|_| inner.generation),
                }
            }
            Request::Unlock {
                passphrase,
                backend,
                state_dir,
                allow_slow_kdf,
            } => {
                let opened = self
                    .vault(&backend, state_dir, allow_slow_kdf)
                    .and_then(|v| v.unlock_master(&passphrase));
                match opened {
                    Ok((master, _, generation)) => self.hold(master, generation, backend),
                    Err(e) => checks::error_response(e),
                }
            }
            Request::UnlockKeychain { backend, state_dir } => {
                let opened = self
                    .vault(&backend, state_dir, false)
                    .and_then(|v| v.unlock_keychain());
                match opened {
                    Ok(Some((master, generation))) => self.hold(master, generation, backend),
                    Ok(None) => Self::error(ErrorKind::NotFound, "this vault has no keychain slot"),
                    Err(e) => checks::error_response(e),
                }
            }
            Request::Open { name, ciphertext } => {
                // Base64 of at most MAX_ITEM bytes; more is refused before decoding.
                if ciphertext.len() as u64 > vault_backends::MAX_ITEM / 3 * 4 + 4 {
                    return Self::crypto_error(CryptoError::Malformed(
                        "it is larger than a vault file can be (64 KiB)".into(),
                    ));
                }
                let Ok(ct) = BASE64_STANDARD.decode(ciphertext) else {
                    return Self::error(ErrorKind::Other, "ciphertext is not base64");
                };
                let Some(master) = self.master() else {
                    return Self::error(ErrorKind::Locked, "the agent is locked");
                };
                let result = self.open_cached(&master, &ct);
                drop(master);
                self.touch();
                match result {
                    Ok(pt) => Response::Plaintext {
                        data: Secret::new(BASE64_STANDARD.encode(&*pt)),
                    },
                    Err(e) => {
                        tracing::info!("could not open {name}: {e}");
                        // Resealed by a rekey this agent missed: say so, and lock.
                        self.check_current()
                            .unwrap_or_else(|| Self::crypto_error(e))
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
                let Some(master) = self.master() else {
                    return Self::error(ErrorKind::Locked, "the agent is locked");
                };
                // A rekey (through another agent, or none) retires this identity: never seal
                // to it (issue 13, point 2).
                if let Some(refused) = self.check_current() {
                    return refused;
                }
                let ct = master.seal(&pt);
                drop(master);
                self.touch();
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
                inner.forget();
                inner.backend = None;
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
            Request::Warm { version, argv, env } => self.warm(version, argv, env),
            Request::Stop => {
                let mut inner = self.inner();
                inner.forget();
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
    connection_checked(agent, stream, &AtomicBool::new(false));
}

/// A stream whose reads fail once `deadline` (when set) has passed: a frame trickled in a
/// byte at a time cannot hold a connection open.
struct DeadlineReader {
    stream: UnixStream,
    deadline: Cell<Option<Instant>>,
}

impl Read for DeadlineReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let wait = match self.deadline.get() {
            Some(d) => d.saturating_duration_since(Instant::now()),
            None => IDLE_BETWEEN_FRAMES,
        };
        if wait.is_zero() {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(wait))?;
        self.stream.read(buf)
    }
}

/// Serves a connection whose peer was checked; `busy` is set while a request is handled.
fn connection_checked(agent: &Agent, stream: UnixStream, busy: &AtomicBool) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(DeadlineReader {
        stream,
        deadline: Cell::new(None),
    });
    loop {
        // Idle until the next frame starts, then the whole frame within FRAME_DEADLINE.
        reader.get_ref().deadline.set(None);
        match reader.fill_buf() {
            Ok([]) | Err(_) => return,
            Ok(_) => {}
        }
        reader
            .get_ref()
            .deadline
            .set(Some(Instant::now() + FRAME_DEADLINE));
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
        busy.store(true, Ordering::SeqCst);
        let resp = agent.handle(req);
        let written = write_frame(&mut writer, &resp);
        busy.store(false, Ordering::SeqCst);
        if written.is_err() || stop {
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
    let conns: Arc<Mutex<Vec<Conn>>> = Arc::default();
    let mut next_id = 0u64;
    let me = rustix::process::geteuid();
    for stream in listener.incoming() {
        if agent.stopped() {
            return;
        }
        let Ok(stream) = stream else { continue };
        // Another uid is refused here, before it could take a connection slot.
        match super::harden::peer_uid(&stream) {
            Ok(uid) if uid == me => {}
            Ok(uid) => {
                tracing::warn!("refused a connection from uid {}", uid.as_raw());
                continue;
            }
            Err(e) => {
                tracing::warn!("refused a connection: no peer credentials ({e})");
                continue;
            }
        }
        let busy = Arc::new(AtomicBool::new(false));
        let Ok(handle) = stream.try_clone() else {
            continue;
        };
        {
            let mut open = conns.lock().unwrap_or_else(|e| e.into_inner());
            if open.len() >= MAX_CONNS {
                // The oldest that is not answering a request makes room.
                match open.iter().position(|c| !c.busy.load(Ordering::SeqCst)) {
                    Some(i) => {
                        let old = open.remove(i);
                        let _ = old.stream.shutdown(std::net::Shutdown::Both);
                        tracing::info!("{MAX_CONNS} connections open: closed the oldest idle one");
                    }
                    None => continue,
                }
            }
            open.push(Conn {
                id: next_id,
                stream: handle,
                busy: Arc::clone(&busy),
            });
        }
        let id = next_id;
        next_id += 1;
        let agent = Arc::clone(&agent);
        let conns = Arc::clone(&conns);
        std::thread::spawn(move || {
            connection_checked(&agent, stream, &busy);
            conns
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|c| c.id != id);
            if agent.stopped() {
                tracing::info!("stopping on request");
                std::process::exit(0);
            }
        });
    }
}

/// An open connection, as the accept loop tracks it.
struct Conn {
    id: u64,
    stream: UnixStream,
    busy: Arc<AtomicBool>,
}

mod checks;
#[cfg(test)]
mod tests;
mod warm;
