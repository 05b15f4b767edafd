//! Interop with oathtool: the otpauth:// URI Latchkey shows for a generated token, fed to
//! oathtool, gives the codes Latchkey computes.

use std::process::Command;

use latchkey_crypto::base32::decode_base32_secret;
use latchkey_crypto::otp::{OtpAlgorithm, hotp, totp};

use crate::common::{Server, have_tool};

fn query(uri: &str, key: &str) -> String {
    let u = url::Url::parse(uri).expect("URI parses");
    u.query_pairs()
        .find(|(k, _)| k == key)
        .map_or_else(|| panic!("{key} missing in {uri}"), |(_, v)| v.into_owned())
}

fn oathtool(args: &[&str]) -> String {
    let out = Command::new("oathtool")
        .args(args)
        .output()
        .expect("oathtool runs");
    assert!(
        out.status.success(),
        "oathtool failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn generated_tokens_agree_with_oathtool() {
    if !have_tool("oathtool") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let srv = Server::start(tmp.path(), &[]);
    srv.cli(&["user", "add", "olga"]).ok();
    let cases: [(&[&str], &str, OtpAlgorithm, u32, u32); 3] = [
        (&[], "SHA1", OtpAlgorithm::Sha1, 6, 30),
        (
            &["--algorithm", "sha256", "--digits", "8", "--period", "60"],
            "SHA256",
            OtpAlgorithm::Sha256,
            8,
            60,
        ),
        (
            &["--algorithm", "sha512", "--digits", "6", "--period", "30"],
            "SHA512",
            OtpAlgorithm::Sha512,
            6,
            30,
        ),
    ];
    for (flags, name, alg, digits, period) in cases {
        let mut args = vec!["token", "generate", "--user", "olga", "--json"];
        args.extend_from_slice(flags);
        let v = srv.cli(&args).json();
        let uri = v["otpauth_uri"].as_str().expect("uri");
        assert!(uri.starts_with("otpauth://totp/Latchkey:olga?"), "{uri}");
        assert_eq!(query(uri, "algorithm"), name);
        assert_eq!(query(uri, "digits"), digits.to_string());
        assert_eq!(query(uri, "period"), period.to_string());
        let secret = query(uri, "secret");
        let seed = decode_base32_secret(&secret).expect("base32");
        for t in [
            59_i64,
            1_111_111_109,
            1_234_567_890,
            1_700_000_029,
            1_700_000_030,
            2_000_000_000,
            20_000_000_000,
        ] {
            let theirs = oathtool(&[
                &format!("--totp={name}"),
                &format!("--digits={digits}"),
                &format!("--time-step-size={period}s"),
                &format!("--now=@{t}"),
                "--base32",
                &secret,
            ]);
            let ours = totp(seed.expose(), t, period, digits, alg).expect("totp");
            assert_eq!(ours, theirs, "{name}/{digits}/{period}s at {t}");
        }
        assert!(v["qr_svg"].as_str().expect("qr").contains("<svg"));
    }

    let v = srv
        .cli(&["token", "generate", "--type", "hotp", "--json"])
        .json();
    let uri = v["otpauth_uri"].as_str().expect("uri");
    assert!(uri.starts_with("otpauth://hotp/"), "{uri}");
    let secret = query(uri, "secret");
    let seed = decode_base32_secret(&secret).expect("base32");
    for counter in [0_u64, 1, 9, 1000] {
        let theirs = oathtool(&[
            "--hotp",
            &format!("--counter={counter}"),
            "--base32",
            &secret,
        ]);
        assert_eq!(
            hotp(seed.expose(), counter, 6, OtpAlgorithm::Sha1).expect("hotp"),
            theirs
        );
    }
}

#[test]
fn rfc_vectors_agree_with_oathtool() {
    if !have_tool("oathtool") {
        return;
    }
    // RFC 6238 appendix B seed, hex "3132…30".
    let hex_seed = "3132333435363738393031323334353637383930";
    for (t, want) in [
        (59, "94287082"),
        (1_111_111_109, "07081804"),
        (20_000_000_000, "65353130"),
    ] {
        let theirs = oathtool(&["--totp", "--digits=8", &format!("--now=@{t}"), hex_seed]);
        assert_eq!(theirs, want);
        assert_eq!(
            totp(b"12345678901234567890", t, 30, 8, OtpAlgorithm::Sha1).expect("totp"),
            want
        );
    }
}
