//! QR codes drawn by Roster itself, as SVG (no image service sees the secret).

use qrcode::QrCode;
use qrcode::render::svg;

/// `text` as an SVG QR code (dark modules on white, with the quiet zone), without the XML
/// declaration so that it can sit inside HTML; None if it does not fit in a QR code.
pub fn svg(text: &str) -> Option<String> {
    let code = QrCode::new(text.as_bytes()).ok()?;
    let image = code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .quiet_zone(true)
        .build();
    let start = image.find("<svg")?;
    Some(image[start..].replacen("<svg ", "<svg aria-hidden=\"true\" focusable=\"false\" ", 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_an_svg_without_the_xml_declaration() {
        let svg = svg("otpauth://totp/Roster:ann%40example.org?secret=JBSWY3DPEHPK3PXP&issuer=Roster").unwrap();
        assert!(svg.starts_with("<svg aria-hidden=\"true\""), "{svg}");
        assert!(svg.ends_with("</svg>"));
        assert!(svg.contains("<path fill=\"#000000\" d=\"M"));
        assert!(!svg.contains("<?xml") && !svg.contains("style="));
    }
}
