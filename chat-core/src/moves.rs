//! Chats changed before they connect, as the reference's app changes them: an invitation not
//! used yet shown as a new random profile or the user's again (`/_set incognito :N on|off`),
//! and moved to another user with prepared contacts and groups (`/_set conn user :N U`,
//! `/_set contact user @N U`, `/_set group user #G U`).
//!
//! Each user here has its own database and agent (the reference's users share one), so what
//! moves is made again in the other user's and then deleted from this one's:
//!
//! - an invitation becomes a new invitation of the other user (a new link, as the
//!   reference's newest code makes too; the old one's queue is deleted, so the old link
//!   works no more);
//! - a prepared contact or group keeps its link, its profile, the welcome message and the
//!   shared ids (the peer knows them), under ids and a local name of the other user's; its
//!   first items follow the other user's preferences, as the reference's
//!   `createContactChangedFeatureItems`; its alias goes with it.

use serde_json::Value;

use crate::chat::{agent_err, Chat, ChatError, Response};
use crate::store::PendingKind;

type Result<T> = std::result::Result<T, ChatError>;

/// What can move to another user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Movable {
    /// An invitation not used yet (`:N`).
    Connection(u64),
    /// A prepared contact not connecting yet (`@N`).
    Contact(i64),
    /// A prepared group not joining yet (`#N`).
    Group(i64),
}

/// What moved, for the terminal.
#[derive(Debug, Clone, PartialEq)]
pub enum Moved {
    /// An invitation (`conn` the old connection), made again with these links.
    Connection {
        /// The connection that went.
        conn: u64,
        /// The new full link.
        link: String,
        /// The new short link, if any.
        short: Option<String>,
    },
    /// A prepared contact: its local names before and after.
    Contact(String, String),
    /// A prepared group: its local names before and after.
    Group(String, String),
}

/// A chat moved to another user (the reference's `connectionUserChanged`,
/// `contactUserChanged`, `groupUserChanged`).
#[derive(Debug, Clone, PartialEq)]
pub struct UserChange {
    /// What moved.
    pub moved: Moved,
    /// The chat as it was (API JSON, this user's).
    pub from: Value,
    /// The chat as it is (API JSON, the other user's).
    pub to: Value,
    /// The other user (API JSON).
    pub new_user: Value,
    /// The other user's display name.
    pub new_user_name: String,
}

fn command_error(what: &str) -> ChatError {
    ChatError::BadCommand(what.into())
}

impl Chat {
    /// `/_set incognito :N on|off`: an invitation not used yet shows a new random profile, or
    /// the user's again; its short link's data (the profile the link shows) changes with it,
    /// first - a link showing another profile than the connection would send is refused.
    pub(crate) async fn set_connection_incognito(&self, conn: u64, on: bool) -> Result<Response> {
        let kind = self.store().pending(conn)?;
        match kind {
            Some(PendingKind::Invitation) => {}
            None | Some(PendingKind::Address) => return Err(ChatError::NoPendingConnection(conn)),
            Some(_) => return Err(ChatError::IncognitoChangeProhibited),
        }
        let now = self.store().pending_incognito(conn)?;
        let incognito = match (now.is_some(), on) {
            (false, true) => Some(crate::incognito::random_profile()),
            (true, false) => None,
            _ => return Err(ChatError::IncognitoChangeProhibited),
        };
        if self.store().pending_short_link(conn)?.is_some() {
            let shown = incognito.clone().unwrap_or_else(|| self.profile());
            let data = crate::chat::short_link_data(&shown, false, None, false)
                .ok_or_else(|| command_error("the profile does not fit in the link's data"))?;
            self.inner
                .agent
                .set_link_data(conn, &data, &[])
                .await
                .map_err(agent_err)?;
        }
        self.store()
            .set_pending_incognito(conn, incognito.as_ref())?;
        Ok(Response::ConnectionIncognitoUpdated { conn, incognito })
    }

    /// Moves `what` to the user of `to` (see the module).
    pub(crate) async fn move_to_user(&self, what: Movable, to: &Chat) -> Result<Response> {
        let (moved, from, to_json) = match what {
            Movable::Connection(conn) => self.move_invitation(conn, to).await?,
            Movable::Contact(id) => self.move_prepared_contact(id, to).await?,
            Movable::Group(id) => self.move_prepared_group(id, to)?,
        };
        Ok(Response::UserChanged(Box::new(UserChange {
            moved,
            from,
            to: to_json,
            new_user: crate::api::user(to),
            new_user_name: to.profile().display_name,
        })))
    }

    async fn move_invitation(&self, conn: u64, to: &Chat) -> Result<(Moved, Value, Value)> {
        match self.store().pending(conn)? {
            Some(PendingKind::Invitation) => {}
            None | Some(PendingKind::Address) => return Err(ChatError::NoPendingConnection(conn)),
            Some(_) => return Err(ChatError::UserChangeProhibited),
        }
        let from = crate::api::pending_connection(self, conn);
        let Response::Invitation {
            link,
            short,
            conn: new_conn,
        } = Box::pin(to.create_invitation(None)).await?
        else {
            return Err(ChatError::Agent("no invitation made".into()));
        };
        // The old link works no more: its queue goes (a relay that cannot be reached keeps
        // it until it expires; the row goes either way).
        if let Err(e) = self.inner.agent.delete_connection(conn).await {
            tracing::warn!(target: "chat", conn, "deleting a moved invitation: {e}");
        }
        self.store().delete_pending(conn)?;
        let to_json = crate::api::pending_connection(to, new_conn);
        Ok((Moved::Connection { conn, link, short }, from, to_json))
    }

    async fn move_prepared_contact(
        &self,
        contact_id: i64,
        to: &Chat,
    ) -> Result<(Moved, Value, Value)> {
        let c = self
            .store()
            .contact(contact_id)?
            .filter(|_| contact_id > crate::store::NOTES)
            .ok_or_else(|| ChatError::NoContact(format!("@{contact_id}")))?;
        let prepared = self
            .store()
            .prepared_contact(contact_id)?
            .ok_or_else(|| command_error("contact doesn't have link to connect"))?;
        if c.conn_id.is_some() || self.store().pending_for_contact(contact_id)?.is_some() {
            return Err(command_error("contact already has connection"));
        }
        let welcome = match &prepared.welcome_shared_msg_id {
            Some(id) => self
                .store()
                .item_by_shared(contact_id, false, &id.0)?
                .map(|i| i.content),
            None => None,
        };
        let from = crate::api::chat_info(self, &c)["contact"].take();
        let (new, _) = to.add_prepared_contact_chat(&c.profile, &prepared, welcome.as_ref())?;
        if !c.local_alias.is_empty() {
            to.store()
                .set_contact_alias(new.contact_id, &c.local_alias)?;
        }
        let new = to.store().contact(new.contact_id)?.unwrap_or(new);
        let names = (c.local_name.clone(), new.local_name.clone());
        Box::pin(self.delete_contact(c, false)).await?;
        let to_json = crate::api::chat_info(to, &new)["contact"].take();
        Ok((Moved::Contact(names.0, names.1), from, to_json))
    }

    fn move_prepared_group(&self, group_id: i64, to: &Chat) -> Result<(Moved, Value, Value)> {
        let g = self.group_by_id(group_id)?;
        let prepared = self
            .store()
            .prepared_group(group_id)?
            .ok_or_else(|| command_error("group doesn't have link to connect"))?;
        if prepared.conn_link_started_connection
            || self.store().pending_for_group(group_id)?.is_some()
        {
            return Err(command_error("host member already has connection"));
        }
        // The welcome message's author: the stand-in for the host (none in a channel).
        let stand_in = self
            .store()
            .members(group_id)?
            .into_iter()
            .find(|m| m.category == crate::group_store::MemberCategory::Host);
        let host = stand_in
            .as_ref()
            .map(|m| m.profile.clone())
            .unwrap_or_else(|| crate::protocol::Profile {
                display_name: g.profile.display_name.clone(),
                ..Default::default()
            });
        let welcome = match &prepared.welcome_shared_msg_id {
            Some(id) if prepared.use_relays => {
                self.store().channel_post_by_shared(group_id, &id.0)?
            }
            Some(id) => match &stand_in {
                Some(m) => {
                    self.store()
                        .group_item_by_shared(group_id, Some(m.group_member_id), &id.0)?
                }
                None => None,
            },
            None => None,
        }
        .map(|i| i.content);
        let from = crate::api::group_info(self, &g);
        let (new, _) =
            to.add_prepared_group_chat(&g.profile, &prepared, &host, welcome.as_ref())?;
        if !g.local_alias.is_empty() {
            to.store().set_group_alias(new.group_id, &g.local_alias)?;
        }
        let new = to.group_by_id(new.group_id)?;
        self.store().delete_group(group_id, &[])?;
        let to_json = crate::api::group_info(to, &new);
        Ok((
            Moved::Group(g.local_name.clone(), new.local_name.clone()),
            from,
            to_json,
        ))
    }
}
