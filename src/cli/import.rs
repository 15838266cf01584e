//! `vault import [--remove-plaintext] [--profile NAME]...`: move long-term keys out of the
//! plaintext AWS shared credentials file into the vault.
//!
//! The file is read once; the SDK's own parser reads those bytes, and with `--remove-plaintext`
//! the very same bytes are edited line by line ([`crate::aws::credentials_file::remove_keys`]), checked by
//! parsing the result again, and written back atomically, only after every imported key was
//! stored and read back from the vault.

use std::path::{Path, PathBuf};

use time::OffsetDateTime;
use zeroize::{Zeroize, Zeroizing};

use crate::aws::credentials_file;
use crate::error::{Error, Msg, Result};
use crate::sanitize;
use crate::secret::Secret;
use crate::vault::item::{Item, LongTermKey};
use crate::vault::{key_name, Unlocked};

use crate::settings::Settings;

/// Arguments of `vault import`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Once every imported key is stored and read back, delete its aws_access_key_id and
    /// aws_secret_access_key lines from the credentials file (all else is kept byte for byte).
    #[arg(long)]
    pub remove_plaintext: bool,
    /// Import only this profile (repeatable) [default: every profile with a long-term key].
    #[arg(long = "profile", value_name = "NAME", value_parser = super::args::profile_name)]
    pub profiles: Vec<String>,
}

/// A long-term key found in the file.
#[derive(Debug)]
struct Found {
    profile: String,
    key: LongTermKey,
}

/// Runs `vault import`.
pub fn run(ctx: &Settings, args: Args) -> Result<()> {
    let mut wanted = args.profiles;
    wanted.sort();
    wanted.dedup();
    let path = credentials_path()?;
    let shown = sanitize(&path.display().to_string());
    // Fail on a missing vault before reading secrets.
    let vault = crate::vault::Vault::open(ctx)?;
    vault.ensure_initialized()?;

    let (real, text) = read(&path, &shown)?;
    let found = {
        let set = credentials_file::parse(&text).map_err(|e| {
            Error::Config(Msg::hinted(
                format!("cannot parse {shown}: {e}"),
                "fix the file (the AWS SDKs read it the same way), then run `vault import` again",
            ))
        })?;
        if wanted.is_empty() {
            for s in credentials_file::ignored_sections(&text) {
                eprintln!(
                    "vault: skipping section [{}]: the AWS SDKs ignore it in a credentials file (a profile's section there is [NAME]: one word, no `profile` prefix)",
                    sanitize(s)
                );
            }
        }
        select(&set, &wanted, &shown)?
        // The SDK's copy of the file (plain Strings) is dropped here.
    };
    if found.is_empty() {
        eprintln!("vault: no long-term keys to import in {shown}");
        return Ok(());
    }

    let unlocked = crate::unlock::unlock(ctx, &vault)?;
    let found = skip_conflicts(&unlocked, found, !wanted.is_empty())?;
    if found.is_empty() {
        eprintln!("vault: imported no keys; {shown} is unchanged");
        return Ok(());
    }
    for f in &found {
        store(&unlocked, f)?;
    }
    // Read every key back before touching the plaintext copy.
    for f in &found {
        let name = key_name(&f.profile);
        let back = unlocked.get(&name)?.and_then(|i| i.key);
        let same = back.as_ref().is_some_and(|k| {
            k.access_key_id == f.key.access_key_id && k.secret_access_key == f.key.secret_access_key
        });
        if !same {
            return Err(Error::Other(Msg::hinted(
                format!(
                    "the key stored for {} does not read back as imported; {shown} is unchanged",
                    f.profile
                ),
                "check the vault with `vault list` and run `vault import` again",
            )));
        }
    }

    let names: Vec<String> = found.iter().map(|f| f.profile.clone()).collect();
    let (count, them) = match names.len() {
        1 => ("1 key".to_owned(), "it"),
        n => (format!("{n} keys"), "them"),
    };
    let list = names.join(", ");
    if args.remove_plaintext {
        if let Err(e) = remove_plaintext(&path, &real, &text, &names, &shown) {
            eprintln!("vault: imported {count} ({list}) into the vault, but removing {them} from {shown} failed:");
            return Err(e);
        }
        eprintln!("vault: imported {count} ({list}); removed {them} from {shown}");
    } else {
        eprintln!(
            "vault: imported {count} ({list}); {shown} still holds {them} in plaintext\n  hint: `vault import --remove-plaintext` removes {them} from it"
        );
    }
    Ok(())
}

/// `AWS_SHARED_CREDENTIALS_FILE` (with `~` expanded, as the SDK does), else
/// `~/.aws/credentials`.
fn credentials_path() -> Result<PathBuf> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    let home = env("HOME").map(PathBuf::from);
    let no_home = || {
        Error::Config(Msg::hinted(
            "HOME is not set, so there is no ~/.aws/credentials",
            "set AWS_SHARED_CREDENTIALS_FILE to the credentials file",
        ))
    };
    match env("AWS_SHARED_CREDENTIALS_FILE").map(PathBuf::from) {
        Some(p) => match p.strip_prefix("~") {
            Ok(rest) => Ok(home.ok_or_else(no_home)?.join(rest)),
            Err(_) => Ok(p),
        },
        None => Ok(home.ok_or_else(no_home)?.join(".aws").join("credentials")),
    }
}

/// Reads the file once: its real path (a symlink's target, which a rewrite replaces) and text.
fn read(path: &Path, shown: &str) -> Result<(PathBuf, Zeroizing<String>)> {
    let io = |op, source| Error::Io {
        op,
        path: path.to_owned(),
        source,
    };
    let real = match std::fs::canonicalize(path) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::Config(Msg::hinted(
                format!("there is no AWS credentials file at {shown}"),
                "set AWS_SHARED_CREDENTIALS_FILE to the file that holds your keys",
            )))
        }
        Err(e) => return Err(io("reading the AWS credentials file", e)),
    };
    let meta = std::fs::metadata(&real).map_err(|e| io("reading the AWS credentials file", e))?;
    if !meta.is_file() {
        return Err(Error::Config(Msg::hinted(
            format!("{shown} is not a regular file"),
            "point AWS_SHARED_CREDENTIALS_FILE at the credentials file",
        )));
    }
    let bytes = std::fs::read(&real).map_err(|e| io("reading the AWS credentials file", e))?;
    match String::from_utf8(bytes) {
        Ok(s) => Ok((real, Zeroizing::new(s))),
        Err(e) => {
            e.into_bytes().zeroize();
            Err(Error::Config(Msg::hinted(
                format!("{shown} is not UTF-8 text"),
                "the AWS SDKs ignore such a file; fix its encoding first",
            )))
        }
    }
}

/// The profiles to import: those with both key properties and no session token, whose names
/// vault accepts. With `wanted`, only those, and one that cannot be imported is an error.
fn select(
    set: &aws_config::profile::ProfileSet,
    wanted: &[String],
    shown: &str,
) -> Result<Vec<Found>> {
    for w in wanted {
        if set.get_profile(w).is_none() {
            return Err(Error::NoProfile(w.clone()));
        }
    }
    let mut names: Vec<String> = if wanted.is_empty() {
        set.profiles().map(str::to_owned).collect()
    } else {
        wanted.to_vec()
    };
    names.sort();
    let explicit = !wanted.is_empty();
    let mut found = vec![];
    for name in names {
        let Some(p) = set.get_profile(&name) else {
            continue;
        };
        let shown_name = sanitize(&name);
        // Skipped with a warning, or an error for a profile named with --profile.
        let skip = |why: &str| -> Result<()> {
            if explicit {
                Err(Error::Config(
                    format!("cannot import profile {shown_name} from {shown}: {why}").into(),
                ))
            } else {
                eprintln!("vault: skipping {shown_name}: {why}");
                Ok(())
            }
        };
        let id = p.get("aws_access_key_id");
        let secret = p.get("aws_secret_access_key");
        let (id, secret) = match (id, secret) {
            (Some(id), Some(secret)) => (id, secret),
            (None, None) => {
                if explicit {
                    skip("it has no aws_access_key_id and aws_secret_access_key")?;
                } else {
                    tracing::info!("{shown_name} has no access key; not importing it");
                }
                continue;
            }
            _ => {
                skip("it has only one of aws_access_key_id and aws_secret_access_key")?;
                continue;
            }
        };
        if p.get("aws_session_token").is_some() {
            skip("it holds temporary credentials (aws_session_token); vault imports long-term keys only")?;
            continue;
        }
        if super::args::profile_name(&name).is_err() {
            skip(
                "its name is not a valid vault profile name (letters, digits and -_.@+=,:/% only)",
            )?;
            continue;
        }
        if crate::creds::bad_stored_key(id, secret).is_some() {
            skip(
                "its aws_access_key_id or aws_secret_access_key does not look like an access key",
            )?;
            continue;
        }
        let mfa_serial = p
            .get("mfa_serial")
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(str::to_owned);
        found.push(Found {
            profile: name,
            key: LongTermKey {
                access_key_id: id.to_owned(),
                secret_access_key: Secret::new(secret),
                mfa_serial,
                added: OffsetDateTime::now_utc(),
                rotated: None,
            },
        });
    }
    Ok(found)
}

/// Whether a stored key is a different key than `key` (a same key is merged, not replaced).
fn conflicts(stored: Option<&LongTermKey>, key: &LongTermKey) -> bool {
    stored.is_some_and(|s| {
        s.access_key_id != key.access_key_id || s.secret_access_key != key.secret_access_key
    })
}

/// Drops the profiles whose stored key is a different key (never overwritten by an import),
/// or fails before anything is stored when `explicit` (named with --profile).
fn skip_conflicts(
    unlocked: &Unlocked<'_>,
    found: Vec<Found>,
    explicit: bool,
) -> Result<Vec<Found>> {
    let mut out = vec![];
    for f in found {
        let stored = unlocked.get(&key_name(&f.profile))?.and_then(|i| i.key);
        if !conflicts(stored.as_ref(), &f.key) {
            out.push(f);
            continue;
        }
        let why = "the vault already holds a different key for it";
        let hint = format!(
            "`vault remove {}` first to replace the stored key with the file's",
            f.profile
        );
        if explicit {
            return Err(Error::Config(Msg::hinted(
                format!("cannot import profile {}: {why}", f.profile),
                hint,
            )));
        }
        eprintln!("vault: skipping {}: {why}\n  hint: {hint}", f.profile);
    }
    Ok(out)
}

/// Stores one key under its item lock; the same key already stored keeps its dates and, when
/// the file names none, its MFA serial.
fn store(unlocked: &Unlocked<'_>, f: &Found) -> Result<()> {
    let name = key_name(&f.profile);
    let _lock = unlocked.lock(&name)?;
    let stored = unlocked.get(&name)?.and_then(|i| i.key);
    if conflicts(stored.as_ref(), &f.key) {
        return Err(Error::Other(Msg::hinted(
            format!(
                "the key stored for {} changed while importing; nothing was removed from the plaintext file",
                f.profile,
            ),
            "run `vault import` again",
        )));
    }
    let key = match stored {
        Some(s) => LongTermKey {
            mfa_serial: f.key.mfa_serial.clone().or(s.mfa_serial),
            added: s.added,
            rotated: s.rotated,
            ..f.key.clone()
        },
        None => f.key.clone(),
    };
    unlocked.put(&name, &Item::key(key))
}

/// Rewrites the credentials file without the imported profiles' key lines, after checking the
/// result with the SDK's parser and that the file did not change since it was read.
fn remove_plaintext(
    path: &Path,
    real: &Path,
    text: &str,
    profiles: &[String],
    shown: &str,
) -> Result<()> {
    let new = Zeroizing::new(credentials_file::remove_keys(text, profiles));
    let check = || -> std::result::Result<(), String> {
        let before = credentials_file::parse(text)?;
        let after = credentials_file::parse(&new)?;
        credentials_file::check_removed(&before, &after, profiles)
    };
    check().map_err(|e| {
        Error::Other(Msg::hinted(
            format!("removing the keys from {shown} would change more than those keys ({e}); the file is unchanged and the keys are in the vault"),
            "remove the aws_access_key_id / aws_secret_access_key lines by hand",
        ))
    })?;
    let now = Zeroizing::new(std::fs::read(real).map_err(|e| Error::Io {
        op: "reading the AWS credentials file",
        path: path.to_owned(),
        source: e,
    })?);
    if now.as_slice() != text.as_bytes() {
        return Err(Error::Other(Msg::hinted(
            format!(
                "{shown} changed while importing; it is unchanged and the keys are in the vault"
            ),
            "run `vault import --remove-plaintext` again",
        )));
    }
    if new.as_str() == text {
        return Ok(());
    }
    // The one atomic write, keeping the file's mode and owner.
    let meta = std::fs::metadata(real).map_err(|source| Error::Io {
        op: "reading the mode of",
        path: path.to_owned(),
        source,
    })?;
    let perms = vault_backends::fs::Perms::Keep(&meta);
    vault_backends::fs::write_atomic(real, new.as_bytes(), perms).map_err(|e| match e {
        vault_backends::Error::Io { op, source, .. } => Error::Io {
            op,
            path: path.to_owned(),
            source,
        },
        e => Error::Backend(e),
    })
}

#[cfg(test)]
mod tests;
