//! Credentials ready to hand to a child or print: a stored key or an STS session.

use time::OffsetDateTime;

use crate::vault::item::{LongTermKey, Secret};

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

impl From<&LongTermKey> for Credentials {
    fn from(key: &LongTermKey) -> Self {
        Credentials {
            access_key_id: key.access_key_id.clone(),
            secret_access_key: key.secret_access_key.clone(),
            session_token: None,
            expiration: None,
        }
    }
}
