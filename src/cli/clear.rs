//! `vault clear [PROFILE]`: drop cached sessions (all, or those made for PROFILE).

use crate::error::Result;
use crate::vault::Busy;

use crate::settings::Settings;

/// Arguments of `vault clear`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this profile's sessions.
    #[arg(value_parser = super::args::profile_name)]
    pub profile: Option<String>,
}

/// Runs `vault clear`.
pub fn run(ctx: &Settings, args: Args) -> Result<()> {
    let vault = crate::vault::Vault::open(ctx)?;
    vault.ensure_initialized()?;
    let ids = vault.names()?.sessions.into_iter();
    let mine = ids.filter(|id| args.profile.as_deref().is_none_or(|p| id.profile() == p));
    let n = vault.drop_sessions(Busy::Wait, mine, |_| Ok(true))?;
    eprintln!(
        "vault: cleared {n} cached session{}",
        if n == 1 { "" } else { "s" }
    );
    Ok(())
}
