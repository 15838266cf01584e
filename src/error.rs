//! The one error type the binary reports, and the exit code of each failure.
//!
//! Every message says what failed and, on a `hint:` line, what to do next. Codes are
//! sysexits-like so that they rarely collide with a child's own status under `vault exec`.

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
    #[error("wrong passphrase (or the passphrase slot was altered)\n  hint: try again; if you forgot it, the vault cannot be opened without the recovery identity")]
    WrongPassphrase,
    /// No way to get a passphrase.
    #[error("the vault is locked and there is no passphrase source\n  hint: run in a terminal, or set VAULT_PASSPHRASE_FILE, VAULT_ASKPASS or --passphrase-fd")]
    Locked,
    /// A command that needs the passphrase itself (not the agent) has no source for it.
    #[error("`vault {0}` needs the passphrase itself (an agent never hands out the master identity), and there is no passphrase source\n  hint: run it in a terminal, or set VAULT_PASSPHRASE_FILE, VAULT_ASKPASS or --passphrase-fd")]
    PassphraseRequired(&'static str),
    /// Reading the passphrase failed.
    #[error("reading the passphrase from {source_name}: {detail}\n  hint: {hint}")]
    Passphrase {
        /// Which source.
        source_name: String,
        /// What failed.
        detail: String,
        /// What to do.
        hint: String,
    },
    /// No vault at the location.
    #[error("no vault at {0}\n  hint: run `vault init` (or point --vault-dir / VAULT_DIR at your vault)")]
    NotInitialized(String),
    /// The passphrase slot is gone but items remain: the slot was deleted or moved.
    #[error("the vault at {location} holds {items} item(s) but its passphrase slot (slot.passphrase.age) is missing\n  hint: restore the slot file from a backup, or re-create it from your recovery identity (`vault recover`'s output) with `vault init --from-identity FILE`; the items are kept either way, and a plain `vault init` is refused so they are not orphaned")]
    SlotMissing {
        /// Where the vault is.
        location: String,
        /// How many items it holds.
        items: usize,
    },
    /// `init` on an existing vault.
    #[error("a vault already exists at {0}\n  hint: use `vault passwd` to change its passphrase, or choose another --vault-dir")]
    AlreadyInitialized(String),
    /// The vault has no such key slot.
    #[error("this vault has no {0} slot\n  hint: `vault slot list` shows its slots; `vault slot add {0}` adds one")]
    NoSlot(&'static str),
    /// No such item.
    #[error("no stored key for profile {0:?}\n  hint: `vault add {0}` stores one; `vault list` shows what is stored")]
    NoKey(String),
    /// A vault file failed to decrypt or parse.
    #[error("vault item {item:?} is unreadable: {detail}\n  hint: {}", tampered_hint(.item))]
    Tampered {
        /// Which item.
        item: String,
        /// What is wrong.
        detail: String,
    },
    /// The slot's parameters are out of bounds.
    #[error("{0}\n  hint: the passphrase slot was altered; restore it from a backup")]
    SlotBounds(String),
    /// Bad command-line value found after parsing.
    #[error("{}", with_hint(.0, "`vault help COMMAND` shows what the command takes"))]
    Usage(String),
    /// Configuration problems.
    #[error("{}", with_hint(.0, "check the AWS config files (AWS_CONFIG_FILE, ~/.aws/config) and vault's config.toml"))]
    Config(String),
    /// A profile that the AWS config does not define.
    #[error("profile {0:?} is not in the AWS config or the vault\n  hint: check AWS_CONFIG_FILE / ~/.aws/config, or `vault add {0}`")]
    NoProfile(String),
    /// STS said no.
    #[error("{}", with_hint(.0, "check the profile's role, key and MFA settings; -v shows each STS call"))]
    StsRefused(String),
    /// STS could not be reached.
    #[error("{}", with_hint(.0, "check the network, AWS_ENDPOINT_URL_STS / endpoint_url and the region"))]
    StsUnreachable(String),
    /// `exec` could not start the command.
    #[error("cannot run {program:?}: {detail}\n  hint: {}", if *.not_found { "check the command name and PATH (everything after the profile, or after --, is the command)" } else { "check that it is a program you may execute (mode, interpreter line)" })]
    CannotRun {
        /// The command, sanitised.
        program: String,
        /// The OS error.
        detail: String,
        /// Not found (127) rather than not executable (126).
        not_found: bool,
    },
    /// An MFA code is needed and nothing can supply it.
    #[error("an MFA code is needed for {0} and there is no terminal to ask on\n  hint: pass --mfa-token CODE, set mfa_process in the profile, or use --prompt ykman|zenity|kdialog|osascript")]
    NoMfaSource(String),
    /// A backend failure.
    #[error("{}", with_hint(&.0.to_string(), "check the backend (`vault status` names it); -v shows what was tried"))]
    Backend(#[from] vault_backends::Error),
    /// Local I/O outside the backend.
    #[error("{op} {}: {source}\n  hint: check that path's permissions and free space", path.display())]
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
    #[error("a rekey of this vault is running or was interrupted, so it cannot be unlocked now\n  hint: wait for it, or run `vault rekey` again to finish it (nothing is lost)")]
    RekeyUnfinished,
    /// A vault file is older than the newest generation of this vault seen (a slot or item
    /// restored from a backup or a sync service after a rekey).
    #[error("{item} is from an older generation of this vault than one seen already: {detail}\n  hint: a file older than the vault's last `vault rekey` was restored (a backup, a sync service); restore the newest copy of it. If you restored it on purpose, remove {state} and run again")]
    RolledBack {
        /// Which file.
        item: String,
        /// What was seen.
        detail: String,
        /// The record of the newest generation, to remove on purpose.
        state: String,
    },
    /// An unlocked identity (an agent, a long-running command) was retired by a rekey.
    #[error("{0}: the vault was rekeyed since it was unlocked, so nothing was sealed to the retired identity\n  hint: run the command again (the agent locked itself and unlocks with the new identity)")]
    StaleIdentity(String),
    /// A slot asks for a KDF far above what `vault init` sets, and nobody confirmed it.
    #[error("{0}\n  hint: if you chose these parameters, run it in a terminal to confirm or set VAULT_ALLOW_SLOW_KDF=1; otherwise the passphrase slot was altered: restore it from a backup")]
    SlowKdf(String),
    /// Stdout was closed by its reader (`vault list | head -1`): the command stops there and,
    /// as for any Unix filter, succeeds quietly.
    #[error("stdout was closed\n  hint: nothing to do: the reader of vault's output went away")]
    StdoutClosed,
    /// An IAM Identity Center sign-in is needed and there is no terminal to run it on (exit
    /// 79, like a locked vault: a `credential_process` caller never waits on a hidden prompt).
    #[error("{}", with_hint(.0, "run `vault sso login` for the profile's sso-session"))]
    SsoLogin(String),
    /// Anything else.
    #[error("{}", with_hint(.0, "run again with -v to see each step"))]
    Other(String),
}

impl Error {
    /// A failed write to stdout: [`Error::StdoutClosed`] when its reader went away.
    pub fn stdout(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            Error::StdoutClosed
        } else {
            Error::Other(format!("writing to stdout: {e}"))
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

/// `message` with its own `hint:` line, or with `default` as one: every error says what to
/// do next.
fn with_hint(message: &str, default: &str) -> String {
    if message.contains("\n  hint: ") {
        message.to_owned()
    } else {
        format!("{message}\n  hint: {default}")
    }
}

impl Error {
    /// What to do next: the text of the error's `hint:` line (every error has one).
    pub fn hint(&self) -> String {
        let text = self.to_string();
        match text.split_once("\n  hint: ") {
            Some((_, hint)) => hint.to_owned(),
            None => String::new(),
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
mod tests {
    use super::*;

    /// Every variant carries a `hint:` line (a new variant without one fails here: the match
    /// below must name it).
    #[test]
    fn every_error_carries_a_hint() {
        let io = || std::io::Error::other("boom");
        let all = [
            Error::WrongPassphrase,
            Error::Locked,
            Error::PassphraseRequired("recover"),
            Error::Passphrase {
                source_name: "s".into(),
                detail: "d".into(),
                hint: "h".into(),
            },
            Error::NotInitialized("/v".into()),
            Error::SlotMissing {
                location: "/v".into(),
                items: 2,
            },
            Error::AlreadyInitialized("/v".into()),
            Error::NoSlot("keychain"),
            Error::NoKey("p".into()),
            Error::Tampered {
                item: "key.p".into(),
                detail: "d".into(),
            },
            Error::SlotBounds("m".into()),
            Error::Usage("u".into()),
            Error::Config("c".into()),
            Error::NoProfile("p".into()),
            Error::StsRefused("r".into()),
            Error::StsUnreachable("u".into()),
            Error::CannotRun {
                program: "x".into(),
                detail: "d".into(),
                not_found: true,
            },
            Error::NoMfaSource("arn".into()),
            Error::SsoLogin("a sign-in is needed".into()),
            Error::Backend(vault_backends::Error::Other("o".into())),
            Error::Backend(vault_backends::Error::Io {
                op: "reading",
                path: "/p".into(),
                source: io(),
            }),
            Error::Backend(vault_backends::Error::InvalidName("n".into(), "why")),
            Error::Backend(vault_backends::Error::UnsafePermissions {
                path: "/p".into(),
                problem: "p".into(),
                fix: "chmod 600 /p".into(),
            }),
            Error::Io {
                op: "reading",
                path: "/p".into(),
                source: io(),
            },
            Error::RekeyUnfinished,
            Error::RolledBack {
                item: "slot.passphrase".into(),
                detail: "d".into(),
                state: "/s".into(),
            },
            Error::StaleIdentity("sealing".into()),
            Error::SlowKdf("m".into()),
            Error::StdoutClosed,
            Error::Other("o".into()),
        ];
        for e in &all {
            // Exhaustive on purpose: a new variant must be added to `all` above.
            match e {
                Error::WrongPassphrase
                | Error::Locked
                | Error::PassphraseRequired(_)
                | Error::Passphrase { .. }
                | Error::NotInitialized(_)
                | Error::SlotMissing { .. }
                | Error::AlreadyInitialized(_)
                | Error::NoSlot(_)
                | Error::NoKey(_)
                | Error::Tampered { .. }
                | Error::SlotBounds(_)
                | Error::Usage(_)
                | Error::Config(_)
                | Error::NoProfile(_)
                | Error::StsRefused(_)
                | Error::StsUnreachable(_)
                | Error::CannotRun { .. }
                | Error::NoMfaSource(_)
                | Error::SsoLogin(_)
                | Error::Backend(_)
                | Error::Io { .. }
                | Error::RekeyUnfinished
                | Error::RolledBack { .. }
                | Error::StaleIdentity(_)
                | Error::SlowKdf(_)
                | Error::StdoutClosed
                | Error::Other(_) => {}
            }
            let text = e.to_string();
            assert_eq!(text.matches("\n  hint: ").count(), 1, "{text}");
            assert!(!e.hint().is_empty(), "{text}");
            assert!(!text.contains("fix:"), "{text}");
        }
        assert_eq!(
            Error::Usage("bad\n  hint: do this".into()).hint(),
            "do this"
        );
    }

    #[test]
    fn exit_codes_are_distinct_and_stable() {
        let codes = [
            ExitCode::Ok,
            ExitCode::Failure,
            ExitCode::Usage,
            ExitCode::Tampered,
            ExitCode::NotFound,
            ExitCode::Backend,
            ExitCode::StsUnreachable,
            ExitCode::StsRefused,
            ExitCode::WrongPassphrase,
            ExitCode::Config,
            ExitCode::Locked,
            ExitCode::UnsafePermissions,
            ExitCode::CannotExecute,
            ExitCode::CommandNotFound,
        ];
        let mut seen: Vec<u8> = codes.iter().map(|c| *c as u8).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), codes.len());
        assert_eq!(ExitCode::WrongPassphrase as u8, 77);
        assert_eq!(
            Error::WrongPassphrase.exit_code(),
            ExitCode::WrongPassphrase
        );
    }
}
