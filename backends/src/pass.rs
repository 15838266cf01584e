//! The `pass` backend: items in the standard Unix password manager, encrypted again by GnuPG.
//!
//! Item `NAME` is the pass entry `PREFIX/NAME` (the name passes through
//! [`encode_name`], which leaves ordinary names such as `key.prod`
//! unchanged), holding the value base64-encoded on one line. The real `pass` program does the
//! work, so `PASSWORD_STORE_DIR`, `PASSWORD_STORE_GPG_OPTS`, `GNUPGHOME`, the store's `.gpg-id`
//! recipients and its git history all behave as they do for the user's other entries. Values go
//! to pass on stdin, never in its arguments.
//!
//! A missing entry is told apart from a GnuPG failure by looking for `PREFIX/NAME.gpg` in the
//! store first: only a missing file is `Ok(None)`; a file pass cannot decrypt is an error.
//!
//! Every pass run is killed after [`DEFAULT_TIMEOUT`], so a pinentry nobody answers does not
//! hang vault.
//!
//! A `set` writes the new value to a scratch entry `PREFIX/.tmp.PID.RANDOM.NAME` and then
//! `pass mv`s it over `PREFIX/NAME` (a rename in the store), so a writer killed half way leaves
//! the old value, never a broken entry; scratch entries left by killed writers are removed by a
//! later write of the same item once ten minutes old. In a store under git, every `set` is two
//! commits and every `remove` one.

use std::ffi::OsStr;
use std::fs;
use std::io::ErrorKind;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use base64::Engine as _;

use crate::fs::{decode_name, encode_name};
use crate::process::{describe, find_on_path, run_with_timeout, sanitize, Output, RunError};
use crate::{Backend, Error};

/// The default prefix (folder in the store) of vault's entries.
pub const DEFAULT_PREFIX: &str = "vault";
/// Scratch entries (`PREFIX/.tmp.PID.RANDOM.NAME`) take a new value before it is renamed over
/// the old one. A leading dot is never produced by `encode_name`, so `list` never shows them.
const SCRATCH: &str = ".tmp.";
/// A scratch entry older than this was left by a killed writer and is removed.
const SCRATCH_STALE: Duration = Duration::from_secs(600);
/// How long one pass run may take, pinentry included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

const GPG_HINT: &str =
    "is the gpg key available (`gpg --list-secret-keys`) and gpg-agent running (`gpgconf --launch gpg-agent`)?";

/// Items stored as entries of a pass password store.
#[derive(Debug)]
pub struct PassBackend {
    program: PathBuf,
    store: PathBuf,
    prefix: String,
    timeout: Duration,
    remove_env: &'static [&'static str],
}

impl PassBackend {
    /// Uses the store at `$PASSWORD_STORE_DIR` (default `~/.password-store`), entries under
    /// `prefix/` ([`DEFAULT_PREFIX`] is the usual one). Fails if `pass` is not installed.
    pub fn new(prefix: &str) -> Result<Self, Error> {
        check_prefix(prefix)?;
        let program = find_on_path(OsStr::new("pass")).ok_or_else(|| {
            Error::Other(
                "the pass backend needs the `pass` password manager, and there is no `pass` on PATH: \
                 install it (for example `apt-get install pass` or `brew install pass`) \
                 and run `pass init GPG-ID`"
                    .into(),
            )
        })?;
        let store = match std::env::var_os("PASSWORD_STORE_DIR").filter(|d| !d.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
                Some(home) => PathBuf::from(home).join(".password-store"),
                None => {
                    return Err(Error::Other(
                        "the pass backend cannot find the password store: neither PASSWORD_STORE_DIR nor HOME is set"
                            .into(),
                    ))
                }
            },
        };
        Ok(PassBackend {
            program,
            store,
            prefix: prefix.trim_end_matches('/').to_owned(),
            timeout: DEFAULT_TIMEOUT,
            remove_env: &[],
        })
    }

    /// Runs pass (and so gpg and the store's git hooks) without these variables: the
    /// caller's secret-bearing ones.
    pub fn without_env(mut self, vars: &'static [&'static str]) -> Self {
        self.remove_env = vars;
        self
    }

    /// The password store directory.
    pub fn store(&self) -> &std::path::Path {
        &self.store
    }

    /// Replaces the deadline of one pass run ([`DEFAULT_TIMEOUT`] by default).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The entry name of item `name` in the store (`vault/key.prod`).
    fn entry(&self, name: &str) -> Result<String, Error> {
        Ok(format!("{}/{}", self.prefix, encode_name(name)?))
    }

    fn entry_file(&self, entry: &str) -> PathBuf {
        self.store.join(format!("{entry}.gpg"))
    }

    /// Fails when the store itself is missing, so a wrong `PASSWORD_STORE_DIR` is not taken
    /// for an empty vault.
    fn check_store(&self) -> Result<(), Error> {
        match fs::metadata(&self.store) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(Error::Other(format!(
                "the password store {} is not a directory (check PASSWORD_STORE_DIR)",
                self.store.display()
            ))),
            Err(e) if e.kind() == ErrorKind::NotFound => Err(Error::Other(format!(
                "there is no password store at {}: run `pass init GPG-ID` (or set PASSWORD_STORE_DIR)",
                self.store.display()
            ))),
            Err(e) => Err(Error::io("opening", &self.store, e)),
        }
    }

    /// Whether the entry's file exists.
    fn exists(&self, entry: &str) -> Result<bool, Error> {
        self.check_store()?;
        let path = self.entry_file(entry);
        match fs::symlink_metadata(&path) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io("reading", &path, e)),
        }
    }

    /// Runs `pass ARGS -- ENTRY` with `input` on stdin; a non-zero exit is an error quoting
    /// pass's stderr (never its stdout, which may hold the secret).
    fn pass(&self, args: &[&str], entry: &str, input: &[u8]) -> Result<Output, Error> {
        self.pass_entries(args, &[entry], input)
    }

    /// Runs `pass ARGS -- ENTRIES...` (several for `mv`).
    fn pass_entries(&self, args: &[&str], entries: &[&str], input: &[u8]) -> Result<Output, Error> {
        let op = args.first().copied().unwrap_or("pass");
        let entry = entries.join(" ");
        let mut cmd = Command::new(&self.program);
        cmd.args(args)
            .arg("--")
            .args(entries)
            .env("PASSWORD_STORE_DIR", &self.store);
        let out = run_with_timeout(&mut cmd, input, self.timeout, self.remove_env).map_err(|e| match e {
            RunError::Spawn(e) => Error::Other(format!(
                "could not run {}: {e}",
                self.program.display()
            )),
            RunError::TimedOut => Error::Other(format!(
                "`pass {op} {entry}` hung: no answer within {:?}, so it was killed \
                 (is gpg waiting for a pinentry? unlock the key with `pass show {entry}` in a terminal)",
                self.timeout
            )),
            RunError::Io(e) => Error::Other(format!("talking to `pass {op} {entry}`: {e}")),
        })?;
        if !out.status.success() {
            let message = sanitize(&out.stderr);
            let message = if message.is_empty() {
                "(no message)".to_owned()
            } else {
                message
            };
            let hint = if message.contains("pass init") {
                "run `pass init GPG-ID` to set up the password store"
            } else {
                GPG_HINT
            };
            return Err(Error::hinted(
                format!(
                    "`pass {op} {entry}` failed ({}): {message}",
                    describe(out.status)
                ),
                hint,
            ));
        }
        Ok(out)
    }
}

impl PassBackend {
    /// Removes scratch entries of `encoded` that killed writers left (best effort).
    fn remove_stale_scratch(&self, encoded: &str) {
        let dir = self.store.join(&self.prefix);
        let Ok(entries) = fs::read_dir(&dir) else {
            return;
        };
        let suffix = format!(".{encoded}.gpg");
        for entry in entries.flatten() {
            let file_name = entry.file_name();
            let Some(stem) = file_name
                .to_str()
                .filter(|n| n.starts_with(SCRATCH) && n.ends_with(&suffix))
                .and_then(|n| n.strip_suffix(".gpg"))
            else {
                continue;
            };
            let stale = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > SCRATCH_STALE);
            if stale {
                let _ = self.pass(&["rm", "--force"], &format!("{}/{stem}", self.prefix), b"");
            }
        }
    }
}

fn check_prefix(prefix: &str) -> Result<(), Error> {
    let trimmed = prefix.trim_end_matches('/');
    let ok = !trimmed.is_empty()
        && trimmed.split('/').all(|part| {
            !part.is_empty()
                && !part.starts_with(['.', '-'])
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        });
    if ok {
        Ok(())
    } else {
        Err(Error::Other(format!(
            "invalid pass prefix {prefix:?}: use folder names of letters, digits and ._- separated by /"
        )))
    }
}

impl Backend for PassBackend {
    fn kind(&self) -> &'static str {
        "pass"
    }

    fn location(&self) -> String {
        self.store.join(&self.prefix).display().to_string()
    }

    fn get(&self, name: &str) -> Result<Option<Vec<u8>>, Error> {
        let entry = self.entry(name)?;
        if !self.exists(&entry)? {
            return Ok(None);
        }
        // The gpg file holds base64 of the item plus gpg's framing: a few times the item at
        // most. A larger one is not decrypted at all.
        let path = self.entry_file(&entry);
        let size = fs::metadata(&path)
            .map_err(|e| Error::io("reading", &path, e))?
            .len();
        crate::check_item_size(name, size / 4)?;
        let out = self.pass(&["show"], &entry, b"")?;
        crate::check_item_size(name, out.stdout.len() as u64 * 3 / 4)?;
        let text = String::from_utf8_lossy(&out.stdout);
        base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map(Some)
            .map_err(|_| {
                Error::Other(format!(
                    "the pass entry {entry} is not a vault item (it is not base64); \
                     vault did not write it: move it out of {}/",
                    self.prefix
                ))
            })
    }

    /// From the entry's file alone: no gpg run.
    fn contains(&self, name: &str) -> Result<bool, Error> {
        self.exists(&self.entry(name)?)
    }

    fn set(&self, name: &str, value: &[u8]) -> Result<(), Error> {
        let entry = self.entry(name)?;
        let mut line = base64::engine::general_purpose::STANDARD.encode(value);
        line.push('\n');
        // Atomic replace: gpg writes the new value to a scratch entry of this process's own
        // (a killed writer's orphaned pass may still be writing its own), then `pass mv`
        // renames it over the old one. A writer killed half way leaves the old entry intact.
        let encoded = encode_name(name)?;
        let scratch = format!(
            "{}/{SCRATCH}{}.{:08x}.{encoded}",
            self.prefix,
            std::process::id(),
            rand::random::<u32>()
        );
        self.pass(
            &["insert", "--multiline", "--force"],
            &scratch,
            line.as_bytes(),
        )?;
        self.pass_entries(&["mv", "--force"], &[&scratch, &entry], b"")?;
        self.remove_stale_scratch(&encoded);
        Ok(())
    }

    fn remove(&self, name: &str) -> Result<bool, Error> {
        let entry = self.entry(name)?;
        if !self.exists(&entry)? {
            return Ok(false);
        }
        self.pass(&["rm", "--force"], &entry, b"")?;
        Ok(true)
    }

    fn list(&self) -> Result<Vec<String>, Error> {
        self.check_store()?;
        let dir = self.store.join(&self.prefix);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("listing", &dir, e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("listing", &dir, e))?;
            let file_name = entry.file_name();
            let Some(name) = file_name
                .to_str()
                .and_then(|n| n.strip_suffix(".gpg"))
                .and_then(decode_name)
            else {
                continue;
            };
            let is_file = entry.file_type().is_ok_and(|t| !t.is_dir());
            if is_file {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_checked() {
        for ok in ["vault", "work/vault", "vault/", "a.b_c-d"] {
            check_prefix(ok).unwrap();
        }
        for bad in [
            "", "/", "/vault", "a//b", "../x", ".git", "-rf", "a b", "a/../b",
        ] {
            assert!(check_prefix(bad).is_err(), "{bad:?}");
        }
    }
}
