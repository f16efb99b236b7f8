//! Forwarding messages: `@cath <- @bob hi`, `#team <- #club @dan hey`, `* <- @bob hi`,
//! `/_forward @3 @2 8`. The latest message of one chat starting with the text (or the items
//! named) is sent to another as a new message marked forwarded (`x.msg.new` with
//! `"forward": true`, no quote); the copy keeps where it came from (`itemForwarded`: the
//! chat's name and the direction, `<- you @bob` when it was ours). An item forwarded again
//! keeps its first origin; one received forwarded (origin unknown) and a note get the chat
//! they are forwarded from - a note forwarded is sent as a plain message, as the reference's.
//! Forwarded items are never edited. A message with a file is forwarded with the file as a
//! new upload, when the file is here: one we sent (its source still there) or one received
//! whole; not to the note folder.

use serde_json::{json, Value};

use crate::chat::{Chat, ChatError, Response};
use crate::command::{ChatId, ChatName};
use crate::group_store::Group;
use crate::protocol::MsgContainer;
use crate::store::{ChatItem, Contact, NOTES};

type Result<T> = std::result::Result<T, ChatError>;

/// Where a forwarded message comes from or goes to (one at a time, for one command).
#[allow(clippy::large_enum_variant)]
pub(crate) enum Place {
    Contact(Contact),
    Group(Group),
    Notes,
}

impl Chat {
    pub(crate) fn place_named(&self, name: &ChatName) -> Result<Place> {
        Ok(match name {
            ChatName::Contact(n) => Place::Contact(self.contact_named(n)?),
            ChatName::Group(g) => Place::Group(self.group_named(g)?),
            ChatName::Notes => Place::Notes,
        })
    }

    pub(crate) fn place_by_id(&self, id: ChatId) -> Result<Place> {
        Ok(match id {
            ChatId::Contact(NOTES) => Place::Notes,
            ChatId::Contact(c) => Place::Contact(self.contact_by_id(c)?),
            ChatId::Group(g) => Place::Group(
                self.store()
                    .group(g)?
                    .ok_or_else(|| ChatError::NoGroupId(g))?,
            ),
        })
    }

    /// `@cath <- @bob prefix` and the other terminal forms.
    pub(crate) async fn forward_named(
        &self,
        to: ChatName,
        from: ChatName,
        member: Option<String>,
        prefix: String,
    ) -> Result<Response> {
        let source = self.place_named(&from)?;
        let item = self.item_by_prefix(&source, member.as_deref(), &prefix)?;
        let target = self.place_named(&to)?;
        Box::pin(self.forward_items(target, source, vec![item], None)).await
    }

    /// The latest message of a chat (by `member`, of a group) whose text starts with
    /// `prefix`, ours or theirs.
    pub(crate) fn item_by_prefix(
        &self,
        place: &Place,
        member: Option<&str>,
        prefix: &str,
    ) -> Result<ChatItem> {
        let store = self.store();
        let item = match place {
            Place::Contact(c) => {
                // Ours or the contact's, whichever is later.
                let ours = store.latest_item(c.contact_id, true, Some(prefix))?;
                let theirs = store.latest_item(c.contact_id, false, Some(prefix))?;
                match (ours, theirs) {
                    (Some(a), Some(b)) => Some(if a.item_id > b.item_id { a } else { b }),
                    (a, b) => a.or(b),
                }
            }
            Place::Notes => store.latest_item(NOTES, true, Some(prefix))?,
            Place::Group(g) => match member {
                Some(m) => {
                    let m = store
                        .member_by_name(g.group_id, m)?
                        .ok_or_else(|| ChatError::NotGroupMember(m.to_string()))?;
                    store.latest_group_item(g.group_id, Some(m.group_member_id), Some(prefix))?
                }
                None => store.latest_group_item_any(g.group_id, prefix)?,
            },
        };
        item.ok_or_else(|| ChatError::NoQuotedMessage(prefix.to_string()))
    }

    /// An item of a chat by its id.
    pub(crate) fn item_in(&self, place: &Place, item_id: i64) -> Result<ChatItem> {
        let store = self.store();
        let item = match place {
            Place::Contact(c) => store.item(c.contact_id, item_id)?,
            Place::Notes => store.item(NOTES, item_id)?,
            Place::Group(g) => store.group_item(g.group_id, item_id)?,
        };
        item.ok_or(ChatError::NoItem(item_id))
    }

    /// `/_forward <to> <from> <itemId>[,...] [ttl=N]`.
    pub(crate) async fn forward_ids(
        &self,
        to: ChatId,
        from: ChatId,
        item_ids: Vec<i64>,
        ttl: Option<i64>,
    ) -> Result<Response> {
        let source = self.place_by_id(from)?;
        let mut items = Vec::with_capacity(item_ids.len());
        for id in item_ids {
            items.push(self.item_in(&source, id)?);
        }
        let target = self.place_by_id(to)?;
        Box::pin(self.forward_items(target, source, items, ttl)).await
    }

    /// Sends (or, to the note folder, stores) each item as a forwarded message; every item is
    /// checked first.
    async fn forward_items(
        &self,
        target: Place,
        source: Place,
        items: Vec<ChatItem>,
        ttl: Option<i64>,
    ) -> Result<Response> {
        // Every item checked first; the files' places kept for the sending.
        let mut files = Vec::with_capacity(items.len());
        for item in &items {
            if item.info.is_some() || item.deleted {
                return Err(ChatError::NoItem(item.item_id));
            }
            files.push(match item.file_id {
                Some(id) => Some(self.forwardable_file(id)?),
                None => None,
            });
        }
        let single = items.len() == 1;
        let mut sent = Vec::with_capacity(items.len());
        let mut paths = Vec::new();
        let mut last = None;
        for (item, file) in items.into_iter().zip(files) {
            let origin = match &item.forward {
                Some(f) if f["type"] != "unknown" => Some(f.clone()),
                _ => origin(&source, &item),
            };
            let content = item.content.clone();
            let response = match (&target, file) {
                (Place::Contact(c), Some(path)) => {
                    let extras = crate::files::FileExtras {
                        ttl,
                        forward: origin,
                        quoted: None,
                    };
                    Box::pin(self.send_file_with(c.clone(), path, content, extras)).await?
                }
                (Place::Group(g), Some(path)) => {
                    let extras = crate::group_files::GroupFileExtras {
                        forward: origin,
                        ..Default::default()
                    };
                    Box::pin(self.send_group_file_with(g.clone(), path, content, extras)).await?
                }
                (Place::Contact(c), None) => {
                    Box::pin(self.send_new(c.clone(), content, None, ttl, origin, false)).await?
                }
                (Place::Group(g), None) => {
                    let mut container = MsgContainer::simple(content);
                    container.forward = origin.is_some();
                    match Box::pin(self.send_group_container(g.clone(), container, None)).await? {
                        Response::GroupSent(g, item) => {
                            Response::GroupSent(g, self.with_forward(item, origin)?)
                        }
                        other => other,
                    }
                }
                // A copy of the file is kept with the note (see `notes.rs`).
                (Place::Notes, Some(path)) => {
                    let (item, file_id, name) = self.add_note_file(&path, content)?;
                    paths.push((file_id, name));
                    let notes = self.contact_by_id(crate::store::NOTES)?;
                    Response::Sent(notes, self.with_forward(item, origin)?)
                }
                (Place::Notes, None) => match self.add_note_content(content)? {
                    Response::Sent(c, item) => Response::Sent(c, self.with_forward(item, origin)?),
                    other => other,
                },
            };
            match response {
                Response::Sent(c, item) => {
                    sent.push(item);
                    last = Some(Place::Contact(c));
                }
                Response::GroupSent(g, item) => {
                    sent.push(item);
                    last = Some(Place::Group(g));
                }
                // One file: its own lines (how to cancel it); among several, listed as sent.
                r @ (Response::FileSending { .. } | Response::GroupFileSending { .. })
                    if single =>
                {
                    return Ok(r)
                }
                Response::FileSending {
                    contact,
                    item,
                    file_id,
                    path,
                } => {
                    sent.push(item);
                    paths.push((file_id, path));
                    last = Some(Place::Contact(contact));
                }
                Response::GroupFileSending {
                    group,
                    item,
                    file_id,
                    path,
                } => {
                    sent.push(item);
                    paths.push((file_id, path));
                    last = Some(Place::Group(group));
                }
                other => return Ok(other),
            }
        }
        Ok(match (last, sent.len()) {
            // A note's file is shown with its note.
            (Some(Place::Contact(c)), 1) if paths.is_empty() => Response::Sent(c, sent.remove(0)),
            (Some(Place::Contact(c)), _) => Response::SentMany(c, sent, paths),
            (Some(Place::Group(g)), 1) => Response::GroupSent(g, sent.remove(0)),
            (Some(Place::Group(g)), _) => Response::GroupSentMany(g, sent, paths),
            _ => Response::Ok,
        })
    }

    /// Where the file of a message to forward is here: one we sent (its source) or one
    /// received whole.
    pub(crate) fn forwardable_file(&self, file_id: i64) -> Result<String> {
        let f = self
            .store()
            .file(file_id)?
            .ok_or(ChatError::NoFile(file_id))?;
        let path = match (&f.path, f.sent, f.status) {
            (Some(p), true, _) => p.clone(),
            (Some(p), false, crate::store::FileStatus::Complete) => p.clone(),
            _ => {
                return Err(ChatError::File(format!(
                    "file {file_id} ({}) is not received: it cannot be forwarded",
                    f.name
                )))
            }
        };
        if !std::path::Path::new(&path).is_file() {
            return Err(ChatError::File(format!(
                "file {file_id} ({}) is no longer at {path}: it cannot be forwarded",
                f.name
            )));
        }
        Ok(path)
    }

    /// Records where a stored item was forwarded from.
    pub(crate) fn with_forward(
        &self,
        mut item: ChatItem,
        forward: Option<Value>,
    ) -> Result<ChatItem> {
        if let Some(f) = forward {
            self.store().set_item_forward(item.item_id, &f)?;
            item.forward = Some(f);
        }
        Ok(item)
    }

    /// A received message marked forwarded: its origin is not known here.
    pub(crate) fn received_forwarded(&self, item: ChatItem, forwarded: bool) -> Result<ChatItem> {
        self.with_forward(item, forwarded.then(|| json!({"type": "unknown"})))
    }
}

/// Where an item of `source` comes from, as the API's `itemForwarded`; none for a note.
fn origin(source: &Place, item: &ChatItem) -> Option<Value> {
    let dir = if item.sent { "snd" } else { "rcv" };
    match source {
        Place::Contact(c) => Some(json!({
            "type": "contact",
            "chatName": c.local_name,
            "msgDir": dir,
            "contactId": c.contact_id,
            "chatItemId": item.item_id,
        })),
        Place::Group(g) => Some(json!({
            "type": "group",
            "chatName": g.local_name,
            "msgDir": dir,
            "groupId": g.group_id,
            "chatItemId": item.item_id,
        })),
        Place::Notes => None,
    }
}
