//! `vault rotate PROFILE`: replace a stored long-term key with a new IAM access key.

use time::OffsetDateTime;

use crate::aws::profile::Config;
use crate::aws::{cache, iam, sts::Sts};
use crate::creds::Credentials;
use crate::error::{Error, Msg, Result};
use crate::vault::item::{Item, LongTermKey};
use crate::vault::{key_name, Busy};

use crate::settings::Settings;

/// Arguments of `vault rotate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The profile whose stored key to rotate.
    #[arg(value_parser = super::args::profile_name)]
    pub profile: String,
    /// The current MFA code, when the profile has an mfa_serial (else its mfa_process, else
    /// --prompt).
    #[arg(long, short = 't', value_name = "CODE")]
    pub mfa_token: Option<String>,
    /// How to ask for an MFA code: terminal, zenity, kdialog, osascript or ykman.
    #[arg(long, value_enum, value_name = "DRIVER")]
    pub prompt: Option<crate::aws::mfa::Prompt>,
}

/// Runs `vault rotate`: CreateAccessKey, store the new key, drop sessions made from the old
/// one, DeleteAccessKey on the old key (retrying while IAM propagates). With an mfa_serial
/// (the profile's or the key's), the IAM calls are signed with a short GetSessionToken
/// session made with MFA, since policies that require MFA for key management are common.
pub fn run(ctx: &Settings, mut args: Args) -> Result<()> {
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
        let region = crate::aws::region(None, profile_region.as_deref(), ctx.aws_region.as_deref());
        let sts = Sts::new(&args.profile, &region.sts).await;
        let settings = config.settings(&args.profile)?.unwrap_or_default();
        let serial = settings
            .mfa_serial
            .clone()
            .or_else(|| item.mfa_serial.clone());
        // With MFA: one session, made with the old key, signs the IAM calls of the old key
        // (CreateAccessKey, and DeleteAccessKey at the end).
        let signer = match &serial {
            None => None,
            Some(serial) => {
                let mut mfa = crate::aws::mfa::MfaSource {
                    token: args.mfa_token.take().map(crate::secret::Secret::new),
                    process: settings.mfa_process.as_deref(),
                    prompt: args.prompt.unwrap_or_default(),
                };
                let code = mfa.code(serial)?;
                let session = sts
                    .get_session_token(
                        &old,
                        900,
                        Some(crate::aws::sts::Mfa {
                            serial,
                            code: &code,
                        }),
                        args.profile.clone(),
                    )
                    .await?;
                tracing::info!("signing the IAM calls with an MFA session for {serial}");
                Some(Credentials::from(session))
            }
        };
        let new = iam::create_key(&sts, &old, signer.as_ref().unwrap_or(&old)).await?;
        let stored = LongTermKey {
            access_key_id: new.access_key_id.clone(),
            secret_access_key: new.secret_access_key.clone(),
            mfa_serial: item.mfa_serial.clone(),
            added: item.added,
            rotated: Some(OffsetDateTime::now_utc()),
        };
        unlocked.put(&name, &Item::key(stored)).map_err(|e| {
            Error::Other(Msg::hinted(
                format!(
                    "IAM created {} but storing it failed: {e}",
                    new.access_key_id
                ),
                "delete that key in IAM; the old key still works",
            ))
        })?;
        eprintln!(
            "vault: stored the new key {} for {}",
            new.access_key_id, args.profile
        );
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
            issued: None,
        };
        iam::retire_old_key(
            &sts,
            &new_creds,
            signer.as_ref().unwrap_or(&new_creds),
            &new.user,
            &old.access_key_id,
        )
        .await
        .map_err(|e| {
            Error::StsRefused(Msg::hinted(
                format!(
                    "the new key is stored, but deleting the old key {} failed: {e}",
                    old.access_key_id
                ),
                "delete it in the IAM console",
            ))
        })?;
        eprintln!("vault: deleted the old key {}", old.access_key_id);
        Ok(())
    })
}
