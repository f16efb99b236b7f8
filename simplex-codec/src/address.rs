//! SimpleX server addresses as text: `<scheme>://<base64url key hash>[:<password>]@<host>[,<host>...][:<port>]`
//! (`xftp://`, `smp://`). The key hash is the SHA-256 of the server's CA certificate; the
//! password (basic auth) is only needed to create queues or files. Hosts can be IPv4,
//! `[IPv6]`, `.onion` or domain names; the port, when written, applies to every host.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::base64url;

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
    /// Parses one host as addresses write it.
    pub fn parse(text: &str) -> Option<Self> {
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

/// The parts of an address.
#[derive(Clone, PartialEq, Eq)]
pub struct ParsedAddress {
    /// SHA-256 of the CA certificate.
    pub key_hash: Vec<u8>,
    /// The basic-auth password, if written.
    pub password: Option<String>,
    /// At least one host.
    pub hosts: Vec<TransportHost>,
    /// The port as written (empty when none).
    pub port: String,
}

impl fmt::Debug for ParsedAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedAddress")
            .field("hosts", &self.hosts)
            .field("port", &self.port)
            .field("password", &self.password.as_ref().map(|_| "<secret>"))
            .finish_non_exhaustive()
    }
}

/// Parses `<scheme>://...`; the error says what is wrong.
pub fn parse(input: &str, scheme: &str) -> Result<ParsedAddress, &'static str> {
    if input.len() > MAX_ADDRESS_LEN {
        return Err("too long");
    }
    let rest = input
        .strip_prefix(scheme)
        .and_then(|r| r.strip_prefix("://"))
        .ok_or("wrong scheme")?;
    let (auth, location) = rest.split_once('@').ok_or("missing '@'")?;
    let (hash_text, password) = match auth.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (auth, None),
    };
    let key_hash = base64url::decode(hash_text).ok_or("key hash is not base64url")?;
    if key_hash.is_empty() {
        return Err("empty key hash");
    }
    let password = match password {
        None => None,
        Some(p) if valid_password(p) => Some(p.to_string()),
        Some(_) => return Err("invalid password characters"),
    };
    let (hosts_text, port) = split_port(location).ok_or("invalid port")?;
    let hosts = hosts_text
        .split(',')
        .map(TransportHost::parse)
        .collect::<Option<Vec<_>>>()
        .ok_or("invalid host")?;
    if hosts.is_empty() {
        return Err("no host");
    }
    Ok(ParsedAddress {
        key_hash,
        password,
        hosts,
        port: port.to_string(),
    })
}

/// Writes `<scheme>://<key hash>[:<password>]@<hosts>[:<port>]`.
pub fn write(
    f: &mut impl fmt::Write,
    scheme: &str,
    key_hash: &[u8],
    password: Option<&str>,
    hosts: &[TransportHost],
    port: &str,
) -> fmt::Result {
    write!(f, "{scheme}://{}", base64url::encode(key_hash))?;
    if let Some(p) = password {
        write!(f, ":{p}")?;
    }
    f.write_str("@")?;
    for (i, h) in hosts.iter().enumerate() {
        if i > 0 {
            f.write_str(",")?;
        }
        write!(f, "{h}")?;
    }
    if !port.is_empty() {
        write!(f, ":{port}")?;
    }
    Ok(())
}

/// Printable ASCII without whitespace, `@`, `:` or `/`, as the reference allows.
pub fn valid_password(p: &str) -> bool {
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
    fn any_scheme_parses_and_writes_back() {
        let a = parse("smp://abc=:pw@a.com,[::1]:5224", "smp").unwrap();
        assert_eq!((a.hosts.len(), a.port.as_str()), (2, "5224"));
        let mut s = String::new();
        write(
            &mut s,
            "smp",
            &a.key_hash,
            a.password.as_deref(),
            &a.hosts,
            &a.port,
        )
        .unwrap();
        assert_eq!(s, "smp://abc=:pw@a.com,[::1]:5224");
        assert_eq!(parse("xftp://abc=@h", "smp"), Err("wrong scheme"));
        assert!(parse("smp://@h", "smp").is_err());
        assert!(!format!("{a:?}").contains("pw"));
    }
}
