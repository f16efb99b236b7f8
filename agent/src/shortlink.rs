//! Short-link data: what a relay keeps for a short link, encrypted so that only holders of the
//! link can read it, as in the reference (`Crypto/ShortLink.hs`, `FixedLinkData` and
//! `ConnLinkData` in `Agent/Protocol.hs`, simplexmq 6.5).
//!
//! ```text
//! fixed data  = agentVRange rootKey(Ed25519 SPKI, shortString) connReq(binary) [linkEntityId shortString]
//! user data   = 'I' agentVRange userLinkData                                   (invitation)
//!             | 'C' agentVRange direct('T'|'F') owners(list) relays(list of short links) userLinkData
//! userLinkData = shortString when at most 254 bytes, else 0xFF ‖ Large
//! signed(x)    = shortString(Ed25519 signature of x by the root key) ‖ x
//! linkKey      = SHA3-256(fixed data)
//! invitation:  key = HKDF-SHA512(salt "", linkKey, "SimpleXInvLink", 32); the relay picks the link id
//! contact:     linkId ‖ key = HKDF-SHA512(salt "", linkKey, "SimpleXContactLink", 56)
//! encrypted(x, len) = nonce(24) ‖ crypto_box(key, nonce, pad(x, len))   fixed: len 2008, user: 13784
//! ```
//!
//! Decryption checks what the reference checks: the key is the hash of the fixed data, the fixed
//! data is signed by its root key, the user data by the root key (invitations) or by the root
//! key or an owner whose chain of authorizations leads to it (contacts).

use simplex_codec::encoding::{pad, put_large, put_short, unpad};
use simplex_codec::version::VersionRange;
use simplex_codec::{Decode, Encode, Reader};
use simplex_crypto::{cryptobox, KeyAlgorithm, PrivateKey, PublicKey, SbKey, SbNonce};

use crate::links::{ConnectionRequest, ShortLink};

/// Padded size of the fixed data (2048 less nonce and tag).
pub const FIXED_DATA_LEN: usize = 2008;
/// Padded size of the user data (13824 less nonce and tag).
pub const USER_DATA_LEN: usize = 13784;

/// Why link data cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("link data: {0}")]
pub struct LinkDataError(pub String);

type Result<T> = std::result::Result<T, LinkDataError>;

fn err(what: impl Into<String>) -> LinkDataError {
    LinkDataError(what.into())
}

/// The part of the link data that never changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedLinkData {
    /// Agent versions.
    pub versions: VersionRange,
    /// The key that signs the data (Ed25519).
    pub root_key: PublicKey,
    /// The full connection link.
    pub request: ConnectionRequest,
    /// An application id (e.g. a group's), when given.
    pub entity_id: Option<Vec<u8>>,
}

/// An additional key allowed to sign a contact address's user data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerAuth {
    /// Application id of the owner (unique in the list).
    pub owner_id: Vec<u8>,
    /// The owner's key (Ed25519).
    pub owner_key: PublicKey,
    /// Signature of `owner_id ‖ owner_key SPKI` by the root key or an earlier owner.
    pub signature: Vec<u8>,
}

/// A contact address's user data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactData {
    /// Connecting with the link in the fixed data is allowed.
    pub direct: bool,
    /// Additional owners.
    pub owners: Vec<OwnerAuth>,
    /// Other addresses that take requests for this one.
    pub relays: Vec<ShortLink>,
    /// The application's data (the chat's profile).
    pub user_data: Vec<u8>,
}

/// The part of the link data its owner may change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnLinkData {
    /// A one-time invitation's.
    Invitation {
        /// Agent versions.
        versions: VersionRange,
        /// The application's data.
        user_data: Vec<u8>,
    },
    /// A contact address's.
    Contact {
        /// Agent versions.
        versions: VersionRange,
        /// The data.
        data: ContactData,
    },
}

impl ConnLinkData {
    /// The application's data.
    pub fn user_data(&self) -> &[u8] {
        match self {
            Self::Invitation { user_data, .. } => user_data,
            Self::Contact { data, .. } => &data.user_data,
        }
    }
}

fn put_key(out: &mut Vec<u8>, key: &PublicKey) -> Result<()> {
    put_short(out, &key.to_der()).map_err(|_| err("key too long"))
}

fn get_ed25519(r: &mut Reader<'_>) -> Result<PublicKey> {
    let der = r.short_bytes().map_err(|_| err("truncated key"))?;
    let key = PublicKey::from_der(der).map_err(|_| err("bad key"))?;
    if key.algorithm() != KeyAlgorithm::Ed25519 {
        return Err(err("not an Ed25519 key"));
    }
    Ok(key)
}

fn put_user_data(out: &mut Vec<u8>, data: &[u8]) -> Result<()> {
    if data.len() <= 254 {
        put_short(out, data).map_err(|_| err("user data"))
    } else {
        out.push(0xFF);
        put_large(out, data).map_err(|_| err("user data longer than 65,535 bytes"))
    }
}

fn get_user_data(r: &mut Reader<'_>) -> Result<Vec<u8>> {
    let bad = |_| err("truncated user data");
    if r.peek() == Some(0xFF) {
        r.byte().map_err(bad)?;
        Ok(r.large_bytes().map_err(bad)?.to_vec())
    } else {
        Ok(r.short_bytes().map_err(bad)?.to_vec())
    }
}

fn get_versions(r: &mut Reader<'_>) -> Result<VersionRange> {
    VersionRange::decode(r).map_err(|_| err("bad version range"))
}

fn put_versions(out: &mut Vec<u8>, v: VersionRange) -> Result<()> {
    v.encode(out).map_err(|_| err("version range"))
}

impl FixedLinkData {
    /// The binary form.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        put_versions(&mut out, self.versions)?;
        put_key(&mut out, &self.root_key)?;
        out.extend_from_slice(&self.request.encode().map_err(|e| err(e.to_string()))?);
        if let Some(id) = &self.entity_id {
            put_short(&mut out, id).map_err(|_| err("entity id"))?;
        }
        Ok(out)
    }

    /// Parses the binary form (a tail after the known fields is ignored, as the reference does
    /// for forward compatibility).
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        let versions = get_versions(&mut r)?;
        let root_key = get_ed25519(&mut r)?;
        let request = ConnectionRequest::decode_from(&mut r).map_err(|e| err(e.to_string()))?;
        let entity_id = r.short_bytes().ok().map(<[u8]>::to_vec);
        Ok(Self {
            versions,
            root_key,
            request,
            entity_id,
        })
    }
}

impl OwnerAuth {
    fn encode_into(&self, out: &mut Vec<u8>) -> Result<()> {
        let mut inner = Vec::new();
        put_short(&mut inner, &self.owner_id).map_err(|_| err("owner id"))?;
        put_key(&mut inner, &self.owner_key)?;
        put_short(&mut inner, &self.signature).map_err(|_| err("owner signature"))?;
        put_short(out, &inner).map_err(|_| err("owner too long"))
    }

    fn decode_from(r: &mut Reader<'_>) -> Result<Self> {
        let inner = r.short_bytes().map_err(|_| err("truncated owner"))?;
        let mut r = Reader::new(inner);
        let bad = |_| err("truncated owner");
        // What follows the known fields is ignored (the reference's extension room).
        Ok(Self {
            owner_id: r.short_bytes().map_err(bad)?.to_vec(),
            owner_key: get_ed25519(&mut r)?,
            signature: r.short_bytes().map_err(bad)?.to_vec(),
        })
    }
}

fn put_count(out: &mut Vec<u8>, n: usize) -> Result<()> {
    out.push(u8::try_from(n).map_err(|_| err("more than 255 list items"))?);
    Ok(())
}

impl ConnLinkData {
    /// The binary form.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        match self {
            Self::Invitation {
                versions,
                user_data,
            } => {
                out.push(b'I');
                put_versions(&mut out, *versions)?;
                put_user_data(&mut out, user_data)?;
            }
            Self::Contact { versions, data } => {
                out.push(b'C');
                put_versions(&mut out, *versions)?;
                out.push(if data.direct { b'T' } else { b'F' });
                put_count(&mut out, data.owners.len())?;
                for o in &data.owners {
                    o.encode_into(&mut out)?;
                }
                put_count(&mut out, data.relays.len())?;
                for l in &data.relays {
                    out.extend_from_slice(&l.encode().map_err(|e| err(e.to_string()))?);
                }
                put_user_data(&mut out, &data.user_data)?;
            }
        }
        Ok(out)
    }

    /// Parses the binary form (a tail after the known fields is ignored).
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        let bad = |_| err("truncated link data");
        match r.byte().map_err(bad)? {
            b'I' => Ok(Self::Invitation {
                versions: get_versions(&mut r)?,
                user_data: get_user_data(&mut r)?,
            }),
            b'C' => {
                let versions = get_versions(&mut r)?;
                let direct = match r.byte().map_err(bad)? {
                    b'T' => true,
                    b'F' => false,
                    _ => return Err(err("bad Bool")),
                };
                let n = r.byte().map_err(bad)?;
                let owners = (0..n)
                    .map(|_| OwnerAuth::decode_from(&mut r))
                    .collect::<Result<_>>()?;
                let n = r.byte().map_err(bad)?;
                let relays = (0..n)
                    .map(|_| ShortLink::decode_from(&mut r).map_err(|e| err(e.to_string())))
                    .collect::<Result<_>>()?;
                let user_data = get_user_data(&mut r)?;
                Ok(Self::Contact {
                    versions,
                    data: ContactData {
                        direct,
                        owners,
                        relays,
                        user_data,
                    },
                })
            }
            _ => Err(err("bad connection mode")),
        }
    }
}

fn sign(key: &PrivateKey, data: Vec<u8>) -> Result<Vec<u8>> {
    let sig = simplex_crypto::sign(key, &data).map_err(|e| err(e.to_string()))?;
    let mut out = Vec::with_capacity(1 + sig.len() + data.len());
    put_short(&mut out, &sig).map_err(|_| err("signature"))?;
    out.extend_from_slice(&data);
    Ok(out)
}

fn hkdf(link_key: &[u8], info: &[u8], len: usize) -> Result<Vec<u8>> {
    simplex_crypto::hkdf::hkdf_sha512(b"", link_key, info, len).map_err(|e| err(e.to_string()))
}

fn sb_key(bytes: &[u8]) -> Result<SbKey> {
    let k: [u8; 32] = bytes.try_into().map_err(|_| err("key length"))?;
    Ok(SbKey::from_bytes(k))
}

/// The key of a one-time invitation's link data.
pub fn invitation_key(link_key: &[u8]) -> Result<SbKey> {
    sb_key(&hkdf(link_key, b"SimpleXInvLink", 32)?)
}

/// A contact address's link id and data key.
pub fn contact_link_id_and_key(link_key: &[u8]) -> Result<(Vec<u8>, SbKey)> {
    let out = hkdf(link_key, b"SimpleXContactLink", 56)?;
    let (id, key) = out.split_at(24);
    Ok((id.to_vec(), sb_key(key)?))
}

/// Signs the fixed and the user data with the root key: `(link key, signed fixed, signed user)`.
pub fn sign_link_data(
    root: &PrivateKey,
    fixed: &FixedLinkData,
    user: &ConnLinkData,
) -> Result<(Vec<u8>, Vec<u8>, Vec<u8>)> {
    let fd = fixed.encode()?;
    let link_key = simplex_crypto::digest::sha3_256(&fd)
        .map_err(|e| err(e.to_string()))?
        .to_vec();
    Ok((link_key, sign(root, fd)?, sign(root, user.encode()?)?))
}

/// Signs new user data with the root key, for LSET (the fixed data stays as it was).
pub fn sign_user_data(root: &PrivateKey, user: &ConnLinkData) -> Result<Vec<u8>> {
    sign(root, user.encode()?)
}

/// Encrypts a signed part, padded to `len`: `nonce ‖ crypto_box`.
pub fn encrypt(key: &SbKey, signed: &[u8], len: usize) -> Result<Vec<u8>> {
    let padded = pad(signed, len).map_err(|_| err("link data too long"))?;
    let nonce = SbNonce::generate();
    let mut out = nonce.0.to_vec();
    out.extend_from_slice(&cryptobox::seal(key, &nonce, &padded));
    Ok(out)
}

fn decrypt(key: &SbKey, enc: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    if enc.len() < 24 {
        return Err(err("truncated"));
    }
    let (nonce, ct) = enc.split_at(24);
    let nonce: [u8; 24] = nonce.try_into().map_err(|_| err("nonce"))?;
    let padded = cryptobox::open(key, &SbNonce(nonce), ct).map_err(|_| err("cannot decrypt"))?;
    let signed = unpad(&padded).map_err(|_| err("bad padding"))?;
    let mut r = Reader::new(signed);
    let sig = r
        .short_bytes()
        .map_err(|_| err("truncated signature"))?
        .to_vec();
    Ok((sig, r.rest().to_vec()))
}

/// Decrypts and checks link data fetched with LGET or LKEY.
pub fn decrypt_link_data(
    link_key: &[u8],
    key: &SbKey,
    enc_fixed: &[u8],
    enc_user: &[u8],
) -> Result<(FixedLinkData, ConnLinkData)> {
    let (sig1, fd) = decrypt(key, enc_fixed)?;
    let (sig2, md) = decrypt(key, enc_user)?;
    let fixed = FixedLinkData::decode(&fd)?;
    let user = ConnLinkData::decode(&md)?;
    let hash = simplex_crypto::digest::sha3_256(&fd).map_err(|e| err(e.to_string()))?;
    // Not a secret: the relay holding the data can compute the same hash.
    if hash[..] != *link_key {
        return Err(err("link data hash"));
    }
    if !simplex_crypto::verify(&fixed.root_key, &fd, &sig1) {
        return Err(err("link data signature"));
    }
    let signed_by = |k: &PublicKey| simplex_crypto::verify(k, &md, &sig2);
    let ok = match &user {
        ConnLinkData::Invitation { .. } => signed_by(&fixed.root_key),
        ConnLinkData::Contact { data, .. } => {
            validate_owners(&fixed.root_key, &data.owners)?;
            signed_by(&fixed.root_key) || data.owners.iter().any(|o| signed_by(&o.owner_key))
        }
    };
    if !ok {
        return Err(err("user data signature"));
    }
    Ok((fixed, user))
}

/// Each owner is authorized by the root key or an owner before it, with no key or id twice and
/// no owner holding the root key.
fn validate_owners(root: &PublicKey, owners: &[OwnerAuth]) -> Result<()> {
    for (i, o) in owners.iter().enumerate() {
        let prev = &owners[..i];
        if &o.owner_key == root {
            return Err(err("an owner key is the root key"));
        }
        if prev
            .iter()
            .any(|p| p.owner_id == o.owner_id || p.owner_key == o.owner_key)
        {
            return Err(err("an owner key or id twice"));
        }
        let mut msg = o.owner_id.clone();
        msg.extend_from_slice(&o.owner_key.to_der());
        let signed_by = |k: &PublicKey| simplex_crypto::verify(k, &msg, &o.signature);
        if !(signed_by(root) || prev.iter().any(|p| signed_by(&p.owner_key))) {
            return Err(err("an owner without a valid authorization"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::links::{QueueMode, QueueUri, RequestKind};
    use simplex_crypto::generate;

    fn request() -> ConnectionRequest {
        ConnectionRequest {
            kind: RequestKind::Contact,
            versions: VersionRange::new(2, 7).unwrap(),
            queues: vec![QueueUri {
                versions: VersionRange::new(1, 4).unwrap(),
                server: crate::links::LinkServer {
                    hosts: vec!["smp.example".into()],
                    port: String::new(),
                    key_hash: vec![7; 32],
                },
                sender_id: vec![1; 24],
                dh_key: PublicKey::from_raw(KeyAlgorithm::X25519, &[9; 32]).unwrap(),
                mode: Some(QueueMode::Contact),
            }],
            client_data: None,
        }
    }

    fn owner(id: &[u8], signer: &PrivateKey) -> (OwnerAuth, PrivateKey) {
        let (owner_key, private) = generate(KeyAlgorithm::Ed25519).unwrap();
        let mut msg = id.to_vec();
        msg.extend_from_slice(&owner_key.to_der());
        let signature = simplex_crypto::sign(signer, &msg).unwrap();
        let auth = OwnerAuth {
            owner_id: id.to_vec(),
            owner_key,
            signature,
        };
        (auth, private)
    }

    fn contact(user_data: &[u8], owners: Vec<OwnerAuth>) -> ConnLinkData {
        ConnLinkData::Contact {
            versions: VersionRange::new(2, 7).unwrap(),
            data: ContactData {
                direct: true,
                owners,
                relays: Vec::new(),
                user_data: user_data.to_vec(),
            },
        }
    }

    /// Signs with `root` (fixed data) and `user_signer` (user data), encrypts as for a contact.
    fn sealed(
        root: &PrivateKey,
        user_signer: &PrivateKey,
        user: &ConnLinkData,
    ) -> (Vec<u8>, SbKey, Vec<u8>, Vec<u8>) {
        let fixed = FixedLinkData {
            versions: VersionRange::new(2, 7).unwrap(),
            root_key: simplex_crypto::public_key(root).unwrap(),
            request: request(),
            entity_id: Some(b"group".to_vec()),
        };
        let (link_key, fd, _) = sign_link_data(root, &fixed, user).unwrap();
        let md = sign(user_signer, user.encode().unwrap()).unwrap();
        let (_, key) = contact_link_id_and_key(&link_key).unwrap();
        let enc_fd = encrypt(&key, &fd, FIXED_DATA_LEN).unwrap();
        let enc_md = encrypt(&key, &md, USER_DATA_LEN).unwrap();
        (link_key, key, enc_fd, enc_md)
    }

    #[test]
    fn link_data_round_trips_at_the_reference_sizes() {
        let root = generate(KeyAlgorithm::Ed25519).unwrap().1;
        // Long user data takes the 0xFF ‖ Large form.
        for user in [contact(b"short", vec![]), contact(&[b'x'; 1000], vec![])] {
            let (link_key, key, fd, md) = sealed(&root, &root, &user);
            assert_eq!(fd.len(), 24 + 16 + FIXED_DATA_LEN);
            assert_eq!(md.len(), 24 + 16 + USER_DATA_LEN);
            let (fixed, got) = decrypt_link_data(&link_key, &key, &fd, &md).unwrap();
            assert_eq!(got, user);
            assert_eq!(fixed.request, request());
            assert_eq!(fixed.entity_id.as_deref(), Some(&b"group"[..]));
        }
        let inv = ConnLinkData::Invitation {
            versions: VersionRange::new(2, 7).unwrap(),
            user_data: b"profile".to_vec(),
        };
        assert_eq!(ConnLinkData::decode(&inv.encode().unwrap()).unwrap(), inv);
        // The contact kdf: 24 bytes of link id, then the key.
        let (id, _) = contact_link_id_and_key(&[5; 32]).unwrap();
        assert_eq!(id.len(), 24);
    }

    #[test]
    fn tampered_or_foreign_link_data_is_refused() {
        let root = generate(KeyAlgorithm::Ed25519).unwrap().1;
        let other = generate(KeyAlgorithm::Ed25519).unwrap().1;
        let user = contact(b"profile", vec![]);
        let (link_key, key, fd, md) = sealed(&root, &root, &user);
        // Another link's key: the hash does not match.
        let e = decrypt_link_data(&[0; 32], &key, &fd, &md).unwrap_err();
        assert_eq!(e, err("link data hash"));
        // A flipped bit: the box does not open.
        let mut broken = md.clone();
        broken[40] ^= 1;
        assert!(decrypt_link_data(&link_key, &key, &fd, &broken).is_err());
        // User data signed by a stranger.
        let (link_key, key, fd, md) = sealed(&root, &other, &user);
        let e = decrypt_link_data(&link_key, &key, &fd, &md).unwrap_err();
        assert_eq!(e, err("user data signature"));
        // Truncated inputs.
        for cut in [0, 10, 30] {
            assert!(decrypt_link_data(&link_key, &key, &fd[..cut], &md).is_err());
        }
    }

    #[test]
    fn owners_may_sign_user_data_when_authorized_in_a_chain_from_the_root() {
        let root = generate(KeyAlgorithm::Ed25519).unwrap().1;
        let (first, first_key) = owner(b"first", &root);
        let (second, second_key) = owner(b"second", &first_key);
        let user = contact(b"profile", vec![first.clone(), second.clone()]);
        let (link_key, key, fd, md) = sealed(&root, &second_key, &user);
        assert!(decrypt_link_data(&link_key, &key, &fd, &md).is_ok());
        // An owner authorized by nobody in the chain.
        let stranger = generate(KeyAlgorithm::Ed25519).unwrap().1;
        let (rogue, rogue_key) = owner(b"rogue", &stranger);
        let user = contact(b"profile", vec![first.clone(), rogue]);
        let (link_key, key, fd, md) = sealed(&root, &rogue_key, &user);
        let e = decrypt_link_data(&link_key, &key, &fd, &md).unwrap_err();
        assert_eq!(e, err("an owner without a valid authorization"));
        // The same id twice.
        let (again, _) = owner(b"first", &root);
        let user = contact(b"profile", vec![first, again]);
        let (link_key, key, fd, md) = sealed(&root, &root, &user);
        let e = decrypt_link_data(&link_key, &key, &fd, &md).unwrap_err();
        assert_eq!(e, err("an owner key or id twice"));
    }

    proptest::proptest! {
        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            let _ = FixedLinkData::decode(&bytes);
            let _ = ConnLinkData::decode(&bytes);
        }
    }
}
