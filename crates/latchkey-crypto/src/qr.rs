//! QR codes for token enrollment.
//!
//! Rendered as SVG on the server so the enrollment page needs no JavaScript
//! and the `otpauth://` URI (which contains the seed) never leaves the
//! response it was rendered into.

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

use crate::CryptoError;

/// Minimum rendered width and height in pixels; small enough for a page,
/// large enough for phone cameras to focus on.
const MIN_SIZE_PX: u32 = 200;

/// Renders `text` as a complete SVG document (XML declaration and `<svg>`
/// root) with medium error correction and a quiet zone.
///
/// Fails with [`CryptoError::InvalidParameter`] if `text` is too long for
/// any QR version. The message does not include `text`, which is usually an
/// `otpauth://` URI carrying a seed.
pub fn qr_svg(text: &str) -> Result<String, CryptoError> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
        .map_err(|_| CryptoError::InvalidParameter("text is too long for a QR code"))?;
    Ok(code
        .render::<svg::Color<'_>>()
        .min_dimensions(MIN_SIZE_PX, MIN_SIZE_PX)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_svg_document() {
        let svg = qr_svg("otpauth://totp/Example:alice?secret=JBSWY3DPEHPK3PXP").unwrap();
        assert!(svg.contains("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        let width: u32 = svg
            .split("width=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap()
            .parse()
            .unwrap();
        assert!(width >= MIN_SIZE_PX, "{width}");
    }

    #[test]
    fn too_long_is_error_without_echo() {
        let text = "A".repeat(10_000);
        let err = qr_svg(&text).unwrap_err();
        assert!(matches!(err, CryptoError::InvalidParameter(_)));
        assert!(!err.to_string().contains("AAAA"));
    }
}
