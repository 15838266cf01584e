//! The `secret-service` store (Linux default): the freedesktop Secret Service (gnome-keyring,
//! KWallet, KeePassXC) over D-Bus, spoken by pure-Rust zbus; items go to the default (login)
//! collection with the attributes `service` and `username`. Writes go through keyring-core's
//! session, encrypted with RustCrypto after a Diffie-Hellman exchange; reads and lists of
//! vault items use a plain session (the values are age ciphertext), which spares every
//! command that exchange. [`KeychainBackend::open_for_secrets`] (the keychain unlock slot,
//! whose value is the master identity) encrypts every transfer.

use std::collections::HashMap;
use std::sync::Arc;

use keyring_core::CredentialStore;
use zeroize::Zeroizing;

use super::{one_line, KeychainBackend};
use crate::{Backend, Error};

/// keyring-core's Secret Service store (its session starts with the key exchange).
pub(super) fn build() -> Result<Arc<CredentialStore>, Error> {
    let store: Arc<CredentialStore> =
        zbus_secret_service_keyring_store::Store::new().map_err(|e| unreachable_bus(&e))?;
    Ok(store)
}

/// A session-bus connection for the plain-session reads.
pub(super) fn connect() -> Result<zbus::blocking::Connection, Error> {
    zbus::blocking::Connection::session().map_err(|e| unreachable_bus(&e))
}

impl KeychainBackend {
    /// Reads `name` over a plain Secret Service session: `None` when this is not such a
    /// backend (use keyring-core), else whether it exists and, with `value`, its bytes.
    pub(super) fn plain_read(
        &self,
        name: &str,
        value: bool,
    ) -> Option<Result<Option<Vec<u8>>, Error>> {
        use secret_service::blocking::SecretService;
        use secret_service::EncryptionType;
        let conn = self.plain.clone()?;
        let fail = |e: secret_service::Error| {
            Error::hinted(
                format!("{} ({name}): {}", self.location(), one_line(&e)),
                self.which.access_hint(),
            )
        };
        let read = || -> Result<Option<Vec<u8>>, Error> {
            self.entry_name(name)?;
            let ss =
                SecretService::connect_with_existing(EncryptionType::Plain, conn).map_err(fail)?;
            let spec = HashMap::from([("service", self.service.as_str()), ("username", name)]);
            let found = ss.search_items(spec).map_err(fail)?;
            let items: Vec<_> = found.unlocked.iter().chain(found.locked.iter()).collect();
            match items.len() {
                0 => return Ok(None),
                1 => {}
                n => return Err(self.ambiguous(name, n)),
            }
            if !value {
                return Ok(Some(Vec::new()));
            }
            if !found.locked.is_empty() {
                // Asks the keyring to unlock (a desktop prompt); refused, it is an error.
                ss.unlock_all(&items).map_err(fail)?;
            }
            let text = Zeroizing::new(items[0].get_secret().map_err(fail)?);
            self.decode(name, &text).map(Some)
        };
        Some(read())
    }

    /// The names of this service's items on the Secret Service: one search, then every item's
    /// attributes asked for at once over the one connection (keyring-core asks item by item,
    /// about 1 ms each). Names are attributes, readable without unlocking the collection; no
    /// secret crosses the bus, so the session needs no key exchange.
    pub(super) fn list_secret_service(&self) -> Result<Vec<String>, Error> {
        use secret_service::{EncryptionType, SecretService};
        let fail = |e: secret_service::Error| {
            Error::hinted(
                format!("{}: listing: {}", self.location(), one_line(&e)),
                self.which.access_hint(),
            )
        };
        futures_lite::future::block_on(async {
            let ss = match &self.plain {
                Some(conn) => {
                    SecretService::connect_with_existing(
                        EncryptionType::Plain,
                        conn.inner().clone(),
                    )
                    .await
                }
                None => SecretService::connect(EncryptionType::Plain).await,
            }
            .map_err(fail)?;
            let found = ss
                .search_items(HashMap::from([("service", self.service.as_str())]))
                .await
                .map_err(fail)?;
            let items = found.unlocked.iter().chain(found.locked.iter());
            let attributes =
                futures_util::future::join_all(items.map(|i| i.get_attributes())).await;
            Ok(attributes
                .into_iter()
                // An item deleted since the search is simply not listed.
                .filter_map(Result::ok)
                .filter(|a| a.get("service") == Some(&self.service))
                .filter_map(|mut a| a.remove("username"))
                .collect())
        })
    }
}

/// The Secret Service cannot be reached over the D-Bus session bus.
fn unreachable_bus(e: &dyn std::fmt::Display) -> Error {
    let bus = if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some() {
        "DBUS_SESSION_BUS_ADDRESS is set"
    } else {
        "DBUS_SESSION_BUS_ADDRESS is not set"
    };
    Error::hinted(
        format!(
            "cannot reach the Secret Service over the D-Bus session bus ({bus}): {}",
            one_line(e)
        ),
        "run vault in a desktop session with gnome-keyring or KWallet running; on a headless \
         machine use `dbus-run-session` and `gnome-keyring-daemon --unlock`, or another \
         backend (keychain:keyutils, pass, file)",
    )
}
