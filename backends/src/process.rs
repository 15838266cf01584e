//! Running a helper program (a docker credential helper, `pass`, and through it gpg) with a
//! deadline: its stdin fed and its output captured (capped) by threads of their own, in a
//! process group of its own that is killed whole when the deadline passes, so a program
//! waiting for a password prompt or a locked keychain never hangs vault. Also the helpers that
//! describe such a run in an error message without quoting a secret.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

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
/// own, without the variables named in `remove_env` (the caller's secret-bearing ones: this
/// crate does not know them). If it has not exited and closed its output by `timeout`, the
/// whole group is killed.
pub(crate) fn run_with_timeout(
    cmd: &mut Command,
    input: &[u8],
    timeout: Duration,
    remove_env: &[&str],
) -> Result<Output, RunError> {
    let deadline = Instant::now() + timeout;
    for k in remove_env {
        cmd.env_remove(k);
    }
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
    fn run_captures_and_times_out() {
        let out = run_with_timeout(
            Command::new("/bin/sh").args(["-c", "cat; echo err >&2; exit 3"]),
            b"hello",
            Duration::from_secs(10),
            &[],
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
            &[],
        );
        assert!(matches!(r, Err(RunError::TimedOut)), "{r:?}");
        assert!(start.elapsed() < Duration::from_secs(5));
        // Exits at once but leaves a background child holding stdout.
        let start = Instant::now();
        let r = run_with_timeout(
            Command::new("/bin/sh").args(["-c", "sleep 100 & exit 0"]),
            b"",
            Duration::from_millis(300),
            &[],
        );
        assert!(matches!(r, Err(RunError::TimedOut)), "{r:?}");
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn the_named_variables_never_reach_the_program() {
        let out = run_with_timeout(
            Command::new("/bin/sh")
                .args(["-c", "env"])
                .env("SECRET_ONE", "s1")
                .env("KEPT", "k"),
            b"",
            Duration::from_secs(10),
            &["SECRET_ONE", "SECRET_TWO"],
        )
        .unwrap();
        let env = String::from_utf8(out.stdout).unwrap();
        assert!(env.lines().any(|l| l == "KEPT=k"), "{env}");
        assert!(!env.contains("SECRET_ONE"), "{env}");
    }
}
