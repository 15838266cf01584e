//! The IAM Identity Center emulator (tests/sso_server.py): the OIDC API and the portal API on
//! one loopback port, logging every call, and recording every secret it issues so canary
//! scans can look for each one. Its protocol and knobs (`SSO_EMU_*`, `/_control`) are in the
//! script's head; its fidelity against botocore's own clients is tests/sso_emulator.rs.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::require;

/// The emulator, killed on drop.
pub struct SsoEmu {
    child: std::process::Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl SsoEmu {
    /// Starts the emulator with `vars` (its `SSO_EMU_*` knobs) in its environment; `None` when
    /// python3 is missing and this is not CI (see [`require`]).
    pub fn start(vars: &[(&str, &str)]) -> Option<SsoEmu> {
        let ok = Command::new("python3")
            .args(["-c", "import http.server, json"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !require("python3 (for the IAM Identity Center emulator)", ok) {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("sso-calls.jsonl");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sso_server.py");
        let mut cmd = Command::new("python3");
        cmd.arg(script).arg(&log).envs(vars.iter().copied());
        let (child, port) = super::start_port_script(cmd, "the IAM Identity Center emulator");
        Some(SsoEmu {
            child,
            port,
            log,
            _dir: dir,
        })
    }

    /// `http://127.0.0.1:PORT`: the endpoint of both APIs (`AWS_ENDPOINT_URL_SSO_OIDC`,
    /// `AWS_ENDPOINT_URL_SSO`); the start URL is `{url}/start`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The variables that point the SDKs (vault's and botocore's) at the emulator:
    /// `AWS_ENDPOINT_URL_SSO_OIDC` and `AWS_ENDPOINT_URL_SSO`, both [`SsoEmu::url`].
    pub fn endpoint_vars(&self) -> Vec<(String, String)> {
        ["AWS_ENDPOINT_URL_SSO_OIDC", "AWS_ENDPOINT_URL_SSO"]
            .map(|k| (k.to_owned(), self.url()))
            .to_vec()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The log of every call served, one JSON object per line (never a secret).
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    pub fn calls(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Calls whose path (without the query) is `path`, e.g. `/token`.
    pub fn count(&self, path: &str) -> usize {
        self.calls().iter().filter(|c| c["path"] == path).count()
    }

    /// `POST /token` calls with this `grantType` (`refresh_token`, `authorization_code`,
    /// `urn:ietf:params:oauth:grant-type:device_code`), whatever their answer.
    pub fn count_grant(&self, grant_type: &str) -> usize {
        self.calls()
            .iter()
            .filter(|c| c["path"] == "/token" && c["grant_type"] == grant_type)
            .count()
    }

    /// Every secret the emulator has issued so far (client secrets, access and refresh tokens,
    /// device and authorization codes, role secret keys and session tokens).
    pub fn secrets(&self) -> Vec<String> {
        let mut p = self.log.clone().into_os_string();
        p.push(".secrets");
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// POSTs `json` to `/_control` (see the script's head) and returns the knobs it answers
    /// with; panics unless the answer is 200.
    pub fn control(&self, json: serde_json::Value) -> serde_json::Value {
        let (status, body) = self.request("POST", "/_control", &[], &json.to_string());
        assert_eq!(status, 200, "/_control {json} failed: {body}");
        serde_json::from_str(&body).unwrap()
    }

    /// One plain HTTP/1.1 request to the emulator (`Connection: close`): status and body.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String) {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            self.port,
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(body);
        s.write_all(req.as_bytes()).unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        let status = resp
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no HTTP status from the emulator: {resp:?}"));
        let body = resp
            .split_once("\r\n\r\n")
            .map_or("", |(_, b)| b)
            .to_owned();
        (status, body)
    }
}

impl Drop for SsoEmu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes an executable `$BROWSER` script at `<dir>/browser` and returns its path: it appends
/// its argument (the URL) to `<dir>/browser.log`, one line per call, then follows the URL with
/// `curl -sS -L -o /dev/null` in the background (so the authorize redirect reaches vault's
/// loopback listener while the opener has already exited, as `xdg-open` does); curl's errors go
/// to `<dir>/browser.err`. `dir` must not contain spaces or `:` (`$BROWSER` splits on them).
pub fn browser_script(dir: &Path) -> PathBuf {
    let path = dir.join("browser");
    let log = dir.join("browser.log");
    let err = dir.join("browser.err");
    let q = |p: &Path| format!("'{}'", p.display().to_string().replace('\'', r"'\''"));
    let script = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$1\" >>{log}\ncurl -sS -L --max-time 60 -o /dev/null \"$1\" </dev/null >/dev/null 2>>{err} &\nexit 0\n",
        log = q(&log),
        err = q(&err),
    );
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    path
}

/// The lines `browser_script(dir)` has recorded so far (one URL per opened tab).
pub fn browser_calls(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("browser.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// An `~/.aws/config` fragment: `[sso-session {session}]` on the emulator at `url`
/// (`sso_start_url = {url}/start`, `sso_region = us-east-1`, `sso_registration_scopes =
/// sso:account:access`) and `[profile {session}]` (the profile has the session's name) with
/// `sso_session`, `sso_account_id`, `sso_role_name` and `region = us-east-1`. For another
/// profile name, [`sso_config_named`].
pub fn sso_config(url: &str, session: &str, account: &str, role: &str) -> String {
    sso_config_named(url, session, session, account, role)
}

/// As [`sso_config`], with the profile named `profile`.
pub fn sso_config_named(
    url: &str,
    session: &str,
    profile: &str,
    account: &str,
    role: &str,
) -> String {
    format!(
        "[sso-session {session}]\nsso_start_url = {url}/start\nsso_region = us-east-1\nsso_registration_scopes = sso:account:access\n\n[profile {profile}]\nsso_session = {session}\nsso_account_id = {account}\nsso_role_name = {role}\nregion = us-east-1\n\n"
    )
}
