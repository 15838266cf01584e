//! Opening a URL in the user's browser: `$BROWSER`, else `xdg-open` (or `open` on macOS).
//!
//! Used by `vault sso login` (the authorize URL) and `vault login` (the console sign-in URL,
//! a bearer secret for 15 minutes). The URL travels as the opener's last argument, which
//! every process of the same uid can read in `/proc/PID/cmdline` while the opener runs:
//! SECURITY.md says so. It is never logged here. The opener gets the same scrubbed
//! environment as every other child ([`crate::exec::scrub`]) and no stdin or stdout.

use std::ffi::OsStr;
use std::process::{Child, Command, Stdio};

use crate::error::{Error, Msg, Result};

/// The program (and its leading arguments) that opens URLs: the first entry of `$BROWSER`
/// (a `:`-separated list, as `xdg-open` and Python's `webbrowser` read it; `%s` in an entry
/// is replaced by the URL), else the platform's opener. The caller passes `$BROWSER` from
/// [`crate::settings::Settings::browser`]: nothing here reads the environment.
fn opener(browser: Option<&OsStr>) -> Vec<String> {
    if let Some(b) = browser.and_then(OsStr::to_str) {
        if let Some(first) = b.split(':').map(str::trim).find(|s| !s.is_empty()) {
            return first.split_whitespace().map(str::to_owned).collect();
        }
    }
    let default = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    vec![default.to_owned()]
}

/// The argv that opens `url`, given `$BROWSER`.
fn argv(browser: Option<&OsStr>, url: &str) -> Vec<String> {
    let mut argv = opener(browser);
    if argv.iter().any(|a| a.contains("%s")) {
        for a in &mut argv[1..] {
            *a = a.replace("%s", url);
        }
    } else {
        argv.push(url.to_owned());
    }
    argv
}

/// Starts the opener on `url` and returns it running; the caller waits for it or not.
/// `flag` names the option that prints the URL instead (`--no-browser`, `--stdout`), for the
/// hint when no opener can be started.
pub fn open(browser: Option<&OsStr>, url: &str, flag: &str) -> Result<Child> {
    let argv = argv(browser, url);
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    crate::exec::scrub(&mut cmd);
    cmd.spawn().map_err(|e| {
        Error::Other(Msg::hinted(
            format!(
                "could not start the browser opener {:?}: {e}",
                crate::sanitize(&argv[0])
            ),
            format!("set BROWSER to your browser, or pass {flag} to print the URL instead"),
        ))
    })
}

/// Starts the opener on `url` and waits up to `wait` for it to finish, so that an opener
/// that fails at once (no display, no browser) is reported instead of ignored. An opener
/// still running after `wait` (a browser started in the foreground) is left running and
/// reaped by a background thread.
pub fn open_and_check(
    browser: Option<&OsStr>,
    url: &str,
    flag: &str,
    wait: std::time::Duration,
) -> Result<()> {
    let mut child = open(browser, url, flag)?;
    let deadline = std::time::Instant::now() + wait;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => {
                return Err(Error::Other(Msg::hinted(
                    format!("the browser opener failed ({status})"),
                    format!("set BROWSER to your browser, or pass {flag} to print the URL instead"),
                )))
            }
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            Ok(None) | Err(_) => {
                std::thread::spawn(move || child.wait());
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_variable_picks_the_first_entry_and_substitutes_the_url() {
        let url = "https://example.com/?a=1&b=2";
        assert_eq!(
            argv(Some(OsStr::new("firefox --new-tab:chromium")), url),
            ["firefox", "--new-tab", url]
        );
        assert_eq!(
            argv(Some(OsStr::new("my-open --url=%s --quiet")), url),
            ["my-open", &format!("--url={url}"), "--quiet"]
        );
        let default = if cfg!(target_os = "macos") {
            "open"
        } else {
            "xdg-open"
        };
        assert_eq!(argv(None, url), [default, url]);
        assert_eq!(argv(Some(OsStr::new(" : ")), url), [default, url]);
    }
}
