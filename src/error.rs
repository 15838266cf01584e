//! The one error type the binary reports, and the exit code of each failure.
//!
//! Every message says what failed and, on a `hint:` line, what to do next. Codes are
//! sysexits-like so that they rarely collide with a child's own status under `vault exec`.

use std::borrow::Cow;
use std::path::PathBuf;

use crate::vault::crypto::CryptoError;

/// Documented exit codes (README.md has the table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    /// Success.
    Ok = 0,
    /// Any failure not listed below (I/O, an internal error).
    Failure = 1,
    /// Bad command line.
    Usage = 2,
    /// A vault file is tampered, truncated or not a vault file.
    Tampered = 65,
    /// The profile, item or vault does not exist.
    NotFound = 66,
    /// The storage backend failed (I/O, a keyring daemon, a helper program).
    Backend = 69,
    /// STS could not be reached.
    StsUnreachable = 75,
    /// STS refused the request (AccessDenied, InvalidClientTokenId, expired token, ...).
    StsRefused = 76,
    /// Wrong passphrase (or an altered passphrase slot, which looks the same).
    WrongPassphrase = 77,
    /// Bad AWS or vault configuration (unknown keys, a source_profile loop, ...).
    Config = 78,
    /// The vault is locked and no passphrase source is available.
    Locked = 79,
    /// Unsafe ownership or mode on a vault path.
    UnsafePermissions = 80,
    /// `exec`: the command was found but cannot be run (as shells report it).
    CannotExecute = 126,
    /// `exec`: the command was not found (as shells report it).
    CommandNotFound = 127,
}

/// Everything that can go wrong, with its next step.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The passphrase did not open the slot.
    #[error("wrong passphrase (or the passphrase slot was altered)")]
    WrongPassphrase,
    /// No way to get a passphrase.
    #[error("the vault is locked and there is no passphrase source")]
    Locked,
    /// A command that needs the passphrase itself (not the agent) has no source for it.
    #[error("`vault {0}` needs the passphrase itself (an agent never hands out the master identity), and there is no passphrase source")]
    PassphraseRequired(&'static str),
    /// Reading the passphrase failed.
    #[error("reading the passphrase from {source_name}: {detail}")]
    Passphrase {
        /// Which source.
        source_name: String,
        /// What failed.
        detail: String,
        /// What to do.
        hint: String,
    },
    /// No vault at the location.
    #[error("no vault at {0}")]
    NotInitialized(String),
    /// The passphrase slot is gone but items remain: the slot was deleted or moved.
    #[error("the vault at {location} holds {items} item(s) but its passphrase slot (slot.passphrase.age) is missing")]
    SlotMissing {
        /// Where the vault is.
        location: String,
        /// How many items it holds.
        items: usize,
    },
    /// `init` on an existing vault.
    #[error("a vault already exists at {0}")]
    AlreadyInitialized(String),
    /// The vault has no such key slot.
    #[error("this vault has no {0} slot")]
    NoSlot(&'static str),
    /// No such item.
    #[error("no stored key for profile {0:?}")]
    NoKey(String),
    /// A vault file failed to decrypt or parse.
    #[error("vault item {item:?} is unreadable: {detail}")]
    Tampered {
        /// Which item.
        item: String,
        /// What is wrong.
        detail: String,
    },
    /// The slot's parameters are out of bounds.
    #[error("{0}")]
    SlotBounds(String),
    /// Bad command-line value found after parsing.
    #[error("{0}")]
    Usage(Msg),
    /// Configuration problems.
    #[error("{0}")]
    Config(Msg),
    /// A profile that the AWS config does not define.
    #[error("profile {0:?} is not in the AWS config or the vault")]
    NoProfile(String),
    /// STS said no.
    #[error("{0}")]
    StsRefused(Msg),
    /// STS could not be reached.
    #[error("{0}")]
    StsUnreachable(Msg),
    /// `exec` could not start the command.
    #[error("cannot run {program:?}: {detail}")]
    CannotRun {
        /// The command, sanitised.
        program: String,
        /// The OS error.
        detail: String,
        /// Not found (127) rather than not executable (126).
        not_found: bool,
    },
    /// An MFA code is needed and nothing can supply it.
    #[error("an MFA code is needed for {0} and there is no terminal to ask on")]
    NoMfaSource(String),
    /// A backend failure.
    #[error("{0}")]
    Backend(#[from] vault_backends::Error),
    /// Local I/O outside the backend.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A rekey started and has not finished: unlocking waits for it.
    #[error("a rekey of this vault is running or was interrupted, so it cannot be unlocked now")]
    RekeyUnfinished,
    /// A vault file is older than the newest generation of this vault seen (a slot or item
    /// restored from a backup or a sync service after a rekey).
    #[error("{item} is from an older generation of this vault than one seen already: {detail}")]
    RolledBack {
        /// Which file.
        item: String,
        /// What was seen.
        detail: String,
        /// The record of the newest generation, to remove on purpose.
        state: String,
    },
    /// An unlocked identity (an agent, a long-running command) was retired by a rekey.
    #[error("{0}: the vault was rekeyed since it was unlocked, so nothing was sealed to the retired identity")]
    StaleIdentity(String),
    /// A slot asks for a KDF far above what `vault init` sets, and nobody confirmed it.
    #[error("{0}")]
    SlowKdf(String),
    /// Stdout was closed by its reader (`vault list | head -1`): the command stops there and,
    /// as for any Unix filter, succeeds quietly.
    #[error("stdout was closed")]
    StdoutClosed,
    /// An IAM Identity Center sign-in is needed and there is no terminal to run it on (exit
    /// 79, like a locked vault: a `credential_process` caller never waits on a hidden prompt).
    #[error("{0}")]
    SsoLogin(Msg),
    /// Anything else.
    #[error("{0}")]
    Other(Msg),
}

impl Error {
    /// A failed write to stdout: [`Error::StdoutClosed`] when its reader went away.
    pub fn stdout(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            Error::StdoutClosed
        } else {
            Error::Other(format!("writing to stdout: {e}").into())
        }
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::WrongPassphrase => ExitCode::WrongPassphrase,
            Error::Locked
            | Error::Passphrase { .. }
            | Error::NoMfaSource(_)
            | Error::PassphraseRequired(_)
            | Error::SsoLogin(_) => ExitCode::Locked,
            Error::CannotRun { not_found, .. } => {
                if *not_found {
                    ExitCode::CommandNotFound
                } else {
                    ExitCode::CannotExecute
                }
            }
            Error::NotInitialized(_) | Error::NoKey(_) | Error::NoSlot(_) | Error::NoProfile(_) => {
                ExitCode::NotFound
            }
            Error::AlreadyInitialized(_) | Error::Usage(_) => ExitCode::Usage,
            Error::Tampered { .. }
            | Error::SlotBounds(_)
            | Error::SlotMissing { .. }
            | Error::RolledBack { .. }
            | Error::SlowKdf(_) => ExitCode::Tampered,
            Error::Config(_) => ExitCode::Config,
            Error::StsRefused(_) => ExitCode::StsRefused,
            Error::StsUnreachable(_) => ExitCode::StsUnreachable,
            Error::Backend(vault_backends::Error::UnsafePermissions { .. }) => {
                ExitCode::UnsafePermissions
            }
            Error::Backend(vault_backends::Error::TooLarge { .. }) => ExitCode::Tampered,
            Error::Backend(_) => ExitCode::Backend,
            Error::Io { .. }
            | Error::Other(_)
            | Error::RekeyUnfinished
            | Error::StaleIdentity(_) => ExitCode::Failure,
            Error::StdoutClosed => ExitCode::Ok,
        }
    }

    /// Maps a crypto failure on `item` to the user-facing error.
    pub fn crypto(item: &str, e: CryptoError) -> Self {
        match e {
            CryptoError::WrongPassphrase => Error::WrongPassphrase,
            CryptoError::KdfBounds(m) => Error::SlotBounds(m),
            CryptoError::Malformed(detail) | CryptoError::Tampered(detail) => Error::Tampered {
                item: item.into(),
                detail,
            },
        }
    }
}

impl Error {
    /// What to do next: the text of the error's `hint:` line (every error has one).
    pub fn hint(&self) -> Cow<'_, str> {
        match self {
            Error::WrongPassphrase => {
                "try again; if you forgot it, the vault cannot be opened without the recovery identity".into()
            }
            Error::Locked => {
                "run in a terminal, or set VAULT_PASSPHRASE_FILE, VAULT_ASKPASS or --passphrase-fd".into()
            }
            Error::PassphraseRequired(_) => {
                "run it in a terminal, or set VAULT_PASSPHRASE_FILE, VAULT_ASKPASS or --passphrase-fd".into()
            }
            Error::Passphrase { hint, .. } => hint.as_str().into(),
            Error::NotInitialized(_) => {
                "run `vault init` (or point --vault-dir / VAULT_DIR at your vault)".into()
            }
            Error::SlotMissing { .. } => "restore the slot file from a backup, or re-create it from your recovery identity (`vault recover`'s output) with `vault init --from-identity FILE`; the items are kept either way, and a plain `vault init` is refused so they are not orphaned".into(),
            Error::AlreadyInitialized(_) => {
                "use `vault passwd` to change its passphrase, or choose another --vault-dir".into()
            }
            Error::NoSlot(slot) => {
                format!("`vault slot list` shows its slots; `vault slot add {slot}` adds one").into()
            }
            Error::NoKey(profile) => {
                format!("`vault add {profile}` stores one; `vault list` shows what is stored").into()
            }
            Error::Tampered { item, .. } => tampered_hint(item).into(),
            Error::SlotBounds(_) => "the passphrase slot was altered; restore it from a backup".into(),
            Error::Usage(m) => m.hint_or("`vault help COMMAND` shows what the command takes"),
            Error::Config(m) => m.hint_or(
                "check the AWS config files (AWS_CONFIG_FILE, ~/.aws/config) and vault's config.toml",
            ),
            Error::NoProfile(profile) => {
                format!("check AWS_CONFIG_FILE / ~/.aws/config, or `vault add {profile}`").into()
            }
            Error::StsRefused(m) => {
                m.hint_or("check the profile's role, key and MFA settings; -v shows each STS call")
            }
            Error::StsUnreachable(m) => {
                m.hint_or("check the network, AWS_ENDPOINT_URL_STS / endpoint_url and the region")
            }
            Error::CannotRun { not_found: true, .. } => "check the command name and PATH (everything after the profile, or after --, is the command)".into(),
            Error::CannotRun { .. } => {
                "check that it is a program you may execute (mode, interpreter line)".into()
            }
            Error::NoMfaSource(_) => "pass --mfa-token CODE, set mfa_process in the profile, or use --prompt ykman|zenity|kdialog|osascript".into(),
            Error::Backend(e) => e.hint().map_or(
                "check the backend (`vault status` names it); -v shows what was tried".into(),
                Cow::Borrowed,
            ),
            Error::Io { .. } => "check that path's permissions and free space".into(),
            Error::RekeyUnfinished => {
                "wait for it, or run `vault rekey` again to finish it (nothing is lost)".into()
            }
            Error::RolledBack { state, .. } => format!(
                "a file older than the vault's last `vault rekey` was restored (a backup, a sync service); restore the newest copy of it. If you restored it on purpose, remove {state} and run again"
            )
            .into(),
            Error::StaleIdentity(_) => "run the command again (the agent locked itself and unlocks with the new identity)".into(),
            Error::SlowKdf(_) => "if you chose these parameters, run it in a terminal to confirm or set VAULT_ALLOW_SLOW_KDF=1; otherwise the passphrase slot was altered: restore it from a backup".into(),
            Error::StdoutClosed => "nothing to do: the reader of vault's output went away".into(),
            Error::SsoLogin(m) => m.hint_or("run `vault sso login` for the profile's sso-session"),
            Error::Other(m) => m.hint_or("run again with -v to see each step"),
        }
    }

    /// The whole report as the CLI prints it: the message, then its `hint:` line.
    pub fn report(&self) -> String {
        format!("{self}\n  hint: {}", self.hint())
    }
}

/// A failure's message and, when it has a more specific next step than its kind's default,
/// that step: the hint is kept apart from the text, never pasted into it.
#[derive(Debug)]
pub struct Msg {
    text: String,
    hint: Option<Cow<'static, str>>,
}

impl Msg {
    /// A message with its own next step.
    pub fn hinted(text: impl Into<String>, hint: impl Into<Cow<'static, str>>) -> Msg {
        Msg {
            text: text.into(),
            hint: Some(hint.into()),
        }
    }

    /// The message alone.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Its own hint, if it has one.
    pub fn own_hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    fn hint_or(&self, default: &'static str) -> Cow<'_, str> {
        Cow::Borrowed(self.hint.as_deref().unwrap_or(default))
    }
}

impl std::fmt::Display for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::ops::Deref for Msg {
    type Target = str;
    fn deref(&self) -> &str {
        &self.text
    }
}

impl From<String> for Msg {
    fn from(text: String) -> Msg {
        Msg { text, hint: None }
    }
}

impl From<&str> for Msg {
    fn from(text: &str) -> Msg {
        Msg {
            text: text.to_owned(),
            hint: None,
        }
    }
}

/// What to do about an unreadable item, by kind: a slot cannot be removed and re-added, a
/// session can simply be dropped.
fn tampered_hint(item: &str) -> String {
    if item.starts_with("slot.") {
        "the slot file was altered or truncated; restore it from a backup, or re-create it from \
         your recovery identity with `vault init --from-identity FILE` after moving it aside"
            .into()
    } else if let Some(profile) = item.strip_prefix(crate::vault::names::KEY_PREFIX) {
        format!(
            "the file was altered or truncated; restore it from a backup, or `vault remove {profile}` and `vault add {profile}` again"
        )
    } else if item.starts_with(crate::vault::names::SESSION_PREFIX) {
        "a cached session was altered or truncated; `vault clear` drops it (the next call makes a new one)".into()
    } else {
        "the file was altered or truncated; restore it from a backup".into()
    }
}

/// Shorthand.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests;
