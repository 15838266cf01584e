//! `vault init`: a random master key sealed under an Argon2id passphrase slot.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::vault::slot::KdfParams;
use crate::vault::Vault;

use super::Ctx;

/// Arguments of `vault init`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Argon2id memory in MiB [default: calibrated to about 1 s, between 64 and 256].
    #[arg(long, value_name = "MiB")]
    pub kdf_memory: Option<u32>,
    /// Argon2id passes over memory (3 to 10) [default: 3].
    #[arg(long, value_name = "T")]
    pub kdf_time: Option<u32>,
    /// Argon2id lanes (1 to 16) [default: 4].
    #[arg(long, value_name = "P")]
    pub kdf_parallelism: Option<u32>,
}

/// Chooses the KDF parameters: the flags, else calibration.
pub fn params(
    kdf_memory: Option<u32>,
    kdf_time: Option<u32>,
    kdf_parallelism: Option<u32>,
) -> Result<KdfParams> {
    let base = match kdf_memory {
        Some(mib) => KdfParams {
            m_kib: mib
                .checked_mul(1024)
                .ok_or_else(|| Error::Usage("--kdf-memory is too large".into()))?,
            ..KdfParams::DEFAULT
        },
        None => KdfParams::calibrate(Duration::from_secs(1)),
    };
    let params = KdfParams {
        t: kdf_time.unwrap_or(base.t),
        p: kdf_parallelism.unwrap_or(base.p),
        ..base
    };
    params.check().map_err(|e| Error::Usage(e.to_string()))?;
    Ok(params)
}

/// Runs `vault init`.
pub fn run(ctx: &Ctx, args: Args) -> Result<()> {
    let params = params(args.kdf_memory, args.kdf_time, args.kdf_parallelism)?;
    let backend = ctx.backend(true)?;
    let vault = Vault::new(backend);
    if vault.backend().get(crate::vault::SLOT)?.is_some() {
        return Err(Error::AlreadyInitialized(vault.backend().location()));
    }
    let pass = ctx.pass.read_new("New vault passphrase")?;
    vault.init(&pass, params)?;
    let kind = crate::vault::backend_kind(&ctx.vault_dir, ctx.backend.as_deref());
    crate::vault::record_backend(&ctx.vault_dir, &kind)?;
    eprintln!(
        "vault: created a vault in {} ({}, {params})",
        vault.backend().location(),
        vault.backend().kind()
    );
    eprintln!("vault: keep a copy of the recovery identity somewhere safe: `vault recover`");
    Ok(())
}
