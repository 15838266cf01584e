use super::*;

#[test]
fn pkce_challenge_is_rfc7636_s256() {
    // RFC 7636 appendix B.
    let v = Secret::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
    assert_eq!(challenge(&v), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    let (a, b) = (random_token(), random_token());
    assert_ne!(a, b);
    assert_eq!(a.expose().len(), 64);
    assert_eq!(encode("a b/c:d"), "a%20b%2Fc%3Ad");
}
