//! The file header that travels inside the encryption: the sender's file name and optional
//! extra text.
//!
//! ```text
//! FileHeader = shortString(UTF-8 name) Maybe(shortString extra)     Maybe: '0' | '1' value
//! ```

use crate::error::ChunkerError;

/// Longest name or extra text a header can carry (one length byte).
pub const MAX_HEADER_FIELD: usize = 255;
/// Longest encoded header: two short strings plus the Maybe tag.
pub const MAX_HEADER_LEN: usize = 1 + MAX_HEADER_FIELD + 1 + 1 + MAX_HEADER_FIELD;

/// The header of an encrypted file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHeader {
    /// The file name as the sender wrote it (not yet sanitized when decoded).
    pub name: String,
    /// Optional extra text (the CLI and the chat agent send none).
    pub extra: Option<String>,
}

impl FileHeader {
    /// A header with only a name.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            extra: None,
        }
    }

    /// Encodes the header; names or extras over 255 bytes are refused (the reference would
    /// silently wrap the length byte).
    pub fn encode(&self) -> Result<Vec<u8>, ChunkerError> {
        let mut out = Vec::with_capacity(self.name.len() + 3);
        push_short(&mut out, self.name.as_bytes(), "file name")?;
        match &self.extra {
            None => out.push(b'0'),
            Some(extra) => {
                out.push(b'1');
                push_short(&mut out, extra.as_bytes(), "file extra")?;
            }
        }
        Ok(out)
    }

    /// Decodes a header from the start of `bytes`; returns it and the bytes it used, or
    /// `Ok(None)` when `bytes` is too short to tell yet.
    pub fn decode_prefix(bytes: &[u8]) -> Result<Option<(Self, usize)>, ChunkerError> {
        let Some((name, mut at)) = read_short(bytes, 0) else {
            return Ok(None);
        };
        let Some(&tag) = bytes.get(at) else {
            return Ok(None);
        };
        at += 1;
        let extra = match tag {
            b'0' => None,
            b'1' => {
                let Some((extra, next)) = read_short(bytes, at) else {
                    return Ok(None);
                };
                at = next;
                Some(String::from_utf8_lossy(extra).into_owned())
            }
            _ => return Err(ChunkerError::BadPayload("invalid Maybe tag in file header")),
        };
        let header = Self {
            name: String::from_utf8_lossy(name).into_owned(),
            extra,
        };
        Ok(Some((header, at)))
    }
}

fn push_short(out: &mut Vec<u8>, s: &[u8], what: &'static str) -> Result<(), ChunkerError> {
    let len = u8::try_from(s.len()).map_err(|_| ChunkerError::HeaderFieldTooLong {
        field: what,
        len: s.len(),
    })?;
    out.push(len);
    out.extend_from_slice(s);
    Ok(())
}

fn read_short(bytes: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let len = usize::from(*bytes.get(at)?);
    let end = at + 1 + len;
    bytes.get(at + 1..end).map(|s| (s, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_the_reference() {
        let h = FileHeader::new("hello.txt");
        assert_eq!(h.encode().unwrap(), b"\x09hello.txt0");
        let h = FileHeader {
            name: "doc.pdf".into(),
            extra: Some("extra-info".into()),
        };
        assert_eq!(h.encode().unwrap(), b"\x07doc.pdf1\x0aextra-info");
    }

    #[test]
    fn decode_needs_more_then_succeeds() {
        let enc = b"\x07doc.pdf1\x0aextra-info";
        for cut in 0..enc.len() {
            assert_eq!(FileHeader::decode_prefix(&enc[..cut]).unwrap(), None);
        }
        let (h, used) = FileHeader::decode_prefix(enc).unwrap().unwrap();
        assert_eq!(used, enc.len());
        assert_eq!(h.extra.as_deref(), Some("extra-info"));
        assert!(FileHeader::decode_prefix(b"\x01aX").is_err());
    }

    #[test]
    fn long_names_are_refused() {
        let h = FileHeader::new("a".repeat(256));
        assert!(matches!(
            h.encode(),
            Err(ChunkerError::HeaderFieldTooLong { len: 256, .. })
        ));
    }
}
