//! A newcomer's first hour (issue 16): advice that never loses data, a second chance at
//! prompts, confirmation before destroying a key, aws-vault's habits, true messages.

mod common;

use common::{assert_code, assert_success, Env};

/// A lost passphrase slot beside stored keys: vault says so (not "run `vault init`"), refuses
/// a plain `init` that would orphan the keys, and re-creates the slot from the recovery
/// identity so every key opens again.
#[test]
fn a_lost_slot_is_recovered_from_the_identity_not_replaced() {
    let env = Env::init();
    env.add_key("prod", "AKIAPROD0000000000001", "prod-secret");
    let identity = env.ok(&["recover"]);
    let idfile = env.path("identity.txt");
    std::fs::write(&idfile, &identity).unwrap();
    std::fs::remove_file(env.item("slot.passphrase")).unwrap();

    let out = env.run(&["export", "prod", "--no-session", "--format", "env"]);
    assert_code(&out, 65, "export with the slot gone");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("slot") && err.contains("--from-identity"),
        "{err}"
    );
    assert!(!err.contains("run `vault init`"), "{err}");

    let out = env.run(&["init", "--kdf-memory", "64", "--kdf-time", "3"]);
    assert_code(&out, 65, "plain init beside orphaned keys");
    assert!(!env.item("slot.passphrase").exists());

    // Another vault's identity is refused: new keys would be sealed to it.
    let other = Env::init();
    let wrong = env.path("wrong.txt");
    std::fs::write(&wrong, other.ok(&["recover"])).unwrap();
    let out = env.run(&["init", "--from-identity", wrong.to_str().unwrap()]);
    assert_code(&out, 2, "init from another vault's identity");
    assert!(!env.item("slot.passphrase").exists());

    let args = [
        "init",
        "--kdf-memory",
        "64",
        "--kdf-time",
        "3",
        "--from-identity",
        idfile.to_str().unwrap(),
    ];
    assert_success(&env.run(&args), &args);
    let out = env.ok(&["export", "prod", "--no-session", "--format", "env"]);
    assert!(out.contains("prod-secret"), "{out}");
}

/// A corrupted slot's hint names what can be done for a slot (not `vault remove`).
#[test]
fn a_corrupted_slot_hint_is_one_that_can_be_followed() {
    let env = Env::init();
    let slot = env.item("slot.passphrase");
    let mut bytes = std::fs::read(&slot).unwrap();
    let n = bytes.len();
    bytes.truncate(n / 2);
    std::fs::write(&slot, bytes).unwrap();
    let out = env.run(&["list"]);
    let err = String::from_utf8_lossy(&out.stderr);
    let out = env.run(&["export", "prod", "--no-session"]);
    let err2 = String::from_utf8_lossy(&out.stderr);
    for e in [&err, &err2] {
        assert!(!e.contains("`vault remove` it"), "{e}");
    }
    assert!(
        err2.contains("--from-identity") || err2.contains("backup"),
        "{err2}"
    );
}

/// Runs `vault ARGS` on a pseudo-terminal with `env`'s environment but no passphrase source,
/// answering `script`'s prompts; returns the exit code and what the terminal showed.
fn on_tty(env: &Env, args: &[&str], script: &[(&str, &str)]) -> (i32, String) {
    let vault = env.cmd(args);
    let mut cmd = std::process::Command::new("python3");
    cmd.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pty_drive.py"))
        .arg(serde_json::to_string(script).unwrap())
        .arg("--")
        .arg(vault.get_program())
        .args(vault.get_args())
        .env_clear();
    for (k, v) in vault.get_envs() {
        if let Some(v) = v {
            if k != "VAULT_PASSPHRASE_FILE" {
                cmd.env(k, v);
            }
        }
    }
    let out = cmd.output().unwrap();
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code().unwrap_or(-1), shown)
}

fn have_pty_driver() -> bool {
    common::require("python3 (pty module)", common::have("python3"))
}

/// A wrong passphrase at a terminal is asked for again (3 tries, like sudo), and `vault add`
/// asks for it before the key, so a typo does not throw the typed key away.
#[test]
fn a_typo_in_the_passphrase_costs_a_retype() {
    if !have_pty_driver() {
        return;
    }
    let env = Env::init();
    env.add_key("prod", "AKIAPROD0000000000001", "prod-secret");
    let pass = common::PASS;
    let (code, shown) = on_tty(
        &env,
        &["export", "prod", "--no-session", "--format", "env"],
        &[
            ("Vault passphrase: ", "wrong"),
            ("Vault passphrase: ", pass),
        ],
    );
    assert_eq!(code, 0, "{shown}");
    assert!(
        shown.contains("try again") && shown.contains("prod-secret"),
        "{shown}"
    );

    let (code, shown) = on_tty(
        &env,
        &["export", "prod", "--no-session"],
        &[
            ("Vault passphrase: ", "wrong1"),
            ("Vault passphrase: ", "wrong2"),
            ("Vault passphrase: ", "wrong3"),
        ],
    );
    assert_eq!(code, 77, "{shown}");
    assert_eq!(shown.matches("Vault passphrase: ").count(), 3, "{shown}");

    // add: the passphrase first, then the key.
    let (code, shown) = on_tty(
        &env,
        &["add", "dev"],
        &[
            ("Vault passphrase: ", "wrong"),
            ("Vault passphrase: ", pass),
            ("Access key ID: ", "AKIADEV00000000000001"),
            ("Secret access key: ", "dev-secret"),
        ],
    );
    assert_eq!(code, 0, "{shown}");
    let out = env.ok(&["export", "dev", "--no-session", "--format", "env"]);
    assert!(out.contains("dev-secret"), "{out}");
}

/// `init` at a terminal asks again when the two entries differ or the first is empty.
#[test]
fn init_asks_again_on_a_mismatch_or_an_empty_passphrase() {
    if !have_pty_driver() {
        return;
    }
    let env = Env::new();
    let pass = common::PASS;
    let (code, shown) = on_tty(
        &env,
        &["init", "--kdf-memory", "64", "--kdf-time", "3"],
        &[
            ("New vault passphrase: ", ""),
            ("New vault passphrase: ", pass),
            ("Repeat it: ", "typo"),
            ("New vault passphrase: ", pass),
            ("Repeat it: ", pass),
        ],
    );
    assert_eq!(code, 0, "{shown}");
    assert!(
        shown.contains("empty") && shown.contains("differ"),
        "{shown}"
    );
    // The passphrase that was set is the one typed twice.
    env.ok(&["recover"]);
}

/// Deleting or replacing a key asks first at a terminal, is refused without one, and
/// `-f/--force` skips the question (as aws-vault's).
#[test]
fn destroying_a_key_asks_first() {
    if !have_pty_driver() {
        return;
    }
    let env = Env::init();
    env.add_key("prod", "AKIAPROD0000000000001", "prod-secret");
    let out = env.run(&["remove", "prod"]);
    assert_code(&out, 2, "remove without a terminal");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
    assert!(env.item("key.prod").exists());

    let (code, shown) = on_tty(&env, &["remove", "prod"], &[("[y/N] ", "n")]);
    assert_eq!(code, 2, "{shown}");
    assert!(env.item("key.prod").exists());

    // A different key over an existing one: asked, refused without a terminal.
    let out = env.run_env(
        &["add", "prod", "--env"],
        &[
            ("AWS_ACCESS_KEY_ID", "AKIAOTHER000000000001"),
            ("AWS_SECRET_ACCESS_KEY", "other-secret"),
        ],
    );
    assert_code(&out, 2, "add over a different key without a terminal");
    let out = env.ok(&["export", "prod", "--no-session", "--format", "env"]);
    assert!(out.contains("prod-secret"), "{out}");
    // The same key again is not a question.
    let out = env.run_env(
        &["add", "prod", "--env"],
        &[
            ("AWS_ACCESS_KEY_ID", "AKIAPROD0000000000001"),
            ("AWS_SECRET_ACCESS_KEY", "prod-secret"),
        ],
    );
    assert_success(&out, &["add", "prod", "again"]);

    let (code, shown) = on_tty(&env, &["remove", "prod"], &[("[y/N] ", "y")]);
    assert_eq!(code, 0, "{shown}");
    assert!(!env.item("key.prod").exists());
    env.add_key("prod", "AKIAPROD0000000000001", "prod-secret");
    env.ok(&["remove", "-f", "prod"]);
    assert!(!env.item("key.prod").exists());
}

/// aws-vault's habits: the command without `--`, the short flags, `exec --json`; and a
/// command that cannot be run exits as shells do (127 not found, 126 not executable).
#[test]
fn aws_vault_habits_work_under_exec() {
    let env = Env::init();
    env.add_key("prod", "AKIAPROD0000000000001", "prod-secret");
    // No `--`: everything after the profile is the command, its own flags included.
    let out = env.ok(&[
        "exec",
        "prod",
        "-n",
        "sh",
        "-c",
        "echo $AWS_ACCESS_KEY_ID -x",
    ]);
    assert_eq!(out.trim(), "AKIAPROD0000000000001 -x");
    let out = env.ok(&[
        "exec",
        "-n",
        "-r",
        "eu-west-2",
        "prod",
        "--",
        "sh",
        "-c",
        "echo $AWS_REGION",
    ]);
    assert_eq!(out.trim(), "eu-west-2");
    let json = env.ok(&["exec", "prod", "-n", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["Version"], 1);
    assert_eq!(v["AccessKeyId"], "AKIAPROD0000000000001");
    assert_eq!(
        json,
        env.ok(&["export", "prod", "-n", "--format", "credential-process"])
    );

    let out = env.run(&["exec", "prod", "-n", "no-such-command-anywhere"]);
    assert_code(&out, 127, "command not found");
    let script = env.path("not-executable.sh");
    std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
    let out = env.run(&["exec", "prod", "-n", script.to_str().unwrap()]);
    assert_code(&out, 126, "command not executable");
    let out = env.run(&["exec", "prod", "-n", "--fork", "no-such-command-anywhere"]);
    assert_code(&out, 127, "command not found under --fork");
}

/// `--prompt ykman` asks the YubiKey for the code of the profile's mfa_serial: the code
/// reaches STS, the serial is an argument (never spliced into a shell line).
#[test]
fn the_ykman_prompt_driver_supplies_the_mfa_code() {
    let Some(moto) = common::Moto::start(&[]) else {
        return;
    };
    let env = Env::init();
    let serial = "arn:aws:iam::123456789012:mfa/alice";
    std::fs::write(
        env.path("home/aws-config"),
        format!("[profile prod]\nregion = us-east-1\nmfa_serial = {serial}\n"),
    )
    .unwrap();
    env.add_key("prod", "AKIAPROD0000000000001", "prod-secret");
    let bin = env.path("bin");
    std::fs::create_dir(&bin).unwrap();
    let log = env.path("ykman.log");
    let ykman = bin.join("ykman");
    std::fs::write(
        &ykman,
        format!("#!/bin/sh\necho \"$@\" >> {}\necho 246810\n", log.display()),
    )
    .unwrap();
    std::fs::set_permissions(&ykman, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let mut c = env.cmd(&["exec", "prod", "--prompt", "ykman", "true"]);
    c.env("PATH", &path).env("AWS_ENDPOINT_URL_STS", moto.url());
    let out = c.output().unwrap();
    assert_success(&out, &["exec --prompt ykman"]);
    assert_eq!(
        std::fs::read_to_string(&log).unwrap().trim(),
        format!("oath accounts code --single {serial}")
    );
    let gst = moto
        .calls()
        .into_iter()
        .find(|c| c["Action"] == "GetSessionToken")
        .unwrap();
    assert_eq!(gst["TokenCode"], "246810");
    assert_eq!(gst["SerialNumber"], serial);

    // No terminal and no driver: exit 79 (needs a person), as for the passphrase.
    env.ok(&["clear"]);
    let mut c = env.cmd(&["exec", "prod", "true"]);
    c.env("AWS_ENDPOINT_URL_STS", moto.url());
    let out = c.output().unwrap();
    assert_code(&out, 79, "MFA code needed without a terminal");
}

/// A syntax error in the AWS config names the file and the line.
#[test]
fn a_config_syntax_error_names_the_file_and_line() {
    let env = Env::init();
    env.add_key("prod", "AKIAPROD0000000000001", "prod-secret");
    let config = env.path("home/aws-config");
    std::fs::write(
        &config,
        "[profile prod]\nregion = us-east-1\n[profile broken\nx = 1\n",
    )
    .unwrap();
    let out = env.run(&["exec", "prod", "-n", "true"]);
    assert_code(&out, 78, "config syntax error");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&*config.to_string_lossy()), "{err}");
    assert!(err.contains("line 3"), "{err}");
}

/// Messages that were false: an agent's idle time shown as "0 min" and then as this
/// command's default; "locked" from `recover` while the agent is unlocked; a `DIR/backend`
/// file that is not named; an endpoint that is not STS reported as "refused: Unknown".
#[test]
fn messages_say_what_is_true() {
    let env = Env::init();
    let agent = |args: &[&str], pass: bool| {
        let mut c = env.cmd(args);
        c.env_remove("VAULT_NO_AGENT");
        if !pass {
            c.env_remove("VAULT_PASSPHRASE_FILE");
        }
        c
    };
    struct Stop<'a>(&'a dyn Fn());
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            (self.0)()
        }
    }
    let stop = || {
        let _ = agent(&["lock", "--stop"], false).output();
    };
    let _stop = Stop(&stop);
    let out = agent(&["unlock"], true)
        .env("VAULT_AGENT_TIMEOUT", "40s")
        .output()
        .unwrap();
    assert_success(&out, &["unlock"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("locks after 40s") || err.contains("locks after 39s"),
        "{err}"
    );
    let out = agent(&["unlock"], false).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("already unlocked") && !err.contains("15m"),
        "{err}"
    );
    assert!(err.contains("locks after 3"), "{err}");

    let out = agent(&["recover"], false).output().unwrap();
    assert_code(&out, 79, "recover with no passphrase source");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("is locked") && err.contains("needs the passphrase"),
        "{err}"
    );
    drop(_stop);

    std::fs::write(env.dir.join("backend"), "nope\n").unwrap();
    let out = env.run(&["list"]);
    assert_code(&out, 78, "a bad DIR/backend file");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&*env.dir.join("backend").to_string_lossy()),
        "{err}"
    );
}

/// An endpoint that answers HTTP but is not STS: the status is shown, not "Unknown".
#[test]
fn an_endpoint_that_is_not_sts_is_named_by_its_status() {
    if !common::require("python3", common::have("python3")) {
        return;
    }
    let env = Env::init();
    env.add_key("prod", "AKIAPROD0000000000001", "prod-secret");
    let mut server = std::process::Command::new("python3");
    server.args([
        "-c",
        "import http.server as h\n\
         class H(h.BaseHTTPRequestHandler):\n\
         \x20   def do_POST(self):\n\
         \x20       self.send_response(404); self.send_header('Content-Length','9'); self.end_headers(); self.wfile.write(b'not found')\n\
         \x20   def log_message(self,*a): pass\n\
         s=h.HTTPServer(('127.0.0.1',0),H); print(s.server_port, flush=True); s.serve_forever()",
    ]);
    let (mut child, port) = common::start_port_script(server, "a plain HTTP server");
    let mut c = env.cmd(&["exec", "prod", "true"]);
    c.env("AWS_ENDPOINT_URL_STS", format!("http://127.0.0.1:{port}"));
    let out = c.output().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert_code(&out, 76, "an endpoint that is not STS");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("HTTP 404") && !err.contains("Unknown"),
        "{err}"
    );
    assert!(!err.contains("see the AWS message above"), "{err}");
}

/// `--server --lazy`: an error reaches the child's SDK as the JSON the endpoint meant (its
/// newlines intact), not with `\n` mangled into `'n`.
#[test]
fn the_endpoint_error_json_keeps_the_message() {
    if !common::require("python3", common::have("python3")) {
        return;
    }
    let env = Env::init();
    std::fs::write(
        env.path("home/aws-config"),
        "[profile msrc]\nregion = us-east-1\nmfa_serial = arn:aws:iam::123456789012:mfa/alice\n",
    )
    .unwrap();
    env.add_key("msrc", "AKIAPROD0000000000001", "prod-secret");
    let fetch = r#"
import json, os, urllib.request, urllib.error
req = urllib.request.Request(os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"],
    headers={"Authorization": os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"]})
try:
    urllib.request.urlopen(req)
except urllib.error.HTTPError as e:
    print(json.dumps(json.load(e)))
"#;
    let mut c = env.cmd(&[
        "exec", "msrc", "--server", "--lazy", "--", "python3", "-c", fetch,
    ]);
    c.env("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9");
    let out = c.output().unwrap();
    assert_success(&out, &["exec --server --lazy"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let msg = v["message"].as_str().unwrap();
    assert!(
        msg.contains("MFA code is needed") && msg.contains("\n  hint: "),
        "{msg}"
    );
    assert!(!msg.contains("'n"), "{msg}");
}

/// A passphrase file other users can read is refused (exit 80), as every loose vault path
/// is; fixed with the chmod the hint names.
#[test]
fn a_passphrase_file_others_can_read_is_refused() {
    let env = Env::init();
    env.add_key("prod", "AKIAPROD0000000000001", "prod-secret");
    std::fs::set_permissions(
        &env.passfile,
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let out = env.run(&["export", "prod", "-n"]);
    assert_code(&out, 80, "a world-readable passphrase file");
    assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 600"));
    std::fs::set_permissions(
        &env.passfile,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    env.ok(&["export", "prod", "-n"]);
}

/// A weak new passphrase is named as weak (zxcvbn) and needs a yes at a terminal; from a
/// file it is used with a warning.
#[test]
fn a_weak_passphrase_is_questioned() {
    if !have_pty_driver() {
        return;
    }
    let env = Env::new();
    let (code, shown) = on_tty(
        &env,
        &["init", "--kdf-memory", "64", "--kdf-time", "3"],
        &[
            ("New vault passphrase: ", "a"),
            ("use it anyway? [y/N] ", "n"),
            ("New vault passphrase: ", common::PASS),
            ("Repeat it: ", common::PASS),
        ],
    );
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains("weak (strength 0 of 4"), "{shown}");
    env.ok(&["recover"]);

    let weak = Env::new();
    common::write_secret(&weak.passfile, "password1\n");
    let out = weak.run(&["init", "--kdf-memory", "64", "--kdf-time", "3"]);
    assert_success(&out, &["init with a weak passphrase file"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning: the new passphrase is weak"));
}

/// `export` speaks fish and PowerShell too, and the shell formats carry the region (as
/// aws-vault's `export` does).
#[test]
fn export_for_every_shell_with_the_region() {
    let env = Env::init();
    std::fs::write(
        env.path("home/aws-config"),
        "[profile prod]\nregion = eu-west-3\n",
    )
    .unwrap();
    env.add_key("prod", "AKIAPROD0000000000001", "prod/secret+x");
    let posix = env.ok(&["export", "prod", "-n"]);
    let out = std::process::Command::new("sh")
        .args([
            "-c",
            &format!("{posix}\necho \"$AWS_REGION $AWS_DEFAULT_REGION $AWS_SECRET_ACCESS_KEY\""),
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "eu-west-3 eu-west-3 prod/secret+x"
    );
    let fish = env.ok(&["export", "prod", "-n", "--format", "fish"]);
    assert!(
        fish.contains("set -gx AWS_ACCESS_KEY_ID 'AKIAPROD0000000000001';\n"),
        "{fish}"
    );
    assert!(fish.contains("set -gx AWS_REGION 'eu-west-3';\n"), "{fish}");
    let ps = env.ok(&["export", "prod", "-n", "--format", "powershell"]);
    assert!(
        ps.contains("$Env:AWS_SECRET_ACCESS_KEY = 'prod/secret+x'\n"),
        "{ps}"
    );
    assert!(
        ps.contains("$Env:AWS_DEFAULT_REGION = 'eu-west-3'\n"),
        "{ps}"
    );
    // The caller's AWS_REGION wins over the profile's, here as for exec: left alone.
    let out = env.run_env(&["export", "prod", "-n"], &[("AWS_REGION", "ap-south-1")]);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("eu-west-3"));
}

/// One help layout: every subcommand's `--help` lists the global options under their own
/// heading; `-v` lines read like every other vault line (no leading space).
#[test]
fn help_and_verbose_output_have_one_layout() {
    let env = Env::init();
    let help = env.ok(&["--help"]);
    let commands: Vec<&str> = help
        .split("Commands:")
        .nth(1)
        .unwrap()
        .split("\n\n")
        .next()
        .unwrap()
        .lines()
        // A command's line starts with two spaces; its wrapped description with more.
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.len() > 10, "{commands:?}");
    for c in &commands {
        let out = env.ok(&[c, "--help"]);
        assert!(
            out.contains("\nGlobal options:\n"),
            "vault {c} --help:\n{out}"
        );
        let globals = out.split("\nGlobal options:\n").nth(1).unwrap();
        assert!(
            globals.contains("--vault-dir") && globals.contains("--verbose"),
            "{c}"
        );
    }
    env.add_key("prod", "AKIAPROD0000000000001", "prod-secret");
    let out = env.run(&["-v", "exec", "prod", "-n", "true"]);
    assert_success(&out, &["-v exec"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.is_empty());
    for line in err.lines() {
        assert!(
            line.starts_with("vault: ") || line.starts_with("  hint: "),
            "{line:?}"
        );
    }
}

/// `vault rotate` of a key whose profile has an mfa_serial signs its IAM calls with an MFA
/// session (policies that require MFA for key management are common).
#[test]
fn rotate_goes_through_an_mfa_session() {
    let Some(moto) = common::Moto::start(&[]) else {
        return;
    };
    let py = format!(
        "import boto3\niam = boto3.client('iam', endpoint_url='{}', region_name='us-east-1', aws_access_key_id='x', aws_secret_access_key='x')\n\
         iam.create_user(UserName='mfarotor')\nk = iam.create_access_key(UserName='mfarotor')['AccessKey']\nprint(k['AccessKeyId'], k['SecretAccessKey'])",
        moto.url()
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &py])
        .output()
        .unwrap();
    assert_success(&out, &["create the IAM user"]);
    let text = String::from_utf8(out.stdout).unwrap();
    let (id, secret) = text.trim().split_once(' ').unwrap();
    let env = Env::init();
    let serial = "arn:aws:iam::123456789012:mfa/rotor";
    std::fs::write(
        env.path("home/aws-config"),
        format!("[profile src]\nregion = us-east-1\nmfa_serial = {serial}\n"),
    )
    .unwrap();
    env.add_key("src", id, secret);
    let mut c = env.cmd(&["rotate", "src", "-t", "135790"]);
    c.env("AWS_ENDPOINT_URL", moto.url());
    let out = c.output().unwrap();
    assert_success(&out, &["rotate src with MFA"]);
    // The test's own IAM calls are signed by "x".
    let calls: Vec<_> = moto
        .calls()
        .into_iter()
        .filter(|c| c["_AccessKeyId"] != "x")
        .collect();
    let gst = calls
        .iter()
        .find(|c| c["Action"] == "GetSessionToken")
        .expect("an MFA session");
    assert_eq!(gst["SerialNumber"], serial);
    assert_eq!(gst["TokenCode"], "135790");
    assert_eq!(gst["_AccessKeyId"], id);
    let create = calls
        .iter()
        .find(|c| c["Action"] == "CreateAccessKey")
        .unwrap();
    let signer = create["_AccessKeyId"].as_str().unwrap();
    // Signed by the session (moto gives sessions a fixed key id), not by the long-term key.
    assert_ne!(signer, id, "CreateAccessKey signed by the long-term key");
    let get_user = calls.iter().find(|c| c["Action"] == "GetUser").unwrap();
    assert_eq!(get_user["_AccessKeyId"], id);
    let delete = calls
        .iter()
        .find(|c| c["Action"] == "DeleteAccessKey")
        .unwrap();
    assert_eq!(delete["_AccessKeyId"], signer);
}

/// The child is found on its PATH with `stat`s (no failing `execve` per PATH entry) and sees
/// the name it was given as argv[0].
#[test]
fn exec_finds_the_command_on_path_without_failing_execves() {
    let env = Env::init();
    env.add_key("prod", "AKIAPROD0000000000001", "prod-secret");
    let bin = env.path("bin");
    std::fs::create_dir(&bin).unwrap();
    let script = bin.join("show-argv0");
    std::fs::write(&script, "#!/bin/sh\necho \"$0\"\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    // Empty and missing directories first, and a non-executable file of the same name.
    let shadow = env.path("shadow");
    std::fs::create_dir(&shadow).unwrap();
    std::fs::write(shadow.join("show-argv0"), "not a program").unwrap();
    let path = format!(
        "/nonexistent:{}:{}:{}",
        shadow.display(),
        bin.display(),
        std::env::var("PATH").unwrap()
    );
    let mut c = env.cmd(&["exec", "prod", "-n", "show-argv0"]);
    c.env("PATH", &path);
    let out = c.output().unwrap();
    assert_success(&out, &["exec show-argv0"]);
    assert!(String::from_utf8_lossy(&out.stdout)
        .trim()
        .ends_with("show-argv0"));
    if common::require("strace", common::have("strace")) {
        let c = env.cmd(&["exec", "prod", "-n", "show-argv0"]);
        let mut s = std::process::Command::new("strace");
        s.args(["-f", "-e", "trace=execve", "-o"])
            .arg(env.path("trace"))
            .arg(c.get_program())
            .args(c.get_args())
            .env_clear()
            .envs(c.get_envs().filter_map(|(k, v)| Some((k, v?))))
            .env("PATH", &path);
        assert!(s.status().unwrap().success());
        let trace = std::fs::read_to_string(env.path("trace")).unwrap();
        let failed = trace
            .lines()
            .filter(|l| l.contains("execve(") && l.contains("= -1"))
            .count();
        assert_eq!(failed, 0, "{trace}");
    }
}

/// Profile names the SDK's parser accepts (with `/` and `%`) work: stored, resolved through
/// the config, listed, removed.
#[test]
fn profile_names_the_sdk_accepts_work() {
    let env = Env::init();
    let name = "team/prod%eu";
    std::fs::write(
        env.path("home/aws-config"),
        format!("[profile {name}]\nregion = eu-west-1\n"),
    )
    .unwrap();
    env.add_key(name, "AKIAPROD0000000000001", "prod-secret");
    let out = env.ok(&["export", name, "-n"]);
    assert!(
        out.contains("prod-secret") && out.contains("eu-west-1"),
        "{out}"
    );
    assert!(env.ok(&["list"]).contains(name));
    // One file, in the vault directory (the name is encoded, `/` makes no subdirectory).
    assert!(std::fs::read_dir(&env.dir).unwrap().flatten().any(|e| e
        .file_name()
        .to_string_lossy()
        .starts_with("key.team%2Fprod%25eu")));
    env.ok(&["remove", "-f", name]);
}

/// `list` shows every profile of the AWS config with where its credentials come from (as
/// aws-vault's table), not only what the vault stores; a broken config still lists the vault.
#[test]
fn list_shows_every_profile_of_the_config() {
    let env = Env::init();
    std::fs::write(
        env.path("home/aws-config"),
        "[profile src]\nregion = us-east-1\n[profile prod]\nsource_profile = src\nrole_arn = arn:aws:iam::123456789012:role/prod\n[profile cp]\ncredential_process = /bin/true\n[profile orphan]\nsource_profile = nowhere\nrole_arn = arn:aws:iam::123456789012:role/o\n",
    )
    .unwrap();
    env.add_key("src", "AKIAPROD0000000000001", "prod-secret");
    let out = env.ok(&["list"]);
    let table = out
        .split("PROFILE (AWS config)")
        .nth(1)
        .expect("the profiles table");
    let row = |p: &str| {
        table
            .lines()
            .find(|l| l.split_whitespace().next() == Some(p) && l.split_whitespace().count() == 3)
            .unwrap_or_else(|| panic!("no row for {p}:\n{out}"))
            .split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(row("prod"), ["prod", "src", "-"]);
    assert_eq!(row("src"), ["src", "src", "-"]);
    assert_eq!(row("cp"), ["cp", "credential_process", "-"]);
    assert_eq!(row("orphan"), ["orphan", "-", "-"]);
    let v: serde_json::Value = serde_json::from_str(&env.ok(&["list", "--json"])).unwrap();
    assert_eq!(v["profiles"].as_array().unwrap().len(), 4);
    std::fs::write(env.path("home/aws-config"), "[profile broken\n").unwrap();
    let out = env.run(&["list"]);
    assert_success(&out, &["list with a broken config"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("long-term key"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning"));
}
