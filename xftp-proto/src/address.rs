//! XFTP server addresses: `xftp://<base64url key hash>[:<password>]@<host>[,<host>...][:<port>]`.
//!
//! The key hash is the SHA-256 of the server's CA certificate (its identity); the password
//! (basic auth) is only needed to create files and never appears in descriptions. Hosts can be
//! IPv4, `[IPv6]`, `.onion` or domain names. Without a port the default (443) applies.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use crate::error::AddressError;
use simplex_codec::base64url;

pub use simplex_codec::address::{TransportHost, MAX_ADDRESS_LEN};

/// Port used when an address has none.
pub const DEFAULT_PORT: u16 = 443;

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
        simplex_codec::address::write(f, "xftp", &self.key_hash, None, &self.hosts, &self.port)
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
        let s = &self.server;
        let password = self.password.as_deref();
        simplex_codec::address::write(f, "xftp", &s.key_hash, password, &s.hosts, &s.port)
    }
}

impl FromStr for ServerAddress {
    type Err = AddressError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let a = simplex_codec::address::parse(input, "xftp").map_err(|why| {
            AddressError::new(
                input,
                if why == "wrong scheme" {
                    "must start with xftp://"
                } else {
                    why
                },
            )
        })?;
        Ok(Self {
            server: XftpServer {
                key_hash: a.key_hash,
                hosts: a.hosts,
                port: a.port,
            },
            password: a.password,
        })
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
