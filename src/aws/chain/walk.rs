//! Walking a planned chain: each step a cached STS call, like aws-vault's providers (stored
//! key -> GetSessionToken with MFA -> AssumeRole ...). Every cache key is known before any
//! session is opened, so a warm run opens only the last step's session.

use std::time::Duration;

use time::OffsetDateTime;

use super::{Chain, Source};
use crate::aws::cache::{self, CacheKey, CACHE_KEY_VERSION};
use crate::aws::mfa::MfaSource;
use crate::aws::profile::Settings;
use crate::aws::sts::{Mfa, Sts};
use crate::aws::Request;
use crate::creds::Credentials;
use crate::error::{Error, Result};
use crate::vault::item::LongTermKey;
use crate::vault::{key_name, session_name, Unlocked};

/// Defaults as aws-vault's.
const PLAIN_SESSION: i32 = 3600;
const SOURCE_SESSION: i32 = 8 * 3600;
const ROLE_SESSION: i32 = 3600;

fn secs(d: Duration) -> i32 {
    d.as_secs().min(i32::MAX as u64) as i32
}

/// The long-term key a chain starts from: read at once (its ciphertext keys the cache),
/// decrypted only when an STS call or `--no-session` needs it.
struct StoredKey<'u, 'v> {
    vault: &'u Unlocked<'v>,
    profile: &'u str,
    name: String,
    ciphertext: Vec<u8>,
    item: std::cell::OnceCell<LongTermKey>,
}

impl StoredKey<'_, '_> {
    fn item(&self) -> Result<&LongTermKey> {
        if let Some(item) = self.item.get() {
            return Ok(item);
        }
        let key = self
            .vault
            .open(&self.name, &self.ciphertext)?
            .key
            .ok_or_else(|| Error::NoKey(self.profile.to_owned()))?;
        Ok(self.item.get_or_init(|| key))
    }
}

/// One cached STS call of a chain: GetSessionToken (no role) or AssumeRole.
struct Step<'a> {
    key: CacheKey<'a>,
    role: Option<&'a Settings>,
    /// GetRoleCredentials of an SSO profile (then `role` is `None`).
    sso: Option<&'a crate::sso::Profile>,
    duration: i32,
}

/// A planned chain as cached steps: the source, then one step per STS call.
pub(crate) struct Walk<'u, 'v> {
    vault: &'u Unlocked<'v>,
    chain: &'u Chain,
    stored: Option<StoredKey<'u, 'v>>,
    /// Credentials known before any step: a `credential_process`'s, or the stored key's
    /// under `--no-session`.
    creds: Option<Credentials>,
    steps: Vec<Step<'u>>,
    /// An explicit `--duration`: the last step's session may not outlive it.
    max_left: Option<Duration>,
    /// Whether the last step's session is due a lead before the margin (`exec --server`).
    ahead: bool,
    /// Whether an IAM Identity Center sign-in may be started.
    interactive: bool,
    /// `BROWSER`, for that sign-in.
    browser: Option<std::ffi::OsString>,
}

impl<'u, 'v> Walk<'u, 'v> {
    /// The steps of `chain`. Reads the stored key's ciphertext (not its plaintext) or runs the
    /// `credential_process`: what the first cache key is made from.
    pub fn new(vault: &'u Unlocked<'v>, chain: &'u Chain, request: &Request) -> Result<Self> {
        let last_duration = request.duration.map(secs);
        let mut stored = None;
        let mut creds = None;
        let mut steps = vec![];
        let mut source_id = match &chain.source {
            Source::Sso(s) => {
                let sso = s
                    .sso
                    .as_ref()
                    .ok_or_else(|| Error::NoProfile(s.name.clone()))?;
                let step = Step {
                    key: CacheKey {
                        v: CACHE_KEY_VERSION,
                        op: "GetRoleCredentials",
                        profile: &s.name,
                        source: format!("sso:{}", sso.session.name),
                        mfa_serial: None,
                        role_arn: None,
                        external_id: None,
                        role_session_name: None,
                        source_identity: None,
                        session_tags: &[],
                        sso_account_id: Some(&sso.account_id),
                        sso_role_name: Some(&sso.role_name),
                    },
                    role: None,
                    sso: Some(sso),
                    duration: 0,
                };
                let id = step.key.id();
                steps.push(step);
                id
            }
            Source::Process(s) => {
                tracing::info!("using credential_process of {}", s.name);
                let c = crate::aws::credential_process::run(s)?;
                let id = c.access_key_id.clone();
                creds = Some(c);
                id
            }
            Source::StoredKey(s) => {
                let name = key_name(&s.name);
                let ciphertext = vault
                    .get_sealed(&name)?
                    .ok_or_else(|| Error::NoKey(s.name.clone()))?;
                let fingerprint = cache::key_fingerprint(&ciphertext);
                let key = stored.insert(StoredKey {
                    vault,
                    profile: &s.name,
                    name,
                    ciphertext,
                    item: std::cell::OnceCell::new(),
                });
                if request.no_session {
                    tracing::info!("--no-session: using {}'s long-term key directly", s.name);
                    creds = Some(Credentials::from(key.item()?));
                    fingerprint
                } else {
                    let step = Step {
                        key: CacheKey {
                            v: CACHE_KEY_VERSION,
                            op: "GetSessionToken",
                            profile: &s.name,
                            source: fingerprint,
                            mfa_serial: chain.mfa_serial.as_deref(),
                            role_arn: None,
                            external_id: None,
                            role_session_name: None,
                            source_identity: None,
                            session_tags: &[],
                            sso_account_id: None,
                            sso_role_name: None,
                        },
                        role: None,
                        sso: None,
                        duration: if chain.roles.is_empty() {
                            last_duration.unwrap_or(PLAIN_SESSION)
                        } else {
                            SOURCE_SESSION
                        },
                    };
                    let id = step.key.id();
                    steps.push(step);
                    id
                }
            }
        };
        let n = chain.roles.len();
        for (i, role) in chain.roles.iter().enumerate() {
            let key = CacheKey {
                v: CACHE_KEY_VERSION,
                op: "AssumeRole",
                profile: &role.name,
                source: source_id,
                // Sent on the first AssumeRole only when no MFA'd session comes before it;
                // which one did is in the source's digest.
                mfa_serial: (i == 0)
                    .then(|| chain.mfa_serial.as_deref().or(role.mfa_serial.as_deref()))
                    .flatten(),
                role_arn: role.role_arn.as_deref(),
                external_id: role.external_id.as_deref(),
                role_session_name: role.role_session_name.as_deref(),
                source_identity: role.source_identity.as_deref(),
                session_tags: &role.session_tags,
                sso_account_id: None,
                sso_role_name: None,
            };
            source_id = key.id();
            let duration = if i + 1 == n {
                last_duration.or(role.duration_seconds)
            } else {
                role.duration_seconds
            };
            steps.push(Step {
                key,
                role: Some(role),
                sso: None,
                duration: duration.unwrap_or(ROLE_SESSION),
            });
        }
        Ok(Walk {
            vault,
            chain,
            stored,
            creds,
            steps,
            max_left: request.duration,
            ahead: request.refresh_ahead,
            interactive: request.interactive,
            browser: request.browser.clone(),
        })
    }

    /// The cached session of the last step (`vault login` drops it when it has too little
    /// life left for a console session), if the walk has steps.
    pub fn last_session(&self) -> Option<crate::vault::SessionId> {
        self.steps
            .last()
            .map(|s| crate::vault::SessionId::new(s.key.id()))
    }

    /// Warm: the last step's fresh session, when the cache has it, is all that is needed; a
    /// chain of no steps (`--no-session` on a stored key, a `credential_process`) has its
    /// credentials already and needs no runtime either.
    pub fn warm(&self) -> Result<Option<Credentials>> {
        let Some(last) = self.steps.last() else {
            return Ok(self.creds.clone());
        };
        let name = session_name(&last.key.id());
        Ok(cache::lookup(
            self.vault,
            &name,
            &last.key,
            self.max_left,
            self.ahead,
            true,
        )?
        .map(Credentials::from))
    }

    /// Cold: walks the steps, each answered from the cache or by STS (for `profile`'s
    /// endpoint, in `sts_region`). The long-term key is decrypted only by a step that calls
    /// STS with it or must know its MFA serial.
    pub async fn cold(
        self,
        profile: &str,
        sts_region: &str,
        mfa: &mut MfaSource<'_>,
    ) -> Result<Credentials> {
        let Walk {
            vault,
            chain,
            stored,
            mut creds,
            steps,
            max_left,
            ahead,
            interactive,
            browser,
        } = self;
        // Made on first use: a run answered from the cache never loads the SDK's config.
        let sts_cell = tokio::sync::OnceCell::<Sts>::new();
        let sts = || sts_cell.get_or_init(|| Sts::new(profile, sts_region));
        let after_session_token = steps.first().is_some_and(|s| s.role.is_none());
        let source_mfa = || -> Result<Option<String>> {
            match (&chain.mfa_serial, &stored) {
                (Some(serial), _) => Ok(Some(serial.clone())),
                (None, Some(key)) => Ok(key.item()?.mfa_serial.clone()),
                (None, None) => Ok(None),
            }
        };
        let mut refreshed = vec![];
        let last = steps.len().saturating_sub(1);
        for (i, step) in steps.iter().enumerate() {
            let (mfa, known, source_key, source_mfa) = (&mut *mfa, &creds, &stored, &source_mfa);
            let browser = browser.as_deref();
            let max_left = max_left.filter(|_| i == last);
            let ahead = ahead && i == last;
            let (session, called) = cache::cached(
                vault,
                &step.key,
                max_left,
                ahead,
                move |serves| async move {
                    if let Some(sso) = step.sso {
                        let need = crate::sso::token::Need {
                            session: &sso.session,
                            profile: step.key.profile,
                            interactive,
                            browser,
                        };
                        return crate::sso::token::role_credentials(
                            vault,
                            need,
                            &sso.account_id,
                            &sso.role_name,
                            serves,
                        )
                        .await;
                    }
                    let long_term;
                    let from = match (known, source_key) {
                        (Some(c), _) => c,
                        (None, Some(key)) => {
                            long_term = Credentials::from(key.item()?);
                            &long_term
                        }
                        (None, None) => return Err(Error::NoKey(profile.to_owned())),
                    };
                    // GetSessionToken carries the source's MFA; the first AssumeRole carries its
                    // own only when no MFA'd session comes before it (the key says which it may
                    // send).
                    let mfa_serial = match step.role {
                        None => source_mfa()?,
                        Some(_) => match step.key.mfa_serial {
                            Some(serial) if !(after_session_token && source_mfa()?.is_some()) => {
                                Some(serial.to_owned())
                            }
                            _ => None,
                        },
                    };
                    let code = match &mfa_serial {
                        Some(serial) => Some(mfa.code(serial)?),
                        None => None,
                    };
                    let m = mfa_serial
                        .as_deref()
                        .zip(code.as_ref())
                        .map(|(serial, code)| Mfa { serial, code });
                    match step.role {
                        None => {
                            sts()
                                .await
                                .get_session_token(from, step.duration, m, serves)
                                .await
                        }
                        Some(role) => {
                            let session_name =
                                role.role_session_name.clone().unwrap_or_else(|| {
                                    format!("vault-{}", OffsetDateTime::now_utc().unix_timestamp())
                                });
                            sts()
                                .await
                                .assume_role(from, role, &session_name, step.duration, m, serves)
                                .await
                        }
                    }
                },
            )
            .await?;
            if called {
                refreshed.push(&step.key);
            }
            creds = Some(Credentials::from(session));
        }
        cache::prune_dead(vault, &refreshed);
        creds.ok_or_else(|| Error::NoKey(profile.to_owned()))
    }
}
