use super::*;

fn names(n: &[&str]) -> Vec<String> {
    n.iter().map(|s| s.to_string()).collect()
}

const FILE: &str = "\
# my keys
[default]
aws_access_key_id = AKIADEFAULT
aws_secret_access_key = secret-default
region = eu-west-1

; the production account
[prod]
aws_access_key_id=AKIAPROD
aws_secret_access_key   =    secret-prod   # rotated in May
mfa_serial = arn:aws:iam::123456789012:mfa/me

[temp]
aws_access_key_id = ASIATEMP
aws_secret_access_key = secret-temp
aws_session_token = token-temp
";

#[test]
fn removes_only_the_named_profiles_keys() {
    let got = remove_keys(FILE, &names(&["default", "prod"]));
    assert_eq!(
        got,
        "\
# my keys
[default]
region = eu-west-1

; the production account
[prod]
mfa_serial = arn:aws:iam::123456789012:mfa/me

[temp]
aws_access_key_id = ASIATEMP
aws_secret_access_key = secret-temp
aws_session_token = token-temp
"
    );
}

#[test]
fn a_profile_not_in_the_list_is_left_alone() {
    assert_eq!(remove_keys(FILE, &names(&[])), FILE);
    assert_eq!(remove_keys(FILE, &names(&["absent"])), FILE);
    let got = remove_keys(FILE, &names(&["prod"]));
    assert!(got.contains("aws_access_key_id = AKIADEFAULT\n"));
    assert!(got.contains("aws_secret_access_key = secret-default\n"));
    assert!(!got.contains("AKIAPROD") && !got.contains("secret-prod"));
    // A prefix of a name is another name.
    assert_eq!(remove_keys(FILE, &names(&["pro", "prod2"])), FILE);
}

#[test]
fn crlf_line_endings_are_kept() {
    let crlf = FILE.replace('\n', "\r\n");
    let got = remove_keys(&crlf, &names(&["default", "prod"]));
    let want = remove_keys(FILE, &names(&["default", "prod"])).replace('\n', "\r\n");
    assert_eq!(got, want);
    // Mixed endings, a header with CR, no newline at the end.
    let mixed = "[a]\r\naws_access_key_id = X\naws_secret_access_key = Y\r\nregion = r";
    assert_eq!(remove_keys(mixed, &names(&["a"])), "[a]\r\nregion = r");
    let last = "[a]\nregion = r\naws_secret_access_key = Y";
    assert_eq!(remove_keys(last, &names(&["a"])), "[a]\nregion = r\n");
}

#[test]
fn a_profile_that_appears_twice_loses_its_keys_in_both() {
    let text = "\
[a]
aws_access_key_id = OLD
output = json
[b]
aws_access_key_id = B
aws_secret_access_key = b
[a]
aws_secret_access_key = new
aws_access_key_id = NEW
";
    assert_eq!(
        remove_keys(text, &names(&["a"])),
        "[a]\noutput = json\n[b]\naws_access_key_id = B\naws_secret_access_key = b\n[a]\n"
    );
}

#[test]
fn odd_spacing_case_and_comments() {
    let text = "\
[ a ]\t# the a account
AWS_ACCESS_KEY_ID\t=\tX
\taws_secret_access_key = continuation, not a key
aws_Secret_Access_Key=Y ; comment
aws_access_key_id_old = kept
#aws_access_key_id = commented out, kept
;aws_secret_access_key = commented out, kept
aws_access_key_id#x = not the key, kept
  \t
[a]#c
   aws_access_key_id = a continuation of nothing, kept
";
    assert_eq!(
        remove_keys(text, &names(&["a"])),
        "\
[ a ]\t# the a account
aws_access_key_id_old = kept
#aws_access_key_id = commented out, kept
;aws_secret_access_key = commented out, kept
aws_access_key_id#x = not the key, kept
  \t
[a]#c
   aws_access_key_id = a continuation of nothing, kept
"
    );
}

#[test]
fn continuation_lines_go_with_their_property() {
    let text = "\
[a]
aws_secret_access_key =
  part1

  # still a continuation to the SDK
  part2
region = r
  more-region
[b]
  [a]
aws_access_key_id = B
";
    assert_eq!(
        remove_keys(text, &names(&["a"])),
        "[a]\n\nregion = r\n  more-region\n[b]\n  [a]\naws_access_key_id = B\n"
    );
}

#[test]
fn two_word_and_broken_headers_are_not_profiles() {
    let text = "\
[profile a]
aws_access_key_id = X
[a
aws_access_key_id = Y
[]
aws_access_key_id = Z
";
    assert_eq!(remove_keys(text, &names(&["a", "profile a", ""])), text);
}

#[test]
fn ignored_sections_are_listed_once() {
    let text = "[profile a]\nk = v\n[ok]\n[ b c ]#x\r\n[profile a]\n[bad!]\n  [x y]\n";
    assert_eq!(ignored_sections(text), ["profile a", "b c", "bad!"]);
    assert!(ignored_sections(FILE).is_empty());
}

#[test]
fn empty_and_blank_input() {
    assert_eq!(remove_keys("", &names(&["a"])), "");
    assert_eq!(remove_keys("\n\r\n \n", &names(&["a"])), "\n\r\n \n");
}

/// The SDK's view agrees with the line edit on these files.
#[test]
fn the_sdk_agrees() {
    let dup = "[a]\naws_access_key_id = OLD\n[a]\naws_secret_access_key = new\nregion = r\n";
    for (text, list) in [
        (FILE, &["default", "prod"][..]),
        (FILE, &["temp"]),
        (&*FILE.replace('\n', "\r\n"), &["prod"]),
        (dup, &["a"]),
    ] {
        let list = names(list);
        let before = parse(text).unwrap();
        let after = parse(&remove_keys(text, &list)).unwrap();
        check_removed(&before, &after, &list).unwrap();
        for p in &list {
            assert!(before
                .get_profile(p)
                .unwrap()
                .get("aws_access_key_id")
                .is_some());
        }
    }
    // And the check catches a rewrite that is not a removal.
    let before = parse(FILE).unwrap();
    let wrong = parse(&FILE.replace("eu-west-1", "us-east-1")).unwrap();
    assert!(check_removed(&before, &parse(FILE).unwrap(), &names(&["prod"])).is_err());
    assert!(check_removed(&before, &wrong, &names(&[])).is_err());
    let removed = remove_keys(FILE, &names(&["prod"]));
    let wrong = parse(&removed.replace("mfa_serial", "mfa_serial_x")).unwrap();
    assert!(check_removed(&before, &wrong, &names(&["prod"])).is_err());
}

#[test]
fn parse_errors_name_the_line_not_the_value() {
    let err = parse("[a]\nsecret-value-without-equals\n").unwrap_err();
    assert_eq!(err, "line 2: Expected an '=' sign defining a property");
    assert!(parse("[a\n").unwrap_err().starts_with("line 1: "));
}

mod generated {
    use super::super::*;
    use proptest::prelude::*;

    fn line() -> impl Strategy<Value = String> {
        let key = prop::sample::select(vec![
            "aws_access_key_id",
            "AWS_SECRET_ACCESS_KEY",
            "aws_secret_access_key",
            "region",
            "mfa_serial",
            "aws_session_token",
        ]);
        let ws = prop::sample::select(vec!["", " ", "\t", "  "]);
        // One spelling per name inside the brackets: the SDK merges `[a]` and `[ a ]` in
        // hash order, so with both its own answer varies from run to run.
        let header = prop::sample::select(vec!["[a]", "[ b\t]", "[default]", "[profile a]"]);
        let tail = prop::sample::select(vec!["", " ", "\t", "# c", " ; c"]);
        prop_oneof![
            2 => (header, tail).prop_map(|(h, t)| format!("{h}{t}")),
            6 => (key, ws.clone(), ws.clone(), "[A-Za-z0-9/+]{1,8}")
                .prop_map(|(k, w1, w2, v)| format!("{k}{w1}={w2}{v}")),
            1 => Just(String::new()),
            1 => Just("# a comment".to_owned()),
            1 => Just("; aws_access_key_id = commented".to_owned()),
            1 => (ws, "[a-z=]{1,6}").prop_map(|(w, v)| format!(" {w}{v}")),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]
        #[test]
        fn removal_matches_the_sdk(
            lines in proptest::collection::vec(line(), 0..14),
            crlf in any::<bool>(),
            list in proptest::sample::subsequence(vec!["a", "b", "default"], 0..=3),
        ) {
            let text = format!("[a]\n{}\n", lines.join(if crlf { "\r\n" } else { "\n" }));
            let Ok(before) = parse(&text) else { return Ok(()) };
            for n in ignored_sections(&text) {
                prop_assert!(before.get_profile(n).is_none());
            }
            let list: Vec<String> = list.iter().map(|s| s.to_string()).collect();
            let out = remove_keys(&text, &list);
            let after = parse(&out).map_err(TestCaseError::fail)?;
            check_removed(&before, &after, &list).map_err(TestCaseError::fail)?;
            // Only whole lines were removed, in order.
            let mut kept = out.split_inclusive('\n');
            let mut next = kept.next();
            for l in text.split_inclusive('\n') {
                if Some(l) == next {
                    next = kept.next();
                }
            }
            prop_assert_eq!(next, None);
        }
    }
}
