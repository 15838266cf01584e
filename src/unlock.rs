//! The unlock policy: through the agent (started when needed) unless `--no-agent`, by the
//! keychain slot when the vault has one, else with the passphrase from its sources.

use crate::error::{Error, Result};
use crate::settings::Settings;
use crate::vault::{Unlocked, Vault};

/// Unlocks `vault`: through the agent (started when needed) unless `--no-agent`, by the
/// keychain slot when the vault has one, else with the passphrase from its sources.
pub fn unlock<'v>(settings: &Settings, vault: &'v Vault) -> Result<Unlocked<'v>> {
    if !settings.no_agent {
        // An unlocked agent answers without reading the vault's slot (for pass, a gpg run).
        let client = match crate::agent::connect_unlocked(settings)? {
            Some(c) => c,
            None => {
                // Fail before starting an agent or prompting when there is no vault.
                vault.ensure_initialized()?;
                let mut c = crate::agent::connect_or_start(settings)?;
                unlock_agent(settings, vault, &mut c)?;
                c
            }
        };
        return Ok(
            vault.with_sealer(Box::new(crate::agent::client::AgentSealer(
                std::cell::RefCell::new(client),
            ))),
        );
    }
    // Fail before prompting when there is no vault.
    vault.ensure_initialized()?;
    if vault.keychain_slot()?.is_some() {
        match vault.unlock_keychain() {
            Ok(Some((master, generation))) => return Ok(vault.with_master(master, generation)),
            Ok(None) => {}
            Err(e @ Error::RolledBack { .. }) => return Err(e),
            Err(e) => keychain_fallback(&e),
        }
    }
    let (master, _, generation) = settings
        .pass
        .retry("Vault passphrase: ", |pass| vault.unlock_master(pass))?;
    Ok(vault.with_master(master, generation))
}

/// Unlocks a locked agent: the agent tries the keychain slot itself when the vault has
/// one; otherwise (or when that fails) it gets the passphrase. Returns whether it was
/// locked.
pub fn unlock_agent(
    settings: &Settings,
    vault: &Vault,
    client: &mut crate::agent::client::Client,
) -> Result<bool> {
    if client.status()?.unlocked {
        return Ok(false);
    }
    let request = crate::agent::client::UnlockWith {
        backend: &settings.backend,
        state_dir: settings.state_dir.as_deref(),
        // The agent never asks: the KDF gate runs here, where a terminal may be.
        allow_slow_kdf: {
            vault.gate_kdf(&vault.slot()?)?;
            true
        },
    };
    if vault.keychain_slot()?.is_some() {
        match client.unlock_keychain(&request) {
            Ok(_) => return Ok(true),
            Err(e @ Error::RolledBack { .. }) => return Err(e),
            Err(e) => keychain_fallback(&e),
        }
    }
    settings
        .pass
        .retry("Vault passphrase: ", |pass| client.unlock(pass, &request))?;
    Ok(true)
}

/// Says why the keychain slot did not unlock before the passphrase is asked for.
fn keychain_fallback(e: &Error) {
    eprintln!(
        "vault: warning: the keychain slot did not unlock the vault, asking for the passphrase: {}",
        crate::sanitize_message(&e.report())
    );
}
