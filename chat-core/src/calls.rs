//! Audio and video calls with a contact: the reference's WebRTC signalling (`x.call.inv`,
//! `x.call.offer`, `x.call.answer`, `x.call.extra`, `x.call.end`) and its call items. The
//! media itself is not here: as with the reference's terminal client, a call is carried on in
//! a browser (the terminal prints the `https://simplex.chat/call#...` link with the command
//! for its page) or by an app driving the API (`/_call ...`).
//!
//! ```text
//! caller                                   callee
//! /_call invite @N {callType}   x.call.inv  ->  callInvitation, item "incoming call: calling..."
//!   item "outgoing call: calling..."
//!                         <-  x.call.offer      /_call offer @N {callType, rtcSession}
//! callOffer, item "accepted"                    item "incoming call: accepted"
//! /_call answer @N {session}  x.call.answer ->  callAnswer, item "connecting..."
//! /_call extra @N {ice}       x.call.extra  <-> callExtraInfo
//! /_call status @N connected                    item "in progress (00:00)"
//! /_call end @N               x.call.end    ->  callEnded, item "ended (mm:ss)" or "missed"
//! ```
//!
//! An encrypted call (`capabilities.encryption`) agrees an X25519 key: the caller's public key
//! in the invitation, the callee's in its offer; both derive the same shared key, which the
//! browser page uses to encrypt the media frames (`aesKey`). One call per contact, in memory;
//! a received invitation not answered yet is also kept in the database (schema v59, with its
//! agreed key: encrypted with the database) and comes back after a restart, as the
//! reference's.
//! Call commands and the contacts' call events take turns (`Inner::call_turn`, the
//! reference's per-contact lock): a command and an event on the same call never interleave.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::chat::{Chat, ChatError, Event, Response};
use crate::command::ContactName;
use crate::features::InfoItem;
use crate::protocol::{ChatEvent, B64};
use crate::store::{ChatItem, Contact};

type Result<T> = std::result::Result<T, ChatError>;

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallMedia {
    /// Audio only.
    Audio,
    /// Video (with audio).
    Video,
}

impl CallMedia {
    fn name(self) -> &'static str {
        match self {
            CallMedia::Audio => "audio",
            CallMedia::Video => "video",
        }
    }
}

/// What a side of a call can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallCapabilities {
    /// Media frames encrypted with the agreed key.
    pub encryption: bool,
}

/// A call's kind (the reference's `CallType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallType {
    /// Audio or video.
    pub media: CallMedia,
    /// Its capabilities.
    pub capabilities: CallCapabilities,
}

impl CallType {
    /// `/call @name`: a video call, encrypted.
    pub const DEFAULT: CallType = CallType {
        media: CallMedia::Video,
        capabilities: CallCapabilities { encryption: true },
    };

    fn encrypted(&self) -> bool {
        self.capabilities.encryption
    }
}

/// A WebRTC session description and its ICE candidates, as the apps compress them (passed on
/// as they are).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebRtcSession {
    /// The offer or answer.
    pub rtc_session: String,
    /// The ICE candidates.
    pub rtc_ice_candidates: String,
}

/// More ICE candidates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebRtcExtraInfo {
    /// The ICE candidates.
    pub rtc_ice_candidates: String,
}

/// `/_call offer`'s argument: the kind of call accepted and the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebRtcCallOffer {
    /// The kind of call the callee accepts it as.
    pub call_type: CallType,
    /// Its session.
    pub rtc_session: WebRtcSession,
}

/// `x.call.inv`'s `invitation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallInvitation {
    /// The kind of call.
    pub call_type: CallType,
    /// The caller's X25519 key (SubjectPublicKeyInfo, base64url), for an encrypted call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_dh_pub_key: Option<B64>,
}

/// `x.call.offer`'s `offer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallOffer {
    /// The kind of call accepted.
    pub call_type: CallType,
    /// The callee's session.
    pub rtc_session: WebRtcSession,
    /// The callee's X25519 key, for an encrypted call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_dh_pub_key: Option<B64>,
}

/// `x.call.answer`'s `answer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallAnswer {
    /// The caller's session.
    pub rtc_session: WebRtcSession,
}

/// `x.call.extra`'s `extra`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallExtraInfo {
    /// More ICE candidates.
    pub rtc_extra_info: WebRtcExtraInfo,
}

/// `/_call status`: what the browser or app says of the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebRtcStatus {
    /// Connecting.
    Connecting,
    /// Connected: the call is in progress.
    Connected,
    /// Disconnected: the call ended.
    Disconnected,
    /// Failed.
    Failed,
}

impl WebRtcStatus {
    /// From the command's word.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "connecting" => Self::Connecting,
            "connected" => Self::Connected,
            "disconnected" => Self::Disconnected,
            "failed" => Self::Failed,
            _ => return None,
        })
    }
}

/// A call item's status (the reference's `CICallStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ItemStatus {
    Pending,
    Missed,
    Rejected,
    Accepted,
    Negotiated,
    Progress,
    Ended,
    Error,
}

impl ItemStatus {
    fn name(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Missed => "missed",
            Self::Rejected => "rejected",
            Self::Accepted => "accepted",
            Self::Negotiated => "negotiated",
            Self::Progress => "progress",
            Self::Ended => "ended",
            Self::Error => "error",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Missed,
            Self::Rejected,
            Self::Accepted,
            Self::Negotiated,
            Self::Progress,
            Self::Ended,
            Self::Error,
        ]
        .into_iter()
        .find(|st| st.name() == s)
    }

    /// What the item says after `outgoing call: ` / `incoming call: `.
    fn text(self, duration: i64) -> String {
        let d = || format!("({:02}:{:02})", duration / 60, duration % 60);
        match self {
            Self::Pending => "calling...".into(),
            Self::Missed => "missed".into(),
            Self::Rejected => "rejected".into(),
            Self::Accepted => "accepted".into(),
            Self::Negotiated => "connecting...".into(),
            Self::Progress => format!("in progress {}", d()),
            Self::Ended => format!("ended {}", d()),
            Self::Error => "error".into(),
        }
    }

    /// The item: ours (`sndCall`) or the contact's (`rcvCall`).
    fn item(self, sent: bool, duration: i64) -> InfoItem {
        InfoItem {
            sent,
            text: format!(
                "{} call: {}",
                if sent { "outgoing" } else { "incoming" },
                self.text(duration)
            ),
            content: json!({"type": if sent { "sndCall" } else { "rcvCall" },
                            "status": self.name(), "duration": duration}),
            at_epoch: false,
        }
    }
}

/// Where a call is (the reference's `CallState`).
enum CallState {
    InvitationSent {
        local_type: CallType,
        local_key: Option<simplex_crypto::PrivateKey>,
    },
    InvitationReceived {
        peer_type: CallType,
        local_public: Option<B64>,
        shared_key: Option<Zeroizing<Vec<u8>>>,
    },
    /// Our offer sent (the key went to the page with the invitation).
    OfferSent,
    /// The contact's offer received (the key went to the page with it).
    OfferReceived,
    /// Both sessions exchanged (the key is the page's now).
    Negotiated,
}

impl CallState {
    /// The reference's `CallStateTag` name, as its errors give it.
    fn tag(&self) -> &'static str {
        match self {
            Self::InvitationSent { .. } => "invitationSent",
            Self::InvitationReceived { .. } => "invitationReceived",
            Self::OfferSent => "offerSent",
            Self::OfferReceived => "offerReceived",
            Self::Negotiated => "negotiated",
        }
    }
}

/// The call with a contact.
pub(crate) struct Call {
    call_id: Vec<u8>,
    call_uuid: String,
    /// Its item in the contact's chat.
    item_id: i64,
    /// When its item last changed (ms): the start of what a duration counts.
    item_changed: i64,
    /// When it started (ms).
    call_ts: i64,
    state: CallState,
}

/// The calls in progress, by contact.
pub(crate) type Calls = HashMap<i64, Call>;

/// A received invitation (`callInvitation`, `/_call get`).
#[derive(Debug, Clone, PartialEq)]
pub struct RcvCallInvitation {
    /// Who calls.
    pub contact: Contact,
    /// The kind of call.
    pub call_type: CallType,
    /// The agreed key, for an encrypted call.
    pub shared_key: Option<CallKey>,
    /// The call's UUID (the apps' call kit).
    pub call_uuid: String,
    /// When it came (ms).
    pub call_ts: i64,
}

/// A call event of the contact's.
#[derive(Debug, Clone, PartialEq)]
pub enum CallEvent {
    /// A contact calls.
    Invitation(RcvCallInvitation),
    /// The contact accepted our call (`offer`: its session, the kind of call it accepts it as);
    /// `ask_confirmation`: we asked for an encrypted call and it is not.
    Offer {
        /// Who.
        contact: Contact,
        /// The kind of call it accepted.
        call_type: CallType,
        /// Its session.
        offer: WebRtcSession,
        /// The agreed key.
        shared_key: Option<CallKey>,
        /// Not encrypted though we asked.
        ask_confirmation: bool,
    },
    /// The caller answered our offer.
    Answer {
        /// Who.
        contact: Contact,
        /// Its session.
        answer: WebRtcSession,
    },
    /// More ICE candidates.
    ExtraInfo {
        /// Who.
        contact: Contact,
        /// The candidates.
        extra_info: WebRtcExtraInfo,
    },
    /// The contact ended the call.
    Ended(Contact),
}

/// A new X25519 key pair: the public key as sent (SubjectPublicKeyInfo).
fn dh_pair() -> Result<(B64, simplex_crypto::PrivateKey)> {
    let (public, private) = simplex_crypto::generate(simplex_crypto::KeyAlgorithm::X25519)
        .map_err(|e| ChatError::Agent(format!("call key: {e}")))?;
    Ok((B64(public.to_der()), private))
}

/// The shared key of our private key and the peer's public one (none for a key that is not
/// an X25519 key: the call then is not encrypted).
fn shared(ours: &simplex_crypto::PrivateKey, theirs: &B64) -> Option<Zeroizing<Vec<u8>>> {
    let theirs = simplex_crypto::PublicKey::from_der(&theirs.0).ok()?;
    if theirs.algorithm() != simplex_crypto::KeyAlgorithm::X25519 {
        return None;
    }
    simplex_crypto::asymmetric::dh(ours, &theirs)
        .ok()
        .map(Zeroizing::new)
}

/// A call's agreed key as the API and the call page take it (base64url, padded: the
/// reference's `strEncode` of a key); wiped when dropped, never shown in debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct CallKey(Zeroizing<String>);

impl CallKey {
    /// The key's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for CallKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallKey(..)")
    }
}

fn key_text(k: &Option<Zeroizing<Vec<u8>>>) -> Option<CallKey> {
    k.as_ref().map(|k| {
        use base64::Engine;
        CallKey(Zeroizing::new(
            base64::engine::general_purpose::URL_SAFE.encode(k.as_slice()),
        ))
    })
}

/// A random (version 4) UUID.
fn new_uuid() -> String {
    let mut b = [0u8; 16];
    simplex_crypto::random_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The reference's `callStatusItemContent`: what a call item becomes when the call's status
/// is `status` (none: it stays).
fn next_status(now: ItemStatus, status: WebRtcStatus, elapsed: i64) -> Option<(ItemStatus, i64)> {
    use ItemStatus as S;
    use WebRtcStatus as W;
    match (now, status) {
        (S::Progress, W::Connected) => None,
        (S::Progress, W::Disconnected | W::Failed) => Some((S::Ended, elapsed)),
        (S::Pending, W::Disconnected) => Some((S::Missed, 0)),
        (S::Ended | S::Error, _) => None,
        (_, W::Connecting) => Some((S::Negotiated, 0)),
        (_, W::Connected) => Some((S::Progress, 0)),
        (_, W::Disconnected) => Some((S::Ended, 0)),
        (_, W::Failed) => Some((S::Error, 0)),
    }
}

impl Chat {
    /// `/_call invite @N <callType>`, `/call @name`: calls a contact (a new call replaces one
    /// in progress with it, which ends).
    pub(crate) async fn call_invite(
        &self,
        who: ContactName,
        call_type: CallType,
    ) -> Result<Response> {
        let _turn = self.inner.call_turn.lock().await;
        let (contact, conn) = self.connected_contact(who)?;
        if !crate::features::Prefs::of(&contact)
            .enabled("calls")
            .for_user
        {
            return Err(ChatError::FeatureNotAllowed("Audio/video calls".into()));
        }
        let mut call_id = vec![0u8; 16];
        simplex_crypto::random_bytes(&mut call_id);
        let (public, private) = match call_type.encrypted() {
            true => {
                let (p, k) = dh_pair()?;
                (Some(p), Some(k))
            }
            false => (None, None),
        };
        let invitation = CallInvitation {
            call_type,
            call_dh_pub_key: public,
        };
        self.send_event(
            conn,
            ChatEvent::CallInv {
                call_id: B64(call_id.clone()),
                invitation,
            },
        )
        .await?;
        let item = self.call_item(&contact, ItemStatus::Pending.item(true, 0))?;
        let call = Call {
            call_id,
            call_uuid: new_uuid(),
            item_id: item.item_id,
            item_changed: crate::store::now_ms(),
            call_ts: item.item_ts,
            state: CallState::InvitationSent {
                local_type: call_type,
                local_key: private,
            },
        };
        let old = self.calls().insert(contact.contact_id, call);
        self.keep_stored(contact.contact_id)?;
        if let Some(old) = old {
            self.call_status_changed(&contact, &old, WebRtcStatus::Disconnected)
                .await?;
        }
        self.emit(Event::InfoItem(contact, item)).await;
        Ok(Response::Ok)
    }

    /// `/_call reject @N`: declines a call we were invited to (nothing is sent: the caller's
    /// call stays unanswered).
    pub(crate) async fn call_reject(&self, contact_id: i64) -> Result<Response> {
        let _turn = self.inner.call_turn.lock().await;
        let contact = self.contact_by_id(contact_id)?;
        let call = self.current_call(contact_id)?;
        if !matches!(call.state, CallState::InvitationReceived { .. }) {
            let tag = call.state.tag();
            self.calls().insert(contact_id, call);
            return Err(ChatError::CallState(tag));
        }
        self.keep_stored(contact_id)?;
        self.set_call_item(&contact, call.item_id, ItemStatus::Rejected.item(false, 0))
            .await?;
        Ok(Response::Ok)
    }

    /// `/_call offer @N <offer>`: accepts a call we were invited to.
    pub(crate) async fn call_offer(
        &self,
        contact_id: i64,
        offer: WebRtcCallOffer,
    ) -> Result<Response> {
        let _turn = self.inner.call_turn.lock().await;
        let (contact, conn) = self.connected_contact(ContactName::Id(contact_id))?;
        let call = self.current_call(contact_id)?;
        let CallState::InvitationReceived { local_public, .. } = &call.state else {
            return Err(self.keep_call(contact_id, call));
        };
        let msg = CallOffer {
            call_type: offer.call_type,
            rtc_session: offer.rtc_session,
            call_dh_pub_key: if offer.call_type.encrypted() {
                local_public.clone()
            } else {
                None
            },
        };
        let event = ChatEvent::CallOffer {
            call_id: B64(call.call_id.clone()),
            offer: msg,
        };
        let step = (CallState::OfferSent, ItemStatus::Accepted.item(false, 0));
        self.call_step(&contact, conn, call, event, step).await
    }

    /// A call's next step of ours: `event` sent, then the call is in the step's state and
    /// its item says the step's (not sent: the call stays as it was, to be tried again).
    async fn call_step(
        &self,
        contact: &Contact,
        conn: agent::agent::ConnId,
        mut call: Call,
        event: ChatEvent,
        (state, item): (CallState, InfoItem),
    ) -> Result<Response> {
        if let Err(e) = self.send_event(conn, event).await {
            self.calls().insert(contact.contact_id, call);
            return Err(e);
        }
        call.state = state;
        self.set_call_item_kept(contact, call, item).await?;
        Ok(Response::Ok)
    }

    /// `/_call answer @N <session>`: the caller's answer to the contact's offer.
    pub(crate) async fn call_answer(
        &self,
        contact_id: i64,
        session: WebRtcSession,
    ) -> Result<Response> {
        let _turn = self.inner.call_turn.lock().await;
        let (contact, conn) = self.connected_contact(ContactName::Id(contact_id))?;
        let call = self.current_call(contact_id)?;
        if !matches!(call.state, CallState::OfferReceived) {
            return Err(self.keep_call(contact_id, call));
        }
        let event = ChatEvent::CallAnswer {
            call_id: B64(call.call_id.clone()),
            answer: CallAnswer {
                rtc_session: session,
            },
        };
        let step = (CallState::Negotiated, ItemStatus::Negotiated.item(true, 0));
        self.call_step(&contact, conn, call, event, step).await
    }

    /// `/_call extra @N <info>`: more ICE candidates to the other side.
    pub(crate) async fn call_extra(
        &self,
        contact_id: i64,
        info: WebRtcExtraInfo,
    ) -> Result<Response> {
        let _turn = self.inner.call_turn.lock().await;
        let (_, conn) = self.connected_contact(ContactName::Id(contact_id))?;
        let call = self.current_call(contact_id)?;
        if !matches!(call.state, CallState::OfferSent | CallState::Negotiated) {
            return Err(self.keep_call(contact_id, call));
        }
        let call_id = B64(call.call_id.clone());
        self.calls().insert(contact_id, call);
        self.send_event(
            conn,
            ChatEvent::CallExtra {
                call_id,
                extra: CallExtraInfo {
                    rtc_extra_info: info,
                },
            },
        )
        .await?;
        Ok(Response::Ok)
    }

    /// `/_call end @N`: ends the call (either side).
    pub(crate) async fn call_end(&self, contact_id: i64) -> Result<Response> {
        let _turn = self.inner.call_turn.lock().await;
        let (contact, conn) = self.connected_contact(ContactName::Id(contact_id))?;
        let call = self.current_call(contact_id)?;
        let sent = self
            .send_event(
                conn,
                ChatEvent::CallEnd {
                    call_id: B64(call.call_id.clone()),
                },
            )
            .await;
        if let Err(e) = sent {
            self.calls().insert(contact_id, call);
            return Err(e);
        }
        self.keep_stored(contact_id)?;
        self.call_status_changed(&contact, &call, WebRtcStatus::Disconnected)
            .await?;
        Ok(Response::Ok)
    }

    /// `/_call status @N <status>`: what the call's page says of the connection, for its item.
    pub(crate) async fn call_status(
        &self,
        contact_id: i64,
        status: WebRtcStatus,
    ) -> Result<Response> {
        let _turn = self.inner.call_turn.lock().await;
        let contact = self.contact_by_id(contact_id)?;
        let mut call = self.current_call(contact_id)?;
        let changed = self.advance_item(&contact, &call, status).await;
        // Its item's time restarts when it changed; the call is kept whatever happened.
        if matches!(changed, Ok(true)) {
            call.item_changed = crate::store::now_ms();
        }
        self.calls().insert(contact_id, call);
        changed.map(|_| Response::Ok)
    }

    /// `/_call get`: the calls we are invited to, not answered yet.
    pub(crate) fn call_invitations(&self) -> Result<Response> {
        let invited: Vec<(i64, CallType, Option<CallKey>, String, i64)> = self
            .calls()
            .iter()
            .filter_map(|(c, call)| match &call.state {
                CallState::InvitationReceived {
                    peer_type,
                    shared_key,
                    ..
                } => Some((
                    *c,
                    *peer_type,
                    key_text(shared_key),
                    call.call_uuid.clone(),
                    call.call_ts,
                )),
                _ => None,
            })
            .collect();
        let mut out = Vec::new();
        for (contact_id, call_type, shared_key, call_uuid, call_ts) in invited {
            if let Ok(contact) = self.contact_by_id(contact_id) {
                out.push(RcvCallInvitation {
                    contact,
                    call_type,
                    shared_key,
                    call_uuid,
                    call_ts,
                });
            }
        }
        out.sort_by_key(|i| i.call_ts);
        Ok(Response::CallInvitations(out))
    }

    /// `x.call.inv`: the contact calls us - unless calls are off for it (an item says so).
    pub(crate) async fn received_call_invitation(
        &self,
        contact: &Contact,
        call_id: B64,
        invitation: CallInvitation,
    ) -> Result<()> {
        let _turn = self.inner.call_turn.lock().await;
        if !crate::features::Prefs::of(contact)
            .enabled("calls")
            .for_contact
        {
            return self.add_info(contact, &[InfoItem::rejected("calls")]).await;
        }
        let call_type = invitation.call_type;
        let (local_public, shared_key) = match (call_type.encrypted(), &invitation.call_dh_pub_key)
        {
            (true, Some(theirs)) => {
                let (public, private) = dh_pair()?;
                (Some(public), shared(&private, theirs))
            }
            (true, None) => (Some(dh_pair()?.0), None),
            (false, _) => (None, None),
        };
        let item = self.call_item(contact, ItemStatus::Pending.item(false, 0))?;
        let invitation = RcvCallInvitation {
            contact: contact.clone(),
            call_type,
            shared_key: key_text(&shared_key),
            call_uuid: new_uuid(),
            call_ts: item.item_ts,
        };
        let call = Call {
            call_id: call_id.0,
            call_uuid: invitation.call_uuid.clone(),
            item_id: item.item_id,
            item_changed: crate::store::now_ms(),
            call_ts: item.item_ts,
            state: CallState::InvitationReceived {
                peer_type: call_type,
                local_public,
                shared_key,
            },
        };
        let old = self.calls().insert(contact.contact_id, call);
        self.keep_stored(contact.contact_id)?;
        if let Some(old) = old {
            self.call_status_changed(contact, &old, WebRtcStatus::Disconnected)
                .await?;
        }
        self.emit(Event::Call(CallEvent::Invitation(invitation)))
            .await;
        self.emit(Event::InfoItem(contact.clone(), item)).await;
        Ok(())
    }

    /// `x.call.offer`: the contact accepted our call.
    pub(crate) async fn received_call_offer(
        &self,
        contact: &Contact,
        call_id: &B64,
        offer: CallOffer,
    ) -> Result<()> {
        let _turn = self.inner.call_turn.lock().await;
        let Some(mut call) = self.call_for(contact, call_id, "x.call.offer").await else {
            return Ok(());
        };
        let CallState::InvitationSent {
            local_type,
            local_key,
        } = &call.state
        else {
            return self.call_state_error(contact, call, "x.call.offer").await;
        };
        let local_type = *local_type;
        let shared_key = match (local_key, &offer.call_dh_pub_key) {
            (Some(k), Some(theirs)) => shared(k, theirs),
            _ => None,
        };
        let event = CallEvent::Offer {
            contact: contact.clone(),
            call_type: offer.call_type,
            offer: offer.rtc_session,
            shared_key: key_text(&shared_key),
            ask_confirmation: local_type.encrypted() && !offer.call_type.encrypted(),
        };
        call.state = CallState::OfferReceived;
        self.emit(Event::Call(event)).await;
        self.set_call_item_kept(contact, call, ItemStatus::Accepted.item(true, 0))
            .await
    }

    /// `x.call.answer`: the caller answered our offer.
    pub(crate) async fn received_call_answer(
        &self,
        contact: &Contact,
        call_id: &B64,
        answer: CallAnswer,
    ) -> Result<()> {
        let _turn = self.inner.call_turn.lock().await;
        let Some(mut call) = self.call_for(contact, call_id, "x.call.answer").await else {
            return Ok(());
        };
        if !matches!(call.state, CallState::OfferSent) {
            return self.call_state_error(contact, call, "x.call.answer").await;
        }
        call.state = CallState::Negotiated;
        self.emit(Event::Call(CallEvent::Answer {
            contact: contact.clone(),
            answer: answer.rtc_session,
        }))
        .await;
        self.set_call_item_kept(contact, call, ItemStatus::Negotiated.item(false, 0))
            .await
    }

    /// `x.call.extra`: more ICE candidates from the other side.
    pub(crate) async fn received_call_extra(
        &self,
        contact: &Contact,
        call_id: &B64,
        extra: CallExtraInfo,
    ) -> Result<()> {
        let _turn = self.inner.call_turn.lock().await;
        let Some(call) = self.call_for(contact, call_id, "x.call.extra").await else {
            return Ok(());
        };
        if !matches!(call.state, CallState::OfferReceived | CallState::Negotiated) {
            return self.call_state_error(contact, call, "x.call.extra").await;
        }
        self.calls().insert(contact.contact_id, call);
        self.emit(Event::Call(CallEvent::ExtraInfo {
            contact: contact.clone(),
            extra_info: extra.rtc_extra_info,
        }))
        .await;
        Ok(())
    }

    /// `x.call.end`: the other side ended the call.
    pub(crate) async fn received_call_end(&self, contact: &Contact, call_id: &B64) -> Result<()> {
        let _turn = self.inner.call_turn.lock().await;
        let Some(call) = self.call_for(contact, call_id, "x.call.end").await else {
            return Ok(());
        };
        self.keep_stored(contact.contact_id)?;
        self.emit(Event::Call(CallEvent::Ended(contact.clone())))
            .await;
        self.call_status_changed(contact, &call, WebRtcStatus::Disconnected)
            .await
    }

    /// A deleted contact's call, forgotten.
    pub(crate) fn forget_call(&self, contact_id: i64) {
        self.calls().remove(&contact_id);
    }

    /// The received invitations kept before a restart, back in memory (at the start).
    pub(crate) fn load_calls(&self) -> Result<()> {
        let stored = self.store().stored_calls()?;
        let now = crate::store::now_ms();
        for (contact_id, c) in stored {
            let Ok(peer_type) = serde_json::from_str::<CallType>(&c.call_type) else {
                continue;
            };
            let call = Call {
                call_id: c.call_id,
                call_uuid: c.call_uuid,
                item_id: c.item_id,
                item_changed: now,
                call_ts: c.call_ts,
                state: CallState::InvitationReceived {
                    peer_type,
                    local_public: c.local_public.map(B64),
                    shared_key: c.shared_key,
                },
            };
            self.calls().insert(contact_id, call);
        }
        Ok(())
    }

    /// The contact's call as kept across a restart: a received invitation not answered
    /// yet, nothing otherwise (the reference keeps the same).
    fn keep_stored(&self, contact_id: i64) -> Result<()> {
        let stored = match self.calls().get(&contact_id) {
            Some(Call {
                call_id,
                call_uuid,
                item_id,
                call_ts,
                state:
                    CallState::InvitationReceived {
                        peer_type,
                        local_public,
                        shared_key,
                    },
                ..
            }) => Some(crate::store::StoredCall {
                call_id: call_id.clone(),
                call_uuid: call_uuid.clone(),
                item_id: *item_id,
                call_type: serde_json::to_string(peer_type)
                    .map_err(|e| ChatError::Agent(format!("call type: {e}")))?,
                local_public: local_public.as_ref().map(|k| k.0.clone()),
                shared_key: shared_key.clone(),
                call_ts: *call_ts,
            }),
            _ => None,
        };
        self.store().set_stored_call(contact_id, stored.as_ref())?;
        Ok(())
    }

    /// The calls in progress.
    fn calls(&self) -> std::sync::MutexGuard<'_, Calls> {
        self.inner
            .calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The call with a contact, taken out (put back by whoever keeps it); `no call in
    /// progress` when there is none.
    fn current_call(&self, contact_id: i64) -> Result<Call> {
        self.calls()
            .remove(&contact_id)
            .ok_or(ChatError::NoCurrentCall)
    }

    /// A call in the wrong state for a command: kept, and the error for it.
    fn keep_call(&self, contact_id: i64, call: Call) -> ChatError {
        let tag = call.state.tag();
        self.calls().insert(contact_id, call);
        ChatError::CallState(tag)
    }

    /// The call a contact's call event is about, taken out; none (an error line) when there is
    /// no call with it or it is another call.
    async fn call_for(&self, contact: &Contact, call_id: &B64, event: &str) -> Option<Call> {
        let call = self.calls().remove(&contact.contact_id);
        match call {
            None => {
                self.emit(Event::Error(format!("{event}: no current call")))
                    .await;
                None
            }
            Some(c) if c.call_id != call_id.0 => {
                self.calls().insert(contact.contact_id, c);
                self.emit(Event::Error(format!("{event}: wrong contact or callId")))
                    .await;
                None
            }
            Some(c) => Some(c),
        }
    }

    /// A call event that does not fit the call's state: the call stays, an error line.
    async fn call_state_error(&self, contact: &Contact, call: Call, event: &str) -> Result<()> {
        let tag = call.state.tag();
        self.calls().insert(contact.contact_id, call);
        self.emit(Event::Error(format!("{event}: wrong call state {tag}")))
            .await;
        Ok(())
    }

    /// A new call item, stored (reported by the caller).
    fn call_item(&self, contact: &Contact, item: InfoItem) -> Result<ChatItem> {
        self.store()
            .add_info_items(contact.contact_id, &[item])?
            .pop()
            .ok_or(ChatError::Agent("the call's item was not stored".into()))
    }

    /// The call's item says `now`; reported.
    async fn set_call_item(&self, contact: &Contact, item_id: i64, now: InfoItem) -> Result<()> {
        let item = self.store().item(contact.contact_id, item_id)?;
        if let Some(item) = item {
            let item = self.store().update_info_item(item, &now)?;
            let item = self.timed_if_over(contact, item)?;
            self.emit(Event::Updated(contact.clone(), item)).await;
        }
        Ok(())
    }

    /// A call item whose call is over (missed, rejected, ended, failed) disappears with the
    /// contact's disappearing messages, as the reference's (`callTimed`).
    fn timed_if_over(&self, contact: &Contact, item: ChatItem) -> Result<ChatItem> {
        let over = item
            .info
            .as_ref()
            .and_then(|i| i["status"].as_str())
            .and_then(ItemStatus::parse)
            .is_some_and(|s| {
                matches!(
                    s,
                    ItemStatus::Missed
                        | ItemStatus::Rejected
                        | ItemStatus::Ended
                        | ItemStatus::Error
                )
            });
        match (over, crate::features::Prefs::of(contact).timed_ttl()) {
            (true, Some(ttl)) => self.set_timer(item, ttl),
            _ => Ok(item),
        }
    }

    /// As [`Chat::set_call_item`], for a call that goes on: kept first, in memory and as
    /// kept across a restart (a failure to store its item loses no call), its item's time
    /// restarted.
    async fn set_call_item_kept(
        &self,
        contact: &Contact,
        mut call: Call,
        now: InfoItem,
    ) -> Result<()> {
        call.item_changed = crate::store::now_ms();
        let item_id = call.item_id;
        self.calls().insert(contact.contact_id, call);
        self.keep_stored(contact.contact_id)?;
        self.set_call_item(contact, item_id, now).await
    }

    /// The call ended: its item says so (the call is not kept).
    async fn call_status_changed(
        &self,
        contact: &Contact,
        call: &Call,
        status: WebRtcStatus,
    ) -> Result<()> {
        self.advance_item(contact, call, status).await.map(|_| ())
    }

    /// The reference's `updateCallItemStatus`: the call's item after the call's status
    /// `status`, reported; whether it changed.
    async fn advance_item(
        &self,
        contact: &Contact,
        call: &Call,
        status: WebRtcStatus,
    ) -> Result<bool> {
        let item = self.store().item(contact.contact_id, call.item_id)?;
        let Some(item) = item else {
            return Ok(false);
        };
        let now = item
            .info
            .as_ref()
            .and_then(|i| i["status"].as_str())
            .and_then(ItemStatus::parse);
        let elapsed = (crate::store::now_ms() - call.item_changed).max(0) / 1000;
        let Some((st, duration)) = now.and_then(|st| next_status(st, status, elapsed)) else {
            return Ok(false);
        };
        let sent = item.sent;
        let item = self
            .store()
            .update_info_item(item, &st.item(sent, duration))?;
        let item = self.timed_if_over(contact, item)?;
        self.emit(Event::Updated(contact.clone(), item)).await;
        Ok(true)
    }
}

/// The API's JSON of a call type.
pub fn call_type_json(t: &CallType) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
}

/// `https://simplex.chat/call#...`: the link of the call page with its command (the
/// reference's query: `command=<JSON>&contact_id=<id>`, form-encoded).
pub fn call_page_link(command: &str, contact_id: i64) -> String {
    format!(
        "https://simplex.chat/call#command={}&contact_id={contact_id}",
        form_encode(command)
    )
}

/// A JSON object with its keys in this order (as the reference's encoder writes them).
fn ordered(fields: &[(&str, Value)]) -> String {
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}:{v}", Value::from(*k)))
        .collect();
    format!("{{{}}}", body.join(","))
}

/// The page's command to start a call we are invited to (`start`) or to connect to one we
/// placed (`offer`).
pub fn page_command(
    media: CallMedia,
    shared_key: Option<&str>,
    offer: Option<&WebRtcSession>,
) -> String {
    let mut o = Vec::new();
    match offer {
        None => o.push(("type", json!("start"))),
        Some(s) => {
            o.push(("type", json!("offer")));
            o.push(("offer", json!(s.rtc_session)));
            o.push(("iceCandidates", json!(s.rtc_ice_candidates)));
        }
    }
    o.push(("media", json!(media.name())));
    if let Some(k) = shared_key {
        o.push(("aesKey", json!(k)));
    }
    o.push(("useWorker", json!(true)));
    ordered(&o)
}

/// The data of the caller's answer to paste into the page.
pub fn page_answer(answer: &WebRtcSession) -> String {
    ordered(&[
        ("type", json!("answer")),
        ("answer", json!(answer.rtc_session)),
        ("iceCandidates", json!(answer.rtc_ice_candidates)),
    ])
}

/// The kind of call as the terminal says it: `video call (e2e encrypted)`.
pub fn call_kind(t: &CallType) -> String {
    format!(
        "{} call {}",
        t.media.name(),
        if t.encrypted() {
            "(e2e encrypted)"
        } else {
            "(not e2e encrypted)"
        }
    )
}

/// Which browsers encrypt WebRTC media, for an encrypted call.
pub fn browsers_note(t: &CallType) -> &'static str {
    if t.encrypted() {
        " (only Chrome and Safari support e2e encryption for WebRTC, Safari may require enabling WebRTC insertable streams)"
    } else {
        ""
    }
}

/// Form encoding of a query value (http-types' `urlEncode True`): unreserved characters kept,
/// a space as `+`, anything else `%XX`.
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_items_say_what_the_reference_says() {
        let t = |s: ItemStatus, sent, d| s.item(sent, d).text;
        assert_eq!(t(ItemStatus::Pending, true, 0), "outgoing call: calling...");
        assert_eq!(
            t(ItemStatus::Pending, false, 0),
            "incoming call: calling..."
        );
        assert_eq!(t(ItemStatus::Accepted, false, 0), "incoming call: accepted");
        assert_eq!(
            t(ItemStatus::Negotiated, true, 0),
            "outgoing call: connecting..."
        );
        assert_eq!(
            t(ItemStatus::Progress, true, 0),
            "outgoing call: in progress (00:00)"
        );
        assert_eq!(
            t(ItemStatus::Ended, false, 125),
            "incoming call: ended (02:05)"
        );
        let item = ItemStatus::Missed.item(false, 0);
        assert_eq!(
            item.content,
            json!({"type": "rcvCall", "status": "missed", "duration": 0})
        );
    }

    #[test]
    fn statuses_follow_the_reference() {
        use ItemStatus as S;
        use WebRtcStatus as W;
        assert_eq!(
            next_status(S::Pending, W::Disconnected, 9),
            Some((S::Missed, 0))
        );
        assert_eq!(
            next_status(S::Progress, W::Disconnected, 9),
            Some((S::Ended, 9))
        );
        assert_eq!(next_status(S::Progress, W::Connected, 9), None);
        assert_eq!(
            next_status(S::Negotiated, W::Connected, 9),
            Some((S::Progress, 0))
        );
        assert_eq!(
            next_status(S::Accepted, W::Connecting, 9),
            Some((S::Negotiated, 0))
        );
        assert_eq!(next_status(S::Accepted, W::Failed, 9), Some((S::Error, 0)));
        assert_eq!(next_status(S::Ended, W::Connected, 9), None);
    }

    #[test]
    fn the_call_page_link_is_form_encoded() {
        let cmd = page_command(CallMedia::Video, Some("a-b_c="), None);
        assert_eq!(
            cmd,
            r#"{"type":"start","media":"video","aesKey":"a-b_c=","useWorker":true}"#
        );
        assert_eq!(
            call_page_link(&cmd, 2),
            "https://simplex.chat/call#command=%7B%22type%22%3A%22start%22%2C%22media%22%3A%22video%22%2C%22aesKey%22%3A%22a-b_c%3D%22%2C%22useWorker%22%3Atrue%7D&contact_id=2"
        );
        assert_eq!(form_encode("a b"), "a+b");
    }

    #[test]
    fn both_sides_agree_the_key() {
        let (a_pub, a_priv) = dh_pair().expect("a");
        let (b_pub, b_priv) = dh_pair().expect("b");
        let ab = shared(&a_priv, &b_pub).expect("ab");
        let ba = shared(&b_priv, &a_pub).expect("ba");
        assert_eq!(ab.as_slice(), ba.as_slice());
        assert_eq!(ab.len(), 32);
        // Not an X25519 key: no shared key (the call is not encrypted).
        assert!(shared(&a_priv, &B64(vec![1, 2, 3])).is_none());
        let uuid = new_uuid();
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "4");
    }
}
