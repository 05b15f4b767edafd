//! Random codes people read, type or say aloud: emergency (break-glass)
//! codes, system-generated PINs, initial passwords, SMS codes.
//!
//! All choices are uniform (`rand`'s `choose`/`gen_range`, which reject
//! rather than reduce modulo), so no character is more likely than another.

use rand::seq::SliceRandom;
use rand::{CryptoRng, Rng, RngCore};
use zeroize::Zeroizing;

use crate::{CryptoError, SecretString};

/// Digits without `0` and `1`, which are confused with `O`, `l` and `I`.
const DIGITS: &[u8] = b"23456789";
/// Upper case without `O` and `I`.
const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
/// Lower case without `l`.
const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
/// Specials that are easy to say and type: no quotes, backslash, space,
/// brackets, and no `^`/`~`/`` ` `` (dead keys on many European layouts).
const SPECIAL: &[u8] = b"!#$%&*+-=?@_";

/// Upper bound on rejection-sampling rounds in [`generate_code`]. Even the
/// worst case (one character per class, four classes) succeeds with
/// probability ~7% per round, so 1000 rounds fail only with a broken RNG;
/// the bound turns that into an error instead of a hung request.
const MAX_ROUNDS: usize = 1000;

/// Which character classes a generated code may contain.
#[allow(
    clippy::struct_excessive_bools,
    reason = "independent on/off switches that map 1:1 to admin policy settings"
)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CharClasses {
    /// `2`-`9`.
    pub digits: bool,
    /// `A`-`Z` without `I` and `O`.
    pub upper: bool,
    /// `a`-`z` without `l`.
    pub lower: bool,
    /// `!#$%&*+-=?@_`.
    pub special: bool,
}

impl CharClasses {
    /// The selected classes' character sets, in a fixed order.
    fn selected(self) -> impl Iterator<Item = &'static [u8]> {
        [
            (self.digits, DIGITS),
            (self.upper, UPPER),
            (self.lower, LOWER),
            (self.special, SPECIAL),
        ]
        .into_iter()
        .filter_map(|(on, set)| on.then_some(set))
    }

    /// The union of the selected classes, excluding the ambiguous `0 O 1 l I`.
    /// [`CryptoError::InvalidParameter`] if no class is selected.
    pub fn alphabet(&self) -> Result<Vec<u8>, CryptoError> {
        let alphabet: Vec<u8> = self.selected().flatten().copied().collect();
        if alphabet.is_empty() {
            return Err(CryptoError::InvalidParameter(
                "at least one character class must be selected",
            ));
        }
        Ok(alphabet)
    }
}

/// Generates a code of `len` characters drawn uniformly from
/// `classes.alphabet()`.
///
/// When `len` is at least the number of selected classes, every selected
/// class appears at least once (policies demand it); this is done by
/// redrawing the whole code, which keeps the result uniform over all codes
/// that satisfy the rule. [`CryptoError::InvalidParameter`] if `len` is 0
/// or no class is selected.
pub fn generate_code(
    rng: &mut (impl RngCore + CryptoRng),
    len: usize,
    classes: CharClasses,
) -> Result<SecretString, CryptoError> {
    if len == 0 {
        return Err(CryptoError::InvalidParameter(
            "code length must be at least 1",
        ));
    }
    let alphabet = classes.alphabet()?;
    let require_all = len >= classes.selected().count();
    for _ in 0..MAX_ROUNDS {
        let mut code = Zeroizing::new(Vec::with_capacity(len));
        for _ in 0..len {
            let c = alphabet
                .choose(rng)
                .ok_or(CryptoError::InvalidParameter("empty alphabet"))?;
            code.push(*c);
        }
        if require_all
            && !classes
                .selected()
                .all(|set| code.iter().any(|c| set.contains(c)))
        {
            continue;
        }
        let text = String::from_utf8(std::mem::take(&mut *code))
            .map_err(|_| CryptoError::InvalidParameter("alphabet is not ASCII"))?;
        return Ok(SecretString::new(text));
    }
    Err(CryptoError::InvalidParameter(
        "could not satisfy the character classes; is the RNG broken?",
    ))
}

/// Generates `len` uniformly random decimal digits (`0`-`9`, all allowed:
/// numeric PINs and SMS codes are not read in ambiguous fonts alongside
/// letters). `len` 0 gives an empty string.
pub fn generate_digits(rng: &mut (impl RngCore + CryptoRng), len: usize) -> SecretString {
    let code: String = (0..len)
        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
        .collect();
    SecretString::new(code)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    const ALL: CharClasses = CharClasses {
        digits: true,
        upper: true,
        lower: true,
        special: true,
    };
    const NONE: CharClasses = CharClasses {
        digits: false,
        upper: false,
        lower: false,
        special: false,
    };

    fn rng() -> StdRng {
        StdRng::seed_from_u64(3)
    }

    #[test]
    fn alphabet_excludes_ambiguous_and_unsafe() {
        let a = ALL.alphabet().unwrap();
        for c in b"0O1lI'\"\\ `^~" {
            assert!(!a.contains(c), "{}", char::from(*c));
        }
        let unique: HashSet<u8> = a.iter().copied().collect();
        assert_eq!(unique.len(), a.len(), "no duplicates");
        assert!(a.iter().all(u8::is_ascii_graphic));
        assert_eq!(
            CharClasses {
                digits: true,
                ..NONE
            }
            .alphabet()
            .unwrap(),
            b"23456789"
        );
        assert!(matches!(
            NONE.alphabet(),
            Err(CryptoError::InvalidParameter(_))
        ));
    }

    #[test]
    fn length_honoured_and_zero_rejected() {
        let mut r = rng();
        for len in [1, 2, 3, 4, 8, 16, 64] {
            assert_eq!(generate_code(&mut r, len, ALL).unwrap().len(), len);
            assert_eq!(generate_digits(&mut r, len).len(), len);
        }
        assert!(matches!(
            generate_code(&mut r, 0, ALL),
            Err(CryptoError::InvalidParameter(_))
        ));
        assert!(generate_code(&mut r, 8, NONE).is_err());
        assert!(generate_digits(&mut r, 0).is_empty());
    }

    #[test]
    fn each_selected_class_present() {
        let mut r = rng();
        for _ in 0..500 {
            let code = generate_code(&mut r, 4, ALL).unwrap();
            let b = code.expose().as_bytes();
            for set in [DIGITS, UPPER, LOWER, SPECIAL] {
                assert!(b.iter().any(|c| set.contains(c)), "{}", code.expose());
            }
        }
        let only = CharClasses {
            upper: true,
            special: true,
            ..NONE
        };
        for _ in 0..200 {
            let code = generate_code(&mut r, 2, only).unwrap();
            let b = code.expose().as_bytes();
            assert!(b.iter().any(|c| UPPER.contains(c)));
            assert!(b.iter().any(|c| SPECIAL.contains(c)));
            assert!(b.iter().all(|c| UPPER.contains(c) || SPECIAL.contains(c)));
        }
        // Shorter than the class count: no guarantee, but still works.
        assert_eq!(generate_code(&mut r, 3, ALL).unwrap().len(), 3);
    }

    #[test]
    fn distribution_covers_alphabet() {
        let mut r = rng();
        let alphabet = ALL.alphabet().unwrap();
        let mut seen = HashSet::new();
        for _ in 0..10_000 {
            seen.extend(generate_code(&mut r, 8, ALL).unwrap().expose().bytes());
        }
        let expected: HashSet<u8> = alphabet.into_iter().collect();
        assert_eq!(seen, expected);

        let mut digits = HashSet::new();
        for _ in 0..10_000 {
            digits.extend(generate_digits(&mut r, 6).expose().bytes());
        }
        assert_eq!(digits, b"0123456789".iter().copied().collect());
    }

    #[test]
    fn broken_rng_errors_instead_of_hanging() {
        // A "random" source stuck on one value can never produce all classes.
        struct Stuck;
        impl RngCore for Stuck {
            fn next_u32(&mut self) -> u32 {
                0
            }
            fn next_u64(&mut self) -> u64 {
                0
            }
            fn fill_bytes(&mut self, dest: &mut [u8]) {
                dest.fill(0);
            }
            fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
                dest.fill(0);
                Ok(())
            }
        }
        impl CryptoRng for Stuck {}
        assert!(generate_code(&mut Stuck, 4, ALL).is_err());
    }
}
