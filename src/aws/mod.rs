//! AWS: profiles, the provider chain and the sealed session cache.
//!
//! A command [`plan`]s a profile once: the SDK's parser reads the config (`profile.rs`), the
//! chain planner follows `source_profile` to a source (`chain.rs`), and [`region`] picks the
//! one region. [`resolve`] then walks the plan: answered from the sealed session cache
//! (`cache.rs`) when it can, else by STS (`sts.rs`) with MFA codes from `mfa.rs`, or by a
//! `credential_process` (`credential_process.rs`). `credentials_file.rs` edits the plaintext
//! `~/.aws/credentials` for `vault import`; `iam.rs` rotates keys.

pub mod cache;
pub mod chain;
pub mod credential_process;
pub mod credentials_file;
pub mod duration;
pub mod iam;
pub mod mfa;
pub mod profile;
pub mod sts;

use std::time::Duration;

use crate::creds::Credentials;
use crate::error::Result;
use crate::secret::Secret;
use crate::vault::{key_name, Unlocked};
use chain::{Chain, Walk};
use profile::Config;

/// How `exec`/`export` want their credentials.
#[derive(Debug, Default, Clone)]
pub struct Request {
    /// `--duration`: the last step's lifetime.
    pub duration: Option<Duration>,
    /// `--no-session`: use the long-term key directly (AssumeRole still runs for roles).
    pub no_session: bool,
    /// `--region`: overrides the profiles' region for STS and the child.
    pub region: Option<String>,
    /// `AWS_REGION`, else `AWS_DEFAULT_REGION`, from the environment vault was started in.
    pub env_region: Option<String>,
    /// Whether STS is not AWS's own (`AWS_ENDPOINT_URL_STS` / `AWS_ENDPOINT_URL`): an
    /// emulator may grant sessions shorter than AWS's 15 minutes.
    pub sts_endpoint_overridden: bool,
    /// Whether a sign-in may be started when an IAM Identity Center token cannot be
    /// refreshed (a terminal is there); else such a command fails at once (exit 79).
    pub interactive: bool,
}

/// The regions a command uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    /// What the child is given (`AWS_REGION`, `AWS_DEFAULT_REGION`); `None` leaves the
    /// child's own variables alone.
    pub child: Option<String>,
    /// What STS calls are signed for.
    pub sts: String,
}

/// The one region rule, for every command, as the SDKs resolve it: `--region`, else
/// `AWS_REGION` / `AWS_DEFAULT_REGION` (which the child keeps as the user set them), else the
/// profile's (for a chain, the requested profile's, else its nearest source's), else
/// us-east-1 for STS.
pub fn region(flag: Option<&str>, profile: Option<&str>, env: Option<&str>) -> Region {
    let sts = flag.or(env).or(profile).unwrap_or("us-east-1").to_owned();
    let child = match (flag, env) {
        (Some(flag), _) => Some(flag.to_owned()),
        (None, Some(_)) => None,
        (None, None) => profile.map(str::to_owned),
    };
    Region { child, sts }
}

/// A profile planned once per command: its chain, its region, what was asked for.
#[derive(Debug)]
pub struct Plan {
    profile: String,
    chain: Chain,
    request: Request,
    /// The regions the credentials are for.
    pub region: Region,
}

/// Plans `profile`: reads which profiles have a stored key (metadata, no decryption) and
/// follows the config to the chain's source.
pub fn plan(
    vault: &Unlocked<'_>,
    config: &Config,
    profile: &str,
    request: Request,
) -> Result<Plan> {
    let chain = config.chain(profile, &|p| vault.contains(&key_name(p)))?;
    if request.duration.is_some()
        && chain.roles.is_empty()
        && matches!(chain.source, chain::Source::Sso(_))
    {
        return Err(crate::error::Error::Usage(format!(
            "--duration does not apply to the IAM Identity Center profile {}: its permission set fixes the session length\n  hint: drop --duration",
            crate::sanitize(profile)
        )));
    }
    if let Some(d) = request.duration {
        duration::check(&chain, d, request.sts_endpoint_overridden)?;
    }
    let region = region(
        request.region.as_deref(),
        chain.region.as_deref(),
        request.env_region.as_deref(),
    );
    Ok(Plan {
        profile: profile.to_owned(),
        chain,
        request,
        region,
    })
}

impl Plan {
    /// Whether the plan hands out the stored long-term key itself (`--no-session` on a
    /// profile without a role): credentials without a session token.
    pub fn long_term_key_only(&self) -> bool {
        self.request.no_session
            && self.chain.roles.is_empty()
            && matches!(self.chain.source, chain::Source::StoredKey(_))
    }
}

/// Credentials for a profile, with the region the child should use.
#[derive(Debug)]
pub struct Resolved {
    /// The credentials.
    pub creds: Credentials,
    /// The region the child is given, if anything names one.
    pub region: Option<String>,
}

/// Resolves a plan to credentials: walks the chain, calls STS where the cache cannot answer,
/// and seals every new session. Warm, it reads the stored key's ciphertext and opens only the
/// last step's session. `mfa_token` is `--mfa-token`, used at most once.
pub async fn resolve(
    vault: &Unlocked<'_>,
    plan: &Plan,
    mfa_token: Option<Secret>,
) -> Result<Resolved> {
    let walk = Walk::new(vault, &plan.chain, &plan.request)?;
    let creds = match walk.warm()? {
        Some(creds) => creds,
        None => {
            let mut mfa = mfa::MfaSource {
                token: mfa_token,
                process: plan.chain.mfa_process.as_deref(),
            };
            walk.cold(&plan.profile, &plan.region.sts, &mut mfa).await?
        }
    };
    Ok(Resolved {
        creds,
        region: plan.region.child.clone(),
    })
}

#[cfg(test)]
mod tests;
