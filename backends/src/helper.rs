//! The `helper` backend: any executable `vault-backend-NAME` on `PATH` that speaks the docker
//! credential-helper protocol, so every `docker-credential-*` program (pass, secretservice,
//! osxkeychain, ...) can hold vault items once linked under that name.
//!
//! The protocol, one program run per call, with `ACTION` as the only argument:
//!
//! - `store`: stdin `{"ServerURL": URL, "Username": "vault", "Secret": BASE64(value)}`;
//! - `get`: stdin `URL`; stdout `{"ServerURL", "Username", "Secret"}`; a missing item is exit 1
//!   with `credentials not found in native keychain` on stdout (or, from older helpers such as
//!   docker-credential-pass 0.6, exit 0 with an empty `Username` and `Secret`);
//! - `erase`: stdin `URL`;
//! - `list`: stdout `{URL: username, ...}` for every credential the helper holds.
//!
//! An item `NAME` is the credential `vault://NAME` (the name passes through
//! [`encode_name`], which leaves ordinary names such as `key.prod`
//! unchanged), and `list` only reports URLs with that prefix. The value is base64 because the
//! protocol carries text. The answers of `get` and `list` are read by [`parse_get_reply`] and
//! [`parse_list_reply`], plain functions of the helper's output bytes (a fuzz target's entry
//! points: a helper is another program, so its output is untrusted).
//!
//! Every run has a deadline: a helper that waits for a password prompt or a locked keychain is
//! killed (with its whole process group) and the call fails saying it hung. Errors name the
//! helper and the operation and quote at most a sanitised excerpt of its messages; they never
//! quote a `get`'s output, which holds the secret.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;

use crate::fs::{decode_name, encode_name};
use crate::process::{describe, find_on_path, run_with_timeout, sanitize, Output, RunError};
use crate::{Backend, Error};

/// The prefix of every credential URL vault stores through a helper.
pub const URL_PREFIX: &str = "vault://";
/// The user name vault stores with every credential.
pub const USERNAME: &str = "vault";
/// The default deadline for one helper run.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The prefix of helper program names.
pub const PROGRAM_PREFIX: &str = "vault-backend-";

/// What a docker credential helper says when it has no such credential.
const NOT_FOUND: &str = "credentials not found";

/// Items stored through a docker-credential-helper-compatible program.
#[derive(Debug)]
pub struct HelperBackend {
    name: String,
    program: PathBuf,
    timeout: Duration,
    kind: &'static str,
    remove_env: &'static [&'static str],
}

impl HelperBackend {
    /// Finds `vault-backend-NAME` on `PATH`. Each helper run is killed after `timeout`
    /// ([`DEFAULT_TIMEOUT`] is a good default).
    pub fn new(name: &str, timeout: Duration) -> Result<Self, Error> {
        check_helper_name(name)?;
        let file = format!("{PROGRAM_PREFIX}{name}");
        let program = find_on_path(OsStr::new(&file)).ok_or_else(|| {
            Error::Other(format!(
                "no {file} on PATH; install a docker-credential-* helper and link it as {file} \
                 (for example `ln -s \"$(command -v docker-credential-{name})\" ~/.local/bin/{file}`)"
            ))
        })?;
        Ok(HelperBackend {
            name: name.to_owned(),
            program,
            timeout,
            // The trait wants a `&'static str`; one small string per backend opened.
            kind: Box::leak(format!("helper:{name}").into_boxed_str()),
            remove_env: &[],
        })
    }

    /// Runs the helper without these variables: the caller's secret-bearing ones.
    pub fn without_env(mut self, vars: &'static [&'static str]) -> Self {
        self.remove_env = vars;
        self
    }

    /// The helper program this backend runs.
    pub fn program(&self) -> &Path {
        &self.program
    }

    fn url(name: &str) -> Result<String, Error> {
        Ok(format!("{URL_PREFIX}{}", encode_name(name)?))
    }

    /// Runs the helper with `action`, feeding `input` on stdin.
    fn run(&self, action: &str, input: &[u8]) -> Result<Output, Error> {
        let mut cmd = Command::new(&self.program);
        cmd.arg(action);
        run_with_timeout(&mut cmd, input, self.timeout, self.remove_env).map_err(|e| match e {
            RunError::Spawn(e) => Error::Other(format!(
                "could not run helper {} for {action}: {e}",
                self.program.display()
            )),
            RunError::TimedOut => Error::Other(format!(
                "helper {}{} hung on {action}: no answer within {:?}, so it was killed \
                 (is it waiting for a password prompt or a locked keychain?)",
                PROGRAM_PREFIX, self.name, self.timeout
            )),
            RunError::Io(e) => Error::Other(format!(
                "talking to helper {}{} for {action}: {e}",
                PROGRAM_PREFIX, self.name
            )),
        })
    }

    fn fail(&self, action: &str, detail: impl std::fmt::Display) -> Error {
        Error::Other(format!(
            "helper {}{} failed on {action}: {detail}",
            PROGRAM_PREFIX, self.name
        ))
    }

    /// The error for a non-zero exit: quotes the helper's message (docker helpers print
    /// errors on stdout), unless it might hold a secret.
    fn exit_error(&self, action: &str, out: &Output) -> Error {
        let message = [&out.stderr, &out.stdout]
            .into_iter()
            .map(|b| sanitize(b))
            .find(|m| !m.is_empty())
            .unwrap_or_else(|| "(no message)".into());
        let message = if message.contains("Secret") {
            "(its message is not shown: it may hold a secret)".into()
        } else {
            message
        };
        self.fail(action, format_args!("{}: {message}", describe(out.status)))
    }
}

impl Backend for HelperBackend {
    fn kind(&self) -> &'static str {
        self.kind
    }

    fn location(&self) -> String {
        self.program.display().to_string()
    }

    fn get(&self, name: &str) -> Result<Option<Vec<u8>>, Error> {
        let url = Self::url(name)?;
        let out = self.run("get", format!("{url}\n").as_bytes())?;
        if !out.status.success() {
            if contains(&out.stdout, NOT_FOUND) || contains(&out.stderr, NOT_FOUND) {
                return Ok(None);
            }
            return Err(self.exit_error("get", &out));
        }
        // Base64 of the item, in JSON: a larger answer is not parsed.
        crate::check_item_size(name, out.stdout.len() as u64 * 3 / 4)?;
        parse_get_reply(&out.stdout).map_err(|e| match e {
            ReplyError::NotBase64 => self.fail(
                "get",
                format_args!(
                    "the secret stored for {url} is not base64, so vault did not store it"
                ),
            ),
            e => self.fail("get", e),
        })
    }

    fn set(&self, name: &str, value: &[u8]) -> Result<(), Error> {
        let url = Self::url(name)?;
        let body = serde_json::json!({
            "ServerURL": url,
            "Username": USERNAME,
            "Secret": base64::engine::general_purpose::STANDARD.encode(value),
        });
        let out = self.run("store", body.to_string().as_bytes())?;
        if !out.status.success() {
            return Err(self.exit_error("store", &out));
        }
        Ok(())
    }

    fn remove(&self, name: &str) -> Result<bool, Error> {
        let url = Self::url(name)?;
        let out = self.run("erase", format!("{url}\n").as_bytes())?;
        if out.status.success() {
            return Ok(true);
        }
        if contains(&out.stdout, NOT_FOUND) || contains(&out.stderr, NOT_FOUND) {
            return Ok(false);
        }
        // Some helpers fail to erase what is not there with their own words: ask `list`.
        let err = self.exit_error("erase", &out);
        match self.list() {
            Ok(names) if !names.iter().any(|n| n == name) => Ok(false),
            _ => Err(err),
        }
    }

    /// From `list`, which never carries secrets and so is cheap (for docker-credential-pass,
    /// no gpg run), unlike a `get`.
    fn contains(&self, name: &str) -> Result<bool, Error> {
        Ok(self.list()?.iter().any(|n| n == name))
    }

    fn list(&self) -> Result<Vec<String>, Error> {
        let out = self.run("list", b"")?;
        if !out.status.success() {
            return Err(self.exit_error("list", &out));
        }
        parse_list_reply(&out.stdout).map_err(|e| self.fail("list", e))
    }
}

/// Why a helper's answer cannot be used. No message quotes the answer, which holds the
/// secret in a `get`'s case; serde_json's syntax errors name a position, never the text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyError {
    /// The answer is not JSON.
    #[error("its output is not valid JSON ({0})")]
    NotJson(serde_json::Error),
    /// The answer is JSON but not an object.
    #[error("its output is JSON but not an object")]
    NotObject,
    /// A `get` answer's `Secret` is not a string.
    #[error("its answer's \"Secret\" is not a string")]
    SecretNotString,
    /// A `get` answer has no `Secret`.
    #[error("its answer has no \"Secret\" field")]
    NoSecret,
    /// A `get` answer's `Secret` is not base64, so vault did not store it.
    #[error("the secret it holds is not base64, so vault did not store it")]
    NotBase64,
}

fn parse_object(stdout: &[u8]) -> Result<serde_json::Map<String, Value>, ReplyError> {
    match serde_json::from_slice::<Value>(stdout) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ReplyError::NotObject),
        Err(e) => Err(ReplyError::NotJson(e)),
    }
}

/// Parses the output of a `get` that exited 0: the item's bytes, or `None` for the empty
/// answer some helpers give for a missing credential.
pub fn parse_get_reply(stdout: &[u8]) -> Result<Option<Vec<u8>>, ReplyError> {
    let map = parse_object(stdout)?;
    // Older helpers (docker-credential-pass 0.6) answer a missing credential with exit 0
    // and empty fields; vault always stores a user name, so that is "not found".
    let empty = |field: &str| {
        map.get(field)
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
    };
    if empty("Username") && empty("Secret") {
        return Ok(None);
    }
    let secret = match map.get("Secret") {
        Some(Value::String(s)) => s,
        Some(_) => return Err(ReplyError::SecretNotString),
        None => return Err(ReplyError::NoSecret),
    };
    base64::engine::general_purpose::STANDARD
        .decode(secret.trim())
        .map(Some)
        .map_err(|_| ReplyError::NotBase64)
}

/// Parses the output of a `list` that exited 0: the names of the vault items it holds
/// (credentials `vault://NAME`), sorted, without duplicates.
pub fn parse_list_reply(stdout: &[u8]) -> Result<Vec<String>, ReplyError> {
    let map = parse_object(stdout)?;
    let mut names: Vec<String> = map
        .keys()
        .filter_map(|url| url.strip_prefix(URL_PREFIX))
        .filter_map(decode_name)
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

fn check_helper_name(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && !name.starts_with(['.', '-'])
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::Other(format!(
            "invalid helper name {name:?}: use letters, digits and ._- (the program is {PROGRAM_PREFIX}NAME)"
        )))
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    String::from_utf8_lossy(haystack).contains(needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helper_names_are_checked() {
        for ok in ["pass", "secretservice", "my_helper-2.0"] {
            check_helper_name(ok).unwrap();
        }
        for bad in ["", "-x", ".x", "a/b", "a b"] {
            assert!(check_helper_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn replies_parse_without_quoting_the_answer() {
        assert_eq!(
            parse_get_reply(br#"{"ServerURL":"vault://a","Username":"vault","Secret":"aGk="}"#)
                .unwrap(),
            Some(b"hi".to_vec())
        );
        assert_eq!(
            parse_get_reply(br#"{"Username":"","Secret":""}"#).unwrap(),
            None
        );
        for (reply, what) in [
            (
                &br#"{"Username":"vault","Secret":"hunter2!"}"#[..],
                "not base64",
            ),
            (br#"{"Username":"vault","Secret":7}"#, "not a string"),
            (br#"{"Username":"vault"}"#, "no \"Secret\""),
            (br#"["hunter2"]"#, "not an object"),
            (b"hunter2", "not valid JSON"),
        ] {
            let e = parse_get_reply(reply).unwrap_err().to_string();
            assert!(e.contains(what) && !e.contains("hunter2"), "{e}");
        }
        assert_eq!(
            parse_list_reply(br#"{"vault://b":"vault","https://x":"u","vault://a%2Fb":"vault","vault://%zz":"v"}"#)
                .unwrap(),
            vec!["a/b", "b"]
        );
    }
}
