//! The one session cache: every STS result is sealed in the vault under a typed, versioned
//! [`CacheKey`], found again by [`lookup`], refreshed early by the [`fresh`] rule, made
//! through the one generic wrapper [`cached`], and dropped by [`prune_dead`] once it can never
//! be used again.

use std::collections::HashSet;
use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::vault::item::{Item, Session};
use crate::vault::{session_name, Busy, SessionId, Unlocked};

/// Early refresh: at least this long before expiry...
const MIN_MARGIN: Duration = Duration::from_secs(5 * 60);
/// ...or this fraction of the lifetime, whichever is larger (capped at half the lifetime).
const MARGIN_FRACTION: f64 = 0.10;

/// The typed, versioned key a cached session is stored under. Its JSON is kept inside the
/// sealed item too, so a name collision or a swapped file is a cache miss, not a wrong key.
///
/// Every key is computed from the config and the stored key's *ciphertext* (its SHA-256),
/// never from a decrypted item, so a warm run finds the last step's session without opening
/// the long-term key or the sessions before it. The fingerprint changes whenever the stored key
/// does (re-added, rotated, rekeyed), and it covers the key's own `mfa_serial`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CacheKey<'a> {
    pub v: u32,
    pub op: &'a str,
    pub profile: &'a str,
    /// What the credentials were made from: `key:<fingerprint>` of the stored key, the
    /// `credential_process` key id, or the digest of the step before.
    pub source: String,
    /// The config's MFA serial for this step (the stored key's own is in its fingerprint).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mfa_serial: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_session_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_identity: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub session_tags: &'a [(String, String)],
    /// GetRoleCredentials (IAM Identity Center): the account and the permission set's role;
    /// `source` is then `sso:<sso-session>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sso_account_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sso_role_name: Option<&'a str>,
}

/// The cache keys' version: 2 keys sessions by the stored key's fingerprint.
pub(crate) const CACHE_KEY_VERSION: u32 = 2;

impl CacheKey<'_> {
    pub fn text(&self) -> String {
        serde_json::to_string(self).expect("cache keys serialise")
    }
    /// `<profile>.<16 hex digits of SHA-256 of the key>`: readable in `vault list`, unique.
    pub fn id(&self) -> String {
        let digest = Sha256::digest(self.text().as_bytes());
        let hex = vault_backends::fs::hex(&digest[..8]);
        format!("{}.{hex}", self.profile)
    }
}

/// `key:` and 16 hex digits of a stored key's ciphertext's SHA-256: the `source` of the
/// sessions made from it.
pub(crate) fn key_fingerprint(ciphertext: &[u8]) -> String {
    let digest = Sha256::digest(ciphertext);
    format!("key:{}", vault_backends::fs::hex(&digest[..8]))
}

/// How long before expiry a holder that refreshes in the background renews at most
/// [`lead`] ahead of the margin: long enough for a slow STS or SSO answer and a few retries.
const MAX_LEAD: Duration = Duration::from_secs(2 * 60);

/// The early-refresh margin of a session that lives `lifetime`: [`MIN_MARGIN`] or
/// [`MARGIN_FRACTION`] of the lifetime, whichever is larger, capped at half the lifetime.
/// vault never hands out a session with less than this left.
pub fn margin(lifetime: Duration) -> Duration {
    MIN_MARGIN
        .max(lifetime.mul_f64(MARGIN_FRACTION))
        .min(lifetime / 2)
}

/// How much before the [`margin`] a holder that refreshes in the background (the endpoint of
/// `exec --server`) renews: half the time from issue to the margin, at most [`MAX_LEAD`], so
/// that the new session arrives while the old one still has more than the margin left.
pub fn lead(lifetime: Duration) -> Duration {
    (lifetime.saturating_sub(margin(lifetime)) / 2).min(MAX_LEAD)
}

/// Whether a session is still good, by the early-refresh rule: the time it has left, when
/// that is more than its [`margin`].
pub fn fresh(s: &Session, now: OffsetDateTime) -> Option<Duration> {
    fresh_ahead(s, now, false)
}

/// [`fresh`], and with `ahead` the session is due a [`lead`] earlier (what the background
/// refresh of `exec --server` asks for).
pub fn fresh_ahead(s: &Session, now: OffsetDateTime, ahead: bool) -> Option<Duration> {
    let lifetime = s.expiration - s.issued;
    if lifetime <= time::Duration::ZERO {
        return None;
    }
    let lifetime: Duration = lifetime.try_into().unwrap_or_default();
    let due = margin(lifetime)
        + if ahead {
            lead(lifetime)
        } else {
            Duration::ZERO
        };
    let left = s.expiration - now;
    (left > due).then(|| left.try_into().unwrap_or_default())
}

/// Slack for [`lookup`]'s `max_left`: STS's clock and ours.
const CLOCK_SLACK: Duration = Duration::from_secs(60);

/// A fresh session sealed under `key`, if there is one (by [`fresh_ahead`]'s rule with
/// `ahead`); says which on `-v` when `quiet` is false. With `max_left` (an explicit `--duration`), a session that would outlive
/// it is a miss: whoever asks for short-lived credentials never gets long ones. A broken
/// backend is an error, never a silent miss (aws-vault's mistake); an unreadable item is a
/// miss that the refresh replaces.
pub(crate) fn lookup(
    vault: &Unlocked<'_>,
    name: &str,
    key: &CacheKey<'_>,
    max_left: Option<Duration>,
    ahead: bool,
    quiet: bool,
) -> Result<Option<Session>> {
    let miss = match vault.get(name) {
        Ok(Some(Item {
            session: Some(s), ..
        })) if s.serves == key.text() => match fresh_ahead(&s, OffsetDateTime::now_utc(), ahead) {
            Some(left) if max_left.is_some_and(|max| left > max + CLOCK_SLACK) => format!(
                "cached session for {} outlives --duration ({} min left); calling {}",
                key.profile,
                left.as_secs() / 60,
                key.op
            ),
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

/// The generic cache wrapper: returns the sealed session under `key` if it is fresh (and
/// lives no longer than `max_left`, see [`lookup`]), else
/// calls `fetch`, seals the result and returns it, and whether it called (`ahead`: see
/// [`fresh_ahead`]). Holds the item's lock
/// across the refresh so that concurrent processes make one STS call between them.
pub(crate) async fn cached<F, Fut>(
    vault: &Unlocked<'_>,
    key: &CacheKey<'_>,
    max_left: Option<Duration>,
    ahead: bool,
    fetch: F,
) -> Result<(Session, bool)>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = Result<Session>>,
{
    let name = session_name(&key.id());
    let _lock = vault.lock(&name)?;
    if let Some(session) = lookup(vault, &name, key, max_left, ahead, false)? {
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
pub(crate) fn prune_dead(vault: &Unlocked<'_>, refreshed: &[&CacheKey<'_>]) {
    if refreshed.is_empty() {
        return;
    }
    let ids = match vault.vault().names() {
        Ok(names) => names.sessions,
        Err(e) => return tracing::debug!("not pruning old sessions: {e}"),
    };
    let keep: Vec<String> = refreshed.iter().map(|k| k.id()).collect();
    // Only the refreshed profiles' other sessions are candidates (and locked).
    let candidates = ids.into_iter().filter(|id| {
        refreshed.iter().any(|k| k.profile == id.profile())
            && !keep.iter().any(|k| k == id.as_str())
    });
    let now = OffsetDateTime::now_utc();
    let dead = |id: &SessionId| {
        Ok(match vault.get(&id.item_name()) {
            Ok(Some(Item {
                session: Some(s), ..
            })) => s.expiration <= now,
            Err(Error::Tampered { .. }) => true,
            _ => false,
        })
    };
    if let Err(e) = vault.vault().drop_sessions(Busy::Skip, candidates, dead) {
        tracing::debug!("not pruning old sessions: {e}");
    }
}

/// The sessions made, directly or through a chain of AssumeRole steps, from the stored key
/// whose ciphertext has `fingerprint` ([`key_fingerprint`]): what `vault rotate` drops. Opens
/// every session (each knows the key it serves); an unreadable one is left to [`prune_dead`].
pub(crate) fn sessions_made_from(
    vault: &Unlocked<'_>,
    fingerprint: &str,
) -> Result<HashSet<SessionId>> {
    #[derive(serde::Deserialize)]
    struct Served {
        source: String,
    }
    let mut made_from = vec![];
    for id in vault.vault().names()?.sessions {
        if let Ok(Some(Item {
            session: Some(s), ..
        })) = vault.get(&id.item_name())
        {
            if let Ok(served) = serde_json::from_str::<Served>(&s.serves) {
                made_from.push((id, served.source));
            }
        }
    }
    let mut sources: HashSet<String> = HashSet::from([fingerprint.to_owned()]);
    let mut doomed = HashSet::new();
    // Each pass adds the sessions made from the last pass's; a chain is a few steps long.
    loop {
        let before = doomed.len();
        for (id, source) in &made_from {
            if sources.contains(source) && doomed.insert(id.clone()) {
                sources.insert(id.as_str().to_owned());
            }
        }
        if doomed.len() == before {
            return Ok(doomed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

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
    fn refreshing_ahead_renews_a_lead_before_the_margin() {
        // 20 s: margin 10 s, lead 5 s (half the time from issue to the margin).
        let s = session(0, 20);
        assert_eq!(margin(Duration::from_secs(20)), Duration::from_secs(10));
        assert_eq!(lead(Duration::from_secs(20)), Duration::from_secs(5));
        assert!(fresh_ahead(&s, at(4), true).is_some());
        assert!(fresh_ahead(&s, at(6), true).is_none());
        assert!(fresh_ahead(&s, at(6), false).is_some());
        // 1 h: margin 6 min, lead capped at 2 min.
        assert_eq!(lead(Duration::from_secs(3600)), MAX_LEAD);
        let s = session(0, 3600);
        assert!(fresh_ahead(&s, at(3600 - 481), true).is_some());
        assert!(fresh_ahead(&s, at(3600 - 479), true).is_none());
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
            sso_account_id: None,
            sso_role_name: None,
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
