//! Delivery receipts in small groups (the reference's `sendRcptsSmallGroups`): a member
//! acknowledges a group message it received directly with a receipt when the group has at most
//! [`SMALL_GROUP`] members and the user sends them (`/_set receipts groups 1 on|off`, on by
//! default as for the reference's new users). The sender keeps, for each message it sent to a
//! small group, the agent's message id on each member's connection (schema v31:
//! `group_deliveries`); once every member it went to has acknowledged it, the item is
//! `sndRcvd` (`chatItemsStatusesUpdated` in the API; the terminal prints nothing, as the
//! reference's).

use rusqlite::{params, OptionalExtension};

use crate::chat::{Chat, ChatError, Event, Response};
use crate::group_store::{Group, Member};
use crate::store::{ChatFlags, ChatItem, ChatStore, StoreError};

type Result<T> = std::result::Result<T, crate::chat::ChatError>;

/// The most members (us included) a group may have for its messages to get receipts.
pub const SMALL_GROUP: usize = 20;

/// The settings key of receipts to small groups (`on`/`off`, on by default).
pub(crate) const GROUP_RECEIPTS_SETTING: &str = "send_receipts_small_groups";

/// Where a message to a small group stands with one member (the reference's `GroupSndStatus`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberDelivery {
    /// Sent, no receipt yet.
    Sent,
    /// Its receipt came: `true` ok, `false` a bad hash.
    Received(bool),
    /// Not delivered: why (`auth`: the relay refused it, the member's queue gone).
    Error(String),
}

impl ChatStore {
    /// Records where a group item went: each member and the agent's message id on its
    /// connection (not waiting for the disk: a row lost in a crash loses only a receipt mark).
    pub fn add_group_deliveries(
        &mut self,
        item_id: i64,
        sent: &[(i64, i64)],
    ) -> std::result::Result<(), StoreError> {
        self.db.execute_batch("PRAGMA synchronous = NORMAL")?;
        let written = (|| -> std::result::Result<(), StoreError> {
            let tx = self.db.transaction()?;
            for (member, agent_msg_id) in sent {
                tx.execute(
                    "INSERT OR REPLACE INTO group_deliveries (item_id, group_member_id, agent_msg_id)
                     VALUES (?1, ?2, ?3)",
                    params![item_id, member, agent_msg_id],
                )?;
            }
            tx.commit()?;
            Ok(())
        })();
        self.db.execute_batch("PRAGMA synchronous = FULL")?;
        written
    }

    /// Where a message to a small group went and what came back, by member.
    pub fn group_delivery_statuses(
        &self,
        item_id: i64,
    ) -> std::result::Result<Vec<(i64, MemberDelivery)>, StoreError> {
        let mut st = self.db.prepare(
            "SELECT group_member_id, rcpt, snd_error FROM group_deliveries
             WHERE item_id = ?1 ORDER BY group_member_id",
        )?;
        let rows = st.query_map([item_id], |r| {
            let status = match (r.get::<_, Option<String>>(2)?, r.get::<_, Option<bool>>(1)?) {
                (Some(e), _) => MemberDelivery::Error(e),
                (None, Some(ok)) => MemberDelivery::Received(ok),
                (None, None) => MemberDelivery::Sent,
            };
            Ok((r.get(0)?, status))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// A member's message with `agent_msg_id` on its connection not delivered (`error`):
    /// whether it was one to a small group (its row marked).
    pub fn group_delivery_failed(
        &self,
        group_member_id: i64,
        agent_msg_id: i64,
        error: &str,
    ) -> std::result::Result<bool, StoreError> {
        let n = self.db.execute(
            "UPDATE group_deliveries SET snd_error = ?3
             WHERE group_member_id = ?1 AND agent_msg_id = ?2",
            params![group_member_id, agent_msg_id, error],
        )?;
        Ok(n > 0)
    }

    /// A member's receipt for the message with `agent_msg_id` on its connection: the group
    /// item, marked received once every member it went to acknowledged it (then returned).
    pub fn group_delivered(
        &self,
        group_member_id: i64,
        agent_msg_id: i64,
        ok: bool,
    ) -> std::result::Result<Option<ChatItem>, StoreError> {
        let item_id: Option<i64> = self
            .db
            .query_row(
                "SELECT item_id FROM group_deliveries
                 WHERE group_member_id = ?1 AND agent_msg_id = ?2",
                params![group_member_id, agent_msg_id],
                |r| r.get(0),
            )
            .optional()?;
        let Some(item_id) = item_id else {
            return Ok(None);
        };
        self.db.execute_batch("PRAGMA synchronous = NORMAL")?;
        let marked = (|| -> std::result::Result<bool, StoreError> {
            self.db.execute(
                "UPDATE group_deliveries SET rcpt = ?3
                 WHERE group_member_id = ?1 AND agent_msg_id = ?2",
                params![group_member_id, agent_msg_id, ok],
            )?;
            let (waiting, all_ok): (i64, bool) = self.db.query_row(
                "SELECT count(*) FILTER (WHERE rcpt IS NULL), coalesce(min(rcpt), 1)
                 FROM group_deliveries WHERE item_id = ?1",
                [item_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            if waiting > 0 {
                return Ok(false);
            }
            self.db.execute(
                "UPDATE chat_items SET rcpt = ?2 WHERE item_id = ?1",
                params![item_id, all_ok],
            )?;
            Ok(true)
        })();
        self.db.execute_batch("PRAGMA synchronous = FULL")?;
        if !marked? {
            return Ok(None);
        }
        Ok(self.items_where("item_id = ?1", &[&item_id])?.pop())
    }
}

impl Chat {
    /// Whether receipts are sent to small groups.
    pub(crate) fn group_receipts_on(&self) -> bool {
        self.store()
            .setting(GROUP_RECEIPTS_SETTING)
            .ok()
            .flatten()
            .as_deref()
            != Some("off")
    }

    /// `/receipts @name|#group on|off|default`: the chat's own receipts setting.
    pub(crate) fn set_chat_receipts(
        &self,
        name: &str,
        group: bool,
        on: Option<bool>,
    ) -> Result<Response> {
        if group {
            let g = self.group_named(name)?;
            let flags = ChatFlags {
                send_rcpts: on,
                ..g.flags
            };
            self.store().set_group_flags(g.group_id, flags)?;
        } else {
            let c = self.contact_named(name)?;
            let flags = ChatFlags {
                send_rcpts: on,
                ..c.flags
            };
            self.store().set_contact_flags(c.contact_id, flags)?;
        }
        Ok(Response::Ok)
    }

    /// `/_settings @N|#G <json>`: a chat's notifications, receipts and favorite settings.
    pub(crate) fn set_chat_settings(
        &self,
        contact: Option<i64>,
        group: Option<i64>,
        (muted, mentions_only): (bool, bool),
        flags: ChatFlags,
    ) -> Result<Response> {
        match (contact, group) {
            (Some(id), _) => {
                let c = self
                    .store()
                    .contact(id)?
                    .filter(|c| c.contact_id != crate::store::NOTES)
                    .ok_or_else(|| ChatError::NoContact(format!("@{id}")))?;
                let store = self.store();
                store.set_contact_muted(c.contact_id, muted)?;
                store.set_contact_flags(c.contact_id, flags)?;
            }
            (None, Some(id)) => {
                let g = self.group_by_id(id)?;
                let store = self.store();
                store.set_group_muted(g.group_id, muted, mentions_only)?;
                store.set_group_flags(g.group_id, flags)?;
            }
            (None, None) => {
                return Err(ChatError::Command(crate::command::CommandError(
                    "no chat".into(),
                )))
            }
        }
        Ok(Response::Ok)
    }

    /// Whether a message of `g` received directly gets a receipt: a small group, receipts on
    /// (the group's own setting, else the user's default for small groups).
    pub(crate) fn group_receipt_due(&self, g: &Group) -> bool {
        g.flags
            .send_rcpts
            .unwrap_or_else(|| self.group_receipts_on())
            && self
                .store()
                .current_members(g)
                .is_ok_and(|n| n <= SMALL_GROUP)
    }

    /// Keeps where a message to a small group went, for its receipts.
    pub(crate) fn keep_group_deliveries(
        &self,
        g: &Group,
        item_id: i64,
        sent: &[(Member, Option<i64>)],
    ) -> Result<()> {
        if sent.is_empty() || self.store().current_members(g)? > SMALL_GROUP {
            return Ok(());
        }
        let rows: Vec<(i64, i64)> = sent
            .iter()
            .filter_map(|(m, id)| id.map(|id| (m.group_member_id, id)))
            .collect();
        // A member's relay may refuse the message before its row is written: the refusal
        // was kept ([`Chat::message_refused`]) and is applied now, under the same lock.
        let mut early = self
            .inner
            .early_refusals
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let mut store = self.store();
        store.add_group_deliveries(item_id, &rows)?;
        for (m, id) in sent {
            let (Some(conn), Some(id)) = (m.conn_id, *id) else {
                continue;
            };
            if let Some(at) = early.iter().position(|r| *r == (conn, id)) {
                early.remove(at);
                store.group_delivery_failed(m.group_member_id, id, "auth")?;
            }
        }
        Ok(())
    }

    /// A member's receipt: the item marked received once all its members acknowledged it.
    pub(crate) async fn member_delivered(
        &self,
        m: &Member,
        agent_msg_id: i64,
        ok: bool,
    ) -> Result<()> {
        let item = self
            .store()
            .group_delivered(m.group_member_id, agent_msg_id, ok)?;
        if let Some(item) = item {
            let g = self.group_of(m)?;
            self.emit(Event::GroupItemStatus(g, item)).await;
        }
        Ok(())
    }
}
