use rand::SeedableRng;
use rand::rngs::StdRng;

use super::*;

fn rng() -> StdRng {
    StdRng::seed_from_u64(11)
}

#[test]
fn keyed_roundtrip_and_format() {
    let mut r = rng();
    let key = VerifierKey::generate(&mut r);
    let v = keyed_verifier(&key, &mut r, "token-pin", b"1234");
    let parts: Vec<&str> = v.split('$').collect();
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[0], "v1");
    assert_eq!(URL_SAFE_NO_PAD.decode(parts[1]).unwrap().len(), 16);
    assert_eq!(URL_SAFE_NO_PAD.decode(parts[2]).unwrap().len(), 32);
    assert!(!v.contains("1234"));
    assert!(check_keyed_verifier(&key, "token-pin", b"1234", &v));
}

#[test]
fn keyed_matches_definition() {
    use hmac::Mac;
    let key = VerifierKey::from_bytes(&[9u8; 32]).unwrap();
    let mut r = rng();
    let v = keyed_verifier(&key, &mut r, "ctx", b"0000");
    let salt = URL_SAFE_NO_PAD
        .decode(v.split('$').nth(1).unwrap())
        .unwrap();
    let mut m = <hmac::Hmac<Sha256> as Mac>::new_from_slice(&[9u8; 32]).unwrap();
    m.update(b"ctx\0");
    m.update(&salt);
    m.update(b"0000");
    let want = URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
    assert_eq!(v.split('$').nth(2).unwrap(), want);
}

#[test]
fn keyed_rejects_wrong_inputs() {
    let mut r = rng();
    let key = VerifierKey::generate(&mut r);
    let other = VerifierKey::generate(&mut r);
    let v = keyed_verifier(&key, &mut r, "token-pin", b"1234");
    assert!(!check_keyed_verifier(&key, "token-pin", b"1235", &v));
    assert!(!check_keyed_verifier(&key, "other", b"1234", &v));
    assert!(!check_keyed_verifier(&other, "token-pin", b"1234", &v));
    // Salting: same value, different verifiers.
    assert_ne!(v, keyed_verifier(&key, &mut r, "token-pin", b"1234"));
}

#[test]
fn keyed_malformed_is_false() {
    let mut r = rng();
    let key = VerifierKey::generate(&mut r);
    let v = keyed_verifier(&key, &mut r, "c", b"1");
    let (_, rest) = v.split_once('$').unwrap();
    let (salt, tag) = rest.split_once('$').unwrap();
    for bad in [
        String::new(),
        "v1".to_owned(),
        "v1$$".to_owned(),
        format!("v2${rest}"),
        format!("{v}$"),
        format!("v1${salt}"),
        format!("v1${salt}${}", &tag[..10]),
        format!("v1${}${tag}", &salt[..10]),
        format!("v1${salt}${tag}=="),
        format!("v1$!!!${tag}"),
    ] {
        assert!(!check_keyed_verifier(&key, "c", b"1", &bad), "{bad}");
    }
}

#[test]
fn verifier_key_bytes() {
    assert!(VerifierKey::from_bytes(&[1u8; 31]).is_err());
    let k = VerifierKey::from_bytes(&[1u8; 32]).unwrap();
    assert_eq!(k.expose(), &[1u8; 32]);
    assert_eq!(format!("{k:?}"), "VerifierKey(<redacted>)");
}

#[test]
fn passwords() {
    let mut r = rng();
    let phc = password_hash(&mut r, b"correct horse").unwrap();
    assert!(phc.starts_with("$argon2id$"));
    assert!(password_verify(b"correct horse", &phc));
    assert!(!password_verify(b"correct horsE", &phc));
    assert!(!password_verify(b"correct horse", "not a phc"));
    assert!(!password_verify(b"correct horse", ""));
    assert_ne!(phc, password_hash(&mut r, b"correct horse").unwrap());
}

#[test]
fn bearer_tokens() {
    let mut r = rng();
    let t = generate_bearer_token(&mut r, "lkad");
    let body = t.expose().strip_prefix("lkad_").unwrap();
    assert_eq!(URL_SAFE_NO_PAD.decode(body).unwrap().len(), 32);
    assert_ne!(t, generate_bearer_token(&mut r, "lkad"));

    let h = bearer_token_hash(t.expose());
    assert_eq!(h.len(), 64);
    assert!(
        h.chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    assert_eq!(h, bearer_token_hash(t.expose()));
    assert_eq!(
        bearer_token_hash("abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}
