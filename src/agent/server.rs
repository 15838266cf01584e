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
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    const PASS: &str = "agent test passphrase";

    fn file_backend() -> crate::settings::BackendSpec {
        crate::settings::BackendSpec {
            kind: crate::settings::BackendKind::File,
            pass_prefix: "vault".into(),
            keychain_service: "vault".into(),
        }
    }

    fn vault() -> (tempfile::TempDir, PathBuf, Vec<u8>) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("v");
        let backend = vault_backends::FileBackend::open(&dir, true).unwrap();
        let v = crate::vault::Vault::new(Box::new(backend));
        let unlocked = v
            .init(
                &crate::secret::Secret::new(PASS),
                crate::vault::slot::KdfParams::FLOOR,
            )
            .unwrap();
        let item = crate::vault::item::Item::key(crate::vault::item::LongTermKey {
            access_key_id: "AKIATEST".into(),
            secret_access_key: Secret::new("s"),
            mfa_serial: None,
            added: time::OffsetDateTime::UNIX_EPOCH,
            rotated: None,
        });
        unlocked.put("key.p", &item).unwrap();
        let ct = std::fs::read(dir.join("key.p.age")).unwrap();
        (tmp, dir, ct)
    }

    /// Idle lock with a fake clock: deterministic, no sleeping.
    #[test]
    fn idle_timeout_drops_the_key_on_a_fake_clock() {
        let (_t, dir, ct) = vault();
        let start = Instant::now();
        let offset = Arc::new(AtomicU64::new(0));
        let o = Arc::clone(&offset);
        let clock: Clock = Box::new(move || start + Duration::from_secs(o.load(Ordering::SeqCst)));
        let agent = Agent::new(dir, Duration::from_secs(900), Some(clock));
        assert!(matches!(
            agent.handle(Request::Unlock {
                passphrase: Secret::new("wrong"),
                backend: file_backend(),
            }),
            Response::Error {
                kind: ErrorKind::WrongPassphrase,
                ..
            }
        ));
        assert!(matches!(
            agent.handle(Request::Unlock {
                passphrase: Secret::new(PASS),
                backend: file_backend(),
            }),
            Response::Ok
        ));
        let open = || {
            agent.handle(Request::Open {
                name: "key.p".into(),
                ciphertext: BASE64_STANDARD.encode(&ct),
            })
        };
        offset.store(899, Ordering::SeqCst);
        assert!(matches!(open(), Response::Plaintext { .. }), "use at 899 s");
        // The use at 899 s restarted the timer: still unlocked at 899 + 899.
        offset.store(1798, Ordering::SeqCst);
        assert!(agent.unlocked());
        offset.store(1799, Ordering::SeqCst);
        assert!(!agent.unlocked(), "idle for 900 s");
        assert!(matches!(
            open(),
            Response::Error {
                kind: ErrorKind::Locked,
                ..
            }
        ));
    }

    #[test]
    fn touch_restarts_the_idle_timer() {
        let (_t, dir, _ct) = vault();
        let start = Instant::now();
        let offset = Arc::new(AtomicU64::new(0));
        let o = Arc::clone(&offset);
        let clock: Clock = Box::new(move || start + Duration::from_secs(o.load(Ordering::SeqCst)));
        let agent = Agent::new(dir, Duration::from_secs(10), Some(clock));
        agent.handle(Request::Unlock {
            passphrase: Secret::new(PASS),
            backend: file_backend(),
        });
        offset.store(9, Ordering::SeqCst);
        assert!(matches!(agent.handle(Request::Touch), Response::Ok));
        offset.store(18, Ordering::SeqCst);
        assert!(agent.unlocked(), "touch at 9 s keeps it until 19 s");
        offset.store(19, Ordering::SeqCst);
        assert!(!agent.unlocked());
        assert!(matches!(
            agent.handle(Request::Touch),
            Response::Error {
                kind: ErrorKind::Locked,
                ..
            }
        ));
    }

    #[test]
    fn lock_drops_the_key_and_no_request_returns_the_identity() {
        let (_t, dir, ct) = vault();
        let agent = Agent::new(dir, Duration::from_secs(900), None);
        agent.handle(Request::Unlock {
            passphrase: Secret::new(PASS),
            backend: file_backend(),
        });
        let Response::Plaintext { data } = agent.handle(Request::Open {
            name: "key.p".into(),
            ciphertext: BASE64_STANDARD.encode(&ct),
        }) else {
            panic!("open failed")
        };
        let pt = BASE64_STANDARD.decode(data.expose()).unwrap();
        assert!(String::from_utf8(pt).unwrap().contains("AKIATEST"));
        for req in [Request::Status, Request::Hello { version: 1 }] {
            let text = serde_json::to_string(&agent.handle(req)).unwrap();
            assert!(!text.contains("AGE-SECRET-KEY"), "{text}");
        }
        agent.handle(Request::Lock);
        assert!(!agent.unlocked());
    }

    #[test]
    fn serve_in_process_over_a_real_socket() {
        let (t, dir, ct) = vault();
        let sock = t.path().join("s.sock");
        let listener = UnixListener::bind(&sock).unwrap();
        let agent = Agent::new(dir, Duration::from_secs(900), None);
        let a2 = Arc::clone(&agent);
        std::thread::spawn(move || serve(listener, a2, None));
        let mut c = super::super::client::Client::connect(&sock).unwrap();
        assert_eq!(c.hello().unwrap().0, VERSION);
        assert_eq!(c.unlocked_at_hello(), Some(false));
        c.unlock(&Secret::new(PASS), &file_backend()).unwrap();
        let mut again = super::super::client::Client::connect(&sock).unwrap();
        again.hello().unwrap();
        assert_eq!(
            again.unlocked_at_hello(),
            Some(true),
            "hello tells an unlocked agent"
        );
        let pt = c.open("key.p", &ct).unwrap();
        assert!(String::from_utf8_lossy(&pt).contains("AKIATEST"));
        let sealed = c.seal(b"{}").unwrap();
        assert!(sealed.starts_with(b"age-encryption.org/v1"));
    }
}
