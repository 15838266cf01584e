//! `vault sso login|logout|accounts`: IAM Identity Center sign-in, sign-out and discovery
//! (DESIGN.md §5a). The tokens are sealed in the vault (`sso::token`), never written to
//! `~/.aws/sso/cache`.

use std::path::PathBuf;
use std::time::Duration;

use crate::aws::profile::Config;
use crate::error::{Error, Result};
use crate::settings::Settings;
use crate::sso::portal::{Portal, PortalError};
use crate::sso::token::{self, Login, Need};

/// Arguments of `vault sso`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

/// Which sso-session: by name, or the one a profile uses.
#[derive(Debug, clap::Args)]
pub struct Which {
    /// The sso-session ([sso-session NAME] in the AWS config) [default: the only one].
    #[arg(conflicts_with = "profile")]
    pub session: Option<String>,
    /// The sso-session this SSO profile uses (also the legacy in-profile form).
    #[arg(long, value_parser = super::args::profile_name, value_name = "P")]
    pub profile: Option<String>,
}

/// The `vault sso` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Sign in (always a fresh sign-in, as `aws sso login`): authorization code with PKCE in
    /// the browser, or the device code; the tokens are sealed in the vault.
    Login {
        #[command(flatten)]
        which: Which,
        /// Print the sign-in URL on stderr instead of opening a browser.
        #[arg(long)]
        no_browser: bool,
        /// Sign in with a device code (for machines without a local browser).
        #[arg(long)]
        use_device_code: bool,
        /// How long to wait for the browser to come back [default: 5m].
        #[arg(long, value_parser = super::args::parse_duration, value_name = "D")]
        timeout: Option<Duration>,
        /// ALSO write the token in PLAINTEXT to ~/.aws/sso/cache/<sha1>.json, as `aws sso
        /// login` does, for tools that read only that file (the SSM plugin, other SDK-based
        /// tools). Off by default: vault's sealed copy is all vault needs.
        #[arg(long)]
        write_plaintext_cache: bool,
    },
    /// Sign out: the portal's Logout, then drop the sealed token and its role sessions.
    Logout {
        #[command(flatten)]
        which: Which,
    },
    /// Append one profile per account and role of the sso-session to the AWS config
    /// (atomically, every other byte kept; a second run adds nothing).
    Populate {
        /// The sso-session.
        session: String,
        /// The `region` of each new profile [default: none: the SDK's default applies].
        #[arg(long, value_parser = super::args::parse_region, value_name = "R")]
        region: Option<String>,
        /// A prefix for the new profiles' names.
        #[arg(long, value_name = "P", default_value = "")]
        prefix: String,
    },
    /// Seal the token the AWS CLI / SDKs left in plaintext `~/.aws/sso/cache/<sha1>.json`.
    Import {
        #[command(flatten)]
        which: Which,
        /// Delete the plaintext file once the sealed copy reads back.
        #[arg(long)]
        remove_plaintext: bool,
    },
    /// List the accounts and roles the sso-session may use.
    Accounts {
        #[command(flatten)]
        which: Which,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `vault sso`.
pub fn run(ctx: &Settings, args: Args) -> Result<()> {
    let rt = super::runtime()?;
    let config = rt.block_on(Config::load())?;
    let populate_which;
    let which = match &args.command {
        Command::Login { which, .. }
        | Command::Logout { which }
        | Command::Import { which, .. }
        | Command::Accounts { which, .. } => which,
        Command::Populate { session, .. } => {
            populate_which = Which {
                session: Some(session.clone()),
                profile: None,
            };
            &populate_which
        }
    };
    let (session, profile) =
        crate::sso::find_session(&config, which.session.as_deref(), which.profile.as_deref())?;
    let vault = crate::vault::Vault::open(ctx)?;
    let unlocked = crate::unlock::unlock(ctx, &vault)?;
    match args.command {
        Command::Login {
            no_browser,
            use_device_code,
            timeout,
            write_plaintext_cache,
            ..
        } => {
            let how = Login {
                no_browser,
                device_code: use_device_code,
                timeout: timeout.unwrap_or(Login::default().timeout),
            };
            rt.block_on(token::login(&unlocked, &session, &profile, &how))?;
            if write_plaintext_cache {
                export_plaintext(&unlocked, &session)?;
            }
            Ok(())
        }
        Command::Logout { .. } => {
            let ours = token::read(&unlocked, &session)?;
            if let Some(t) = &ours {
                let oidc = rt.block_on(crate::sso::oidc::Oidc::new(&session, &profile));
                match rt.block_on(Portal::new(oidc.sdk_config()).logout(&t.access_token)) {
                    Ok(()) | Err(PortalError::Unauthorized) => {}
                    // Signing out locally still happens; say the remote part failed.
                    Err(PortalError::Other(e)) => eprintln!(
                        "vault: warning: {}",
                        crate::sanitize_message(&e.to_string())
                    ),
                }
            }
            let dropped = token::forget(&unlocked, &session)?;
            // A plaintext copy written on request (--write-plaintext-cache) goes too: its
            // token was just revoked. Only vault's own copy: a file holding another token
            // (the AWS CLI's own sign-in) is left alone.
            if let (Some(t), Ok(path)) = (&ours, plaintext_cache(&session)) {
                let same = std::fs::read(&path)
                    .ok()
                    .map(zeroize::Zeroizing::new)
                    .and_then(|b| serde_json::from_slice::<CacheFile>(&b).ok())
                    .is_some_and(|f| f.access_token.expose() == t.access_token.expose());
                if same && std::fs::remove_file(&path).is_ok() {
                    eprintln!("vault: removed the plaintext token {}", path.display());
                }
            }
            eprintln!(
                "vault: signed out of the sso-session {} ({dropped} role session{} dropped)",
                crate::sanitize(&session.name),
                if dropped == 1 { "" } else { "s" }
            );
            Ok(())
        }
        Command::Populate { region, prefix, .. } => {
            let need = Need {
                session: &session,
                profile: &profile,
                interactive: std::io::IsTerminal::is_terminal(&std::io::stderr()),
            };
            let accounts = rt.block_on(token::accounts(&unlocked, need))?;
            populate(
                &config,
                &session.name,
                &accounts,
                region.as_deref(),
                &prefix,
            )
        }
        Command::Import {
            remove_plaintext, ..
        } => import(&unlocked, &session, remove_plaintext),
        Command::Accounts { json, .. } => {
            let need = Need {
                session: &session,
                profile: &profile,
                interactive: std::io::IsTerminal::is_terminal(&std::io::stderr()),
            };
            let accounts = rt.block_on(token::accounts(&unlocked, need))?;
            if json {
                outln!("{:#}", serde_json::json!(accounts))?;
                return Ok(());
            }
            outln!("{:<14} {:<32} ROLES", "ACCOUNT", "NAME")?;
            for a in &accounts {
                outln!(
                    "{:<14} {:<32} {}",
                    crate::sanitize(&a.account_id),
                    crate::sanitize(&a.account_name),
                    crate::sanitize(&a.roles.join(", "))
                )?;
            }
            Ok(())
        }
    }
}

/// The plaintext cache file the SDKs keep for `session`: `~/.aws/sso/cache/` and the SHA-1
/// hex of the sso-session name (of the start URL for the legacy form).
fn plaintext_cache(session: &crate::sso::Session) -> Result<PathBuf> {
    use sha1::Digest;
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or_else(|| {
            Error::Config(
                "HOME is not set, so there is no ~/.aws/sso/cache\n  hint: set HOME".into(),
            )
        })?;
    let digest = sha1::Sha1::digest(session.name.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok(PathBuf::from(home)
        .join(".aws/sso/cache")
        .join(format!("{hex}.json")))
}

/// `vault sso login --write-plaintext-cache`: the sealed token written where the AWS CLI and
/// the SDKs look for it, in their format (mode 0600, atomically). This is the one place vault
/// writes a credential in plaintext, and only on this explicit request.
fn export_plaintext(
    vault: &crate::vault::Unlocked<'_>,
    session: &crate::sso::Session,
) -> Result<()> {
    let Some(t) = token::read(vault, session)? else {
        return Err(Error::Other(
            "the sign-in left no sealed token to export\n  hint: run `vault sso login` again"
                .into(),
        ));
    };
    let path = plaintext_cache(session)?;
    let time = |t: &time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    // Borrowed fields serialised into one pre-reserved zeroed buffer, so no copy of a
    // token is left behind (a serde_json::Value would hold unzeroed copies).
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Cache<'a> {
        start_url: &'a str,
        region: &'a str,
        access_token: &'a str,
        expires_at: String,
        client_id: &'a str,
        client_secret: &'a str,
        registration_expires_at: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        refresh_token: Option<&'a str>,
    }
    let doc = Cache {
        start_url: &session.start_url,
        region: &session.region,
        access_token: t.access_token.expose(),
        expires_at: time(&t.expires_at),
        client_id: &t.client_id,
        client_secret: t.client_secret.expose(),
        registration_expires_at: time(&t.client_secret_expires_at),
        refresh_token: t.refresh_token.as_ref().map(|r| r.expose()),
    };
    let mut text = zeroize::Zeroizing::new(Vec::with_capacity(64 * 1024));
    serde_json::to_writer(&mut *text, &doc)
        .map_err(|e| Error::Other(format!("encoding the token cache file: {e}")))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            op: "creating",
            path: dir.into(),
            source,
        })?;
    }
    vault_backends::fs::write_atomic(&path, &text, vault_backends::fs::Perms::Private)?;
    eprintln!(
        "vault: warning: wrote the token of {} in PLAINTEXT to {} (as asked); `vault sso logout` removes it",
        crate::sanitize(&session.name),
        path.display()
    );
    Ok(())
}

/// The token fields of the SDKs' cache file (botocore's and aws-config's names).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct CacheFile {
    start_url: Option<String>,
    access_token: crate::secret::Secret,
    expires_at: String,
    refresh_token: Option<crate::secret::Secret>,
    client_id: Option<String>,
    client_secret: Option<crate::secret::Secret>,
    registration_expires_at: Option<String>,
}

/// `2024-01-01T00:00:00Z`, or the legacy CLI's `2024-01-01T00:00:00UTC`.
fn cache_time(s: &str) -> Option<time::OffsetDateTime> {
    let s = match s.strip_suffix("UTC") {
        Some(t) => format!("{t}Z"),
        None => s.to_owned(),
    };
    time::OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339).ok()
}

/// `vault sso import`: seal the plaintext token; with `remove`, delete the file once the
/// sealed copy reads back.
fn import(
    vault: &crate::vault::Unlocked<'_>,
    session: &crate::sso::Session,
    remove: bool,
) -> Result<()> {
    let path = plaintext_cache(session)?;
    let shown = path.display().to_string();
    let bytes = zeroize::Zeroizing::new(match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::Config(format!(
                "there is no plaintext SSO token for {} at {shown}\n  hint: nothing to import; sign in with `vault sso login`",
                crate::sanitize(&session.name)
            )))
        }
        Err(source) => {
            return Err(Error::Io {
                op: "reading",
                path,
                source,
            })
        }
    });
    // serde_json's errors quote no input, so no secret reaches the message.
    let file: CacheFile = serde_json::from_slice(&bytes).map_err(|e| {
        Error::Config(format!(
            "{shown} is not an SSO token cache file ({:?} error at line {} column {})\n  hint: sign in with `vault sso login` instead",
            e.classify(),
            e.line(),
            e.column()
        ))
    })?;
    if file
        .start_url
        .as_deref()
        .is_some_and(|u| u != session.start_url)
    {
        return Err(Error::Config(format!(
            "{shown} holds a token for another start URL\n  hint: sign in with `vault sso login` instead"
        )));
    }
    let expires_at = cache_time(&file.expires_at).ok_or_else(|| {
        Error::Config(format!(
            "{shown}: expiresAt is not a time\n  hint: sign in with `vault sso login` instead"
        ))
    })?;
    let now = time::OffsetDateTime::now_utc();
    let token = crate::vault::item::SsoToken {
        start_url: session.start_url.clone(),
        region: session.region.clone(),
        access_token: file.access_token,
        expires_at,
        // Unknown: taken as an hour before expiry, so the early-refresh rule stays sane.
        issued: (expires_at - time::Duration::hours(1)).min(now),
        refresh_token: file.refresh_token,
        client_id: file.client_id.unwrap_or_default(),
        client_secret: file
            .client_secret
            .unwrap_or_else(|| crate::secret::Secret::new("")),
        client_secret_expires_at: file
            .registration_expires_at
            .as_deref()
            .and_then(cache_time)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
        client_grant: crate::sso::oidc::DEVICE_CODE.to_owned(),
    };
    let item = crate::vault::item::Item::sso_token(token);
    {
        let _guard = vault.lock(&session.item_name())?;
        vault.put(&session.item_name(), &item)?;
    }
    let back = vault.get(&session.item_name())?;
    // What was written is the item bound to its name (issue 13's binding).
    if back.as_ref() != Some(&item.bound(&session.item_name(), vault.generation())) {
        return Err(Error::Other(format!(
            "the sealed token did not read back; {shown} is kept\n  hint: check the vault's backend"
        )));
    }
    if remove {
        std::fs::remove_file(&path).map_err(|source| Error::Io {
            op: "removing",
            path: path.clone(),
            source,
        })?;
        eprintln!(
            "vault: sealed the token of {} and removed {shown}",
            crate::sanitize(&session.name)
        );
    } else {
        eprintln!(
            "vault: sealed the token of {}; {shown} is still there in plaintext (--remove-plaintext deletes it)",
            crate::sanitize(&session.name)
        );
    }
    Ok(())
}

/// `AWS_CONFIG_FILE` (with `~` expanded, as the SDK does), else `~/.aws/config`.
fn config_path() -> Result<PathBuf> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    let home = env("HOME").map(PathBuf::from);
    let no_home = || {
        Error::Config(
            "HOME is not set, so there is no ~/.aws/config\n  hint: set AWS_CONFIG_FILE to the AWS config file".into(),
        )
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
fn populate(
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
            return Err(Error::Other(format!(
                "{} changed while populating; it was left unchanged\n  hint: run `vault sso populate` again",
                path.display()
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
        assert!(super::super::args::profile_name(&name).is_ok(), "{name}");
    }

    #[test]
    fn cache_file_times_in_both_sdk_spellings() {
        let a = super::cache_time("2024-01-01T00:00:00Z").unwrap();
        assert_eq!(super::cache_time("2024-01-01T00:00:00UTC"), Some(a));
        assert!(super::cache_time("soon").is_none());
    }
}
