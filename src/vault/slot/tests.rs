use super::*;
use proptest::prelude::*;

fn pass(s: &str) -> Secret {
    Secret::new(s.to_owned())
}

#[test]
fn slot_round_trip_and_wrong_passphrase() {
    let master = MasterIdentity::generate();
    let slot = master
        .seal_slot(&pass("hunter2"), KdfParams::FLOOR)
        .unwrap();
    let (opened, params) = MasterIdentity::open_slot(&slot, &pass("hunter2")).unwrap();
    assert_eq!(params, KdfParams::FLOOR);
    assert_eq!(opened.to_secret().expose(), master.to_secret().expose());
    assert!(matches!(
        MasterIdentity::open_slot(&slot, &pass("hunter3")),
        Err(CryptoError::WrongPassphrase)
    ));
    assert_eq!(
        MasterIdentity::slot_params(&slot).unwrap(),
        KdfParams::FLOOR
    );
}

#[test]
fn slot_text_does_not_contain_the_identity() {
    let master = MasterIdentity::generate();
    let slot = master.seal_slot(&pass("pw"), KdfParams::FLOOR).unwrap();
    let secret = master.to_secret();
    let needle = secret.expose().as_bytes();
    assert!(!slot.windows(needle.len()).any(|w| w == needle));
    // Nor the recipient, which is as secret as the identity.
    let recipient = master.recipient_text();
    assert!(!slot
        .windows(recipient.len())
        .any(|w| w == recipient.as_bytes()));
}

#[test]
fn oversized_params_are_refused_before_the_kdf() {
    let master = MasterIdentity::generate();
    let slot = master.seal_slot(&pass("pw"), KdfParams::FLOOR).unwrap();
    // Rewrite m=65536 into 5 GiB: must fail at once.
    let at = slot.windows(7).position(|w| w == b" 65536 ").unwrap();
    let forged = [&slot[..at], &b" 5242880 "[..], &slot[at + 7..]].concat();
    let start = Instant::now();
    let err = MasterIdentity::open_slot(&forged, &pass("pw")).unwrap_err();
    assert!(matches!(err, CryptoError::KdfBounds(_)), "{err:?}");
    assert!(start.elapsed() < Duration::from_millis(50));
}

#[test]
fn bounds() {
    assert!(KdfParams::FLOOR.check().is_ok());
    assert!(KdfParams::DEFAULT.check().is_ok());
    for bad in [
        KdfParams {
            m_kib: 32 * 1024,
            ..KdfParams::FLOOR
        },
        KdfParams {
            t: 2,
            ..KdfParams::FLOOR
        },
        KdfParams {
            p: 0,
            ..KdfParams::FLOOR
        },
        KdfParams {
            t: 11,
            ..KdfParams::FLOOR
        },
        KdfParams {
            p: 17,
            ..KdfParams::FLOOR
        },
        KdfParams {
            m_kib: KdfParams::MAX_M_KIB + 1,
            ..KdfParams::FLOOR
        },
    ] {
        assert!(bad.check().is_err(), "{bad:?}");
    }
}

proptest! {
    #[test]
    fn stanza_parser_never_panics(args in proptest::collection::vec("[ -~]{0,30}", 0..8),
                                  tag in "[a-z-]{0,20}") {
        let _ = SlotStanza::parse(&Stanza { tag, args, body: vec![] });
    }

    #[test]
    fn stanza_parser_round_trips(salt in any::<[u8; 16]>(), m in 0u32.., t in 0u32.., p in 0u32..) {
        let stanza = Stanza {
            tag: SLOT_TAG.into(),
            args: vec![SLOT_VERSION.into(), BASE64_STANDARD_NO_PAD.encode(salt),
                       m.to_string(), t.to_string(), p.to_string()],
            body: vec![],
        };
        let parsed = SlotStanza::parse(&stanza).unwrap();
        prop_assert_eq!(parsed, SlotStanza { salt, params: KdfParams { m_kib: m, t, p }, generation: 0 });
    }

    #[test]
    fn slot_opener_never_panics_on_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = MasterIdentity::open_slot(&bytes, &pass("pw"));
    }
}

#[test]
fn generations_are_read_without_the_kdf_and_strictly() {
    let master = MasterIdentity::generate();
    let old = master.seal_slot(&pass("pw"), KdfParams::FLOOR).unwrap();
    assert_eq!(MasterIdentity::slot_generation(&old).unwrap(), 0);
    let slot = master
        .seal_slot_at(&pass("pw"), KdfParams::FLOOR, 3)
        .unwrap();
    assert_eq!(MasterIdentity::slot_generation(&slot).unwrap(), 3);
    assert!(MasterIdentity::open_slot(&slot, &pass("pw")).is_ok());
    let text = String::from_utf8_lossy(&slot).into_owned();
    for bad in ["g0", "g03", "gx", "3", "g"] {
        let forged = text.replacen(" g3\n", &format!(" {bad}\n"), 1);
        assert!(
            MasterIdentity::slot_generation(forged.as_bytes()).is_err(),
            "{bad}"
        );
    }
    // The generation is authenticated: raising it breaks the header MAC.
    let at = slot.windows(4).position(|w| w == b" g3\n").unwrap();
    let mut raised = slot.clone();
    raised[at + 2] = b'4';
    assert_eq!(MasterIdentity::slot_generation(&raised).unwrap(), 4);
    assert!(matches!(
        MasterIdentity::open_slot(&raised, &pass("pw")),
        Err(CryptoError::Tampered(_))
    ));
}
