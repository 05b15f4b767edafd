//! Phone numbers: the E.164 check applied to every destination and sender, and the masked
//! form that is the only one written to logs.

/// Whether `s` is an E.164 number: `+`, a non-zero digit, then 1–14 more digits, nothing
/// else (no spaces, no punctuation).
pub fn is_e164(s: &str) -> bool {
    let Some(digits) = s.strip_prefix('+') else {
        return false;
    };
    (2..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

/// A number as logs show it: the `+`, the first two digits and the last two, the rest
/// starred (`+14*******23`), so an operator can tell deliveries apart without the log
/// becoming a directory of users' phones. Anything that is not E.164 is fully starred.
pub fn mask_number(s: &str) -> String {
    if !is_e164(s) {
        return "*".repeat(s.chars().count().min(16));
    }
    s.char_indices()
        .map(|(i, c)| if i < 3 || i + 2 >= s.len() { c } else { '*' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164() {
        for ok in ["+14155550123", "+491511234567", "+12", "+123456789012345"] {
            assert!(is_e164(ok), "{ok}");
        }
        for bad in [
            "",
            "+",
            "14155550123",
            "+1",
            "+04155550123",
            "+1 415 555 0123",
            "+1415555012a",
            "+1234567890123456",
            "++14155550123",
        ] {
            assert!(!is_e164(bad), "{bad}");
        }
    }

    #[test]
    fn masking_keeps_only_the_ends() {
        assert_eq!(mask_number("+14155550123"), "+14*******23");
        assert_eq!(mask_number("+123"), "+123");
        assert_eq!(mask_number("0800 123"), "********");
    }
}
