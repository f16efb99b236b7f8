//! Transport blocks and transmissions: every request and response head is one 16 KiB block.
//!
//! ```text
//! block        = pad(batch, 16384)                 -- u16 length ‖ batch ‖ '#' fill
//! batch        = 0x01 Large(transmission)          -- exactly one transmission
//! transmission = shortString authenticator ‖ signed
//! signed       = shortString sessionId ‖ shortString corrId ‖ shortString entityId ‖ command
//! ```

use crate::command::XftpError;
use simplex_codec::encoding::{pad, put_large, put_short, unpad, Reader};
use simplex_codec::EncodeError;

pub use simplex_codec::limits::XFTP_BLOCK_SIZE;

/// One transmission.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Transmission {
    /// Empty (unsigned), an Ed25519/Ed448 signature or an 80-byte X25519 authenticator.
    pub authenticator: Vec<u8>,
    /// The TLS session's tls-unique value.
    pub session_id: Vec<u8>,
    /// Correlation ID, echoed by the relay.
    pub corr_id: Vec<u8>,
    /// The sender or recipient ID the command addresses (empty for FNEW and PING).
    pub entity_id: Vec<u8>,
    /// The encoded command or response.
    pub command: Vec<u8>,
}

impl Transmission {
    /// The bytes the authenticator covers.
    pub fn signed_bytes(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(
            3 + self.session_id.len()
                + self.corr_id.len()
                + self.entity_id.len()
                + self.command.len(),
        );
        put_short(&mut out, &self.session_id)?;
        put_short(&mut out, &self.corr_id)?;
        put_short(&mut out, &self.entity_id)?;
        out.extend_from_slice(&self.command);
        Ok(out)
    }

    /// The unpadded batch: `0x01 ‖ Large(authenticator ‖ signed)`.
    pub fn encode_batch(&self) -> Result<Vec<u8>, EncodeError> {
        let mut t = Vec::new();
        put_short(&mut t, &self.authenticator)?;
        t.extend_from_slice(&self.signed_bytes()?);
        let mut batch = vec![1u8];
        put_large(&mut batch, &t)?;
        Ok(batch)
    }

    /// The padded 16 KiB block.
    pub fn encode_block(&self) -> Result<Vec<u8>, EncodeError> {
        pad(&self.encode_batch()?, XFTP_BLOCK_SIZE)
    }

    /// Reads a block; anything malformed is `BLOCK`, as the reference answers.
    pub fn decode_block(block: &[u8]) -> Result<Self, XftpError> {
        if block.len() != XFTP_BLOCK_SIZE {
            return Err(XftpError::Block);
        }
        let batch = unpad(block).map_err(|_| XftpError::Block)?;
        let mut r = Reader::new(batch);
        if r.byte().map_err(|_| XftpError::Block)? != 1 {
            return Err(XftpError::Block);
        }
        let t = r.large_bytes().map_err(|_| XftpError::Block)?;
        r.finish().map_err(|_| XftpError::Block)?;
        let mut r = Reader::new(t);
        let mut short = || {
            r.short_bytes()
                .map(<[u8]>::to_vec)
                .map_err(|_| XftpError::Block)
        };
        let authenticator = short()?;
        let session_id = short()?;
        let corr_id = short()?;
        let entity_id = short()?;
        Ok(Self {
            authenticator,
            session_id,
            corr_id,
            entity_id,
            command: r.rest().to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_blocks_are_block_errors() {
        let good = Transmission {
            command: b"PING".to_vec(),
            ..Default::default()
        }
        .encode_block()
        .unwrap();
        assert!(Transmission::decode_block(&good).is_ok());
        assert_eq!(
            Transmission::decode_block(&good[..100]),
            Err(XftpError::Block)
        );
        let mut two = good.clone();
        two[2] = 2;
        assert_eq!(Transmission::decode_block(&two), Err(XftpError::Block));
        let mut long = good.clone();
        long[0] = 0xff;
        assert_eq!(Transmission::decode_block(&long), Err(XftpError::Block));
    }
}
