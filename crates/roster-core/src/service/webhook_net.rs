//! Where webhooks may go. By default only to public addresses: a subscription may not point
//! Roster at itself, its host's other services, the private network it sits in, or a cloud
//! metadata service. The rule is checked on the URL when a subscription is made, and on every
//! address the receiver's name resolves to when a delivery is sent (a name that resolved to a
//! public address at subscription time may resolve elsewhere later): the transport connects
//! only to addresses that passed.
//!
//! `webhook_allow_private_networks` lets loopback, private (RFC 1918, ULA `fc00::/7`, CGNAT
//! `100.64.0.0/10`) and link-local addresses through, for receivers on the same host or
//! network; unspecified, multicast, broadcast, reserved and documentation addresses and the
//! metadata services stay refused either way.

use crate::error::{Error, Result};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Which addresses deliveries may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AddressPolicy {
    /// Loopback, private and link-local addresses too.
    pub allow_private: bool,
}

/// Why an address is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Allowed only with `webhook_allow_private_networks` (loopback, private, link-local).
    Private,
    /// Never: unspecified, multicast, broadcast, reserved, documentation, metadata services.
    Never,
}

impl Refusal {
    /// The reason shown to whoever made the subscription.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Private => {
                "points to a loopback, private or link-local address, which webhooks may reach only with webhook_allow_private_networks"
            }
            Refusal::Never => {
                "points to an unspecified, multicast, reserved or cloud metadata address, which webhooks may not reach"
            }
        }
    }
}

/// The cloud metadata services (AWS, GCP, Azure, OpenStack, Oracle: 169.254.169.254; Alibaba:
/// 100.100.100.200; AWS over IPv6: fd00:ec2::254).
fn is_metadata(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4 == Ipv4Addr::new(169, 254, 169, 254) || v4 == Ipv4Addr::new(100, 100, 100, 200),
        IpAddr::V6(v6) => v6 == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<Refusal> {
    let [a, b, c, _] = ip.octets();
    if is_metadata(IpAddr::V4(ip)) {
        return Some(Refusal::Never);
    }
    let never = a == 0 // "this network", 0.0.0.0 included (it reaches the local host)
        || ip.is_multicast()
        || ip.is_broadcast()
        || a >= 240 // reserved
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || ip.is_documentation();
    if never {
        return Some(Refusal::Never);
    }
    let private = ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64.0.0/10
        || (a == 198 && (b == 18 || b == 19)); // benchmarking 198.18.0.0/15
    private.then_some(Refusal::Private)
}

/// The IPv4 address an IPv6 one stands for: mapped (`::ffff:a.b.c.d`), compatible
/// (`::a.b.c.d`), NAT64 (`64:ff9b::/96`) and 6to4 (`2002:AABB:CCDD::/48`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    if s[..6] == [0, 0, 0, 0, 0, 0] && !(ip.is_unspecified() || ip.is_loopback()) {
        return Some(tail);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(tail);
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    None
}

fn classify_v6(ip: Ipv6Addr) -> Option<Refusal> {
    if let Some(v4) = embedded_v4(ip) {
        return classify_v4(v4);
    }
    let s = ip.segments();
    if is_metadata(IpAddr::V6(ip))
        || ip.is_unspecified()
        || ip.is_multicast()
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x2001 && s[1] == 0) // Teredo: hides an IPv4 address
        || (s[0] & 0xfe00) == 0x0000 && !ip.is_loopback()
    // the rest of ::/7 (reserved)
    {
        return Some(Refusal::Never);
    }
    let private = ip.is_loopback()
        || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0; // site-local fec0::/10 (deprecated)
    private.then_some(Refusal::Private)
}

/// Whether deliveries may reach `ip` under `policy`; why not otherwise.
pub fn check_ip(ip: IpAddr, policy: AddressPolicy) -> std::result::Result<(), Refusal> {
    let refusal = match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    };
    match refusal {
        None => Ok(()),
        Some(Refusal::Private) if policy.allow_private => Ok(()),
        Some(r) => Err(r),
    }
}

/// Names that are internal whatever DNS says: `localhost` and `*.localhost` (RFC 6761,
/// loopback), and the GCP metadata server's name.
fn check_name(host: &str, policy: AddressPolicy) -> std::result::Result<(), Refusal> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host == "metadata.google.internal" {
        return Err(Refusal::Never);
    }
    if (host == "localhost" || host.ends_with(".localhost")) && !policy.allow_private {
        return Err(Refusal::Private);
    }
    Ok(())
}

/// Checks a webhook URL as far as it can be without resolving its name: `http` or `https`
/// with a host, no credentials (`user:password@`), and an address literal (in any form the
/// URL standard reads: `2130706433`, `0x7f000001`, `[::ffff:127.0.0.1]`...) or a name that
/// `policy` allows. Errors name the field `url` and never repeat the URL.
pub fn check_url(url: &url::Url, policy: AddressPolicy) -> Result<()> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::invalid("url", "must be an http:// or https:// URL with a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::invalid(
            "url",
            "must not carry credentials (user:password@); authenticate the receiver with the signature",
        ));
    }
    let checked = match url.host() {
        None => return Err(Error::invalid("url", "must be an http:// or https:// URL with a host")),
        Some(url::Host::Domain("")) => {
            return Err(Error::invalid("url", "must be an http:// or https:// URL with a host"));
        }
        Some(url::Host::Domain(name)) => check_name(name, policy),
        Some(url::Host::Ipv4(ip)) => check_ip(IpAddr::V4(ip), policy),
        Some(url::Host::Ipv6(ip)) => check_ip(IpAddr::V6(ip), policy),
    };
    checked.map_err(|r| Error::invalid("url", r.reason()))
}

/// `url` without its credentials, for showing (subscriptions made before they were refused).
pub fn without_credentials(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) if !url.username().is_empty() || url.password().is_some() => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.to_string()
        }
        _ => raw.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: AddressPolicy = AddressPolicy { allow_private: false };
    const OPEN: AddressPolicy = AddressPolicy { allow_private: true };

    fn url_ok(raw: &str, policy: AddressPolicy) -> bool {
        check_url(&url::Url::parse(raw).unwrap(), policy).is_ok()
    }

    #[test]
    fn internal_forms_are_refused_by_default() {
        for raw in [
            "http://127.0.0.1/",
            "http://127.1/",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://0177.0.0.1/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://[64:ff9b::7f00:1]/",
            "http://[2002:7f00:1::]/",
            "http://localhost:8480/",
            "http://LOCALHOST./",
            "http://api.localhost/",
            "http://10.0.0.5/",
            "http://172.16.3.4/",
            "http://192.168.1.1/",
            "http://100.64.0.1/",
            "http://169.254.10.10/",
            "http://[fd12:3456::1]/",
            "http://[fe80::1]/",
            "http://0.0.0.0/",
            "http://[::]/",
            "http://224.0.0.1/",
            "http://255.255.255.255/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[fd00:ec2::254]/",
            "http://100.100.100.200/",
            "http://metadata.google.internal/",
        ] {
            assert!(!url_ok(raw, STRICT), "{raw} passed");
        }
        for raw in [
            "https://hooks.example.org/x",
            "http://93.184.215.14/",
            "http://[2606:4700::1111]/",
        ] {
            assert!(url_ok(raw, STRICT), "{raw} refused");
        }
    }

    #[test]
    fn the_setting_allows_private_networks_but_never_metadata() {
        for raw in [
            "http://127.0.0.1:9000/",
            "http://localhost/",
            "http://10.1.2.3/",
            "http://[::1]/",
            "http://[fd12::1]/",
        ] {
            assert!(url_ok(raw, OPEN), "{raw} refused");
        }
        for raw in [
            "http://169.254.169.254/",
            "http://[::ffff:169.254.169.254]/",
            "http://0.0.0.0/",
            "http://[::]/",
            "http://224.0.0.1/",
            "http://metadata.google.internal/",
        ] {
            assert!(!url_ok(raw, OPEN), "{raw} passed");
        }
    }

    #[test]
    fn credentials_are_refused_and_never_echoed() {
        let e = check_url(&url::Url::parse("https://user:pass@hooks.example.org/").unwrap(), OPEN).unwrap_err();
        assert_eq!(e.field(), Some("url"));
        assert!(!e.to_string().contains("pass@"), "{e}");
        assert!(!url_ok("https://user@hooks.example.org/", OPEN));
        assert_eq!(
            without_credentials("https://user:pass@hooks.example.org/x"),
            "https://hooks.example.org/x"
        );
        assert_eq!(
            without_credentials("https://hooks.example.org/x"),
            "https://hooks.example.org/x"
        );
    }
}
