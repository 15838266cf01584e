//! `vault passwd`: rewrap the master key under a new passphrase. Items are not touched.

use crate::error::Result;

use crate::settings::Settings;

/// Arguments of `vault passwd`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Read the new passphrase from this file descriptor (else VAULT_NEW_PASSPHRASE_FILE,
    /// VAULT_NEW_PASSPHRASE, or a prompt typed twice).
    #[arg(long, value_name = "N")]
    pub new_passphrase_fd: Option<i32>,
    #[command(flatten)]
    pub kdf: super::args::KdfArgs,
}

/// Runs `vault passwd`.
pub fn run(ctx: &Settings, args: Args) -> Result<()> {
    let vault = crate::vault::Vault::open(ctx)?;
    vault.ensure_initialized()?;
    // One writer at a time from reading the slot to writing it (issue 13, point 1): a rekey
    // that ran while the new passphrase was typed used to be undone, losing every key.
    let writers = vault.lock_writers()?;
    let (master, old_params, read) =
        ctx.pass
            .retry_own("passwd", "Current vault passphrase: ", |old| {
                vault.unlock_master_for_write(&writers, old)
            })?;
    let params = args.kdf.over(old_params)?;
    let new_sources = crate::passphrase::Sources {
        fd: args.new_passphrase_fd,
        file: ctx.new_pass.file.clone(),
        askpass: None,
        env: ctx.new_pass.env.clone(),
    };
    let new = new_sources.read_new("New vault passphrase")?;
    vault.rewrap(&writers, &read, &master, &new, params)?;
    eprintln!("vault: passphrase changed ({params})");
    Ok(())
}
