//! Group links, as the reference's (chat v3+, "fast" joining): an admin's `/create link #team`
//! makes a contact address whose link carries `data={"type":"group","groupLinkId":...}`.
//! Whoever connects to it (`/c <link>`) sends its profile in the request (`x.contact`); the
//! admin accepts at once, answering `x.grp.link.inv` (the group, the member id and role the
//! joiner gets, the admin's name) on the new connection, which is the joiner's member
//! connection from then on. The joiner creates the group, allows with its profile (`x.info`);
//! once connected, the admin sends its profile (`x.grp.link.mem`), then introduces the joiner
//! to the members and sends the history, as for a member invited with `/a`.

use crate::chat::{agent_err, Chat, ChatError, Event, Response};
use crate::group_store::{Group, Member, MemberCategory, MemberStatus, NewMember};
use crate::protocol::{
    ChatEvent, ChatMessage, GroupLinkInvitation, GroupMemberRole, MemberIdRole, Profile,
};

type Result<T> = std::result::Result<T, ChatError>;

/// The name of a host known by its member id only (a rejection does not name it; the
/// reference too names such a host from its member id): the first characters of the id's
/// base64.
fn host_name_from_id(id: &crate::protocol::MemberId) -> String {
    let name: String = simplex_codec::base64url::encode(&id.0)
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(7)
        .collect();
    if name.is_empty() {
        "host".into()
    } else {
        name
    }
}

/// A new group link id: 16 random bytes, as the reference's.
fn new_link_id() -> Vec<u8> {
    let mut id = vec![0u8; 16];
    simplex_crypto::random_bytes(&mut id);
    id
}

/// The link's `data`: the reference's `CRDataGroup`.
fn link_data(link_id: &[u8]) -> String {
    serde_json::json!({
        "type": "group",
        "groupLinkId": simplex_codec::base64url::encode(link_id),
    })
    .to_string()
}

/// The data of a group link's short link (the reference's `GroupShortLinkData`): the group's
/// profile, without its image when too large with it; none when too large even so (the full
/// link only).
fn short_link_data(profile: &crate::protocol::GroupProfile) -> Option<Vec<u8>> {
    crate::chat::fitting_link_data(
        profile,
        |p| p.image = None,
        |p| crate::channels::link_data_json(p).ok(),
    )
}

/// A link is a group link (its `data` names a group link id).
pub fn is_group_link(link: &str) -> bool {
    agent::links::ConnectionRequest::parse(link.trim())
        .ok()
        .and_then(|r| r.client_data)
        .and_then(|d| serde_json::from_str::<serde_json::Value>(&d).ok())
        .is_some_and(|v| v.get("groupLinkId").is_some())
}

impl Chat {
    /// `/create link #team [role]`.
    pub(crate) async fn create_group_link(
        &self,
        group: String,
        role: GroupMemberRole,
    ) -> Result<Response> {
        let g = self.group_named(&group)?;
        crate::groups::check_current(&g)?;
        if g.role < GroupMemberRole::Admin {
            return Err(ChatError::GroupRole(g.local_name, GroupMemberRole::Admin));
        }
        if role > GroupMemberRole::Member || role < GroupMemberRole::Observer {
            return Err(ChatError::GroupLinkRole(g.local_name, role));
        }
        if self.store().group_link(g.group_id)?.is_some() {
            return Err(ChatError::GroupLinkExists(g.local_name));
        }
        let link_id = new_link_id();
        // The short link (`g`) shows the group's profile to whoever is about to join.
        let data = short_link_data(&g.profile);
        let short = data
            .as_deref()
            .map(|d| (d, agent::links::ShortLinkKind::Group));
        let (conn, full, short) = self
            .inner
            .agent
            .create_address_with_data(&link_data(&link_id), short)
            .await
            .map_err(agent_err)?;
        let link = crate::chat::made_link(&full, &short);
        self.store()
            .add_group_link(g.group_id, conn, &link, &link_id, role)?;
        Ok(Response::GroupLink {
            group: g,
            link,
            role,
            created: true,
        })
    }

    /// `/show link #team`.
    pub(crate) fn show_group_link(&self, group: String) -> Result<Response> {
        let g = self.group_named(&group)?;
        let store = self.store();
        let (_, full, role) = store
            .group_link(g.group_id)?
            .ok_or_else(|| ChatError::NoGroupLink(g.local_name.clone()))?;
        let short = store.group_short_link(g.group_id)?;
        Ok(Response::GroupLink {
            group: g,
            link: crate::chat::ConnLink { full, short },
            role,
            created: false,
        })
    }

    /// `/_short link #G`: a short link for the group's link made without one (on a relay that
    /// kept no link data then, or by an older version); with one, its data is written again.
    pub(crate) async fn add_group_short_link(&self, group_id: i64) -> Result<Response> {
        let g = self.group_by_id(group_id)?;
        if self.is_channel(&g)? {
            return Err(ChatError::BadCommand(
                "a channel's link is a short link already".into(),
            ));
        }
        if g.role < GroupMemberRole::Admin {
            return Err(ChatError::GroupRole(g.local_name, GroupMemberRole::Admin));
        }
        let (conn, full, role) = self
            .store()
            .group_link(g.group_id)?
            .ok_or_else(|| ChatError::NoGroupLink(g.local_name.clone()))?;
        let data = short_link_data(&g.profile).ok_or_else(|| {
            ChatError::Agent("the group's profile is too large for link data".into())
        })?;
        let short = self
            .inner
            .agent
            .add_short_link(conn, &full, &data, agent::links::ShortLinkKind::Group)
            .await
            .map_err(agent_err)?;
        let short = crate::chat::display_link(&short);
        self.store().set_group_short_link(g.group_id, &short)?;
        Ok(Response::GroupLink {
            group: g,
            link: crate::chat::ConnLink {
                full,
                short: Some(short),
            },
            role,
            created: false,
        })
    }

    /// The group link's short link shows the group's new profile to those about to join
    /// (LSET); a link without a short one has nothing to change.
    pub(crate) async fn update_group_link_data(&self, g: &Group) {
        let link = self.store().group_link(g.group_id).ok().flatten();
        let Some((conn, _, _)) = link else { return };
        if self
            .store()
            .group_short_link(g.group_id)
            .ok()
            .flatten()
            .is_none()
        {
            return;
        }
        let Some(data) = short_link_data(&g.profile) else {
            return;
        };
        if let Err(e) = self.inner.agent.set_link_data(conn, &data, &[]).await {
            self.emit(Event::Error(format!(
                "#{}: the group link's data: {e}",
                g.local_name
            )))
            .await;
        }
    }

    /// `/set link role #team member`: the role the link gives those who join from now on
    /// (observer or member, as when it is created).
    pub(crate) fn set_group_link_role(
        &self,
        group: String,
        role: GroupMemberRole,
    ) -> Result<Response> {
        let g = self.group_named(&group)?;
        if g.role < GroupMemberRole::Admin {
            return Err(ChatError::GroupRole(g.local_name, GroupMemberRole::Admin));
        }
        if role > GroupMemberRole::Member || role < GroupMemberRole::Observer {
            return Err(ChatError::GroupLinkRole(g.local_name, role));
        }
        if !self.store().set_group_link_role(g.group_id, role)? {
            return Err(ChatError::NoGroupLink(g.local_name));
        }
        self.show_group_link(g.local_name)
    }

    /// `/delete link #team`: members who joined stay.
    pub(crate) async fn delete_group_link(&self, group: String) -> Result<Response> {
        let g = self.group_named(&group)?;
        if g.role < GroupMemberRole::Admin {
            return Err(ChatError::GroupRole(g.local_name, GroupMemberRole::Admin));
        }
        if !self.drop_group_link(&g).await? {
            return Err(ChatError::NoGroupLink(g.local_name));
        }
        Ok(Response::GroupLinkDeleted(g))
    }

    /// Deletes a group's link, if it has one (also when our membership ends).
    pub(crate) async fn drop_group_link(&self, g: &Group) -> Result<bool> {
        let Some((conn, _, _)) = self.store().group_link(g.group_id)? else {
            return Ok(false);
        };
        self.store().delete_group_link(g.group_id)?;
        if let Err(e) = self.inner.agent.delete_connection(conn).await {
            self.emit(Event::Error(format!(
                "#{}: deleting the group link: {e}",
                g.local_name
            )))
            .await;
        }
        Ok(true)
    }

    /// A request through our group link: accepted at once as a new member with the link's
    /// role (not when we can no longer add members).
    pub(crate) async fn group_join_request(
        &self,
        group_id: i64,
        role: GroupMemberRole,
        request: u64,
        info: &[u8],
    ) -> Result<()> {
        if self.store().member_by_join_request(request)?.is_some() {
            return Ok(()); // accepted before a restart
        }
        let g = self.group_by_id(group_id)?;
        let channel = self.is_channel(&g)?;
        let mut chosen_id = None;
        let mut chosen_key = None;
        let mut welcome = None;
        let profile = match ChatMessage::decode(info).map(|m| m.event) {
            // A subscriber joining a channel through our (relay's) link, with its member id.
            Ok(ChatEvent::Member {
                profile,
                new_member_id,
                new_member_key,
            }) if channel => {
                // Its signing key (`group_keys.rs`), checked before anything is recorded.
                if let Some(k) = &new_member_key {
                    match crate::group_keys::parse_key(k) {
                        Ok(der) => chosen_key = Some(der),
                        Err(e) => {
                            let _ = self.inner.agent.reject(request);
                            return Err(ChatError::Agent(format!(
                                "#{}: a request to join: {e}",
                                g.local_name
                            )));
                        }
                    }
                }
                chosen_id = Some(new_member_id);
                profile
            }
            // A request's message is not shown (as the reference's host); the welcome
            // message's id says the joiner has it from the link's data.
            Ok(ChatEvent::Contact {
                profile,
                welcome_msg_id,
                ..
            }) if !channel => {
                welcome = welcome_msg_id;
                profile
            }
            Ok(ChatEvent::Info { profile }) if !channel => profile,
            Ok(other) => {
                let _ = self.inner.agent.reject(request);
                return Err(ChatError::Agent(format!(
                    "#{}: a request through the group link with {}",
                    g.local_name,
                    other.name()
                )));
            }
            Err(e) => {
                let _ = self.inner.agent.reject(request);
                return Err(ChatError::Agent(format!(
                    "#{}: a request through the group link: {e}",
                    g.local_name
                )));
            }
        };
        // A channel's link of its owner takes no requests (they go to its relays).
        let admits = if channel {
            g.role == GroupMemberRole::Relay
        } else {
            g.role >= GroupMemberRole::Admin
        };
        if crate::groups::check_current(&g).is_err() || !admits {
            let _ = self.inner.agent.reject(request);
            return Ok(());
        }
        if self.store().pending_link_joiners(g.group_id)? >= crate::groups::MAX_PENDING_LINK_JOINERS
        {
            let _ = self.inner.agent.reject(request);
            return Err(ChatError::Agent(format!(
                "#{}: {} members joining through the link are still connecting; a request \
                 from {} is rejected",
                g.local_name,
                crate::groups::MAX_PENDING_LINK_JOINERS,
                profile.display_name
            )));
        }
        let member_id = match chosen_id {
            Some(id) => {
                let taken = id == g.member_id
                    || self.store().member_by_member_id(g.group_id, &id)?.is_some();
                if taken {
                    let _ = self.inner.agent.reject(request);
                    return Err(ChatError::Agent(format!(
                        "#{}: a subscriber asked for a member id taken already",
                        g.local_name
                    )));
                }
                id
            }
            None => crate::groups::new_member_id(),
        };
        // The group reviews joiners: the member stays pending until a moderator accepts it.
        let review = !channel && crate::admission::review_on(&g.profile);
        let m = self.store().add_member(&NewMember {
            group_id: g.group_id,
            member_id: &member_id,
            role,
            category: MemberCategory::Invitee,
            status: if review {
                MemberStatus::PendingReview
            } else {
                MemberStatus::Accepted
            },
            profile: &profile,
            conn_id: None,
            contact_id: None,
            invited_by: None,
        })?;
        self.store().set_join_request(m.group_member_id, request)?;
        if let Some(k) = &chosen_key {
            self.store().set_member_key(m.group_member_id, k)?;
        }
        let m = Member {
            member_key: chosen_key,
            ..m
        };
        if let Some(id) = &welcome {
            self.store().set_member_welcome(m.group_member_id, id)?;
        }
        if review {
            self.store()
                .set_member_admission(m.group_member_id, Some("joining"))?;
        }
        let members = self.store().current_members(&g)?;
        let inv = GroupLinkInvitation {
            from_member: MemberIdRole {
                member_id: g.member_id.clone(),
                member_role: g.role,
            },
            from_member_name: self.profile_in(&g).display_name,
            invited_member: MemberIdRole {
                member_id,
                member_role: role,
            },
            group_profile: g.profile.clone(),
            accepted: Some("accepted".into()),
            business: None,
            group_size: Some(members as i64),
        };
        self.accept_for_member(request, ChatEvent::GrpLinkInv(inv), &m)
            .await?;
        self.emit(Event::GroupJoinRequest(g, m)).await;
        Ok(())
    }

    /// Accepts a request to one of a group's addresses with `reply` in our confirmation: the
    /// new connection is member `m`'s.
    pub(crate) async fn accept_for_member(
        &self,
        request: u64,
        reply: ChatEvent,
        m: &Member,
    ) -> Result<()> {
        let reply = ChatMessage::new(None, reply).encode();
        let conn = self
            .inner
            .agent
            .accept(request, &reply)
            .await
            .map_err(agent_err)?;
        self.store().set_member_conn(m.group_member_id, conn)?;
        Ok(())
    }

    /// The host accepted our request through its group link (`x.grp.link.inv` in its
    /// confirmation): the group is ours to join, on this connection.
    pub(crate) async fn joined_via_link(
        &self,
        conn: u64,
        inv: GroupLinkInvitation,
        incognito: Option<Profile>,
    ) -> Result<()> {
        let from = inv.from_member.member_role;
        let role = inv.invited_member.member_role;
        // A channel's relay admits us as a subscriber (an observer).
        let known = self.store().member_by_conn(conn)?;
        if let Some(m) = known {
            let g = self.group_of(&m)?;
            if from == GroupMemberRole::Relay && self.is_channel(&g)? {
                if role != GroupMemberRole::Observer || inv.invited_member.member_id != g.member_id
                {
                    return Err(ChatError::Agent(
                        "x.grp.link.inv: the relay admits us with another id or role".into(),
                    ));
                }
                let taken = self
                    .store()
                    .member_by_member_id(g.group_id, &inv.from_member.member_id)?
                    .is_some_and(|o| o.group_member_id != m.group_member_id);
                if !taken {
                    self.store().set_member_id_role(
                        m.group_member_id,
                        &inv.from_member.member_id,
                        GroupMemberRole::Relay,
                    )?;
                }
                // Its name until its profile comes (`x.grp.link.mem`).
                let name = &inv.from_member_name;
                if !name.is_empty() && !name.chars().any(char::is_control) {
                    let p = Profile {
                        display_name: name.clone(),
                        ..Profile::default()
                    };
                    self.store().set_member_profile(&m, &p)?;
                }
                return self
                    .inner
                    .agent
                    .allow(conn, &self.info_as(g.incognito.as_deref()))
                    .await
                    .map_err(agent_err);
            }
        }
        if from < GroupMemberRole::Admin || role > GroupMemberRole::Member || from < role {
            return Err(ChatError::Agent(format!(
                "x.grp.link.inv: a {} cannot admit a {}",
                from.name(),
                role.name()
            )));
        }
        // Pending approval or the admins' review when the host or the group says so.
        let status =
            crate::admission::acceptance_status(&inv.group_profile, inv.accepted.as_deref())?;
        // Business data that does not fit the invitation is left out (joined as a group).
        let business = match Self::invited_business(&inv) {
            Ok(b) => b,
            Err(e) => {
                self.emit(Event::Error(e.to_string())).await;
                None
            }
        };
        if self.store().member_by_conn(conn)?.is_none() {
            let host_profile = Profile {
                display_name: inv.from_member_name.clone(),
                full_name: String::new(),
                ..Profile::default()
            };
            let (g, card) = {
                let mut store = self.store();
                // A prepared contact whose address answered as a business: the business chat
                // replaces its card (the reference's `deleteContactCardKeepConn`).
                // (Deleted first: the chat may take the name the card had.)
                let card = match store.pending_contact(conn)? {
                    Some(id) => store.contact(id)?,
                    None => None,
                };
                if let Some(c) = &card {
                    store.detach_pending_contact(conn)?;
                    store.delete_contact(c.contact_id, None, None)?;
                }
                // Joined for a prepared group: that group is the one joined.
                let g = match store.pending_group(conn)? {
                    Some(id) if store.group(id)?.is_some() => store.take_prepared_group(
                        id,
                        &inv.group_profile,
                        &inv.invited_member.member_id,
                        role,
                        status,
                    )?,
                    _ => store.add_group(
                        &inv.group_profile,
                        &inv.invited_member.member_id,
                        role,
                        status,
                        None,
                    )?,
                };
                let host = NewMember {
                    group_id: g.group_id,
                    member_id: &inv.from_member.member_id,
                    role: from,
                    category: MemberCategory::Host,
                    status: MemberStatus::Accepted,
                    profile: &host_profile,
                    conn_id: Some(conn),
                    contact_id: None,
                    invited_by: None,
                };
                // A prepared group's welcome message came from a stand-in for the host: the
                // host is it (its edit of the welcome message finds it).
                match store.host_stand_in(g.group_id)? {
                    Some(s) => store.adopt_host_stand_in(&s, &host)?,
                    None => store.add_member(&host)?,
                };
                // The link it was joined by: its plan says the group is known from now on.
                if let Some((_, Some(link), _)) = store.pending_conn(conn)? {
                    store.set_group_via_link(g.group_id, &link)?;
                }
                store.delete_pending(conn)?;
                if let Some(p) = &incognito {
                    store.set_group_incognito(g.group_id, p)?;
                }
                if let Some(b) = &business {
                    store.set_group_business(g.group_id, b)?;
                }
                let g = Group {
                    incognito: incognito.clone().map(Box::new),
                    business: business.map(Box::new),
                    ..g
                };
                (g, card.map(Box::new))
            };
            self.emit(Event::GroupLinkJoining(g, card)).await;
        }
        self.inner
            .agent
            .allow(conn, &self.info_as(incognito.as_ref()))
            .await
            .map_err(agent_err)
    }

    /// `x.grp.link.reject`: the group's admins refused our request through its link (the
    /// reference's hosts refuse a name they do not take). As the reference's, the group is
    /// kept with our membership `rejected` - a prepared group becomes it, a link joined with
    /// `/c` makes one - and its host is known by a name made of its member id; the connection
    /// goes (nothing more comes on it). `groupLinkConnecting` tells a bot (the membership's
    /// status says why), the terminal prints the reason. Joining again takes deleting the
    /// group (`/d #team`) first, as the reference's.
    pub(crate) async fn rejected_via_link(
        &self,
        conn: u64,
        rejection: serde_json::Value,
    ) -> Result<()> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Rejection {
            from_member: MemberIdRole,
            invited_member: MemberIdRole,
            group_profile: crate::protocol::GroupProfile,
            #[serde(default)]
            rejection_reason: serde_json::Value,
        }
        let parsed = serde_json::from_value::<Rejection>(rejection);
        // Nothing more comes on the connection, whatever the rejection says.
        let prepared = self.store().pending_group(conn)?;
        let link = self.store().pending_conn(conn)?.and_then(|(_, l, _)| l);
        let incognito = self.store().pending_incognito(conn)?;
        self.store().delete_pending(conn)?;
        let _ = self.inner.agent.delete_connection(conn).await;
        let r = parsed.map_err(|e| ChatError::Agent(format!("x.grp.link.reject: {e}")))?;
        let reason = match &r.rejection_reason {
            serde_json::Value::Object(o) => o
                .get("type")
                .and_then(|t| t.as_str())
                .map(|t| t.chars().filter(|c| !c.is_control()).take(64).collect())
                .unwrap_or_default(),
            _ => String::new(),
        };
        let g = {
            let store = self.store();
            let prepared = match prepared {
                Some(id) => store.group(id)?,
                None => None,
            };
            let g = match prepared {
                Some(p) => {
                    // Its name as the link's data gave it, unless the host sent a valid one.
                    let profile = if crate::groups::valid_group_name(&r.group_profile.display_name)
                    {
                        &r.group_profile
                    } else {
                        &p.profile
                    };
                    store.take_prepared_group(
                        p.group_id,
                        profile,
                        &r.invited_member.member_id,
                        r.invited_member.member_role,
                        MemberStatus::Rejected,
                    )?
                }
                None if crate::groups::valid_group_name(&r.group_profile.display_name) => store
                    .add_group(
                        &r.group_profile,
                        &r.invited_member.member_id,
                        r.invited_member.member_role,
                        MemberStatus::Rejected,
                        None,
                    )?,
                None => {
                    return Err(ChatError::InvalidName(r.group_profile.display_name.clone()));
                }
            };
            let name = host_name_from_id(&r.from_member.member_id);
            let host_profile = Profile {
                display_name: name,
                ..Profile::default()
            };
            let host = NewMember {
                group_id: g.group_id,
                member_id: &r.from_member.member_id,
                role: r.from_member.member_role,
                category: MemberCategory::Host,
                status: MemberStatus::Accepted,
                profile: &host_profile,
                conn_id: None,
                contact_id: None,
                invited_by: None,
            };
            match store.host_stand_in(g.group_id)? {
                Some(s) => store.adopt_host_stand_in(&s, &host)?,
                None => store.add_member(&host)?,
            };
            if let Some(link) = &link {
                store.set_group_via_link(g.group_id, link)?;
            }
            if let Some(p) = &incognito {
                store.set_group_incognito(g.group_id, p)?;
            }
            Group {
                incognito: incognito.map(Box::new),
                ..g
            }
        };
        self.emit(Event::GroupLinkJoining(g.clone(), None)).await;
        self.emit(Event::GroupLinkRejected { group: g, reason })
            .await;
        Ok(())
    }

    /// `x.grp.link.mem` from the host that admitted us through its link: its profile (a
    /// business chat's name too, when the host is the business).
    pub(crate) async fn host_profile_received(
        &self,
        g: &Group,
        m: &Member,
        profile: Profile,
    ) -> Result<()> {
        if m.category != MemberCategory::Host {
            return Err(ChatError::Agent(
                "x.grp.link.mem can be only sent by the host".into(),
            ));
        }
        self.store().set_member_profile(m, &profile)?;
        self.business_title_changed(g, m, &profile).await
    }

    /// Once a member who joined through our link is connected: our profile first (it knows
    /// only our name).
    pub(crate) async fn send_link_host_profile(&self, m: &Member) -> Result<()> {
        if !self.store().joined_via_link(m.group_member_id)? {
            return Ok(());
        }
        if let Some(conn) = m.conn_id {
            let g = self.group_of(m)?;
            self.send_event(
                conn,
                ChatEvent::GrpLinkMem {
                    profile: self.profile_in(&g),
                },
            )
            .await?;
        }
        Ok(())
    }
}
