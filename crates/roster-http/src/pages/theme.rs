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
    /// properties, a dark theme for browsers that prefer one (`prefers-color-scheme: dark`,
    /// see [`PageSettings::dark_accent`]), visible focus, large targets, no script.
    pub fn stylesheet(&self) -> String {
        let dark_accent = self.dark_accent();
        format!(
            ":root{{color-scheme:light dark;--accent:{accent};--bg:{bg};--text:{text};--on-accent:#ffffff;--danger:{danger};--muted-bg:{muted}}}\n\
             @media (prefers-color-scheme:dark){{:root{{--accent:{dark_accent};--bg:{dark_bg};--text:{dark_text};--on-accent:{dark_bg};--danger:{dark_danger};--muted-bg:{dark_muted}}}}}\n{BASE_CSS}{ACCOUNT_CSS}",
            accent = self.accent_color,
            bg = self.background_color,
            text = self.text_color,
            danger = DANGER,
            muted = MUTED_BACKGROUND,
            dark_bg = DARK_BACKGROUND,
            dark_text = DARK_TEXT,
            dark_danger = DARK_DANGER,
            dark_muted = DARK_MUTED_BACKGROUND,
        )
    }

    /// The accent of the dark theme: the deployment's accent mixed with white until it
    /// reads on the dark background (links) and the dark background reads on it (buttons),
    /// at least [`MIN_CONTRAST`] both ways.
    pub fn dark_accent(&self) -> String {
        let accent = parse_color(&self.accent_color).unwrap_or([0x1d, 0x4e, 0xd8]);
        let background = parse_color(DARK_BACKGROUND).unwrap_or([0, 0, 0]);
        let mix =
            |weight: u16| -> [u8; 3] { accent.map(|c| ((u16::from(c) * (100 - weight) + 255 * weight) / 100) as u8) };
        let color = (0..=100)
            .step_by(5)
            .map(mix)
            .find(|c| contrast(*c, background) >= MIN_CONTRAST)
            .unwrap_or(WHITE);
        format!("#{:02x}{:02x}{:02x}", color[0], color[1], color[2])
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

    /// The policy of the pages that load Roster's one script (`/pages/roster.js`: the account
    /// pages and the admin console): as [`PageSettings::content_security_policy`], with
    /// `script-src 'self'` (no inline script, no `eval`).
    pub fn content_security_policy_with_script(&self) -> String {
        self.content_security_policy()
            .replacen("default-src 'none'; ", "default-src 'none'; script-src 'self'; ", 1)
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

/// Errors (on the light background).
const DANGER: &str = "#b3261e";
/// Panels and code (on the light background).
const MUTED_BACKGROUND: &str = "#f3f4f6";
/// The dark theme's background, text, errors and panels.
const DARK_BACKGROUND: &str = "#16181d";
const DARK_TEXT: &str = "#e8eaed";
const DARK_DANGER: &str = "#ffb4ab";
const DARK_MUTED_BACKGROUND: &str = "#23262d";

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
a:focus-visible,button:focus-visible,input:focus-visible,textarea:focus-visible,select:focus-visible,summary:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
.field{margin:0 0 1.25rem}
label{display:block;font-weight:600;margin:0 0 .25rem}
.hint{display:block;font-size:.9375rem;margin:0 0 .25rem}
.field-error{display:block;font-weight:600;color:var(--danger);margin:0 0 .25rem}
input[type=text],input[type=email],input[type=password]{display:block;width:100%;min-height:2.75rem;padding:.5rem .75rem;font:inherit;color:var(--text);background:var(--bg);border:2px solid currentColor;border-radius:4px}
input[aria-invalid=true]{border-color:var(--danger)}
.check{display:flex;gap:.5rem;align-items:flex-start}
.check input{width:1.5rem;height:1.5rem;margin:0;flex:none}
.check label{font-weight:400;margin:0}
button{min-height:2.75rem;padding:.5rem 1.25rem;font:inherit;font-weight:600;color:var(--on-accent);background:var(--accent);border:2px solid var(--accent);border-radius:4px;cursor:pointer}
button.secondary{color:var(--accent);background:var(--bg)}
.actions{display:flex;flex-wrap:wrap;gap:.75rem;margin:0 0 1rem}
.errors{border:3px solid var(--danger);border-radius:4px;padding:1rem;margin:0 0 1.5rem}
.errors ul{margin:0;padding-left:1.25rem}
.errors a{color:var(--danger);font-weight:600}
.links{list-style:none;padding:0;margin:1.5rem 0 0}
.links li{margin:0 0 .5rem}
.scopes{margin:0 0 1.5rem;padding-left:1.25rem}
@media (prefers-reduced-motion:reduce){*{transition:none!important;animation:none!important}}
@media (max-width:30rem){body{padding:1rem .75rem}}
"#;

/// The account pages' parts: navigation, panels, lists, tables, the QR code.
const ACCOUNT_CSS: &str = r#"main:has(.account-nav){max-width:44rem}
.brand:has(+main .account-nav){max-width:44rem}
.account-nav{margin:0 0 1.5rem}
.account-nav .who{margin:0 0 .5rem;font-size:.9375rem}
.account-nav ul{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:.25rem .5rem}
.account-nav a{display:inline-block;padding:.375rem .5rem;min-height:2.75rem;line-height:2rem}
.account-nav a[aria-current=page]{font-weight:700;text-decoration-thickness:3px}
.status:empty{display:none}
.status p{border-left:4px solid var(--accent);padding:.5rem .75rem;background:var(--muted-bg)}
.panel{margin:0 0 2rem}
.facts{margin:0 0 1rem}
.facts div{display:flex;flex-wrap:wrap;gap:0 .5rem;margin:0 0 .25rem}
.facts dt{font-weight:600}
.facts dt::after{content:":"}
.facts dd{margin:0;overflow-wrap:anywhere}
.items{list-style:none;margin:0 0 1.5rem;padding:0}
.item{border:1px solid currentColor;border-radius:4px;padding:.75rem 1rem;margin:0 0 .75rem}
.item h3{font-size:1rem;margin:0 0 .5rem;overflow-wrap:anywhere}
.pager{display:flex;flex-wrap:wrap;gap:.5rem 1.5rem;margin:1rem 0}
.pager a{display:inline-block;min-height:2.75rem;line-height:2.75rem}
.copy{display:inline-flex;flex-wrap:wrap;align-items:center;gap:.5rem;margin:.5rem 0 0}
.copy-buffer{position:fixed;top:0;left:-9999px}
button:disabled{opacity:.6;cursor:not-allowed}
.item form .actions{margin:0}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:var(--muted-bg);padding:.125rem .25rem;border-radius:3px;overflow-wrap:anywhere}
.secret code{font-size:1.0625rem}
.codes{columns:2;gap:1rem;padding-left:1.25rem;margin:0 0 1rem}
.qr{width:14rem;max-width:100%;margin:0 0 1rem;background:#fff;padding:.5rem;border-radius:4px}
.qr svg{display:block;width:100%;height:auto}
.avatar{border-radius:50%;object-fit:cover}
textarea,input[type=file]{display:block;width:100%;padding:.5rem .75rem;font:inherit;color:var(--text);background:var(--bg);border:2px solid currentColor;border-radius:4px}
textarea[aria-invalid=true]{border-color:var(--danger)}
.table-wrap{overflow-x:auto;margin:0 0 1rem}
table{border-collapse:collapse;width:100%}
caption{text-align:left;font-weight:600;margin:0 0 .5rem}
th,td{text-align:left;padding:.375rem .5rem;border-bottom:1px solid currentColor}
td:last-child,th:last-child{text-align:right}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_readable() {
        assert_eq!(PageSettings::default().validate(), Ok(()));
    }

    #[test]
    fn the_dark_theme_keeps_every_colour_readable() {
        let dark = parse_color(DARK_BACKGROUND).unwrap();
        for accent in ["#1d4ed8", "#000080", "#7c3aed", "#b91c1c", "#111111"] {
            let settings = PageSettings {
                accent_color: accent.into(),
                ..Default::default()
            };
            let dark_accent = parse_color(&settings.dark_accent()).unwrap();
            assert!(contrast(dark_accent, dark) >= MIN_CONTRAST, "{accent}");
        }
        let text = parse_color(DARK_TEXT).unwrap();
        let danger = parse_color(DARK_DANGER).unwrap();
        let muted = parse_color(DARK_MUTED_BACKGROUND).unwrap();
        assert!(contrast(text, dark) >= MIN_CONTRAST && contrast(text, muted) >= MIN_CONTRAST);
        assert!(contrast(danger, dark) >= MIN_CONTRAST);
        let light_danger = parse_color(DANGER).unwrap();
        let light_muted = parse_color(MUTED_BACKGROUND).unwrap();
        let light_text = parse_color(&PageSettings::default().text_color).unwrap();
        assert!(contrast(light_danger, WHITE) >= MIN_CONTRAST);
        assert!(contrast(light_text, light_muted) >= MIN_CONTRAST);
        let css = PageSettings::default().stylesheet();
        assert!(css.contains("@media (prefers-color-scheme:dark)") && !css.contains("#fff;background:var(--accent)"));
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
        let scripted = s.content_security_policy_with_script();
        assert!(
            scripted.starts_with("default-src 'none'; script-src 'self'; style-src 'self';"),
            "{scripted}"
        );
        assert!(!scripted.contains("unsafe"), "{scripted}");
        s.logo_url = Some("https://cdn.example.org:8443/brand/logo.svg?v=2".into());
        assert!(
            s.content_security_policy()
                .contains("img-src 'self' https://cdn.example.org:8443;")
        );
        s.logo_url = Some("/avatars/logo.png".into());
        assert!(s.content_security_policy().contains("img-src 'self';"));
    }
}
