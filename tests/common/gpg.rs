//! The pass backend's real parts: a throwaway GnuPG key and password store, and Debian's
//! docker-credential-pass as the `vault-backend-pass` helper.

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
        std::fs::create_dir(g.home()).unwrap();
        std::fs::set_permissions(
            g.home(),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        let params = "%no-protection\nKey-Type: eddsa\nKey-Curve: ed25519\nSubkey-Type: ecdh\nSubkey-Curve: cv25519\nName-Real: vault test\nName-Email: test@vault.invalid\nExpire-Date: 0\n%commit\n";
        std::fs::write(g.dir.path().join("params"), params).unwrap();
        let out = g
            .cmd("gpg")
            .args(["--batch", "--quiet", "--gen-key"])
            .arg(g.dir.path().join("params"))
            .output()
            .unwrap();
        assert_success(&out, &["gpg --gen-key"]);
        let out = g
            .cmd("gpg")
            .args(["--batch", "--with-colons", "-K"])
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let fpr = text
            .lines()
            .find(|l| l.starts_with("fpr:"))
            .unwrap()
            .split(':')
            .nth(9)
            .unwrap()
            .to_owned();
        assert_success(
            &g.cmd("pass").args(["init", &fpr]).output().unwrap(),
            &["pass init"],
        );
        assert_success(
            &g.cmd("pass").args(["git", "init"]).output().unwrap(),
            &["pass git init"],
        );
        // The helper: Debian's docker-credential-pass under vault's helper name.
        std::fs::create_dir(g.dir.path().join("bin")).unwrap();
        let real = String::from_utf8(
            Command::new("sh")
                .args(["-c", "command -v docker-credential-pass"])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        std::os::unix::fs::symlink(real.trim(), g.dir.path().join("bin/vault-backend-pass"))
            .unwrap();
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
