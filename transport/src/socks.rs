//! A SOCKS5 client (RFC 1928, with the username/password method of RFC 1929), for reaching
//! relays through Tor or another SOCKS proxy. Host names are sent to the proxy unresolved, so
//! `.onion` addresses work and no DNS query leaves this machine.
//!
//! With [`SocksAuth::Isolate`] every connection offers fresh random credentials: Tor then puts
//! each on its own circuit (`IsolateSOCKSAuth`), as the reference clients do; proxies that need
//! no authentication just pick "no authentication".

use std::net::{IpAddr, SocketAddr};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Where the SOCKS proxy is and how to authenticate to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocksProxy {
    /// The proxy's address (Tor: 127.0.0.1:9050).
    pub addr: SocketAddr,
    /// What to offer.
    pub auth: SocksAuth,
}

/// Credentials for the proxy.
#[derive(Clone, PartialEq, Eq)]
pub enum SocksAuth {
    /// No authentication only.
    None,
    /// Random credentials per connection (circuit isolation), or none if the proxy prefers.
    Isolate,
    /// These credentials (user, password: 1-255 bytes each).
    Fixed(Vec<u8>, Vec<u8>),
}

impl std::fmt::Debug for SocksAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Isolate => f.write_str("Isolate"),
            Self::Fixed(..) => f.write_str("Fixed(<credentials>)"),
        }
    }
}

impl SocksProxy {
    /// The default for `-x`: Tor on 127.0.0.1:9050 with circuit isolation.
    pub fn tor_default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 9050)),
            auth: SocksAuth::Isolate,
        }
    }

    /// Parses `host:port` or `[v6]:port` (an IP address; the proxy itself is never looked
    /// up), isolating circuits; a bare address gets port 9050.
    pub fn parse(s: &str) -> Result<Self, String> {
        let addr = s
            .parse::<SocketAddr>()
            .or_else(|_| s.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 9050)))
            .map_err(|_| format!("{s:?} is not a SOCKS proxy address (ip:port)"))?;
        Ok(Self {
            addr,
            auth: SocksAuth::Isolate,
        })
    }
}

fn fail(what: impl Into<String>) -> std::io::Error {
    std::io::Error::other(format!("SOCKS5: {}", what.into()))
}

/// Why a SOCKS5 CONNECT failed (RFC 1928 section 6).
fn reply_error(code: u8) -> &'static str {
    match code {
        1 => "general failure",
        2 => "connection not allowed by the proxy's rules",
        3 => "network unreachable",
        4 => "host unreachable",
        5 => "connection refused",
        6 => "TTL expired",
        7 => "command not supported",
        8 => "address type not supported",
        _ => "unknown error",
    }
}

/// Connects to `host:port` through the proxy; returns the stream, ready for TLS.
pub async fn connect(proxy: &SocksProxy, host: &str, port: u16) -> std::io::Result<TcpStream> {
    let mut s = TcpStream::connect(proxy.addr).await.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("SOCKS5: cannot connect to the proxy at {}: {e}", proxy.addr),
        )
    })?;
    let _ = s.set_nodelay(true);
    let creds = match &proxy.auth {
        SocksAuth::None => None,
        SocksAuth::Isolate => {
            let mut r = [0u8; 16];
            simplex_crypto::random_bytes(&mut r);
            let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
            Some((hex(&r[..8]).into_bytes(), hex(&r[8..]).into_bytes()))
        }
        SocksAuth::Fixed(u, p) => Some((u.clone(), p.clone())),
    };
    let greeting: &[u8] = if creds.is_some() {
        &[5, 2, 0, 2]
    } else {
        &[5, 1, 0]
    };
    s.write_all(greeting).await?;
    let mut choice = [0u8; 2];
    s.read_exact(&mut choice).await?;
    if choice[0] != 5 {
        return Err(fail("the proxy does not speak SOCKS5"));
    }
    match (choice[1], &creds) {
        (0, _) => {}
        (2, Some((user, pass))) => {
            let (Ok(ul), Ok(pl)) = (u8::try_from(user.len()), u8::try_from(pass.len())) else {
                return Err(fail("credentials longer than 255 bytes"));
            };
            if ul == 0 || pl == 0 {
                return Err(fail("empty user name or password"));
            }
            let mut msg = vec![1, ul];
            msg.extend_from_slice(user);
            msg.push(pl);
            msg.extend_from_slice(pass);
            s.write_all(&msg).await?;
            let mut status = [0u8; 2];
            s.read_exact(&mut status).await?;
            if status[1] != 0 {
                return Err(fail("the proxy refused the credentials"));
            }
        }
        _ => {
            return Err(fail(
                "the proxy accepts none of the offered authentication methods",
            ))
        }
    }
    let mut req = vec![5, 1, 0];
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => {
            req.push(1);
            req.extend_from_slice(&ip.octets());
        }
        Ok(IpAddr::V6(ip)) => {
            req.push(4);
            req.extend_from_slice(&ip.octets());
        }
        Err(_) => {
            let len = u8::try_from(host.len())
                .ok()
                .filter(|&l| l > 0)
                .ok_or_else(|| fail("host name empty or longer than 255 bytes"))?;
            req.push(3);
            req.push(len);
            req.extend_from_slice(host.as_bytes());
        }
    }
    req.extend_from_slice(&port.to_be_bytes());
    s.write_all(&req).await?;
    let mut head = [0u8; 4];
    s.read_exact(&mut head).await?;
    if head[0] != 5 {
        return Err(fail("bad reply"));
    }
    if head[1] != 0 {
        return Err(fail(format!(
            "cannot reach {host}:{port}: {}",
            reply_error(head[1])
        )));
    }
    // The address the proxy bound: skipped.
    let skip = match head[3] {
        1 => 4,
        4 => 16,
        3 => usize::from(s.read_u8().await?),
        _ => return Err(fail("bad address type in the reply")),
    };
    let mut rest = vec![0u8; skip + 2];
    s.read_exact(&mut rest).await?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_addresses_parse() {
        assert_eq!(
            SocksProxy::parse("127.0.0.1:9150").unwrap().addr,
            "127.0.0.1:9150".parse().unwrap()
        );
        assert_eq!(SocksProxy::parse("::1").unwrap().addr.port(), 9050);
        assert!(SocksProxy::parse("tor.example:9050").is_err());
        assert_eq!(SocksProxy::tor_default().addr.port(), 9050);
        assert!(!format!("{:?}", SocksAuth::Fixed(b"u".to_vec(), b"p".to_vec())).contains('p'));
    }
}
