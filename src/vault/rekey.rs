//! Rekeying: every item re-encrypted to a fresh master identity, for when the old one may have
//! leaked (a recovery printout seen by someone else, an old backup of the slot with a weak
//! passphrase). `vault passwd` only rewraps the slot; this replaces the key itself.
//!
//! Crash safety, with the vault-wide writer lock held throughout:
//! 1. The new identity is sealed under the same passphrase as the journal item `slot.rekey`
//!    (an interrupted run resumes with it: no item is ever sealed to an identity that is not
//!    in a slot).
//! 2. Every key item is opened with the old identity and sealed to the new one; an item the
//!    old one cannot open but the new one can was done by an interrupted run. Cached sessions
//!    are dropped rather than re-encrypted (the next `exec` makes fresh ones).
//! 3. The journal becomes the passphrase slot (one atomic write), a last pass catches any item
//!    another command wrote with the old identity meanwhile, and the journal is removed.
//!
//! The new slot's generation is the old one's plus one, and every key is rewritten as a v3
//! item of that generation; an agent (or another process) still holding the old identity
//! sees the slot's generation change and refuses to seal (see `generation.rs`).
//!
//! While `slot.rekey` exists, unlocking refuses (finish with `vault rekey`), so no command
//! works with the old identity once items start moving. A keychain slot is moved to the new
//! identity before the journal goes; if the keychain cannot take it, the slot is dropped (it
//! would unlock with the old identity) and the user is told to add it again.

use crate::secret::Secret;

use super::crypto::MasterIdentity;
use super::names::{KEY_PREFIX, SESSION_PREFIX, SSO_PREFIX};
use super::{keychain_slot, Vault, SLOT};
use crate::error::{Error, Result};

/// The journal item: the new identity's passphrase slot while a rekey runs.
pub const REKEY_SLOT: &str = "slot.rekey";

/// What a rekey did.
#[derive(Debug, Default)]
pub struct Report {
    /// Key items re-encrypted (including ones an interrupted run had done).
    pub keys: usize,
    /// Cached sessions (and IAM Identity Center tokens) dropped.
    pub sessions: usize,
    /// Whether an interrupted rekey was finished.
    pub resumed: bool,
    /// The new slot's generation.
    pub generation: u64,
    /// The keychain slot's store, when one was moved to the new identity.
    pub keychain: Option<String>,
    /// Why the keychain slot could not be added back, if it could not.
    pub keychain_error: Option<String>,
}

impl Vault {
    /// Refuses to unlock while a rekey is unfinished.
    pub fn check_no_rekey(&self) -> Result<()> {
        if self.backend.contains(REKEY_SLOT)? {
            return Err(Error::RekeyUnfinished);
        }
        Ok(())
    }

    /// Re-encrypts every item to a new master identity (see the module docs).
    pub fn rekey(&self, passphrase: &Secret) -> Result<Report> {
        let lock = self.lock_writers()?;
        let (old, params, old_generation) = self.open_slot(SLOT, &self.slot()?, passphrase)?;
        self.check_generation(old_generation)?;
        let mut report = Report::default();
        let (new, journal, generation) = match self.backend.get(REKEY_SLOT)? {
            Some(journal) => {
                report.resumed = true;
                let (new, _, generation) = self.open_slot(REKEY_SLOT, &journal, passphrase)?;
                (new, journal, generation)
            }
            None => {
                let new = MasterIdentity::generate();
                let generation = old_generation + 1;
                let journal = new
                    .seal_slot_at(passphrase, params, generation)
                    .map_err(|e| Error::crypto(REKEY_SLOT, e))?;
                self.backend.set(REKEY_SLOT, &journal)?;
                (new, journal, generation)
            }
        };
        report.generation = generation;
        report.keys = self.reseal_keys(&old, &new, generation)?;
        for name in self.backend.list()? {
            // IAM Identity Center tokens go too: sealed to an identity that may have leaked,
            // they may have leaked with it, so the next use signs in afresh.
            if (name.starts_with(SESSION_PREFIX) || name.starts_with(SSO_PREFIX))
                && self.backend.remove(&name)?
            {
                report.sessions += 1;
            }
        }
        self.backend.set(SLOT, &journal)?;
        self.check_generation(generation)?;
        // Anything written with the old identity since the first pass.
        self.reseal_keys(&old, &new, generation)?;
        // The keychain slot follows before the journal goes (a rerun redoes it). One that
        // cannot follow is dropped: it would unlock with the old identity.
        if let Some(d) = self.keychain_slot()? {
            match self.add_keychain_slot(&lock, &new, Some(&d.store)) {
                Ok(_) => report.keychain = Some(d.store),
                Err(e) => {
                    self.backend.remove(keychain_slot::ITEM)?;
                    report.keychain_error = Some(e.to_string());
                }
            }
        }
        self.backend.remove(REKEY_SLOT)?;
        Ok(report)
    }

    /// Seals every key item to `new`, as generation `generation`; returns how many are now
    /// sealed to it.
    fn reseal_keys(
        &self,
        old: &MasterIdentity,
        new: &MasterIdentity,
        generation: u64,
    ) -> Result<usize> {
        let mut n = 0;
        for name in self.backend.list()? {
            if !name.starts_with(KEY_PREFIX) {
                continue;
            }
            let _item_lock = self.backend.lock(&name)?;
            let Some(ct) = self.backend.get(&name)? else {
                continue;
            };
            match old.open(&ct) {
                // A v1 item is rebound to its name as it moves (issue 13, point 3), and every
                // item takes the new generation (point 4).
                Ok(pt) => self.backend.set(
                    &name,
                    &new.seal(&super::item::Item::rebind(&name, pt, generation)),
                )?,
                Err(e) => {
                    // Done by an interrupted run, or unreadable: never overwritten.
                    new.open(&ct).map_err(|_| Error::crypto(&name, e))?;
                }
            }
            n += 1;
        }
        Ok(n)
    }
}
