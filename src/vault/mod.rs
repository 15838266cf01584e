//! The vault: a backend of sealed items plus the passphrase slot that unlocks them. Item
//! names are `names.rs`; the master identity `crypto.rs`; the passphrase slot `slot.rs`.

pub mod crypto;
pub mod generation;
pub mod item;
pub mod keychain_slot;
pub mod migrate;
pub mod names;
pub mod rekey;
pub mod slot;

use std::path::Path;

use crate::secret::Secret;
use vault_backends::{Backend, FileBackend};
use zeroize::Zeroizing;

use crate::error::{Error, Msg, Result};
use crate::settings::{BackendKind, BackendSpec, Settings};
use crypto::MasterIdentity;
use item::Item;
use slot::KdfParams;

pub use names::{key_name, session_name, sso_token_name, Names, SessionId, SLOT};
use names::{KEY_PREFIX, SESSION_PREFIX, SSO_PREFIX};

/// The backend `settings` name, optionally creating its storage; "not initialised" when the
/// vault directory does not exist and `create` is false.
pub fn backend(settings: &Settings, create: bool) -> Result<Box<dyn Backend>> {
    if !create && !FileBackend::exists(&settings.vault_dir) {
        return Err(Error::NotInitialized(
            settings.vault_dir.display().to_string(),
        ));
    }
    open_backend(&settings.vault_dir, &settings.backend, create)
}

/// Opens the backend `spec` for the vault in `vault_dir` (which always holds the local
/// files: the backend record, locks, and cached sessions).
pub fn open_backend(
    vault_dir: &Path,
    spec: &BackendSpec,
    create: bool,
) -> Result<Box<dyn Backend>> {
    let local = FileBackend::open(vault_dir, create)?;
    let main: Box<dyn Backend> = match &spec.kind {
        BackendKind::File => return Ok(Box::new(local)),
        BackendKind::Pass => Box::new(
            vault_backends::PassBackend::new(&spec.pass_prefix)?
                .without_env(crate::exec::SECRET_VARS),
        ),
        BackendKind::Helper(name) => Box::new(
            vault_backends::HelperBackend::new(name, std::time::Duration::from_secs(10))?
                .without_env(crate::exec::SECRET_VARS),
        ),
        BackendKind::Keychain(store) => {
            let store = store.unwrap_or_else(vault_backends::keychain::Store::os_default);
            Box::new(vault_backends::KeychainBackend::open(
                store,
                &spec.keychain_service,
            )?)
        }
    };
    Ok(Box::new(vault_backends::Split::new(
        main,
        local,
        SESSION_PREFIX,
    )))
}

/// Records `kind` as the vault's backend (atomically, 0600).
pub fn record_backend(vault_dir: &Path, kind: &BackendKind) -> Result<()> {
    let path = vault_dir.join(crate::settings::BACKEND_FILE);
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
    /// The slot generation of the identity (items are sealed under it; an older item is
    /// refused).
    fn generation(&self) -> u64 {
        0
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
    policy: generation::Policy,
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
        Vault {
            backend,
            policy: Default::default(),
        }
    }

    /// The existing vault `settings` name.
    pub fn open(settings: &Settings) -> Result<Vault> {
        Ok(Vault::new(backend(settings, false)?).with_policy(generation::Policy::of(settings)))
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
            Err(self.no_slot())
        }
    }

    /// The slot bytes, or "not initialised".
    pub fn slot(&self) -> Result<Vec<u8>> {
        match self.backend.get(SLOT)? {
            Some(slot) => Ok(slot),
            None => Err(self.no_slot()),
        }
    }

    /// Why there is no slot: no vault at all, or a vault whose slot is gone while its items
    /// remain (deleted or moved). The second must never be answered with "run `vault init`",
    /// which would seal new items to a new identity beside the orphaned ones.
    fn no_slot(&self) -> Error {
        match self.orphans() {
            Ok(0) | Err(_) => Error::NotInitialized(self.backend.location()),
            Ok(items) => Error::SlotMissing {
                location: self.backend.location(),
                items,
            },
        }
    }

    /// How many keys and sessions the vault holds (names only; no passphrase needed).
    pub fn orphans(&self) -> Result<usize> {
        let names = self.names()?;
        Ok(names.keys.len() + names.sessions.len())
    }

    /// Takes the vault-wide writer lock that every writer of a slot (init, passwd, rekey,
    /// slot add/remove, migrate) holds across its read-modify-write, so none of them writes
    /// over what another just wrote (issue 13, point 1: `passwd` racing `rekey` used to put
    /// the old identity back in the slot, losing every key). It lives in the local vault
    /// directory for every backend, like every lock.
    pub fn lock_writers(&self) -> Result<WriterLock> {
        Ok(WriterLock(self.backend.lock(SLOT)?))
    }

    /// Creates the master identity and the passphrase slot; refuses an existing vault.
    pub fn init(&self, passphrase: &Secret, params: KdfParams) -> Result<Unlocked<'_>> {
        self.init_from(MasterIdentity::generate(), passphrase, params)
    }

    /// Creates the passphrase slot for `master` (a fresh identity, or the recovery identity
    /// of a vault whose slot was lost); refuses an existing slot. The slot takes the newest
    /// generation among the items `master` opens (0 for a new vault), and that becomes the
    /// recorded newest generation: `init` is how a user says which vault lives here.
    pub fn init_from(
        &self,
        master: MasterIdentity,
        passphrase: &Secret,
        params: KdfParams,
    ) -> Result<Unlocked<'_>> {
        let _lock = self.lock_writers()?;
        if self.backend.get(SLOT)?.is_some() {
            return Err(Error::AlreadyInitialized(self.backend.location()));
        }
        let mut generation = 0;
        for name in self.names()?.keys.iter().map(|p| key_name(p)) {
            let Some(ct) = self.backend.get(&name)? else {
                continue;
            };
            if let Ok(item) = master.open(&ct).map(|pt| Item::from_bytes(&pt)) {
                generation = generation.max(item.map_or(0, |i| i.generation()));
            }
        }
        let slot = master
            .seal_slot_at(passphrase, params, generation)
            .map_err(|e| Error::crypto(SLOT, e))?;
        self.backend.set(SLOT, &slot)?;
        if let Some(seen) = self.seen() {
            seen.set(generation)?;
        }
        Ok(self.with_master(master, generation))
    }

    /// Opens the passphrase slot: the identity, the KDF parameters and the generation.
    pub fn unlock_master(&self, passphrase: &Secret) -> Result<(MasterIdentity, KdfParams, u64)> {
        let slot = self.slot()?;
        self.check_no_rekey()?;
        let opened = self.open_slot(SLOT, &slot, passphrase)?;
        self.check_generation(opened.2)?;
        Ok(opened)
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
            } else if let Some(s) = name.strip_prefix(SSO_PREFIX) {
                names.sso_tokens.push(s.to_owned());
            }
        }
        Ok(names)
    }

    /// Removes an item; whether it existed.
    pub fn remove(&self, name: &str) -> Result<bool> {
        Ok(self.backend.remove(name)?)
    }

    /// Drops the sessions `ids` that `doomed` picks, each decided and removed under its lock
    /// so a concurrent refresh is never torn (only `ids` are locked); returns how many went.
    pub fn drop_sessions(
        &self,
        busy: Busy,
        ids: impl IntoIterator<Item = SessionId>,
        mut doomed: impl FnMut(&SessionId) -> Result<bool>,
    ) -> Result<usize> {
        let mut dropped = 0;
        for id in ids {
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

    /// Opens the passphrase slot for a writer holding `_lock`; also returns the slot bytes
    /// read, for [`Vault::rewrap`]'s re-check.
    pub fn unlock_master_for_write(
        &self,
        _lock: &WriterLock,
        passphrase: &Secret,
    ) -> Result<(MasterIdentity, KdfParams, Vec<u8>)> {
        let slot = self.slot()?;
        self.check_no_rekey()?;
        let (master, params, generation) = self.open_slot(SLOT, &slot, passphrase)?;
        self.check_generation(generation)?;
        Ok((master, params, slot))
    }

    /// Rewrites the slot under a new passphrase; items are untouched. `read` is the slot
    /// `master` came from: if the slot is not that any more (a writer that does not take the
    /// lock, such as an older vault), nothing is written.
    pub fn rewrap(
        &self,
        _lock: &WriterLock,
        read: &[u8],
        master: &MasterIdentity,
        passphrase: &Secret,
        params: KdfParams,
    ) -> Result<()> {
        if self.slot()? != read || self.backend.contains(rekey::REKEY_SLOT)? {
            return Err(Error::Other(Msg::hinted(
                "the passphrase slot changed while this command ran (another passwd or rekey), so nothing was written",
                "run the command again",
            )));
        }
        // The generation stays: the identity does not change.
        let generation =
            MasterIdentity::slot_generation(read).map_err(|e| Error::crypto(SLOT, e))?;
        let slot = master
            .seal_slot_at(passphrase, params, generation)
            .map_err(|e| Error::crypto(SLOT, e))?;
        self.backend.set(SLOT, &slot)?;
        Ok(())
    }
}

/// Proof that the vault-wide writer lock is held ([`Vault::lock_writers`]), until dropped.
#[derive(Debug)]
pub struct WriterLock(#[allow(dead_code)] vault_backends::LockGuard);

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

    /// Decrypts an item already read from the backend as `name`; refuses one sealed under
    /// another name (a file copied over this one).
    pub fn open(&self, name: &str, ciphertext: &[u8]) -> Result<Item> {
        let pt = self.sealer.open(name, ciphertext)?;
        let tampered = |e: item::ItemError| Error::Tampered {
            item: name.into(),
            detail: e.to_string(),
        };
        let item = Item::from_bytes(&pt).map_err(tampered)?;
        item.check_name(name).map_err(tampered)?;
        // Sealed to this identity but under an older generation: restored from before a
        // rekey that kept the identity (issue 13, point 4).
        let current = self.sealer.generation();
        if item.generation() < current {
            return Err(Error::RolledBack {
                item: name.into(),
                detail: format!(
                    "it was sealed under generation {}, the vault is generation {current}",
                    item.generation()
                ),
                state: "it".into(),
            });
        }
        Ok(item)
    }

    /// Encrypts and writes an item, bound to `name` in the current format; refuses one that
    /// would be larger than any backend reads back ([`vault_backends::MAX_ITEM`]).
    pub fn put(&self, name: &str, item: &Item) -> Result<()> {
        let ct = self
            .sealer
            .seal(&item.bound(name, self.sealer.generation()).to_bytes())?;
        if ct.len() as u64 > vault_backends::MAX_ITEM {
            return Err(Error::Usage(Msg::hinted(
                format!(
                    "item {name} would be {} bytes sealed, more than a vault item may be (64 KiB), so nothing was written",
                    ct.len(),
                ),
                "shorten what makes it large (an MFA serial, a session tag)",
            )));
        }
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

    /// The generation items are sealed under (see [`Sealer::generation`]).
    pub fn generation(&self) -> u64 {
        self.sealer.generation()
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
