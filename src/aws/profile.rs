//! Profiles from the shared AWS config files, read with the AWS SDK's own parser (so every
//! profile means what it means to the AWS CLI), and the chain of steps a profile resolves to.
//!
//! `AWS_CONFIG_FILE` and `AWS_SHARED_CREDENTIALS_FILE` are honoured by the SDK's loader.

use std::collections::{BTreeMap, HashSet};

use aws_config::profile::{Profile, ProfileSet};
use aws_types::os_shim_internal::{Env, Fs};

use crate::error::{Error, Result};

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
    /// The first key naming a credential source vault does not handle (IAM Identity Center,
    /// web identity, instance metadata), so a chain ending there is a clear error.
    pub foreign_source: Option<&'static str>,
}

/// Credential sources other tools handle and vault does not: its sources are a stored key
/// and `credential_process`.
const FOREIGN_SOURCES: [&str; 5] = [
    "sso_session",
    "sso_start_url",
    "web_identity_token_file",
    "credential_source",
    "login_session",
];

impl Settings {
    fn from_profile(name: &str, p: Option<&Profile>) -> Result<Settings> {
        let get = |k: &str| {
            p.and_then(|p| p.get(k))
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let duration_seconds = match get("duration_seconds") {
            Some(d) => Some(d.parse::<i32>().map_err(|_| {
                Error::Config(format!(
                    "profile {name:?}: duration_seconds = {d:?} is not a number of seconds"
                ))
            })?),
            None => None,
        };
        let session_tags = match get("session_tags") {
            Some(t) => t
                .split(',')
                .map(|kv| {
                    let (k, v) = kv.split_once('=').ok_or_else(|| {
                        Error::Config(format!(
                            "profile {name:?}: session_tags entry {kv:?} is not Key=Value"
                        ))
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
            foreign_source: FOREIGN_SOURCES.into_iter().find(|k| get(k).is_some()),
        })
    }
}

/// The parsed shared config files.
#[derive(Debug)]
pub struct Config {
    set: ProfileSet,
}

/// Where a chain's first credentials come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// The long-term key stored in the vault for this profile.
    StoredKey(Settings),
    /// A `credential_process` (no vault key involved).
    Process(Settings),
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
    /// Loads `~/.aws/config` and `~/.aws/credentials` (or `AWS_CONFIG_FILE`,
    /// `AWS_SHARED_CREDENTIALS_FILE`) with the SDK's parser. Missing files are empty.
    pub async fn load() -> Result<Config> {
        let files = aws_runtime::env_config::file::EnvConfigFiles::default();
        let set = aws_config::profile::load(&Fs::real(), &Env::real(), &files, None)
            .await
            .map_err(|e| {
                Error::Config(format!(
                    "reading the AWS config files: {e}\n  hint: fix the file it names (AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE)"
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
            Some(p) => Settings::from_profile(name, Some(p)).map(Some),
            None => Ok(None),
        }
    }

    /// The parsed `[profile x]` sections, for tests and `list`.
    pub fn all(&self) -> Result<BTreeMap<String, Settings>> {
        self.profiles()
            .into_iter()
            .map(|n| Ok((n.clone(), self.settings(&n)?.unwrap_or_default())))
            .collect()
    }

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
                return Err(Error::Config(format!(
                    "source_profile loop: {}\n  hint: make one profile in the loop a source (a stored key, no source_profile)",
                    path.join(" -> ")
                )));
            }
            // Asked only where the answer matters: on `pass` or a helper each question is a
            // decrypt. A backend error (unsafe modes, a broken store) is an error, not "no key".
            let settings = match self.settings(&current)? {
                Some(s) => s,
                None if has_key(&current)? => Settings::from_profile(&current, None)?,
                None if current == name => return Err(Error::NoProfile(name.to_owned())),
                None => {
                    return Err(Error::Config(format!(
                        "profile {:?} names source_profile {current:?}, which is neither in the AWS config nor in the vault\n  hint: add the profile to the config, or `vault add {current}`",
                        roles.last().map(|r: &Settings| r.name.as_str()).unwrap_or(name)
                    )))
                }
            };
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
                        None => Error::Config(format!(
                            "profile {current:?} has role_arn but no source_profile\n  hint: add source_profile = <profile with a stored key>"
                        )),
                    });
                }
                (None, Some(src)) if src != current => {
                    // A profile that only borrows another's credentials (and maybe region).
                    roles.push(settings);
                    current = src;
                }
                (None, _) if settings.credential_process.is_some() && !has_key(&current)? => {
                    break Source::Process(settings)
                }
                (None, _) => match settings.foreign_source {
                    Some(key) if !has_key(&current)? => return Err(foreign_source(&current, key)),
                    _ => break Source::StoredKey(settings),
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

/// A profile whose credentials come from a source vault does not handle.
fn foreign_source(profile: &str, key: &str) -> Error {
    let what = match key {
        "sso_session" | "sso_start_url" => "IAM Identity Center (SSO)",
        "web_identity_token_file" => "a web identity token",
        "login_session" => "an AWS console login session",
        _ => "instance or container metadata or the environment",
    };
    Error::Config(format!(
        "profile {profile:?} gets its credentials from {what} ({key}), which vault does not handle\n  hint: vault's sources are a stored long-term key (`vault add {profile}` makes it one) and credential_process; otherwise use the AWS CLI for this profile"
    ))
}

/// The settings of a chain's source profile.
pub fn source_settings(s: &Source) -> &Settings {
    match s {
        Source::StoredKey(s) | Source::Process(s) => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn config(text: &str) -> Config {
        use aws_runtime::env_config::file::{
            EnvConfigFileKind as ProfileFileKind, EnvConfigFiles as ProfileFiles,
        };
        let files = ProfileFiles::builder()
            .with_contents(ProfileFileKind::Config, text)
            .build();
        let set =
            aws_config::profile::load(&Fs::from_slice(&[]), &Env::from_slice(&[]), &files, None)
                .await
                .unwrap();
        Config { set }
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    const CONF: &str = "
[profile src]
region = eu-west-1
mfa_serial = arn:aws:iam::111111111111:mfa/me
[profile a]
source_profile = src
role_arn = arn:aws:iam::222222222222:role/A
[profile b]
source_profile = a
role_arn = arn:aws:iam::333333333333:role/B
external_id = xyz
duration_seconds = 1800
session_tags = team=core, env = prod
[profile loop1]
source_profile = loop2
role_arn = arn:aws:iam::1:role/x
[profile loop2]
source_profile = loop1
role_arn = arn:aws:iam::1:role/y
[profile self]
source_profile = self
role_arn = arn:aws:iam::1:role/self
[profile dangling]
source_profile = nowhere
role_arn = arn:aws:iam::1:role/d
[profile sso]
sso_start_url = https://example.awsapps.com/start
sso_account_id = 123456789012
sso_role_name = Admin
[profile via-sso]
source_profile = sso
role_arn = arn:aws:iam::1:role/v
[profile webid]
role_arn = arn:aws:iam::1:role/w
web_identity_token_file = /var/run/token
[profile meta]
role_arn = arn:aws:iam::1:role/m
credential_source = Ec2InstanceMetadata
";

    #[test]
    fn two_hop_chain() {
        let c = rt().block_on(config(CONF));
        let chain = c.chain("b", &|p| Ok(p == "src")).unwrap();
        assert_eq!(source_settings(&chain.source).name, "src");
        let names: Vec<_> = chain.roles.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(chain.region.as_deref(), Some("eu-west-1"));
        assert_eq!(
            chain.mfa_serial.as_deref(),
            Some("arn:aws:iam::111111111111:mfa/me")
        );
        let b = &chain.roles[1];
        assert_eq!(b.external_id.as_deref(), Some("xyz"));
        assert_eq!(b.duration_seconds, Some(1800));
        assert_eq!(
            b.session_tags,
            vec![
                ("team".into(), "core".into()),
                ("env".into(), "prod".into())
            ]
        );
    }

    #[test]
    fn loops_missing_and_self_source() {
        let c = rt().block_on(config(CONF));
        let e = c.chain("loop1", &|_| Ok(false)).unwrap_err();
        assert!(e.to_string().contains("loop1 -> loop2 -> loop1"), "{e}");
        assert!(matches!(
            c.chain("nope", &|_| Ok(false)),
            Err(Error::NoProfile(_))
        ));
        assert!(matches!(
            c.chain("dangling", &|_| Ok(false)),
            Err(Error::Config(_))
        ));
        // Not in the config, but stored in the vault: usable.
        let only_vault = c.chain("vaultonly", &|p| Ok(p == "vaultonly")).unwrap();
        assert!(only_vault.roles.is_empty());
        let s = c.chain("self", &|p| Ok(p == "self")).unwrap();
        assert_eq!(source_settings(&s.source).name, "self");
        assert_eq!(s.roles.len(), 1);
    }

    #[test]
    fn foreign_sources_are_named() {
        let c = rt().block_on(config(CONF));
        for (profile, key) in [
            ("sso", "sso_start_url"),
            ("via-sso", "sso_start_url"),
            ("webid", "web_identity_token_file"),
            ("meta", "credential_source"),
        ] {
            match c.chain(profile, &|_| Ok(false)) {
                Err(Error::Config(m)) => assert!(m.contains(key), "{profile}: {m}"),
                other => panic!("{profile}: {other:?}"),
            }
        }
        // A key stored for the SSO profile is a source like any other.
        let stored = c.chain("via-sso", &|p| Ok(p == "sso")).unwrap();
        assert_eq!(source_settings(&stored.source).name, "sso");
    }
}
