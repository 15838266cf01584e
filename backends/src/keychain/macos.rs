//! The `macos` store (macOS default): the login keychain, through keyring-core's
//! `apple-native-keyring-store`. Type-checked by CI (`scripts/check-targets.sh`), not
//! exercised by this project's tests.

use std::sync::Arc;

use keyring_core::CredentialStore;

use super::one_line;
use crate::Error;

/// keyring-core's store for the login keychain.
pub(super) fn build() -> Result<Arc<CredentialStore>, Error> {
    let store: Arc<CredentialStore> = apple_native_keyring_store::keychain::Store::new()
        .map_err(|e| Error::Other(format!("the macOS keychain: {}", one_line(&e))))?;
    Ok(store)
}
