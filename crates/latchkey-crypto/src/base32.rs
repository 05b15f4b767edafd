//! RFC 4648 base32 for OTP seeds.
//!
//! Decoding is hand-written rather than delegated to `data-encoding` for two
//! reasons: seeds typed or pasted by people contain spaces, dashes, lower
//! case and stray padding that must be tolerated, and some issuers emit
//! encodings whose unused trailing bits are not zero, which a strict decoder
//! rejects even though the seed bytes are unambiguous. Decoding straight from
//! the input also avoids a normalised copy of the seed that would need
//! wiping.

use zeroize::Zeroizing;

use crate::{CryptoError, SecretBytes};

/// Shortest accepted seed: RFC 4226 §4 requires at least 128 bits and
/// recommends 160, but 80-bit seeds are common in the wild (16 base32
/// characters) and still far outside online guessing range.
pub const MIN_SECRET_BYTES: usize = 10;

/// Longest accepted seed; anything longer is a paste error, not a seed.
pub const MAX_SECRET_BYTES: usize = 128;

/// The value of one base32 character, `None` if it is not in the alphabet.
fn value(c: char) -> Option<u8> {
    match c.to_ascii_uppercase() {
        // The casts cannot truncate: both differences are below 32.
        c @ 'A'..='Z' => u8::try_from(u32::from(c) - u32::from('A')).ok(),
        c @ '2'..='7' => u8::try_from(u32::from(c) - u32::from('2') + 26).ok(),
        _ => None,
    }
}

/// Decodes a base32 OTP seed.
///
/// Case-insensitive; whitespace and `-` are ignored anywhere; `=` padding is
/// accepted only at the end. Fails with [`CryptoError::InvalidSecret`] if
/// the input is empty, has a character outside the alphabet, has a length no
/// encoder can produce, or decodes to fewer than [`MIN_SECRET_BYTES`] or more
/// than [`MAX_SECRET_BYTES`] bytes. Messages never include the input.
pub fn decode_base32_secret(s: &str) -> Result<SecretBytes, CryptoError> {
    let mut out = Zeroizing::new(Vec::with_capacity(s.len() * 5 / 8));
    let mut acc: u16 = 0;
    let mut bits: u32 = 0;
    let mut symbols: usize = 0;
    let mut in_padding = false;
    for c in s.chars() {
        if c.is_ascii_whitespace() || c == '-' {
            continue;
        }
        if c == '=' {
            in_padding = true;
            continue;
        }
        if in_padding {
            return Err(CryptoError::InvalidSecret(
                "base32 padding '=' may only appear at the end",
            ));
        }
        let v = value(c).ok_or(CryptoError::InvalidSecret(
            "secret contains a character that is not base32",
        ))?;
        symbols += 1;
        acc = (acc << 5) | u16::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xff).unwrap_or(0));
            // Keep only the bits not yet emitted so `acc` never overflows.
            acc &= (1 << bits) - 1;
        }
    }
    if symbols == 0 {
        return Err(CryptoError::InvalidSecret("secret is empty"));
    }
    // Lengths 1, 3 and 6 (mod 8) leave 5 or more unused bits: a whole symbol
    // that encodes nothing, which means the input was cut or mistyped.
    if matches!(symbols % 8, 1 | 3 | 6) {
        return Err(CryptoError::InvalidSecret(
            "base32 secret has an impossible length (truncated?)",
        ));
    }
    if out.len() < MIN_SECRET_BYTES {
        return Err(CryptoError::InvalidSecret(
            "secret is shorter than 80 bits (16 base32 characters)",
        ));
    }
    if out.len() > MAX_SECRET_BYTES {
        return Err(CryptoError::InvalidSecret(
            "secret is longer than 128 bytes",
        ));
    }
    Ok(SecretBytes::new(std::mem::take(&mut *out)))
}

/// Encodes bytes as upper-case RFC 4648 base32 without padding, the form
/// authenticator apps expect in `otpauth://` URIs.
pub fn encode_base32(b: &[u8]) -> String {
    data_encoding::BASE32_NOPAD.encode(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4648_vectors_encode() {
        // RFC 4648 §10, without padding.
        assert_eq!(encode_base32(b""), "");
        assert_eq!(encode_base32(b"f"), "MY");
        assert_eq!(encode_base32(b"fo"), "MZXQ");
        assert_eq!(encode_base32(b"foo"), "MZXW6");
        assert_eq!(encode_base32(b"foob"), "MZXW6YQ");
        assert_eq!(encode_base32(b"fooba"), "MZXW6YTB");
        assert_eq!(encode_base32(b"foobar"), "MZXW6YTBOI");
    }

    #[test]
    fn decodes_rfc_seed_and_variants() {
        let seed = b"12345678901234567890";
        let enc = encode_base32(seed);
        assert_eq!(enc, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(decode_base32_secret(&enc).unwrap().expose(), seed);
        let lower = enc.to_ascii_lowercase();
        assert_eq!(decode_base32_secret(&lower).unwrap().expose(), seed);
        let spaced = "gezd gnbv gy3t qojq-gezd gnbv gy3t qojq";
        assert_eq!(decode_base32_secret(spaced).unwrap().expose(), seed);
    }

    #[test]
    fn accepts_trailing_padding() {
        let seed = [0xabu8; 11]; // 11 bytes -> 18 symbols + 6 '='
        let enc = data_encoding::BASE32.encode(&seed);
        assert!(enc.ends_with('='));
        assert_eq!(decode_base32_secret(&enc).unwrap().expose(), seed);
        assert!(decode_base32_secret("JBSWY3DPEHPK3PXP==JBSW").is_err());
    }

    #[test]
    fn roundtrip_many_lengths() {
        for n in MIN_SECRET_BYTES..=MAX_SECRET_BYTES {
            let seed: Vec<u8> = (0..n)
                .map(|i| u8::try_from(i * 37 % 256).unwrap())
                .collect();
            assert_eq!(
                decode_base32_secret(&encode_base32(&seed))
                    .unwrap()
                    .expose(),
                seed
            );
        }
    }

    #[test]
    fn tolerates_nonzero_trailing_bits() {
        // 16 symbols = 80 bits exactly; 18 symbols = 90 bits -> 11 bytes + 2 spare bits.
        let strict = encode_base32(&[0xffu8; 11]);
        let mut loose = strict.clone();
        loose.pop();
        loose.push('7'); // set the spare bits
        assert_eq!(
            decode_base32_secret(&loose).unwrap(),
            decode_base32_secret(&strict).unwrap()
        );
    }

    #[test]
    fn rejects_bad_input_without_echoing_it() {
        for bad in [
            "",
            "   ",
            "====",
            "JBSWY3DP",          // 5 bytes: too short
            "JBSWY3DPEHPK3PX1",  // '1' is not base32
            "JBSWY3DPEHPK3PXP!", // '!' is not base32
            "JBSWY3DPEHPK3PXPA", // 17 symbols: impossible length
        ] {
            let err = decode_base32_secret(bad).unwrap_err();
            assert!(matches!(err, CryptoError::InvalidSecret(_)), "{bad:?}");
            if !bad.trim().is_empty() {
                assert!(!err.to_string().contains(bad), "{bad:?}");
            }
        }
        let too_long = encode_base32(&[1u8; MAX_SECRET_BYTES + 1]);
        assert!(matches!(
            decode_base32_secret(&too_long),
            Err(CryptoError::InvalidSecret(_))
        ));
    }
}
