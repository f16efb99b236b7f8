//! Chat tags (the reference's app forms): the user's own labels, each with an optional emoji,
//! in the user's order, put on contacts' and groups' chats to sort them - local only, nothing
//! is sent to anyone.
//!
//! - `/_create tag {"text": ..., "emoji": ...}`: a new tag, last (`chatTags`, every tag);
//! - `/_tags @N|#G [id,id,...]`: the chat's tags become those (none: no tag; `tagsUpdated`,
//!   every tag and the chat's);
//! - `/_update tag N {...}`, `/_delete tag N` (off every chat), `/_reorder tags id,id,...`,
//!   `/_get tags <userId>` (`chatTags`).
//!
//! ```text
//! chat_tags        (tag_id, text, emoji, tag_order)        -- schema v56
//! chat_tags_chats  (tag_id, contact_id | group_id)         -- cascades with the tag or chat
//! ```
//! A contact's or group's tags are read with it (`Contact::tags`, `Group::tags`: its
//! `chatTags`).

use rusqlite::{params, OptionalExtension};

use crate::chat::{Chat, ChatError, Response};
use crate::store::{ChatStore, StoreError};

type Result<T> = std::result::Result<T, ChatError>;

/// At most this many tags (each a local row; the reference sets no bound).
pub const MAX_TAGS: usize = 1_000;
/// A tag's text at most (bytes).
pub const MAX_TAG_TEXT: usize = 1_024;
/// A tag's emoji at most (bytes: one emoji may take several code points).
pub const MAX_TAG_EMOJI: usize = 64;

/// A tag (`ChatTag`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatTag {
    /// Its id.
    pub chat_tag_id: i64,
    /// Its text.
    pub chat_tag_text: String,
    /// Its emoji, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat_tag_emoji: Option<String>,
}

/// What a tag is made or changed with (`ChatTagData`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct TagData {
    /// Its emoji, if any.
    #[serde(default)]
    pub emoji: Option<String>,
    /// Its text.
    pub text: String,
}

impl TagData {
    /// The data, if within the bounds (one line of text, an emoji of a few code points).
    pub fn checked(self) -> std::result::Result<Self, String> {
        let text = self.text.trim().to_string();
        if text.is_empty() || text.len() > MAX_TAG_TEXT || text.chars().any(char::is_control) {
            return Err(format!(
                "a tag's text is one line of at most {MAX_TAG_TEXT} bytes"
            ));
        }
        let emoji = self.emoji.filter(|e| !e.is_empty());
        if emoji
            .as_ref()
            .is_some_and(|e| e.len() > MAX_TAG_EMOJI || e.chars().any(char::is_control))
        {
            return Err(format!("a tag's emoji is at most {MAX_TAG_EMOJI} bytes"));
        }
        Ok(TagData { emoji, text })
    }
}

/// The chat a tag command names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaggedChat {
    /// A contact's (`@N`).
    Contact(i64),
    /// A group's (`#G`).
    Group(i64),
}

/// Tag ids as the store lists them (`1,2`), sorted.
pub(crate) fn tag_ids(list: Option<&str>) -> Vec<i64> {
    let mut ids: Vec<i64> = list
        .unwrap_or_default()
        .split(',')
        .filter_map(|i| i.parse().ok())
        .collect();
    ids.sort_unstable();
    ids
}

impl ChatStore {
    /// Every tag, in the user's order.
    pub fn chat_tags(&self) -> std::result::Result<Vec<ChatTag>, StoreError> {
        let mut st = self
            .db
            .prepare("SELECT tag_id, text, emoji FROM chat_tags ORDER BY tag_order, tag_id")?;
        let rows = st.query_map([], |r| {
            Ok(ChatTag {
                chat_tag_id: r.get(0)?,
                chat_tag_text: r.get(1)?,
                chat_tag_emoji: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    fn add_chat_tag(&self, d: &TagData) -> std::result::Result<(), StoreError> {
        let id = crate::store::next_row_id(&self.db, "chat_tags", "tag_id", self.id_base)?;
        self.db.execute(
            "INSERT INTO chat_tags (text, emoji, tag_order, tag_id)
             VALUES (?1, ?2, (SELECT coalesce(max(tag_order), 0) + 1 FROM chat_tags), ?3)",
            params![d.text, d.emoji, id],
        )?;
        Ok(())
    }

    fn tag_exists(&self, tag_id: i64) -> std::result::Result<bool, StoreError> {
        Ok(self
            .db
            .query_row(
                "SELECT 1 FROM chat_tags WHERE tag_id = ?1",
                [tag_id],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// A chat's tags become `ids` (in one transaction).
    fn set_chat_tags(
        &mut self,
        chat: TaggedChat,
        ids: &[i64],
    ) -> std::result::Result<(), StoreError> {
        let (column, id) = match chat {
            TaggedChat::Contact(c) => ("contact_id", c),
            TaggedChat::Group(g) => ("group_id", g),
        };
        let tx = self.db.transaction()?;
        tx.execute(
            &format!("DELETE FROM chat_tags_chats WHERE {column} = ?1"),
            [id],
        )?;
        for t in ids {
            tx.execute(
                &format!(
                    "INSERT OR IGNORE INTO chat_tags_chats (tag_id, {column}) VALUES (?1, ?2)"
                ),
                params![t, id],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn update_chat_tag(&self, tag_id: i64, d: &TagData) -> std::result::Result<(), StoreError> {
        self.db.execute(
            "UPDATE chat_tags SET text = ?2, emoji = ?3 WHERE tag_id = ?1",
            params![tag_id, d.text, d.emoji],
        )?;
        Ok(())
    }

    fn delete_chat_tag(&self, tag_id: i64) -> std::result::Result<(), StoreError> {
        self.db
            .execute("DELETE FROM chat_tags WHERE tag_id = ?1", [tag_id])?;
        Ok(())
    }

    /// The tags named come first, in that order; the others keep theirs after them.
    fn reorder_chat_tags(&mut self, ids: &[i64]) -> std::result::Result<(), StoreError> {
        let others: Vec<i64> = self
            .chat_tags()?
            .into_iter()
            .map(|t| t.chat_tag_id)
            .filter(|t| !ids.contains(t))
            .collect();
        let tx = self.db.transaction()?;
        for (order, t) in ids.iter().chain(&others).enumerate() {
            tx.execute(
                "UPDATE chat_tags SET tag_order = ?2 WHERE tag_id = ?1",
                params![t, order as i64 + 1],
            )?;
        }
        tx.commit()?;
        Ok(())
    }
}

impl Chat {
    /// `/_create tag`: a new tag, last; every tag.
    pub(crate) fn create_chat_tag(&self, d: TagData) -> Result<Response> {
        let store = self.store();
        if store.chat_tags()?.len() >= MAX_TAGS {
            return Err(ChatError::BadCommand(format!("at most {MAX_TAGS} tags")));
        }
        store.add_chat_tag(&d)?;
        Ok(Response::ChatTags(store.chat_tags()?))
    }

    /// `/_tags @N|#G [ids]`: the chat's tags; every tag and the chat's.
    pub(crate) fn set_chat_tags(&self, chat: TaggedChat, ids: Vec<i64>) -> Result<Response> {
        match chat {
            TaggedChat::Contact(id) => {
                self.contact_by_id(id)?;
            }
            TaggedChat::Group(id) => {
                self.group_by_id(id)?;
            }
        }
        let mut store = self.store();
        for t in &ids {
            if !store.tag_exists(*t)? {
                return Err(ChatError::BadCommand(format!("no tag {t}")));
            }
        }
        store.set_chat_tags(chat, &ids)?;
        let mut now = ids;
        now.sort_unstable();
        now.dedup();
        Ok(Response::TagsUpdated(store.chat_tags()?, now))
    }

    /// `/_update tag N`, `/_delete tag N`, `/_reorder tags ids`: `ok`.
    pub(crate) fn change_chat_tag(&self, change: TagChange) -> Result<Response> {
        let mut store = self.store();
        match change {
            TagChange::Update(id, d) => {
                if !store.tag_exists(id)? {
                    return Err(ChatError::BadCommand(format!("no tag {id}")));
                }
                store.update_chat_tag(id, &d)?;
            }
            TagChange::Delete(id) => store.delete_chat_tag(id)?,
            TagChange::Reorder(ids) => store.reorder_chat_tags(&ids)?,
        }
        Ok(Response::Ok)
    }
}

/// A change of the tags themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagChange {
    /// `/_update tag N {...}`.
    Update(i64, TagData),
    /// `/_delete tag N`.
    Delete(i64),
    /// `/_reorder tags id,id,...`.
    Reorder(Vec<i64>),
}
