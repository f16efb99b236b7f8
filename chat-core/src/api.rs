//! The WebSocket bot API's JSON (the reference's `bots/api` types): responses to commands and
//! events, each an object tagged by `type`, with the keys the 7.0 API documents
//! (`testdata/chat/bot_api.json` lists them; the tests check every object emitted against
//! it). Values this implementation does not track are given as the reference gives them for
//! a direct chat without the feature: no incognito profile, no post-quantum encryption, no
//! chat tags, default preferences.

use serde_json::{json, Map, Value};
use simplex_codec::time::UtcTime;

use crate::chat::{Chat, ChatError, Event, LinkPlan, LinkStatus, Response};
use crate::features::{full_preferences, merged_preferences};
use crate::group_store::{Group, Member, MemberCategory, MemberStatus};
use crate::protocol::{GroupMemberRole, Profile, CHAT_VERSIONS};
use crate::store::{now_ms, ChatItem, Contact, ContactRequest, FileStatus, PendingKind, NOTES};

/// The reference release whose bot API this implements (`/v`, and the first line of
/// `simplex-chat --version`, which bot launchers read).
pub const REFERENCE_VERSION: &str = "7.0.0.0";

/// An ISO-8601 UTC time of milliseconds since the epoch.
fn ts(ms: i64) -> Value {
    Value::String(UtcTime::from_millis(ms).to_string())
}

fn version_range() -> Value {
    json!({"minVersion": CHAT_VERSIONS.min, "maxVersion": CHAT_VERSIONS.max})
}

/// A profile as sent (`Profile`).
pub fn profile(p: &Profile) -> Value {
    serde_json::to_value(p)
        .unwrap_or_else(|_| json!({"displayName": p.display_name, "fullName": p.full_name}))
}

/// A profile as stored (`LocalProfile`): the profile with its id and local alias.
fn local_profile(profile_id: i64, p: &Profile) -> Value {
    let mut v = match profile(p) {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    v.insert("profileId".into(), profile_id.into());
    v.insert("localAlias".into(), "".into());
    Value::Object(v)
}

/// A chat's settings (`ChatSettings`): `sendRcpts` only when the chat has its own.
fn chat_settings(muted: bool, flags: crate::store::ChatFlags) -> Value {
    let mut v =
        json!({"enableNtfs": if muted { "none" } else { "all" }, "favorite": flags.favorite});
    if let Some(on) = flags.send_rcpts {
        v["sendRcpts"] = on.into();
    }
    v
}

/// The user (`User`).
pub fn user(chat: &Chat) -> Value {
    let p = chat.profile();
    let mut v = json!({
        "userId": chat.user_id(),
        "agentUserId": 1,
        "userContactId": NOTES,
        "localDisplayName": p.display_name,
        "profile": local_profile(NOTES, &p),
        "fullPreferences": full_preferences(p.preferences.as_ref()),
        "activeUser": chat.is_active(),
        "activeOrder": 1,
        "showNtfs": chat.privacy().show_ntfs,
        "sendRcptsContacts": chat.receipts_on(),
        "sendRcptsSmallGroups": chat.group_receipts_on(),
        "autoAcceptMemberContacts": chat.auto_accept_member_contacts(),
        "userChatRelay": chat.is_chat_relay(),
        "clientService": false,
    });
    if let Some(p) = chat.privacy().pwd_json() {
        v["viewPwdHash"] = p;
    }
    if let Some(t) = chat.user_themes() {
        v["uiThemes"] = t;
    }
    v
}

fn connection(c: &Contact, conn: u64) -> Value {
    json!({
        "connId": conn,
        "agentConnId": conn.to_string(),
        "connChatVersion": CHAT_VERSIONS.max,
        "peerChatVRange": version_range(),
        "connLevel": 0,
        "viaGroupLink": false,
        "connType": "contact",
        "connStatus": {"type": if c.ready { "ready" } else { "joined" }},
        "contactConnInitiated": false,
        "localAlias": "",
        "entityId": c.contact_id,
        "pqSupport": false,
        "pqEncryption": false,
        "authErrCounter": c.auth_errors,
        "quotaErrCounter": 0,
        "createdAt": ts(c.created_at),
    })
}

/// A contact (`Contact`).
pub fn contact(c: &Contact) -> Value {
    let mut profile_with_alias = local_profile(c.contact_id, &c.profile);
    profile_with_alias["localAlias"] = c.local_alias.clone().into();
    let mut v = json!({
        "contactId": c.contact_id,
        "localDisplayName": c.local_name,
        "profile": profile_with_alias,
        "contactUsed": true,
        "contactStatus": if c.deleted_by_contact { "deleted" } else { "active" },
        "chatSettings": chat_settings(c.muted, c.flags),
        "userPreferences": c.user_prefs.clone().unwrap_or_else(|| json!({})),
        "mergedPreferences": merged_preferences(&crate::features::Prefs::of(c)),
        "createdAt": ts(c.created_at),
        "updatedAt": ts(c.created_at),
        "contactGrpInvSent": false,
        "chatTags": c.tags,
        "chatDeleted": false,
    });
    if let Some(conn) = c.conn_id {
        v["activeConn"] = connection(c, conn);
    }
    if let Some(d) = c
        .custom_data
        .as_deref()
        .and_then(|d| serde_json::from_str::<Value>(d).ok())
    {
        v["customData"] = d;
    }
    if let Some(t) = crate::themes::json(c.ui_themes.as_deref()) {
        v["uiThemes"] = t;
    }
    v
}

fn note_folder(chat: &Chat, c: &Contact) -> Value {
    let unread = chat.store().is_unread(NOTES).unwrap_or(false);
    json!({
        "noteFolderId": NOTES,
        "userId": chat.user_id(),
        "createdAt": ts(c.created_at),
        "updatedAt": ts(c.created_at),
        "chatTs": ts(c.created_at),
        "favorite": false,
        "unread": unread,
    })
}

/// A chat (`ChatInfo`): a contact's (with the link it was prepared from, if any), or the
/// note folder.
pub fn chat_info(chat: &Chat, c: &Contact) -> Value {
    if c.contact_id == NOTES {
        json!({"type": "local", "noteFolder": note_folder(chat, c)})
    } else {
        let mut v = contact(c);
        if let Ok(Some(p)) = chat.store().prepared_contact(c.contact_id) {
            v["preparedContact"] = json!(p);
        }
        json!({"type": "direct", "contact": v})
    }
}

/// A direct chat with these items (`Chat`).
fn direct_chat(chat: &Chat, c: &Contact, items: &[ChatItem]) -> Value {
    json!({
        "chatInfo": chat_info(chat, c),
        "chatItems": items.iter().map(|i| chat_item(chat, c, i)).collect::<Vec<_>>(),
        "chatStats": {
            "unreadCount": chat.store().unread_items(Some(c.contact_id), None).unwrap_or(0),
            "unreadMentions": 0, "reportsCount": 0, "minUnreadItemId": 0,
            "unreadChat": chat.store().is_unread(c.contact_id).unwrap_or(false)},
    })
}

fn file_status(sent: bool, s: FileStatus) -> &'static str {
    match (sent, s) {
        (true, FileStatus::Uploading | FileStatus::Uploaded) => "sndTransfer",
        (true, FileStatus::Complete) => "sndComplete",
        (true, FileStatus::Cancelled) => "sndCancelled",
        (_, FileStatus::Failed) if sent => "sndError",
        (_, FileStatus::Failed) => "rcvError",
        (false, FileStatus::Offered) => "rcvInvitation",
        (false, FileStatus::Accepted) => "rcvAccepted",
        (false, FileStatus::Complete) => "rcvComplete",
        (false, FileStatus::Cancelled) => "rcvCancelled",
        // Statuses of the other direction do not occur; shown as the nearest.
        (true, _) => "sndStored",
        (false, _) => "rcvInvitation",
    }
}

/// An item's file (`CIFile`).
fn ci_file(chat: &Chat, file_id: i64) -> Option<Value> {
    let f = chat.store().file(file_id).ok()??;
    let status = file_status(f.sent, f.status);
    let mut st = json!({ "type": status });
    match status {
        "sndTransfer" => {
            let p = chat.transfer_progress(file_id);
            st["sndProgress"] = p.map_or(0, |p| p.done).into();
            st["sndTotal"] = p.map_or(f.size, |p| p.total).into();
        }
        "sndError" => st["sndFileError"] = json!({"type": "other", "fileError": "failed"}),
        "rcvError" => st["rcvFileError"] = json!({"type": "other", "fileError": "failed"}),
        _ => {}
    }
    let mut v = json!({
        "fileId": f.file_id,
        "fileName": f.name,
        "fileSize": f.size,
        "fileStatus": st,
        // A note's file is kept here only.
        "fileProtocol": if f.status == FileStatus::Stored { "LOCAL" } else { "XFTP" },
    });
    if let Some(p) = &f.path {
        v["fileSource"] = json!({ "filePath": p });
    }
    Some(v)
}

fn direction(c: &Contact, sent: bool) -> Value {
    let t = match (c.contact_id == NOTES, sent) {
        (true, _) => "localSnd",
        (false, true) => "directSnd",
        (false, false) => "directRcv",
    };
    json!({ "type": t })
}

/// A chat item (`ChatItem`).
pub fn chat_item(chat: &Chat, c: &Contact, item: &ChatItem) -> Value {
    let notes = c.contact_id == NOTES;
    let status = match (notes, item.sent) {
        (true, _) => json!({"type": "sndNew"}),
        (false, true) => match (&item.snd_error, item.receipt) {
            // Refused by the relay: not delivered (the reference's `sndError`).
            (Some(e), _) => json!({"type": "sndError", "agentError": {"type": e}}),
            (None, Some(ok)) => json!({"type": "sndRcvd",
                "msgRcptStatus": if ok { "ok" } else { "badMsgHash" },
                "sndProgress": "complete"}),
            (None, None) => json!({"type": "sndSent", "sndProgress": "complete"}),
        },
        (false, false) if item.unread => json!({"type": "rcvNew"}),
        (false, false) => json!({"type": "rcvRead"}),
    };
    let mut meta = json!({
        "itemId": item.item_id,
        "itemTs": ts(item.item_ts),
        "itemText": item.content.text_shown(),
        "itemStatus": status,
        "itemEdited": item.edited,
        "userMention": false,
        "hasLink": false,
        "deletable": true,
        "editable": item.sent && !item.deleted && item.info.is_none() && item.forward.is_none(),
        "showGroupAsSender": false,
        "createdAt": ts(item.item_ts),
        "updatedAt": ts(item.item_ts),
    });
    if let Some(id) = &item.shared_msg_id {
        meta["itemSharedMsgId"] = simplex_codec::base64url::encode(id).into();
    }
    if item.deleted {
        meta["itemDeleted"] = json!({"type": "deleted", "chatType": "direct"});
    }
    if let Some((ttl, at)) = item.timed {
        meta["itemTimed"] = json!({ "ttl": ttl });
        if let Some(at) = at {
            meta["itemTimed"]["deleteAt"] = ts(at);
        }
    }
    if let Some(by) = item.forwarded_by {
        meta["forwardedByMember"] = by.into();
    }
    if let Some(live) = item.live {
        meta["itemLive"] = live.into();
    }
    if let Some(f) = &item.forward {
        meta["itemForwarded"] = f.clone();
    }
    // A group message signed (`MsgVerified`): with how its signature stood.
    if let Some(s) = &item.msg_signed {
        meta["msgVerified"] = json!({"type": "signed", "sigStatus": s});
    }
    let content_tag = if item.sent {
        "sndMsgContent"
    } else {
        "rcvMsgContent"
    };
    let content = match &item.info {
        Some(info) => info.clone(),
        None => json!({"type": content_tag, "msgContent": item.content}),
    };
    let mut v = json!({
        "chatDir": direction(c, item.sent),
        "meta": meta,
        "content": content,
        "mentions": {},
        "reactions": reactions(chat, item.item_id),
    });
    if let Some(q) = &item.quote {
        // Sent by us when the quoting item's author wrote it and we wrote the item, or when
        // neither holds.
        let quoted_by_us = item.sent == q.by_author;
        let quoted = q.shared_msg_id.as_ref().and_then(|id| {
            chat.store()
                .item_by_shared(c.contact_id, quoted_by_us, &id.0)
                .ok()?
        });
        let mut qv = json!({
            "chatDir": direction(c, quoted_by_us),
            "sentAt": ts(quoted.as_ref().map_or(item.item_ts, |i| i.item_ts)),
            "content": q.content,
        });
        if let Some(i) = quoted {
            qv["itemId"] = i.item_id.into();
        }
        if let Some(id) = &q.shared_msg_id {
            qv["sharedMsgId"] = simplex_codec::base64url::encode(&id.0).into();
        }
        v["quotedItem"] = qv;
    }
    if let Some(f) = item.file_id.and_then(|id| ci_file(chat, id)) {
        v["file"] = f;
    }
    v
}

/// A group item's `quotedItem` (`CIQuote`): whose the quoted message is - ours, a member's or
/// (no member id, in a channel) the channel's - and its item here when we have it.
fn group_quote(chat: &Chat, g: &Group, q: &crate::store::ItemQuote, out: &mut Value) {
    let Some(obj) = out.as_object_mut() else {
        return;
    };
    obj.remove("itemId");
    obj.remove("chatDir");
    let store = chat.store();
    let shared = q.shared_msg_id.as_ref().map(|s| s.0.as_slice());
    let find = |member: Option<i64>| {
        shared.and_then(|s| {
            store
                .group_item_by_shared(g.group_id, member, s)
                .ok()
                .flatten()
        })
    };
    let (dir, quoted) = match &q.member_id {
        Some(id) if *id == g.member_id => (Some(json!({"type": "groupSnd"})), find(None)),
        Some(id) => match store.member_by_member_id(g.group_id, id).ok().flatten() {
            Some(m) => (
                Some(json!({"type": "groupRcv", "groupMember": group_member(&m)})),
                find(Some(m.group_member_id)),
            ),
            None => (None, None),
        },
        None => match shared.and_then(|s| store.channel_post_by_shared(g.group_id, s).ok()?) {
            Some(post) => (Some(json!({"type": "channelRcv"})), Some(post)),
            // Ours, sent as the channel.
            None => match find(None) {
                Some(ours) => (Some(json!({"type": "groupSnd"})), Some(ours)),
                None => (None, None),
            },
        },
    };
    if let Some(d) = dir {
        obj.insert("chatDir".into(), d);
    }
    if let Some(i) = quoted {
        obj.insert("itemId".into(), i.item_id.into());
        obj.insert("sentAt".into(), ts(i.item_ts));
    }
}

/// An item's reactions (`[CIReactionCount]`).
fn reactions(chat: &Chat, item_id: i64) -> Value {
    let list = chat.store().reactions(item_id).unwrap_or_default();
    Value::Array(
        list.into_iter()
            .filter_map(|(r, total, ours)| {
                let reaction: Value = serde_json::from_str(&r).ok()?;
                Some(json!({"reaction": reaction, "userReacted": ours, "totalReacted": total}))
            })
            .collect(),
    )
}

/// A reaction with its chat and item (`ACIReaction`).
fn a_reaction(chat: &Chat, c: &Contact, item: &ChatItem, reaction: &Value, by_us: bool) -> Value {
    json!({
        "chatInfo": chat_info(chat, c),
        "chatReaction": {
            "chatDir": direction(c, by_us),
            "chatItem": chat_item(chat, c, item),
            "sentAt": ts(now_ms()),
            "reaction": reaction,
        },
    })
}

/// `chatItemReaction` in a group, `chat_dir` saying whose: ours, a member's or (a channel's
/// relay naming no one) the channel's.
fn group_reaction(
    chat: &Chat,
    user: Value,
    g: &Group,
    chat_dir: Value,
    item: &ChatItem,
    reaction: &Value,
    added: bool,
) -> Value {
    let author = match item.group_member_id {
        Some(id) => chat.store().member(id).ok().flatten(),
        None => None,
    };
    let a = group_chat_item(chat, g, author.as_ref(), item);
    tagged(
        "chatItemReaction",
        json!({"user": user, "added": added, "reaction": {
            "chatInfo": a["chatInfo"],
            "chatReaction": {
                "chatDir": chat_dir,
                "chatItem": a["chatItem"],
                "sentAt": ts(now_ms()),
                "reaction": reaction,
            },
        }}),
    )
}

/// `chatItemReaction`: a reaction added or removed, ours (`by_us`) or the contact's.
fn reaction_response(
    chat: &Chat,
    user: Value,
    c: &Contact,
    item: &ChatItem,
    reaction: &Value,
    added: bool,
    by_us: bool,
) -> Value {
    tagged(
        "chatItemReaction",
        json!({"user": user, "added": added,
               "reaction": a_reaction(chat, c, item, reaction, by_us)}),
    )
}

/// A chat item with its chat (`AChatItem`).
pub fn a_chat_item(chat: &Chat, c: &Contact, item: &ChatItem) -> Value {
    json!({"chatInfo": chat_info(chat, c), "chatItem": chat_item(chat, c, item)})
}

/// An item with its chat (`AChatItem`), of a contact's chat or a group's.
fn item_in_chat(chat: &Chat, i: &crate::item_info::ItemInChat) -> Value {
    use crate::item_info::ItemChat;
    match &i.chat {
        ItemChat::Contact(c) => a_chat_item(chat, c, &i.item),
        ItemChat::Group(g, author) => group_chat_item(chat, g, author.as_ref(), &i.item),
    }
}

/// A link we made (`CreatedConnLink`).
fn created_link(full: &str, short: Option<&str>) -> Value {
    match short {
        Some(s) => json!({"connFullLink": full, "connShortLink": s}),
        None => json!({"connFullLink": full}),
    }
}

/// The address with its settings (`UserContactLink`).
fn contact_link(
    chat: &Chat,
    link: &crate::chat::ConnLink,
    settings: &crate::command::AddressSettings,
) -> Value {
    let id = chat.store().address().ok().flatten().map_or(0, |(c, _)| c);
    json!({
        "userContactLinkId": id,
        "connLinkContact": created_link(&link.full, link.short.as_deref()),
        // The link data holds the profile when the address was made.
        "shortLinkDataSet": link.short.is_some(),
        "shortLinkLargeDataSet": false,
        "addressSettings": settings,
    })
}

pub(crate) fn pending_connection(chat: &Chat, conn: u64) -> Value {
    let (kind, link, at) = match chat.store().pending_conn(conn) {
        Ok(Some((kind, link, at))) => (Some(kind), link, at),
        _ => (None, None, now_ms()),
    };
    let mut v = pending_json(conn, kind, at);
    let store = chat.store();
    v["localAlias"] = json!(store.pending_alias(conn).unwrap_or_default());
    // An invitation of ours: its links, and whether it shows a random profile (no profile
    // ids here: the connection's own id stands for it).
    if kind == Some(PendingKind::Invitation) {
        if let Some(full) = &link {
            let short = store.pending_short_link(conn).ok().flatten();
            v["connLinkInv"] = created_link(full, short.as_deref());
        }
        if store.pending_incognito(conn).ok().flatten().is_some() {
            v["customUserProfileId"] = json!(conn);
        }
    }
    v
}

/// A connection in progress (`PendingContactConnection`), without its alias.
fn pending_json(conn: u64, kind: Option<PendingKind>, at: i64) -> Value {
    let status = match kind {
        Some(PendingKind::Invitation | PendingKind::Address) | None => "new",
        Some(PendingKind::JoinedInvitation | PendingKind::JoinedAddress) => "joined",
    };
    json!({
        "pccConnId": conn,
        "pccAgentConnId": conn.to_string(),
        "pccConnStatus": {"type": status},
        "viaContactUri": kind == Some(PendingKind::JoinedAddress),
        "localAlias": "",
        "createdAt": ts(at),
        "updatedAt": ts(at),
    })
}

/// A request to the user's address (`UserContactRequest`).
pub fn contact_request(r: &ContactRequest) -> Value {
    let mut v = json!({
        "contactRequestId": r.request_id,
        "agentInvitationId": r.request_id.to_string(),
        "cReqChatVRange": version_range(),
        "localDisplayName": r.local_name,
        "profileId": r.request_id,
        "profile": local_profile(r.request_id as i64, &r.profile),
        "createdAt": ts(r.created_at),
        "updatedAt": ts(r.created_at),
        "pqSupport": false,
    });
    if let Some(m) = &r.message {
        v["requestSharedMsgId"] = json!(m.shared_msg_id);
    }
    v
}

fn store_error(kind: &str, key: &str, value: Value) -> Value {
    let mut e = json!({ "type": kind });
    if !key.is_empty() {
        e[key] = value;
    }
    json!({"type": "errorStore", "storeError": e})
}

fn chat_error_type(kind: &str, fields: Value) -> Value {
    json!({"type": "error", "errorType": tagged(kind, fields)})
}

/// Our membership in a group (`GroupMember` of category `user`).
fn membership(chat: &Chat, g: &Group) -> Value {
    let p = g
        .incognito
        .as_deref()
        .cloned()
        .unwrap_or_else(|| chat.profile());
    json!({
        "groupMemberId": 0,
        "groupId": g.group_id,
        "indexInGroup": 0,
        "memberId": simplex_codec::base64url::encode(&g.member_id.0),
        "memberRole": g.role,
        "memberCategory": "user",
        "memberStatus": g.status.as_str(),
        "memberSettings": {"showMessages": true},
        "blockedByAdmin": false,
        "invitedBy": {"type": if g.status == MemberStatus::Creator { "user" } else { "unknown" }},
        "localDisplayName": p.display_name,
        "memberProfile": local_profile(NOTES, &p),
        "memberContactProfileId": NOTES,
        "memberChatVRange": version_range(),
        "createdAt": ts(g.created_at),
        "updatedAt": ts(g.created_at),
    })
}

/// A group (`GroupInfo`).
pub fn group_info(chat: &Chat, g: &Group) -> Value {
    let members = chat.store().current_members(g).unwrap_or(0);
    let mut settings = chat_settings(g.muted, g.flags);
    if g.mentions_only {
        settings["enableNtfs"] = json!("mentions");
    }
    let mut v = json!({
        "groupId": g.group_id,
        "useRelays": chat.store().is_channel(g.group_id).unwrap_or(false),
        "localDisplayName": g.local_name,
        "groupProfile": serde_json::to_value(&g.profile).unwrap_or(Value::Null),
        "localAlias": g.local_alias,
        "fullGroupPreferences": crate::group_prefs::full_preferences(&g.profile),
        "membership": membership(chat, g),
        "chatSettings": settings,
        "createdAt": ts(g.created_at),
        "updatedAt": ts(g.created_at),
        "chatTags": g.tags,
        "groupSummary": group_summary(chat, g, members),
        "membersRequireAttention": 0,
    });
    if let Some(d) = g
        .custom_data
        .as_deref()
        .and_then(|d| serde_json::from_str::<Value>(d).ok())
    {
        v["customData"] = d;
    }
    if let Some(b) = &g.business {
        v["businessChat"] = serde_json::to_value(b).unwrap_or(Value::Null);
    }
    if let Some(t) = crate::themes::json(g.ui_themes.as_deref()) {
        v["uiThemes"] = t;
    }
    if let Ok(Some(p)) = chat.store().prepared_group(g.group_id) {
        let mut p = json!(p);
        if let Some(o) = p.as_object_mut() {
            // Ours: the group's `useRelays` says the one, the business card the other.
            o.remove("useRelays");
            o.remove("business");
        }
        v["preparedGroup"] = p;
    }
    v
}

/// The network settings in effect as the reference's `NetworkConfig` (the fields this client
/// has; times in microseconds).
pub fn network_config(o: &smp_client::ConnectOptions) -> Value {
    use transport::hosts::{HostMode, SocksMode, WebPort};
    let mut v = json!({
        "socksMode": match o.network.socks_mode {
            SocksMode::Always => "always",
            SocksMode::Onion => "onion",
        },
        "hostMode": match o.network.host_mode {
            HostMode::OnionViaSocks => "onionViaSocks",
            HostMode::Public => "public",
        },
        "requiredHostMode": o.network.required,
        "sessionMode": "user",
        "smpProxyMode": match o.private_routing {
            smp_client::PrivateRouting::Always => "always",
            smp_client::PrivateRouting::Unknown => "unknown",
            smp_client::PrivateRouting::Unprotected => "unprotected",
            smp_client::PrivateRouting::Never => "never",
        },
        "smpProxyFallback": match o.routing_fallback {
            smp_client::RoutingFallback::No => "prohibit",
            smp_client::RoutingFallback::Protected => "allowProtected",
            smp_client::RoutingFallback::Yes => "allow",
        },
        "smpWebPortServers": match o.network.web_port {
            WebPort::All => "all",
            WebPort::Preset => "preset",
            WebPort::Off => "off",
        },
        "tcpConnectTimeout": o.connect_timeout.as_micros() as u64,
        "tcpTimeout": o.response_timeout.as_micros() as u64,
        "smpPingInterval": o.keep_alive.as_micros() as u64,
    });
    if let Some(s) = &o.socks {
        v["socksProxy"] = s.addr.to_string().into();
    }
    v
}

/// A configured chat relay (`UserChatRelay`).
fn user_chat_relay(r: &crate::channels::ChatRelay, deleted: bool) -> Value {
    json!({
        "chatRelayId": r.id,
        "address": r.address,
        "relayProfile": {"displayName": r.name, "fullName": ""},
        "domains": [],
        "preset": false,
        "enabled": !deleted,
        "deleted": deleted,
    })
}

/// A channel's relay (`GroupRelay`); on a subscriber's side (no relay configured) the relay
/// as its link names it.
fn group_relay(r: &crate::channels::GroupRelay) -> Value {
    let configured = match &r.chat_relay {
        Some(c) => user_chat_relay(c, false),
        None => user_chat_relay(
            &crate::channels::ChatRelay {
                id: 0,
                name: r.member.profile.display_name.clone(),
                address: r.link.clone().unwrap_or_default(),
            },
            r.status == crate::channels::RelayStatus::Rejected,
        ),
    };
    let mut v = json!({
        "groupRelayId": r.member.group_member_id,
        "groupMemberId": r.member.group_member_id,
        "userChatRelay": configured,
        "relayStatus": r.status.as_str(),
        "relayCap": {},
    });
    if let Some(l) = &r.link {
        v["relayLink"] = json!(l);
    }
    v
}

/// What asking a relay gave (`AddRelayResult`).
fn add_relay_result(r: &crate::channels::AddRelayResult) -> Value {
    let mut v = json!({"relay": user_chat_relay(&r.relay, false)});
    if let Some(e) = &r.error {
        v["relayError"] = json!({"errorType": {"type": "commandError", "message": e}});
        v["relayError"]["type"] = json!("error");
    }
    v
}

/// A channel's link (`GroupLink`): the full link and the short one subscribers use.
fn channel_link(chat: &Chat, g: &Group) -> Value {
    let store = chat.store();
    let (full, role) = match store.group_link(g.group_id) {
        Ok(Some((_, full, role))) => (full, role),
        _ => (String::new(), crate::protocol::GroupMemberRole::Observer),
    };
    let id = store
        .group_link_id(g.group_id)
        .ok()
        .flatten()
        .unwrap_or_default();
    let short = store.channel_link(g.group_id).ok().flatten();
    json!({
        "userContactLinkId": g.group_id,
        "connLinkContact": {"connFullLink": full, "connShortLink": short},
        "shortLinkDataSet": true,
        "shortLinkLargeDataSet": false,
        "groupLinkId": simplex_codec::base64url::encode(&id),
        "acceptMemberRole": role,
    })
}

/// A member (`GroupMember`).
pub fn group_member(m: &Member) -> Value {
    // Profile ids: a contact's own; a member who is no contact, a range of its own.
    let profile_id = m.contact_id.unwrap_or(1_000_000_000 + m.group_member_id);
    let invited_by = match m.category {
        MemberCategory::Invitee => json!({"type": "user"}),
        _ => json!({"type": "unknown"}),
    };
    let mut v = json!({
        "groupMemberId": m.group_member_id,
        "groupId": m.group_id,
        "indexInGroup": m.group_member_id,
        "memberId": simplex_codec::base64url::encode(&m.member_id.0),
        "memberRole": m.role,
        "memberCategory": m.category.as_str(),
        "memberStatus": m.status.as_str(),
        "memberSettings": {"showMessages": m.show_messages},
        "blockedByAdmin": m.blocked_by_admin,
        "invitedBy": invited_by,
        "localDisplayName": m.local_name,
        "memberProfile": local_profile(profile_id, &m.profile),
        "memberContactProfileId": profile_id,
        "memberChatVRange": version_range(),
        "createdAt": ts(m.created_at),
        "updatedAt": ts(m.created_at),
    });
    if let Some(id) = m.invited_by {
        v["invitedByGroupMemberId"] = id.into();
    }
    if let Some(c) = m.contact_id {
        v["memberContactId"] = c.into();
    }
    if let Some(k) = &m.member_key {
        v["memberPubKey"] = crate::group_keys::key_text(k).into();
    }
    v
}

/// `GroupSummary`: the members we know of, and a channel's count (its owner's, or what its
/// link said when we joined).
fn group_summary(chat: &Chat, g: &Group, members: usize) -> Value {
    let mut v = json!({ "currentMembers": members });
    // (Only a channel has a count: no query for other groups.)
    if g.profile.public_group.is_some() {
        if let Ok(Some(n)) = chat.store().public_member_count(g.group_id) {
            v["publicMemberCount"] = n.into();
        }
    }
    v
}

/// `groupLinkDataUpdated`: our channel link's data written (`relays_changed`: a relay became
/// active in it; else only its count changed).
fn link_data_updated(chat: &Chat, u: &Value, g: &Group, relays_changed: bool) -> Option<Value> {
    let link = channel_link(chat, g);
    let relays = chat.store().group_relays(g.group_id).ok()?;
    Some(tagged(
        "groupLinkDataUpdated",
        json!({"user": u, "groupInfo": group_info(chat, g), "groupLink": link,
               "groupRelays": relays.iter().map(group_relay).collect::<Vec<_>>(),
               "relaysChanged": relays_changed}),
    ))
}

/// A channel link's data as the API gives it (`GroupShortLinkData`): its profile and count.
fn channel_link_json(p: &crate::protocol::GroupProfile, count: Option<i64>) -> Value {
    let mut v = json!({ "groupProfile": p });
    if let Some(n) = count {
        v["publicGroupData"] = json!({ "publicMemberCount": n });
    }
    v
}

/// Whether our own change to a group went signed (`msgSigned` of the API's answers): a
/// channel where we have a key (`group_keys.rs`).
fn msg_signed(chat: &Chat, g: &Group) -> bool {
    chat.signs_in(g).unwrap_or(false)
}

/// A group's item with its chat (`AChatItem`): sent by us, or by `member`.
pub fn group_chat_item(chat: &Chat, g: &Group, member: Option<&Member>, item: &ChatItem) -> Value {
    // The item's own fields as a direct chat's; the direction is the group's.
    let placeholder = Contact {
        contact_id: 0,
        local_name: String::new(),
        profile: Profile::default(),
        conn_id: None,
        ready: true,
        created_at: item.item_ts,
        deleted_by_contact: false,
        incognito: None,
        custom_data: None,
        local_alias: String::new(),
        user_prefs: None,
        own_prefs: None,
        muted: false,
        flags: crate::store::ChatFlags::default(),
        auth_errors: 0,
        tags: Vec::new(),
        ui_themes: None,
    };
    let mut v = chat_item(chat, &placeholder, item);
    if item.deleted {
        // Deleted in a group: by a moderator (`moderated`, the moderator; 0 is us), or by its
        // author.
        let by = match item.deleted_by {
            Some(0) => Some(group_info(chat, g)["membership"].clone()),
            Some(id) => chat
                .store()
                .member(id)
                .ok()
                .flatten()
                .map(|m| group_member(&m)),
            None => None,
        };
        v["meta"]["itemDeleted"] = match by {
            Some(m) => json!({"type": "moderated", "byGroupMember": m}),
            None => json!({"type": "deleted", "chatType": "group"}),
        };
    }
    v["chatDir"] = match member {
        Some(m) => json!({"type": "groupRcv", "groupMember": group_member(m)}),
        // A post as the channel itself, received: no member.
        None if item.is_channel_post() => json!({"type": "channelRcv"}),
        None => json!({"type": "groupSnd"}),
    };
    if let Some(q) = &item.quote {
        group_quote(chat, g, q, &mut v["quotedItem"]);
    }
    // The members it mentions (`CIMention`: the member as known here, if it is), and whether
    // we are one of them.
    let mentions = chat.store().item_mentions(item.item_id).unwrap_or_default();
    if !mentions.is_empty() {
        let mut out = serde_json::Map::new();
        for (name, id) in &mentions {
            let mut m = json!({"memberId": id});
            if *id == g.member_id {
                let me = &group_info(chat, g)["membership"];
                m["memberRef"] = json!({
                    "groupMemberId": me["groupMemberId"],
                    "displayName": me["memberProfile"]["displayName"],
                    "localAlias": "",
                    "memberRole": g.role,
                });
            } else if let Ok(Some(known)) = chat.store().member_by_member_id(g.group_id, id) {
                m["memberRef"] = json!({
                    "groupMemberId": known.group_member_id,
                    "displayName": known.profile.display_name,
                    "localAlias": "",
                    "memberRole": known.role,
                });
            }
            out.insert(name.clone(), m);
        }
        v["mentions"] = Value::Object(out);
    }
    v["meta"]["userMention"] = json!(item.user_mention);
    let mut info = json!({"type": "group", "groupInfo": group_info(chat, g)});
    // A support chat's item: the member whose chat it is (none: ours).
    if let Some(s) = &item.scope {
        let whose = s
            .member
            .and_then(|id| chat.store().member(id).ok().flatten());
        info["groupChatScope"] = match whose {
            Some(m) => json!({"type": "memberSupport", "groupMember_": group_member(&m)}),
            None => json!({"type": "memberSupport"}),
        };
    }
    json!({
        "chatInfo": info,
        "chatItem": v,
    })
}

/// A member's contact with its group and member (`newMemberContact` and the like).
fn member_contact(
    tag: &str,
    chat: &Chat,
    user: &Value,
    c: &Contact,
    g: &Group,
    m: &Member,
) -> Value {
    tagged(
        tag,
        json!({"user": user, "contact": contact(c), "groupInfo": group_info(chat, g),
               "member": group_member(m)}),
    )
}

/// A call we are invited to (`RcvCallInvitation`).
fn call_invitation(chat: &Chat, i: &crate::calls::RcvCallInvitation) -> Value {
    let mut v = json!({"user": user(chat), "contact": contact(&i.contact),
                       "callType": crate::calls::call_type_json(&i.call_type),
                       "callUUID": i.call_uuid, "callTs": ts(i.call_ts)});
    if let Some(k) = &i.shared_key {
        v["sharedKey"] = json!(k.as_str());
    }
    v
}

/// A contact's call signalling, as the reference's events (`callInvitation`, `callOffer`,
/// `callAnswer`, `callExtraInfo`, `callEnded`).
fn call_event(chat: &Chat, u: Value, e: &crate::calls::CallEvent) -> Value {
    use crate::calls::CallEvent;
    let tagged = |t: &str, mut v: Value| {
        v["type"] = json!(t);
        v
    };
    match e {
        CallEvent::Invitation(i) => tagged(
            "callInvitation",
            json!({ "callInvitation": call_invitation(chat, i) }),
        ),
        CallEvent::Offer {
            contact: c,
            call_type,
            offer,
            shared_key,
            ask_confirmation,
        } => {
            let mut v = json!({"user": u, "contact": contact(c),
                               "callType": crate::calls::call_type_json(call_type),
                               "offer": offer, "askConfirmation": ask_confirmation});
            if let Some(k) = shared_key {
                v["sharedKey"] = json!(k.as_str());
            }
            tagged("callOffer", v)
        }
        CallEvent::Answer { contact: c, answer } => tagged(
            "callAnswer",
            json!({"user": u, "contact": contact(c), "answer": answer}),
        ),
        CallEvent::ExtraInfo {
            contact: c,
            extra_info,
        } => tagged(
            "callExtraInfo",
            json!({"user": u, "contact": contact(c), "extraInfo": extra_info}),
        ),
        CallEvent::Ended(c) => tagged("callEnded", json!({"user": u, "contact": contact(c)})),
    }
}

/// An error (`ChatError`).
pub fn chat_error(e: &ChatError) -> Value {
    match e {
        ChatError::NoGroup(n) => store_error("groupNotFoundByName", "groupName", n.as_str().into()),
        ChatError::NoGroupId(id) => store_error("groupNotFound", "groupId", (*id).into()),
        ChatError::GroupIncognitoCantInvite => {
            chat_error_type("groupIncognitoCantInvite", json!({}))
        }
        ChatError::GroupLinkExists(_) => chat_error_type("groupLinkExists", json!({})),
        // The reference's `groupLinkNotFound` carries the group's info, which an error here
        // does not have: said as a command error.
        // So does `groupMemberInitialRole`.
        ChatError::NoGroupLink(_) | ChatError::GroupLinkRole(..) => {
            chat_error_type("commandError", json!({ "message": e.to_string() }))
        }
        ChatError::FeatureNotAllowed(f) => chat_error_type(
            "commandError",
            json!({ "message": format!("feature not allowed {f}") }),
        ),
        ChatError::NotCurrentMember => {
            chat_error_type("commandError", json!({"message": "not current member"}))
        }
        ChatError::NoCurrentCall => chat_error_type("noCurrentCall", json!({})),
        ChatError::CallState(tag) => {
            chat_error_type("callState", json!({ "currentCallState": tag }))
        }
        ChatError::NotGroupMember(_) => chat_error_type("groupMemberNotFound", json!({})),
        ChatError::IncognitoContact => chat_error_type("contactIncognitoCantInvite", json!({})),
        ChatError::BlockForSelf(..) => {
            chat_error_type("commandError", json!({"message": e.to_string()}))
        }
        ChatError::GroupNotActive(_) => chat_error_type("groupMemberNotActive", json!({})),
        ChatError::AlreadyMember(c, _) => {
            chat_error_type("groupDuplicateMember", json!({ "contactName": c }))
        }
        ChatError::GroupContactRole(c) => {
            chat_error_type("groupContactRole", json!({ "contactName": c }))
        }
        // The reference's groupUserRole and groupNotJoined carry the whole group; the message
        // says the same here.
        ChatError::GroupRole(..)
        | ChatError::GroupCannotSend(_)
        | ChatError::GroupNotInvited(_)
        | ChatError::GroupNotJoined(_)
        | ChatError::BadCommand(_) => {
            chat_error_type("commandError", json!({"message": e.to_string()}))
        }
        // A contact named by its id (`@2` of an API command): the reference's
        // `contactNotFound` with the id.
        ChatError::NoContact(n) | ChatError::NoContactButMember(n, _) => {
            match n.strip_prefix('@').and_then(|id| id.parse::<i64>().ok()) {
                Some(id) => store_error("contactNotFound", "contactId", id.into()),
                None => store_error("contactNotFoundByName", "contactName", n.as_str().into()),
            }
        }
        ChatError::NoRequest(n) => store_error(
            "contactRequestNotFoundByName",
            "contactName",
            n.as_str().into(),
        ),
        ChatError::NoRequestId(id) => {
            store_error("contactRequestNotFound", "contactRequestId", (*id).into())
        }
        ChatError::NoPendingConnection(id) => {
            store_error("pendingConnectionNotFound", "connId", (*id).into())
        }
        // The reference's `contactDisabled` carries the whole contact: said as a command
        // error here.
        ChatError::ContactDisabled(_) => {
            chat_error_type("commandError", json!({"message": e.to_string()}))
        }
        ChatError::IncognitoChangeProhibited => {
            chat_error_type("connectionIncognitoChangeProhibited", json!({}))
        }
        ChatError::UserChangeProhibited => {
            chat_error_type("connectionUserChangeProhibited", json!({}))
        }
        ChatError::NotReady(n) => store_error("contactNotReady", "contactName", n.as_str().into()),
        ChatError::ContactDeleted(n) => {
            store_error("contactNotReady", "contactName", n.as_str().into())
        }
        ChatError::AddressExists => store_error("duplicateContactLink", "", Value::Null),
        ChatError::NoAddress => store_error("userContactLinkNotFound", "", Value::Null),
        ChatError::NoFile(id) => store_error("fileNotFound", "fileId", (*id).into()),
        ChatError::NoItem(id) => store_error("chatItemNotFound", "itemId", (*id).into()),
        ChatError::NoQuotedMessage(t) => {
            store_error("chatItemNotFoundByText", "text", t.as_str().into())
        }
        ChatError::InvalidName(n) => chat_error_type(
            "invalidDisplayName",
            json!({"displayName": n, "validName": n.replace('\'', "").trim()}),
        ),
        ChatError::LinkUsed(plan) => {
            chat_error_type("commandError", json!({"message": plan.lines().join("; ")}))
        }
        ChatError::Agent(m) => json!({
            "type": "errorAgent",
            "agentError": {"type": "INTERNAL", "internalErr": m},
            "agentConnId": "",
        }),
        ChatError::Command(c) => chat_error_type("commandError", json!({"message": c.0})),
        ChatError::NotStarted => chat_error_type("chatNotStarted", json!({})),
        ChatError::FileCancelled(m) => chat_error_type("fileCancelled", json!({ "message": m })),
        ChatError::CannotUpdate => chat_error_type("invalidChatItemUpdate", json!({})),
        ChatError::CannotReact => chat_error_type(
            "commandError",
            json!({"message": "cannot react to this item"}),
        ),
        ChatError::CannotDelete => chat_error_type("invalidChatItemDelete", json!({})),
        ChatError::NoActiveUser => chat_error_type("noActiveUser", json!({})),
        ChatError::Prohibited(why) | ChatError::SwitchProhibited(why) => json!({
            "type": "errorAgent",
            "agentError": {"type": "CMD", "cmdErr": {"type": "PROHIBITED"}, "errContext": why},
            "agentConnId": "",
        }),
        ChatError::UserExists(n) => chat_error_type("userExists", json!({ "contactName": n })),
        ChatError::UserUnknown => chat_error_type("userUnknown", json!({})),
        ChatError::DifferentActiveUser(cmd, active) => chat_error_type(
            "differentActiveUser",
            json!({"commandUserId": cmd, "activeUserId": active}),
        ),
        ChatError::CantHideLastUser(id) => {
            chat_error_type("cantHideLastUser", json!({"userId": id}))
        }
        ChatError::HiddenUserAlwaysMuted(id) => {
            chat_error_type("hiddenUserAlwaysMuted", json!({"userId": id}))
        }
        ChatError::EmptyUserPassword(id) => {
            chat_error_type("emptyUserPassword", json!({"userId": id}))
        }
        ChatError::UserAlreadyHidden(_) | ChatError::UserNotHidden(_) => {
            chat_error_type("commandError", json!({"message": e.to_string()}))
        }
        ChatError::CantDeleteActiveUser(id) => {
            chat_error_type("cantDeleteActiveUser", json!({ "userId": id }))
        }
        ChatError::ChatNotStopped => chat_error_type("chatNotStopped", json!({})),
        ChatError::StoreChanged => chat_error_type("chatStoreChanged", json!({})),
        ChatError::DbEncrypted => database_error(json!({"type": "errorEncrypted"})),
        ChatError::DbPlaintext => database_error(json!({"type": "errorPlaintext"})),
        ChatError::DbExport(m) => {
            database_error(json!({"type": "errorExport", "sqliteError": sqlite_error(m)}))
        }
        ChatError::Archive(m) => chat_error_type("exception", json!({ "message": m })),
        ChatError::DbOpen(m) => {
            database_error(json!({"type": "errorOpen", "sqliteError": sqlite_error(m)}))
        }
        ChatError::UsersCommand => {
            chat_error_type("commandError", json!({"message": e.to_string()}))
        }
        ChatError::NoXftpServers | ChatError::File(_) | ChatError::Store(_) => {
            chat_error_type("internalError", json!({"message": e.to_string()}))
        }
    }
}

/// The reference's `errorDatabase` (not in the bot API's schema: its commands are not either).
fn database_error(e: Value) -> Value {
    json!({"type": "errorDatabase", "databaseError": e})
}

/// The reference's `SQLiteError`: a file that is no database (or a wrong key), or another.
fn sqlite_error(m: &str) -> Value {
    if m == crate::db_key::NOT_A_DATABASE {
        json!({"type": "errorNotADatabase", "dbFile": ""})
    } else {
        json!({"type": "error", "sqliteError": m})
    }
}

/// A queue rotation's progress (`SwitchProgress`, without the connection's statistics).
fn switch_progress(ours: bool, phase: agent::agent::SwitchPhase) -> Value {
    use agent::agent::SwitchPhase;
    json!({
        "queueDirection": if ours { "rcv" } else { "snd" },
        "switchPhase": match phase {
            SwitchPhase::Started => "started",
            SwitchPhase::Confirmed => "confirmed",
            SwitchPhase::Secured => "secured",
            SwitchPhase::Completed => "completed",
        },
    })
}

/// `/v` (`versionInfo`).
pub fn version_info() -> Value {
    tagged(
        "versionInfo",
        json!({"versionInfo": {
            "version": REFERENCE_VERSION,
            "simplexmqVersion": env!("CARGO_PKG_VERSION"),
            "simplexmqCommit": "",
        }, "chatMigrations": [], "agentMigrations": []}),
    )
}

/// `/users` (`usersList`).
pub fn users_list(list: &[crate::users::UserListed]) -> Value {
    let users: Vec<Value> = list
        .iter()
        .map(|u| json!({"user": u.user, "unreadCount": u.unread}))
        .collect();
    tagged("usersList", json!({ "users": users }))
}

/// An event's fields with `msgSigned` (`MsgSigStatus`) when it came signed.
fn with_sig(mut fields: Value, signed: Option<crate::group_keys::SigStatus>) -> Value {
    if let Some(s) = signed.and_then(crate::group_keys::SigStatus::api) {
        fields["msgSigned"] = s.into();
    }
    fields
}

fn tagged(tag: &str, fields: Value) -> Value {
    let mut v = json!({ "type": tag });
    if let (Value::Object(m), Value::Object(f)) = (&mut v, fields) {
        m.extend(f);
    }
    v
}

fn items(chat: &Chat, c: &Contact, list: &[ChatItem]) -> Value {
    Value::Array(list.iter().map(|i| a_chat_item(chat, c, i)).collect())
}

/// The item offering a file, with its chat (`AChatItem`): a contact's or a group's.
fn file_item(chat: &Chat, file_id: i64) -> Option<Value> {
    let item = chat.store().item_by_file(file_id).ok()??;
    if let Some(group_id) = item.group_id {
        let g = chat.store().group(group_id).ok()??;
        let m = match item.group_member_id {
            Some(id) => chat.store().member(id).ok()?,
            None => None,
        };
        return Some(group_chat_item(chat, &g, m.as_ref(), &item));
    }
    let c = chat.store().contact(item.contact_id).ok()??;
    Some(a_chat_item(chat, &c, &item))
}

fn rcv_file_transfer(chat: &Chat, file_id: i64, sender: &str) -> Value {
    let f = chat.store().file(file_id).ok().flatten();
    let (name, size, status, path) = match &f {
        Some(f) => (f.name.clone(), f.size, f.status, f.path.clone()),
        None => (String::new(), 0, FileStatus::Cancelled, None),
    };
    let mut st = json!({"type": match status {
        FileStatus::Offered => "new",
        FileStatus::Accepted => "accepted",
        FileStatus::Complete => "complete",
        _ => "cancelled",
    }});
    if st["type"] != "new" && st["type"] != "cancelled" {
        st["filePath"] = path.unwrap_or_default().into();
    }
    json!({
        "fileId": file_id,
        "fileInvitation": {"fileName": name, "fileSize": size},
        "fileStatus": st,
        "fileType": "normal",
        "senderDisplayName": sender,
        "chunkSize": u64::from(chunker::plan::MAX_CHUNK_SIZE),
        "cancelled": status == FileStatus::Cancelled,
    })
}

fn file_meta(chat: &Chat, file_id: i64) -> Value {
    let f = chat.store().file(file_id).ok().flatten();
    json!({
        "fileId": file_id,
        "fileName": f.as_ref().map_or(String::new(), |f| f.name.clone()),
        "filePath": f.as_ref().and_then(|f| f.path.clone()).unwrap_or_default(),
        "fileSize": f.as_ref().map_or(0, |f| f.size),
        "chunkSize": u64::from(chunker::plan::MAX_CHUNK_SIZE),
        "cancelled": f.as_ref().is_some_and(|f| f.status == FileStatus::Cancelled),
    })
}

/// A command's response (`resp` of the answer to a `{corrId, cmd}` request).
pub fn response(chat: &Chat, r: &Response) -> Value {
    let u = user(chat);
    match r {
        Response::Invitation { link, short, conn } => tagged(
            "invitation",
            json!({"user": u, "connLinkInvitation": created_link(link, short.as_deref()),
                   "connection": pending_connection(chat, *conn)}),
        ),
        Response::ConnectionIncognitoUpdated { conn, incognito } => {
            let mut v = json!({"user": u, "toConnection": pending_connection(chat, *conn)});
            if let Some(p) = incognito {
                v["customUserProfile"] = profile(p);
            }
            tagged("connectionIncognitoUpdated", v)
        }
        Response::UserChanged(c) => {
            let (tag, from, to) = match &c.moved {
                crate::moves::Moved::Connection { .. } => {
                    ("connectionUserChanged", "fromConnection", "toConnection")
                }
                crate::moves::Moved::Contact(..) => {
                    ("contactUserChanged", "fromContact", "toContact")
                }
                crate::moves::Moved::Group(..) => ("groupUserChanged", "fromGroup", "toGroup"),
            };
            let mut v = json!({"user": u, "newUser": c.new_user});
            v[from] = c.from.clone();
            v[to] = c.to.clone();
            tagged(tag, v)
        }
        // The reference's `archiveErrors` are typed (`ArchiveError`); here each says what.
        Response::ArchiveExported(_, skipped) | Response::ArchiveImported(skipped) => {
            let errors: Vec<Value> = skipped
                .iter()
                .map(|s| json!({"type": "import", "importError": s}))
                .collect();
            let tag = match r {
                Response::ArchiveExported(..) => "archiveExported",
                _ => "archiveImported",
            };
            tagged(tag, json!({ "archiveErrors": errors }))
        }
        Response::AppSettings(s) => tagged("appSettings", json!({ "appSettings": s })),
        Response::ChatTags(tags) => tagged("chatTags", json!({"user": u, "userTags": tags})),
        Response::TagsUpdated(tags, chat_tags) => tagged(
            "tagsUpdated",
            json!({"user": u, "userTags": tags, "chatTags": chat_tags}),
        ),
        Response::ConfirmationSent(conn) => tagged(
            "sentConfirmation",
            json!({"user": u, "connection": pending_connection(chat, *conn)}),
        ),
        Response::RequestSent(conn, _) => tagged(
            "sentInvitation",
            json!({"user": u, "connection": pending_connection(chat, *conn)}),
        ),
        Response::QueueInfo(q) => tagged("queueInfo", json!({"user": u, "queueInfo": q})),
        Response::NetworkConfig(c) => tagged("networkConfig", json!({"networkConfig": c})),
        Response::PreparedGroup(g, items) => tagged(
            "newPreparedChat",
            json!({"user": u, "chat": {
                "chatInfo": {"type": "group", "groupInfo": group_info(chat, g)},
                "chatItems": items.iter()
                    .map(|i| {
                        // The welcome message's author: the stand-in for the host.
                        let m = i.group_member_id
                            .and_then(|id| chat.store().member(id).ok().flatten());
                        group_chat_item(chat, g, m.as_ref(), i)["chatItem"].clone()
                    })
                    .collect::<Vec<_>>(),
                "chatStats": {"unreadCount": 0, "unreadMentions": 0, "reportsCount": 0,
                              "minUnreadItemId": 0, "unreadChat": false},
            }}),
        ),
        Response::StartedConnectionToGroup(g, incognito) => {
            let mut v = json!({"user": u, "groupInfo": group_info(chat, g)});
            if let Some(p) = incognito {
                v["customUserProfile"] = profile(p);
            }
            tagged("startedConnectionToGroup", v)
        }
        Response::PreparedContact(c, items) => tagged(
            "newPreparedChat",
            json!({"user": u, "chat": direct_chat(chat, c, items)}),
        ),
        Response::StartedConnectionToContact(c, incognito) => {
            let mut v = json!({"user": u, "contact": chat_info(chat, c)["contact"].take()});
            if let Some(p) = incognito {
                v["customUserProfile"] = profile(p);
            }
            tagged("startedConnectionToContact", v)
        }
        Response::AddressCreated(link) => tagged(
            "userContactLinkCreated",
            json!({"user": u, "connLinkContact": created_link(&link.full, link.short.as_deref())}),
        ),
        Response::Address(link) => tagged(
            "userContactLink",
            json!({"user": u, "contactLink": contact_link(chat, link, &chat.address_settings().unwrap_or_default())}),
        ),
        Response::AddressSettings(link, settings) => tagged(
            "userContactLinkUpdated",
            json!({"user": u, "contactLink": contact_link(chat, link, settings)}),
        ),
        Response::AddressDeleted => tagged("userContactLinkDeleted", json!({ "user": u })),
        Response::Accepting(c) => tagged(
            "acceptingContactRequest",
            json!({"user": u, "contact": contact(c)}),
        ),
        Response::Rejected(req) => tagged(
            "contactRequestRejected",
            json!({"user": u, "contactRequest": contact_request(req)}),
        ),
        Response::Sent(c, item)
        | Response::FileSending {
            contact: c, item, ..
        } => tagged(
            "newChatItems",
            json!({"user": u, "chatItems": items(chat, c, std::slice::from_ref(item))}),
        ),
        Response::SentMany(c, list, _) => tagged(
            "newChatItems",
            json!({"user": u, "chatItems": items(chat, c, list)}),
        ),
        Response::ProfileChanged { from, to, told } => tagged(
            "userProfileUpdated",
            json!({"user": u, "fromProfile": profile(from), "toProfile": profile(to),
                   "updateSummary": {"updateSuccesses": told, "updateFailures": 0,
                                     "changedContacts": []}}),
        ),
        Response::ProfileUnchanged => tagged("userProfileNoChange", json!({ "user": u })),
        Response::Profile(p) => tagged("userProfile", json!({"user": u, "profile": profile(p)})),
        Response::ActiveUser => tagged("activeUser", json!({ "user": u })),
        Response::UsersList(list) => users_list(list),
        Response::Version => version_info(),
        Response::Running => tagged("chatRunning", json!({})),
        Response::Started => tagged("chatStarted", json!({})),
        Response::ContactPrefsUpdated { from, to } => tagged(
            "contactPrefsUpdated",
            json!({"user": user(chat), "fromContact": contact(from), "toContact": contact(to)}),
        ),
        Response::Stopped => tagged("chatStopped", json!({})),
        Response::Chat(c, items) => tagged(
            "apiChat",
            json!({"user": u, "chat": direct_chat(chat, c, items)}),
        ),
        Response::GroupChat(g, items) => tagged(
            "apiChat",
            json!({"user": u, "chat": {
                "chatInfo": {"type": "group", "groupInfo": group_info(chat, g)},
                "chatItems": items.iter()
                    .map(|(m, i)| group_chat_item(chat, g, m.as_ref(), i)["chatItem"].clone())
                    .collect::<Vec<_>>(),
                "chatStats": {
                    "unreadCount": chat.store().unread_items(None, Some(g.group_id)).unwrap_or(0),
                    "unreadMentions": chat.store().unread_mentions(g.group_id).unwrap_or(0),
                    "reportsCount": 0, "minUnreadItemId": 0,
                    "unreadChat": false},
            }}),
        ),
        Response::Chats(list) => {
            let chats: Vec<Value> = list
                .iter()
                .map(|(c, its, unread)| {
                    json!({
                        "chatInfo": chat_info(chat, c),
                        "chatItems": its.iter().map(|i| chat_item(chat, c, i)).collect::<Vec<_>>(),
                        "chatStats": {
                            "unreadCount": chat.store().unread_items(Some(c.contact_id), None)
                                .unwrap_or(0),
                            "unreadMentions": 0, "reportsCount": 0,
                            "minUnreadItemId": 0, "unreadChat": unread},
                    })
                })
                .collect();
            tagged("apiChats", json!({"user": u, "chats": chats}))
        }
        Response::Contacts(cs) => tagged(
            "contactsList",
            json!({"user": u, "contacts": cs.iter().map(contact).collect::<Vec<_>>()}),
        ),
        Response::ContactAliasUpdated(c) => tagged(
            "contactAliasUpdated",
            json!({"user": u, "toContact": contact(c)}),
        ),
        Response::ConnectionAliasUpdated { conn, .. } => tagged(
            "connectionAliasUpdated",
            json!({"user": u, "toConnection": pending_connection(chat, *conn)}),
        ),
        Response::GroupAliasUpdated(g) => tagged(
            "groupAliasUpdated",
            json!({"user": u, "toGroup": group_info(chat, g)}),
        ),
        Response::ItemId(id) => {
            let mut v = json!({ "user": u });
            if let Some(id) = id {
                v["chatItemId"] = (*id).into();
            }
            tagged("chatItemId", v)
        }
        Response::GroupWelcome(g) => tagged(
            "groupDescription",
            json!({"user": u, "groupInfo": group_info(chat, g)}),
        ),
        Response::Broadcast {
            content,
            sent,
            failed,
            at,
        } => tagged(
            "broadcastSent",
            json!({"user": u, "msgContent": content, "successes": sent, "failures": failed,
                   "timestamp": ts(*at)}),
        ),
        Response::ItemInfo(info) => {
            let versions: Vec<Value> = info
                .versions
                .iter()
                .enumerate()
                .map(|(i, (at, content))| {
                    json!({"chatItemVersionId": info.versions.len() - i,
                           "msgContent": content, "itemVersionTs": ts(*at), "createdAt": ts(*at)})
                })
                .collect();
            let mut v = json!({"itemVersions": versions});
            // The reference's `GroupSndStatus`: sent, received (ok or a bad hash), or an error
            // (`SndError`).
            if let Some(d) = &info.deliveries {
                use crate::group_receipts::MemberDelivery;
                let statuses: Vec<Value> = d
                    .iter()
                    .map(|(member, status)| {
                        let status = match status {
                            MemberDelivery::Sent => json!({"type": "sent"}),
                            MemberDelivery::Received(true) => {
                                json!({"type": "rcvd", "msgRcptStatus": "ok"})
                            }
                            MemberDelivery::Received(false) => {
                                json!({"type": "rcvd", "msgRcptStatus": "badMsgHash"})
                            }
                            MemberDelivery::Error(e) => {
                                json!({"type": "error", "agentError": {"type": e}})
                            }
                        };
                        json!({"groupMemberId": member, "memberDeliveryStatus": status})
                    })
                    .collect();
                v["memberDeliveryStatuses"] = json!(statuses);
            }
            if let Some(from) = &info.forwarded_from {
                v["forwardedFromChatItem"] = item_in_chat(chat, from);
            }
            tagged(
                "chatItemInfo",
                json!({"user": u, "chatItem": item_in_chat(chat, &info.item), "chatItemInfo": v}),
            )
        }
        Response::Items(list) => tagged(
            "chatItems",
            json!({"user": u, "chatItems":
                list.iter().map(|(c, i)| a_chat_item(chat, c, i)).collect::<Vec<_>>()}),
        ),
        Response::FileAccepted { file_id, .. } => match file_item(chat, *file_id) {
            Some(item) => tagged("rcvFileAccepted", json!({"user": u, "chatItem": item})),
            None => tagged("cmdOk", json!({ "user_": u })),
        },
        Response::FileCancelled {
            file_id,
            sent,
            peer,
            ..
        } => {
            let item = file_item(chat, *file_id);
            if *sent {
                let mut v = tagged(
                    "sndFileCancelled",
                    json!({"user": u, "fileTransferMeta": file_meta(chat, *file_id),
                           "sndFileTransfers": []}),
                );
                if let Some(i) = item {
                    v["chatItem_"] = i;
                }
                v
            } else {
                let mut v = tagged(
                    "rcvFileCancelled",
                    json!({"user": u,
                           "rcvFileTransfer": rcv_file_transfer(chat, *file_id, peer.name())}),
                );
                if let Some(i) = item {
                    v["chatItem_"] = i;
                }
                v
            }
        }
        Response::FileStatus(line) => {
            tagged("fileTransferStatus", json!({"user": u, "status": line}))
        }
        Response::Updated(c, item) | Response::NoteUpdated(c, item) => tagged(
            "chatItemUpdated",
            json!({"user": u, "chatItem": a_chat_item(chat, c, item)}),
        ),
        Response::NotChanged(c, item) => tagged(
            "chatItemNotChanged",
            json!({"user": u, "chatItem": a_chat_item(chat, c, item)}),
        ),
        Response::Deleted { contact: c, items } => tagged(
            "chatItemsDeleted",
            json!({"user": u, "chatItemDeletions": deletions(chat, c, items),
                   "byUser": true, "timed": false}),
        ),
        Response::Cleared(c) => tagged(
            "chatCleared",
            json!({"user": u, "chatInfo": chat_info(chat, c)}),
        ),
        Response::ContactDeleted(c) => {
            tagged("contactDeleted", json!({"user": u, "contact": contact(c)}))
        }
        Response::ContactAlreadyExists(c) => tagged(
            "contactAlreadyExists",
            json!({"user": u, "contact": contact(c)}),
        ),
        Response::PendingDeleted {
            conn,
            kind,
            created_at,
        } => tagged(
            "contactConnectionDeleted",
            json!({"user": u, "connection": pending_json(*conn, Some(*kind), *created_at)}),
        ),
        // The reference's `groupInfo` and `groupMemberInfo` (undocumented in the bot API).
        Response::GroupInfo { group, members } => tagged(
            "groupInfo",
            json!({"user": u, "groupInfo": group_info(chat, group),
                   "groupSummary": group_summary(chat, group, *members)}),
        ),
        Response::MemberInfo { group, member } => tagged(
            "groupMemberInfo",
            json!({"user": u, "groupInfo": group_info(chat, group), "member": group_member(member)}),
        ),
        Response::ContactInfo { contact: c, .. } => {
            let mut v = tagged("contactInfo", json!({"user": u, "contact": contact(c)}));
            if let Some(p) = &c.incognito {
                v["customUserProfile"] = profile(p);
            }
            v
        }
        Response::Reaction {
            contact: c,
            item,
            reaction,
            added,
        } => reaction_response(chat, u, c, item, reaction, *added, true),
        Response::Help(topic) => tagged(
            "chatHelp",
            json!({"helpSection": topic.clone().unwrap_or_else(|| "main".into())}),
        ),
        Response::SecurityCode(c, code) => tagged(
            "contactCode",
            json!({"user": u, "contact": contact(c), "connectionCode": code}),
        ),
        Response::SyncStarted(c) => tagged(
            "contactRatchetSyncStarted",
            json!({"user": u, "contact": contact(c)}),
        ),
        Response::MemberSyncStarted(g, m) => tagged(
            "groupMemberRatchetSyncStarted",
            json!({"user": u, "groupInfo": group_info(chat, g), "member": group_member(m)}),
        ),
        Response::MemberContactCreated {
            group,
            member,
            contact: c,
        } => member_contact("newMemberContact", chat, &u, c, group, member),
        Response::MemberContactInvited {
            group,
            member,
            contact: c,
        } => member_contact("newMemberContactSentInv", chat, &u, c, group, member),
        Response::UserPrivacy { user, .. } => {
            tagged("userPrivacy", json!({"user": u, "updatedUser": user}))
        }
        Response::MemberAccepted(g, m) => tagged(
            "memberAccepted",
            json!({"user": u, "groupInfo": group_info(chat, g), "member": group_member(m)}),
        ),
        Response::MemberContactAccepted(c) => tagged(
            "memberContactAccepted",
            json!({"user": u, "contact": contact(c)}),
        ),
        Response::SwitchAborted(c) => tagged(
            "contactSwitchAborted",
            json!({"user": u, "contact": contact(c)}),
        ),
        Response::MemberSwitchAborted(g, m) => tagged(
            "groupMemberSwitchAborted",
            json!({"user": u, "groupInfo": group_info(chat, g), "member": group_member(m)}),
        ),
        Response::SwitchStarted(c) => tagged(
            "contactSwitchStarted",
            json!({"user": u, "contact": contact(c)}),
        ),
        Response::MemberSwitchStarted(g, m) => tagged(
            "groupMemberSwitchStarted",
            json!({"user": u, "groupInfo": group_info(chat, g), "member": group_member(m)}),
        ),
        Response::Verified { verified, code } => tagged(
            "connectionVerified",
            json!({"user": u, "verified": verified, "expectedCode": code}),
        ),
        Response::ConnectionPlan { link, plan } => tagged(
            "connectionPlan",
            json!({"user": u, "connLink": {"connFullLink": link},
                   "connectionPlan": connection_plan(chat, plan)}),
        ),
        Response::GroupCreated(g) => tagged(
            "groupCreated",
            json!({"user": u, "groupInfo": group_info(chat, g)}),
        ),
        Response::GroupInvitationSent {
            group,
            contact: c,
            member,
        } => tagged(
            "sentGroupInvitation",
            json!({"user": u, "groupInfo": group_info(chat, group), "contact": contact(c),
                   "member": group_member(member)}),
        ),
        Response::GroupJoining(g) => tagged(
            "userAcceptedGroupSent",
            json!({"user": u, "groupInfo": group_info(chat, g)}),
        ),
        Response::GroupFileSending { group, item, .. } => tagged(
            "newChatItems",
            json!({"user": u, "chatItems": [group_chat_item(chat, group, None, item)]}),
        ),
        Response::GroupLink {
            group,
            link,
            role,
            created,
        } => {
            let id = chat
                .store()
                .group_link_id(group.group_id)
                .ok()
                .flatten()
                .unwrap_or_default();
            tagged(
                if *created {
                    "groupLinkCreated"
                } else {
                    "groupLink"
                },
                json!({"user": u, "groupInfo": group_info(chat, group), "groupLink": {
                    "userContactLinkId": group.group_id,
                    "connLinkContact": created_link(&link.full, link.short.as_deref()),
                    "shortLinkDataSet": link.short.is_some(),
                    "shortLinkLargeDataSet": false,
                    "groupLinkId": simplex_codec::base64url::encode(&id),
                    "acceptMemberRole": role,
                }}),
            )
        }
        Response::GroupReaction {
            group,
            item,
            reaction,
            added,
        } => group_reaction(
            chat,
            u,
            group,
            json!({"type": "groupSnd"}),
            item,
            reaction,
            *added,
        ),
        Response::GroupItemUpdated(g, item) => tagged(
            "chatItemUpdated",
            json!({"user": u, "chatItem": group_chat_item(chat, g, None, item)}),
        ),
        Response::GroupItemDeleted { .. } => tagged("cmdOk", json!({ "user_": u })),
        Response::GroupItemsDeleted { group, items, .. } => {
            let list: Vec<Value> = items
                .iter()
                .map(|(m, was, now)| {
                    let mut d = json!({
                        "deletedChatItem": group_chat_item(chat, group, m.as_ref(), was)
                    });
                    if let Some(now) = now {
                        d["toChatItem"] = group_chat_item(chat, group, m.as_ref(), now);
                    }
                    d
                })
                .collect();
            tagged(
                "chatItemsDeleted",
                json!({"user": u, "chatItemDeletions": list, "byUser": true, "timed": false}),
            )
        }
        Response::GroupItems(g, list) => tagged(
            "chatItems",
            json!({"user": u, "chatItems": list.iter()
                .map(|(m, i)| group_chat_item(chat, g, m.as_ref(), i))
                .collect::<Vec<_>>()}),
        ),
        Response::BlockedForAll {
            group,
            members,
            blocked,
        } => tagged(
            "membersBlockedForAllUser",
            json!({"user": u, "groupInfo": group_info(chat, group),
                   "members": members.iter().map(group_member).collect::<Vec<_>>(),
                   "blocked": blocked, "msgSigned": msg_signed(chat, group)}),
        ),
        Response::GroupLinkDeleted(g) => tagged(
            "groupLinkDeleted",
            json!({"user": u, "groupInfo": group_info(chat, g)}),
        ),
        Response::GroupUpdated { from, to } => tagged(
            "groupUpdated",
            json!({"user": u, "fromGroup": group_info(chat, from), "toGroup": group_info(chat, to),
                   "msgSigned": msg_signed(chat, to)}),
        ),
        Response::GroupSent(g, item) => tagged(
            "newChatItems",
            json!({"user": u, "chatItems": [group_chat_item(chat, g, None, item)]}),
        ),
        Response::Groups(list) => tagged(
            "groupsList",
            json!({"user": u, "groups":
                list.iter().map(|(g, _)| group_info(chat, g)).collect::<Vec<_>>()}),
        ),
        Response::Members(g, members) => tagged(
            "groupMembers",
            json!({"user": u, "group": {"groupInfo": group_info(chat, g),
                   "members": members.iter().map(group_member).collect::<Vec<_>>()}}),
        ),
        Response::MemberRemoved(g, m) => tagged(
            "userDeletedMembers",
            json!({"user": u, "groupInfo": group_info(chat, g), "members": [group_member(m)],
                   "withMessages": false, "msgSigned": msg_signed(chat, g)}),
        ),
        Response::MembersRemoved(g, ms) => tagged(
            "userDeletedMembers",
            json!({"user": u, "groupInfo": group_info(chat, g),
                   "members": ms.iter().map(group_member).collect::<Vec<_>>(),
                   "withMessages": false, "msgSigned": msg_signed(chat, g)}),
        ),
        Response::MembersRoleChanged { group, members, to } => tagged(
            "membersRoleUser",
            json!({"user": u, "groupInfo": group_info(chat, group),
                   "members": members.iter().map(group_member).collect::<Vec<_>>(),
                   "toRole": to, "msgSigned": msg_signed(chat, group)}),
        ),
        Response::GroupSentMany(g, items, _) => tagged(
            "newChatItems",
            json!({"user": u, "chatItems":
                items.iter().map(|i| group_chat_item(chat, g, None, i)).collect::<Vec<_>>()}),
        ),
        Response::LeftGroup(g) => tagged(
            "leftMemberUser",
            json!({"user": u, "groupInfo": group_info(chat, g)}),
        ),
        Response::GroupDeleted(g) => tagged(
            "groupDeletedUser",
            json!({"user": u, "groupInfo": group_info(chat, g), "msgSigned": msg_signed(chat, g)}),
        ),
        Response::RoleChanged {
            group, member, to, ..
        } => tagged(
            "membersRoleUser",
            json!({"user": u, "groupInfo": group_info(chat, group), "members": [group_member(member)],
                   "toRole": to, "msgSigned": msg_signed(chat, group)}),
        ),
        Response::Ok | Response::Quit => tagged("cmdOk", json!({ "user_": u })),
        Response::CallInvitations(list) => tagged(
            "callInvitations",
            json!({ "callInvitations": list.iter().map(|i| call_invitation(chat, i)).collect::<Vec<_>>() }),
        ),
        Response::ChatItemTtl(ttl) => {
            tagged("chatItemTTL", json!({ "user": u, "chatItemTTL": ttl }))
        }
        Response::GroupRelays(g, relays) => tagged(
            "groupRelays",
            json!({"user": u, "groupInfo": group_info(chat, g),
                   "groupRelays": relays.iter().map(group_relay).collect::<Vec<_>>()}),
        ),
        Response::PublicGroupCreated(g, _, relays) => tagged(
            "publicGroupCreated",
            json!({"user": u, "groupInfo": group_info(chat, g), "groupLink": channel_link(chat, g),
                   "groupRelays": relays.iter().map(group_relay).collect::<Vec<_>>()}),
        ),
        Response::GroupRelaysAdded(g, _, relays) => tagged(
            "groupRelaysAdded",
            json!({"user": u, "groupInfo": group_info(chat, g), "groupLink": channel_link(chat, g),
                   "groupRelays": relays.iter().map(group_relay).collect::<Vec<_>>()}),
        ),
        Response::PublicGroupCreationFailed(results) => tagged(
            "publicGroupCreationFailed",
            json!({"user": u, "addRelayResults": results.iter().map(add_relay_result).collect::<Vec<_>>()}),
        ),
        Response::GroupRelaysAddFailed(results) => tagged(
            "groupRelaysAddFailed",
            json!({"user": u, "addRelayResults": results.iter().map(add_relay_result).collect::<Vec<_>>()}),
        ),
        Response::RelayGroupAllowed(g) => tagged(
            "relayGroupAllowed",
            json!({"user": u, "groupInfo": group_info(chat, g)}),
        ),
        // A channel joined by its link: the request to its (first) relay, as a group link's.
        Response::ChannelJoining(_, conn) => {
            let mut c = pending_connection(chat, *conn);
            c["pccConnStatus"] = json!({"type": "joined"});
            c["viaContactUri"] = json!(true);
            tagged("sentInvitation", json!({"user": u, "connection": c}))
        }
        // Ours: the reference lists chat relays among its operators' servers.
        Response::ChatRelays(list) => tagged(
            "userChatRelays",
            json!({"user": u, "chatRelays": list.iter().map(|r| user_chat_relay(r, false)).collect::<Vec<_>>()}),
        ),
        // Ours (the reference answers `/smp` with its operators' servers).
        Response::Servers(p, servers) => tagged(
            "userProtoServers",
            json!({"user": u, "protocol": p.name().to_lowercase(), "servers": servers}),
        ),
        Response::ServerTested {
            server, failure, ..
        } => {
            let mut v = json!({"user": u, "testServer": server});
            if let Some(f) = failure {
                v["testFailure"] = json!({"testStep": f.step, "testError": f.error});
            }
            tagged("serverTestResult", v)
        }
    }
}

/// A link's plan (`ConnectionPlan`).
pub fn connection_plan(chat: &Chat, plan: &LinkPlan) -> Value {
    let (kind, key, status) = match plan {
        LinkPlan::Invitation(s) => ("invitationLink", "invitationLinkPlan", s),
        LinkPlan::Address(s) => ("contactAddress", "contactAddressPlan", s),
        LinkPlan::AddressData(d) => {
            let data = serde_json::to_value(d).unwrap_or(Value::Null);
            return json!({"type": "contactAddress",
                          "contactAddressPlan": {"type": "ok", "contactSLinkData_": data}});
        }
        LinkPlan::InvitationData(d) => {
            let data = serde_json::to_value(d).unwrap_or(Value::Null);
            return json!({"type": "invitationLink",
                          "invitationLinkPlan": {"type": "ok", "contactSLinkData_": data}});
        }
        LinkPlan::Channel(c) => {
            use crate::chat::ChannelPlan;
            let inner = match c {
                ChannelPlan::Ok(p, n) => {
                    json!({"type": "ok", "groupSLinkData_": channel_link_json(p, *n)})
                }
                ChannelPlan::NoRelays(p, n) => {
                    json!({"type": "noRelays", "groupSLinkData_": channel_link_json(p, *n)})
                }
                ChannelPlan::Own(g) => json!({"type": "ownLink", "groupInfo": group_info(chat, g)}),
                ChannelPlan::Known(g) | ChannelPlan::Prepared(g) => {
                    json!({"type": "known", "groupInfo": group_info(chat, g),
                           "groupUpdated": false, "linkOwners": []})
                }
            };
            return json!({"type": "groupLink", "groupLinkPlan": inner});
        }
        LinkPlan::Group(p) => {
            use crate::chat::GroupLinkPlan;
            let inner = match p {
                GroupLinkPlan::Ok(None) => json!({"type": "ok"}),
                GroupLinkPlan::Ok(Some(p)) => {
                    json!({"type": "ok", "groupSLinkData_": {"groupProfile": p}})
                }
                GroupLinkPlan::Own(g) => {
                    json!({"type": "ownLink", "groupInfo": group_info(chat, g)})
                }
                GroupLinkPlan::ConnectingReconnect => json!({"type": "connectingConfirmReconnect"}),
                GroupLinkPlan::Connecting(g) => {
                    json!({"type": "connectingProhibit", "groupInfo_": group_info(chat, g)})
                }
                GroupLinkPlan::Known(g) | GroupLinkPlan::Prepared(g, _) => {
                    json!({"type": "known", "groupInfo": group_info(chat, g),
                                                  "groupUpdated": false, "linkOwners": []})
                }
            };
            return json!({"type": "groupLink", "groupLinkPlan": inner});
        }
    };
    let inner = match (plan, status) {
        (_, LinkStatus::Ok) => json!({"type": "ok"}),
        (_, LinkStatus::Own) => json!({"type": "ownLink"}),
        (LinkPlan::Address(_), LinkStatus::Connecting(None)) => {
            json!({"type": "connectingConfirmReconnect"})
        }
        (LinkPlan::Address(_), LinkStatus::Connecting(Some(c))) => {
            json!({"type": "connectingProhibit", "contact": contact(c)})
        }
        // (Only an invitation's status gets here: the other plans returned above.)
        (_, LinkStatus::Connecting(c)) => {
            let mut v = json!({"type": "connecting"});
            if let Some(c) = c {
                v["contact_"] = contact(c);
            }
            v
        }
        (_, LinkStatus::Known(c) | LinkStatus::Prepared(c)) => {
            json!({"type": "known", "contact": chat_info(chat, c)["contact"].take()})
        }
    };
    let mut v = json!({ "type": kind });
    v[key] = inner;
    v
}

fn deletions(chat: &Chat, c: &Contact, list: &[(ChatItem, Option<ChatItem>)]) -> Value {
    Value::Array(
        list.iter()
            .map(|(was, now)| {
                let mut d = json!({ "deletedChatItem": a_chat_item(chat, c, was) });
                if let Some(now) = now {
                    d["toChatItem"] = a_chat_item(chat, c, now);
                }
                d
            })
            .collect(),
    )
}

/// A command's failure (`chatCmdError`).
pub fn command_error(e: &ChatError) -> Value {
    tagged("chatCmdError", json!({ "chatError": chat_error(e) }))
}

/// An event (`resp` of a message without `corrId`); none for what the API does not report.
pub fn event(chat: &Chat, e: &Event) -> Option<Value> {
    let u = user(chat);
    let item_event = |tag: &str, file_id: i64| {
        file_item(chat, file_id).map(|i| tagged(tag, json!({"user": u.clone(), "chatItem": i})))
    };
    Some(match e {
        Event::ContactConnected(c) => {
            let mut v = tagged(
                "contactConnected",
                json!({"user": u, "contact": contact(c)}),
            );
            if let Some(p) = &c.incognito {
                v["userCustomProfile"] = profile(p);
            }
            v
        }
        Event::GroupItemStatus(g, item) => tagged(
            "chatItemsStatusesUpdated",
            json!({"user": u, "chatItems": [group_chat_item(chat, g, None, item)]}),
        ),
        Event::ItemStatus(c, item) => tagged(
            "chatItemsStatusesUpdated",
            json!({"user": u, "chatItems": items(chat, c, std::slice::from_ref(item))}),
        ),
        Event::Received(c, item) | Event::InfoItem(c, item) => tagged(
            "newChatItems",
            json!({"user": u, "chatItems": items(chat, c, std::slice::from_ref(item))}),
        ),
        Event::AutoAccepted(c) => tagged(
            "acceptingContactRequest",
            json!({"user": u, "contact": contact(c)}),
        ),
        Event::ContactConnecting(c) => tagged(
            "contactConnecting",
            json!({"user": u, "contact": contact(c)}),
        ),
        Event::ContactSndReady(c) => {
            tagged("contactSndReady", json!({"user": u, "contact": contact(c)}))
        }
        Event::ItemSent(c, item) => tagged(
            "newChatItems",
            json!({"user": u, "chatItems": items(chat, c, std::slice::from_ref(item))}),
        ),
        Event::Request(req) => tagged(
            "receivedContactRequest",
            json!({"user": u, "contactRequest": contact_request(req)}),
        ),
        Event::ProfileUpdated { from, to } => tagged(
            "contactUpdated",
            json!({"user": u, "fromContact": contact(from), "toContact": contact(to)}),
        ),
        Event::ContactDeletedByContact(c) => tagged(
            "contactDeletedByContact",
            json!({"user": u, "contact": contact(c)}),
        ),
        Event::FileOffered {
            contact: c,
            item_id,
            ..
        } => {
            let item = chat.store().item(c.contact_id, *item_id).ok()??;
            tagged(
                "newChatItems",
                json!({"user": u, "chatItems": items(chat, c, std::slice::from_ref(&item))}),
            )
        }
        Event::FileUploaded(id, ..) => {
            let mut v = item_event("sndFileCompleteXFTP", *id)?;
            v["fileTransferMeta"] = file_meta(chat, *id);
            v
        }
        Event::FileAutoAccepted { file_id, .. } => item_event("rcvFileAccepted", *file_id)?,
        Event::MessageRefused(_, conn) => tagged(
            "chatError",
            json!({"chatError": {"type": "errorAgent",
                "agentError": {"type": "SMP", "serverAddress": "", "smpErr": {"type": "AUTH"}},
                "agentConnId": conn.to_string()}}),
        ),
        Event::ContactDisabled(c) => tagged(
            "chatError",
            json!({"chatError": {"type": "error",
                "errorType": {"type": "contactDisabled", "contact": contact(c)}}}),
        ),
        // The reference's carries the member's connection (`connectionDisabled`), which is
        // not kept here as such: the terminal's line only.
        Event::MemberDisabled(..) => return None,
        Event::ConnectionError { conn, error } => tagged(
            "chatError",
            json!({"chatError": {"type": "errorAgent",
                "agentError": {"type": "INTERNAL", "internalErr": error},
                "agentConnId": conn.to_string()}}),
        ),
        // No user: the reference's comes from its agent (ERRS).
        Event::SubscriptionErrors { server, errors } => tagged(
            "chatErrors",
            json!({"chatErrors": errors.iter().map(|(conn, e)| {
                let agent_error = match e.as_str() {
                    "AUTH" => json!({"type": "SMP", "serverAddress": server, "smpErr": {"type": "AUTH"}}),
                    other => json!({"type": "INTERNAL", "internalErr": other}),
                };
                json!({"type": "errorAgent", "agentError": agent_error, "agentConnId": conn.to_string()})
            }).collect::<Vec<_>>()}),
        ),
        // No user: the reference's comes from its agent, for the relay.
        Event::SubscriptionStatus {
            server,
            active,
            conns,
        } => tagged(
            "subscriptionStatus",
            json!({"server": server,
                   "subscriptionStatus": {"type": if *active { "active" } else { "pending" }},
                   "connections": conns.iter().map(u64::to_string).collect::<Vec<_>>()}),
        ),
        Event::FileDescrReady(id, peer) => {
            let mut v = item_event("rcvFileDescrReady", *id)?;
            v["rcvFileTransfer"] = rcv_file_transfer(chat, *id, peer.name());
            let f = chat.store().file(*id).ok()??;
            v["rcvFileDescr"] = json!({"fileDescrId": id, "fileDescrText": f.descr,
                "fileDescrPartNo": f.descr_parts, "fileDescrComplete": f.descr_complete});
            v
        }
        Event::FileFailed(t) | Event::FileWarning(t) => {
            let tag = match (matches!(e, Event::FileFailed(_)), t.sent) {
                (true, true) => "sndFileError",
                (true, false) => "rcvFileError",
                (false, true) => "sndFileWarning",
                (false, false) => "rcvFileWarning",
            };
            let mut v = tagged(tag, json!({"user": u}));
            if let Some(i) = file_item(chat, t.file_id) {
                v["chatItem_"] = i;
            }
            if t.sent {
                v["fileTransferMeta"] = file_meta(chat, t.file_id);
                v["errorMessage"] = t.error.as_str().into();
            } else {
                v["rcvFileTransfer"] = rcv_file_transfer(chat, t.file_id, t.peer.name());
                v["agentError"] = json!({"type": "INTERNAL", "internalErr": t.error});
            }
            v
        }
        Event::FileReceiving(id, ..) => item_event("rcvFileStart", *id)?,
        Event::FileReceived(id, ..) => item_event("rcvFileComplete", *id)?,
        Event::FileCancelledBySender(id, _, c) => {
            let mut v = item_event("rcvFileSndCancelled", *id)?;
            v["rcvFileTransfer"] = rcv_file_transfer(chat, *id, c.name());
            v
        }
        Event::Reaction {
            contact: c,
            item,
            reaction,
            added,
        } => reaction_response(chat, u, c, item, reaction, *added, false),
        Event::Updated(c, item) => tagged(
            "chatItemUpdated",
            json!({"user": u, "chatItem": a_chat_item(chat, c, item)}),
        ),
        Event::Deleted(c, Some(item)) => {
            let was = ChatItem {
                deleted: false,
                ..item.clone()
            };
            tagged(
                "chatItemsDeleted",
                json!({"user": u, "chatItemDeletions": deletions(chat, c, &[(was, Some(item.clone()))]),
                       "byUser": false, "timed": false}),
            )
        }
        Event::TimedDeleted(c, list) => {
            let gone: Vec<(ChatItem, Option<ChatItem>)> =
                list.iter().map(|i| (i.clone(), None)).collect();
            tagged(
                "chatItemsDeleted",
                json!({"user": u, "chatItemDeletions": deletions(chat, c, &gone),
                       "byUser": false, "timed": true}),
            )
        }
        Event::FullyDeleted(c, item) => tagged(
            "chatItemsDeleted",
            json!({"user": u, "chatItemDeletions": deletions(chat, c, &[(item.clone(), None)]),
                   "byUser": false, "timed": false}),
        ),
        Event::Deleted(c, None) => tagged(
            "messageError",
            json!({"user": u, "severity": "warning",
                   "errorMessage": format!("{} deleted a message this chat no longer has",
                                           c.local_name)}),
        ),
        Event::GroupInvited {
            group,
            contact: c,
            role,
        } => {
            let host = chat
                .store()
                .members(group.group_id)
                .ok()
                .and_then(|ms| ms.into_iter().find(|m| m.category == MemberCategory::Host));
            tagged(
                "receivedGroupInvitation",
                json!({"user": u, "groupInfo": group_info(chat, group), "contact": contact(c),
                       "fromMemberRole": host.map_or(GroupMemberRole::Admin, |h| h.role),
                       "memberRole": role}),
            )
        }
        // Accepted: joined as far as the API says; moved on to the review: accepted by the
        // moderator, still pending.
        Event::UserAccepted { group, by } if !group.status.is_pending() => tagged(
            "userJoinedGroup",
            json!({"user": u, "groupInfo": group_info(chat, group), "hostMember": group_member(by)}),
        ),
        Event::UserAccepted { group, by } => tagged(
            "memberAcceptedByOther",
            json!({"user": u, "groupInfo": group_info(chat, group), "acceptingMember": group_member(by),
                   "member": membership(chat, group)}),
        ),
        Event::MemberAcceptedByOther { group, by, member } => tagged(
            "memberAcceptedByOther",
            json!({"user": u, "groupInfo": group_info(chat, group), "acceptingMember": group_member(by),
                   "member": group_member(member)}),
        ),
        Event::UserJoinedGroup(g, host) => tagged(
            "userJoinedGroup",
            json!({"user": u, "groupInfo": group_info(chat, g), "hostMember": group_member(host)}),
        ),
        Event::MemberJoined(g, m) => tagged(
            "joinedGroupMember",
            json!({"user": u, "groupInfo": group_info(chat, g), "member": group_member(m)}),
        ),
        Event::MemberAnnounced { group, by, member } => tagged(
            "joinedGroupMemberConnecting",
            json!({"user": u, "groupInfo": group_info(chat, group), "hostMember": group_member(by),
                   "member": group_member(member)}),
        ),
        Event::MemberConnected(g, m) => tagged(
            "connectedToGroupMember",
            json!({"user": u, "groupInfo": group_info(chat, g), "member": group_member(m)}),
        ),
        Event::GroupFileOffered {
            group,
            member,
            item,
            ..
        } => tagged(
            "newChatItems",
            json!({"user": u, "chatItems": [group_chat_item(chat, group, member.as_ref(), item)]}),
        ),
        Event::GroupReaction {
            group,
            member,
            item,
            reaction,
            added,
            ..
        } => {
            // Someone in a channel whom its relay does not name: the channel's.
            let dir = match member {
                Some(m) => json!({"type": "groupRcv", "groupMember": group_member(m)}),
                None => json!({"type": "channelRcv"}),
            };
            group_reaction(chat, u, group, dir, item, reaction, *added)
        }
        Event::GroupItemUpdated(g, m, item) => tagged(
            "chatItemUpdated",
            json!({"user": u, "chatItem": group_chat_item(chat, g, Some(m), item)}),
        ),
        Event::GroupItemDeleted {
            group,
            author,
            item,
            by,
            full,
            ..
        } => {
            let was = ChatItem {
                deleted: false,
                ..item.clone()
            };
            let mut deletion =
                json!({"deletedChatItem": group_chat_item(chat, group, author.as_ref(), &was)});
            // Fully deleted by its author: nothing left of it; by a moderator: `moderated`.
            match (full, by) {
                (false, _) => {
                    deletion["toChatItem"] = group_chat_item(chat, group, author.as_ref(), item)
                }
                (true, Some(b)) => {
                    let now = crate::store::moderated_form(item, b.group_member_id);
                    deletion["toChatItem"] = group_chat_item(chat, group, author.as_ref(), &now)
                }
                (true, None) => {}
            }
            let mut v = tagged(
                "chatItemsDeleted",
                json!({"user": u, "chatItemDeletions": [deletion],
                       "byUser": false, "timed": false}),
            );
            if let Some(m) = by {
                v["byMember"] = group_member(m);
            }
            v
        }
        Event::MemberBlockedBy {
            group,
            by,
            member,
            signed,
        } => tagged(
            "memberBlockedForAll",
            with_sig(
                json!({"user": u, "groupInfo": group_info(chat, group), "byMember": group_member(by),
                   "member": group_member(member), "blocked": member.blocked_by_admin}),
                *signed,
            ),
        ),
        // Not among the documented events.
        Event::GroupJoinRequest(..) => return None,
        // Not in the bot API's documented events (the reference's `unknownMemberCreated`,
        // `hostConnected`, `hostDisconnected`).
        Event::GroupRelayUpdated(g, relay) => link_data_updated(
            chat,
            &u,
            g,
            relay.status == crate::channels::RelayStatus::Active,
        )?,
        Event::ChannelCountPublished(g, _) => link_data_updated(chat, &u, g, false)?,
        Event::GroupRelayAccepted(g, relay) => tagged(
            "groupRelayUpdated",
            json!({"user": u, "groupInfo": group_info(chat, g), "member": group_member(&relay.member),
                   "groupRelay": group_relay(relay)}),
        ),
        Event::RelayServing(g, owner) => tagged(
            "userJoinedGroup",
            json!({"user": u, "groupInfo": group_info(chat, g), "hostMember": group_member(owner)}),
        ),
        Event::MemberItemsDeleted {
            group,
            item_ids,
            by,
        } => {
            let mut v = json!({"user": u, "groupInfo": group_info(chat, group),
                               "chatItemIDs": item_ids, "byUser": by.is_none()});
            if let Some(m) = by {
                v["member_"] = group_member(m);
            }
            tagged("groupChatItemsDeleted", v)
        }
        // A relay's connection lost and back (the reference's, without the user).
        Event::HostConnected(host) => tagged(
            "hostConnected",
            json!({"protocol": "smp", "transportHost": host}),
        ),
        Event::HostDisconnected(host) => tagged(
            "hostDisconnected",
            json!({"protocol": "smp", "transportHost": host}),
        ),
        Event::UnknownMemberCreated { .. } => return None,
        // A terminal event in the reference (`groupLinkConnecting` told the bot).
        Event::GroupLinkRejected { .. } => return None,
        Event::AcceptingBusinessRequest(g) => tagged(
            "acceptingBusinessRequest",
            json!({"user": u, "groupInfo": group_info(chat, g)}),
        ),
        Event::GroupItemSent(g, item) => tagged(
            "newChatItems",
            json!({"user": u, "chatItems": [group_chat_item(chat, g, None, item)]}),
        ),
        Event::Call(c) => call_event(chat, u, c),
        Event::GroupLinkJoining(g, card) => {
            let host = chat
                .store()
                .members(g.group_id)
                .ok()?
                .into_iter()
                .find(|m| m.category == crate::group_store::MemberCategory::Host)?;
            let mut v = json!({"user": u, "groupInfo": group_info(chat, g),
                               "hostMember": group_member(&host)});
            match card {
                Some(c) => {
                    v["fromContact"] = chat_info(chat, c)["contact"].take();
                    tagged("businessLinkConnecting", v)
                }
                None => tagged("groupLinkConnecting", v),
            }
        }
        Event::GroupMemberUpdated { group, from, to } => tagged(
            "groupMemberUpdated",
            json!({"user": u, "groupInfo": group_info(chat, group),
                   "fromMember": group_member(from), "toMember": group_member(to)}),
        ),
        Event::GroupUpdatedBy {
            from,
            to,
            by,
            signed,
        } => tagged(
            "groupUpdated",
            with_sig(
                json!({"user": u, "fromGroup": group_info(chat, from), "toGroup": group_info(chat, to),
                   "member_": group_member(by)}),
                *signed,
            ),
        ),
        Event::GroupReceived(g, m, item) => tagged(
            "newChatItems",
            json!({"user": u, "chatItems": [group_chat_item(chat, g, Some(m), item)]}),
        ),
        Event::ChannelPost(g, item) => tagged(
            "newChatItems",
            json!({"user": u, "chatItems": [group_chat_item(chat, g, None, item)]}),
        ),
        Event::ChannelPostUpdated(g, item) => tagged(
            "chatItemUpdated",
            json!({"user": u, "chatItem": group_chat_item(chat, g, None, item)}),
        ),
        Event::GroupInfoItem(g, m, item) => tagged(
            "newChatItems",
            json!({"user": u, "chatItems": [group_chat_item(chat, g, m.as_ref(), item)]}),
        ),
        Event::RemovedFromGroup(g, by, signed) => tagged(
            "deletedMemberUser",
            with_sig(
                json!({"user": u, "groupInfo": group_info(chat, g), "member": group_member(by),
                   "withMessages": false}),
                *signed,
            ),
        ),
        Event::MemberRemovedBy {
            group,
            by,
            member,
            signed,
        } => tagged(
            "deletedMember",
            with_sig(
                json!({"user": u, "groupInfo": group_info(chat, group), "byMember": group_member(by),
                   "deletedMember": group_member(member), "withMessages": false}),
                *signed,
            ),
        ),
        Event::MemberLeft(g, m, signed) => tagged(
            "leftMember",
            with_sig(
                json!({"user": u, "groupInfo": group_info(chat, g), "member": group_member(m)}),
                *signed,
            ),
        ),
        Event::GroupDeletedBy(g, m, signed) => tagged(
            "groupDeleted",
            with_sig(
                json!({"user": u, "groupInfo": group_info(chat, g), "member": group_member(m)}),
                *signed,
            ),
        ),
        Event::RoleChangedBy {
            group,
            by,
            member,
            from,
            to,
            signed,
        } => tagged(
            "memberRole",
            with_sig(
                json!({"user": u, "groupInfo": group_info(chat, group), "byMember": group_member(by),
                       "member": member.as_ref().map_or_else(|| membership(chat, group), group_member),
                       "fromRole": from, "toRole": to}),
                *signed,
            ),
        ),
        Event::Error(m) => tagged(
            "messageError",
            json!({"user": u, "severity": "error", "errorMessage": m}),
        ),
        // The reference's agent event (`DEL_USER`) is not in the bot API.
        Event::UserDeleted => return None,
        // A file's caption: the item is reported once, with its file, as the offer.
        Event::ReceivedCaption(..) | Event::GroupReceivedCaption(..) => return None,
        Event::RatchetSync {
            contact: c,
            member,
            state,
        } => {
            let progress = json!({"ratchetSyncStatus": crate::features::sync_state(*state).0});
            match (c, member) {
                (Some(c), _) => tagged(
                    "contactRatchetSync",
                    json!({"user": u, "contact": contact(c), "ratchetSyncProgress": progress}),
                ),
                (None, Some((g, m))) => tagged(
                    "groupMemberRatchetSync",
                    json!({"user": u, "groupInfo": group_info(chat, g), "member": group_member(m),
                           "ratchetSyncProgress": progress}),
                ),
                (None, None) => return None,
            }
        }
        // The terminal's line only, as the reference's (`noMemberContactCreating`).
        Event::NoMemberContact(..) => return None,
        Event::MemberContactCreated {
            group,
            member,
            contact: c,
        } => member_contact("newMemberContact", chat, &u, c, group, member),
        Event::MemberContactInvitation {
            group,
            member,
            contact: c,
        } => member_contact("newMemberContactReceivedInv", chat, &u, c, group, member),
        Event::ContactSwitch {
            contact: c,
            ours,
            phase,
        } => tagged(
            "contactSwitch",
            json!({"user": u, "contact": contact(c), "switchProgress": switch_progress(*ours, *phase)}),
        ),
        Event::MemberSwitch {
            group,
            member,
            ours,
            phase,
        } => tagged(
            "groupMemberSwitch",
            json!({"user": u, "groupInfo": group_info(chat, group), "member": group_member(member),
                   "switchProgress": switch_progress(*ours, *phase)}),
        ),
    })
}
