//! `vault passwd`: rewrap the master key under a new passphrase. Items are not touched.

use crate::error::{Error, Result};
use crate::vault::slot::KdfParams;

use super::Ctx;

/// Arguments of `vault passwd`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Read the new passphrase from this file descriptor (else VAULT_NEW_PASSPHRASE_FILE,
    /// VAULT_NEW_PASSPHRASE, or a prompt typed twice).
    #[arg(long, value_name = "N")]
    pub new_passphrase_fd: Option<i32>,
    /// New Argon2id memory in MiB [default: keep the slot's].
    #[arg(long, value_name = "MiB")]
    pub kdf_memory: Option<u32>,
    /// New Argon2id passes [default: keep].
    #[arg(long, value_name = "T")]
    pub kdf_time: Option<u32>,
    /// New Argon2id lanes [default: keep].
    #[arg(long, value_name = "P")]
    pub kdf_parallelism: Option<u32>,
}

/// Runs `vault passwd`.
pub fn run(ctx: &Ctx, args: Args) -> Result<()> {
    let vault = ctx.vault()?;
    vault.ensure_initialized()?;
    let old = ctx.pass.read("Current vault passphrase: ")?;
    let (master, old_params) = vault.unlock_master(&old)?;
    let params = KdfParams {
        m_kib: match args.kdf_memory {
            Some(m) => m.saturating_mul(1024),
            None => old_params.m_kib,
        },
        t: args.kdf_time.unwrap_or(old_params.t),
        p: args.kdf_parallelism.unwrap_or(old_params.p),
    };
    params.check().map_err(|e| Error::Usage(e.to_string()))?;
    let new_sources = crate::passphrase::Sources {
        fd: args.new_passphrase_fd,
        file: ctx.new_pass.file.clone(),
        askpass: None,
        env: ctx.new_pass.env.clone(),
    };
    let new = new_sources.read_new("New vault passphrase")?;
    vault.rewrap(&master, &new, params)?;
    eprintln!("vault: passphrase changed ({params})");
    Ok(())
}
