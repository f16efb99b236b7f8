//! zstd as the reference's chat uses it: compressed message bodies (`'X'` NonEmpty(Compressed),
//! each item `'0'` shortString(raw) or `'1'` Large(zstd frame)) and compressed link data
//! (`'X'` and one zstd frame, for data over [`LINK_DATA_PLAIN_MAX`] bytes).
//!
//! A frame is decompressed only when its header declares its size and that size is within
//! [`MAX_DECOMPRESSED`] (as the reference's `limitDecompress`): a small hostile frame cannot
//! make us allocate more.

/// The most one compressed item or link data decompresses to (the reference's
/// `maxDecompressedMsgLength`).
pub const MAX_DECOMPRESSED: usize = 65_536;

/// Link data up to this many bytes goes as it is; larger data is compressed (the reference's
/// threshold, under the relay's 13,784 bytes for the whole link data).
pub const LINK_DATA_PLAIN_MAX: usize = 10_240;

/// The reference's compression level.
const LEVEL: i32 = 3;

/// Why a frame was not decompressed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CompressError {
    /// The frame's header does not say how large it is.
    #[error("compressed data without its size")]
    NoSize,
    /// It says more than [`MAX_DECOMPRESSED`].
    #[error("compressed data of {0} bytes, more than {MAX_DECOMPRESSED}")]
    TooLarge(u64),
    /// zstd refused it.
    #[error("compressed data: {0}")]
    Zstd(String),
}

/// One zstd frame decompressed, bounded by [`MAX_DECOMPRESSED`].
pub fn decompress(frame: &[u8]) -> Result<Vec<u8>, CompressError> {
    match zstd::zstd_safe::get_frame_content_size(frame) {
        Ok(Some(n)) if n <= MAX_DECOMPRESSED as u64 => {}
        Ok(Some(n)) => return Err(CompressError::TooLarge(n)),
        Ok(None) | Err(_) => return Err(CompressError::NoSize),
    }
    let out = zstd::bulk::decompress(frame, MAX_DECOMPRESSED)
        .map_err(|e| CompressError::Zstd(e.to_string()))?;
    Ok(out)
}

/// One zstd frame (its size in its header), at the reference's level.
pub fn compress(data: &[u8]) -> Result<Vec<u8>, CompressError> {
    zstd::bulk::compress(data, LEVEL).map_err(|e| CompressError::Zstd(e.to_string()))
}

/// Link data as the reference writes it: as it is up to [`LINK_DATA_PLAIN_MAX`] bytes, else
/// `'X'` and its zstd frame.
pub fn link_data(json: Vec<u8>) -> Result<Vec<u8>, CompressError> {
    if json.len() <= LINK_DATA_PLAIN_MAX {
        return Ok(json);
    }
    let mut out = vec![b'X'];
    out.extend(compress(&json)?);
    Ok(out)
}

/// Link data as read: decompressed when it starts with `'X'`.
pub fn read_link_data(data: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, CompressError> {
    match data.strip_prefix(b"X") {
        Some(frame) => decompress(frame).map(std::borrow::Cow::Owned),
        None => Ok(std::borrow::Cow::Borrowed(data)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_data_is_compressed_over_the_threshold_and_read_back() {
        let small = br#"{"profile":{"displayName":"bob"}}"#.to_vec();
        assert_eq!(link_data(small.clone()).unwrap(), small);
        assert_eq!(read_link_data(&small).unwrap().as_ref(), &small[..]);
        let image = "A".repeat(20_000);
        let big =
            format!(r#"{{"profile":{{"displayName":"bob","image":"{image}"}}}}"#).into_bytes();
        let written = link_data(big.clone()).unwrap();
        assert_eq!(written[0], b'X');
        assert!(written.len() < LINK_DATA_PLAIN_MAX);
        assert_eq!(read_link_data(&written).unwrap().as_ref(), &big[..]);
    }

    #[test]
    fn frames_without_their_size_or_too_large_are_refused() {
        // A bomb: 1 MiB of zeros in a few bytes.
        let bomb = compress(&vec![0u8; 1 << 20]).unwrap();
        assert!(bomb.len() < 1_000);
        assert_eq!(decompress(&bomb), Err(CompressError::TooLarge(1 << 20)));
        // A frame whose header does not carry the size (streamed, size unknown).
        let mut streamed = Vec::new();
        {
            let mut enc = zstd::stream::write::Encoder::new(&mut streamed, 3).unwrap();
            std::io::Write::write_all(&mut enc, b"hello").unwrap();
            enc.finish().unwrap();
        }
        assert_eq!(decompress(&streamed), Err(CompressError::NoSize));
        assert!(decompress(b"not zstd").is_err());
        assert_eq!(decompress(&compress(b"hello").unwrap()).unwrap(), b"hello");
    }
}
