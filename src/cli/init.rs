//! `vault init`: a random master key sealed under an Argon2id passphrase slot.

use std::time::Duration;

use crate::error::{Error, Msg, Result};
use crate::vault::crypto::MasterIdentity;
use crate::vault::slot::KdfParams;
use crate::vault::Vault;

use crate::settings::Settings;

/// Arguments of `vault init`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub kdf: super::args::KdfArgs,
    /// Re-create a lost passphrase slot from the recovery identity (`vault recover`'s output)
    /// in FILE (`-` for stdin), keeping every item; the identity must open them.
    #[arg(long, value_name = "FILE")]
    pub from_identity: Option<std::path::PathBuf>,
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
    let vault = Vault::new(backend).with_policy(crate::vault::generation::Policy::of(ctx));
    if vault.backend().get(crate::vault::SLOT)?.is_some() {
        return Err(Error::AlreadyInitialized(vault.backend().location()));
    }
    let master = match &args.from_identity {
        Some(path) => Some(recovered(&vault, path)?),
        None => {
            let items = vault.orphans()?;
            if items > 0 {
                return Err(Error::SlotMissing {
                    location: vault.backend().location(),
                    items,
                });
            }
            None
        }
    };
    let pass = ctx.pass.read_new("New vault passphrase")?;
    match master {
        Some(master) => vault.init_from(master, &pass, params)?,
        None => vault.init(&pass, params)?,
    };
    crate::vault::record_backend(&ctx.vault_dir, &ctx.backend.kind)?;
    eprintln!(
        "vault: created a vault in {} ({}, {params})",
        vault.backend().location(),
        vault.backend().kind()
    );
    eprintln!("vault: keep a copy of the recovery identity somewhere safe: `vault recover`");
    Ok(())
}

/// Reads the recovery identity from `path` (`-`: stdin; `#` lines are skipped, as in
/// `vault recover`'s output) and checks that it opens the vault's items, so a wrong file
/// cannot become the identity new items are sealed to.
fn recovered(vault: &Vault, path: &std::path::Path) -> Result<MasterIdentity> {
    use std::io::Read;
    let mut text = zeroize::Zeroizing::new(String::new());
    let read = if path.as_os_str() == "-" {
        std::io::stdin().take(64 * 1024).read_to_string(&mut text)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(64 * 1024).read_to_string(&mut text))
    };
    read.map_err(|source| Error::Io {
        op: "reading the recovery identity",
        path: path.into(),
        source,
    })?;
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or("");
    let master = MasterIdentity::parse(line).map_err(|_| {
        Error::Usage(Msg::hinted(
            format!(
                "{} does not hold an age identity (AGE-SECRET-KEY-1...)",
                path.display()
            ),
            "pass the file `vault recover` printed",
        ))
    })?;
    let names = vault.names()?;
    let items = names
        .keys
        .iter()
        .map(|k| crate::vault::key_name(k))
        .chain(names.sessions.iter().map(|s| s.item_name()));
    let mut tried = 0;
    for name in items {
        if let Some(sealed) = vault.backend().get(&name)? {
            tried += 1;
            if master.open(&sealed).is_ok() {
                return Ok(master);
            }
        }
    }
    if tried == 0 {
        return Ok(master);
    }
    Err(Error::Usage(Msg::hinted(
        format!(
            "the identity in {} opens none of the vault's {tried} item(s); nothing changed",
            path.display(),
        ),
        "it is the recovery identity of another vault; find the one `vault recover` printed for this vault",
    )))
}
