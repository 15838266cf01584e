//! AWS: profiles, the provider chain and the sealed session cache.
//!
//! A command [`plan`]s a profile once: the SDK's parser reads the config (`profile.rs`), the
//! chain planner follows `source_profile` to a source (`chain.rs`), and [`region`] picks the
//! one region. [`resolve`] then walks the plan: answered from the sealed session cache
//! (`cache.rs`) when it can, else by STS (`sts.rs`) with MFA codes from `mfa.rs`, or by a
//! `credential_process` (`credential_process.rs`). `credentials_file.rs` edits the plaintext
//! `~/.aws/credentials` for `vault import`; `iam.rs` rotates keys. `request.rs` holds what a
//! command asks for and the one region rule; `console.rs` and `federation.rs` serve `vault
//! login`.

pub mod cache;
pub mod chain;
mod console;
pub mod credential_process;
pub mod credentials_file;
pub mod duration;
pub mod federation;
pub mod iam;
pub mod mfa;
pub mod profile;
mod request;
pub mod sts;

pub use console::{resolve_console, ConsoleCreds, ConsoleSource, FEDERATION_POLICY};
pub use request::{region, Region, Request};

use crate::creds::Credentials;
use crate::error::{Msg, Result};
use crate::secret::Secret;
use crate::vault::{key_name, Unlocked};
use chain::{Chain, Walk};
use profile::Config;

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
        return Err(crate::error::Error::Usage(Msg::hinted(
            format!(
                "--duration does not apply to the IAM Identity Center profile {}: its permission set fixes the session length",
                crate::sanitize(profile),
            ),
            "drop --duration",
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
        None => cold(walk, plan, mfa_token).await?,
    };
    Ok(Resolved {
        creds,
        region: plan.region.child.clone(),
    })
}

/// The cold walk of `plan`, with its MFA sources (`mfa_token` is `--mfa-token`).
async fn cold(walk: Walk<'_, '_>, plan: &Plan, mfa_token: Option<Secret>) -> Result<Credentials> {
    let mut mfa = mfa::MfaSource {
        token: mfa_token,
        process: plan.chain.mfa_process.as_deref(),
        prompt: plan.request.prompt,
    };
    walk.cold(&plan.profile, &plan.region.sts, &mut mfa).await
}

/// [`resolve`]'s warm half alone, with no async runtime: the credentials when the cache holds
/// them (the last step's session, or a stored key used as it is), else `None` and nothing
/// was called. The warm path of `exec` and `export` needs no runtime, thread or socket beyond
/// the agent's.
/// Whether resolving this plan runs a program of the user's (a `credential_process`) even
/// when the session cache answers: the agent's warm path never does (issue 17).
pub fn runs_program(plan: &Plan) -> bool {
    matches!(plan.chain.source, chain::Source::Process(_))
}

pub fn resolve_warm(vault: &Unlocked<'_>, plan: &Plan) -> Result<Option<Resolved>> {
    let walk = Walk::new(vault, &plan.chain, &plan.request)?;
    Ok(walk.warm()?.map(|creds| Resolved {
        creds,
        region: plan.region.child.clone(),
    }))
}

#[cfg(test)]
mod tests;
