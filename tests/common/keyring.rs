//! The keychain backend's real parts: gnome-keyring's Secret Service on a private D-Bus bus,
//! and the kernel keyring.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use super::{have, require};

/// A private D-Bus session bus with gnome-keyring's Secret Service on it, its login keyring
/// unlocked with a known password; both processes end when this is dropped.
pub struct Keyring {
    bus: std::process::Child,
    daemon: std::process::Child,
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
        for d in ["run", "data", "home"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        std::fs::set_permissions(
            dir.path().join("run"),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        let mut bus = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .arg(format!(
                "--address=unix:path={}",
                dir.path().join("bus").display()
            ))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut address = String::new();
        BufReader::new(bus.stdout.take().unwrap())
            .read_line(&mut address)
            .unwrap();
        let address = address.trim().to_owned();
        assert!(
            address.starts_with("unix:"),
            "dbus-daemon printed {address:?}"
        );
        let mut daemon = Command::new("gnome-keyring-daemon")
            .args(["--foreground", "--unlock", "--components=secrets"])
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .env("XDG_RUNTIME_DIR", dir.path().join("run"))
            .env("XDG_DATA_HOME", dir.path().join("data"))
            .env("HOME", dir.path().join("home"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            let mut stdin = daemon.stdin.take().unwrap();
            stdin.write_all(b"keyring-pw").unwrap();
        }
        let k = Keyring {
            bus,
            daemon,
            address,
            dir,
        };
        for _ in 0..100 {
            let out = k
                .dbus_send(&[
                    "--dest=org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus.NameHasOwner",
                    "string:org.freedesktop.secrets",
                ])
                .output()
                .unwrap();
            if String::from_utf8_lossy(&out.stdout).contains("boolean true") {
                return Some(k);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("gnome-keyring-daemon did not take org.freedesktop.secrets");
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
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        let _ = self.bus.kill();
        let _ = self.bus.wait();
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
