//! AWS: profiles, the provider chain and the sealed session cache.
//!
//! A profile resolves to a chain (profile.rs): a source (a stored long-term key or a
//! `credential_process`), then roles. Credentials flow through providers like aws-vault's:
//! stored key -> GetSessionToken (with MFA, cached) -> AssumeRole (cached) -> AssumeRole ...
//! Every STS result goes through one generic cache wrapper (`cached`) that seals it in the
//! vault under a typed, versioned key and refreshes it early.

pub mod iam;
pub mod profile;
pub mod sts;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::creds::Credentials;
use crate::error::{Error, Result};
use crate::vault::item::{Item, LongTermKey, Secret, Session};
use crate::vault::{key_name, session_name, Unlocked};
use profile::{Chain, Config, Settings, Source};
use sts::{Mfa, Sts};

/// Early refresh: at least this long before expiry...
const MIN_MARGIN: Duration = Duration::from_secs(5 * 60);
/// ...or this fraction of the lifetime, whichever is larger (capped at half the lifetime).
const MARGIN_FRACTION: f64 = 0.10;

/// Defaults as aws-vault's.
const PLAIN_SESSION: i32 = 3600;
const SOURCE_SESSION: i32 = 8 * 3600;
const ROLE_SESSION: i32 = 3600;

/// How `exec`/`export` want their credentials.
#[derive(Debug, Default)]
pub struct Options {
    /// `--duration`: the last step's lifetime.
    pub duration: Option<Duration>,
    /// `--no-session`: use the long-term key directly (AssumeRole still runs for roles).
    pub no_session: bool,
    /// `--mfa-token`.
    pub mfa_token: Option<Secret>,
    /// `--region`: overrides the profiles' region for STS and the child.
    pub region: Option<String>,
}

/// Credentials for a profile, with the region the child should use.
#[derive(Debug)]
pub struct Resolved {
    /// The credentials.
    pub creds: Credentials,
    /// The region from the chain, if any profile sets one.
    pub region: Option<String>,
}

/// The typed, versioned key a cached session is stored under. Its JSON is kept inside the
/// sealed item too, so a name collision or a swapped file is a cache miss, not a wrong key.
///
/// Every key is computed from the config and the stored key's *ciphertext* (its SHA-256),
/// never from a decrypted item, so a warm run finds the last step's session without opening
/// the long-term key or the sessions before it. The fingerprint changes whenever the stored key
/// does (re-added, rotated, rekeyed), and it covers the key's own `mfa_serial`.
#[derive(Debug, Clone, Serialize)]
struct CacheKey<'a> {
    v: u32,
    op: &'a str,
    profile: &'a str,
    /// What the credentials were made from: `key:<fingerprint>` of the stored key, the
    /// `credential_process` key id, or the digest of the step before.
    source: String,
    /// The config's MFA serial for this step (the stored key's own is in its fingerprint).
    #[serde(skip_serializing_if = "Option::is_none")]
    mfa_serial: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    role_arn: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    role_session_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_identity: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    session_tags: &'a [(String, String)],
}

/// The cache keys' version: 2 keys sessions by the stored key's fingerprint.
const CACHE_KEY_VERSION: u32 = 2;

impl CacheKey<'_> {
    fn text(&self) -> String {
        serde_json::to_string(self).expect("cache keys serialise")
    }
    /// `<profile>.<16 hex digits of SHA-256 of the key>`: readable in `vault list`, unique.
    fn id(&self) -> String {
        let digest = Sha256::digest(self.text().as_bytes());
        let hex = vault_backends::fs::hex(&digest[..8]);
        format!("{}.{hex}", self.profile)
    }
}

/// Whether a session is still good, by the early-refresh rule.
pub fn fresh(s: &Session, now: OffsetDateTime) -> Option<Duration> {
    let lifetime = s.expiration - s.issued;
    if lifetime <= time::Duration::ZERO {
        return None;
    }
    let margin = MIN_MARGIN
        .max(Duration::from_secs_f64(
            lifetime.as_seconds_f64().max(0.0) * MARGIN_FRACTION,
        ))
        .min(Duration::from_secs_f64(
            lifetime.as_seconds_f64().max(0.0) / 2.0,
        ));
    let left = s.expiration - now;
    (left > margin).then(|| left.try_into().unwrap_or_default())
}

/// Where an MFA code comes from, asked at most once per command.
struct MfaSource<'a> {
    token: Option<Secret>,
    process: Option<&'a str>,
}

impl MfaSource<'_> {
    fn code(&mut self, serial: &str) -> Result<Secret> {
        if let Some(t) = self.token.take() {
            return Ok(t);
        }
        if let Some(cmd) = self.process {
            tracing::info!("running mfa_process for {serial}");
            let out = Command::new("/bin/sh")
                .arg("-c")
                .arg(cmd)
                .stdin(Stdio::null())
                .stderr(Stdio::inherit())
                .env_remove("VAULT_PASSPHRASE")
                .output()
                .map_err(|e| Error::Config(format!("running mfa_process: {e}")))?;
            if !out.status.success() {
                return Err(Error::Config(format!(
                    "mfa_process exited with {}\n  hint: check the command in the profile's mfa_process",
                    out.status
                )));
            }
            let code = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            return Ok(Secret::new(code));
        }
        match crate::passphrase::prompt_line(&format!("MFA code for {}: ", crate::sanitize(serial))) {
            Ok(code) if !code.is_empty() => Ok(Secret::new(code)),
            _ => Err(Error::Usage(format!(
                "an MFA code is needed for {serial} and there is no terminal to ask on\n  hint: pass --mfa-token CODE or set mfa_process in the profile"
            ))),
        }
    }
}

/// A fresh session sealed under `key`, if there is one; says which on `-v` when
/// `quiet` is false. A broken backend is an error, never a silent miss (aws-vault's mistake);
/// an unreadable item is a miss that the refresh replaces.
fn lookup(
    vault: &Unlocked<'_>,
    name: &str,
    key: &CacheKey<'_>,
    quiet: bool,
) -> Result<Option<Session>> {
    let miss = match vault.get(name) {
        Ok(Some(Item {
            session: Some(s), ..
        })) if s.serves == key.text() => match fresh(&s, OffsetDateTime::now_utc()) {
            Some(left) => {
                tracing::info!(
                    "using cached session for {}: {} min left",
                    key.profile,
                    left.as_secs() / 60
                );
                return Ok(Some(s));
            }
            None => format!(
                "cached session for {} expires too soon; refreshing with {}",
                key.profile, key.op
            ),
        },
        Ok(Some(_)) => format!(
            "cached item for {} serves another key; replacing it",
            key.profile
        ),
        Ok(None) => format!("no cached session for {}; calling {}", key.profile, key.op),
        // Worth a warning even without -v: something altered the vault.
        Err(Error::Tampered { item, detail }) => {
            if !quiet {
                tracing::warn!("cached session {item} is unreadable ({detail}); replacing it");
            }
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    if !quiet {
        tracing::info!("{miss}");
    }
    Ok(None)
}

/// The generic cache wrapper: returns the sealed session under `key` if it is fresh, else
/// calls `fetch`, seals the result and returns it, and whether it called. Holds the item's lock
/// across the refresh so that concurrent processes make one STS call between them.
async fn cached<F, Fut>(
    vault: &Unlocked<'_>,
    key: &CacheKey<'_>,
    fetch: F,
) -> Result<(Session, bool)>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = Result<Session>>,
{
    let name = session_name(&key.id());
    let _lock = vault.vault().backend().lock(&name)?;
    if let Some(session) = lookup(vault, &name, key, false)? {
        return Ok((session, false));
    }
    let session = fetch(key.text()).await?;
    vault.put(&name, &Item::session(session.clone()))?;
    Ok((session, true))
}

/// Drops the cached sessions of the profiles just `refreshed` that have expired or cannot be
/// read, other than the new ones: sessions made from a key since replaced, or under settings
/// since changed, are never used again and would otherwise stay until `vault clear`. Runs only
/// after STS calls (one listing for all of them), so a warm run never pays for it; skips a
/// session another process holds locked (it may be refreshing it), and only logs what it
/// cannot do.
fn prune_dead(vault: &Unlocked<'_>, refreshed: &[&CacheKey<'_>]) {
    if refreshed.is_empty() {
        return;
    }
    let ids = match vault.vault().names() {
        Ok(names) => names.sessions,
        Err(e) => return tracing::debug!("not pruning old sessions: {e}"),
    };
    let keep: Vec<String> = refreshed.iter().map(|k| k.id()).collect();
    let backend = vault.vault().backend();
    let now = OffsetDateTime::now_utc();
    for id in ids {
        let ours = id
            .rsplit_once('.')
            .is_some_and(|(p, _)| refreshed.iter().any(|k| k.profile == p));
        if !ours || keep.contains(&id) {
            continue;
        }
        let name = session_name(&id);
        let Ok(Some(_lock)) = backend.try_lock(&name) else {
            continue;
        };
        let dead = match vault.get(&name) {
            Ok(Some(Item {
                session: Some(s), ..
            })) => s.expiration <= now,
            Err(Error::Tampered { .. }) => true,
            _ => false,
        };
        if dead {
            match backend.remove(&name) {
                Ok(_) => tracing::info!("dropped the expired or unreadable session {id}"),
                Err(e) => tracing::debug!("could not drop session {id}: {e}"),
            }
        }
    }
}

fn session_creds(s: Session) -> Credentials {
    Credentials {
        access_key_id: s.access_key_id,
        secret_access_key: s.secret_access_key,
        session_token: Some(s.session_token),
        expiration: Some(s.expiration),
    }
}

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
    /// `key:` and 16 hex digits of the ciphertext's SHA-256.
    fn fingerprint(&self) -> String {
        let digest = Sha256::digest(&self.ciphertext);
        format!("key:{}", vault_backends::fs::hex(&digest[..8]))
    }

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
    duration: i32,
}

/// Resolves `profile` to credentials: walks the chain, calls STS where the cache cannot
/// answer, and seals every new session. Warm, it reads the stored key's ciphertext and opens
/// only the last step's session.
pub async fn resolve(
    vault: &Unlocked<'_>,
    config: &Config,
    profile: &str,
    opts: Options,
) -> Result<Resolved> {
    let backend = vault.vault().backend();
    let has_key = |p: &str| Ok(backend.contains(&key_name(p))?);
    let chain: Chain = config.chain(profile, &has_key)?;
    let region = opts.region.clone().or_else(|| chain.region.clone());
    let sts_region = region
        .clone()
        .or_else(|| std::env::var("AWS_REGION").ok())
        .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
        .unwrap_or_else(|| "us-east-1".into());
    let mut mfa = MfaSource {
        token: opts.mfa_token,
        process: chain.mfa_process.as_deref(),
    };
    let last_duration = opts.duration.map(secs);
    // Made on first use: a warm run answered from the cache never loads the SDK's config.
    let sts_cell = tokio::sync::OnceCell::<Sts>::new();
    let sts = || sts_cell.get_or_init(|| Sts::new(profile, &sts_region));

    // The source, and the steps: every cache key is known before any session is opened.
    let mut stored = None;
    let mut creds = None;
    let mut steps = vec![];
    let mut source_id = match &chain.source {
        Source::Process(s) => {
            tracing::info!("using credential_process of {}", s.name);
            let c = credential_process(s)?;
            let id = c.access_key_id.clone();
            creds = Some(c);
            id
        }
        Source::StoredKey(s) => {
            let name = key_name(&s.name);
            let ciphertext = backend
                .get(&name)?
                .ok_or_else(|| Error::NoKey(s.name.clone()))?;
            let key = stored.insert(StoredKey {
                vault,
                profile: &s.name,
                name,
                ciphertext,
                item: std::cell::OnceCell::new(),
            });
            let fingerprint = key.fingerprint();
            if opts.no_session {
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
                    },
                    role: None,
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
            // Sent on the first AssumeRole only when no MFA'd session comes before it; which
            // one did is in the source's digest.
            mfa_serial: (i == 0)
                .then(|| chain.mfa_serial.as_deref().or(role.mfa_serial.as_deref()))
                .flatten(),
            role_arn: role.role_arn.as_deref(),
            external_id: role.external_id.as_deref(),
            role_session_name: role.role_session_name.as_deref(),
            source_identity: role.source_identity.as_deref(),
            session_tags: &role.session_tags,
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
            duration: duration.unwrap_or(ROLE_SESSION),
        });
    }

    // Warm: the last step's session is all that is needed.
    if let Some(last) = steps.last() {
        let name = session_name(&last.key.id());
        if let Some(session) = lookup(vault, &name, &last.key, true)? {
            return Ok(Resolved {
                creds: session_creds(session),
                region,
            });
        }
    }

    // Cold: walk the steps, each answered from the cache or by STS. The long-term key is
    // decrypted only by a step that calls STS with it or must know its MFA serial.
    let after_session_token = steps.first().is_some_and(|s| s.role.is_none());
    let source_mfa = || -> Result<Option<String>> {
        match (&chain.mfa_serial, &stored) {
            (Some(serial), _) => Ok(Some(serial.clone())),
            (None, Some(key)) => Ok(key.item()?.mfa_serial.clone()),
            (None, None) => Ok(None),
        }
    };
    let mut refreshed = vec![];
    for step in &steps {
        let (mfa, known, source_key, source_mfa) = (&mut mfa, &creds, &stored, &source_mfa);
        let (session, called) = cached(vault, &step.key, move |serves| async move {
            let long_term;
            let from = match (known, source_key) {
                (Some(c), _) => c,
                (None, Some(key)) => {
                    long_term = Credentials::from(key.item()?);
                    &long_term
                }
                (None, None) => return Err(Error::NoKey(profile.to_owned())),
            };
            // GetSessionToken carries the source's MFA; the first AssumeRole carries its own
            // only when no MFA'd session comes before it (the key says which it may send).
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
                    let session_name = role.role_session_name.clone().unwrap_or_else(|| {
                        format!("vault-{}", OffsetDateTime::now_utc().unix_timestamp())
                    });
                    sts()
                        .await
                        .assume_role(from, role, &session_name, step.duration, m, serves)
                        .await
                }
            }
        })
        .await?;
        if called {
            refreshed.push(&step.key);
        }
        creds = Some(session_creds(session));
    }
    prune_dead(vault, &refreshed);
    let creds = creds.ok_or_else(|| Error::NoKey(profile.to_owned()))?;
    Ok(Resolved { creds, region })
}

/// Runs a profile's `credential_process` and parses its `Version: 1` JSON.
fn credential_process(s: &Settings) -> Result<Credentials> {
    let cmd = s.credential_process.as_deref().unwrap_or_default();
    let fail = |m: String| {
        Error::Config(format!(
            "credential_process of profile {:?}: {m}\n  hint: run the command by hand to see what it prints",
            s.name
        ))
    };
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .env_remove("VAULT_PASSPHRASE")
        .spawn()
        .map_err(|e| fail(e.to_string()))?;
    let mut out = zeroize::Zeroizing::new(Vec::new());
    child
        .stdout
        .take()
        .expect("piped")
        .take(1 << 20)
        .read_to_end(&mut out)
        .map_err(|e| fail(e.to_string()))?;
    let status = child.wait().map_err(|e| fail(e.to_string()))?;
    if !status.success() {
        return Err(fail(format!("it exited with {status}")));
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Out {
        version: u32,
        access_key_id: String,
        secret_access_key: Secret,
        session_token: Option<Secret>,
        #[serde(default, with = "time::serde::rfc3339::option")]
        expiration: Option<OffsetDateTime>,
    }
    let o: Out = serde_json::from_slice(&out)
        .map_err(|_| fail("it did not print the JSON Version 1 shape".into()))?;
    if o.version != 1 {
        return Err(fail(format!("unsupported Version {}", o.version)));
    }
    Ok(Credentials {
        access_key_id: o.access_key_id,
        secret_access_key: o.secret_access_key,
        session_token: o.session_token,
        expiration: o.expiration,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(issued: i64, exp: i64) -> Session {
        Session {
            access_key_id: "ASIA".into(),
            secret_access_key: Secret::new("s"),
            session_token: Secret::new("t"),
            expiration: OffsetDateTime::from_unix_timestamp(exp).unwrap(),
            issued: OffsetDateTime::from_unix_timestamp(issued).unwrap(),
            serves: String::new(),
            made_by: "GetSessionToken".into(),
        }
    }

    fn at(t: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(t).unwrap()
    }

    #[test]
    fn early_refresh_rule() {
        // 1 h: margin 6 min (10 %) > 5 min.
        let s = session(0, 3600);
        assert!(fresh(&s, at(3600 - 361)).is_some());
        assert!(fresh(&s, at(3600 - 359)).is_none());
        // 15 min: margin 5 min.
        let s = session(0, 900);
        assert!(fresh(&s, at(599)).is_some());
        assert!(fresh(&s, at(601)).is_none());
        // 20 s (a test emulator): margin capped at half the lifetime.
        let s = session(0, 20);
        assert!(fresh(&s, at(9)).is_some());
        assert!(fresh(&s, at(11)).is_none());
        // Expired, and nonsense (expiry before issue).
        assert!(fresh(&session(0, 10), at(20)).is_none());
        assert!(fresh(&session(100, 10), at(0)).is_none());
    }

    #[test]
    fn cache_keys_differ_by_everything_that_matters() {
        let base = CacheKey {
            v: CACHE_KEY_VERSION,
            op: "AssumeRole",
            profile: "p",
            source: "key:1".into(),
            mfa_serial: None,
            role_arn: Some("arn:a"),
            external_id: None,
            role_session_name: None,
            source_identity: None,
            session_tags: &[],
        };
        let other_source = CacheKey {
            source: "key:2".into(),
            ..base.clone()
        };
        let other_role = CacheKey {
            role_arn: Some("arn:b"),
            ..other_source.clone()
        };
        assert_ne!(
            base.id(),
            CacheKey {
                mfa_serial: Some("arn:mfa"),
                ..base.clone()
            }
            .id()
        );
        assert_ne!(other_source.id(), other_role.id());
        assert!(base.id().starts_with("p."));
    }
}
