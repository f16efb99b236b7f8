//! An item's information, as the reference's `/item info <chat> <text>` and `/_get item info
//! <chat> <itemId>`: when it was sent (and received), when it disappears, its contents before
//! each edit (`chat_item_versions`, kept by [`crate::store::ChatStore::update_item`]), the
//! item it was forwarded from, when that is still here, and for a message we sent to a small
//! group, each member's receipt (`group_deliveries`).

use crate::chat::{Chat, ChatError, Response};
use crate::command::{ChatId, ChatName};
use crate::forward::Place;
use crate::group_store::{Group, Member};
use crate::protocol::MsgContent;
use crate::store::{ChatItem, Contact, NOTES};

type Result<T> = std::result::Result<T, ChatError>;

/// An item with its chat.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemInChat {
    /// Its chat.
    pub chat: ItemChat,
    /// The item.
    pub item: ChatItem,
}

/// The chat of an item.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum ItemChat {
    /// A contact's (the note folder's too).
    Contact(Contact),
    /// A group's, with the member who wrote a received item.
    Group(Group, Option<Member>),
}

impl ItemChat {
    /// As the terminal names it: `@bob`, `#team`, `*`.
    pub fn shown(&self) -> String {
        match self {
            Self::Contact(c) if c.contact_id == NOTES => "*".into(),
            Self::Contact(c) => format!("@{}", crate::command::view_name(&c.local_name)),
            Self::Group(g, _) => format!("#{}", crate::command::view_name(&g.local_name)),
        }
    }
}

/// What `/item info` shows.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemInfo {
    /// The item.
    pub item: ItemInChat,
    /// Its contents, newest first: (when, in ms; content) - the current one alone for a
    /// message never edited; none for an informational item.
    pub versions: Vec<(i64, MsgContent)>,
    /// The item it was forwarded from, when that is still here.
    pub forwarded_from: Option<ItemInChat>,
    /// A message we sent to a small group: each member it went to and where it stands
    /// (sent, received, not delivered); none for other items.
    pub deliveries: Option<Vec<(i64, crate::group_receipts::MemberDelivery)>>,
}

impl Chat {
    /// `/item info <chat> <text>`: the latest message of the chat starting with the text.
    pub(crate) fn item_info_named(&self, chat: ChatName, prefix: String) -> Result<Response> {
        let place = self.place_named(&chat)?;
        let item = self.item_by_prefix(&place, None, &prefix)?;
        self.item_info(place, item)
    }

    /// `/_get item info <chat> <itemId>`.
    pub(crate) fn item_info_by_id(&self, chat: ChatId, item_id: i64) -> Result<Response> {
        let place = self.place_by_id(chat)?;
        let item = self.item_in(&place, item_id)?;
        self.item_info(place, item)
    }

    fn item_info(&self, place: Place, item: ChatItem) -> Result<Response> {
        let mut versions = self.store().item_versions(item.item_id)?;
        if versions.is_empty() && item.info.is_none() {
            versions.push((item.item_ts, item.content.clone()));
        }
        let forwarded_from = item
            .forward
            .as_ref()
            .and_then(|f| self.forward_source(f).ok().flatten());
        let deliveries = match (&place, item.sent) {
            (Place::Group(_), true) => {
                Some(self.store().group_delivery_statuses(item.item_id)?).filter(|d| !d.is_empty())
            }
            _ => None,
        };
        let item = self.in_chat(place, item)?;
        Ok(Response::ItemInfo(Box::new(ItemInfo {
            item,
            versions,
            forwarded_from,
            deliveries,
        })))
    }

    /// The item a forwarded one came from (its `itemForwarded` names the chat and the item),
    /// when both are still here.
    fn forward_source(&self, f: &serde_json::Value) -> Result<Option<ItemInChat>> {
        let Some(item_id) = f["chatItemId"].as_i64() else {
            return Ok(None);
        };
        let place = match (f["contactId"].as_i64(), f["groupId"].as_i64()) {
            (Some(c), _) => self.place_by_id(ChatId::Contact(c)),
            (None, Some(g)) => self.place_by_id(ChatId::Group(g)),
            (None, None) => return Ok(None),
        };
        let Ok(place) = place else { return Ok(None) };
        let Ok(item) = self.item_in(&place, item_id) else {
            return Ok(None);
        };
        self.in_chat(place, item).map(Some)
    }

    fn in_chat(&self, place: Place, item: ChatItem) -> Result<ItemInChat> {
        let chat = match place {
            Place::Contact(c) => ItemChat::Contact(c),
            Place::Notes => ItemChat::Contact(self.contact_by_id(NOTES)?),
            Place::Group(g) => {
                let author = match item.group_member_id {
                    Some(id) => self.store().member(id)?,
                    None => None,
                };
                ItemChat::Group(g, author)
            }
        };
        Ok(ItemInChat { chat, item })
    }
}
