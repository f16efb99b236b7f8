//! Small readers and writers shared by the command and relay-message codecs.

use simplex_codec::encoding::put_short;
use simplex_codec::{Decode, EncodeError, Reader};
use simplex_crypto::{KeyAlgorithm, PublicKey};

/// A single space.
pub(crate) fn sp(r: &mut Reader<'_>) -> Option<()> {
    (r.byte().ok()? == b' ').then_some(())
}

/// A shortString.
pub(crate) fn short(r: &mut Reader<'_>) -> Option<Vec<u8>> {
    r.short_bytes().ok().map(<[u8]>::to_vec)
}

/// An X25519 key (SPKI in a shortString).
pub(crate) fn x25519(r: &mut Reader<'_>) -> Option<PublicKey> {
    PublicKey::decode(r)
        .ok()
        .filter(|k| k.algorithm() == KeyAlgorithm::X25519)
}

/// `'0'` or `'1'` followed by a value.
pub(crate) fn maybe<T>(
    r: &mut Reader<'_>,
    f: impl FnOnce(&mut Reader<'_>) -> Option<T>,
) -> Option<Option<T>> {
    match r.byte().ok()? {
        b'0' => Some(None),
        b'1' => f(r).map(Some),
        _ => None,
    }
}

/// `'0'`, or `'1'` and a shortString.
pub(crate) fn put_maybe_short(out: &mut Vec<u8>, v: Option<&[u8]>) -> Result<(), EncodeError> {
    match v {
        None => out.push(b'0'),
        Some(b) => {
            out.push(b'1');
            put_short(out, b)?;
        }
    }
    Ok(())
}
