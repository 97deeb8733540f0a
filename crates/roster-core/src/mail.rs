//! Sending mail: over SMTP when configured; otherwise the caller logs the link instead.

use crate::error::{Error, Result};
use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

/// One message, with a plain-text and an HTML body.
#[derive(Debug, Clone, PartialEq)]
pub struct MailMessage {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Something that delivers mail.
#[async_trait]
pub trait Mailer: Send + Sync + 'static {
    /// Sends one message.
    async fn send(&self, message: &MailMessage) -> Result<()>;
}

/// Delivers mail to an SMTP server (`smtp://[user:password@]host[:port]`, no TLS: a relay on
/// the same host or network).
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// A mailer for the server at `url`, sending from `from`.
    pub fn new(url: &str, from: &str) -> Result<Self> {
        let bad = |why: &str| {
            Error::invalid(
                "smtp_url",
                format!("{why} (expected smtp://[user:password@]host[:port][?tls=starttls] or smtps://...)"),
            )
        };
        // smtp:// plain (or `?tls=starttls`, STARTTLS required); smtps:// TLS from the start.
        let (implicit_tls, rest) = match (url.strip_prefix("smtp://"), url.strip_prefix("smtps://")) {
            (Some(rest), _) => (false, rest),
            (None, Some(rest)) => (true, rest),
            (None, None) => return Err(bad("the scheme must be smtp:// or smtps://")),
        };
        let starttls = !implicit_tls
            && url
                .split_once('?')
                .is_some_and(|(_, q)| q.split('&').any(|p| p == "tls=starttls"));
        let rest = rest.split(['/', '?']).next().unwrap_or_default();
        let (credentials, host_port) = match rest.rsplit_once('@') {
            Some((c, h)) => (Some(c), h),
            None => (None, rest),
        };
        let default_port = if implicit_tls {
            465
        } else if starttls {
            587
        } else {
            25
        };
        let (host, port) = match host_port.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().map_err(|_| bad("the port is not a number"))?),
            None => (host_port, default_port),
        };
        if host.is_empty() {
            return Err(bad("the host is missing"));
        }
        let tls_error = |e: lettre::transport::smtp::Error| bad(&format!("TLS set-up failed: {e}"));
        let mut builder = if implicit_tls {
            AsyncSmtpTransport::<Tokio1Executor>::relay(host)
                .map_err(tls_error)?
                .port(port)
        } else if starttls {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
                .map_err(tls_error)?
                .port(port)
        } else {
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host).port(port)
        };
        if let Some(c) = credentials {
            let (user, password) = c.split_once(':').unwrap_or((c, ""));
            builder = builder.credentials(lettre::transport::smtp::authentication::Credentials::new(
                user.to_string(),
                password.to_string(),
            ));
        }
        let transport = builder.build();
        let from = from
            .parse::<Mailbox>()
            .map_err(|e| Error::invalid("mail_from", format!("is not a mail address: {e}")))?;
        Ok(Self { transport, from })
    }
}

impl SmtpMailer {
    /// Connects, says EHLO (and STARTTLS or TLS as configured) and quits: whether the server
    /// would take mail (for `roster doctor`).
    pub async fn check(&self) -> std::result::Result<(), String> {
        match tokio::time::timeout(std::time::Duration::from_secs(10), self.transport.test_connection()).await {
            Ok(Ok(true)) => Ok(()),
            Ok(Ok(false)) => Err("the server did not answer EHLO".into()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("no answer within 10 s".into()),
        }
    }
}

/// Escapes text for HTML.
pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, message: &MailMessage) -> Result<()> {
        let to = message
            .to
            .parse::<Mailbox>()
            .map_err(|e| Error::invalid("email", format!("is not a mail address: {e}")))?;
        let email = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(message.subject.clone())
            .multipart(MultiPart::alternative_plain_html(
                message.text.clone(),
                message.html.clone(),
            ))
            .map_err(|e| Error::Internal(anyhow::anyhow!("building a mail message: {e}")))?;
        self.transport
            .send(email)
            .await
            .map_err(|e| Error::Internal(anyhow::anyhow!("sending mail over SMTP: {e}")))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn smtp_urls() {
        for ok in [
            "smtp://localhost:2525",
            "smtp://user:secret@mail.example.org",
            "smtp://mail.example.org?tls=starttls",
            "smtps://user:secret@mail.example.org:465",
        ] {
            assert!(SmtpMailer::new(ok, "Roster <roster@example.org>").is_ok(), "{ok}");
        }
        for bad in [
            "http://mail.example.org",
            "smtp://",
            "smtp://host:port",
            "mail.example.org",
        ] {
            let e = SmtpMailer::new(bad, "roster@example.org").unwrap_err();
            assert_eq!(e.field(), Some("smtp_url"), "{bad}");
        }
        assert_eq!(
            SmtpMailer::new("smtp://h", "not an address").unwrap_err().field(),
            Some("mail_from")
        );
    }
}
