use rand::SeedableRng;
use rand::rngs::StdRng;

use super::*;

fn rng() -> StdRng {
    StdRng::seed_from_u64(7)
}

#[test]
fn roundtrip() {
    let mut r = rng();
    let ring = Keyring::new(MasterKey::generate(&mut r));
    let sealed = ring.seal(&mut r, b"seed bytes", b"token-seed:LK0001");
    assert_eq!(sealed.len(), 1 + 8 + 24 + 10 + 16);
    assert_eq!(sealed[0], 1);
    assert_eq!(&sealed[1..9], &ring.current().key_id());
    let opened = ring.open(&sealed, b"token-seed:LK0001").unwrap();
    assert_eq!(opened.expose(), b"seed bytes");
    assert!(ring.is_sealed_with_current(&sealed));
    // Empty plaintext works too.
    let sealed = ring.seal(&mut r, b"", b"x");
    assert!(ring.open(&sealed, b"x").unwrap().is_empty());
}

#[test]
fn nonces_differ() {
    let mut r = rng();
    let ring = Keyring::new(MasterKey::generate(&mut r));
    let a = ring.seal(&mut r, b"same", b"aad");
    let b = ring.seal(&mut r, b"same", b"aad");
    assert_ne!(a, b);
}

#[test]
fn wrong_aad_fails() {
    let mut r = rng();
    let ring = Keyring::new(MasterKey::generate(&mut r));
    let sealed = ring.seal(&mut r, b"seed", b"token-seed:LK0001");
    assert_eq!(
        ring.open(&sealed, b"token-seed:LK0002").unwrap_err(),
        CryptoError::SealBroken
    );
}

#[test]
fn flipped_bits_fail() {
    let mut r = rng();
    let ring = Keyring::new(MasterKey::generate(&mut r));
    let sealed = ring.seal(&mut r, b"seed", b"aad");
    for i in 0..sealed.len() {
        let mut bad = sealed.clone();
        bad[i] ^= 0x01;
        let err = ring.open(&bad, b"aad").unwrap_err();
        // Bits in the key id make the key unknown; everything else breaks the seal.
        if (1..9).contains(&i) {
            assert_eq!(err, CryptoError::UnknownKey, "byte {i}");
        } else {
            assert_eq!(err, CryptoError::SealBroken, "byte {i}");
        }
    }
}

#[test]
fn truncated_fails_without_panic() {
    let mut r = rng();
    let ring = Keyring::new(MasterKey::generate(&mut r));
    let sealed = ring.seal(&mut r, b"seed", b"aad");
    for n in 0..sealed.len() {
        let err = ring.open(&sealed[..n], b"aad").unwrap_err();
        assert!(
            matches!(err, CryptoError::SealBroken | CryptoError::UnknownKey),
            "len {n}"
        );
        assert!(n < 9 || ring.is_sealed_with_current(&sealed[..n]) == (n >= 33));
    }
    assert!(!ring.is_sealed_with_current(&[]));
}

#[test]
fn rotation() {
    let mut r = rng();
    let old = MasterKey::generate(&mut r);
    let new = MasterKey::generate(&mut r);
    let old_ring = Keyring::new(old.clone());
    let sealed_old = old_ring.seal(&mut r, b"legacy", b"aad");

    let ring = Keyring::new(new).with_older(old);
    assert!(!ring.is_sealed_with_current(&sealed_old));
    assert_eq!(ring.open(&sealed_old, b"aad").unwrap().expose(), b"legacy");
    let resealed = ring.seal(&mut r, b"legacy", b"aad");
    assert!(ring.is_sealed_with_current(&resealed));
    // The old-only ring does not know the new key.
    assert_eq!(
        old_ring.open(&resealed, b"aad").unwrap_err(),
        CryptoError::UnknownKey
    );
}

#[test]
fn unknown_key_fails() {
    let mut r = rng();
    let a = Keyring::new(MasterKey::generate(&mut r));
    let b = Keyring::new(MasterKey::generate(&mut r));
    let sealed = a.seal(&mut r, b"seed", b"aad");
    assert_eq!(
        b.open(&sealed, b"aad").unwrap_err(),
        CryptoError::UnknownKey
    );
}

#[test]
fn key_file_roundtrip_and_errors() {
    let mut r = rng();
    let k = MasterKey::generate(&mut r);
    let text = k.to_file_text();
    assert!(text.starts_with("latchkey-master-key-v1:"));
    assert!(text.ends_with('\n'));
    assert_eq!(text.trim().len(), "latchkey-master-key-v1:".len() + 43);
    let back = MasterKey::from_file_text(&format!("  \n{text}\n ")).unwrap();
    assert_eq!(back.key_id(), k.key_id());

    let body = text.trim().strip_prefix("latchkey-master-key-v1:").unwrap();
    for bad in [
        String::new(),
        body.to_owned(),
        format!("latchkey-master-key-v2:{body}"),
        format!("latchkey-master-key-v1:{body}="),
        format!("latchkey-master-key-v1:{}", &body[..40]),
        format!("latchkey-master-key-v1:{body}AAAA"),
    ] {
        let err = MasterKey::from_file_text(&bad).unwrap_err();
        assert!(matches!(err, CryptoError::InvalidKey(_)), "{bad}");
        assert!(!err.to_string().contains(&body[..10]), "{err}");
    }
}

#[test]
fn from_bytes_length() {
    assert!(MasterKey::from_bytes(&[0u8; 32]).is_ok());
    for n in [0, 16, 31, 33, 64] {
        assert!(matches!(
            MasterKey::from_bytes(&vec![0u8; n]),
            Err(CryptoError::InvalidKey(_))
        ));
    }
}

#[test]
fn key_id_and_subkeys() {
    let k = MasterKey::from_bytes(&[0u8; 32]).unwrap();
    let mut h = Sha256::new();
    h.update(b"latchkey key id v1");
    h.update([0u8; 32]);
    assert_eq!(k.key_id(), h.finalize()[..8]);

    let a = k.derive_subkey("pin-verifier");
    let b = k.derive_subkey("session");
    assert_eq!(a.len(), 32);
    assert_ne!(a, b);
    assert_eq!(a, k.derive_subkey("pin-verifier"));
    let mut expect = [0u8; 32];
    hkdf::Hkdf::<Sha256>::new(None, &[0u8; 32])
        .expand(b"latchkey/pin-verifier", &mut expect)
        .unwrap();
    assert_eq!(a.expose(), expect);
}

#[test]
fn debug_redacted() {
    let k = MasterKey::from_bytes(&[0x41; 32]).unwrap();
    assert_eq!(format!("{k:?}"), "MasterKey(<redacted>)");
    let ring = Keyring::new(k);
    assert!(!format!("{ring:?}").contains("65"));
}
