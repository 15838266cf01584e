//! `vault rotate PROFILE`: replace a stored long-term key with a new IAM access key.

use time::OffsetDateTime;

use crate::aws::profile::Config;
use crate::aws::{cache, iam, sts::Sts};
use crate::creds::Credentials;
use crate::error::{Error, Result};
use crate::vault::item::{Item, LongTermKey};
use crate::vault::{key_name, Busy};

use crate::settings::Settings;

/// Arguments of `vault rotate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The profile whose stored key to rotate.
    #[arg(value_parser = super::args::profile_name)]
    pub profile: String,
}

/// Runs `vault rotate`: CreateAccessKey, store the new key, drop sessions made from the old
/// one, DeleteAccessKey on the old key (retrying while IAM propagates).
pub fn run(ctx: &Settings, args: Args) -> Result<()> {
    let vault = crate::vault::Vault::open(ctx)?;
    let unlocked = crate::unlock::unlock(ctx, &vault)?;
    let name = key_name(&args.profile);
    let _lock = unlocked.lock(&name)?;
    let sealed = unlocked
        .get_sealed(&name)?
        .ok_or_else(|| Error::NoKey(args.profile.clone()))?;
    let item = unlocked
        .open(&name, &sealed)?
        .key
        .ok_or_else(|| Error::NoKey(args.profile.clone()))?;
    let old = Credentials::from(&item);
    let rt = super::runtime()?;
    rt.block_on(async {
        let config = Config::load().await?;
        let profile_region = config.settings(&args.profile)?.and_then(|s| s.region);
        let region = crate::aws::region(
            None,
            profile_region.as_deref(),
            ctx.aws_region.as_deref(),
        );
        let sts = Sts::new(&args.profile, &region.sts).await;
        let new = iam::create_key(&sts, &old).await?;
        let stored = LongTermKey {
            access_key_id: new.access_key_id.clone(),
            secret_access_key: new.secret_access_key.clone(),
            mfa_serial: item.mfa_serial.clone(),
            added: item.added,
            rotated: Some(OffsetDateTime::now_utc()),
        };
        unlocked.put(&name, &Item::key(stored)).map_err(|e| {
            Error::Other(format!(
                "IAM created {} but storing it failed: {e}\n  hint: delete that key in IAM; the old key still works",
                new.access_key_id
            ))
        })?;
        eprintln!("vault: stored the new key {} for {}", new.access_key_id, args.profile);
        // Sessions made from the old key are keyed by it and unreachable now: drop them, and
        // only them (other profiles' sessions stay good).
        let doomed = cache::sessions_made_from(&unlocked, &cache::key_fingerprint(&sealed))?;
        let dropped = vault.drop_sessions(Busy::Wait, doomed, |_| Ok(true))?;
        tracing::info!("dropped {dropped} cached sessions made from the old key");
        let new_creds = Credentials {
            access_key_id: new.access_key_id.clone(),
            secret_access_key: new.secret_access_key.clone(),
            session_token: None,
            expiration: None,
        };
        iam::retire_old_key(&sts, &new_creds, &new.user, &old.access_key_id)
            .await
            .map_err(|e| {
                Error::StsRefused(format!(
                    "the new key is stored, but deleting the old key {} failed: {e}\n  hint: delete it in the IAM console",
                    old.access_key_id
                ))
            })?;
        eprintln!("vault: deleted the old key {}", old.access_key_id);
        Ok(())
    })
}
