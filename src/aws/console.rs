//! Credentials for the AWS console (`vault login`, DESIGN.md §5b): which credentials the
//! federation endpoint takes for a plan, and GetFederationToken for a plain IAM-user key.

use std::time::Duration;

use super::chain::{self, Walk};
use super::{federation, sts, Plan};
use crate::creds::Credentials;
use crate::error::{Msg, Result};
use crate::secret::Secret;
use crate::vault::{key_name, Unlocked};

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
                None => super::cold(walk, plan, mfa_token).await?,
            };
            if creds.session_token.is_none() {
                return Err(crate::error::Error::Config(Msg::hinted(
                    format!(
                        "the credential_process of {} gives long-term credentials (no session token), which the console does not take",
                        crate::sanitize(&plan.profile),
                    ),
                    "make it print temporary role credentials, or give the profile a role_arn so vault assumes a role with them",
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
        Error::Config(Msg::hinted(
            format!(
                "profile {} requires MFA ({}), but a console sign-in with a plain IAM-user key goes through GetFederationToken, which cannot carry MFA; vault does not drop MFA silently",
                crate::sanitize(&plan.profile),
                crate::sanitize(serial),
            ),
            format!(
                "sign in as a role instead: a profile with role_arn, mfa_serial and source_profile = {}, then `vault login` that profile",
                crate::sanitize(&source.name),
            ),
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
pub(super) fn federated_name(profile: &str) -> String {
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
