//! The XFTP handshake messages (protocol versions 2 and 3).
//!
//! ```text
//! client hello    = empty body | pad('0') | pad('1' ‖ shortString(32-byte web challenge))
//! server hello    = pad(versionRange ‖ shortString sessionId ‖ NonEmpty(Large cert DER)
//!                       ‖ Large(signedKey DER) ‖ shortString webIdentityProof ‖ Tail)
//! client handshake= pad(Word16 version ‖ shortString keyHash ‖ Tail)
//! signedKey       = SEQUENCE { SPKI(X25519), AlgorithmIdentifier(Ed25519|Ed448), BIT STRING sig }
//! ```

use crate::transmission::XFTP_BLOCK_SIZE;
use simplex_codec::encoding::{
    pad, put_large, put_short, unpad, Decode, Encode, Large, NonEmpty, Reader,
};
use simplex_codec::{DecodeError, EncodeError};

/// Lowest protocol version the relay speaks.
pub const MIN_VERSION: u16 = 1;
/// v2: handshake and authenticated commands.
pub const AUTH_CMDS_VERSION: u16 = 2;
/// v3: `ERR BLOCKED`.
pub const BLOCKED_FILES_VERSION: u16 = 3;
/// Highest protocol version spoken here.
pub const CURRENT_VERSION: u16 = 3;

pub use simplex_codec::version::VersionRange;

/// The client's first request: empty (native clients) or a web challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientHello {
    /// No challenge.
    Plain,
    /// A browser client's 32-byte challenge, to be signed with the online key.
    Web([u8; 32]),
}

impl ClientHello {
    /// Reads a hello body: empty, or a padded block holding `'0'` or `'1' ‖ shortString`.
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        if body.is_empty() {
            return Ok(Self::Plain);
        }
        let mut r = Reader::new(unpad(body)?);
        let hello = match r.byte()? {
            b'0' => Self::Plain,
            b'1' => {
                let c = r.short_bytes()?;
                Self::Web(
                    c.try_into()
                        .map_err(|_| DecodeError::BadKey("web challenge must be 32 bytes"))?,
                )
            }
            byte => {
                return Err(DecodeError::BadTag {
                    what: "hello",
                    byte,
                })
            }
        };
        Ok(hello)
    }

    /// The hello body: empty for a native client.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        match self {
            Self::Plain => Ok(Vec::new()),
            Self::Web(c) => {
                let mut m = vec![b'1'];
                put_short(&mut m, c)?;
                pad(&m, XFTP_BLOCK_SIZE)
            }
        }
    }
}

/// The relay's hello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHandshake {
    /// Versions the relay speaks.
    pub versions: VersionRange,
    /// The session ID (tls-unique) as the relay sees it.
    pub session_id: Vec<u8>,
    /// DER certificates: the online certificate, then the CA (identity) certificate.
    pub cert_chain: Vec<Vec<u8>>,
    /// The X.509-style signed X25519 key (DER), signed by the online key.
    pub signed_key: Vec<u8>,
    /// For web clients: signature by the online key over `challenge ‖ sessionId`; else empty.
    pub web_identity_proof: Vec<u8>,
}

impl ServerHandshake {
    /// Encodes the unpadded message.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        self.versions.min.encode(&mut out)?;
        self.versions.max.encode(&mut out)?;
        put_short(&mut out, &self.session_id)?;
        NonEmpty(self.cert_chain.iter().cloned().map(Large).collect()).encode(&mut out)?;
        put_large(&mut out, &self.signed_key)?;
        put_short(&mut out, &self.web_identity_proof)?;
        Ok(out)
    }

    /// The padded block.
    pub fn encode_block(&self) -> Result<Vec<u8>, EncodeError> {
        pad(&self.encode()?, XFTP_BLOCK_SIZE)
    }

    /// Reads a padded server hello; a missing proof (older relays) is empty, a tail is ignored.
    pub fn decode_block(block: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(unpad(block)?);
        let versions = VersionRange {
            min: u16::decode(&mut r)?,
            max: u16::decode(&mut r)?,
        };
        let session_id = r.short_bytes()?.to_vec();
        let cert_chain = NonEmpty::<Large>::decode(&mut r)?
            .0
            .into_iter()
            .map(|l| l.0)
            .collect();
        let signed_key = r.large_bytes()?.to_vec();
        let web_identity_proof = if r.remaining() > 0 {
            r.short_bytes()?.to_vec()
        } else {
            Vec::new()
        };
        Ok(Self {
            versions,
            session_id,
            cert_chain,
            signed_key,
            web_identity_proof,
        })
    }
}

/// The client's handshake: the chosen version and the relay identity it expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHandshake {
    /// Chosen version.
    pub version: u16,
    /// SHA-256 of the relay's CA certificate, from the address.
    pub key_hash: Vec<u8>,
}

impl ClientHandshake {
    /// Encodes the unpadded message.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        self.version.encode(&mut out)?;
        put_short(&mut out, &self.key_hash)?;
        Ok(out)
    }

    /// The padded block.
    pub fn encode_block(&self) -> Result<Vec<u8>, EncodeError> {
        pad(&self.encode()?, XFTP_BLOCK_SIZE)
    }

    /// Reads a padded client handshake (a tail is ignored).
    pub fn decode_block(block: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(unpad(block)?);
        Ok(Self {
            version: u16::decode(&mut r)?,
            key_hash: r.short_bytes()?.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        let server = VersionRange { min: 1, max: 3 };
        assert_eq!(
            server.highest_common(VersionRange { min: 2, max: 5 }),
            Some(3)
        );
        assert_eq!(server.highest_common(VersionRange { min: 4, max: 5 }), None);
    }
}
