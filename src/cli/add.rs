//! `vault add PROFILE [--env]`: store a long-term access key.

use time::OffsetDateTime;

use crate::error::{Error, Msg, Result};
use crate::passphrase;
use crate::secret::Secret;
use crate::vault::item::{Item, LongTermKey};
use crate::vault::key_name;

use crate::settings::Settings;

/// Arguments of `vault add`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The profile whose key this is.
    #[arg(value_parser = super::args::profile_name)]
    pub profile: String,
    /// Take the key from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY instead of prompting.
    #[arg(long)]
    pub env: bool,
    /// The MFA device (ARN or serial) to use with this key.
    #[arg(long, value_name = "ARN")]
    pub mfa_serial: Option<String>,
    /// Replace a different stored key without asking (needed without a terminal).
    #[arg(long, short)]
    pub force: bool,
}

/// Runs `vault add`.
pub fn run(ctx: &Settings, args: Args) -> Result<()> {
    let vault = crate::vault::Vault::open(ctx)?;
    vault.ensure_initialized()?;
    // The passphrase first: a wrong one must not throw away a key typed in already.
    let unlocked = crate::unlock::unlock(ctx, &vault)?;
    let (id, secret) = if args.env {
        let id = std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_default();
        let secret = std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_default();
        if id.is_empty() || secret.is_empty() {
            return Err(Error::Usage(
                "--env needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to be set".into(),
            ));
        }
        (id, Secret::new(secret))
    } else {
        let id = passphrase::prompt_line("Access key ID: ")?;
        let secret = passphrase::prompt_secret("Secret access key: ")?;
        (id, secret)
    };
    let id = id.trim().to_owned();
    let secret = Secret::new(secret.expose().trim());
    if let Some(field) = crate::creds::bad_stored_key(&id, secret.expose()) {
        return Err(Error::Usage(Msg::hinted(
            format!("the {field} does not look like an AWS one, so nothing was stored"),
            "the access key id is letters and digits, the secret base64 (A-Z a-z 0-9 + / =), each at most 128 characters",
        )));
    }
    let name = key_name(&args.profile);
    let _lock = vault.backend().lock(&name)?;
    let previous = unlocked.get(&name).ok().flatten().and_then(|i| i.key);
    if let Some(p) = &previous {
        if p.access_key_id != id {
            crate::passphrase::confirm(
                &format!(
                    "replace the stored key {} of {} with {}",
                    crate::sanitize(&p.access_key_id),
                    crate::sanitize(&args.profile),
                    crate::sanitize(&id)
                ),
                args.force,
            )?;
        }
    }
    let key = LongTermKey {
        access_key_id: id,
        secret_access_key: secret,
        mfa_serial: args
            .mfa_serial
            .or_else(|| previous.as_ref().and_then(|p| p.mfa_serial.clone())),
        added: OffsetDateTime::now_utc(),
        rotated: None,
    };
    unlocked.put(&name, &Item::key(key))?;
    eprintln!("vault: stored the key for {}", args.profile);
    Ok(())
}
