use super::*;

const SECRET_B32: &str = "JBSWY3DPEHPK3PXP";

#[test]
fn parses_google_example() {
    let a = OtpAuth::parse(
        "otpauth://totp/Example:alice@google.com?secret=JBSWY3DPEHPK3PXP&issuer=Example",
    )
    .unwrap();
    assert_eq!(a.kind, OtpKind::Totp);
    assert_eq!(a.issuer.as_deref(), Some("Example"));
    assert_eq!(a.account, "alice@google.com");
    assert_eq!(a.secret, decode_base32_secret(SECRET_B32).unwrap());
    assert_eq!(a.algorithm, OtpAlgorithm::Sha1);
    assert_eq!(a.digits, 6);
    assert_eq!(a.period, 30);
    assert_eq!(a.counter, 0);
}

#[test]
fn parses_full_hotp_with_unknown_params() {
    let a = OtpAuth::parse(
        "otpauth://HOTP/ACME%20Co:john.doe%40email.com?secret=jbswy3dpehpk3pxp\
         &issuer=ACME+Co&ALGORITHM=sha256&digits=8&counter=42&image=https%3A%2F%2Fx%2Fy.png",
    )
    .unwrap();
    assert_eq!(a.kind, OtpKind::Hotp);
    assert_eq!(a.issuer.as_deref(), Some("ACME Co"));
    assert_eq!(a.account, "john.doe@email.com");
    assert_eq!(a.algorithm, OtpAlgorithm::Sha256);
    assert_eq!(a.digits, 8);
    assert_eq!(a.counter, 42);
}

#[test]
fn label_variants() {
    let a = OtpAuth::parse("otpauth://totp/alice?secret=JBSWY3DPEHPK3PXP").unwrap();
    assert_eq!(a.issuer, None);
    assert_eq!(a.account, "alice");

    let a = OtpAuth::parse("otpauth://totp/Big%20Corp%3A%20alice?secret=JBSWY3DPEHPK3PXP").unwrap();
    assert_eq!(a.issuer.as_deref(), Some("Big Corp"));
    assert_eq!(a.account, "alice");

    // Issuer parameter wins over the label prefix.
    let a = OtpAuth::parse("otpauth://totp/Old:alice?secret=JBSWY3DPEHPK3PXP&issuer=New").unwrap();
    assert_eq!(a.issuer.as_deref(), Some("New"));

    let a = OtpAuth::parse("otpauth://hotp/alice?secret=JBSWY3DPEHPK3PXP").unwrap();
    assert_eq!(a.counter, 0);
}

fn err_of(uri: &str) -> String {
    match OtpAuth::parse(uri) {
        Err(e @ CryptoError::InvalidUri(_)) => e.to_string(),
        other => panic!("expected InvalidUri for {uri}, got {other:?}"),
    }
}

#[test]
fn errors_name_the_field_and_hide_the_secret() {
    let cases = [
        ("https://totp/a?secret=JBSWY3DPEHPK3PXP", "scheme"),
        ("otpauth://motp/a?secret=JBSWY3DPEHPK3PXP", "type"),
        ("otpauth://totp/?secret=JBSWY3DPEHPK3PXP", "label"),
        ("otpauth://totp/a", "secret"),
        ("otpauth://totp/a?secret=JBSWY3DPEHPK3PX1", "secret"),
        ("otpauth://totp/a?secret=JBSWY3DP", "secret"),
        (
            "otpauth://totp/a?secret=JBSWY3DPEHPK3PXP&digits=5",
            "digits",
        ),
        (
            "otpauth://totp/a?secret=JBSWY3DPEHPK3PXP&digits=x",
            "digits",
        ),
        (
            "otpauth://totp/a?secret=JBSWY3DPEHPK3PXP&period=0",
            "period",
        ),
        (
            "otpauth://totp/a?secret=JBSWY3DPEHPK3PXP&period=301",
            "period",
        ),
        (
            "otpauth://totp/a?secret=JBSWY3DPEHPK3PXP&algorithm=MD5",
            "algorithm",
        ),
        (
            "otpauth://hotp/a?secret=JBSWY3DPEHPK3PXP&counter=-1",
            "counter",
        ),
        (
            "otpauth://totp/a?secret=JBSWY3DPEHPK3PXP&secret=GEZDGNBVGY3TQOJQ",
            "secret",
        ),
        ("otpauth://totp/a%ZZ?secret=JBSWY3DPEHPK3PXP", "label"),
        ("otpauth://totp/a%FF?secret=JBSWY3DPEHPK3PXP", "label"),
        ("not a uri", "URI"),
    ];
    for (uri, field) in cases {
        let msg = err_of(uri);
        assert!(msg.contains(field), "{uri}: {msg}");
        assert!(!msg.contains("JBSWY3DP"), "{uri}: {msg}");
        assert!(!msg.contains("GEZDGNBV"), "{uri}: {msg}");
    }
}

#[test]
fn to_uri_roundtrips() {
    let secret = SecretBytes::new(b"12345678901234567890".to_vec());
    let samples = [
        OtpAuth {
            kind: OtpKind::Totp,
            issuer: Some("ACME Co: R&D / ?#+%".to_owned()),
            account: "jöhn doe+tag@example.com:x".to_owned(),
            secret: secret.clone(),
            algorithm: OtpAlgorithm::Sha512,
            digits: 8,
            period: 60,
            counter: 0,
        },
        OtpAuth {
            kind: OtpKind::Hotp,
            issuer: None,
            account: "plain user".to_owned(),
            secret: secret.clone(),
            algorithm: OtpAlgorithm::Sha1,
            digits: 6,
            period: 30,
            counter: 123_456_789,
        },
        OtpAuth {
            kind: OtpKind::Totp,
            issuer: Some("Latchkey".to_owned()),
            account: "alice".to_owned(),
            secret,
            algorithm: OtpAlgorithm::Sha256,
            digits: 7,
            period: 30,
            counter: 0,
        },
    ];
    for a in samples {
        let uri = a.to_uri();
        assert!(uri.starts_with("otpauth://"), "{uri}");
        assert!(
            uri.contains("secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"),
            "{uri}"
        );
        assert!(uri.contains("&algorithm="), "{uri}");
        assert!(uri.contains("&digits="), "{uri}");
        assert!(!uri.contains(' '), "{uri}");
        let back = OtpAuth::parse(&uri).unwrap();
        assert_eq!(back, a, "{uri}");
    }
}

#[test]
fn to_uri_exact_form() {
    let a = OtpAuth::parse(
        "otpauth://totp/Example:alice@google.com?secret=JBSWY3DPEHPK3PXP&issuer=Example",
    )
    .unwrap();
    assert_eq!(
        a.to_uri(),
        "otpauth://totp/Example:alice@google.com?secret=JBSWY3DPEHPK3PXP\
         &issuer=Example&algorithm=SHA1&digits=6&period=30"
    );
}

#[test]
fn debug_hides_secret() {
    let a = OtpAuth::parse("otpauth://totp/a?secret=JBSWY3DPEHPK3PXP").unwrap();
    let dbg = format!("{a:?}");
    assert!(dbg.contains("<redacted>"));
    assert!(!dbg.contains("JBSWY3DP"));
}
