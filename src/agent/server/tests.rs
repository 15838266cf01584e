use super::*;
use std::sync::atomic::{AtomicU64, Ordering};

const PASS: &str = "agent test passphrase";

fn file_backend() -> crate::settings::BackendSpec {
    crate::settings::BackendSpec {
        kind: crate::settings::BackendKind::File,
        pass_prefix: "vault".into(),
        keychain_service: "vault".into(),
    }
}

fn vault() -> (tempfile::TempDir, PathBuf, Vec<u8>) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("v");
    let backend = vault_backends::FileBackend::open(&dir, true).unwrap();
    let v = crate::vault::Vault::new(Box::new(backend));
    let unlocked = v
        .init(
            &crate::secret::Secret::new(PASS),
            crate::vault::slot::KdfParams::FLOOR,
        )
        .unwrap();
    let item = crate::vault::item::Item::key(crate::vault::item::LongTermKey {
        access_key_id: "AKIATEST".into(),
        secret_access_key: Secret::new("s"),
        mfa_serial: None,
        added: time::OffsetDateTime::UNIX_EPOCH,
        rotated: None,
    });
    unlocked.put("key.p", &item).unwrap();
    let ct = std::fs::read(dir.join("key.p.age")).unwrap();
    (tmp, dir, ct)
}

/// Idle lock with a fake clock: deterministic, no sleeping.
#[test]
fn idle_timeout_drops_the_key_on_a_fake_clock() {
    let (_t, dir, ct) = vault();
    let start = Instant::now();
    let offset = Arc::new(AtomicU64::new(0));
    let o = Arc::clone(&offset);
    let clock: Clock = Box::new(move || start + Duration::from_secs(o.load(Ordering::SeqCst)));
    let agent = Agent::new(dir, Duration::from_secs(900), Some(clock));
    assert!(matches!(
        agent.handle(Request::Unlock {
            passphrase: Secret::new("wrong"),
            backend: file_backend(),
            state_dir: None,
            allow_slow_kdf: false,
        }),
        Response::Error {
            kind: ErrorKind::WrongPassphrase,
            ..
        }
    ));
    assert!(matches!(
        agent.handle(Request::Unlock {
            passphrase: Secret::new(PASS),
            backend: file_backend(),
            state_dir: None,
            allow_slow_kdf: false,
        }),
        Response::Unlocked { generation: 0 }
    ));
    let open = || {
        agent.handle(Request::Open {
            name: "key.p".into(),
            ciphertext: BASE64_STANDARD.encode(&ct),
        })
    };
    offset.store(899, Ordering::SeqCst);
    assert!(matches!(open(), Response::Plaintext { .. }), "use at 899 s");
    // The use at 899 s restarted the timer: still unlocked at 899 + 899.
    offset.store(1798, Ordering::SeqCst);
    assert!(agent.unlocked());
    offset.store(1799, Ordering::SeqCst);
    assert!(!agent.unlocked(), "idle for 900 s");
    assert!(matches!(
        open(),
        Response::Error {
            kind: ErrorKind::Locked,
            ..
        }
    ));
}

#[test]
fn touch_restarts_the_idle_timer() {
    let (_t, dir, _ct) = vault();
    let start = Instant::now();
    let offset = Arc::new(AtomicU64::new(0));
    let o = Arc::clone(&offset);
    let clock: Clock = Box::new(move || start + Duration::from_secs(o.load(Ordering::SeqCst)));
    let agent = Agent::new(dir, Duration::from_secs(10), Some(clock));
    agent.handle(Request::Unlock {
        passphrase: Secret::new(PASS),
        backend: file_backend(),
        state_dir: None,
        allow_slow_kdf: false,
    });
    offset.store(9, Ordering::SeqCst);
    assert!(matches!(agent.handle(Request::Touch), Response::Ok));
    offset.store(18, Ordering::SeqCst);
    assert!(agent.unlocked(), "touch at 9 s keeps it until 19 s");
    offset.store(19, Ordering::SeqCst);
    assert!(!agent.unlocked());
    assert!(matches!(
        agent.handle(Request::Touch),
        Response::Error {
            kind: ErrorKind::Locked,
            ..
        }
    ));
}

#[test]
fn lock_drops_the_key_and_no_request_returns_the_identity() {
    let (_t, dir, ct) = vault();
    let agent = Agent::new(dir, Duration::from_secs(900), None);
    agent.handle(Request::Unlock {
        passphrase: Secret::new(PASS),
        backend: file_backend(),
        state_dir: None,
        allow_slow_kdf: false,
    });
    let Response::Plaintext { data } = agent.handle(Request::Open {
        name: "key.p".into(),
        ciphertext: BASE64_STANDARD.encode(&ct),
    }) else {
        panic!("open failed")
    };
    let pt = BASE64_STANDARD.decode(data.expose()).unwrap();
    assert!(String::from_utf8(pt).unwrap().contains("AKIATEST"));
    for req in [Request::Status, Request::Hello { version: 1 }] {
        let text = serde_json::to_string(&agent.handle(req)).unwrap();
        assert!(!text.contains("AGE-SECRET-KEY"), "{text}");
    }
    agent.handle(Request::Lock);
    assert!(!agent.unlocked());
}

#[test]
fn serve_in_process_over_a_real_socket() {
    let (t, dir, ct) = vault();
    let sock = t.path().join("s.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let agent = Agent::new(dir, Duration::from_secs(900), None);
    let a2 = Arc::clone(&agent);
    std::thread::spawn(move || serve(listener, a2, None));
    let mut c = super::super::client::Client::connect(&sock).unwrap();
    assert_eq!(c.hello().unwrap().0, VERSION);
    assert_eq!(c.unlocked_at_hello(), Some(false));
    let backend = file_backend();
    let with = crate::agent::client::UnlockWith {
        backend: &backend,
        state_dir: None,
        allow_slow_kdf: false,
    };
    c.unlock(&Secret::new(PASS), &with).unwrap();
    let mut again = super::super::client::Client::connect(&sock).unwrap();
    again.hello().unwrap();
    assert_eq!(
        again.unlocked_at_hello(),
        Some(true),
        "hello tells an unlocked agent"
    );
    let pt = c.open("key.p", &ct).unwrap();
    assert!(String::from_utf8_lossy(&pt).contains("AKIATEST"));
    let sealed = c.seal(b"{}").unwrap();
    assert!(sealed.starts_with(b"age-encryption.org/v1"));
}

/// The plaintexts the agent keeps (issue 17) answer only the same ciphertext, and go with
/// the identity: after `lock` none is left, and a tampered copy is still refused.
#[test]
fn kept_plaintexts_answer_only_their_ciphertext_and_go_with_the_key() {
    let (_t, dir, ct) = vault();
    let agent = Agent::new(dir, Duration::from_secs(900), None);
    let unlock = || {
        agent.handle(Request::Unlock {
            passphrase: Secret::new(PASS),
            backend: file_backend(),
            state_dir: None,
            allow_slow_kdf: false,
        })
    };
    assert!(matches!(unlock(), Response::Unlocked { .. }));
    let open = |ct: &[u8]| {
        agent.handle(Request::Open {
            name: "key.p".into(),
            ciphertext: BASE64_STANDARD.encode(ct),
        })
    };
    let first = match open(&ct) {
        Response::Plaintext { data } => data,
        other => panic!("{other:?}"),
    };
    assert_eq!(agent.inner().opened.len(), 1);
    match open(&ct) {
        Response::Plaintext { data } => assert_eq!(data, first),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        agent.inner().opened.len(),
        1,
        "the same ciphertext is kept once"
    );
    let mut tampered = ct.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert!(matches!(open(&tampered), Response::Error { .. }));
    assert!(matches!(agent.handle(Request::Lock), Response::Ok));
    assert!(
        agent.inner().opened.is_empty(),
        "lock drops every kept plaintext"
    );
    assert!(matches!(
        open(&ct),
        Response::Error {
            kind: ErrorKind::Locked,
            ..
        }
    ));
}
