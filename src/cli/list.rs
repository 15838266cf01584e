//! `vault list [--json]`: stored keys and cached sessions. Names are not secret, so listing
//! needs no passphrase; when an unlocked agent is running, sessions also show their time left.

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
    if args.json {
        let out = serde_json::json!({
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
        return Ok(());
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
    Ok(())
}
