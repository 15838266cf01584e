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
pub mod federation;
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
    /// `--prompt`: how to ask for an MFA code.
    pub prompt: mfa::Prompt,
    /// Whether a sign-in may be started when an IAM Identity Center token cannot be
    /// refreshed (a terminal is there); else such a command fails at once (exit 79).
    pub interactive: bool,
    /// `exec --server`: the last step's session is due a [`cache::lead`] before the cache's
    /// margin, so the endpoint's background refresh gets new credentials while the ones it
    /// serves still have more than the margin left.
    pub refresh_ahead: bool,
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
                prompt: plan.request.prompt,
            };
            walk.cold(&plan.profile, &plan.region.sts, &mut mfa).await?
        }
    };
    Ok(Resolved {
        creds,
        region: plan.region.child.clone(),
    })
}

/// [`resolve`]'s warm half alone, with no async runtime: the credentials when the cache holds
/// them (the last step's session, or a stored key used as it is), else `None` and nothing
/// was called. The warm path of `exec` and `export` needs no runtime, thread or socket beyond
/// the agent's.
pub fn resolve_warm(vault: &Unlocked<'_>, plan: &Plan) -> Result<Option<Resolved>> {
    let walk = Walk::new(vault, &plan.chain, &plan.request)?;
    Ok(walk.warm()?.map(|creds| Resolved {
        creds,
        region: plan.region.child.clone(),
    }))
}

/// How the console takes a plan's credentials (`vault login`, DESIGN.md §5b).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleSource {
    /// Temporary role credentials, handed over as they are (cached while they have enough
    /// life left). `session_duration`: whether the federation endpoint takes
    /// `SessionDuration` for them, which it does only for a role assumed with an IAM user's
    /// credentials.
    AsTheyAre {
        /// Whether `SessionDuration` may be sent.
        session_duration: bool,
    },
    /// A plain stored IAM-user key: GetFederationToken first (the console refuses
    /// GetSessionToken output), which cannot carry MFA.
    FederationToken,
}

/// Credentials for the console, and the console session length to ask for.
#[derive(Debug)]
pub struct ConsoleCreds {
    /// Temporary credentials (they have a session token).
    pub creds: Credentials,
    /// `SessionDuration` for `getSigninToken`, where the endpoint takes it.
    pub session_duration: Option<u64>,
}

/// The session policy of a GetFederationToken for the console: everything, so the federated
/// user has exactly the permissions of the key itself (the intersection of the two), as
/// aws-vault does.
pub const FEDERATION_POLICY: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;

/// A cached role session with less life left than this is replaced for the console: the
/// console session ends with the credentials, and the sign-in URL alone is good for 15
/// minutes.
const CONSOLE_MIN_LEFT: Duration = Duration::from_secs(15 * 60);

impl Plan {
    /// How the console takes this plan's credentials. A new kind of source (SSO role
    /// credentials) is one more arm of the match below.
    pub fn console_source(&self) -> ConsoleSource {
        if !self.chain.roles.is_empty() {
            // A role assumed with another role's credentials (role chaining), or with a
            // credential_process's (which may be a role's), is limited to an hour and the
            // endpoint refuses SessionDuration for it.
            let from_a_user = self.chain.roles.len() == 1
                && matches!(self.chain.source, chain::Source::StoredKey(_));
            return ConsoleSource::AsTheyAre {
                session_duration: from_a_user,
            };
        }
        match &self.chain.source {
            chain::Source::StoredKey(_) => ConsoleSource::FederationToken,
            chain::Source::Process(_) => ConsoleSource::AsTheyAre {
                session_duration: false,
            },
            // IAM Identity Center role credentials, as they are: the permission set fixes
            // their length, and the endpoint takes no SessionDuration for them.
            chain::Source::Sso(_) => ConsoleSource::AsTheyAre {
                session_duration: false,
            },
        }
    }
}

/// Resolves a plan to credentials the console takes: a role's session as it is (a cached
/// one only with at least 15 minutes left), a `credential_process`'s temporary credentials,
/// or a GetFederationToken session made with the stored key (never cached). `mfa_token` is
/// `--mfa-token`.
pub async fn resolve_console(
    vault: &Unlocked<'_>,
    plan: &Plan,
    mfa_token: Option<Secret>,
) -> Result<ConsoleCreds> {
    match plan.console_source() {
        ConsoleSource::AsTheyAre { session_duration } => {
            let walk = Walk::new(vault, &plan.chain, &plan.request)?;
            let mut creds = walk.warm()?;
            if let (Some(c), Some(id)) = (&creds, walk.last_session()) {
                let left = c.expiration.map(|e| e - time::OffsetDateTime::now_utc());
                if left.is_some_and(|l| l < CONSOLE_MIN_LEFT) {
                    tracing::info!(
                        "the cached session for {} has less than {} min left; replacing it for the console",
                        plan.profile,
                        CONSOLE_MIN_LEFT.as_secs() / 60
                    );
                    vault
                        .vault()
                        .drop_sessions(crate::vault::Busy::Wait, [id], |_| Ok(true))?;
                    creds = None;
                }
            }
            let creds = match creds {
                Some(c) => c,
                None => {
                    let mut mfa = mfa::MfaSource {
                        token: mfa_token,
                        process: plan.chain.mfa_process.as_deref(),
                        prompt: plan.request.prompt,
                    };
                    walk.cold(&plan.profile, &plan.region.sts, &mut mfa).await?
                }
            };
            if creds.session_token.is_none() {
                return Err(crate::error::Error::Config(format!(
                    "the credential_process of {} gives long-term credentials (no session token), which the console does not take\n  hint: make it print temporary role credentials, or give the profile a role_arn so vault assumes a role with them",
                    crate::sanitize(&plan.profile)
                )));
            }
            let session_duration = match plan.request.duration {
                Some(d)
                    if session_duration && federation::SESSION_DURATION.contains(&d.as_secs()) =>
                {
                    Some(d.as_secs())
                }
                Some(_) if session_duration => {
                    tracing::info!("--duration is outside the console's 15 min to 12 h: not sending SessionDuration");
                    None
                }
                Some(_) => {
                    tracing::info!("not sending SessionDuration: the endpoint refuses it for a chained role or a role from a credential_process");
                    None
                }
                None => None,
            };
            Ok(ConsoleCreds {
                creds,
                session_duration,
            })
        }
        ConsoleSource::FederationToken => {
            let creds = federation_token(vault, plan).await?;
            Ok(ConsoleCreds {
                creds,
                session_duration: None,
            })
        }
    }
}

/// GetFederationToken with the plan's stored key, refused when the profile requires MFA.
async fn federation_token(vault: &Unlocked<'_>, plan: &Plan) -> Result<Credentials> {
    use crate::error::Error;
    let source = chain::source_settings(&plan.chain.source);
    let refuse_mfa = |serial: &str| {
        Error::Config(format!(
            "profile {} requires MFA ({}), but a console sign-in with a plain IAM-user key goes through GetFederationToken, which cannot carry MFA; vault does not drop MFA silently\n  hint: sign in as a role instead: a profile with role_arn, mfa_serial and source_profile = {}, then `vault login` that profile",
            crate::sanitize(&plan.profile),
            crate::sanitize(serial),
            crate::sanitize(&source.name)
        ))
    };
    if let Some(serial) = &plan.chain.mfa_serial {
        return Err(refuse_mfa(serial));
    }
    let key = vault
        .get(&key_name(&source.name))?
        .and_then(|item| item.key)
        .ok_or_else(|| Error::NoKey(source.name.clone()))?;
    if let Some(serial) = &key.mfa_serial {
        return Err(refuse_mfa(serial));
    }
    let duration = plan
        .request
        .duration
        .map_or(3600, |d| d.as_secs().min(i32::MAX as u64) as i32);
    let name = federated_name(&plan.profile);
    tracing::info!(
        "{} is a plain IAM-user key: calling GetFederationToken for federated user {name} (the console refuses GetSessionToken sessions)",
        plan.profile
    );
    let sts = sts::Sts::new(&plan.profile, &plan.region.sts).await;
    let session = sts
        .get_federation_token(&Credentials::from(&key), &name, FEDERATION_POLICY, duration)
        .await?;
    Ok(Credentials::from(session))
}

/// GetFederationToken's `Name` from a profile name: 2 to 32 of `[A-Za-z0-9+=,.@_-]`.
fn federated_name(profile: &str) -> String {
    let mut name: String = profile
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+=,.@_-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(32)
        .collect();
    if name.len() < 2 {
        name.insert_str(0, "vault-");
    }
    name
}

#[cfg(test)]
mod tests;
