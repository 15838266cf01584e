use super::*;

#[test]
fn replace_file_keeps_mode_and_leaves_no_temp() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials");
    std::fs::write(&path, "old\n").unwrap();
    std::fs::set_permissions(&path, Permissions::from_mode(0o640)).unwrap();
    replace_file(&path, b"new\n").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"new\n");
    let mode = std::fs::metadata(&path).unwrap().mode() & 0o7777;
    assert_eq!(mode, 0o640);
    let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
    assert_eq!(entries.len(), 1);
}

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
