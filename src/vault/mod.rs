//! The vault: a backend of sealed items plus the passphrase slot that unlocks them. Item
//! names are `names.rs`; the master identity `crypto.rs`; the passphrase slot `slot.rs`.

pub mod crypto;
pub mod item;
pub mod keychain_slot;
pub mod names;
pub mod rekey;
pub mod slot;

use std::path::Path;

use secrecy::SecretString;
use vault_backends::{Backend, FileBackend};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crypto::MasterIdentity;
use item::Item;
use slot::KdfParams;

pub use names::{key_name, session_name, Names, SessionId, SLOT};
use names::{KEY_PREFIX, SESSION_PREFIX};

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
    Ok(Box::new(vault_backends::Split::new(main, local)))
}

/// Records `kind` as the vault's backend (atomically, 0600).
pub fn record_backend(vault_dir: &Path, kind: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = vault_dir.join(format!(".tmp.{}.backend", std::process::id()));
    let path = vault_dir.join(BACKEND_FILE);
    let io = |op, e| Error::Io {
        op,
        path: path.clone(),
        source: e,
    };
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| io("writing", e))?;
    f.write_all(format!("{kind}\n").as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| io("writing", e))?;
    std::fs::rename(&tmp, &path).map_err(|e| io("writing", e))?;
    Ok(())
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

/// How [`Vault::drop_sessions`] treats a session another process holds locked (it may be
/// refreshing it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Busy {
    /// Wait for the lock: the session must go.
    Wait,
    /// Leave it.
    Skip,
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
                names.sessions.push(SessionId::new(s));
            }
        }
        Ok(names)
    }

    /// Removes an item; whether it existed.
    pub fn remove(&self, name: &str) -> Result<bool> {
        Ok(self.backend.remove(name)?)
    }

    /// Drops every cached session `doomed` picks, each decided and removed under its lock so
    /// a concurrent refresh is never torn; returns how many went.
    pub fn drop_sessions(
        &self,
        busy: Busy,
        mut doomed: impl FnMut(&SessionId) -> Result<bool>,
    ) -> Result<usize> {
        let mut dropped = 0;
        for id in self.names()?.sessions {
            let name = id.item_name();
            let _lock = match busy {
                Busy::Wait => self.backend.lock(&name)?,
                Busy::Skip => match self.backend.try_lock(&name)? {
                    Some(lock) => lock,
                    None => continue,
                },
            };
            if doomed(&id)? && self.backend.remove(&name)? {
                tracing::info!("dropped the cached session {id}");
                dropped += 1;
            }
        }
        Ok(dropped)
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

    /// The sealed bytes of an item, not decrypted; `Ok(None)` when absent.
    pub fn get_sealed(&self, name: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.vault.backend.get(name)?)
    }

    /// Whether an item exists (metadata only where the backend allows).
    pub fn contains(&self, name: &str) -> Result<bool> {
        Ok(self.vault.backend.contains(name)?)
    }

    /// Locks `name` for a read-modify-write, until the guard drops.
    pub fn lock(&self, name: &str) -> Result<vault_backends::LockGuard> {
        Ok(self.vault.backend.lock(name)?)
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
