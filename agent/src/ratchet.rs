//! X3DH and the header-encrypted double ratchet, as simplexmq's `Crypto/Ratchet.hs` (e2e
//! versions 2 and 3, post-quantum KEM fields parsed but never offered).
//!
//! ```text
//! X3DH (X448): HKDF-SHA512(salt 64 zeros, dh1 ‖ dh2 ‖ dh3, "SimpleXX3DH") → HK ‖ NHK ‖ RK
//! root step:   HKDF-SHA512(salt RK, DH, "SimpleXRootRatchet")           → RK' ‖ CK ‖ NHK
//! chain step:  HKDF-SHA512(salt "", CK, "SimpleXChainRatchet")          → CK' ‖ MK ‖ IV1 ‖ IV2
//! header:  AES-256-GCM(HKs, IV2, AD, pad(maxVersion ‖ DHRs ‖ [v3: KEM] ‖ PN ‖ Ns, 88))
//! message: len(encHeader) ‖ tag ‖ AES-256-GCM(MK, IV1, AD ‖ encHeader, pad(body, n))
//!          encHeader = version ‖ IV2 ‖ tag ‖ len(encrypted header); len: 2 bytes from v3, 1 before
//! ```
//!
//! The state is plain data: [`Ratchet::encrypt`] changes it, [`Ratchet::decrypt`] returns the
//! next one (the caller stores it, with the skipped keys, before it acknowledges the message).
//! New DH keys come from a [`KeyGen`], so tests can supply the reference's vectors' keys.

use std::collections::BTreeMap;

use simplex_codec::encoding::{pad, unpad};
use simplex_codec::{Decode, Encode, Reader};
use simplex_crypto::{aead, KeyAlgorithm, PrivateKey, PublicKey};
use zeroize::Zeroizing;

/// The e2e version from which headers carry the KEM field and use 2-byte lengths.
pub const PQ_VERSION: u16 = 3;
/// Padded size of a header plaintext without post-quantum keys.
pub const HEADER_LEN: usize = 88;
/// Most message keys skipped in one chain.
pub const MAX_SKIP: u32 = 512;

/// A 32-byte secret, zeroized when dropped.
pub type Key32 = Zeroizing<[u8; 32]>;

/// Why a message could not be decrypted (the reference's `CryptoError` cases).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RatchetError {
    /// The message or its header does not parse (`CryptoHeaderError`).
    #[error("the ratchet message or its header does not parse")]
    HeaderParse,
    /// No known header key opens the header (`CERatchetHeader`).
    #[error("no header key opens the message header")]
    Header,
    /// The ratchet cannot do this in its state (`CERatchetState`).
    #[error("the ratchet state does not allow this")]
    State,
    /// A message older than the current one, not among the skipped (`CERatchetEarlierMessage`).
    #[error("a message {0} earlier than the last one")]
    Earlier(u32),
    /// The message was already decrypted (`CERatchetDuplicateMessage`).
    #[error("a duplicate message")]
    Duplicate,
    /// More than [`MAX_SKIP`] messages would have to be skipped (`CERatchetTooManySkipped`).
    #[error("{0} messages skipped, more than allowed")]
    TooManySkipped(u32),
    /// The body does not decrypt or unpad (`AESDecryptError`).
    #[error("the message does not decrypt")]
    Decrypt,
    /// A post-quantum answer to a proposal this side never made (`CERatchetKEMState`).
    #[error("post-quantum KEM parameters this side cannot answer")]
    KemState,
    /// Key agreement or encryption failed.
    #[error("crypto: {0}")]
    Crypto(String),
}

type Result<T> = std::result::Result<T, RatchetError>;

fn crypto(e: impl std::fmt::Display) -> RatchetError {
    RatchetError::Crypto(e.to_string())
}

/// The e2e versions of a ratchet: the one in use and the highest this side supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Versions {
    /// In use (headers are encoded with it).
    pub current: u16,
    /// Advertised in every header.
    pub max_supported: u16,
}

/// A message key and its body IV.
#[derive(Clone, PartialEq, Eq)]
pub struct MessageKey {
    /// AES-256 key.
    pub key: Key32,
    /// 16-byte GCM IV.
    pub iv: Zeroizing<[u8; 16]>,
}

impl std::fmt::Debug for MessageKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MessageKey(<secret>)")
    }
}

/// The sending chain.
#[derive(Clone)]
pub struct SndRatchet {
    /// The peer's current ratchet key.
    pub dhrr: PublicKey,
    /// Chain key.
    pub ck: Key32,
    /// Header key.
    pub hk: Key32,
}

impl std::fmt::Debug for SndRatchet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SndRatchet(<secret>)")
    }
}

/// The receiving chain.
#[derive(Clone)]
pub struct RcvRatchet {
    /// Chain key.
    pub ck: Key32,
    /// Header key.
    pub hk: Key32,
}

impl std::fmt::Debug for RcvRatchet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RcvRatchet(<secret>)")
    }
}

/// One side's ratchet state.
#[derive(Clone)]
pub struct Ratchet {
    /// Versions in use and supported.
    pub version: Versions,
    /// Associated data: joiner's X3DH key 1 ‖ initiator's X3DH key 1 (raw).
    pub ad: Vec<u8>,
    /// This side's current ratchet key.
    pub dhrs: PrivateKey,
    /// Root key.
    pub rk: Key32,
    /// Sending chain (none until the first DH step on the initiator's side).
    pub snd: Option<SndRatchet>,
    /// Receiving chain.
    pub rcv: Option<RcvRatchet>,
    /// Messages sent in this chain.
    pub ns: u32,
    /// Messages received in this chain.
    pub nr: u32,
    /// Messages in the previous sending chain.
    pub pn: u32,
    /// Next sending header key.
    pub nhks: Key32,
    /// Next receiving header key.
    pub nhkr: Key32,
}

impl std::fmt::Debug for Ratchet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ratchet")
            .field("version", &self.version)
            .field("ns", &self.ns)
            .field("nr", &self.nr)
            .field("pn", &self.pn)
            .finish_non_exhaustive()
    }
}

/// Message keys kept for messages not yet received, by header key and message number.
pub type SkippedKeys = BTreeMap<[u8; 32], BTreeMap<u32, MessageKey>>;

/// How the skipped keys change with a decryption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkippedDiff {
    /// Unchanged.
    NoChange,
    /// The key of (header key, message number) was used: remove it.
    Remove([u8; 32], u32),
    /// New skipped keys to add.
    Add(SkippedKeys),
}

impl SkippedDiff {
    /// Applies the change.
    pub fn apply(&self, skipped: &mut SkippedKeys) {
        match self {
            Self::NoChange => {}
            Self::Remove(hk, n) => {
                if let Some(m) = skipped.get_mut(hk) {
                    m.remove(n);
                    if m.is_empty() {
                        skipped.remove(hk);
                    }
                }
            }
            Self::Add(add) => {
                for (hk, keys) in add {
                    skipped
                        .entry(*hk)
                        .or_default()
                        .extend(keys.iter().map(|(n, k)| (*n, k.clone())));
                }
            }
        }
    }
}

/// The outcome of [`Ratchet::decrypt`] once the header was read: the message (or why not),
/// the next state and the change to the skipped keys - both to be stored even when the
/// message itself failed, as the reference does.
#[derive(Debug)]
pub struct Decrypted {
    /// The unpadded plaintext, or why it could not be decrypted.
    pub message: Result<Vec<u8>>,
    /// The next state.
    pub ratchet: Ratchet,
    /// The change to the skipped keys.
    pub diff: SkippedDiff,
}

/// Where new X448 ratchet keys come from.
pub trait KeyGen {
    /// A fresh X448 key pair.
    fn x448(&mut self) -> Result<(PublicKey, PrivateKey)>;
}

/// Fresh random keys (the normal case).
#[derive(Debug, Default, Clone, Copy)]
pub struct RandomKeys;

impl KeyGen for RandomKeys {
    fn x448(&mut self) -> Result<(PublicKey, PrivateKey)> {
        simplex_crypto::generate(KeyAlgorithm::X448).map_err(crypto)
    }
}

/// The result of X3DH: what both sides' ratchets start from.
#[derive(Clone)]
pub struct X3dh {
    /// Associated data (joiner's key 1 ‖ initiator's key 1, raw).
    pub ad: Vec<u8>,
    /// Root key.
    pub root_key: Key32,
    /// The joiner's first sending header key (the initiator's first receiving one).
    pub header_key: Key32,
    /// The next header key.
    pub next_header_key: Key32,
}

impl std::fmt::Debug for X3dh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("X3dh(<secret>)")
    }
}

fn key32(b: &[u8]) -> Key32 {
    let mut k = Zeroizing::new([0u8; 32]);
    k.copy_from_slice(&b[..32]);
    k
}

fn hkdf3(salt: &[u8], ikm: &[u8], info: &[u8]) -> Result<(Key32, Key32, Zeroizing<Vec<u8>>)> {
    let out =
        Zeroizing::new(simplex_crypto::hkdf::hkdf_sha512(salt, ikm, info, 96).map_err(crypto)?);
    Ok((
        key32(&out[..32]),
        key32(&out[32..64]),
        Zeroizing::new(out[64..].to_vec()),
    ))
}

fn dh(theirs: &PublicKey, ours: &PrivateKey) -> Result<Zeroizing<Vec<u8>>> {
    simplex_crypto::dh(ours, theirs)
        .map(Zeroizing::new)
        .map_err(crypto)
}

fn x3dh(ad: Vec<u8>, dh1: &[u8], dh2: &[u8], dh3: &[u8]) -> Result<X3dh> {
    let ikm = Zeroizing::new([dh1, dh2, dh3].concat());
    let (hk, nhk, rk) = hkdf3(&[0u8; 64], &ikm, b"SimpleXX3DH")?;
    Ok(X3dh {
        ad,
        root_key: key32(&rk),
        header_key: hk,
        next_header_key: nhk,
    })
}

fn x448_public(k: &PrivateKey) -> Result<PublicKey> {
    if k.algorithm() != KeyAlgorithm::X448 {
        return Err(RatchetError::Crypto("X3DH keys must be X448".into()));
    }
    simplex_crypto::public_key(k).map_err(crypto)
}

/// X3DH on the joining side: own keys 1 and 2, the initiator's public keys 1 and 2.
pub fn x3dh_joiner(
    own1: &PrivateKey,
    own2: &PrivateKey,
    peer1: &PublicKey,
    peer2: &PublicKey,
) -> Result<X3dh> {
    let ad = [x448_public(own1)?.raw(), peer1.raw()].concat();
    x3dh(ad, &dh(peer1, own2)?, &dh(peer2, own1)?, &dh(peer2, own2)?)
}

/// X3DH on the initiating side: own keys 1 and 2, the joiner's public keys 1 and 2.
pub fn x3dh_initiator(
    own1: &PrivateKey,
    own2: &PrivateKey,
    joiner1: &PublicKey,
    joiner2: &PublicKey,
) -> Result<X3dh> {
    let ad = [joiner1.raw(), x448_public(own1)?.raw()].concat();
    x3dh(
        ad,
        &dh(joiner2, own1)?,
        &dh(joiner1, own2)?,
        &dh(joiner2, own2)?,
    )
}

fn root_kdf(rk: &[u8; 32], theirs: &PublicKey, ours: &PrivateKey) -> Result<(Key32, Key32, Key32)> {
    let (rk2, ck, nhk) = hkdf3(rk, &dh(theirs, ours)?, b"SimpleXRootRatchet")?;
    Ok((rk2, ck, key32(&nhk)))
}

/// (next chain key, message key with the body IV, header IV).
fn chain_kdf(ck: &[u8; 32]) -> Result<(Key32, MessageKey, [u8; 16])> {
    let (ck2, mk, ivs) = hkdf3(&[], ck, b"SimpleXChainRatchet")?;
    let mut iv1 = Zeroizing::new([0u8; 16]);
    iv1.copy_from_slice(&ivs[..16]);
    let mut iv2 = [0u8; 16];
    iv2.copy_from_slice(&ivs[16..32]);
    Ok((ck2, MessageKey { key: mk, iv: iv1 }, iv2))
}

/// A decrypted header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsgHeader {
    /// The sender's highest supported version.
    pub max_version: u16,
    /// The sender's ratchet key.
    pub dhrs: PublicKey,
    /// Post-quantum parameters (`Some(b'P')` proposed, `Some(b'A')` accepted), never used here.
    pub kem: Option<u8>,
    /// Messages in the sender's previous chain.
    pub pn: u32,
    /// The message's number in its chain.
    pub ns: u32,
}

impl MsgHeader {
    /// The header plaintext at version `v`.
    pub fn encode(&self, v: u16) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(80);
        self.max_version.encode(&mut out).map_err(crypto)?;
        self.dhrs.encode(&mut out).map_err(crypto)?;
        if v >= PQ_VERSION {
            out.push(b'0');
        }
        self.pn.encode(&mut out).map_err(crypto)?;
        self.ns.encode(&mut out).map_err(crypto)?;
        Ok(out)
    }

    /// Parses a header plaintext written at version `v`.
    pub fn decode(bytes: &[u8], v: u16) -> Result<Self> {
        let bad = |_| RatchetError::HeaderParse;
        let mut r = Reader::new(bytes);
        let max_version = u16::decode(&mut r).map_err(bad)?;
        let dhrs = PublicKey::decode(&mut r).map_err(bad)?;
        if dhrs.algorithm() != KeyAlgorithm::X448 {
            return Err(RatchetError::HeaderParse);
        }
        let kem = if v >= PQ_VERSION {
            match r.byte().map_err(bad)? {
                b'0' => None,
                b'1' => {
                    let kind = r.byte().map_err(bad)?;
                    match kind {
                        b'P' => {
                            r.large_bytes().map_err(bad)?;
                        }
                        b'A' => {
                            r.large_bytes().map_err(bad)?;
                            r.large_bytes().map_err(bad)?;
                        }
                        _ => return Err(RatchetError::HeaderParse),
                    }
                    Some(kind)
                }
                _ => return Err(RatchetError::HeaderParse),
            }
        } else {
            None
        };
        let pn = u32::decode(&mut r).map_err(bad)?;
        let ns = u32::decode(&mut r).map_err(bad)?;
        Ok(Self {
            max_version,
            dhrs,
            kem,
            pn,
            ns,
        })
    }
}

/// A length-prefixed string: 2-byte length from [`PQ_VERSION`], 1 byte before.
fn put_len_prefixed(out: &mut Vec<u8>, v: u16, bytes: &[u8]) -> Result<()> {
    if v >= PQ_VERSION {
        let n = u16::try_from(bytes.len()).map_err(|_| RatchetError::State)?;
        out.extend_from_slice(&n.to_be_bytes());
    } else {
        let n = u8::try_from(bytes.len()).map_err(|_| RatchetError::State)?;
        out.push(n);
    }
    out.extend_from_slice(bytes);
    Ok(())
}

/// Reads either length form: a first byte below 32 starts a 2-byte length (a header is never
/// shorter than 32 bytes).
fn len_prefixed<'a>(r: &mut Reader<'a>) -> Result<&'a [u8]> {
    let bad = |_| RatchetError::HeaderParse;
    match r.peek() {
        Some(b) if b < 32 => r.large_bytes().map_err(bad),
        Some(_) => r.short_bytes().map_err(bad),
        None => Err(RatchetError::HeaderParse),
    }
}

/// The parts of a ratchet message.
struct EncMessage<'a> {
    /// The encoded encrypted header (authenticated with the body).
    header: &'a [u8],
    tag: &'a [u8],
    body: &'a [u8],
}

struct EncHeader<'a> {
    version: u16,
    iv: &'a [u8],
    tag: &'a [u8],
    body: &'a [u8],
}

fn parse_message(msg: &[u8]) -> Result<(EncMessage<'_>, EncHeader<'_>)> {
    let bad = |_| RatchetError::HeaderParse;
    let mut r = Reader::new(msg);
    let header = len_prefixed(&mut r)?;
    let tag = r.take(aead::TAG_LEN).map_err(bad)?;
    let body = r.rest();
    let mut h = Reader::new(header);
    let version = u16::decode(&mut h).map_err(bad)?;
    let iv = h.take(16).map_err(bad)?;
    let htag = h.take(aead::TAG_LEN).map_err(bad)?;
    let hbody = len_prefixed(&mut h)?;
    Ok((
        EncMessage { header, tag, body },
        EncHeader {
            version,
            iv,
            tag: htag,
            body: hbody,
        },
    ))
}

fn aead_open(key: &[u8], iv: &[u8], ad: &[u8], body: &[u8], tag: &[u8]) -> Option<Vec<u8>> {
    let padded = Zeroizing::new(aead::decrypt(key, iv, ad, body, tag).ok()?);
    unpad(&padded).ok().map(<[u8]>::to_vec)
}

/// Whether the decryption continues in the same receiving chain or after a DH step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Same,
    Advance,
}

impl Ratchet {
    /// The joiner's ratchet: sending from the start, against the initiator's key 2.
    pub fn init_snd(
        version: Versions,
        dhrr: PublicKey,
        dhrs: PrivateKey,
        x: &X3dh,
    ) -> Result<Self> {
        let (rk, ck, nhks) = root_kdf(&x.root_key, &dhrr, &dhrs)?;
        Ok(Self {
            version,
            ad: x.ad.clone(),
            dhrs,
            rk,
            snd: Some(SndRatchet {
                dhrr,
                ck,
                hk: x.header_key.clone(),
            }),
            rcv: None,
            ns: 0,
            nr: 0,
            pn: 0,
            nhks,
            nhkr: x.next_header_key.clone(),
        })
    }

    /// The initiator's ratchet: receiving first, with its key 2.
    pub fn init_rcv(version: Versions, dhrs: PrivateKey, x: &X3dh) -> Self {
        Self {
            version,
            ad: x.ad.clone(),
            dhrs,
            rk: x.root_key.clone(),
            snd: None,
            rcv: None,
            ns: 0,
            nr: 0,
            pn: 0,
            nhks: x.next_header_key.clone(),
            nhkr: x.header_key.clone(),
        }
    }

    /// Encrypts `msg` padded to `padded_len`; `supported` is this side's highest e2e version
    /// (advertised in the header). The state moves on only when it succeeds.
    pub fn encrypt(&mut self, msg: &[u8], padded_len: usize, supported: u16) -> Result<Vec<u8>> {
        let snd = self.snd.as_ref().ok_or(RatchetError::State)?;
        let (ck, mk, header_iv) = chain_kdf(&snd.ck)?;
        let v = self.version.current;
        let max_supported = supported.max(v);
        let header = MsgHeader {
            max_version: max_supported,
            dhrs: simplex_crypto::public_key(&self.dhrs).map_err(crypto)?,
            kem: None,
            pn: self.pn,
            ns: self.ns,
        }
        .encode(v)?;
        let padded_header = pad(&header, HEADER_LEN).map_err(crypto)?;
        let (hbody, htag) =
            aead::encrypt(&snd.hk[..], &header_iv, &self.ad, &padded_header).map_err(crypto)?;
        let mut enc_header = Vec::with_capacity(40 + hbody.len());
        v.encode(&mut enc_header).map_err(crypto)?;
        enc_header.extend_from_slice(&header_iv);
        enc_header.extend_from_slice(&htag);
        put_len_prefixed(&mut enc_header, v, &hbody)?;
        let padded = Zeroizing::new(pad(msg, padded_len).map_err(crypto)?);
        let ad = [&self.ad[..], &enc_header[..]].concat();
        let (body, tag) = aead::encrypt(&mk.key[..], &mk.iv[..], &ad, &padded).map_err(crypto)?;
        let mut out = Vec::with_capacity(enc_header.len() + 20 + body.len());
        put_len_prefixed(&mut out, v, &enc_header)?;
        out.extend_from_slice(&tag);
        out.extend_from_slice(&body);
        if let Some(s) = self.snd.as_mut() {
            s.ck = ck;
        }
        self.ns += 1;
        self.version.max_supported = max_supported;
        Ok(out)
    }

    fn open_header(&self, hk: &[u8], h: &EncHeader<'_>) -> Result<Option<MsgHeader>> {
        match aead_open(hk, h.iv, &self.ad, h.body, h.tag) {
            None => Ok(None),
            Some(plain) => MsgHeader::decode(&plain, h.version).map(Some),
        }
    }

    fn open_body(&self, mk: &MessageKey, m: &EncMessage<'_>) -> Result<Vec<u8>> {
        let ad = [&self.ad[..], m.header].concat();
        aead_open(&mk.key[..], &mk.iv[..], &ad, m.body, m.tag).ok_or(RatchetError::Decrypt)
    }

    /// Decrypts a message. `Err` means the header could not be read (nothing changes);
    /// otherwise the result carries the next state and skipped keys even when the body failed.
    pub fn decrypt(
        &self,
        skipped: &SkippedKeys,
        msg: &[u8],
        keys: &mut dyn KeyGen,
    ) -> Result<Decrypted> {
        let (m, h) = parse_message(msg)?;
        // A skipped key first: an earlier message arriving late.
        for (hk, mks) in skipped {
            let Some(hdr) = self.open_header(hk, &h)? else {
                continue;
            };
            return match mks.get(&hdr.ns) {
                Some(mk) => Ok(Decrypted {
                    message: self.open_body(mk, &m),
                    ratchet: self.clone(),
                    diff: SkippedDiff::Remove(*hk, hdr.ns),
                }),
                None => {
                    let step = if self.rcv.as_ref().is_some_and(|r| r.hk[..] == hk[..]) {
                        Step::Same
                    } else if self.nhkr[..] == hk[..] {
                        Step::Advance
                    } else {
                        return Err(RatchetError::Header);
                    };
                    self.decrypt_with(step, hdr, &m, keys)
                }
            };
        }
        let (step, hdr) = match &self.rcv {
            Some(r) => match self.open_header(&r.hk[..], &h)? {
                Some(hdr) => (Step::Same, hdr),
                None => (Step::Advance, self.next_header(&h)?),
            },
            None => (Step::Advance, self.next_header(&h)?),
        };
        self.decrypt_with(step, hdr, &m, keys)
    }

    fn next_header(&self, h: &EncHeader<'_>) -> Result<MsgHeader> {
        self.open_header(&self.nhkr[..], h)?
            .ok_or(RatchetError::Header)
    }

    fn decrypt_with(
        &self,
        step: Step,
        hdr: MsgHeader,
        m: &EncMessage<'_>,
        keys: &mut dyn KeyGen,
    ) -> Result<Decrypted> {
        let mut rc = self.clone();
        if hdr.max_version > rc.version.current {
            let up = hdr.max_version.min(rc.version.max_supported);
            rc.version.current = rc.version.current.max(up);
        }
        let mut added = SkippedKeys::new();
        if step == Step::Advance {
            added.extend(rc.skip_keys(hdr.pn)?);
            if hdr.kem == Some(b'A') {
                return Err(RatchetError::KemState);
            }
            rc.dh_step(&hdr.dhrs, self.ns, keys)?;
        }
        let diff = |a: SkippedKeys| {
            if a.is_empty() {
                SkippedDiff::NoChange
            } else {
                SkippedDiff::Add(a)
            }
        };
        match rc.skip_keys(hdr.ns) {
            Err(e) => Ok(Decrypted {
                message: Err(e),
                ratchet: rc,
                diff: diff(added),
            }),
            Ok(more) => {
                added.extend(more);
                let Some(rcv) = rc.rcv.as_mut() else {
                    return Ok(Decrypted {
                        message: Err(RatchetError::State),
                        ratchet: rc,
                        diff: diff(added),
                    });
                };
                let (ck, mk, _) = chain_kdf(&rcv.ck)?;
                rcv.ck = ck;
                rc.nr += 1;
                let message = self.open_body(&mk, m);
                Ok(Decrypted {
                    message,
                    ratchet: rc,
                    diff: diff(added),
                })
            }
        }
    }

    /// Advances the receiving chain to message `until`, keeping the skipped keys.
    fn skip_keys(&mut self, until: u32) -> Result<SkippedKeys> {
        let nr = self.nr;
        let Some(rcv) = self.rcv.as_mut() else {
            return Ok(SkippedKeys::new());
        };
        let (nr64, until64) = (u64::from(nr), u64::from(until));
        if nr64 > until64 + 1 {
            return Err(RatchetError::Earlier((nr64 - until64 - 1) as u32));
        }
        if nr64 == until64 + 1 {
            return Err(RatchetError::Duplicate);
        }
        if nr64 + u64::from(MAX_SKIP) < until64 {
            return Err(RatchetError::TooManySkipped((until64 + 1 - nr64) as u32));
        }
        let mut keys = BTreeMap::new();
        for n in nr..until {
            let (ck, mk, _) = chain_kdf(&rcv.ck)?;
            rcv.ck = ck;
            keys.insert(n, mk);
        }
        self.nr = until;
        let mut out = SkippedKeys::new();
        if !keys.is_empty() {
            out.insert(*rcv.hk, keys);
        }
        Ok(out)
    }

    /// The DH ratchet step on a new ratchet key from the peer.
    fn dh_step(&mut self, theirs: &PublicKey, ns_before: u32, keys: &mut dyn KeyGen) -> Result<()> {
        let (_, new_dhrs) = keys.x448()?;
        let (rk1, ckr, nhkr) = root_kdf(&self.rk, theirs, &self.dhrs)?;
        let (rk2, cks, nhks) = root_kdf(&rk1, theirs, &new_dhrs)?;
        self.dhrs = new_dhrs;
        self.rk = rk2;
        self.snd = Some(SndRatchet {
            dhrr: theirs.clone(),
            ck: cks,
            hk: self.nhks.clone(),
        });
        self.rcv = Some(RcvRatchet {
            ck: ckr,
            hk: self.nhkr.clone(),
        });
        self.pn = ns_before;
        self.ns = 0;
        self.nr = 0;
        self.nhks = nhks;
        self.nhkr = nhkr;
        Ok(())
    }
}
