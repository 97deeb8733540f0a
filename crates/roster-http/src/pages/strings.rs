//! The pages' words, one table per language. English is complete by construction (every
//! field of [`Strings`] must be given); another language gives what it translates and takes
//! the rest from English (`..EN`), so a missing translation shows English, never a gap. The
//! language is chosen from `Accept-Language` ([`negotiate`]).
//!
//! Placeholders in braces (`{product}`, `{name}`, ...) are filled by [`fill`].

/// Every string a page shows.
#[derive(Debug, Clone, Copy)]
pub struct Strings {
    /// The BCP 47 tag of the language (`<html lang>`).
    pub lang: &'static str,
    pub errors_heading: &'static str,
    pub sign_in_title: &'static str,
    /// `{product}`
    pub sign_in_heading: &'static str,
    pub identifier_label: &'static str,
    pub password_label: &'static str,
    pub sign_in_button: &'static str,
    pub error_identifier_missing: &'static str,
    pub error_password_missing: &'static str,
    pub error_invalid_credentials: &'static str,
    pub error_throttled: &'static str,
    pub error_form_expired: &'static str,
    pub error_unavailable: &'static str,
    pub error_email_not_verified: &'static str,
    pub error_bad_request: &'static str,
    pub second_factor_title: &'static str,
    pub second_factor_intro: &'static str,
    pub code_label: &'static str,
    pub code_hint: &'static str,
    pub verify_button: &'static str,
    pub error_code_missing: &'static str,
    pub error_code_invalid: &'static str,
    pub error_challenge_expired: &'static str,
    pub start_over: &'static str,
    pub pending_title: &'static str,
    pub pending_body: &'static str,
    pub disabled_title: &'static str,
    pub disabled_body: &'static str,
    pub banned_title: &'static str,
    /// `{until}`
    pub banned_body: &'static str,
    pub banned_body_permanent: &'static str,
    pub signed_in_title: &'static str,
    /// `{name}`
    pub signed_in_body: &'static str,
    pub sign_in_as_someone_else: &'static str,
    pub sign_out_title: &'static str,
    /// `{product}`
    pub sign_out_question: &'static str,
    pub sign_out_everywhere_label: &'static str,
    pub sign_out_button: &'static str,
    pub cancel: &'static str,
    pub signed_out_title: &'static str,
    pub signed_out_body: &'static str,
    pub signed_out_everywhere_body: &'static str,
    pub sign_in_again: &'static str,
    pub not_signed_in_body: &'static str,
    pub error_title: &'static str,
    pub not_found_body: &'static str,
    pub verify_email_title: &'static str,
    pub verify_email_intro: &'static str,
    pub verify_email_button: &'static str,
    pub email_verified_body: &'static str,
    pub link_invalid_body: &'static str,
    pub reset_password_title: &'static str,
    pub new_password_label: &'static str,
    /// `{min}`
    pub new_password_hint: &'static str,
    pub confirm_password_label: &'static str,
    pub reset_password_button: &'static str,
    pub password_changed_body: &'static str,
    pub error_password_mismatch: &'static str,
    /// `{min}`
    pub error_password_too_short: &'static str,
    pub error_password_too_long: &'static str,
    pub invitation_title: &'static str,
    /// `{product}`
    pub invitation_intro: &'static str,
    pub name_label: &'static str,
    pub email_label: &'static str,
    pub username_label: &'static str,
    pub optional: &'static str,
    pub create_account_button: &'static str,
    pub account_created_body: &'static str,
    pub account_created_pending_body: &'static str,
    pub error_email_invalid: &'static str,
    pub error_email_taken: &'static str,
    pub error_email_not_invited: &'static str,
    pub error_username_invalid: &'static str,
    pub error_username_taken: &'static str,
    pub error_name_invalid: &'static str,
    pub consent_title: &'static str,
    /// `{client}`
    pub consent_intro: &'static str,
    /// `{name}`
    pub consent_signed_in_as: &'static str,
    pub consent_allow: &'static str,
    pub consent_deny: &'static str,
    pub scope_openid: &'static str,
    pub scope_profile: &'static str,
    pub scope_email: &'static str,
    pub scope_offline_access: &'static str,
    pub scope_roles: &'static str,
    pub scope_groups: &'static str,
    /// `{scope}`
    pub scope_other: &'static str,
    pub verify_email_failed_body: &'static str,
    pub resend_verification_button: &'static str,
    pub verification_resent_body: &'static str,
    pub sign_out_return_body: &'static str,
}

/// English: the complete table.
pub const EN: Strings = Strings {
    lang: "en",
    errors_heading: "There is a problem",
    sign_in_title: "Sign in",
    sign_in_heading: "Sign in to {product}",
    identifier_label: "Email or username",
    password_label: "Password",
    sign_in_button: "Sign in",
    error_identifier_missing: "Enter your email address or username.",
    error_password_missing: "Enter your password.",
    error_invalid_credentials: "The email, username or password is not correct.",
    error_throttled: "Too many attempts. Wait {seconds} seconds and try again.",
    error_form_expired: "This form has expired. It has been renewed: please submit it again.",
    error_unavailable: "The service is temporarily unavailable. Please try again in a moment.",
    error_email_not_verified: "Verify your email address before you sign in: follow the link in the email you received.",
    error_bad_request: "The form could not be read. Please try again.",
    second_factor_title: "Two-step verification",
    second_factor_intro: "Enter the 6-digit code from your authenticator app, or one of your backup codes.",
    code_label: "Verification code",
    code_hint: "6 digits, or a backup code such as ABCD-EFGH-JKLM.",
    verify_button: "Verify",
    error_code_missing: "Enter a code.",
    error_code_invalid: "That code is not correct or has already been used.",
    error_challenge_expired: "The sign-in took too long. Please sign in again.",
    start_over: "Sign in again",
    pending_title: "Account awaiting approval",
    pending_body: "Your account exists but an administrator has not approved it yet. You can sign in once it is approved.",
    disabled_title: "Account deactivated",
    disabled_body: "This account has been deactivated. Contact your administrator if you think this is a mistake.",
    banned_title: "Account suspended",
    banned_body: "This account is suspended until {until}.",
    banned_body_permanent: "This account is suspended.",
    signed_in_title: "Signed in",
    signed_in_body: "You are signed in as {name}.",
    sign_in_as_someone_else: "Sign in as someone else",
    sign_out_title: "Sign out",
    sign_out_question: "Sign out of {product}?",
    sign_out_everywhere_label: "Also sign out on every other device and application",
    sign_out_button: "Sign out",
    cancel: "Cancel",
    signed_out_title: "Signed out",
    signed_out_body: "You have signed out.",
    signed_out_everywhere_body: "You have signed out on every device and application.",
    sign_in_again: "Sign in again",
    not_signed_in_body: "You are not signed in.",
    error_title: "Something went wrong",
    not_found_body: "This page does not exist.",
    verify_email_title: "Verify your email address",
    verify_email_intro: "Confirm that this email address is yours.",
    verify_email_button: "Verify my email address",
    email_verified_body: "Your email address is verified. You can close this page.",
    link_invalid_body: "This link is invalid, has expired or has already been used. Ask for a new one.",
    reset_password_title: "Choose a new password",
    new_password_label: "New password",
    new_password_hint: "At least {min} characters.",
    confirm_password_label: "Repeat the new password",
    reset_password_button: "Change password",
    password_changed_body: "Your password has been changed and you have been signed out everywhere. Sign in with your new password.",
    error_password_mismatch: "The two passwords are not the same.",
    error_password_too_short: "The password must have at least {min} characters.",
    error_password_too_long: "The password must have at most 128 characters.",
    invitation_title: "Create your account",
    invitation_intro: "You have been invited to {product}.",
    name_label: "Name",
    email_label: "Email address",
    username_label: "Username",
    optional: "optional",
    create_account_button: "Create account",
    account_created_body: "Your account has been created. You can now sign in.",
    account_created_pending_body: "Your account has been created. An administrator must approve it before you can sign in.",
    error_email_invalid: "Enter a valid email address.",
    error_email_taken: "An account with this email address already exists.",
    error_email_not_invited: "Use the email address the invitation was sent to.",
    error_username_invalid: "A username may have 3 to 32 letters, digits, dots, dashes and underscores.",
    error_username_taken: "This username is already taken.",
    error_name_invalid: "The name is too long or contains characters that are not allowed.",
    consent_title: "Allow access?",
    consent_intro: "{client} is asking to:",
    consent_signed_in_as: "You are signed in as {name}.",
    consent_allow: "Allow",
    consent_deny: "Deny",
    scope_openid: "Know who you are",
    scope_profile: "See your name, username and picture",
    scope_email: "See your email address",
    scope_offline_access: "Keep access when you are not using it",
    scope_roles: "See your role",
    scope_groups: "See the groups you belong to",
    scope_other: "Use the permission “{scope}”",
    verify_email_failed_body: "This verification link has expired or has already been used. Enter your email address to get a new one.",
    resend_verification_button: "Send a new link",
    verification_resent_body: "If an account with this address still needs to be verified, a new link is on its way. Check your email.",
    sign_out_return_body: "You will then go back to the application you came from.",
};

/// German.
pub const DE: Strings = Strings {
    lang: "de",
    errors_heading: "Es gibt ein Problem",
    sign_in_title: "Anmelden",
    sign_in_heading: "Bei {product} anmelden",
    identifier_label: "E-Mail-Adresse oder Benutzername",
    password_label: "Passwort",
    sign_in_button: "Anmelden",
    error_identifier_missing: "Geben Sie Ihre E-Mail-Adresse oder Ihren Benutzernamen ein.",
    error_password_missing: "Geben Sie Ihr Passwort ein.",
    error_invalid_credentials: "E-Mail-Adresse, Benutzername oder Passwort sind nicht korrekt.",
    error_throttled: "Zu viele Versuche. Warten Sie {seconds} Sekunden und versuchen Sie es erneut.",
    error_form_expired: "Dieses Formular ist abgelaufen und wurde erneuert: Bitte senden Sie es noch einmal ab.",
    error_unavailable: "Der Dienst ist vorübergehend nicht erreichbar. Bitte versuchen Sie es gleich noch einmal.",
    second_factor_title: "Bestätigung in zwei Schritten",
    second_factor_intro: "Geben Sie den 6-stelligen Code aus Ihrer Authenticator-App oder einen Ihrer Backup-Codes ein.",
    code_label: "Bestätigungscode",
    code_hint: "6 Ziffern oder ein Backup-Code wie ABCD-EFGH-JKLM.",
    verify_button: "Bestätigen",
    error_code_missing: "Geben Sie einen Code ein.",
    error_code_invalid: "Dieser Code ist nicht korrekt oder wurde bereits verwendet.",
    error_challenge_expired: "Die Anmeldung hat zu lange gedauert. Bitte melden Sie sich erneut an.",
    start_over: "Erneut anmelden",
    pending_title: "Konto wartet auf Freigabe",
    pending_body: "Ihr Konto existiert, wurde aber noch nicht von einer Administratorin oder einem Administrator freigegeben.",
    disabled_title: "Konto deaktiviert",
    disabled_body: "Dieses Konto wurde deaktiviert. Wenden Sie sich an Ihre Administration, falls das ein Irrtum ist.",
    banned_title: "Konto gesperrt",
    banned_body: "Dieses Konto ist bis {until} gesperrt.",
    banned_body_permanent: "Dieses Konto ist gesperrt.",
    signed_in_title: "Angemeldet",
    signed_in_body: "Sie sind als {name} angemeldet.",
    sign_in_as_someone_else: "Als jemand anderes anmelden",
    sign_out_title: "Abmelden",
    sign_out_question: "Von {product} abmelden?",
    sign_out_everywhere_label: "Auch auf allen anderen Geräten und in allen Anwendungen abmelden",
    sign_out_button: "Abmelden",
    cancel: "Abbrechen",
    signed_out_title: "Abgemeldet",
    signed_out_body: "Sie haben sich abgemeldet.",
    signed_out_everywhere_body: "Sie haben sich auf allen Geräten und in allen Anwendungen abgemeldet.",
    sign_in_again: "Erneut anmelden",
    not_signed_in_body: "Sie sind nicht angemeldet.",
    error_title: "Etwas ist schiefgelaufen",
    not_found_body: "Diese Seite gibt es nicht.",
    new_password_label: "Neues Passwort",
    confirm_password_label: "Neues Passwort wiederholen",
    name_label: "Name",
    email_label: "E-Mail-Adresse",
    username_label: "Benutzername",
    optional: "optional",
    consent_title: "Zugriff erlauben?",
    consent_intro: "{client} möchte:",
    consent_allow: "Erlauben",
    consent_deny: "Ablehnen",
    verify_email_title: "E-Mail-Adresse bestätigen",
    verify_email_intro: "Bestätigen Sie, dass diese E-Mail-Adresse Ihnen gehört.",
    verify_email_button: "Meine E-Mail-Adresse bestätigen",
    email_verified_body: "Ihre E-Mail-Adresse ist bestätigt. Sie können diese Seite schließen.",
    link_invalid_body: "Dieser Link ist ungültig, abgelaufen oder wurde bereits verwendet. Fordern Sie einen neuen an.",
    verify_email_failed_body: "Dieser Bestätigungslink ist abgelaufen oder wurde bereits verwendet. Geben Sie Ihre E-Mail-Adresse ein, um einen neuen zu erhalten.",
    resend_verification_button: "Neuen Link senden",
    verification_resent_body: "Falls ein Konto mit dieser Adresse noch bestätigt werden muss, ist ein neuer Link unterwegs. Sehen Sie in Ihrem Postfach nach.",
    error_email_invalid: "Geben Sie eine gültige E-Mail-Adresse ein.",
    sign_out_return_body: "Danach kehren Sie zu der Anwendung zurück, von der Sie kamen.",
    ..EN
};

/// The languages there are tables for, the first the fallback.
pub const LANGUAGES: &[&Strings] = &[&EN, &DE];

/// The table for a request's `Accept-Language` (RFC 9110 §12.5.4): the supported language
/// with the highest weight (ties in the header's order), by primary subtag (`de-AT` is `de`);
/// none, or `*` first: English.
pub fn negotiate(accept_language: Option<&str>) -> &'static Strings {
    let Some(header) = accept_language else {
        return &EN;
    };
    let mut ranges: Vec<(u16, usize, &str)> = header
        .split(',')
        .enumerate()
        .filter_map(|(position, item)| {
            let mut parts = item.split(';');
            let tag = parts.next()?.trim();
            if tag.is_empty() {
                return None;
            }
            let mut weight = 1000u16;
            for parameter in parts {
                let (name, value) = parameter.split_once('=')?;
                if name.trim().eq_ignore_ascii_case("q") {
                    weight = parse_weight(value.trim())?;
                }
            }
            Some((weight, position, tag))
        })
        .filter(|(weight, _, _)| *weight > 0)
        .collect();
    ranges.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, _, tag) in ranges {
        if tag == "*" {
            return &EN;
        }
        let primary = tag.split('-').next().unwrap_or(tag);
        if let Some(strings) = LANGUAGES.iter().find(|s| s.lang.eq_ignore_ascii_case(primary)) {
            return strings;
        }
    }
    &EN
}

/// A quality value (`0`, `0.5`, `1.000`) in thousandths; None if malformed.
fn parse_weight(value: &str) -> Option<u16> {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths: u16 = format!("{fraction:0<3}").parse().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// `template` with each `{name}` replaced by its value.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chooses_by_weight_then_order_with_english_as_fallback() {
        assert_eq!(negotiate(None).lang, "en");
        assert_eq!(negotiate(Some("")).lang, "en");
        assert_eq!(negotiate(Some("de")).lang, "de");
        assert_eq!(negotiate(Some("de-AT,de;q=0.9,en;q=0.8")).lang, "de");
        assert_eq!(negotiate(Some("en-GB,de;q=0.9")).lang, "en");
        assert_eq!(negotiate(Some("fr-CH, fr;q=0.9, de;q=0.8")).lang, "de");
        assert_eq!(negotiate(Some("en;q=0.5, DE;q=0.7")).lang, "de");
        assert_eq!(negotiate(Some("de;q=0, en")).lang, "en");
        assert_eq!(negotiate(Some("*, de")).lang, "en");
        assert_eq!(negotiate(Some("ja")).lang, "en");
        // Malformed weights leave the range out rather than guess.
        assert_eq!(negotiate(Some("de;q=2, en;q=0.1")).lang, "en");
        assert_eq!(negotiate(Some("de;q=abc")).lang, "en");
    }

    #[test]
    fn a_missing_translation_falls_back_to_english() {
        assert_eq!(DE.sign_in_button, "Anmelden");
        assert_eq!(DE.scope_groups, EN.scope_groups);
    }

    #[test]
    fn fills_placeholders() {
        assert_eq!(fill(EN.sign_in_heading, &[("product", "Acme")]), "Sign in to Acme");
        assert_eq!(fill("{a} and {a}", &[("a", "x")]), "x and x");
    }
}
