//! The `keyutils` store (Linux): the kernel key-management facility. Keys live in the caller's
//! session keyring (inherited by every process of a login session) and are linked into the
//! user's persistent keyring. **Volatile**: they are gone after a reboot, and after logout once
//! the persistent keyring expires (`/proc/sys/kernel/keys/persistent_keyring_expiry`, 3 days by
//! default); a process outside any session keyring it possesses is refused. One key holds at
//! most 32,767 bytes ([`super::KEYUTILS_MAX`]), and the kernel caps each user's keys
//! (`/proc/sys/kernel/keys/maxbytes` and `maxkeys`: 20,000 bytes and 200 keys by default for
//! users other than root, so about 40 of vault's ~500-byte items).

use std::collections::HashMap;
use std::sync::Arc;

use keyring_core::CredentialStore;
use linux_keyutils::{KeyRing, KeyRingIdentifier};

use super::{one_line, KeychainBackend};
use crate::{Backend, Error};

/// keyring-core's kernel keyring store (building it makes no system call).
pub(super) fn build() -> Result<Arc<CredentialStore>, Error> {
    let config = HashMap::from([("service_no_divider", "true")]);
    let store: Arc<CredentialStore> =
        linux_keyutils_keyring_store::Store::new_with_configuration(&config)
            .map_err(|e| Error::Other(format!("the kernel keyring: {}", one_line(&e))))?;
    Ok(store)
}

impl KeychainBackend {
    /// The keyutils store reports a key it cannot re-link into this process's keyrings (a
    /// process with no session keyring of its own, as under some containers and cron) as
    /// missing, which would read as "no vault". A direct search tells the two apart.
    pub(super) fn keyutils_check_really_missing(&self, name: &str) -> Result<(), Error> {
        let _ = KeyRing::get_persistent(KeyRingIdentifier::Session);
        let found = KeyRing::from_special_id(KeyRingIdentifier::Session, false)
            .and_then(|ring| ring.search(&format!("keyring:{name}@{}", self.service)))
            .is_ok();
        if found {
            return Err(Error::hinted(
                format!(
                    "{} holds {name}, but this process cannot use it: it has no session \
                     keyring of its own",
                    self.location(),
                ),
                self.which.access_hint(),
            ));
        }
        Ok(())
    }

    /// The names of this service's keys in the session keyring and the persistent keyring.
    pub(super) fn list_keyutils(&self) -> Result<Vec<String>, Error> {
        let access = |e: linux_keyutils::KeyError| {
            Error::hinted(
                format!("{}: listing the session keyring: {e:?}", self.location()),
                self.which.access_hint(),
            )
        };
        let suffix = format!("@{}", self.service);
        let mut names = Vec::new();
        let mut rings =
            vec![KeyRing::from_special_id(KeyRingIdentifier::Session, false).map_err(access)?];
        rings.extend(KeyRing::get_persistent(KeyRingIdentifier::Session).ok());
        for ring in rings {
            let links = ring.get_links(65_536).map_err(access)?;
            for link in links.iter() {
                let Some(key) = link.as_key() else { continue };
                let Ok(meta) = key.metadata() else { continue };
                let name = meta
                    .get_description()
                    .strip_prefix("keyring:")
                    .and_then(|d| d.strip_suffix(suffix.as_str()));
                if let Some(name) = name.filter(|n| !n.is_empty()) {
                    names.push(name.to_owned());
                }
            }
        }
        Ok(names)
    }
}
