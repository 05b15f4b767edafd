//! Infallible HMAC-SHA256 with a 32-byte key.
//!
//! `hmac`'s slice constructor returns a `Result` even though HMAC accepts any
//! key length, which would force `expect` (forbidden here) or a fallible
//! signature on functions that cannot fail. HMAC zero-pads keys shorter than
//! the hash block size (RFC 2104 §2), so a 32-byte key padded with zeros to
//! the 64-byte SHA-256 block is the *same* HMAC key; the fixed-size
//! `KeyInit::new` constructor then needs no error path.

use hmac::digest::KeyInit;
use hmac::digest::generic_array::GenericArray;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

/// HMAC-SHA256(key, parts[0] || parts[1] || ...).
pub(crate) fn hmac_sha256(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    let mut block = Zeroizing::new([0u8; 64]);
    for (dst, src) in block.iter_mut().zip(key.iter()) {
        *dst = *src;
    }
    let mut mac = <Hmac<Sha256> as KeyInit>::new(GenericArray::from_slice(block.as_slice()));
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// HKDF-SHA256 (RFC 5869) with no salt, producing exactly one 32-byte block.
///
/// Written out rather than using `hkdf::Hkdf::expand` because that returns a
/// `Result` (for output lengths we never request); the tests check this
/// against the `hkdf` crate and RFC 5869 test case 3.
pub(crate) fn hkdf_sha256_32(ikm: &[u8], info: &[u8]) -> Zeroizing<[u8; 32]> {
    // Extract: no salt means a HashLen string of zeros.
    let prk = Zeroizing::new(hmac_sha256(&[0u8; 32], &[ikm]));
    // Expand: T(1) = HMAC(PRK, info || 0x01); one block covers 32 bytes.
    Zeroizing::new(hmac_sha256(&prk, &[info, &[1u8]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_hmac_crate() {
        let key = [7u8; 32];
        let ours = hmac_sha256(&key, &[b"hello ", b"world"]);
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
        mac.update(b"hello world");
        let theirs: [u8; 32] = mac.finalize().into_bytes().into();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn hkdf_matches_hkdf_crate() {
        let ikm = [0x42u8; 32];
        let ours = hkdf_sha256_32(&ikm, b"latchkey/test");
        let mut theirs = [0u8; 32];
        hkdf::Hkdf::<Sha256>::new(None, &ikm)
            .expand(b"latchkey/test", &mut theirs)
            .unwrap();
        assert_eq!(*ours, theirs);
    }

    #[test]
    fn hkdf_rfc5869_case3_first_block() {
        // RFC 5869 A.3: IKM = 0x0b * 22, salt = "", info = "".
        let okm = hkdf_sha256_32(&[0x0b; 22], b"");
        assert_eq!(
            hex::encode(*okm),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
        );
    }
}
