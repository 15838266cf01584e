//! `vault migrate --to BACKEND`: move every item to another backend without decrypting.
//!
//! Copy the slot and then every key, read each back and compare, record the new backend, and
//! only then remove the originals. A target that holds another vault's slot is refused. Interrupted before the switch, the source is intact and the run
//! can be repeated; after it, the new backend holds everything. Cached sessions stay in the
//! local directory, where every backend keeps them.

use crate::error::{Error, Result};
use crate::vault::{backend_kind, open_backend, record_backend};

use super::Ctx;

/// Arguments of `vault migrate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The backend to move to: file, keychain[:STORE], pass or helper:NAME.
    #[arg(long, value_name = "B")]
    pub to: String,
    /// Overwrite another vault's items in the target (refused without it).
    #[arg(long)]
    pub force: bool,
}

/// Runs `vault migrate`.
pub fn run(ctx: &Ctx, args: Args) -> Result<()> {
    let from_kind = backend_kind(&ctx.vault_dir, ctx.backend.as_deref());
    if from_kind == args.to {
        return Err(Error::Usage(format!(
            "the vault is already on the {} backend",
            args.to
        )));
    }
    let src = ctx.backend(false)?;
    let Some(slot) = src.get(crate::vault::SLOT)? else {
        return Err(Error::NotInitialized(src.location()));
    };
    let dst = open_backend(&ctx.vault_dir, &args.to, false)?;
    // A target holding another vault (its own slot) is never overwritten by accident. The slot
    // is copied first, so an interrupted run of this migration is recognised and resumed.
    match dst.get(crate::vault::SLOT)? {
        Some(theirs) if theirs != slot && !args.force => {
            return Err(Error::Usage(format!(
                "{} already holds another vault\n  hint: point this one elsewhere (VAULT_KEYCHAIN_SERVICE, VAULT_PASS_PREFIX, keychain_service or pass_prefix in the config file), or pass --force to overwrite that vault's items",
                dst.location()
            )));
        }
        Some(_) if !args.force => eprintln!(
            "vault: {} already holds this vault's slot: resuming an interrupted migration",
            dst.location()
        ),
        _ => {}
    }
    let mut names: Vec<String> = src
        .list()?
        .into_iter()
        .filter(|n| !n.starts_with(crate::vault::SESSION_PREFIX))
        .collect();
    names.sort_by_key(|n| n != crate::vault::SLOT);
    for name in &names {
        let bytes = src.get(name)?.ok_or_else(|| {
            Error::Other(format!(
                "{name} vanished during the migration; run it again"
            ))
        })?;
        dst.set(name, &bytes)?;
        if dst.get(name)?.as_deref() != Some(&bytes[..]) {
            return Err(Error::Other(format!(
                "{name} read back differently from the {} backend; nothing was removed from {from_kind}",
                args.to
            )));
        }
    }
    record_backend(&ctx.vault_dir, &args.to)?;
    eprintln!(
        "vault: copied {} items to {} and verified them",
        names.len(),
        dst.location()
    );
    for name in &names {
        src.remove(name)?;
    }
    eprintln!(
        "vault: removed them from the {from_kind} backend; the vault now uses {}",
        args.to
    );
    Ok(())
}
