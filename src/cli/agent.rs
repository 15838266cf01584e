//! `vault agent`, `vault unlock`, `vault lock`, `vault status`: the unlock agent.

use std::time::Duration;

use crate::agent;
use crate::error::Result;

use crate::settings::Settings;

/// Arguments of `vault agent`.
#[derive(Debug, clap::Args)]
pub struct AgentArgs {
    /// Lock after this long without use (e.g. 900, 15m, 1h) [default: VAULT_AGENT_TIMEOUT or 15m].
    #[arg(long, value_parser = super::args::parse_duration, value_name = "D")]
    pub idle_timeout: Option<Duration>,
}

/// Runs the agent in the foreground (started on demand by other commands).
pub fn run_agent(ctx: &Settings, args: AgentArgs) -> Result<()> {
    agent::run(ctx, args.idle_timeout.unwrap_or(ctx.agent_idle))
}

/// Arguments of `vault unlock`.
#[derive(Debug, clap::Args)]
pub struct UnlockArgs {}

/// Unlocks the agent (starting it when needed) so later commands need no passphrase.
pub fn unlock(ctx: &Settings, _args: UnlockArgs) -> Result<()> {
    let vault = crate::vault::Vault::open(ctx)?;
    vault.ensure_initialized()?;
    let mut client = agent::connect_or_start(ctx)?;
    let was_locked = crate::unlock::unlock_agent(ctx, &vault, &mut client)?;
    // The agent's own timer, not this command's setting: it may have been started with
    // another --idle-timeout.
    let left = client
        .status()?
        .idle_left_secs
        .map(|s| humantime::format_duration(std::time::Duration::from_secs(s)).to_string())
        .unwrap_or_else(|| "?".into());
    if was_locked {
        eprintln!("vault: unlocked; the agent locks after {left} without use");
    } else {
        eprintln!("vault: the agent is already unlocked (it locks after {left} without use)");
    }
    Ok(())
}

/// Arguments of `vault lock`.
#[derive(Debug, clap::Args)]
pub struct LockArgs {
    /// Also stop the agent process.
    #[arg(long)]
    pub stop: bool,
}

/// Drops the agent's key now.
pub fn lock(ctx: &Settings, args: LockArgs) -> Result<()> {
    match agent::connect(ctx)? {
        Some(mut c) => {
            c.lock(args.stop)?;
            eprintln!(
                "vault: {}",
                if args.stop { "agent stopped" } else { "locked" }
            );
        }
        None => eprintln!("vault: no agent is running (nothing to lock)"),
    }
    Ok(())
}

/// Arguments of `vault status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// Reports the vault, its backend and the agent.
pub fn status(ctx: &Settings, args: StatusArgs) -> Result<()> {
    let vault = crate::vault::Vault::open(ctx)?;
    let slot = vault.slot()?;
    let params = crate::vault::crypto::MasterIdentity::slot_params(&slot)
        .map(|p| p.to_string())
        .unwrap_or_else(|e| format!("unreadable ({e})"));
    let keychain = vault.keychain_slot()?.map(|d| d.store);
    let agent = agent::connect(ctx)?.map(|mut c| c.status()).transpose()?;
    let socket = agent::socket_path(ctx)?;
    let sso = sso_tokens(ctx, &vault)?;
    let now = time::OffsetDateTime::now_utc();
    let rfc3339 = |t: &time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    if args.json {
        let v = serde_json::json!({
            "backend": vault.backend().kind(),
            "location": vault.backend().location(),
            "kdf": params,
            "keychain_slot": keychain,
            "agent": agent.as_ref().map(|a| serde_json::json!({
                "pid": a.pid, "unlocked": a.unlocked, "idle_left_secs": a.idle_left_secs,
                "socket": socket.display().to_string(),
            })),
            "sso_sessions": sso.iter().map(|(n, exp)| serde_json::json!({
                "sso_session": n,
                "expires_at": exp.as_ref().map(rfc3339),
                "seconds_left": exp.map(|e| (e - now).whole_seconds()),
            })).collect::<Vec<_>>(),
        });
        outln!("{v:#}")?;
        return Ok(());
    }
    outln!(
        "backend:  {} ({})",
        vault.backend().kind(),
        vault.backend().location()
    )?;
    outln!("slot:     {params}")?;
    if let Some(store) = keychain {
        outln!("slot:     keychain ({store}): unlocks without the passphrase")?;
    }
    match agent {
        Some(a) if a.unlocked => outln!(
            "agent:    unlocked (pid {}, locks in {} s)",
            a.pid,
            a.idle_left_secs.unwrap_or(0)
        )?,
        Some(a) => outln!("agent:    locked (pid {})", a.pid)?,
        None => outln!("agent:    not running")?,
    }
    for (n, exp) in &sso {
        let when = match exp {
            Some(e) if *e > now => format!(
                "token expires {} (in {} min; refreshed before then)",
                rfc3339(e),
                (*e - now).whole_minutes()
            ),
            Some(e) => format!("token expired {} (refreshed on next use)", rfc3339(e)),
            None => "token sealed (its expiry shows while the agent is unlocked)".to_owned(),
        };
        outln!("sso:      {} {when}", crate::sanitize(n))?;
    }
    Ok(())
}

/// The sso-sessions with a sealed token, and each access token's expiry when an unlocked
/// agent can open it (never prompts, never starts an agent).
fn sso_tokens(
    ctx: &Settings,
    vault: &crate::vault::Vault,
) -> Result<Vec<(String, Option<time::OffsetDateTime>)>> {
    let names = vault.names()?.sso_tokens;
    if names.is_empty() {
        return Ok(vec![]);
    }
    let client = if ctx.no_agent {
        None
    } else {
        agent::connect_unlocked(ctx)?
    };
    let unlocked = client.map(|c| {
        vault.with_sealer(Box::new(crate::agent::client::AgentSealer(
            std::cell::RefCell::new(c),
        )))
    });
    Ok(names
        .into_iter()
        .map(|n| {
            let exp = unlocked.as_ref().and_then(|u| {
                u.get(&crate::vault::sso_token_name(&n))
                    .ok()??
                    .sso_token
                    .map(|t| t.expires_at)
            });
            (n, exp)
        })
        .collect())
}
