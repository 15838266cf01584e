//! `vault remove PROFILE`: delete a stored key (and nothing else).

use crate::error::{Error, Result};
use crate::vault::key_name;

use super::{check_profile, Ctx};

/// Arguments of `vault remove`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The profile whose stored key to delete.
    pub profile: String,
}

/// Runs `vault remove`.
pub fn run(ctx: &Ctx, args: Args) -> Result<()> {
    check_profile(&args.profile)?;
    let vault = ctx.vault()?;
    vault.ensure_initialized()?;
    let name = key_name(&args.profile);
    let _lock = vault.backend().lock(&name)?;
    if !vault.remove(&name)? {
        return Err(Error::NoKey(args.profile));
    }
    eprintln!("vault: removed the key for {}", args.profile);
    Ok(())
}
