//! The vault: a backend of sealed items plus the passphrase slot that unlocks them.
//!
//! Item names (not secret): `slot.passphrase` for the slot, `key.<profile>` for long-term keys,
//! `session.<cache key>` for cached STS sessions.

pub mod crypto;
pub mod item;
pub mod keychain_slot;
pub mod rekey;

use std::path::Path;

use secrecy::SecretString;
use vault_backends::{Backend, FileBackend};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crypto::{KdfParams, MasterIdentity};
use item::Item;

/// The passphrase slot's item name.
pub const SLOT: &str = "slot.passphrase";
pub(crate) const KEY_PREFIX: &str = "key.";
pub(crate) const SESSION_PREFIX: &str = "session.";

/// The file in the vault directory that records which backend holds the vault.
pub const BACKEND_FILE: &str = "backend";

/// Which backend to use: `choice` (`--backend`), else `VAULT_BACKEND`, else the one recorded
/// in the vault directory by `init`/`migrate`, else `backend` in the config file, else `file`.
pub fn backend_kind(vault_dir: &Path, choice: Option<&str>) -> String {
    choice
        .map(str::to_owned)
        .or_else(|| {
            std::env::var("VAULT_BACKEND")
                .ok()
                .filter(|v| !v.is_empty())
        })
        .or_else(|| {
            let path = vault_dir.join(BACKEND_FILE);
            let meta = std::fs::symlink_metadata(&path).ok()?;
            if !meta.is_file() {
                return None;
            }
            Some(std::fs::read_to_string(path).ok()?.trim().to_owned())
        })
        .or_else(|| crate::config::get().ok().and_then(|c| c.backend.clone()))
        .filter(|k| !k.is_empty())
        .unwrap_or_else(|| "file".to_owned())
}

/// Opens the backend `kind` for the vault in `vault_dir` (which always holds the local
/// files: the backend record, locks, and cached sessions).
pub fn open_backend(vault_dir: &Path, kind: &str, create: bool) -> Result<Box<dyn Backend>> {
    let local = FileBackend::open(vault_dir, create)?;
    let main: Box<dyn Backend> = match kind {
        "file" => return Ok(Box::new(local)),
        "pass" => {
            let prefix = crate::config::setting("VAULT_PASS_PREFIX", |c| c.pass_prefix.clone());
            let prefix = prefix.as_deref().unwrap_or(vault_backends::pass::DEFAULT_PREFIX);
            Box::new(vault_backends::PassBackend::new(prefix)?)
        }
        k if k.starts_with("helper:") && k.len() > "helper:".len() => Box::new(
            vault_backends::HelperBackend::new(
                &k["helper:".len()..],
                std::time::Duration::from_secs(10),
            )?,
        ),
        k if k == "keychain" || k.starts_with("keychain:") => {
            let store = match k.strip_prefix("keychain:") {
                None => vault_backends::keychain::Store::os_default(),
                Some(name) => vault_backends::keychain::Store::parse(name).ok_or_else(|| {
                    Error::Usage(format!(
                        "unknown keychain store {:?}\n  hint: use keychain (this system's own), keychain:secret-service or keychain:keyutils",
                        crate::sanitize(name)
                    ))
                })?,
            };
            let service =
                crate::config::setting("VAULT_KEYCHAIN_SERVICE", |c| c.keychain_service.clone());
            let service = service
                .as_deref()
                .unwrap_or(vault_backends::keychain::DEFAULT_SERVICE);
            Box::new(vault_backends::KeychainBackend::open(store, service)?)
        }
        other => {
            return Err(Error::Usage(format!(
                "unknown backend {:?}\n  hint: use file, keychain, keychain:keyutils, pass or helper:NAME",
                crate::sanitize(other)
            )))
        }
    };
    Ok(Box::new(vault_backends::Split::new(
        main,
        local,
        SESSION_PREFIX,
    )))
}

/// Records `kind` as the vault's backend (atomically, 0600).
pub fn record_backend(vault_dir: &Path, kind: &str) -> Result<()> {
    let path = vault_dir.join(BACKEND_FILE);
    let contents = format!("{kind}\n");
    vault_backends::fs::write_atomic(
        &path,
        contents.as_bytes(),
        vault_backends::fs::Perms::Private,
    )
    .map_err(|e| match e {
        // Local I/O, as before the write moved to the backends crate.
        vault_backends::Error::Io { op, path, source } => Error::Io { op, path, source },
        e => Error::Backend(e),
    })
}

/// The item name of a profile's long-term key.
pub fn key_name(profile: &str) -> String {
    format!("{KEY_PREFIX}{profile}")
}

/// The item name of a cached session.
pub fn session_name(cache_key: &str) -> String {
    format!("{SESSION_PREFIX}{cache_key}")
}

/// Whatever can seal and open items: the master identity in this process, or (later) the
/// agent holding it.
pub trait Sealer {
    /// Encrypts an item plaintext.
    fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>>;
    /// Decrypts an item; `name` is for messages.
    fn open(&self, name: &str, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>>;
    /// Keeps the key available while a long-running user of it is alive (the agent's idle
    /// timer); nothing to do for a key held in this process.
    fn keepalive(&self) -> Result<()> {
        Ok(())
    }
}

impl Sealer for MasterIdentity {
    fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>> {
        Ok(MasterIdentity::seal(self, plaintext))
    }
    fn open(&self, name: &str, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        MasterIdentity::open(self, ciphertext).map_err(|e| Error::crypto(name, e))
    }
}

/// A vault in a backend, locked.
#[derive(Debug)]
pub struct Vault {
    backend: Box<dyn Backend>,
}

/// Names in the vault, by kind.
#[derive(Debug, Default)]
pub struct Names {
    /// Profiles with a stored long-term key.
    pub keys: Vec<String>,
    /// Cache keys of stored sessions.
    pub sessions: Vec<String>,
}

impl Vault {
    /// Wraps a backend.
    pub fn new(backend: Box<dyn Backend>) -> Self {
        Vault { backend }
    }

    /// The backend, for status messages.
    pub fn backend(&self) -> &dyn Backend {
        &*self.backend
    }

    /// Fails with "not initialised" when there is no passphrase slot; cheaper than reading it
    /// (for pass, no gpg run).
    pub fn ensure_initialized(&self) -> Result<()> {
        if self.backend.contains(SLOT)? {
            Ok(())
        } else {
            Err(Error::NotInitialized(self.backend.location()))
        }
    }

    /// The slot bytes, or "not initialised".
    pub fn slot(&self) -> Result<Vec<u8>> {
        self.backend
            .get(SLOT)?
            .ok_or_else(|| Error::NotInitialized(self.backend.location()))
    }

    /// Creates the master identity and the passphrase slot; refuses an existing vault.
    pub fn init(&self, passphrase: &SecretString, params: KdfParams) -> Result<Unlocked<'_>> {
        let _lock = self.backend.lock(SLOT)?;
        if self.backend.get(SLOT)?.is_some() {
            return Err(Error::AlreadyInitialized(self.backend.location()));
        }
        let master = MasterIdentity::generate();
        let slot = master
            .seal_slot(passphrase, params)
            .map_err(|e| Error::crypto(SLOT, e))?;
        self.backend.set(SLOT, &slot)?;
        Ok(self.with_sealer(Box::new(master)))
    }

    /// Opens the passphrase slot.
    pub fn unlock_master(&self, passphrase: &SecretString) -> Result<(MasterIdentity, KdfParams)> {
        let slot = self.slot()?;
        self.check_no_rekey()?;
        MasterIdentity::open_slot(&slot, passphrase).map_err(|e| Error::crypto(SLOT, e))
    }

    /// An unlocked view using `sealer`.
    pub fn with_sealer<'v>(&'v self, sealer: Box<dyn Sealer + 'v>) -> Unlocked<'v> {
        Unlocked {
            vault: self,
            sealer,
        }
    }

    /// Item names by kind; needs no passphrase (names are not secret).
    pub fn names(&self) -> Result<Names> {
        let mut names = Names::default();
        for name in self.backend.list()? {
            if let Some(p) = name.strip_prefix(KEY_PREFIX) {
                names.keys.push(p.to_owned());
            } else if let Some(s) = name.strip_prefix(SESSION_PREFIX) {
                names.sessions.push(s.to_owned());
            }
        }
        Ok(names)
    }

    /// Removes an item; whether it existed.
    pub fn remove(&self, name: &str) -> Result<bool> {
        Ok(self.backend.remove(name)?)
    }

    /// Rewrites the slot under a new passphrase; items are untouched.
    pub fn rewrap(
        &self,
        master: &MasterIdentity,
        passphrase: &SecretString,
        params: KdfParams,
    ) -> Result<()> {
        let _lock = self.backend.lock(SLOT)?;
        let slot = master
            .seal_slot(passphrase, params)
            .map_err(|e| Error::crypto(SLOT, e))?;
        self.backend.set(SLOT, &slot)?;
        Ok(())
    }
}

/// A vault with a way to seal and open items.
pub struct Unlocked<'a> {
    vault: &'a Vault,
    sealer: Box<dyn Sealer + 'a>,
}

impl std::fmt::Debug for Unlocked<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unlocked")
            .field("vault", &self.vault)
            .finish_non_exhaustive()
    }
}

impl Unlocked<'_> {
    /// Reads and decrypts an item; `Ok(None)` when absent.
    pub fn get(&self, name: &str) -> Result<Option<Item>> {
        let Some(ct) = self.vault.backend.get(name)? else {
            return Ok(None);
        };
        self.open(name, &ct).map(Some)
    }

    /// Decrypts an item already read from the backend as `name`.
    pub fn open(&self, name: &str, ciphertext: &[u8]) -> Result<Item> {
        let pt = self.sealer.open(name, ciphertext)?;
        Item::from_bytes(&pt).map_err(|e| Error::Tampered {
            item: name.into(),
            detail: e.to_string(),
        })
    }

    /// Encrypts and writes an item.
    pub fn put(&self, name: &str, item: &Item) -> Result<()> {
        let ct = self.sealer.seal(&item.to_bytes())?;
        self.vault.backend.set(name, &ct)?;
        Ok(())
    }

    /// Keeps the key available (see [`Sealer::keepalive`]).
    pub fn keepalive(&self) -> Result<()> {
        self.sealer.keepalive()
    }

    /// The locked vault underneath.
    pub fn vault(&self) -> &Vault {
        self.vault
    }
}
