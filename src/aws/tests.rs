use super::region;

#[test]
fn one_region_rule() {
    let (flag, profile, env) = (Some("eu-west-2"), Some("eu-west-1"), Some("ap-south-1"));
    for ((f, p, e), child, sts) in [
        ((flag, profile, env), flag, "eu-west-2"),
        // The environment beats the profile, and the child keeps its own variables.
        ((None, profile, env), None, "ap-south-1"),
        ((None, profile, None), profile, "eu-west-1"),
        ((None, None, env), None, "ap-south-1"),
        ((None, None, None), None, "us-east-1"),
    ] {
        let r = region(f, p, e);
        assert_eq!((r.child.as_deref(), r.sts.as_str()), (child, sts));
    }
}

#[test]
fn federated_user_names_fit_sts() {
    assert_eq!(super::console::federated_name("prod"), "prod");
    assert_eq!(super::console::federated_name("a"), "vault-a");
    assert_eq!(super::console::federated_name("team:prod"), "team-prod");
    assert_eq!(super::console::federated_name(&"x".repeat(40)).len(), 32);
}
