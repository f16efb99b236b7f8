//! XFTP server addresses: `xftp://<base64url key hash>[:<password>]@<host>[,<host>...][:<port>]`.
//!
//! The key hash is the SHA-256 of the server's CA certificate (its identity); the password
//! (basic auth) is only needed to create files and never appears in descriptions. Hosts can be
//! IPv4, `[IPv6]`, `.onion` or domain names. Without a port the default (443) applies.

use std::cmp::Ordering;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::error::AddressError;
use simplex_codec::base64url;

/// Port used when an address has none.
pub const DEFAULT_PORT: u16 = 443;
/// Longest address text accepted.
pub const MAX_ADDRESS_LEN: usize = 2048;

/// One host of a server. The variant order is the reference's, which decides how replica
/// groups are ordered in descriptions.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TransportHost {
    /// Dotted IPv4.
    Ipv4([u8; 4]),
    /// IPv6 (written in brackets).
    Ipv6([u16; 8]),
    /// A Tor `.onion` name.
    Onion(String),
    /// A DNS name.
    Domain(String),
}

impl TransportHost {
    fn parse(text: &str) -> Option<Self> {
        if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            return inner
                .parse::<Ipv6Addr>()
                .ok()
                .map(|a| Self::Ipv6(a.segments()));
        }
        if let Ok(a) = text.parse::<Ipv4Addr>() {
            return Some(Self::Ipv4(a.octets()));
        }
        if let Ok(a) = text.parse::<Ipv6Addr>() {
            return Some(Self::Ipv6(a.segments()));
        }
        let valid = !text.is_empty()
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
        if !valid {
            return None;
        }
        Some(if text.ends_with(".onion") {
            Self::Onion(text.to_string())
        } else {
            Self::Domain(text.to_string())
        })
    }

    /// The host as it is written in an address (IPv6 in brackets).
    pub fn to_address_string(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for TransportHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ipv4(o) => write!(f, "{}", Ipv4Addr::from(*o)),
            Self::Ipv6(s) => write!(f, "[{}]", Ipv6Addr::from(*s)),
            Self::Onion(h) | Self::Domain(h) => f.write_str(h),
        }
    }
}

/// A server as descriptions name it: identity, hosts and port (no password).
///
/// Ordering follows the reference's derived order (hosts, then port text, then key hash), which
/// is the order of replica groups in a description.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct XftpServer {
    /// SHA-256 of the CA certificate (any non-empty length is carried; 32 bytes in practice).
    pub key_hash: Vec<u8>,
    /// At least one host; the first is the one clients use unless it fails.
    pub hosts: Vec<TransportHost>,
    /// The port as written (empty for the default), kept as text so addresses re-format exactly.
    pub port: String,
}

impl XftpServer {
    /// The first host.
    pub fn host(&self) -> &TransportHost {
        &self.hosts[0]
    }

    /// The port to connect to (the default if none is written).
    pub fn port_number(&self) -> u16 {
        self.port.parse().unwrap_or(DEFAULT_PORT)
    }

    /// `xftp://keyhash@first-host:port` with the effective port: the single-host form.
    pub fn primary_address(&self) -> String {
        format!(
            "xftp://{}@{}:{}",
            base64url::encode(&self.key_hash),
            self.host(),
            self.port_number()
        )
    }

    fn write_hosts_port(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, h) in self.hosts.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{h}")?;
        }
        if !self.port.is_empty() {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

impl PartialOrd for XftpServer {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for XftpServer {
    fn cmp(&self, other: &Self) -> Ordering {
        self.hosts
            .cmp(&other.hosts)
            .then_with(|| self.port.cmp(&other.port))
            .then_with(|| self.key_hash.cmp(&other.key_hash))
    }
}

impl fmt::Display for XftpServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "xftp://{}@", base64url::encode(&self.key_hash))?;
        self.write_hosts_port(f)
    }
}

impl FromStr for XftpServer {
    type Err = AddressError;

    /// Parses an address without a password (as in descriptions).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let a: ServerAddress = s.parse()?;
        if a.password.is_some() {
            return Err(AddressError::new(s, "a password is not allowed here"));
        }
        Ok(a.server)
    }
}

/// A server address as users give it: the server plus an optional password for creating files.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ServerAddress {
    /// Identity, hosts, port.
    pub server: XftpServer,
    /// Basic-auth password for FNEW.
    pub password: Option<String>,
}

impl fmt::Debug for ServerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerAddress")
            .field("server", &self.server.to_string())
            .field("password", &self.password.as_ref().map(|_| "<secret>"))
            .finish()
    }
}

impl fmt::Display for ServerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "xftp://{}", base64url::encode(&self.server.key_hash))?;
        if let Some(p) = &self.password {
            write!(f, ":{p}")?;
        }
        f.write_str("@")?;
        self.server.write_hosts_port(f)
    }
}

impl FromStr for ServerAddress {
    type Err = AddressError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |reason| AddressError::new(input, reason);
        if input.len() > MAX_ADDRESS_LEN {
            return Err(err("too long"));
        }
        let rest = input
            .strip_prefix("xftp://")
            .ok_or(err("must start with xftp://"))?;
        let (auth, location) = rest.split_once('@').ok_or(err("missing '@'"))?;
        let (hash_text, password) = match auth.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (auth, None),
        };
        let key_hash = base64url::decode(hash_text).ok_or(err("key hash is not base64url"))?;
        let password = match password {
            None => None,
            Some(p) if valid_password(p) => Some(p.to_string()),
            Some(_) => return Err(err("invalid password characters")),
        };
        let (hosts_text, port) = split_port(location).ok_or(err("invalid port"))?;
        let hosts = hosts_text
            .split(',')
            .map(TransportHost::parse)
            .collect::<Option<Vec<_>>>()
            .ok_or(err("invalid host"))?;
        if hosts.is_empty() {
            return Err(err("no host"));
        }
        Ok(Self {
            server: XftpServer {
                key_hash,
                hosts,
                port: port.to_string(),
            },
            password,
        })
    }
}

/// Printable ASCII without whitespace, `@`, `:` or `/`, as the reference allows.
fn valid_password(p: &str) -> bool {
    !p.is_empty()
        && p.bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'@' | b':' | b'/'))
}

/// Splits `hosts[:port]`, leaving bracketed or bare IPv6 hosts intact.
fn split_port(location: &str) -> Option<(&str, &str)> {
    let last_start = location.rfind(',').map_or(0, |i| i + 1);
    let last = &location[last_start..];
    let port_sep = if last.starts_with('[') {
        // `[v6]` or `[v6]:port`
        let after = last.find(']')? + 1;
        match last[after..].chars().next() {
            None => None,
            Some(':') => Some(last_start + after),
            Some(_) => return None,
        }
    } else if last.matches(':').count() > 1 {
        None // a bare IPv6 address takes no port
    } else {
        last.rfind(':').map(|i| last_start + i)
    };
    match port_sep {
        None => Some((location, "")),
        Some(i) => {
            let port = &location[i + 1..];
            let ok = !port.is_empty()
                && port.len() <= 5
                && port.bytes().all(|b| b.is_ascii_digit())
                && port.parse::<u16>().is_ok_and(|p| p > 0);
            ok.then_some((&location[..i], port))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats() {
        let a: ServerAddress = "xftp://abc=:hunter2@example1.com,[::1]:8443"
            .parse()
            .unwrap();
        assert_eq!(a.password.as_deref(), Some("hunter2"));
        assert_eq!(a.server.hosts.len(), 2);
        assert_eq!(a.server.port, "8443");
        assert_eq!(a.to_string(), "xftp://abc=:hunter2@example1.com,[::1]:8443");
        assert!(!format!("{a:?}").contains("hunter2"));
        let s: XftpServer = "xftp://abc=@example1.com".parse().unwrap();
        assert_eq!(s.port_number(), 443);
        assert_eq!(s.to_string(), "xftp://abc=@example1.com");
        let v6: XftpServer = "xftp://abc=@[2001:db8::1]".parse().unwrap();
        assert_eq!(v6.port, "");
        assert_eq!(v6.to_string(), "xftp://abc=@[2001:db8::1]");
    }

    #[test]
    fn rejects_bad_addresses() {
        for bad in [
            "smp://abc=@host",
            "xftp://abc=host",
            "xftp://@host",
            "xftp://a+c=@host",
            "xftp://abc=@",
            "xftp://abc=@host:",
            "xftp://abc=@host:99999",
            "xftp://abc=@host:0",
            "xftp://abc=@ho st",
            "xftp://abc=@a,,b",
            "xftp://abc=:p w@host",
        ] {
            assert!(bad.parse::<ServerAddress>().is_err(), "{bad}");
        }
        assert!("xftp://abc=:pw@host".parse::<XftpServer>().is_err());
    }

    #[test]
    fn order_is_the_references() {
        let p = |s: &str| s.parse::<XftpServer>().unwrap();
        let mut v = [
            p("xftp://abc=@zz.onion"),
            p("xftp://abc=@b.com"),
            p("xftp://abc=@[::1]"),
            p("xftp://abc=@10.0.0.1"),
            p("xftp://abc=@a.com:9"),
            p("xftp://abc=@a.com:10"),
        ];
        v.sort();
        let names: Vec<String> = v.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            names,
            [
                "xftp://abc=@10.0.0.1",
                "xftp://abc=@[::1]",
                "xftp://abc=@zz.onion",
                "xftp://abc=@a.com:10",
                "xftp://abc=@a.com:9",
                "xftp://abc=@b.com"
            ]
        );
    }
}
