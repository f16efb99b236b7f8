//! Joiners reviewed by the group's admins ("knocking", chat v15).
//!
//! A group whose profile says `"memberAdmission": {"review": "all"}` (`/set admission review
//! #team all`) admits a member who joins through its link pending review: the host accepts the
//! request as usual (`x.grp.link.inv` with `"accepted": "accepted"` and the profile - the
//! joiner reads the pending state from the profile, as the reference's `acceptanceToStatus`),
//! then introduces it only to the moderators and above. Until a moderator accepts it
//! (`/_accept member #G M role`, `x.grp.link.acpt {acceptance, role, memberId}` to it and to
//! the moderators), it talks with them only, in its support chat: messages with the scope
//! `{"type": "member", "memberId": <its member id>}`, shown `#team (support) ...` on its side
//! and `#team (support: cath) ...` on the admins'. Once accepted, the host introduces it to the
//! rest of the group and sends the history.
//!
//! A host may also hold a joiner pending approval (`"accepted": "pending"`, a bot's captcha):
//! the same support chat, ended by `x.grp.link.acpt` (accepted, or moved on to the review).

use serde_json::{json, Value};

use crate::chat::{new_shared_msg_id, Chat, ChatError, Event, Response};
use crate::group_store::{Group, Member, MemberCategory, MemberStatus};
use crate::protocol::{
    ChatEvent, ChatMessage, GroupMemberRole, GroupProfile, MemberId, MsgContainer,
};
use crate::store::ItemScope;

type Result<T> = std::result::Result<T, ChatError>;

/// The group reviews every joiner (`memberAdmission.review` is `all`).
pub fn review_on(p: &GroupProfile) -> bool {
    p.member_admission
        .as_ref()
        .and_then(|a| a.get("review"))
        .and_then(Value::as_str)
        == Some("all")
}

/// The profile with the review on or off.
pub fn with_review(p: &GroupProfile, on: bool) -> GroupProfile {
    let mut admission = match &p.member_admission {
        Some(Value::Object(o)) => o.clone(),
        _ => serde_json::Map::new(),
    };
    if on {
        admission.insert("review".into(), "all".into());
    } else {
        admission.remove("review");
    }
    GroupProfile {
        member_admission: (!admission.is_empty()).then_some(Value::Object(admission)),
        ..p.clone()
    }
}

/// Our membership's status from the host's acceptance (`x.grp.link.inv`'s `accepted`) and the
/// group's admission rules.
pub(crate) fn acceptance_status(p: &GroupProfile, accepted: Option<&str>) -> Result<MemberStatus> {
    Ok(match accepted {
        None => MemberStatus::Accepted,
        Some("accepted") if review_on(p) => MemberStatus::PendingReview,
        Some("accepted") => MemberStatus::Accepted,
        Some("pending") => MemberStatus::PendingApproval,
        Some("pending_review") => MemberStatus::PendingReview,
        Some(other) => {
            return Err(ChatError::Agent(format!(
                "x.grp.link.inv: unknown acceptance {other:?}"
            )))
        }
    })
}

/// The member a message's scope names (`{"type": "member", "memberId": ...}`): whose support
/// chat the message is in.
pub(crate) fn scope_member(scope: Option<&Value>) -> Result<Option<MemberId>> {
    let Some(s) = scope else {
        return Ok(None);
    };
    match s.get("type").and_then(Value::as_str) {
        Some("member") => serde_json::from_value(s.get("memberId").cloned().unwrap_or_default())
            .map(Some)
            .map_err(|_| ChatError::Agent("a message scope without its member".into())),
        _ => Err(ChatError::Agent(format!("unknown message scope {s}"))),
    }
}

/// The scope of a member's support chat.
pub(crate) fn scope_of(member_id: &MemberId) -> Value {
    json!({"type": "member", "memberId": member_id})
}

/// The members of a support chat (the member whose chat it is, if connected or pending, and
/// the connected moderators) and the scope its messages carry.
#[derive(Clone, Debug)]
pub(crate) struct SupportAudience {
    /// `{"type": "member", "memberId": ...}` for the messages.
    pub scope: Value,
    /// The scope its items keep here.
    pub item_scope: ItemScope,
    /// Who gets its messages.
    pub recipients: Vec<Member>,
}

fn moderator(role: GroupMemberRole) -> bool {
    role >= GroupMemberRole::Moderator
}

impl Chat {
    /// The support chat a message from `m` with `scope` goes in: none for the group's chat;
    /// an error for one that should not come (a pending member writing to the group, a member
    /// writing in another's support chat).
    pub(crate) fn received_scope(
        &self,
        g: &Group,
        m: &Member,
        scope: Option<&Value>,
    ) -> Result<Option<ItemScope>> {
        let Some(id) = scope_member(scope)? else {
            if m.status.is_pending() {
                return Err(ChatError::Agent(format!(
                    "{} is pending review: messages to the group are not taken",
                    m.local_name
                )));
            }
            return Ok(None);
        };
        if id == g.member_id {
            // Our support chat: the admins write to us.
            if !moderator(m.role) {
                return Err(ChatError::GroupContactRole(m.local_name.clone()));
            }
            return Ok(Some(ItemScope {
                member: None,
                name: None,
            }));
        }
        if !moderator(g.role) {
            return Err(ChatError::Agent(
                "a message in another member's support chat".into(),
            ));
        }
        let whose = if id == m.member_id {
            m.clone()
        } else if moderator(m.role) {
            self.store()
                .member_by_member_id(g.group_id, &id)?
                .ok_or_else(|| ChatError::Agent("a support chat of an unknown member".into()))?
        } else {
            return Err(ChatError::GroupContactRole(m.local_name.clone()));
        };
        Ok(Some(ItemScope {
            member: Some(whose.group_member_id),
            name: Some(whose.local_name),
        }))
    }

    /// Who writes and reads a support chat: ours with the admins (`whose` none), or - we a
    /// moderator - a member's. Checks that we may write in it.
    pub(crate) fn support_audience(
        &self,
        g: &Group,
        whose: Option<&Member>,
    ) -> Result<SupportAudience> {
        // Pending, we still talk with the admins.
        if !g.status.is_pending() {
            crate::groups::check_current(g)?;
        }
        let (member_id, item_scope) = match whose {
            None => (
                g.member_id.clone(),
                ItemScope {
                    member: None,
                    name: None,
                },
            ),
            Some(w) => {
                if !moderator(g.role) {
                    return Err(ChatError::GroupRole(
                        g.local_name.clone(),
                        GroupMemberRole::Moderator,
                    ));
                }
                (
                    w.member_id.clone(),
                    ItemScope {
                        member: Some(w.group_member_id),
                        name: Some(w.local_name.clone()),
                    },
                )
            }
        };
        let recipients = self
            .store()
            .members(g.group_id)?
            .into_iter()
            .filter(|o| o.conn_id.is_some())
            .filter(|o| match whose {
                Some(w) if o.group_member_id == w.group_member_id => {
                    o.status == MemberStatus::Connected || o.status.is_pending()
                }
                _ => o.status == MemberStatus::Connected && moderator(o.role),
            })
            .collect();
        Ok(SupportAudience {
            scope: scope_of(&member_id),
            item_scope,
            recipients,
        })
    }

    /// The support chat one of the group's items is in, if it is in one (its edits,
    /// deletion and reactions go to that chat's members only).
    pub(crate) fn item_audience(
        &self,
        g: &Group,
        item: &crate::store::ChatItem,
    ) -> Result<Option<SupportAudience>> {
        let Some(scope) = &item.scope else {
            return Ok(None);
        };
        let whose = match scope.member {
            None => None,
            Some(id) => Some(
                self.store()
                    .member(id)?
                    .ok_or_else(|| ChatError::NotGroupMember(id.to_string()))?,
            ),
        };
        self.support_audience(g, whose.as_ref()).map(Some)
    }

    /// Sends an encoded message to a support chat's members: each one's agent message id (none
    /// where it could not be sent - reported; the others still get it).
    pub(crate) async fn send_to_audience(
        &self,
        g: &Group,
        audience: &SupportAudience,
        body: &[u8],
    ) -> Vec<(Member, Option<i64>)> {
        let mut sent = Vec::with_capacity(audience.recipients.len());
        for r in &audience.recipients {
            let Some(conn) = r.conn_id else { continue };
            let id = match self.send_body(conn, body).await {
                Ok(id) => Some(id),
                Err(e) => {
                    self.emit(Event::Error(format!(
                        "#{} {}: {e}",
                        g.local_name, r.local_name
                    )))
                    .await;
                    None
                }
            };
            sent.push((r.clone(), id));
        }
        sent
    }

    /// `#team (support) text` (ours with the admins; also any message while we are pending)
    /// or `#team (support: cath) text` (an admin to a member), or a message of `/_send
    /// #G(_support[:M])` with what it quotes: to the member and the group's moderators only.
    pub(crate) async fn send_support(
        &self,
        g: Group,
        whose: Option<Member>,
        container: MsgContainer,
        quote: Option<&crate::store::ItemQuote>,
    ) -> Result<Response> {
        let audience = self.support_audience(&g, whose.as_ref())?;
        let id = new_shared_msg_id();
        let mut container = container;
        container.scope = Some(audience.scope.clone());
        // A support chat has no disappearing or live messages here.
        container.ttl = None;
        container.live = None;
        let item = {
            let store = self.store();
            let item = store.add_group_item(
                g.group_id,
                None,
                Some(&id.0),
                &container.content,
                quote,
                None,
            )?;
            store.set_item_scope(item.item_id, &audience.item_scope)?;
            store.set_item_mentions(
                item.item_id,
                &crate::mentions::member_ids(&container.mentions),
            )?;
            crate::store::ChatItem {
                scope: Some(audience.item_scope.clone()),
                ..item
            }
        };
        let body = ChatMessage::new(Some(id), ChatEvent::MsgNew(container)).encode();
        let sent = self.send_to_audience(&g, &audience, &body).await;
        self.keep_group_deliveries(&g, item.item_id, &sent)?;
        Ok(Response::GroupSent(g, item))
    }

    /// `#team (support...) text`: the support chat a group message names, if it names one.
    pub(crate) fn support_target<'t>(
        &self,
        g: &Group,
        text: &'t str,
    ) -> Result<Option<(Option<Member>, &'t str)>> {
        if let Some(rest) = text.strip_prefix("(support) ") {
            return Ok(Some((None, rest)));
        }
        if let Some(rest) = text.strip_prefix("(support: ") {
            if let Some((name, rest)) = rest.split_once(") ") {
                let m = self.member_named(g, name)?;
                return Ok(Some((Some(m), rest)));
            }
        }
        Ok(None)
    }

    /// `/set admission review #team all|off`: the group's profile with the review on or off,
    /// sent to its members as any profile change.
    pub(crate) async fn set_admission_review(&self, group: String, on: bool) -> Result<Response> {
        let g = self.group_named(&group)?;
        let profile = with_review(&g.profile, on);
        self.update_group_profile(g, profile).await
    }

    /// `/_accept member #G M role`: a moderator accepts a member pending review (or a host one
    /// pending approval): it is told, the moderators are told, and the host introduces it to
    /// the rest of the group.
    pub(crate) async fn accept_member(
        &self,
        group_id: i64,
        group_member_id: i64,
        role: GroupMemberRole,
    ) -> Result<Response> {
        let g = self.group_by_id(group_id)?;
        crate::groups::check_current(&g)?;
        if !moderator(g.role) {
            return Err(ChatError::GroupRole(
                g.local_name.clone(),
                GroupMemberRole::Moderator,
            ));
        }
        if role > g.role || role > GroupMemberRole::Member && g.role < GroupMemberRole::Admin {
            return Err(ChatError::GroupRole(g.local_name.clone(), role));
        }
        let m = self
            .store()
            .member(group_member_id)?
            .filter(|m| m.group_id == g.group_id)
            .ok_or_else(|| ChatError::NotGroupMember(group_member_id.to_string()))?;
        let ours = m.category == MemberCategory::Invitee;
        match m.status {
            MemberStatus::PendingReview => {}
            MemberStatus::PendingApproval if ours => {}
            _ => return Err(ChatError::BadCommand(
                "member should be pending approval and invitee, or pending review and not invitee"
                    .into(),
            )),
        }
        let connected =
            self.store().member_admission(m.group_member_id)?.as_deref() == Some("connected");
        if ours && !connected {
            return Err(ChatError::BadCommand(
                "the member is not connected yet".into(),
            ));
        }
        let accept = ChatMessage::new(
            Some(new_shared_msg_id()),
            ChatEvent::GrpLinkAcpt {
                acceptance: "accepted".into(),
                role,
                member_id: m.member_id.clone(),
            },
        )
        .encode();
        // To the member and to the moderators (who keep its support chat).
        let members = self.store().members(g.group_id)?;
        for o in &members {
            let to = o.group_member_id == m.group_member_id
                || (o.status == MemberStatus::Connected && moderator(o.role));
            if let (true, Some(conn)) = (to, o.conn_id) {
                if let Err(e) = self.send_body(conn, &accept).await {
                    self.emit(Event::Error(format!(
                        "#{} {}: {e}",
                        g.local_name, o.local_name
                    )))
                    .await;
                }
            }
        }
        // Ours is connected (checked above); one another admin introduced may still be
        // connecting to us.
        let status = if ours || m.conn_id.is_some() {
            MemberStatus::Connected
        } else {
            MemberStatus::Announced
        };
        {
            let store = self.store();
            store.set_member_role(m.group_member_id, role)?;
            store.set_member_status(m.group_member_id, status)?;
            store.set_member_admission(m.group_member_id, None)?;
        }
        let m = Member { role, status, ..m };
        let accepted = [crate::group_events::member_accepted(
            m.group_member_id,
            &m.profile,
            true,
        )];
        self.add_support_info(&g, None, Some(&m), &accepted).await?;
        if ours {
            let upto = self.store().last_group_item_id(g.group_id)?;
            self.store()
                .set_introducing(m.group_member_id, Some(upto))?;
            self.finish_accepted_introduction(&g, &m, upto).await?;
        }
        Ok(Response::MemberAccepted(g, m))
    }

    /// `x.grp.link.acpt` from a moderator: we are accepted (or moved on to the review), or,
    /// as a moderator, another member is.
    pub(crate) async fn link_accepted(
        &self,
        g: &Group,
        by: &Member,
        acceptance: &str,
        role: GroupMemberRole,
        member_id: &MemberId,
    ) -> Result<()> {
        // A moderator admits with a role up to its own.
        if !moderator(by.role) || role > by.role {
            return Err(ChatError::GroupContactRole(by.local_name.clone()));
        }
        let status = match acceptance {
            "accepted" => MemberStatus::Connected,
            "pending_review" => MemberStatus::PendingReview,
            other => {
                return Err(ChatError::Agent(format!(
                    "x.grp.link.acpt: unknown acceptance {other:?}"
                )))
            }
        };
        if *member_id == g.member_id {
            if !g.status.is_pending() {
                return Ok(()); // accepted already
            }
            {
                let store = self.store();
                store.set_group_status(g.group_id, status)?;
                store.set_group_role(g.group_id, role)?;
            }
            let g = self.group_by_id(g.group_id)?;
            if status == MemberStatus::Connected {
                let accepted = [crate::group_events::user_accepted()];
                self.add_support_info(&g, Some(by), None, &accepted).await?;
            }
            self.emit(Event::UserAccepted {
                group: g,
                by: by.clone(),
            })
            .await;
            return Ok(());
        }
        let Some(m) = self.store().member_by_member_id(g.group_id, member_id)? else {
            return Ok(()); // not known here (not introduced to us)
        };
        if !m.status.is_pending() {
            return Ok(());
        }
        let status = match status {
            MemberStatus::Connected if m.conn_id.is_none() => MemberStatus::Announced,
            s => s,
        };
        {
            let store = self.store();
            store.set_member_role(m.group_member_id, role)?;
            store.set_member_status(m.group_member_id, status)?;
        }
        let m = Member { role, status, ..m };
        self.store().set_member_admission(m.group_member_id, None)?;
        if !m.status.is_pending() {
            let accepted = [crate::group_events::member_accepted(
                m.group_member_id,
                &m.profile,
                false,
            )];
            self.add_support_info(g, Some(by), Some(&m), &accepted)
                .await?;
        }
        self.emit(Event::MemberAcceptedByOther {
            group: g.clone(),
            by: by.clone(),
            member: m.clone(),
        })
        .await;
        // Our joiner, accepted by another moderator: we introduce it to the rest.
        if m.category == MemberCategory::Invitee && m.status == MemberStatus::Connected {
            let upto = self.store().last_group_item_id(g.group_id)?;
            self.store()
                .set_introducing(m.group_member_id, Some(upto))?;
            self.finish_accepted_introduction(g, &m, upto).await?;
        }
        Ok(())
    }

    /// A member joining through our link connected while the group reviews joiners: it stays
    /// pending, known to the moderators only.
    pub(crate) async fn pending_member_connected(&self, g: &Group, m: Member) -> Result<()> {
        self.store()
            .set_member_admission(m.group_member_id, Some("connected"))?;
        // Introduced to the moderators before anyone hears of it: an acceptance the event
        // brings about at once (a bot's) would otherwise reach them before the member does,
        // and they would never see it accepted.
        let introduced = match self.send_link_host_profile(&m).await {
            Ok(()) => self.introduce_to(g, &m, true).await,
            Err(e) => Err(e),
        };
        // Its support chat starts with its arrival, before anything the event brings about.
        if m.status == MemberStatus::PendingReview {
            let wants = [crate::group_events::new_member_pending_review()];
            self.add_support_info(g, Some(&m), Some(&m), &wants).await?;
        }
        self.emit(Event::MemberJoined(g.clone(), m.clone())).await;
        introduced
    }

    async fn finish_accepted_introduction(&self, g: &Group, m: &Member, upto: i64) -> Result<()> {
        self.introduce(g, m, upto).await?;
        self.store().set_introducing(m.group_member_id, None)?;
        Ok(())
    }
}

impl crate::store::ChatStore {
    /// A member's admission state (`joining`, `connected`), while it is pending.
    pub fn member_admission(
        &self,
        group_member_id: i64,
    ) -> std::result::Result<Option<String>, crate::store::StoreError> {
        use rusqlite::OptionalExtension;
        Ok(self
            .db
            .query_row(
                "SELECT admission FROM group_members WHERE group_member_id = ?1",
                [group_member_id],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()?
            .flatten())
    }

    /// Sets (or clears) a member's admission state.
    pub fn set_member_admission(
        &self,
        group_member_id: i64,
        state: Option<&str>,
    ) -> std::result::Result<(), crate::store::StoreError> {
        self.db.execute(
            "UPDATE group_members SET admission = ?2 WHERE group_member_id = ?1",
            rusqlite::params![group_member_id, state],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(admission: Option<Value>) -> GroupProfile {
        GroupProfile {
            display_name: "team".into(),
            full_name: String::new(),
            short_descr: None,
            description: None,
            image: None,
            public_group: None,
            group_preferences: None,
            member_admission: admission,
        }
    }

    #[test]
    fn acceptance_and_the_groups_rules() {
        let open = profile(None);
        let reviewed = profile(Some(json!({"review": "all"})));
        assert!(!review_on(&open) && review_on(&reviewed));
        let status = |p: &GroupProfile, a: Option<&str>| acceptance_status(p, a).ok();
        assert_eq!(status(&open, None), Some(MemberStatus::Accepted));
        assert_eq!(
            status(&open, Some("accepted")),
            Some(MemberStatus::Accepted)
        );
        // Accepted by the host, the group still reviews (the reference's acceptanceToStatus).
        assert_eq!(
            status(&reviewed, Some("accepted")),
            Some(MemberStatus::PendingReview)
        );
        assert_eq!(
            status(&open, Some("pending")),
            Some(MemberStatus::PendingApproval)
        );
        assert_eq!(
            status(&open, Some("pending_review")),
            Some(MemberStatus::PendingReview)
        );
        assert_eq!(status(&open, Some("maybe")), None);
        // On and off, other admission fields kept.
        let other = profile(Some(json!({"other": 1})));
        let on = with_review(&other, true);
        assert_eq!(
            on.member_admission,
            Some(json!({"other": 1, "review": "all"}))
        );
        assert_eq!(
            with_review(&on, false).member_admission,
            Some(json!({"other": 1}))
        );
        assert_eq!(with_review(&reviewed, false).member_admission, None);
    }

    #[test]
    fn message_scopes() {
        let id = crate::protocol::B64(vec![1, 2, 3]);
        let s = scope_of(&id);
        assert_eq!(s["type"], "member");
        assert_eq!(scope_member(Some(&s)).ok().flatten(), Some(id));
        assert!(matches!(scope_member(None), Ok(None)));
        assert!(scope_member(Some(&json!({"type": "member"}))).is_err());
        assert!(scope_member(Some(&json!({"type": "channel"}))).is_err());
    }
}
