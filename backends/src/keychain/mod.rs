//! The `keychain` backend: items in the operating system's credential store, through
//! `keyring-core` with an explicitly built store (never keyring's process-wide default store,
//! which needs a session bus and remembers a failed start for the whole process).
//!
//! Stores ([`Store`]), each in a module of its own that is built only on its OS:
//! - `secret-service` (Linux default): the freedesktop Secret Service over D-Bus
//!   (`secret_service.rs`).
//! - `keyutils` (Linux): the kernel key-management facility; **volatile** (`keyutils.rs`).
//! - `macos` (macOS default): the login keychain (`macos.rs`); type-checked by CI, not
//!   exercised by this project's tests.
//!
//! A store of another OS is refused with an error that says so. There is no Windows store: the
//! crate is Unix-only (file modes, uid checks).
//!
//! Item `NAME` of a vault whose service is `SERVICE` is the credential (`SERVICE`, `NAME`).
//! On the Secret Service the value is stored base64-encoded, because KWallet's implementation
//! keeps only UTF-8 text; the other stores hold the bytes as they are.
//! The service defaults to `vault`; `VAULT_KEYCHAIN_SERVICE` picks another one so two vaults can
//! share a keychain. Every value is age ciphertext made by `vault`: the keychain adds its own
//! protection on top and never sees a plaintext secret.
//!
//! A set replaces the whole value in one call to the store (Secret Service `CreateItem` with
//! `replace`, keyutils `add_key` on an existing description), so a reader sees the old or the
//! new bytes. Nothing here ever falls back to another store or to a file: an unreachable or
//! locked keychain is an error that says how to fix it.

#[cfg(target_os = "linux")]
mod keyutils;
#[cfg(target_os = "macos")]
mod macos;
#[cfg(target_os = "linux")]
mod secret_service;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use keyring_core::{CredentialStore, Entry, Error as KError};
use zeroize::Zeroizing;

use crate::{Backend, Error};

/// The default service name of vault's items.
pub const DEFAULT_SERVICE: &str = "vault";

/// The kernel keyring's limit on one key's payload (`user` key type), in bytes.
pub const KEYUTILS_MAX: usize = 32_767;

/// Which credential store holds the items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// The freedesktop Secret Service over D-Bus (Linux).
    SecretService,
    /// The Linux kernel keyring (session + persistent keyrings; volatile).
    Keyutils,
    /// The macOS login keychain.
    MacOs,
}

impl Store {
    /// The store `keychain` means on this operating system.
    pub fn os_default() -> Store {
        if cfg!(target_os = "macos") {
            Store::MacOs
        } else {
            Store::SecretService
        }
    }

    /// Parses a store name (`secret-service`, `keyutils`, `macos`).
    pub fn parse(name: &str) -> Option<Store> {
        Some(match name {
            "secret-service" | "secretservice" => Store::SecretService,
            "keyutils" | "kernel" => Store::Keyutils,
            "macos" => Store::MacOs,
            _ => return None,
        })
    }

    /// The store's name as `parse` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Store::SecretService => "secret-service",
            Store::Keyutils => "keyutils",
            Store::MacOs => "macos",
        }
    }

    /// The most a single item may hold in this store.
    fn max_len(self) -> usize {
        match self {
            Store::Keyutils => KEYUTILS_MAX,
            _ => 1 << 20,
        }
    }

    /// What to do when the store refuses access.
    fn access_hint(self) -> &'static str {
        match self {
            Store::SecretService => {
                "the Secret Service refused access (is the keyring locked?): unlock it by logging in \
                 to the desktop session, or with `gnome-keyring-daemon --unlock` on a headless machine"
            }
            Store::Keyutils => {
                "the kernel keyring refused access: vault needs a session keyring this process \
                 possesses (a login session has one; otherwise run vault under `keyctl session -`)"
            }
            Store::MacOs => "the macOS keychain refused access: unlock the login keychain",
        }
    }

    /// Builds the keyring-core store; fails when it cannot be reached.
    fn build(self) -> Result<Arc<CredentialStore>, Error> {
        let unavailable = |what: &str| {
            Error::hinted(
                format!("the {what} keychain store is not available on this operating system"),
                "use `keychain` (this system's own store), pass, file or helper:NAME",
            )
        };
        match self {
            #[cfg(target_os = "linux")]
            Store::SecretService => secret_service::build(),
            #[cfg(target_os = "linux")]
            Store::Keyutils => keyutils::build(),
            #[cfg(target_os = "macos")]
            Store::MacOs => macos::build(),
            #[allow(unreachable_patterns)]
            other => Err(unavailable(other.name())),
        }
    }
}

/// Items as credentials of one service in an OS credential store.
pub struct KeychainBackend {
    /// keyring-core's store. Built at open, except for ciphertext items on the Secret Service,
    /// where the first write builds it: its session starts with a Diffie-Hellman exchange
    /// (several milliseconds of big-number arithmetic) that reads do not need.
    store: OnceLock<Arc<CredentialStore>>,
    which: Store,
    service: String,
    /// Secret Service reads of ciphertext items: a bus connection whose Secret Service
    /// sessions are plain, since the values are age ciphertext already.
    #[cfg(target_os = "linux")]
    plain: Option<zbus::blocking::Connection>,
}

impl std::fmt::Debug for KeychainBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeychainBackend")
            .field("store", &self.which)
            .field("service", &self.service)
            .finish()
    }
}

impl KeychainBackend {
    /// Connects to `which` and uses the credentials of `service`.
    pub fn open(which: Store, service: &str) -> Result<Self, Error> {
        Self::open_with(which, service, false)
    }

    /// Like [`KeychainBackend::open`], for items that are secrets in themselves (the
    /// keychain unlock slot's master identity): every transfer goes through keyring-core's
    /// encrypted Secret Service session.
    pub fn open_for_secrets(which: Store, service: &str) -> Result<Self, Error> {
        Self::open_with(which, service, true)
    }

    fn open_with(which: Store, service: &str, secrets: bool) -> Result<Self, Error> {
        if service.is_empty()
            || service.len() > 64
            || !service
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        {
            return Err(Error::InvalidName(
                service.to_owned(),
                "a keychain service name is 1 to 64 of letters, digits and -_.:",
            ));
        }
        // Ciphertext items on the Secret Service are read over a plain session on a
        // connection of their own; keyring-core's store waits for the first write.
        let plain_reads = cfg!(target_os = "linux") && which == Store::SecretService && !secrets;
        #[cfg(target_os = "linux")]
        let plain = if plain_reads {
            Some(secret_service::connect()?)
        } else {
            None
        };
        let store = OnceLock::new();
        if !plain_reads {
            let _ = store.set(which.build()?);
        }
        Ok(KeychainBackend {
            store,
            which,
            service: service.to_owned(),
            #[cfg(target_os = "linux")]
            plain,
        })
    }

    /// keyring-core's store, built on first use.
    fn store(&self) -> Result<&Arc<CredentialStore>, Error> {
        if let Some(store) = self.store.get() {
            return Ok(store);
        }
        let store = self.which.build()?;
        Ok(self.store.get_or_init(|| store))
    }

    fn entry(&self, name: &str) -> Result<Entry, Error> {
        self.entry_name(name)?;
        Entry::new_in_store(self.store()?, &self.service, name).map_err(|e| self.error(name, e))
    }

    /// Checks an item name against what every store accepts.
    fn entry_name(&self, name: &str) -> Result<(), Error> {
        if name.is_empty() || name.len() > 255 || name.contains(['\0', '\n']) {
            return Err(Error::InvalidName(
                name.to_owned(),
                "a keychain item name is 1 to 255 bytes without NUL or newline",
            ));
        }
        Ok(())
    }

    /// The bytes of a Secret Service value, which vault stores as base64 text.
    fn decode(&self, name: &str, text: &[u8]) -> Result<Vec<u8>, Error> {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(text.trim_ascii())
            .map_err(|_| {
                Error::Other(format!(
                    "{}: the item {name} is not base64, so vault did not write it \
                     (remove it with the keychain's own tool, e.g. seahorse or secret-tool)",
                    self.location()
                ))
            })
    }

    /// More than one item answers to `name`.
    fn ambiguous(&self, name: &str, n: usize) -> Error {
        Error::Other(format!(
            "{} holds {n} items for {name}: remove the extra ones with the keychain's own tool \
             (e.g. `secret-tool clear service {} username {name}`)",
            self.location(),
            self.service
        ))
    }

    /// Maps a keyring error to a message that says what failed and what to do.
    fn error(&self, name: &str, e: KError) -> Error {
        match e {
            KError::NoStorageAccess(inner) => Error::hinted(
                format!(
                    "{} ({name}): {}",
                    self.location(),
                    crate::process::sanitize(inner.to_string().as_bytes()),
                ),
                self.which.access_hint(),
            ),
            KError::Ambiguous(entries) => self.ambiguous(name, entries.len()),
            other => {
                let text = one_line(&other);
                let message = format!("{} ({name}): {text}", self.location());
                if self.which == Store::Keyutils && text.contains("Quota") {
                    Error::hinted(
                        message,
                        "the kernel caps each user's keys (/proc/sys/kernel/keys/maxbytes and \
                         maxkeys, 20,000 bytes and 200 keys by default for users other than \
                         root): remove items, raise the limits, or use another backend",
                    )
                } else {
                    Error::Other(message)
                }
            }
        }
    }

    /// The keyutils store reports a key it cannot re-link into this process's keyrings (a
    /// process with no session keyring of its own, as under some containers and cron) as
    /// missing, which would read as "no vault". A direct search tells the two apart.
    fn check_really_missing(&self, name: &str) -> Result<(), Error> {
        #[cfg(target_os = "linux")]
        if self.which == Store::Keyutils {
            return self.keyutils_check_really_missing(name);
        }
        let _ = name;
        Ok(())
    }
}

impl Backend for KeychainBackend {
    fn kind(&self) -> &'static str {
        "keychain"
    }

    fn location(&self) -> String {
        let what = match self.which {
            Store::SecretService => "the Secret Service",
            Store::Keyutils => "the kernel keyring (volatile: cleared at reboot)",
            Store::MacOs => "the macOS keychain",
        };
        format!("{what} (service {})", self.service)
    }

    /// A search only: no secret crosses D-Bus (or leaves the kernel) to answer it.
    fn contains(&self, name: &str) -> Result<bool, Error> {
        #[cfg(target_os = "linux")]
        if let Some(found) = self.plain_read(name, false) {
            return found.map(|v| v.is_some());
        }
        match self.entry(name)?.get_credential() {
            Ok(_) => Ok(true),
            Err(KError::NoEntry) => {
                self.check_really_missing(name)?;
                Ok(false)
            }
            Err(e) => Err(self.error(name, e)),
        }
    }

    fn get(&self, name: &str) -> Result<Option<Vec<u8>>, Error> {
        let got = self.get_unchecked(name)?;
        if let Some(v) = &got {
            crate::check_item_size(name, v.len() as u64)?;
        }
        Ok(got)
    }

    fn set(&self, name: &str, value: &[u8]) -> Result<(), Error> {
        if value.len() > self.which.max_len() {
            return Err(Error::Other(format!(
                "{}: item {name} is {} bytes, more than the {} bytes one item can hold there",
                self.location(),
                value.len(),
                self.which.max_len()
            )));
        }
        let encoded;
        let value = if self.which == Store::SecretService {
            use base64::Engine as _;
            encoded = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(value));
            encoded.as_bytes()
        } else {
            value
        };
        self.entry(name)?
            .set_secret(value)
            .map_err(|e| self.error(name, e))
    }

    fn remove(&self, name: &str) -> Result<bool, Error> {
        match self.entry(name)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(KError::NoEntry) => {
                self.check_really_missing(name)?;
                Ok(false)
            }
            Err(e) => Err(self.error(name, e)),
        }
    }

    fn list(&self) -> Result<Vec<String>, Error> {
        let mut names: Vec<String> = match self.which {
            #[cfg(target_os = "linux")]
            Store::Keyutils => self.list_keyutils()?,
            #[cfg(target_os = "linux")]
            Store::SecretService => self.list_secret_service()?,
            _ => {
                let spec = HashMap::from([("service", self.service.as_str())]);
                let found = self
                    .store()?
                    .search(&spec)
                    .map_err(|e| self.error("listing", e))?;
                found
                    .iter()
                    .filter_map(Entry::get_specifiers)
                    .filter(|(service, _)| *service == self.service)
                    .map(|(_, user)| user)
                    .collect()
            }
        };
        names.sort();
        names.dedup();
        Ok(names)
    }
}

/// An error's text on one line, control characters escaped.
fn one_line(e: &dyn std::fmt::Display) -> String {
    crate::process::sanitize(e.to_string().as_bytes())
}

impl KeychainBackend {
    /// [`Backend::get`] before the size check.
    fn get_unchecked(&self, name: &str) -> Result<Option<Vec<u8>>, Error> {
        #[cfg(target_os = "linux")]
        if let Some(read) = self.plain_read(name, true) {
            return read;
        }
        match self.entry(name)?.get_secret().map(Zeroizing::new) {
            Ok(bytes) if self.which == Store::SecretService => self.decode(name, &bytes).map(Some),
            Ok(mut bytes) => Ok(Some(std::mem::take(&mut *bytes))),
            Err(KError::NoEntry) => {
                self.check_really_missing(name)?;
                Ok(None)
            }
            Err(e) => Err(self.error(name, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_names_round_trip() {
        for s in [Store::SecretService, Store::Keyutils, Store::MacOs] {
            assert_eq!(Store::parse(s.name()), Some(s));
        }
        assert_eq!(Store::parse("gnome"), None);
        assert_eq!(Store::parse("windows"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn an_item_over_the_kernel_keyring_limit_is_refused_before_the_kernel_sees_it() {
        // Building the keyutils store makes no system call, so this needs no session keyring.
        let b = KeychainBackend::open(Store::Keyutils, "vault-unit").unwrap();
        let e = b.set("key.big", &vec![7u8; KEYUTILS_MAX + 1]).unwrap_err();
        assert!(e.to_string().contains("32767 bytes"), "{e}");
        assert!(e.to_string().contains("key.big"), "{e}");
    }

    #[test]
    fn a_bad_service_name_is_refused_before_any_connection() {
        let e = KeychainBackend::open(Store::SecretService, "a@b").unwrap_err();
        assert!(e.to_string().contains("service name"), "{e}");
    }
}
