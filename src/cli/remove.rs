//! `vault remove PROFILE`: delete a stored key (and nothing else).

use crate::error::{Error, Result};
use crate::vault::key_name;

use crate::settings::Settings;

/// Arguments of `vault remove`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The profile whose stored key to delete.
    #[arg(value_parser = super::args::profile_name)]
    pub profile: String,
    /// Do not ask for confirmation (needed without a terminal).
    #[arg(long, short)]
    pub force: bool,
}

/// Runs `vault remove`.
pub fn run(ctx: &Settings, args: Args) -> Result<()> {
    let vault = crate::vault::Vault::open(ctx)?;
    vault.ensure_initialized()?;
    let name = key_name(&args.profile);
    if !vault.backend().contains(&name)? {
        return Err(Error::NoKey(args.profile));
    }
    crate::passphrase::confirm(
        &format!(
            "delete the stored key of {} (it may be its only copy)",
            crate::sanitize(&args.profile)
        ),
        args.force,
    )?;
    let _lock = vault.backend().lock(&name)?;
    if !vault.remove(&name)? {
        return Err(Error::NoKey(args.profile));
    }
    eprintln!("vault: removed the key for {}", args.profile);
    Ok(())
}
