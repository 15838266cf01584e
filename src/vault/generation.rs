//! Generations (issue 13, points 2 and 4): every slot carries the number of rekeys that made
//! it, every v3 item the generation it was sealed under.
//!
//! - **Stale identities.** Whoever holds an unlocked identity (an agent, a command unlocked
//!   in-process) re-reads the slot's generation before it seals anything, and refuses once it
//!   changed (or a rekey is running), so nothing is sealed to a retired identity.
//! - **Rollback.** The newest generation this user has seen of a vault is recorded outside
//!   the vault directory, in `$XDG_STATE_HOME/vault/generation-<digest of the vault
//!   directory's canonical path>` ([`Seen`]); a slot older than it is refused
//!   ([`Error::RolledBack`]), and so is an item older than the identity that opens it. The
//!   running agent remembers the newest generation it unlocked, too.
//!
//! The record is keyed by the canonical path, not by anything inside the vault: whoever can
//! restore files in the vault directory could restore an id file with them.

use std::cell::Cell;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::crypto::MasterIdentity;
use super::slot::{memory, KdfParams};
use super::{rekey::REKEY_SLOT, Sealer, Unlocked, Vault, SLOT};
use crate::error::{Error, Msg, Result};
use crate::secret::Secret;

/// The per-user record of a vault's newest generation.
#[derive(Debug, Clone)]
pub struct Seen {
    path: PathBuf,
}

/// What a [`Vault`] checks as it opens the slot.
#[derive(Debug, Default)]
pub struct Policy {
    /// Where the newest generation is recorded, if anywhere.
    pub seen: Option<Seen>,
    /// `VAULT_ALLOW_SLOW_KDF`: run a KDF far above init's without asking.
    pub allow_slow_kdf: bool,
    /// Whether a terminal may be asked (never in the agent).
    pub can_ask: bool,
    /// Set once the user said yes to a slow KDF.
    pub confirmed: Cell<bool>,
}

impl Policy {
    /// What the vault checks as it opens the slot, from `settings`.
    pub fn of(settings: &crate::settings::Settings) -> Policy {
        Policy {
            seen: settings
                .state_dir
                .as_deref()
                .map(|d| Seen::new(d, &settings.vault_dir)),
            allow_slow_kdf: settings.allow_slow_kdf,
            can_ask: true,
            confirmed: Default::default(),
        }
    }
}

impl Seen {
    /// The record of the vault in `vault_dir`, kept in `state_dir`.
    pub fn new(state_dir: &Path, vault_dir: &Path) -> Seen {
        let real = std::fs::canonicalize(vault_dir)
            .or_else(|_| std::path::absolute(vault_dir))
            .unwrap_or_else(|_| vault_dir.to_owned());
        let digest = Sha256::digest(real.as_os_str().as_encoded_bytes());
        let name = format!("generation-{}", vault_backends::fs::hex(&digest[..16]));
        Seen {
            path: state_dir.join(name),
        }
    }

    /// The file, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The newest generation recorded (0 when none is).
    pub fn newest(&self) -> Result<u64> {
        let io = |e| Error::Io {
            op: "reading",
            path: self.path.clone(),
            source: e,
        };
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(
                (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32,
            )
            .open(&self.path);
        let file = match file {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(io(e)),
        };
        let meta = file.metadata().map_err(io)?;
        let uid = rustix::process::geteuid().as_raw();
        vault_backends::fs::check_owner_mode(&self.path, &meta, uid, 0o022, "chmod 600")?;
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::Read::take(file, 64), &mut text).map_err(io)?;
        text.trim().parse().map_err(|_| {
            Error::Other(Msg::hinted(
                format!("{} does not hold a generation number", self.path.display()),
                "remove it (it is re-created the next time the vault is opened)",
            ))
        })
    }

    /// Records `generation` (0700 directory, 0600 file, written atomically).
    pub fn set(&self, generation: u64) -> Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| Error::Io {
                    op: "creating",
                    path: dir.to_owned(),
                    source: e,
                })?;
        }
        vault_backends::fs::write_atomic(
            &self.path,
            format!("{generation}\n").as_bytes(),
            vault_backends::fs::Perms::Private,
        )?;
        Ok(())
    }
}

impl Vault {
    /// This vault with `policy` (the settings' state directory and KDF choice).
    pub fn with_policy(mut self, policy: Policy) -> Vault {
        self.policy = policy;
        self
    }

    /// The record of the newest generation, if this vault keeps one.
    pub fn seen(&self) -> Option<&Seen> {
        self.policy.seen.as_ref()
    }

    /// Refuses a slot of `generation` older than the newest recorded, else records it.
    pub fn check_generation(&self, generation: u64) -> Result<()> {
        let Some(seen) = self.seen() else {
            return Ok(());
        };
        let newest = seen.newest()?;
        if generation < newest {
            return Err(Error::RolledBack {
                item: SLOT.into(),
                detail: format!(
                    "it is generation {generation}, and generation {newest} was opened before"
                ),
                state: seen.path().display().to_string(),
            });
        }
        if generation > newest {
            seen.set(generation)?;
        }
        Ok(())
    }

    /// Refuses, before any KDF work, a slot asking for more than this machine can give, and
    /// one far above what `vault init` sets unless allowed or confirmed at a terminal.
    pub fn gate_kdf(&self, slot: &[u8]) -> Result<()> {
        // A slot that does not parse is reported by the open that follows.
        let Ok(params) = MasterIdentity::slot_params(slot) else {
            return Ok(());
        };
        if params.check().is_err() {
            return Ok(());
        }
        memory::check(&params).map_err(|e| Error::crypto(SLOT, e))?;
        if !memory::far_above_init(&params) || self.policy.allow_slow_kdf {
            return Ok(());
        }
        if self.policy.confirmed.get() {
            return Ok(());
        }
        let what = format!(
            "the passphrase slot asks for {params}, far above what `vault init` sets ({}); each unlock attempt would take minutes and {} MiB of memory",
            KdfParams::DEFAULT,
            params.m_kib / 1024
        );
        if !self.policy.can_ask {
            return Err(Error::SlowKdf(format!(
                "{what}: refused without a terminal"
            )));
        }
        let answer = crate::passphrase::prompt_line(&format!("vault: {what}. Run it? [y/N] "))
            .map_err(|_| Error::SlowKdf(format!("{what}: refused without a terminal")))?;
        if matches!(answer.to_ascii_lowercase().as_str(), "y" | "yes") {
            self.policy.confirmed.set(true);
            Ok(())
        } else {
            Err(Error::SlowKdf(format!("{what}: not confirmed")))
        }
    }

    /// Opens `slot` (the vault's, or the rekey journal) after the KDF gate; its generation is
    /// authenticated once it opens.
    pub(super) fn open_slot(
        &self,
        name: &str,
        slot: &[u8],
        passphrase: &Secret,
    ) -> Result<(MasterIdentity, KdfParams, u64)> {
        self.gate_kdf(slot)?;
        let (master, params) =
            MasterIdentity::open_slot(slot, passphrase).map_err(|e| Error::crypto(name, e))?;
        let generation =
            MasterIdentity::slot_generation(slot).map_err(|e| Error::crypto(name, e))?;
        Ok((master, params, generation))
    }

    /// The slot's generation now (read without the passphrase); refuses while a rekey runs.
    pub fn current_generation(&self) -> Result<u64> {
        if self.backend.contains(REKEY_SLOT)? {
            return Err(Error::StaleIdentity("a rekey is running".into()));
        }
        MasterIdentity::slot_generation(&self.slot()?).map_err(|e| Error::crypto(SLOT, e))
    }

    /// Refuses to seal for a holder of `generation` once the slot is another.
    pub fn ensure_current(&self, generation: u64) -> Result<()> {
        let now = self.current_generation()?;
        if now != generation {
            return Err(Error::StaleIdentity(format!(
                "this identity is generation {generation}, the vault's slot is generation {now}"
            )));
        }
        Ok(())
    }

    /// An unlocked view sealing with `master`, of `generation`, in this process.
    pub fn with_master(&self, master: MasterIdentity, generation: u64) -> Unlocked<'_> {
        self.with_sealer(Box::new(Local {
            master,
            generation,
            vault: self,
        }))
    }
}

/// The master identity held in this process, re-checking the slot before every seal.
struct Local<'v> {
    master: MasterIdentity,
    generation: u64,
    vault: &'v Vault,
}

impl Sealer for Local<'_> {
    fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>> {
        self.vault.ensure_current(self.generation)?;
        Ok(self.master.seal(plaintext))
    }
    fn open(&self, name: &str, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        self.master
            .open(ciphertext)
            .map_err(|e| Error::crypto(name, e))
    }
    fn generation(&self) -> u64 {
        self.generation
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::item::{Item, LongTermKey};

    fn key() -> Item {
        Item::key(LongTermKey {
            access_key_id: "AKIATEST".into(),
            secret_access_key: Secret::new("s"),
            mfa_serial: None,
            added: time::OffsetDateTime::UNIX_EPOCH,
            rotated: None,
        })
    }

    /// An item sealed to the current identity under an older generation is refused; a
    /// holder of an older generation refuses to seal.
    #[test]
    fn older_items_are_refused_and_stale_holders_do_not_seal() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("v");
        let backend = vault_backends::FileBackend::open(&dir, true).unwrap();
        let seen = Seen::new(&tmp.path().join("state"), &dir);
        let vault = Vault::new(Box::new(backend)).with_policy(Policy {
            seen: Some(seen.clone()),
            ..Default::default()
        });
        let pass = Secret::new("pw");
        let at0 = vault.init(&pass, KdfParams::FLOOR).unwrap();
        at0.put("key.p", &key()).unwrap();
        assert_eq!(seen.newest().unwrap(), 0);
        // The same identity at generation 1 (as no command makes it, to reach the check).
        let (master, _, _) = vault.unlock_master(&pass).unwrap();
        let slot = master.seal_slot_at(&pass, KdfParams::FLOOR, 1).unwrap();
        vault.backend.set(SLOT, &slot).unwrap();
        let err = at0.put("key.q", &key()).unwrap_err();
        assert!(matches!(err, Error::StaleIdentity(_)), "{err}");
        let (master, _, generation) = vault.unlock_master(&pass).unwrap();
        assert_eq!((generation, seen.newest().unwrap()), (1, 1));
        let at1 = vault.with_master(master, 1);
        let err = at1.get("key.p").unwrap_err();
        assert!(matches!(err, Error::RolledBack { .. }), "{err}");
        at1.put("key.p", &key()).unwrap();
        assert_eq!(at1.get("key.p").unwrap().unwrap().generation(), 1);
        // The generation-0 slot, restored: refused against the record.
        let (master, _, _) = vault.unlock_master(&pass).unwrap();
        let old = master.seal_slot(&pass, KdfParams::FLOOR).unwrap();
        vault.backend.set(SLOT, &old).unwrap();
        let err = vault.unlock_master(&pass).unwrap_err();
        assert!(matches!(err, Error::RolledBack { .. }), "{err}");
    }
}
