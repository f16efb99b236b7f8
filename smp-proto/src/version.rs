//! SMP relay protocol versions and version ranges.
//!
//! | version | what it added |
//! |---|---|
//! | 6 | create without subscribing (the oldest the reference still speaks) |
//! | 7 | authenticator auth, the session id implied instead of sent |
//! | 8 | private routing (PRXY / PFWD / RFWD) |
//! | 9 | SKEY: the sender secures the queue |
//! | 10 | DELD |
//! | 11 | block encryption |
//! | 12 | BLOCKED error |
//! | 14 | the proxyServer flag in the client hello |
//! | 15 | short links (link data in NEW, LSET / LGET / LKEY / LDEL) |
//! | 16 | service certificates (the service-signature slot) |
//! | 17 | notifier credentials in NEW |
//! | 18 | client notices in BLOCKED |

use simplex_codec::{Decode, DecodeError, Encode, EncodeError, Reader};

/// An SMP relay protocol version.
pub type Version = u16;

/// The oldest version; also the only one offered without ALPN (legacy clients).
pub const MIN_VERSION: Version = 6;
/// The newest version the reference (simplexmq 6.5.5) speaks.
pub const MAX_VERSION: Version = 18;
/// From here the session id is implied: not sent, prepended to the authorized bytes.
pub const IMPLIED_SESSION_ID: Version = 7;
/// From here the client hello carries its X25519 key and blocks may be encrypted.
pub const BLOCK_ENCRYPTION: Version = 11;
/// From here a non-empty authorization is followed by the service-signature slot.
pub const SERVICE_CERTS: Version = 16;

/// A range of versions, `min ..= max`, encoded as two Word16.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionRange {
    /// Lowest supported.
    pub min: Version,
    /// Highest supported.
    pub max: Version,
}

impl VersionRange {
    /// `min ..= max`; `None` if empty.
    pub fn new(min: Version, max: Version) -> Option<Self> {
        (min <= max).then_some(Self { min, max })
    }

    /// What our relay and client speak: 6 ..= 18.
    pub const SUPPORTED: Self = Self {
        min: MIN_VERSION,
        max: MAX_VERSION,
    };

    /// The only range offered to a client that negotiated no ALPN.
    pub const LEGACY: Self = Self {
        min: MIN_VERSION,
        max: MIN_VERSION,
    };

    /// The highest version both ranges contain, as both ends pick it.
    pub fn highest_common(self, other: Self) -> Option<Version> {
        let max = self.max.min(other.max);
        (max >= self.min.max(other.min)).then_some(max)
    }

    /// Whether `v` is in the range.
    pub fn contains(self, v: Version) -> bool {
        self.min <= v && v <= self.max
    }
}

impl Encode for VersionRange {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.min.encode(out)?;
        self.max.encode(out)
    }
}

impl Decode for VersionRange {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let min = u16::decode(r)?;
        let max = u16::decode(r)?;
        Self::new(min, max).ok_or(DecodeError::BadTag {
            what: "version range (min above max)",
            byte: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_picks_the_highest_common_version() {
        let ours = VersionRange::SUPPORTED;
        assert_eq!(ours.highest_common(VersionRange::new(1, 4).unwrap()), None);
        assert_eq!(
            ours.highest_common(VersionRange::new(6, 30).unwrap()),
            Some(18)
        );
        assert_eq!(ours.highest_common(VersionRange::LEGACY), Some(6));
        assert_eq!(
            VersionRange::from_bytes(&[0, 6, 0, 18]).unwrap(),
            VersionRange::SUPPORTED
        );
        assert!(VersionRange::from_bytes(&[0, 7, 0, 6]).is_err());
    }
}
