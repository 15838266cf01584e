//! The agent client: a blocking Unix-socket connection speaking `protocol.rs`.

use std::io::BufReader;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use base64::prelude::{Engine as _, BASE64_STANDARD};
use zeroize::Zeroizing;

use super::protocol::{read_frame, write_frame, ErrorKind, Request, Response, VERSION};
use crate::error::{Error, Msg, Result};
use crate::secret::Secret;
use crate::settings::BackendSpec;

/// A connection to the agent.
#[derive(Debug)]
pub struct Client {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    /// Whether the agent held the key when it answered the hello exchange, if it said.
    unlocked_at_hello: Option<bool>,
    /// The generation of the identity the agent holds (from hello or the unlock).
    generation: u64,
}

/// What an unlock request names besides the passphrase: the store, the record of the newest
/// generation, and whether the client's KDF gate passed.
#[derive(Debug, Clone, Copy)]
pub struct UnlockWith<'a> {
    /// The store whose slot to open.
    pub backend: &'a BackendSpec,
    /// Settings' `state_dir`.
    pub state_dir: Option<&'a Path>,
    /// The client's KDF gate passed.
    pub allow_slow_kdf: bool,
}

/// The agent's state as `status` reports it.
#[derive(Debug)]
pub struct Status {
    /// Whether it holds the key.
    pub unlocked: bool,
    /// Seconds to the idle lock.
    pub idle_left_secs: Option<u64>,
    /// Its pid.
    pub pid: u32,
}

fn agent_error(e: impl std::fmt::Display) -> Error {
    Error::Other(Msg::hinted(
        format!("talking to the vault agent: {e}"),
        "`vault lock --stop` and try again, or use --no-agent",
    ))
}

impl Client {
    /// Connects (without the hello exchange).
    pub fn connect(path: &Path) -> std::io::Result<Client> {
        let stream = UnixStream::connect(path)?;
        stream.set_read_timeout(Some(Duration::from_secs(120)))?;
        Ok(Client {
            writer: stream.try_clone()?,
            reader: BufReader::new(stream),
            unlocked_at_hello: None,
            generation: 0,
        })
    }

    fn call(&mut self, req: &Request) -> Result<Response> {
        write_frame(&mut self.writer, req).map_err(agent_error)?;
        let resp: Response = read_frame(&mut self.reader).map_err(agent_error)?;
        if let Response::Error {
            kind,
            message,
            state,
            hint,
        } = resp
        {
            return Err(match kind {
                ErrorKind::Stale => Error::StaleIdentity(message),
                ErrorKind::RolledBack => Error::RolledBack {
                    item: crate::vault::SLOT.into(),
                    detail: message,
                    state: state.unwrap_or_else(|| "the record".into()),
                },
                ErrorKind::SlowKdf => Error::SlowKdf(message),
                ErrorKind::WrongPassphrase => Error::WrongPassphrase,
                ErrorKind::Locked => Error::Locked,
                ErrorKind::Tampered => Error::Tampered {
                    item: "?".into(),
                    detail: message,
                },
                ErrorKind::NotFound => Error::NotInitialized(message),
                ErrorKind::Other => match hint {
                    // The vault's own failure inside the agent (an unsafe path, a backend
                    // error): its own next step, not "restart the agent".
                    Some(hint) => Error::Other(Msg::hinted(
                        format!("talking to the vault agent: {message}"),
                        hint,
                    )),
                    None => agent_error(message),
                },
            });
        }
        Ok(resp)
    }

    /// The warm request of the front binary ([`Request::Warm`]): the agent's answer, `warm`
    /// or `cold`.
    pub fn warm(&mut self, argv: Vec<String>, env: Vec<(String, String)>) -> Result<Response> {
        self.call(&Request::Warm {
            version: super::protocol::VERSION,
            argv,
            env,
        })
    }

    /// The hello exchange: the agent's (version, pid).
    pub fn hello(&mut self) -> Result<(u32, u32)> {
        match self.call(&Request::Hello { version: VERSION })? {
            Response::Hello {
                version,
                pid,
                unlocked,
                generation,
            } => {
                self.unlocked_at_hello = unlocked;
                self.generation = generation.unwrap_or(0);
                Ok((version, pid))
            }
            other => Err(agent_error(format!("unexpected answer {other:?}"))),
        }
    }

    /// Whether the agent held the key when it answered hello, if it said.
    pub fn unlocked_at_hello(&self) -> Option<bool> {
        self.unlocked_at_hello
    }

    /// The agent's state.
    pub fn status(&mut self) -> Result<Status> {
        match self.call(&Request::Status)? {
            Response::Status {
                unlocked,
                idle_left_secs,
                pid,
                ..
            } => Ok(Status {
                unlocked,
                idle_left_secs,
                pid,
            }),
            other => Err(agent_error(format!("unexpected answer {other:?}"))),
        }
    }

    /// Unlocks the agent with the passphrase of the vault in `with.backend`: the agent reads
    /// the slot from the store this client names, never from one it works out itself.
    /// Returns the slot's generation.
    pub fn unlock(&mut self, passphrase: &Secret, with: &UnlockWith<'_>) -> Result<u64> {
        let resp = self.call(&Request::Unlock {
            passphrase: passphrase.clone(),
            backend: with.backend.clone(),
            state_dir: with.state_dir.map(Path::to_owned),
            allow_slow_kdf: with.allow_slow_kdf,
        })?;
        self.unlocked(resp)
    }

    /// Has the agent unlock through the keychain slot of the vault in `with.backend`.
    pub fn unlock_keychain(&mut self, with: &UnlockWith<'_>) -> Result<u64> {
        let resp = self.call(&Request::UnlockKeychain {
            backend: with.backend.clone(),
            state_dir: with.state_dir.map(Path::to_owned),
        })?;
        self.unlocked(resp)
    }

    fn unlocked(&mut self, resp: Response) -> Result<u64> {
        match resp {
            Response::Unlocked { generation } => {
                self.generation = generation;
                Ok(generation)
            }
            other => Err(agent_error(format!("unexpected answer {other:?}"))),
        }
    }

    /// The generation of the identity the agent holds, as it last said.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Drops the key (and with `stop`, ends the agent).
    pub fn lock(&mut self, stop: bool) -> Result<()> {
        self.call(if stop { &Request::Stop } else { &Request::Lock })
            .map(drop)
    }

    /// Restarts the agent's idle timer.
    pub fn touch(&mut self) -> Result<()> {
        self.call(&Request::Touch).map(drop)
    }

    /// Decrypts an item.
    pub fn open(&mut self, name: &str, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let req = Request::Open {
            name: name.into(),
            ciphertext: BASE64_STANDARD.encode(ciphertext),
        };
        match self.call(&req).map_err(|e| match e {
            Error::Tampered { detail, .. } => Error::Tampered {
                item: name.into(),
                detail,
            },
            e => e,
        })? {
            Response::Plaintext { data } => BASE64_STANDARD
                .decode(data.expose())
                .map(Zeroizing::new)
                .map_err(agent_error),
            other => Err(agent_error(format!("unexpected answer {other:?}"))),
        }
    }

    /// Encrypts an item.
    pub fn seal(&mut self, plaintext: &[u8]) -> Result<Vec<u8>> {
        let req = Request::Seal {
            plaintext: Secret::new(BASE64_STANDARD.encode(plaintext)),
        };
        match self.call(&req)? {
            Response::Ciphertext { data } => BASE64_STANDARD.decode(data).map_err(agent_error),
            other => Err(agent_error(format!("unexpected answer {other:?}"))),
        }
    }
}

/// A [`crate::vault::Sealer`] that asks the agent.
#[derive(Debug)]
pub struct AgentSealer(pub std::cell::RefCell<Client>);

impl crate::vault::Sealer for AgentSealer {
    fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>> {
        self.0.borrow_mut().seal(plaintext)
    }
    fn open(&self, name: &str, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        self.0.borrow_mut().open(name, ciphertext)
    }
    fn keepalive(&self) -> Result<()> {
        self.0.borrow_mut().touch()
    }
    fn generation(&self) -> u64 {
        self.0.borrow().generation()
    }
}
