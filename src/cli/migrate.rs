//! `vault migrate --to BACKEND`: move every item to another backend without decrypting
//! (`vault/migrate.rs` says how).

use crate::error::{Error, Result};
use crate::settings::{BackendKind, BackendSpec, Settings};
use crate::vault::{backend, migrate, open_backend};

/// Arguments of `vault migrate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The backend to move to: file, keychain[:STORE], pass or helper:NAME.
    #[arg(long, value_name = "B", value_parser = super::parse_backend)]
    pub to: BackendKind,
    /// Overwrite another vault's items in the target (refused without it).
    #[arg(long)]
    pub force: bool,
}

/// Runs `vault migrate`.
pub fn run(ctx: &Settings, args: Args) -> Result<()> {
    if ctx.backend.kind == args.to {
        return Err(Error::Usage(
            format!("the vault is already on the {} backend", args.to).into(),
        ));
    }
    let src = backend(ctx, false)?;
    let to = BackendSpec {
        kind: args.to,
        ..ctx.backend.clone()
    };
    let dst = open_backend(&ctx.vault_dir, &to, false)?;
    migrate::migrate(
        &ctx.vault_dir,
        &*src,
        &ctx.backend.kind,
        &*dst,
        &to.kind,
        args.force,
    )
}
