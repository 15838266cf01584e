//! Shared helpers for the black-box tests: a private vault in a temp dir, run the real binary.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_vault");
pub const PASS: &str = "correct horse battery staple";

/// `vault exec prod -- aws sts get-caller-identity`, printing only the ARN.
pub const EXEC_PROD_CALLER_ARN: &[&str] = &[
    "exec",
    "prod",
    "--",
    "aws",
    "sts",
    "get-caller-identity",
    "--query",
    "Arn",
    "--output",
    "text",
];

/// Whether a missing real part must fail the test (CI) rather than skip it.
pub fn require(part: &str, present: bool) -> bool {
    if present {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{part} is required in CI (CI=true) but is not available");
    }
    eprintln!("SKIP: {part} is not available (it is required when CI=true)");
    false
}

pub fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A vault in its own temp dir, with its own TMPDIR and HOME so leaks are findable.
pub struct Env {
    pub tmp: tempfile::TempDir,
    pub dir: PathBuf,
    pub passfile: PathBuf,
    /// A program (and its arguments) that runs the binary, e.g. `keyctl session -`.
    pub wrapper: Vec<String>,
    /// Extra variables for every command (a keyring's D-Bus address, ...).
    pub vars: Vec<(String, String)>,
}

impl Env {
    pub fn new() -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("vault");
        let passfile = tmp.path().join("pass");
        std::fs::write(&passfile, format!("{PASS}\n")).unwrap();
        std::fs::create_dir(tmp.path().join("tmp")).unwrap();
        std::fs::create_dir(tmp.path().join("home")).unwrap();
        std::fs::create_dir(tmp.path().join("run")).unwrap();
        std::fs::set_permissions(
            tmp.path().join("run"),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        Env {
            tmp,
            dir,
            passfile,
            wrapper: Vec::new(),
            vars: Vec::new(),
        }
    }

    /// A fresh, initialised vault at the lowest allowed KDF cost (tests run many unlocks).
    pub fn init() -> Env {
        let env = Env::new();
        env.ok(&["init", "--kdf-memory", "64", "--kdf-time", "3"]);
        env
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    /// A command for the binary with a clean, private environment.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = match self.wrapper.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(BIN);
                c
            }
            None => Command::new(BIN),
        };
        c.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.path("home"))
            .env("TMPDIR", self.path("tmp"))
            .env("VAULT_DIR", &self.dir)
            .env("VAULT_PASSPHRASE_FILE", &self.passfile)
            // Agent tests opt in (and use a private XDG_RUNTIME_DIR); the rest unlock
            // in-process so no agent outlives a test.
            .env("VAULT_NO_AGENT", "1")
            .env("XDG_RUNTIME_DIR", self.path("run"))
            .env("AWS_CONFIG_FILE", self.path("home/aws-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.path("home/aws-credentials"),
            )
            .stdin(Stdio::null());
        // pyenv's shims (aws, python3) find their interpreter through PYENV_ROOT or HOME.
        if let Some(root) = pyenv_root() {
            c.env("PYENV_ROOT", root);
        }
        c.envs(self.vars.iter().map(|(k, v)| (k, v)));
        c
    }

    /// Runs every later command in a fresh session keyring (`keyctl session -`), as a login
    /// session would, with a keychain service of its own.
    pub fn use_keyutils(&mut self, service: &str) {
        self.wrapper = ["keyctl", "session", "-"].map(String::from).to_vec();
        self.vars
            .push(("VAULT_KEYCHAIN_SERVICE".into(), service.to_owned()));
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    pub fn run_env(&self, args: &[&str], vars: &[(&str, &str)]) -> Output {
        let mut c = self.cmd(args);
        for (k, v) in vars {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_success(&out, args);
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn add_key(&self, profile: &str, id: &str, secret: &str) {
        let out = self.run_env(
            &["add", profile, "--env"],
            &[("AWS_ACCESS_KEY_ID", id), ("AWS_SECRET_ACCESS_KEY", secret)],
        );
        assert_success(&out, &["add", profile]);
    }

    pub fn item(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.age"))
    }
}

pub fn assert_success(out: &Output, args: &[&str]) {
    assert!(
        out.status.success(),
        "vault {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Asserts a failure with exactly `code`, a `vault:` message, and no panic.
pub fn assert_code(out: &Output, code: i32, what: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    // `keyctl session -` (the keyutils tests' wrapper) announces itself first.
    let stderr = match stderr.strip_prefix("Joined session keyring: ") {
        Some(rest) => rest.split_once('\n').map_or("", |(_, r)| r).to_owned(),
        None => stderr.into_owned(),
    };
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}: expected exit {code}, got {} ({stderr})",
        out.status
    );
    assert!(
        stderr.starts_with("vault: "),
        "{what}: unclear error: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{what}: panic: {stderr}");
}

/// Every file under `root`, recursively.
pub fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Where pyenv lives, when the Python tools come from it.
pub fn pyenv_root() -> Option<std::ffi::OsString> {
    std::env::var_os("PYENV_ROOT").or_else(|| {
        let p = Path::new(&std::env::var_os("HOME")?).join(".pyenv");
        p.is_dir().then(|| p.into_os_string())
    })
}

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
        let mut child = Command::new("python3")
            .arg(script)
            .arg(&log)
            .args(cert.iter())
            .envs(vars.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().expect("moto printed its port");
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
