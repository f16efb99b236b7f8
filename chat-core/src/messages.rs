//! Text messages, quoted replies, edits and deletions in direct chats, as the reference:
//! `x.msg.new` (with `quote: {msgRef, content}`), `x.msg.update`, `x.msg.del` (deleted for
//! everyone: the recipient keeps the item, marked).

use crate::chat::{Chat, ChatError, Event, Response};
use crate::command::{Composed, DeleteMode};
use crate::protocol::{
    ChatEvent, ChatMessage, MsgContainer, MsgContent, MsgRef, MsgUpdate, QuotedMsg, B64,
};
use crate::store::{ChatItem, Contact, ItemQuote, NewItem, NOTES};
use simplex_codec::time::UtcTime;

impl Chat {
    pub(crate) fn contact_by_id(&self, contact_id: i64) -> Result<Contact, ChatError> {
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
        self.send_content_timed(contact, content, quoted, None)
            .await
    }

    /// [`Chat::send_content`], disappearing after `ttl` seconds on both sides when given.
    pub(crate) async fn send_content_timed(
        &self,
        contact: Contact,
        content: MsgContent,
        quoted: Option<ChatItem>,
        ttl: Option<i64>,
    ) -> Result<Response, ChatError> {
        self.send_new(contact, content, quoted, ttl, None, false)
            .await
    }

    /// [`Chat::send_content_timed`]; a forwarded message (`forward`: where it came from) is
    /// sent marked forwarded and keeps its origin.
    pub(crate) async fn send_new(
        &self,
        contact: Contact,
        content: MsgContent,
        quoted: Option<ChatItem>,
        ttl: Option<i64>,
        forward: Option<serde_json::Value>,
        live: bool,
    ) -> Result<Response, ChatError> {
        if contact.deleted_by_contact {
            return Err(ChatError::ContactDeleted(contact.local_name));
        }
        let conn = match (contact.ready, contact.conn_id) {
            (true, Some(c)) => c,
            _ => return Err(ChatError::NotReady(contact.local_name)),
        };
        crate::disable::check_enabled(&contact)?;
        // Disappearing messages on with this contact: each message goes with the user's time.
        let ttl = ttl.or_else(|| crate::features::Prefs::of(&contact).timed_ttl());
        let mut container = MsgContainer::simple(content.clone());
        container.ttl = ttl;
        container.forward = forward.is_some();
        container.live = live.then_some(true);
        let (msg_quote, quote) = quoted.as_ref().map(direct_quote).unzip();
        container.quote = msg_quote;
        let id = crate::chat::new_shared_msg_id();
        let msg = ChatMessage::new(Some(id.clone()), ChatEvent::MsgNew(container));
        let agent_msg_id = self
            .send_body(conn, &msg.encode())
            .await
            .map_err(crate::chat::agent_error)?;
        let (item, refused) = self.record_sent_item(conn, agent_msg_id, |store| {
            store.add_item(&NewItem {
                contact_id: contact.contact_id,
                sent: true,
                shared_msg_id: Some(&id.0),
                agent_msg_id: Some(agent_msg_id),
                content: &content,
                quote: quote.as_ref(),
                edited: false,
            })
        })?;
        let item = self.with_forward(item, forward)?;
        let item = if live {
            self.store().start_live(item)?
        } else {
            item
        };
        let item = match ttl {
            Some(t) => self.set_timer(item, t)?,
            None => item,
        };
        // Refused already (the contact's queue is gone): said as for any refusal.
        if refused {
            let status = Event::ItemStatus(contact.clone(), item.clone());
            crate::chat::on_heap(|| self.emit(status)).await;
        }
        Ok(Response::Sent(contact, item))
    }

    /// `/feed text`: the message to every contact it can go to now (connected, not deleted
    /// by them), each kept in its chat as any message; how many took it and how many not.
    pub(crate) async fn feed(&self, text: String) -> Result<Response, ChatError> {
        let content = MsgContent::text(text);
        let contacts = self.store().contacts()?;
        let (mut sent, mut failed) = (0, 0);
        for c in contacts
            .into_iter()
            .filter(|c| c.ready && c.conn_id.is_some() && !c.deleted_by_contact)
        {
            match self.send_content(c, content.clone(), None).await {
                Ok(_) => sent += 1,
                Err(_) => failed += 1,
            }
        }
        Ok(Response::Broadcast {
            content,
            sent,
            failed,
            at: crate::store::now_ms(),
        })
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

    /// `/_send <chatRef> json [...]`: each message in turn (a file offered as `/f` does,
    /// with the message's content); all are checked first.
    pub(crate) async fn api_send_json(
        &self,
        chat_id: i64,
        ttl: Option<i64>,
        live: bool,
        messages: Vec<Composed>,
    ) -> Result<Response, ChatError> {
        let contact = self.contact_by_id(chat_id)?;
        if live {
            crate::live::check_sendable(messages.len(), messages.iter().any(|m| m.file.is_some()))?;
            if chat_id == NOTES {
                return Err(ChatError::BadCommand(
                    "live messages are not supported in notes".into(),
                ));
            }
        }
        let mut quotes = Vec::with_capacity(messages.len());
        for m in &messages {
            quotes.push(match m.quoted_item_id {
                Some(id) => {
                    let item = self
                        .store()
                        .item(chat_id, id)?
                        .ok_or(ChatError::NoItem(id))?;
                    if item.info.is_some() {
                        return Err(ChatError::Command(crate::command::CommandError(format!(
                            "item {id} is not a message and cannot be quoted"
                        ))));
                    }
                    Some(item)
                }
                None => None,
            });
            let voice = matches!(m.content, MsgContent::Voice { .. });
            if voice
                && chat_id != NOTES
                && !crate::features::Prefs::of(&contact)
                    .enabled("voice")
                    .for_user
            {
                return Err(ChatError::FeatureNotAllowed("Voice messages".into()));
            }
        }
        // Notes (with their files) are only kept here.
        if chat_id == NOTES {
            return self.create_notes(messages);
        }
        let mut sent = Vec::with_capacity(messages.len());
        let mut paths = Vec::new();
        for (m, quoted) in messages.into_iter().zip(quotes) {
            let r = match &m.file {
                Some(path) => {
                    let file = crate::files::FileExtras {
                        ttl,
                        forward: None,
                        quoted,
                    };
                    self.send_file_with(contact.clone(), path.clone(), m.content, file)
                        .await?
                }
                None => {
                    self.send_new(contact.clone(), m.content, quoted, ttl, None, live)
                        .await?
                }
            };
            crate::chat::collect_sent(r, &mut sent, &mut paths);
        }
        Ok(Response::SentMany(contact, sent, paths))
    }

    /// `/_get chats`: the `count` most recent chats with their latest item, and whether each
    /// is marked unread.
    pub(crate) fn api_chats(&self, count: usize) -> Result<Response, ChatError> {
        let store = self.store();
        let mut chats = Vec::new();
        let mut contacts = store.contacts()?;
        if let Some(notes) = store.contact(NOTES)? {
            contacts.push(notes);
        }
        for c in contacts {
            let items = store.items(c.contact_id, 1)?;
            let unread = store.is_unread(c.contact_id)?;
            chats.push((c, items, unread));
        }
        let ts = |(c, items, _): &(Contact, Vec<ChatItem>, bool)| {
            items.last().map_or(c.created_at, |i| i.item_ts)
        };
        chats.sort_by_key(|c| std::cmp::Reverse(ts(c)));
        chats.truncate(count);
        Ok(Response::Chats(chats))
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
        live: bool,
    ) -> Result<Response, ChatError> {
        let (contact, item) = self.contact_item(contact_id, item_id)?;
        self.edit(contact, item, text, live).await
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
        self.edit(contact, item, text, false).await
    }

    /// `/* text`: a note to self, stored only.
    pub(crate) fn add_note(&self, text: String) -> Result<Response, ChatError> {
        self.add_note_content(MsgContent::text(text))
    }

    pub(crate) fn add_note_content(&self, content: MsgContent) -> Result<Response, ChatError> {
        let notes = self.contact_by_id(NOTES)?;
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
        let contact = match name {
            None => self.contact_by_id(NOTES)?,
            Some(n) => self.contact_named(&n)?,
        };
        // The notes' files go with them.
        let files = match contact.contact_id {
            NOTES => self.store().item_files(NOTES)?,
            _ => Vec::new(),
        };
        self.store().clear_chat(contact.contact_id)?;
        self.remove_note_files(&files)?;
        Ok(Response::Cleared(contact))
    }

    async fn edit(
        &self,
        contact: Contact,
        item: ChatItem,
        text: String,
        live: bool,
    ) -> Result<Response, ChatError> {
        if contact.contact_id == NOTES {
            // A note: changed here, nothing to tell anyone, nothing printed.
            let content = MsgContent::text(text);
            self.store().update_item(item.item_id, &content)?;
            let item = ChatItem {
                content,
                edited: true,
                ..item
            };
            return Ok(Response::NoteUpdated(contact, item));
        }
        if !item.sent || item.deleted || item.forward.is_some() {
            return Err(ChatError::CannotUpdate);
        }
        let content = MsgContent::text(text);
        // A live message's last update may repeat its text: it still ends it.
        let state = crate::live::next_state(&item, live);
        if content == item.content && state.is_none() {
            return Ok(Response::NotChanged(contact, item));
        }
        let (Some(shared), Some(conn)) = (item.shared_msg_id.clone(), contact.conn_id) else {
            return Err(ChatError::CannotUpdate);
        };
        crate::disable::check_enabled(&contact)?;
        let mut update = MsgUpdate::new(B64(shared), content.clone());
        update.live = (state == Some(true)).then_some(true);
        self.send_event(conn, ChatEvent::MsgUpdate(update)).await?;
        let item = self.store().apply_update(item, &content, state)?;
        Ok(Response::Updated(contact, item))
    }

    /// `/_delete item @<contactId> <itemId>[,<itemId>...] internal|internalMark|broadcast`:
    /// every item is checked before any is deleted.
    pub(crate) async fn delete_items(
        &self,
        contact_id: i64,
        item_ids: Vec<i64>,
        mode: DeleteMode,
    ) -> Result<Response, ChatError> {
        let contact = self.contact_by_id(contact_id)?;
        let mut items = Vec::with_capacity(item_ids.len());
        for id in item_ids {
            let item = self
                .store()
                .item(contact_id, id)?
                .ok_or(ChatError::NoItem(id))?;
            if mode == DeleteMode::Broadcast && (!item.sent || item.deleted) {
                return Err(ChatError::CannotDelete);
            }
            items.push(item);
        }
        let mut done = Vec::with_capacity(items.len());
        for item in items {
            done.push(match mode {
                DeleteMode::Broadcast => self.broadcast_delete(&contact, item).await?,
                DeleteMode::Internal => {
                    self.store().delete_item(item.item_id)?;
                    // A note's file goes with it.
                    if contact_id == NOTES {
                        if let Some(f) = item.file_id {
                            self.remove_note_files(&[f])?;
                        }
                    }
                    (item, None)
                }
                DeleteMode::InternalMark => {
                    self.store().mark_item_deleted(item.item_id)?;
                    let marked = ChatItem {
                        deleted: true,
                        ..item.clone()
                    };
                    (item, Some(marked))
                }
            });
        }
        Ok(Response::Deleted {
            contact,
            items: done,
        })
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
        let done = self.broadcast_delete(&contact, item).await?;
        Ok(Response::Deleted {
            contact,
            items: vec![done],
        })
    }

    /// Tells the contact, then marks the item deleted here: (as it was, as it is).
    async fn broadcast_delete(
        &self,
        contact: &Contact,
        item: ChatItem,
    ) -> Result<(ChatItem, Option<ChatItem>), ChatError> {
        if !item.sent || item.deleted {
            return Err(ChatError::CannotDelete);
        }
        let (Some(shared), Some(conn)) = (item.shared_msg_id.clone(), contact.conn_id) else {
            return Err(ChatError::CannotDelete);
        };
        self.send_event(
            conn,
            ChatEvent::MsgDel {
                msg_id: B64(shared),
                member_id: None,
                scope: None,
            },
        )
        .await?;
        // Full deletion when the contact allows it us; else kept, marked.
        if crate::features::Prefs::of(contact)
            .enabled("fullDelete")
            .for_user
        {
            self.store().delete_item(item.item_id)?;
            return Ok((item, None));
        }
        self.store().mark_item_deleted(item.item_id)?;
        let marked = ChatItem {
            deleted: true,
            ..item.clone()
        };
        Ok((item, Some(marked)))
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
            member_id: None,
            member_name: None,
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
        let item = self.received_forwarded(item, c.forward)?;
        let item = if c.live == Some(true) {
            self.store().start_live(item)?
        } else {
            item
        };
        // A disappearing message: gone here too after its time, from when it is read - when
        // disappearing messages are on with this contact (else kept, as the reference's).
        match c.ttl {
            Some(t)
                if (1..=crate::command::MAX_TTL).contains(&t)
                    && crate::features::Prefs::of(contact).timed_allowed() =>
            {
                self.set_received_ttl(item, t)
            }
            _ => Ok(item),
        }
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
                let state = crate::live::next_state(&item, u.live == Some(true));
                self.store().apply_update(item, &u.content, state)?
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
            // Full deletion when we allow it the contact.
            Some(item)
                if crate::features::Prefs::of(contact)
                    .enabled("fullDelete")
                    .for_contact =>
            {
                self.store().delete_item(item.item_id)?;
                self.emit(Event::FullyDeleted(contact.clone(), item)).await;
            }
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

/// The quote of an item of a direct chat: what the message carries and what our item keeps.
pub(crate) fn direct_quote(q: &ChatItem) -> (QuotedMsg, ItemQuote) {
    let msg = QuotedMsg {
        msg_ref: MsgRef {
            msg_id: q.shared_msg_id.clone().map(B64),
            sent_at: UtcTime::from_millis(q.item_ts),
            // Whether the quoting side (we) sent the quoted message.
            sent: q.sent,
            member_id: None,
        },
        content: q.content.clone(),
    };
    let item = ItemQuote {
        shared_msg_id: q.shared_msg_id.clone().map(B64),
        content: q.content.clone(),
        by_author: q.sent,
        member_id: None,
        member_name: None,
    };
    (msg, item)
}
