//! Credentials ready to hand to a child or print: a stored key or an STS session.

use time::OffsetDateTime;

use crate::secret::Secret;
use crate::vault::item::{LongTermKey, Session};

/// AWS credentials. `Debug` redacts the secrets.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// `AKIA...` or `ASIA...`.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: Secret,
    /// Session token, for temporary credentials.
    pub session_token: Option<Secret>,
    /// Expiry, for temporary credentials.
    pub expiration: Option<OffsetDateTime>,
    /// When they were issued, for an STS (or SSO) session: with the expiry, its lifetime,
    /// which sets its early-refresh margin (`aws::cache::margin`).
    pub issued: Option<OffsetDateTime>,
}

impl From<Session> for Credentials {
    fn from(s: Session) -> Self {
        Credentials {
            access_key_id: s.access_key_id,
            secret_access_key: s.secret_access_key,
            session_token: Some(s.session_token),
            expiration: Some(s.expiration),
            issued: Some(s.issued),
        }
    }
}

impl From<&LongTermKey> for Credentials {
    fn from(key: &LongTermKey) -> Self {
        Credentials {
            access_key_id: key.access_key_id.clone(),
            secret_access_key: key.secret_access_key.clone(),
            session_token: None,
            expiration: None,
            issued: None,
        }
    }
}

/// The longest access key id / secret / session token vault accepts from STS or a
/// `credential_process` (AWS's are 20, 40 and about 1 to 2 KiB characters).
const MAX_ID: usize = 128;
const MAX_TOKEN: usize = 16 * 1024;

/// Checks credentials from outside vault (an STS answer, a `credential_process`'s output)
/// against the characters AWS uses: the access key id `[A-Z0-9]`, the secret and the token
/// base64 `[A-Za-z0-9+/=]`. Returns the name of the first field that does not fit, so a
/// hostile endpoint cannot smuggle `$(...)`, quotes or newlines into `export` or a log.
pub fn bad_field(id: &str, secret: &str, token: Option<&str>) -> Option<&'static str> {
    let base64 = |s: &str| {
        !s.is_empty()
            && s.len() <= MAX_TOKEN
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
    };
    let id_ok = (16..=MAX_ID).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if !id_ok {
        Some("AccessKeyId")
    } else if !base64(secret) {
        Some("SecretAccessKey")
    } else if !token.is_none_or(base64) {
        Some("SessionToken")
    } else {
        None
    }
}

/// Checks a long-term key given to `vault add` or found by `vault import`: the access key id
/// letters and digits, the secret base64 or base64url (`[A-Za-z0-9+/=_-]`), each at most 128
/// characters. Looser than [`bad_field`] (test keys are short), but nothing a shell, an INI
/// file or a terminal reads as more than data. Returns the first field that does not fit.
pub fn bad_stored_key(id: &str, secret: &str) -> Option<&'static str> {
    let fits = |s: &str, extra: &[u8]| {
        !s.is_empty()
            && s.len() <= MAX_ID
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
    };
    if !fits(id, b"") {
        Some("access key id")
    } else if !fits(secret, b"+/=_-") {
        Some("secret access key")
    } else {
        None
    }
}

/// The output shapes credentials are rendered in: typed structs that borrow from the secrets,
/// serialised straight into zeroed memory (no `serde_json::Value` copies of a secret).
pub mod shapes {
    use serde::Serialize;
    use time::format_description::well_known::Rfc3339;
    use zeroize::Zeroizing;

    use super::Credentials;

    /// `credential_process` output (`Version: 1`).
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    pub struct Process<'a> {
        version: u32,
        access_key_id: &'a str,
        secret_access_key: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        session_token: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        expiration: Option<String>,
    }

    /// The ECS container-credentials answer.
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    pub struct Ecs<'a> {
        access_key_id: &'a str,
        secret_access_key: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        token: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        expiration: Option<String>,
    }

    /// `export --format json`: the variables `exec` sets.
    #[derive(Serialize)]
    pub struct Env<'a> {
        #[serde(rename = "AWS_ACCESS_KEY_ID")]
        access_key_id: &'a str,
        #[serde(rename = "AWS_SECRET_ACCESS_KEY")]
        secret_access_key: &'a str,
        #[serde(rename = "AWS_SESSION_TOKEN", skip_serializing_if = "Option::is_none")]
        session_token: Option<&'a str>,
        #[serde(
            rename = "AWS_CREDENTIAL_EXPIRATION",
            skip_serializing_if = "Option::is_none"
        )]
        expiration: Option<String>,
    }

    fn expiration(c: &Credentials) -> Option<String> {
        c.expiration.and_then(|e| e.format(&Rfc3339).ok())
    }

    impl<'a> Process<'a> {
        /// The shape of `c`.
        pub fn of(c: &'a Credentials) -> Self {
            Process {
                version: 1,
                access_key_id: &c.access_key_id,
                secret_access_key: c.secret_access_key.expose(),
                session_token: c.session_token.as_ref().map(|t| t.expose()),
                expiration: expiration(c),
            }
        }
    }

    impl<'a> Ecs<'a> {
        /// The shape of `c`.
        pub fn of(c: &'a Credentials) -> Self {
            Ecs {
                access_key_id: &c.access_key_id,
                secret_access_key: c.secret_access_key.expose(),
                token: c.session_token.as_ref().map(|t| t.expose()),
                expiration: expiration(c),
            }
        }
    }

    impl<'a> Env<'a> {
        /// The shape of `c`.
        pub fn of(c: &'a Credentials) -> Self {
            Env {
                access_key_id: &c.access_key_id,
                secret_access_key: c.secret_access_key.expose(),
                session_token: c.session_token.as_ref().map(|t| t.expose()),
                expiration: expiration(c),
            }
        }
    }

    /// Serialises `shape` as JSON into zeroed memory, reserved up front so the buffer never
    /// reallocates (which would leave a copy of a secret behind), with room for a newline.
    pub fn json(shape: &impl Serialize) -> Zeroizing<String> {
        let mut out = Zeroizing::new(Vec::with_capacity(16 * 1024));
        serde_json::to_writer(&mut *out, shape).expect("credential shapes serialise");
        Zeroizing::new(String::from_utf8(std::mem::take(&mut *out)).expect("JSON is UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_aws_characters_pass() {
        use super::bad_field;
        assert_eq!(
            bad_field("ASIAIOSFODNN7EXAMPLE", "wJal/r+X=", Some("FQoG+/=")),
            None
        );
        assert_eq!(bad_field("AKIAIOSFODNN7EXAMPLE", "abc", None), None);
        assert_eq!(
            bad_field("ASIA$(touch x)000000", "a", None),
            Some("AccessKeyId")
        );
        assert_eq!(
            bad_field("ASIA\nexport X=1", "a", None),
            Some("AccessKeyId")
        );
        assert_eq!(bad_field("short", "a", None), Some("AccessKeyId"));
        assert_eq!(
            bad_field("ASIAIOSFODNN7EXAMPLE", "`id`", None),
            Some("SecretAccessKey")
        );
        assert_eq!(
            bad_field("ASIAIOSFODNN7EXAMPLE", "", None),
            Some("SecretAccessKey")
        );
        assert_eq!(
            bad_field("ASIAIOSFODNN7EXAMPLE", "a", Some("$(touch x)")),
            Some("SessionToken")
        );
    }

    #[test]
    fn stored_keys_are_data_to_a_shell() {
        use super::bad_stored_key;
        assert_eq!(bad_stored_key("AKIAQ", "wJal-r_X/+="), None);
        for (id, secret, field) in [
            ("AKIA Q", "a", "access key id"),
            ("", "a", "access key id"),
            ("AKIAQ", "a'b$(touch x)`x`", "secret access key"),
            ("AKIAQ", "a\nb", "secret access key"),
            ("AKIAQ", "", "secret access key"),
        ] {
            assert_eq!(bad_stored_key(id, secret), Some(field), "{secret}");
        }
    }
}
