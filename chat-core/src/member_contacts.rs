//! Direct contacts with group members (chat v2, `x.grp.direct.inv`).
//!
//! `@bob hi` to someone who is only a member of one of our groups (or `@#team bob hi`) makes a
//! contact for the member: a new invitation connection whose link goes to the member over the
//! group connection, with the first message (`x.grp.direct.inv {connReq, content}`). The API's
//! steps are `/_create member contact #G M` then `/_invite member contact @C [text T]`.
//!
//! The member's side makes a contact too, with the link kept. It joins the link at once when
//! the user accepts members' contacts automatically (`/set accept member contacts on`, off by
//! default, as the reference's), else when the user accepts (`/_accept member contact @C`).
//! When both sides invited each other before either invitation arrived, the side that got the
//! greater link joins it and the other waits (the reference's rule). A member who is already
//! a working contact cannot replace it.
//!
//! ```text
//! contacts.grp_inv_link  -- the link: ours to send, or the member's to join
//! contacts.grp_inv       -- created | sent | received | accepted
//! ```

use rusqlite::{params, OptionalExtension};

use crate::chat::{agent_err, new_shared_msg_id, Chat, ChatError, Event, Response};
use crate::group_store::{Group, Member};
use crate::protocol::{ChatEvent, ChatMessage, GroupMemberRole, MsgContent, Profile};
use crate::store::{now_ms, profile_json, ChatStore, Contact, NewItem, StoreError};

type Result<T> = std::result::Result<T, ChatError>;

/// The settings key of accepting members' contacts at once (`on`/`off`, off by default).
pub(crate) const AUTO_ACCEPT_SETTING: &str = "auto_accept_member_contacts";

/// The longest invitation link kept from a member (a real one is under 2,000 characters).
const MAX_LINK: usize = 8 * 1024;

/// Where a member's contact stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invitation {
    /// Our invitation made, not sent yet.
    Created,
    /// Our invitation sent to the member.
    Sent,
    /// The member's invitation received, not joined.
    Received,
    /// The member's invitation joined.
    Accepted,
}

impl Invitation {
    fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Sent => "sent",
            Self::Received => "received",
            Self::Accepted => "accepted",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "created" => Self::Created,
            "sent" => Self::Sent,
            "received" => Self::Received,
            "accepted" => Self::Accepted,
            _ => return None,
        })
    }
}

fn command_error(msg: &str) -> ChatError {
    ChatError::BadCommand(msg.into())
}

impl ChatStore {
    /// A contact for a group member, called as the member is here, with the invitation link;
    /// the member is that contact from now on.
    pub fn add_member_contact(
        &mut self,
        m: &Member,
        conn: Option<u64>,
        link: &str,
        state: Invitation,
        incognito: Option<&Profile>,
    ) -> std::result::Result<Contact, StoreError> {
        // The member's name is free among contacts unless a contact took it since.
        let name = match self.contact_by_name(&m.local_name)? {
            None => m.local_name.clone(),
            Some(_) => self.unique_name(&m.profile.display_name)?,
        };
        let incognito_json = incognito.map(profile_json).transpose()?;
        let base = self.id_base;
        let tx = self.db.transaction()?;
        let next = crate::store::next_contact_id(&tx, base)?;
        let created_at = now_ms();
        tx.execute(
            "INSERT INTO contacts (contact_id, local_name, profile, conn_id, ready, created_at,
                                   incognito, grp_inv_link, grp_inv)
             VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6, ?7, ?8)",
            params![
                next,
                name,
                profile_json(&m.profile)?,
                conn.map(|c| c as i64),
                created_at,
                incognito_json,
                link,
                state.as_str()
            ],
        )?;
        tx.execute(
            "UPDATE group_members SET contact_id = ?1 WHERE group_member_id = ?2",
            params![next, m.group_member_id],
        )?;
        tx.commit()?;
        Ok(Contact {
            contact_id: next,
            local_name: name,
            profile: m.profile.clone(),
            conn_id: conn,
            ready: false,
            created_at,
            deleted_by_contact: false,
            incognito: incognito.cloned(),
            custom_data: None,
            local_alias: String::new(),
            user_prefs: None,
            own_prefs: self.own_prefs.clone(),
            muted: false,
            flags: crate::store::ChatFlags::default(),
            auth_errors: 0,
            tags: Vec::new(),
            ui_themes: None,
        })
    }

    /// A member's contact's invitation: the link and where it stands.
    pub fn member_contact_invitation(
        &self,
        contact_id: i64,
    ) -> std::result::Result<Option<(String, Invitation)>, StoreError> {
        let row: Option<(Option<String>, Option<String>)> = self
            .db
            .query_row(
                "SELECT grp_inv_link, grp_inv FROM contacts WHERE contact_id = ?1",
                [contact_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(match row {
            Some((Some(link), Some(state))) => Some((
                link,
                Invitation::parse(&state).ok_or(StoreError::Corrupt("contacts.grp_inv"))?,
            )),
            _ => None,
        })
    }

    /// The invitation's new state.
    pub fn set_member_contact_invitation(
        &self,
        contact_id: i64,
        state: Invitation,
    ) -> std::result::Result<(), StoreError> {
        self.db.execute(
            "UPDATE contacts SET grp_inv = ?2 WHERE contact_id = ?1",
            params![contact_id, state.as_str()],
        )?;
        Ok(())
    }

    /// A contact made again from a member's invitation (one deleted, or whose own invitation
    /// lost to the member's): no connection until the link is joined.
    pub fn renew_member_contact(
        &self,
        contact_id: i64,
        link: &str,
    ) -> std::result::Result<(), StoreError> {
        self.db.execute(
            "UPDATE contacts SET conn_id = NULL, ready = 0, deleted_by_contact = 0,
                                 grp_inv_link = ?2, grp_inv = 'received'
             WHERE contact_id = ?1",
            params![contact_id, link],
        )?;
        Ok(())
    }

    /// A contact's agent connection.
    pub fn set_contact_conn(
        &self,
        contact_id: i64,
        conn: u64,
    ) -> std::result::Result<(), StoreError> {
        self.db.execute(
            "UPDATE contacts SET conn_id = ?2 WHERE contact_id = ?1",
            params![contact_id, conn as i64],
        )?;
        Ok(())
    }

    /// The member a contact was made for (the first one, when it is a member of several
    /// groups).
    pub fn member_of_contact(
        &self,
        contact_id: i64,
    ) -> std::result::Result<Option<Member>, StoreError> {
        Ok(self
            .members_where(
                "contact_id = ?1 AND conn_id IS NOT NULL ORDER BY group_member_id",
                &[&contact_id],
            )?
            .into_iter()
            .next())
    }

    /// The members called `name` here who are no contact.
    pub fn members_named(&self, name: &str) -> std::result::Result<Vec<Member>, StoreError> {
        self.members_where(
            "local_name = ?1 AND contact_id IS NULL ORDER BY group_member_id",
            &[&name],
        )
    }
}

impl Chat {
    /// Whether members' contacts are accepted at once.
    pub(crate) fn auto_accept_member_contacts(&self) -> bool {
        matches!(
            self.store()
                .setting(AUTO_ACCEPT_SETTING)
                .ok()
                .flatten()
                .as_deref(),
            Some("on")
        )
    }

    /// `/set accept member contacts on|off`.
    pub(crate) fn set_auto_accept_member_contacts(&self, on: bool) -> Result<Response> {
        self.store()
            .set_setting(AUTO_ACCEPT_SETTING, Some(if on { "on" } else { "off" }))?;
        Ok(Response::Ok)
    }

    /// `/_create member contact #G M`.
    pub(crate) async fn create_member_contact(
        &self,
        group_id: i64,
        group_member_id: i64,
    ) -> Result<Response> {
        use crate::command::ContactName;
        let (g, m, _) =
            self.connected_member(ContactName::Id(group_id), ContactName::Id(group_member_id))?;
        let contact = self.new_member_contact(&g, &m).await?;
        Ok(Response::MemberContactCreated {
            group: g,
            member: m,
            contact,
        })
    }

    /// A contact for a member, with our invitation made (not sent yet).
    async fn new_member_contact(&self, g: &Group, m: &Member) -> Result<Contact> {
        if g.role < GroupMemberRole::Author {
            return Err(ChatError::GroupRole(
                g.local_name.clone(),
                GroupMemberRole::Author,
            ));
        }
        let direct = crate::group_prefs::feature("directMessages")
            .is_some_and(|f| crate::group_prefs::allowed(&g.profile, f, g.role));
        if !direct {
            return Err(command_error("direct messages not allowed"));
        }
        if m.contact_id.is_some() {
            return Err(command_error("member contact already exists"));
        }
        let (conn, link) = self
            .inner
            .agent
            .create_invitation()
            .await
            .map_err(agent_err)?;
        let contact = self.store().add_member_contact(
            m,
            Some(conn),
            &link,
            Invitation::Created,
            g.incognito.as_deref(),
        )?;
        Ok(contact)
    }

    /// `/_invite member contact @C [text T]`: the invitation (with a first message) to the
    /// member over the group's connection.
    pub(crate) async fn invite_member_contact(
        &self,
        contact_id: i64,
        content: Option<MsgContent>,
    ) -> Result<Response> {
        let contact = self.contact_by_id(contact_id)?;
        let (link, state) = self
            .store()
            .member_contact_invitation(contact_id)?
            .ok_or_else(|| command_error("not a group member's contact"))?;
        if state != Invitation::Created {
            return Err(command_error("x.grp.direct.inv already sent"));
        }
        let m = self
            .store()
            .member_of_contact(contact_id)?
            .ok_or_else(|| command_error("the member is not connected"))?;
        let g = self.group_of(&m)?;
        let conn = m
            .conn_id
            .ok_or_else(|| command_error("the member is not connected"))?;
        let id = new_shared_msg_id();
        let msg = ChatMessage::new(
            Some(id.clone()),
            ChatEvent::GrpDirectInv {
                conn_req: link,
                content: content.clone(),
                scope: None,
            },
        );
        self.send_body(conn, &msg.encode())
            .await
            .map_err(agent_err)?;
        let item = {
            let store = self.store();
            store.set_member_contact_invitation(contact_id, Invitation::Sent)?;
            content
                .as_ref()
                .map(|c| {
                    store.add_item(&NewItem {
                        contact_id,
                        sent: true,
                        shared_msg_id: Some(&id.0),
                        agent_msg_id: None,
                        content: c,
                        quote: None,
                        edited: false,
                    })
                })
                .transpose()?
        };
        if let Some(item) = item {
            self.emit(Event::ItemSent(contact.clone(), item)).await;
        }
        Ok(Response::MemberContactInvited {
            group: g,
            member: m,
            contact,
        })
    }

    /// `@name text` where no contact is called so: to the one member called so, through a
    /// new contact with it.
    pub(crate) async fn send_text_to(&self, to: String, text: String) -> Result<Response> {
        let contact = self.store().contact_by_name(&to)?;
        if let Some(c) = contact {
            return self.send_content(c, MsgContent::text(text), None).await;
        }
        let mut found = Vec::new();
        let members = self.store().members_named(&to)?;
        for m in members {
            if m.conn_id.is_none() || !m.status.is_current() {
                continue;
            }
            let g = self.group_of(&m)?;
            if g.status.is_current() {
                found.push((g, m));
            }
        }
        match found.len() {
            0 => Err(ChatError::NoContact(to)),
            1 => {
                let (g, m) = found.remove(0);
                self.send_to_member(g, m, text).await
            }
            _ => Err(ChatError::NoContactButMember(
                to,
                found.remove(0).0.local_name,
            )),
        }
    }

    /// `@#team bob text`: to a member, through its contact (made first when there is none).
    pub(crate) async fn send_member_text(
        &self,
        group: String,
        member: String,
        text: String,
    ) -> Result<Response> {
        use crate::command::ContactName;
        let (g, m, _) =
            self.connected_member(ContactName::Name(group), ContactName::Name(member))?;
        self.send_to_member(g, m, text).await
    }

    async fn send_to_member(&self, g: Group, m: Member, text: String) -> Result<Response> {
        if let Some(id) = m.contact_id {
            let c = self.contact_by_id(id)?;
            return self.send_content(c, MsgContent::text(text), None).await;
        }
        self.emit(Event::NoMemberContact(g.clone(), m.clone()))
            .await;
        let contact = self.new_member_contact(&g, &m).await?;
        self.emit(Event::MemberContactCreated {
            group: g,
            member: m,
            contact: contact.clone(),
        })
        .await;
        self.invite_member_contact(contact.contact_id, Some(MsgContent::text(text)))
            .await
    }

    /// `/_accept member contact @C`: joins the member's invitation.
    pub(crate) async fn accept_member_contact(&self, contact_id: i64) -> Result<Response> {
        let contact = self.contact_by_id(contact_id)?;
        let invitation = self.store().member_contact_invitation(contact_id)?;
        match invitation {
            Some((link, Invitation::Received)) => {
                let contact = self.join_member_contact(contact, &link).await?;
                Ok(Response::MemberContactAccepted(contact))
            }
            Some((_, Invitation::Accepted)) => Err(command_error("contact already accepted")),
            _ => Err(command_error("no invitation from a group member to accept")),
        }
    }

    async fn join_member_contact(&self, mut contact: Contact, link: &str) -> Result<Contact> {
        let info = self.info_as(contact.incognito.as_ref());
        let conn = self
            .inner
            .agent
            .join(link, &info)
            .await
            .map_err(agent_err)?;
        let store = self.store();
        store.set_contact_conn(contact.contact_id, conn)?;
        store.set_member_contact_invitation(contact.contact_id, Invitation::Accepted)?;
        contact.conn_id = Some(conn);
        Ok(contact)
    }

    /// A member's `x.grp.direct.inv` (never forwarded: it is for us alone).
    pub(crate) async fn member_direct_invitation(
        &self,
        g: &Group,
        m: &Member,
        link: String,
        content: Option<MsgContent>,
        shared_msg_id: Option<&[u8]>,
    ) -> Result<()> {
        let direct = crate::group_prefs::feature("directMessages")
            .is_some_and(|f| crate::group_prefs::allowed(&g.profile, f, m.role));
        if !direct {
            return Err(ChatError::Agent(
                "x.grp.direct.inv: direct messages not allowed".into(),
            ));
        }
        if m.blocked_by_admin || !m.show_messages {
            return Ok(()); // a blocked member's invitation is ignored
        }
        if link.len() > MAX_LINK {
            return Err(ChatError::Agent("x.grp.direct.inv: link too long".into()));
        }
        let existing = match m.contact_id {
            Some(id) => self.store().contact(id)?,
            None => None,
        };
        // Whether we join the member's link (else we wait for the member to join ours).
        let (contact, join) = match existing {
            None => {
                let c = self.store().add_member_contact(
                    m,
                    None,
                    &link,
                    Invitation::Received,
                    g.incognito.as_deref(),
                )?;
                (c, true)
            }
            Some(c) if c.ready && !c.deleted_by_contact => {
                return Err(ChatError::Agent(format!(
                    "x.grp.direct.inv: {} is a contact already",
                    c.local_name
                )));
            }
            Some(c) => {
                let ours = self.store().member_contact_invitation(c.contact_id)?;
                // Joining its previous invitation already: a new one would only make another
                // connection (a member repeating invitations is not followed).
                if matches!(ours, Some((_, Invitation::Accepted))) && c.conn_id.is_some() {
                    return Err(ChatError::Agent(format!(
                        "x.grp.direct.inv: already connecting to {}",
                        c.local_name
                    )));
                }
                let join = match ours {
                    // Both invited each other: the greater link is joined.
                    Some((own, Invitation::Created | Invitation::Sent)) => link > own,
                    _ => true,
                };
                if join {
                    if let Some(old) = c.conn_id {
                        let _ = self.inner.agent.delete_connection(old).await;
                    }
                    self.store().renew_member_contact(c.contact_id, &link)?;
                }
                let c = self.contact_by_id(c.contact_id)?;
                (c, join)
            }
        };
        let contact = if join && self.auto_accept_member_contacts() {
            self.join_member_contact(contact, &link).await?
        } else {
            contact
        };
        self.emit(Event::MemberContactInvitation {
            group: g.clone(),
            member: m.clone(),
            contact: contact.clone(),
        })
        .await;
        if let Some(content) = content {
            let item = self.store().add_item(&NewItem {
                contact_id: contact.contact_id,
                sent: false,
                shared_msg_id,
                agent_msg_id: None,
                content: &content,
                quote: None,
                edited: false,
            })?;
            self.emit(Event::Received(contact, item)).await;
        }
        Ok(())
    }
}
