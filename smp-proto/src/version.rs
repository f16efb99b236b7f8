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

pub use simplex_codec::version::VersionRange;

/// What our relay and client speak: 6 ..= 18.
pub const SUPPORTED: VersionRange = VersionRange {
    min: MIN_VERSION,
    max: MAX_VERSION,
};

/// The only range offered to a client that negotiated no ALPN.
pub const LEGACY: VersionRange = VersionRange {
    min: MIN_VERSION,
    max: MIN_VERSION,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_ranges() {
        assert_eq!((SUPPORTED.min, SUPPORTED.max), (6, 18));
        assert_eq!(SUPPORTED.highest_common(LEGACY), Some(6));
    }
}
