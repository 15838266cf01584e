//! The keychain backend's real parts: gnome-keyring's Secret Service on a private D-Bus bus
//! (started by scripts/lib/real-parts.sh, as bench/run.sh does), and the kernel keyring.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use super::{have, require};

/// A private D-Bus session bus with gnome-keyring's Secret Service on it, its login keyring
/// unlocked with a known password: `real-parts.sh keyring_serve`, which ends both daemons when
/// its stdin closes (this is dropped, or the test process dies).
pub struct Keyring {
    serve: std::process::Child,
    pub address: String,
    dir: tempfile::TempDir,
}

impl Keyring {
    pub fn start() -> Option<Keyring> {
        let ok = have("dbus-daemon") && have("gnome-keyring-daemon") && have("dbus-send");
        if !require("dbus-daemon and gnome-keyring-daemon", ok) {
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("kr")
            .tempdir_in("/tmp")
            .unwrap();
        let mut serve = Command::new("bash")
            .arg(super::REAL_PARTS)
            .arg("keyring_serve")
            .arg(dir.path())
            .arg("keyring-pw")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut address = String::new();
        BufReader::new(serve.stdout.take().unwrap())
            .read_line(&mut address)
            .unwrap();
        let address = address.trim().to_owned();
        if !address.starts_with("unix:") {
            let out = serve.wait_with_output().unwrap();
            panic!(
                "real-parts.sh keyring_serve printed {address:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Some(Keyring {
            serve,
            address,
            dir,
        })
    }

    /// `dbus-send --session --print-reply ARGS` on this bus.
    pub fn dbus_send(&self, args: &[&str]) -> Command {
        let mut c = Command::new("dbus-send");
        c.args(["--session", "--print-reply"])
            .args(args)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address);
        c
    }

    /// The variables a vault command needs to reach this keyring.
    pub fn vars(&self, service: &str) -> Vec<(String, String)> {
        vec![
            ("DBUS_SESSION_BUS_ADDRESS".into(), self.address.clone()),
            ("VAULT_KEYCHAIN_SERVICE".into(), service.to_owned()),
        ]
    }

    /// Locks the login collection, as a screen lock or `secret-tool lock` would.
    pub fn lock(&self) {
        let out = self
            .dbus_send(&[
                "--dest=org.freedesktop.secrets",
                "/org/freedesktop/secrets",
                "org.freedesktop.Secret.Service.Lock",
                "array:objpath:/org/freedesktop/secrets/collection/login",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }

    /// The secret of item `name` under `service`, as `secret-tool lookup` prints it.
    pub fn lookup(&self, service: &str, name: &str) -> Vec<u8> {
        let out = Command::new("secret-tool")
            .args(["lookup", "service", service, "username", name])
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .output()
            .unwrap();
        assert!(out.status.success(), "secret-tool lookup {name}: {out:?}");
        out.stdout
    }

    /// The item names (the `username` attribute) stored under `service`.
    pub fn items(&self, service: &str) -> Vec<String> {
        let out = Command::new("secret-tool")
            .args(["search", "--all", "service", service])
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        let mut v: Vec<String> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("attribute.username = "))
            .map(str::to_owned)
            .collect();
        v.sort();
        v
    }
}

impl Drop for Keyring {
    fn drop(&mut self) {
        drop(self.serve.stdin.take()); // EOF: the script ends both daemons, then exits
        let _ = self.serve.wait();
        let _ = &self.dir;
    }
}

/// Names of the kernel keyring's `vault` items of `service` (in the persistent keyring, which
/// outlives each command's session keyring).
pub fn keyutils_items(service: &str) -> Vec<String> {
    let out = Command::new("keyctl")
        .args(["session", "-", "sh", "-c"])
        .arg("keyctl get_persistent @s >/dev/null && keyctl show @s")
        .output()
        .unwrap();
    let suffix = format!("@{service}");
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split("user: keyring:").nth(1))
        .filter_map(|d| d.strip_suffix(suffix.as_str()))
        .map(str::to_owned)
        .collect();
    v.sort();
    v.dedup();
    v
}
