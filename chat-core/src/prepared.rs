//! Prepared contacts (the reference's `/_prepare contact` and `/_connect contact @N`): a
//! contact made from a link's data before any connection - its profile, the chat's first
//! items and the address's welcome message, as a plan showed them - then connected by the
//! link when the user chooses, with a first message:
//!
//! - an address's link: the request (`x.contact`) carries the message (`msgId`, `content`)
//!   and the welcome message's shared id (`welcomeMsgId`); the sent item is in the chat at
//!   once, under the same shared id the address's owner gets it with;
//! - a one-time invitation: the message is sent once the contact is connected.
//!
//! The connection started is recorded with the contact (`pending.contact_id`): when the peer
//! answers, that contact takes it over (its local name kept, its profile the peer's), instead
//! of a new contact being made.
//!
//! ```text
//! contacts.prepared    -- PreparedContact (JSON): the link, its kind, the messages' ids
//! pending.contact_id   -- the prepared contact a connection in progress is for
//! requests.request_msg -- a request's message (RequestMsg, JSON), ours to accept with it
//! ```

use rusqlite::{params, OptionalExtension};

use crate::chat::{
    agent_err, display_link, is_address_link, is_channel_link, new_shared_msg_id, Chat, ChatError,
    ContactLinkData, Event, JoinLink, LinkPlan, LinkStatus, Response,
};
use crate::protocol::{MsgContent, Profile, SharedMsgId};
use crate::store::{now_ms, profile_json, ChatItem, ChatStore, Contact, NewItem, StoreError};

type Result<T> = std::result::Result<T, ChatError>;

/// A link as the API shows a prepared contact's (`CreatedConnLink`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreparedLink {
    /// The full link.
    pub conn_full_link: String,
    /// Its short link, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conn_short_link: Option<String>,
}

/// What a prepared contact connects by (the reference's `PreparedContact`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreparedContact {
    /// The link.
    pub conn_link_to_connect: PreparedLink,
    /// `INV` (a one-time invitation) or `CON` (an address).
    pub ui_conn_link_type: String,
    /// The welcome message's shared id (the item made from the link's data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub welcome_shared_msg_id: Option<SharedMsgId>,
    /// The first message's shared id, once one was sent with the request (kept: a retry
    /// sends the same).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_shared_msg_id: Option<SharedMsgId>,
}

impl PreparedContact {
    /// An address's link (else a one-time invitation).
    pub fn is_address(&self) -> bool {
        self.ui_conn_link_type == "CON"
    }
}

/// A command refused for what it names (`bad chat command: ...`).
fn command_error(what: &str) -> ChatError {
    ChatError::BadCommand(what.into())
}

impl ChatStore {
    /// A new contact made from a link's data, not connected: `via_link` (as shown) is the
    /// link it is for.
    pub fn add_prepared_contact(
        &mut self,
        profile: &Profile,
        prepared: &PreparedContact,
        via_link: &str,
    ) -> std::result::Result<Contact, StoreError> {
        let name = self.unique_name(&profile.display_name)?;
        let json =
            serde_json::to_string(prepared).map_err(|_| StoreError::Corrupt("prepared contact"))?;
        let base = self.id_base;
        let tx = self.db.transaction()?;
        let next = crate::store::next_contact_id(&tx, base)?;
        let created_at = now_ms();
        tx.execute(
            "INSERT INTO contacts (contact_id, local_name, profile, conn_id, ready, created_at,
                                   via_link, prepared)
             VALUES (?1, ?2, ?3, NULL, 0, ?4, ?5, ?6)",
            params![
                next,
                name,
                profile_json(profile)?,
                created_at,
                via_link,
                json
            ],
        )?;
        tx.commit()?;
        Ok(self.new_contact(next, &name, profile, None, created_at))
    }

    /// A contact's prepared link, when it was made from one.
    pub fn prepared_contact(
        &self,
        contact_id: i64,
    ) -> std::result::Result<Option<PreparedContact>, StoreError> {
        self.prepared_json(
            "SELECT prepared FROM contacts WHERE contact_id = ?1",
            contact_id,
            "prepared contact",
        )
    }

    /// The prepared JSON (of the row `sql` selects by `id`), read.
    fn prepared_json<T: serde::de::DeserializeOwned>(
        &self,
        sql: &str,
        id: i64,
        what: &'static str,
    ) -> std::result::Result<Option<T>, StoreError> {
        let json: Option<String> = self
            .db
            .query_row(sql, [id], |r| r.get(0))
            .optional()?
            .flatten();
        json.map(|j| serde_json::from_str(&j).map_err(|_| StoreError::Corrupt(what)))
            .transpose()
    }

    /// Writes a prepared chat's JSON (`sql`: `?1` the id, `?2` the JSON).
    fn set_prepared_json<T: serde::Serialize>(
        &self,
        sql: &str,
        id: i64,
        value: &T,
        what: &'static str,
    ) -> std::result::Result<(), StoreError> {
        let json = serde_json::to_string(value).map_err(|_| StoreError::Corrupt(what))?;
        self.db.execute(sql, params![id, json])?;
        Ok(())
    }

    /// Rewrites a contact's prepared link (the first message's shared id recorded).
    pub fn set_prepared_contact(
        &self,
        contact_id: i64,
        prepared: &PreparedContact,
    ) -> std::result::Result<(), StoreError> {
        self.set_prepared_json(
            "UPDATE contacts SET prepared = ?2 WHERE contact_id = ?1",
            contact_id,
            prepared,
            "prepared contact",
        )
    }

    /// Records the prepared contact a connection in progress is for.
    pub fn set_pending_contact(
        &self,
        conn_id: u64,
        contact_id: i64,
    ) -> std::result::Result<(), StoreError> {
        self.db.execute(
            "UPDATE pending SET contact_id = ?2 WHERE conn_id = ?1",
            params![conn_id as i64, contact_id],
        )?;
        Ok(())
    }

    /// The contact prepared from a link (`shown`, as the terminal shows links: its full or
    /// its short form).
    pub fn prepared_contact_by_link(
        &self,
        shown: &str,
    ) -> std::result::Result<Option<Contact>, StoreError> {
        let sql = "SELECT contact_id, prepared FROM contacts WHERE prepared IS NOT NULL
                   ORDER BY contact_id DESC";
        match self.prepared_by_link(sql, shown)? {
            Some(id) => self.contact(id),
            None => Ok(None),
        }
    }

    /// The id (of the rows `sql` selects: id, prepared JSON) of the chat prepared from a link
    /// (`shown`: its full or its short form, as shown).
    fn prepared_by_link(
        &self,
        sql: &str,
        shown: &str,
    ) -> std::result::Result<Option<i64>, StoreError> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Prepared {
            conn_link_to_connect: PreparedLink,
        }
        let mut st = self.db.prepare(sql)?;
        let rows = st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
        for row in rows {
            let (id, json) = row?;
            let Ok(p) = serde_json::from_str::<Prepared>(&json) else {
                continue;
            };
            let link = &p.conn_link_to_connect;
            if std::iter::once(&link.conn_full_link)
                .chain(link.conn_short_link.as_ref())
                .any(|l| display_link(l.trim()) == shown)
            {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    /// The prepared contact a connection in progress is for, if it is for one.
    pub fn pending_contact(&self, conn_id: u64) -> std::result::Result<Option<i64>, StoreError> {
        Ok(self
            .db
            .query_row(
                "SELECT contact_id FROM pending WHERE conn_id = ?1",
                [conn_id as i64],
                |r| r.get::<_, Option<i64>>(0),
            )
            .optional()?
            .flatten())
    }

    /// A connection in progress no longer for a prepared contact (the contact deleted, the
    /// connection kept).
    pub fn detach_pending_contact(&self, conn_id: u64) -> std::result::Result<(), StoreError> {
        self.db.execute(
            "UPDATE pending SET contact_id = NULL WHERE conn_id = ?1",
            [conn_id as i64],
        )?;
        Ok(())
    }

    /// The connection in progress for a prepared contact, if one was started.
    pub fn pending_for_contact(
        &self,
        contact_id: i64,
    ) -> std::result::Result<Option<u64>, StoreError> {
        Ok(self
            .db
            .query_row(
                "SELECT conn_id FROM pending WHERE contact_id = ?1",
                [contact_id],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
            .map(|c| c as u64))
    }
}

impl Chat {
    /// `/_prepare contact`: a contact from a link's data (`data`, as a plan read it), not
    /// connected yet, with the chat's first items and the welcome message.
    pub(crate) fn prepare_contact(
        &self,
        link: &str,
        short: Option<&str>,
        data: &ContactLinkData,
    ) -> Result<Response> {
        if data.business {
            // A business address: its chat is a group (the reference's business card), named
            // after the business.
            let p = &data.profile;
            let group = GroupLinkData {
                group_profile: crate::protocol::GroupProfile {
                    display_name: p.display_name.clone(),
                    full_name: p.full_name.clone(),
                    image: p.image.clone(),
                    ..Default::default()
                },
            };
            let business = BusinessCard {
                profile: p.clone(),
                welcome: welcome_of(data)?,
            };
            return self.prepare_group(link, short, true, Some(business), &group);
        }
        if is_channel_link(link) || short.is_some_and(is_channel_link) {
            return Err(command_error("a channel's link: join it with /c <link>"));
        }
        let address = is_address_link(link)?;
        if short.is_some_and(|s| is_address_link(s).ok() != Some(address)) {
            return Err(command_error(
                "the short link is not of the full link's kind",
            ));
        }
        let shown = display_link(short.unwrap_or(link).trim());
        let plan = self.connection_plan(&shown)?;
        let used = match &plan {
            LinkPlan::Address(s) | LinkPlan::Invitation(s) => !matches!(s, LinkStatus::Ok),
            LinkPlan::Group(_) => {
                return Err(command_error("a group's link: join it with /c <link>"));
            }
            _ => false,
        };
        if used {
            return Err(ChatError::LinkUsed(Box::new(plan)));
        }
        let welcome = welcome_of(data)?;
        let prepared = PreparedContact {
            conn_link_to_connect: PreparedLink {
                conn_full_link: link.trim().to_string(),
                conn_short_link: short.map(|s| s.trim().to_string()),
            },
            ui_conn_link_type: if address { "CON" } else { "INV" }.into(),
            welcome_shared_msg_id: welcome.as_ref().map(|_| new_shared_msg_id()),
            request_shared_msg_id: None,
        };
        let (c, items) =
            self.add_prepared_contact_chat(&data.profile, &prepared, welcome.as_ref())?;
        Ok(Response::PreparedContact(c, items))
    }

    /// A prepared contact's chat made: the contact (`profile`, connecting by `prepared`), the
    /// chat's first items by this user's preferences and the welcome message.
    pub(crate) fn add_prepared_contact_chat(
        &self,
        profile: &Profile,
        prepared: &PreparedContact,
        welcome: Option<&MsgContent>,
    ) -> Result<(Contact, Vec<ChatItem>)> {
        let link = &prepared.conn_link_to_connect;
        let shown = display_link(
            link.conn_short_link
                .as_deref()
                .unwrap_or(&link.conn_full_link)
                .trim(),
        );
        let mut store = self.store();
        let c = store.add_prepared_contact(profile, prepared, &shown)?;
        let start = crate::features::start_items(&crate::features::Prefs::of(&c), true);
        let mut items = store.add_info_items(c.contact_id, &start)?;
        if let (Some(content), Some(id)) = (welcome, &prepared.welcome_shared_msg_id) {
            items.push(store.add_item(&NewItem {
                contact_id: c.contact_id,
                sent: false,
                shared_msg_id: Some(&id.0),
                agent_msg_id: None,
                content,
                quote: None,
                edited: false,
            })?);
        }
        Ok((c, items))
    }

    /// `/_connect contact @N`: connects a prepared contact by its link (`incognito`: with a
    /// random profile for it), with a first message: in the request to an address (its item
    /// in the chat at once), or, by an invitation, once connected.
    pub(crate) async fn connect_prepared_contact(
        &self,
        contact_id: i64,
        incognito: bool,
        content: Option<MsgContent>,
    ) -> Result<Response> {
        let c = self.contact_by_id(contact_id)?;
        let mut prepared = self
            .store()
            .prepared_contact(contact_id)?
            .ok_or_else(|| command_error("the contact has no link to connect"))?;
        if c.conn_id.is_some() || self.store().pending_for_contact(contact_id)?.is_some() {
            return Err(command_error("the contact's connection is started already"));
        }
        let shown_as = incognito.then(crate::incognito::random_profile);
        let link = prepared.conn_link_to_connect.conn_full_link.clone();
        let address = prepared.is_address();
        let request_msg = match (&content, address) {
            (Some(mc), true) => {
                let id = match &prepared.request_shared_msg_id {
                    Some(id) => id.clone(),
                    None => {
                        let id = new_shared_msg_id();
                        prepared.request_shared_msg_id = Some(id.clone());
                        self.store().set_prepared_contact(contact_id, &prepared)?;
                        id
                    }
                };
                Some((id, mc.clone()))
            }
            _ => None,
        };
        let shown_link = display_link(
            prepared
                .conn_link_to_connect
                .conn_short_link
                .as_deref()
                .unwrap_or(&link),
        );
        let conn = self
            .join_link(JoinLink {
                link: &link,
                address,
                shown_as: shown_as.as_ref(),
                shown_link: &shown_link,
                welcome_msg_id: prepared.welcome_shared_msg_id.clone(),
                request_msg: request_msg.clone(),
            })
            .await?;
        self.store().set_pending_contact(conn, contact_id)?;
        match (content, request_msg) {
            (_, Some((id, mc))) => {
                let item = self.store().add_item(&NewItem {
                    contact_id,
                    sent: true,
                    shared_msg_id: Some(&id.0),
                    agent_msg_id: None,
                    content: &mc,
                    quote: None,
                    edited: false,
                })?;
                self.emit(Event::ItemSent(c.clone(), item)).await;
            }
            // By an invitation: sent once connected, as an address's auto-reply is.
            (Some(mc), None) => {
                let json = serde_json::to_string(&mc)
                    .map_err(|e| command_error(&format!("the message: {e}")))?;
                self.store().set_send_on_connect(contact_id, Some(&json))?;
            }
            (None, None) => {}
        }
        Ok(Response::StartedConnectionToContact(c, shown_as))
    }

    /// A request's message, in the chat of the contact it made (under the requester's shared
    /// id), after the chat's banner.
    pub(crate) fn request_message_item(
        &self,
        c: &Contact,
        msg: &crate::store::RequestMsg,
    ) -> Result<ChatItem> {
        let mut store = self.store();
        store.add_info_items(c.contact_id, &[crate::features::banner_item()])?;
        Ok(store.add_item(&NewItem {
            contact_id: c.contact_id,
            sent: false,
            shared_msg_id: Some(&msg.shared_msg_id.0),
            agent_msg_id: None,
            content: &msg.content,
            quote: None,
            edited: false,
        })?)
    }
}

/// An address's welcome message, from its link's data.
fn welcome_of(data: &ContactLinkData) -> Result<Option<MsgContent>> {
    match &data.message {
        Some(m) => serde_json::from_value::<MsgContent>(m.clone())
            .map(Some)
            .map_err(|e| command_error(&format!("the welcome message: {e}"))),
        None => Ok(None),
    }
}

/// A business address's data, prepared as its business chat: the business's profile (the
/// host's until it connects) and its welcome message.
pub(crate) struct BusinessCard {
    profile: crate::protocol::Profile,
    welcome: Option<MsgContent>,
}

/// What a prepared group joins by (the reference's `PreparedGroup`, with whether it is a
/// channel joined through its relays).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreparedGroup {
    /// The link.
    pub conn_link_to_connect: PreparedLink,
    /// A connection was made for it (the reference's UI lock).
    pub conn_link_prepared_connection: bool,
    /// Joining was started (`/_connect group #G`).
    pub conn_link_started_connection: bool,
    /// The welcome message's shared id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub welcome_shared_msg_id: Option<SharedMsgId>,
    /// The first message's shared id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_shared_msg_id: Option<SharedMsgId>,
    /// A channel, joined through its relays (else by its group link or business address).
    #[serde(default)]
    pub use_relays: bool,
    /// A business's card, from its address's data (its chat becomes a business chat).
    #[serde(default)]
    pub business: bool,
}

impl ChatStore {
    /// Records a group as prepared from a link (or its state changed).
    pub fn set_prepared_group(
        &self,
        group_id: i64,
        prepared: &PreparedGroup,
    ) -> std::result::Result<(), StoreError> {
        self.set_prepared_json(
            "UPDATE groups SET prepared = ?2 WHERE group_id = ?1",
            group_id,
            prepared,
            "prepared group",
        )
    }

    /// A group's prepared link, when it was made from one.
    pub fn prepared_group(
        &self,
        group_id: i64,
    ) -> std::result::Result<Option<PreparedGroup>, StoreError> {
        self.prepared_json(
            "SELECT prepared FROM groups WHERE group_id = ?1",
            group_id,
            "prepared group",
        )
    }

    /// Records the prepared group a connection in progress is for.
    pub fn set_pending_group(
        &self,
        conn_id: u64,
        group_id: i64,
    ) -> std::result::Result<(), StoreError> {
        self.db.execute(
            "UPDATE pending SET group_id = ?2 WHERE conn_id = ?1",
            params![conn_id as i64, group_id],
        )?;
        Ok(())
    }

    /// The connection in progress for a prepared group, if one was started.
    pub fn pending_for_group(&self, group_id: i64) -> std::result::Result<Option<u64>, StoreError> {
        Ok(self
            .db
            .query_row(
                "SELECT conn_id FROM pending WHERE group_id = ?1",
                [group_id],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
            .map(|c| c as u64))
    }

    /// The prepared group a connection in progress is for, if any.
    pub fn pending_group(&self, conn_id: u64) -> std::result::Result<Option<i64>, StoreError> {
        Ok(self
            .db
            .query_row(
                "SELECT group_id FROM pending WHERE conn_id = ?1",
                [conn_id as i64],
                |r| r.get::<_, Option<i64>>(0),
            )
            .optional()?
            .flatten())
    }

    /// The group prepared from a link (`shown`, as the terminal shows links: its full or its
    /// short form).
    pub fn prepared_group_by_link(
        &self,
        shown: &str,
    ) -> std::result::Result<Option<i64>, StoreError> {
        let sql = "SELECT group_id, prepared FROM groups WHERE prepared IS NOT NULL
                   ORDER BY group_id DESC";
        self.prepared_by_link(sql, shown)
    }

    /// A prepared group joined: it becomes the group the host's invitation describes (our
    /// member id and role in it, our status, its profile); its local name stays.
    pub fn take_prepared_group(
        &self,
        group_id: i64,
        profile: &crate::protocol::GroupProfile,
        member_id: &crate::protocol::MemberId,
        role: crate::protocol::GroupMemberRole,
        status: crate::group_store::MemberStatus,
    ) -> std::result::Result<crate::group_store::Group, StoreError> {
        let json =
            serde_json::to_string(profile).map_err(|_| StoreError::Corrupt("group profile"))?;
        self.db.execute(
            "UPDATE groups SET profile = ?2, member_id = ?3, role = ?4, status = ?5
             WHERE group_id = ?1",
            params![group_id, json, member_id.0, role.name(), status.as_str()],
        )?;
        self.group(group_id)?
            .ok_or(StoreError::Corrupt("prepared group"))
    }
}

/// The data of a group's short link (the reference's `GroupShortLinkData`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupLinkData {
    /// The group's profile.
    pub group_profile: crate::protocol::GroupProfile,
}

impl Chat {
    /// `/_prepare group`: a group from its link's data (`data`, as a plan read it), not joined
    /// yet: a channel (`direct` off: joined through its relays, by its short link), a group
    /// joined by its group link or a business's chat. The chat opens with the welcome message
    /// (a group's description, a business's message): a channel's as the channel's post, a
    /// group's from a stand-in for its host (the host that admits us takes its place), under
    /// a shared id the request carries (`welcomeMsgId`: the host does not send it again).
    pub(crate) fn prepare_group(
        &self,
        link: &str,
        short: Option<&str>,
        direct: bool,
        business: Option<BusinessCard>,
        data: &GroupLinkData,
    ) -> Result<Response> {
        let profile = &data.group_profile;
        if !crate::groups::valid_group_name(&profile.display_name) {
            return Err(ChatError::InvalidName(profile.display_name.clone()));
        }
        let links = std::iter::once(link).chain(short);
        let channel_link = links.clone().find(|l| is_channel_link(l));
        if direct {
            if channel_link.is_some() {
                return Err(command_error(
                    "a channel's link: prepare it with direct=off",
                ));
            }
            if links.clone().any(|l| !is_address_link(l).unwrap_or(false)) {
                return Err(command_error("not a group's link"));
            }
            let shown = display_link(short.unwrap_or(link).trim());
            match self.connection_plan(&shown)? {
                LinkPlan::Group(crate::chat::GroupLinkPlan::Ok(_)) => {}
                LinkPlan::Address(LinkStatus::Ok) => {}
                plan => return Err(ChatError::LinkUsed(Box::new(plan))),
            }
        } else {
            let Some(c) = channel_link else {
                return Err(command_error(
                    "a channel is joined by its short link (https://<relay>/c#...)",
                ));
            };
            if self
                .store()
                .channel_by_link(&display_link(c.trim()))?
                .is_some()
            {
                return Err(command_error(
                    "this channel is known already: see /_connect plan",
                ));
            }
        }
        let prepared = PreparedGroup {
            conn_link_to_connect: PreparedLink {
                conn_full_link: link.trim().to_string(),
                conn_short_link: short.map(|s| s.trim().to_string()),
            },
            conn_link_prepared_connection: false,
            conn_link_started_connection: false,
            welcome_shared_msg_id: None,
            request_shared_msg_id: None,
            use_relays: !direct,
            business: business.is_some(),
        };
        let welcome = match &business {
            Some(b) => b.welcome.clone(),
            None => profile
                .description
                .as_ref()
                .filter(|d| !d.trim().is_empty())
                .map(|d| MsgContent::text(d.clone())),
        };
        let prepared = PreparedGroup {
            welcome_shared_msg_id: welcome.as_ref().map(|_| new_shared_msg_id()),
            ..prepared
        };
        // The welcome message's author until the host admits us: a stand-in for it.
        let host = match business {
            Some(b) => b.profile,
            None => crate::protocol::Profile {
                display_name: profile.display_name.clone(),
                ..Default::default()
            },
        };
        let (g, items) =
            self.add_prepared_group_chat(profile, &prepared, &host, welcome.as_ref())?;
        Ok(Response::PreparedGroup(g, items))
    }

    /// A prepared group's chat made: the group (`profile`, joined by `prepared`), its first
    /// items and the welcome message - a channel's as the channel's post, a group's from a
    /// stand-in for its host (`host`: its profile).
    pub(crate) fn add_prepared_group_chat(
        &self,
        profile: &crate::protocol::GroupProfile,
        prepared: &PreparedGroup,
        host: &Profile,
        welcome: Option<&MsgContent>,
    ) -> Result<(crate::group_store::Group, Vec<ChatItem>)> {
        let direct = !prepared.use_relays;
        let link = &prepared.conn_link_to_connect;
        let shown = if direct {
            display_link(
                link.conn_short_link
                    .as_deref()
                    .unwrap_or(&link.conn_full_link)
                    .trim(),
            )
        } else {
            let c = std::iter::once(&link.conn_full_link)
                .chain(link.conn_short_link.as_ref())
                .find(|l| is_channel_link(l))
                .ok_or_else(|| command_error("the channel's short link is not known"))?;
            display_link(c.trim())
        };
        let role = if direct {
            crate::protocol::GroupMemberRole::Member
        } else {
            crate::protocol::GroupMemberRole::Observer
        };
        let g = if direct {
            let store = self.store();
            let g = store.add_group(
                profile,
                &crate::groups::new_member_id(),
                role,
                crate::group_store::MemberStatus::Accepted,
                None,
            )?;
            store.set_group_via_link(g.group_id, &shown)?;
            g
        } else {
            self.add_channel_group(profile, &shown)?
        };
        let items = {
            let mut store = self.store();
            store.set_prepared_group(g.group_id, prepared)?;
            let mut items = store.add_info_items_to(
                crate::store::InfoChat::Group {
                    group_id: g.group_id,
                    member: None,
                    scope: None,
                },
                &[crate::features::banner_item()],
            )?;
            if let (Some(content), Some(id)) = (welcome, &prepared.welcome_shared_msg_id) {
                let item = if direct {
                    let m = store.add_member(&crate::group_store::NewMember {
                        group_id: g.group_id,
                        member_id: &crate::groups::new_member_id(),
                        role: crate::protocol::GroupMemberRole::Admin,
                        category: crate::group_store::MemberCategory::Host,
                        status: crate::group_store::MemberStatus::Unknown,
                        profile: host,
                        conn_id: None,
                        contact_id: None,
                        invited_by: None,
                    })?;
                    store.add_group_item(
                        g.group_id,
                        Some(m.group_member_id),
                        Some(&id.0),
                        content,
                        None,
                        None,
                    )?
                } else {
                    store.add_channel_post(g.group_id, Some(&id.0), content, None, None)?
                };
                items.push(item);
            }
            items
        };
        Ok((g, items))
    }

    /// `/_connect group #G`: joins a prepared group by its link (`incognito`: as a random
    /// profile): a channel through its relays, a group by its group link (the host's
    /// invitation then makes this group the one joined) or a business address, with a first
    /// message in the request (`x.contact`), its item in the chat at once under the shared id
    /// the host gets (a business shows it as the customer's; a group's host, as the
    /// reference's, does not show it).
    pub(crate) async fn connect_prepared_group(
        &self,
        group_id: i64,
        incognito: bool,
        content: Option<MsgContent>,
    ) -> Result<Response> {
        let g = self.group_by_id(group_id)?;
        let mut prepared = self
            .store()
            .prepared_group(group_id)?
            .ok_or_else(|| command_error("the group has no link to connect"))?;
        if g.status == crate::group_store::MemberStatus::Rejected {
            return Err(command_error(&format!(
                "the request to join was rejected: to join again, delete the group (/d #{}) \
                 and connect by its link",
                g.local_name
            )));
        }
        if prepared.conn_link_started_connection {
            return Err(command_error("the group's connection is started already"));
        }
        if content.is_some() && prepared.use_relays {
            return Err(command_error(
                "a channel is joined without a message: send it once joined",
            ));
        }
        // Kept once chosen: a retry after an error sends the same message under the same id.
        let request_msg = match content {
            Some(mc) => {
                let id = match &prepared.request_shared_msg_id {
                    Some(id) => id.clone(),
                    None => {
                        let id = new_shared_msg_id();
                        prepared.request_shared_msg_id = Some(id.clone());
                        self.store().set_prepared_group(group_id, &prepared)?;
                        id
                    }
                };
                Some((id, mc))
            }
            None => None,
        };
        let shown_as = incognito.then(crate::incognito::random_profile);
        let link = &prepared.conn_link_to_connect;
        let g = if prepared.use_relays {
            let short = std::iter::once(&link.conn_full_link)
                .chain(link.conn_short_link.as_ref())
                .find(|l| is_channel_link(l))
                .ok_or_else(|| command_error("the channel's short link is not known"))?
                .clone();
            let data = self
                .inner
                .agent
                .read_address(&short)
                .await
                .map_err(agent_err)?;
            if data.relays.is_empty() {
                return Err(ChatError::BadCommand(format!(
                    "channel {} has no active relays yet: try again later",
                    g.profile.display_name
                )));
            }
            // Its owners' keys as the link names them (`group_keys.rs`).
            self.store().set_link_owners(group_id, &data.owners)?;
            match self.join_relays(g, &data.relays, shown_as.clone()).await {
                Ok((g, _)) => g,
                Err(e) => {
                    // Not joined: a later try starts afresh (not as this random profile).
                    if shown_as.is_some() {
                        self.store().clear_group_incognito(group_id)?;
                    }
                    return Err(e);
                }
            }
        } else {
            let shown_link = display_link(
                link.conn_short_link
                    .as_deref()
                    .unwrap_or(&link.conn_full_link),
            );
            let conn = self
                .join_link(JoinLink {
                    link: &link.conn_full_link,
                    address: true,
                    shown_as: shown_as.as_ref(),
                    shown_link: &shown_link,
                    welcome_msg_id: prepared.welcome_shared_msg_id.clone(),
                    request_msg: request_msg.clone(),
                })
                .await?;
            let store = self.store();
            store.set_pending_group(conn, group_id)?;
            if let Some(p) = &shown_as {
                store.set_group_incognito(group_id, p)?;
            }
            g
        };
        prepared.conn_link_prepared_connection = true;
        prepared.conn_link_started_connection = true;
        self.store().set_prepared_group(group_id, &prepared)?;
        if let Some((id, mc)) = request_msg {
            let item = self
                .store()
                .add_group_item(group_id, None, Some(&id.0), &mc, None, None)?;
            self.emit(Event::GroupItemSent(g.clone(), item)).await;
        }
        Ok(Response::StartedConnectionToGroup(g, shown_as))
    }
}
