//! Item types: the versioned plaintext sealed inside each age file.
//!
//! `{"v":2,"name":"key.prod","kind":"long-term-key","key":{...}}` or
//! `{"v":2,"name":"session.prod.<digest>","kind":"session","session":{...}}`.
//! The shape is a plain struct (not a serde-tagged enum) so that deserialising never buffers
//! secret strings into intermediate copies, and unknown fields are refused.
//!
//! Since v2 every item carries the name it was sealed as (which says its kind too), inside
//! the authenticated plaintext: a file copied over another item's (`key.prod.age` over
//! `key.dev.age`) is refused instead of serving the wrong key (issue 13, point 3). v1 items
//! (no name) still open and are rebound on their next write.
//!
//! Since v3 every item also carries the generation of the slot it was sealed under
//! (`"generation":N`, issue 13, point 4): an item older than the identity opening it is
//! refused. v1 and v2 items read as generation 0 and are rewritten as v3 on their next write
//! (and by `vault rekey`).

use serde::{Deserialize, Serialize};

use crate::secret::Secret;
use time::OffsetDateTime;
use zeroize::Zeroizing;

/// The plaintext format version this build writes.
pub const VERSION: u32 = 3;

/// The oldest format this build still reads (v1: not bound to its name).
pub const OLDEST: u32 = 1;

/// What an item holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// An IAM user's access key.
    LongTermKey,
    /// Temporary STS credentials.
    Session,
    /// An IAM Identity Center sso-session's tokens and client registration.
    SsoToken,
}

/// A stored long-term IAM access key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LongTermKey {
    /// `AKIA...`
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: Secret,
    /// MFA device for GetSessionToken, when the key's owner must use one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_serial: Option<String>,
    /// When the key was added to the vault.
    #[serde(with = "time::serde::rfc3339")]
    pub added: OffsetDateTime,
    /// When the key was last rotated by `vault rotate`.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub rotated: Option<OffsetDateTime>,
}

/// Cached temporary credentials from STS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Session {
    /// `ASIA...`
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: Secret,
    /// The session token.
    pub session_token: Secret,
    /// When the credentials expire.
    #[serde(with = "time::serde::rfc3339")]
    pub expiration: OffsetDateTime,
    /// When STS issued them (for the early-refresh rule).
    #[serde(with = "time::serde::rfc3339")]
    pub issued: OffsetDateTime,
    /// The cache key this session serves, as text (not secret).
    pub serves: String,
    /// The STS call that made it: `GetSessionToken` or `AssumeRole`.
    pub made_by: String,
}

/// An IAM Identity Center sso-session's OIDC tokens and the client registration that made
/// them (what the SDKs keep in plaintext `~/.aws/sso/cache/<sha1>.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsoToken {
    /// The sso-session's start URL (not secret), so a token is never used for another.
    pub start_url: String,
    /// The OIDC region.
    pub region: String,
    /// The access token (the portal's bearer token).
    pub access_token: Secret,
    /// When the access token expires.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// When it was issued (for the early-refresh rule).
    #[serde(with = "time::serde::rfc3339")]
    pub issued: OffsetDateTime,
    /// The refresh token, when the grant gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<Secret>,
    /// The registered OIDC client's id.
    pub client_id: String,
    /// The registered client's secret.
    pub client_secret: Secret,
    /// When the client registration expires.
    #[serde(with = "time::serde::rfc3339")]
    pub client_secret_expires_at: OffsetDateTime,
    /// The grant the client was registered for (`authorization_code` or the device code).
    pub client_grant: String,
}

/// One vault item: a version, a kind, and the matching body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    /// Plaintext format version.
    pub v: u32,
    /// The item name it was sealed as (v2 on; none in v1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The slot generation it was sealed under (v3 on; none before, read as 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<u64>,
    /// Which body is present.
    pub kind: Kind,
    /// For `long-term-key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<LongTermKey>,
    /// For `session`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<Session>,
    /// For `sso-token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sso_token: Option<SsoToken>,
}

/// Why a plaintext is not a valid item.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ItemError(String);

impl Item {
    /// A long-term key item.
    pub fn key(key: LongTermKey) -> Self {
        Item {
            v: VERSION,
            name: None,
            generation: None,
            kind: Kind::LongTermKey,
            key: Some(key),
            session: None,
            sso_token: None,
        }
    }

    /// A session item.
    pub fn session(session: Session) -> Self {
        Item {
            v: VERSION,
            name: None,
            generation: None,
            kind: Kind::Session,
            key: None,
            session: Some(session),
            sso_token: None,
        }
    }

    /// An sso-session's token item.
    pub fn sso_token(token: SsoToken) -> Self {
        Item {
            v: VERSION,
            name: None,
            generation: None,
            kind: Kind::SsoToken,
            key: None,
            session: None,
            sso_token: Some(token),
        }
    }

    /// This item as it is written under `name` by an identity of `generation`: the current
    /// format, bound to that name and generation.
    pub fn bound(&self, name: &str, generation: u64) -> Item {
        Item {
            v: VERSION,
            name: Some(name.to_owned()),
            generation: Some(generation),
            ..self.clone()
        }
    }

    /// The generation it was sealed under (0 before v3).
    pub fn generation(&self) -> u64 {
        self.generation.unwrap_or(0)
    }

    /// Checks that the item was sealed as `name` (a v1 item names nothing and passes).
    pub fn check_name(&self, name: &str) -> Result<(), ItemError> {
        match &self.name {
            Some(sealed) if sealed != name => Err(ItemError(format!(
                "it holds the item sealed as {sealed:?}, not {name:?} (another item's file was copied over it)"
            ))),
            _ => Ok(()),
        }
    }

    /// A plaintext read as `name`, rewritten in the current format for `generation` (a v1
    /// item is bound to `name` as it goes; a bound one keeps its name, so a copied file
    /// stays detectable); a plaintext this build does not read is returned unchanged.
    pub fn rebind(
        name: &str,
        plaintext: Zeroizing<Vec<u8>>,
        generation: u64,
    ) -> Zeroizing<Vec<u8>> {
        match Item::from_bytes(&plaintext) {
            Ok(item) => {
                let sealed_as = item.name.clone().unwrap_or_else(|| name.to_owned());
                item.bound(&sealed_as, generation).to_bytes()
            }
            _ => plaintext,
        }
    }

    /// Serialises into a buffer that is zeroed on drop.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(4096));
        serde_json::to_writer(&mut *out, self).expect("items always serialise");
        out
    }

    /// Parses and checks a plaintext: known version, body matching the kind.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ItemError> {
        let item: Item =
            serde_json::from_slice(bytes).map_err(|e| ItemError(format!("bad item: {e}")))?;
        if !(OLDEST..=VERSION).contains(&item.v) {
            return Err(ItemError(format!(
                "item format v{} is not supported by this vault (v{VERSION}); upgrade vault",
                item.v
            )));
        }
        if item.name.is_some() != (item.v >= 2) {
            return Err(ItemError(format!(
                "bad item: a v{} item {} its name",
                item.v,
                if item.v >= 2 {
                    "must carry"
                } else {
                    "cannot carry"
                }
            )));
        }
        let ok = match item.kind {
            Kind::LongTermKey => {
                item.key.is_some() && item.session.is_none() && item.sso_token.is_none()
            }
            Kind::Session => {
                item.session.is_some() && item.key.is_none() && item.sso_token.is_none()
            }
            Kind::SsoToken => {
                item.sso_token.is_some() && item.key.is_none() && item.session.is_none()
            }
        };
        if item.generation.is_some() != (item.v >= 3) {
            return Err(ItemError(format!(
                "bad item: a v{} item {} its generation",
                item.v,
                if item.v >= 3 {
                    "must carry"
                } else {
                    "cannot carry"
                }
            )));
        }
        if !ok {
            return Err(ItemError("bad item: body does not match its kind".into()));
        }
        Ok(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Item {
        Item::key(LongTermKey {
            access_key_id: "AKIAEXAMPLE".into(),
            secret_access_key: Secret::new("s3cr3t-canary"),
            mfa_serial: Some("arn:aws:iam::123456789012:mfa/me".into()),
            added: OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
            rotated: None,
        })
    }

    #[test]
    fn round_trip() {
        let item = sample().bound("key.p", 2);
        let bytes = item.to_bytes();
        assert!(bytes.starts_with(
            br#"{"v":3,"name":"key.p","generation":2,"kind":"long-term-key","key":{"#
        ));
        assert_eq!(Item::from_bytes(&bytes).unwrap(), item);
        assert!(item.check_name("key.p").is_ok());
        assert!(item.check_name("key.q").is_err());
    }

    #[test]
    fn v1_items_open_unbound_and_are_rebound() {
        let v1 = String::from_utf8(sample().bound("key.p", 2).to_bytes().to_vec())
            .unwrap()
            .replace(r#""v":3,"name":"key.p","generation":2,"#, r#""v":1,"#);
        let item = Item::from_bytes(v1.as_bytes()).unwrap();
        assert_eq!((item.v, item.name.as_deref()), (1, None));
        assert!(item.check_name("key.anything").is_ok());
        let again = Item::rebind("key.p", Zeroizing::new(v1.into_bytes()), 5);
        let again = Item::from_bytes(&again).unwrap();
        assert_eq!((again.v, again.name.as_deref()), (3, Some("key.p")));
        assert_eq!(again.generation(), 5);
        // A v2 item (bound, no generation) reads as generation 0 and keeps its name.
        let v2 = String::from_utf8(sample().bound("key.q", 2).to_bytes().to_vec())
            .unwrap()
            .replace(
                r#""v":3,"name":"key.q","generation":2,"#,
                r#""v":2,"name":"key.q","#,
            );
        let item = Item::from_bytes(v2.as_bytes()).unwrap();
        assert_eq!((item.v, item.generation()), (2, 0));
        let again = Item::rebind("key.p", Zeroizing::new(v2.into_bytes()), 1);
        let again = Item::from_bytes(&again).unwrap();
        assert_eq!(
            (again.name.as_deref(), again.generation()),
            (Some("key.q"), 1)
        );
    }

    #[test]
    fn debug_redacts_secrets() {
        let dbg = format!("{:?}", sample());
        assert!(!dbg.contains("s3cr3t-canary"), "{dbg}");
        assert!(dbg.contains("[REDACTED]"));
    }

    #[test]
    fn refuses_wrong_version_kind_mismatch_and_unknown_fields() {
        let good = String::from_utf8(sample().bound("key.p", 2).to_bytes().to_vec()).unwrap();
        for bad in [
            good.replace(r#""v":3"#, r#""v":4"#),
            good.replace(r#""v":3"#, r#""v":2"#),
            good.replace(r#""v":3"#, r#""v":1"#),
            good.replace(r#""generation":2,"#, ""),
            good.replace(r#""name":"key.p","#, ""),
            good.replace("long-term-key", "session"),
            good.replace(r#""added""#, r#""extra":1,"added""#),
            good.replace(r#""v":3,"#, ""),
        ] {
            assert!(Item::from_bytes(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn sso_tokens_round_trip_and_redact() {
        let t = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let item = Item::sso_token(SsoToken {
            start_url: "https://x.awsapps.com/start".into(),
            region: "eu-west-1".into(),
            access_token: Secret::new("access-canary"),
            expires_at: t,
            issued: t,
            refresh_token: Some(Secret::new("refresh-canary")),
            client_id: "cid".into(),
            client_secret: Secret::new("client-canary"),
            client_secret_expires_at: t,
            client_grant: "authorization_code".into(),
        });
        // As written: bound to its name.
        let item = item.bound("sso.corp", 2);
        let bytes = item.to_bytes();
        let head = format!(
            r#"{{"v":{VERSION},"name":"sso.corp","generation":2,"kind":"sso-token","sso_token":{{"#
        );
        assert!(
            bytes.starts_with(head.as_bytes()),
            "{}",
            String::from_utf8_lossy(&bytes)
        );
        assert_eq!(Item::from_bytes(&bytes).unwrap(), item);
        let dbg = format!("{item:?}");
        assert!(!dbg.contains("canary"), "{dbg}");
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        assert!(Item::from_bytes(text.replace("sso-token", "session").as_bytes()).is_err());
    }

    proptest! {
        #[test]
        fn parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Item::from_bytes(&bytes);
        }

        #[test]
        fn keys_round_trip(id in "[A-Z0-9]{16,20}", secret in "\\PC{1,60}", mfa in proptest::option::of("[ -~]{1,40}"), ts in 0i64..4_000_000_000) {
            let item = Item::key(LongTermKey {
                access_key_id: id, secret_access_key: Secret::new(secret), mfa_serial: mfa,
                added: OffsetDateTime::from_unix_timestamp(ts).unwrap(), rotated: None });
            let item = item.bound("key.p", 2);
            prop_assert_eq!(Item::from_bytes(&item.to_bytes()).unwrap(), item);
        }
    }
}
