//! The SMP handshake: the first two blocks of a connection, padded and never encrypted, and
//! the block encryption keys that follow from it (v11+).
//!
//! ```text
//! server hello = versionRange sessionId [max >= 7: NonEmpty(Large cert) Large(signed X25519 key)]
//! client hello = version keyHash [v >= 7: X25519 key (shortString SPKI) or nothing at all]
//!                [v >= 14: proxyServer Bool] [v >= 16: Maybe service]
//! block keys   = HKDF-SHA512(salt = sessionId, ikm = DH(server key, client key),
//!                            "SimpleXSbChainInit", 64) = server-send chain ‖ client-send chain
//! each block   = HKDF-SHA512("", chain, "SimpleXSbChain", 88) = next chain ‖ key ‖ nonce;
//!                crypto_box(key, nonce, pad(content, 16368)) = tag ‖ 16368 bytes
//! ```

use simplex_codec::encoding::{pad, put_large, put_short, unpad};
use simplex_codec::limits::SMP_BLOCK_SIZE;
use simplex_codec::{Decode, DecodeError, Encode, EncodeError, Reader};
use simplex_crypto::hkdf::hkdf_sha512;
use simplex_crypto::secretbox::AUTH_TAG_LEN;
use simplex_crypto::{cryptobox, CryptoError, KeyAlgorithm, PublicKey, SbKey, SbNonce};
use zeroize::Zeroize;

use crate::version::{Version, VersionRange, BLOCK_ENCRYPTION, IMPLIED_SESSION_ID, SERVICE_CERTS};

/// From here the client hello says whether it is a proxying relay.
pub const PROXY_SERVER_HANDSHAKE: Version = 14;

/// The server's hello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHello {
    /// Versions the relay offers.
    pub range: VersionRange,
    /// The tls-unique session id.
    pub session_id: Vec<u8>,
    /// From v7: the certificate chain (online certificate first) and the DER of the signed
    /// X25519 session key.
    pub auth: Option<(Vec<Vec<u8>>, Vec<u8>)>,
}

impl ServerHello {
    /// The unpadded block content.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        self.range.encode(&mut out)?;
        put_short(&mut out, &self.session_id)?;
        if self.range.max >= IMPLIED_SESSION_ID {
            if let Some((chain, signed)) = &self.auth {
                let n = chain.len();
                if n == 0 || n > 255 {
                    return Err(EncodeError::BadListLen { len: n });
                }
                out.push(n as u8);
                for cert in chain {
                    put_large(&mut out, cert)?;
                }
                put_large(&mut out, signed)?;
            }
        }
        Ok(out)
    }

    /// Parses the unpadded content; bytes after the known fields are ignored, as the
    /// reference does.
    pub fn decode(content: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(content);
        let range = VersionRange::decode(&mut r)?;
        let session_id = r.short_bytes()?.to_vec();
        let auth = if range.max >= IMPLIED_SESSION_ID && r.remaining() > 0 {
            let n = r.byte()?;
            if n == 0 {
                return Err(DecodeError::EmptyList);
            }
            let mut chain = Vec::with_capacity(usize::from(n));
            for _ in 0..n {
                chain.push(r.large_bytes()?.to_vec());
            }
            Some((chain, r.large_bytes()?.to_vec()))
        } else {
            None
        };
        Ok(Self {
            range,
            session_id,
            auth,
        })
    }
}

/// The client's hello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHello {
    /// The version the client chose.
    pub version: Version,
    /// The SHA-256 of the relay's identity certificate the client expects.
    pub key_hash: Vec<u8>,
    /// The client's X25519 session key (v7+); with it, blocks are encrypted from v11.
    pub session_key: Option<PublicKey>,
    /// A relay connecting as a proxy (v14+): no block encryption.
    pub proxy_server: bool,
    /// A service's credentials (v16+), kept as sent.
    pub service: Option<Vec<u8>>,
}

impl ClientHello {
    /// The unpadded block content.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        self.version.encode(&mut out)?;
        put_short(&mut out, &self.key_hash)?;
        if self.version >= IMPLIED_SESSION_ID {
            if let Some(k) = &self.session_key {
                k.encode(&mut out)?;
            }
        }
        if self.version >= PROXY_SERVER_HANDSHAKE {
            self.proxy_server.encode(&mut out)?;
        }
        if self.version >= SERVICE_CERTS {
            match &self.service {
                None => out.push(b'0'),
                Some(s) => {
                    out.push(b'1');
                    out.extend_from_slice(s);
                }
            }
        }
        Ok(out)
    }

    /// Parses the unpadded content. The key has no Maybe tag: it is there when an X25519 key
    /// parses at that position (the reference's `optional`).
    pub fn decode(content: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(content);
        let version = u16::decode(&mut r)?;
        let key_hash = r.short_bytes()?.to_vec();
        let session_key = if version >= IMPLIED_SESSION_ID {
            let mut attempt = r.clone();
            match PublicKey::decode(&mut attempt) {
                Ok(k) if k.algorithm() == KeyAlgorithm::X25519 => {
                    r = attempt;
                    Some(k)
                }
                _ => None,
            }
        } else {
            None
        };
        let proxy_server = if version >= PROXY_SERVER_HANDSHAKE {
            bool::decode(&mut r)?
        } else {
            false
        };
        let service = if version >= SERVICE_CERTS {
            match r.byte()? {
                b'0' => None,
                b'1' => Some(r.rest().to_vec()),
                byte => {
                    return Err(DecodeError::BadTag {
                        what: "client service",
                        byte,
                    })
                }
            }
        } else {
            None
        };
        r.finish()?;
        Ok(Self {
            version,
            key_hash,
            session_key,
            proxy_server,
            service,
        })
    }

    /// Whether this connection's blocks are encrypted after the handshake.
    pub fn encrypts_blocks(&self) -> bool {
        self.version >= BLOCK_ENCRYPTION && self.session_key.is_some() && !self.proxy_server
    }
}

/// Bytes of padded content inside an encrypted block.
pub const ENCRYPTED_CONTENT: usize = SMP_BLOCK_SIZE - AUTH_TAG_LEN;

/// One direction's block encryption: a chain of keys, one step per block.
pub struct BlockChain([u8; 32]);

impl std::fmt::Debug for BlockChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlockChain(..)")
    }
}

impl Drop for BlockChain {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// The two chains of a connection from the DH secret of the session keys:
/// `(server sends / client receives, client sends / server receives)`.
pub fn block_chains(
    session_id: &[u8],
    shared_secret: &[u8],
) -> Result<(BlockChain, BlockChain), CryptoError> {
    let mut ks = hkdf_sha512(session_id, shared_secret, b"SimpleXSbChainInit", 64)?;
    let mut a = [0u8; 32];
    let mut b = [0u8; 32];
    a.copy_from_slice(&ks[..32]);
    b.copy_from_slice(&ks[32..]);
    ks.zeroize();
    Ok((BlockChain(a), BlockChain(b)))
}

impl BlockChain {
    fn step(&mut self) -> Result<(SbKey, SbNonce), CryptoError> {
        let mut out = hkdf_sha512(&[], &self.0, b"SimpleXSbChain", 88)?;
        self.0.copy_from_slice(&out[..32]);
        let mut key = [0u8; 32];
        key.copy_from_slice(&out[32..64]);
        let mut nonce = [0u8; 24];
        nonce.copy_from_slice(&out[64..]);
        out.zeroize();
        let k = SbKey::from_bytes(key);
        key.zeroize();
        Ok((k, SbNonce(nonce)))
    }

    /// Encrypts one block's content into a whole 16384-byte block.
    pub fn seal(&mut self, content: &[u8]) -> Result<Vec<u8>, BlockError> {
        let padded = pad(content, ENCRYPTED_CONTENT).map_err(|_| BlockError::TooLarge)?;
        let (key, nonce) = self.step()?;
        Ok(cryptobox::seal(&key, &nonce, &padded))
    }

    /// Decrypts a whole block to its content.
    pub fn open(&mut self, block: &[u8]) -> Result<Vec<u8>, BlockError> {
        if block.len() != SMP_BLOCK_SIZE {
            return Err(BlockError::Size(block.len()));
        }
        let (key, nonce) = self.step()?;
        let padded = cryptobox::open(&key, &nonce, block)?;
        Ok(unpad(&padded).map_err(|_| BlockError::Padding)?.to_vec())
    }
}

/// A block that cannot be encrypted or decrypted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// More content than an encrypted block holds.
    #[error("the content does not fit an encrypted block")]
    TooLarge,
    /// Not a 16384-byte block.
    #[error("a block of {0} bytes")]
    Size(usize),
    /// The tag does not verify, or key derivation failed.
    #[error("block decryption failed: {0}")]
    Crypto(#[from] CryptoError),
    /// The decrypted padding is malformed.
    #[error("bad padding inside an encrypted block")]
    Padding,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_agree_in_each_direction_and_refuse_replays() {
        let (mut server_send, mut server_recv) = block_chains(b"session", &[7; 32]).unwrap();
        let (mut client_recv, mut client_send) = block_chains(b"session", &[7; 32]).unwrap();
        for i in 0..3u8 {
            let block = server_send.seal(&[i; 100]).unwrap();
            assert_eq!(block.len(), SMP_BLOCK_SIZE);
            assert_eq!(client_recv.open(&block).unwrap(), vec![i; 100]);
            let up = client_send.seal(b"up").unwrap();
            assert_eq!(server_recv.open(&up).unwrap(), b"up");
        }
        // A block replayed (or sent out of order) fails: the chain has moved on.
        let block = server_send.seal(b"x").unwrap();
        assert_eq!(client_recv.open(&block).unwrap(), b"x");
        assert!(client_recv.open(&block).is_err());
        assert!(client_recv.open(&block[..100]).is_err());
        let (_, mut other) = block_chains(b"other session", &[7; 32]).unwrap();
        assert!(other.open(&client_send.seal(b"y").unwrap()).is_err());
        assert_eq!(
            server_send
                .seal(&vec![0; ENCRYPTED_CONTENT - 1])
                .unwrap_err(),
            BlockError::TooLarge
        );
    }
}
