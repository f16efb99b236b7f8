//! base64url as the reference's "str encoding" uses it: RFC 4648 §5 alphabet, emitted with `=`
//! padding, accepted with or without it.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine};

const PADDED: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Encodes with padding, as the reference does.
pub fn encode(bytes: &[u8]) -> String {
    PADDED.encode(bytes)
}

/// Decodes padded or unpadded base64url; `None` for anything else (including empty input and
/// the `+`/`/` alphabet).
pub fn decode(text: &str) -> Option<Vec<u8>> {
    if text.is_empty() {
        return None;
    }
    PADDED.decode(text).ok()
}

/// The length of the decoded bytes, computed before decoding (so callers can check a limit
/// first).
pub fn decoded_len_estimate(text: &str) -> usize {
    text.len() / 4 * 3 + 3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_and_unpadded() {
        assert_eq!(encode(b"ab"), "YWI=");
        assert_eq!(decode("YWI=").unwrap(), b"ab");
        assert_eq!(decode("YWI").unwrap(), b"ab");
        assert_eq!(decode("abc=").unwrap().len(), 2);
        assert!(decode("").is_none());
        assert!(decode("a+b/").is_none());
        assert!(decode("YW I=").is_none());
    }
}
