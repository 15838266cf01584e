//! `vault init`: a random master key sealed under an Argon2id passphrase slot.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::vault::slot::KdfParams;
use crate::vault::Vault;

use crate::settings::Settings;

/// Arguments of `vault init`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub kdf: super::args::KdfArgs,
}

/// Chooses the KDF parameters: the flags, over calibration unless every one is given.
pub fn params(kdf: &super::args::KdfArgs) -> Result<KdfParams> {
    let base = match kdf.kdf_memory {
        Some(_) => KdfParams::DEFAULT,
        None => KdfParams::calibrate(Duration::from_secs(1)),
    };
    kdf.over(base)
}

/// Runs `vault init`.
pub fn run(ctx: &Settings, args: Args) -> Result<()> {
    let params = params(&args.kdf)?;
    let backend = crate::vault::backend(ctx, true)?;
    let vault = Vault::new(backend);
    if vault.backend().get(crate::vault::SLOT)?.is_some() {
        return Err(Error::AlreadyInitialized(vault.backend().location()));
    }
    let pass = ctx.pass.read_new("New vault passphrase")?;
    vault.init(&pass, params)?;
    crate::vault::record_backend(&ctx.vault_dir, &ctx.backend.kind)?;
    eprintln!(
        "vault: created a vault in {} ({}, {params})",
        vault.backend().location(),
        vault.backend().kind()
    );
    eprintln!("vault: keep a copy of the recovery identity somewhere safe: `vault recover`");
    Ok(())
}
