//! Shared helpers for the black-box tests: a private vault in a temp dir, run the real binary;
//! and the real parts, one module each: [`moto`] (STS), [`keyring`] (gnome-keyring's Secret
//! Service, the kernel keyring), [`gpg`] (pass + GnuPG, docker-credential-pass). The real parts
//! that bench/run.sh also sets up come from one shell file, scripts/lib/real-parts.sh.
#![allow(dead_code, unused_imports)]

pub mod federation;
pub mod gpg;
pub mod keyring;
pub mod moto;
pub mod sso;

pub use gpg::Gpg;
pub use keyring::{keyutils_items, Keyring};
pub use moto::Moto;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_vault");
/// The full CLI the front hands every cold command line to (it must sit next to `vault`).
pub const CORE: &str = env!("CARGO_BIN_EXE_vault-core");
pub const PASS: &str = "correct horse battery staple";
/// The real parts' setup, shared with bench/run.sh.
pub const REAL_PARTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/lib/real-parts.sh");

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
        write_secret(&passfile, &format!("{PASS}\n"));
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
            // --force: a test that replaces a key means to.
            &["add", profile, "--env", "--force"],
            &[("AWS_ACCESS_KEY_ID", id), ("AWS_SECRET_ACCESS_KEY", secret)],
        );
        assert_success(&out, &["add", profile]);
    }

    pub fn item(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.age"))
    }
}

/// Writes a passphrase file as a user should keep one: mode 0600 (vault refuses a file other
/// users can read).
pub fn write_secret(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
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

/// Starts one of the tests' loopback server scripts (`cmd`: `python3 tests/NAME.py ...`),
/// which prints its port on its first line of stdout; returns the process and the port.
pub fn start_port_script(mut cmd: Command, what: &str) -> (std::process::Child, u16) {
    use std::io::{BufRead, BufReader};
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{what} did not print its port: {line:?}"));
    (child, port)
}

/// The uid of the real Unix user `name`, created (no home) when missing: the other user of
/// the multi-user tests (scripts/test.sh removes the `vaulttest-*` users afterwards).
pub fn ensure_user(name: &str) -> u32 {
    let _ = Command::new("useradd")
        .args(["--no-create-home", "--shell", "/bin/sh", name])
        .output();
    let out = Command::new("id").args(["-u", name]).output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .expect("user exists")
}

/// A FIFO at `path` (mode 600): a planted item or config file that would block a reader.
pub fn mkfifo(path: &Path) {
    let st = Command::new("mkfifo")
        .arg("-m")
        .arg("600")
        .arg(path)
        .status()
        .unwrap();
    assert!(st.success());
}
