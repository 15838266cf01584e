//! The pass backend's real parts: a throwaway GnuPG key and password store, and Debian's
//! docker-credential-pass as the `vault-backend-pass` helper, made by scripts/lib/real-parts.sh
//! (as bench/run.sh makes them).

use std::path::PathBuf;
use std::process::Command;

use super::{assert_success, have, require};

/// A throwaway GnuPG home and password store (short paths: gpg-agent sockets must fit).
pub struct Gpg {
    dir: tempfile::TempDir,
}

impl Gpg {
    pub fn new() -> Option<Gpg> {
        let ok = have("pass") && have("gpg") && have("docker-credential-pass");
        if !require("pass, gpg and docker-credential-pass", ok) {
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("vg")
            .tempdir_in("/tmp")
            .unwrap();
        let g = Gpg { dir };
        for step in ["pass_store", "helper_link"] {
            let out = Command::new("bash")
                .arg(super::REAL_PARTS)
                .arg(step)
                .arg(g.dir.path())
                .output()
                .unwrap();
            assert_success(&out, &["real-parts.sh", step]);
        }
        Some(g)
    }
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("g")
    }
    pub fn store(&self) -> PathBuf {
        self.dir.path().join("s")
    }
    pub fn vars(&self) -> Vec<(String, String)> {
        let path = format!(
            "{}:{}",
            self.dir.path().join("bin").display(),
            std::env::var("PATH").unwrap()
        );
        vec![
            ("GNUPGHOME".into(), self.home().display().to_string()),
            (
                "PASSWORD_STORE_DIR".into(),
                self.store().display().to_string(),
            ),
            ("PATH".into(), path),
        ]
    }
    pub fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.envs(self.vars());
        c
    }
    pub fn commits(&self) -> usize {
        let out = self
            .cmd("git")
            .arg("-C")
            .arg(self.store())
            .args(["rev-list", "--count", "HEAD"])
            .output()
            .unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .trim()
            .parse()
            .unwrap_or(0)
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = self.cmd("gpgconf").args(["--kill", "gpg-agent"]).status();
    }
}
