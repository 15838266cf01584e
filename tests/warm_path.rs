//! The warm path (issue 17): a cached session is handed to the child with no async runtime,
//! thread pool or socket setup beyond what the unlock needs, and the child is found on PATH
//! without failing `execve`s.

mod common;

use common::*;

/// `strace` of `vault ARGS` (following threads, not children: the trace stops at vault's own
/// `execve` of the child); returns the trace.
fn trace(env: &Env, moto: &Moto, args: &[&str]) -> String {
    let c = env.cmd(args);
    let out_file = env.path("trace");
    let mut s = std::process::Command::new("strace");
    s.args([
        "-f",
        "-qq",
        "-e",
        "trace=epoll_create1,eventfd2,execve,socket",
        "-o",
    ])
    .arg(&out_file)
    .arg(c.get_program())
    .args(c.get_args())
    .env_clear()
    .envs(c.get_envs().filter_map(|(k, v)| Some((k, v?))))
    .env("AWS_ENDPOINT_URL_STS", moto.url());
    let out = s.output().unwrap();
    assert_success(&out, args);
    std::fs::read_to_string(out_file).unwrap()
}

#[test]
fn a_warm_exec_builds_no_runtime() {
    if !require("strace", have("strace")) {
        return;
    }
    let Some(moto) = Moto::start(&[]) else { return };
    let env = Env::init();
    std::fs::write(
        env.path("home/aws-config"),
        "[profile src]\nregion = us-east-1\n[profile prod]\nsource_profile = src\nrole_arn = arn:aws:iam::123456789012:role/prod\n",
    )
    .unwrap();
    env.add_key("src", "AKIAPROD0000000000001", "prod-secret");
    // Cold: STS is called, so a runtime (epoll) is built.
    let cold = trace(&env, &moto, &["exec", "prod", "true"]);
    assert!(cold.contains("epoll_create1"), "{cold}");
    assert_eq!(moto.count("AssumeRole"), 1);
    for args in [
        &["exec", "prod", "true"][..],
        &["export", "prod", "--format", "credential-process"],
        // No step at all: the stored key itself, decrypted once, no runtime.
        &["exec", "src", "--no-session", "true"],
    ] {
        let warm = trace(&env, &moto, args);
        assert_eq!(moto.count("AssumeRole"), 1, "{args:?} was not warm");
        for call in ["epoll_create1", "eventfd2", "socket("] {
            assert!(
                !warm.contains(call),
                "{args:?}: {call} on the warm path:\n{warm}"
            );
        }
        let failed = warm
            .lines()
            .filter(|l| l.contains("execve(") && l.contains("= -1"))
            .count();
        assert_eq!(failed, 0, "{warm}");
    }
}

/// An Env whose commands use the agent (its private XDG_RUNTIME_DIR), against `moto`.
fn agent_cmd(env: &Env, moto: &Moto, args: &[&str]) -> std::process::Command {
    let mut c = env.cmd(args);
    c.env_remove("VAULT_NO_AGENT")
        .env("AWS_ENDPOINT_URL_STS", moto.url());
    c
}

/// `c` (its arguments and its private environment) run by `program` instead, with `lead`
/// arguments first: the lone front, `vault-core`, or `strace ... vault`.
fn run_as(
    c: &std::process::Command,
    program: impl AsRef<std::ffi::OsStr>,
    lead: &[&std::ffi::OsStr],
) -> std::process::Command {
    let mut r = std::process::Command::new(program);
    r.args(lead)
        .args(c.get_args())
        .env_clear()
        .envs(c.get_envs().filter_map(|(k, v)| Some((k, v?))));
    r
}

/// Stops the test's agent whatever happens.
struct StopAgent<'a>(&'a Env, &'a Moto);
impl Drop for StopAgent<'_> {
    fn drop(&mut self) {
        let _ = agent_cmd(self.0, self.1, &["lock", "--stop"]).output();
    }
}

/// A vault with profile `prod` (a role over the stored key of `src`), `proc` (a
/// credential_process), the agent unlocked and `prod`'s session cached.
fn warm_vault(moto: &Moto) -> Env {
    let env = Env::init();
    std::fs::write(
        env.path("home/aws-config"),
        format!(
            "[profile src]\nregion = eu-west-1\n[profile prod]\nsource_profile = src\nrole_arn = arn:aws:iam::123456789012:role/prod\n[profile proc]\ncredential_process = {} {}\n",
            "/bin/sh",
            env.path("proc.sh").display()
        ),
    )
    .unwrap();
    std::fs::write(
        env.path("proc.sh"),
        format!(
            "touch {}\necho '{{\"Version\":1,\"AccessKeyId\":\"AKIAPROC\",\"SecretAccessKey\":\"proc-secret\"}}'\n",
            env.path("proc-ran").display()
        ),
    )
    .unwrap();
    env.add_key("src", "AKIAPROD0000000000001", "prod-secret");
    let out = agent_cmd(&env, moto, &["unlock"]).output().unwrap();
    assert_success(&out, &["unlock"]);
    let out = agent_cmd(&env, moto, &["exec", "prod", "true"])
        .output()
        .unwrap();
    assert_success(&out, &["exec", "prod", "true (cold)"]);
    assert_eq!(moto.count("AssumeRole"), 1);
    env
}

/// The front alone, copied where no `vault-core` is beside it: whatever it cannot answer
/// itself fails to find the CLI.
fn lone_front(env: &Env) -> std::path::PathBuf {
    let dir = env.path("lone");
    std::fs::create_dir(&dir).unwrap();
    let bin = dir.join("vault");
    std::fs::copy(BIN, &bin).unwrap();
    bin
}

/// The front answers a warm `exec` and `export` by itself, in one agent round trip, and
/// `execve`s the child directly: a copy of `vault` with no `vault-core` beside it works on
/// the warm path and says what is missing on every other. It fails on the old code, where
/// `vault` was the whole CLI and `vault-core` did not exist.
#[test]
fn the_front_answers_the_warm_path_without_the_cli() {
    let Some(moto) = Moto::start(&[]) else { return };
    let env = warm_vault(&moto);
    let _stop = StopAgent(&env, &moto);
    let lone = lone_front(&env);
    let front = |args: &[&str]| {
        run_as(&agent_cmd(&env, &moto, args), &lone, &[])
            .output()
            .unwrap()
    };
    let out = front(&[
        "exec",
        "prod",
        "--",
        "sh",
        "-c",
        "echo $AWS_ACCESS_KEY_ID $AWS_VAULT $AWS_REGION",
    ]);
    assert_success(&out, &["lone front: exec prod"]);
    let line = String::from_utf8(out.stdout).unwrap();
    assert!(
        line.starts_with("ASIA") && line.ends_with(" prod eu-west-1\n"),
        "{line}"
    );
    let out = front(&["export", "prod", "--format", "credential-process"]);
    assert_success(&out, &["lone front: export prod"]);
    let core = agent_cmd(
        &env,
        &moto,
        &["export", "prod", "--format", "credential-process"],
    );
    let core = run_as(&core, CORE, &[]).output().unwrap();
    assert_success(&core, &["vault-core export prod"]);
    assert_eq!(
        out.stdout, core.stdout,
        "the front and the CLI print the same"
    );
    assert_eq!(moto.count("AssumeRole"), 1, "both were warm");
    // The front's whole warm path: no thread, no runtime, and no execve but its own and the
    // child's.
    if require("strace", have("strace")) {
        let c = agent_cmd(&env, &moto, &["exec", "prod", "true"]);
        let trace = env.path("front.trace");
        let lead = [
            "-f",
            "-qq",
            "-e",
            "trace=execve,clone,clone3,epoll_create1,eventfd2",
            "-o",
        ]
        .map(std::ffi::OsStr::new);
        let lead = [&lead[..], &[trace.as_os_str(), lone.as_os_str()]].concat();
        let out = run_as(&c, "strace", &lead).output().unwrap();
        assert_success(&out, &["strace lone front exec prod true"]);
        let trace = std::fs::read_to_string(trace).unwrap();
        let calls: Vec<&str> = trace.lines().collect();
        assert_eq!(calls.len(), 2, "{trace}");
        assert!(
            calls[1].contains("execve(")
                && calls[1].contains("/true\"")
                && calls[1].ends_with("= 0"),
            "{trace}"
        );
    }
    // Not warm: another command, -v, a credential_process chain (the agent never runs it).
    for args in [
        &["list"][..],
        &["exec", "-v", "prod", "true"],
        &["exec", "proc", "true"],
    ] {
        let out = front(args);
        assert_code(&out, 1, &format!("lone front {args:?}"));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("vault-core") && err.contains("hint: install"),
            "{err}"
        );
    }
    assert!(
        !env.path("proc-ran").exists(),
        "the agent ran a credential_process"
    );
}

/// What the child sees and what is printed are the same whether the front or the CLI
/// answers, and a cold or refused command line gets the CLI's own answer through the front.
#[test]
fn the_front_and_the_cli_agree() {
    let Some(moto) = Moto::start(&[]) else { return };
    let env = warm_vault(&moto);
    let _stop = StopAgent(&env, &moto);
    let both = |args: &[&str], vars: &[(&str, &std::ffi::OsStr)]| {
        let run = |bin: &str| {
            let c = agent_cmd(&env, &moto, args);
            let c = run_as(&c, bin, &[])
                .envs(vars.iter().copied())
                .output()
                .unwrap();
            (
                c.status.code(),
                c.stdout,
                String::from_utf8_lossy(&c.stderr).into_owned(),
            )
        };
        let (front, core) = (run(BIN), run(CORE));
        assert_eq!(front, core, "{args:?} {vars:?}");
        front
    };
    use std::os::unix::ffi::OsStrExt;
    let latin1 = std::ffi::OsStr::from_bytes(b"/home/j\xf6rg");
    let vars: &[(&str, &std::ffi::OsStr)] = &[
        ("LATIN1_PATH", latin1),
        ("AWS_PROFILE", "other".as_ref()),
        ("AWS_SESSION_TOKEN", "stale".as_ref()),
        ("VAULT_ADDR", "https://vault.example:8200".as_ref()),
    ];
    let (code, out, _) = both(&["exec", "prod", "--", "env"], vars);
    assert_eq!(code, Some(0));
    let out = String::from_utf8_lossy(&out);
    assert!(
        out.contains("AWS_VAULT=prod") && !out.contains("stale") && !out.contains("PASSPHRASE"),
        "{out}"
    );
    for format in [
        "env",
        "fish",
        "powershell",
        "json",
        "credential-process",
        "ini",
    ] {
        both(&["export", "prod", "--format", format], &[]);
    }
    both(&["exec", "--json", "prod"], &[]);
    both(
        &[
            "exec",
            "--no-session",
            "src",
            "--",
            "sh",
            "-c",
            "echo $AWS_ACCESS_KEY_ID",
        ],
        &[],
    );
    // Refused or cold, answered by the CLI through the front.
    let (code, _, err) = both(&["exec", "prod", "true"], &[("AWS_VAULT", "prod".as_ref())]);
    assert_eq!(code, Some(2), "{err}");
    let (code, _, err) = both(&["exec", "nosuch", "true"], &[]);
    assert_eq!(code, Some(66), "{err}");
    let (code, _, err) = both(&["exec", "prod", "no-such-command"], &[]);
    assert_eq!(code, Some(127), "{err}");
    both(
        &["exec", "prod", "true"],
        &[("AWS_CONFIG_FILE", "home/aws-config".as_ref())],
    );
    assert_eq!(moto.count("AssumeRole"), 1, "everything was warm");
}
