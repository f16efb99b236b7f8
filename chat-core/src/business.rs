//! Business chats, as the reference's (chat v6.2+): an address set as a business address
//! (`/auto_accept on business`, `"businessAddress": true`) answers every request with a new
//! group instead of a contact, so that the business can add its staff to the conversation.
//!
//! - The business's side: the request (`x.contact` with the customer's profile) makes a group
//!   named after the customer - its profile the customer's name, full name, short description
//!   and image, with the business preferences below - where we are the owner and the customer
//!   a member (`businessChat`: `customer`). The request is accepted at once with
//!   `x.grp.link.inv` naming the group by *our* profile and carrying `business` (`chatType`
//!   `business`, both member ids, `groupSize` 1); from then on it is a group joined through a
//!   link: our profile goes in `x.grp.link.mem` once the customer is connected, then the
//!   address's auto-reply (as a group message). The customer gets no history.
//! - The customer's side: `x.grp.link.inv` with `business` makes the group named after the
//!   business (`businessChat`: `business`).
//! - On both sides the group keeps following its "title member" (the other side): a new
//!   profile of that member renames the group and takes its image.

use crate::chat::{Chat, ChatError, Event};
use crate::group_store::{Group, Member, MemberCategory, MemberStatus, NewMember};
use crate::protocol::{
    BusinessChatInfo, BusinessChatType, ChatEvent, ChatMessage, GroupLinkInvitation,
    GroupMemberRole, GroupProfile, MemberIdRole, Profile,
};
use serde_json::{json, Value};

type Result<T> = std::result::Result<T, ChatError>;

/// The group preferences of a business chat, from the business's own preferences (the
/// reference's `businessGroupPrefs`, `defaultBusinessGroupPrefs` without them): disappearing
/// messages, full deletion, reactions and voice follow the user's preferences (off where the
/// user allows them `no`), direct messages among members off, files, links and history on,
/// reports off.
pub(crate) fn business_group_prefs(user_prefs: Option<&Value>) -> Value {
    let pref = |key: &str, default: bool| -> &'static str {
        let allowed = user_prefs
            .and_then(|p| p.get(key))
            .and_then(|p| p.get("allow"))
            .and_then(Value::as_str);
        let on = match allowed {
            Some(a) => a != "no",
            None => default,
        };
        if on {
            "on"
        } else {
            "off"
        }
    };
    json!({
        "timedMessages": {"enable": pref("timedMessages", false)},
        "directMessages": {"enable": "off"},
        "fullDelete": {"enable": pref("fullDelete", false)},
        "reactions": {"enable": pref("reactions", true)},
        "voice": {"enable": pref("voice", false)},
        "files": {"enable": "on"},
        "simplexLinks": {"enable": "on"},
        "reports": {"enable": "off"},
        "history": {"enable": "on"},
    })
}

/// A business chat's profile from a person's (the reference's `businessGroupProfile`): the
/// name, full name, short description and image - not the description, which is the chat's
/// welcome message.
pub(crate) fn business_group_profile(p: &Profile, prefs: Value) -> GroupProfile {
    GroupProfile {
        display_name: p.display_name.clone(),
        full_name: p.full_name.clone(),
        short_descr: p.short_descr.clone(),
        image: p.image.clone(),
        group_preferences: Some(prefs),
        ..GroupProfile::default()
    }
}

impl Chat {
    /// A request to our business address: a new business chat with the customer, accepted at
    /// once. A request announced again after a restart that was accepted already is left;
    /// one whose accept failed leaves no group (the next announcement tries again).
    pub(crate) async fn business_request(&self, request: u64, info: &[u8]) -> Result<()> {
        if self.store().member_by_join_request(request)?.is_some() {
            return Ok(());
        }
        let profile = Self::peer_profile(info)?;
        // The request's message and the welcome message's id (the customer has it from the
        // link's data).
        let (request_msg, welcome) = match ChatMessage::decode(info).map(|m| m.event) {
            Ok(ChatEvent::Contact {
                request_msg,
                welcome_msg_id,
                ..
            }) => (request_msg, welcome_msg_id),
            _ => (None, None),
        };
        // The chat is named after the customer: a name it can go by (shown on one line, typed).
        if profile.display_name.trim().is_empty()
            || !crate::groups::valid_group_name(&profile.display_name)
        {
            let _ = self.inner.agent.reject(request);
            return Err(ChatError::Agent(format!(
                "a request to the business address with an unusable name {:?}: rejected",
                profile.display_name
            )));
        }
        if self.store().pending_business_customers()? >= crate::groups::MAX_PENDING_LINK_JOINERS {
            let _ = self.inner.agent.reject(request);
            return Err(ChatError::Agent(format!(
                "{} customers are still connecting to the business address; a request from {} \
                 is rejected",
                crate::groups::MAX_PENDING_LINK_JOINERS,
                profile.display_name
            )));
        }
        let me = self.profile();
        let prefs = business_group_prefs(me.preferences.as_ref());
        let our_id = crate::groups::new_member_id();
        let customer_id = crate::groups::new_member_id();
        let business = BusinessChatInfo {
            chat_type: BusinessChatType::Customer,
            business_id: our_id.clone(),
            customer_id: customer_id.clone(),
        };
        // The group, its data, the customer and the request it answers: all or nothing (a
        // restart in between would leave a group the request's next announcement ignores).
        let (g, m) = {
            let store = self.store();
            let tx = store
                .db
                .unchecked_transaction()
                .map_err(crate::store::StoreError::from)?;
            let g = store.add_group(
                &business_group_profile(&profile, prefs.clone()),
                &our_id,
                GroupMemberRole::Owner,
                MemberStatus::Creator,
                None,
            )?;
            store.set_group_business(g.group_id, &business)?;
            let m = store.add_member(&NewMember {
                group_id: g.group_id,
                member_id: &customer_id,
                role: GroupMemberRole::Member,
                category: MemberCategory::Invitee,
                status: MemberStatus::Accepted,
                profile: &profile,
                conn_id: None,
                contact_id: None,
                invited_by: None,
            })?;
            store.set_join_request(m.group_member_id, request)?;
            if let Some(id) = &welcome {
                store.set_member_welcome(m.group_member_id, id)?;
            }
            tx.commit().map_err(crate::store::StoreError::from)?;
            (
                Group {
                    business: Some(Box::new(business.clone())),
                    ..g
                },
                m,
            )
        };
        let inv = GroupLinkInvitation {
            from_member: MemberIdRole {
                member_id: our_id.clone(),
                member_role: GroupMemberRole::Owner,
            },
            from_member_name: me.display_name.clone(),
            invited_member: MemberIdRole {
                member_id: customer_id.clone(),
                member_role: GroupMemberRole::Member,
            },
            group_profile: business_group_profile(&me, prefs),
            accepted: Some("accepted".into()),
            business: serde_json::to_value(BusinessChatInfo {
                chat_type: BusinessChatType::Business,
                ..business
            })
            .ok(),
            group_size: Some(1),
        };
        if let Err(e) = self
            .accept_for_member(request, ChatEvent::GrpLinkInv(inv), &m)
            .await
        {
            self.store().delete_group(g.group_id, &[])?;
            return Err(e);
        }
        // The message the request came with: the customer's, in the new chat (under the
        // customer's shared id: its edits and deletion find it).
        if let Some((id, content)) = request_msg {
            let item = self.store().add_group_item(
                g.group_id,
                Some(m.group_member_id),
                Some(&id.0),
                &content,
                None,
                None,
            )?;
            self.emit(Event::GroupReceived(g.clone(), m.clone(), item))
                .await;
        }
        self.emit(Event::AcceptingBusinessRequest(g)).await;
        Ok(())
    }

    /// The business chat data in a host's `x.grp.link.inv`, checked: the host is the business
    /// and we are the customer it names (none: not a business chat).
    pub(crate) fn invited_business(inv: &GroupLinkInvitation) -> Result<Option<BusinessChatInfo>> {
        let Some(v) = &inv.business else {
            return Ok(None);
        };
        let b: BusinessChatInfo = serde_json::from_value(v.clone())
            .map_err(|e| ChatError::Agent(format!("x.grp.link.inv: business chat data: {e}")))?;
        if b.chat_type != BusinessChatType::Business
            || b.business_id != inv.from_member.member_id
            || b.customer_id != inv.invited_member.member_id
        {
            return Err(ChatError::Agent(
                "x.grp.link.inv: the business chat data names other members".into(),
            ));
        }
        Ok(Some(b))
    }

    /// The member is the customer of our business chat (it gets no history).
    pub(crate) fn is_customer(g: &Group, m: &Member) -> bool {
        g.business.as_ref().is_some_and(|b| {
            b.chat_type == BusinessChatType::Customer && b.customer_id == m.member_id
        })
    }

    /// The address's auto-reply, in a business chat once its customer is connected.
    pub(crate) async fn business_auto_reply(&self, g: &Group, m: &Member) -> Result<()> {
        if !Self::is_customer(g, m) {
            return Ok(());
        }
        let Some(reply) = self.address_settings()?.auto_reply else {
            return Ok(());
        };
        // The customer has the welcome message from the link's data: the auto-reply goes as
        // an edit of it (bringing it up to date), to the customer only, as the reference's.
        let welcome = self.store().member_welcome(m.group_member_id)?;
        if let (Some(id), Some(conn)) = (welcome, m.conn_id) {
            let item =
                self.store()
                    .add_group_item(g.group_id, None, Some(&id.0), &reply, None, None)?;
            self.emit(Event::GroupItemSent(g.clone(), item)).await;
            let update = ChatMessage::new(
                Some(crate::chat::new_shared_msg_id()),
                ChatEvent::MsgUpdate(crate::protocol::MsgUpdate::new(id, reply)),
            );
            self.send_body(conn, &update.encode())
                .await
                .map_err(crate::chat::agent_err)?;
            return Ok(());
        }
        if let crate::chat::Response::GroupSent(g, item) =
            self.send_group_content(g.clone(), reply).await?
        {
            self.emit(Event::GroupItemSent(g, item)).await;
        }
        Ok(())
    }

    /// A member's new profile: when it is the business chat's title member, the chat takes
    /// its name, full name, short description and image (the reference's
    /// `updateGroupProfileFromMember`).
    pub(crate) async fn business_title_changed(
        &self,
        g: &Group,
        m: &Member,
        p: &Profile,
    ) -> Result<()> {
        let Some(b) = &g.business else {
            return Ok(());
        };
        if b.title_member() != &m.member_id || !crate::groups::valid_group_name(&p.display_name) {
            return Ok(());
        }
        let profile = GroupProfile {
            display_name: p.display_name.clone(),
            full_name: p.full_name.clone(),
            short_descr: p.short_descr.clone(),
            image: p.image.clone(),
            ..g.profile.clone()
        };
        // As the reference's `updateGroupProfileFromMember`: no items in the chat.
        self.group_profile_from(g, m, profile, false).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn business_prefs_follow_the_users() {
        let none = business_group_prefs(None);
        assert_eq!(none["reactions"]["enable"], "on");
        assert_eq!(none["voice"]["enable"], "off");
        assert_eq!(none["directMessages"]["enable"], "off");
        assert_eq!(none["history"]["enable"], "on");
        let user = json!({"voice": {"allow": "yes"}, "reactions": {"allow": "no"},
                          "fullDelete": {"allow": "always"}});
        let p = business_group_prefs(Some(&user));
        assert_eq!(p["voice"]["enable"], "on");
        assert_eq!(p["reactions"]["enable"], "off");
        assert_eq!(p["fullDelete"]["enable"], "on");
        assert_eq!(p["timedMessages"]["enable"], "off");
    }

    #[test]
    fn business_profile_leaves_the_description() {
        let p = Profile {
            display_name: "cath".into(),
            full_name: "Catherine".into(),
            description: Some("my bio".into()),
            image: Some("data:image/png;base64,AA==".into()),
            ..Profile::default()
        };
        let g = business_group_profile(&p, json!({}));
        assert_eq!(g.display_name, "cath");
        assert_eq!(g.full_name, "Catherine");
        assert_eq!(g.image, p.image);
        assert_eq!(g.description, None);
    }

    #[test]
    fn the_title_member_is_the_other_side() {
        let b = BusinessChatInfo {
            chat_type: BusinessChatType::Business,
            business_id: crate::protocol::B64(vec![1]),
            customer_id: crate::protocol::B64(vec![2]),
        };
        assert_eq!(b.title_member().0, vec![1]);
        let c = BusinessChatInfo {
            chat_type: BusinessChatType::Customer,
            ..b
        };
        assert_eq!(c.title_member().0, vec![2]);
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["chatType"], "customer");
    }
}
