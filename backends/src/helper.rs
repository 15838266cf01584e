//! The `helper` backend: any executable `vault-backend-NAME` on `PATH` that speaks the docker
//! credential-helper protocol, so every `docker-credential-*` program (pass, secretservice,
//! osxkeychain, wincred, ...) can hold vault items once linked under that name.
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
//! protocol carries text.
//!
//! Every run has a deadline: a helper that waits for a password prompt or a locked keychain is
//! killed (with its whole process group) and the call fails saying it hung. Errors name the
//! helper and the operation and quote at most a sanitised excerpt of its messages; they never
//! quote a `get`'s output, which holds the secret.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;

use crate::file::{decode_name, encode_name};
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
        })
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
        run_with_timeout(&mut cmd, input, self.timeout).map_err(|e| match e {
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
        parse_get_reply(&out.stdout, &url).map_err(|e| self.fail("get", e))
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

/// A helper's stdout as a JSON object. serde_json's syntax errors name a position, never the
/// text, so they are safe to show.
fn reply_object(stdout: &[u8]) -> Result<serde_json::Map<String, Value>, String> {
    match serde_json::from_slice::<Value>(stdout) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("its output is JSON but not an object".into()),
        Err(e) => Err(format!("its output is not valid JSON ({e})")),
    }
}

/// The value in a successful `get`'s stdout (`None`: not found); the error never quotes it.
#[doc(hidden)]
pub fn parse_get_reply(stdout: &[u8], url: &str) -> Result<Option<Vec<u8>>, String> {
    let map = reply_object(stdout)?;
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
        Some(_) => return Err("its answer's \"Secret\" is not a string".into()),
        None => return Err("its answer has no \"Secret\" field".into()),
    };
    base64::engine::general_purpose::STANDARD
        .decode(secret.trim())
        .map(Some)
        .map_err(|_| {
            format!("the secret stored for {url} is not base64, so vault did not store it")
        })
}

/// The vault item names in a successful `list`'s stdout, sorted and deduplicated.
#[doc(hidden)]
pub fn parse_list_reply(stdout: &[u8]) -> Result<Vec<String>, String> {
    let map = reply_object(stdout)?;
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

/// The first executable regular file called `file` in a `PATH` directory.
pub(crate) fn find_on_path(file: &OsStr) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(file))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    String::from_utf8_lossy(haystack).contains(needle)
}

/// "exit status 1", "killed by signal 9".
pub(crate) fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => status.to_string(),
    }
}

/// A program's message made safe to show: its last few lines, control characters escaped,
/// at most a few hundred characters.
pub(crate) fn sanitize(bytes: &[u8]) -> String {
    const MAX_LINES: usize = 6;
    const MAX_CHARS: usize = 400;
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let lines = &lines[lines.len().saturating_sub(MAX_LINES)..];
    let mut out = String::new();
    for line in lines {
        if !out.is_empty() {
            out.push_str(" / ");
        }
        for c in line.chars() {
            if c.is_control() {
                out.extend(c.escape_default());
            } else {
                out.push(c);
            }
        }
    }
    if out.chars().count() > MAX_CHARS {
        let cut: String = out.chars().take(MAX_CHARS).collect();
        out = cut + "...";
    }
    out
}

/// What a finished program run produced.
pub(crate) struct Output {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl std::fmt::Debug for Output {
    // stdout may be a secret (`pass show`, a helper's `get`): only its length is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output")
            .field("status", &self.status)
            .field("stdout_len", &self.stdout.len())
            .field("stderr", &String::from_utf8_lossy(&self.stderr))
            .finish()
    }
}

/// Why a program run produced no [`Output`].
#[derive(Debug)]
pub(crate) enum RunError {
    /// The program could not be started.
    Spawn(std::io::Error),
    /// It did not finish (and close its output) before the deadline; it was killed.
    TimedOut,
    /// Waiting for it or reading its output failed; it was killed.
    Io(std::io::Error),
}

/// At most this much of each output stream is kept; the rest is read and dropped.
const MAX_OUTPUT: usize = 16 << 20;

/// Runs `cmd` with `input` on stdin and stdout/stderr captured, in a process group of its
/// own. If it has not exited and closed its output by `timeout`, the whole group is killed.
pub(crate) fn run_with_timeout(
    cmd: &mut Command,
    input: &[u8],
    timeout: Duration,
) -> Result<Output, RunError> {
    let deadline = Instant::now() + timeout;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd.spawn().map_err(RunError::Spawn)?;
    let kill = |child: &mut std::process::Child| {
        kill_group(child.id());
        let _ = child.kill();
        let _ = child.wait();
    };

    // stdin is written by a thread of its own so a program that does not read it (or writes
    // a lot before reading) cannot deadlock us; a program that exits early gives EPIPE, which
    // is ignored: its exit status tells what happened.
    if let Some(mut stdin) = child.stdin.take() {
        let input = input.to_vec();
        thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
    }
    let (tx, rx) = mpsc::channel();
    let mut pending = 0;
    if let Some(out) = child.stdout.take() {
        let tx = tx.clone();
        thread::spawn(move || tx.send((0, read_capped(out))));
        pending += 1;
    }
    if let Some(err) = child.stderr.take() {
        thread::spawn(move || tx.send((1, read_capped(err))));
        pending += 1;
    }

    let mut poll = Duration::from_millis(1);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {
                let now = Instant::now();
                if now >= deadline {
                    kill(&mut child);
                    return Err(RunError::TimedOut);
                }
                thread::sleep(poll.min(deadline - now));
                poll = (poll * 2).min(Duration::from_millis(25));
            }
            Err(e) => {
                kill(&mut child);
                return Err(RunError::Io(e));
            }
        }
    };

    // The program has exited; its output is complete once every process that inherited the
    // pipes (a daemon it started, a `sleep` in a script) has closed them.
    let mut streams = [Vec::new(), Vec::new()];
    while pending > 0 {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((i, Ok(bytes))) => {
                streams[i] = bytes;
                pending -= 1;
            }
            Ok((_, Err(e))) => {
                kill_group(child.id());
                return Err(RunError::Io(e));
            }
            Err(_) => {
                kill_group(child.id());
                return Err(RunError::TimedOut);
            }
        }
    }
    let [stdout, stderr] = streams;
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

/// Kills the process group led by `pid` (the program and whatever it started that did not
/// leave the group). The group keeps the id reserved while any member lives, so this cannot hit
/// an unrelated process.
fn kill_group(pid: u32) {
    if let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

fn read_capped(mut r: impl Read) -> std::io::Result<Vec<u8>> {
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok(kept),
            Ok(n) => {
                let room = MAX_OUTPUT.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_escapes_and_truncates() {
        assert_eq!(sanitize(b"\n a \x1b[31m\n\nb\n"), "a \\u{1b}[31m / b");
        let long = "x".repeat(1000);
        assert!(sanitize(long.as_bytes()).len() < 410);
        let many: String = (0..20).map(|i| format!("{i}\n")).collect();
        assert_eq!(sanitize(many.as_bytes()), "14 / 15 / 16 / 17 / 18 / 19");
    }

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
    fn run_captures_and_times_out() {
        let out = run_with_timeout(
            Command::new("/bin/sh").args(["-c", "cat; echo err >&2; exit 3"]),
            b"hello",
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(
            (out.status.code(), &out.stdout[..], &out.stderr[..]),
            (Some(3), &b"hello"[..], &b"err\n"[..])
        );
        let start = Instant::now();
        // The shell's `sleep` child keeps the pipes open: the group kill must reach it.
        let r = run_with_timeout(
            Command::new("/bin/sh").args(["-c", "sleep 100; true"]),
            b"",
            Duration::from_millis(300),
        );
        assert!(matches!(r, Err(RunError::TimedOut)), "{r:?}");
        assert!(start.elapsed() < Duration::from_secs(5));
        // Exits at once but leaves a background child holding stdout.
        let start = Instant::now();
        let r = run_with_timeout(
            Command::new("/bin/sh").args(["-c", "sleep 100 & exit 0"]),
            b"",
            Duration::from_millis(300),
        );
        assert!(matches!(r, Err(RunError::TimedOut)), "{r:?}");
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}
