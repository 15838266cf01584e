//! `vault recover`: print the master identity after asking for the passphrase.
//!
//! With it, any item decrypts with the stock age CLI: `age -d -i identity.txt item.age`.
//! Anyone holding it can read and forge every item, so it goes to stdout only, never a file.

use crate::error::Result;

use crate::settings::Settings;

/// Arguments of `vault recover`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `vault recover`.
pub fn run(ctx: &Settings, _args: Args) -> Result<()> {
    let vault = crate::vault::Vault::open(ctx)?;
    vault.ensure_initialized()?;
    let (master, _, _) = ctx
        .pass
        .retry_own("recover", "Vault passphrase: ", |pass| {
            vault.unlock_master(pass)
        })?;
    let secret = master.to_secret();
    outln!(
        "# vault master identity: decrypts every item with `age -d -i FILE`\n{}",
        secret.expose()
    )
}
