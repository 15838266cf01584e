//! The keychain unlock slot (opt-in): the master identity kept in the OS keychain, so a
//! personal machine unlocks without the passphrase. The passphrase slot stays: removing the
//! keychain slot (or losing the keychain) brings the prompt back.
//!
//! The vault holds a small descriptor item, `slot.keychain`: which store, which account, and a
//! SHA-256 of the identity so a stale or foreign keychain entry is noticed instead of used. The
//! descriptor is not secret (like item names); the identity itself is only in the keychain,
//! under the service `vault-unlock` and a random account name.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use vault_backends::keychain::{KeychainBackend, Store};
use vault_backends::Backend;
use zeroize::Zeroizing;

use super::crypto::MasterIdentity;
use super::Vault;
use crate::error::{Error, Msg, Result};

/// The descriptor's item name.
pub const ITEM: &str = "slot.keychain";
/// The keychain service under which identities are kept.
pub const SERVICE: &str = "vault-unlock";

/// What the vault records about its keychain slot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Descriptor {
    /// Format version (1).
    pub v: u32,
    /// The store (`secret-service`, `keyutils`, `macos`).
    pub store: String,
    /// The account (random) under [`SERVICE`].
    pub account: String,
    /// Hex SHA-256 of the identity string, to recognise the right entry.
    pub sha256: String,
}

fn digest(identity: &MasterIdentity) -> String {
    let secret = identity.to_secret();
    vault_backends::fs::hex(&Sha256::digest(secret.expose().as_bytes()))
}

fn parse_store(name: &str) -> Result<Store> {
    Store::parse(name).ok_or_else(|| {
        Error::Usage(Msg::hinted(
            format!("unknown keychain store {:?}", crate::sanitize(name)),
            "use secret-service, keyutils or macos",
        ))
    })
}

impl Vault {
    /// The keychain slot's descriptor, if the vault has one.
    pub fn keychain_slot(&self) -> Result<Option<Descriptor>> {
        let Some(bytes) = self.backend.get(ITEM)? else {
            return Ok(None);
        };
        let d: Descriptor = serde_json::from_slice(&bytes).map_err(|e| Error::Tampered {
            item: ITEM.into(),
            detail: format!("not a keychain slot descriptor: {e}"),
        })?;
        if d.v != 1 {
            return Err(Error::Tampered {
                item: ITEM.into(),
                detail: format!("unknown keychain slot version {}", d.v),
            });
        }
        Ok(Some(d))
    }

    /// Keeps `master` in the keychain `store` and records the slot (replacing an older one);
    /// `master` must have been read under `_writers` (held by the caller).
    pub fn add_keychain_slot(
        &self,
        _writers: &super::WriterLock,
        master: &MasterIdentity,
        store: Option<&str>,
    ) -> Result<Descriptor> {
        let store = match store {
            Some(s) => parse_store(s)?,
            None => Store::os_default(),
        };
        let _lock = self.backend.lock(ITEM)?;
        let old = self.keychain_slot()?;
        let account = vault_backends::fs::hex(&rand::random::<[u8; 16]>());
        let keychain = KeychainBackend::open_for_secrets(store, SERVICE)?;
        let secret = master.to_secret();
        keychain.set(&account, secret.expose().as_bytes())?;
        let d = Descriptor {
            v: 1,
            store: store.name().to_owned(),
            account,
            sha256: digest(master),
        };
        let bytes = serde_json::to_vec(&d).map_err(|e| Error::Other(e.to_string().into()))?;
        if let Err(e) = self.backend.set(ITEM, &bytes) {
            let _ = keychain.remove(&d.account);
            return Err(e.into());
        }
        if let Some(old) = old.filter(|o| o.account != d.account) {
            if let Ok(kc) = parse_store(&old.store)
                .and_then(|s| Ok(KeychainBackend::open_for_secrets(s, SERVICE)?))
            {
                let _ = kc.remove(&old.account);
            }
        }
        Ok(d)
    }

    /// Removes the keychain slot: the identity from the keychain, then the descriptor. Returns
    /// whether there was one. A keychain that cannot be reached is an error and removes
    /// nothing, so the identity is never left behind unrecorded.
    pub fn remove_keychain_slot(&self) -> Result<bool> {
        let _writers = self.lock_writers()?;
        let _lock = self.backend.lock(ITEM)?;
        let Some(d) = self.keychain_slot()? else {
            return Ok(false);
        };
        let keychain = KeychainBackend::open_for_secrets(parse_store(&d.store)?, SERVICE)?;
        keychain.remove(&d.account)?;
        self.backend.remove(ITEM)?;
        Ok(true)
    }

    /// Tries the keychain slot: `Ok(Some)` with the master identity and the passphrase
    /// slot's generation when the keychain holds the right one; `Ok(None)` when there is no
    /// slot. A slot that cannot be used (keychain locked or unreachable, entry gone or
    /// foreign) is an error the caller may fall back from; a rolled-back slot is refused.
    pub fn unlock_keychain(&self) -> Result<Option<(MasterIdentity, u64)>> {
        let Some(d) = self.keychain_slot()? else {
            return Ok(None);
        };
        self.check_no_rekey()?;
        let keychain = KeychainBackend::open_for_secrets(parse_store(&d.store)?, SERVICE)?;
        let Some(bytes) = keychain.get(&d.account)?.map(Zeroizing::new) else {
            return Err(Error::Other(Msg::hinted(
                format!(
                    "the keychain slot's identity is missing from {}",
                    keychain.location()
                ),
                "`vault slot remove keychain`, then `vault slot add keychain`",
            )));
        };
        let text = std::str::from_utf8(&bytes).map_err(|_| Error::Tampered {
            item: ITEM.into(),
            detail: "the keychain entry is not an identity".into(),
        })?;
        let master = MasterIdentity::parse(text).map_err(|e| Error::crypto(ITEM, e))?;
        if digest(&master) != d.sha256 {
            return Err(Error::Tampered {
                item: ITEM.into(),
                detail: "the keychain holds a different identity than this vault's".into(),
            });
        }
        let generation = self.current_generation()?;
        self.check_generation(generation)?;
        Ok(Some((master, generation)))
    }
}
