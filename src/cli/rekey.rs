//! `vault rekey`: re-encrypt every stored key to a new master identity (the passphrase stays).

use crate::error::Result;

use crate::settings::Settings;

/// Arguments of `vault rekey`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `vault rekey`.
pub fn run(ctx: &Settings, _args: Args) -> Result<()> {
    let vault = crate::vault::Vault::open(ctx)?;
    vault.ensure_initialized()?;
    // The agent holds the old identity: stop it before anything moves.
    if let Some(mut agent) = crate::agent::connect(ctx)? {
        agent.lock(true)?;
    }
    let report = ctx
        .pass
        .retry_own("rekey", "Vault passphrase: ", |pass| vault.rekey(pass))?;
    eprintln!(
        "vault: {}re-encrypted {} stored key{} to a new master identity and dropped {} cached session{} (and sso tokens: `vault sso login` signs in again)",
        if report.resumed {
            "finished an interrupted rekey: "
        } else {
            ""
        },
        report.keys,
        if report.keys == 1 { "" } else { "s" },
        report.sessions,
        if report.sessions == 1 { "" } else { "s" },
    );
    if let Some(store) = &report.keychain {
        eprintln!("vault: the keychain slot ({store}) now holds the new identity");
    }
    if let Some(e) = &report.keychain_error {
        eprintln!(
            "vault: warning: the keychain slot could not move to the new identity, so it was removed ({}); `vault slot add keychain` adds it again",
            crate::sanitize_message(e)
        );
    }
    eprintln!(
        "vault: the old recovery identity no longer opens this vault; `vault recover` prints the new one"
    );
    Ok(())
}
