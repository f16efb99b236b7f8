//! Files in groups, and the group's profile and preferences.
//!
//! A file to a group (`/f #team path`) is offered to every connected member in one
//! `x.msg.new`, encrypted and uploaded to XFTP **once**, with one recipient description per
//! member it was offered to - the count rounded up to a power of two, at least 4, as the
//! reference's `roundedFDCount` - and each member gets its own description (`x.msg.file.descr`
//! in parts). The spare descriptions serve members who join later: the host sends them the
//! file in the group's history, forwarded with its author, followed by a description of
//! their own (a received file: the host's own description, as the reference does; so group
//! downloads do not acknowledge their chunks).
//!
//! The owner's `/set files #team off` (and the other features) changes the group's profile
//! and sends it whole (`x.grp.info`); a file is then refused when sending
//! (`bad chat command: feature not allowed Files and media`) and when receiving.

use crate::chat::{Chat, ChatError, Event, FilePeer, Response};
use crate::files::{descr_messages, file_source, offer_message};
use crate::group_prefs::{self, Feature};
use crate::group_store::{Group, Member, MemberStatus};
use crate::protocol::{
    ChatEvent, ChatMessage, FileDescr, FileInvitation, GroupMemberRole, GroupProfile, MsgContent,
    B64,
};
use crate::store::{ChatItem, FileStatus, FileTransfer, NewFile};

type Result<T> = std::result::Result<T, ChatError>;

/// What a file to a group may come with besides its content.
#[derive(Default)]
pub(crate) struct GroupFileExtras {
    /// Forwarded: where it came from.
    pub forward: Option<serde_json::Value>,
    /// The message it quotes, and the quote our item keeps.
    pub quote: Option<(crate::protocol::QuotedMsg, crate::store::ItemQuote)>,
    /// A support chat (`Some(None)`: ours with the admins) instead of the whole group.
    pub support: Option<Option<Member>>,
    /// The members its caption mentions.
    pub mentions: std::collections::BTreeMap<String, crate::protocol::MsgMention>,
    /// Posted as the channel itself (its owner's, `/_send #G(as_group=on)`).
    pub as_channel: bool,
}

/// The files feature.
fn files_feature() -> Feature {
    group_prefs::FEATURES[5]
}

impl Chat {
    /// `/f #group path` (`image`: `/img #group path`).
    pub(crate) async fn send_group_file(
        &self,
        group: String,
        path: String,
        image: bool,
    ) -> Result<Response> {
        let content = if image {
            crate::files::image_content(&path)?
        } else {
            MsgContent::File {
                text: String::new(),
            }
        };
        let g = self.group_named(&group)?;
        self.send_group_file_content(g, path, content).await
    }

    /// Offers a file with `content` to the group's connected members, then uploads it once.
    pub(crate) async fn send_group_file_content(
        &self,
        g: Group,
        path: String,
        content: MsgContent,
    ) -> Result<Response> {
        self.send_group_file_with(g, path, content, GroupFileExtras::default())
            .await
    }

    /// [`Chat::send_group_file_content`] with what `extras` add: marked forwarded, with a
    /// quote, or in a support chat (then to its members only; the files preference does not
    /// apply there, as the reference's); with the group's time when disappearing messages are
    /// on in it (not in a support chat).
    pub(crate) async fn send_group_file_with(
        &self,
        g: Group,
        path: String,
        content: MsgContent,
        extras: GroupFileExtras,
    ) -> Result<Response> {
        let GroupFileExtras {
            forward,
            quote,
            support,
            mentions,
            as_channel,
        } = extras;
        let audience = match &support {
            Some(whose) => Some(self.support_audience(&g, whose.as_ref())?),
            None => None,
        };
        if audience.is_none() {
            crate::groups::check_current(&g)?;
            if g.role < GroupMemberRole::Author {
                return Err(ChatError::GroupCannotSend(g.local_name));
            }
            let files = files_feature();
            if !group_prefs::allowed(&g.profile, files, g.role) {
                return Err(ChatError::FeatureNotAllowed(files.name.to_string()));
            }
        }
        // Voice in a support chat: the moderators' (the reference's captchas), or as allowed.
        let moderator_in_support = audience.is_some() && g.role >= GroupMemberRole::Moderator;
        if let (MsgContent::Voice { .. }, Some(voice)) = (&content, group_prefs::feature("voice")) {
            if !moderator_in_support && !group_prefs::allowed(&g.profile, voice, g.role) {
                return Err(ChatError::FeatureNotAllowed(voice.name.to_string()));
            }
        }
        if self.xftp_servers().is_empty() {
            return Err(ChatError::NoXftpServers);
        }
        let (name, size, source) = file_source(&self.send_path(&path))?;
        let shared = crate::chat::new_shared_msg_id();
        let file_id = self.store().add_file(&NewFile {
            contact_id: 0,
            group_id: Some(g.group_id),
            group_member_id: None,
            sent: true,
            shared_msg_id: &shared.0,
            name: &name,
            size,
            path: Some(&source.to_string_lossy()),
            status: FileStatus::Uploading,
        })?;
        let (quote, item_quote) = quote.unzip();
        let item = self.store().add_group_item(
            g.group_id,
            None,
            Some(&shared.0),
            &content,
            item_quote.as_ref(),
            None,
        )?;
        self.store().set_item_file(item.item_id, file_id)?;
        if as_channel {
            self.store().set_sent_as_channel(item.item_id)?;
        }
        if !mentions.is_empty() {
            self.store()
                .set_item_mentions(item.item_id, &crate::mentions::member_ids(&mentions))?;
        }
        let item = match &audience {
            Some(a) => {
                self.store().set_item_scope(item.item_id, &a.item_scope)?;
                ChatItem {
                    scope: Some(a.item_scope.clone()),
                    ..item
                }
            }
            None => item,
        };
        let ttl = match audience {
            Some(_) => None,
            None => group_prefs::timed_ttl(&g.profile),
        };
        let mut msg = crate::files::offer_message_with(
            &shared,
            &content,
            &name,
            size,
            ttl,
            forward.is_some(),
        );
        if let ChatEvent::MsgNew(c) = &mut msg.event {
            c.quote = quote;
            c.scope = audience.as_ref().map(|a| a.scope.clone());
            c.mentions = mentions;
            c.as_group = as_channel.then_some(true);
        }
        let body = msg.encode();
        let sent = match &audience {
            Some(a) => self.send_to_audience(&g, a, &body).await,
            None => self.broadcast_with(&g, &body, false).await?,
        };
        self.keep_group_deliveries(&g, item.item_id, &sent)?;
        let members: Vec<i64> = sent
            .iter()
            .filter(|(_, id)| id.is_some())
            .map(|(m, _)| m.group_member_id)
            .collect();
        self.store().add_group_file_members(file_id, &members)?;
        self.spawn_upload(file_id);
        let item = ChatItem {
            file_id: Some(file_id),
            ..item
        };
        let item = self.with_forward(item, forward)?;
        let item = match ttl {
            Some(t) => self.set_timer(item, t)?,
            None => item,
        };
        Ok(Response::GroupFileSending {
            group: g,
            item,
            file_id,
            path,
        })
    }

    /// A group file is uploaded: each member it was offered to gets its own description
    /// (those not sent yet: after a restart the rest go on).
    pub(crate) async fn send_group_descriptions(&self, f: &FileTransfer) -> Result<()> {
        let g = self.group_by_id(f.group_id.unwrap_or_default())?;
        let unsent = self.store().group_file_unsent(f.file_id)?;
        for (no, member_id, descr) in unsent {
            let m = self.store().member(member_id)?;
            if let Some(conn) = m
                .as_ref()
                .filter(|m| m.status.is_current())
                .and_then(|m| m.conn_id)
            {
                for msg in descr_messages(&f.shared_msg_id, &descr) {
                    if let Err(e) = self.send_body(conn, &msg.encode()).await {
                        let name = m.as_ref().map_or(String::new(), |m| m.local_name.clone());
                        self.emit(Event::Error(format!(
                            "#{} {name}: sending the description of file {}: {e}",
                            g.local_name, f.file_id
                        )))
                        .await;
                        break;
                    }
                }
            }
            // Sent, or its member is gone: it is not tried again.
            self.store().group_file_descr_sent(f.file_id, no)?;
        }
        self.store()
            .set_file_status(f.file_id, FileStatus::Complete)?;
        let _ = std::fs::remove_file(self.inner.state_dir.join(format!("{}.snd", f.file_id)));
        self.emit(Event::FileUploaded(
            f.file_id,
            f.name.clone(),
            FilePeer::Group(g),
        ))
        .await;
        Ok(())
    }

    /// `/fc N` for a file we sent to a group: the members are told (`x.file.cancel`); the
    /// names of the members it was offered to.
    pub(crate) async fn cancel_group_file(
        &self,
        g: &Group,
        f: &FileTransfer,
        cancel: ChatEvent,
    ) -> Result<Vec<String>> {
        let body = ChatMessage::new(None, cancel).encode();
        // A support chat's file: its members are told, not the group.
        let item = self.store().item_by_file(f.file_id)?;
        let audience = match &item {
            Some(i) => self.item_audience(g, i).ok().flatten(),
            None => None,
        };
        if let Some(a) = &audience {
            self.send_to_audience(g, a, &body).await;
        } else if item.is_none_or(|i| i.scope.is_none()) && crate::groups::check_current(g).is_ok()
        {
            self.broadcast_with(g, &body, false).await?;
        }
        let mut names = Vec::new();
        let members = self.store().group_file_members(f.file_id)?;
        for id in members {
            if let Some(m) = self.store().member(id)? {
                names.push(m.local_name);
            }
        }
        Ok(names)
    }

    /// A member offers a file in the group (`item` holds the message; `forwarded`: the
    /// host forwarded it); `m` none: a channel's post as the channel itself.
    pub(crate) async fn group_file_offered(
        &self,
        g: &Group,
        m: Option<&Member>,
        shared: Option<&B64>,
        inv: &FileInvitation,
        item: &ChatItem,
        forwarded: bool,
    ) -> Result<()> {
        let from = m.map_or(&g.local_name, |m| &m.local_name);
        let (shared, name) = crate::files::check_offer(from, shared, inv)?;
        let size = inv.file_size as u64;
        let file_id = self.store().add_file(&NewFile {
            contact_id: 0,
            group_id: Some(g.group_id),
            group_member_id: m.map(|m| m.group_member_id),
            sent: false,
            shared_msg_id: &shared.0,
            name: &name,
            size,
            path: None,
            status: FileStatus::Offered,
        })?;
        self.store().set_item_file(item.item_id, file_id)?;
        self.emit(Event::GroupFileOffered {
            group: g.clone(),
            member: m.cloned(),
            item: ChatItem {
                file_id: Some(file_id),
                ..item.clone()
            },
            file_id,
            name,
            size,
            forwarded,
        })
        .await;
        // Not from a member we hide.
        if m.is_none_or(|m| m.show_messages)
            && size <= self.inner.auto_accept_size
            && size <= self.inner.max_file_size
        {
            self.auto_accept(file_id).await?;
        }
        Ok(())
    }

    /// A part of a description for a file a member offered, directly (`via` none) or
    /// forwarded by the host `via`: the parts of one file all come one way (the author's
    /// own description, or the host's), parts of the other are ignored.
    pub(crate) fn group_descr_part(
        &self,
        g: &Group,
        m: &Member,
        shared: &B64,
        d: &FileDescr,
        via: Option<i64>,
    ) -> Result<Option<i64>> {
        let f = self.offered_file(g, m, shared)?;
        self.descr_part_via(f, d, via.unwrap_or(0))
    }

    /// A description part of group file `f` that came one way (`via`: the member who
    /// forwarded it, 0 its author): the first part decides the way, parts of another are
    /// ignored.
    fn descr_part_via(
        &self,
        f: Option<FileTransfer>,
        d: &FileDescr,
        via: i64,
    ) -> Result<Option<i64>> {
        if let Some(f) = &f {
            // (The store's lock is not held across the arms.)
            let first = self.store().descr_via(f.file_id)?;
            match first {
                Some(v) if v != via => return Ok(None),
                Some(_) => {}
                None => self.store().set_descr_via(f.file_id, via)?,
            }
        }
        self.descr_part_of(f, d)
    }

    /// A member cancelled a file it offered in the group.
    pub(crate) async fn group_file_cancelled(
        &self,
        g: &Group,
        m: &Member,
        shared: &B64,
    ) -> Result<()> {
        let f = self
            .store()
            .group_file_by_msg(g.group_id, m.group_member_id, &shared.0)?;
        let (f, peer) = match f {
            Some(f) => (Some(f), FilePeer::Member(g.clone(), m.clone())),
            None => (self.offered_file(g, m, shared)?, FilePeer::Group(g.clone())),
        };
        self.cancelled_by_sender(f, peer).await
    }

    /// The file a member's description or cancellation is about: one it offered, or - from
    /// an owner to us a channel's relay - one of the channel's posts as the channel itself.
    fn offered_file(&self, g: &Group, m: &Member, shared: &B64) -> Result<Option<FileTransfer>> {
        let store = self.store();
        Ok(
            match store.group_file_by_msg(g.group_id, m.group_member_id, &shared.0)? {
                Some(f) => Some(f),
                None if m.role == GroupMemberRole::Owner => {
                    store.channel_file_by_msg(g.group_id, &shared.0)?
                }
                None => None,
            },
        )
    }

    /// A part of the description of a file a channel's post as the channel offers, forwarded
    /// by the relay `via` (the parts of one file all come through one relay).
    pub(crate) fn channel_descr_part(
        &self,
        g: &Group,
        shared: &B64,
        d: &FileDescr,
        via: i64,
    ) -> Result<Option<i64>> {
        let f = self.store().channel_file_by_msg(g.group_id, &shared.0)?;
        self.descr_part_via(f, d, via)
    }

    /// The sender cancelled a file a channel's post as the channel offered (forwarded by its
    /// relay).
    pub(crate) async fn channel_file_cancelled(&self, g: &Group, shared: &B64) -> Result<()> {
        let f = self.store().channel_file_by_msg(g.group_id, &shared.0)?;
        self.cancelled_by_sender(f, FilePeer::Group(g.clone()))
            .await
    }

    /// The file of a history item for a new member: the offer and a description of the
    /// member's own (none: no file, or it cannot be received - cancelled, failed, not uploaded
    /// or its description incomplete).
    pub(crate) fn history_file(
        &self,
        item: &ChatItem,
        new_member: i64,
    ) -> Result<Option<(FileTransfer, String)>> {
        let Some(file_id) = item.file_id else {
            return Ok(None);
        };
        let Some(f) = self.store().file(file_id)? else {
            return Ok(None);
        };
        if matches!(f.status, FileStatus::Cancelled | FileStatus::Failed) {
            return Ok(None);
        }
        let descr = if f.sent {
            if f.status != FileStatus::Complete {
                return Ok(None);
            }
            self.store().group_file_descr_for(file_id, new_member)?
        } else {
            f.descr_complete.then(|| f.descr.clone())
        };
        Ok(descr.map(|d| (f, d)))
    }

    /// The messages of a history item with its file: the offer, then the description's
    /// parts (each to be forwarded with the item's author).
    pub(crate) fn history_file_messages(
        item: &ChatItem,
        shared: &[u8],
        f: &FileTransfer,
        descr: &str,
    ) -> Vec<ChatMessage> {
        let mut msgs = vec![offer_message(
            &B64(shared.to_vec()),
            &item.content,
            &f.name,
            f.size,
        )];
        msgs.extend(descr_messages(shared, descr));
        msgs
    }

    /// `/gp team name [full name]`: the owner renames the group.
    pub(crate) async fn rename_group(
        &self,
        group: String,
        name: String,
        full_name: String,
    ) -> Result<Response> {
        let g = self.group_named(&group)?;
        let profile = GroupProfile {
            display_name: name,
            full_name,
            ..g.profile.clone()
        };
        self.update_group_profile(g, profile).await
    }

    /// `/set welcome #team text`: the owner's welcome message (the group's description), sent
    /// to each new member after the history.
    pub(crate) async fn set_welcome(
        &self,
        group: String,
        text: Option<String>,
    ) -> Result<Response> {
        let g = self.group_named(&group)?;
        let profile = GroupProfile {
            description: text,
            ..g.profile.clone()
        };
        self.update_group_profile(g, profile).await
    }

    /// `/set files #team off [role]` and the other features: the owner changes the group's
    /// preferences and sends the profile to the members.
    pub(crate) async fn set_group_feature(
        &self,
        group: String,
        feature: Feature,
        on: bool,
        role: Option<GroupMemberRole>,
    ) -> Result<Response> {
        let g = self.group_named(&group)?;
        let profile = group_prefs::with_state(&g.profile, feature, on, role);
        self.update_group_profile(g, profile).await
    }

    /// `/_group_profile #1 <json>`, `/set ...`: the owner's new profile for the group, sent to
    /// every member (`x.grp.info`).
    pub(crate) async fn update_group_profile(
        &self,
        g: Group,
        profile: GroupProfile,
    ) -> Result<Response> {
        let gone = matches!(
            g.status,
            MemberStatus::Left | MemberStatus::Removed | MemberStatus::GroupDeleted
        );
        if g.role != GroupMemberRole::Owner && !gone {
            return Err(ChatError::GroupRole(g.local_name, GroupMemberRole::Owner));
        }
        if !crate::groups::valid_group_name(&profile.display_name) {
            return Err(ChatError::InvalidName(profile.display_name));
        }
        // A channel's profile keeps its link and id (subscribers see them).
        let channel = self.is_channel(&g)?;
        let profile = if channel && profile.public_group.is_none() {
            GroupProfile {
                public_group: g.profile.public_group.clone(),
                ..profile
            }
        } else {
            profile
        };
        let local_name = {
            let store = self.store();
            store.set_group_profile(g.group_id, &profile)?;
            store.rename_group(g.group_id, &g.local_name, &profile.display_name)?
        };
        let to = Group {
            profile: profile.clone(),
            local_name,
            ..g.clone()
        };
        if !gone {
            let body = ChatMessage::new(
                None,
                ChatEvent::GrpInfo {
                    group_profile: profile,
                },
            )
            .encode();
            self.broadcast(&to, &body).await?;
            // Those about to join see the new profile in the channel link's data.
            if channel {
                if let Err(e) = self.publish_channel(&to).await {
                    self.emit(Event::Error(format!(
                        "#{}: the channel link's data: {e}",
                        to.local_name
                    )))
                    .await;
                }
            } else if g.profile != to.profile {
                self.update_group_link_data(&to).await;
            }
        }
        if g.profile != to.profile {
            let items = crate::group_events::updated(&g.profile, &to.profile, true);
            self.add_group_info(&to, None, &items).await?;
        }
        Ok(Response::GroupUpdated { from: g, to })
    }

    /// `x.grp.info` from a member: an owner's new profile of the group.
    pub(crate) async fn group_profile_received(
        &self,
        g: &Group,
        m: &Member,
        profile: GroupProfile,
    ) -> Result<()> {
        if m.role < GroupMemberRole::Owner {
            return Err(ChatError::GroupContactRole(m.local_name.clone()));
        }
        // A name that cannot be shown or typed keeps the one we know.
        let profile = if crate::groups::valid_group_name(&profile.display_name) {
            profile
        } else {
            GroupProfile {
                display_name: g.profile.display_name.clone(),
                ..profile
            }
        };
        self.group_profile_from(g, m, profile, true).await
    }

    /// A group's new profile that member `m` brought (an owner's `x.grp.info`, a business
    /// chat's title member's profile): kept, the group renamed after it, with items of what
    /// changed when `items`; nothing when it is the same.
    pub(crate) async fn group_profile_from(
        &self,
        g: &Group,
        m: &Member,
        profile: GroupProfile,
        items: bool,
    ) -> Result<()> {
        if profile == g.profile {
            return Ok(());
        }
        let local_name = {
            let store = self.store();
            store.set_group_profile(g.group_id, &profile)?;
            store.rename_group(g.group_id, &g.local_name, &profile.display_name)?
        };
        let to = Group {
            profile,
            local_name,
            ..g.clone()
        };
        if items {
            let items = crate::group_events::updated(&g.profile, &to.profile, false);
            self.add_group_info(&to, Some(m), &items).await?;
        }
        // Our group link (an admin's) shows the new profile too.
        self.update_group_link_data(&to).await;
        self.emit(Event::GroupUpdatedBy {
            from: g.clone(),
            to,
            by: m.clone(),
            signed: crate::group_keys::received_sig(),
        })
        .await;
        Ok(())
    }

    /// A member's message carries a file the group's preferences prohibit for its role:
    /// refused, as the reference does (its "received, prohibited").
    pub(crate) fn check_group_file_allowed(&self, g: &Group, m: &Member) -> Result<()> {
        self.check_group_feature(g, m, files_feature())
    }

    /// A member's message uses a feature the group's preferences prohibit for its role
    /// (files, voice messages): refused, as the reference does.
    pub(crate) fn check_group_feature(&self, g: &Group, m: &Member, f: Feature) -> Result<()> {
        if group_prefs::allowed(&g.profile, f, m.role) {
            Ok(())
        } else {
            Err(ChatError::File(format!("{}: received, prohibited", f.name)))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn files_feature_is_files() {
        assert_eq!(super::files_feature().key, "files");
    }
}
