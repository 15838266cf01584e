//! IAM Identity Center (SSO), DESIGN.md §5a: the sso-session configuration as the SDKs read
//! it (this file), the OIDC login flows and the token refresh (`oidc.rs`, `callback.rs`), the
//! one sealed token item per sso-session with its cross-process single flight (`token.rs`),
//! and the portal calls: role credentials, accounts, logout (`portal.rs`).
//!
//! Nothing here writes `~/.aws/sso/cache` or `~/.aws/cli/cache`: the SDK crates are driven
//! directly, never through aws-config's SSO token provider (which writes the plaintext cache).

pub mod callback;
pub mod oidc;
pub mod portal;
pub mod token;

use crate::error::{Error, Msg, Result};

/// The default `sso_registration_scopes`, as the AWS CLI's.
pub const DEFAULT_SCOPE: &str = "sso:account:access";

/// The values of one `[sso-session NAME]` section that vault reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionSection {
    /// `sso_start_url`.
    pub start_url: Option<String>,
    /// `sso_region`.
    pub region: Option<String>,
    /// `sso_registration_scopes` (comma-separated).
    pub scopes: Option<String>,
}

/// An sso-session: where to sign in, and the name its sealed token is kept under.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// The `[sso-session NAME]` name, or for the legacy in-profile form the start URL (as the
    /// SDKs name the legacy cache file).
    pub name: String,
    /// Whether this is the legacy form (no sso-session section; no refresh token).
    pub legacy: bool,
    /// `sso_start_url`.
    pub start_url: String,
    /// `sso_region`: where the OIDC and portal endpoints are.
    pub region: String,
    /// `sso_registration_scopes`.
    pub scopes: Vec<String>,
}

/// An SSO profile: the account and role it signs in to, through an sso-session.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// The sso-session.
    pub session: Session,
    /// `sso_account_id`.
    pub account_id: String,
    /// `sso_role_name`.
    pub role_name: String,
}

fn missing(profile: &str, keys: &[&str], hint: &str) -> Error {
    Error::Config(Msg::hinted(
        format!(
            "profile {profile:?} is configured for IAM Identity Center but is missing {}",
            keys.join(", ")
        ),
        hint.to_owned(),
    ))
}

impl Session {
    /// The sso-session `name` from its section, with botocore's rules: it must exist and name
    /// a start URL and a region.
    pub fn from_section(name: &str, section: Option<SessionSection>) -> Result<Session> {
        let s = section.ok_or_else(|| {
            let shown = crate::sanitize(name);
            Error::Config(Msg::hinted(
                format!("the sso-session {shown:?} is not in the AWS config"),
                format!("add a [sso-session {shown:?}] section with sso_start_url and sso_region (`aws configure sso-session` writes one)"),
            ))
        })?;
        let mut absent = vec![];
        if s.start_url.is_none() {
            absent.push("sso_start_url");
        }
        if s.region.is_none() {
            absent.push("sso_region");
        }
        if !absent.is_empty() {
            let shown = crate::sanitize(name);
            return Err(Error::Config(Msg::hinted(
                format!("the sso-session {shown:?} is missing {}", absent.join(", ")),
                format!("add them to its [sso-session {shown:?}] section"),
            )));
        }
        Ok(Session {
            name: name.to_owned(),
            legacy: false,
            start_url: s.start_url.unwrap_or_default(),
            region: s.region.unwrap_or_default(),
            scopes: scopes(s.scopes.as_deref()),
        })
    }

    /// The sealed token's item name: `sso.<session name>` (`sso.<start URL>` for the legacy
    /// form); the backend encodes what a file name cannot hold.
    pub fn item_name(&self) -> String {
        crate::vault::sso_token_name(&self.name)
    }

    /// The `vault sso login` argument that signs in to this session.
    pub fn login_hint(&self, profile: Option<&str>) -> String {
        match (self.legacy, profile) {
            (true, Some(p)) => format!("vault sso login --profile {}", crate::sanitize(p)),
            _ => format!("vault sso login {}", crate::sanitize(&self.name)),
        }
    }
}

fn scopes(s: Option<&str>) -> Vec<String> {
    let v: Vec<String> = s
        .unwrap_or(DEFAULT_SCOPE)
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if v.is_empty() {
        vec![DEFAULT_SCOPE.to_owned()]
    } else {
        v
    }
}

impl Profile {
    /// The SSO settings of profile `name`, whose values `get` reads; `None` when it names
    /// neither `sso_account_id` nor `sso_role_name` (botocore's test). Config errors as
    /// botocore's: missing keys, an unknown sso-session, values that contradict the session.
    pub fn from_settings(
        name: &str,
        get: &dyn Fn(&str) -> Option<String>,
        section: &dyn Fn(&str) -> Option<SessionSection>,
    ) -> Result<Option<Profile>> {
        let (account, role) = (get("sso_account_id"), get("sso_role_name"));
        if account.is_none() && role.is_none() {
            return Ok(None);
        }
        let session = match get("sso_session") {
            Some(s) => {
                let session = Session::from_section(&s, section(&s))?;
                // botocore: a profile may repeat the session's values but not contradict them.
                for (key, value) in [
                    ("sso_start_url", &session.start_url),
                    ("sso_region", &session.region),
                ] {
                    if get(key).is_some_and(|v| &v != value) {
                        return Err(Error::Config(Msg::hinted(
                            format!(
                                "profile {name:?}: {key} differs from the one in its sso-session {:?}",
                                crate::sanitize(&s),
                            ),
                            format!("remove {key} from the profile (the sso-session's is used)"),
                        )));
                    }
                }
                session
            }
            None => {
                let mut absent = vec![];
                let (url, region) = (get("sso_start_url"), get("sso_region"));
                for (k, v) in [
                    ("sso_start_url", &url),
                    ("sso_region", &region),
                    ("sso_account_id", &account),
                    ("sso_role_name", &role),
                ] {
                    if v.is_none() {
                        absent.push(k);
                    }
                }
                if !absent.is_empty() {
                    return Err(missing(
                        name,
                        &absent,
                        "add sso_session = NAME (with an [sso-session NAME] section), or the legacy sso_start_url and sso_region",
                    ));
                }
                let url = url.unwrap_or_default();
                Session {
                    name: url.clone(),
                    legacy: true,
                    start_url: url,
                    region: region.unwrap_or_default(),
                    scopes: vec![DEFAULT_SCOPE.to_owned()],
                }
            }
        };
        let mut absent = vec![];
        if account.is_none() {
            absent.push("sso_account_id");
        }
        if role.is_none() {
            absent.push("sso_role_name");
        }
        if !absent.is_empty() {
            return Err(missing(
                name,
                &absent,
                "add both sso_account_id and sso_role_name (`vault sso accounts` lists them)",
            ));
        }
        Ok(Some(Profile {
            session,
            account_id: account.unwrap_or_default(),
            role_name: role.unwrap_or_default(),
        }))
    }
}

/// Finds the sso-session `name` (an `[sso-session]` section), or the one the SSO profile
/// `profile` uses, for `vault sso login|logout|accounts`.
pub fn find_session(
    config: &crate::aws::profile::Config,
    name: Option<&str>,
    profile: Option<&str>,
) -> Result<(Session, String)> {
    if let Some(p) = profile {
        let settings = config
            .settings(p)?
            .ok_or_else(|| Error::NoProfile(p.to_owned()))?;
        let sso = settings.sso.ok_or_else(|| {
            Error::Config(Msg::hinted(
                format!(
                    "profile {:?} is not an IAM Identity Center profile (it has no sso_account_id / sso_role_name)",
                    crate::sanitize(p),
                ),
                "name an sso-session instead: `vault sso login NAME`",
            ))
        })?;
        return Ok((sso.session, p.to_owned()));
    }
    let sessions = config.sso_sessions();
    let name = match name {
        Some(n) => n.to_owned(),
        None if sessions.len() == 1 => sessions[0].clone(),
        None => {
            return Err(Error::Usage(Msg::hinted(
                format!(
                    "which sso-session? the AWS config has {}",
                    if sessions.is_empty() {
                        "none".to_owned()
                    } else {
                        sessions.join(", ")
                    }
                ),
                "name one (`vault sso login NAME`) or pass --profile P",
            )))
        }
    };
    let session = Session::from_section(&name, config.sso_session(&name))?;
    // The endpoint settings ([services], endpoint_url) are read for a profile using it.
    let profile = config
        .profiles()
        .into_iter()
        .find(|n| {
            config
                .settings(n)
                .ok()
                .flatten()
                .is_some_and(|s| s.sso.is_some_and(|p| p.session.name == name))
        })
        .unwrap_or_else(|| "default".to_owned());
    Ok((session, profile))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    const CONF: &str = "
[sso-session corp]
sso_start_url = https://corp.awsapps.com/start
sso_region = eu-west-1
[sso-session bare]
sso_region = eu-west-1
[profile new]
sso_session = corp
sso_account_id = 111111111111
sso_role_name = Admin
[profile legacy]
sso_start_url = https://old.awsapps.com/start
sso_region = us-east-1
sso_account_id = 222222222222
sso_role_name = ReadOnly
[profile token-only]
sso_session = corp
[profile no-role]
sso_session = corp
sso_account_id = 111111111111
[profile unknown]
sso_session = nowhere
sso_account_id = 1
sso_role_name = r
[profile bare]
sso_session = bare
sso_account_id = 1
sso_role_name = r
[profile contradicts]
sso_session = corp
sso_region = us-west-2
sso_account_id = 1
sso_role_name = r
[profile legacy-half]
sso_start_url = https://old.awsapps.com/start
sso_account_id = 1
sso_role_name = r
";

    #[test]
    fn both_forms_parse_as_the_sdks_read_them() {
        let c = rt().block_on(crate::aws::profile::Config::from_text(CONF));
        let new = c.settings("new").unwrap().unwrap().sso.unwrap();
        assert_eq!(new.session.name, "corp");
        assert!(!new.session.legacy);
        assert_eq!(new.session.region, "eu-west-1");
        assert_eq!(new.session.scopes, [DEFAULT_SCOPE]);
        assert_eq!(
            (new.account_id.as_str(), new.role_name.as_str()),
            ("111111111111", "Admin")
        );
        let legacy = c.settings("legacy").unwrap().unwrap().sso.unwrap();
        assert!(legacy.session.legacy);
        assert_eq!(legacy.session.name, "https://old.awsapps.com/start");
        // Only sso_session: not an SSO credentials profile (botocore's rule).
        assert!(c.settings("token-only").unwrap().unwrap().sso.is_none());
    }

    #[test]
    fn config_errors_name_what_is_missing() {
        let c = rt().block_on(crate::aws::profile::Config::from_text(CONF));
        for (profile, says) in [
            ("no-role", "sso_role_name"),
            ("unknown", "\"nowhere\" is not in the AWS config"),
            ("bare", "missing sso_start_url"),
            ("contradicts", "sso_region differs"),
            ("legacy-half", "missing sso_region"),
        ] {
            match c.settings(profile) {
                Err(Error::Config(m)) => {
                    assert!(
                        m.contains(says) && m.own_hint().is_some(),
                        "{profile}: {m:?}"
                    );
                }
                other => panic!("{profile}: {other:?}"),
            }
        }
    }
}
