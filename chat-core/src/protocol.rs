//! Chat messages as the reference's `Simplex.Chat.Protocol` writes and reads them.
//!
//! An agent message body holds one element or a batch of them:
//!
//! ```text
//! {"v":"1-16","msgId":"<base64>","event":"x.msg.new","params":{...}}   one chat message
//! [ {...}, {...} ]                                                     a JSON batch
//! '=' count(1) Large(element)...                                       a binary batch
//! '>' forward-header element                                           forwarded by a group host
//! '/' 'G' NonEmpty('M' shortString(signature)) JSON                    a signed element
//! 'X' NonEmpty('0' raw | '1' zstd frame)                              compressed (chat v8+)
//! ```
//!
//! Every event of the reference has a type here; unknown events are kept as
//! [`ChatEvent::Unknown`] (event name and params) and unknown fields are ignored, as the
//! reference does. Encoding produces the reference's keys (absent optional fields omitted).

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use simplex_codec::time::UtcTime;
use simplex_codec::version::VersionRange;

/// The chat protocol versions this implementation speaks (see spec §6.1: 1 chat versions in
/// connections ... 16 short-link data).
pub const CHAT_VERSIONS: VersionRange = VersionRange { min: 1, max: 16 };

/// The range assumed when a message carries none.
pub const INITIAL_CHAT_VERSIONS: VersionRange = VersionRange { min: 1, max: 1 };

/// The largest encoded chat message the reference sends in one agent message (room is left
/// for a group host's forwarding header).
pub const MAX_ENCODED_MSG_LEN: usize = 15_602;

/// The largest encoded chat message in a confirmation's connection info.
pub const MAX_ENCODED_INFO_LEN: usize = 14_694;

/// Why a chat message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// Not JSON, or not the shape of a chat message.
    #[error("malformed chat message: {0}")]
    Json(String),
    /// A known event whose params lack a field or have one of the wrong type.
    #[error("bad params of {event}: {reason}")]
    Params {
        /// The event.
        event: String,
        /// What was wrong.
        reason: String,
    },
    /// A binary element that does not parse.
    #[error("malformed element: {0}")]
    Element(&'static str),
    /// A form this implementation does not read (legacy file chunks).
    #[error("unsupported element: {0}")]
    Unsupported(&'static str),
    /// Nothing to parse.
    #[error("empty chat message")]
    Empty,
}

type Result<T> = std::result::Result<T, ProtocolError>;

fn json_err(e: impl std::fmt::Display) -> ProtocolError {
    ProtocolError::Json(e.to_string())
}

/// Bytes written as base64url with padding (shared message ids, member ids, probes): the
/// reference's `strEncode` of a `ByteString` (`Data.ByteString.Base64.URL`), which its parser
/// requires - a `+` or `/` fails the whole message there. Decoding also takes the unpadded
/// form and the standard alphabet (what this program wrote before it used the reference's).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct B64(pub Vec<u8>);

const B64_ENGINE: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

const B64_STANDARD: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

impl std::fmt::Debug for B64 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "B64({})", B64_ENGINE.encode(&self.0))
    }
}

impl Serialize for B64 {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&B64_ENGINE.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for B64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        B64_ENGINE
            .decode(s.as_bytes())
            .or_else(|_| B64_STANDARD.decode(s.as_bytes()))
            .map(B64)
            .map_err(serde::de::Error::custom)
    }
}

/// A message id shared by sender and recipients (12 random bytes when we make one).
pub type SharedMsgId = B64;
/// A group member's id (shared by all members).
pub type MemberId = B64;

/// A chat version range as the JSON writes it: `"1-16"`, or `"1"` for a single version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatVersions(pub VersionRange);

impl ChatVersions {
    fn parse(s: &str) -> Option<VersionRange> {
        let (a, b) = s.split_once('-').unwrap_or((s, s));
        VersionRange::new(a.parse().ok()?, b.parse().ok()?)
    }
}

impl std::fmt::Display for ChatVersions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.min == self.0.max {
            write!(f, "{}", self.0.min)
        } else {
            write!(f, "{}-{}", self.0.min, self.0.max)
        }
    }
}

impl Serialize for ChatVersions {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ChatVersions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s)
            .map(ChatVersions)
            .ok_or_else(|| serde::de::Error::custom(format!("bad chat version range {s:?}")))
    }
}

/// UTC times in JSON (`"1970-01-01T00:00:01.000000001Z"`).
mod utc {
    use super::*;

    pub fn serialize<S: Serializer>(t: &UtcTime, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(t)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<UtcTime, D::Error> {
        let s = String::deserialize(d)?;
        UtcTime::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A member's role in a group, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupMemberRole {
    /// A chat relay of a channel.
    Relay,
    /// Reads only.
    Observer,
    /// Posts in channels.
    Author,
    /// An ordinary member.
    Member,
    /// Deletes and blocks others' messages.
    Moderator,
    /// Adds and removes members.
    Admin,
    /// Owns the group.
    Owner,
}

impl GroupMemberRole {
    /// The reference's name of the role.
    pub fn name(self) -> &'static str {
        match self {
            Self::Relay => "relay",
            Self::Observer => "observer",
            Self::Author => "author",
            Self::Member => "member",
            Self::Moderator => "moderator",
            Self::Admin => "admin",
            Self::Owner => "owner",
        }
    }
}

/// A user's profile as sent to contacts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// The name shown (may contain spaces).
    pub display_name: String,
    /// A longer name, possibly empty.
    pub full_name: String,
    /// A one-line description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short_descr: Option<String>,
    /// A longer description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A data URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The user's contact address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_link: Option<String>,
    /// Chat preferences (kept as the peer wrote them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferences: Option<Value>,
    /// `"human"` or `"bot"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_type: Option<String>,
    /// A badge proof (kept as the peer wrote it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub badge: Option<Value>,
    /// A domain claim (kept as the peer wrote it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_domain: Option<Value>,
}

/// A group's profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct GroupProfile {
    /// The group's name.
    pub display_name: String,
    /// A longer name.
    pub full_name: String,
    /// A one-line description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short_descr: Option<String>,
    /// The group's description (welcome message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A data URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Channel data (kept as written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_group: Option<Value>,
    /// Group preferences (kept as written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_preferences: Option<Value>,
    /// Member admission (kept as written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_admission: Option<Value>,
}

/// A link's preview.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkPreview {
    /// The link.
    pub uri: String,
    /// Its title.
    pub title: String,
    /// Its description.
    pub description: String,
    /// A data URI.
    pub image: String,
    /// What the link points to (kept as written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Value>,
}

/// The content of a message, by its `type`.
#[derive(Debug, Clone, PartialEq)]
pub enum MsgContent {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
    /// A link with its preview.
    Link {
        /// The text (with the link).
        text: String,
        /// The preview.
        preview: LinkPreview,
    },
    /// An image (its preview inline; the file comes as the message's file).
    Image {
        /// A caption.
        text: String,
        /// A data URI.
        image: String,
    },
    /// A video.
    Video {
        /// A caption.
        text: String,
        /// A preview data URI.
        image: String,
        /// Seconds.
        duration: i64,
    },
    /// A voice message.
    Voice {
        /// A caption.
        text: String,
        /// Seconds.
        duration: i64,
    },
    /// A file.
    File {
        /// A caption.
        text: String,
    },
    /// A report of a message to the group's moderators.
    Report {
        /// A comment.
        text: String,
        /// `spam`, `content`, `community`, `profile`, `other` or a later reason.
        reason: String,
    },
    /// A link to a contact, invitation or group with its profile.
    Chat {
        /// The text.
        text: String,
        /// The link and profile (kept as written).
        chat_link: Value,
    },
    /// A type this implementation does not know: shown as its text, sent on as it came.
    Unknown {
        /// The type.
        tag: String,
        /// Its `text`, or "unknown message type".
        text: String,
        /// The whole object.
        json: Map<String, Value>,
    },
}

impl MsgContent {
    /// Plain text content.
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text { text: text.into() }
    }

    /// The text shown for it.
    pub fn text_shown(&self) -> String {
        match self {
            Self::Text { text }
            | Self::Link { text, .. }
            | Self::Image { text, .. }
            | Self::Video { text, .. }
            | Self::File { text }
            | Self::Chat { text, .. }
            | Self::Unknown { text, .. } => text.clone(),
            Self::Voice { text, duration } => {
                let msg = format!(
                    "voice message ({:02}:{:02})",
                    duration.div_euclid(60),
                    duration.rem_euclid(60)
                );
                if text.is_empty() {
                    msg
                } else {
                    format!("{msg}; {text}")
                }
            }
            Self::Report { text, reason } => {
                if text.is_empty() {
                    format!("report {reason}")
                } else {
                    format!("report {reason}: {text}")
                }
            }
        }
    }

    /// The content's `type`.
    pub fn tag(&self) -> &str {
        match self {
            Self::Text { .. } => "text",
            Self::Link { .. } => "link",
            Self::Image { .. } => "image",
            Self::Video { .. } => "video",
            Self::Voice { .. } => "voice",
            Self::File { .. } => "file",
            Self::Report { .. } => "report",
            Self::Chat { .. } => "chat",
            Self::Unknown { tag, .. } => tag,
        }
    }

    fn to_json(&self) -> Value {
        let mut o = Map::new();
        let mut put = |k: &str, v: Value| {
            o.insert(k.to_string(), v);
        };
        match self {
            Self::Unknown { json, .. } => return Value::Object(json.clone()),
            Self::Text { text } | Self::File { text } => put("text", text.clone().into()),
            Self::Link { text, preview } => {
                put("text", text.clone().into());
                put(
                    "preview",
                    serde_json::to_value(preview).unwrap_or(Value::Null),
                );
            }
            Self::Image { text, image } => {
                put("text", text.clone().into());
                put("image", image.clone().into());
            }
            Self::Video {
                text,
                image,
                duration,
            } => {
                put("text", text.clone().into());
                put("image", image.clone().into());
                put("duration", (*duration).into());
            }
            Self::Voice { text, duration } => {
                put("text", text.clone().into());
                put("duration", (*duration).into());
            }
            Self::Report { text, reason } => {
                put("text", text.clone().into());
                put("reason", reason.clone().into());
            }
            Self::Chat { text, chat_link } => {
                put("text", text.clone().into());
                put("chatLink", chat_link.clone());
            }
        }
        o.insert("type".into(), self.tag().into());
        Value::Object(o)
    }

    fn from_json(v: &Value) -> std::result::Result<Self, String> {
        let o = v.as_object().ok_or("content is not an object")?;
        let tag = o
            .get("type")
            .and_then(Value::as_str)
            .ok_or("content without a type")?;
        let s = |k: &str| -> std::result::Result<String, String> {
            o.get(k)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| format!("{tag} content without {k}"))
        };
        let n = |k: &str| -> std::result::Result<i64, String> {
            o.get(k)
                .and_then(Value::as_i64)
                .ok_or_else(|| format!("{tag} content without {k}"))
        };
        Ok(match tag {
            "text" => Self::Text { text: s("text")? },
            "link" => Self::Link {
                text: s("text")?,
                preview: serde_json::from_value(
                    o.get("preview").cloned().ok_or("link without preview")?,
                )
                .map_err(|e| format!("link preview: {e}"))?,
            },
            "image" => Self::Image {
                text: s("text")?,
                image: s("image")?,
            },
            "video" => Self::Video {
                text: s("text")?,
                image: s("image")?,
                duration: n("duration")?,
            },
            "voice" => Self::Voice {
                text: s("text")?,
                duration: n("duration")?,
            },
            "file" => Self::File { text: s("text")? },
            "report" => Self::Report {
                text: s("text")?,
                reason: s("reason")?,
            },
            "chat" => Self::Chat {
                text: s("text")?,
                chat_link: o.get("chatLink").cloned().ok_or("chat without chatLink")?,
            },
            other => Self::Unknown {
                tag: other.to_string(),
                text: o
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown message type")
                    .to_string(),
                json: o.clone(),
            },
        })
    }
}

impl Serialize for MsgContent {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl<'de> Deserialize<'de> for MsgContent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Self::from_json(&v).map_err(serde::de::Error::custom)
    }
}

/// A reference to an earlier message (quotes, comments).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MsgRef {
    /// Its shared id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msg_id: Option<SharedMsgId>,
    /// When it was sent.
    #[serde(with = "utc")]
    pub sent_at: UtcTime,
    /// Whether the quoting party sent it.
    pub sent: bool,
    /// Its sender, in groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_id: Option<MemberId>,
}

/// A quoted message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuotedMsg {
    /// Which message.
    pub msg_ref: MsgRef,
    /// Its content, as the quoting party saw it.
    pub content: MsgContent,
}

/// A mention of a group member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MsgMention {
    /// The member.
    pub member_id: MemberId,
}

/// An XFTP file description (or one part of it) in a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileDescr {
    /// The description's text (YAML), or this part of it.
    pub file_descr_text: String,
    /// The part's number, from 1 (0 with an empty text: "comes later").
    pub file_descr_part_no: i64,
    /// Whether this is the last part.
    pub file_descr_complete: bool,
}

/// A file offered with a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileInvitation {
    /// The sender's name for it (sanitized before use).
    pub file_name: String,
    /// Its size in bytes.
    pub file_size: i64,
    /// Its digest (legacy transfers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_digest: Option<String>,
    /// A legacy SMP invitation for the file's connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_conn_req: Option<String>,
    /// Inline transfer mode (legacy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_inline: Option<Value>,
    /// The XFTP description (a placeholder with an empty text: parts follow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_descr: Option<FileDescr>,
}

/// The params of `x.msg.new`.
#[derive(Debug, Clone, PartialEq)]
pub struct MsgContainer {
    /// The content.
    pub content: MsgContent,
    /// Mentioned members by their local names.
    pub mentions: BTreeMap<String, MsgMention>,
    /// A file with it.
    pub file: Option<FileInvitation>,
    /// Disappears after this many seconds.
    pub ttl: Option<i64>,
    /// Still being typed.
    pub live: Option<bool>,
    /// A group message's scope (kept as written).
    pub scope: Option<Value>,
    /// Sent on behalf of a channel.
    pub as_group: Option<bool>,
    /// The quoted message.
    pub quote: Option<QuotedMsg>,
    /// The channel post this comments.
    pub parent: Option<MsgRef>,
    /// Forwarded from another chat.
    pub forward: bool,
}

impl MsgContainer {
    /// A message with only `content`.
    pub fn simple(content: MsgContent) -> Self {
        Self {
            content,
            mentions: BTreeMap::new(),
            file: None,
            ttl: None,
            live: None,
            scope: None,
            as_group: None,
            quote: None,
            parent: None,
            forward: false,
        }
    }

    fn to_params(&self) -> Map<String, Value> {
        let mut o = Map::new();
        o.insert("content".into(), self.content.to_json());
        put_opt(&mut o, "file", &self.file);
        put_opt(&mut o, "ttl", &self.ttl);
        put_opt(&mut o, "live", &self.live);
        if !self.mentions.is_empty() {
            put(&mut o, "mentions", &self.mentions);
        }
        put_opt(&mut o, "scope", &self.scope);
        put_opt(&mut o, "asGroup", &self.as_group);
        put_opt(&mut o, "quote", &self.quote);
        put_opt(&mut o, "parent", &self.parent);
        if self.forward {
            o.insert("forward".into(), true.into());
        }
        o
    }

    fn from_params(p: &Params<'_>) -> Result<Self> {
        // Legacy senders wrote `forward` as an object: any object means forwarded.
        let forward = match p.0.get("forward") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(Value::Object(_)) => true,
            Some(_) => return Err(p.bad("forward is neither a bool nor an object")),
        };
        Ok(Self {
            content: p.req("content")?,
            mentions: p.opt("mentions")?.unwrap_or_default(),
            file: p.opt("file")?,
            ttl: p.opt("ttl")?,
            live: p.opt("live")?,
            scope: p.opt("scope")?,
            as_group: p.opt("asGroup")?,
            quote: p.opt("quote")?,
            parent: p.opt("parent")?,
            forward,
        })
    }
}

/// The params of `x.msg.update`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MsgUpdate {
    /// The edited message.
    pub msg_id: SharedMsgId,
    /// Its new content.
    pub content: MsgContent,
    /// Mentions in the new content.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub mentions: BTreeMap<String, MsgMention>,
    /// Disappearing time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
    /// Still live.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live: Option<bool>,
    /// Scope (kept as written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Value>,
    /// On behalf of a channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_group: Option<bool>,
    /// Per-message preferences (kept as written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefs: Option<Value>,
}

impl MsgUpdate {
    /// An edit of message `msg_id` to `content`, nothing else changed.
    pub fn new(msg_id: SharedMsgId, content: MsgContent) -> Self {
        Self {
            msg_id,
            content,
            mentions: BTreeMap::new(),
            ttl: None,
            live: None,
            scope: None,
            as_group: None,
            prefs: None,
        }
    }
}

/// A member's id and role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberIdRole {
    /// The member.
    pub member_id: MemberId,
    /// Its role.
    pub member_role: GroupMemberRole,
}

/// An invitation to a group over a contact connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupInvitation {
    /// The inviting member.
    pub from_member: MemberIdRole,
    /// The invited member.
    pub invited_member: MemberIdRole,
    /// The invitation to connect to the inviting member in the group.
    pub conn_request: String,
    /// The group.
    pub group_profile: GroupProfile,
    /// Business chat data (kept as written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business: Option<Value>,
    /// The group link this came through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_link_id: Option<B64>,
    /// Members in the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_size: Option<i64>,
}

/// Whom a business chat is with, as the reference's `BusinessChatType`: `business` on the
/// customer's side (the chat is with a business), `customer` on the business's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BusinessChatType {
    /// We are the customer.
    Business,
    /// We are the business.
    Customer,
}

/// A business chat (the reference's `BusinessChatInfo`): a group made when a customer asked
/// through a business address, named after the other side - its "title member" (the business
/// on the customer's side, the customer on the business's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BusinessChatInfo {
    /// Whom the chat is with.
    pub chat_type: BusinessChatType,
    /// The business's member id.
    pub business_id: MemberId,
    /// The customer's member id.
    pub customer_id: MemberId,
}

impl BusinessChatInfo {
    /// The member whose profile is the chat's (the other side).
    pub fn title_member(&self) -> &MemberId {
        match self.chat_type {
            BusinessChatType::Business => &self.business_id,
            BusinessChatType::Customer => &self.customer_id,
        }
    }
}

/// The host's answer to a request through a group link (`x.grp.link.inv`, in its
/// confirmation): the group and the member the joiner becomes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupLinkInvitation {
    /// The host.
    pub from_member: MemberIdRole,
    /// The host's name (its profile follows in `x.grp.link.mem`).
    pub from_member_name: String,
    /// The joiner.
    pub invited_member: MemberIdRole,
    /// The group.
    pub group_profile: GroupProfile,
    /// `accepted`, or `pending` / `pending_review` when the host's admins review joiners.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<String>,
    /// Business chat data (kept as written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business: Option<Value>,
    /// Members in the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_size: Option<i64>,
}

/// `x.grp.relay.inv`'s invitation (the reference's `GroupRelayInvitation`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupRelayInvitation {
    /// The owner.
    pub from_member: MemberIdRole,
    /// The owner's profile.
    pub from_member_profile: Profile,
    /// The member id the relay gets.
    pub relay_member_id: MemberId,
    /// The channel's link (its data: the channel's profile).
    pub group_link: String,
    /// The owner's signing key in the channel (`group_keys.rs`; the reference's newer owners
    /// send it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_member_key: Option<String>,
}

/// A member as introduced to others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberInfo {
    /// The member.
    pub member_id: MemberId,
    /// Its role.
    pub member_role: GroupMemberRole,
    /// Its chat versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<ChatVersions>,
    /// Its profile.
    pub profile: Profile,
    /// Its signing key (kept as written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_key: Option<Value>,
}

/// Restrictions of a member for everyone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberRestrictions {
    /// `"blocked"` (or a later kind).
    pub restriction: String,
}

/// A new member's invitations for an existing member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IntroInvitation {
    /// The invitation for the group connection.
    pub group_conn_req: String,
    /// The invitation for a direct connection (older clients).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direct_conn_req: Option<String>,
}

/// Every chat event.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatEvent {
    /// `x.msg.new`: a message.
    MsgNew(MsgContainer),
    /// `x.msg.file.descr`: one part of a recipient's file description.
    MsgFileDescr {
        /// The message whose file it describes.
        msg_id: SharedMsgId,
        /// The part.
        file_descr: FileDescr,
    },
    /// `x.msg.update`: an edit.
    MsgUpdate(MsgUpdate),
    /// `x.msg.del`: a deletion.
    MsgDel {
        /// The message.
        msg_id: SharedMsgId,
        /// Its sender (a moderator deleting another member's message).
        member_id: Option<MemberId>,
        /// Scope (kept as written).
        scope: Option<Value>,
    },
    /// `x.msg.deleted`.
    MsgDeleted,
    /// `x.msg.react`: a reaction added or removed.
    MsgReact {
        /// The message.
        msg_id: SharedMsgId,
        /// Its sender in groups.
        member_id: Option<MemberId>,
        /// Scope (kept as written).
        scope: Option<Value>,
        /// `{"type":"emoji","emoji":"👍"}` or a later kind (kept as written).
        reaction: Value,
        /// Added (or removed).
        add: bool,
    },
    /// `x.file`: a legacy file offer.
    File(FileInvitation),
    /// `x.file.acpt`: a legacy accept by name.
    FileAcpt {
        /// The file.
        file_name: String,
    },
    /// `x.file.acpt.inv`: a legacy accept with an invitation.
    FileAcptInv {
        /// The message of the offer.
        msg_id: SharedMsgId,
        /// The recipient's invitation.
        file_conn_req: Option<String>,
        /// The file.
        file_name: String,
    },
    /// `x.file.cancel`: the sender cancelled the file of a message.
    FileCancel {
        /// The message.
        msg_id: SharedMsgId,
    },
    /// `x.info`: a profile (in confirmations and on change).
    Info {
        /// The profile.
        profile: Profile,
    },
    /// `x.contact`: a request to an address.
    Contact {
        /// The requester's profile.
        profile: Profile,
        /// Identifies repeated requests.
        contact_req_id: Option<B64>,
        /// The welcome message the requester saw.
        welcome_msg_id: Option<SharedMsgId>,
        /// A first message with the request.
        request_msg: Option<(SharedMsgId, MsgContent)>,
    },
    /// `x.direct.del`: the contact deleted the conversation.
    DirectDel,
    /// `x.call.inv`: the contact calls (`calls.rs`).
    CallInv {
        /// The call.
        call_id: B64,
        /// The kind of call and the caller's key.
        invitation: crate::calls::CallInvitation,
    },
    /// `x.call.offer`: the callee accepts the call.
    CallOffer {
        /// The call.
        call_id: B64,
        /// The callee's session and key.
        offer: crate::calls::CallOffer,
    },
    /// `x.call.answer`: the caller's answer to the offer.
    CallAnswer {
        /// The call.
        call_id: B64,
        /// The caller's session.
        answer: crate::calls::CallAnswer,
    },
    /// `x.call.extra`: more ICE candidates.
    CallExtra {
        /// The call.
        call_id: B64,
        /// The candidates.
        extra: crate::calls::CallExtraInfo,
    },
    /// `x.call.end`: either side ended the call.
    CallEnd {
        /// The call.
        call_id: B64,
    },
    /// `x.grp.inv`.
    GrpInv(GroupInvitation),
    /// `x.grp.link.inv`: the host accepted a request through its group link.
    GrpLinkInv(GroupLinkInvitation),
    /// `x.grp.link.acpt`: the admins accepted a member who joined through a link after their
    /// review.
    GrpLinkAcpt {
        /// `accepted` (or a later kind).
        acceptance: String,
        /// The role the member gets.
        role: GroupMemberRole,
        /// The member.
        member_id: MemberId,
    },
    /// `x.grp.link.reject`: the host refused a request through its link, in its confirmation
    /// (kept as written: the group, the member ids, the reason).
    GrpLinkReject {
        /// The rejection.
        group_link_rejection: Value,
    },
    /// `x.grp.relay.inv`: a channel's owner asks a chat relay (a request to its address) to
    /// serve the channel.
    GrpRelayInv(GroupRelayInvitation),
    /// `x.grp.relay.acpt`: the relay serves it; requests to join go to this link of its.
    GrpRelayAcpt {
        /// The relay's link for the channel.
        relay_link: String,
    },
    /// `x.grp.relay.test`: an owner's test of a chat relay's address (its request to the
    /// address with a random challenge), answered in the relay's acceptance with the challenge
    /// signed by the address link's root key (the reference's relay test).
    GrpRelayTest {
        /// The challenge (base64url).
        challenge: B64,
        /// The relay's signature of it (in the answer).
        signature: Option<B64>,
    },
    /// `x.grp.relay.new`: an owner announces a relay that began serving the channel, so that
    /// its subscribers join through it too (forwarded by the relays).
    GrpRelayNew {
        /// The new relay's link for the channel.
        relay_link: String,
    },
    /// `x.member`: a request to join a channel, to one of its relays' links.
    Member {
        /// The joiner's profile.
        profile: Profile,
        /// The member id the joiner takes.
        new_member_id: MemberId,
        /// The joiner's signing key in the channel (`group_keys.rs`; the reference requires
        /// it, older clients of ours did not send it).
        new_member_key: Option<String>,
    },
    /// `x.grp.link.mem`: the host's profile, to a member who joined through its group link.
    GrpLinkMem {
        /// The host's profile in the group.
        profile: Profile,
    },
    /// `x.grp.acpt`.
    GrpAcpt {
        /// The accepting member.
        member_id: MemberId,
    },
    /// `x.grp.mem.new`.
    GrpMemNew {
        /// The new member.
        member_info: MemberInfo,
        /// Scope (kept as written).
        scope: Option<Value>,
    },
    /// `x.grp.mem.intro`.
    GrpMemIntro {
        /// The introduced member.
        member_info: MemberInfo,
        /// Its restrictions.
        member_restrictions: Option<MemberRestrictions>,
    },
    /// `x.grp.mem.inv`.
    GrpMemInv {
        /// The member the invitations are for.
        member_id: MemberId,
        /// The invitations.
        member_intro: IntroInvitation,
    },
    /// `x.grp.mem.fwd`.
    GrpMemFwd {
        /// The new member.
        member_info: MemberInfo,
        /// Its invitations.
        member_intro: IntroInvitation,
    },
    /// `x.grp.mem.info`.
    GrpMemInfo {
        /// The member.
        member_id: MemberId,
        /// Its profile.
        profile: Profile,
    },
    /// `x.grp.mem.role`.
    GrpMemRole {
        /// The member.
        member_id: MemberId,
        /// Its new role.
        role: GroupMemberRole,
    },
    /// `x.grp.mem.restrict`.
    GrpMemRestrict {
        /// The member.
        member_id: MemberId,
        /// Its restrictions.
        member_restrictions: MemberRestrictions,
    },
    /// `x.grp.mem.con`.
    GrpMemCon {
        /// The member connected to.
        member_id: MemberId,
    },
    /// `x.grp.mem.con.all`.
    GrpMemConAll {
        /// The member connected to all.
        member_id: MemberId,
    },
    /// `x.grp.mem.del`.
    GrpMemDel {
        /// The removed member.
        member_id: MemberId,
        /// Its messages are deleted too.
        messages: bool,
    },
    /// `x.grp.leave`.
    GrpLeave,
    /// `x.grp.del`.
    GrpDel,
    /// `x.grp.info`.
    GrpInfo {
        /// The new profile.
        group_profile: GroupProfile,
    },
    /// `x.grp.prefs`.
    GrpPrefs {
        /// The preferences (kept as written).
        group_preferences: Value,
    },
    /// `x.grp.direct.inv`.
    GrpDirectInv {
        /// The invitation.
        conn_req: String,
        /// A first message.
        content: Option<MsgContent>,
        /// Scope (kept as written).
        scope: Option<Value>,
    },
    /// `x.grp.msg.forward`: a host forwards a member's message.
    GrpMsgForward {
        /// The original sender (none: the channel itself).
        member_id: Option<MemberId>,
        /// Its name.
        member_name: Option<String>,
        /// The message.
        msg: Box<ChatMessage>,
        /// When the host's relay received it.
        msg_ts: UtcTime,
    },
    /// `x.info.probe`.
    InfoProbe {
        /// The probe.
        probe: B64,
    },
    /// `x.info.probe.check`.
    InfoProbeCheck {
        /// The probe's hash.
        probe_hash: B64,
    },
    /// `x.info.probe.ok`.
    InfoProbeOk {
        /// The probe.
        probe: B64,
    },
    /// `x.ok`.
    Ok,
    /// An event this implementation does not handle (a later one, or calls, relays, member
    /// keys): its name and params, as they came.
    Unknown {
        /// The event's name.
        event: String,
        /// Its params.
        params: Map<String, Value>,
    },
}

/// The params object of an event being read.
struct Params<'a>(&'a Map<String, Value>, &'a str);

impl Params<'_> {
    fn bad(&self, reason: impl Into<String>) -> ProtocolError {
        ProtocolError::Params {
            event: self.1.to_string(),
            reason: reason.into(),
        }
    }

    fn req<T: DeserializeOwned>(&self, key: &str) -> Result<T> {
        let v = self
            .0
            .get(key)
            .ok_or_else(|| self.bad(format!("no {key}")))?;
        T::deserialize(v).map_err(|e| self.bad(format!("{key}: {e}")))
    }

    /// Absent or null is `None`.
    fn opt<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => T::deserialize(v)
                .map(Some)
                .map_err(|e| self.bad(format!("{key}: {e}"))),
        }
    }
}

/// The events whose SEND carries the notification flag, waking a phone's app (the
/// reference's `hasNotification`): a new message, a file (legacy), a contact request, a group
/// invitation, a member introduction passed on, a group deleted, a call.
const NOTIFYING: [&str; 7] = [
    "x.msg.new",
    "x.file",
    "x.contact",
    "x.grp.inv",
    "x.grp.mem.fwd",
    "x.grp.del",
    "x.call.inv",
];

/// Whether an encoded chat message (ours: [`ChatMessage::encode`], whose first key is
/// `event`) is one of the events that notify.
pub fn notifies(body: &[u8]) -> bool {
    event_of(body).is_some_and(|e| NOTIFYING.iter().any(|t| t.as_bytes() == e))
}

/// The event name of an encoded chat message of ours (its first key is `event`), signed
/// (`'/'`, [`crate::group_keys::sign_element`]) or not.
pub fn event_of(body: &[u8]) -> Option<&[u8]> {
    const HEAD: &[u8] = b"{\"event\":\"";
    let json = match body.first() {
        Some(b'/') => {
            let mut r = Bin(&body[1..]);
            r.byte().ok()?; // the binding
            for _ in 0..r.byte().ok()? {
                r.byte().ok()?;
                r.short().ok()?;
            }
            r.0
        }
        _ => body,
    };
    let rest = json.strip_prefix(HEAD)?;
    let end = rest.iter().take(32).position(|b| *b == b'"')?;
    Some(&rest[..end])
}

fn put<T: Serialize>(o: &mut Map<String, Value>, key: &str, v: &T) {
    // Our own types always serialize (no maps with non-string keys, no failing serializers).
    if let Ok(v) = serde_json::to_value(v) {
        o.insert(key.to_string(), v);
    }
}

fn put_opt<T: Serialize>(o: &mut Map<String, Value>, key: &str, v: &Option<T>) {
    if let Some(v) = v {
        put(o, key, v);
    }
}

impl ChatEvent {
    /// The event's name on the wire.
    pub fn name(&self) -> &str {
        match self {
            Self::MsgNew(_) => "x.msg.new",
            Self::MsgFileDescr { .. } => "x.msg.file.descr",
            Self::MsgUpdate(_) => "x.msg.update",
            Self::MsgDel { .. } => "x.msg.del",
            Self::MsgDeleted => "x.msg.deleted",
            Self::MsgReact { .. } => "x.msg.react",
            Self::File(_) => "x.file",
            Self::FileAcpt { .. } => "x.file.acpt",
            Self::FileAcptInv { .. } => "x.file.acpt.inv",
            Self::FileCancel { .. } => "x.file.cancel",
            Self::Info { .. } => "x.info",
            Self::Contact { .. } => "x.contact",
            Self::DirectDel => "x.direct.del",
            Self::CallInv { .. } => "x.call.inv",
            Self::CallOffer { .. } => "x.call.offer",
            Self::CallAnswer { .. } => "x.call.answer",
            Self::CallExtra { .. } => "x.call.extra",
            Self::CallEnd { .. } => "x.call.end",
            Self::GrpInv(_) => "x.grp.inv",
            Self::GrpLinkInv(_) => "x.grp.link.inv",
            Self::GrpLinkMem { .. } => "x.grp.link.mem",
            Self::GrpRelayInv(_) => "x.grp.relay.inv",
            Self::GrpRelayAcpt { .. } => "x.grp.relay.acpt",
            Self::GrpRelayNew { .. } => "x.grp.relay.new",
            Self::GrpRelayTest { .. } => "x.grp.relay.test",
            Self::Member { .. } => "x.member",
            Self::GrpLinkAcpt { .. } => "x.grp.link.acpt",
            Self::GrpLinkReject { .. } => "x.grp.link.reject",
            Self::GrpAcpt { .. } => "x.grp.acpt",
            Self::GrpMemNew { .. } => "x.grp.mem.new",
            Self::GrpMemIntro { .. } => "x.grp.mem.intro",
            Self::GrpMemInv { .. } => "x.grp.mem.inv",
            Self::GrpMemFwd { .. } => "x.grp.mem.fwd",
            Self::GrpMemInfo { .. } => "x.grp.mem.info",
            Self::GrpMemRole { .. } => "x.grp.mem.role",
            Self::GrpMemRestrict { .. } => "x.grp.mem.restrict",
            Self::GrpMemCon { .. } => "x.grp.mem.con",
            Self::GrpMemConAll { .. } => "x.grp.mem.con.all",
            Self::GrpMemDel { .. } => "x.grp.mem.del",
            Self::GrpLeave => "x.grp.leave",
            Self::GrpDel => "x.grp.del",
            Self::GrpInfo { .. } => "x.grp.info",
            Self::GrpPrefs { .. } => "x.grp.prefs",
            Self::GrpDirectInv { .. } => "x.grp.direct.inv",
            Self::GrpMsgForward { .. } => "x.grp.msg.forward",
            Self::InfoProbe { .. } => "x.info.probe",
            Self::InfoProbeCheck { .. } => "x.info.probe.check",
            Self::InfoProbeOk { .. } => "x.info.probe.ok",
            Self::Ok => "x.ok",
            Self::Unknown { event, .. } => event,
        }
    }

    /// The event's params object.
    pub fn params(&self) -> Map<String, Value> {
        let mut o = Map::new();
        match self {
            Self::MsgNew(c) => return c.to_params(),
            Self::MsgFileDescr { msg_id, file_descr } => {
                put(&mut o, "msgId", msg_id);
                put(&mut o, "fileDescr", file_descr);
            }
            Self::MsgUpdate(u) => {
                if let Ok(Value::Object(m)) = serde_json::to_value(u) {
                    return m;
                }
            }
            Self::MsgDel {
                msg_id,
                member_id,
                scope,
            } => {
                put(&mut o, "msgId", msg_id);
                put_opt(&mut o, "memberId", member_id);
                put_opt(&mut o, "scope", scope);
            }
            Self::MsgReact {
                msg_id,
                member_id,
                scope,
                reaction,
                add,
            } => {
                put(&mut o, "msgId", msg_id);
                put_opt(&mut o, "memberId", member_id);
                put_opt(&mut o, "scope", scope);
                put(&mut o, "reaction", reaction);
                put(&mut o, "add", add);
            }
            Self::File(f) => put(&mut o, "file", f),
            Self::FileAcpt { file_name } => put(&mut o, "fileName", file_name),
            Self::FileAcptInv {
                msg_id,
                file_conn_req,
                file_name,
            } => {
                put(&mut o, "msgId", msg_id);
                put_opt(&mut o, "fileConnReq", file_conn_req);
                put(&mut o, "fileName", file_name);
            }
            Self::FileCancel { msg_id } => put(&mut o, "msgId", msg_id),
            Self::Info { profile } => put(&mut o, "profile", profile),
            Self::Contact {
                profile,
                contact_req_id,
                welcome_msg_id,
                request_msg,
            } => {
                put(&mut o, "profile", profile);
                put_opt(&mut o, "contactReqId", contact_req_id);
                put_opt(&mut o, "welcomeMsgId", welcome_msg_id);
                if let Some((id, content)) = request_msg {
                    put(&mut o, "msgId", id);
                    put(&mut o, "content", content);
                }
            }
            Self::GrpInv(inv) => put(&mut o, "groupInvitation", inv),
            Self::GrpLinkInv(inv) => put(&mut o, "groupLinkInvitation", inv),
            Self::GrpLinkMem { profile } => put(&mut o, "profile", profile),
            Self::GrpRelayInv(inv) => put(&mut o, "groupRelayInvitation", inv),
            Self::GrpRelayTest {
                challenge,
                signature,
            } => {
                put(&mut o, "challenge", challenge);
                put_opt(&mut o, "signature", signature);
            }
            Self::GrpRelayAcpt { relay_link } | Self::GrpRelayNew { relay_link } => {
                put(&mut o, "relayLink", relay_link)
            }
            Self::Member {
                profile,
                new_member_id,
                new_member_key,
            } => {
                put(&mut o, "profile", profile);
                put(&mut o, "newMemberId", new_member_id);
                put_opt(&mut o, "newMemberKey", new_member_key);
            }
            Self::GrpLinkAcpt {
                acceptance,
                role,
                member_id,
            } => {
                put(&mut o, "acceptance", acceptance);
                put(&mut o, "role", role);
                put(&mut o, "memberId", member_id);
            }
            Self::GrpLinkReject {
                group_link_rejection,
            } => put(&mut o, "groupLinkRejection", group_link_rejection),
            Self::GrpAcpt { member_id }
            | Self::GrpMemCon { member_id }
            | Self::GrpMemConAll { member_id } => put(&mut o, "memberId", member_id),
            Self::GrpMemNew { member_info, scope } => {
                put(&mut o, "memberInfo", member_info);
                put_opt(&mut o, "scope", scope);
            }
            Self::GrpMemIntro {
                member_info,
                member_restrictions,
            } => {
                put(&mut o, "memberInfo", member_info);
                put_opt(&mut o, "memberRestrictions", member_restrictions);
            }
            Self::GrpMemInv {
                member_id,
                member_intro,
            } => {
                put(&mut o, "memberId", member_id);
                put(&mut o, "memberIntro", member_intro);
            }
            Self::GrpMemFwd {
                member_info,
                member_intro,
            } => {
                put(&mut o, "memberInfo", member_info);
                put(&mut o, "memberIntro", member_intro);
            }
            Self::GrpMemInfo { member_id, profile } => {
                put(&mut o, "memberId", member_id);
                put(&mut o, "profile", profile);
            }
            Self::GrpMemRole { member_id, role } => {
                put(&mut o, "memberId", member_id);
                put(&mut o, "role", role);
            }
            Self::GrpMemRestrict {
                member_id,
                member_restrictions,
            } => {
                put(&mut o, "memberId", member_id);
                put(&mut o, "memberRestrictions", member_restrictions);
            }
            Self::GrpMemDel {
                member_id,
                messages,
            } => {
                put(&mut o, "memberId", member_id);
                if *messages {
                    o.insert("messages".into(), true.into());
                }
            }
            Self::GrpInfo { group_profile } => put(&mut o, "groupProfile", group_profile),
            Self::GrpPrefs { group_preferences } => {
                put(&mut o, "groupPreferences", group_preferences)
            }
            Self::GrpDirectInv {
                conn_req,
                content,
                scope,
            } => {
                put(&mut o, "connReq", conn_req);
                put_opt(&mut o, "content", content);
                put_opt(&mut o, "scope", scope);
            }
            Self::GrpMsgForward {
                member_id,
                member_name,
                msg,
                msg_ts,
            } => {
                // As the reference's encoder: each key only when present.
                put_opt(&mut o, "memberId", member_id);
                put_opt(&mut o, "memberName", member_name);
                o.insert("msg".into(), msg.to_json());
                o.insert("msgTs".into(), msg_ts.to_string().into());
            }
            Self::InfoProbe { probe } | Self::InfoProbeOk { probe } => put(&mut o, "probe", probe),
            Self::InfoProbeCheck { probe_hash } => put(&mut o, "probeHash", probe_hash),
            Self::MsgDeleted | Self::DirectDel | Self::GrpLeave | Self::GrpDel | Self::Ok => {}
            Self::CallInv {
                call_id,
                invitation,
            } => {
                put(&mut o, "callId", call_id);
                put(&mut o, "invitation", invitation);
            }
            Self::CallOffer { call_id, offer } => {
                put(&mut o, "callId", call_id);
                put(&mut o, "offer", offer);
            }
            Self::CallAnswer { call_id, answer } => {
                put(&mut o, "callId", call_id);
                put(&mut o, "answer", answer);
            }
            Self::CallExtra { call_id, extra } => {
                put(&mut o, "callId", call_id);
                put(&mut o, "extra", extra);
            }
            Self::CallEnd { call_id } => put(&mut o, "callId", call_id),
            Self::Unknown { params, .. } => return params.clone(),
        }
        o
    }

    /// Reads an event from its name and params (strictly for the events we handle, as the
    /// reference; any other name is [`ChatEvent::Unknown`]).
    pub fn from_params(event: &str, params: &Map<String, Value>) -> Result<Self> {
        let p = Params(params, event);
        Ok(match event {
            "x.msg.new" => Self::MsgNew(MsgContainer::from_params(&p)?),
            "x.msg.file.descr" => Self::MsgFileDescr {
                msg_id: p.req("msgId")?,
                file_descr: p.req("fileDescr")?,
            },
            "x.msg.update" => Self::MsgUpdate(
                serde_json::from_value(Value::Object(params.clone()))
                    .map_err(|e| p.bad(e.to_string()))?,
            ),
            "x.msg.del" => Self::MsgDel {
                msg_id: p.req("msgId")?,
                member_id: p.opt("memberId")?,
                scope: p.opt("scope")?,
            },
            "x.msg.deleted" => Self::MsgDeleted,
            "x.msg.react" => Self::MsgReact {
                msg_id: p.req("msgId")?,
                member_id: p.opt("memberId")?,
                scope: p.opt("scope")?,
                reaction: p.req("reaction")?,
                add: p.req("add")?,
            },
            "x.file" => Self::File(p.req("file")?),
            "x.file.acpt" => Self::FileAcpt {
                file_name: p.req("fileName")?,
            },
            "x.file.acpt.inv" => Self::FileAcptInv {
                msg_id: p.req("msgId")?,
                file_conn_req: p.opt("fileConnReq")?,
                file_name: p.req("fileName")?,
            },
            "x.file.cancel" => Self::FileCancel {
                msg_id: p.req("msgId")?,
            },
            "x.info" => Self::Info {
                profile: p.req("profile")?,
            },
            "x.contact" => {
                let id: Option<SharedMsgId> = p.opt("msgId")?;
                let content: Option<MsgContent> = p.opt("content")?;
                Self::Contact {
                    profile: p.req("profile")?,
                    contact_req_id: p.opt("contactReqId")?,
                    welcome_msg_id: p.opt("welcomeMsgId")?,
                    request_msg: id.zip(content),
                }
            }
            "x.direct.del" => Self::DirectDel,
            "x.call.inv" => Self::CallInv {
                call_id: p.req("callId")?,
                invitation: p.req("invitation")?,
            },
            "x.call.offer" => Self::CallOffer {
                call_id: p.req("callId")?,
                offer: p.req("offer")?,
            },
            "x.call.answer" => Self::CallAnswer {
                call_id: p.req("callId")?,
                answer: p.req("answer")?,
            },
            "x.call.extra" => Self::CallExtra {
                call_id: p.req("callId")?,
                extra: p.req("extra")?,
            },
            "x.call.end" => Self::CallEnd {
                call_id: p.req("callId")?,
            },
            "x.grp.inv" => Self::GrpInv(p.req("groupInvitation")?),
            "x.grp.link.inv" => Self::GrpLinkInv(p.req("groupLinkInvitation")?),
            "x.grp.link.mem" => Self::GrpLinkMem {
                profile: p.req("profile")?,
            },
            "x.grp.relay.inv" => Self::GrpRelayInv(p.req("groupRelayInvitation")?),
            "x.grp.relay.acpt" => Self::GrpRelayAcpt {
                relay_link: p.req("relayLink")?,
            },
            "x.grp.relay.test" => Self::GrpRelayTest {
                challenge: p.req("challenge")?,
                signature: p.opt("signature")?,
            },
            "x.grp.relay.new" => Self::GrpRelayNew {
                relay_link: p.req("relayLink")?,
            },
            "x.member" => Self::Member {
                profile: p.req("profile")?,
                new_member_id: p.req("newMemberId")?,
                new_member_key: p.opt("newMemberKey")?,
            },
            "x.grp.link.acpt" => Self::GrpLinkAcpt {
                acceptance: p.req("acceptance")?,
                role: p.req("role")?,
                member_id: p.req("memberId")?,
            },
            "x.grp.link.reject" => Self::GrpLinkReject {
                group_link_rejection: p.req("groupLinkRejection")?,
            },
            "x.grp.acpt" => Self::GrpAcpt {
                member_id: p.req("memberId")?,
            },
            "x.grp.mem.new" => Self::GrpMemNew {
                member_info: p.req("memberInfo")?,
                scope: p.opt("scope")?,
            },
            "x.grp.mem.intro" => Self::GrpMemIntro {
                member_info: p.req("memberInfo")?,
                member_restrictions: p.opt("memberRestrictions")?,
            },
            "x.grp.mem.inv" => Self::GrpMemInv {
                member_id: p.req("memberId")?,
                member_intro: p.req("memberIntro")?,
            },
            "x.grp.mem.fwd" => Self::GrpMemFwd {
                member_info: p.req("memberInfo")?,
                member_intro: p.req("memberIntro")?,
            },
            "x.grp.mem.info" => Self::GrpMemInfo {
                member_id: p.req("memberId")?,
                profile: p.req("profile")?,
            },
            "x.grp.mem.role" => Self::GrpMemRole {
                member_id: p.req("memberId")?,
                role: p.req("role")?,
            },
            "x.grp.mem.restrict" => Self::GrpMemRestrict {
                member_id: p.req("memberId")?,
                member_restrictions: p.req("memberRestrictions")?,
            },
            "x.grp.mem.con" => Self::GrpMemCon {
                member_id: p.req("memberId")?,
            },
            "x.grp.mem.con.all" => Self::GrpMemConAll {
                member_id: p.req("memberId")?,
            },
            // As the reference: a `messages` that does not read as a bool is false.
            "x.grp.mem.del" => Self::GrpMemDel {
                member_id: p.req("memberId")?,
                messages: p.opt::<bool>("messages").ok().flatten().unwrap_or(false),
            },
            "x.grp.leave" => Self::GrpLeave,
            "x.grp.del" => Self::GrpDel,
            "x.grp.info" => Self::GrpInfo {
                group_profile: p.req("groupProfile")?,
            },
            "x.grp.prefs" => Self::GrpPrefs {
                group_preferences: p.req("groupPreferences")?,
            },
            "x.grp.direct.inv" => Self::GrpDirectInv {
                conn_req: p.req("connReq")?,
                content: p.opt("content")?,
                scope: p.opt("scope")?,
            },
            "x.grp.msg.forward" => {
                let member_id: Option<MemberId> = p.opt("memberId")?;
                let member_name: Option<String> = p.opt("memberName")?;
                let msg = params.get("msg").ok_or_else(|| p.bad("no msg"))?;
                let ts: String = p.req("msgTs")?;
                let msg = ChatMessage::from_json(msg)?;
                // Forwarded messages never nest.
                if matches!(msg.event, Self::GrpMsgForward { .. }) {
                    return Err(p.bad("a forwarded message inside a forwarded message"));
                }
                Self::GrpMsgForward {
                    member_id,
                    member_name,
                    msg: Box::new(msg),
                    msg_ts: UtcTime::parse(&ts).map_err(|e| p.bad(e.to_string()))?,
                }
            }
            "x.info.probe" => Self::InfoProbe {
                probe: p.req("probe")?,
            },
            "x.info.probe.check" => Self::InfoProbeCheck {
                probe_hash: p.req("probeHash")?,
            },
            "x.info.probe.ok" => Self::InfoProbeOk {
                probe: p.req("probe")?,
            },
            "x.ok" => Self::Ok,
            other => Self::Unknown {
                event: other.to_string(),
                params: params.clone(),
            },
        })
    }
}

/// One chat message.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatMessage {
    /// The sender's chat versions.
    pub versions: VersionRange,
    /// The shared id of a message others may refer to.
    pub msg_id: Option<SharedMsgId>,
    /// The event.
    pub event: ChatEvent,
}

impl ChatMessage {
    /// A message from us (our version range).
    pub fn new(msg_id: Option<SharedMsgId>, event: ChatEvent) -> Self {
        Self {
            versions: CHAT_VERSIONS,
            msg_id,
            event,
        }
    }

    /// As a JSON value.
    pub fn to_json(&self) -> Value {
        let mut o = Map::new();
        o.insert("v".into(), ChatVersions(self.versions).to_string().into());
        put_opt(&mut o, "msgId", &self.msg_id);
        o.insert("event".into(), self.event.name().into());
        o.insert("params".into(), Value::Object(self.event.params()));
        Value::Object(o)
    }

    /// Its JSON text (no whitespace), as sent.
    pub fn encode(&self) -> Vec<u8> {
        self.to_json().to_string().into_bytes()
    }

    /// From a JSON value.
    pub fn from_json(v: &Value) -> Result<Self> {
        let o = v
            .as_object()
            .ok_or_else(|| json_err("a chat message is a JSON object"))?;
        let versions = match o.get("v") {
            None | Some(Value::Null) => INITIAL_CHAT_VERSIONS,
            Some(Value::String(s)) => ChatVersions::parse(s)
                .ok_or_else(|| json_err(format!("bad chat version range {s:?}")))?,
            Some(_) => return Err(json_err("v is not a string")),
        };
        let msg_id = match o.get("msgId") {
            None | Some(Value::Null) => None,
            Some(v) => Some(B64::deserialize(v).map_err(json_err)?),
        };
        let event = o
            .get("event")
            .and_then(Value::as_str)
            .ok_or_else(|| json_err("no event"))?;
        let empty = Map::new();
        let params = match o.get("params") {
            Some(Value::Object(p)) => p,
            None => &empty,
            Some(_) => return Err(json_err("params is not an object")),
        };
        Ok(Self {
            versions,
            msg_id,
            event: ChatEvent::from_params(event, params)?,
        })
    }

    /// From one JSON object's bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let v: Value = serde_json::from_slice(bytes).map_err(json_err)?;
        Self::from_json(&v)
    }
}

/// Who a group host forwards a message from (binary forward header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FwdSender {
    /// A member: its id and name.
    Member(Vec<u8>, String),
    /// The channel itself.
    Channel,
}

/// A binary forward header (`'>'`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrpMsgForward {
    /// The original sender.
    pub sender: FwdSender,
    /// When the host's relay received it (whole seconds on the wire).
    pub broker_ts: UtcTime,
}

/// A signed element (`'/'`): what was signed, and the signatures over it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedMsg {
    /// The binding tag (`'G'`: group).
    pub binding: u8,
    /// Key reference tag and signature bytes.
    pub signatures: Vec<(u8, Vec<u8>)>,
    /// The exact signed bytes (the JSON body).
    pub body: Vec<u8>,
}

/// One element of an agent message body.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedMsg {
    /// Set when a group host forwarded it.
    pub forward: Option<GrpMsgForward>,
    /// Set when it was signed.
    pub signed: Option<SignedMsg>,
    /// The message.
    pub msg: ChatMessage,
}

/// A reader over bytes for the binary element forms.
struct Bin<'a>(&'a [u8]);

impl<'a> Bin<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(ProtocolError::Element("truncated"));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }

    fn byte(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn short(&mut self) -> Result<&'a [u8]> {
        let n = self.byte()? as usize;
        self.take(n)
    }

    fn large(&mut self) -> Result<&'a [u8]> {
        let n = self.take(2)?;
        let n = u16::from_be_bytes([n[0], n[1]]) as usize;
        self.take(n)
    }

    fn i64(&mut self) -> Result<i64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }
}

/// Parses one element (`{`, `>`, `/`), `forwarded` being the header already read.
fn element(bytes: &[u8], forwarded: Option<GrpMsgForward>) -> Result<ParsedMsg> {
    match bytes.first() {
        Some(b'{') => Ok(ParsedMsg {
            forward: forwarded,
            signed: None,
            msg: ChatMessage::decode(bytes)?,
        }),
        Some(b'>') => {
            if forwarded.is_some() {
                return Err(ProtocolError::Element("nested forward elements"));
            }
            let mut r = Bin(&bytes[1..]);
            let sender = match r.byte()? {
                b'M' => {
                    let id = r.short()?.to_vec();
                    // Text is a short (1-byte length) UTF-8 string in the reference's encoding.
                    let name = String::from_utf8(r.short()?.to_vec())
                        .map_err(|_| ProtocolError::Element("member name is not UTF-8"))?;
                    FwdSender::Member(id, name)
                }
                b'C' => FwdSender::Channel,
                _ => return Err(ProtocolError::Element("bad forward sender")),
            };
            // SystemTime: Int64 seconds (simplexmq's Encoding drops the nanoseconds).
            let secs = r.i64()?;
            let header = GrpMsgForward {
                sender,
                broker_ts: UtcTime { secs, nanos: 0 },
            };
            element(r.0, Some(header))
        }
        Some(b'/') => {
            let mut r = Bin(&bytes[1..]);
            let binding = r.byte()?;
            if binding != b'G' {
                return Err(ProtocolError::Element("bad chat binding"));
            }
            let count = r.byte()?;
            if count == 0 {
                return Err(ProtocolError::Element("no signatures"));
            }
            let mut signatures = Vec::with_capacity(count as usize);
            for _ in 0..count {
                let key_ref = r.byte()?;
                if key_ref != b'M' {
                    return Err(ProtocolError::Element("bad key reference"));
                }
                signatures.push((key_ref, r.short()?.to_vec()));
            }
            let body = r.0;
            Ok(ParsedMsg {
                forward: forwarded,
                signed: Some(SignedMsg {
                    binding,
                    signatures,
                    body: body.to_vec(),
                }),
                msg: ChatMessage::decode(body)?,
            })
        }
        Some(b'F') => Err(ProtocolError::Unsupported(
            "legacy binary file chunks (files come over XFTP)",
        )),
        Some(_) => Err(ProtocolError::Element("unknown element prefix")),
        None => Err(ProtocolError::Empty),
    }
}

/// The most all items of one compressed body decompress to: four times what one may (the
/// reference writes one item; a hostile peer gets no more than this per message).
const MAX_COMPRESSED_BODY: usize = 4 * crate::compress::MAX_DECOMPRESSED;

/// `'X'` NonEmpty(Compressed): each item (`'0'` shortString raw, `'1'` Large zstd frame)
/// decompressed and parsed as a body of its own - a JSON object or array, or a binary form,
/// but not compressed again.
fn compressed_body(rest: &[u8]) -> Vec<Result<ParsedMsg>> {
    let mut r = Bin(rest);
    let count = match r.byte() {
        Ok(0) => return vec![Err(ProtocolError::Element("empty compressed body"))],
        Ok(n) => n,
        Err(_) => return vec![Err(ProtocolError::Element("truncated compressed body"))],
    };
    let mut out = Vec::new();
    let mut total = 0usize;
    for _ in 0..count {
        let item = match r.byte() {
            Ok(b'0') => r.short().map(<[u8]>::to_vec),
            Ok(b'1') => r.large().and_then(|frame| {
                crate::compress::decompress(frame).map_err(|_| {
                    ProtocolError::Element(
                        "a compressed item that does not decompress within its limit",
                    )
                })
            }),
            Ok(_) => Err(ProtocolError::Element("unknown compressed item tag")),
            Err(e) => Err(e),
        };
        let item = match item {
            Ok(i) => i,
            Err(e) => {
                out.push(Err(e));
                return out;
            }
        };
        total += item.len();
        if total > MAX_COMPRESSED_BODY {
            out.push(Err(ProtocolError::Element("a compressed body too large")));
            return out;
        }
        if item.first() == Some(&b'X') {
            out.push(Err(ProtocolError::Element(
                "a compressed body inside a compressed body",
            )));
            continue;
        }
        out.extend(parse_chat_messages(&item));
    }
    if !r.0.is_empty() {
        out.push(Err(ProtocolError::Element(
            "bytes after the compressed body",
        )));
    }
    out
}

/// Parses an agent message body into its chat messages (one result per element, so that one
/// bad element in a batch does not lose the others).
pub fn parse_chat_messages(body: &[u8]) -> Vec<Result<ParsedMsg>> {
    let plain = |msg| ParsedMsg {
        forward: None,
        signed: None,
        msg,
    };
    match body.first() {
        None => vec![Err(ProtocolError::Empty)],
        Some(b'X') => compressed_body(&body[1..]),
        Some(b'[') => match serde_json::from_slice::<Vec<Value>>(body) {
            Ok(items) => items
                .iter()
                .map(|v| ChatMessage::from_json(v).map(plain))
                .collect(),
            Err(e) => vec![Err(json_err(e))],
        },
        Some(b'=') => {
            let mut r = Bin(&body[1..]);
            let Ok(count) = r.byte() else {
                return vec![Err(ProtocolError::Element("truncated batch"))];
            };
            let mut out = Vec::with_capacity(count as usize);
            for _ in 0..count {
                match r.large() {
                    Ok(e) => out.push(element(e, None)),
                    Err(e) => {
                        out.push(Err(e));
                        return out;
                    }
                }
            }
            if !r.0.is_empty() {
                out.push(Err(ProtocolError::Element("bytes after the batch")));
            }
            out
        }
        Some(_) => vec![element(body, None)],
    }
}

#[cfg(test)]
mod notify_tests {
    use super::*;

    #[test]
    fn the_events_that_notify_are_the_references() {
        let new = ChatMessage::new(
            Some(B64(vec![1; 12])),
            ChatEvent::MsgNew(MsgContainer::simple(MsgContent::text("hi"))),
        );
        assert!(notifies(&new.encode()), "a new message");
        let end = ChatMessage::new(
            None,
            ChatEvent::CallEnd {
                call_id: B64(vec![2]),
            },
        );
        assert!(!notifies(&end.encode()), "a call's end");
        let del = ChatMessage::new(None, ChatEvent::GrpDel);
        assert!(notifies(&del.encode()), "a group deleted");
        let leave = ChatMessage::new(None, ChatEvent::GrpLeave);
        assert!(!notifies(&leave.encode()), "a member leaving");
        // Signed in a channel (`'/'` before the JSON): the same.
        let (_, key) =
            simplex_crypto::asymmetric::generate(simplex_crypto::keys::KeyAlgorithm::Ed25519)
                .unwrap();
        let signed = |m: &ChatMessage| {
            crate::group_keys::sign_element(&key, b"channel", b"member", &m.encode()).unwrap()
        };
        assert!(notifies(&signed(&del)), "a channel deleted, signed");
        assert!(!notifies(&signed(&leave)), "a subscriber leaving, signed");
        assert_eq!(event_of(&signed(&del)), Some(&b"x.grp.del"[..]));
        assert_eq!(event_of(b"/G"), None);
        // Not ours, or not a message: nothing notifies.
        assert!(!notifies(br#"{"msgId":"AQ","event":"x.msg.new"}"#));
        assert!(!notifies(b"X\x00\x01"));
        assert!(!notifies(br#"{"event":"x.msg.new.later"}"#));
    }
}
