//! `vault sso populate`: one profile per account and role the sign-in can reach, written
//! into the AWS config atomically and idempotently.

use std::path::PathBuf;

use crate::aws::profile::Config;
use crate::error::{Error, Msg, Result};

/// `AWS_CONFIG_FILE` (with `~` expanded, as the SDK does), else `~/.aws/config`.
fn config_path() -> Result<PathBuf> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    let home = env("HOME").map(PathBuf::from);
    let no_home = || {
        Error::Config(Msg::hinted(
            "HOME is not set, so there is no ~/.aws/config",
            "set AWS_CONFIG_FILE to the AWS config file",
        ))
    };
    match env("AWS_CONFIG_FILE").map(PathBuf::from) {
        Some(p) => match p.strip_prefix("~") {
            Ok(rest) => Ok(home.ok_or_else(no_home)?.join(rest)),
            Err(_) => Ok(p),
        },
        None => Ok(home.ok_or_else(no_home)?.join(".aws").join("config")),
    }
}

/// A profile name from an account's name and a role: vault's profile alphabet, every other
/// character a `-` (account names are free text set by whoever runs the organisation).
pub(crate) fn profile_name_for(prefix: &str, account: &str, role: &str) -> String {
    let raw = format!("{prefix}{account}.{role}");
    let mut name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.@+=,:".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    while name.starts_with('.') {
        name.remove(0);
    }
    name.truncate(128);
    if name.is_empty() {
        name = "sso".into();
    }
    name
}

/// The `[profile ...]` sections `populate` adds: one per account and role that no profile
/// of `session` already covers.
fn new_sections(
    config: &Config,
    session: &str,
    accounts: &[crate::sso::portal::Account],
    region: Option<&str>,
    prefix: &str,
) -> Vec<(String, String)> {
    let mut names: std::collections::HashSet<String> = config.profiles().into_iter().collect();
    let covered: std::collections::HashSet<(String, String)> = config
        .profiles()
        .iter()
        .filter_map(|n| config.settings(n).ok().flatten()?.sso)
        .filter(|p| p.session.name == session)
        .map(|p| (p.account_id, p.role_name))
        .collect();
    let mut out = vec![];
    for a in accounts {
        let label = if a.account_name.is_empty() {
            &a.account_id
        } else {
            &a.account_name
        };
        for role in &a.roles {
            if covered.contains(&(a.account_id.clone(), role.clone())) {
                continue;
            }
            let mut name = profile_name_for(prefix, label, role);
            if names.contains(&name) {
                name = profile_name_for(prefix, &format!("{label}-{}", a.account_id), role);
            }
            if !names.insert(name.clone()) {
                continue;
            }
            let mut text = format!(
                "[profile {name}]\nsso_session = {session}\nsso_account_id = {}\nsso_role_name = {role}\n",
                a.account_id
            );
            if let Some(r) = region {
                text += &format!("region = {r}\n");
            }
            out.push((name, text));
        }
    }
    out
}

/// Appends the new sections to the AWS config in one atomic write; every existing byte is
/// kept, and a file that changed meanwhile is left alone.
pub(super) fn populate(
    config: &Config,
    session: &str,
    accounts: &[crate::sso::portal::Account],
    region: Option<&str>,
    prefix: &str,
) -> Result<()> {
    // Account ids and role names come from the service: only safe text goes into the file.
    let safe = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.@+=,".contains(c))
    };
    let accounts: Vec<_> = accounts
        .iter()
        .filter(|a| safe(&a.account_id))
        .map(|a| crate::sso::portal::Account {
            roles: a.roles.iter().filter(|r| safe(r)).cloned().collect(),
            ..a.clone()
        })
        .collect();
    let sections = new_sections(config, session, &accounts, region, prefix);
    if sections.is_empty() {
        eprintln!("vault: every account and role of the sso-session already has a profile");
        return Ok(());
    }
    let path = config_path()?;
    let io = |op, source| Error::Io {
        op,
        path: path.clone(),
        source,
    };
    let real = match std::fs::canonicalize(&path) {
        Ok(r) => Some(r),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io("reading the AWS config file", e)),
    };
    let before = match &real {
        Some(r) => std::fs::read(r).map_err(|e| io("reading the AWS config file", e))?,
        None => vec![],
    };
    let mut text = before.clone();
    if !text.is_empty() && !text.ends_with(b"\n") {
        text.push(b'\n');
    }
    for (_, s) in &sections {
        text.push(b'\n');
        text.extend_from_slice(s.as_bytes());
    }
    let target = real.clone().unwrap_or_else(|| path.clone());
    let meta = real.as_ref().and_then(|r| std::fs::metadata(r).ok());
    if let Some(r) = &real {
        let now = std::fs::read(r).map_err(|e| io("reading the AWS config file", e))?;
        if now != before {
            return Err(Error::Other(Msg::hinted(
                format!(
                    "{} changed while populating; it was left unchanged",
                    path.display()
                ),
                "run `vault sso populate` again",
            )));
        }
    } else if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io("creating the directory of", e))?;
    }
    let perms = match &meta {
        Some(m) => vault_backends::fs::Perms::Keep(m),
        None => vault_backends::fs::Perms::Private,
    };
    vault_backends::fs::write_atomic(&target, &text, perms).map_err(|e| match e {
        vault_backends::Error::Io { op, source, .. } => Error::Io {
            op,
            path: path.clone(),
            source,
        },
        e => Error::Backend(e),
    })?;
    for (name, _) in &sections {
        outln!("{}", crate::sanitize(name))?;
    }
    eprintln!(
        "vault: added {} profile{} to {}",
        sections.len(),
        if sections.len() == 1 { "" } else { "s" },
        path.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::profile_name_for;

    #[test]
    fn populated_names_are_sanitised() {
        assert_eq!(
            profile_name_for("", "Prod Account", "Admin"),
            "Prod-Account.Admin"
        );
        assert_eq!(profile_name_for("co-", ".x/y\n", "R"), "co-.x-y-.R");
        assert_eq!(profile_name_for("", "..", "R"), "R");
        let name = profile_name_for("", "\u{1b}[31mred", "R");
        assert!(crate::cli::args::profile_name(&name).is_ok(), "{name}");
    }
}
