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
