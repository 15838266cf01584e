//! `vault migrate`: move every item to another backend without decrypting.
//!
//! Copy the slot and then every key, read each back and compare, record the new backend, and
//! only then remove the originals. A target that holds another vault's slot is refused.
//! Interrupted before the switch, the source is intact and the run can be repeated; after it,
//! the new backend holds everything. Cached sessions stay in the local directory, where every
//! backend keeps them.

use std::path::Path;

use vault_backends::Backend;

use super::names::SESSION_PREFIX;
use super::{record_backend, SLOT};
use crate::error::{Error, Msg, Result};
use crate::settings::BackendKind;

/// Moves the vault in `vault_dir` from `src` (of kind `from_kind`) to `dst` (of kind
/// `to_kind`); `force` overwrites another vault's items in `dst`.
pub fn migrate(
    vault_dir: &Path,
    src: &dyn Backend,
    from_kind: &BackendKind,
    dst: &dyn Backend,
    to_kind: &BackendKind,
    force: bool,
) -> Result<()> {
    // The vault-wide writer lock (see `Vault::lock_writers`; both backends keep their locks
    // in `vault_dir`): no slot writer runs while the slot and keys move.
    let _writers = src.lock(SLOT)?;
    let Some(slot) = src.get(SLOT)? else {
        return Err(Error::NotInitialized(src.location()));
    };
    // A target holding another vault (its own slot) is never overwritten by accident. The slot
    // is copied first, so an interrupted run of this migration is recognised and resumed.
    match dst.get(SLOT)? {
        Some(theirs) if theirs != slot && !force => {
            return Err(Error::Usage(Msg::hinted(
                format!("{} already holds another vault", dst.location()),
                "point this one elsewhere (VAULT_KEYCHAIN_SERVICE, VAULT_PASS_PREFIX, keychain_service or pass_prefix in the config file), or pass --force to overwrite that vault's items",
            )));
        }
        Some(_) if !force => eprintln!(
            "vault: {} already holds this vault's slot: resuming an interrupted migration",
            dst.location()
        ),
        _ => {}
    }
    let mut names: Vec<String> = src
        .list()?
        .into_iter()
        .filter(|n| !n.starts_with(SESSION_PREFIX))
        .collect();
    names.sort_by_key(|n| n != SLOT);
    for name in &names {
        let bytes = src.get(name)?.ok_or_else(|| {
            Error::Other(format!("{name} vanished during the migration; run it again").into())
        })?;
        dst.set(name, &bytes)?;
        if dst.get(name)?.as_deref() != Some(&bytes[..]) {
            return Err(Error::Other(format!(
                "{name} read back differently from the {} backend; nothing was removed from {from_kind}",
                to_kind
            ).into()));
        }
    }
    record_backend(vault_dir, to_kind)?;
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
        to_kind
    );
    Ok(())
}
