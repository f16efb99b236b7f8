//! Private routing ("SMP proxy", v8+): the bodies of PRXY, PKEY, RFWD / RRES and PFWD / PRES,
//! as the reference encodes them (`Protocol.hs` FwdTransmission, FwdResponse, ProtocolServer;
//! `Server.hs` processForwardedCommand; `Client.hs` proxySMPCommand, forwardSMPTransmission).
//!
//! ```text
//! client → proxy   PRXY server Maybe(basicAuth)            ← PKEY sessionId range certChain Large(signedKey)
//! client → proxy   PFWD version clientKey Tail(enc)        (entity = the proxy's session id with the
//!                  enc = crypto_box(DH(signedKey, clientKey), corrId, pad(block content, 16226)))
//! proxy  → relay   RFWD Tail(crypto_box_noPad(S, corrId', FwdTransmission))
//!                  FwdTransmission = short(client corrId) ‖ version ‖ short(clientKey) ‖ Tail(enc)
//! relay  → proxy   RRES Tail(crypto_box_noPad(S, reverse(corrId'), FwdResponse))
//!                  FwdResponse = short(client corrId) ‖ Tail(crypto_box(DH, reverse(corrId), pad(answer)))
//! proxy  → client  PRES Tail(that inner box)
//! ```
//! S is the proxy↔relay session secret: DH of the relay's signed session key and the proxy's
//! handshake key (the proxy connects with the proxy-server flag, so its blocks are not encrypted).

use simplex_codec::encoding::{put_large, put_short};
use simplex_codec::version::VersionRange;
use simplex_codec::{Decode, DecodeError, Encode, EncodeError, Reader};
use simplex_crypto::{KeyAlgorithm, PublicKey};

use crate::version::Version;

/// The padded size of a forwarded transmission and of its answer.
pub const PADDED_PROXIED_LEN: usize = 16226;
/// The first version with private routing.
pub const SENDING_PROXY: Version = 8;
/// The highest destination version a proxy tells its clients (hides the relay's real one).
pub const PROXIED_RELAY_MAX: Version = 17;

/// A nonce with its bytes reversed: the answer's nonce.
pub fn reverse_nonce(nonce: &[u8; 24]) -> [u8; 24] {
    let mut r = *nonce;
    r.reverse();
    r
}

/// An SMP server as PRXY names it: hosts, port (empty: 5223) and the identity's key hash.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServerAddr {
    /// Host names or addresses, at least one.
    pub hosts: Vec<String>,
    /// The port, as text; empty for the default.
    pub port: String,
    /// SHA-256 of the relay's CA certificate.
    pub key_hash: Vec<u8>,
}

impl ServerAddr {
    fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let n = self.hosts.len();
        if n == 0 || n > 255 {
            return Err(EncodeError::BadListLen { len: n });
        }
        out.push(n as u8);
        for h in &self.hosts {
            put_short(out, h.as_bytes())?;
        }
        put_short(out, self.port.as_bytes())?;
        put_short(out, &self.key_hash)
    }

    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let n = r.byte()?;
        if n == 0 {
            return Err(DecodeError::EmptyList);
        }
        let text = |b: &[u8]| {
            String::from_utf8(b.to_vec()).map_err(|_| DecodeError::BadKey("host is not text"))
        };
        let mut hosts = Vec::with_capacity(usize::from(n));
        for _ in 0..n {
            hosts.push(text(r.short_bytes()?)?);
        }
        let port = text(r.short_bytes()?)?;
        let key_hash = r.short_bytes()?.to_vec();
        Ok(Self {
            hosts,
            port,
            key_hash,
        })
    }

    /// The port to connect to.
    pub fn port_number(&self) -> Option<u16> {
        if self.port.is_empty() {
            Some(5223)
        } else {
            self.port.parse().ok()
        }
    }
}

/// The body of PRXY (after `PRXY `).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyRequest {
    /// The destination relay.
    pub server: ServerAddr,
    /// The proxy's `create_password`, when it has one.
    pub basic_auth: Option<Vec<u8>>,
}

impl ProxyRequest {
    /// Encodes the body.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        self.server.encode_into(&mut out)?;
        match &self.basic_auth {
            None => out.push(b'0'),
            Some(a) => {
                out.push(b'1');
                put_short(&mut out, a)?;
            }
        }
        Ok(out)
    }

    /// Parses the body.
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let server = ServerAddr::decode_from(&mut r)?;
        let basic_auth = match r.byte()? {
            b'0' => None,
            b'1' => Some(r.short_bytes()?.to_vec()),
            byte => {
                return Err(DecodeError::BadTag {
                    what: "Maybe",
                    byte,
                })
            }
        };
        r.finish()?;
        Ok(Self { server, basic_auth })
    }
}

/// The body of PKEY: the destination session as the proxy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxiedSession {
    /// The proxy↔relay TLS session id (the proxied transmissions' implied session id).
    pub session_id: Vec<u8>,
    /// The relay's versions, capped at [`PROXIED_RELAY_MAX`].
    pub range: VersionRange,
    /// The relay's certificate chain (online certificate first).
    pub chain: Vec<Vec<u8>>,
    /// The relay's X25519 session key, signed by its online key (DER).
    pub signed_key: Vec<u8>,
}

impl ProxiedSession {
    /// Encodes the body.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        put_short(&mut out, &self.session_id)?;
        self.range.encode(&mut out)?;
        let n = self.chain.len();
        if n == 0 || n > 255 {
            return Err(EncodeError::BadListLen { len: n });
        }
        out.push(n as u8);
        for c in &self.chain {
            put_large(&mut out, c)?;
        }
        put_large(&mut out, &self.signed_key)?;
        Ok(out)
    }

    /// Parses the body.
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let session_id = r.short_bytes()?.to_vec();
        let range = VersionRange::decode(&mut r)?;
        let n = r.byte()?;
        if n == 0 {
            return Err(DecodeError::EmptyList);
        }
        let mut chain = Vec::with_capacity(usize::from(n));
        for _ in 0..n {
            chain.push(r.large_bytes()?.to_vec());
        }
        let signed_key = r.large_bytes()?.to_vec();
        r.finish()?;
        Ok(Self {
            session_id,
            range,
            chain,
            signed_key,
        })
    }
}

/// What the proxy forwards in RFWD (before its encryption with the session secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FwdTransmission {
    /// The client's corrId (the nonce of `enc`).
    pub corr_id: Vec<u8>,
    /// The version the client encoded its transmission at.
    pub version: Version,
    /// The client's one-time X25519 key.
    pub key: PublicKey,
    /// The client's encrypted transmission.
    pub enc: Vec<u8>,
}

impl FwdTransmission {
    /// Encodes it.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(self.enc.len() + 100);
        put_short(&mut out, &self.corr_id)?;
        self.version.encode(&mut out)?;
        self.key.encode(&mut out)?;
        out.extend_from_slice(&self.enc);
        Ok(out)
    }

    /// Parses it; the key must be X25519.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let corr_id = r.short_bytes()?.to_vec();
        let version = Version::decode(&mut r)?;
        let key = PublicKey::decode(&mut r)?;
        if key.algorithm() != KeyAlgorithm::X25519 {
            return Err(DecodeError::BadKey("the forwarding key must be X25519"));
        }
        Ok(Self {
            corr_id,
            version,
            key,
            enc: r.rest().to_vec(),
        })
    }
}

/// What the relay answers in RRES (before its encryption with the session secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FwdResponse {
    /// The client's corrId.
    pub corr_id: Vec<u8>,
    /// The answer, encrypted for the client.
    pub enc: Vec<u8>,
}

impl FwdResponse {
    /// Encodes it.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(self.enc.len() + 25);
        put_short(&mut out, &self.corr_id)?;
        out.extend_from_slice(&self.enc);
        Ok(out)
    }

    /// Parses it.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let corr_id = r.short_bytes()?.to_vec();
        Ok(Self {
            corr_id,
            enc: r.rest().to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_round_trip_and_reject_garbage() {
        let req = ProxyRequest {
            server: ServerAddr {
                hosts: vec!["smp.example".into(), "abc.onion".into()],
                port: "5223".into(),
                key_hash: vec![7; 32],
            },
            basic_auth: Some(b"pass".to_vec()),
        };
        let bytes = req.encode().unwrap();
        // count, then each host as a shortString, the port, the key hash, Maybe.
        assert_eq!(&bytes[..13], b"\x02\x0bsmp.example");
        assert_eq!(ProxyRequest::decode(&bytes).unwrap(), req);
        assert!(ProxyRequest::decode(&bytes[..bytes.len() - 1]).is_err());
        assert!(ProxyRequest::decode(b"\x00").is_err());

        let s = ProxiedSession {
            session_id: vec![1; 32],
            range: VersionRange::new(8, 17).unwrap(),
            chain: vec![vec![2; 300], vec![3; 200]],
            signed_key: vec![4; 100],
        };
        let bytes = s.encode().unwrap();
        assert_eq!(ProxiedSession::decode(&bytes).unwrap(), s);
        assert!(ProxiedSession::decode(&bytes[..40]).is_err());

        let key = simplex_crypto::generate(KeyAlgorithm::X25519).unwrap().0;
        let f = FwdTransmission {
            corr_id: vec![5; 24],
            version: 17,
            key,
            enc: vec![6; 1000],
        };
        assert_eq!(FwdTransmission::decode(&f.encode().unwrap()).unwrap(), f);
        let ed = simplex_crypto::generate(KeyAlgorithm::Ed25519).unwrap().0;
        let bad = FwdTransmission { key: ed, ..f };
        assert!(FwdTransmission::decode(&bad.encode().unwrap()).is_err());
        let r = FwdResponse {
            corr_id: vec![5; 24],
            enc: vec![9; 50],
        };
        assert_eq!(FwdResponse::decode(&r.encode().unwrap()).unwrap(), r);
        assert_eq!(reverse_nonce(&[1; 24]), [1; 24]);
        let mut n = [0u8; 24];
        n[0] = 9;
        assert_eq!(reverse_nonce(&n)[23], 9);
    }
}
