//! What a profile resolves to, and walking it.
//!
//! Planning ([`Config::chain`]) follows `source_profile` from the requested profile to a
//! source (a stored long-term key or a `credential_process`) and lists the roles to assume on
//! the way. Walking ([`Walk`]) turns the chain into cached STS steps like aws-vault's
//! providers: stored key -> GetSessionToken (with MFA, cached) -> AssumeRole (cached) ->
//! AssumeRole ... Every cache key is known before any session is opened, so a warm run opens
//! only the last step's session.

use std::collections::HashSet;

use super::profile::{foreign_source, Config, Settings};
use crate::error::{Error, Msg, Result};

#[cfg(test)]
mod tests;
mod walk;

pub(crate) use walk::Walk;

/// Where a chain's first credentials come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// The long-term key stored in the vault for this profile.
    StoredKey(Settings),
    /// A `credential_process` (no vault key involved).
    Process(Settings),
    /// IAM Identity Center: GetRoleCredentials with the sso-session's sealed token
    /// (`settings.sso` is set).
    Sso(Settings),
}

/// A resolved profile: a source, then zero or more roles to assume in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Chain {
    /// Where the first credentials come from.
    pub source: Source,
    /// Roles to assume, source side first; the last is the requested profile's role.
    pub roles: Vec<Settings>,
    /// The MFA serial for the source's GetSessionToken: the source's own, else (like awsume)
    /// the first role's in the chain that names one.
    pub mfa_serial: Option<String>,
    /// The region: the requested profile's, else the nearest source's that sets one.
    pub region: Option<String>,
    /// The requested profile's `mfa_process`, else the nearest source's.
    pub mfa_process: Option<String>,
}

impl Config {
    /// Resolves `name` into a chain. `has_key` says whether the vault stores a key for a
    /// profile (a profile the config does not define is still usable when it does).
    pub fn chain(&self, name: &str, has_key: &dyn Fn(&str) -> Result<bool>) -> Result<Chain> {
        let mut roles = vec![];
        let mut seen = HashSet::new();
        let mut current = name.to_owned();
        let source = loop {
            if !seen.insert(current.clone()) {
                let mut path: Vec<&str> =
                    roles.iter().map(|r: &Settings| r.name.as_str()).collect();
                path.push(&current);
                return Err(Error::Config(Msg::hinted(
                    format!("source_profile loop: {}", path.join(" -> ")),
                    "make one profile in the loop a source (a stored key, no source_profile)",
                )));
            }
            // Asked only where the answer matters: on `pass` or a helper each question is a
            // decrypt. A backend error (unsafe modes, a broken store) is an error, not "no key".
            let settings = match self.settings(&current)? {
                Some(s) => s,
                None if has_key(&current)? => Settings::from_profile(&current, None)?,
                None if current == name => return Err(Error::NoProfile(name.to_owned())),
                None => {
                    return Err(Error::Config(Msg::hinted(
                        format!(
                            "profile {:?} names source_profile {current:?}, which is neither in the AWS config nor in the vault",
                            roles.last().map(|r: &Settings| r.name.as_str()).unwrap_or(name),
                        ),
                        format!("add the profile to the config, or `vault add {current}`"),
                    )))
                }
            };
            // A *source* profile that holds a static key (stored in the vault, where the SDKs
            // read aws_access_key_id) is a leaf: its key is used, its own role_arn is not
            // assumed.
            // An SSO profile with a stored key has two sources: refuse to guess.
            if settings.sso.is_some() && settings.role_arn.is_none() && has_key(&current)? {
                return Err(Error::Config(Msg::hinted(
                    format!("profile {current:?} has both IAM Identity Center settings (sso_account_id, sso_role_name) and a long-term key stored in the vault"),
                    format!("keep one source: `vault remove {current}`, or remove the sso_* keys from the profile"),
                )));
            }
            if current != name && has_key(&current)? {
                break Source::StoredKey(Settings {
                    role_arn: None,
                    source_profile: None,
                    ..settings
                });
            }
            // Both SDKs refuse a role with two sources (a leaf's role is never assumed).
            let two = settings.source_profile.is_some() && settings.credential_source.is_some();
            if two && settings.role_arn.is_some() {
                return Err(Error::Config(Msg::hinted(
                    format!("profile {current:?} has both source_profile and credential_source"),
                    "keep one of them, as the AWS SDKs require",
                )));
            }
            match (&settings.role_arn, settings.source_profile.clone()) {
                // A role whose source is itself: the key is stored under this very profile.
                (Some(_), Some(src)) if src == current => {
                    let base = Settings {
                        role_arn: None,
                        source_profile: None,
                        ..settings.clone()
                    };
                    roles.push(settings);
                    break Source::StoredKey(base);
                }
                (Some(_), Some(src)) => {
                    roles.push(settings);
                    current = src;
                }
                (Some(_), None) if settings.credential_process.is_some() => {
                    let base = Settings {
                        role_arn: None,
                        ..settings.clone()
                    };
                    roles.push(settings);
                    break Source::Process(base);
                }
                (Some(_), None) => {
                    return Err(match settings.foreign_source {
                        Some(key) => foreign_source(&current, key),
                        None => Error::Config(Msg::hinted(
                            format!("profile {current:?} has role_arn but no source_profile"),
                            "add source_profile = <profile with a stored key>",
                        )),
                    });
                }
                // An SSO profile without a role is its own source, as for the SDKs (whose SSO
                // provider comes before a source_profile without role_arn).
                (None, _) if settings.sso.is_some() => break Source::Sso(settings),
                // Without a role, a profile's own stored key or credential_process is its
                // source and ends the walk, even when it also names source_profile.
                (None, _) if has_key(&current)? => break Source::StoredKey(settings),
                (None, _) if settings.credential_process.is_some() => {
                    break Source::Process(settings)
                }
                (None, Some(src)) if src != current => {
                    // A profile that only borrows another's credentials (and maybe region).
                    roles.push(settings);
                    current = src;
                }
                (None, _) => match settings.foreign_source {
                    Some(key) => return Err(foreign_source(&current, key)),
                    None => break Source::StoredKey(settings),
                },
            }
        };
        roles.reverse();
        // Profiles without a role_arn in the middle only lend settings; drop them as steps.
        let region = roles
            .iter()
            .rev()
            .find_map(|r| r.region.clone())
            .or_else(|| source_settings(&source).region.clone());
        let mfa_process = roles
            .iter()
            .rev()
            .find_map(|r| r.mfa_process.clone())
            .or_else(|| source_settings(&source).mfa_process.clone());
        let mfa_serial = source_settings(&source)
            .mfa_serial
            .clone()
            .or_else(|| roles.iter().find_map(|r| r.mfa_serial.clone()));
        roles.retain(|r| r.role_arn.is_some());
        Ok(Chain {
            source,
            roles,
            mfa_serial,
            region,
            mfa_process,
        })
    }
}

/// The settings of a chain's source profile.
pub fn source_settings(s: &Source) -> &Settings {
    match s {
        Source::StoredKey(s) | Source::Process(s) | Source::Sso(s) => s,
    }
}
