//! Quotes, edits and deletions in groups, and `/tail #group`, with the reference's events:
//! a quote names the quoted message's author (`msgRef.memberId`); an edit (`x.msg.update`)
//! and a deletion (`x.msg.del`) come from the message's author, or - a deletion with
//! `memberId` - from a moderator or above deleting a member's message (not one above its
//! own role). What a member changes in someone else's name is refused.

use crate::chat::{Chat, ChatError, Event, Response};
use crate::group_store::{Group, Member};
use crate::protocol::{
    ChatEvent, ChatMessage, GroupMemberRole, MsgContainer, MsgContent, MsgRef, MsgUpdate,
    QuotedMsg, B64,
};
use crate::store::{ChatItem, ItemQuote};
use simplex_codec::time::UtcTime;

type Result<T> = std::result::Result<T, ChatError>;

impl Chat {
    /// `> #team [@member] (prefix) text`: a reply quoting the member's latest message that
    /// starts with `prefix` (ours, without a member).
    pub(crate) async fn send_group_quote(
        &self,
        group: String,
        member: Option<String>,
        prefix: String,
        text: String,
    ) -> Result<Response> {
        let g = self.group_named(&group)?;
        // Without a member: the latest message starting with the prefix, whoever wrote it
        // (ours included), as the reference's.
        let quoted = match &member {
            None => self
                .store()
                .latest_group_item_any(g.group_id, &prefix)?
                .filter(|i| i.info.is_none()),
            Some(n) => {
                let m = self.member_by_name(&g, n)?;
                self.store().latest_group_item(
                    g.group_id,
                    Some(m.group_member_id),
                    Some(&prefix),
                )?
            }
        }
        .ok_or_else(|| ChatError::NoQuotedMessage(prefix.clone()))?;
        let (quote, item_quote) = self
            .group_quote(&g, &quoted)?
            .ok_or(ChatError::NoQuotedMessage(prefix))?;
        let mut container = MsgContainer::simple(MsgContent::text(text.clone()));
        container.quote = Some(quote);
        container.mentions = self.sent_mentions(&g, &text, None)?;
        self.send_group_container(g, container, Some(&item_quote))
            .await
    }

    /// The quote of one of the group's messages (ours or a member's): what the message
    /// carries and what our item keeps; none for a message whose author is gone.
    pub(crate) fn group_quote(
        &self,
        g: &Group,
        quoted: &ChatItem,
    ) -> Result<Option<(QuotedMsg, ItemQuote)>> {
        // A post as the channel itself (received, or ours sent so) is quoted as the
        // channel's: no member named, the channel's name shown. (Elsewhere an item without
        // its member is one whose member's record is gone: not quoted.)
        let channel_post = (quoted.is_channel_post()
            || (quoted.sent && self.store().sent_as_channel(quoted.item_id)?))
            && self.is_channel(g)?;
        let (member_id, member_name) = if channel_post {
            (None, format!("#{}", g.local_name))
        } else if quoted.sent {
            (Some(g.member_id.clone()), self.profile_in(g).display_name)
        } else {
            let author = match quoted.group_member_id {
                Some(id) => self.store().member(id)?,
                None => None,
            };
            match author {
                Some(m) => (Some(m.member_id), m.local_name),
                None => return Ok(None),
            }
        };
        let shared = quoted.shared_msg_id.clone().map(B64);
        let quote = QuotedMsg {
            msg_ref: MsgRef {
                msg_id: shared.clone(),
                sent_at: UtcTime::from_millis(quoted.item_ts),
                sent: quoted.sent,
                member_id: member_id.clone(),
            },
            content: quoted.content.clone(),
        };
        let item_quote = ItemQuote {
            shared_msg_id: shared,
            content: quoted.content.clone(),
            by_author: quoted.sent,
            member_id,
            member_name: Some(member_name),
        };
        Ok(Some((quote, item_quote)))
    }

    /// A message of the group (or of its support chat `scope`) to quote in `/_send`
    /// (`quotedItemId`).
    pub(crate) fn api_group_quote(
        &self,
        g: &Group,
        item_id: i64,
        scope: Option<&crate::store::ItemScope>,
    ) -> Result<(QuotedMsg, ItemQuote)> {
        let item = self
            .store()
            .group_item(g.group_id, item_id)?
            .ok_or(ChatError::NoItem(item_id))?;
        let not_quotable =
            |why: &str| ChatError::BadCommand(format!("item {item_id} {why} and cannot be quoted"));
        if item.info.is_some() {
            return Err(not_quotable("is not a message"));
        }
        if item.deleted {
            return Err(not_quotable("is deleted"));
        }
        if item.scope.as_ref().map(|s| s.member) != scope.map(|s| s.member) {
            return Err(not_quotable("is in another chat of the group"));
        }
        self.group_quote(g, &item)?
            .ok_or_else(|| not_quotable("is by a member no longer in the group"))
    }

    /// The quote of a message received in the group, with the quoted author's name here.
    pub(crate) fn received_group_quote(&self, g: &Group, q: &QuotedMsg) -> Result<ItemQuote> {
        let name = match &q.msg_ref.member_id {
            Some(id) if *id == g.member_id => Some(self.profile_in(g).display_name),
            Some(id) => self
                .store()
                .member_by_member_id(g.group_id, id)?
                .map(|m| m.local_name),
            // A post as the channel itself.
            None if self.is_channel(g)? => Some(format!("#{}", g.local_name)),
            None => None,
        };
        Ok(ItemQuote {
            shared_msg_id: q.msg_ref.msg_id.clone(),
            content: q.content.clone(),
            by_author: q.msg_ref.sent,
            member_id: q.msg_ref.member_id.clone(),
            member_name: name,
        })
    }

    /// A member of the group by name.
    fn member_by_name(&self, g: &Group, name: &str) -> Result<Member> {
        self.store()
            .member_by_name(g.group_id, name)?
            .ok_or_else(|| ChatError::NotGroupMember(name.to_string()))
    }

    /// `! #team [(prefix)] text`: our latest message (starting with `prefix`) edited for
    /// every member.
    pub(crate) async fn edit_group_latest(
        &self,
        group: String,
        prefix: Option<String>,
        text: String,
    ) -> Result<Response> {
        let g = self.group_named(&group)?;
        crate::groups::check_current(&g)?;
        let item = self
            .store()
            .latest_group_item(g.group_id, None, prefix.as_deref())?
            .ok_or(ChatError::NoQuotedMessage(prefix.unwrap_or_default()))?;
        Box::pin(self.edit_group_item(g, item, MsgContent::text(text), false)).await
    }

    /// Our group message edited for every member.
    pub(crate) async fn edit_group_item(
        &self,
        g: Group,
        item: ChatItem,
        content: MsgContent,
        live: bool,
    ) -> Result<Response> {
        if !item.sent || item.deleted || item.info.is_some() || item.forward.is_some() {
            return Err(ChatError::CannotUpdate);
        }
        // A live message's last update may repeat its text: it still ends it.
        let state = crate::live::next_state(&item, live);
        if content == item.content && state.is_none() {
            return Err(ChatError::CannotUpdate);
        }
        let shared = item.shared_msg_id.clone().ok_or(ChatError::CannotUpdate)?;
        let mut update = MsgUpdate::new(B64(shared), content.clone());
        // The members the new text names are mentioned (anew).
        update.mentions = self.sent_mentions(&g, crate::mentions::content_text(&content), None)?;
        let mentioned = crate::mentions::member_ids(&update.mentions);
        update.live = (state == Some(true)).then_some(true);
        // A post as the channel is edited as the channel's.
        update.as_group = self.store().sent_as_channel(item.item_id)?.then_some(true);
        // A signed post's edit is signed too (`group_keys.rs`; as the reference's).
        let signed = match (&item.msg_signed, item.scope.is_some()) {
            (Some(_), false) => {
                let body = ChatMessage::new(None, ChatEvent::MsgUpdate(update.clone())).encode();
                self.sign_content(&g, &body, false)?
            }
            _ => None,
        };
        match signed {
            Some(body) => {
                self.broadcast(&g, &body).await?;
            }
            None => {
                self.send_about_item(&g, &item, |scope| {
                    ChatEvent::MsgUpdate(MsgUpdate { scope, ..update })
                })
                .await?
            }
        }
        self.store().set_item_mentions(item.item_id, &mentioned)?;
        let item = self.store().apply_update(item, &content, state)?;
        Ok(Response::GroupItemUpdated(g, item))
    }

    /// `\ #team prefix`: our latest message starting with `prefix`, deleted for everyone;
    /// `\\ #team member prefix`: a member's, by a moderator or above.
    pub(crate) async fn delete_group_latest(
        &self,
        group: String,
        member: Option<String>,
        prefix: String,
    ) -> Result<Response> {
        let g = self.group_named(&group)?;
        crate::groups::check_current(&g)?;
        let author = match &member {
            None => None,
            Some(n) => Some(self.member_by_name(&g, n)?),
        };
        let item = self
            .store()
            .latest_group_item(
                g.group_id,
                author.as_ref().map(|m| m.group_member_id),
                Some(&prefix),
            )?
            .ok_or(ChatError::NoQuotedMessage(prefix))?;
        let moderated = author.is_some();
        let now = Box::pin(self.delete_group_item(&g, &item, author.as_ref())).await?;
        Ok(Response::GroupItemDeleted {
            group: g,
            moderated,
            // Gone, or (a member's) left as `moderated`.
            full: now.is_none_or(|i| i.info.is_some()),
        })
    }

    /// A group we are a current member of, and one of its items (`/_update item #G I`,
    /// `/_reaction #G I`).
    pub(crate) fn current_group_item(
        &self,
        group_id: i64,
        item_id: i64,
    ) -> Result<(Group, ChatItem)> {
        let g = self.group_by_id(group_id)?;
        let item = self
            .store()
            .group_item(g.group_id, item_id)?
            .ok_or(ChatError::NoItem(item_id))?;
        // A support chat's item: its members are checked when it is sent to them (pending
        // review, we still talk with the admins).
        if item.scope.is_none() {
            crate::groups::check_current(&g)?;
        }
        Ok((g, item))
    }

    /// Sends an event about one of the group's items to those who have it: the group, or
    /// the members of the support chat it is in (`scope` then set to that chat's).
    async fn send_about_item(
        &self,
        g: &Group,
        item: &ChatItem,
        event: impl FnOnce(Option<serde_json::Value>) -> ChatEvent,
    ) -> Result<()> {
        match self.item_audience(g, item)? {
            Some(a) => {
                let body = ChatMessage::new(None, event(Some(a.scope.clone()))).encode();
                self.send_to_audience(g, &a, &body).await;
            }
            None => {
                let body = ChatMessage::new(None, event(None)).encode();
                self.broadcast(g, &body).await?;
            }
        }
        Ok(())
    }

    /// `/_delete item #G ids mode` and `/_delete member item #G ids`: every item is checked
    /// before any is deleted.
    pub(crate) async fn api_delete_group_items(
        &self,
        group_id: i64,
        item_ids: Vec<i64>,
        mode: crate::command::DeleteMode,
        moderate: bool,
    ) -> Result<Response> {
        use crate::command::DeleteMode;
        let g = self.group_by_id(group_id)?;
        let mut items = Vec::with_capacity(item_ids.len());
        for id in item_ids {
            let item = self
                .store()
                .group_item(g.group_id, id)?
                .ok_or(ChatError::NoItem(id))?;
            let author = match item.group_member_id {
                Some(m) if !item.sent => self.store().member(m)?,
                _ => None,
            };
            let broadcast = mode == DeleteMode::Broadcast;
            // Our own for everyone; members' only as a moderator (`/_delete member item`).
            let ok = match (broadcast, moderate) {
                (true, false) => item.sent && !item.deleted && item.info.is_none(),
                (true, true) => !item.sent && author.is_some() && !item.deleted,
                (false, _) => true,
            };
            if !ok {
                return Err(ChatError::CannotDelete);
            }
            // A moderator or above, not above our own role: checked for all before any goes.
            if let (true, true, Some(m)) = (broadcast, moderate, &author) {
                may_moderate(&g, m)?;
            }
            items.push((author, item));
        }
        // Pending review, our support chat's items are still deleted for its members.
        if mode == DeleteMode::Broadcast && !g.status.is_pending() {
            crate::groups::check_current(&g)?;
        }
        let mut done = Vec::with_capacity(items.len());
        for (author, item) in items {
            let now = match mode {
                DeleteMode::Broadcast => self.delete_group_item(&g, &item, author.as_ref()).await?,
                DeleteMode::Internal => {
                    self.store().delete_item(item.item_id)?;
                    None
                }
                DeleteMode::InternalMark => {
                    self.store().mark_item_deleted(item.item_id)?;
                    Some(ChatItem {
                        deleted: true,
                        ..item.clone()
                    })
                }
            };
            done.push((author, item, now));
        }
        Ok(Response::GroupItemsDeleted {
            group: g,
            items: done,
            moderated: moderate,
        })
    }

    /// A group message deleted for everyone: ours, or (`author`) a member's by us as a
    /// moderator or above. Ours is deleted here too when the group allows us full deletion
    /// (none returned), as the reference's; else, and a member's always, it is marked.
    pub(crate) async fn delete_group_item(
        &self,
        g: &Group,
        item: &ChatItem,
        author: Option<&Member>,
    ) -> Result<Option<ChatItem>> {
        let member_id = match author {
            None if !item.sent => return Err(ChatError::CannotDelete),
            None => None,
            Some(m) => {
                may_moderate(g, m)?;
                Some(m.member_id.clone())
            }
        };
        if item.deleted || item.info.is_some() {
            return Err(ChatError::CannotDelete);
        }
        let shared = item.shared_msg_id.clone().ok_or(ChatError::CannotDelete)?;
        let own = member_id.is_none();
        self.send_about_item(g, item, |scope| ChatEvent::MsgDel {
            msg_id: B64(shared),
            member_id,
            scope,
        })
        .await?;
        let full = full_delete_allowed(g, g.role);
        if !own {
            // A member's, by us: marked, or its text gone (`moderated`) with full deletion.
            return Ok(Some(self.store().moderate_item(item, 0, full)?));
        }
        if full {
            self.store().delete_item(item.item_id)?;
            return Ok(None);
        }
        self.store().mark_item_deleted(item.item_id)?;
        Ok(Some(ChatItem {
            deleted: true,
            ..item.clone()
        }))
    }

    /// `x.msg.update` from a member: its own message edited (one we no longer have comes as
    /// a new item).
    pub(crate) async fn group_update_received(
        &self,
        g: &Group,
        m: &Member,
        u: MsgUpdate,
        forwarded_by: Option<&Member>,
    ) -> Result<()> {
        // The owner's edit of a post as the channel, to us its relay (elsewhere the flag is
        // not ours to act on: the edit is taken as its sender's).
        if u.as_group == Some(true) && forwarded_by.is_none() && g.role == GroupMemberRole::Relay {
            if !(m.role == GroupMemberRole::Owner && self.is_channel(g)?) {
                return Err(ChatError::Agent(format!(
                    "#{}: only a channel's owner edits a post as the channel",
                    g.local_name
                )));
            }
            return self.channel_post_edited(g, u).await;
        }
        let existing =
            self.store()
                .group_item_by_shared(g.group_id, Some(m.group_member_id), &u.msg_id.0)?;
        let mentions =
            crate::mentions::received(crate::mentions::content_text(&u.content), &u.mentions);
        let item = match existing {
            Some(item) if item.deleted => return Ok(()),
            Some(item) => {
                let state = crate::live::next_state(&item, u.live == Some(true));
                // The same edit twice (a live message's end may repeat its text).
                if item.content == u.content && state.is_none() {
                    return Ok(());
                }
                self.store().apply_update(item, &u.content, state)?
            }
            None => {
                let item = self.store().add_group_item(
                    g.group_id,
                    Some(m.group_member_id),
                    Some(&u.msg_id.0),
                    &u.content,
                    None,
                    forwarded_by.map(|f| f.group_member_id),
                )?;
                self.store().update_item(item.item_id, &u.content)?;
                ChatItem {
                    edited: true,
                    ..item
                }
            }
        };
        // Signed as the edit came (`group_keys.rs`): an unsigned edit of a signed message
        // leaves it unsigned (the reference's: a relay cannot keep a badge on its own text).
        let signed = crate::group_keys::received_sig().and_then(crate::group_keys::SigStatus::api);
        let item = if item.msg_signed.as_deref() != signed {
            self.store().set_item_signed(item.item_id, signed)?;
            ChatItem {
                msg_signed: signed.map(str::to_string),
                ..item
            }
        } else {
            item
        };
        // An edit mentions anew.
        self.store().set_item_mentions(item.item_id, &mentions)?;
        let for_us = crate::mentions::for_us(g, &mentions, item.quote.as_ref());
        self.store().set_user_mention(item.item_id, for_us)?;
        let item = ChatItem {
            user_mention: for_us,
            ..item
        };
        self.emit(Event::GroupItemUpdated(g.clone(), m.clone(), item))
            .await;
        Ok(())
    }

    /// `x.msg.del` from a member: its own message, or (with `memberId`) another's deleted by
    /// a moderator or above.
    pub(crate) async fn group_delete_received(
        &self,
        g: &Group,
        m: &Member,
        shared: &B64,
        member_id: Option<B64>,
    ) -> Result<()> {
        // The owner's deletion of a post as the channel, to us its relay: not one of the
        // owner's own posts, a post of the channel's.
        if member_id.is_none()
            && g.role == GroupMemberRole::Relay
            && m.role == GroupMemberRole::Owner
            && self.is_channel(g)?
            && self.deletes_channel_post(g, m, shared)?
        {
            return self.channel_post_deleted(g, shared).await;
        }
        // The author: the sender, or the member the moderator names (us, or another).
        let (author, author_id): (Option<Member>, Option<i64>) = match &member_id {
            None => (Some(m.clone()), Some(m.group_member_id)),
            Some(id) if *id == m.member_id => (Some(m.clone()), Some(m.group_member_id)),
            Some(id) if *id == g.member_id => {
                if m.role < GroupMemberRole::Moderator || m.role < g.role {
                    return Err(ChatError::GroupContactRole(m.local_name.clone()));
                }
                (None, None)
            }
            Some(id) => {
                let a = self
                    .store()
                    .member_by_member_id(g.group_id, id)?
                    .ok_or_else(|| ChatError::Agent("x.msg.del with unknown member ID".into()))?;
                if m.role < GroupMemberRole::Moderator || m.role < a.role {
                    return Err(ChatError::GroupContactRole(m.local_name.clone()));
                }
                let id = a.group_member_id;
                (Some(a), Some(id))
            }
        };
        let moderated = author
            .as_ref()
            .is_none_or(|a| a.group_member_id != m.group_member_id);
        let item = self
            .store()
            .group_item_by_shared(g.group_id, author_id, &shared.0)?;
        let Some(item) = item else {
            return Ok(()); // never had it (or it expired)
        };
        if item.deleted {
            return Ok(());
        }
        // Where the group allows the deleting member full deletion, as the reference's: its
        // author's own deletion removes it, a moderator's leaves it `moderated`; else marked
        // (by the moderator).
        let full = full_delete_allowed(g, m.role);
        let item = if moderated {
            self.store().moderate_item(&item, m.group_member_id, full)?;
            ChatItem {
                deleted: true,
                deleted_by: Some(m.group_member_id),
                ..item
            }
        } else if full {
            self.store().delete_item(item.item_id)?;
            item
        } else {
            self.store().mark_item_deleted(item.item_id)?;
            ChatItem {
                deleted: true,
                ..item
            }
        };
        self.emit(Event::GroupItemDeleted {
            group: g.clone(),
            author,
            item,
            by: moderated.then(|| m.clone()),
            own_name: self.profile_in(g).display_name,
            full,
        })
        .await;
        Ok(())
    }

    /// `+1 #team prefix` (`-1` removes; `+<emoji>` for another): a reaction to the latest
    /// message of the group starting with `prefix`, told to every member.
    pub(crate) async fn react_group_latest(
        &self,
        group: String,
        prefix: String,
        add: bool,
        emoji: String,
    ) -> Result<Response> {
        let g = self.group_named(&group)?;
        crate::groups::check_current(&g)?;
        let reactions = crate::group_prefs::feature("reactions").ok_or(ChatError::CannotReact)?;
        if !crate::group_prefs::allowed(&g.profile, reactions, g.role) {
            return Err(ChatError::FeatureNotAllowed(reactions.name.to_string()));
        }
        let reaction = serde_json::json!({"type": "emoji", "emoji": emoji});
        let item = self
            .store()
            .latest_group_item_any(g.group_id, &prefix)?
            .ok_or(ChatError::NoQuotedMessage(prefix))?;
        Box::pin(self.react_group_item(g, item, reaction, add)).await
    }

    /// A reaction to a group message, told to every member.
    pub(crate) async fn react_group_item(
        &self,
        g: Group,
        item: ChatItem,
        reaction: serde_json::Value,
        add: bool,
    ) -> Result<Response> {
        let reactions = crate::group_prefs::feature("reactions").ok_or(ChatError::CannotReact)?;
        if !crate::group_prefs::allowed(&g.profile, reactions, g.role) {
            return Err(ChatError::FeatureNotAllowed(reactions.name.to_string()));
        }
        let key = crate::chat::reaction_key(&reaction).ok_or(ChatError::CannotReact)?;
        if item.deleted || item.info.is_some() {
            return Err(ChatError::CannotReact);
        }
        // A post as the channel itself (received, or ours sent as the channel) has no
        // author: the reaction names none, as the reference's.
        let as_channel =
            item.is_channel_post() || (item.sent && self.store().sent_as_channel(item.item_id)?);
        let author = match item.group_member_id {
            _ if as_channel => None,
            None => Some(g.member_id.clone()),
            Some(id) => Some(
                self.store()
                    .member(id)?
                    .ok_or(ChatError::CannotReact)?
                    .member_id,
            ),
        };
        let shared = item.shared_msg_id.clone().ok_or(ChatError::CannotReact)?;
        if add && self.store().member_reaction_count(item.item_id, 0)? >= crate::chat::MAX_REACTIONS
        {
            return Err(ChatError::CannotReact);
        }
        let r = reaction.clone();
        self.send_about_item(&g, &item, |scope| ChatEvent::MsgReact {
            msg_id: B64(shared),
            member_id: author,
            scope,
            reaction: r,
            add,
        })
        .await?;
        self.store()
            .set_member_reaction(item.item_id, true, 0, &key, add)?;
        Ok(Response::GroupReaction {
            group: g,
            item,
            reaction,
            added: add,
        })
    }

    /// `x.msg.react` from a member: to one of our messages or a member's, named by its
    /// author's member id, or (no member id) to a post as the channel itself - one we
    /// received or ours sent as the channel; unknown messages and malformed reactions are
    /// ignored, as the reference does, and so are reactions when the group does not allow
    /// them. Whether it changed anything (a channel's relay forwards only those).
    pub(crate) async fn group_reaction_received(
        &self,
        g: &Group,
        m: &Member,
        shared: &B64,
        member_id: Option<B64>,
        reaction: serde_json::Value,
        add: bool,
    ) -> Result<bool> {
        let Some(key) = crate::chat::reaction_key(&reaction) else {
            return Ok(false);
        };
        let feature = crate::group_prefs::feature("reactions").ok_or(ChatError::CannotReact)?;
        if !crate::group_prefs::allowed(&g.profile, feature, m.role) {
            return Ok(false);
        }
        let Some((item, item_author)) = self.reacted_item(g, shared, member_id.as_ref())? else {
            return Ok(false);
        };
        self.record_group_reaction(g, Some(m), item, item_author, &key, reaction, add)
            .await
    }

    /// A reaction in a channel forwarded by its relay without saying who reacted (the
    /// reference's relays tell subscribers only that someone did): counted on the item among
    /// its anonymous reactions, when the channel allows reactions. The relay checked the
    /// reactor (one of each emoji, at most three); an owner is told who reacted instead and
    /// ignores these.
    pub(crate) async fn channel_reaction_received(
        &self,
        g: &Group,
        shared: &B64,
        member_id: Option<B64>,
        reaction: serde_json::Value,
        add: bool,
    ) -> Result<()> {
        if g.role == crate::protocol::GroupMemberRole::Owner {
            return Ok(());
        }
        let Some(key) = crate::chat::reaction_key(&reaction) else {
            return Ok(());
        };
        let feature = crate::group_prefs::feature("reactions").ok_or(ChatError::CannotReact)?;
        // Whether the channel allows reactions at all (who may react, the relay checked).
        if !crate::group_prefs::allowed(
            &g.profile,
            feature,
            crate::protocol::GroupMemberRole::Owner,
        ) {
            return Ok(());
        }
        let Some((item, item_author)) = self.reacted_item(g, shared, member_id.as_ref())? else {
            return Ok(());
        };
        self.record_group_reaction(g, None, item, item_author, &key, reaction, add)
            .await?;
        Ok(())
    }

    /// The item a reaction names: a member's (its author's member id; ours when it is our
    /// member id) or, without a member id, a post as the channel itself - one we received
    /// or ours sent as the channel; with its author's name (the channel's for a post as the
    /// channel).
    fn reacted_item(
        &self,
        g: &Group,
        shared: &B64,
        member_id: Option<&B64>,
    ) -> Result<Option<(ChatItem, String)>> {
        let store = self.store();
        let Some(id) = member_id else {
            let item = match store.channel_post_by_shared(g.group_id, &shared.0)? {
                Some(i) => Some(i),
                None => store
                    .group_item_by_shared(g.group_id, None, &shared.0)?
                    .filter(|i| store.sent_as_channel(i.item_id).unwrap_or(false)),
            };
            return Ok(item.map(|i| (i, g.local_name.clone())));
        };
        let (author, author_name) = if *id == g.member_id {
            let ours = match &g.incognito {
                Some(p) => p.display_name.clone(),
                None => self.profile().display_name,
            };
            (None, ours)
        } else {
            match store.member_by_member_id(g.group_id, id)? {
                Some(a) => (Some(a.group_member_id), a.local_name),
                None => return Ok(None),
            }
        };
        Ok(store
            .group_item_by_shared(g.group_id, author, &shared.0)?
            .map(|i| (i, author_name)))
    }

    /// A member's reaction to an item (`m` none: an anonymous one in a channel), kept (at
    /// most [`crate::chat::MAX_REACTIONS`] per member; none to a deleted item) and shown
    /// when it changed anything; whether it did.
    #[allow(clippy::too_many_arguments)]
    async fn record_group_reaction(
        &self,
        g: &Group,
        m: Option<&Member>,
        item: ChatItem,
        item_author: String,
        key: &str,
        reaction: serde_json::Value,
        add: bool,
    ) -> Result<bool> {
        if item.deleted {
            return Ok(false);
        }
        let changed = match m {
            Some(m) => {
                if add
                    && self
                        .store()
                        .member_reaction_count(item.item_id, m.group_member_id)?
                        >= crate::chat::MAX_REACTIONS
                {
                    return Ok(false);
                }
                self.store().set_member_reaction(
                    item.item_id,
                    false,
                    m.group_member_id,
                    key,
                    add,
                )?
            }
            None => self
                .store()
                .set_anonymous_reaction(item.item_id, key, add)?,
        };
        if changed {
            self.emit(Event::GroupReaction {
                group: g.clone(),
                member: m.cloned(),
                item,
                item_author,
                reaction,
                added: add,
            })
            .await;
        }
        Ok(changed)
    }

    /// `/tail #team [n]`: the group's last `n` items with their authors (none: ours).
    pub(crate) fn group_tail(&self, group: String, count: usize) -> Result<Response> {
        let g = self.group_named(&group)?;
        let items = self.store().group_items(g.group_id, count)?;
        let mut out = Vec::with_capacity(items.len());
        for i in items {
            let author = match i.group_member_id {
                Some(id) => self.store().member(id)?,
                None => None,
            };
            if i.group_member_id.is_some() && author.is_none() {
                continue;
            }
            out.push((author, i));
        }
        Ok(Response::GroupItems(g, out))
    }
}

/// The group's full deletion preference allows a member of `role` it.
pub(crate) fn full_delete_allowed(g: &Group, role: GroupMemberRole) -> bool {
    crate::group_prefs::feature("fullDelete")
        .is_some_and(|f| crate::group_prefs::allowed(&g.profile, f, role))
}

/// We may delete `m`'s messages for everyone: a moderator or above, and not below its role.
fn may_moderate(g: &Group, m: &Member) -> Result<()> {
    if g.role < GroupMemberRole::Moderator {
        return Err(ChatError::GroupRole(
            g.local_name.clone(),
            GroupMemberRole::Moderator,
        ));
    }
    if m.role > g.role {
        return Err(ChatError::GroupRole(g.local_name.clone(), m.role));
    }
    Ok(())
}
