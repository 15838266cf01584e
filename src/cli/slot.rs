//! `vault slot`: the key slots that unlock the master identity. The passphrase slot always
//! exists; the keychain slot (opt-in) keeps the identity in the OS keychain for password-less
//! unlock on a personal machine.

use clap::Subcommand;

use crate::error::{Error, Result};

use crate::settings::Settings;

/// Arguments of `vault slot`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: SlotCommand,
}

/// Which slot operation.
#[derive(Debug, Subcommand)]
enum SlotCommand {
    /// Keep the master identity in the OS keychain, so unlocking needs no passphrase (asks for
    /// the passphrase once, now).
    Add {
        /// The slot kind: only `keychain` (the passphrase slot always exists).
        kind: Kind,
        /// The keychain store: secret-service, keyutils or macos [default: this
        /// system's own keychain].
        #[arg(long, value_name = "STORE")]
        store: Option<String>,
    },
    /// Remove the keychain slot: the identity leaves the keychain and the passphrase is asked
    /// for again.
    Remove {
        /// The slot kind: only `keychain`.
        kind: Kind,
    },
    /// List the vault's slots.
    List,
}

/// Slot kinds that can be added or removed.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Kind {
    /// The OS keychain.
    Keychain,
}

/// Runs `vault slot`.
pub fn run(ctx: &Settings, args: Args) -> Result<()> {
    let vault = crate::vault::Vault::open(ctx)?;
    let slot = vault.slot()?;
    match args.command {
        SlotCommand::Add {
            kind: Kind::Keychain,
            store,
        } => {
            // Always the passphrase: an agent never hands the identity out.
            // Read and written under the writer lock: a rekey meanwhile would leave the old
            // identity in the keychain.
            let writers = vault.lock_writers()?;
            let (master, _, _) = ctx
                .pass
                .retry_own("slot add", "Vault passphrase: ", |pass| {
                    vault.unlock_master_for_write(&writers, pass)
                })?;
            let d = vault.add_keychain_slot(&writers, &master, store.as_deref())?;
            eprintln!(
                "vault: added a keychain slot ({}): unlocking needs no passphrase while that keychain is open",
                d.store
            );
        }
        SlotCommand::Remove {
            kind: Kind::Keychain,
        } => {
            if !vault.remove_keychain_slot()? {
                return Err(Error::NoSlot("keychain"));
            }
            eprintln!("vault: removed the keychain slot; unlocking asks for the passphrase again");
        }
        SlotCommand::List => {
            let params = crate::vault::crypto::MasterIdentity::slot_params(&slot)
                .map(|p| p.to_string())
                .unwrap_or_else(|e| format!("unreadable ({e})"));
            outln!("passphrase  {params}")?;
            if let Some(d) = vault.keychain_slot()? {
                outln!("keychain    {} (account {})", d.store, d.account)?;
            }
        }
    }
    Ok(())
}
