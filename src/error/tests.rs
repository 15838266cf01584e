use super::*;

/// Every variant carries a `hint:` line (a new variant without one fails here: the match
/// below must name it).
#[test]
fn every_error_carries_a_hint() {
    let io = || std::io::Error::other("boom");
    let all = [
        Error::WrongPassphrase,
        Error::Locked,
        Error::PassphraseRequired("recover"),
        Error::Passphrase {
            source_name: "s".into(),
            detail: "d".into(),
            hint: "h".into(),
        },
        Error::NotInitialized("/v".into()),
        Error::SlotMissing {
            location: "/v".into(),
            items: 2,
        },
        Error::AlreadyInitialized("/v".into()),
        Error::NoSlot("keychain"),
        Error::NoKey("p".into()),
        Error::Tampered {
            item: "key.p".into(),
            detail: "d".into(),
        },
        Error::SlotBounds("m".into()),
        Error::Usage("u".into()),
        Error::Config("c".into()),
        Error::NoProfile("p".into()),
        Error::StsRefused("r".into()),
        Error::StsUnreachable("u".into()),
        Error::CannotRun {
            program: "x".into(),
            detail: "d".into(),
            not_found: true,
        },
        Error::NoMfaSource("arn".into()),
        Error::SsoLogin("a sign-in is needed".into()),
        Error::Backend(vault_backends::Error::Other("o".into())),
        Error::Backend(vault_backends::Error::Io {
            op: "reading",
            path: "/p".into(),
            source: io(),
        }),
        Error::Backend(vault_backends::Error::InvalidName("n".into(), "why")),
        Error::Backend(vault_backends::Error::UnsafePermissions {
            path: "/p".into(),
            problem: "p".into(),
            fix: "chmod 600 /p".into(),
        }),
        Error::Io {
            op: "reading",
            path: "/p".into(),
            source: io(),
        },
        Error::RekeyUnfinished,
        Error::RolledBack {
            item: "slot.passphrase".into(),
            detail: "d".into(),
            state: "/s".into(),
        },
        Error::StaleIdentity("sealing".into()),
        Error::SlowKdf("m".into()),
        Error::StdoutClosed,
        Error::Other("o".into()),
    ];
    for e in &all {
        // Exhaustive on purpose: a new variant must be added to `all` above.
        match e {
            Error::WrongPassphrase
            | Error::Locked
            | Error::PassphraseRequired(_)
            | Error::Passphrase { .. }
            | Error::NotInitialized(_)
            | Error::SlotMissing { .. }
            | Error::AlreadyInitialized(_)
            | Error::NoSlot(_)
            | Error::NoKey(_)
            | Error::Tampered { .. }
            | Error::SlotBounds(_)
            | Error::Usage(_)
            | Error::Config(_)
            | Error::NoProfile(_)
            | Error::StsRefused(_)
            | Error::StsUnreachable(_)
            | Error::CannotRun { .. }
            | Error::NoMfaSource(_)
            | Error::SsoLogin(_)
            | Error::Backend(_)
            | Error::Io { .. }
            | Error::RekeyUnfinished
            | Error::RolledBack { .. }
            | Error::StaleIdentity(_)
            | Error::SlowKdf(_)
            | Error::StdoutClosed
            | Error::Other(_) => {}
        }
        // The message never carries the hint pasted in; the report has exactly one.
        let text = e.to_string();
        assert!(!text.contains("hint:"), "{text}");
        assert!(!e.hint().is_empty(), "{text}");
        assert!(!e.hint().contains('\n'), "{text}");
        assert_eq!(e.report().matches("\n  hint: ").count(), 1, "{text}");
        assert!(!text.contains("fix:"), "{text}");
    }
    assert_eq!(
        Error::Usage(Msg::hinted("bad", "do this")).hint(),
        "do this"
    );
}

#[test]
fn exit_codes_are_distinct_and_stable() {
    let codes = [
        ExitCode::Ok,
        ExitCode::Failure,
        ExitCode::Usage,
        ExitCode::Tampered,
        ExitCode::NotFound,
        ExitCode::Backend,
        ExitCode::StsUnreachable,
        ExitCode::StsRefused,
        ExitCode::WrongPassphrase,
        ExitCode::Config,
        ExitCode::Locked,
        ExitCode::UnsafePermissions,
        ExitCode::CannotExecute,
        ExitCode::CommandNotFound,
    ];
    let mut seen: Vec<u8> = codes.iter().map(|c| *c as u8).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), codes.len());
    assert_eq!(ExitCode::WrongPassphrase as u8, 77);
    assert_eq!(
        Error::WrongPassphrase.exit_code(),
        ExitCode::WrongPassphrase
    );
}
