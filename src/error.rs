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
    #[error("vault item {item:?} is unreadable: {detail}\n  hint: the file was altered or truncated; restore it from a backup, or `vault remove` it and add it again")]
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
    #[error("{0}")]
    Usage(String),
    /// Configuration problems.
    #[error("{0}")]
    Config(String),
    /// A profile that the AWS config does not define.
    #[error("profile {0:?} is not in the AWS config or the vault\n  hint: check AWS_CONFIG_FILE / ~/.aws/config, or `vault add {0}`")]
    NoProfile(String),
    /// STS said no.
    #[error("{0}")]
    StsRefused(String),
    /// STS could not be reached.
    #[error("{0}")]
    StsUnreachable(String),
    /// A backend failure.
    #[error(transparent)]
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
    #[error("a rekey of this vault is running or was interrupted, so it cannot be unlocked now\n  hint: wait for it, or run `vault rekey` again to finish it (nothing is lost)")]
    RekeyUnfinished,
    /// Stdout was closed by its reader (`vault list | head -1`): the command stops there and,
    /// as for any Unix filter, succeeds quietly.
    #[error("stdout was closed")]
    StdoutClosed,
    /// An IAM Identity Center sign-in is needed and there is no terminal to run it on (exit
    /// 79, like a locked vault: a `credential_process` caller never waits on a hidden prompt).
    #[error("{0}")]
    SsoLogin(String),
    /// Anything else.
    #[error("{0}")]
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
            Error::Locked | Error::Passphrase { .. } | Error::SsoLogin(_) => ExitCode::Locked,
            Error::NotInitialized(_) | Error::NoKey(_) | Error::NoSlot(_) | Error::NoProfile(_) => {
                ExitCode::NotFound
            }
            Error::AlreadyInitialized(_) | Error::Usage(_) => ExitCode::Usage,
            Error::Tampered { .. } | Error::SlotBounds(_) => ExitCode::Tampered,
            Error::Config(_) => ExitCode::Config,
            Error::StsRefused(_) => ExitCode::StsRefused,
            Error::StsUnreachable(_) => ExitCode::StsUnreachable,
            Error::Backend(vault_backends::Error::UnsafePermissions { .. }) => {
                ExitCode::UnsafePermissions
            }
            Error::Backend(vault_backends::Error::TooLarge { .. }) => ExitCode::Tampered,
            Error::Backend(_) => ExitCode::Backend,
            Error::Io { .. } | Error::Other(_) | Error::RekeyUnfinished => ExitCode::Failure,
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

/// Shorthand.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

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
