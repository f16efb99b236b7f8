//! Channels, as the reference's chat relays (7.0): a channel's owner asks chat relays (clients
//! started with `--relay`) to serve it, and subscribers join through the relays, never
//! through the owner; the owner's messages go to its relays, which forward them to every
//! subscriber.
//!
//! - The owner (`/_public group`) creates the group and its channel link: a contact address
//!   whose short link (`c`) says it takes no requests itself (`direct` off) and whose data
//!   is `{"groupProfile": ...}`. For each relay it chose (`/relays`), it sends a request to the
//!   relay's address with `x.grp.relay.inv` (its member id and profile, the relay's member
//!   id, the channel link).
//! - The relay reads the channel link's data (LGET), records the group with the owner, makes
//!   its own link for it (`r`, data as the channel's) and accepts with `x.grp.relay.acpt
//!   {relayLink}`. The owner then names the relay's link in the channel link's data (LSET):
//!   the relay is active.
//! - A subscriber (`/c <channel link>`) reads the channel link's data, and sends `x.member
//!   {profile, newMemberId}` to each relay's link. The relay accepts as with a group link
//!   (`x.grp.link.inv`, the subscriber an observer), announces the owners to it (`x.grp.mem.new`,
//!   no connection between them), sends the history, and from then on forwards what the
//!   owners send (`x.grp.msg.forward`). Subscribers are never introduced to each other.

use crate::chat::{agent_err, Chat, ChatError, Event, Response};
use crate::group_store::{Group, Member, MemberCategory, MemberStatus, NewMember};
use crate::protocol::{
    ChatEvent, ChatMessage, GroupMemberRole, GroupProfile, GroupRelayInvitation, MemberIdRole,
    Profile, B64,
};
use crate::store::{ChatStore, StoreError};
use rusqlite::{params, OptionalExtension};

type Result<T> = std::result::Result<T, ChatError>;

/// At most this many chat relays are configured, and serve one channel.
pub const MAX_RELAYS: usize = 16;

/// The most channels a chat relay serves at once by default (`--relay-max-channels`): each
/// is a group, an address on an SMP relay and a connection per subscriber, so owners cannot
/// make a relay take on work without bound.
pub const DEFAULT_MAX_CHANNELS: usize = 10_000;

/// A chat relay the user chose (`/relays`): a relay client's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatRelay {
    /// Its id (`relayIds` of `/_public group`).
    pub id: i64,
    /// The name it is shown by.
    pub name: String,
    /// Its address (a contact address link).
    pub address: String,
}

/// Where a channel's relay stands (the reference's `RelayStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayStatus {
    /// Asked to serve the channel (our request sent).
    Invited,
    /// It accepted; its link is known.
    Accepted,
    /// Its link is in the channel link's data: subscribers join through it.
    Active,
    /// It left or was removed: its link is no longer in the channel link's data.
    Inactive,
    /// It could not be asked.
    Rejected,
}

impl RelayStatus {
    /// The reference's JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invited => "invited",
            Self::Accepted => "accepted",
            Self::Active => "active",
            Self::Inactive => "inactive",
            Self::Rejected => "rejected",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "invited" => Self::Invited,
            "accepted" => Self::Accepted,
            "active" => Self::Active,
            "inactive" => Self::Inactive,
            "rejected" => Self::Rejected,
            _ => return None,
        })
    }
}

/// A relay of a channel: its member record, the configured relay it is (owner's side), where
/// it stands and its link.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupRelay {
    /// The relay as a member of the group.
    pub member: Member,
    /// The configured relay (the owner's; none on a subscriber's side, or once removed).
    pub chat_relay: Option<ChatRelay>,
    /// Where it stands.
    pub status: RelayStatus,
    /// Its link for the channel.
    pub link: Option<String>,
}

/// What asking one relay gave (the reference's `AddRelayResult`).
#[derive(Debug, Clone, PartialEq)]
pub struct AddRelayResult {
    /// The relay.
    pub relay: ChatRelay,
    /// Why it could not be asked (none: asked).
    pub error: Option<String>,
}

/// The data of a channel's link and of its relays' links (the
/// reference's `GroupShortLinkData`), compressed as the reference's when large.
fn link_data(profile: &GroupProfile) -> Result<Vec<u8>> {
    let json =
        link_data_json(profile).map_err(|e| ChatError::Agent(format!("channel link data: {e}")))?;
    crate::compress::link_data(json)
        .map_err(|e| ChatError::Agent(format!("channel link data: {e}")))
}

/// `GroupShortLinkData` as JSON, before compression.
pub(crate) fn link_data_json(profile: &GroupProfile) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec(&serde_json::json!({ "groupProfile": profile }))
}

/// The channel link's data as its owner writes it: the profile and how many the channel has
/// (`publicGroupData.publicMemberCount`, the reference's subscriber count).
fn channel_link_data(profile: &GroupProfile, count: i64) -> Result<Vec<u8>> {
    let json = serde_json::to_vec(&serde_json::json!({
        "groupProfile": profile,
        "publicGroupData": {"publicMemberCount": count},
    }))
    .map_err(|e| ChatError::Agent(format!("channel link data: {e}")))?;
    crate::compress::link_data(json)
        .map_err(|e| ChatError::Agent(format!("channel link data: {e}")))
}

/// The most members a channel's count may say (a larger one in a link's data is not kept).
pub const MAX_MEMBER_COUNT: i64 = 1 << 40;

/// The subscriber count in a channel link's data, when there is one (and it is sane).
pub(crate) fn count_from_link_data(data: &[u8]) -> Option<i64> {
    let data = crate::compress::read_link_data(data).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&data).ok()?;
    v.get("publicGroupData")?
        .get("publicMemberCount")?
        .as_i64()
        .filter(|n| (0..=MAX_MEMBER_COUNT).contains(n))
}

/// The longest challenge a chat relay signs in a relay test (`relay_test`).
const MAX_TEST_CHALLENGE: usize = 32;

/// How long an owner waits after a change of its channel's count before it writes the link's
/// data: a burst of joins is written once.
const COUNT_SETTLE: std::time::Duration = std::time::Duration::from_secs(2);

/// The group's or channel's profile from its link's data.
pub(crate) fn profile_from_link_data(data: &[u8]) -> Result<GroupProfile> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Data {
        group_profile: GroupProfile,
    }
    let data = crate::compress::read_link_data(data)
        .map_err(|e| ChatError::Agent(format!("the channel link's data: {e}")))?;
    serde_json::from_slice::<Data>(&data)
        .map(|d| d.group_profile)
        .map_err(|e| ChatError::Agent(format!("the channel link's data: {e}")))
}

fn status_from(s: &str) -> std::result::Result<RelayStatus, StoreError> {
    RelayStatus::parse(s).ok_or(StoreError::Corrupt("relay status"))
}

impl ChatStore {
    /// The configured chat relays, in order.
    pub fn chat_relays(&self) -> std::result::Result<Vec<ChatRelay>, StoreError> {
        let mut st = self.db.prepare(
            "SELECT chat_relay_id, name, address FROM chat_relays ORDER BY chat_relay_id",
        )?;
        let rows = st.query_map([], |r| {
            Ok(ChatRelay {
                id: r.get(0)?,
                name: r.get(1)?,
                address: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Sets the configured chat relays: those of the same address keep their id (and take the
    /// new name), the others go.
    pub fn set_chat_relays(
        &mut self,
        relays: &[(String, String)],
    ) -> std::result::Result<(), StoreError> {
        let base = self.id_base;
        let tx = self.db.transaction()?;
        {
            let mut keep = Vec::new();
            for (name, address) in relays {
                let id: Option<i64> = tx
                    .query_row(
                        "SELECT chat_relay_id FROM chat_relays WHERE address = ?1",
                        [address],
                        |r| r.get(0),
                    )
                    .optional()?;
                let id = match id {
                    Some(id) => {
                        tx.execute(
                            "UPDATE chat_relays SET name = ?2 WHERE chat_relay_id = ?1",
                            params![id, name],
                        )?;
                        id
                    }
                    None => {
                        let id =
                            crate::store::next_row_id(&tx, "chat_relays", "chat_relay_id", base)?;
                        tx.execute(
                            "INSERT INTO chat_relays (name, address, created_at, chat_relay_id)
                             VALUES (?1, ?2, ?3, ?4)",
                            params![name, address, crate::store::now_ms(), id],
                        )?;
                        id
                    }
                };
                keep.push(id);
            }
            let all: Vec<i64> = {
                let mut st = tx.prepare("SELECT chat_relay_id FROM chat_relays")?;
                let rows = st.query_map([], |r| r.get(0))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            for id in all.into_iter().filter(|id| !keep.contains(id)) {
                tx.execute("DELETE FROM chat_relays WHERE chat_relay_id = ?1", [id])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// A configured chat relay.
    /// A channel's count of members (its owner's, or its link's at joining), when known.
    pub fn public_member_count(
        &self,
        group_id: i64,
    ) -> std::result::Result<Option<i64>, StoreError> {
        Ok(self
            .db
            .query_row(
                "SELECT public_member_count FROM groups WHERE group_id = ?1",
                [group_id],
                |r| r.get(0),
            )
            .optional()?
            .flatten())
    }

    /// Keeps a channel's count of members.
    pub fn set_public_member_count(
        &self,
        group_id: i64,
        count: i64,
    ) -> std::result::Result<(), StoreError> {
        self.db.execute(
            "UPDATE groups SET public_member_count = ?2 WHERE group_id = ?1",
            rusqlite::params![group_id, count],
        )?;
        Ok(())
    }

    pub fn chat_relay(&self, id: i64) -> std::result::Result<Option<ChatRelay>, StoreError> {
        Ok(self
            .db
            .query_row(
                "SELECT chat_relay_id, name, address FROM chat_relays WHERE chat_relay_id = ?1",
                [id],
                |r| {
                    Ok(ChatRelay {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        address: r.get(2)?,
                    })
                },
            )
            .optional()?)
    }

    /// Marks a group as a channel, with its link (the owner's channel link, also on the
    /// relays' and the subscribers' sides).
    pub fn set_channel(&self, group_id: i64, link: &str) -> std::result::Result<(), StoreError> {
        self.db.execute(
            "UPDATE groups SET use_relays = 1, channel_link = ?2 WHERE group_id = ?1",
            params![group_id, link],
        )?;
        Ok(())
    }

    /// Whether a group is a channel.
    pub fn is_channel(&self, group_id: i64) -> std::result::Result<bool, StoreError> {
        Ok(self
            .db
            .query_row(
                "SELECT use_relays FROM groups WHERE group_id = ?1",
                [group_id],
                |r| r.get::<_, bool>(0),
            )
            .optional()?
            .unwrap_or(false))
    }

    /// A channel's link.
    pub fn channel_link(&self, group_id: i64) -> std::result::Result<Option<String>, StoreError> {
        Ok(self
            .db
            .query_row(
                "SELECT channel_link FROM groups WHERE group_id = ?1",
                [group_id],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()?
            .flatten())
    }

    /// The channel of this link we have (the latest).
    pub fn channel_by_link(&self, link: &str) -> std::result::Result<Option<i64>, StoreError> {
        Ok(self
            .db
            .query_row(
                "SELECT group_id FROM groups WHERE channel_link = ?1 AND use_relays = 1
                 ORDER BY group_id DESC LIMIT 1",
                [link],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// A relay's refusal to serve a channel again (after it left it), set or cleared.
    pub fn set_relay_refused(
        &self,
        group_id: i64,
        refused: bool,
    ) -> std::result::Result<(), StoreError> {
        self.db.execute(
            "UPDATE groups SET relay_refused = ?2 WHERE group_id = ?1",
            params![group_id, refused],
        )?;
        Ok(())
    }

    /// How many channels we serve as their relay (those we left or were removed from, or
    /// that were deleted, not counted).
    pub fn served_channels(&self) -> std::result::Result<usize, StoreError> {
        let n: i64 = self.db.query_row(
            "SELECT count(*) FROM groups
             WHERE role = 'relay' AND status NOT IN ('left', 'removed', 'deleted')",
            [],
            |r| r.get(0),
        )?;
        Ok(n.max(0) as usize)
    }

    /// Whether we refuse to serve the channel of this link again.
    pub fn relay_refuses(&self, link: &str) -> std::result::Result<bool, StoreError> {
        Ok(self
            .db
            .query_row(
                "SELECT 1 FROM groups WHERE channel_link = ?1 AND relay_refused = 1",
                [link],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Records a relay of a channel.
    pub fn add_group_relay(
        &self,
        group_member_id: i64,
        chat_relay_id: Option<i64>,
        status: RelayStatus,
        link: Option<&str>,
    ) -> std::result::Result<(), StoreError> {
        self.db.execute(
            "INSERT OR REPLACE INTO group_relays (group_member_id, chat_relay_id, status, relay_link)
             VALUES (?1, ?2, ?3, ?4)",
            params![group_member_id, chat_relay_id, status.as_str(), link],
        )?;
        Ok(())
    }

    /// A relay's new status (and its link, when it is known now).
    pub fn set_relay_status(
        &self,
        group_member_id: i64,
        status: RelayStatus,
        link: Option<&str>,
    ) -> std::result::Result<(), StoreError> {
        self.db.execute(
            "UPDATE group_relays SET status = ?2, relay_link = COALESCE(?3, relay_link)
             WHERE group_member_id = ?1",
            params![group_member_id, status.as_str(), link],
        )?;
        Ok(())
    }

    /// A channel's relays, in the order they were asked.
    pub fn group_relays(&self, group_id: i64) -> std::result::Result<Vec<GroupRelay>, StoreError> {
        let rows: Vec<(i64, Option<i64>, String, Option<String>)> = {
            let mut st = self.db.prepare(
                "SELECT r.group_member_id, r.chat_relay_id, r.status, r.relay_link
                   FROM group_relays r JOIN group_members m USING (group_member_id)
                  WHERE m.group_id = ?1 ORDER BY r.group_member_id",
            )?;
            let rows = st.query_map([group_id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let mut out = Vec::with_capacity(rows.len());
        for (member, chat_relay, status, link) in rows {
            let Some(member) = self.member(member)? else {
                continue;
            };
            let chat_relay = match chat_relay {
                Some(id) => self.chat_relay(id)?,
                None => None,
            };
            out.push(GroupRelay {
                member,
                chat_relay,
                status: status_from(&status)?,
                link,
            });
        }
        Ok(out)
    }

    /// A relay member's record, if it is one.
    pub fn group_relay(
        &self,
        group_member_id: i64,
    ) -> std::result::Result<Option<GroupRelay>, StoreError> {
        let Some(m) = self.member(group_member_id)? else {
            return Ok(None);
        };
        Ok(self
            .group_relays(m.group_id)?
            .into_iter()
            .find(|r| r.member.group_member_id == group_member_id))
    }

    /// A member's id and role, as its host told (a relay's, known once it accepted).
    pub fn set_member_id_role(
        &self,
        group_member_id: i64,
        member_id: &crate::protocol::MemberId,
        role: GroupMemberRole,
    ) -> std::result::Result<(), StoreError> {
        self.db.execute(
            "UPDATE group_members SET member_id = ?2, role = ?3 WHERE group_member_id = ?1",
            params![group_member_id, member_id.0, role.name()],
        )?;
        Ok(())
    }
}

/// A relay's name as configured: a word of letters, digits, `_`, `-` and `.`.
fn valid_relay_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// `/relays [name=N] <link> ...`: the relays as given (a name defaults to `relay_K`).
pub fn parse_relays(args: &str) -> std::result::Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut name: Option<String> = None;
    for w in args.split_whitespace() {
        if let Some(n) = w.strip_prefix("name=") {
            if !valid_relay_name(n) {
                return Err(format!("bad relay name: {n}"));
            }
            name = Some(n.to_string());
            continue;
        }
        if agent::links::ShortLink::parse(w).is_err()
            && agent::links::ConnectionRequest::parse(w).is_err()
        {
            return Err(format!("not a relay address: {w}"));
        }
        let n = name
            .take()
            .unwrap_or_else(|| format!("relay_{}", out.len() + 1));
        if out.iter().any(|(o, _): &(String, String)| *o == n) {
            return Err(format!("two relays named {n}"));
        }
        if out.iter().any(|(_, a)| a == w) {
            return Err(format!("relay {w} is given twice"));
        }
        out.push((n, w.to_string()));
    }
    if name.is_some() {
        return Err("a name without a relay address".into());
    }
    if out.len() > MAX_RELAYS {
        return Err(format!("at most {MAX_RELAYS} chat relays"));
    }
    Ok(out)
}

impl Chat {
    /// Whether this client serves channels (`--relay`: requests with `x.grp.relay.inv` to
    /// its address are taken; without it they are refused).
    pub fn is_chat_relay(&self) -> bool {
        self.inner.chat_relay
    }

    /// Whether a group is a channel.
    pub(crate) fn is_channel(&self, g: &Group) -> Result<bool> {
        Ok(self.store().is_channel(g.group_id)?)
    }

    /// `/relays [name=N] <link> ...`.
    pub(crate) fn set_chat_relays(&self, relays: Vec<(String, String)>) -> Result<Response> {
        self.store().set_chat_relays(&relays)?;
        Ok(Response::Ok)
    }

    /// `/_public group 1 [incognito=on] <relayIds> <json>`: a new channel served by these
    /// relays (asked now; each is active once it accepted and its link is published).
    pub(crate) async fn new_public_group(
        &self,
        relay_ids: Vec<i64>,
        mut profile: GroupProfile,
        incognito: bool,
    ) -> Result<Response> {
        let relays = self.chosen_relays(&relay_ids)?;
        let created = self.new_group_as(profile.clone(), incognito).await?;
        let Response::GroupCreated(g) = created else {
            return Ok(created);
        };
        let made = self
            .channel_address(&profile, agent::links::ShortLinkKind::Channel)
            .await;
        let (conn, full, link) = match made {
            Ok(l) => l,
            Err(e) => {
                self.store().delete_group(g.group_id, &[])?;
                return Err(e);
            }
        };
        let mut group_id = vec![0u8; 16];
        simplex_crypto::random_bytes(&mut group_id);
        profile.public_group = Some(serde_json::json!({
            "groupType": "channel",
            "groupLink": link,
            "publicGroupId": simplex_codec::base64url::encode(&group_id),
        }));
        {
            let store = self.store();
            // The channel's short link is its own (`groups.channel_link`).
            let full = crate::chat::ConnLink {
                full: crate::chat::display_link(&full),
                short: None,
            };
            store.add_group_link(
                g.group_id,
                conn,
                &full,
                &group_id,
                GroupMemberRole::Observer,
            )?;
            store.set_channel(g.group_id, &link)?;
            store.set_group_profile(g.group_id, &profile)?;
        }
        // Our signing key in the channel (its public half goes to the relays).
        self.own_key_in(g.group_id)?;
        let g = Group { profile, ..g };
        if let Err(e) = self.publish_channel(&g).await {
            self.discard_channel(&g, conn).await?;
            return Err(e);
        }
        let results = match self.invite_relays(&g, &relays).await {
            Ok(r) => r,
            Err(e) => {
                self.discard_channel(&g, conn).await?;
                return Err(e);
            }
        };
        if results.iter().all(|r| r.error.is_some()) {
            self.discard_channel(&g, conn).await?;
            return Ok(Response::PublicGroupCreationFailed(results));
        }
        let relays = self.store().group_relays(g.group_id)?;
        Ok(Response::PublicGroupCreated(g, link, relays))
    }

    /// An address for a channel with a short link of `kind`: the owner's channel link (which
    /// takes no requests itself) or a relay's link for it; its data the channel's profile.
    /// The connection, the full link and the short one; none left behind on failure.
    async fn channel_address(
        &self,
        profile: &GroupProfile,
        kind: agent::links::ShortLinkKind,
    ) -> Result<(u64, String, String)> {
        let direct = kind != agent::links::ShortLinkKind::Channel;
        let (conn, full, short) = self
            .inner
            .agent
            .create_address_link(&link_data(profile)?, kind, direct)
            .await
            .map_err(agent_err)?;
        if short.is_empty() {
            let _ = self.inner.agent.delete_connection(conn).await;
            return Err(ChatError::BadCommand(
                "the SMP relay keeps no link data: channels need an SMP v15+ relay".into(),
            ));
        }
        Ok((conn, full, short))
    }

    /// A channel whose creation failed: its link, its relays' connections and its records go.
    async fn discard_channel(&self, g: &Group, link_conn: u64) -> Result<()> {
        let members = self.store().members(g.group_id)?;
        for c in std::iter::once(link_conn).chain(members.iter().filter_map(|m| m.conn_id)) {
            let _ = self.inner.agent.delete_connection(c).await;
        }
        self.store().delete_group(g.group_id, &[])?;
        Ok(())
    }

    /// `/_add relays #G <relayIds>`: more relays for our channel.
    pub(crate) async fn add_group_relays(
        &self,
        group_id: i64,
        relay_ids: Vec<i64>,
    ) -> Result<Response> {
        let g = self.group_by_id(group_id)?;
        if !self.is_channel(&g)? || g.role != GroupMemberRole::Owner {
            return Err(ChatError::BadCommand(format!(
                "#{}: relays are added by the owner of a channel",
                g.local_name
            )));
        }
        crate::groups::check_current(&g)?;
        let relays = self.chosen_relays(&relay_ids)?;
        let current = self.store().group_relays(g.group_id)?;
        let chosen = |r: &GroupRelay| {
            r.chat_relay
                .as_ref()
                .is_some_and(|c| relays.iter().any(|x| x.id == c.id))
                && !matches!(r.member.status, MemberStatus::Left | MemberStatus::Removed)
        };
        if let Some(r) = current
            .iter()
            .find(|r| chosen(r) && matches!(r.status, RelayStatus::Accepted | RelayStatus::Active))
        {
            return Err(ChatError::BadCommand(format!(
                "#{}: relay {} already serves the channel",
                g.local_name, r.member.local_name
            )));
        }
        let serving = current
            .iter()
            .filter(|r| !chosen(r))
            .filter(|r| !matches!(r.status, RelayStatus::Rejected | RelayStatus::Inactive))
            .count();
        if serving + relays.len() > MAX_RELAYS {
            return Err(ChatError::BadCommand(format!(
                "#{}: at most {MAX_RELAYS} relays serve a channel",
                g.local_name
            )));
        }
        // Asked before and no answer (a relay refuses without one): asked again instead.
        for r in current
            .iter()
            .filter(|r| chosen(r) && r.status == RelayStatus::Invited)
        {
            if let Some(conn) = r.member.conn_id {
                let _ = self.inner.agent.delete_connection(conn).await;
            }
            self.store()
                .set_relay_status(r.member.group_member_id, RelayStatus::Rejected, None)?;
            self.store()
                .set_member_status(r.member.group_member_id, MemberStatus::Removed)?;
        }
        let results = self.invite_relays(&g, &relays).await?;
        if results.iter().all(|r| r.error.is_some()) {
            return Ok(Response::GroupRelaysAddFailed(results));
        }
        let link = self.store().channel_link(g.group_id)?.unwrap_or_default();
        let relays = self.store().group_relays(g.group_id)?;
        Ok(Response::GroupRelaysAdded(g, link, relays))
    }

    /// `/_get relays #G`.
    pub(crate) fn get_group_relays(&self, group_id: i64) -> Result<Response> {
        let g = self.group_by_id(group_id)?;
        let relays = self.store().group_relays(g.group_id)?;
        Ok(Response::GroupRelays(g, relays))
    }

    /// `/_relay allow #G` (a relay's operator): serve again a channel we left, when its owner
    /// asks again.
    pub(crate) fn allow_relay_group(&self, group_id: i64) -> Result<Response> {
        let g = self.group_by_id(group_id)?;
        if !self.is_channel(&g)? || g.role != GroupMemberRole::Relay {
            return Err(ChatError::BadCommand(format!(
                "#{}: not a channel this client served as a relay",
                g.local_name
            )));
        }
        self.store().set_relay_refused(g.group_id, false)?;
        Ok(Response::RelayGroupAllowed(g))
    }

    fn chosen_relays(&self, ids: &[i64]) -> Result<Vec<ChatRelay>> {
        if ids.is_empty() || ids.len() > MAX_RELAYS {
            return Err(ChatError::BadCommand(format!(
                "a channel needs 1 to {MAX_RELAYS} relays"
            )));
        }
        let mut out: Vec<ChatRelay> = Vec::with_capacity(ids.len());
        for id in ids {
            let r = self.store().chat_relay(*id)?.ok_or_else(|| {
                ChatError::BadCommand(format!("no chat relay {id} (see /relays)"))
            })?;
            if !out.iter().any(|o| o.id == r.id) {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Asks each relay to serve the channel (a request to its address with
    /// `x.grp.relay.inv`).
    async fn invite_relays(&self, g: &Group, relays: &[ChatRelay]) -> Result<Vec<AddRelayResult>> {
        let mut results = Vec::with_capacity(relays.len());
        let link = self.store().channel_link(g.group_id)?.unwrap_or_default();
        let own_key = crate::group_keys::key_text(&self.own_key_in(g.group_id)?);
        for relay in relays {
            let relay_member_id = crate::groups::new_member_id();
            let m = self.store().add_member(&NewMember {
                group_id: g.group_id,
                member_id: &relay_member_id,
                role: GroupMemberRole::Relay,
                category: MemberCategory::Invitee,
                status: MemberStatus::Invited,
                profile: &Profile {
                    display_name: relay.name.clone(),
                    ..Profile::default()
                },
                conn_id: None,
                contact_id: None,
                invited_by: None,
            })?;
            let inv = GroupRelayInvitation {
                from_member: MemberIdRole {
                    member_id: g.member_id.clone(),
                    member_role: g.role,
                },
                from_member_profile: self.profile_in(g),
                relay_member_id,
                group_link: link.clone(),
                from_member_key: Some(own_key.clone()),
            };
            let info = ChatMessage::new(None, ChatEvent::GrpRelayInv(inv)).encode();
            match self.inner.agent.join(&relay.address, &info).await {
                Ok(conn) => {
                    self.store().set_member_conn(m.group_member_id, conn)?;
                    self.store().add_group_relay(
                        m.group_member_id,
                        Some(relay.id),
                        RelayStatus::Invited,
                        None,
                    )?;
                    results.push(AddRelayResult {
                        relay: relay.clone(),
                        error: None,
                    });
                }
                Err(e) => {
                    self.store().add_group_relay(
                        m.group_member_id,
                        Some(relay.id),
                        RelayStatus::Rejected,
                        None,
                    )?;
                    self.store()
                        .set_member_status(m.group_member_id, MemberStatus::Removed)?;
                    results.push(AddRelayResult {
                        relay: relay.clone(),
                        error: Some(e.to_string()),
                    });
                }
            }
        }
        Ok(results)
    }

    /// Writes the channel link's data: the profile and the links of the relays that accepted
    /// (LSET); those become active.
    pub(crate) async fn publish_channel(&self, g: &Group) -> Result<Vec<GroupRelay>> {
        let Some((conn, _, _)) = self.store().group_link(g.group_id)? else {
            return Ok(Vec::new());
        };
        let relays = self.store().group_relays(g.group_id)?;
        let serving: Vec<&GroupRelay> = relays
            .iter()
            .filter(|r| matches!(r.status, RelayStatus::Accepted | RelayStatus::Active))
            .filter(|r| r.link.is_some())
            .filter(|r| !matches!(r.member.status, MemberStatus::Left | MemberStatus::Removed))
            .collect();
        let links: Vec<String> = serving.iter().filter_map(|r| r.link.clone()).collect();
        let data = match g.role {
            GroupMemberRole::Owner => {
                let count = self.public_member_count(g)?;
                self.store().set_public_member_count(g.group_id, count)?;
                channel_link_data(&g.profile, count)?
            }
            _ => link_data(&g.profile)?,
        };
        // The owner in the link's data (`OwnerAuth`, authorized by the link's root key):
        // subscribers take its key from there, not from a relay.
        let owners = match g.role {
            GroupMemberRole::Owner => vec![(g.member_id.0.clone(), self.own_key_in(g.group_id)?)],
            _ => Vec::new(),
        };
        self.inner
            .agent
            .set_link_data_with_owners(conn, &data, &links, &owners)
            .await
            .map_err(agent_err)?;
        let mut activated = Vec::new();
        for r in serving {
            if r.status == RelayStatus::Accepted {
                self.store().set_relay_status(
                    r.member.group_member_id,
                    RelayStatus::Active,
                    None,
                )?;
                activated.push(GroupRelay {
                    status: RelayStatus::Active,
                    ..r.clone()
                });
            }
        }
        Ok(activated)
    }

    /// `/_get group link data #G`: the channel's link data read again, its count kept (a
    /// subscriber's was the one read when it joined); the group's info as `/i #group`.
    pub(crate) async fn refresh_channel_data(&self, group_id: i64) -> Result<Response> {
        let g = self.group_by_id(group_id)?;
        // (The store's lock is not held while it is asked again.)
        let link = self.store().channel_link(g.group_id)?;
        let link =
            link.ok_or_else(|| ChatError::BadCommand("group link data not available".into()))?;
        if g.role == GroupMemberRole::Owner {
            // Ours: counted here.
            let n = self.public_member_count(&g)?;
            self.store().set_public_member_count(g.group_id, n)?;
        } else {
            let data = self
                .inner
                .agent
                .read_address(&link)
                .await
                .map_err(agent_err)?;
            let n = count_from_link_data(&data.user_data).ok_or_else(|| {
                ChatError::BadCommand("no public group data in the channel's link".into())
            })?;
            self.store().set_public_member_count(g.group_id, n)?;
        }
        let members = self.store().current_members(&g)?;
        Ok(Response::GroupInfo { group: g, members })
    }

    /// How many a channel of ours has, as its owner knows: itself and every current member
    /// but its relays (the reference's `publicMemberCount`).
    pub(crate) fn public_member_count(&self, g: &Group) -> Result<i64> {
        Ok(1 + self.store().current_non_relays(g.group_id)? as i64)
    }

    /// Our channel's count changed (a subscriber announced, leaving or removed): its link's
    /// data is written again once the changes settle ([`COUNT_SETTLE`]; one write for a
    /// burst).
    pub(crate) fn count_changed(&self, g: &Group) {
        if g.role != GroupMemberRole::Owner || !self.is_channel(g).unwrap_or(false) {
            return;
        }
        // Known here at once; the link's readers learn it after the write.
        let counted = self
            .public_member_count(g)
            .and_then(|n| Ok(self.store().set_public_member_count(g.group_id, n)?));
        if let Err(e) = counted {
            tracing::warn!(target: "chat", "#{}: counting its members: {e}", g.local_name);
        }
        let first = self
            .inner
            .counts_due
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(g.group_id);
        if !first {
            return;
        }
        let chat = self.clone();
        let group_id = g.group_id;
        tokio::spawn(async move {
            tokio::time::sleep(COUNT_SETTLE).await;
            chat.inner
                .counts_due
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(&group_id);
            // Stopped meanwhile: the count is kept, the next change (or write) publishes it.
            if !chat.is_running() {
                return;
            }
            let Ok(g) = chat.group_by_id(group_id) else {
                return; // deleted meanwhile
            };
            if crate::groups::check_current(&g).is_err() || !chat.is_channel(&g).unwrap_or(false) {
                return;
            }
            match chat.publish_channel(&g).await {
                Ok(_) => {
                    let n = chat.store().public_member_count(g.group_id).ok().flatten();
                    if let Some(n) = n {
                        chat.emit(Event::ChannelCountPublished(g, n)).await;
                    }
                }
                Err(e) => {
                    chat.emit(Event::Error(format!(
                        "#{}: the channel link's data: {e}",
                        g.local_name
                    )))
                    .await
                }
            }
        });
    }

    /// The owner's side: a relay left or was removed - its link taken out of the channel
    /// link's data, so nobody joins through it any more.
    pub(crate) async fn channel_relay_gone(&self, g: &Group, m: &Member) -> Result<()> {
        if g.role != GroupMemberRole::Owner
            || m.role != GroupMemberRole::Relay
            || !self.is_channel(g)?
        {
            return Ok(());
        }
        let Some(relay) = self.store().group_relay(m.group_member_id)? else {
            return Ok(());
        };
        self.store()
            .set_relay_status(m.group_member_id, RelayStatus::Inactive, None)?;
        self.publish_channel(g).await?;
        let relay = self
            .store()
            .group_relay(m.group_member_id)?
            .unwrap_or(GroupRelay {
                status: RelayStatus::Inactive,
                ..relay
            });
        self.emit(Event::GroupRelayUpdated(g.clone(), relay)).await;
        Ok(())
    }

    /// The owner's side: a relay accepted (its confirmation with `x.grp.relay.acpt`): allowed,
    /// its link published in the channel link's data.
    pub(crate) async fn relay_accepted(&self, m: Member, relay_link: String) -> Result<()> {
        let g = self.group_of(&m)?;
        let Some(relay) = self.store().group_relay(m.group_member_id)? else {
            return Err(ChatError::Agent(format!(
                "#{}: x.grp.relay.acpt from {}, who is no relay of the channel",
                g.local_name, m.local_name
            )));
        };
        let parsed = agent::links::ShortLink::parse(&relay_link)
            .map_err(|e| ChatError::Agent(format!("x.grp.relay.acpt: bad relay link: {e}")))?;
        if parsed.kind == agent::links::ShortLinkKind::Invitation {
            return Err(ChatError::Agent(
                "x.grp.relay.acpt: the relay link is an invitation".into(),
            ));
        }
        if relay.status == RelayStatus::Invited {
            self.store().set_relay_status(
                m.group_member_id,
                RelayStatus::Accepted,
                Some(&relay_link),
            )?;
            let accepted = self.store().group_relay(m.group_member_id)?;
            if let Some(r) = accepted {
                self.emit(Event::GroupRelayAccepted(g.clone(), r)).await;
            }
        }
        if let Some(conn) = m.conn_id {
            self.inner
                .agent
                .allow(conn, &self.info_as(g.incognito.as_deref()))
                .await
                .map_err(agent_err)?;
        }
        self.store()
            .set_member_status(m.group_member_id, MemberStatus::Accepted)?;
        // Relays serving already: the channel may have subscribers, told of the new ones.
        let serving = self
            .store()
            .group_relays(g.group_id)?
            .iter()
            .filter(|r| r.status == RelayStatus::Active)
            .count();
        for r in self.publish_channel(&g).await? {
            self.emit(Event::GroupRelayUpdated(g.clone(), r.clone()))
                .await;
            if let (true, Some(link)) = (serving > 0, r.link) {
                let msg = ChatMessage::new(None, ChatEvent::GrpRelayNew { relay_link: link });
                self.broadcast(&g, &msg.encode()).await?;
            }
        }
        Ok(())
    }

    /// A subscriber's side: an owner announced a new relay of the channel (`x.grp.relay.new`,
    /// forwarded by a relay): joined through it too, as through the channel's relays at the
    /// start - unless it is one of ours already (or was), or the channel has as many as a
    /// channel may.
    pub(crate) async fn channel_relay_announced(&self, g: &Group, link: &str) -> Result<()> {
        let parsed = agent::links::ShortLink::parse(link)
            .map_err(|e| ChatError::Agent(format!("x.grp.relay.new: bad relay link: {e}")))?;
        if parsed.kind == agent::links::ShortLinkKind::Invitation {
            return Err(ChatError::Agent(
                "x.grp.relay.new: the relay link is an invitation".into(),
            ));
        }
        let shown = crate::chat::display_link(link.trim());
        let relays = self.store().group_relays(g.group_id)?;
        let known = relays.iter().any(|r| {
            r.link
                .as_deref()
                .is_some_and(|l| crate::chat::display_link(l) == shown)
        });
        if known || relays.len() >= MAX_RELAYS {
            return Ok(());
        }
        self.join_relays(g.clone(), &[link.to_string()], None)
            .await
            .map(|_| ())
    }

    /// The relay's side: an owner asks us to serve its channel (`x.grp.relay.inv` in a
    /// request to our address).
    pub(crate) async fn relay_invitation(
        &self,
        request: u64,
        inv: GroupRelayInvitation,
    ) -> Result<()> {
        let earlier = self.store().member_by_join_request(request)?;
        match earlier {
            Some(m) if m.conn_id.is_some() => return Ok(()), // accepted before a restart
            // Stopped before the acceptance: what was recorded goes, the request is taken anew.
            Some(m) => {
                let link = self.store().group_link(m.group_id)?;
                if let Some((conn, _, _)) = link {
                    let _ = self.inner.agent.delete_connection(conn).await;
                }
                self.store().delete_group(m.group_id, &[])?;
            }
            None => {}
        }
        let refuse = |why: String| {
            let _ = self.inner.agent.reject(request);
            Err(ChatError::Agent(why))
        };
        if !self.is_chat_relay() {
            return refuse(format!(
                "{} asked this client to serve a channel as its relay: start with --relay to \
                 serve channels",
                inv.from_member_profile.display_name
            ));
        }
        if inv.from_member.member_role != GroupMemberRole::Owner {
            return refuse("x.grp.relay.inv: not from a channel's owner".into());
        }
        let owner_name = &inv.from_member_profile.display_name;
        if owner_name.trim().is_empty() || owner_name.chars().any(char::is_control) {
            return refuse("x.grp.relay.inv: the owner's name cannot be shown".into());
        }
        if self.store().relay_refuses(&inv.group_link)? {
            return refuse(format!(
                "{} asked again to serve a channel this relay left (/_relay allow #G to serve \
                 it again)",
                inv.from_member_profile.display_name
            ));
        }
        let serving = self.store().served_channels()?;
        if serving >= self.inner.relay_max_channels {
            return refuse(format!(
                "{} asked this relay to serve a channel: it serves {serving} channels, the \
                 most it serves (--relay-max-channels)",
                inv.from_member_profile.display_name
            ));
        }
        // (Bound first: the store's lock is not held while the group is read.)
        let served = self.store().channel_by_link(&inv.group_link)?;
        if let Some(gid) = served {
            if self
                .group_by_id(gid)
                .is_ok_and(|g| crate::groups::check_current(&g).is_ok())
            {
                return refuse("x.grp.relay.inv: this relay serves that channel already".into());
            }
        }
        let data = match self.inner.agent.read_address(&inv.group_link).await {
            Ok(d) => d,
            Err(e) => return refuse(format!("x.grp.relay.inv: the channel link: {e}")),
        };
        let profile = match profile_from_link_data(&data.user_data) {
            Ok(p) if crate::groups::valid_group_name(&p.display_name) => p,
            Ok(p) => {
                return refuse(format!(
                    "x.grp.relay.inv: bad channel name {:?}",
                    p.display_name
                ))
            }
            Err(e) => return refuse(e.to_string()),
        };
        if data.direct {
            return refuse("x.grp.relay.inv: the link is no channel's".into());
        }
        // A link that names its owners names the one asking, with the key it gave.
        let owner_key =
            if data.owners.is_empty() {
                None
            } else {
                let named = data
                    .owners
                    .iter()
                    .find(|(id, _)| *id == inv.from_member.member_id.0)
                    .map(|(_, k)| k.clone());
                let Some(key) = named else {
                    return refuse(
                        "x.grp.relay.inv: the channel's link does not name its sender".into(),
                    );
                };
                let given = inv
                    .from_member_key
                    .as_deref()
                    .map(crate::group_keys::parse_key)
                    .transpose();
                match given {
                    Ok(Some(k)) if k != key => return refuse(
                        "x.grp.relay.inv: the owner's key is not the one the channel's link names"
                            .into(),
                    ),
                    Err(e) => return refuse(format!("x.grp.relay.inv: {e}")),
                    _ => {}
                }
                Some(crate::group_keys::key_text(&key))
            };
        let g = self.store().add_group(
            &profile,
            &inv.relay_member_id,
            GroupMemberRole::Relay,
            MemberStatus::Accepted,
            None,
        )?;
        self.store().set_channel(g.group_id, &inv.group_link)?;
        let owner = self.store().add_member(&NewMember {
            group_id: g.group_id,
            member_id: &inv.from_member.member_id,
            role: GroupMemberRole::Owner,
            category: MemberCategory::Host,
            status: MemberStatus::Accepted,
            profile: &inv.from_member_profile,
            conn_id: None,
            contact_id: None,
            invited_by: None,
        })?;
        self.store().set_link_owners(g.group_id, &data.owners)?;
        let owner_key = owner_key.or(inv.from_member_key.clone());
        if let Err(e) = self.keep_member_key(&owner, owner_key.as_deref()) {
            self.store().delete_group(g.group_id, &[])?;
            return refuse(format!("x.grp.relay.inv: {e}"));
        }
        self.store()
            .set_join_request(owner.group_member_id, request)?;
        let made = self
            .channel_address(&profile, agent::links::ShortLinkKind::Relay)
            .await;
        let (link_conn, full, relay_link) = match made {
            Ok(l) => l,
            Err(e) => {
                self.store().delete_group(g.group_id, &[])?;
                return refuse(format!("a link for the channel: {e}"));
            }
        };
        let mut link_id = vec![0u8; 16];
        simplex_crypto::random_bytes(&mut link_id);
        let link = crate::chat::ConnLink {
            full: crate::chat::display_link(&full),
            short: None,
        };
        self.store().add_group_link(
            g.group_id,
            link_conn,
            &link,
            &link_id,
            GroupMemberRole::Observer,
        )?;
        self.accept_for_member(request, ChatEvent::GrpRelayAcpt { relay_link }, &owner)
            .await?;
        self.emit(Event::RelayServing(g, owner)).await;
        Ok(())
    }

    /// An owner tests this client as a chat relay (`x.grp.relay.test` to our address, as the
    /// reference's owners do before asking a relay): the challenge signed with the address
    /// link's root key goes back in the acceptance, and the connection made for it is deleted
    /// (the test is all it was for). Refused by a client that serves no channels.
    pub(crate) async fn relay_test(
        &self,
        address: u64,
        request: u64,
        challenge: B64,
    ) -> Result<()> {
        if !self.is_chat_relay() {
            let _ = self.inner.agent.reject(request);
            return Err(ChatError::Agent(
                "this client was tested as a chat relay: start with --relay to serve channels"
                    .into(),
            ));
        }
        // A random challenge (the reference's owners send 32 bytes): nothing longer is signed
        // with the address's key, which also signs the link's own data.
        if challenge.0.is_empty() || challenge.0.len() > MAX_TEST_CHALLENGE {
            let _ = self.inner.agent.reject(request);
            return Err(ChatError::Agent("x.grp.relay.test: a bad challenge".into()));
        }
        let signature = self
            .inner
            .agent
            .sign_with_link_key(address, &challenge.0)
            .map_err(agent_err)?;
        let answer = ChatMessage::new(
            None,
            ChatEvent::GrpRelayTest {
                challenge,
                signature: Some(B64(signature)),
            },
        )
        .encode();
        let conn = self
            .inner
            .agent
            .accept(request, &answer)
            .await
            .map_err(agent_err)?;
        if let Err(e) = self.inner.agent.delete_connection(conn).await {
            tracing::warn!(target: "chat", "a relay test's connection: {e}");
        }
        Ok(())
    }

    /// What a channel's link is to us (`/_connect plan`): ours, joined, or new (read from the
    /// link's data).
    pub(crate) async fn channel_plan(&self, link: &str) -> Result<crate::chat::LinkPlan> {
        use crate::chat::{ChannelPlan, LinkPlan};
        let link = crate::chat::display_link(link.trim());
        let known = self.store().channel_by_link(&link)?;
        if let Some(g) = known.and_then(|id| self.group_by_id(id).ok()) {
            let prepared = self.store().prepared_group(g.group_id)?;
            if prepared.is_some_and(|p| !p.conn_link_started_connection) {
                return Ok(LinkPlan::Channel(ChannelPlan::Prepared(g)));
            }
            if crate::groups::check_current(&g).is_ok() {
                return Ok(LinkPlan::Channel(if g.role == GroupMemberRole::Owner {
                    ChannelPlan::Own(g)
                } else {
                    ChannelPlan::Known(g)
                }));
            }
        }
        let data = self
            .inner
            .agent
            .read_address(&link)
            .await
            .map_err(agent_err)?;
        let profile = profile_from_link_data(&data.user_data)?;
        let count = count_from_link_data(&data.user_data);
        Ok(LinkPlan::Channel(if data.relays.is_empty() {
            ChannelPlan::NoRelays(profile, count)
        } else {
            ChannelPlan::Ok(profile, count)
        }))
    }

    /// `/c <channel link>`: joins through the channel's relays (`x.member` to each relay's
    /// link); the group is ours to read once one of them connects.
    pub(crate) async fn join_channel(
        &self,
        link: &str,
        incognito: bool,
        api: bool,
    ) -> Result<Response> {
        let link = crate::chat::display_link(link.trim());
        let known = self.store().channel_by_link(&link)?;
        if known.is_some() {
            let plan = self.channel_plan(&link).await?;
            if let crate::chat::LinkPlan::Channel(crate::chat::ChannelPlan::Prepared(g)) = plan {
                // Prepared from this link: joining is joining that group.
                return crate::chat::on_heap(|| {
                    self.connect_prepared_group(g.group_id, incognito, None)
                })
                .await;
            }
            if !plan.is_ok() {
                return crate::chat::used_link(&link, plan, api);
            }
        }
        let data = self
            .inner
            .agent
            .read_address(&link)
            .await
            .map_err(agent_err)?;
        let profile = profile_from_link_data(&data.user_data)?;
        if !crate::groups::valid_group_name(&profile.display_name) {
            return Err(ChatError::InvalidName(profile.display_name));
        }
        if data.relays.is_empty() {
            return Err(ChatError::BadCommand(format!(
                "channel {} has no active relays yet: try again later",
                profile.display_name
            )));
        }
        let shown_as = incognito.then(crate::incognito::random_profile);
        let g = self.add_channel_group(&profile, &link)?;
        if let Some(n) = count_from_link_data(&data.user_data) {
            self.store().set_public_member_count(g.group_id, n)?;
        }
        self.store().set_link_owners(g.group_id, &data.owners)?;
        match self.join_relays(g.clone(), &data.relays, shown_as).await {
            Ok((g, first)) => Ok(Response::ChannelJoining(g, first)),
            Err(e) => {
                self.store().delete_group(g.group_id, &[])?;
                Err(e)
            }
        }
    }

    /// A channel's group, as a subscriber (an observer) joining it by `link` (as shown).
    pub(crate) fn add_channel_group(&self, profile: &GroupProfile, link: &str) -> Result<Group> {
        let g = self.store().add_group(
            profile,
            &crate::groups::new_member_id(),
            GroupMemberRole::Observer,
            MemberStatus::Accepted,
            None,
        )?;
        self.store().set_channel(g.group_id, link)?;
        self.own_key_in(g.group_id)?;
        Ok(g)
    }

    /// Joins a channel's group `g` through its relays (`x.member` to each relay's link, as
    /// `shown_as` when incognito): the group and the first relay connection made. None made:
    /// the error (the relays tried are recorded as rejected).
    pub(crate) async fn join_relays(
        &self,
        g: Group,
        relays: &[String],
        shown_as: Option<Profile>,
    ) -> Result<(Group, agent::agent::ConnId)> {
        if let Some(p) = &shown_as {
            self.store().set_group_incognito(g.group_id, p)?;
        }
        // (A relay announced later: the channel knows us as it did - incognito or not.)
        let g = match shown_as {
            Some(p) => Group {
                incognito: Some(Box::new(p)),
                ..g
            },
            None => g,
        };
        // (A channel joined before keys gets one now.)
        let key = crate::group_keys::key_text(&self.own_key_in(g.group_id)?);
        let info = ChatMessage::new(
            None,
            ChatEvent::Member {
                profile: self.profile_in(&g),
                new_member_id: g.member_id.clone(),
                new_member_key: Some(key),
            },
        )
        .encode();
        let mut joined = None;
        let mut failure = None;
        // Numbered after those joined before (a relay announced later).
        let before = self.store().group_relays(g.group_id)?.len();
        for (i, relay_link) in relays.iter().take(MAX_RELAYS).enumerate() {
            // Its member id and profile come with its acceptance.
            let m = self.store().add_member(&NewMember {
                group_id: g.group_id,
                member_id: &crate::groups::new_member_id(),
                role: GroupMemberRole::Relay,
                category: MemberCategory::Host,
                status: MemberStatus::Accepted,
                profile: &Profile {
                    display_name: format!("relay_{}", before + i + 1),
                    ..Profile::default()
                },
                conn_id: None,
                contact_id: None,
                invited_by: None,
            })?;
            match self.inner.agent.join(relay_link, &info).await {
                Ok(conn) => {
                    self.store().set_member_conn(m.group_member_id, conn)?;
                    self.store().add_group_relay(
                        m.group_member_id,
                        None,
                        RelayStatus::Invited,
                        Some(relay_link),
                    )?;
                    joined = joined.or(Some(conn));
                }
                Err(e) => {
                    self.store()
                        .set_member_status(m.group_member_id, MemberStatus::Removed)?;
                    self.store().add_group_relay(
                        m.group_member_id,
                        None,
                        RelayStatus::Rejected,
                        Some(relay_link),
                    )?;
                    failure = Some(e);
                }
            }
        }
        let Some(first) = joined else {
            return Err(failure.map_or_else(
                || ChatError::BadCommand("no relay of the channel could be reached".into()),
                agent_err,
            ));
        };
        Ok((g, first))
    }

    /// The relay's side: a subscriber connected - announced to the owners (`x.grp.mem.new`,
    /// with its key: they count it), and the owners introduced to it (`x.grp.mem.intro`, as
    /// the reference's relays' `introduceInChannel`; no connection follows either way: what
    /// they send each other comes through us).
    pub(crate) async fn announce_owners(&self, g: &Group, new: &Member) -> Result<()> {
        let Some(conn) = new.conn_id else {
            return Ok(());
        };
        // (The owners only, read by the database: a relay's channel may have many members.)
        let owners: Vec<Member> = self
            .store()
            .members_where(
                "group_id = ?1 AND role = ?2",
                &[&g.group_id, &GroupMemberRole::Owner.name()],
            )?
            .into_iter()
            .filter(|o| o.group_member_id != new.group_member_id && o.status.is_current())
            .collect();
        if new.role < GroupMemberRole::Owner {
            let announce = ChatMessage::new(
                None,
                ChatEvent::GrpMemNew {
                    member_info: crate::groups::member_info(new),
                    scope: None,
                },
            )
            .encode();
            for o in owners
                .iter()
                .filter(|o| o.status == MemberStatus::Connected)
            {
                let Some(owner_conn) = o.conn_id else {
                    continue;
                };
                if let Err(e) = self.send_body(owner_conn, &announce).await {
                    self.member_error(g, o, e).await;
                }
            }
        }
        for o in owners {
            let member_info = crate::groups::member_info(&o);
            self.send_event(
                conn,
                ChatEvent::GrpMemIntro {
                    member_info,
                    member_restrictions: None,
                },
            )
            .await?;
        }
        Ok(())
    }

    /// The subscriber's side: an owner introduced by a relay (`x.grp.mem.intro`, as the
    /// reference's relays; `x.grp.mem.new` from ours before), recorded without a connection
    /// (what it sends comes through the relays).
    pub(crate) fn channel_owner_announced(
        &self,
        g: &Group,
        relay: &Member,
        info: &crate::protocol::MemberInfo,
    ) -> Result<()> {
        if info.member_role != GroupMemberRole::Owner {
            return Err(ChatError::Agent(format!(
                "#{}: relay {} announced a {}: only owners are announced in channels",
                g.local_name,
                relay.local_name,
                info.member_role.name()
            )));
        }
        self.relay_announced(g, relay, info).map(|_| ())
    }

    /// The owner's side: a relay announced a subscriber that joined through it
    /// (`x.grp.mem.new`, the reference's relays' `introduceInChannel`), recorded without a
    /// connection and counted in the channel link's data.
    pub(crate) async fn channel_subscriber_announced(
        &self,
        g: &Group,
        relay: &Member,
        info: &crate::protocol::MemberInfo,
    ) -> Result<()> {
        if info.member_role >= GroupMemberRole::Moderator {
            return Err(ChatError::Agent(format!(
                "#{}: relay {} announced a subscriber as {}",
                g.local_name,
                relay.local_name,
                info.member_role.name()
            )));
        }
        if let Some(member) = self.relay_announced(g, relay, info)? {
            self.emit(Event::MemberAnnounced {
                group: g.clone(),
                by: relay.clone(),
                member,
            })
            .await;
            self.count_changed(g);
        }
        Ok(())
    }

    /// A member a relay announced, recorded (with its key) unless known already: another relay
    /// of the channel announces it too.
    fn relay_announced(
        &self,
        g: &Group,
        relay: &Member,
        info: &crate::protocol::MemberInfo,
    ) -> Result<Option<Member>> {
        if info.member_id == g.member_id
            || self
                .store()
                .member_by_member_id(g.group_id, &info.member_id)?
                .is_some()
        {
            return Ok(None); // by another relay too
        }
        let profile = info.profile.clone();
        if profile.display_name.is_empty() || profile.display_name.chars().any(char::is_control) {
            return Err(ChatError::Agent(format!(
                "#{}: relay {} announced a member with a bad name",
                g.local_name, relay.local_name
            )));
        }
        // Its key, checked before anything is recorded.
        let key = match &info.member_key {
            Some(serde_json::Value::String(k)) => {
                Some(crate::group_keys::parse_key(k).map_err(ChatError::Agent)?)
            }
            Some(_) => return Err(ChatError::Agent("x.grp.mem.new: bad member key".into())),
            None => None,
        };
        // An owner's key is the one the channel's link names, when it names owners.
        let key = if info.member_role == GroupMemberRole::Owner {
            self.owner_key(g, &info.member_id.0, key)?
        } else {
            key
        };
        let member = self.store().add_member(&NewMember {
            group_id: g.group_id,
            member_id: &info.member_id,
            role: info.member_role,
            category: MemberCategory::Pre,
            status: MemberStatus::Announced,
            profile: &profile,
            conn_id: None,
            contact_id: None,
            invited_by: Some(relay.group_member_id),
        })?;
        if let Some(k) = &key {
            self.store().set_member_key(member.group_member_id, k)?;
        }
        Ok(Some(Member {
            member_key: key,
            ..member
        }))
    }

    /// The members a relay forwards `from`'s messages to: every connected subscriber (and
    /// other owners).
    pub(crate) fn channel_forward_targets(&self, g: &Group, from: &Member) -> Result<Vec<Member>> {
        Ok(self
            .store()
            .members(g.group_id)?
            .into_iter()
            .filter(|t| {
                t.group_member_id != from.group_member_id
                    && t.status == MemberStatus::Connected
                    && t.conn_id.is_some()
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relays_are_parsed_with_their_names() {
        let a = "https://127.0.0.1/a#_PffrfxdbDyYxQpUwfXbfo2fhyajcegeyRJMCjEUyes?p=44185&\
                 c=tfFxKxleqmU1n8Q7_WV56FxNN0fj2oGV-mG7bvXLxlo";
        let b = "https://127.0.0.1/a#I5-2wxW7HD1SXtax0nExbHkZNkIPacbrO-hprY14kMk?p=37345&\
                 c=zIJOXS5PDGnZB948iaMIKs8c4dGbCvuVoO71mHzXrlI";
        let list = parse_relays(&format!("name=bob_relay {a} {b}")).unwrap_or_default();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].0, "bob_relay");
        assert_eq!(list[1].0, "relay_2");
        assert!(parse_relays(&format!("{a} {a}")).is_err());
        assert!(parse_relays("name=x").is_err());
        assert!(parse_relays("name=a/b https://x").is_err());
        assert!(parse_relays("not-a-link").is_err());
        assert_eq!(parse_relays("").unwrap_or_default(), Vec::new());
    }

    #[test]
    fn link_data_carries_the_profile() {
        let p = GroupProfile {
            display_name: "news".into(),
            ..GroupProfile::default()
        };
        let d = link_data(&p).unwrap_or_default();
        assert_eq!(profile_from_link_data(&d).ok(), Some(p));
        assert!(profile_from_link_data(b"{}").is_err());
    }
}
