//! Blocks and batches: every read and write is one 16384-byte block holding 1 to 255
//! transmissions.
//!
//! ```text
//! block   = pad(content, 16384)            -- u16 length ‖ content ‖ '#' fill
//! content = count (1 byte, 1..=255) ‖ count × Large(transmission)
//! ```
//!
//! With block encryption (v11+) the padded content is 16368 bytes plus a 16-byte tag, so a
//! sender keeps the transmissions of a block within [`BATCH_ROOM`] bytes. [`pack`] groups
//! transmissions exactly as the reference client does (`batchTransmissions_`): 135 signed
//! SUBs, 255 ENDs, 80 NMSGs per block at v18.

use simplex_codec::encoding::{pad, put_large, unpad};
use simplex_codec::limits::SMP_BLOCK_SIZE;
use simplex_codec::{DecodeError, EncodeError, Reader};

/// Room for the Large-encoded transmissions of one block: 16384 − 2 (pad length) − 1 (count)
/// − 16 (block-encryption tag).
pub const BATCH_ROOM: usize = SMP_BLOCK_SIZE - 19;
/// Most transmissions in one block.
pub const MAX_BATCH: usize = 255;

/// The content of a block (count and Large transmissions), not yet padded.
pub fn encode_content<T: AsRef<[u8]>>(transmissions: &[T]) -> Result<Vec<u8>, EncodeError> {
    let n = transmissions.len();
    if n == 0 || n > MAX_BATCH {
        return Err(EncodeError::BadListLen { len: n });
    }
    let total: usize = transmissions.iter().map(|t| 2 + t.as_ref().len()).sum();
    let mut out = Vec::with_capacity(1 + total);
    out.push(n as u8);
    for t in transmissions {
        put_large(&mut out, t.as_ref())?;
    }
    Ok(out)
}

/// A whole unencrypted block: the content padded to 16384 bytes.
pub fn encode_block<T: AsRef<[u8]>>(transmissions: &[T]) -> Result<Vec<u8>, EncodeError> {
    pad(&encode_content(transmissions)?, SMP_BLOCK_SIZE)
}

/// The transmissions of a block's content; the content must hold exactly the count it
/// announces (the reference parses the whole content).
pub fn decode_content(content: &[u8]) -> Result<Vec<&[u8]>, DecodeError> {
    let mut r = Reader::new(content);
    let n = r.byte()?;
    if n == 0 {
        return Err(DecodeError::EmptyList);
    }
    let mut out = Vec::with_capacity(usize::from(n));
    for _ in 0..n {
        out.push(r.large_bytes()?);
    }
    r.finish()?;
    Ok(out)
}

/// The transmissions of a whole unencrypted block.
pub fn decode_block(block: &[u8]) -> Result<Vec<&[u8]>, DecodeError> {
    decode_content(unpad(block)?)
}

/// How [`pack`] sends a list of transmissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packed {
    /// One block with the transmissions `first .. first + count`.
    Block {
        /// Index of the first transmission.
        first: usize,
        /// How many.
        count: usize,
    },
    /// Transmission `index` does not fit any block (the reference's `TELargeMsg`).
    TooLarge(usize),
}

/// Groups transmissions of the given lengths (without their Large prefix) into blocks, in
/// order, exactly as the reference: it fills blocks from the last transmission backwards, so
/// the first block holds the remainder; a transmission larger than a block closes the block
/// being filled and is reported in its place.
pub fn pack(lengths: &[usize]) -> Vec<Packed> {
    let mut rev = Vec::new();
    let (mut room_used, mut count, mut first) = (0usize, 0usize, 0usize);
    for (i, &len) in lengths.iter().enumerate().rev() {
        let size = len + 2;
        if room_used + size <= BATCH_ROOM && count < MAX_BATCH {
            room_used += size;
            count += 1;
            first = i;
            continue;
        }
        if count > 0 {
            rev.push(Packed::Block { first, count });
        }
        if size <= BATCH_ROOM {
            (room_used, count, first) = (size, 1, i);
        } else {
            rev.push(Packed::TooLarge(i));
            (room_used, count) = (0, 0);
        }
    }
    if count > 0 {
        rev.push(Packed::Block { first, count });
    }
    rev.reverse();
    rev
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_round_trip_and_strictness() {
        let ts: [&[u8]; 2] = [b"abc", b""];
        let c = encode_content(&ts).unwrap();
        assert_eq!(c, [2, 0, 3, b'a', b'b', b'c', 0, 0]);
        assert_eq!(decode_content(&c).unwrap(), ts);
        let block = encode_block(&ts).unwrap();
        assert_eq!(block.len(), SMP_BLOCK_SIZE);
        assert_eq!(decode_block(&block).unwrap(), ts);
        // Count 0, a count beyond the items, trailing bytes: refused.
        assert!(decode_content(&[0]).is_err());
        assert!(decode_content(&[3, 0, 0, 0, 0]).is_err());
        assert!(decode_content(&[1, 0, 0, 9]).is_err());
        assert!(decode_content(&[1, 0, 5, 1]).is_err());
        assert!(encode_content::<&[u8]>(&[]).is_err());
        assert!(encode_content(&vec![b"x"; 256]).is_err());
    }

    #[test]
    fn pack_fills_from_the_end_and_reports_large_ones() {
        assert_eq!(pack(&[]), []);
        assert_eq!(pack(&[10]), [Packed::Block { first: 0, count: 1 }]);
        let big = BATCH_ROOM - 1; // with its 2 length bytes: one over the room
        assert_eq!(
            pack(&[10, big, 10]),
            [
                Packed::Block { first: 0, count: 1 },
                Packed::TooLarge(1),
                Packed::Block { first: 2, count: 1 }
            ]
        );
        // 300 tiny transmissions: 255 in the last block, 45 in the first.
        assert_eq!(
            pack(&[1; 300]),
            [
                Packed::Block {
                    first: 0,
                    count: 45
                },
                Packed::Block {
                    first: 45,
                    count: 255
                }
            ]
        );
    }
}
