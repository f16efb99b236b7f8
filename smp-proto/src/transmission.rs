//! Transmissions: one command or response with its authorization and ids.
//!
//! ```text
//! transmission  = authorization [serviceSig] [sessionId] corrId entityId command
//! authorization = shortString: empty | Ed25519 (64) / Ed448 (114) signature | X25519 authenticator (80)
//! serviceSig    = Maybe(shortString Ed25519 signature), only from v16 and after a non-empty authorization
//! sessionId     = shortString, sent only below v7 (from v7 it is implied)
//! corrId        = shortString (24 random bytes in commands and their responses, empty in pushes)
//! entityId      = shortString (queue, link or proxy session id, or empty)
//! command       = the rest
//! authorized    = shortString(sessionId) ‖ shortString(corrId) ‖ shortString(entityId) ‖ command
//! ```

use simplex_codec::encoding::put_short;
use simplex_codec::{DecodeError, EncodeError, Reader};
use simplex_crypto::AUTHENTICATOR_LEN;

use crate::version::{Version, IMPLIED_SESSION_ID, SERVICE_CERTS};

/// Bytes of an Ed25519 signature.
pub const ED25519_SIG_LEN: usize = 64;
/// Bytes of an Ed448 signature.
pub const ED448_SIG_LEN: usize = 114;

/// How a transmission is authorized, told apart by length as the reference does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    /// No authorization.
    None,
    /// An Ed25519 or Ed448 signature.
    Signature,
    /// The 80-byte X25519 authenticator.
    Authenticator,
}

/// One transmission as bytes, before its command is interpreted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Transmission {
    /// Empty, a signature or an authenticator.
    pub authorization: Vec<u8>,
    /// The service signature (v16+, only after a non-empty authorization).
    pub service_sig: Option<Vec<u8>>,
    /// Sent only below v7; empty otherwise.
    pub session_id: Vec<u8>,
    /// Correlation id: echoed in the response, empty in server pushes.
    pub corr_id: Vec<u8>,
    /// Queue, link or proxy session id, or empty.
    pub entity_id: Vec<u8>,
    /// Command or response bytes (tag first).
    pub command: Vec<u8>,
}

/// Why a transmission's authorization cannot be used (the reference answers `ERR BLOCK`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Not empty, not an 80-byte authenticator, not a 64- or 114-byte signature.
    #[error("an authorization of {0} bytes is neither a signature nor an authenticator")]
    BadLength(usize),
    /// A service signature that is not a 64-byte Ed25519 signature.
    #[error("a service signature of {0} bytes")]
    BadServiceSig(usize),
}

impl Transmission {
    /// The wire bytes at version `v` (without the Large length a batch adds).
    pub fn encode(&self, v: Version) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(
            4 + self.authorization.len()
                + self.corr_id.len()
                + self.entity_id.len()
                + self.command.len(),
        );
        put_short(&mut out, &self.authorization)?;
        if v >= SERVICE_CERTS && !self.authorization.is_empty() {
            match &self.service_sig {
                None => out.push(b'0'),
                Some(sig) => {
                    out.push(b'1');
                    put_short(&mut out, sig)?;
                }
            }
        }
        if v < IMPLIED_SESSION_ID {
            put_short(&mut out, &self.session_id)?;
        }
        put_short(&mut out, &self.corr_id)?;
        put_short(&mut out, &self.entity_id)?;
        out.extend_from_slice(&self.command);
        Ok(out)
    }

    /// Reads a transmission sent at version `v`. Only the framing is checked here; the
    /// authorization's length is checked by [`Transmission::auth_kind`].
    pub fn decode(bytes: &[u8], v: Version) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let authorization = r.short_bytes()?.to_vec();
        let service_sig = if v >= SERVICE_CERTS && !authorization.is_empty() {
            match r.byte()? {
                b'0' => None,
                b'1' => Some(r.short_bytes()?.to_vec()),
                byte => {
                    return Err(DecodeError::BadTag {
                        what: "service signature",
                        byte,
                    })
                }
            }
        } else {
            None
        };
        let session_id = if v < IMPLIED_SESSION_ID {
            r.short_bytes()?.to_vec()
        } else {
            Vec::new()
        };
        let corr_id = r.short_bytes()?.to_vec();
        let entity_id = r.short_bytes()?.to_vec();
        let command = r.rest().to_vec();
        Ok(Self {
            authorization,
            service_sig,
            session_id,
            corr_id,
            entity_id,
            command,
        })
    }

    /// What the authorization is, by its length (the reference's `decodeTAuthBytes`).
    pub fn auth_kind(&self) -> Result<AuthKind, AuthError> {
        if let Some(sig) = &self.service_sig {
            if sig.len() != ED25519_SIG_LEN {
                return Err(AuthError::BadServiceSig(sig.len()));
            }
        }
        match self.authorization.len() {
            0 => Ok(AuthKind::None),
            AUTHENTICATOR_LEN => Ok(AuthKind::Authenticator),
            ED25519_SIG_LEN | ED448_SIG_LEN => Ok(AuthKind::Signature),
            n => Err(AuthError::BadLength(n)),
        }
    }

    /// The bytes the authorization covers, with the connection's session id.
    pub fn authorized(&self, session_id: &[u8]) -> Result<Vec<u8>, EncodeError> {
        authorized(session_id, &self.corr_id, &self.entity_id, &self.command)
    }
}

/// `shortString(sessionId) ‖ shortString(corrId) ‖ shortString(entityId) ‖ command`: what a
/// signature or authenticator covers.
pub fn authorized(
    session_id: &[u8],
    corr_id: &[u8],
    entity_id: &[u8],
    command: &[u8],
) -> Result<Vec<u8>, EncodeError> {
    let mut out =
        Vec::with_capacity(3 + session_id.len() + corr_id.len() + entity_id.len() + command.len());
    put_short(&mut out, session_id)?;
    put_short(&mut out, corr_id)?;
    put_short(&mut out, entity_id)?;
    out.extend_from_slice(command);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_by_version() {
        let t = Transmission {
            authorization: vec![7; 64],
            service_sig: None,
            session_id: vec![1; 32],
            corr_id: vec![2; 24],
            entity_id: vec![3; 24],
            command: b"SUB".to_vec(),
        };
        // v18: no session id, the '0' service slot after the signature.
        let v18 = t.encode(18).unwrap();
        assert_eq!(v18.len(), 1 + 64 + 1 + 25 + 25 + 3);
        assert_eq!(v18[65], b'0');
        let back = Transmission::decode(&v18, 18).unwrap();
        assert_eq!(back.session_id, b"");
        assert_eq!(
            (back.corr_id, back.command),
            (t.corr_id.clone(), t.command.clone())
        );
        // v6: the session id is sent, no service slot.
        let v6 = t.encode(6).unwrap();
        assert_eq!(v6.len(), 1 + 64 + 33 + 25 + 25 + 3);
        assert_eq!(Transmission::decode(&v6, 6).unwrap(), t);
        // An empty authorization has no service slot even at v18.
        let push = Transmission {
            entity_id: vec![3; 24],
            command: b"END".to_vec(),
            ..Transmission::default()
        };
        assert_eq!(
            push.encode(18).unwrap(),
            [&[0u8, 0, 24][..], &[3; 24], b"END"].concat()
        );
        assert_eq!(
            Transmission::decode(&push.encode(18).unwrap(), 18).unwrap(),
            push
        );
    }

    #[test]
    fn authorization_kinds_by_length() {
        let with = |n: usize| Transmission {
            authorization: vec![1; n],
            ..Transmission::default()
        };
        assert_eq!(with(0).auth_kind(), Ok(AuthKind::None));
        assert_eq!(with(64).auth_kind(), Ok(AuthKind::Signature));
        assert_eq!(with(114).auth_kind(), Ok(AuthKind::Signature));
        assert_eq!(with(80).auth_kind(), Ok(AuthKind::Authenticator));
        assert_eq!(with(65).auth_kind(), Err(AuthError::BadLength(65)));
        let mut t = with(64);
        t.service_sig = Some(vec![0; 63]);
        assert_eq!(t.auth_kind(), Err(AuthError::BadServiceSig(63)));
        // A truncated transmission or a bad service tag is a decode error.
        assert!(Transmission::decode(&[64, 1, 2], 18).is_err());
        let mut bad = with(64).encode(18).unwrap();
        bad[65] = b'2';
        assert!(Transmission::decode(&bad, 18).is_err());
    }
}
