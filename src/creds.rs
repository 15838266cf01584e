//! Credentials ready to hand to a child or print: a stored key or an STS session.

use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::vault::item::Secret;
use crate::vault::{key_name, Unlocked};

/// AWS credentials. `Debug` redacts the secrets.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// `AKIA...` or `ASIA...`.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: Secret,
    /// Session token, for temporary credentials.
    pub session_token: Option<Secret>,
    /// Expiry, for temporary credentials.
    pub expiration: Option<OffsetDateTime>,
}

/// The long-term key stored for `profile`.
pub fn stored_key(vault: &Unlocked<'_>, profile: &str) -> Result<Credentials> {
    let name = key_name(profile);
    let item = vault
        .get(&name)?
        .ok_or_else(|| Error::NoKey(profile.into()))?;
    let key = item.key.ok_or_else(|| Error::Tampered {
        item: name,
        detail: "it holds a session, not a key".into(),
    })?;
    Ok(Credentials {
        access_key_id: key.access_key_id,
        secret_access_key: key.secret_access_key,
        session_token: None,
        expiration: None,
    })
}
