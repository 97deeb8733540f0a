//! `roster healthcheck`: asks a running server's `GET /readyz` and exits 0 only on 200. For
//! container health checks where no HTTP client is installed (the distroless image).

use anyhow::Context;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// The route asked.
pub const READY_ROUTE: &str = "/readyz";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// host:port of the server (default: the `listen` setting, 0.0.0.0 and [::] asked on the
    /// loopback address).
    #[arg(long, value_name = "HOST:PORT")]
    address: Option<String>,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 5)]
    timeout: u64,
}

/// Where to ask for `listen`: an unspecified address is asked on the loopback one.
pub fn probe_address(listen: &str) -> anyhow::Result<SocketAddr> {
    let mut address = listen
        .to_socket_addrs()
        .with_context(|| format!("listen: {listen:?} is not an address"))?
        .next()
        .with_context(|| format!("listen: {listen:?} resolves to nothing"))?;
    if address.ip().is_unspecified() {
        address.set_ip(match address {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    Ok(address)
}

pub fn run(listen: &str, args: Args) -> anyhow::Result<()> {
    let address = probe_address(args.address.as_deref().unwrap_or(listen))?;
    let timeout = Duration::from_secs(args.timeout.max(1));
    let mut stream =
        TcpStream::connect_timeout(&address, timeout).with_context(|| format!("cannot connect to {address}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {READY_ROUTE} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nUser-Agent: roster-healthcheck\r\n\r\n"
    )?;
    let mut head = [0u8; 64];
    let read = stream
        .read(&mut head)
        .with_context(|| format!("no answer from {address}"))?;
    let line = String::from_utf8_lossy(&head[..read]);
    let status = line.split_whitespace().nth(1).unwrap_or("?");
    if status == "200" {
        println!("ready ({address}{READY_ROUTE}: 200)");
        Ok(())
    } else {
        anyhow::bail!("not ready: {address}{READY_ROUTE} answered {status}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_addresses_are_asked_on_the_loopback() {
        assert_eq!(probe_address("0.0.0.0:8480").ok(), "127.0.0.1:8480".parse().ok());
        assert_eq!(probe_address("[::]:8480").ok(), "[::1]:8480".parse().ok());
        assert_eq!(probe_address("10.1.2.3:80").ok(), "10.1.2.3:80".parse().ok());
        assert!(probe_address("nonsense").is_err());
    }
}
