//! The size plan: how a file of a given size becomes encrypted chunks.
//!
//! ```text
//! plaintext stream = Int64 BE L ‖ FileHeader ‖ file bytes ‖ '#' × pad      (L = header + file)
//! encrypted file   = secretbox(plaintext stream) ‖ 16-byte tag             (= enc_size bytes)
//! payload P        = 8 + L + 16     -> chunk sizes (two adjacent allowed sizes, big first)
//! ```

use crate::error::ChunkerError;
use crate::header::FileHeader;
use simplex_crypto::secretbox::AUTH_TAG_LEN;

pub use simplex_codec::limits::{
    is_allowed_chunk_size, ALLOWED_CHUNK_SIZES, CHUNK_SIZE_1M, CHUNK_SIZE_256K, CHUNK_SIZE_4M,
    CHUNK_SIZE_64K, DEFAULT_MAX_FILE_SIZE, HARD_MAX_FILE_SIZE, MAX_CHUNK_SIZE,
};

/// Bytes of the Int64 length prefix in front of the header.
pub const LENGTH_PREFIX_LEN: u64 = 8;

/// Splits a payload of `payload` bytes into chunk sizes, exactly as the reference does: one
/// pair of adjacent sizes chosen from the whole payload, big chunks first, a last big chunk
/// when the remainder is over 3/4 of it, small chunks otherwise.
pub fn prepare_chunk_sizes(payload: u64) -> Vec<u32> {
    let three_quarters = |s: u32| u64::from(s) * 3 / 4;
    let (small, big) = if payload > three_quarters(CHUNK_SIZE_4M) {
        (CHUNK_SIZE_1M, CHUNK_SIZE_4M)
    } else if payload > three_quarters(CHUNK_SIZE_1M) {
        (CHUNK_SIZE_256K, CHUNK_SIZE_1M)
    } else {
        (CHUNK_SIZE_64K, CHUNK_SIZE_256K)
    };
    let (big64, small64) = (u64::from(big), u64::from(small));
    let n_big = payload / big64;
    let rest = payload % big64;
    let mut sizes = Vec::with_capacity(usize::try_from(n_big + 4).unwrap_or(0));
    sizes.extend(std::iter::repeat_n(big, n_big as usize));
    if rest > three_quarters(big) {
        sizes.push(big);
    } else if rest > 0 {
        sizes.extend(std::iter::repeat_n(small, rest.div_ceil(small64) as usize));
    }
    sizes
}

/// The smallest allowed chunk size that holds `payload` in one chunk (redirect descriptions),
/// or `None` if it does not fit in 4 MiB.
pub fn single_chunk_size(payload: u64) -> Option<u32> {
    ALLOWED_CHUNK_SIZES
        .iter()
        .copied()
        .find(|&s| u64::from(s) >= payload)
}

/// How chunks are sized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChunkMode {
    /// The usual two-size split.
    #[default]
    Split,
    /// One chunk of the smallest size that fits (for redirect descriptions).
    Single,
}

/// Everything about the layout of one encrypted file: sizes, offsets, padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePlan {
    header: Vec<u8>,
    file_size: u64,
    enc_size: u64,
    chunk_sizes: Vec<u32>,
    /// Encrypted-file offset of each chunk, plus `enc_size` at the end.
    offsets: Vec<u64>,
}

impl FilePlan {
    /// Plans the encryption of a `file_size`-byte file carrying `header`, refusing files
    /// larger than `max_file_size` (capped at [`HARD_MAX_FILE_SIZE`]).
    pub fn new(
        header: &FileHeader,
        file_size: u64,
        max_file_size: u64,
        mode: ChunkMode,
    ) -> Result<Self, ChunkerError> {
        let max = max_file_size.min(HARD_MAX_FILE_SIZE);
        if file_size > max {
            return Err(ChunkerError::FileTooLarge {
                size: file_size,
                max,
            });
        }
        let header = header.encode()?;
        let payload = LENGTH_PREFIX_LEN + header.len() as u64 + file_size + AUTH_TAG_LEN as u64;
        let chunk_sizes =
            match mode {
                ChunkMode::Split => prepare_chunk_sizes(payload),
                ChunkMode::Single => vec![single_chunk_size(payload).ok_or(
                    ChunkerError::TooLargeForSingleChunk {
                        size: payload,
                        max: u64::from(MAX_CHUNK_SIZE),
                    },
                )?],
            };
        Ok(Self::from_parts(header, file_size, chunk_sizes))
    }

    fn from_parts(header: Vec<u8>, file_size: u64, chunk_sizes: Vec<u32>) -> Self {
        let mut offsets = Vec::with_capacity(chunk_sizes.len() + 1);
        let mut at = 0u64;
        for &s in &chunk_sizes {
            offsets.push(at);
            at += u64::from(s);
        }
        offsets.push(at);
        Self {
            header,
            file_size,
            enc_size: at,
            chunk_sizes,
            offsets,
        }
    }

    /// The encoded file header.
    pub fn header_bytes(&self) -> &[u8] {
        &self.header
    }

    /// Bytes of the source file.
    pub fn file_size(&self) -> u64 {
        self.file_size
    }

    /// `L`, the value of the length prefix: header plus file bytes.
    pub fn payload_len(&self) -> u64 {
        self.header.len() as u64 + self.file_size
    }

    /// Total bytes of the encrypted file (sum of chunk sizes, tag included).
    pub fn enc_size(&self) -> u64 {
        self.enc_size
    }

    /// Bytes of the plaintext stream (everything but the tag).
    pub fn stream_len(&self) -> u64 {
        self.enc_size - AUTH_TAG_LEN as u64
    }

    /// Bytes of `#` padding after the file.
    pub fn pad_len(&self) -> u64 {
        self.stream_len() - LENGTH_PREFIX_LEN - self.payload_len()
    }

    /// Bytes of the prefix before file content: length prefix plus header.
    pub fn prefix_len(&self) -> u64 {
        LENGTH_PREFIX_LEN + self.header.len() as u64
    }

    /// Chunk sizes, biggest first.
    pub fn chunk_sizes(&self) -> &[u32] {
        &self.chunk_sizes
    }

    /// Number of chunks.
    pub fn chunk_count(&self) -> usize {
        self.chunk_sizes.len()
    }

    /// Offset of chunk `index` in the encrypted file.
    pub fn chunk_offset(&self, index: usize) -> Option<u64> {
        self.chunk_sizes.get(index).map(|_| self.offsets[index])
    }

    /// Largest chunk size of this plan (the buffer size the engine needs).
    pub fn max_chunk_size(&self) -> u32 {
        self.chunk_sizes.iter().copied().max().unwrap_or(0)
    }

    /// Writes the plaintext-stream bytes of the prefix region that overlap
    /// `[pos, pos + out.len())` and returns how many bytes it wrote (from the start of `out`).
    pub(crate) fn fill_prefix(&self, pos: u64, out: &mut [u8]) -> usize {
        let prefix_len = self.prefix_len();
        if pos >= prefix_len {
            return 0;
        }
        let mut prefix = Vec::with_capacity(prefix_len as usize);
        prefix.extend_from_slice(&self.payload_len().to_be_bytes());
        prefix.extend_from_slice(&self.header);
        let src = &prefix[pos as usize..];
        let n = src.len().min(out.len());
        out[..n].copy_from_slice(&src[..n]);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_cli_vectors() {
        const K: u64 = 1024;
        const M: u64 = 1024 * 1024;
        let m4 = CHUNK_SIZE_4M;
        let m1 = CHUNK_SIZE_1M;
        let k256 = CHUNK_SIZE_256K;
        let cases: [(u64, Vec<u32>); 12] = [
            (9 * M + 256 * K, vec![m4, m4, m1, m1]),
            (9 * M, vec![m4, m4, m1]),
            (7 * M + 1, vec![m4, m4]),
            (7 * M, vec![m4, m1, m1, m1]),
            (3 * M + 1, vec![m4]),
            (3 * M, vec![m1, m1, m1]),
            (2 * M + 3 * 256 * K + 1, vec![m1, m1, m1]),
            (2 * M + 3 * 256 * K, vec![m1, m1, k256, k256, k256]),
            (2 * M + 1, vec![m1, m1, k256]),
            (3 * 256 * K + 1, vec![m1]),
            (3 * 256 * K, vec![k256, k256, k256]),
            (1, vec![CHUNK_SIZE_64K]),
        ];
        for (p, want) in cases {
            assert_eq!(prepare_chunk_sizes(p), want, "payload {p}");
        }
    }

    #[test]
    fn single_chunk() {
        assert_eq!(single_chunk_size(1), Some(CHUNK_SIZE_64K));
        assert_eq!(single_chunk_size(65537), Some(CHUNK_SIZE_256K));
        assert_eq!(single_chunk_size(4 * 1024 * 1024), Some(CHUNK_SIZE_4M));
        assert_eq!(single_chunk_size(4 * 1024 * 1024 + 1), None);
    }
}
