//! Groups (the reference's flow, spec section 6.4): every member connects to every other
//! member; the member who invites a newcomer introduces it to the others.
//!
//! 1. `/a team bob`: a new invitation connection for bob's membership, its link sent to the
//!    contact in `x.grp.inv` (our member id and role, bob's, the group profile).
//! 2. `/j team` (bob): joins that link with `x.grp.acpt {memberId}`; the host allows with
//!    `x.ok`; both connected: "you joined the group" / "bob joined the group".
//! 3. The host sends `x.grp.mem.new` (bob's member info) to every connected member and one
//!    `x.grp.mem.intro` per connected member to bob.
//! 4. For each intro bob makes an invitation connection and answers `x.grp.mem.inv` with its
//!    link; the host forwards it in `x.grp.mem.fwd` to that member, who joins it with
//!    `x.grp.mem.info {memberId, profile}`; bob allows with his own `x.grp.mem.info`.
//! 5. Connected, both tell the member who introduced them with `x.grp.mem.con`.
//!
//! Group messages go to every connected member; a member's message is stored once even if it
//! arrives twice.

use crate::chat::{agent_err, new_shared_msg_id, Chat, ChatError, Event, Response};
use crate::group_store::{Group, Member, MemberCategory, MemberStatus, NewMember};
use crate::protocol::{
    parse_chat_messages, ChatEvent, ChatMessage, ChatVersions, GroupInvitation, GroupMemberRole,
    GroupProfile, IntroInvitation, MemberIdRole, MemberInfo, MsgContainer, MsgContent, B64,
    CHAT_VERSIONS,
};
use crate::store::Contact;

type Result<T> = std::result::Result<T, ChatError>;

/// A new member id: 12 random bytes, as the reference's.
pub(crate) fn new_member_id() -> B64 {
    let mut id = vec![0u8; 12];
    simplex_crypto::random_bytes(&mut id);
    B64(id)
}

pub(crate) fn member_info(m: &Member) -> MemberInfo {
    MemberInfo {
        member_id: m.member_id.clone(),
        member_role: m.role,
        v: Some(ChatVersions(CHAT_VERSIONS)),
        profile: m.profile.clone(),
        member_key: m
            .member_key
            .as_deref()
            .map(|k| serde_json::Value::String(crate::group_keys::key_text(k))),
    }
}

/// Our membership can act in the group (created it, or joined and connected).
fn active(g: &Group) -> bool {
    matches!(g.status, MemberStatus::Creator | MemberStatus::Connected)
}

/// Our membership can act, or the reference's error for why not.
pub(crate) fn check_current(g: &Group) -> Result<()> {
    match g.status {
        MemberStatus::Creator | MemberStatus::Connected => Ok(()),
        MemberStatus::Invited => Err(ChatError::GroupNotJoined(g.local_name.clone())),
        MemberStatus::Left
        | MemberStatus::Removed
        | MemberStatus::GroupDeleted
        | MemberStatus::Rejected => Err(ChatError::NotCurrentMember),
        _ => Err(ChatError::GroupNotActive(g.local_name.clone())),
    }
}

/// Whom a channel's relay forwards a message to (other groups' hosts: every member waiting).
#[derive(Clone, Copy)]
enum Audience {
    All,
    /// The channel's owners only.
    Owners,
    /// Everyone but the owners.
    Subscribers,
}

/// What a host forwards between members not connected yet (the reference's list), and what
/// it takes when forwarded.
fn forwardable(e: &ChatEvent) -> bool {
    matches!(
        e,
        ChatEvent::MsgNew(_)
            | ChatEvent::MsgFileDescr { .. }
            | ChatEvent::MsgUpdate(_)
            | ChatEvent::MsgDel { .. }
            | ChatEvent::MsgReact { .. }
            | ChatEvent::FileCancel { .. }
            | ChatEvent::Info { .. }
            | ChatEvent::GrpMemNew { .. }
            | ChatEvent::GrpMemRole { .. }
            | ChatEvent::GrpMemRestrict { .. }
            | ChatEvent::GrpMemDel { .. }
            | ChatEvent::GrpLeave
            | ChatEvent::GrpDel
            | ChatEvent::GrpInfo { .. }
            | ChatEvent::GrpPrefs { .. }
            | ChatEvent::GrpRelayNew { .. }
    )
}

/// How many invitations to groups not joined yet one contact may have sent (more are
/// refused: each would be a group stored here until deleted).
pub const MAX_PENDING_INVITATIONS: i64 = 20;

/// How many members accepted through a group's link may be connecting at once (more
/// requests are rejected: each holds a member and a connection).
pub const MAX_PENDING_LINK_JOINERS: i64 = 64;

/// How many recent messages a new member gets (the reference's count).
pub const HISTORY_ITEMS: usize = 100;

/// The group sends its recent history to new members: on unless its preferences say
/// `"history": {"enable": "off"}` (on in groups created here, as the reference's new groups).
fn history_on(g: &Group) -> bool {
    crate::group_prefs::feature("history")
        .is_none_or(|h| crate::group_prefs::state(&g.profile, h).on)
}

/// `memberRestrictions` of a member blocked for all (or not).
fn restrictions(blocked: bool) -> crate::protocol::MemberRestrictions {
    crate::protocol::MemberRestrictions {
        restriction: if blocked { "blocked" } else { "unrestricted" }.into(),
    }
}

/// A group's name can be shown on one line and typed in commands.
pub(crate) fn valid_group_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(['#', '@', '\''])
        && !name.chars().any(char::is_control)
        && name.len() <= 1024
}

/// At most this many unknown members (authors of forwarded messages we were not introduced
/// to) are recorded per group; forwards from more are refused.
const MAX_UNKNOWN_MEMBERS: u64 = 1_000;

/// A member whose messages are kept until its connection is up (the reference's
/// `MSAPending`): one we invited (by `/a` or our link) that has not connected yet, not a
/// channel's relay. Members introduced to us get ours forwarded by their host meanwhile; one
/// pending the admins' approval or review gets only its support chat.
fn awaits_pending(m: &Member) -> bool {
    m.category == MemberCategory::Invitee
        && m.role != GroupMemberRole::Relay
        && matches!(m.status, MemberStatus::Invited | MemberStatus::Accepted)
}

/// Still in the group (not gone, not only invited).
fn member_current(m: &Member) -> bool {
    m.status.is_current()
}

impl Chat {
    pub(crate) fn group_named(&self, name: &str) -> Result<Group> {
        self.store()
            .group_by_name(name)?
            .ok_or_else(|| ChatError::NoGroup(name.to_string()))
    }

    pub(crate) fn group_of(&self, m: &Member) -> Result<Group> {
        self.store()
            .group(m.group_id)?
            .ok_or_else(|| ChatError::NoGroupId(m.group_id))
    }

    /// `/g name [full name]` (`incognito`: `/g i name`, we are a random profile in it).
    pub(crate) async fn new_group(
        &self,
        name: String,
        full_name: String,
        incognito: bool,
    ) -> Result<Response> {
        self.new_group_as(
            GroupProfile {
                display_name: name,
                full_name,
                ..GroupProfile::default()
            },
            incognito,
        )
        .await
    }

    /// A new group of ours (`incognito`: we are a random profile in it).
    pub(crate) async fn new_group_as(
        &self,
        profile: GroupProfile,
        incognito: bool,
    ) -> Result<Response> {
        let r = self.new_group_profile(profile).await?;
        match r {
            Response::GroupCreated(g) if incognito => {
                let p = crate::incognito::random_profile();
                self.store().set_group_incognito(g.group_id, &p)?;
                Ok(Response::GroupCreated(Group {
                    incognito: Some(Box::new(p)),
                    ..g
                }))
            }
            r => Ok(r),
        }
    }

    /// The profile the group knows us by: our incognito one in it, else the user's.
    pub(crate) fn profile_in(&self, g: &Group) -> crate::protocol::Profile {
        g.incognito
            .as_deref()
            .cloned()
            .unwrap_or_else(|| self.profile())
    }

    /// `/_group 1 <json>`, `/g`: a new group of ours with this profile.
    pub(crate) async fn new_group_profile(&self, profile: GroupProfile) -> Result<Response> {
        let name = &profile.display_name;
        if !valid_group_name(name) {
            return Err(ChatError::InvalidName(name.clone()));
        }
        let g = self.store().add_group(
            &profile,
            &new_member_id(),
            GroupMemberRole::Owner,
            MemberStatus::Creator,
            None,
        )?;
        self.add_group_info(
            &g,
            None,
            &crate::group_events::start_items(&g.profile, true),
        )
        .await?;
        Ok(Response::GroupCreated(g))
    }

    /// `/a group contact role`.
    pub(crate) async fn add_member(
        &self,
        group: String,
        contact: String,
        role: GroupMemberRole,
    ) -> Result<Response> {
        let g = self.group_named(&group)?;
        if !active(&g) {
            return Err(ChatError::GroupNotActive(g.local_name));
        }
        // The contact would learn who we are in the group.
        if g.incognito.is_some() {
            return Err(ChatError::GroupIncognitoCantInvite);
        }
        let required = role.max(GroupMemberRole::Admin);
        if g.role < required {
            return Err(ChatError::GroupRole(g.local_name, required));
        }
        let c = self.contact_named(&contact)?;
        let conn = match (c.ready, c.conn_id) {
            (true, Some(conn)) => conn,
            _ => return Err(ChatError::NotReady(c.local_name)),
        };
        // The group knows us by our main profile: a contact who knows us by a random one
        // would learn it (the reference refuses the same).
        if c.incognito.is_some() {
            return Err(ChatError::IncognitoContact);
        }
        let existing = self
            .store()
            .members(g.group_id)?
            .into_iter()
            .find(|m| m.contact_id == Some(c.contact_id) && m.status != MemberStatus::Left);
        if let Some(m) = existing {
            if m.status != MemberStatus::Removed {
                return Err(ChatError::AlreadyMember(c.local_name, g.local_name));
            }
        }
        let (member_conn, link) = self
            .inner
            .agent
            .create_invitation()
            .await
            .map_err(agent_err)?;
        let member_id = new_member_id();
        let (m, size) = {
            let store = self.store();
            let m = store.add_member(&NewMember {
                group_id: g.group_id,
                member_id: &member_id,
                role,
                category: MemberCategory::Invitee,
                status: MemberStatus::Invited,
                profile: &c.profile,
                conn_id: Some(member_conn),
                contact_id: Some(c.contact_id),
                invited_by: None,
            })?;
            (m, store.current_members(&g)?)
        };
        let inv = GroupInvitation {
            from_member: MemberIdRole {
                member_id: g.member_id.clone(),
                member_role: g.role,
            },
            invited_member: MemberIdRole {
                member_id,
                member_role: role,
            },
            conn_request: link,
            group_profile: g.profile.clone(),
            // Staff added to a business chat see it as we do (named after the customer).
            business: g
                .business
                .as_deref()
                .and_then(|b| serde_json::to_value(b).ok()),
            group_link_id: None,
            group_size: Some(size as i64),
        };
        self.send_event(conn, ChatEvent::GrpInv(inv)).await?;
        Ok(Response::GroupInvitationSent {
            group: g,
            contact: c,
            member: m,
        })
    }

    /// `/j group`.
    pub(crate) async fn join_group(&self, group: String) -> Result<Response> {
        let g = self.group_named(&group)?;
        let link = match (&g.status, &g.conn_request) {
            (MemberStatus::Invited, Some(l)) => l.clone(),
            _ => return Err(ChatError::GroupNotInvited(g.local_name)),
        };
        let host = self
            .store()
            .members(g.group_id)?
            .into_iter()
            .find(|m| m.category == MemberCategory::Host)
            .ok_or_else(|| ChatError::GroupNotInvited(g.local_name.clone()))?;
        // Members are introduced to us with our main profile: not to a group of a contact
        // who knows us by a random one (incognito groups are still to come).
        let incognito = match host.contact_id {
            Some(id) => self
                .store()
                .contact(id)?
                .is_some_and(|c| c.incognito.is_some()),
            None => false,
        };
        if incognito {
            return Err(ChatError::IncognitoContact);
        }
        let info = ChatMessage::new(
            None,
            ChatEvent::GrpAcpt {
                member_id: g.member_id.clone(),
            },
        )
        .encode();
        let conn = self
            .inner
            .agent
            .join(&link, &info)
            .await
            .map_err(agent_err)?;
        {
            let store = self.store();
            store.set_member_conn(host.group_member_id, conn)?;
            store.set_member_status(host.group_member_id, MemberStatus::Accepted)?;
            store.set_group_status(g.group_id, MemberStatus::Accepted)?;
        }
        let g = self.group_named(&g.local_name)?;
        Ok(Response::GroupJoining(g))
    }

    /// `#group text`.
    pub(crate) async fn send_group_text(&self, group: String, text: String) -> Result<Response> {
        let g = self.group_named(&group)?;
        // `#team (support) text`, `#team (support: cath) text`: a support chat.
        if let Some((whose, text)) = self.support_target(&g, &text)? {
            let mut container = MsgContainer::simple(MsgContent::text(text));
            container.mentions = self.sent_mentions(&g, text, None)?;
            return crate::chat::on_heap(|| self.send_support(g, whose, container, None)).await;
        }
        // Members the text names (`@alice`, `@'John Doe'`) are mentioned.
        let mut container = MsgContainer::simple(MsgContent::text(text.clone()));
        container.mentions = self.sent_mentions(&g, &text, None)?;
        self.send_group_container(g, container, None).await
    }

    /// Stores `content` as sent to the group, then sends it to every connected member (a
    /// member that cannot be reached now is reported, the others still get it).
    pub(crate) async fn send_group_content(
        &self,
        g: Group,
        content: MsgContent,
    ) -> Result<Response> {
        self.send_group_container(g, MsgContainer::simple(content), None)
            .await
    }

    /// Stores and sends a message (`container`, with what it quotes) to the group.
    pub(crate) async fn send_group_container(
        &self,
        g: Group,
        container: MsgContainer,
        quote: Option<&crate::store::ItemQuote>,
    ) -> Result<Response> {
        self.send_group_container_signed(g, container, quote, false)
            .await
    }

    /// [`Chat::send_group_container`]; `sign`: signed by us (`sign=on`), in a channel where
    /// we have a key (elsewhere, as the reference's, it changes nothing).
    pub(crate) async fn send_group_container_signed(
        &self,
        g: Group,
        container: MsgContainer,
        quote: Option<&crate::store::ItemQuote>,
        sign: bool,
    ) -> Result<Response> {
        // Pending the admins' review or approval: our messages go to them only.
        if g.status.is_pending() {
            return crate::chat::on_heap(|| self.send_support(g, None, container, quote)).await;
        }
        check_current(&g)?;
        if g.role < GroupMemberRole::Author {
            return Err(ChatError::GroupCannotSend(g.local_name));
        }
        let id = new_shared_msg_id();
        // Disappearing messages on: each message goes with the group's time to live (unless
        // it has its own, `/_send #G ttl=N`).
        let mut container = container;
        let ttl = container
            .ttl
            .or_else(|| crate::group_prefs::timed_ttl(&g.profile));
        container.ttl = ttl;
        let item = self.store().add_group_item(
            g.group_id,
            None,
            Some(&id.0),
            &container.content,
            quote,
            None,
        )?;
        if container.as_group == Some(true) {
            self.store().set_sent_as_channel(item.item_id)?;
        }
        if !container.mentions.is_empty() {
            self.store().set_item_mentions(
                item.item_id,
                &crate::mentions::member_ids(&container.mentions),
            )?;
        }
        let item = if container.live == Some(true) {
            self.store().start_live(item)?
        } else {
            item
        };
        let as_channel = container.as_group == Some(true);
        let body = ChatMessage::new(Some(id), ChatEvent::MsgNew(container)).encode();
        let (body, item) = match sign {
            true => match self.sign_content(&g, &body, as_channel)? {
                Some(signed) => {
                    self.store()
                        .set_item_signed(item.item_id, Some("verified"))?;
                    let item = crate::store::ChatItem {
                        msg_signed: Some("verified".into()),
                        ..item
                    };
                    (signed, item)
                }
                None => (body, item),
            },
            false => (body, item),
        };
        let sent = self.broadcast(&g, &body).await?;
        self.keep_group_deliveries(&g, item.item_id, &sent)?;
        let item = match ttl {
            Some(t) => self.set_timer(item, t)?,
            None => item,
        };
        Ok(Response::GroupSent(g, item))
    }

    /// Sends an encoded message to every connected member: each member's connection and
    /// the agent's id of the message on it (none where it could not be sent - reported; the
    /// others still get it).
    pub(crate) async fn broadcast(
        &self,
        g: &Group,
        body: &[u8],
    ) -> Result<Vec<(Member, Option<i64>)>> {
        self.broadcast_with(g, body, true).await
    }

    /// [`Chat::broadcast`]; `keep`: members still joining get it once connected (not a file's
    /// offer or cancellation: each member's description of a file goes only to those connected
    /// when it is uploaded - a member joining later gets the file with the history).
    pub(crate) async fn broadcast_with(
        &self,
        g: &Group,
        body: &[u8],
        keep: bool,
    ) -> Result<Vec<(Member, Option<i64>)>> {
        self.send_profile_if_changed(g).await?;
        self.send_to_members(g, body, keep).await
    }

    /// Our profile, when it changed since it last went to this group's members, goes to them
    /// before our next message (`x.info`, as the reference's: members who are no contacts
    /// learn a new name or image with what we send next). Not to a group we are in
    /// incognito: it knows another profile.
    async fn send_profile_if_changed(&self, g: &Group) -> Result<()> {
        if g.incognito.is_some() {
            return Ok(());
        }
        let updated = self
            .store()
            .setting(crate::chat::PROFILE_UPDATED_AT)?
            .and_then(|s| s.parse::<i64>().ok());
        let Some(updated) = updated else {
            return Ok(()); // not changed since this version
        };
        if !self.store().profile_due(g.group_id, updated)? {
            return Ok(());
        }
        let info = ChatMessage::new(
            Some(new_shared_msg_id()),
            ChatEvent::Info {
                profile: self.profile(),
            },
        )
        .encode();
        self.send_to_members(g, &info, true).await?;
        self.store().set_profile_sent(g.group_id)?;
        Ok(())
    }

    /// Sends to every connected member (see [`Chat::broadcast`]); a member we invited whose
    /// connection is not up yet gets it when it is (kept until then).
    async fn send_to_members(
        &self,
        g: &Group,
        body: &[u8],
        keep: bool,
    ) -> Result<Vec<(Member, Option<i64>)>> {
        // Signed in a channel when it changes the channel's state (`group_keys.rs`).
        let body = &*self.signed_body(g, body)?;
        let members = self.store().members(g.group_id)?;
        let mut sent = Vec::with_capacity(members.len());
        for m in members {
            let m = if keep && m.status != MemberStatus::Connected && awaits_pending(&m) {
                if self.store().add_pending_message(m.group_member_id, body)? {
                    continue;
                }
                // Not kept: connected since it was read (the kept ones went to it then, this
                // one goes now) or too many kept.
                match self.store().member(m.group_member_id)? {
                    Some(now) => now,
                    None => continue,
                }
            } else {
                m
            };
            // A disabled member (its queue refused our messages: it is gone) is sent nothing
            // until enabled, as the reference's.
            if m.status != MemberStatus::Connected
                || m.auth_errors >= crate::disable::AUTH_ERR_DISABLE_COUNT
            {
                continue;
            }
            let Some(conn) = m.conn_id else { continue };
            let id = match self.send_body(conn, body).await {
                Ok(id) => Some(id),
                Err(e) => {
                    self.member_error(g, &m, e).await;
                    None
                }
            };
            sent.push((m, id));
        }
        Ok(sent)
    }

    /// A group's member by name, or the reference's error.
    pub(crate) fn member_named(&self, g: &Group, name: &str) -> Result<Member> {
        self.store()
            .member_by_name(g.group_id, name)?
            .ok_or_else(|| ChatError::NotGroupMember(name.to_string()))
    }

    /// `/block #group member` (`/unblock`): a member's messages hidden for us - received and
    /// kept, shown `[blocked]`. Admins block for all instead, as the reference.
    pub(crate) fn block_member(
        &self,
        group: String,
        member: String,
        block: bool,
    ) -> Result<Response> {
        let g = self.group_named(&group)?;
        let m = self.member_named(&g, &member)?;
        if g.role >= GroupMemberRole::Admin {
            return Err(ChatError::BlockForSelf(g.local_name, m.local_name));
        }
        self.store().set_show_messages(m.group_member_id, !block)?;
        Ok(Response::Ok)
    }

    /// `/block for all #group member` (`/unblock for all`): a moderator or above hides a
    /// member's messages for every member (`x.grp.mem.restrict` to all but that member, who
    /// is not told).
    pub(crate) async fn block_for_all(
        &self,
        group: String,
        member: String,
        block: bool,
    ) -> Result<Response> {
        let g = self.group_named(&group)?;
        check_current(&g)?;
        if g.role < GroupMemberRole::Moderator {
            return Err(ChatError::GroupRole(
                g.local_name,
                GroupMemberRole::Moderator,
            ));
        }
        let m = self.member_named(&g, &member)?;
        if m.role > g.role {
            return Err(ChatError::GroupRole(g.local_name, m.role));
        }
        self.store()
            .set_blocked_by_admin(m.group_member_id, block)?;
        let body = ChatMessage::new(
            None,
            ChatEvent::GrpMemRestrict {
                member_id: m.member_id.clone(),
                member_restrictions: restrictions(block),
            },
        )
        .encode();
        let members = self.store().members(g.group_id)?;
        for o in members {
            if o.group_member_id == m.group_member_id || o.status != MemberStatus::Connected {
                continue;
            }
            if let Some(conn) = o.conn_id {
                if let Err(e) = self.send_body(conn, &body).await {
                    self.member_error(&g, &o, e).await;
                }
            }
        }
        let item = crate::group_events::member_blocked(m.group_member_id, &m.profile, block, true);
        self.add_group_info(&g, None, &[item]).await?;
        Ok(Response::BlockedForAll {
            group: g,
            members: vec![Member {
                blocked_by_admin: block,
                ..m
            }],
            blocked: block,
        })
    }

    /// The group with an id (API commands).
    pub(crate) fn group_by_id(&self, group_id: i64) -> Result<Group> {
        self.store()
            .group(group_id)?
            .ok_or_else(|| ChatError::NoGroupId(group_id))
    }

    /// A member of `g` by its id (API commands).
    pub(crate) fn member_by_id(&self, g: &Group, group_member_id: i64) -> Result<Member> {
        self.store()
            .member(group_member_id)?
            .filter(|m| m.group_id == g.group_id)
            .ok_or_else(|| ChatError::NotGroupMember(format!("#{group_member_id}")))
    }

    /// `/rm group member`: everyone (the member too) is told, then its connection goes.
    pub(crate) async fn remove_member(&self, group: String, member: String) -> Result<Response> {
        let g = self.group_named(&group)?;
        let m = self.member_named(&g, &member)?;
        self.remove(g, m).await
    }

    /// Removes a member (`/rm`, `/_remove`).
    pub(crate) async fn remove(&self, g: Group, m: Member) -> Result<Response> {
        self.remove_with(g, m, false).await
    }

    /// Removes a member; `messages`: its messages deleted too, here and (`x.grp.mem.del`
    /// with `messages`) for every member.
    pub(crate) async fn remove_with(
        &self,
        g: Group,
        m: Member,
        messages: bool,
    ) -> Result<Response> {
        check_current(&g)?;
        if !member_current(&m) && m.status != MemberStatus::Invited {
            return Err(ChatError::NotGroupMember(m.local_name));
        }
        let required = m.role.max(GroupMemberRole::Admin);
        if g.role < required {
            return Err(ChatError::GroupRole(g.local_name, required));
        }
        let body = ChatMessage::new(
            Some(new_shared_msg_id()),
            ChatEvent::GrpMemDel {
                member_id: m.member_id.clone(),
                messages,
            },
        )
        .encode();
        let sent = self.broadcast(&g, &body).await?;
        let after = sent
            .iter()
            .find(|(s, _)| s.group_member_id == m.group_member_id)
            .and_then(|(_, id)| *id);
        self.store().member_gone(&m, MemberStatus::Removed, after)?;
        if m.role != GroupMemberRole::Relay {
            self.count_changed(&g); // one fewer in our channel
        }
        if let Some(conn) = m.conn_id {
            self.finish_recorded_deletions(&[(conn, after)]).await;
        }
        let gone = Member {
            status: MemberStatus::Removed,
            ..m.clone()
        };
        crate::chat::on_heap(|| self.channel_relay_gone(&g, &gone)).await?;
        if messages {
            let ids = self
                .store()
                .mark_member_items_deleted(g.group_id, m.group_member_id)?;
            if !ids.is_empty() {
                self.emit(Event::MemberItemsDeleted {
                    group: g.clone(),
                    item_ids: ids,
                    by: None,
                })
                .await;
            }
        }
        if after.is_none() {
            if let Some(conn) = m.conn_id {
                self.finish_deletion(conn).await;
            }
        }
        let item = crate::group_events::member_deleted(m.group_member_id, &m.profile, true);
        self.add_group_info(&g, None, &[item]).await?;
        Ok(Response::MemberRemoved(g, m))
    }

    /// `/l group`: everyone is told, then every connection of the group goes.
    pub(crate) async fn leave_group(&self, group: String) -> Result<Response> {
        let mut g = self.group_named(&group)?;
        check_current(&g)?;
        let body = ChatMessage::new(Some(new_shared_msg_id()), ChatEvent::GrpLeave).encode();
        self.end_membership(&g, Some(&body), MemberStatus::Left, None)
            .await?;
        g.status = MemberStatus::Left;
        self.add_group_info(&g, None, &[crate::group_events::user_left()])
            .await?;
        Ok(Response::LeftGroup(g))
    }

    /// Sends `body` (if any) to every connected member, then records our membership ended
    /// and each member's connection for deletion once that message is sent on it. `arrived`:
    /// the connection a message ending it came on, deleted once that message is acknowledged.
    async fn end_membership(
        &self,
        g: &Group,
        body: Option<&[u8]>,
        status: MemberStatus,
        arrived: Option<u64>,
    ) -> Result<()> {
        // Nobody joins through our link any more.
        self.drop_group_link(g).await?;
        // A relay that stops serving a channel does not serve it again unless its operator
        // says so (`/_relay allow #G`), as the reference's.
        if g.role == GroupMemberRole::Relay && self.is_channel(g)? {
            self.store().set_relay_refused(g.group_id, true)?;
        }
        let sent = match body {
            Some(b) => self.broadcast(g, b).await?,
            None => Vec::new(),
        };
        let conns = self.group_conns(g, &sent)?;
        self.store().membership_ended(g.group_id, status, &conns)?;
        let now: Vec<_> = conns
            .into_iter()
            .filter(|(c, _)| Some(*c) != arrived)
            .collect();
        self.finish_recorded_deletions(&now).await;
        Ok(())
    }

    /// Every member connection of a group, with the message sent on it (from `sent`).
    fn group_conns(
        &self,
        g: &Group,
        sent: &[(Member, Option<i64>)],
    ) -> Result<Vec<(u64, Option<i64>)>> {
        Ok(self
            .store()
            .members(g.group_id)?
            .into_iter()
            .filter_map(|m| {
                let conn = m.conn_id?;
                let after = sent
                    .iter()
                    .find(|(s, _)| s.group_member_id == m.group_member_id)
                    .and_then(|(_, id)| *id);
                Some((conn, after))
            })
            .collect())
    }

    /// `/d #group`: an owner of an active group deletes it for everyone; otherwise (invited,
    /// left, removed, deleted) only the local copy goes.
    pub(crate) async fn delete_group(&self, group: String) -> Result<Response> {
        let g = self.group_named(&group)?;
        let mut sent = Vec::new();
        if active(&g) {
            if g.role < GroupMemberRole::Owner {
                return Err(ChatError::GroupRole(g.local_name, GroupMemberRole::Owner));
            }
            let body = ChatMessage::new(Some(new_shared_msg_id()), ChatEvent::GrpDel).encode();
            sent = self.broadcast(&g, &body).await?;
        }
        let mut conns = self.group_conns(&g, &sent)?;
        // A prepared group's connection in progress goes with it.
        if let Some(c) = self.store().pending_for_group(g.group_id)? {
            conns.push((c, None));
        }
        self.store().delete_group(g.group_id, &conns)?;
        self.finish_recorded_deletions(&conns).await;
        Ok(Response::GroupDeleted(g))
    }

    /// `/mr group member role`.
    pub(crate) async fn change_role(
        &self,
        group: String,
        member: String,
        role: GroupMemberRole,
    ) -> Result<Response> {
        let g = self.group_named(&group)?;
        let m = self.member_named(&g, &member)?;
        self.set_role(g, m, role).await
    }

    /// Changes a member's role (`/mr`, `/_member role`).
    pub(crate) async fn set_role(
        &self,
        g: Group,
        m: Member,
        role: GroupMemberRole,
    ) -> Result<Response> {
        check_current(&g)?;
        if !member_current(&m) {
            return Err(ChatError::NotGroupMember(m.local_name));
        }
        let required = m.role.max(role).max(GroupMemberRole::Admin);
        if g.role < required {
            return Err(ChatError::GroupRole(g.local_name, required));
        }
        if m.role == role {
            return Ok(Response::RoleChanged {
                group: g,
                member: m.clone(),
                from: role,
                to: role,
            });
        }
        self.store().set_member_role(m.group_member_id, role)?;
        let body = ChatMessage::new(
            Some(new_shared_msg_id()),
            ChatEvent::GrpMemRole {
                member_id: m.member_id.clone(),
                role,
            },
        )
        .encode();
        self.broadcast(&g, &body).await?;
        let from = m.role;
        let item = crate::group_events::member_role(m.group_member_id, &m.profile, role, true);
        self.add_group_info(&g, None, &[item]).await?;
        Ok(Response::RoleChanged {
            group: g,
            member: Member { role, ..m },
            from,
            to: role,
        })
    }

    /// `/gs`.
    pub(crate) fn list_groups(&self) -> Result<Response> {
        self.list_groups_of(None, None)
    }

    /// `/_groups 1 [@C] [search]`: the groups (those contact `C` is a current member of;
    /// whose name contains `search`, ignoring case).
    pub(crate) fn list_groups_of(
        &self,
        contact: Option<i64>,
        search: Option<&str>,
    ) -> Result<Response> {
        let store = self.store();
        let groups = store.groups()?;
        let search = search.map(str::to_lowercase);
        let mut out = Vec::with_capacity(groups.len());
        for g in groups {
            if let Some(s) = &search {
                let name = format!("{} {}", g.local_name, g.profile.full_name).to_lowercase();
                if !name.contains(s.as_str()) {
                    continue;
                }
            }
            if let Some(c) = contact {
                let with = store
                    .members(g.group_id)?
                    .iter()
                    .any(|m| m.contact_id == Some(c) && member_current(m));
                if !with {
                    continue;
                }
            }
            let n = store.current_members(&g)?;
            out.push((g, n));
        }
        Ok(Response::Groups(out))
    }

    /// `/ms group`.
    pub(crate) fn list_members(&self, group: String) -> Result<Response> {
        let g = self.group_named(&group)?;
        let members = self.store().members(g.group_id)?;
        Ok(Response::Members(g, members))
    }

    /// `x.grp.inv` from a contact: the invitation is kept for `/j`.
    pub(crate) async fn received_group_invitation(
        &self,
        contact: &Contact,
        inv: GroupInvitation,
    ) -> Result<()> {
        let from = inv.from_member.member_role;
        let role = inv.invited_member.member_role;
        if from < GroupMemberRole::Admin || from < role {
            return Err(ChatError::GroupContactRole(contact.local_name.clone()));
        }
        if !inv.conn_request.contains("/invitation") {
            return Err(ChatError::Agent(format!(
                "x.grp.inv from {}: not an invitation link",
                contact.local_name
            )));
        }
        if self.store().pending_invitations_from(contact.contact_id)? >= MAX_PENDING_INVITATIONS {
            return Err(ChatError::Agent(format!(
                "x.grp.inv from {}: {MAX_PENDING_INVITATIONS} invitations not joined yet, no more \
                 are kept (join or delete some)",
                contact.local_name
            )));
        }
        let g = {
            let store = self.store();
            let g = store.add_group(
                &inv.group_profile,
                &inv.invited_member.member_id,
                role,
                MemberStatus::Invited,
                Some(&inv.conn_request),
            )?;
            store.add_member(&NewMember {
                group_id: g.group_id,
                member_id: &inv.from_member.member_id,
                role: from,
                category: MemberCategory::Host,
                status: MemberStatus::Invited,
                profile: &contact.profile,
                conn_id: None,
                contact_id: Some(contact.contact_id),
                invited_by: None,
            })?;
            // A business chat: kept as the inviter sees it (one it cannot read is a group).
            let business = inv
                .business
                .clone()
                .and_then(|b| serde_json::from_value::<crate::protocol::BusinessChatInfo>(b).ok());
            if let Some(b) = &business {
                store.set_group_business(g.group_id, b)?;
            }
            Group {
                business: business.map(Box::new),
                ..g
            }
        };
        self.emit(Event::GroupInvited {
            group: g,
            contact: contact.clone(),
            role,
        })
        .await;
        Ok(())
    }

    /// A confirmation on a member's connection: the invitee's `x.grp.acpt` (we allow with
    /// `x.ok`), or an introduced member's `x.grp.mem.info` (we allow with ours).
    pub(crate) async fn member_confirmation(&self, m: Member, info: &[u8]) -> Result<()> {
        let g = self.group_of(&m)?;
        let event = ChatMessage::decode(info)
            .map_err(|e| ChatError::Agent(format!("member confirmation: {e}")))?
            .event;
        let reply = match (m.category, event) {
            (MemberCategory::Invitee, ChatEvent::GrpAcpt { member_id }) => {
                if member_id != m.member_id {
                    return Err(ChatError::Agent(
                        "x.grp.acpt: member id is different from expected".into(),
                    ));
                }
                self.store()
                    .set_member_status(m.group_member_id, MemberStatus::Accepted)?;
                ChatEvent::Ok
            }
            (
                MemberCategory::Pre | MemberCategory::Post,
                ChatEvent::GrpMemInfo { member_id, .. },
            ) => {
                if member_id != m.member_id {
                    return Err(ChatError::Agent(
                        "x.grp.mem.info: member id is different from expected".into(),
                    ));
                }
                ChatEvent::GrpMemInfo {
                    member_id: g.member_id.clone(),
                    profile: self.profile_in(&g),
                }
            }
            (_, other) => {
                return Err(ChatError::Agent(format!(
                    "unexpected {} in a group member's confirmation",
                    other.name()
                )))
            }
        };
        let conn = m
            .conn_id
            .ok_or_else(|| ChatError::Agent("member without a connection".into()))?;
        self.inner
            .agent
            .allow(conn, &ChatMessage::new(None, reply).encode())
            .await
            .map_err(agent_err)
    }

    /// A member's connection is up.
    pub(crate) async fn member_connected(&self, m: Member) -> Result<()> {
        let mut g = self.group_of(&m)?;
        // A member pending the admins' review stays pending, connected or not.
        let status = if m.status.is_pending() {
            m.status
        } else {
            MemberStatus::Connected
        };
        self.store().set_member_status(m.group_member_id, status)?;
        let m = Member { status, ..m };
        match m.category {
            // A channel's other relays: we joined with the first.
            MemberCategory::Host
                if g.status == MemberStatus::Connected && self.is_channel(&g)? =>
            {
                self.emit(Event::MemberConnected(g.clone(), m.clone()))
                    .await;
            }
            MemberCategory::Host => {
                // Our membership pending: we talk with the admins only until accepted.
                if !g.status.is_pending() {
                    self.store()
                        .set_group_status(g.group_id, MemberStatus::Connected)?;
                    g.status = MemberStatus::Connected;
                }
                g.conn_request = None;
                self.emit(Event::UserJoinedGroup(g.clone(), m.clone()))
                    .await;
                let mut items = crate::group_events::start_items(&g.profile, false);
                // A prepared group's chat has its banner from when it was prepared.
                if self.store().prepared_group(g.group_id)?.is_some() {
                    items.retain(|i| i.content["type"] != "chatBanner");
                }
                items.push(crate::group_events::member_connected());
                self.add_group_info(&g, Some(&m), &items).await?;
                if g.status == MemberStatus::PendingReview {
                    let wait = [crate::group_events::user_pending_review()];
                    self.add_support_info(&g, None, None, &wait).await?;
                }
            }
            // A relay of our channel: serving it (nobody to introduce it to).
            MemberCategory::Invitee
                if m.role == GroupMemberRole::Relay && self.is_channel(&g)? =>
            {
                self.emit(Event::MemberConnected(g.clone(), m.clone()))
                    .await;
            }
            MemberCategory::Invitee if m.status.is_pending() => {
                return crate::chat::on_heap(|| self.pending_member_connected(&g, m)).await;
            }
            MemberCategory::Invitee => {
                // The history is what the group had when the member joined: a message sent
                // from here goes to it directly (it is connected), not in the history too.
                let history_upto = self.store().last_group_item_id(g.group_id)?;
                // Recorded until done: a restart in the middle finishes the introduction.
                self.store()
                    .set_introducing(m.group_member_id, Some(history_upto))?;
                // Introduced to the members before anyone hears of it: what the event brings
                // about at once (a bot changing its role, removing it) would otherwise reach
                // them before the member does.
                let introduced = self.finish_introduction(&g, &m, history_upto).await;
                // Its "connected" item first: before anything the event brings about.
                self.add_group_info(&g, Some(&m), &[crate::group_events::member_connected()])
                    .await?;
                self.emit(Event::MemberJoined(g.clone(), m.clone())).await;
                introduced?;
                crate::chat::on_heap(|| self.business_auto_reply(&g, &m)).await?;
            }
            MemberCategory::Pre | MemberCategory::Post => {
                self.emit(Event::MemberConnected(g.clone(), m.clone()))
                    .await;
                self.add_group_info(&g, Some(&m), &[crate::group_events::member_connected()])
                    .await?;
                if m.status == MemberStatus::PendingReview {
                    let wants = [crate::group_events::new_member_pending_review()];
                    self.add_support_info(&g, Some(&m), Some(&m), &wants)
                        .await?;
                }
                // Tell the member who introduced us, so it stops forwarding between us.
                let via = match m.category {
                    MemberCategory::Pre => self
                        .store()
                        .members(g.group_id)?
                        .into_iter()
                        .find(|h| h.category == MemberCategory::Host),
                    _ => match m.invited_by {
                        Some(id) => self.store().member(id)?,
                        None => None,
                    },
                };
                if let Some(conn) = via.and_then(|v| v.conn_id) {
                    self.send_event(
                        conn,
                        ChatEvent::GrpMemCon {
                            member_id: m.member_id.clone(),
                        },
                    )
                    .await?;
                }
            }
        }
        Ok(())
    }

    /// The host's part once a new member is connected: announce it to the others and
    /// introduce the others to it.
    /// The host's part for a new member: its profile (joined by our link), the introductions,
    /// the history; then the member is no longer being introduced. Run again after a restart,
    /// it skips the members introduced already.
    async fn finish_introduction(&self, g: &Group, m: &Member, history_upto: i64) -> Result<()> {
        self.send_link_host_profile(m).await?;
        self.introduce(g, m, history_upto).await?;
        self.send_pending(g, m).await?;
        self.store().set_introducing(m.group_member_id, None)?;
        Ok(())
    }

    /// What was sent to the group while the member was connecting, now that it is: after the
    /// history (new messages among it are in the history too, and the member keeps one
    /// copy), so everything arrives in the order it was sent. Each is forgotten once the agent
    /// has it: after a restart in between, the rest goes.
    async fn send_pending(&self, g: &Group, m: &Member) -> Result<()> {
        let Some(conn) = m.conn_id else {
            return Ok(());
        };
        let pending = self.store().pending_messages(m.group_member_id)?;
        for (id, body) in pending {
            if let Err(e) = self.send_body(conn, &body).await {
                self.member_error(g, m, e).await;
                return Ok(());
            }
            self.store().delete_pending_message(id)?;
        }
        Ok(())
    }

    /// Introductions a restart interrupted, finished (in the background, after a start).
    pub(crate) async fn resume_introductions(&self) -> Result<()> {
        let unfinished = self.store().unfinished_introductions()?;
        for (member, upto) in unfinished {
            let Some(m) = self.store().member(member)? else {
                continue;
            };
            let g = self.group_of(&m)?;
            if m.status != MemberStatus::Connected || !active(&g) {
                self.store().set_introducing(member, None)?;
                continue;
            }
            self.finish_introduction(&g, &m, upto).await?;
        }
        Ok(())
    }

    /// Introduces a new member to the others (those introduced already are skipped), then
    /// sends it the history and the welcome message.
    pub(crate) async fn introduce(&self, g: &Group, new: &Member, history_upto: i64) -> Result<()> {
        // A channel's subscribers are not introduced to anyone: they learn of its owners, and
        // its history, no welcome from the relay (the description is in the profile).
        if self.is_channel(g)? {
            self.announce_owners(g, new).await?;
            if history_on(g) {
                if let Some(conn) = new.conn_id {
                    self.send_history(g, new, conn, history_upto).await?;
                }
            }
            return Ok(());
        } else {
            self.introduce_to(g, new, false).await?;
        }
        let Some(new_conn) = new.conn_id else {
            return Ok(());
        };
        // A business chat's customer sees the chat from its start (the reference's rule).
        if history_on(g) && !Self::is_customer(g, new) {
            self.send_history(g, new, new_conn, history_upto).await?;
        }
        // The welcome message last, from us - unless the member has it from the link's data.
        let has_it = self.store().member_welcome(new.group_member_id)?.is_some();
        if let Some(welcome) = g
            .profile
            .description
            .as_ref()
            .filter(|d| !d.is_empty() && !has_it)
        {
            let msg = ChatMessage::new(
                Some(new_shared_msg_id()),
                ChatEvent::MsgNew(MsgContainer::simple(MsgContent::text(welcome.clone()))),
            );
            self.send_body(new_conn, &msg.encode())
                .await
                .map_err(agent_err)?;
        }
        Ok(())
    }

    /// Introduces a new member to the connected members (the moderators only, for one
    /// pending review: announced to them in its support chat's scope).
    pub(crate) async fn introduce_to(
        &self,
        g: &Group,
        new: &Member,
        moderators_only: bool,
    ) -> Result<()> {
        let others: Vec<Member> = self
            .store()
            .members(g.group_id)?
            .into_iter()
            .filter(|o| {
                o.group_member_id != new.group_member_id
                    && o.status == MemberStatus::Connected
                    && o.conn_id.is_some()
                    && (!moderators_only || o.role >= GroupMemberRole::Moderator)
            })
            .collect();
        let announce = ChatMessage::new(
            None,
            ChatEvent::GrpMemNew {
                member_info: member_info(new),
                scope: moderators_only.then(|| crate::admission::scope_of(&new.member_id)),
            },
        )
        .encode();
        let Some(new_conn) = new.conn_id else {
            return Ok(());
        };
        // Per member: recorded (so the host forwards between them from now on), announced to
        // it, introduced to the newcomer, marked sent. An introduction marked sent was done
        // before a restart; one only recorded is done again (both sides take a repeat).
        for o in &others {
            let status = self
                .store()
                .intro_status(o.group_member_id, new.group_member_id)?;
            if status.is_some_and(|s| s != "new") {
                continue;
            }
            self.store()
                .add_intro(o.group_member_id, new.group_member_id)?;
            if let Some(conn) = o.conn_id {
                if let Err(e) = self.send_body(conn, &announce).await {
                    self.member_error(g, o, e).await;
                }
            }
            self.send_event(
                new_conn,
                ChatEvent::GrpMemIntro {
                    member_info: member_info(o),
                    member_restrictions: o.blocked_by_admin.then(|| restrictions(true)),
                },
            )
            .await?;
            self.store()
                .intro_sent(o.group_member_id, new.group_member_id)?;
        }
        Ok(())
    }

    /// The recent history for a new member (v5.5): the last [`HISTORY_ITEMS`] messages of the
    /// group, each forwarded (`x.grp.msg.forward`) with its author and time, after the
    /// introductions (so every author is known by then).
    async fn send_history(&self, g: &Group, new: &Member, conn: u64, upto: i64) -> Result<()> {
        let items = self
            .store()
            .group_messages_upto(g.group_id, HISTORY_ITEMS, upto)?;
        let me = self.profile_in(g);
        for item in items {
            let Some(shared) = item.shared_msg_id.clone() else {
                continue;
            };
            if item.deleted {
                continue;
            }
            // A file goes with a description of the new member's own; one that cannot be
            // received any more goes as its text only, or not at all.
            let file = self.history_file(&item, new.group_member_id)?;
            if file.is_none() && item.file_id.is_some() && item.content.text_shown().is_empty() {
                continue;
            }
            // Authors the new member is introduced to (connected members), and those gone or
            // unknown here, whom it records as unknown members (as the reference's history);
            // not members still joining, who are introduced to it after.
            // A post as the channel itself (received by us its relay) goes without an author.
            let author = match item.group_member_id {
                None if item.is_channel_post() => None,
                None => Some((g.member_id.clone(), me.display_name.clone())),
                Some(id) => match self.store().member(id)? {
                    // Not what a member blocked for all said.
                    Some(a)
                        if matches!(
                            a.status,
                            MemberStatus::Connected
                                | MemberStatus::Left
                                | MemberStatus::Removed
                                | MemberStatus::Unknown
                        ) && !a.blocked_by_admin =>
                    {
                        Some((a.member_id, a.profile.display_name))
                    }
                    _ => continue,
                },
            };
            let msgs = match &file {
                Some((f, descr)) => Self::history_file_messages(&item, &shared, f, descr),
                None => {
                    let mut c = MsgContainer::simple(item.content.clone());
                    c.as_group = author.is_none().then_some(true);
                    // What it quotes, as its author quoted it (the time is the quoting
                    // item's: the quoted one's is not kept with the quote, nor read).
                    c.quote = item.quote.as_ref().map(|q| crate::protocol::QuotedMsg {
                        msg_ref: crate::protocol::MsgRef {
                            msg_id: q.shared_msg_id.clone(),
                            sent_at: simplex_codec::time::UtcTime::from_millis(item.item_ts),
                            sent: q.by_author,
                            member_id: q.member_id.clone(),
                        },
                        content: q.content.clone(),
                    });
                    vec![ChatMessage::new(Some(B64(shared)), ChatEvent::MsgNew(c))]
                }
            };
            let (member_id, name) = author.unzip();
            for inner in msgs {
                self.send_event(
                    conn,
                    ChatEvent::GrpMsgForward {
                        member_id: member_id.clone(),
                        member_name: name.clone(),
                        msg: Box::new(inner),
                        msg_ts: simplex_codec::time::UtcTime::from_millis(item.item_ts),
                    },
                )
                .await?;
            }
        }
        Ok(())
    }

    /// A member's new profile (`x.info` in the group, directly or forwarded): kept, with an
    /// item when what shows of it changed (the reference's rule, as for contacts).
    async fn member_profile_received(
        &self,
        g: &Group,
        m: &Member,
        profile: crate::protocol::Profile,
    ) -> Result<()> {
        if profile == m.profile {
            return Ok(());
        }
        if profile.display_name.trim().is_empty() {
            return Err(ChatError::Agent("x.info: empty display name".into()));
        }
        let to = self.store().set_member_profile(m, &profile)?;
        if crate::features::InfoItem::profile_change_shows(&m.profile, &profile) {
            let item = crate::group_events::member_profile_updated(&m.profile, &profile);
            self.add_group_info(g, Some(&to), &[item]).await?;
        }
        self.emit(Event::GroupMemberUpdated {
            group: g.clone(),
            from: m.clone(),
            to,
        })
        .await;
        crate::chat::on_heap(|| self.business_title_changed(g, m, &profile)).await
    }

    /// Records a member `by` announced (`x.grp.mem.new`) or forwarded (`x.grp.mem.fwd`): one
    /// who joined after us.
    fn add_announced(&self, g: &Group, by: &Member, info: &MemberInfo) -> Result<Member> {
        self.add_or_adopt(
            g,
            &NewMember {
                group_id: g.group_id,
                member_id: &info.member_id,
                role: info.member_role,
                category: MemberCategory::Post,
                status: MemberStatus::Announced,
                profile: &info.profile,
                conn_id: None,
                contact_id: None,
                invited_by: Some(by.group_member_id),
            },
        )
    }

    /// Records a member announced or introduced to us - the unknown member record of it, if a
    /// forwarded message made one, becoming it.
    fn add_or_adopt(&self, g: &Group, new: &NewMember<'_>) -> Result<Member> {
        let store = self.store();
        match store.member_by_member_id(g.group_id, new.member_id)? {
            Some(u) if u.status == MemberStatus::Unknown => {
                Ok(store.adopt_unknown_member(&u, new)?)
            }
            _ => Ok(store.add_member(new)?),
        }
    }

    /// The author of a forwarded message we know nothing of (it left before we joined, or is
    /// not introduced yet): recorded by its member id and the name the host gave, as the
    /// reference's unknown member (an author, `status unknown`), until it is announced.
    async fn unknown_member(
        &self,
        g: &Group,
        host: &Member,
        member_id: &crate::protocol::MemberId,
        name: Option<&str>,
    ) -> Result<Member> {
        let m = self.create_unknown_member(g, member_id, name)?;
        self.emit(Event::UnknownMemberCreated {
            group: g.clone(),
            by: host.clone(),
            member: m.clone(),
        })
        .await;
        Ok(m)
    }

    /// A member we know nothing of, recorded by its member id and `name` (else `unknown`) as
    /// the reference's unknown member (an author, `status unknown`), until it is announced.
    pub(crate) fn create_unknown_member(
        &self,
        g: &Group,
        member_id: &crate::protocol::MemberId,
        name: Option<&str>,
    ) -> Result<Member> {
        // A host cannot fill the database with made-up members.
        if self.store().unknown_members(g.group_id)? >= MAX_UNKNOWN_MEMBERS {
            return Err(ChatError::Agent(format!(
                "more than {MAX_UNKNOWN_MEMBERS} unknown members in #{}",
                g.local_name
            )));
        }
        // A name that shows on one line (else `unknown`).
        let name = name.map(str::trim).filter(|n| {
            !n.is_empty()
                && !n.contains('\'')
                && n.len() <= 1024
                && !n.chars().any(char::is_control)
        });
        let profile = crate::protocol::Profile {
            display_name: name.unwrap_or("unknown").to_string(),
            ..Default::default()
        };
        Ok(self.store().add_member(&NewMember {
            group_id: g.group_id,
            member_id,
            role: GroupMemberRole::Author,
            category: MemberCategory::Pre,
            status: MemberStatus::Unknown,
            profile: &profile,
            conn_id: None,
            contact_id: None,
            invited_by: None,
        })?)
    }

    /// A post a channel's owner made as the channel itself (`asGroup`): from the owner to us
    /// its relay (`relay` none), or forwarded by the relay `relay` without the owner's name;
    /// kept once (it comes through every relay) without an author. It may be live (typed,
    /// its updates follow), quote, or offer a file; one in a support chat is refused.
    async fn channel_post(
        &self,
        g: &Group,
        msg_id: Option<&crate::protocol::SharedMsgId>,
        c: MsgContainer,
        relay: Option<&Member>,
    ) -> Result<()> {
        if c.scope.is_some() {
            return Err(ChatError::Agent(format!(
                "#{}: a post as the channel in a support chat is not shown by this client",
                g.local_name
            )));
        }
        if let Some(id) = msg_id {
            if self.store().has_channel_post(g.group_id, &id.0)? {
                return Ok(()); // through another relay
            }
        }
        let quote = match &c.quote {
            Some(q) => Some(self.received_group_quote(g, q)?),
            None => None,
        };
        let item = self.store().add_channel_post(
            g.group_id,
            msg_id.map(|i| i.0.as_slice()),
            &c.content,
            quote.as_ref(),
            relay.map(|r| r.group_member_id),
        )?;
        let item = match c.ttl {
            Some(t) if (1..=crate::command::MAX_TTL).contains(&t) => {
                self.set_received_ttl(item, t)?
            }
            _ => item,
        };
        // Typed live (a file is not: its flag is ignored).
        let item = if c.live == Some(true) && c.file.is_none() {
            self.store().start_live(item)?
        } else {
            item
        };
        // A file's offer shows as the file (its caption, if any, first).
        if c.file.is_none() || !c.content.text_shown().is_empty() {
            self.emit(Event::ChannelPost(g.clone(), item.clone())).await;
        }
        if let Some(inv) = &c.file {
            crate::chat::on_heap(|| {
                self.group_file_offered(g, None, msg_id, inv, &item, relay.is_some())
            })
            .await?;
        }
        Ok(())
    }

    /// Whether a channel owner's message (to us, its relay) is about a post as the channel
    /// itself: such a post, its edit, or the deletion of one (by its shared id: not one of
    /// the owner's own posts).
    fn about_channel_post(&self, g: &Group, owner: &Member, msg: &ChatMessage) -> Result<bool> {
        Ok(match &msg.event {
            ChatEvent::MsgNew(c) => c.as_group == Some(true),
            ChatEvent::MsgUpdate(u) => u.as_group == Some(true),
            // The description or cancellation of the file of one.
            ChatEvent::MsgFileDescr { msg_id, .. } | ChatEvent::FileCancel { msg_id } => self
                .store()
                .channel_file_by_msg(g.group_id, &msg_id.0)?
                .is_some(),
            ChatEvent::MsgDel {
                msg_id,
                member_id: None,
                ..
            } => self.deletes_channel_post(g, owner, msg_id)?,
            _ => false,
        })
    }

    /// Whether an owner's `x.msg.del` of `shared` (without a member id) is of a post as the
    /// channel: not one of the owner's own posts, one of the channel's.
    pub(crate) fn deletes_channel_post(
        &self,
        g: &Group,
        owner: &Member,
        shared: &B64,
    ) -> Result<bool> {
        let store = self.store();
        Ok(store
            .group_item_by_shared(g.group_id, Some(owner.group_member_id), &shared.0)?
            .is_none()
            && store
                .channel_post_by_shared(g.group_id, &shared.0)?
                .is_some())
    }

    /// An edit of a post as the channel: by its owner to us its relay, or forwarded by a
    /// relay; a live post's update (ending it unless it says `live`). Text only; an edit of a
    /// post we do not have, or of a deleted one, changes nothing.
    pub(crate) async fn channel_post_edited(
        &self,
        g: &Group,
        u: crate::protocol::MsgUpdate,
    ) -> Result<()> {
        if !matches!(u.content, MsgContent::Text { .. }) {
            return Err(ChatError::Agent(format!(
                "#{}: an edit of a post as the channel to other than text is not shown by \
                 this client",
                g.local_name
            )));
        }
        let Some(item) = self
            .store()
            .channel_post_by_shared(g.group_id, &u.msg_id.0)?
        else {
            return Ok(());
        };
        // A live post's last update may repeat its text: it still ends it.
        let state = crate::live::next_state(&item, u.live == Some(true));
        if item.deleted || (item.content == u.content && state.is_none()) {
            return Ok(());
        }
        let item = self.store().apply_update(item, &u.content, state)?;
        self.emit(Event::ChannelPostUpdated(g.clone(), item)).await;
        Ok(())
    }

    /// A post as the channel deleted by its owner (to us its relay, or forwarded by a relay):
    /// removed where the channel allows full deletion, else marked.
    pub(crate) async fn channel_post_deleted(&self, g: &Group, shared: &B64) -> Result<()> {
        let Some(item) = self.store().channel_post_by_shared(g.group_id, &shared.0)? else {
            return Ok(()); // never had it, or through another relay
        };
        if item.deleted {
            return Ok(());
        }
        let full = crate::group_msgs::full_delete_allowed(g, GroupMemberRole::Owner);
        let item = if full {
            self.store().delete_item(item.item_id)?;
            item
        } else {
            self.store().mark_item_deleted(item.item_id)?;
            crate::store::ChatItem {
                deleted: true,
                ..item
            }
        };
        self.emit(Event::GroupItemDeleted {
            group: g.clone(),
            author: None,
            item,
            by: None,
            own_name: self.profile_in(g).display_name,
            full,
        })
        .await;
        Ok(())
    }

    /// The sender may introduce a member with `role`: an admin at least, and not below it.
    fn check_host_role(m: &Member, role: GroupMemberRole) -> Result<()> {
        if m.role < GroupMemberRole::Admin || m.role < role {
            return Err(ChatError::GroupContactRole(m.local_name.clone()));
        }
        Ok(())
    }

    /// A member's message that went wrong, reported (`#team bob: why`).
    pub(crate) async fn member_error(&self, g: &Group, m: &Member, e: impl std::fmt::Display) {
        self.emit(Event::Error(format!(
            "#{} {}: {e}",
            g.local_name, m.local_name
        )))
        .await;
    }

    /// Messages on a member's connection.
    /// Whether a receipt is due: a new message from the member itself (not forwarded) in a
    /// small group, receipts on.
    pub(crate) async fn member_received(&self, m: Member, body: &[u8]) -> Result<bool> {
        let g = self.group_of(&m)?;
        let mut receipt = false;
        for parsed in parse_chat_messages(body) {
            // A channel's state changes are signed by their authors (`group_keys.rs`): checked
            // here, before anything is done with them; a relay keeps the signature to forward.
            let (signed, sig) = match &parsed {
                Ok(p) => match self.check_signature(&g, &m, p) {
                    Ok(s) => (p.signed.clone().filter(|_| p.forward.is_none()), s),
                    Err(e) => {
                        self.member_error(&g, &m, e).await;
                        continue;
                    }
                },
                Err(_) => (None, crate::group_keys::SigStatus::Unsigned),
            };
            let msg = match parsed {
                // The binary form of a forward (`>`, the reference's newer hosts and relays):
                // taken as `x.grp.msg.forward` is, with the same checks - never as the
                // forwarding member's own message.
                Ok(crate::protocol::ParsedMsg {
                    forward: Some(header),
                    msg,
                    ..
                }) => {
                    let (member_id, member_name) = match header.sender {
                        crate::protocol::FwdSender::Member(id, name) => (Some(B64(id)), Some(name)),
                        crate::protocol::FwdSender::Channel => (None, None),
                    };
                    ChatMessage::new(
                        None,
                        ChatEvent::GrpMsgForward {
                            member_id,
                            member_name,
                            msg: Box::new(msg),
                            msg_ts: header.broker_ts,
                        },
                    )
                }
                Ok(p) => p.msg,
                Err(e) => {
                    self.member_error(&g, &m, e).await;
                    continue;
                }
            };
            // A host forwards what a member sends to the members it introduced and who are
            // not connected to it yet.
            // Not a support chat's message: that is for the member and the moderators only.
            let scoped = match &msg.event {
                ChatEvent::MsgNew(c) => c.scope.is_some(),
                ChatEvent::MsgUpdate(u) => u.scope.is_some(),
                ChatEvent::MsgDel { scope, .. } | ChatEvent::MsgReact { scope, .. } => {
                    scope.is_some()
                }
                _ => false,
            };
            // A channel's relay forwards what its owners send to every subscriber.
            let relaying = g.role == GroupMemberRole::Relay
                && m.role == GroupMemberRole::Owner
                && self.is_channel(&g)?;
            // A reaction in a channel (an owner's or a subscriber's): its relay tells the
            // owners who reacted and the subscribers only that someone did (the reference's
            // relays: subscribers are not told of each other) - once it is counted here.
            // (The channel is looked up only for a reaction at a relay.)
            let reaction_at_relay = g.role == GroupMemberRole::Relay
                && !scoped
                && matches!(msg.event, ChatEvent::MsgReact { .. });
            if reaction_at_relay && self.is_channel(&g)? {
                if let ChatEvent::MsgReact {
                    msg_id,
                    member_id,
                    reaction,
                    add,
                    ..
                } = &msg.event
                {
                    let counted = crate::chat::on_heap(|| {
                        self.group_reaction_received(
                            &g,
                            &m,
                            msg_id,
                            member_id.clone(),
                            reaction.clone(),
                            *add,
                        )
                    })
                    .await;
                    match counted {
                        Ok(true) => {
                            let owners = msg.clone();
                            crate::chat::on_heap(|| {
                                self.forward(&g, &m, owners, None, false, Audience::Owners)
                            })
                            .await?;
                            crate::chat::on_heap(|| {
                                self.forward(&g, &m, msg, None, true, Audience::Subscribers)
                            })
                            .await?;
                        }
                        Ok(false) => {}
                        Err(e @ ChatError::Store(_)) => return Err(e),
                        Err(e) => {
                            self.member_error(&g, &m, e).await;
                        }
                    }
                    continue;
                }
            }
            let copy = ((g.role >= GroupMemberRole::Admin || relaying)
                && forwardable(&msg.event)
                && !scoped)
                .then(|| msg.clone());
            // The channel deleted: the subscribers are told before the relay's connections
            // to them go.
            let copy = match copy {
                Some(c) if relaying && matches!(c.event, ChatEvent::GrpDel) => {
                    crate::chat::on_heap(|| {
                        self.forward(&g, &m, c, signed.as_ref(), false, Audience::All)
                    })
                    .await?;
                    None
                }
                c => c,
            };
            // A subscriber leaving: its relay tells the owners (they count it).
            let leaving = (g.role == GroupMemberRole::Relay
                && m.role < GroupMemberRole::Owner
                && matches!(msg.event, ChatEvent::GrpLeave)
                && self.is_channel(&g)?)
            .then(|| msg.clone());
            // The owner's post as the channel itself, its edit or deletion: forwarded as the
            // channel's (decided before a deletion takes the post away).
            let as_channel = relaying && self.about_channel_post(&g, &m, &msg)?;
            let new_message = matches!(msg.event, ChatEvent::MsgNew(_));
            let outcome = crate::chat::on_heap(|| {
                crate::group_keys::with_received_sig(sig, self.member_event(&g, &m, msg, None))
            })
            .await;
            receipt |= new_message && outcome.is_ok();
            match outcome {
                Err(e @ ChatError::Store(_)) => return Err(e),
                Err(e) => {
                    self.member_error(&g, &m, e).await;
                }
                Ok(()) => {
                    if let Some(leave) = leaving {
                        crate::chat::on_heap(|| {
                            self.forward(&g, &m, leave, signed.as_ref(), false, Audience::Owners)
                        })
                        .await?;
                    }
                    if let Some(orig) = copy {
                        crate::chat::on_heap(|| {
                            self.forward(&g, &m, orig, signed.as_ref(), as_channel, Audience::All)
                        })
                        .await?;
                    }
                }
            }
        }
        Ok(receipt && self.group_receipt_due(&g))
    }

    /// Forwards a member's message (`x.grp.msg.forward`) to the members introduced to it or
    /// it to them, whose direct connection is not reported yet. A channel's relay forwards
    /// to its members (`to`: all, or only the owners or only the others) - an owner's post
    /// as the channel (`as_channel`) and any reaction to the subscribers without naming who
    /// sent it.
    async fn forward(
        &self,
        g: &Group,
        m: &Member,
        msg: ChatMessage,
        signed: Option<&crate::protocol::SignedMsg>,
        as_channel: bool,
        to: Audience,
    ) -> Result<()> {
        let channel_relay = g.role == GroupMemberRole::Relay && self.is_channel(g)?;
        let targets = if channel_relay {
            let mut t = self.channel_forward_targets(g, m)?;
            match to {
                Audience::All => {}
                Audience::Owners => t.retain(|t| t.role == GroupMemberRole::Owner),
                Audience::Subscribers => t.retain(|t| t.role != GroupMemberRole::Owner),
            }
            t
        } else {
            self.store().forward_targets(m.group_member_id)?
        };
        if targets.is_empty() {
            return Ok(());
        }
        let as_channel = channel_relay
            && as_channel
            && (m.role == GroupMemberRole::Owner
                || matches!(msg.event, ChatEvent::MsgReact { .. }));
        let now = simplex_codec::time::UtcTime::from_millis(crate::store::now_ms());
        let body = match signed {
            // A signed event goes on as it was signed, in the binary envelope (a channel's
            // relay; the reference's relays forward so).
            Some(s) if channel_relay && !as_channel => crate::group_keys::forward_signed(
                &crate::protocol::GrpMsgForward {
                    sender: crate::protocol::FwdSender::Member(
                        m.member_id.0.clone(),
                        m.profile.display_name.clone(),
                    ),
                    broker_ts: simplex_codec::time::UtcTime {
                        secs: now.secs,
                        nanos: 0,
                    },
                },
                s,
            ),
            _ => ChatMessage::new(
                None,
                ChatEvent::GrpMsgForward {
                    member_id: (!as_channel).then(|| m.member_id.clone()),
                    member_name: (!as_channel).then(|| m.profile.display_name.clone()),
                    msg: Box::new(msg),
                    msg_ts: now,
                },
            )
            .encode(),
        };
        for t in targets {
            let Some(conn) = t.conn_id else { continue };
            if let Err(e) = self.send_body(conn, &body).await {
                self.emit(Event::Error(format!(
                    "#{} {}: forwarding: {e}",
                    g.local_name, t.local_name
                )))
                .await;
            }
        }
        Ok(())
    }

    /// One event from member `m` - directly, or forwarded by the host `forwarded_by`.
    async fn member_event(
        &self,
        g: &Group,
        m: &Member,
        msg: ChatMessage,
        forwarded_by: Option<&Member>,
    ) -> Result<()> {
        // The connection the message came on.
        let arrived = forwarded_by.unwrap_or(m).conn_id;
        match msg.event {
            ChatEvent::GrpMsgForward {
                member_id,
                member_name,
                msg: inner,
                ..
            } => {
                if forwarded_by.is_some() {
                    return Ok(()); // forwarded messages never nest
                }
                // (The role first: the channel is looked up only for a relay's forwards.)
                let relay = m.role == GroupMemberRole::Relay && self.is_channel(g)?;
                if m.role < GroupMemberRole::Admin && !relay {
                    return Err(ChatError::GroupContactRole(m.local_name.clone()));
                }
                let Some(member_id) = member_id else {
                    // A post as the channel itself, forwarded by its relay.
                    let ChatMessage { msg_id, event, .. } = *inner;
                    return match event {
                        ChatEvent::MsgNew(c) if relay => {
                            self.channel_post(g, msg_id.as_ref(), c, Some(m)).await
                        }
                        ChatEvent::MsgUpdate(u) if relay => self.channel_post_edited(g, u).await,
                        ChatEvent::MsgDel {
                            msg_id,
                            member_id: None,
                            ..
                        } if relay => self.channel_post_deleted(g, &msg_id).await,
                        // The file of a post as the channel: its description, its
                        // cancellation.
                        ChatEvent::MsgFileDescr { msg_id, file_descr } if relay => {
                            let ready = self.channel_descr_part(
                                g,
                                &msg_id,
                                &file_descr,
                                m.group_member_id,
                            )?;
                            if let Some(file_id) = ready {
                                self.descr_ready(file_id).await;
                            }
                            Ok(())
                        }
                        ChatEvent::FileCancel { msg_id } if relay => {
                            crate::chat::on_heap(|| self.channel_file_cancelled(g, &msg_id)).await
                        }
                        // Someone's reaction, not named to subscribers.
                        ChatEvent::MsgReact {
                            msg_id,
                            member_id,
                            reaction,
                            add,
                            ..
                        } if relay => {
                            self.channel_reaction_received(g, &msg_id, member_id, reaction, add)
                                .await
                        }
                        other => Err(ChatError::Agent(format!(
                            "#{}: a post from the channel itself ({}) is not shown by this client",
                            g.local_name,
                            other.name()
                        ))),
                    };
                };
                // Only what a member may say to the whole group is taken when forwarded.
                if !forwardable(&inner.event) {
                    return Err(ChatError::Agent(format!(
                        "x.grp.msg.forward: {} is not forwarded",
                        inner.event.name()
                    )));
                }
                let known = self.store().member_by_member_id(g.group_id, &member_id)?;
                // A channel's relay forwards its owners' posts only (announced first) - and,
                // to the owners, everyone's reactions with who reacted and subscribers leaving.
                let to_owner_from_anyone = g.role == GroupMemberRole::Owner
                    && matches!(
                        inner.event,
                        ChatEvent::MsgReact { .. } | ChatEvent::GrpLeave
                    );
                if relay
                    && !to_owner_from_anyone
                    && known
                        .as_ref()
                        .is_none_or(|a| a.role != GroupMemberRole::Owner)
                {
                    return Err(ChatError::Agent(format!(
                        "#{}: relay {} forwarded a message from someone who is no owner of the \
                         channel",
                        g.local_name, m.local_name
                    )));
                }
                let author = match known {
                    Some(a) => a,
                    None if member_id == g.member_id => return Ok(()), // ours, back
                    None => {
                        self.unknown_member(g, m, &member_id, member_name.as_deref())
                            .await?
                    }
                };
                // The host's own messages come forwarded too, in the history it sends.
                if !member_current(&author) {
                    return Ok(());
                }
                Box::pin(self.member_event(g, &author, *inner, Some(m))).await?;
            }
            ChatEvent::Info { profile } => {
                crate::chat::on_heap(|| self.member_profile_received(g, m, profile)).await?;
            }
            ChatEvent::GrpLinkAcpt {
                acceptance,
                role,
                member_id,
            } => {
                crate::chat::on_heap(|| self.link_accepted(g, m, &acceptance, role, &member_id))
                    .await?;
            }
            ChatEvent::GrpDirectInv {
                conn_req, content, ..
            } => {
                if forwarded_by.is_some() {
                    return Ok(()); // for us alone: never forwarded
                }
                let id = msg.msg_id.map(|i| i.0);
                crate::chat::on_heap(|| {
                    self.member_direct_invitation(g, m, conn_req, content, id.as_deref())
                })
                .await?;
            }
            // The owner's post as the channel itself, to us its relay (elsewhere the flag is
            // not ours to act on: the message is taken as its sender's).
            ChatEvent::MsgNew(c)
                if c.as_group == Some(true)
                    && forwarded_by.is_none()
                    && g.role == GroupMemberRole::Relay =>
            {
                let from_owner = m.role == GroupMemberRole::Owner && self.is_channel(g)?;
                if !from_owner {
                    return Err(ChatError::Agent(format!(
                        "#{}: only a channel's owner posts as the channel",
                        g.local_name
                    )));
                }
                self.channel_post(g, msg.msg_id.as_ref(), c, None).await?;
            }
            ChatEvent::MsgNew(c) => {
                let scope = self.received_scope(g, m, c.scope.as_ref())?;
                if m.role < GroupMemberRole::Author && scope.is_none() {
                    return Err(ChatError::GroupCannotSend(m.local_name.clone()));
                }
                // In a support chat files are not checked against the group's preference,
                // nor voice messages from its moderators (the reference's captchas).
                if c.file.is_some() && scope.is_none() {
                    self.check_group_file_allowed(g, m)?;
                }
                let moderator_in_support = scope.is_some() && m.role >= GroupMemberRole::Moderator;
                if let (MsgContent::Voice { .. }, Some(voice)) =
                    (&c.content, crate::group_prefs::feature("voice"))
                {
                    if !moderator_in_support {
                        self.check_group_feature(g, m, voice)?;
                    }
                }
                if let Some(id) = &msg.msg_id {
                    if self
                        .store()
                        .has_group_message(g.group_id, m.group_member_id, &id.0)?
                    {
                        return Ok(()); // the same message by another path
                    }
                }
                let quote = match &c.quote {
                    Some(q) => Some(self.received_group_quote(g, q)?),
                    None => None,
                };
                let item = self.store().add_group_item(
                    g.group_id,
                    Some(m.group_member_id),
                    msg.msg_id.as_ref().map(|i| i.0.as_slice()),
                    &c.content,
                    quote.as_ref(),
                    forwarded_by.map(|f| f.group_member_id),
                )?;
                // Came signed (`group_keys.rs`): kept with how its signature stood.
                let signed =
                    crate::group_keys::received_sig().and_then(crate::group_keys::SigStatus::api);
                let item = match signed {
                    Some(s) => {
                        self.store().set_item_signed(item.item_id, Some(s))?;
                        crate::store::ChatItem {
                            msg_signed: Some(s.into()),
                            ..item
                        }
                    }
                    None => item,
                };
                let mentions = crate::mentions::received(
                    crate::mentions::content_text(&c.content),
                    &c.mentions,
                );
                if !mentions.is_empty() {
                    self.store().set_item_mentions(item.item_id, &mentions)?;
                }
                let item = if crate::mentions::for_us(g, &mentions, quote.as_ref()) {
                    self.store().set_user_mention(item.item_id, true)?;
                    crate::store::ChatItem {
                        user_mention: true,
                        ..item
                    }
                } else {
                    item
                };
                let item = self.received_forwarded(item, c.forward)?;
                let item = if c.live == Some(true) {
                    self.store().start_live(item)?
                } else {
                    item
                };
                let item = match scope {
                    Some(s) => {
                        self.store().set_item_scope(item.item_id, &s)?;
                        crate::store::ChatItem {
                            scope: Some(s),
                            ..item
                        }
                    }
                    None => item,
                };
                // A disappearing message: gone here too after its time, from when it is read.
                let item = match c.ttl {
                    Some(t) if (1..=crate::command::MAX_TTL).contains(&t) => {
                        self.set_received_ttl(item, t)?
                    }
                    _ => item,
                };
                if c.file.is_none() {
                    self.emit(Event::GroupReceived(g.clone(), m.clone(), item.clone()))
                        .await;
                } else if !c.content.text_shown().is_empty() {
                    self.emit(Event::GroupReceivedCaption(
                        g.clone(),
                        m.clone(),
                        item.clone(),
                    ))
                    .await;
                }
                if let Some(inv) = &c.file {
                    crate::chat::on_heap(|| {
                        self.group_file_offered(
                            g,
                            Some(m),
                            msg.msg_id.as_ref(),
                            inv,
                            &item,
                            forwarded_by.is_some(),
                        )
                    })
                    .await?;
                }
            }
            ChatEvent::MsgUpdate(u) => {
                crate::chat::on_heap(|| self.group_update_received(g, m, u, forwarded_by)).await?;
            }
            ChatEvent::MsgReact {
                msg_id,
                member_id,
                reaction,
                add,
                ..
            } => {
                crate::chat::on_heap(|| {
                    self.group_reaction_received(g, m, &msg_id, member_id, reaction, add)
                })
                .await?;
            }
            ChatEvent::MsgDel {
                msg_id, member_id, ..
            } => {
                crate::chat::on_heap(|| self.group_delete_received(g, m, &msg_id, member_id))
                    .await?;
            }
            ChatEvent::MsgFileDescr { msg_id, file_descr } => {
                let ready = self.group_descr_part(
                    g,
                    m,
                    &msg_id,
                    &file_descr,
                    forwarded_by.map(|f| f.group_member_id),
                )?;
                if let Some(file_id) = ready {
                    self.descr_ready(file_id).await;
                }
            }
            ChatEvent::FileCancel { msg_id } => {
                crate::chat::on_heap(|| self.group_file_cancelled(g, m, &msg_id)).await?;
            }
            ChatEvent::GrpMemRestrict {
                member_id,
                member_restrictions,
            } => {
                if member_id == g.member_id {
                    return Ok(()); // about us: we are not told, nothing changes here
                }
                let blocked = match member_restrictions.restriction.as_str() {
                    "blocked" => true,
                    "unrestricted" => false,
                    other => {
                        return Err(ChatError::Agent(format!(
                            "x.grp.mem.restrict: unknown restriction {other:?}"
                        )))
                    }
                };
                // Only a moderator may block: checked before a member we do not know is
                // recorded for it.
                if m.role < GroupMemberRole::Moderator {
                    return Err(ChatError::GroupContactRole(m.local_name.clone()));
                }
                // A member we do not know (it left before we joined, or is not introduced
                // yet): recorded, as the reference's, so its messages come blocked.
                let known = self.store().member_by_member_id(g.group_id, &member_id)?;
                let target = match known {
                    Some(t) => t,
                    // Unblocking one we do not know changes nothing.
                    None if !blocked => return Ok(()),
                    None => self.create_unknown_member(g, &member_id, None)?,
                };
                if m.role < target.role {
                    return Err(ChatError::GroupContactRole(m.local_name.clone()));
                }
                if target.blocked_by_admin == blocked {
                    return Ok(()); // as it is already: no item, nothing to tell
                }
                self.store()
                    .set_blocked_by_admin(target.group_member_id, blocked)?;
                let item = crate::group_events::member_blocked(
                    target.group_member_id,
                    &target.profile,
                    blocked,
                    false,
                );
                self.add_group_info(g, Some(m), &[item]).await?;
                self.emit(Event::MemberBlockedBy {
                    group: g.clone(),
                    by: m.clone(),
                    member: Member {
                        blocked_by_admin: blocked,
                        ..target
                    },
                    signed: crate::group_keys::received_sig(),
                })
                .await;
            }
            ChatEvent::GrpLinkMem { profile } => {
                if forwarded_by.is_some() {
                    return Ok(());
                }
                crate::chat::on_heap(|| self.host_profile_received(g, m, profile)).await?;
            }
            // Preferences alone (newer owners send them so): the profile with them.
            ChatEvent::GrpPrefs { group_preferences } => {
                let profile = GroupProfile {
                    group_preferences: Some(group_preferences),
                    ..g.profile.clone()
                };
                crate::chat::on_heap(|| self.group_profile_received(g, m, profile)).await?;
            }
            ChatEvent::GrpInfo { group_profile } => {
                crate::chat::on_heap(|| self.group_profile_received(g, m, group_profile)).await?;
            }
            // A channel's new relay, announced by an owner through a relay: a subscriber joins
            // through it too (its relays forward it as it is; others have nothing to do).
            ChatEvent::GrpRelayNew { relay_link } => {
                if m.role != GroupMemberRole::Owner {
                    return Err(ChatError::Agent(format!(
                        "#{}: x.grp.relay.new from {}, who is no owner",
                        g.local_name, m.local_name
                    )));
                }
                let subscriber = forwarded_by.is_some_and(|r| r.role == GroupMemberRole::Relay)
                    && g.role < GroupMemberRole::Owner
                    && self.is_channel(g)?;
                if subscriber {
                    crate::chat::on_heap(|| self.channel_relay_announced(g, &relay_link)).await?;
                }
            }
            // A channel's relay announces: to its owners, each subscriber that joins through
            // it; to a subscriber, the owners (ours before they were introduced).
            ChatEvent::GrpMemNew { member_info, .. }
                if forwarded_by.is_none()
                    && m.role == GroupMemberRole::Relay
                    && self.is_channel(g)? =>
            {
                if g.role == GroupMemberRole::Owner {
                    crate::chat::on_heap(|| self.channel_subscriber_announced(g, m, &member_info))
                        .await?;
                } else {
                    self.channel_owner_announced(g, m, &member_info)?;
                }
            }
            ChatEvent::GrpMemNew { member_info, scope } => {
                Self::check_host_role(m, member_info.member_role)?;
                if member_info.member_id == g.member_id {
                    return Ok(());
                }
                if let Some(known) = self
                    .store()
                    .member_by_member_id(g.group_id, &member_info.member_id)?
                    .filter(|k| k.status != MemberStatus::Unknown)
                {
                    // Announced again by the same host (it restarted while introducing).
                    if known.invited_by == Some(m.group_member_id) {
                        return Ok(());
                    }
                    return Err(ChatError::Agent(
                        "x.grp.mem.new: member already exists".into(),
                    ));
                }
                let mut new = self.add_announced(g, m, &member_info)?;
                // Announced in its support chat: pending the admins' review.
                if crate::admission::scope_member(scope.as_ref())?.is_some() {
                    self.store()
                        .set_member_status(new.group_member_id, MemberStatus::PendingReview)?;
                    new.status = MemberStatus::PendingReview;
                } else {
                    let item = crate::group_events::member_added(new.group_member_id, &new.profile);
                    self.add_group_info(g, Some(m), &[item]).await?;
                }
                self.emit(Event::MemberAnnounced {
                    group: g.clone(),
                    by: m.clone(),
                    member: new,
                })
                .await;
            }
            // A channel's relay introduces its owners to us (the reference's relays; ours
            // announced them with `x.grp.mem.new` before): recorded, no connection follows.
            ChatEvent::GrpMemIntro { member_info, .. }
                if forwarded_by.is_none()
                    && m.role == GroupMemberRole::Relay
                    && self.is_channel(g)? =>
            {
                self.channel_owner_announced(g, m, &member_info)?;
            }
            ChatEvent::GrpMemIntro {
                member_info,
                member_restrictions,
            } => {
                if m.category != MemberCategory::Host {
                    return Err(ChatError::Agent(
                        "x.grp.mem.intro can be only sent by host member".into(),
                    ));
                }
                Self::check_host_role(m, member_info.member_role)?;
                if self
                    .store()
                    .member_by_member_id(g.group_id, &member_info.member_id)?
                    .is_some_and(|k| k.status != MemberStatus::Unknown)
                {
                    return Ok(()); // introduced already (announced again after a restart)
                }
                let (conn, link) = self
                    .inner
                    .agent
                    .create_invitation()
                    .await
                    .map_err(agent_err)?;
                let new = self.add_or_adopt(
                    g,
                    &NewMember {
                        group_id: g.group_id,
                        member_id: &member_info.member_id,
                        role: member_info.member_role,
                        category: MemberCategory::Pre,
                        status: MemberStatus::IntroInvited,
                        profile: &member_info.profile,
                        conn_id: Some(conn),
                        contact_id: None,
                        invited_by: Some(m.group_member_id),
                    },
                )?;
                // Blocked for all before we joined.
                if member_restrictions.is_some_and(|r| r.restriction == "blocked") {
                    self.store()
                        .set_blocked_by_admin(new.group_member_id, true)?;
                }
                let host_conn = m
                    .conn_id
                    .ok_or_else(|| ChatError::Agent("host without a connection".into()))?;
                self.send_event(
                    host_conn,
                    ChatEvent::GrpMemInv {
                        member_id: member_info.member_id,
                        member_intro: IntroInvitation {
                            group_conn_req: link,
                            direct_conn_req: None,
                        },
                    },
                )
                .await?;
            }
            ChatEvent::GrpMemInv {
                member_id,
                member_intro,
            } => {
                if m.category != MemberCategory::Invitee {
                    return Err(ChatError::Agent(
                        "x.grp.mem.inv can be only sent by invitee member".into(),
                    ));
                }
                let re = self
                    .store()
                    .member_by_member_id(g.group_id, &member_id)?
                    .ok_or_else(|| {
                        ChatError::Agent("x.grp.mem.inv: referenced member does not exist".into())
                    })?;
                let conn = re.conn_id.ok_or_else(|| {
                    ChatError::Agent("x.grp.mem.inv: the member has no connection".into())
                })?;
                self.send_event(
                    conn,
                    ChatEvent::GrpMemFwd {
                        member_info: member_info(m),
                        member_intro,
                    },
                )
                .await?;
                self.store()
                    .set_intro_status(re.group_member_id, m.group_member_id, "inv-fwd")?;
            }
            ChatEvent::GrpMemFwd {
                member_info,
                member_intro,
            } => {
                Self::check_host_role(m, member_info.member_role)?;
                if !member_intro.group_conn_req.contains("/invitation") {
                    return Err(ChatError::Agent(
                        "x.grp.mem.fwd: not an invitation link".into(),
                    ));
                }
                let existing = self
                    .store()
                    .member_by_member_id(g.group_id, &member_info.member_id)?;
                let to = match existing {
                    Some(t) if t.conn_id.is_some() => return Ok(()), // joined already
                    Some(t) if t.status != MemberStatus::Unknown => t,
                    _ => self.add_announced(g, m, &member_info)?,
                };
                let info = ChatMessage::new(
                    None,
                    ChatEvent::GrpMemInfo {
                        member_id: g.member_id.clone(),
                        profile: self.profile_in(g),
                    },
                )
                .encode();
                let conn = self
                    .inner
                    .agent
                    .join(&member_intro.group_conn_req, &info)
                    .await
                    .map_err(agent_err)?;
                self.store().set_member_conn(to.group_member_id, conn)?;
            }
            ChatEvent::GrpMemCon { member_id } => {
                let Some(other) = self.store().member_by_member_id(g.group_id, &member_id)? else {
                    return Ok(());
                };
                // Whichever side tells first, the introduction ends connected once both did.
                let (re, to) = if m.category == MemberCategory::Invitee {
                    (other.group_member_id, m.group_member_id)
                } else {
                    (m.group_member_id, other.group_member_id)
                };
                let now = self.store().intro_status(re, to)?;
                let next = match (now.as_deref(), m.category == MemberCategory::Invitee) {
                    (Some("re-con"), true) | (Some("to-con"), false) => "con",
                    (Some("con"), _) => "con",
                    (_, true) => "to-con",
                    (_, false) => "re-con",
                };
                self.store().set_intro_status(re, to, next)?;
            }
            ChatEvent::GrpMemDel {
                member_id,
                messages,
            } => {
                if member_id == g.member_id {
                    if m.role < GroupMemberRole::Admin || m.role < g.role {
                        return Err(ChatError::GroupContactRole(m.local_name.clone()));
                    }
                    self.end_membership(g, None, MemberStatus::Removed, arrived)
                        .await?;
                    let mut g = g.clone();
                    g.status = MemberStatus::Removed;
                    self.emit(Event::RemovedFromGroup(
                        g.clone(),
                        m.clone(),
                        crate::group_keys::received_sig(),
                    ))
                    .await;
                    self.add_group_info(&g, Some(m), &[crate::group_events::user_deleted()])
                        .await?;
                    return Ok(());
                }
                let Some(gone) = self.store().member_by_member_id(g.group_id, &member_id)? else {
                    return Err(ChatError::Agent(
                        "x.grp.mem.del with unknown member ID".into(),
                    ));
                };
                if m.role < GroupMemberRole::Admin || m.role < gone.role {
                    return Err(ChatError::GroupContactRole(m.local_name.clone()));
                }
                if !member_current(&gone) && gone.status != MemberStatus::Invited {
                    return Ok(()); // gone already
                }
                self.store()
                    .member_gone(&gone, MemberStatus::Removed, None)?;
                // With its messages: each marked deleted here too.
                if messages {
                    let ids = self
                        .store()
                        .mark_member_items_deleted(g.group_id, gone.group_member_id)?;
                    if !ids.is_empty() {
                        self.emit(Event::MemberItemsDeleted {
                            group: g.clone(),
                            item_ids: ids,
                            by: Some(m.clone()),
                        })
                        .await;
                    }
                }
                if let Some(conn) = gone.conn_id {
                    crate::chat::on_heap(|| self.finish_deletion(conn)).await;
                }
                let item =
                    crate::group_events::member_deleted(gone.group_member_id, &gone.profile, false);
                self.add_group_info(g, Some(m), &[item]).await?;
                self.emit(Event::MemberRemovedBy {
                    group: g.clone(),
                    by: m.clone(),
                    member: gone,
                    signed: crate::group_keys::received_sig(),
                })
                .await;
            }
            ChatEvent::GrpLeave => {
                // Its connection goes once this message is acknowledged (at once when the
                // host forwarded it).
                self.store().member_gone(m, MemberStatus::Left, None)?;
                if let (Some(_), Some(conn)) = (forwarded_by, m.conn_id) {
                    crate::chat::on_heap(|| self.finish_deletion(conn)).await;
                }
                self.emit(Event::MemberLeft(
                    g.clone(),
                    m.clone(),
                    crate::group_keys::received_sig(),
                ))
                .await;
                let gone = Member {
                    status: MemberStatus::Left,
                    ..m.clone()
                };
                crate::chat::on_heap(|| self.channel_relay_gone(g, &gone)).await?;
                // A subscriber of our channel left (its relay told us): one fewer.
                if m.role != GroupMemberRole::Relay {
                    self.count_changed(g);
                }
                self.add_group_info(g, Some(m), &[crate::group_events::member_left()])
                    .await?;
            }
            ChatEvent::GrpDel => {
                if m.role != GroupMemberRole::Owner {
                    return Err(ChatError::GroupContactRole(m.local_name.clone()));
                }
                self.end_membership(g, None, MemberStatus::GroupDeleted, arrived)
                    .await?;
                let mut g = g.clone();
                g.status = MemberStatus::GroupDeleted;
                self.emit(Event::GroupDeletedBy(
                    g.clone(),
                    m.clone(),
                    crate::group_keys::received_sig(),
                ))
                .await;
                self.add_group_info(&g, Some(m), &[crate::group_events::group_deleted()])
                    .await?;
            }
            ChatEvent::GrpMemRole { member_id, role } => {
                let target = if member_id == g.member_id {
                    None
                } else {
                    let t = self
                        .store()
                        .member_by_member_id(g.group_id, &member_id)?
                        .ok_or_else(|| {
                            ChatError::Agent("x.grp.mem.role with unknown member ID".into())
                        })?;
                    Some(t)
                };
                let from = target.as_ref().map_or(g.role, |t| t.role);
                if m.role < GroupMemberRole::Admin || m.role < from || m.role < role {
                    return Err(ChatError::GroupContactRole(m.local_name.clone()));
                }
                let mut g = g.clone();
                let target = match target {
                    Some(t) => {
                        self.store().set_member_role(t.group_member_id, role)?;
                        Some(Member { role, ..t })
                    }
                    None => {
                        self.store().set_group_role(g.group_id, role)?;
                        g.role = role;
                        None
                    }
                };
                let item = match &target {
                    Some(t) => {
                        crate::group_events::member_role(t.group_member_id, &t.profile, role, false)
                    }
                    None => crate::group_events::user_role(role),
                };
                self.add_group_info(&g, Some(m), &[item]).await?;
                self.emit(Event::RoleChangedBy {
                    group: g,
                    by: m.clone(),
                    member: target,
                    from,
                    to: role,
                    signed: crate::group_keys::received_sig(),
                })
                .await;
            }
            // Other events come with the features that use them.
            _ => {}
        }
        Ok(())
    }
}

impl Chat {
    /// The bot API's group commands (`/_group`, `/_add`, `/_join`, `/_member role`,
    /// `/_remove`, `/_leave`, `/_members`, `/_groups`, `/_delete #`, `/_send #`): ids
    /// resolved, then the same work as the terminal's commands.
    pub(crate) async fn api_group_command(&self, cmd: crate::command::Command) -> Result<Response> {
        use crate::command::Command as C;
        match cmd {
            C::ApiNewGroup { profile, incognito } => self.new_group_as(profile, incognito).await,
            C::ApiAddMember {
                group_id,
                contact_id,
                role,
            } => {
                let g = self.group_by_id(group_id)?;
                let c = self
                    .store()
                    .contact(contact_id)?
                    .filter(|c| c.contact_id != crate::store::NOTES)
                    .ok_or_else(|| ChatError::NoContact(format!("@{contact_id}")))?;
                self.add_member(g.local_name, c.local_name, role).await
            }
            C::ApiJoinGroup(id) => self.join_group(self.group_by_id(id)?.local_name).await,
            C::ApiLeaveGroup(id) => self.leave_group(self.group_by_id(id)?.local_name).await,
            C::ApiListMembers(id) => self.list_members(self.group_by_id(id)?.local_name),
            C::ApiListGroups { contact, search } => self.list_groups_of(contact, search.as_deref()),
            C::ApiBlockMembers {
                group_id,
                members,
                blocked,
            } => {
                let g = self.group_by_id(group_id)?;
                let mut done = Vec::with_capacity(members.len());
                for id in members {
                    let m = self.member_by_id(&g, id)?;
                    if let Response::BlockedForAll { members, .. } = self
                        .block_for_all(g.local_name.clone(), m.local_name, blocked)
                        .await?
                    {
                        done.extend(members);
                    }
                }
                Ok(Response::BlockedForAll {
                    group: g,
                    members: done,
                    blocked,
                })
            }
            C::ApiCreateGroupLink { group_id, role } => {
                self.create_group_link(self.group_by_id(group_id)?.local_name, role)
                    .await
            }
            C::ApiDeleteGroupLink(id) => {
                self.delete_group_link(self.group_by_id(id)?.local_name)
                    .await
            }
            C::ApiGetGroupLink(id) => self.show_group_link(self.group_by_id(id)?.local_name),
            C::GroupLinkRole { group, role } => {
                let name = match group {
                    Ok(id) => self.group_by_id(id)?.local_name,
                    Err(name) => name,
                };
                self.set_group_link_role(name, role)
            }
            C::ApiDeleteGroup(id) => self.delete_group(self.group_by_id(id)?.local_name).await,
            C::ApiMembersRole {
                group_id,
                members,
                role,
            } => {
                let g = self.group_by_id(group_id)?;
                let mut changed = Vec::with_capacity(members.len());
                for id in members {
                    let m = self.member_by_id(&g, id)?;
                    let g = self.group_by_id(group_id)?;
                    if let Response::RoleChanged { member, .. } = self.set_role(g, m, role).await? {
                        changed.push(member);
                    }
                }
                Ok(Response::MembersRoleChanged {
                    group: self.group_by_id(group_id)?,
                    members: changed,
                    to: role,
                })
            }
            C::ApiRemoveMembers {
                group_id,
                members,
                messages,
            } => {
                let g = self.group_by_id(group_id)?;
                let mut removed = Vec::with_capacity(members.len());
                for id in members {
                    let m = self.member_by_id(&g, id)?;
                    if let Response::MemberRemoved(_, m) =
                        self.remove_with(g.clone(), m, messages).await?
                    {
                        removed.push(m);
                    }
                }
                Ok(Response::MembersRemoved(g, removed))
            }
            C::ApiSendGroup {
                group_id,
                scope: Some(whose),
                messages,
                ..
            } => {
                let g = self.group_by_id(group_id)?;
                let whose = match whose {
                    Some(id) => Some(
                        self.store()
                            .member(id)?
                            .filter(|m| m.group_id == g.group_id)
                            .ok_or_else(|| ChatError::NotGroupMember(id.to_string()))?,
                    ),
                    None => None,
                };
                // All checked before any is sent: we may write there, what they quote.
                let audience = self.support_audience(&g, whose.as_ref())?;
                let mut quotes = Vec::with_capacity(messages.len());
                let mut mentions = Vec::with_capacity(messages.len());
                for m in &messages {
                    quotes.push(match m.quoted_item_id {
                        Some(id) => {
                            Some(self.api_group_quote(&g, id, Some(&audience.item_scope))?)
                        }
                        None => None,
                    });
                    let text = crate::mentions::content_text(&m.content);
                    mentions.push(self.sent_mentions(&g, text, Some(&m.mentions))?);
                }
                let mut items = Vec::with_capacity(messages.len());
                let mut paths = Vec::new();
                for ((m, quote), mentioned) in messages.into_iter().zip(quotes).zip(mentions) {
                    let r = match m.file {
                        Some(path) => {
                            let extras = crate::group_files::GroupFileExtras {
                                forward: None,
                                quote,
                                support: Some(whose.clone()),
                                mentions: mentioned,
                                as_channel: false,
                            };
                            Box::pin(self.send_group_file_with(g.clone(), path, m.content, extras))
                                .await?
                        }
                        None => {
                            let mut container = MsgContainer::simple(m.content);
                            let (q, item_quote) = quote.unzip();
                            container.quote = q;
                            container.mentions = mentioned;
                            Box::pin(self.send_support(
                                g.clone(),
                                whose.clone(),
                                container,
                                item_quote.as_ref(),
                            ))
                            .await?
                        }
                    };
                    crate::chat::collect_sent(r, &mut items, &mut paths);
                }
                Ok(Response::GroupSentMany(g, items, paths))
            }
            C::ApiSendGroup {
                group_id,
                messages,
                live,
                ttl,
                as_group,
                sign,
                ..
            } => {
                let g = self.group_by_id(group_id)?;
                // As the channel itself: its owner's posts (text or files) only.
                if as_group && !(self.is_channel(&g)? && g.role == GroupMemberRole::Owner) {
                    return Err(ChatError::BadCommand(
                        "only a channel's owner posts as the channel".into(),
                    ));
                }
                // Signed posts (`group_keys.rs`): text, as ourselves.
                if sign && as_group {
                    return Err(ChatError::BadCommand(
                        "a post as the channel is not signed (sign=on names its owner)".into(),
                    ));
                }
                if sign && messages.iter().any(|m| m.file.is_some()) {
                    return Err(ChatError::BadCommand(
                        "sign=on signs text messages here, not files".into(),
                    ));
                }
                let mut quotes = Vec::with_capacity(messages.len());
                let mut mentions = Vec::with_capacity(messages.len());
                for m in &messages {
                    quotes.push(match m.quoted_item_id {
                        Some(id) => Some(self.api_group_quote(&g, id, None)?),
                        None => None,
                    });
                    let text = crate::mentions::content_text(&m.content);
                    mentions.push(self.sent_mentions(&g, text, Some(&m.mentions))?);
                }
                if ttl.is_some() && messages.iter().any(|m| m.file.is_some()) {
                    return Err(ChatError::BadCommand(
                        "ttl= with files in groups is not supported (the group's disappearing \
                         messages preference applies to files)"
                            .into(),
                    ));
                }
                if live {
                    crate::live::check_sendable(
                        messages.len(),
                        messages.iter().any(|m| m.file.is_some()),
                    )?;
                    let content = messages
                        .into_iter()
                        .next()
                        .map(|m| m.content)
                        .unwrap_or_else(|| MsgContent::text(""));
                    let (quote, item_quote) = quotes.into_iter().next().flatten().unzip();
                    let mut container = MsgContainer::simple(content);
                    container.mentions = mentions.into_iter().next().unwrap_or_default();
                    container.live = Some(true);
                    container.ttl = ttl;
                    container.quote = quote;
                    container.as_group = as_group.then_some(true);
                    return match Box::pin(self.send_group_container_signed(
                        g.clone(),
                        container,
                        item_quote.as_ref(),
                        sign,
                    ))
                    .await?
                    {
                        Response::GroupSent(_, item) => {
                            Ok(Response::GroupSentMany(g, vec![item], Vec::new()))
                        }
                        other => Ok(other),
                    };
                }
                let mut items = Vec::with_capacity(messages.len());
                let mut paths = Vec::new();
                for ((m, quote), mentioned) in messages.into_iter().zip(quotes).zip(mentions) {
                    let r = match m.file {
                        Some(path) => {
                            let extras = crate::group_files::GroupFileExtras {
                                quote,
                                mentions: mentioned,
                                as_channel: as_group,
                                ..Default::default()
                            };
                            Box::pin(self.send_group_file_with(g.clone(), path, m.content, extras))
                                .await?
                        }
                        None => {
                            let (q, item_quote) = quote.unzip();
                            let mut container = MsgContainer::simple(m.content);
                            container.ttl = ttl;
                            container.quote = q;
                            container.mentions = mentioned;
                            container.as_group = as_group.then_some(true);
                            Box::pin(self.send_group_container_signed(
                                g.clone(),
                                container,
                                item_quote.as_ref(),
                                sign,
                            ))
                            .await?
                        }
                    };
                    crate::chat::collect_sent(r, &mut items, &mut paths);
                }
                Ok(Response::GroupSentMany(g, items, paths))
            }
            other => Err(ChatError::Command(crate::command::CommandError(format!(
                "not a group command: {other:?}"
            )))),
        }
    }
}
