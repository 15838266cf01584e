//! `vault list [--json]`: stored keys and cached sessions. Names are not secret, so listing
//! needs no passphrase.

use crate::error::Result;

use super::Ctx;

/// Arguments of `vault list`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// Runs `vault list`.
pub fn run(ctx: &Ctx, args: Args) -> Result<()> {
    let vault = ctx.vault()?;
    vault.slot()?;
    let names = vault.names()?;
    if args.json {
        let out = serde_json::json!({
            "backend": vault.backend().kind(),
            "location": vault.backend().location(),
            "keys": names.keys,
            "sessions": names.sessions,
        });
        println!("{out:#}");
        return Ok(());
    }
    if names.keys.is_empty() && names.sessions.is_empty() {
        eprintln!("vault: no keys stored; `vault add PROFILE` stores one");
        return Ok(());
    }
    println!("{:<32} STORED", "PROFILE");
    for k in &names.keys {
        println!("{:<32} long-term key", crate::sanitize(k));
    }
    for s in &names.sessions {
        println!("{:<32} session", crate::sanitize(s));
    }
    Ok(())
}
