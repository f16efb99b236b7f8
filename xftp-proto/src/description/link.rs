//! The web-link form of a description: `https://<host>/#<base64url(raw DEFLATE(YAML))>`, where
//! host is the first host of the server of chunk 1's first replica.

use std::io::{Read, Write};

use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use flate2::Compression;

use super::{DescriptionError, FileDescription, MAX_DESCRIPTION_LEN};
use simplex_codec::base64url;

/// Longest link accepted (deflate rarely compresses descriptions below a third).
pub const MAX_LINK_LEN: usize = MAX_DESCRIPTION_LEN;

/// The web link of a description, or `None` if it has no chunks to take the host from.
pub fn encode_web_link(desc: &FileDescription) -> Option<String> {
    let host = desc.chunks.first()?.replicas.first()?.server.host().clone();
    let yaml = desc.to_yaml();
    let mut enc = DeflateEncoder::new(Vec::new(), Compression::best());
    // Writing into a Vec cannot fail.
    enc.write_all(yaml.as_bytes()).ok()?;
    let compressed = enc.finish().ok()?;
    Some(format!(
        "https://{host}/#{}",
        base64url::encode(&compressed)
    ))
}

/// Decodes a web link (padded or unpadded base64url after the `#`) into a description.
pub fn decode_web_link(link: &str) -> Result<FileDescription, DescriptionError> {
    let bad = DescriptionError::BadLink;
    if link.len() > MAX_LINK_LEN {
        return Err(DescriptionError::TooLarge {
            len: link.len(),
            max: MAX_LINK_LEN,
        });
    }
    let link = link.trim();
    let rest = link
        .strip_prefix("https://")
        .or_else(|| link.strip_prefix("http://"))
        .ok_or(bad("not an https:// link"))?;
    let (_, fragment) = rest.split_once('#').ok_or(bad("no '#' part"))?;
    let compressed =
        base64url::decode(fragment).ok_or(bad("the part after '#' is not base64url"))?;
    // Inflate at most one byte past the limit, so a deflate bomb stops early.
    let mut yaml = Vec::new();
    DeflateDecoder::new(compressed.as_slice())
        .take(MAX_DESCRIPTION_LEN as u64 + 1)
        .read_to_end(&mut yaml)
        .map_err(|_| bad("the part after '#' is not raw DEFLATE data"))?;
    if yaml.len() > MAX_DESCRIPTION_LEN {
        return Err(DescriptionError::TooLarge {
            len: yaml.len(),
            max: MAX_DESCRIPTION_LEN,
        });
    }
    let text = String::from_utf8(yaml).map_err(|_| bad("the description is not UTF-8"))?;
    FileDescription::from_yaml(&text)
}
