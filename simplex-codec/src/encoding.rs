//! The reference's binary "smp encoding": big-endian integers, length-prefixed strings, ASCII
//! `'0'`/`'1'` Maybe tags, count-prefixed lists.
//!
//! | type | bytes |
//! |---|---|
//! | `u16` / `u32` / `i64` | big-endian |
//! | [`ShortString`] | 1 length byte + bytes (never more than 255: we refuse, the reference wraps) |
//! | [`Large`] | 2-byte length + bytes |
//! | [`Tail`] | the rest of the input |
//! | `bool` | `'T'` / `'F'` |
//! | `Option<T>` | `'0'` or `'1'` + T |
//! | [`NonEmpty<T>`] | 1 count byte (1..=255) + items |

use crate::error::{DecodeError, EncodeError};

/// A value with a binary encoding.
pub trait Encode {
    /// Appends the encoding of `self` to `out`.
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError>;

    /// The encoding as a new vector.
    fn to_bytes(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        self.encode(&mut out)?;
        Ok(out)
    }
}

/// A value that can be read from its binary encoding.
pub trait Decode: Sized {
    /// Reads one value from `r`.
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// Decodes a value that must use all of `bytes`.
    fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let v = Self::decode(&mut r)?;
        r.finish()?;
        Ok(v)
    }
}

/// A bounds-checked cursor over input bytes. Every read checks the remaining length first, so
/// no length from the input can cause an allocation larger than the input itself.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(DecodeError::Eof(n - self.remaining()));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// The next `N` bytes as an array.
    pub fn take_array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    /// One byte.
    pub fn byte(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    /// The next byte without consuming it.
    pub fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// Everything that is left.
    pub fn rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos..];
        self.pos = self.buf.len();
        s
    }

    /// Fails if anything is left.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(DecodeError::Trailing(n)),
        }
    }

    /// A shortString's bytes, borrowed.
    pub fn short_bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = usize::from(self.byte()?);
        self.take(n)
    }

    /// A Large value's bytes, borrowed.
    pub fn large_bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = usize::from(u16::decode(self)?);
        self.take(n)
    }
}

/// Appends a shortString (1 length byte + bytes).
pub fn put_short(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), EncodeError> {
    let len =
        u8::try_from(bytes.len()).map_err(|_| EncodeError::TooLongShort { len: bytes.len() })?;
    out.push(len);
    out.extend_from_slice(bytes);
    Ok(())
}

/// Appends a Large value (2-byte length + bytes).
pub fn put_large(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), EncodeError> {
    let len =
        u16::try_from(bytes.len()).map_err(|_| EncodeError::TooLongLarge { len: bytes.len() })?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

macro_rules! be_int {
    ($t:ty) => {
        impl Encode for $t {
            fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
                out.extend_from_slice(&self.to_be_bytes());
                Ok(())
            }
        }
        impl Decode for $t {
            fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                Ok(<$t>::from_be_bytes(r.take_array()?))
            }
        }
    };
}
be_int!(u16);
be_int!(u32);
be_int!(i64);
be_int!(u64);

impl Encode for bool {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.push(if *self { b'T' } else { b'F' });
        Ok(())
    }
}

impl Decode for bool {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.byte()? {
            b'T' => Ok(true),
            b'F' => Ok(false),
            byte => Err(DecodeError::BadTag { what: "Bool", byte }),
        }
    }
}

impl<T: Encode> Encode for Option<T> {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self {
            None => {
                out.push(b'0');
                Ok(())
            }
            Some(v) => {
                out.push(b'1');
                v.encode(out)
            }
        }
    }
}

impl<T: Decode> Decode for Option<T> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.byte()? {
            b'0' => Ok(None),
            b'1' => Ok(Some(T::decode(r)?)),
            byte => Err(DecodeError::BadTag {
                what: "Maybe",
                byte,
            }),
        }
    }
}

/// Bytes encoded with a one-byte length.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ShortString(pub Vec<u8>);

impl Encode for ShortString {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        put_short(out, &self.0)
    }
}

impl Decode for ShortString {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self(r.short_bytes()?.to_vec()))
    }
}

impl Encode for str {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        put_short(out, self.as_bytes())
    }
}

impl Encode for String {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        put_short(out, self.as_bytes())
    }
}

impl Decode for String {
    /// Text is a UTF-8 shortString; invalid UTF-8 is replaced, as the reference decodes leniently.
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(String::from_utf8_lossy(r.short_bytes()?).into_owned())
    }
}

/// Bytes encoded with a two-byte length.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Large(pub Vec<u8>);

impl Encode for Large {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        put_large(out, &self.0)
    }
}

impl Decode for Large {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self(r.large_bytes()?.to_vec()))
    }
}

/// All remaining bytes, without a length.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tail(pub Vec<u8>);

impl Encode for Tail {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.extend_from_slice(&self.0);
        Ok(())
    }
}

impl Decode for Tail {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self(r.rest().to_vec()))
    }
}

/// A list of 1..=255 items with a one-byte count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonEmpty<T>(pub Vec<T>);

impl<T: Encode> Encode for NonEmpty<T> {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let n = self.0.len();
        if n == 0 || n > 255 {
            return Err(EncodeError::BadListLen { len: n });
        }
        out.push(n as u8);
        self.0.iter().try_for_each(|v| v.encode(out))
    }
}

impl<T: Decode> Decode for NonEmpty<T> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let n = usize::from(r.byte()?);
        if n == 0 {
            return Err(DecodeError::EmptyList);
        }
        // At most 255 items: the count byte bounds the allocation.
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            items.push(T::decode(r)?);
        }
        Ok(Self(items))
    }
}

/// The longest message [`pad`] accepts, as the reference (`maxMsgLen = 65535 - 2`).
pub const MAX_PADDED_MSG: usize = 65533;

/// Pads `msg` to a `block_size` block: `u16 BE length ‖ msg ‖ '#' fill` (the reference's
/// `pad`, used for every 16 KiB transport block and the end-to-end bodies).
pub fn pad(msg: &[u8], block_size: usize) -> Result<Vec<u8>, EncodeError> {
    let max = block_size.saturating_sub(2).min(MAX_PADDED_MSG);
    if msg.len() > max {
        return Err(EncodeError::TooLongForBlock {
            len: msg.len(),
            max,
        });
    }
    let mut out = Vec::with_capacity(block_size);
    out.extend_from_slice(&(msg.len() as u16).to_be_bytes());
    out.extend_from_slice(msg);
    out.resize(block_size, b'#');
    Ok(out)
}

/// The message inside a padded block. Like the reference, the fill is not inspected.
pub fn unpad(block: &[u8]) -> Result<&[u8], DecodeError> {
    let mut r = Reader::new(block);
    let len = usize::from(u16::decode(&mut r)?);
    r.take(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_inputs_are_errors() {
        assert_eq!(u32::from_bytes(&[0, 1]), Err(DecodeError::Eof(2)));
        assert_eq!(
            ShortString::from_bytes(&[5, b'a']),
            Err(DecodeError::Eof(4))
        );
        assert_eq!(
            Large::from_bytes(&[0xff, 0xff]),
            Err(DecodeError::Eof(65535))
        );
        assert_eq!(
            Option::<u16>::from_bytes(b"2"),
            Err(DecodeError::BadTag {
                what: "Maybe",
                byte: b'2'
            })
        );
        assert_eq!(
            NonEmpty::<u16>::from_bytes(&[0]),
            Err(DecodeError::EmptyList)
        );
        assert_eq!(u16::from_bytes(&[0, 1, 2]), Err(DecodeError::Trailing(1)));
    }

    #[test]
    fn overlong_values_are_refused() {
        assert_eq!(
            ShortString(vec![0; 256]).to_bytes(),
            Err(EncodeError::TooLongShort { len: 256 })
        );
        assert_eq!(
            NonEmpty::<u16>(vec![]).to_bytes(),
            Err(EncodeError::BadListLen { len: 0 })
        );
        assert_eq!(
            NonEmpty(vec![1u16; 256]).to_bytes(),
            Err(EncodeError::BadListLen { len: 256 })
        );
    }
}
