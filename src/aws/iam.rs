//! IAM access-key rotation (`vault rotate`): CreateAccessKey with the old key, then, once the
//! new key works, DeleteAccessKey of the old one, retrying while IAM propagates.

use std::time::Duration;

use super::sts::{sdk_credentials, sts_error, Sts};
use crate::creds::Credentials;
use crate::error::{Error, Result};
use crate::secret::Secret;

/// A freshly created access key.
#[derive(Debug)]
pub struct NewKey {
    /// The IAM user it belongs to.
    pub user: String,
    /// `AKIA...`
    pub access_key_id: String,
    /// Its secret.
    pub secret_access_key: Secret,
}

fn client(sts: &Sts, creds: &Credentials) -> aws_sdk_iam::Client {
    let conf = aws_sdk_iam::config::Builder::from(sts.sdk_config())
        .credentials_provider(sdk_credentials(creds))
        .build();
    aws_sdk_iam::Client::from_conf(conf)
}

/// GetUser (the caller, signed with the long-term key `old`: the policies that require MFA
/// for everything else allow it) then CreateAccessKey for that user, signed with `signer`
/// (`old` itself, or an MFA session made from it).
pub async fn create_key(sts: &Sts, old: &Credentials, signer: &Credentials) -> Result<NewKey> {
    let user = client(sts, old)
        .get_user()
        .send()
        .await
        .map_err(|e| sts_error("IAM GetUser", None, e))?
        .user
        .map(|u| u.user_name)
        .ok_or_else(|| Error::StsRefused("IAM GetUser returned no user".into()))?;
    let key = client(sts, signer)
        .create_access_key()
        .user_name(&user)
        .send()
        .await
        .map_err(|e| sts_error("IAM CreateAccessKey", None, e))?
        .access_key
        .ok_or_else(|| Error::StsRefused("IAM CreateAccessKey returned no key".into()))?;
    Ok(NewKey {
        user,
        access_key_id: key.access_key_id,
        secret_access_key: Secret::new(key.secret_access_key),
    })
}

/// Waits until `new` is accepted by STS (IAM is eventually consistent), then deletes the old
/// key, signed by `signer` (the new key, or the MFA session). Retries for about half a minute.
pub async fn retire_old_key(
    sts: &Sts,
    new: &Credentials,
    signer: &Credentials,
    user: &str,
    old_id: &str,
) -> Result<()> {
    let mut last = None;
    for attempt in 0..15 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        if let Err(e) = sts.caller_arn(new).await {
            tracing::info!("new key not usable yet (attempt {}): {e}", attempt + 1);
            last = Some(e);
            continue;
        }
        match client(sts, signer)
            .delete_access_key()
            .user_name(user)
            .access_key_id(old_id)
            .send()
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) => {
                let e = sts_error("IAM DeleteAccessKey", None, e);
                tracing::info!("deleting the old key failed (attempt {}): {e}", attempt + 1);
                last = Some(e);
            }
        }
    }
    Err(last.unwrap_or_else(|| Error::StsRefused("IAM DeleteAccessKey failed".into())))
}
