//! The loopback console federation endpoint (tests/federation_server.py) that `vault login`
//! trades credentials with, reached through `AWS_ENDPOINT_URL_SIGNIN`.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::require;

/// tests/federation_server.py, logging each call without secrets.
pub struct Federation {
    child: std::process::Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Federation {
    pub fn start() -> Option<Federation> {
        let ok = Command::new("python3")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !require("python3", ok) {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("federation.jsonl");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/federation_server.py");
        let mut cmd = Command::new("python3");
        cmd.arg(script).arg(&log);
        let (child, port) = super::start_port_script(cmd, "the federation endpoint");
        Some(Federation {
            child,
            port,
            log,
            _dir: dir,
        })
    }

    /// The federation base URL (`AWS_ENDPOINT_URL_SIGNIN`).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/federation", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn log_path(&self) -> &std::path::Path {
        &self.log
    }

    /// Every call served, one JSON object per line.
    pub fn calls(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The getSigninToken calls.
    pub fn token_calls(&self) -> Vec<serde_json::Value> {
        self.calls()
            .into_iter()
            .filter(|c| c["Action"] == "getSigninToken")
            .collect()
    }

    /// Makes the endpoint refuse (400) every getSigninToken from now on, or stop refusing.
    pub fn refuse(&self, on: bool) {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            s,
            "GET /_control?refuse={} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
            u8::from(on)
        )
        .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
}

impl Drop for Federation {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
