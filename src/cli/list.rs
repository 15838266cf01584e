//! `vault list [--json]`: stored keys and cached sessions, then (as aws-vault's table) every
//! profile of the AWS config with where its credentials come from and its cached sessions.
//! Names are not secret, so listing needs no passphrase; when an unlocked agent is running,
//! sessions also show their time left.

use time::OffsetDateTime;

use crate::error::Result;
use crate::vault::Unlocked;

use crate::settings::Settings;

/// Arguments of `vault list`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// A cached session as listed.
struct Listed {
    profile: String,
    id: String,
    /// Seconds left, when an unlocked agent could tell.
    left: Option<i64>,
}

/// Runs `vault list`.
pub fn run(ctx: &Settings, args: Args) -> Result<()> {
    let vault = crate::vault::Vault::open(ctx)?;
    vault.ensure_initialized()?;
    let names = vault.names()?;
    // Ask a running, unlocked agent for expiries; never prompt and never start one.
    let agent = if ctx.no_agent {
        None
    } else {
        crate::agent::connect_unlocked(ctx)?
    };
    let unlocked: Option<Unlocked<'_>> = agent.map(|c| {
        vault.with_sealer(Box::new(crate::agent::client::AgentSealer(
            std::cell::RefCell::new(c),
        )))
    });
    let now = OffsetDateTime::now_utc();
    let sessions: Vec<Listed> = names
        .sessions
        .iter()
        .map(|s| {
            let left = unlocked.as_ref().and_then(|u| {
                let item = u.get(&s.item_name()).ok()??;
                Some((item.session?.expiration - now).whole_seconds())
            });
            Listed {
                profile: s.profile().to_owned(),
                id: s.digest().to_owned(),
                left,
            }
        })
        .collect();
    // sso-sessions' sealed tokens, with the access token's time left when the agent can tell.
    let sso: Vec<(String, Option<i64>)> = names
        .sso_tokens
        .iter()
        .map(|n| {
            let left = unlocked.as_ref().and_then(|u| {
                let item = u.get(&crate::vault::sso_token_name(n)).ok()??;
                Some((item.sso_token?.expires_at - now).whole_seconds())
            });
            (n.clone(), left)
        })
        .collect();
    let profiles = profile_rows(&vault, &sessions);
    if args.json {
        let out = serde_json::json!({
            "profiles": profiles.iter().map(|r| serde_json::json!({
                "profile": r.profile, "credentials": r.credentials, "sessions": r.sessions,
            })).collect::<Vec<_>>(),
            "backend": vault.backend().kind(),
            "location": vault.backend().location(),
            "keys": names.keys,
            "sessions": sessions.iter().map(|s| serde_json::json!({
                "profile": s.profile, "id": s.id, "seconds_left": s.left,
            })).collect::<Vec<_>>(),
            "sso_sessions": sso.iter().map(|(n, left)| serde_json::json!({
                "sso_session": n, "seconds_left": left,
            })).collect::<Vec<_>>(),
        });
        outln!("{out:#}")?;
        return Ok(());
    }
    if names.keys.is_empty() && sessions.is_empty() && sso.is_empty() {
        eprintln!("vault: no keys stored; `vault add PROFILE` stores one");
        return print_profiles(&profiles);
    }
    outln!("{:<32} STORED", "PROFILE")?;
    for k in &names.keys {
        outln!("{:<32} long-term key", crate::sanitize(k))?;
    }
    for s in &sessions {
        let left = match s.left {
            Some(l) if l > 0 => format!("({} min left)", l / 60),
            Some(_) => "(expired)".to_owned(),
            None => "(expiry sealed: `vault unlock` shows it)".to_owned(),
        };
        outln!(
            "{:<32} session {} {left}",
            crate::sanitize(&s.profile),
            crate::sanitize(&s.id)
        )?;
    }
    for (n, left) in &sso {
        let left = match left {
            Some(l) if *l > 0 => format!("(token {} min left)", l / 60),
            Some(_) => "(token expired: refreshed on next use)".to_owned(),
            None => "(expiry sealed: `vault unlock` shows it)".to_owned(),
        };
        outln!("{:<32} sso-session token {left}", crate::sanitize(n))?;
    }
    print_profiles(&profiles)
}

/// One profile of the AWS config, as aws-vault's `list` shows it.
struct Row {
    profile: String,
    /// Where its first credentials come from: a stored key's profile, `credential_process`,
    /// `sso:SESSION`, or `-` (none, or a config error).
    credentials: String,
    /// Its cached sessions: how many, and the most time left when known.
    sessions: String,
}

/// A row per profile of the AWS config (and per stored key the config does not name). A
/// config that cannot be read gives no rows and a warning: the vault's own names still list.
fn profile_rows(vault: &crate::vault::Vault, sessions: &[Listed]) -> Vec<Row> {
    use crate::aws::chain::Source;
    let config = match super::now(crate::aws::profile::Config::load()).and_then(|r| r) {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "vault: warning: not listing the AWS config's profiles: {}",
                crate::sanitize_message(&e.report())
            );
            return vec![];
        }
    };
    let has_key = |p: &str| {
        vault
            .backend()
            .contains(&crate::vault::key_name(p))
            .map_err(Into::into)
    };
    let mut names = config.profiles();
    if let Ok(n) = vault.names() {
        names.extend(n.keys);
    }
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|profile| {
            let credentials = match config.chain(&profile, &has_key) {
                Ok(chain) => match &chain.source {
                    Source::StoredKey(s) => s.name.clone(),
                    Source::Process(_) => "credential_process".to_owned(),
                    Source::Sso(s) => match &s.sso {
                        Some(p) => format!("sso:{}", p.session.name),
                        None => "sso".to_owned(),
                    },
                },
                Err(_) => "-".to_owned(),
            };
            let mine: Vec<&Listed> = sessions.iter().filter(|l| l.profile == profile).collect();
            let sessions = match (mine.len(), mine.iter().filter_map(|l| l.left).max()) {
                (0, _) => "-".to_owned(),
                (n, Some(l)) if l > 0 => format!("{n} cached ({} min left)", l / 60),
                (n, Some(_)) => format!("{n} cached (expired)"),
                (n, None) => format!("{n} cached"),
            };
            Row {
                profile,
                credentials,
                sessions,
            }
        })
        .collect()
}

fn print_profiles(rows: &[Row]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    outln!("")?;
    outln!(
        "{:<32} {:<24} SESSIONS",
        "PROFILE (AWS config)",
        "CREDENTIALS"
    )?;
    for r in rows {
        outln!(
            "{:<32} {:<24} {}",
            crate::sanitize(&r.profile),
            crate::sanitize(&r.credentials),
            r.sessions
        )?;
    }
    Ok(())
}
