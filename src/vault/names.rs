//! Item names (not secret): `slot.passphrase` for the slot, `key.<profile>` for long-term
//! keys, `session.<profile>.<digest>` for cached sessions ([`SessionId`]), `sso.<sso-session>`
//! for an IAM Identity Center sso-session's tokens.

/// The passphrase slot's item name.
pub const SLOT: &str = "slot.passphrase";
pub(crate) const KEY_PREFIX: &str = "key.";
pub(crate) const SESSION_PREFIX: &str = "session.";
pub(crate) const SSO_PREFIX: &str = "sso.";

/// The item name of a profile's long-term key.
pub fn key_name(profile: &str) -> String {
    format!("{KEY_PREFIX}{profile}")
}

/// The item name of a cached session.
pub fn session_name(cache_key: &str) -> String {
    format!("{SESSION_PREFIX}{cache_key}")
}

/// The item name of an sso-session's tokens (the legacy form: its start URL).
pub fn sso_token_name(session: &str) -> String {
    format!("{SSO_PREFIX}{session}")
}

/// A cached session's id: `<profile>.<16 hex digits>`, the profile it serves and the digest
/// of its cache key. Profile names may contain dots; the digest never does.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(String);

impl SessionId {
    /// Wraps an id as listed by the backend (after `session.`).
    pub fn new(id: impl Into<String>) -> Self {
        SessionId(id.into())
    }

    /// The whole id.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The profile the session serves (the whole id when it has no digest).
    pub fn profile(&self) -> &str {
        self.split().0
    }

    /// The cache key's digest (empty when there is none).
    pub fn digest(&self) -> &str {
        self.split().1
    }

    /// The item name the session is stored under.
    pub fn item_name(&self) -> String {
        session_name(&self.0)
    }

    fn split(&self) -> (&str, &str) {
        self.0.rsplit_once('.').unwrap_or((&self.0, ""))
    }
}

impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Names in the vault, by kind.
#[derive(Debug, Default)]
pub struct Names {
    /// Profiles with a stored long-term key.
    pub keys: Vec<String>,
    /// Stored sessions.
    pub sessions: Vec<SessionId>,
    /// sso-sessions with sealed tokens.
    pub sso_tokens: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::SessionId;

    #[test]
    fn session_ids_split_at_the_last_dot() {
        let id = SessionId::new("team.prod.0123456789abcdef");
        assert_eq!(
            (id.profile(), id.digest()),
            ("team.prod", "0123456789abcdef")
        );
        assert_eq!(id.item_name(), "session.team.prod.0123456789abcdef");
        let odd = SessionId::new("nodigest");
        assert_eq!((odd.profile(), odd.digest()), ("nodigest", ""));
    }
}
