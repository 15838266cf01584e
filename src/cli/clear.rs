//! `vault clear [PROFILE]`: drop cached sessions (all, or those made for PROFILE).

use crate::error::Result;
use crate::vault::session_name;

use super::{check_profile, Ctx};

/// Arguments of `vault clear`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this profile's sessions.
    pub profile: Option<String>,
}

/// Runs `vault clear`.
pub fn run(ctx: &Ctx, args: Args) -> Result<()> {
    if let Some(p) = &args.profile {
        check_profile(p)?;
    }
    let vault = ctx.vault()?;
    vault.ensure_initialized()?;
    let mut n = 0;
    for s in vault.names()?.sessions {
        let matches = match &args.profile {
            Some(p) => s.rsplit_once('.').is_some_and(|(profile, _)| profile == p),
            None => true,
        };
        if matches && vault.remove(&session_name(&s))? {
            n += 1;
        }
    }
    eprintln!(
        "vault: cleared {n} cached session{}",
        if n == 1 { "" } else { "s" }
    );
    Ok(())
}
