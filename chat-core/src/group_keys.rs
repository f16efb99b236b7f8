//! Member keys and signed events in channels (the reference's relay groups).
//!
//! Every member of a channel has an Ed25519 signing key of its own in that channel: the owner
//! makes one when it creates the channel and gives the public half to each relay it asks
//! (`x.grp.relay.inv` `fromMemberKey`); a subscriber makes one when it joins and gives it to
//! each relay in its request (`x.member` `newMemberKey`); relays announce members with their
//! keys (`x.grp.mem.new` `memberInfo.memberKey`). A key is the base64url text of the X.509 DER
//! encoding of the public key, as the reference writes `C.PublicKeyEd25519`.
//!
//! The events that change a channel's state (the reference's `requiresSignature`: `x.grp.del`,
//! `x.grp.info`, `x.grp.prefs`, `x.grp.mem.del`, `x.grp.mem.role`, `x.grp.mem.restrict`,
//! `x.grp.leave`, `x.info`; here `x.grp.relay.new` too) are sent signed in a channel: the
//! element `'/'` `'G'` count (`'M'` shortString(signature))* JSON, the signature over
//! `'G'` ‖ shortString(publicGroupId) ‖ shortString(memberId) ‖ JSON - the channel's public
//! id (from its profile) and the sender's member id bind it to the channel and the sender.
//! A relay checks what a member sends against the key it was given and forwards a signed
//! event with its signature in the binary envelope (`'>'` header, then the signed element as
//! received); a subscriber checks it against the key its relay announced. Such an event from a
//! member whose key is known is refused unsigned or with a bad signature; from a member
//! without a key (one that joined before keys, or a client that gives none) a signature
//! cannot be checked and the event is taken as before.
//!
//! ```text
//! group_members.member_key   -- a member's public key (DER), schema v60
//! group_keys.member_priv_key -- our own private key in a channel (DER), schema v60
//! ```

use rusqlite::{params, OptionalExtension};
use simplex_crypto::keys::{KeyAlgorithm, PrivateKey, PublicKey};

use crate::chat::{Chat, ChatError};
use crate::group_store::{Group, Member};
use crate::protocol::{FwdSender, GrpMsgForward, SignedMsg};
use crate::store::{ChatStore, StoreError};

type Result<T> = std::result::Result<T, ChatError>;

/// An owner a channel's link names: its member id and its key (X.509 DER).
pub type LinkOwner = (Vec<u8>, Vec<u8>);

/// The events a member signs in a channel (the reference's `requiresSignature`, and
/// `x.grp.relay.new`, which its newer owners sign too).
pub fn requires_signature(event: &str) -> bool {
    matches!(
        event,
        "x.grp.del"
            | "x.grp.info"
            | "x.grp.prefs"
            | "x.grp.mem.del"
            | "x.grp.mem.role"
            | "x.grp.mem.restrict"
            | "x.grp.leave"
            | "x.info"
            | "x.grp.relay.new"
    )
}

/// A key as the protocol writes it: base64url of its X.509 DER encoding.
pub fn key_text(der: &[u8]) -> String {
    simplex_codec::base64url::encode(der)
}

/// A received key: an Ed25519 public key's DER, or why not.
pub fn parse_key(text: &str) -> std::result::Result<Vec<u8>, String> {
    let der = simplex_codec::base64url::decode(text).ok_or("a member key is not base64url")?;
    match PublicKey::from_der(&der) {
        Ok(k) if k.algorithm() == KeyAlgorithm::Ed25519 => Ok(der),
        Ok(_) => Err("a member key is not an Ed25519 key".into()),
        Err(e) => Err(format!("a member key: {e}")),
    }
}

/// A channel's public id (from its profile's `publicGroup`), the bytes signatures bind to.
pub fn public_group_id(g: &Group) -> Option<Vec<u8>> {
    let id = g
        .profile
        .public_group
        .as_ref()?
        .get("publicGroupId")?
        .as_str()?;
    simplex_codec::base64url::decode(id).filter(|b| !b.is_empty() && b.len() <= 255)
}

/// What a signature covers: the binding (`'G'`, the channel's id, the sender's member id) and
/// the signed bytes.
fn signed_input(group_id: &[u8], member_id: &[u8], body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(3 + group_id.len() + member_id.len() + body.len());
    out.push(b'G');
    simplex_codec::encoding::put_short(&mut out, group_id).ok()?;
    simplex_codec::encoding::put_short(&mut out, member_id).ok()?;
    out.extend_from_slice(body);
    Some(out)
}

/// A signed element: `'/'` `'G'` 1 `'M'` shortString(signature) and the body.
pub fn sign_element(
    key: &PrivateKey,
    group_id: &[u8],
    member_id: &[u8],
    body: &[u8],
) -> std::result::Result<Vec<u8>, String> {
    let input = signed_input(group_id, member_id, body).ok_or("an id too long to sign")?;
    let sig = simplex_crypto::asymmetric::sign(key, &input).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(5 + sig.len() + body.len());
    out.extend_from_slice(b"/G\x01M");
    simplex_codec::encoding::put_short(&mut out, &sig).map_err(|e| e.to_string())?;
    out.extend_from_slice(body);
    Ok(out)
}

/// Whether every signature of `signed` is `key`'s over the binding and the body.
pub fn verify(key_der: &[u8], group_id: &[u8], member_id: &[u8], signed: &SignedMsg) -> bool {
    let Ok(key) = PublicKey::from_der(key_der) else {
        return false;
    };
    let Some(input) = signed_input(group_id, member_id, &signed.body) else {
        return false;
    };
    signed.binding == b'G'
        && !signed.signatures.is_empty()
        && signed
            .signatures
            .iter()
            .all(|(r, sig)| *r == b'M' && simplex_crypto::asymmetric::verify(&key, &input, sig))
}

/// A signed element forwarded by a relay, its signature kept: `'>'`, the header (`'M'`, the
/// author's member id and name, the time in whole seconds) and the element as it was signed.
pub fn forward_signed(header: &GrpMsgForward, signed: &SignedMsg) -> Vec<u8> {
    let mut out = Vec::with_capacity(96 + signed.body.len());
    out.push(b'>');
    match &header.sender {
        FwdSender::Member(id, name) => {
            out.push(b'M');
            let id = &id[..id.len().min(255)];
            out.push(id.len() as u8);
            out.extend_from_slice(id);
            // A name longer than a short string takes is cut at a character.
            let mut end = name.len().min(255);
            while !name.is_char_boundary(end) {
                end -= 1;
            }
            out.push(end as u8);
            out.extend_from_slice(&name.as_bytes()[..end]);
        }
        FwdSender::Channel => out.push(b'C'),
    }
    out.extend_from_slice(&header.broker_ts.secs.to_be_bytes());
    out.push(b'/');
    out.push(signed.binding);
    out.push(signed.signatures.len().min(255) as u8);
    for (r, sig) in signed.signatures.iter().take(255) {
        out.push(*r);
        out.push(sig.len().min(255) as u8);
        out.extend_from_slice(&sig[..sig.len().min(255)]);
    }
    out.extend_from_slice(&signed.body);
    out
}

tokio::task_local! {
    /// The signature of the event being handled (set around its handling, read where its
    /// chat event is made).
    static RECEIVED_SIG: SigStatus;
}

/// The signature of the received event being handled, when it came signed.
pub(crate) fn received_sig() -> Option<SigStatus> {
    RECEIVED_SIG
        .try_with(|s| *s)
        .ok()
        .filter(|s| *s != SigStatus::Unsigned)
}

/// Handles a received event (`work`) knowing its signature ([`received_sig`]).
pub(crate) async fn with_received_sig<T>(
    status: SigStatus,
    work: impl std::future::Future<Output = T>,
) -> T {
    RECEIVED_SIG.scope(status, work).await
}

/// How a received event stood with its signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigStatus {
    /// Not signed (and not required to be).
    Unsigned,
    /// Signed with the sender's known key (the API's `verified`).
    Verified,
    /// Signed, the sender's key unknown here (`signedNoKey`).
    NoKey,
}

impl SigStatus {
    /// The API's `MsgSigStatus`, when signed.
    pub fn api(self) -> Option<&'static str> {
        match self {
            Self::Unsigned => None,
            Self::Verified => Some("verified"),
            Self::NoKey => Some("signedNoKey"),
        }
    }
}

/// Checks an event from `author` in channel `g` against the author's key: a signature
/// present must be the key's; an event that must be signed must be, when the key is known.
pub fn check(
    g: &Group,
    author: &Member,
    event: &str,
    signed: Option<&SignedMsg>,
) -> std::result::Result<SigStatus, String> {
    let key = author.member_key.as_deref();
    match (signed, key) {
        (Some(s), Some(k)) => {
            let group_id = public_group_id(g).ok_or("the channel has no public id")?;
            if verify(k, &group_id, &author.member_id.0, s) {
                Ok(SigStatus::Verified)
            } else {
                Err(format!(
                    "{event} from {}: a bad signature",
                    author.profile.display_name
                ))
            }
        }
        (Some(_), None) => Ok(SigStatus::NoKey),
        (None, Some(_)) if requires_signature(event) => Err(format!(
            "{event} from {} is not signed",
            author.profile.display_name
        )),
        (None, _) => Ok(SigStatus::Unsigned),
    }
}

impl ChatStore {
    /// Our private key in a group (a channel), when made.
    pub fn own_member_key(
        &self,
        group_id: i64,
    ) -> std::result::Result<Option<PrivateKey>, StoreError> {
        let der: Option<zeroize::Zeroizing<Vec<u8>>> = self
            .db
            .query_row(
                "SELECT member_priv_key FROM group_keys WHERE group_id = ?1",
                [group_id],
                |r| r.get::<_, Vec<u8>>(0).map(zeroize::Zeroizing::new),
            )
            .optional()?;
        der.map(|d| PrivateKey::from_der(&d).map_err(|_| StoreError::Corrupt("member key")))
            .transpose()
    }

    /// Keeps our private key in a group.
    pub fn set_own_member_key(
        &self,
        group_id: i64,
        key: &PrivateKey,
    ) -> std::result::Result<(), StoreError> {
        let der = zeroize::Zeroizing::new(key.to_der());
        self.db.execute(
            "INSERT INTO group_keys (group_id, member_priv_key) VALUES (?1, ?2)
             ON CONFLICT (group_id) DO UPDATE SET member_priv_key = excluded.member_priv_key",
            params![group_id, der.as_slice()],
        )?;
        Ok(())
    }

    /// Keeps a channel's owners as its link's data names them (replacing those kept).
    pub fn set_link_owners(
        &self,
        group_id: i64,
        owners: &[LinkOwner],
    ) -> std::result::Result<(), StoreError> {
        let tx = self.db.unchecked_transaction()?;
        tx.execute("DELETE FROM channel_owners WHERE group_id = ?1", [group_id])?;
        for (id, key) in owners {
            tx.execute(
                "INSERT OR REPLACE INTO channel_owners (group_id, member_id, member_key)
                 VALUES (?1, ?2, ?3)",
                params![group_id, id, key],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The owners a channel's link named: none for a channel whose link names none.
    pub fn link_owners(&self, group_id: i64) -> std::result::Result<Vec<LinkOwner>, StoreError> {
        let mut st = self
            .db
            .prepare("SELECT member_id, member_key FROM channel_owners WHERE group_id = ?1")?;
        let rows = st.query_map([group_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Keeps a member's public key (DER).
    pub fn set_member_key(
        &self,
        group_member_id: i64,
        der: &[u8],
    ) -> std::result::Result<(), StoreError> {
        self.db.execute(
            "UPDATE group_members SET member_key = ?2 WHERE group_member_id = ?1",
            params![group_member_id, der],
        )?;
        Ok(())
    }
}

impl Chat {
    /// Our public key in a channel, made (and kept) when there is none yet.
    pub(crate) fn own_key_in(&self, group_id: i64) -> Result<Vec<u8>> {
        let store = self.store();
        if let Some(k) = store.own_member_key(group_id)? {
            let public = simplex_crypto::asymmetric::public_key(&k)
                .map_err(|e| ChatError::Agent(e.to_string()))?;
            return Ok(public.to_der());
        }
        let (public, private) = simplex_crypto::asymmetric::generate(KeyAlgorithm::Ed25519)
            .map_err(|e| ChatError::Agent(e.to_string()))?;
        store.set_own_member_key(group_id, &private)?;
        Ok(public.to_der())
    }

    /// The key of an owner that a relay announces (with `announced`, its key as the relay
    /// says): the one the channel's link names for it when the link names owners - the
    /// relay's must then be that one, and an owner the link does not name is refused -, else
    /// the relay's.
    pub(crate) fn owner_key(
        &self,
        g: &Group,
        member_id: &[u8],
        announced: Option<Vec<u8>>,
    ) -> Result<Option<Vec<u8>>> {
        let owners = self.store().link_owners(g.group_id)?;
        if owners.is_empty() {
            return Ok(announced);
        }
        let Some((_, key)) = owners.into_iter().find(|(id, _)| id == member_id) else {
            return Err(ChatError::Agent(format!(
                "#{}: an owner the channel's link does not name",
                g.local_name
            )));
        };
        if announced.as_ref().is_some_and(|a| *a != key) {
            return Err(ChatError::Agent(format!(
                "#{}: an owner's key that is not the one the channel's link names",
                g.local_name
            )));
        }
        Ok(Some(key))
    }

    /// A received member key kept for `m` (a bad one is an error: nothing kept).
    pub(crate) fn keep_member_key(&self, m: &Member, text: Option<&str>) -> Result<()> {
        let Some(text) = text else { return Ok(()) };
        let der = parse_key(text).map_err(ChatError::Agent)?;
        self.store().set_member_key(m.group_member_id, &der)?;
        Ok(())
    }

    /// The body to send (an encoded message of ours) in group `g`: signed in a channel where
    /// we have a key, when its event is one that is signed there.
    pub(crate) fn signed_body<'a>(
        &self,
        g: &Group,
        body: &'a [u8],
    ) -> Result<std::borrow::Cow<'a, [u8]>> {
        let signed = crate::protocol::event_of(body)
            .and_then(|e| std::str::from_utf8(e).ok())
            .is_some_and(requires_signature);
        if !signed || !self.is_channel(g)? {
            return Ok(body.into());
        }
        let key = self.store().own_member_key(g.group_id)?;
        let (Some(key), Some(group_id)) = (key, public_group_id(g)) else {
            return Ok(body.into());
        };
        let element =
            sign_element(&key, &group_id, &g.member_id.0, body).map_err(ChatError::Agent)?;
        Ok(element.into())
    }

    /// Checks a received element's signature in a channel (see [`check`]) against the key of
    /// its author: the sender `m`, or the member a forward names (binary or JSON - a JSON
    /// forward carries no signature, so an event that must be signed is refused in it when
    /// its author's key is known). Elsewhere, and for authors not known here (the usual
    /// checks refuse those), nothing is checked.
    pub(crate) fn check_signature(
        &self,
        g: &Group,
        m: &Member,
        p: &crate::protocol::ParsedMsg,
    ) -> Result<SigStatus> {
        use crate::protocol::ChatEvent;
        let (author_id, event, signed) = match (&p.forward, &p.msg.event) {
            (Some(h), ev) => match &h.sender {
                FwdSender::Member(id, _) => (Some(id.as_slice()), ev.name(), p.signed.as_ref()),
                FwdSender::Channel => (None, ev.name(), p.signed.as_ref()),
            },
            (None, ChatEvent::GrpMsgForward { member_id, msg, .. }) => (
                member_id.as_ref().map(|i| i.0.as_slice()),
                msg.event.name(),
                None,
            ),
            (None, ev) => (Some(m.member_id.0.as_slice()), ev.name(), p.signed.as_ref()),
        };
        if signed.is_none() && !requires_signature(event) {
            return Ok(SigStatus::Unsigned);
        }
        if !self.is_channel(g)? {
            return Ok(SigStatus::Unsigned);
        }
        let author = match author_id {
            Some(id) if id == m.member_id.0.as_slice() => Some(m.clone()),
            Some(id) => self
                .store()
                .member_by_member_id(g.group_id, &crate::protocol::B64(id.to_vec()))?,
            None => None,
        };
        let Some(author) = author else {
            return Ok(SigStatus::Unsigned);
        };
        check(g, &author, event, signed)
            .map_err(|e| ChatError::Agent(format!("#{}: {e}", g.local_name)))
    }

    /// A message of ours signed at our asking (`sign=on`: a post, its edit) in channel `g`:
    /// none where it is not a channel or we have no key there (the reference's is a no-op
    /// there too); refused for a post as the channel (a signature would name its owner, and
    /// its relays forward it without one).
    pub(crate) fn sign_content(
        &self,
        g: &Group,
        body: &[u8],
        as_channel: bool,
    ) -> Result<Option<Vec<u8>>> {
        if !self.is_channel(g)? {
            return Ok(None);
        }
        if as_channel {
            return Err(ChatError::BadCommand(
                "a post as the channel is not signed (sign=on names its owner)".into(),
            ));
        }
        let key = self.store().own_member_key(g.group_id)?;
        let (Some(key), Some(group_id)) = (key, public_group_id(g)) else {
            return Ok(None);
        };
        sign_element(&key, &group_id, &g.member_id.0, body)
            .map(Some)
            .map_err(ChatError::Agent)
    }

    /// Whether what we send in `g` is signed (a channel where we have a key): the API's
    /// `msgSigned` of our own changes.
    pub(crate) fn signs_in(&self, g: &Group) -> Result<bool> {
        Ok(self.is_channel(g)? && self.store().own_member_key(g.group_id)?.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> (PublicKey, PrivateKey) {
        simplex_crypto::asymmetric::generate(KeyAlgorithm::Ed25519).unwrap()
    }

    fn parsed(bytes: &[u8]) -> crate::protocol::ParsedMsg {
        let mut all = crate::protocol::parse_chat_messages(bytes);
        assert_eq!(all.len(), 1);
        all.pop().unwrap().unwrap()
    }

    const BODY: &[u8] = br#"{"v":"1-16","event":"x.grp.info","params":{"groupProfile":{"displayName":"news","fullName":""}}}"#;

    #[test]
    fn a_signed_element_verifies_with_its_binding_only() {
        let (public, private) = keys();
        let der = public.to_der();
        let el = sign_element(&private, b"channel id", b"owner id", BODY).unwrap();
        let p = parsed(&el);
        let s = p.signed.as_ref().unwrap();
        assert_eq!(s.body, BODY);
        assert_eq!(p.msg.event.name(), "x.grp.info");
        assert!(verify(&der, b"channel id", b"owner id", s));
        // Another channel, another sender, another key, altered bytes: refused.
        assert!(!verify(&der, b"other channel", b"owner id", s));
        assert!(!verify(&der, b"channel id", b"someone else", s));
        assert!(!verify(&keys().0.to_der(), b"channel id", b"owner id", s));
        let mut altered = s.clone();
        altered.body[40] ^= 1;
        assert!(!verify(&der, b"channel id", b"owner id", &altered));
        let mut unsigned = s.clone();
        unsigned.signatures.clear();
        assert!(!verify(&der, b"channel id", b"owner id", &unsigned));
    }

    #[test]
    fn a_forwarded_signed_element_keeps_its_signature() {
        let (public, private) = keys();
        let el = sign_element(&private, b"g", b"m", BODY).unwrap();
        let s = parsed(&el).signed.unwrap();
        let header = GrpMsgForward {
            sender: FwdSender::Member(b"m".to_vec(), "alice Ä".into()),
            broker_ts: simplex_codec::time::UtcTime {
                secs: 1_700_000_000,
                nanos: 0,
            },
        };
        let fwd = parsed(&forward_signed(&header, &s));
        assert_eq!(fwd.forward.as_ref(), Some(&header));
        let s2 = fwd.signed.unwrap();
        assert_eq!(s2, s);
        assert!(verify(&public.to_der(), b"g", b"m", &s2));
        // A name longer than 255 bytes is cut at a character boundary.
        let long = GrpMsgForward {
            sender: FwdSender::Member(b"m".to_vec(), "ä".repeat(200)),
            ..header
        };
        match parsed(&forward_signed(&long, &s)).forward.unwrap().sender {
            FwdSender::Member(_, name) => assert_eq!(name, "ä".repeat(127)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn member_keys_are_ed25519_spki_in_base64url() {
        let (public, _) = keys();
        let text = key_text(&public.to_der());
        assert_eq!(parse_key(&text).unwrap(), public.to_der());
        // 44 bytes of DER: the reference's padded base64url.
        assert_eq!(text.len(), 60);
        assert!(parse_key("not a key").is_err());
        let x = simplex_crypto::asymmetric::generate(KeyAlgorithm::X25519)
            .unwrap()
            .0;
        assert!(parse_key(&key_text(&x.to_der())).is_err());
    }

    /// The checks a subscriber makes of what its relay forwards from an owner (and a relay of
    /// what a member sends): with the author's key, without one, signed or not.
    #[test]
    fn events_are_checked_against_the_authors_key() {
        use crate::group_store::{MemberCategory, MemberStatus, NewMember};
        use crate::protocol::{GroupMemberRole, GroupProfile, Profile, B64};
        let dir = tempfile::tempdir().unwrap();
        let store = ChatStore::open(&dir.path().join("t_chat.db"), None).unwrap();
        let channel_id = b"sixteen byte id!";
        let g = store
            .add_group(
                &GroupProfile {
                    display_name: "news".into(),
                    public_group: Some(serde_json::json!({
                        "groupType": "channel",
                        "groupLink": "https://localhost/c#x",
                        "publicGroupId": simplex_codec::base64url::encode(channel_id),
                    })),
                    ..GroupProfile::default()
                },
                &B64(vec![1; 12]),
                GroupMemberRole::Observer,
                MemberStatus::Connected,
                None,
            )
            .unwrap();
        let add = |id: u8, name: &str| {
            store
                .add_member(&NewMember {
                    group_id: g.group_id,
                    member_id: &B64(vec![id; 12]),
                    role: GroupMemberRole::Owner,
                    category: MemberCategory::Pre,
                    status: MemberStatus::Announced,
                    profile: &Profile {
                        display_name: name.into(),
                        ..Profile::default()
                    },
                    conn_id: None,
                    contact_id: None,
                    invited_by: None,
                })
                .unwrap()
        };
        let (public, private) = keys();
        let alice = Member {
            member_key: Some(public.to_der()),
            ..add(2, "alice")
        };
        let keyless = add(3, "bob");
        let info = br#"{"v":"1-16","event":"x.grp.info","params":{"groupProfile":{"displayName":"news","fullName":"x"}}}"#;
        let signed_by = |key: &PrivateKey, channel: &[u8], member: &[u8]| {
            parsed(&sign_element(key, channel, member, info).unwrap())
                .signed
                .unwrap()
        };
        let good = signed_by(&private, channel_id, &[2; 12]);
        assert_eq!(
            check(&g, &alice, "x.grp.info", Some(&good)),
            Ok(SigStatus::Verified)
        );
        // Another key, another channel, bob's id: refused.
        for bad in [
            signed_by(&keys().1, channel_id, &[2; 12]),
            signed_by(&private, b"another channel", &[2; 12]),
            signed_by(&private, channel_id, &[3; 12]),
        ] {
            let e = check(&g, &alice, "x.grp.info", Some(&bad)).unwrap_err();
            assert!(e.contains("a bad signature"), "{e}");
        }
        // Unsigned: refused where it must be signed, taken where not.
        let e = check(&g, &alice, "x.grp.info", None).unwrap_err();
        assert_eq!(e, "x.grp.info from alice is not signed");
        assert_eq!(
            check(&g, &alice, "x.msg.new", None),
            Ok(SigStatus::Unsigned)
        );
        // An author without a key: nothing to check with.
        assert_eq!(
            check(&g, &keyless, "x.grp.info", None),
            Ok(SigStatus::Unsigned)
        );
        assert_eq!(
            check(&g, &keyless, "x.grp.info", Some(&good)),
            Ok(SigStatus::NoKey)
        );
    }

    #[test]
    fn the_signed_events() {
        for e in [
            "x.grp.info",
            "x.grp.del",
            "x.grp.mem.role",
            "x.grp.leave",
            "x.info",
        ] {
            assert!(requires_signature(e), "{e}");
        }
        for e in [
            "x.msg.new",
            "x.msg.react",
            "x.grp.mem.new",
            "x.grp.msg.forward",
        ] {
            assert!(!requires_signature(e), "{e}");
        }
    }
}
