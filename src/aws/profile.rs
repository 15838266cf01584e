//! Profiles from the shared AWS config files, read with the AWS SDK's own parser (so every
//! profile means what it means to the AWS CLI): the settings of each profile vault uses.
//! What a profile resolves to is `chain.rs`.
//!
//! `AWS_CONFIG_FILE` and `AWS_SHARED_CREDENTIALS_FILE` are honoured by the SDK's loader.

use std::collections::BTreeMap;

use aws_config::profile::{Profile, ProfileSet};
use aws_types::os_shim_internal::{Env, Fs};

use crate::error::{Error, Msg, Result};

/// The settings of one profile that vault uses (DESIGN.md §5).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    /// The profile's name.
    pub name: String,
    /// `source_profile`.
    pub source_profile: Option<String>,
    /// `role_arn`.
    pub role_arn: Option<String>,
    /// `mfa_serial`.
    pub mfa_serial: Option<String>,
    /// `external_id`.
    pub external_id: Option<String>,
    /// `role_session_name`.
    pub role_session_name: Option<String>,
    /// `duration_seconds`.
    pub duration_seconds: Option<i32>,
    /// `region`.
    pub region: Option<String>,
    /// `source_identity`.
    pub source_identity: Option<String>,
    /// `session_tags` (`Key=Value,Key2=Value2`), as aws-vault reads them.
    pub session_tags: Vec<(String, String)>,
    /// `transitive_session_tags` (`Key,Key2`).
    pub transitive_session_tags: Vec<String>,
    /// `credential_process`: a command printing the JSON `Version: 1` shape.
    pub credential_process: Option<String>,
    /// `mfa_process`: a command printing an MFA code.
    pub mfa_process: Option<String>,
    /// `credential_source` (instance or container metadata, the environment).
    pub credential_source: Option<String>,
    /// The first key naming a credential source vault does not handle (web identity,
    /// instance metadata), so a chain ending there is a clear error.
    pub foreign_source: Option<&'static str>,
    /// IAM Identity Center: the profile's account, role and sso-session (DESIGN.md §5a), when
    /// it names `sso_account_id` or `sso_role_name` (botocore's test for an SSO profile).
    pub sso: Option<crate::sso::Profile>,
}

/// Credential sources other tools handle and vault does not: its sources are a stored key
/// and `credential_process`.
const FOREIGN_SOURCES: [&str; 3] = [
    "web_identity_token_file",
    "credential_source",
    "login_session",
];

/// A profile whose credentials come from a source vault does not handle.
pub(crate) fn foreign_source(profile: &str, key: &str) -> Error {
    let what = match key {
        "web_identity_token_file" => "a web identity token",
        "login_session" => "an AWS console login session",
        _ => "instance or container metadata or the environment",
    };
    Error::Config(Msg::hinted(
        format!("profile {profile:?} gets its credentials from {what} ({key}), which vault does not handle"),
        format!("vault's sources are a stored long-term key (`vault add {profile}` makes it one) and credential_process; otherwise use the AWS CLI for this profile"),
    ))
}

impl Settings {
    pub(crate) fn from_profile(name: &str, p: Option<&Profile>) -> Result<Settings> {
        Settings::from_sections(name, p, &|_| None)
    }

    /// The settings of profile `name`; `sso_session` finds an `[sso-session NAME]` section's
    /// value for `sso.rs`'s rules.
    pub(crate) fn from_sections(
        name: &str,
        p: Option<&Profile>,
        sso_session: &dyn Fn(&str) -> Option<crate::sso::SessionSection>,
    ) -> Result<Settings> {
        let get = |k: &str| {
            p.and_then(|p| p.get(k))
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let duration_seconds = match get("duration_seconds") {
            Some(d) => Some(d.parse::<i32>().map_err(|_| {
                Error::Config(
                    format!(
                        "profile {name:?}: duration_seconds = {d:?} is not a number of seconds"
                    )
                    .into(),
                )
            })?),
            None => None,
        };
        let session_tags = match get("session_tags") {
            Some(t) => t
                .split(',')
                .map(|kv| {
                    let (k, v) = kv.split_once('=').ok_or_else(|| {
                        Error::Config(
                            format!("profile {name:?}: session_tags entry {kv:?} is not Key=Value")
                                .into(),
                        )
                    })?;
                    Ok((k.trim().to_owned(), v.trim().to_owned()))
                })
                .collect::<Result<Vec<_>>>()?,
            None => vec![],
        };
        let transitive_session_tags = get("transitive_session_tags")
            .map(|t| t.split(',').map(|s| s.trim().to_owned()).collect())
            .unwrap_or_default();
        Ok(Settings {
            name: name.to_owned(),
            source_profile: get("source_profile"),
            role_arn: get("role_arn"),
            mfa_serial: get("mfa_serial"),
            external_id: get("external_id"),
            role_session_name: get("role_session_name"),
            duration_seconds,
            region: get("region"),
            source_identity: get("source_identity"),
            session_tags,
            transitive_session_tags,
            credential_process: get("credential_process"),
            mfa_process: get("mfa_process"),
            credential_source: get("credential_source"),
            foreign_source: FOREIGN_SOURCES.into_iter().find(|k| get(k).is_some()),
            sso: crate::sso::Profile::from_settings(name, &get, sso_session)?,
        })
    }
}

/// The parsed shared config files.
#[derive(Debug)]
pub struct Config {
    set: ProfileSet,
}

impl Config {
    /// Loads `~/.aws/config` and `~/.aws/credentials` (or `AWS_CONFIG_FILE`,
    /// `AWS_SHARED_CREDENTIALS_FILE`) with the SDK's parser. Missing files are empty.
    pub async fn load() -> Result<Config> {
        Config::load_with(&Env::real()).await
    }

    /// [`Config::load`] with the environment given: the agent's warm path loads the files a
    /// client names (issue 17).
    pub async fn load_with(env: &Env) -> Result<Config> {
        let files = aws_runtime::env_config::file::EnvConfigFiles::default();
        let set = aws_config::profile::load(&Fs::real(), env, &files, None)
            .await
            .map_err(|e| {
                // The SDK's top error says only "could not parse profile file"; the file and
                // the line are in its sources.
                let mut text = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    text.push_str(": ");
                    text.push_str(&s.to_string());
                    source = s.source();
                }
                Error::Config(Msg::hinted(
                    format!(
                        "reading the AWS config files: {}",
                        crate::sanitize(&text.replace('\n', " ")),
                    ),
                    "fix that line (the files are AWS_CONFIG_FILE, else ~/.aws/config, and AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials)",
                ))
            })?;
        Ok(Config { set })
    }

    /// Every profile name in the config files.
    pub fn profiles(&self) -> Vec<String> {
        let mut v: Vec<String> = self.set.profiles().map(str::to_owned).collect();
        v.sort();
        v
    }

    /// The profile's settings; `None` when the files do not define it.
    pub fn settings(&self, name: &str) -> Result<Option<Settings>> {
        match self.set.get_profile(name) {
            Some(p) => Settings::from_sections(name, Some(p), &|s| self.sso_session(s)).map(Some),
            None => Ok(None),
        }
    }

    /// The `[sso-session NAME]` section, if the config has one.
    pub fn sso_session(&self, name: &str) -> Option<crate::sso::SessionSection> {
        let s = self.set.sso_session(name)?;
        let get = |k: &str| {
            s.get(k)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        Some(crate::sso::SessionSection {
            start_url: get("sso_start_url"),
            region: get("sso_region"),
            scopes: get("sso_registration_scopes"),
        })
    }

    /// Every `[sso-session NAME]` name in the config.
    pub fn sso_sessions(&self) -> Vec<String> {
        let mut v: Vec<String> = self.set.sso_sessions().map(str::to_owned).collect();
        v.sort();
        v
    }

    /// Parses a config file's text, as if it were `~/.aws/config` (tests).
    #[cfg(test)]
    pub(crate) async fn from_text(text: &str) -> Config {
        use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};
        let files = EnvConfigFiles::builder()
            .with_contents(EnvConfigFileKind::Config, text)
            .build();
        let set =
            aws_config::profile::load(&Fs::from_slice(&[]), &Env::from_slice(&[]), &files, None)
                .await
                .unwrap();
        Config { set }
    }

    /// The parsed `[profile x]` sections, for tests and `list`.
    pub fn all(&self) -> Result<BTreeMap<String, Settings>> {
        self.profiles()
            .into_iter()
            .map(|n| Ok((n.clone(), self.settings(&n)?.unwrap_or_default())))
            .collect()
    }
}
