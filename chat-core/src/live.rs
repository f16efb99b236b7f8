//! Live messages (`/live @bob [text]`, `/_send ... live=on`): a message sent at once and
//! updated while its author types it (`x.msg.new` and `x.msg.update` with `"live": true`),
//! ended by an update without it. A live item's updates do not mark it edited; it is
//! `Some(true)` while typed and `Some(false)` once ended (the reference's `itemLive`).

use crate::chat::ChatError;
use crate::protocol::MsgContent;
use crate::store::{ChatItem, ChatStore, Result, StoreError};

/// What an update does to `item`'s live state: still live when the update says so (`still`),
/// else ended; none for an item that is not live (an ordinary edit).
pub fn next_state(item: &ChatItem, still: bool) -> Option<bool> {
    (item.live == Some(true)).then_some(still)
}

/// A live message goes alone: not with others, not with a file.
pub fn check_sendable(count: usize, with_file: bool) -> std::result::Result<(), ChatError> {
    if count > 1 {
        return Err(ChatError::BadCommand(
            "invalid multi send: live and more than one quote not supported".into(),
        ));
    }
    if with_file {
        return Err(ChatError::BadCommand(
            "live messages with files are not supported".into(),
        ));
    }
    Ok(())
}

impl crate::chat::Chat {
    /// `/live @name [text]`, `/live #group [text]`.
    pub(crate) async fn send_live(
        &self,
        to: String,
        group: bool,
        text: String,
    ) -> std::result::Result<crate::chat::Response, ChatError> {
        let messages = vec![crate::command::Composed {
            file: None,
            quoted_item_id: None,
            content: MsgContent::text(text),
            mentions: Default::default(),
        }];
        if group {
            let g = self.group_named(&to)?;
            self.api_group_command(crate::command::Command::ApiSendGroup {
                group_id: g.group_id,
                scope: None,
                live: true,
                ttl: None,
                as_group: false,
                sign: false,
                messages,
            })
            .await
        } else {
            let c = self.contact_named(&to)?;
            self.api_send_json(c.contact_id, None, true, messages).await
        }
    }
}

impl ChatStore {
    /// A live item's new content and state (`true`: still live); not marked edited.
    pub fn update_live_item(&self, item_id: i64, content: &MsgContent, live: bool) -> Result<()> {
        let json = serde_json::to_string(content).map_err(|_| StoreError::Corrupt("content"))?;
        self.db.execute(
            "UPDATE chat_items SET content = ?2, live = ?3 WHERE item_id = ?1",
            rusqlite::params![item_id, json, live],
        )?;
        Ok(())
    }

    /// Stores an update of `item` (a live one keeps `live`'s state and is not marked
    /// edited); the item as it is now.
    pub fn apply_update(
        &self,
        item: ChatItem,
        content: &MsgContent,
        live: Option<bool>,
    ) -> Result<ChatItem> {
        match live {
            Some(still) => {
                self.update_live_item(item.item_id, content, still)?;
                Ok(ChatItem {
                    content: content.clone(),
                    live: Some(still),
                    ..item
                })
            }
            None => {
                self.update_item(item.item_id, content)?;
                Ok(ChatItem {
                    content: content.clone(),
                    edited: true,
                    ..item
                })
            }
        }
    }

    /// Marks a new item live (sent or received with `"live": true`).
    pub fn start_live(&self, item: ChatItem) -> Result<ChatItem> {
        self.set_item_live(item.item_id, Some(true))?;
        Ok(ChatItem {
            live: Some(true),
            ..item
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(live: Option<bool>) -> ChatItem {
        ChatItem {
            item_id: 1,
            contact_id: 2,
            sent: true,
            shared_msg_id: None,
            content: MsgContent::text("hi"),
            item_ts: 0,
            quote: None,
            edited: false,
            deleted: false,
            file_id: None,
            timed: None,
            unread: false,
            receipt: None,
            group_id: None,
            group_member_id: None,
            forwarded_by: None,
            info: None,
            forward: None,
            scope: None,
            live,
            deleted_by: None,
            user_mention: false,
            snd_error: None,
            msg_signed: None,
        }
    }

    #[test]
    fn updates_of_live_and_other_items() {
        assert_eq!(next_state(&item(Some(true)), true), Some(true));
        assert_eq!(next_state(&item(Some(true)), false), Some(false));
        // Ended, or never live: an ordinary edit.
        assert_eq!(next_state(&item(Some(false)), true), None);
        assert_eq!(next_state(&item(None), true), None);
        assert!(check_sendable(1, false).is_ok());
        assert!(check_sendable(2, false).is_err());
        assert!(check_sendable(1, true).is_err());
    }
}
