//! The GSM 03.38 7-bit default alphabet, which decides how an SMS is encoded: text made of
//! these characters travels as GSM 7-bit (160 characters per message); anything else makes
//! the whole message UCS-2 (70 characters per message). Kannel converts to GSM 7-bit unless
//! told otherwise and turns every other character into `?`, so the Kannel provider asks for
//! UCS-2 when the text needs it, and the SMS template check counts UCS-2 sizes.

/// Characters of the basic table other than ASCII letters and digits.
const BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./:;<=>?¡ÄÖÑÜ§¿äöñüà";
/// The extension table (each takes two septets).
const EXTENSION: &str = "\u{c}^{}\\[~]|€";

/// Whether `c` can be sent in GSM 7-bit.
pub(crate) fn is_gsm7_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || BASIC.contains(c) || EXTENSION.contains(c)
}

/// Whether all of `text` can be sent in GSM 7-bit.
pub(crate) fn is_gsm7(text: &str) -> bool {
    text.chars().all(is_gsm7_char)
}

/// Size of `text` as a UCS-2 (UTF-16) SMS payload, in bytes.
pub(crate) fn ucs2_bytes(text: &str) -> usize {
    text.encode_utf16().count() * 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alphabet() {
        assert!(is_gsm7(
            "Your Latchkey code is 482139. It expires in 5 minutes."
        ));
        assert!(is_gsm7(
            "Ihr Code: 482139 (gültig 5 Min.) {x} [y] €5 ^~|\\ ¿¡ Ñ"
        ));
        for c in ['ó', 'ç', '`', 'Ł', '中', '😀', '\t'] {
            assert!(!is_gsm7_char(c), "{c:?}");
        }
        assert_eq!(ucs2_bytes("Código"), 12);
        assert_eq!(ucs2_bytes("😀"), 4);
    }
}
