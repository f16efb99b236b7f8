//! Protocol version ranges (`min ..= max`, two Word16), as every SimpleX protocol negotiates
//! them: each side offers a range, both pick the highest version in common.

use crate::{Decode, DecodeError, Encode, EncodeError, Reader};

/// An inclusive range of protocol versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionRange {
    /// Lowest supported.
    pub min: u16,
    /// Highest supported.
    pub max: u16,
}

impl VersionRange {
    /// `min ..= max`; `None` if empty.
    pub fn new(min: u16, max: u16) -> Option<Self> {
        (min <= max).then_some(Self { min, max })
    }

    /// The highest version both ranges contain.
    pub fn highest_common(self, other: Self) -> Option<u16> {
        let max = self.max.min(other.max);
        (max >= self.min.max(other.min)).then_some(max)
    }

    /// The versions both ranges contain.
    pub fn intersect(self, other: Self) -> Option<Self> {
        Self::new(self.min.max(other.min), self.max.min(other.max))
    }

    /// Whether `v` is in the range.
    pub fn contains(self, v: u16) -> bool {
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
        let ours = VersionRange::new(6, 18).unwrap();
        assert_eq!(ours.highest_common(VersionRange::new(1, 4).unwrap()), None);
        assert_eq!(
            ours.highest_common(VersionRange::new(6, 30).unwrap()),
            Some(18)
        );
        assert_eq!(
            ours.highest_common(VersionRange::new(6, 6).unwrap()),
            Some(6)
        );
        assert_eq!(VersionRange::from_bytes(&[0, 6, 0, 18]).unwrap(), ours);
        assert!(VersionRange::from_bytes(&[0, 7, 0, 6]).is_err());
        assert!(ours.contains(18) && !ours.contains(5));
    }
}
