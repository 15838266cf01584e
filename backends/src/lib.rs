//! Storage backends for `vault`.
//!
//! A backend stores opaque bytes under a name. The bytes are always age ciphertext made by the
//! `vault` crate; a backend never sees a plaintext secret, so every backend inherits the same
//! confidentiality guarantee and only differs in availability, locking and where the bytes live.
//!
//! Names are not secret (SECURITY.md says so): they are profile names and cache keys.

#![deny(missing_docs)]

// File modes, uids, process groups and flock are the ground every backend stands on.
#[cfg(not(unix))]
compile_error!("vault-backends supports Unix only (Linux, macOS)");

use std::fmt;
use std::path::PathBuf;

pub mod file;
pub mod fs;
pub mod helper;
pub mod keychain;
pub mod pass;
mod process;
pub mod split;

pub use file::FileBackend;
pub use helper::HelperBackend;
pub use keychain::KeychainBackend;
pub use pass::PassBackend;
pub use split::Split;

/// One storage backend: `get`, `set`, `remove`, `list` over opaque bytes.
pub trait Backend: Send + Sync + fmt::Debug {
    /// A short name for messages and `vault status` (`file`, `pass`, ...).
    fn kind(&self) -> &'static str;

    /// Where the data lives, for messages (a directory, a keyring collection, ...).
    fn location(&self) -> String;

    /// Reads an item. `Ok(None)` means "no such item"; every other failure is an error, so a
    /// broken backend is never mistaken for an empty one.
    fn get(&self, name: &str) -> Result<Option<Vec<u8>>, Error>;

    /// Whether an item exists. The default reads it; backends where a read is costly (a gpg
    /// decrypt) answer from cheaper metadata.
    fn contains(&self, name: &str) -> Result<bool, Error> {
        Ok(self.get(name)?.is_some())
    }

    /// Writes an item, replacing any previous value atomically: a reader sees the old bytes or
    /// the new bytes, never a mix, even if the writer is killed half way.
    fn set(&self, name: &str, value: &[u8]) -> Result<(), Error>;

    /// Removes an item; returns whether it existed.
    fn remove(&self, name: &str) -> Result<bool, Error>;

    /// Lists every item name, sorted.
    fn list(&self) -> Result<Vec<String>, Error>;

    /// Takes an exclusive advisory lock for a read-modify-write of `name`, held until the
    /// guard is dropped. Backends without a notion of locking return a no-op guard.
    fn lock(&self, name: &str) -> Result<LockGuard, Error> {
        let _ = name;
        Ok(LockGuard(None))
    }

    /// Like [`Backend::lock`] but never waits: `Ok(None)` when another process holds it.
    fn try_lock(&self, name: &str) -> Result<Option<LockGuard>, Error> {
        self.lock(name).map(Some)
    }
}

/// The largest item any backend reads: vault's items are under 1 KiB (a few KiB at most), so
/// anything larger is not one, and is refused before it is read whole.
pub const MAX_ITEM: u64 = 64 * 1024;

/// Refuses an item of `size` bytes over [`MAX_ITEM`].
pub(crate) fn check_item_size(name: &str, size: u64) -> Result<(), Error> {
    if size > MAX_ITEM {
        return Err(Error::TooLarge {
            item: name.to_owned(),
            size,
        });
    }
    Ok(())
}

/// An advisory lock held until dropped.
#[derive(Debug)]
pub struct LockGuard(#[allow(dead_code)] Option<std::fs::File>);

/// What went wrong in a backend. Every variant names what failed and how to fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A path's ownership or mode would let another user read or replace the vault.
    #[error("refusing to use {path}: {problem}")]
    UnsafePermissions {
        /// The offending path.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
        /// The command or step that fixes it.
        fix: String,
    },
    /// An I/O operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done ("reading", "creating", ...).
        op: &'static str,
        /// On which path.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The item name cannot be stored by this backend.
    #[error("invalid item name {0:?}: {1}")]
    InvalidName(String, &'static str),
    /// An item larger than any vault item can be ([`MAX_ITEM`]): not a vault item.
    #[error(
        "item {item} is {size} bytes, more than a vault item can be (64 KiB), so it was not read"
    )]
    TooLarge {
        /// The item's name.
        item: String,
        /// Its size (of what was stored, which may be an encoding of the item).
        size: u64,
    },
    /// Any other backend failure (a helper program, a keyring daemon, ...).
    #[error("{0}")]
    Other(String),
    /// A failure with a next step more specific than "check the backend".
    #[error("{message}")]
    Hinted {
        /// What failed.
        message: String,
        /// What to do about it.
        hint: String,
    },
}

impl Error {
    /// A failure with its own next step.
    pub fn hinted(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::Hinted {
            message: message.into(),
            hint: hint.into(),
        }
    }

    /// What to do next, when the failure knows better than its caller.
    pub fn hint(&self) -> Option<&str> {
        match self {
            Error::UnsafePermissions { fix, .. } => Some(fix),
            Error::TooLarge { .. } => Some(
                "it is not a vault item (altered or planted); remove it, or restore it from a backup",
            ),
            Error::Hinted { hint, .. } => Some(hint),
            Error::Io { .. } | Error::InvalidName(..) | Error::Other(_) => None,
        }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
