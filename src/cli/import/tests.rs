use super::*;

#[test]
fn a_different_stored_key_conflicts_the_same_one_does_not() {
    let key = |id: &str, s: &str| LongTermKey {
        access_key_id: id.into(),
        secret_access_key: Secret::new(s),
        mfa_serial: None,
        added: OffsetDateTime::UNIX_EPOCH,
        rotated: None,
    };
    assert!(!conflicts(None, &key("A", "s")));
    assert!(!conflicts(Some(&key("A", "s")), &key("A", "s")));
    assert!(conflicts(Some(&key("A", "t")), &key("A", "s")));
    assert!(conflicts(Some(&key("B", "s")), &key("A", "s")));
}
