//! Connections disabled after repeated refusals, as the reference's: a message the relay
//! refuses with AUTH on an established connection (the peer deleted it: its queue is gone)
//! is dropped by the agent and counted here; at [`AUTH_ERR_DISABLE_COUNT`] refusals the
//! contact (or group member) is disabled - sending to a disabled contact is refused until the
//! user enables it again (`/enable bob`, `/_enable @N`, `/enable #team bob`,
//! `/_enable #G M`), which starts the count afresh.
//!
//! ```text
//! contacts.auth_errors       -- refusals since the contact was enabled (schema v54)
//! group_members.auth_errors  -- the same for a member's connection
//! ```

use rusqlite::params;

use crate::chat::{Chat, ChatError, Event, Response};
use crate::store::{ChatStore, Contact, StoreError};
use agent::agent::ConnId;

type Result<T> = std::result::Result<T, ChatError>;

/// Refusals after which a connection is disabled (the reference's `authErrDisableCount`).
pub const AUTH_ERR_DISABLE_COUNT: i64 = 10;

/// The reference's words for a refused message.
pub const AUTH_REFUSED: &str = "connection authorization failed - this could happen if \
    connection was deleted, secured with different credentials, or due to a bug - please \
    re-create the connection";

/// Refusals kept of messages whose item is not recorded yet (a refusal of a reaction or an
/// edit has none: the oldest go first).
const EARLY_REFUSALS: usize = 256;

/// Keeps a refusal that came before its item or delivery row was written (the oldest goes
/// past [`EARLY_REFUSALS`]).
fn keep_early(early: &mut std::collections::VecDeque<(ConnId, i64)>, conn: ConnId, msg_id: i64) {
    if early.len() >= EARLY_REFUSALS {
        early.pop_front();
    }
    early.push_back((conn, msg_id));
}

/// Refused when the contact is disabled (`bob: disabled, to enable: ...`).
pub(crate) fn check_enabled(c: &Contact) -> Result<()> {
    if c.auth_errors >= AUTH_ERR_DISABLE_COUNT {
        return Err(ChatError::ContactDisabled(c.local_name.clone()));
    }
    Ok(())
}

impl ChatStore {
    /// One more refusal on a contact's (`member`: false) or a member's row; the count now.
    fn add_auth_error(&self, member: bool, id: i64) -> std::result::Result<i64, StoreError> {
        let (table, key) = table(member);
        Ok(self.db.query_row(
            &format!(
                "UPDATE {table} SET auth_errors = auth_errors + 1 WHERE {key} = ?1
                 RETURNING auth_errors"
            ),
            [id],
            |r| r.get(0),
        )?)
    }

    /// The count started afresh (the contact or member enabled).
    fn reset_auth_errors(&self, member: bool, id: i64) -> std::result::Result<(), StoreError> {
        let (table, key) = table(member);
        self.db.execute(
            &format!("UPDATE {table} SET auth_errors = 0 WHERE {key} = ?1"),
            params![id],
        )?;
        Ok(())
    }
}

fn table(member: bool) -> (&'static str, &'static str) {
    if member {
        ("group_members", "group_member_id")
    } else {
        ("contacts", "contact_id")
    }
}

impl Chat {
    /// The agent dropped message `msg_id` the relay refused with AUTH: counted against the
    /// contact or member; reported (a contact's, as the reference's; a member's silently,
    /// as the reference's group errors), and the connection disabled at the limit.
    pub(crate) async fn message_refused(&self, conn: ConnId, msg_id: i64) -> Result<()> {
        let contact = self.store().contact_by_conn(conn)?;
        if let Some(c) = contact {
            let count = self.store().add_auth_error(false, c.contact_id)?;
            let c = Contact {
                auth_errors: count,
                ..c
            };
            tracing::warn!(target: "chat", conn, msg_id, count, "a message refused (AUTH)");
            self.emit(Event::MessageRefused(c.clone(), conn)).await;
            // The item of the message, if it was one (not a reaction, an edit, ...). The relay
            // may refuse a message before its sender has recorded the item: the refusal is
            // kept for it then ([`Chat::record_sent_item`]; the same lock orders the two).
            let item = {
                let mut early = self
                    .inner
                    .early_refusals
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                let item = self.store().set_snd_error(c.contact_id, msg_id, "auth")?;
                if item.is_none() {
                    keep_early(&mut early, conn, msg_id);
                }
                item
            };
            if let Some(item) = item {
                self.emit(Event::ItemStatus(c.clone(), item)).await;
            }
            // (At or over, as the reference's: a disabled contact is sent nothing more.)
            if count >= AUTH_ERR_DISABLE_COUNT {
                self.emit(Event::ContactDisabled(c)).await;
            }
            return Ok(());
        }
        let member = self.store().member_by_conn(conn)?;
        if let Some(m) = member {
            let count = self.store().add_auth_error(true, m.group_member_id)?;
            let m = crate::group_store::Member {
                auth_errors: count,
                ..m
            };
            tracing::warn!(target: "chat", conn, msg_id, count, "a member's message refused (AUTH)");
            // Marked on the member's delivery of a message to a small group (silently, as the
            // reference's group errors); kept when its row is not written yet.
            {
                let mut early = self
                    .inner
                    .early_refusals
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                let marked =
                    self.store()
                        .group_delivery_failed(m.group_member_id, msg_id, "auth")?;
                let small = || -> Result<bool> {
                    let g = self.group_by_id(m.group_id)?;
                    let n = self.store().current_members(&g)?;
                    Ok(n <= crate::group_receipts::SMALL_GROUP)
                };
                if !marked && small()? {
                    keep_early(&mut early, conn, msg_id);
                }
            }
            if count >= AUTH_ERR_DISABLE_COUNT {
                let g = self.group_by_id(m.group_id)?;
                self.emit(Event::MemberDisabled(g, m)).await;
            }
        }
        Ok(())
    }

    /// Records the item of a message just sent to a contact (`add`, with its agent message id
    /// `msg_id` on `conn`): marked refused (`sndError` `auth`) when the relay refused the
    /// message before this; whether it was.
    pub(crate) fn record_sent_item(
        &self,
        conn: ConnId,
        msg_id: i64,
        add: impl FnOnce(&ChatStore) -> std::result::Result<crate::store::ChatItem, StoreError>,
    ) -> Result<(crate::store::ChatItem, bool)> {
        let mut early = self
            .inner
            .early_refusals
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let store = self.store();
        let item = add(&store)?;
        if let Some(at) = early.iter().position(|r| *r == (conn, msg_id)) {
            early.remove(at);
            if let Some(refused) = store.set_snd_error(item.contact_id, msg_id, "auth")? {
                return Ok((refused, true));
            }
        }
        Ok((item, false))
    }

    /// `/enable bob`, `/_enable @N`: the contact's refusals forgotten (it can be sent to).
    pub(crate) fn enable_contact(&self, c: Contact) -> Result<Response> {
        if c.conn_id.is_none() {
            return Err(ChatError::NotReady(c.local_name));
        }
        self.store().reset_auth_errors(false, c.contact_id)?;
        Ok(Response::Ok)
    }

    /// `/enable #team bob`, `/_enable #G M`: a member's refusals forgotten.
    pub(crate) fn enable_member(&self, m: &crate::group_store::Member) -> Result<Response> {
        if m.conn_id.is_none() {
            return Err(ChatError::NotGroupMember(m.local_name.clone()));
        }
        self.store().reset_auth_errors(true, m.group_member_id)?;
        Ok(Response::Ok)
    }
}
