//! SMP server addresses: `smp://<base64url key hash>[:<password>]@<host>[,<host>...][:<port>]`,
//! as relays print them and clients are configured with (port 5223 when none is written).

use std::fmt;
use std::str::FromStr;

pub use simplex_codec::address::TransportHost;

use crate::proxy::ServerAddr;

/// The port when an address has none.
pub const DEFAULT_PORT: u16 = 5223;

/// An SMP relay: identity, hosts, port, and the password to create queues when needed.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SmpServer {
    /// SHA-256 of the relay's CA certificate.
    pub key_hash: Vec<u8>,
    /// At least one host, tried in order.
    pub hosts: Vec<TransportHost>,
    /// The port as written (empty for the default).
    pub port: String,
    /// Basic auth for NEW (and for using the relay as a proxy).
    pub password: Option<String>,
}

impl fmt::Debug for SmpServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        simplex_codec::address::write(
            &mut s,
            "smp",
            &self.key_hash,
            None,
            &self.hosts,
            &self.port,
        )?;
        f.debug_struct("SmpServer")
            .field("address", &s)
            .field("password", &self.password.as_ref().map(|_| "<secret>"))
            .finish()
    }
}

impl SmpServer {
    /// The port to connect to.
    pub fn port_number(&self) -> u16 {
        self.port.parse().unwrap_or(DEFAULT_PORT)
    }

    /// The key hash as a fixed array (relays' hashes are SHA-256).
    pub fn key_hash_array(&self) -> Option<[u8; 32]> {
        self.key_hash.as_slice().try_into().ok()
    }

    /// The relay as PRXY names it (no password: that one is the proxy's own).
    pub fn proxy_addr(&self) -> ServerAddr {
        ServerAddr {
            hosts: self
                .hosts
                .iter()
                .map(|h| h.to_string().trim_matches(['[', ']']).to_string())
                .collect(),
            port: self.port.clone(),
            key_hash: self.key_hash.clone(),
        }
    }

    /// Host names to connect to, in order (IPv6 without brackets).
    pub fn connect_hosts(&self) -> impl Iterator<Item = String> + '_ {
        self.hosts
            .iter()
            .map(|h| h.to_string().trim_matches(['[', ']']).to_string())
    }
}

impl fmt::Display for SmpServer {
    /// Writes the address with its password, as a user would configure it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        simplex_codec::address::write(
            f,
            "smp",
            &self.key_hash,
            self.password.as_deref(),
            &self.hosts,
            &self.port,
        )
    }
}

/// Why an address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an SMP server address: {0}")]
pub struct AddressError(pub &'static str);

impl FromStr for SmpServer {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let a = simplex_codec::address::parse(s, "smp").map_err(AddressError)?;
        if a.key_hash.len() != 32 {
            return Err(AddressError("the key hash must be 32 bytes"));
        }
        Ok(Self {
            key_hash: a.key_hash,
            hosts: a.hosts,
            port: a.port,
            password: a.password,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_addresses_as_printed_parse() {
        let kh = simplex_codec::base64url::encode(&[7u8; 32]);
        let s: SmpServer = format!("smp://{kh}:hunter2@smp1.example.com,abcdefghij234567.onion")
            .parse()
            .unwrap();
        assert_eq!(s.port_number(), 5223);
        assert_eq!(s.password.as_deref(), Some("hunter2"));
        assert_eq!(
            s.connect_hosts().collect::<Vec<_>>(),
            ["smp1.example.com", "abcdefghij234567.onion"]
        );
        assert_eq!(
            s.to_string(),
            format!("smp://{kh}:hunter2@smp1.example.com,abcdefghij234567.onion")
        );
        assert!(!format!("{s:?}").contains("hunter2"));
        let v6: SmpServer = format!("smp://{kh}@[::1]:7000").parse().unwrap();
        assert_eq!(v6.port_number(), 7000);
        assert_eq!(v6.proxy_addr().hosts, ["::1"]);
        for bad in [
            format!("xftp://{kh}@h"),
            "smp://abc=@h".to_string(),
            format!("smp://{kh}@"),
            format!("smp://{kh}@h:0"),
        ] {
            assert!(bad.parse::<SmpServer>().is_err(), "{bad}");
        }
    }
}
