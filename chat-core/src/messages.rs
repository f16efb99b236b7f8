//! Text messages, quoted replies, edits and deletions in direct chats, as the reference:
//! `x.msg.new` (with `quote: {msgRef, content}`), `x.msg.update`, `x.msg.del` (deleted for
//! everyone: the recipient keeps the item, marked).

use crate::chat::{Chat, ChatError, Event, Response};
use crate::protocol::{
    ChatEvent, ChatMessage, MsgContainer, MsgContent, MsgRef, MsgUpdate, QuotedMsg, B64,
};
use crate::store::{ChatItem, Contact, ItemQuote, NewItem, NOTES};
use simplex_codec::time::UtcTime;

fn utc_of_ms(ms: i64) -> UtcTime {
    UtcTime {
        secs: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) as u32) * 1_000_000,
    }
}

impl Chat {
    fn contact_by_id(&self, contact_id: i64) -> Result<Contact, ChatError> {
        self.store()
            .contact(contact_id)?
            .ok_or_else(|| ChatError::NoContact(format!("@{contact_id}")))
    }

    /// Sends `content` to a contact (quoting `quoted`, an item of that chat) and stores it.
    pub(crate) async fn send_content(
        &self,
        contact: Contact,
        content: MsgContent,
        quoted: Option<ChatItem>,
    ) -> Result<Response, ChatError> {
        let conn = match (contact.ready, contact.conn_id) {
            (true, Some(c)) => c,
            _ => return Err(ChatError::NotReady(contact.local_name)),
        };
        let mut container = MsgContainer::simple(content.clone());
        let mut quote = None;
        if let Some(q) = &quoted {
            container.quote = Some(QuotedMsg {
                msg_ref: MsgRef {
                    msg_id: q.shared_msg_id.clone().map(B64),
                    sent_at: utc_of_ms(q.item_ts),
                    // Whether the quoting side (we) sent the quoted message.
                    sent: q.sent,
                    member_id: None,
                },
                content: q.content.clone(),
            });
            quote = Some(ItemQuote {
                shared_msg_id: q.shared_msg_id.clone().map(B64),
                content: q.content.clone(),
                by_author: q.sent,
            });
        }
        let id = crate::chat::new_shared_msg_id();
        let msg = ChatMessage::new(Some(id.clone()), ChatEvent::MsgNew(container));
        let agent_msg_id = self
            .inner
            .agent
            .send(conn, &msg.encode())
            .await
            .map_err(|e| ChatError::Agent(e.to_string()))?;
        let item = self.store().add_item(&NewItem {
            contact_id: contact.contact_id,
            sent: true,
            shared_msg_id: Some(&id.0),
            agent_msg_id: Some(agent_msg_id),
            content: &content,
            quote: quote.as_ref(),
            edited: false,
        })?;
        Ok(Response::Sent(contact, item))
    }

    /// `/_send @<contactId> text <text>`.
    pub(crate) async fn api_send(
        &self,
        contact_id: i64,
        text: String,
    ) -> Result<Response, ChatError> {
        let contact = self.contact_by_id(contact_id)?;
        self.send_content(contact, MsgContent::text(text), None)
            .await
    }

    /// `> @name (prefix) text` (the latest received message starting with `prefix`) and
    /// `>> @name (prefix) text` (our own latest sent one).
    pub(crate) async fn send_quote(
        &self,
        to: String,
        prefix: String,
        own: bool,
        text: String,
    ) -> Result<Response, ChatError> {
        let contact = self.contact_named(&to)?;
        let quoted = self
            .store()
            .latest_item(contact.contact_id, own, Some(&prefix))?
            .ok_or(ChatError::NoQuotedMessage(prefix))?;
        self.send_content(contact, MsgContent::text(text), Some(quoted))
            .await
    }

    /// A chat and one of its items, by ids.
    fn contact_item(
        &self,
        contact_id: i64,
        item_id: i64,
    ) -> Result<(Contact, ChatItem), ChatError> {
        let contact = self.contact_by_id(contact_id)?;
        let item = self
            .store()
            .item(contact_id, item_id)?
            .ok_or(ChatError::NoItem(item_id))?;
        Ok((contact, item))
    }

    /// `/_update item @<contactId> <itemId> text <text>`.
    pub(crate) async fn update_item(
        &self,
        contact_id: i64,
        item_id: i64,
        text: String,
    ) -> Result<Response, ChatError> {
        let (contact, item) = self.contact_item(contact_id, item_id)?;
        self.edit(contact, item, text).await
    }

    /// `! @name [(prefix)] text`: our latest sent message (starting with `prefix`).
    pub(crate) async fn edit_latest(
        &self,
        to: String,
        prefix: Option<String>,
        text: String,
    ) -> Result<Response, ChatError> {
        let contact = self.contact_named(&to)?;
        let item = self
            .store()
            .latest_item(contact.contact_id, true, prefix.as_deref())?
            .ok_or(ChatError::NoQuotedMessage(prefix.unwrap_or_default()))?;
        self.edit(contact, item, text).await
    }

    /// `/* text`: a note to self, stored only.
    pub(crate) fn add_note(&self, text: String) -> Result<Response, ChatError> {
        let notes = self.contact_by_id(NOTES)?;
        let content = MsgContent::text(text);
        let item = self.store().add_item(&NewItem {
            contact_id: NOTES,
            sent: true,
            shared_msg_id: None,
            agent_msg_id: None,
            content: &content,
            quote: None,
            edited: false,
        })?;
        Ok(Response::Sent(notes, item))
    }

    /// Items with the contact (or note folder) they belong to.
    fn with_chats(&self, items: Vec<ChatItem>) -> Result<Vec<(Contact, ChatItem)>, ChatError> {
        let mut out = Vec::with_capacity(items.len());
        for i in items {
            if let Some(c) = self.store().contact(i.contact_id)? {
                out.push((c, i));
            }
        }
        Ok(out)
    }

    /// `/chats`: each chat's latest item, the most recent first.
    pub(crate) fn chats(&self) -> Result<Response, ChatError> {
        let heads = self.store().chat_heads()?;
        Ok(Response::Items(self.with_chats(heads)?))
    }

    /// `/? text`.
    pub(crate) fn search(&self, text: &str) -> Result<Response, ChatError> {
        let found = self.store().search(text)?;
        Ok(Response::Items(self.with_chats(found)?))
    }

    pub(crate) fn chat_exists(&self, id: i64) -> Result<(), ChatError> {
        self.contact_by_id(id).map(|_| ())
    }

    /// `/clear *`, `/clear @name`.
    pub(crate) fn clear_chat(&self, name: Option<String>) -> Result<Response, ChatError> {
        let (id, shown) = match name {
            None => (NOTES, "notes".to_string()),
            Some(n) => {
                let c = self.contact_named(&n)?;
                (c.contact_id, crate::command::view_name(&c.local_name))
            }
        };
        self.store().clear_chat(id)?;
        Ok(Response::Note(format!("{shown}: all messages are removed")))
    }

    async fn edit(
        &self,
        contact: Contact,
        item: ChatItem,
        text: String,
    ) -> Result<Response, ChatError> {
        if contact.contact_id == NOTES {
            // A note: changed here, nothing to tell anyone, nothing printed.
            self.store()
                .update_item(item.item_id, &MsgContent::text(text))?;
            return Ok(Response::Silent);
        }
        if !item.sent || item.deleted {
            return Err(ChatError::CannotUpdate);
        }
        let content = MsgContent::text(text);
        if content == item.content {
            return Ok(Response::Note("message didn't change".into()));
        }
        let (Some(shared), Some(conn)) = (item.shared_msg_id.clone(), contact.conn_id) else {
            return Err(ChatError::CannotUpdate);
        };
        let msg = ChatMessage::new(
            None,
            ChatEvent::MsgUpdate(MsgUpdate {
                msg_id: B64(shared),
                content: content.clone(),
                mentions: Default::default(),
                ttl: None,
                live: None,
                scope: None,
                as_group: None,
                prefs: None,
            }),
        );
        self.inner
            .agent
            .send(conn, &msg.encode())
            .await
            .map_err(|e| ChatError::Agent(e.to_string()))?;
        self.store().update_item(item.item_id, &content)?;
        let item = ChatItem {
            content,
            edited: true,
            ..item
        };
        Ok(Response::Updated(contact, item))
    }

    /// `/_delete item @<contactId> <itemId> internal|broadcast`.
    pub(crate) async fn delete_item(
        &self,
        contact_id: i64,
        item_id: i64,
        broadcast: bool,
    ) -> Result<Response, ChatError> {
        let (contact, item) = self.contact_item(contact_id, item_id)?;
        if broadcast {
            self.delete_for_everyone(contact, item).await
        } else {
            self.store().delete_item(item.item_id)?;
            Ok(Response::Note("message deleted".into()))
        }
    }

    /// `\ @name prefix`: our latest sent message starting with `prefix`, for everyone.
    pub(crate) async fn delete_latest(
        &self,
        to: String,
        prefix: String,
    ) -> Result<Response, ChatError> {
        let contact = self.contact_named(&to)?;
        let item = self
            .store()
            .latest_item(contact.contact_id, true, Some(&prefix))?
            .ok_or(ChatError::NoQuotedMessage(prefix))?;
        self.delete_for_everyone(contact, item).await
    }

    async fn delete_for_everyone(
        &self,
        contact: Contact,
        item: ChatItem,
    ) -> Result<Response, ChatError> {
        if !item.sent || item.deleted {
            return Err(ChatError::CannotDelete);
        }
        let (Some(shared), Some(conn)) = (item.shared_msg_id.clone(), contact.conn_id) else {
            return Err(ChatError::CannotDelete);
        };
        let msg = ChatMessage::new(
            None,
            ChatEvent::MsgDel {
                msg_id: B64(shared),
                member_id: None,
                scope: None,
            },
        );
        self.inner
            .agent
            .send(conn, &msg.encode())
            .await
            .map_err(|e| ChatError::Agent(e.to_string()))?;
        self.store().mark_item_deleted(item.item_id)?;
        Ok(Response::Note("message marked deleted".into()))
    }

    /// A message from a contact: stored (with what it quotes), then shown.
    pub(crate) async fn received_new(
        &self,
        contact: &Contact,
        shared: Option<&B64>,
        c: &MsgContainer,
    ) -> Result<ChatItem, ChatError> {
        let quote = c.quote.as_ref().map(|q| ItemQuote {
            shared_msg_id: q.msg_ref.msg_id.clone(),
            content: q.content.clone(),
            // `sent` is from the quoting side, the item's author.
            by_author: q.msg_ref.sent,
        });
        let item = self.store().add_item(&NewItem {
            contact_id: contact.contact_id,
            sent: false,
            shared_msg_id: shared.map(|i| i.0.as_slice()),
            agent_msg_id: None,
            content: &c.content,
            quote: quote.as_ref(),
            edited: false,
        })?;
        Ok(item)
    }

    /// A contact edited one of its messages; one we no longer have comes as a new item.
    pub(crate) async fn received_update(
        &self,
        contact: &Contact,
        u: &MsgUpdate,
    ) -> Result<(), ChatError> {
        let existing = self
            .store()
            .item_by_shared(contact.contact_id, false, &u.msg_id.0)?;
        let item = match existing {
            Some(item) if item.deleted => return Ok(()),
            Some(item) => {
                self.store().update_item(item.item_id, &u.content)?;
                ChatItem {
                    content: u.content.clone(),
                    edited: true,
                    ..item
                }
            }
            None => self.store().add_item(&NewItem {
                contact_id: contact.contact_id,
                sent: false,
                shared_msg_id: Some(&u.msg_id.0),
                agent_msg_id: None,
                content: &u.content,
                quote: None,
                edited: true,
            })?,
        };
        self.emit(Event::Updated(contact.clone(), item)).await;
        Ok(())
    }

    /// A contact deleted one of its messages for everyone.
    pub(crate) async fn received_delete(
        &self,
        contact: &Contact,
        shared: &B64,
    ) -> Result<(), ChatError> {
        let existing = self
            .store()
            .item_by_shared(contact.contact_id, false, &shared.0)?;
        match existing {
            Some(item) => {
                self.store().mark_item_deleted(item.item_id)?;
                self.emit(Event::Deleted(
                    contact.clone(),
                    Some(ChatItem {
                        deleted: true,
                        ..item
                    }),
                ))
                .await;
            }
            None => self.emit(Event::Deleted(contact.clone(), None)).await,
        }
        Ok(())
    }
}
