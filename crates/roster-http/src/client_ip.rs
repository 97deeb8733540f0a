//! The client's address behind load balancers: `X-Forwarded-For` is believed only when the
//! connection comes from a trusted proxy, and then read from the right (the entries a proxy
//! appended), skipping trusted proxies, so a client cannot choose its own address by sending
//! the header itself.

use axum::http::HeaderMap;
use std::net::IpAddr;

/// An address block: `10.0.0.0/8`, `fd00::/8`, or one address (`192.0.2.1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    address: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// Whether `ip` is in the block (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.address, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl std::str::FromStr for IpNet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (address, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let address: IpAddr = address
            .parse()
            .map_err(|_| format!("`{s}` is not an IP address or CIDR block"))?;
        let address = canonical(address);
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{s}`: the prefix length must be 0 to {max}"))?,
            None => max,
        };
        Ok(IpNet { address, prefix })
    }
}

/// The client's address: the peer's, or, when the peer is a trusted proxy, the right-most
/// `X-Forwarded-For` entry that is not itself a trusted proxy. `trust_any_peer` (the older
/// `trust_forwarded_for` setting without a proxy list) treats the peer as the one proxy.
pub fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpNet], trust_any_peer: bool) -> Option<String> {
    client_addr(peer, headers, trusted, trust_any_peer).map(|ip| ip.to_string())
}

/// As [`client_ip`], the address itself (IPv4-mapped IPv6 addresses as IPv4).
pub fn client_addr(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted: &[IpNet],
    trust_any_peer: bool,
) -> Option<IpAddr> {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    let peer_trusted = peer.is_some_and(|p| {
        if trusted.is_empty() {
            trust_any_peer
        } else {
            is_trusted(p)
        }
    });
    if peer_trusted {
        let hops: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|hop| parse_hop(hop.trim()))
            .collect();
        if let Some(client) = hops.iter().rev().find(|ip| !is_trusted(**ip)).or(hops.first()) {
            return Some(canonical(*client));
        }
    }
    peer.map(canonical)
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:5`, `[::1]:5`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse() {
        return Some(ip);
    }
    if let Ok(socket) = hop.parse::<std::net::SocketAddr>() {
        return Some(socket.ip());
    }
    hop.trim_start_matches('[').trim_end_matches(']').parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", xff.parse().unwrap());
        h
    }

    #[test]
    fn blocks_contain_addresses() {
        let net: IpNet = "10.0.0.0/8".parse().unwrap();
        assert!(net.contains("10.1.2.3".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
        let one: IpNet = "192.0.2.1".parse().unwrap();
        assert!(one.contains("192.0.2.1".parse().unwrap()));
        assert!(!one.contains("192.0.2.2".parse().unwrap()));
        let v6: IpNet = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!(
            "0.0.0.0/0"
                .parse::<IpNet>()
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
        assert!("10.0.0.0/33".parse::<IpNet>().is_err());
        assert!("example.org".parse::<IpNet>().is_err());
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let proxy = Some("10.0.0.5".parse().unwrap());
        let stranger = Some("203.0.113.9".parse().unwrap());
        // The client's own (forged) entry comes first; the proxy appended the real address.
        let h = headers("6.6.6.6, 198.51.100.7");
        assert_eq!(client_ip(proxy, &h, &trusted, false).as_deref(), Some("198.51.100.7"));
        assert_eq!(client_ip(stranger, &h, &trusted, false).as_deref(), Some("203.0.113.9"));
        // Chains of trusted proxies are skipped.
        let h = headers("198.51.100.7, 10.0.0.9");
        assert_eq!(client_ip(proxy, &h, &trusted, false).as_deref(), Some("198.51.100.7"));
        // Without a list, nothing is believed unless every peer is trusted.
        assert_eq!(client_ip(proxy, &h, &[], false).as_deref(), Some("10.0.0.5"));
        assert_eq!(
            client_ip(proxy, &headers("198.51.100.7:4711"), &[], true).as_deref(),
            Some("198.51.100.7")
        );
        assert_eq!(
            client_ip(proxy, &HeaderMap::new(), &trusted, false).as_deref(),
            Some("10.0.0.5")
        );
    }
}
