//! The agent protocol: one JSON value per line over a Unix socket, shared by client and
//! server. Messages are externally tagged (`{"open":{...}}`, `"lock"`): serde reads an
//! internally tagged enum through a buffer of its own, which would copy passphrases and
//! plaintexts into memory nobody zeroes; the external tag is read first and the fields go
//! straight into their (zeroed) types, as for items. The version is a compared number: a client talking to an agent of another version
//! replaces it instead of guessing. Frames are bounded; a partial or oversized frame is an
//! error, never a hang.

use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};

use crate::secret::Secret;
use crate::settings::BackendSpec;

/// The protocol version this build speaks.
pub const VERSION: u32 = 7;
/// The largest frame either side accepts (items are at most 1 MiB, base64 grows them 4/3).
pub const MAX_FRAME: usize = 2 * 1024 * 1024;

/// What a client asks.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Request {
    /// First message on every connection.
    Hello {
        /// The client's protocol version.
        version: u32,
    },
    /// Unlock with this passphrase (the agent reads the slot and runs the KDF).
    Unlock {
        /// The passphrase.
        passphrase: Secret,
        /// The store whose slot to open: the client's, so both agree on the vault.
        backend: BackendSpec,
        /// The client's record of the vault's newest generation ([`crate::settings::Settings::state_dir`]).
        #[serde(default)]
        state_dir: Option<std::path::PathBuf>,
        /// The client ran the KDF gate (it may ask at a terminal; the agent never does).
        #[serde(default)]
        allow_slow_kdf: bool,
    },
    /// Unlock through the vault's keychain slot (the agent reads the keychain itself, so the
    /// identity never crosses the socket).
    UnlockKeychain {
        /// The store of the vault whose keychain slot to use.
        backend: BackendSpec,
        /// As for `Unlock`.
        #[serde(default)]
        state_dir: Option<std::path::PathBuf>,
    },
    /// Decrypt an item (base64 age ciphertext).
    Open {
        /// Item name, for messages.
        name: String,
        /// Base64 ciphertext.
        ciphertext: String,
    },
    /// Encrypt an item plaintext (base64).
    Seal {
        /// Base64 plaintext.
        plaintext: Secret,
    },
    /// Drop the key now.
    Lock,
    /// Report state.
    Status,
    /// Restart the idle timer without touching an item (a `vault exec --server` whose child is
    /// still running).
    Touch,
    /// Drop the key and exit.
    Stop,
    /// The warm path of `exec` and `export` in one round trip (issue 17), asked by the small
    /// `vault` front binary: the agent parses the command line as the CLI does, resolves the
    /// profile against the client's environment and answers from the session cache, or
    /// answers `cold` (then the front runs the full CLI, which does the rest). Allowed as a
    /// connection's first message: it carries the version.
    Warm {
        /// The client's protocol version: another one is answered `cold`.
        version: u32,
        /// The command line, `argv[0]` first.
        argv: Vec<String>,
        /// The client's environment without vault's secret-bearing variables
        /// ([`crate::exec::SECRET_VARS`]) and without what is not UTF-8.
        env: Vec<(String, String)>,
    },
}

/// What the agent answers.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Response {
    /// Answer to Hello.
    Hello {
        /// The agent's protocol version.
        version: u32,
        /// The agent's pid.
        pid: u32,
        /// Whether it holds the key, so a command needs no separate `Status` call (absent
        /// from older agents of this version, which the client asks `Status`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unlocked: Option<bool>,
        /// The slot generation of the identity held, when unlocked.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        generation: Option<u64>,
    },
    /// Done.
    Ok,
    /// Unlocked, at this slot generation.
    Unlocked {
        /// The generation of the slot opened.
        generation: u64,
    },
    /// A decrypted item (base64).
    Plaintext {
        /// Base64 plaintext.
        data: Secret,
    },
    /// An encrypted item (base64).
    Ciphertext {
        /// Base64 ciphertext.
        data: String,
    },
    /// State.
    Status {
        /// Whether the key is held.
        unlocked: bool,
        /// Seconds until the idle lock, when unlocked.
        idle_left_secs: Option<u64>,
        /// The vault the agent serves.
        vault_dir: String,
        /// The agent's pid.
        pid: u32,
    },
    /// The answer to `warm` when the session cache had it: what the front needs to run the
    /// child (`print` absent) or to print (`print` present).
    Warm {
        /// The profile (the child's `AWS_VAULT`).
        profile: String,
        /// The command to run; empty for the user's shell.
        command: Vec<String>,
        /// The credentials.
        creds: WarmCreds,
        /// The child's region, when a profile sets one.
        region: Option<String>,
        /// What to print instead of running a command (`export`, `exec --json`).
        print: Option<Secret>,
    },
    /// The answer to `warm` when the full CLI must run (not cached, another vault, a flag
    /// the warm path does not take, an error the CLI will report): why, for `-v` logs.
    Cold {
        /// Why (no secrets).
        why: String,
    },
    /// A failure.
    Error {
        /// What kind.
        kind: ErrorKind,
        /// What failed (no secrets).
        message: String,
        /// For `rolled-back`: the record of the newest generation.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        state: Option<String>,
        /// What to do about it, when the agent knows better than the client's default.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hint: Option<String>,
    },
}

/// Credentials as the warm answer carries them.
#[derive(Debug, Serialize, Deserialize)]
pub struct WarmCreds {
    /// The access key id.
    pub access_key_id: String,
    /// The secret key.
    pub secret_access_key: Secret,
    /// The session token, for a session.
    pub session_token: Option<Secret>,
    /// When the credentials expire (RFC 3339).
    pub expiration: Option<String>,
}

impl From<&crate::creds::Credentials> for WarmCreds {
    fn from(c: &crate::creds::Credentials) -> Self {
        use time::format_description::well_known::Rfc3339;
        WarmCreds {
            access_key_id: c.access_key_id.clone(),
            secret_access_key: c.secret_access_key.clone(),
            session_token: c.session_token.clone(),
            expiration: c.expiration.and_then(|e| e.format(&Rfc3339).ok()),
        }
    }
}

impl From<WarmCreds> for crate::creds::Credentials {
    fn from(c: WarmCreds) -> Self {
        use time::format_description::well_known::Rfc3339;
        crate::creds::Credentials {
            access_key_id: c.access_key_id,
            secret_access_key: c.secret_access_key,
            session_token: c.session_token,
            expiration: c
                .expiration
                .and_then(|e| time::OffsetDateTime::parse(&e, &Rfc3339).ok()),
            issued: None,
        }
    }
}

/// Failure kinds, mapped back to the CLI's errors (and exit codes) by the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The key is not held: unlock first.
    Locked,
    /// The passphrase is wrong.
    WrongPassphrase,
    /// An item or the slot is unreadable.
    Tampered,
    /// The vault is missing.
    NotFound,
    /// The slot changed since the agent unlocked (a rekey): it locked itself.
    Stale,
    /// The slot is older than the newest generation seen.
    RolledBack,
    /// The slot's KDF is far above init's and the client did not allow it.
    SlowKdf,
    /// Anything else.
    Other,
}

/// Framing errors.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer closed the connection.
    #[error("the connection closed")]
    Closed,
    /// The peer sent half a frame and closed.
    #[error("a partial frame")]
    Partial,
    /// Too big.
    #[error("a frame larger than {MAX_FRAME} bytes")]
    TooLarge,
    /// Not valid JSON of the expected shape.
    #[error("a malformed frame: {0}")]
    Malformed(String),
    /// I/O.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Writes one frame.
pub fn write_frame<T: Serialize>(w: &mut impl Write, msg: &T) -> Result<(), FrameError> {
    let mut buf = zeroize::Zeroizing::new(serde_json::to_vec(msg).expect("messages serialise"));
    buf.push(b'\n');
    w.write_all(&buf)?;
    w.flush()?;
    Ok(())
}

/// Reads one frame: a line of at most [`MAX_FRAME`] bytes, ending in `\n`.
pub fn read_frame<T: for<'de> Deserialize<'de>>(r: &mut impl BufRead) -> Result<T, FrameError> {
    let mut buf = zeroize::Zeroizing::new(Vec::with_capacity(4096));
    loop {
        let chunk = r.fill_buf()?;
        if chunk.is_empty() {
            return Err(if buf.is_empty() {
                FrameError::Closed
            } else {
                FrameError::Partial
            });
        }
        if let Some(pos) = chunk.iter().position(|&b| b == b'\n') {
            if buf.len() + pos > MAX_FRAME {
                return Err(FrameError::TooLarge);
            }
            buf.extend_from_slice(&chunk[..pos]);
            r.consume(pos + 1);
            break;
        }
        let n = chunk.len();
        if buf.len() + n > MAX_FRAME {
            return Err(FrameError::TooLarge);
        }
        buf.extend_from_slice(chunk);
        r.consume(n);
    }
    serde_json::from_slice(&buf).map_err(|e| FrameError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A failure's next step crosses the socket apart from its message; a frame from an
    /// agent that sends none still parses.
    #[test]
    fn an_error_carries_its_hint_apart() {
        let mut buf = vec![];
        let sent = Response::Error {
            kind: ErrorKind::Other,
            message: "refusing to use /v: group-writable".into(),
            state: None,
            hint: Some("chmod 700 /v".into()),
        };
        write_frame(&mut buf, &sent).unwrap();
        match read_frame(&mut &buf[..]).unwrap() {
            Response::Error { message, hint, .. } => {
                assert!(!message.contains("hint"), "{message}");
                assert_eq!(hint.as_deref(), Some("chmod 700 /v"));
            }
            other => panic!("{other:?}"),
        }
        // Without a hint the frame is what agents sent before hints had their own field.
        let mut old = vec![];
        let bare = Response::Error {
            kind: ErrorKind::Other,
            message: "m".into(),
            state: None,
            hint: None,
        };
        write_frame(&mut old, &bare).unwrap();
        assert!(!String::from_utf8_lossy(&old).contains("hint"));
        assert!(matches!(
            read_frame(&mut &old[..]).unwrap(),
            Response::Error { hint: None, .. }
        ));
    }

    #[test]
    fn frames_round_trip_and_reject_partial_and_oversized() {
        let mut buf = vec![];
        write_frame(&mut buf, &Request::Hello { version: VERSION }).unwrap();
        let r: Request = read_frame(&mut &buf[..]).unwrap();
        assert!(matches!(r, Request::Hello { version: VERSION }));
        // An agent of this version built before hello said whether it is unlocked.
        let older = br#"{"hello":{"version":3,"pid":7}}
"#;
        assert!(matches!(
            read_frame::<Response>(&mut &older[..]),
            Ok(Response::Hello { unlocked: None, .. })
        ));
        let partial = &buf[..buf.len() - 1];
        assert!(matches!(
            read_frame::<Request>(&mut &partial[..]),
            Err(FrameError::Partial)
        ));
        assert!(matches!(
            read_frame::<Request>(&mut &b""[..]),
            Err(FrameError::Closed)
        ));
        let huge = vec![b'a'; MAX_FRAME + 10];
        assert!(matches!(
            read_frame::<Request>(&mut &huge[..]),
            Err(FrameError::TooLarge)
        ));
        assert!(matches!(
            read_frame::<Request>(&mut &b"{\"nope\":{}}\n"[..]),
            Err(FrameError::Malformed(_))
        ));
    }

    #[test]
    fn debug_of_an_unlock_request_redacts_the_passphrase() {
        let r = Request::Unlock {
            passphrase: Secret::new("hunter2"),
            backend: crate::settings::BackendSpec {
                kind: crate::settings::BackendKind::File,
                pass_prefix: "vault".into(),
                keychain_service: "vault".into(),
            },
            state_dir: None,
            allow_slow_kdf: false,
        };
        assert!(!format!("{r:?}").contains("hunter2"));
    }
}
