//! moto's server mode (tests/sts_server.py): the STS that every AWS test talks to.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::require;

/// moto in server mode, logging each call (tests/sts_server.py).
pub struct Moto {
    child: std::process::Child,
    port: u16,
    log: PathBuf,
    /// With TLS: the server's self-signed certificate (PEM).
    pub cert: Option<PathBuf>,
    _dir: tempfile::TempDir,
}

impl Moto {
    pub fn start(vars: &[(&str, &str)]) -> Option<Moto> {
        Moto::spawn(vars, false)
    }

    /// moto over HTTPS, with a fresh self-signed certificate for 127.0.0.1 in `cert`.
    pub fn start_tls() -> Option<Moto> {
        Moto::spawn(&[], true)
    }

    fn spawn(vars: &[(&str, &str)], tls: bool) -> Option<Moto> {
        let ok = Command::new("python3")
            .args(["-c", "import moto.server, flask"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !require("python3 with moto[server]", ok) {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("calls.jsonl");
        let cert = tls.then(|| dir.path().join("cert.pem"));
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sts_server.py");
        let mut cmd = Command::new("python3");
        cmd.arg(script)
            .arg(&log)
            .args(cert.iter())
            .envs(vars.iter().copied());
        let (child, port) = super::start_port_script(cmd, "moto");
        Some(Moto {
            child,
            port,
            log,
            cert,
            _dir: dir,
        })
    }

    pub fn url(&self) -> String {
        let scheme = if self.cert.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The log of every call served, one JSON object per line.
    pub fn log_path(&self) -> &std::path::Path {
        &self.log
    }

    pub fn calls(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    pub fn count(&self, action: &str) -> usize {
        self.calls()
            .iter()
            .filter(|c| c["Action"] == action)
            .count()
    }

    pub fn sts_calls(&self) -> usize {
        self.count("GetSessionToken") + self.count("AssumeRole")
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
