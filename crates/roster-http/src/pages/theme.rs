//! What a deployment sets of the pages' look: the product's name, its logo and three
//! colours; the stylesheet built from them; and the pages' Content-Security-Policy.

/// The pages' branding (`pages_*` settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageSettings {
    /// Shown in titles and headings (`Roster`).
    pub product_name: String,
    /// The logo above every page: an `https://` or `http://` URL, or a path on Roster
    /// (`/...`); None: no logo.
    pub logo_url: Option<String>,
    /// Buttons, links and focus rings, `#rrggbb`.
    pub accent_color: String,
    /// The page's background, `#rrggbb`.
    pub background_color: String,
    /// The text, `#rrggbb`.
    pub text_color: String,
}

impl Default for PageSettings {
    fn default() -> Self {
        Self {
            product_name: "Roster".into(),
            logo_url: None,
            accent_color: "#1d4ed8".into(),
            background_color: "#ffffff".into(),
            text_color: "#1f2328".into(),
        }
    }
}

/// WCAG 2.1's minimum contrast for normal text (level AA).
pub const MIN_CONTRAST: f64 = 4.5;

/// An `#rrggbb` colour as red, green and blue.
fn parse_color(value: &str) -> Option<[u8; 3]> {
    let hex = value.strip_prefix('#')?;
    if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let channel = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some([channel(0)?, channel(2)?, channel(4)?])
}

/// WCAG 2.1 relative luminance.
fn luminance([r, g, b]: [u8; 3]) -> f64 {
    let linear = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.03928 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)
}

/// WCAG 2.1 contrast ratio of two colours (1 to 21).
pub fn contrast(a: [u8; 3], b: [u8; 3]) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    let (light, dark) = if la > lb { (la, lb) } else { (lb, la) };
    (light + 0.05) / (dark + 0.05)
}

const WHITE: [u8; 3] = [255, 255, 255];

impl PageSettings {
    /// Checks the settings, naming the one at fault: a product name of 1 to 64 printable
    /// characters, a logo URL that is absolute `http(s)://` or a path on Roster with no
    /// quotes, spaces or controls, and `#rrggbb` colours that keep text readable (text on
    /// background, accent on background for links, white on accent for buttons, each at
    /// least [`MIN_CONTRAST`]).
    pub fn validate(&self) -> Result<(), String> {
        let name = self.product_name.trim();
        if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            return Err("pages_product_name must be 1 to 64 characters without control characters".into());
        }
        if let Some(logo) = &self.logo_url {
            let absolute = logo.starts_with("https://") || logo.starts_with("http://");
            let path = logo.starts_with('/') && !logo.starts_with("//");
            if !(absolute || path)
                || logo.len() > 2048
                || logo
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '<' | '>' | ';' | '\\'))
                || (absolute && logo_origin(logo).is_none())
            {
                return Err(
                    "pages_logo_url must be an http:// or https:// URL or a path starting with /, without spaces or quotes"
                        .into(),
                );
            }
        }
        let color = |name: &str, value: &str| {
            parse_color(value).ok_or_else(|| format!("{name} must be a colour written #rrggbb, not {value:?}"))
        };
        let accent = color("pages_accent_color", &self.accent_color)?;
        let background = color("pages_background_color", &self.background_color)?;
        let text = color("pages_text_color", &self.text_color)?;
        for (what, a, b) in [
            ("pages_text_color on pages_background_color", text, background),
            (
                "pages_accent_color on pages_background_color (links)",
                accent,
                background,
            ),
            ("white on pages_accent_color (buttons)", WHITE, accent),
        ] {
            let ratio = contrast(a, b);
            if ratio < MIN_CONTRAST {
                return Err(format!(
                    "{what} has a contrast of {ratio:.2}:1, below the {MIN_CONTRAST}:1 readable text needs"
                ));
            }
        }
        Ok(())
    }

    /// The stylesheet of every page (`GET /pages/style.css`): the colours as custom
    /// properties, visible focus, large targets, no script.
    pub fn stylesheet(&self) -> String {
        format!(
            ":root{{--accent:{accent};--bg:{bg};--text:{text}}}\n{BASE_CSS}",
            accent = self.accent_color,
            bg = self.background_color,
            text = self.text_color
        )
    }

    /// The pages' Content-Security-Policy: nothing but the served stylesheet and images
    /// from Roster (and the logo's origin); no script at all; not framed. `form-action` is
    /// left out on purpose: a sign-in form redirects on to a relying party's redirect URI, which
    /// browsers would check against it.
    pub fn content_security_policy(&self) -> String {
        let mut images = "'self'".to_string();
        if let Some(origin) = self.logo_url.as_deref().and_then(logo_origin) {
            images.push(' ');
            images.push_str(&origin);
        }
        format!("default-src 'none'; style-src 'self'; img-src {images}; base-uri 'none'; frame-ancestors 'none'")
    }
}

/// The origin (`https://host[:port]`) of an absolute URL.
fn logo_origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit('@').next()?;
    if host.is_empty() || host.contains('*') {
        return None;
    }
    Some(format!("{scheme}://{host}"))
}

const BASE_CSS: &str = r#"*,*::before,*::after{box-sizing:border-box}
html{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;font-size:100%;line-height:1.5;color:var(--text);background:var(--bg)}
body{margin:0;padding:2rem 1rem}
.brand{max-width:28rem;margin:0 auto 1.5rem;display:flex;align-items:center;gap:.75rem;font-weight:600;font-size:1.125rem}
.brand img{max-height:2.5rem;max-width:10rem}
main{max-width:28rem;margin:0 auto}
h1{font-size:1.5rem;line-height:1.25;margin:0 0 1rem}
h2{font-size:1.125rem;margin:0 0 .5rem}
p{margin:0 0 1rem}
a{color:var(--accent);text-decoration:underline;text-underline-offset:.15em}
a:focus-visible,button:focus-visible,input:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
.field{margin:0 0 1.25rem}
label{display:block;font-weight:600;margin:0 0 .25rem}
.hint{display:block;font-size:.9375rem;margin:0 0 .25rem}
.field-error{display:block;font-weight:600;color:#b3261e;margin:0 0 .25rem}
input[type=text],input[type=email],input[type=password]{display:block;width:100%;min-height:2.75rem;padding:.5rem .75rem;font:inherit;color:var(--text);background:var(--bg);border:2px solid currentColor;border-radius:4px}
input[aria-invalid=true]{border-color:#b3261e}
.check{display:flex;gap:.5rem;align-items:flex-start}
.check input{width:1.5rem;height:1.5rem;margin:0;flex:none}
.check label{font-weight:400;margin:0}
button{min-height:2.75rem;padding:.5rem 1.25rem;font:inherit;font-weight:600;color:#fff;background:var(--accent);border:2px solid var(--accent);border-radius:4px;cursor:pointer}
button.secondary{color:var(--accent);background:var(--bg)}
.actions{display:flex;flex-wrap:wrap;gap:.75rem;margin:0 0 1rem}
.errors{border:3px solid #b3261e;border-radius:4px;padding:1rem;margin:0 0 1.5rem}
.errors ul{margin:0;padding-left:1.25rem}
.errors a{color:#b3261e;font-weight:600}
.links{list-style:none;padding:0;margin:1.5rem 0 0}
.links li{margin:0 0 .5rem}
.scopes{margin:0 0 1.5rem;padding-left:1.25rem}
@media (prefers-reduced-motion:reduce){*{transition:none!important;animation:none!important}}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_readable() {
        assert_eq!(PageSettings::default().validate(), Ok(()));
    }

    #[test]
    fn contrast_follows_wcag() {
        assert!((contrast([0, 0, 0], WHITE) - 21.0).abs() < 1e-9);
        assert!((contrast(WHITE, WHITE) - 1.0).abs() < 1e-9);
        // #767676 on white is the classic 4.54:1.
        let grey = contrast([0x76, 0x76, 0x76], WHITE);
        assert!(grey > 4.5 && grey < 4.6, "{grey}");
    }

    #[test]
    fn refuses_unreadable_colours_and_bad_values_naming_the_setting() {
        let with = |f: fn(&mut PageSettings)| {
            let mut s = PageSettings::default();
            f(&mut s);
            s.validate().unwrap_err()
        };
        assert!(with(|s| s.text_color = "#dddddd".into()).contains("pages_text_color"));
        assert!(with(|s| s.accent_color = "#ffff00".into()).contains("pages_accent_color"));
        assert!(with(|s| s.background_color = "white".into()).contains("pages_background_color"));
        assert!(with(|s| s.product_name = " ".into()).contains("pages_product_name"));
        assert!(with(|s| s.logo_url = Some("javascript:alert(1)".into())).contains("pages_logo_url"));
        assert!(with(|s| s.logo_url = Some("//evil.example/x.png".into())).contains("pages_logo_url"));
        assert!(with(|s| s.logo_url = Some("https://a.example/x.png; script-src *".into())).contains("pages_logo_url"));
    }

    #[test]
    fn the_policy_allows_no_script_and_the_logo_origin_for_images() {
        let mut s = PageSettings::default();
        let csp = s.content_security_policy();
        assert!(csp.contains("default-src 'none'") && csp.contains("style-src 'self'"));
        assert!(!csp.contains("script-src") && !csp.contains("unsafe-inline"));
        s.logo_url = Some("https://cdn.example.org:8443/brand/logo.svg?v=2".into());
        assert!(
            s.content_security_policy()
                .contains("img-src 'self' https://cdn.example.org:8443;")
        );
        s.logo_url = Some("/avatars/logo.png".into());
        assert!(s.content_security_policy().contains("img-src 'self';"));
    }
}
