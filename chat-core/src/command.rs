//! Chat commands as typed in the terminal or sent through the bot API (`cmd`), in the
//! reference's syntax (spec §7). Names may be quoted: `@'John Doe' hi`.

/// How `/_delete item` deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteMode {
    /// For everyone: the contact keeps the item marked deleted (`broadcast`).
    Broadcast,
    /// Here only, removed (`internal`).
    Internal,
    /// Here only, kept marked deleted (`internalMark`).
    InternalMark,
}

/// One message of `/_send ... json [...]` (the bot API's ComposedMessage).
#[derive(Debug, Clone, PartialEq)]
pub struct Composed {
    /// A file to send (`fileSource.filePath`, or the legacy `filePath`).
    pub file: Option<String>,
    /// The item of the chat it quotes.
    pub quoted_item_id: Option<i64>,
    /// The content.
    pub content: crate::protocol::MsgContent,
    /// The group members it mentions: each name (as in the text) and its group member id.
    pub mentions: std::collections::BTreeMap<String, i64>,
}

impl Composed {
    /// A `json [...]` argument: a non-empty list of composed messages.
    fn list_from_json(json: &str) -> Result<Vec<Self>, String> {
        let v: serde_json::Value =
            serde_json::from_str(json).map_err(|e| format!("bad JSON ({e})"))?;
        let list = v
            .as_array()
            .filter(|l| !l.is_empty())
            .ok_or("json: a non-empty list of messages")?;
        list.iter().map(Self::from_json).collect()
    }

    fn from_json(v: &serde_json::Value) -> Result<Self, String> {
        let o = v.as_object().ok_or("a composed message is a JSON object")?;
        let content = o
            .get("msgContent")
            .ok_or("msgContent is required")
            .and_then(|c| {
                serde_json::from_value(c.clone()).map_err(|_| "msgContent is not a message content")
            })?;
        let file = match (o.get("fileSource"), o.get("filePath")) {
            (Some(src), _) if !src.is_null() => Some(
                src.get("filePath")
                    .and_then(|p| p.as_str())
                    .ok_or("fileSource needs filePath")?
                    .to_string(),
            ),
            (_, Some(p)) if !p.is_null() => {
                Some(p.as_str().ok_or("filePath is a string")?.to_string())
            }
            _ => None,
        };
        let quoted_item_id = match o.get("quotedItemId") {
            None | Some(serde_json::Value::Null) => None,
            Some(q) => Some(q.as_i64().ok_or("quotedItemId is a number")?),
        };
        let mentions = match o.get("mentions") {
            None | Some(serde_json::Value::Null) => Default::default(),
            Some(m) => serde_json::from_value(m.clone())
                .map_err(|_| "mentions: each name's group member id")?,
        };
        Ok(Self {
            file,
            quoted_item_id,
            content,
            mentions,
        })
    }
}

/// The address's settings (the bot API's AddressSettings).
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddressSettings {
    /// A business address (its chats are business chats): not supported - `true` is refused.
    #[serde(default)]
    pub business_address: bool,
    /// Accept requests at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_accept: Option<AutoAccept>,
    /// Sent to each contact accepted automatically, once connected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_reply: Option<crate::protocol::MsgContent>,
}

/// Accepting requests at once.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AutoAccept {
    /// With a random profile for each contact.
    #[serde(default)]
    pub accept_incognito: bool,
}

/// A parsed command.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `/c`, `/connect`, `/_connect <userId>`: a one-time invitation.
    CreateInvitation,
    /// `/c <link>`, `/connect <link>`: join an invitation or request a contact through an
    /// address (a link used already answers with its plan, as the reference's).
    Connect(String),
    /// `/_connect <userId> <link>`: as `/c`, but a link used already is an error - or the
    /// contact, when it is a known contact's address (`contactAlreadyExists`).
    ApiConnect(String),
    /// `/_delete :<connId> ...`: a connection in progress (our invitation or address
    /// request not answered yet) deleted.
    DeletePendingConnection(u64),
    /// `/c i`, `/connect incognito`, `/_connect 1 incognito=on`: a one-time invitation with a
    /// random profile for this contact.
    CreateInvitationIncognito,
    /// `/c i <link>`, `/connect incognito <link>`: join with a random profile.
    ConnectIncognito(String),
    /// `/_connect plan <userId> <link>`: what the link is to us.
    ConnectPlan(String),
    /// `/_prepare contact <userId> <fullLink>[ <shortLink>] <json>`: a contact made from a
    /// link's data (`ContactShortLinkData`, as a plan shows it) before connecting to it.
    PrepareContact {
        /// The full link.
        link: String,
        /// Its short link, if any.
        short: Option<String>,
        /// The link's data: the profile, the welcome message, whether it is a business's.
        data: Box<crate::chat::ContactLinkData>,
    },
    /// `/_prepare group <userId> <fullLink>[ <shortLink>][ direct=on|off] <json>`: a group
    /// made from its link's data (`GroupShortLinkData`) before joining: by its group link
    /// (`direct=on`, the default) or a channel through its relays (`direct=off`).
    PrepareGroup {
        /// The full link.
        link: String,
        /// Its short link, if any.
        short: Option<String>,
        /// Joined by its group link (else a channel, through its relays).
        direct: bool,
        /// The link's data: the group's profile.
        data: Box<crate::prepared::GroupLinkData>,
    },
    /// `/_connect group #<groupId>[ incognito=on|off][ text <text>| json <msgContent>]`: joins
    /// a prepared group.
    ConnectPreparedGroup {
        /// The prepared group.
        group_id: i64,
        /// With a random profile for this group.
        incognito: bool,
        /// A first message, with the request (not with a channel's).
        content: Option<crate::protocol::MsgContent>,
    },
    /// `/_connect contact @<contactId>[ incognito=on|off][ text <text>| json <msgContent>]`:
    /// connects a prepared contact by its link, with a first message.
    ConnectPreparedContact {
        /// The prepared contact.
        contact_id: i64,
        /// With a random profile for this contact.
        incognito: bool,
        /// The first message (with the request, for an address).
        content: Option<crate::protocol::MsgContent>,
    },
    /// `/ad`, `/address`, `/_address <userId>`.
    CreateAddress,
    /// `/sa`, `/show_address`, `/_show_address <userId>`.
    ShowAddress,
    /// `/ac <name>`, `/accept <name>`.
    Accept(String),
    /// `/ac i <name>`: accept with a random profile for this contact.
    AcceptIncognito(String),
    /// `/da`, `/delete_address`, `/_delete_address <userId>`.
    DeleteAddress,
    /// `/_address_settings <userId> <json>`, `/auto_accept on [incognito=on | business] [text]`,
    /// `/auto_accept off`.
    AddressSettings(AddressSettings),
    /// `/pa on|off`, `/profile_address on|off`, `/_profile_address <userId> on|off`: the
    /// address in the profile (contacts see it).
    ProfileAddress(bool),
    /// `/_accept <contactReqId>`.
    AcceptId(u64),
    /// `/rc <name>`, `/reject <name>`.
    Reject(String),
    /// `/_reject <contactReqId>`.
    RejectId(u64),
    /// `@cath <- @bob prefix`, `#team <- #club [@member] prefix`, `* <- @bob prefix`: the
    /// latest message of a chat starting with the prefix, forwarded to another.
    Forward {
        /// Where to.
        to: ChatName,
        /// From which chat.
        from: ChatName,
        /// The group member who wrote it (a group source).
        member: Option<String>,
        /// How the message starts.
        prefix: String,
    },
    /// `/_forward <toChatRef> <fromChatRef> <itemId>[,<itemId>...] [ttl=N]`.
    ApiForward {
        /// Where to.
        to: ChatId,
        /// From which chat.
        from: ChatId,
        /// Which items, in order.
        item_ids: Vec<i64>,
        /// Disappearing after this many seconds (a contact target).
        ttl: Option<i64>,
    },
    /// `/user`.
    ShowUser,
    /// `/users`.
    ListUsers,
    /// `/create user <name> [full name]`, `/_create user <json(newUser)>`: a new user, made
    /// active (with a random profile when the JSON has none).
    CreateUser(Option<crate::protocol::Profile>),
    /// `/user <name> [password]`, `/_user <userId> [<json(password)>]`: a hidden user only
    /// with its password.
    SetActiveUser(UserRef, Option<Password>),
    /// `/_delete user <userId> del_smp=on|off [<json(password)>]`, `/delete user <name>
    /// [password]` (its queues deleted on their relays); a hidden user only with its password.
    DeleteUser {
        /// Which user.
        user: UserRef,
        /// Whether its queues are deleted on their relays, so that its contacts' messages fail.
        del_smp: bool,
        /// Its password, for a hidden user.
        password: Option<Password>,
    },
    /// `/hide user <password>`, `/_hide user <userId> <json(password)>`: the user is listed
    /// and shown only when active, reached with its password.
    HideUser {
        /// Which user (none: the active one).
        user: Option<i64>,
        /// The password.
        password: Password,
    },
    /// `/unhide user <password>`, `/_unhide user <userId> <json(password)>`.
    UnhideUser {
        /// Which user (none: the active one).
        user: Option<i64>,
        /// The password.
        password: Password,
    },
    /// `/mute user`, `/unmute user`, `/_mute user <userId>`, `/_unmute user <userId>`: the
    /// user's events not shown while another user is active.
    MuteUser {
        /// Which user (none: the active one).
        user: Option<i64>,
        /// Muted or not.
        muted: bool,
    },
    /// `/db encrypt <key>`, `/db key <current> <new>`, `/db decrypt <key>`,
    /// `/_db encryption <json(DBEncryptionConfig)>`: every database exported with the new key
    /// (empty: not encrypted), the chat stopped; a restart opens them.
    DbEncryption {
        /// The key the databases have now (empty: none).
        current: Password,
        /// The key they get (empty: none).
        new: Password,
    },
    /// `/db test key <key>`: whether the databases open with the key.
    DbTestKey(Password),
    /// `/db export`, `/_db export <json>`: every database and received file in a zip file
    /// (none: `simplex-chat.<time>.zip` here), the chat stopped (`archive.rs`).
    DbExport(Option<crate::archive::ArchiveConfig>),
    /// `/_db import <json>`: an archive's databases in place of these (moved aside), its
    /// files in the files folder, the chat stopped; a restart opens them.
    DbImport(crate::archive::ArchiveConfig),
    /// `/_db delete`: every database of the prefix deleted, the chat stopped; a restart
    /// starts afresh (an archive may be imported first).
    DbDelete,
    /// `/ttl`, `/_ttl <userId>`: after how long old messages are deleted.
    GetChatItemTtl,
    /// `/ttl day|week|month|year|none`, `/_ttl <userId> <seconds>` (0: none): messages older
    /// than this are deleted, in every chat of the user.
    SetChatItemTtl(Option<i64>),
    /// `/ttl @name|#group day|week|month|year|none|default`, `/_ttl <userId> @<id>|#<id>
    /// <seconds>|default` (0: never): a chat's own message expiry, over the user's.
    SetChatTtl {
        /// The chat.
        chat: TtlChat,
        /// Seconds (0: messages of this chat never expire); none: the user's expiry.
        ttl: Option<i64>,
    },
    /// `/v`, `/version`.
    Version,
    /// `/_start`.
    StartChat,
    /// `/_stop`.
    StopChat,
    /// `/_set prefs @<contactId> <json>`: the user's chat preferences for a contact.
    SetContactPrefs {
        /// The contact.
        contact_id: i64,
        /// The preferences (checked: features with `allow` and, for disappearing messages,
        /// `ttl`).
        prefs: serde_json::Value,
    },
    /// `/set voice|calls|delete|reactions @name [yes|no|always]`,
    /// `/set disappear @name [yes [time]|no]`: one preference for a contact (without a value:
    /// back to the default).
    SetContactFeature {
        /// The contact.
        name: String,
        /// The feature (`voice`, `calls`, `fullDelete`, `reactions`, `timedMessages`).
        feature: &'static str,
        /// The new `allow`, or none for the default.
        allow: Option<String>,
        /// Disappearing messages: the time (none: the contact's offered one).
        ttl: Option<i64>,
    },
    /// `/set voice|files|calls|delete yes|no|always`, `/set disappear yes|no`: one of the
    /// user's own preferences (its profile's, the default for every contact without its own).
    SetUserFeature {
        /// The feature (`voice`, `files`, `calls`, `fullDelete`, `timedMessages`).
        feature: &'static str,
        /// The new `allow`.
        allow: String,
    },
    /// `/_get chats <userId> [pcc=on] count=<n> <query>`.
    GetChats {
        /// How many chats (the most recent).
        count: usize,
    },
    /// `/_profile <userId> <json(profile)>`.
    SetProfileJson(crate::protocol::Profile),
    /// `/_send <chatRef> json [<ComposedMessage>, ...]`.
    ApiSendJson {
        /// The contact (or 1, the note folder, as `*1`).
        chat_id: i64,
        /// Disappearing after this many seconds (`ttl=N`).
        ttl: Option<i64>,
        /// A live message (`live=on`): one, updated while typed.
        live: bool,
        /// The messages.
        messages: Vec<Composed>,
    },
    /// `/live @name [text]`, `/live #group [text]`: a live message, sent at once and updated
    /// with `/_update item ... live=on`, ended by an update without it.
    SendLive {
        /// The contact or (`group`) the group.
        to: String,
        group: bool,
        /// What it says so far (may be empty).
        text: String,
    },
    /// `@<name> <text>`.
    SendText {
        /// The contact's local name.
        to: String,
        /// The message.
        text: String,
    },
    /// `@#<group> <member> <text>`: to a group member directly (through a contact made for
    /// it when there is none).
    SendMemberText {
        /// The group's local name.
        group: String,
        /// The member's local name.
        member: String,
        /// The message.
        text: String,
    },
    /// `/_create member contact #<groupId> <groupMemberId>`.
    CreateMemberContact {
        /// The group.
        group_id: i64,
        /// The member.
        group_member_id: i64,
    },
    /// `/_invite member contact @<contactId>[ text <text>| json <msgContent>]`.
    InviteMemberContact {
        /// The member's contact.
        contact_id: i64,
        /// The first message.
        content: Option<crate::protocol::MsgContent>,
    },
    /// `/_check running`: whether the chat is running (`chatRunning` / `chatStopped`).
    CheckRunning,
    /// `/_accept member contact @<contactId>`: joins a member's invitation.
    AcceptMemberContact(i64),
    /// `/accept_member_contact @name`: the same by the contact's name.
    AcceptMemberContactNamed(String),
    /// `/set accept member contacts on|off` (`/_set accept member contacts <userId> on|off`).
    SetAcceptMemberContacts(bool),
    /// `/_send @<contactId> text <text>`.
    ApiSend {
        /// The contact's id.
        contact_id: i64,
        /// The message.
        text: String,
    },
    /// `> @name (prefix) text` and `>> @name (prefix) text`.
    SendQuote {
        /// The contact.
        to: String,
        /// The start of the quoted message.
        prefix: String,
        /// Quote our own latest sent message (`>>`), not the contact's.
        own: bool,
        /// The reply.
        text: String,
    },
    /// `/_update item @<contactId> <itemId> text <text>`.
    UpdateItem {
        /// The contact's id.
        contact_id: i64,
        /// The item.
        item_id: i64,
        /// The new text.
        text: String,
        /// A live message still typed (`live=on`); without it a live message ends.
        live: bool,
    },
    /// `! @name [(prefix)] text`.
    EditLatest {
        /// The contact.
        to: String,
        /// The start of the message edited (none: the latest sent).
        prefix: Option<String>,
        /// The new text.
        text: String,
    },
    /// `/_delete item @<contactId> <itemId>[,<itemId>...] internal|internalMark|broadcast`.
    DeleteItem {
        /// The contact's id.
        contact_id: i64,
        /// The items.
        item_ids: Vec<i64>,
        /// How.
        mode: DeleteMode,
    },
    /// A backslash, `@name prefix`: delete for everyone.
    DeleteLatest {
        /// The contact.
        to: String,
        /// The start of the message.
        prefix: String,
    },
    /// `/p <name> [full name]`, `/profile ...`: change the profile.
    SetProfile {
        /// The display name.
        display_name: String,
        /// The full name (may be empty).
        full_name: String,
    },
    /// `/p`, `/profile`: show the profile.
    ShowProfile,
    /// `/contacts`.
    Contacts,
    /// `/* text`: a private note.
    AddNote(String),
    /// `/chats`: each chat's latest item.
    Chats,
    /// `/? text`, `/search text`: items containing the text.
    Search(String),
    /// `/_read chat <ref>`.
    ReadChat(i64),
    /// `/_get chat @N|#G|*1 [before=ID|after=ID] count=N`: a page of a chat's items
    /// (the last ones, or those before or after an item).
    GetChat {
        /// A contact's chat (or the notes, 1), or a group's (`group`).
        id: i64,
        /// `#G`.
        group: bool,
        /// A group's support chat (`#G(_support)`: ours; `#G(_support:M)`: member M's).
        scope: Option<Option<i64>>,
        /// How many.
        count: usize,
        /// Items before this one.
        before: Option<i64>,
        /// Items after this one.
        after: Option<i64>,
    },
    /// `/_set receipts contacts 1 on|off [clear_overrides=on]`, `/set receipts all on|off`
    /// (which clears each contact's own setting too): delivery receipts to contacts.
    SetReceipts {
        on: bool,
        /// Each contact's own setting back to the default.
        clear: bool,
    },
    /// `/_set receipts groups 1 on|off [clear_overrides=on]`: delivery receipts to small
    /// groups.
    SetGroupReceipts {
        on: bool,
        /// Each group's own setting back to the default.
        clear: bool,
    },
    /// `/_get relays #<groupId>`: the group's chat relays (a channel's).
    GetGroupRelays(i64),
    /// `/_get group link data #<groupId>`: a channel's link data read again - its count of
    /// members refreshed (the reference's `APIGetUpdatedGroupLinkData`).
    RefreshChannelData(i64),
    /// `/_public group 1 [incognito=on] <relayIds> <json>`: a new channel served by these
    /// chat relays.
    NewPublicGroup {
        /// Ids of configured chat relays (`/relays`).
        relay_ids: Vec<i64>,
        /// The channel's profile.
        profile: crate::protocol::GroupProfile,
        /// We are a random profile in it.
        incognito: bool,
    },
    /// `/_add relays #G <relayIds>`: more relays for our channel.
    AddGroupRelays(i64, Vec<i64>),
    /// `/_relay allow #G`: serve again a channel this relay left.
    AllowRelayGroup(i64),
    /// `/relays [name=N] <link> ...`: the chat relays new channels are served by.
    SetChatRelays(Vec<(String, String)>),
    /// `/relays`: the chat relays configured.
    ShowChatRelays,
    /// `/show on|off` (`/show`: on): live messages shown as they are typed (the terminal's
    /// view).
    ShowLive(bool),
    /// `/show N`: the item with that id, as `/tail` prints it.
    ShowItem(i64),
    /// `/item info <chat> <text>`: the latest message of that chat starting with the text:
    /// when it was sent and received, its versions, where it was forwarded from.
    ItemInfo {
        /// The chat.
        chat: ChatName,
        /// The start of the message's text.
        prefix: String,
    },
    /// `/_get item info <chat> <itemId>`.
    ApiItemInfo {
        /// The chat (`@2`, `#1`, `*1`).
        chat: ChatId,
        /// The item.
        item_id: i64,
    },
    /// `/last_item_id [chat] [N]`: the id of the last item (of that chat), or of the `N`th
    /// before it.
    LastItemId {
        /// The chat (none: all of the user's).
        chat: Option<ChatName>,
        /// How many items back from the last.
        index: usize,
    },
    /// `/smp`, `/xftp`: the relays new queues and uploads go to.
    ShowServers(crate::servers::Protocol),
    /// `/smp <server>...`, `/xftp <server>...` (`default`: none, back to the options').
    SetServers(crate::servers::Protocol, Vec<String>),
    /// `/smp test <server>`, `/xftp test <server>`.
    TestServer(crate::servers::Protocol, String),
    /// `/receipts @name|#group on|off|default`: delivery receipts to one chat (none: the
    /// user's default).
    SetChatReceipts {
        /// The contact or (`group`) the group.
        name: String,
        group: bool,
        on: Option<bool>,
    },
    /// `/_settings @<contactId>|#<groupId> <json(chatSettings)>`: a chat's settings
    /// (`enableNtfs` all or none, `sendRcpts`, `favorite`).
    ApiChatSettings {
        /// The contact (`@N`) or the group (`#N`).
        contact: Option<i64>,
        group: Option<i64>,
        /// `enableNtfs: "none"` (or `"mentions"`).
        muted: bool,
        /// `enableNtfs: "mentions"` (groups): muted but for mentions of us.
        mentions_only: bool,
        /// `sendRcpts`, `favorite`.
        flags: crate::store::ChatFlags,
    },
    /// `/mute @name|#group`, `/unmute ...`: a chat's messages shown marked `<muted>`;
    /// `/unmute mentions #group`: but for those that mention us or reply to us.
    Mute {
        /// The contact or (`group`) the group.
        name: String,
        /// `#group`.
        group: bool,
        /// Muted, or unmuted.
        muted: bool,
        /// Muted but for mentions of us (groups).
        mentions_only: bool,
    },
    /// `/_read chat #<groupId>`: every received item of a group read.
    ReadGroupChat(i64),
    /// `/_unread chat <ref> on|off`.
    UnreadChat(i64, bool),
    /// `/clear *`, `/clear @name`: remove a chat's items.
    ClearChat(Option<String>),
    /// `/_set custom @<contactId> [json]`: a bot's own data about a contact (none: cleared).
    /// `/_set alias @<contactId> [text]`: the user's own name for a contact (none removes it).
    SetContactAlias {
        /// The contact.
        contact_id: i64,
        /// The alias (empty: none).
        alias: String,
    },
    /// `/_save app settings <json>`: the apps' settings (an object), kept for every user.
    SaveAppSettings(serde_json::Value),
    /// `/_get app settings [<json>]`: the saved settings over the defaults given.
    GetAppSettings(Option<serde_json::Value>),
    /// `/_get tags <userId>`: the user's chat tags (`tags.rs`).
    GetChatTags,
    /// `/_create tag <json>`: a new chat tag.
    CreateChatTag(crate::tags::TagData),
    /// `/_set theme user <userId> [json]`: the user's theme overrides (the apps'; none:
    /// removed) - `themes.rs`.
    SetUserThemes(Option<String>),
    /// `/_set theme @N|#G [json]`: a chat's theme overrides.
    SetChatThemes {
        /// The chat.
        chat: crate::tags::TaggedChat,
        /// The overrides (none: removed).
        json: Option<String>,
    },
    /// `/_tags @N|#G [id,id,...]`: a chat's tags.
    SetChatTags {
        /// The chat.
        chat: crate::tags::TaggedChat,
        /// Its tags now (none: no tag).
        ids: Vec<i64>,
    },
    /// `/_update tag`, `/_delete tag`, `/_reorder tags`.
    ChangeChatTag(crate::tags::TagChange),
    /// `/_set incognito :<connId> on|off`: an invitation not used yet shows a new random
    /// profile (on) or the user's (off).
    SetConnectionIncognito {
        /// The connection (`:N`).
        conn: u64,
        /// Incognito.
        on: bool,
    },
    /// `/_set conn user :<connId> <userId>`, `/_set contact user @<contactId> <userId>`,
    /// `/_set group user #<groupId> <userId>`: an invitation not used yet, a prepared contact
    /// or group not connecting yet moved to another user.
    ChangeUser {
        /// What moves.
        what: crate::moves::Movable,
        /// The user it moves to.
        user_id: i64,
    },
    /// `/_set alias :<connId> [text]`: the user's own name for a connection in progress.
    SetConnectionAlias {
        /// The connection (`:N`).
        conn: u64,
        /// The alias (empty: none).
        alias: String,
    },
    /// `/_set alias #<groupId> [text]`: the user's own name for a group.
    SetGroupAlias {
        /// The group.
        group_id: i64,
        /// The alias (empty: none).
        alias: String,
    },
    SetCustomData {
        /// The contact.
        contact_id: i64,
        /// A JSON object.
        data: Option<serde_json::Value>,
    },
    /// `/_set custom #<groupId> [json]`: a bot's own data about a group (none removes it).
    SetGroupCustomData {
        /// The group.
        group_id: i64,
        /// A JSON object.
        data: Option<serde_json::Value>,
    },
    /// `/i @name`, `/info @name`: about a contact.
    ContactInfo(String),
    /// `/i #group`, `/_info #<groupId>`: about a group (its id and how many are in it).
    GroupInfo(ContactName),
    /// `/i #group member`, `/_info #<groupId> <groupMemberId>`: about a member.
    MemberInfo {
        /// The group.
        group: ContactName,
        /// The member.
        member: ContactName,
    },
    /// `/_reaction @<contactId> <itemId> on|off <json(reaction)>`.
    Reaction {
        /// The contact.
        contact_id: i64,
        /// The item.
        item_id: i64,
        /// Added (or removed).
        add: bool,
        /// `{"type":"emoji","emoji":"👍"}`.
        reaction: serde_json::Value,
    },
    /// `+1 @name text` (👍; `+<emoji> @name text` for another), `-1 @name text` removes: to
    /// the contact's latest message starting with `text`.
    ReactLatest {
        /// The contact.
        to: String,
        /// The start of the message.
        prefix: String,
        /// Added (or removed).
        add: bool,
        /// The emoji.
        emoji: String,
    },
    /// `/help [topic]`, `/h`, `/?` alone: the commands, by topic.
    Help(Option<String>),
    /// `/code @name`: the connection's security code.
    ShowCode(String),
    /// `/switch @name`, `/_switch @N`: the contact's receiving queue moved to a new queue
    /// (queue rotation).
    SwitchContact(ContactName),
    /// `/sync @name [force=on]`, `/_sync @N [force=on]`: the contact's ratchet
    /// re-synchronised.
    SyncContact {
        /// The contact.
        who: ContactName,
        /// Even when it is in step.
        force: bool,
    },
    /// `/sync #group member [force=on]`, `/_sync #G M [force=on]`: a member's.
    SyncMember {
        /// The group.
        group: ContactName,
        /// The member.
        member: ContactName,
        /// Even when it is in step.
        force: bool,
    },
    /// `/enable @name`, `/_enable @N`: a contact disabled after repeated refusals (AUTH)
    /// enabled again (`disable.rs`).
    EnableContact(ContactName),
    /// `/_call invite @N <callType>`, `/call @name` (a video call, encrypted): calls a
    /// contact (`calls.rs`).
    CallInvite(ContactName, crate::calls::CallType),
    /// `/_call reject @N`: declines a call.
    CallReject(i64),
    /// `/_call offer @N <offer>`: accepts a call.
    CallOffer(i64, crate::calls::WebRtcCallOffer),
    /// `/_call answer @N <session>`: answers the callee's offer.
    CallAnswer(i64, crate::calls::WebRtcSession),
    /// `/_call extra @N <info>`: more ICE candidates.
    CallExtra(i64, crate::calls::WebRtcExtraInfo),
    /// `/_call end @N`: ends a call.
    CallEnd(i64),
    /// `/_call status @N connecting|connected|disconnected|failed`: the call's connection.
    CallStatus(i64, crate::calls::WebRtcStatus),
    /// `/_call get`: the calls we are invited to.
    CallGet,
    /// `/enable #group member`, `/_enable #G M`: a member's.
    EnableMember {
        /// The group (by name, or id).
        group: ContactName,
        /// The member (by name, or id).
        member: ContactName,
    },
    /// `/abort switch @name`, `/_abort switch @N`: a rotation the contact has not answered
    /// yet stopped.
    AbortSwitchContact(ContactName),
    /// `/abort switch #group member`, `/_abort switch #G M`: a member's.
    AbortSwitchMember {
        /// The group (by name, or id).
        group: ContactName,
        /// The member (by name, or id).
        member: ContactName,
    },
    /// `/network`, `/net`: the network settings in effect.
    ShowNetwork,
    /// `/network <settings>`, `/_network <json>`: new network settings (`network.rs`).
    SetNetwork(crate::network::NetworkChange),
    /// `/queue info @name`, `/qi @name`, `/_queue info @N`: what the relay says of the
    /// queue the contact's messages come to (QUE).
    QueueInfo(ContactName),
    /// `/queue info #group @member`, `/qi #group @member`, `/_queue info #G M`: a member's.
    MemberQueueInfo {
        /// The group (by name, or id).
        group: ContactName,
        /// The member (by name, or id).
        member: ContactName,
    },
    /// `/switch #group member`, `/_switch #G M`: a member's.
    SwitchMember {
        /// The group (by name, or id).
        group: ContactName,
        /// The member (by name, or id).
        member: ContactName,
    },
    /// `/verify @name [code]`: compare with the contact's code (none: clear verification).
    Verify {
        /// The contact.
        name: String,
        /// The code the contact shows.
        code: Option<String>,
    },
    /// `/d @name`, `/delete @name`, `/_delete @<contactId> full|entity|messages [notify=off]`.
    DeleteContact {
        /// By name.
        name: Option<String>,
        /// By id.
        id: Option<i64>,
        /// Tell the contact (`x.direct.del`).
        notify: bool,
        /// Only the chat's items (`messages`).
        messages_only: bool,
    },
    /// `/t`, `/tail [@name] [n]`.
    Tail {
        /// A contact's chat, or every chat.
        contact: Option<String>,
        /// How many items.
        count: usize,
    },
    /// `/f @name path`, `/file @name path`.
    SendFile {
        /// The contact.
        to: String,
        /// The file.
        path: String,
    },
    /// `/img @name path`, `/image @name path`: an image file, marked as an image.
    SendImage {
        /// The contact.
        to: String,
        /// The image file.
        path: String,
    },
    /// `/ff @name N`, `/fforward #group N` (`/imgf`, `/image_forward`: as an image): file `N`
    /// (received, or sent) sent again to the chat, as `/f` with its path.
    ForwardFile {
        /// The chat (a contact or a group).
        to: ChatName,
        /// The file's number.
        file_id: i64,
        /// Offered as an image.
        image: bool,
    },
    /// `/fr N [path]`, `/freceive N [path]`.
    ReceiveFile {
        /// The file's number.
        file_id: i64,
        /// A directory (ending in `/` or existing) or a file path.
        path: Option<String>,
    },
    /// `/fc N`, `/fcancel N`.
    CancelFile(i64),
    /// `/fs N`, `/fstatus N`.
    FileStatus(i64),
    /// `/q`, `/quit`.
    Quit,
    /// `/_set_file_to_receive N`: file N received (into the files folder) once its description
    /// is here, as `/fr N` without a path; answered `ok`.
    SetFileToReceive(i64),
    /// `/reconnect`: every relay connection made again (after a network change);
    /// `/reconnect <userId> <server>`: one relay's.
    Reconnect(Option<String>),
    /// `/_short_link_address <userId>`: a short link for the address made without one (its
    /// data changed when it has one).
    AddAddressShortLink,
    /// `/_short link #<groupId>`: a short link for the group's link made without one.
    AddGroupShortLink(i64),
    /// `/show welcome #group`: the group's welcome message.
    ShowWelcome(String),
    /// `/feed text`: the message to every connected contact.
    Feed(String),
    /// `/simplex [i]`: a contact request to the SimpleX Chat team's address.
    ConnectSimplex {
        /// With a random profile for this contact.
        incognito: bool,
    },
    /// `/g name [full name]`, `/group #name [full name]`: a new group, ours.
    NewGroup {
        /// Its name.
        name: String,
        /// Its full name (may be empty).
        full_name: String,
        /// `/g i name`: our membership is incognito (a random profile; members join by link).
        incognito: bool,
    },
    /// `/a group contact [role]`, `/add #group @contact [role]`: invite a contact (as a
    /// member unless another role is named).
    AddMember {
        /// The group.
        group: String,
        /// The contact.
        contact: String,
        /// The role offered.
        role: crate::protocol::GroupMemberRole,
    },
    /// `/j group`, `/join #group`: accept an invitation.
    JoinGroup(String),
    /// `#group text`: a message to the group.
    SendGroup {
        /// The group.
        group: String,
        /// The text.
        text: String,
    },
    /// `/gs`, `/groups`.
    ListGroups,
    /// `/ms group`, `/members #group`.
    ListMembers(String),
    /// `/rm group member`, `/remove #group @member`.
    RemoveMember {
        /// The group.
        group: String,
        /// The member.
        member: String,
    },
    /// `/l group`, `/leave #group`.
    LeaveGroup(String),
    /// `/d #group`, `/delete #group`.
    DeleteGroup(String),
    /// `/block #group member`, `/unblock #group member`: hide (or show again) a member's
    /// messages, for us only.
    BlockMember {
        /// The group.
        group: String,
        /// The member.
        member: String,
        /// Hide (or show).
        block: bool,
    },
    /// `/f #group path` (`/img #group path`: an image).
    SendGroupFile {
        /// The group.
        group: String,
        /// The file.
        path: String,
        /// Offered as an image.
        image: bool,
    },
    /// `/set files #group on|off [role]` and the other features (`voice`, `delete`,
    /// `direct`, `links`, `history`, `reactions`, `reports`).
    SetGroupFeature {
        /// The group.
        group: String,
        /// The feature.
        feature: crate::group_prefs::Feature,
        /// On or off.
        on: bool,
        /// On for this role and above only.
        role: Option<crate::protocol::GroupMemberRole>,
    },
    /// `> #group [@member] (prefix) text`: a reply quoting the member's latest message that
    /// starts with `prefix` (ours without a member).
    SendGroupQuote {
        /// The group.
        group: String,
        /// The quoted message's author (none: us).
        member: Option<String>,
        /// The start of the quoted message.
        prefix: String,
        /// The reply.
        text: String,
    },
    /// `! #group [(prefix)] text`: our latest message (starting with `prefix`) edited.
    EditGroupLatest {
        /// The group.
        group: String,
        /// The start of the message edited (none: the latest).
        prefix: Option<String>,
        /// The new text.
        text: String,
    },
    /// `\ #group prefix`: our latest message starting with `prefix` deleted for everyone;
    /// `\\ #group member prefix`: a member's, by a moderator.
    DeleteGroupLatest {
        /// The group.
        group: String,
        /// The author (none: us).
        member: Option<String>,
        /// The start of the message.
        prefix: String,
    },
    /// `+1 #group text` (👍; `+<emoji>` for another, `-1` removes): to the group's latest
    /// message starting with `text`.
    GroupReactLatest {
        /// The group.
        group: String,
        /// The start of the message.
        prefix: String,
        /// Added (or removed).
        add: bool,
        /// The emoji.
        emoji: String,
    },
    /// `/tail #group [n]`.
    TailGroup {
        /// The group.
        group: String,
        /// How many items.
        count: usize,
    },
    /// `/block for all #group member`, `/unblock for all #group member`.
    BlockForAll {
        /// The group.
        group: String,
        /// The member.
        member: String,
        /// Block (or unblock).
        block: bool,
    },
    /// `/create link #group [role]`: a link anyone can join the group through.
    CreateGroupLink {
        /// The group.
        group: String,
        /// The role joiners get (member by default, or observer).
        role: crate::protocol::GroupMemberRole,
    },
    /// `/show link #group`.
    ShowGroupLink(String),
    /// `/delete link #group`.
    DeleteGroupLink(String),
    /// `/gp group name [full name]` (`/group_profile`): rename a group (owners).
    RenameGroup {
        /// The group.
        group: String,
        /// Its new name.
        name: String,
        /// Its new full name (may be empty).
        full_name: String,
    },
    /// `/set disappear #group on [ttl]` (seconds, or with `s`, `m`, `h`, `d`, `w`; a day by
    /// default) or `off`: disappearing messages in the group (owners).
    SetGroupTimed {
        /// The group.
        group: String,
        /// The time to live (none: off).
        ttl: Option<i64>,
    },
    /// `/set welcome #group text` (`/group_descr #group text`): the welcome message new
    /// members get (owners); `/delete welcome #group` (`/group_descr #group`): none.
    SetWelcome {
        /// The group.
        group: String,
        /// The message (none: deleted).
        text: Option<String>,
    },
    /// `/_block #<groupId> <memberId>[,...] blocked=on|off`: block members for all.
    ApiBlockMembers {
        /// The group.
        group_id: i64,
        /// The members.
        members: Vec<i64>,
        /// Blocked (or unblocked).
        blocked: bool,
    },
    /// `/_create link #<groupId> [role]`.
    ApiCreateGroupLink {
        /// The group.
        group_id: i64,
        /// The role joiners get.
        role: crate::protocol::GroupMemberRole,
    },
    /// `/_set link role #<groupId> <role>`, `/set link role #team <role>`: the role the
    /// group's link gives joiners.
    GroupLinkRole {
        /// The group: its id (`/_set`) or its name (`/set`).
        group: Result<i64, String>,
        /// The role.
        role: crate::protocol::GroupMemberRole,
    },
    /// `/_delete link #<groupId>`.
    ApiDeleteGroupLink(i64),
    /// `/_update item #<groupId> <itemId> text|json ...`: our group message edited.
    ApiUpdateGroupItem {
        /// The group.
        group_id: i64,
        /// The item.
        item_id: i64,
        /// The new content.
        content: crate::protocol::MsgContent,
        /// A live message still typed (`live=on`).
        live: bool,
    },
    /// `/_delete item #<groupId> <ids> broadcast|internal|internalMark`, and (`moderate`)
    /// `/_delete member item #<groupId> <ids>`: members' messages deleted by a moderator.
    ApiDeleteGroupItems {
        /// The group.
        group_id: i64,
        /// The items.
        item_ids: Vec<i64>,
        /// How.
        mode: DeleteMode,
        /// Members' messages, as a moderator.
        moderate: bool,
    },
    /// `/_reaction #<groupId> <itemId> on|off <json>`.
    ApiGroupReaction {
        /// The group.
        group_id: i64,
        /// The item.
        item_id: i64,
        /// Added or removed.
        add: bool,
        /// The reaction.
        reaction: serde_json::Value,
    },
    /// `/_get link #<groupId>`.
    ApiGetGroupLink(i64),
    /// `/_group_profile #<groupId> <json(groupProfile)>`.
    ApiGroupProfile {
        /// The group.
        group_id: i64,
        /// Its new profile.
        profile: crate::protocol::GroupProfile,
    },
    /// `/_group <userId> <json(groupProfile)>`: a new group with that profile.
    ApiNewGroup {
        profile: crate::protocol::GroupProfile,
        /// `incognito=on`: we are a random profile in it.
        incognito: bool,
    },
    /// `/_add #<groupId> <contactId> <role>`.
    ApiAddMember {
        /// The group.
        group_id: i64,
        /// The contact.
        contact_id: i64,
        /// The role offered.
        role: crate::protocol::GroupMemberRole,
    },
    /// `/_join #<groupId>`.
    ApiJoinGroup(i64),
    /// `/_member role #<groupId> <memberId>[,...] <role>`.
    ApiMembersRole {
        /// The group.
        group_id: i64,
        /// The members (group member ids).
        members: Vec<i64>,
        /// The new role.
        role: crate::protocol::GroupMemberRole,
    },
    /// `/_remove #<groupId> <memberId>[,...]`.
    ApiRemoveMembers {
        /// The group.
        group_id: i64,
        /// The members (group member ids).
        members: Vec<i64>,
        /// `messages=on`: their messages are deleted too, for every member.
        messages: bool,
    },
    /// `/_leave #<groupId>`.
    ApiLeaveGroup(i64),
    /// `/_members #<groupId>`.
    ApiListMembers(i64),
    /// `/_groups <userId>`.
    ApiListGroups {
        /// `@<contactId>`: the groups that contact is a member of.
        contact: Option<i64>,
        /// Only groups whose name contains this.
        search: Option<String>,
    },
    /// `/_delete #<groupId> full|entity`.
    ApiDeleteGroup(i64),
    /// `/_send #<groupId> json [...]`: messages to a group.
    ApiSendGroup {
        /// The group.
        group_id: i64,
        /// A support chat (`#1(_support)`: ours; `#1(_support:3)`: member 3's), if named.
        scope: Option<Option<i64>>,
        /// A live message (`live=on`).
        live: bool,
        /// Disappearing after this many seconds (`ttl=N`; none: the group's preference).
        ttl: Option<i64>,
        /// Posted as the channel itself, not as its owner (`#1(as_group=on)`).
        as_group: bool,
        /// Signed by us (`sign=on`; in a channel, `group_keys.rs`).
        sign: bool,
        /// The messages.
        messages: Vec<Composed>,
    },
    /// `/_accept member #<groupId> <groupMemberId> <role>`: a member pending review accepted.
    AcceptMember {
        /// The group.
        group_id: i64,
        /// The member.
        group_member_id: i64,
        /// Its role.
        role: crate::protocol::GroupMemberRole,
    },
    /// `/set admission review #<group> all|off`: joiners reviewed by the admins.
    SetAdmissionReview {
        /// The group's local name.
        group: String,
        /// On (`all`) or off.
        on: bool,
    },
    /// `/mr group member role`, `/member role #group @member role`.
    MemberRole {
        /// The group.
        group: String,
        /// The member.
        member: String,
        /// The new role.
        role: crate::protocol::GroupMemberRole,
    },
}

/// The chat of `/ttl @name ...` and `/_ttl 1 @2 ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TtlChat {
    /// A contact by name.
    ContactNamed(String),
    /// A group by name.
    GroupNamed(String),
    /// A contact by id.
    Contact(i64),
    /// A group by id.
    Group(i64),
}

/// `day|week|month|year|none|default` of `/ttl`: seconds, 0 for none, absent for default.
fn chat_ttl_word(w: &str) -> Option<Option<i64>> {
    Some(match w {
        "day" => Some(86_400),
        "week" => Some(7 * 86_400),
        "month" => Some(30 * 86_400),
        "year" => Some(365 * 86_400),
        "none" => Some(0),
        "default" => None,
        _ => return None,
    })
}

/// Why a line is not a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CommandError(pub String);

/// A name at the start of `s` (`bob`, `'John Doe'`), and what follows it (after one space).
fn name(s: &str) -> Result<(String, &str), CommandError> {
    if let Some(rest) = s.strip_prefix('\'') {
        let end = rest
            .find('\'')
            .ok_or_else(|| CommandError("unterminated quoted name".into()))?;
        let n = &rest[..end];
        if n.is_empty() {
            return Err(CommandError("empty name".into()));
        }
        let after = &rest[end + 1..];
        let after = after.strip_prefix(' ').unwrap_or(after);
        return Ok((n.to_string(), after));
    }
    let end = s.find(' ').unwrap_or(s.len());
    let n = &s[..end];
    if n.is_empty() {
        return Err(CommandError("no name".into()));
    }
    Ok((n.to_string(), s[end..].strip_prefix(' ').unwrap_or("")))
}

/// A chat reference and its support scope, if it names one (`#1(_support)`: ours,
/// `#1(_support:3)`: member 3's); none for a malformed scope.
fn support_scope(r: &str) -> Option<(&str, Option<Option<i64>>)> {
    let Some((g, tail)) = r.split_once("(_support") else {
        return Some((r, None));
    };
    let scope = match tail.strip_suffix(')')? {
        "" => None,
        m => Some(m.strip_prefix(':')?.parse().ok()?),
    };
    Some((g, Some(scope)))
}

/// A user's password as typed: never shown (its `Debug` is `<password>`), wiped when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(pub String);

impl Password {
    /// The password.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<password>")
    }
}

impl Drop for Password {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl From<&str> for Password {
    fn from(s: &str) -> Self {
        Self(s.to_string())
    }
}

/// A password after a name (`/user alisa my_password`), if any.
fn password(rest: &str) -> Option<Password> {
    let p = rest.trim();
    (!p.is_empty()).then(|| Password(p.to_string()))
}

/// A password as the API writes it: a JSON string.
fn json_password(s: &str) -> Option<Password> {
    serde_json::from_str::<String>(s.trim()).ok().map(Password)
}

/// `(text) rest`: the text in parentheses and what follows it.
fn paren(s: &str) -> Option<(String, &str)> {
    let inner = s.strip_prefix('(')?;
    let end = inner.find(')')?;
    let rest = &inner[end + 1..];
    Some((
        inner[..end].to_string(),
        rest.strip_prefix(' ').unwrap_or(rest),
    ))
}

/// `#<groupId>`.
fn group_ref(s: &str) -> Option<i64> {
    s.strip_prefix('#')?.parse().ok()
}

/// The group of a chat reference naming an item's chat: `#<groupId>`, or one of its support
/// chats (`#1(_support)`, `#1(_support:3)`) - the item, by its id, is in one chat anyway.
fn group_item_ref(s: &str) -> Option<i64> {
    group_ref(support_scope(s)?.0)
}

/// `1,2,3`: at most 200 ids.
fn id_list(s: &str) -> Option<Vec<i64>> {
    let ids = s
        .split(',')
        .map(|i| i.parse::<i64>().ok())
        .collect::<Option<Vec<_>>>()?;
    (!ids.is_empty() && ids.len() <= MAX_DELETE_ITEMS).then_some(ids)
}

/// A role's name.
fn parse_role(s: &str) -> Option<crate::protocol::GroupMemberRole> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
}

/// `/_call <verb> @N [json]` (the apps' call commands).
fn parse_call(args: &str) -> Result<Command, String> {
    let usage = || {
        "usage: /_call invite|offer|answer|extra @<contactId> <json>, \
         /_call reject|end @<contactId>, /_call status @<contactId> <status>, /_call get"
            .to_string()
    };
    if args == "get" {
        return Ok(Command::CallGet);
    }
    let (verb, rest) = args.split_once(' ').ok_or_else(usage)?;
    let (who, arg) = rest.split_once(' ').unwrap_or((rest, ""));
    let id: i64 = who
        .strip_prefix('@')
        .and_then(|n| n.parse().ok())
        .ok_or_else(usage)?;
    fn json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, String> {
        serde_json::from_str(s.trim()).map_err(|e| format!("bad call data ({e})"))
    }
    Ok(match (verb, arg.trim()) {
        ("invite", a) => Command::CallInvite(ContactName::Id(id), json(a)?),
        ("offer", a) => Command::CallOffer(id, json(a)?),
        ("answer", a) => Command::CallAnswer(id, json(a)?),
        ("extra", a) => Command::CallExtra(id, json(a)?),
        ("reject", "") => Command::CallReject(id),
        ("end", "") => Command::CallEnd(id),
        ("status", s) => {
            Command::CallStatus(id, crate::calls::WebRtcStatus::parse(s).ok_or_else(usage)?)
        }
        _ => return Err(usage()),
    })
}

/// `@<contactId>`, or `*<n>` for the note folder.
fn contact_ref(s: &str) -> Option<i64> {
    if s.starts_with('*') {
        return (s == "*1").then_some(crate::store::NOTES);
    }
    s.strip_prefix('@')?.parse().ok()
}

/// A tag's data from its JSON (`{"text": ..., "emoji": ...}`), checked.
fn tag_data(json: &str) -> Result<crate::tags::TagData, String> {
    serde_json::from_str::<crate::tags::TagData>(json.trim())
        .map_err(|e| format!("bad tag JSON ({e})"))?
        .checked()
}

/// `1,2,3`: tag ids (at most [`crate::tags::MAX_TAGS`]).
fn tag_ids(s: &str) -> Option<Vec<i64>> {
    let ids = s
        .trim()
        .split(',')
        .map(|i| i.trim().parse().ok())
        .collect::<Option<Vec<i64>>>()?;
    (!ids.is_empty() && ids.len() <= crate::tags::MAX_TAGS).then_some(ids)
}

/// A name as the reference shows it: quoted when it has a space.
pub fn view_name(n: &str) -> String {
    if n.contains(' ') {
        format!("'{n}'")
    } else {
        n.to_string()
    }
}

/// The longest time to live of a disappearing message: a year, in seconds.
pub const MAX_TTL: i64 = 365 * 24 * 3600;

/// The largest custom data of a contact (`/_set custom`).
pub const MAX_CUSTOM_DATA: usize = 64 * 1024;

/// The longest contact alias (`/_set alias`), in bytes.
pub const MAX_ALIAS: usize = 1024;

/// The most items `/_get chat` returns at once.
pub const MAX_PAGE: usize = 1000;

/// The most items one `/_delete item` may name.
pub const MAX_DELETE_ITEMS: usize = 200;

/// A contact, group or member named by the terminal (`bob`) or by id in the API (`2`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactName {
    /// By local name.
    Name(String),
    /// By id.
    Id(i64),
}

/// A chat named in the terminal's forwarding form (`@bob`, `#team`, `*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatName {
    /// A contact by local name.
    Contact(String),
    /// A group by local name.
    Group(String),
    /// The note folder.
    Notes,
}

/// A chat by id in an API command (`@2`, `#1`, `*1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatId {
    /// A contact (or the note folder, `*1`: contact 1).
    Contact(i64),
    /// A group.
    Group(i64),
}

/// A time to live as the terminal writes it: the reference's words (`30s`, `5min`, `1h`,
/// `8h`, `day`, `week`, `month`) or a number with `s`, `m`, `h`, `d`, `w`.
fn ttl_word(t: &str) -> Option<i64> {
    let secs = match t {
        "5min" => 300,
        "day" => 86400,
        "week" => 7 * 86400,
        "month" => 30 * 86400,
        _ => {
            let (n, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit())?.max(1).min(t.len()));
            let n: i64 = n.parse().ok()?;
            let mult = match unit {
                "s" => 1,
                "m" | "min" => 60,
                "h" => 3600,
                "d" => 86400,
                "w" => 7 * 86400,
                _ => return None,
            };
            n.checked_mul(mult)?
        }
    };
    (1..=MAX_TTL).contains(&secs).then_some(secs)
}

/// `@2`, `*1` or `#1`.
fn chat_id(s: &str) -> Option<ChatId> {
    match group_ref(s) {
        Some(g) => Some(ChatId::Group(g)),
        None => contact_ref(s).map(ChatId::Contact),
    }
}

/// The forwarding form after its target: `<- @bob prefix`, `<- #team [@member] prefix`,
/// `<- * prefix` (the latest message of that chat starting with the prefix); none when the
/// text is not one.
fn forward_form(to: ChatName, text: &str) -> Option<Result<Command, CommandError>> {
    let source = text.strip_prefix("<- ")?;
    let usage = || {
        CommandError(format!(
            "usage: <chat> <- @contact|#group [@member]|* message-start: {text}"
        ))
    };
    let parsed = (|| {
        let (from, member, prefix) = if let Some(r) = source.strip_prefix('@') {
            let (n, p) = name(r)?;
            (ChatName::Contact(n), None, p)
        } else if let Some(r) = source.strip_prefix('#') {
            let (g, after) = name(r)?;
            match after.strip_prefix('@') {
                Some(m) => {
                    let (m, p) = name(m)?;
                    (ChatName::Group(g), Some(m), p)
                }
                None => (ChatName::Group(g), None, after),
            }
        } else if let Some(p) = source.strip_prefix("* ") {
            (ChatName::Notes, None, p)
        } else {
            return Err(usage());
        };
        if prefix.trim().is_empty() {
            return Err(usage());
        }
        Ok(Command::Forward {
            to,
            from,
            member,
            prefix: prefix.to_string(),
        })
    })();
    Some(parsed)
}

/// A user named in a command: by id (`/_user 2`) or by display name (`/user alisa`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserRef {
    /// The user's id.
    Id(i64),
    /// The user's display name.
    Name(String),
}

/// The user id of an API command (whether that user is the active one is checked where the
/// command runs: [`api_user_id`]).
fn user_id(s: &str) -> bool {
    s.parse::<i64>().is_ok_and(|n| n >= 1)
}

/// The user an API command names (`/_contacts 2`, `/_get chats 2 ...`), when it names one:
/// the reference runs it only for the active user.
pub fn api_user_id(line: &str) -> Option<i64> {
    let (word, args) = line.trim().split_once(' ')?;
    let mut p = args.split(' ');
    let uid = match word {
        "/_connect" => match p.next()? {
            "plan" => p.next()?,
            u => u,
        },
        "/_address"
        | "/_show_address"
        | "/_delete_address"
        | "/_profile_address"
        | "/_short_link_address"
        | "/_address_settings"
        | "/_group"
        | "/_groups"
        | "/_contacts"
        | "/_profile"
        | "/_ttl" => p.next()?,
        "/_get" | "/_public" | "/_prepare" => {
            p.next()?; // chats, group
            p.next()?
        }
        "/_read" if p.next()? == "user" => p.next()?,
        "/_set" => match (p.next()?, p.next()?) {
            ("receipts", "contacts") | ("theme", "user") => p.next()?,
            ("accept", "member") => {
                p.next()?; // contacts
                p.next()?
            }
            _ => return None,
        },
        _ => return None,
    };
    uid.parse().ok()
}

/// Parses one input line.
impl Command {
    /// Whether the command can run while the chat is stopped (`/_stop`, `-m`): it starts or
    /// stops the chat, or only reads or changes what is stored here - nothing a relay is
    /// needed for.
    pub fn works_stopped(&self) -> bool {
        matches!(
            self,
            Command::StartChat
                | Command::CheckRunning
                | Command::StopChat
                | Command::Quit
                | Command::Help(_)
                | Command::Version
                | Command::ShowUser
                | Command::ListUsers
                | Command::CreateUser(_)
                | Command::SetActiveUser(..)
                | Command::DeleteUser { .. }
                | Command::HideUser { .. }
                | Command::UnhideUser { .. }
                | Command::MuteUser { .. }
                | Command::ShowProfile
                | Command::ShowAddress
                | Command::Contacts
                | Command::Chats
                | Command::GetChats { .. }
                | Command::Tail { .. }
                | Command::TailGroup { .. }
                | Command::Search(_)
                | Command::AddNote(_)
                | Command::ReadChat(_)
                | Command::ReadGroupChat(_)
                | Command::SetReceipts { .. }
                | Command::SetGroupReceipts { .. }
                | Command::SetChatReceipts { .. }
                | Command::ApiChatSettings { .. }
                | Command::ShowServers(_)
                | Command::ShowLive(_)
                | Command::ShowItem(_)
                | Command::ItemInfo { .. }
                | Command::ShowWelcome(_)
                | Command::ApiItemInfo { .. }
                | Command::LastItemId { .. }
                | Command::SetServers(..)
                | Command::GetGroupRelays(_)
                | Command::SetChatRelays(_)
                | Command::ShowChatRelays
                | Command::AllowRelayGroup(_)
                | Command::Mute { .. }
                | Command::GetChat { .. }
                | Command::UnreadChat { .. }
                | Command::SetCustomData { .. }
                | Command::SetContactAlias { .. }
                | Command::SetGroupAlias { .. }
                | Command::SetConnectionAlias { .. }
                | Command::SetGroupCustomData { .. }
                | Command::ContactInfo(_)
                | Command::GroupInfo(_)
                | Command::MemberInfo { .. }
                | Command::ShowCode(_)
                | Command::FileStatus(_)
                | Command::ListGroups
                | Command::ListMembers(_)
                | Command::ShowGroupLink(_)
                | Command::ApiGetGroupLink(_)
                | Command::GroupLinkRole { .. }
                | Command::ApiListMembers(_)
                | Command::ApiListGroups { .. }
        )
    }
}

pub fn parse(line: &str) -> Result<Command, CommandError> {
    let line = line.trim_end_matches(['\r', '\n']);
    let bad = |what: &str| CommandError(format!("{what}: {line}"));
    if let Some(rest) = line.strip_prefix("@#") {
        let (group, rest) = name(rest)?;
        let (member, text) = name(rest)?;
        if text.trim().is_empty() {
            return Err(bad("no message"));
        }
        return Ok(Command::SendMemberText {
            group,
            member,
            text: text.to_string(),
        });
    }
    if let Some(rest) = line.strip_prefix('@') {
        let (to, text) = name(rest)?;
        if text.trim().is_empty() {
            return Err(bad("no message"));
        }
        if let Some(f) = forward_form(ChatName::Contact(to.clone()), text) {
            return f;
        }
        return Ok(Command::SendText {
            to,
            text: text.to_string(),
        });
    }
    if let Some(f) = line
        .strip_prefix("* ")
        .and_then(|text| forward_form(ChatName::Notes, text))
    {
        return f;
    }
    if let Some(rest) = line.strip_prefix("/* ") {
        if rest.trim().is_empty() {
            return Err(bad("no note"));
        }
        return Ok(Command::AddNote(rest.to_string()));
    }
    // Group replies, edits and deletions: `> #team @bob (prefix) text`, `> #team (prefix)
    // text`, `! #team [(prefix)] text`, `\ #team prefix`, `\\ #team bob prefix`.
    if let Some(rest) = line.strip_prefix("> #") {
        let (group, after) = name(rest)?;
        let (member, after) = match after.strip_prefix('@') {
            Some(r) => {
                let (m, a) = name(r)?;
                (Some(m), a)
            }
            None => (None, after),
        };
        let (prefix, text) =
            paren(after).ok_or_else(|| bad("usage: > #group [@member] (quoted text) reply"))?;
        if text.trim().is_empty() {
            return Err(bad("no message"));
        }
        return Ok(Command::SendGroupQuote {
            group,
            member,
            prefix,
            text: text.to_string(),
        });
    }
    if let Some(rest) = line.strip_prefix("! #") {
        let (group, after) = name(rest)?;
        let (prefix, text) = match paren(after) {
            Some((p, t)) => (Some(p), t),
            None => (None, after),
        };
        if text.trim().is_empty() {
            return Err(bad("no message"));
        }
        return Ok(Command::EditGroupLatest {
            group,
            prefix,
            text: text.to_string(),
        });
    }
    if let Some(rest) = line.strip_prefix("\\\\ #") {
        let (group, after) = name(rest)?;
        let (member, prefix) = name(after.strip_prefix('@').unwrap_or(after))?;
        if prefix.is_empty() {
            return Err(bad("usage: \\\\ #group member message-start"));
        }
        return Ok(Command::DeleteGroupLatest {
            group,
            member: Some(member),
            prefix: prefix.to_string(),
        });
    }
    if let Some(rest) = line.strip_prefix("\\ #") {
        let (group, prefix) = name(rest)?;
        if prefix.is_empty() {
            return Err(bad("usage: \\ #group message-start"));
        }
        return Ok(Command::DeleteGroupLatest {
            group,
            member: None,
            prefix: prefix.to_string(),
        });
    }
    // Quoted replies: `> @name (prefix) text`, `>> @name (prefix) text`.
    let quoting = line
        .strip_prefix(">> @")
        .map(|r| (r, true))
        .or_else(|| line.strip_prefix("> @").map(|r| (r, false)));
    if let Some((rest, own)) = quoting {
        let (to, after) = name(rest)?;
        let (prefix, text) =
            paren(after).ok_or_else(|| bad("usage: > @name (quoted text) reply"))?;
        if text.trim().is_empty() {
            return Err(bad("no message"));
        }
        return Ok(Command::SendQuote {
            to,
            prefix,
            own,
            text: text.to_string(),
        });
    }
    if let Some(rest) = line.strip_prefix("! @") {
        let (to, after) = name(rest)?;
        let (prefix, text) = match paren(after) {
            Some((p, t)) => (Some(p), t),
            None => (None, after),
        };
        if text.trim().is_empty() {
            return Err(bad("no message"));
        }
        return Ok(Command::EditLatest {
            to,
            prefix,
            text: text.to_string(),
        });
    }
    // Reactions in a group: `+1 #team hello`, `-1 #team hello`.
    if let Some((head, rest)) = line.split_once(" #") {
        let sign = head.chars().next();
        if matches!(sign, Some('+' | '-')) && head.len() > 1 && !head.contains(' ') {
            let emoji = match &head[1..] {
                "1" => "👍".to_string(),
                e => e.to_string(),
            };
            let (group, prefix) = name(rest)?;
            if prefix.trim().is_empty() {
                return Err(bad("usage: +1 #group message-start"));
            }
            return Ok(Command::GroupReactLatest {
                group,
                prefix: prefix.to_string(),
                add: sign == Some('+'),
                emoji,
            });
        }
    }
    // Reactions: `+1 @bob hello`, `+🚀 @bob hello`, `-1 @bob hello`.
    if let Some((head, rest)) = line.split_once(" @") {
        let sign = head.chars().next();
        if matches!(sign, Some('+' | '-')) && head.len() > 1 && !head.contains(' ') {
            let add = sign == Some('+');
            let emoji = match &head[1..] {
                "1" => "👍".to_string(),
                e => e.to_string(),
            };
            let (to, prefix) = name(rest)?;
            if prefix.trim().is_empty() {
                return Err(bad("usage: +1 @name message-start"));
            }
            return Ok(Command::ReactLatest {
                to,
                prefix: prefix.to_string(),
                add,
                emoji,
            });
        }
    }
    if let Some(rest) = line.strip_prefix('#') {
        let (group, text) = name(rest)?;
        if text.trim().is_empty() {
            return Err(bad("no message"));
        }
        if let Some(f) = forward_form(ChatName::Group(group.clone()), text) {
            return f;
        }
        return Ok(Command::SendGroup {
            group,
            text: text.to_string(),
        });
    }
    if let Some(rest) = line.strip_prefix("\\ @") {
        let (to, prefix) = name(rest)?;
        if prefix.is_empty() {
            return Err(bad("usage: \\ @name message-start"));
        }
        return Ok(Command::DeleteLatest {
            to,
            prefix: prefix.to_string(),
        });
    }
    let (word, args) = line.split_once(' ').unwrap_or((line, ""));
    let args = args.trim();
    let member_role = |args: &str| -> Result<Command, CommandError> {
        let usage = || bad("usage: /mr <group> <member> owner|admin|moderator|member|observer");
        let (group, rest) = name(args.strip_prefix('#').unwrap_or(args))?;
        let (member, rest) = name(rest.strip_prefix('@').unwrap_or(rest)).map_err(|_| usage())?;
        let role = serde_json::from_value(serde_json::Value::String(rest.trim().to_string()))
            .map_err(|_| usage())?;
        Ok(Command::MemberRole {
            group,
            member,
            role,
        })
    };
    let one_group = |args: &str| -> Result<String, CommandError> {
        let a = args.strip_prefix('#').unwrap_or(args);
        let (n, rest) = name(a)?;
        if !rest.trim().is_empty() {
            return Err(bad("unexpected text after the group's name"));
        }
        Ok(n)
    };
    let one_arg = |args: &str| -> Result<String, CommandError> {
        let a = args.strip_prefix('@').unwrap_or(args);
        let (n, rest) = name(a)?;
        if !rest.trim().is_empty() {
            return Err(bad("unexpected text after the name"));
        }
        Ok(n)
    };
    Ok(match word {
        "/c" | "/connect" if args.is_empty() => Command::CreateInvitation,
        "/c" | "/connect" if args == "i" || args == "incognito" => {
            Command::CreateInvitationIncognito
        }
        "/c" | "/connect" if args.starts_with("i ") || args.starts_with("incognito ") => {
            let link = args.split_once(' ').map_or("", |(_, l)| l.trim());
            Command::ConnectIncognito(link.to_string())
        }
        "/c" | "/connect" => Command::Connect(args.to_string()),
        "/_prepare" => {
            let usage = || {
                bad("usage: /_prepare contact <userId> <fullLink>[ <shortLink>] <json linkData> | /_prepare group <userId> <fullLink>[ <shortLink>][ direct=on|off] <json linkData>")
            };
            let (group, rest) = match (args.strip_prefix("contact "), args.strip_prefix("group ")) {
                (Some(r), _) => (false, r),
                (_, Some(r)) => (true, r),
                _ => return Err(usage()),
            };
            let (uid, rest) = rest.split_once(' ').ok_or_else(usage)?;
            // The links, then the data (a JSON object).
            let (links, json) = rest.split_once(" {").ok_or_else(usage)?;
            if !user_id(uid) {
                return Err(usage());
            }
            let mut links = links.trim();
            let mut direct = true;
            if group {
                for (flag, on) in [(" direct=on", true), (" direct=off", false)] {
                    if let Some(l) = links.strip_suffix(flag) {
                        links = l.trim_end();
                        direct = on;
                    }
                }
            }
            let (link, short) = match links.split_once(' ') {
                Some((full, short)) if !short.contains(' ') => (full, Some(short.to_string())),
                Some(_) => return Err(usage()),
                None => (links.trim(), None),
            };
            if link.is_empty() {
                return Err(usage());
            }
            let json = format!("{{{json}");
            let bad_json = |e: serde_json::Error| bad(&format!("bad link data JSON ({e})"));
            if group {
                Command::PrepareGroup {
                    link: link.to_string(),
                    short,
                    direct,
                    data: Box::new(serde_json::from_str(&json).map_err(bad_json)?),
                }
            } else {
                Command::PrepareContact {
                    link: link.to_string(),
                    short,
                    data: Box::new(serde_json::from_str(&json).map_err(bad_json)?),
                }
            }
        }
        "/_connect" if args.starts_with("contact @") || args.starts_with("group #") => {
            let usage = || {
                bad("usage: /_connect contact @<contactId> | group #<groupId>[ incognito=on|off][ text <message>| json <msgContent>]")
            };
            let (kind, rest) = args.split_once(' ').ok_or_else(usage)?;
            let (r, mut rest) = rest.split_once(' ').unwrap_or((rest, ""));
            let id = match kind {
                "group" => group_ref(r),
                _ => contact_ref(r),
            }
            .ok_or_else(usage)?;
            let mut incognito = false;
            for (flag, on) in [("incognito=on", true), ("incognito=off", false)] {
                if rest == flag || rest.starts_with(&format!("{flag} ")) {
                    incognito = on;
                    rest = rest[flag.len()..].trim_start();
                }
            }
            let content = if rest.is_empty() {
                None
            } else if let Some(t) = rest.strip_prefix("text ") {
                Some(crate::protocol::MsgContent::text(t))
            } else if let Some(json) = rest.strip_prefix("json ") {
                Some(serde_json::from_str(json).map_err(|e| bad(&format!("bad JSON ({e})")))?)
            } else {
                return Err(usage());
            };
            match kind {
                "group" => Command::ConnectPreparedGroup {
                    group_id: id,
                    incognito,
                    content,
                },
                _ => Command::ConnectPreparedContact {
                    contact_id: id,
                    incognito,
                    content,
                },
            }
        }
        "/_connect" => match args.split_once(' ') {
            None if user_id(args) => Command::CreateInvitation,
            Some((uid, "incognito=off")) if user_id(uid) => Command::CreateInvitation,
            Some((uid, "incognito=on")) if user_id(uid) => Command::CreateInvitationIncognito,
            Some(("plan", rest)) => match rest.split_once(' ') {
                Some((uid, link)) if user_id(uid) && !link.trim().is_empty() => {
                    Command::ConnectPlan(link.trim().to_string())
                }
                _ => return Err(bad("usage: /_connect plan <userId> <link>")),
            },
            Some((uid, link)) if user_id(uid) && !link.trim().is_empty() => {
                Command::ApiConnect(link.trim().to_string())
            }
            _ => return Err(bad("usage: /_connect <userId> [link]")),
        },
        "/_send" if args.starts_with('#') => {
            let usage = || bad("usage: /_send #<groupId> json [<message>, ...]");
            let (r, mut rest) = args.split_once(' ').ok_or_else(usage)?;
            // `#1(as_group=on)`: a channel's post as the channel itself.
            let (r, as_group) = match r.strip_suffix("(as_group=on)") {
                Some(r) => (r, true),
                None => (r.strip_suffix("(as_group=off)").unwrap_or(r), false),
            };
            // `#1(_support)`, `#1(_support:3)`: a support chat.
            let (r, scope) = support_scope(r).ok_or_else(|| bad("bad chat scope"))?;
            let group_id = group_ref(r).ok_or_else(|| bad("bad chat reference"))?;
            let mut live = false;
            let mut ttl = None;
            let mut sign = false;
            while let Some((opt, more)) = rest.split_once(' ') {
                match opt {
                    "live=on" => live = true,
                    "sign=on" => sign = true,
                    "live=off" | "sign=off" | "ttl=default" => {}
                    _ => match opt.strip_prefix("ttl=") {
                        Some(t) => {
                            let t: i64 = t.parse().map_err(|_| bad("ttl: seconds"))?;
                            if !(1..=MAX_TTL).contains(&t) {
                                return Err(bad("ttl: 1 second to 1 year"));
                            }
                            ttl = Some(t);
                        }
                        None => break,
                    },
                }
                rest = more;
            }
            let messages = if let Some(text) = rest.strip_prefix("text ") {
                vec![Composed {
                    file: None,
                    quoted_item_id: None,
                    content: crate::protocol::MsgContent::text(text),
                    mentions: Default::default(),
                }]
            } else if let Some(json) = rest.strip_prefix("json ") {
                Composed::list_from_json(json).map_err(|e| bad(&e))?
            } else {
                return Err(usage());
            };
            if (live || ttl.is_some()) && scope.is_some() {
                return Err(bad(
                    "live and disappearing messages in support chats are not supported",
                ));
            }
            if as_group && scope.is_some() {
                return Err(bad("a post as the channel is not in a support chat"));
            }
            Command::ApiSendGroup {
                group_id,
                scope,
                live,
                ttl,
                as_group,
                sign,
                messages,
            }
        }
        "/_send" => {
            let (r, rest) = args
                .split_once(' ')
                .ok_or_else(|| bad("usage: /_send @<contactId> json [<message>, ...]"))?;
            let contact_id = contact_ref(r).ok_or_else(|| bad("bad chat reference"))?;
            // Options before `json`: `ttl=N` makes the messages disappear; `live=on` sends a
            // live message; `sign=on` changes nothing here (signing is for channels).
            let mut rest = rest;
            let mut ttl = None;
            let mut live = false;
            while let Some((opt, more)) = rest.split_once(' ') {
                if matches!(opt, "live=off" | "sign=on" | "sign=off" | "ttl=default") {
                    rest = more;
                } else if let Some(t) = opt.strip_prefix("ttl=") {
                    let t: i64 = t.parse().map_err(|_| bad("ttl: seconds"))?;
                    if !(1..=MAX_TTL).contains(&t) {
                        return Err(bad("ttl: 1 second to 1 year"));
                    }
                    ttl = Some(t);
                    rest = more;
                } else if opt == "live=on" {
                    live = true;
                    rest = more;
                } else {
                    break;
                }
            }
            // A text with options: as one message of the JSON form.
            if let (Some(text), true) = (rest.strip_prefix("text "), ttl.is_some() || live) {
                Command::ApiSendJson {
                    chat_id: contact_id,
                    ttl,
                    live,
                    messages: vec![Composed {
                        file: None,
                        quoted_item_id: None,
                        content: crate::protocol::MsgContent::text(text),
                        mentions: Default::default(),
                    }],
                }
            } else if let Some(text) = rest.strip_prefix("text ") {
                Command::ApiSend {
                    contact_id,
                    text: text.to_string(),
                }
            } else if let Some(json) = rest.strip_prefix("json ") {
                let messages = Composed::list_from_json(json).map_err(|e| bad(&e))?;
                Command::ApiSendJson {
                    chat_id: contact_id,
                    ttl,
                    live,
                    messages,
                }
            } else {
                return Err(bad("usage: /_send @<contactId> json [<message>, ...]"));
            }
        }
        "/_update" if args.starts_with("tag ") => {
            let (id, json) = args["tag ".len()..]
                .split_once(' ')
                .ok_or_else(|| bad("usage: /_update tag <tagId> <json>"))?;
            Command::ChangeChatTag(crate::tags::TagChange::Update(
                id.parse()
                    .map_err(|_| bad("usage: /_update tag <tagId> <json>"))?,
                tag_data(json).map_err(|e| bad(&e))?,
            ))
        }
        "/_create" if args.starts_with("tag ") => {
            Command::CreateChatTag(tag_data(&args["tag ".len()..]).map_err(|e| bad(&e))?)
        }
        "/_delete" if args.starts_with("tag ") => {
            Command::ChangeChatTag(crate::tags::TagChange::Delete(
                args["tag ".len()..]
                    .trim()
                    .parse()
                    .map_err(|_| bad("usage: /_delete tag <tagId>"))?,
            ))
        }
        "/_reorder" if args.starts_with("tags ") => {
            Command::ChangeChatTag(crate::tags::TagChange::Reorder(
                tag_ids(&args["tags ".len()..])
                    .ok_or_else(|| bad("usage: /_reorder tags <tagId>[,<tagId>...]"))?,
            ))
        }
        "/_save" if args.starts_with("app settings") => {
            let json = args["app settings".len()..].trim();
            if json.len() > crate::users::MAX_APP_SETTINGS {
                return Err(bad("app settings are at most 64 KiB of JSON"));
            }
            match serde_json::from_str::<serde_json::Value>(json) {
                Ok(v @ serde_json::Value::Object(_)) => Command::SaveAppSettings(v),
                _ => return Err(bad("usage: /_save app settings <json object>")),
            }
        }
        "/_get" if args.starts_with("app settings") => {
            let json = args["app settings".len()..].trim();
            if json.is_empty() {
                Command::GetAppSettings(None)
            } else if json.len() > crate::users::MAX_APP_SETTINGS {
                return Err(bad("app settings are at most 64 KiB of JSON"));
            } else {
                match serde_json::from_str::<serde_json::Value>(json) {
                    Ok(v @ serde_json::Value::Object(_)) => Command::GetAppSettings(Some(v)),
                    _ => return Err(bad("usage: /_get app settings [<json object>]")),
                }
            }
        }
        "/_get" if args.starts_with("tags ") => {
            if !user_id(args["tags ".len()..].trim()) {
                return Err(bad("usage: /_get tags <userId>"));
            }
            Command::GetChatTags
        }
        "/_tags" => {
            let usage = || bad("usage: /_tags @<contactId>|#<groupId> [<tagId>[,<tagId>...]]");
            let (r, ids) = args.split_once(' ').unwrap_or((args, ""));
            let chat = match (contact_ref(r), group_ref(r)) {
                (Some(c), _) if c > crate::store::NOTES => crate::tags::TaggedChat::Contact(c),
                (_, Some(g)) => crate::tags::TaggedChat::Group(g),
                _ => return Err(usage()),
            };
            let ids = match ids.trim() {
                "" => Vec::new(),
                list => tag_ids(list).ok_or_else(usage)?,
            };
            Command::SetChatTags { chat, ids }
        }
        "/_update" => {
            let mut p = args.splitn(4, ' ');
            let (Some("item"), Some(r), Some(id), Some(rest)) =
                (p.next(), p.next(), p.next(), p.next())
            else {
                return Err(bad(
                    "usage: /_update item @<contactId> <itemId> text <message>",
                ));
            };
            let item_id = id.parse().map_err(|_| bad("bad item id"))?;
            let (rest, live) = match rest.strip_prefix("live=on ") {
                Some(r) => (r, true),
                None => (rest.strip_prefix("live=off ").unwrap_or(rest), false),
            };
            if let Some(group_id) = group_item_ref(r) {
                let content = if let Some(t) = rest.strip_prefix("text ") {
                    crate::protocol::MsgContent::text(t)
                } else if let Some(json) = rest.strip_prefix("json ") {
                    let v: serde_json::Value =
                        serde_json::from_str(json).map_err(|e| bad(&format!("bad JSON ({e})")))?;
                    v.get("msgContent")
                        .and_then(|c| serde_json::from_value(c.clone()).ok())
                        .ok_or_else(|| bad("json: an object with msgContent"))?
                } else {
                    return Err(bad(
                        "usage: /_update item #<groupId> <itemId> json <message>",
                    ));
                };
                return Ok(Command::ApiUpdateGroupItem {
                    group_id,
                    item_id,
                    content,
                    live,
                });
            }
            let contact_id = contact_ref(r).ok_or_else(|| bad("bad chat reference"))?;
            let text = if let Some(t) = rest.strip_prefix("text ") {
                t.to_string()
            } else if let Some(json) = rest.strip_prefix("json ") {
                let v: serde_json::Value =
                    serde_json::from_str(json).map_err(|e| bad(&format!("bad JSON ({e})")))?;
                let content: crate::protocol::MsgContent = v
                    .get("msgContent")
                    .and_then(|c| serde_json::from_value(c.clone()).ok())
                    .ok_or_else(|| bad("json: an object with msgContent"))?;
                content.text_shown().to_string()
            } else {
                return Err(bad(
                    "usage: /_update item @<contactId> <itemId> json <message>",
                ));
            };
            Command::UpdateItem {
                contact_id,
                item_id,
                text,
                live,
            }
        }
        "/live" => {
            let usage = || bad("usage: /live @<name> [text] or /live #<group> [text]");
            let (to, group) = match (args.strip_prefix('@'), args.strip_prefix('#')) {
                (Some(n), _) => (n, false),
                (_, Some(g)) => (g, true),
                _ => return Err(usage()),
            };
            let (to, text) = name(to)?;
            Command::SendLive {
                to,
                group,
                text: text.to_string(),
            }
        }
        "/code" => Command::ShowCode(one_arg(args)?),
        "/call" => {
            let name = args.strip_prefix('@').unwrap_or(args);
            Command::CallInvite(
                ContactName::Name(one_arg(name)?),
                crate::calls::CallType::DEFAULT,
            )
        }
        "/_call" => parse_call(args).map_err(|e| bad(&e))?,
        "/enable" | "/_enable" => {
            let usage = || bad("usage: /enable @name, /enable #group member");
            match (word, args.strip_prefix('#')) {
                ("/enable", Some(rest)) => {
                    let (group, member) = name(rest)?;
                    Command::EnableMember {
                        group: ContactName::Name(group),
                        member: ContactName::Name(one_arg(member)?),
                    }
                }
                ("/enable", None) => Command::EnableContact(ContactName::Name(one_arg(args)?)),
                (_, Some(_)) => {
                    let (g, m) = args.split_once(' ').ok_or_else(usage)?;
                    Command::EnableMember {
                        group: ContactName::Id(group_ref(g).ok_or_else(usage)?),
                        member: ContactName::Id(m.trim().parse().map_err(|_| usage())?),
                    }
                }
                (_, None) => Command::EnableContact(ContactName::Id(
                    args.strip_prefix('@')
                        .and_then(|c| c.parse().ok())
                        .ok_or_else(usage)?,
                )),
            }
        }
        "/sync" | "/_sync" => {
            let (args, force) = match args.strip_suffix(" force=on") {
                Some(a) => (a, true),
                None => (args.strip_suffix(" force=off").unwrap_or(args), false),
            };
            let usage = || bad("usage: /sync @name [force=on], /sync #group member [force=on]");
            match (word, args.strip_prefix('#')) {
                ("/sync", Some(rest)) => {
                    let (group, member) = name(rest)?;
                    Command::SyncMember {
                        group: ContactName::Name(group),
                        member: ContactName::Name(one_arg(member)?),
                        force,
                    }
                }
                ("/sync", None) => Command::SyncContact {
                    who: ContactName::Name(one_arg(args)?),
                    force,
                },
                (_, Some(_)) => {
                    let (g, m) = args.split_once(' ').ok_or_else(usage)?;
                    Command::SyncMember {
                        group: ContactName::Id(group_ref(g).ok_or_else(usage)?),
                        member: ContactName::Id(m.parse().map_err(|_| usage())?),
                        force,
                    }
                }
                (_, None) => Command::SyncContact {
                    who: ContactName::Id(
                        args.strip_prefix('@')
                            .and_then(|c| c.parse().ok())
                            .ok_or_else(usage)?,
                    ),
                    force,
                },
            }
        }
        "/abort" if args.starts_with("switch ") => {
            let args = &args["switch ".len()..];
            match args.strip_prefix('#') {
                Some(rest) => {
                    let (group, member) = name(rest)?;
                    Command::AbortSwitchMember {
                        group: ContactName::Name(group),
                        member: ContactName::Name(one_arg(member)?),
                    }
                }
                None => Command::AbortSwitchContact(ContactName::Name(one_arg(args)?)),
            }
        }
        "/_abort" if args.starts_with("switch ") => {
            let args = &args["switch ".len()..];
            let usage = || bad("usage: /_abort switch @<contactId> | #<groupId> <groupMemberId>");
            match args.split_once(' ') {
                Some((g, m)) => Command::AbortSwitchMember {
                    group: ContactName::Id(group_ref(g).ok_or_else(usage)?),
                    member: ContactName::Id(m.parse().map_err(|_| usage())?),
                },
                None => Command::AbortSwitchContact(ContactName::Id(
                    args.strip_prefix('@')
                        .and_then(|c| c.parse().ok())
                        .ok_or_else(usage)?,
                )),
            }
        }
        "/network" | "/net" if args.is_empty() => Command::ShowNetwork,
        "/network" | "/net" => {
            Command::SetNetwork(crate::network::NetworkChange::Simple(args.to_string()))
        }
        "/_network" => Command::SetNetwork(crate::network::NetworkChange::Json(
            serde_json::from_str(args).map_err(|e| bad(&format!("bad JSON ({e})")))?,
        )),
        "/qi" | "/queue" => {
            let usage = || bad("usage: /queue info @name | /queue info #group @member");
            let rest = match word {
                "/queue" => args.strip_prefix("info ").ok_or_else(usage)?.trim_start(),
                _ => args,
            };
            match rest.strip_prefix('#') {
                Some(g) => {
                    let (group, member) = name(g)?;
                    Command::MemberQueueInfo {
                        group: ContactName::Name(group),
                        member: ContactName::Name(one_arg(member.trim_start())?),
                    }
                }
                None => Command::QueueInfo(ContactName::Name(one_arg(rest)?)),
            }
        }
        "/_queue" => {
            let usage = || bad("usage: /_queue info @<contactId> | #<groupId> <groupMemberId>");
            let rest = args.strip_prefix("info ").ok_or_else(usage)?;
            match rest.split_once(' ') {
                Some((g, m)) => Command::MemberQueueInfo {
                    group: ContactName::Id(group_ref(g).ok_or_else(usage)?),
                    member: ContactName::Id(m.parse().map_err(|_| usage())?),
                },
                None => Command::QueueInfo(ContactName::Id(
                    rest.strip_prefix('@')
                        .and_then(|c| c.parse().ok())
                        .ok_or_else(usage)?,
                )),
            }
        }
        "/switch" if args.starts_with('#') => {
            let (group, member) = name(&args[1..])?;
            Command::SwitchMember {
                group: ContactName::Name(group),
                member: ContactName::Name(one_arg(member)?),
            }
        }
        "/switch" => Command::SwitchContact(ContactName::Name(one_arg(args)?)),
        "/_switch" => {
            let usage = || bad("usage: /_switch @<contactId> | #<groupId> <groupMemberId>");
            match args.split_once(' ') {
                Some((g, m)) => Command::SwitchMember {
                    group: ContactName::Id(group_ref(g).ok_or_else(usage)?),
                    member: ContactName::Id(m.parse().map_err(|_| usage())?),
                },
                None => Command::SwitchContact(ContactName::Id(
                    args.strip_prefix('@')
                        .and_then(|c| c.parse().ok())
                        .ok_or_else(usage)?,
                )),
            }
        }
        "/g" | "/group" => {
            let (incognito, args) = match args.strip_prefix("i ") {
                Some(rest) => (true, rest.trim_start()),
                None => (false, args),
            };
            let (n, full) = name(args.strip_prefix('#').unwrap_or(args))?;
            Command::NewGroup {
                name: n,
                full_name: full.trim().to_string(),
                incognito,
            }
        }
        // The terminal's form of `/_public group`: `/pg [i] relays=1,2 #news [full name]`.
        "/pg" | "/public" if word == "/pg" || args.starts_with("group ") => {
            let usage = || bad("usage: /public group [i] relays=<relayIds> #name [full name]");
            let rest = if word == "/pg" {
                args
            } else {
                args["group ".len()..].trim_start()
            };
            let (incognito, rest) = match rest.strip_prefix("i ") {
                Some(r) => (true, r.trim_start()),
                None => (false, rest),
            };
            let (ids, rest) = rest
                .strip_prefix("relays=")
                .and_then(|r| r.split_once(' '))
                .ok_or_else(usage)?;
            let relay_ids = id_list(ids).ok_or_else(usage)?;
            let (n, full) = name(rest.trim_start().strip_prefix('#').ok_or_else(usage)?)?;
            Command::NewPublicGroup {
                relay_ids,
                profile: crate::protocol::GroupProfile {
                    display_name: n,
                    full_name: full.trim().to_string(),
                    ..crate::protocol::GroupProfile::default()
                },
                incognito,
            }
        }
        "/a" | "/add" => {
            let usage =
                || bad("usage: /a <group> <contact> [owner|admin|moderator|member|observer]");
            let (group, rest) = name(args.strip_prefix('#').unwrap_or(args))?;
            let (contact, rest) =
                name(rest.strip_prefix('@').unwrap_or(rest)).map_err(|_| usage())?;
            let role = match rest.trim() {
                "" => crate::protocol::GroupMemberRole::Member,
                r => serde_json::from_value(serde_json::Value::String(r.to_string()))
                    .map_err(|_| usage())?,
            };
            Command::AddMember {
                group,
                contact,
                role,
            }
        }
        "/j" | "/join" => Command::JoinGroup(one_group(args)?),
        "/gs" | "/groups" if args.is_empty() => Command::ListGroups,
        "/ms" | "/members" => Command::ListMembers(one_group(args)?),
        "/l" | "/leave" => Command::LeaveGroup(one_group(args)?),
        "/block" | "/unblock" if args.starts_with("for all ") => {
            let a = &args["for all ".len()..];
            let (group, rest) = name(a.strip_prefix('#').unwrap_or(a))?;
            Command::BlockForAll {
                group,
                member: one_arg(rest)?,
                block: word == "/block",
            }
        }
        "/block" | "/unblock" => {
            let (group, rest) = name(args.strip_prefix('#').unwrap_or(args))?;
            Command::BlockMember {
                group,
                member: one_arg(rest)?,
                block: word == "/block",
            }
        }
        "/rm" | "/remove" => {
            let (group, rest) = name(args.strip_prefix('#').unwrap_or(args))?;
            Command::RemoveMember {
                group,
                member: one_arg(rest)?,
            }
        }
        "/mr" => member_role(args)?,
        "/member" if args.starts_with("role ") => member_role(&args[5..])?,
        "/help" | "/h" => Command::Help((!args.is_empty()).then(|| args.to_string())),
        // The reference's short forms of `/help <topic>`.
        "/hf" | "/hg" | "/hc" | "/ha" | "/hi" | "/hm" | "/hs" | "/hd" | "/hr"
            if args.is_empty() =>
        {
            Command::Help(Some(
                match word {
                    "/hf" => "files",
                    "/hg" => "groups",
                    "/hc" => "contacts",
                    "/ha" => "address",
                    "/hi" => "incognito",
                    "/hm" => "messages",
                    "/hs" => "settings",
                    "/hd" => "db",
                    _ => "remote",
                }
                .to_string(),
            ))
        }
        "/?" if args.is_empty() => Command::Help(None),
        "/_reaction" => {
            let mut p = args.splitn(4, ' ');
            let (Some(r), Some(id), Some(on), Some(json)) =
                (p.next(), p.next(), p.next(), p.next())
            else {
                return Err(bad("usage: /_reaction @<contactId> <itemId> on|off <json>"));
            };
            let item_id = id.parse().map_err(|_| bad("bad item id"))?;
            let add = match on {
                "on" => true,
                "off" => false,
                _ => return Err(bad("usage: /_reaction @<contactId> <itemId> on|off <json>")),
            };
            if let Some(group_id) = group_item_ref(r) {
                return Ok(Command::ApiGroupReaction {
                    group_id,
                    item_id,
                    add,
                    reaction: serde_json::from_str(json)
                        .map_err(|e| bad(&format!("bad reaction ({e})")))?,
                });
            }
            let contact_id = contact_ref(r).ok_or_else(|| bad("bad chat reference"))?;
            Command::Reaction {
                contact_id,
                item_id,
                add,
                reaction: serde_json::from_str(json)
                    .map_err(|e| bad(&format!("bad reaction ({e})")))?,
            }
        }
        "/i" | "/info" => match args.strip_prefix('#') {
            // A group, or one of its members.
            Some(rest) => {
                let (group, member) = name(rest)?;
                match member.trim() {
                    "" => Command::GroupInfo(ContactName::Name(group)),
                    m => Command::MemberInfo {
                        group: ContactName::Name(group),
                        member: ContactName::Name(one_arg(m)?),
                    },
                }
            }
            None => Command::ContactInfo(one_arg(args)?),
        },
        "/_info" => {
            let usage = || bad("usage: /_info #<groupId> [<groupMemberId>]");
            let rest = args.strip_prefix('#').ok_or_else(usage)?;
            let (g, m) = match rest.split_once(' ') {
                Some((g, m)) => (g, Some(m)),
                None => (rest, None),
            };
            let group = ContactName::Id(g.parse().map_err(|_| usage())?);
            match m {
                None => Command::GroupInfo(group),
                Some(m) => Command::MemberInfo {
                    group,
                    member: ContactName::Id(m.trim().parse().map_err(|_| usage())?),
                },
            }
        }
        "/verify" => {
            let a = args.strip_prefix('@').unwrap_or(args);
            let (n, rest) = name(a)?;
            let code = rest.trim();
            Command::Verify {
                name: n,
                code: (!code.is_empty()).then(|| code.to_string()),
            }
        }
        "/create" if args.starts_with("user ") => {
            let (display_name, full) = name(&args["user ".len()..])?;
            Command::CreateUser(Some(crate::protocol::Profile {
                display_name,
                full_name: full.trim().to_string(),
                ..Default::default()
            }))
        }
        "/_create" if args.starts_with("user ") => {
            let v: serde_json::Value = serde_json::from_str(&args["user ".len()..])
                .map_err(|e| bad(&format!("bad user ({e})")))?;
            let profile = match v.get("profile") {
                None | Some(serde_json::Value::Null) if v.is_object() => None,
                Some(p) => Some(
                    serde_json::from_value(p.clone())
                        .map_err(|e| bad(&format!("bad profile ({e})")))?,
                ),
                None => return Err(bad("usage: /_create user <json(newUser)>")),
            };
            Command::CreateUser(profile)
        }
        "/user" if !args.is_empty() => {
            let (n, rest) = name(args)?;
            Command::SetActiveUser(UserRef::Name(n), password(rest))
        }
        "/delete" if args.starts_with("user ") => {
            // What follows the name is the password of a hidden user, as in the reference,
            // where the queues are always deleted.
            let (n, rest) = name(&args["user ".len()..])?;
            Command::DeleteUser {
                user: UserRef::Name(n),
                del_smp: true,
                password: password(rest),
            }
        }
        "/hide" | "/unhide" if args.starts_with("user ") => {
            let password = Password(args["user ".len()..].to_string());
            if word == "/hide" {
                Command::HideUser {
                    user: None,
                    password,
                }
            } else {
                Command::UnhideUser {
                    user: None,
                    password,
                }
            }
        }
        "/_hide" | "/_unhide" if args.starts_with("user ") => {
            let usage = || bad(&format!("usage: {word} user <userId> <json(password)>"));
            let (id, pwd) = args["user ".len()..].split_once(' ').ok_or_else(usage)?;
            let user = Some(id.parse().map_err(|_| usage())?);
            let password = json_password(pwd).ok_or_else(usage)?;
            if word == "/_hide" {
                Command::HideUser { user, password }
            } else {
                Command::UnhideUser { user, password }
            }
        }
        "/db" => {
            let w: Vec<&str> = args.split_whitespace().collect();
            let key = |k: &str| Password(k.to_string());
            match w.as_slice() {
                ["encrypt", k] => Command::DbEncryption {
                    current: key(""),
                    new: key(k),
                },
                ["key", current, new] => Command::DbEncryption {
                    current: key(current),
                    new: key(new),
                },
                ["decrypt", k] => Command::DbEncryption {
                    current: key(k),
                    new: key(""),
                },
                ["test", "key", k] => Command::DbTestKey(key(k)),
                ["export"] => Command::DbExport(None),
                _ => {
                    return Err(bad(
                        "usage: /db encrypt <key>, /db key <current> <new>, /db decrypt <key>, \
                         /db test key <key>, /db export",
                    ))
                }
            }
        }
        "/_db" if args == "delete" => Command::DbDelete,
        "/_db" if args.starts_with("export ") || args.starts_with("import ") => {
            let (word, json) = args.split_once(' ').unwrap_or((args, ""));
            let config: crate::archive::ArchiveConfig = serde_json::from_str(json.trim())
                .map_err(|e| bad(&format!("bad archive config ({e})")))?;
            if config.archive_path.trim().is_empty() {
                return Err(bad("the archive's path is empty"));
            }
            match word {
                "export" => Command::DbExport(Some(config)),
                _ => Command::DbImport(config),
            }
        }
        "/_db" if args.starts_with("encryption ") => {
            #[derive(serde::Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct Config {
                current_key: String,
                new_key: String,
            }
            let c: Config = serde_json::from_str(&args["encryption ".len()..]).map_err(|_| {
                bad("usage: /_db encryption {\"currentKey\": \"...\", \"newKey\": \"...\"}")
            })?;
            Command::DbEncryption {
                current: Password(c.current_key),
                new: Password(c.new_key),
            }
        }
        "/ttl" if args.is_empty() => Command::GetChatItemTtl,
        "/ttl" => Command::SetChatItemTtl(match args.trim() {
            "day" => Some(86_400),
            "week" => Some(7 * 86_400),
            "month" => Some(30 * 86_400),
            "year" => Some(365 * 86_400),
            "none" => None,
            a if a.starts_with(['@', '#']) => {
                let usage = || bad("usage: /ttl @name|#group day|week|month|year|none|default");
                let group = a.starts_with('#');
                let (n, rest) = name(&a[1..])?;
                let ttl = chat_ttl_word(rest.trim()).ok_or_else(usage)?;
                return Ok(Command::SetChatTtl {
                    chat: if group {
                        TtlChat::GroupNamed(n)
                    } else {
                        TtlChat::ContactNamed(n)
                    },
                    ttl,
                });
            }
            _ => return Err(bad("usage: /ttl [day|week|month|year|none]")),
        }),
        "/_ttl" => {
            let usage = || bad("usage: /_ttl <userId> [<seconds>]");
            let mut w = args.split_whitespace();
            w.next()
                .and_then(|u| u.parse::<i64>().ok())
                .ok_or_else(usage)?;
            match (w.next(), w.next()) {
                (None, _) => Command::GetChatItemTtl,
                (Some(s), None) => {
                    let secs: i64 = s.parse().map_err(|_| usage())?;
                    if secs < 0 {
                        return Err(usage());
                    }
                    Command::SetChatItemTtl((secs > 0).then_some(secs))
                }
                (Some(chat), Some(t)) => {
                    let usage =
                        || bad("usage: /_ttl <userId> @<contactId>|#<groupId> <seconds>|default");
                    let chat = if let Some(g) = group_ref(chat) {
                        TtlChat::Group(g)
                    } else {
                        TtlChat::Contact(
                            chat.strip_prefix('@')
                                .and_then(|c| c.parse().ok())
                                .ok_or_else(usage)?,
                        )
                    };
                    let ttl = match t {
                        "default" => None,
                        s => Some(
                            s.parse::<i64>()
                                .ok()
                                .filter(|s| *s >= 0)
                                .ok_or_else(usage)?,
                        ),
                    };
                    Command::SetChatTtl { chat, ttl }
                }
            }
        }
        "/mute" | "/unmute" if args == "user" => Command::MuteUser {
            user: None,
            muted: word == "/mute",
        },
        "/_mute" | "/_unmute" if args.starts_with("user ") => Command::MuteUser {
            user: Some(
                args["user ".len()..]
                    .trim()
                    .parse()
                    .map_err(|_| bad(&format!("usage: {word} user <userId>")))?,
            ),
            muted: word == "/_mute",
        },
        "/_delete" if args.starts_with("user ") => {
            let p: Vec<&str> = args.split(' ').collect();
            let usage = || bad("usage: /_delete user <userId> del_smp=on|off");
            let id = p
                .get(1)
                .and_then(|i| i.parse::<i64>().ok())
                .ok_or_else(usage)?;
            let del_smp = match p.get(2) {
                Some(&"del_smp=on") => true,
                Some(&"del_smp=off") => false,
                _ => return Err(usage()),
            };
            let password = match p.get(3..).map(|r| r.join(" ")) {
                Some(pwd) if !pwd.is_empty() => Some(json_password(&pwd).ok_or_else(usage)?),
                _ => None,
            };
            Command::DeleteUser {
                user: UserRef::Id(id),
                del_smp,
                password,
            }
        }
        "/create" if args.starts_with("link #") => {
            let (group, rest) = name(&args["link #".len()..])?;
            let role = match rest.trim() {
                "" => crate::protocol::GroupMemberRole::Member,
                r => parse_role(r).ok_or_else(|| bad(&format!("no role {r}")))?,
            };
            Command::CreateGroupLink { group, role }
        }
        "/show" if args.starts_with("link #") => {
            Command::ShowGroupLink(one_group(&args["link ".len()..])?)
        }
        "/show" if args.starts_with("welcome #") => {
            Command::ShowWelcome(one_group(&args["welcome ".len()..])?)
        }
        "/feed" if !args.trim().is_empty() => Command::Feed(args.to_string()),
        "/simplex" if args.is_empty() => Command::ConnectSimplex { incognito: false },
        "/simplex" if args == "i" || args == "incognito" => {
            Command::ConnectSimplex { incognito: true }
        }
        "/markdown" | "/m" if args.is_empty() => Command::Help(Some("markdown".into())),
        "/welcome" | "/w" if args.is_empty() => Command::Help(Some("welcome".into())),
        "/delete" if args.starts_with("welcome #") => {
            let (group, rest) = name(&args["welcome #".len()..])?;
            if !rest.trim().is_empty() {
                return Err(bad("usage: /delete welcome #group"));
            }
            Command::SetWelcome { group, text: None }
        }
        "/delete" if args.starts_with("link #") => {
            Command::DeleteGroupLink(one_group(&args["link ".len()..])?)
        }
        "/d" | "/delete" => {
            let (target, notify) = match args.strip_suffix(" notify=off") {
                Some(t) => (t, false),
                None => (args, true),
            };
            if let Some(g) = target.strip_prefix('#') {
                return Ok(Command::DeleteGroup(one_group(g)?));
            }
            Command::DeleteContact {
                name: Some(one_arg(target)?),
                id: None,
                notify,
                messages_only: false,
            }
        }
        "/_group_profile" => match args.split_once(' ') {
            Some((g, json)) if group_ref(g).is_some() => Command::ApiGroupProfile {
                group_id: group_ref(g).unwrap_or_default(),
                profile: serde_json::from_str(json)
                    .map_err(|e| bad(&format!("bad group profile ({e})")))?,
            },
            _ => {
                return Err(bad(
                    "usage: /_group_profile #<groupId> <json(groupProfile)>",
                ))
            }
        },
        "/set" if args.starts_with("disappear #") => {
            let (group, rest) = name(&args["disappear #".len()..])?;
            let usage = || bad("usage: /set disappear #group on [ttl: 30s, 5m, 1h, 1d, 1w] | off");
            let mut p = rest.split_whitespace();
            let ttl = match (p.next(), p.next()) {
                (Some("off"), None) => None,
                (Some("on"), None) => Some(86400),
                (Some("on"), Some(t)) => {
                    let (n, unit) =
                        t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
                    let n: i64 = n.parse().map_err(|_| usage())?;
                    let mult = match unit {
                        "" | "s" => 1,
                        "m" => 60,
                        "h" => 3600,
                        "d" => 86400,
                        "w" => 7 * 86400,
                        _ => return Err(usage()),
                    };
                    let secs = n.checked_mul(mult).filter(|s| (1..=MAX_TTL).contains(s));
                    Some(secs.ok_or_else(usage)?)
                }
                _ => return Err(usage()),
            };
            if p.next().is_some() {
                return Err(usage());
            }
            Command::SetGroupTimed { group, ttl }
        }
        "/set"
            if !args.contains(" @")
                && !args.contains(" #")
                && matches!(
                    args.split_whitespace().next(),
                    Some("voice" | "files" | "calls" | "delete" | "disappear")
                ) =>
        {
            let usage =
                || bad("usage: /set voice|files|calls|delete yes|no|always, /set disappear yes|no");
            let w: Vec<&str> = args.split_whitespace().collect();
            let (feature, allow) = match w.as_slice() {
                ["disappear", a @ ("yes" | "no")] => ("timedMessages", *a),
                [f, a @ ("yes" | "no" | "always")] => (
                    match *f {
                        "voice" => "voice",
                        "files" => "files",
                        "calls" => "calls",
                        "delete" => "fullDelete",
                        _ => return Err(usage()),
                    },
                    *a,
                ),
                _ => return Err(usage()),
            };
            Command::SetUserFeature {
                feature,
                allow: allow.to_string(),
            }
        }
        "/set" if args.contains(" @") => {
            let usage = || {
                bad("usage: /set voice|calls|delete|reactions @name [yes|no|always], /set disappear @name [yes [30s|5min|1h|8h|day|week|month]|no]")
            };
            let (word, rest) = args.split_once(" @").unwrap_or_default();
            let feature = match word {
                "voice" => "voice",
                "calls" => "calls",
                "delete" => "fullDelete",
                "reactions" => "reactions",
                "disappear" => "timedMessages",
                _ => return Err(usage()),
            };
            let (contact, rest) = name(rest)?;
            let mut p = rest.split_whitespace();
            let allow = match p.next() {
                None => None,
                Some(a @ ("yes" | "no" | "always")) => Some(a.to_string()),
                _ => return Err(usage()),
            };
            let ttl = match (p.next(), feature, allow.as_deref()) {
                (None, ..) => None,
                (Some(t), "timedMessages", Some("yes" | "always")) => {
                    Some(ttl_word(t).ok_or_else(usage)?)
                }
                _ => return Err(usage()),
            };
            if p.next().is_some() {
                return Err(usage());
            }
            Command::SetContactFeature {
                name: contact,
                feature,
                allow,
                ttl,
            }
        }
        "/mute" | "/unmute" if !args.is_empty() => {
            // `/unmute mentions #team`: muted but for mentions of us (groups only).
            let (args, mentions_only) = match args.strip_prefix("mentions ") {
                Some(rest) if word == "/unmute" && rest.trim_start().starts_with('#') => {
                    (rest.trim_start(), true)
                }
                _ => (args, false),
            };
            let (name_, group) = match args.strip_prefix('#') {
                Some(g) => (one_group(g)?, true),
                None => (one_arg(args)?, false),
            };
            Command::Mute {
                name: name_,
                group,
                muted: word == "/mute" || mentions_only,
                mentions_only,
            }
        }
        "/_set" | "/set" if args.starts_with("accept member contacts ") => {
            let usage = || {
                bad("usage: /set accept member contacts on|off (/_set accept member contacts 1 on|off)")
            };
            let rest = &args["accept member contacts ".len()..];
            let on = match rest.split_whitespace().collect::<Vec<_>>()[..] {
                [on] if word == "/set" => on,
                [uid, on] if word == "/_set" && user_id(uid) => on,
                _ => return Err(usage()),
            };
            Command::SetAcceptMemberContacts(match on {
                "on" => true,
                "off" => false,
                _ => return Err(usage()),
            })
        }
        // Notes with their files, as the reference's (`APICreateChatItems`).
        "/_create" if args.starts_with("*1 json ") => Command::ApiSendJson {
            chat_id: crate::store::NOTES,
            ttl: None,
            live: false,
            messages: Composed::list_from_json(&args["*1 json ".len()..]).map_err(|e| bad(&e))?,
        },
        "/_create" if args.starts_with("member contact ") => {
            let usage = || bad("usage: /_create member contact #<groupId> <groupMemberId>");
            let p: Vec<&str> = args["member contact ".len()..].split(' ').collect();
            let [g, m] = p[..] else {
                return Err(usage());
            };
            Command::CreateMemberContact {
                group_id: group_ref(g).ok_or_else(usage)?,
                group_member_id: m.parse().map_err(|_| usage())?,
            }
        }
        "/_invite" if args.starts_with("member contact ") => {
            let usage = || {
                bad("usage: /_invite member contact @<contactId>[ text <message>| json <msgContent>]")
            };
            let rest = &args["member contact ".len()..];
            let (r, content) = rest.split_once(' ').unwrap_or((rest, ""));
            let contact_id = contact_ref(r).ok_or_else(usage)?;
            let content = if content.is_empty() {
                None
            } else if let Some(t) = content.strip_prefix("text ") {
                Some(crate::protocol::MsgContent::text(t))
            } else if let Some(json) = content.strip_prefix("json ") {
                Some(serde_json::from_str(json).map_err(|e| bad(&format!("bad JSON ({e})")))?)
            } else {
                return Err(usage());
            };
            Command::InviteMemberContact {
                contact_id,
                content,
            }
        }
        "/_accept" if args.starts_with("member #") => {
            let usage = || bad("usage: /_accept member #<groupId> <groupMemberId> <role>");
            let p: Vec<&str> = args["member ".len()..].split(' ').collect();
            let [g, m, role] = p[..] else {
                return Err(usage());
            };
            Command::AcceptMember {
                group_id: group_ref(g).ok_or_else(usage)?,
                group_member_id: m.parse().map_err(|_| usage())?,
                role: parse_role(role).ok_or_else(usage)?,
            }
        }
        "/set" if args.starts_with("admission review ") => {
            let usage = || bad("usage: /set admission review #<group> all|off");
            let rest = &args["admission review ".len()..];
            let (g, on) = rest.rsplit_once(' ').ok_or_else(usage)?;
            let group = one_group(g.strip_prefix('#').ok_or_else(usage)?)?;
            Command::SetAdmissionReview {
                group,
                on: match on {
                    "all" => true,
                    "off" => false,
                    _ => return Err(usage()),
                },
            }
        }
        "/accept_member_contact" => {
            let (n, rest) = name(args.strip_prefix('@').unwrap_or(args))?;
            if !rest.trim().is_empty() {
                return Err(bad("usage: /accept_member_contact @name"));
            }
            Command::AcceptMemberContactNamed(n)
        }
        "/_accept" if args.starts_with("member contact ") => {
            let r = &args["member contact ".len()..];
            Command::AcceptMemberContact(
                contact_ref(r.trim())
                    .ok_or_else(|| bad("usage: /_accept member contact @<contactId>"))?,
            )
        }
        "/_set" | "/set" if args.starts_with("receipts ") => {
            let usage =
                || bad("usage: /set receipts all on|off (/_set receipts contacts 1 on|off)");
            let rest = &args["receipts ".len()..];
            let words = rest.split_whitespace().collect::<Vec<_>>();
            // `clear_overrides=on`: each chat's own setting back to the default.
            let (words, clear) = match words[..] {
                [ref head @ .., "clear_overrides=on"] => (head.to_vec(), true),
                [ref head @ .., "clear_overrides=off"] => (head.to_vec(), false),
                _ => (words, false),
            };
            let all = words.first() == Some(&"all");
            let (groups, on) = match words[..] {
                ["all", on] if word == "/set" => (false, on),
                ["contacts", uid, on] if word == "/_set" && user_id(uid) => (false, on),
                ["groups", uid, on] if word == "/_set" && user_id(uid) => (true, on),
                _ => return Err(usage()),
            };
            let on = match on {
                "on" => true,
                "off" => false,
                _ => return Err(usage()),
            };
            // `/set receipts all`: every contact, as the reference's.
            let clear = clear || all;
            if groups {
                Command::SetGroupReceipts { on, clear }
            } else {
                Command::SetReceipts { on, clear }
            }
        }
        "/_get" if args.starts_with("item info ") => {
            let usage = || bad("usage: /_get item info <chatRef> <itemId>");
            let (chat, id) = args["item info ".len()..]
                .trim()
                .split_once(' ')
                .ok_or_else(usage)?;
            Command::ApiItemInfo {
                chat: chat_id(chat).ok_or_else(usage)?,
                item_id: id.trim().parse().map_err(|_| usage())?,
            }
        }
        "/item" if args.starts_with("info ") => {
            let usage = || bad("usage: /item info @contact|#group|* <message start>");
            let rest = args["info ".len()..].trim_start();
            let (chat, prefix) = if let Some(r) = rest.strip_prefix('@') {
                let (n, p) = name(r)?;
                (ChatName::Contact(n), p)
            } else if let Some(r) = rest.strip_prefix('#') {
                let (g, p) = name(r)?;
                (ChatName::Group(g), p)
            } else if let Some(p) = rest.strip_prefix("* ") {
                (ChatName::Notes, p)
            } else {
                return Err(usage());
            };
            let prefix = prefix.trim();
            if prefix.is_empty() {
                return Err(usage());
            }
            Command::ItemInfo {
                chat,
                prefix: prefix.to_string(),
            }
        }
        "/_get" if args.starts_with("group link data ") => Command::RefreshChannelData(
            group_ref(args["group link data ".len()..].trim())
                .ok_or_else(|| bad("usage: /_get group link data #<groupId>"))?,
        ),
        "/_get" if args.starts_with("relays ") => Command::GetGroupRelays(
            group_ref(args["relays ".len()..].trim())
                .ok_or_else(|| bad("usage: /_get relays #<groupId>"))?,
        ),
        "/_public" if args.starts_with("group ") => {
            let usage = || {
                bad("usage: /_public group <userId>[ incognito=on] <relayIds> <json(groupProfile)>")
            };
            let rest = &args["group ".len()..];
            let (uid, rest) = rest.split_once(' ').ok_or_else(usage)?;
            if !user_id(uid) {
                return Err(usage());
            }
            let incognito = rest.starts_with("incognito=on ");
            let rest = rest.strip_prefix("incognito=on ").unwrap_or(rest);
            let (ids, json) = rest.split_once(' ').ok_or_else(usage)?;
            let relay_ids = id_list(ids).ok_or_else(usage)?;
            let profile = serde_json::from_str::<crate::protocol::GroupProfile>(json)
                .map_err(|e| bad(&format!("bad JSON ({e})")))?;
            Command::NewPublicGroup {
                relay_ids,
                profile,
                incognito,
            }
        }
        "/_add" if args.starts_with("relays ") => {
            let usage = || bad("usage: /_add relays #<groupId> <relayIds>");
            let (g, ids) = args["relays ".len()..].split_once(' ').ok_or_else(usage)?;
            let g = group_ref(g).ok_or_else(usage)?;
            Command::AddGroupRelays(g, id_list(ids.trim()).ok_or_else(usage)?)
        }
        "/_relay" if args.starts_with("allow ") => Command::AllowRelayGroup(
            group_ref(args["allow ".len()..].trim())
                .ok_or_else(|| bad("usage: /_relay allow #<groupId>"))?,
        ),
        "/relays" if args.is_empty() => Command::ShowChatRelays,
        "/relays" => {
            Command::SetChatRelays(crate::channels::parse_relays(args).map_err(|e| bad(&e))?)
        }
        "/show" if args.is_empty() || args == "on" || args == "off" => {
            Command::ShowLive(args != "off")
        }
        "/show" if !args.is_empty() && args.bytes().all(|b| b.is_ascii_digit()) => {
            Command::ShowItem(args.parse().map_err(|_| bad("bad item id"))?)
        }
        "/last_item_id" => {
            let (chat, rest) = if let Some(r) = args.strip_prefix('@') {
                let (n, rest) = name(r)?;
                (Some(ChatName::Contact(n)), rest)
            } else if let Some(r) = args.strip_prefix('#') {
                let (g, rest) = name(r)?;
                (Some(ChatName::Group(g)), rest)
            } else if args == "*" || args.starts_with("* ") {
                (Some(ChatName::Notes), &args[1..])
            } else {
                (None, args)
            };
            let index = match rest.trim() {
                "" => 0,
                n => n
                    .parse()
                    .map_err(|_| bad("usage: /last_item_id [chat] [N]"))?,
            };
            Command::LastItemId { chat, index }
        }
        "/smp" | "/xftp" => {
            let p = if word == "/smp" {
                crate::servers::Protocol::Smp
            } else {
                crate::servers::Protocol::Xftp
            };
            let words: Vec<&str> = args.split_whitespace().collect();
            match words[..] {
                [] => Command::ShowServers(p),
                ["test", server] => Command::TestServer(p, server.to_string()),
                ["test", ..] => return Err(bad(&format!("usage: {word} test <server>"))),
                ["default"] => Command::SetServers(p, Vec::new()),
                _ => Command::SetServers(p, words.iter().map(|s| s.to_string()).collect()),
            }
        }
        "/receipts" => {
            let usage = || bad("usage: /receipts @<name>|#<group> on|off|default");
            let (chat, value) = args.rsplit_once(' ').ok_or_else(usage)?;
            let on = match value {
                "on" => Some(true),
                "off" => Some(false),
                "default" => None,
                _ => return Err(usage()),
            };
            let chat = chat.trim();
            let (n, group) = match (chat.strip_prefix('@'), chat.strip_prefix('#')) {
                (Some(n), _) => (n, false),
                (_, Some(g)) => (g, true),
                _ => return Err(usage()),
            };
            let (name, rest) = name(n)?;
            if !rest.is_empty() {
                return Err(usage());
            }
            Command::SetChatReceipts { name, group, on }
        }
        "/_settings" => {
            let usage = || bad("usage: /_settings @<contactId>|#<groupId> <json(chatSettings)>");
            let (r, json) = args.split_once(' ').ok_or_else(usage)?;
            let (contact, group) = match (contact_ref(r), group_ref(r)) {
                (Some(c), _) => (Some(c), None),
                (_, Some(g)) => (None, Some(g)),
                _ => return Err(usage()),
            };
            let v: serde_json::Value =
                serde_json::from_str(json).map_err(|e| bad(&format!("bad JSON ({e})")))?;
            let (muted, mentions_only) = match v["enableNtfs"].as_str() {
                Some("all") => (false, false),
                Some("none") => (true, false),
                Some("mentions") if group.is_some() => (true, true),
                Some("mentions") => {
                    return Err(bad("notifications of mentions only are for groups"))
                }
                _ => {
                    return Err(bad(
                        "chatSettings: enableNtfs must be all, none or mentions",
                    ))
                }
            };
            let send_rcpts = match &v["sendRcpts"] {
                serde_json::Value::Null => None,
                serde_json::Value::Bool(b) => Some(*b),
                _ => return Err(bad("chatSettings: sendRcpts must be a boolean")),
            };
            let favorite = match &v["favorite"] {
                serde_json::Value::Bool(b) => *b,
                _ => return Err(bad("chatSettings: favorite must be a boolean")),
            };
            Command::ApiChatSettings {
                contact,
                group,
                muted,
                mentions_only,
                flags: crate::store::ChatFlags {
                    send_rcpts,
                    favorite,
                },
            }
        }
        "/_set" if args.starts_with("theme ") => {
            let usage = || {
                bad("usage: /_set theme user <userId> [json], /_set theme @<contactId>|#<groupId> [json]")
            };
            let rest = &args["theme ".len()..];
            let json = |j: &str| (!j.trim().is_empty()).then(|| j.trim().to_string());
            match rest.strip_prefix("user ") {
                Some(u) => {
                    let (id, j) = u.split_once(' ').unwrap_or((u, ""));
                    if !user_id(id) {
                        return Err(usage());
                    }
                    Command::SetUserThemes(json(j))
                }
                None => {
                    let (r, j) = rest.split_once(' ').unwrap_or((rest, ""));
                    let chat = match (contact_ref(r), group_ref(r)) {
                        (Some(c), _) if c > crate::store::NOTES => {
                            crate::tags::TaggedChat::Contact(c)
                        }
                        (_, Some(g)) => crate::tags::TaggedChat::Group(g),
                        _ => return Err(usage()),
                    };
                    Command::SetChatThemes {
                        chat,
                        json: json(j),
                    }
                }
            }
        }
        "/_set" if args.starts_with("prefs @") => {
            let rest = &args["prefs ".len()..];
            let (r, json) = rest
                .split_once(' ')
                .ok_or_else(|| bad("usage: /_set prefs @<contactId> <json(preferences)>"))?;
            let contact_id = contact_ref(r).ok_or_else(|| bad("bad chat reference"))?;
            let v: serde_json::Value =
                serde_json::from_str(json).map_err(|e| bad(&format!("bad JSON ({e})")))?;
            Command::SetContactPrefs {
                contact_id,
                prefs: crate::features::parse_preferences(&v).map_err(|e| bad(&e))?,
            }
        }
        "/set" if args.starts_with("welcome ") => {
            let a = &args["welcome ".len()..];
            let (group, text) = name(a.strip_prefix('#').unwrap_or(a))?;
            if text.trim().is_empty() {
                return Err(bad("usage: /set welcome #group text"));
            }
            Command::SetWelcome {
                group,
                text: Some(text.to_string()),
            }
        }
        "/group_descr" => {
            let (group, text) = name(args.strip_prefix('#').unwrap_or(args))?;
            Command::SetWelcome {
                group,
                text: (!text.trim().is_empty()).then(|| text.to_string()),
            }
        }
        "/gp" | "/group_profile" => {
            let (group, rest) = name(args.strip_prefix('#').unwrap_or(args))?;
            let (n, full) = name(rest).map_err(|_| bad("usage: /gp group name [full name]"))?;
            Command::RenameGroup {
                group,
                name: n,
                full_name: full.trim().to_string(),
            }
        }
        "/set" if args.contains(" #") && !args.starts_with("link role #") => {
            let (word, rest) = args.split_once(" #").unwrap_or_default();
            let feature = crate::group_prefs::feature_by_word(word).ok_or_else(|| {
                bad("usage: /set voice|files|delete|direct|links|history|reactions|reports #group on|off [role]")
            })?;
            let (group, rest) = name(rest)?;
            let mut p = rest.split_whitespace();
            let on = match p.next() {
                Some("on") => true,
                Some("off") => false,
                _ => return Err(bad("on or off")),
            };
            let role = match p.next() {
                None => None,
                Some(r) if feature.has_role => {
                    Some(parse_role(r).ok_or_else(|| bad(&format!("no role {r}")))?)
                }
                Some(_) => return Err(bad("this feature takes no role")),
            };
            if p.next().is_some() {
                return Err(bad("too many words"));
            }
            Command::SetGroupFeature {
                group,
                feature,
                on,
                role,
            }
        }
        "/_group" => match args.split_once(' ') {
            Some((uid, rest)) if user_id(uid) => {
                let (json, incognito) = match rest.strip_prefix("incognito=on ") {
                    Some(j) => (j, true),
                    None => (rest.strip_prefix("incognito=off ").unwrap_or(rest), false),
                };
                Command::ApiNewGroup {
                    profile: serde_json::from_str(json)
                        .map_err(|e| bad(&format!("bad group profile ({e})")))?,
                    incognito,
                }
            }
            _ => {
                return Err(bad(
                    "usage: /_group <userId>[ incognito=on] <json(groupProfile)>",
                ))
            }
        },
        "/_add" => {
            let p: Vec<&str> = args.split(' ').collect();
            let [g, c, role] = p[..] else {
                return Err(bad("usage: /_add #<groupId> <contactId> <role>"));
            };
            Command::ApiAddMember {
                group_id: group_ref(g).ok_or_else(|| bad("bad group reference"))?,
                contact_id: c.parse().map_err(|_| bad("bad contact id"))?,
                role: parse_role(role).ok_or_else(|| bad("bad role"))?,
            }
        }
        "/_join" => {
            Command::ApiJoinGroup(group_ref(args).ok_or_else(|| bad("usage: /_join #<groupId>"))?)
        }
        "/_leave" => {
            Command::ApiLeaveGroup(group_ref(args).ok_or_else(|| bad("usage: /_leave #<groupId>"))?)
        }
        "/_block" => {
            let p: Vec<&str> = args.split(' ').collect();
            let usage = || bad("usage: /_block #<groupId> <memberId>[,...] blocked=on|off");
            let [g, ids, b] = p[..] else {
                return Err(usage());
            };
            Command::ApiBlockMembers {
                group_id: group_ref(g).ok_or_else(usage)?,
                members: id_list(ids).ok_or_else(usage)?,
                blocked: match b {
                    "blocked=on" => true,
                    "blocked=off" => false,
                    _ => return Err(usage()),
                },
            }
        }
        "/_create" if args.starts_with("link #") => {
            let (g, role) = args["link ".len()..]
                .split_once(' ')
                .unwrap_or((&args["link ".len()..], "member"));
            Command::ApiCreateGroupLink {
                group_id: group_ref(g)
                    .ok_or_else(|| bad("usage: /_create link #<groupId> <role>"))?,
                role: parse_role(role.trim()).ok_or_else(|| bad("bad role"))?,
            }
        }
        "/_set" | "/set" if args.starts_with("link role #") => {
            let rest = &args["link role #".len()..];
            let usage = || bad("usage: /set link role #group observer|member");
            let (g, role) = rest.rsplit_once(' ').ok_or_else(usage)?;
            let role = parse_role(role.trim()).ok_or_else(usage)?;
            let group = if word == "/_set" {
                Ok(group_ref(&format!("#{g}")).ok_or_else(usage)?)
            } else {
                Err(one_group(g)?)
            };
            Command::GroupLinkRole { group, role }
        }
        "/_delete" if args.starts_with("link #") => Command::ApiDeleteGroupLink(
            group_ref(&args["link ".len()..])
                .ok_or_else(|| bad("usage: /_delete link #<groupId>"))?,
        ),
        "/_get" if args.starts_with("chat ") => {
            let usage = || {
                bad("usage: /_get chat @<contactId>|#<groupId>|*1 [before=<id>|after=<id>] count=<n>")
            };
            let mut p = args["chat ".len()..].split_whitespace();
            let r = p.next().ok_or_else(usage)?;
            let (r, scope) = support_scope(r).ok_or_else(|| bad("bad chat scope"))?;
            let (id, group) = match group_ref(r) {
                Some(g) => (g, true),
                None if scope.is_none() => (contact_ref(r).ok_or_else(usage)?, false),
                None => return Err(usage()),
            };
            let (mut count, mut before, mut after) = (None, None, None);
            for opt in p {
                let (k, v) = opt.split_once('=').ok_or_else(usage)?;
                let n: i64 = v.parse().map_err(|_| usage())?;
                match k {
                    "count" if (1..=MAX_PAGE as i64).contains(&n) => count = Some(n as usize),
                    "before" if before.is_none() && after.is_none() => before = Some(n),
                    "after" if before.is_none() && after.is_none() => after = Some(n),
                    _ => return Err(usage()),
                }
            }
            Command::GetChat {
                id,
                group,
                scope,
                count: count.ok_or_else(usage)?,
                before,
                after,
            }
        }
        "/_get" if args.starts_with("link #") => Command::ApiGetGroupLink(
            group_ref(&args["link ".len()..]).ok_or_else(|| bad("usage: /_get link #<groupId>"))?,
        ),
        "/_members" => Command::ApiListMembers(
            group_ref(args).ok_or_else(|| bad("usage: /_members #<groupId>"))?,
        ),
        "/_groups" => {
            let usage = || bad("usage: /_groups <userId>[ @<contactId>][ <search>]");
            let (uid, rest) = args.split_once(' ').unwrap_or((args, ""));
            if !user_id(uid) {
                return Err(usage());
            }
            let (contact, search) = match rest.strip_prefix('@') {
                Some(r) => {
                    let (c, s) = r.split_once(' ').unwrap_or((r, ""));
                    (Some(c.parse().map_err(|_| usage())?), s)
                }
                None => (None, rest),
            };
            let search = search.trim();
            Command::ApiListGroups {
                contact,
                search: (!search.is_empty()).then(|| search.to_string()),
            }
        }
        "/_member" => {
            let p: Vec<&str> = args.split(' ').collect();
            let ["role", g, ids, role] = p[..] else {
                return Err(bad(
                    "usage: /_member role #<groupId> <memberId>[,...] <role>",
                ));
            };
            Command::ApiMembersRole {
                group_id: group_ref(g).ok_or_else(|| bad("bad group reference"))?,
                members: id_list(ids).ok_or_else(|| bad("bad member ids"))?,
                role: parse_role(role).ok_or_else(|| bad("bad role"))?,
            }
        }
        "/_remove" => {
            let p: Vec<&str> = args.split(' ').collect();
            let (g, ids, messages) = match p[..] {
                [g, ids] | [g, ids, "messages=off"] => (g, ids, false),
                [g, ids, "messages=on"] => (g, ids, true),
                _ => {
                    return Err(bad(
                        "usage: /_remove #<groupId> <memberId>[,...][ messages=on]",
                    ))
                }
            };
            Command::ApiRemoveMembers {
                group_id: group_ref(g).ok_or_else(|| bad("bad group reference"))?,
                members: id_list(ids).ok_or_else(|| bad("bad member ids"))?,
                messages,
            }
        }
        "/_delete" if args.starts_with(':') => {
            let mut p = args[1..].split(' ');
            let id = p
                .next()
                .and_then(|i| i.parse::<u64>().ok())
                .ok_or_else(|| bad("usage: /_delete :<connId> full|entity"))?;
            match (p.next(), p.next(), p.next()) {
                (None | Some("full" | "entity"), None | Some("notify=on" | "notify=off"), None) => {
                }
                _ => return Err(bad("usage: /_delete :<connId> full|entity")),
            }
            Command::DeletePendingConnection(id)
        }
        "/_delete" if args.starts_with('#') => {
            let p: Vec<&str> = args.split(' ').collect();
            match p[..] {
                [g, "full" | "entity"] | [g, "full" | "entity", "notify=on" | "notify=off"] => {
                    Command::ApiDeleteGroup(group_ref(g).ok_or_else(|| bad("bad group reference"))?)
                }
                _ => return Err(bad("usage: /_delete #<groupId> full|entity")),
            }
        }
        "/_delete" if args.starts_with('@') => {
            let mut p = args.split(' ');
            let id = p
                .next()
                .and_then(contact_ref)
                .ok_or_else(|| bad("bad chat reference"))?;
            // No mode: full (the reference's older form, `/_delete @N [notify=off]`).
            let mode = p.next();
            let (messages_only, mut notify) = match mode {
                Some("full" | "entity") => (false, true),
                Some("messages") => (true, false),
                None | Some("notify=on") => (false, true),
                Some("notify=off") => (false, false),
                _ => return Err(bad("usage: /_delete @<contactId> full|entity|messages")),
            };
            let notify_given = mode.is_some_and(|m| m.starts_with("notify="));
            match p.next() {
                Some(_) if notify_given => {
                    return Err(bad("usage: /_delete @<contactId> [notify=off]"))
                }
                None => {}
                Some("notify=off") if !messages_only => notify = false,
                Some("notify=on") if !messages_only => {}
                Some(_) => {
                    return Err(bad("usage: /_delete @<contactId> full|entity [notify=off]"))
                }
            }
            Command::DeleteContact {
                name: None,
                id: Some(id),
                notify,
                messages_only,
            }
        }
        "/_delete" => {
            let p: Vec<&str> = args.split(' ').collect();
            // `<itemId>[,<itemId>...]`, at most MAX_DELETE_ITEMS.
            let parse_ids = |ids: &str| -> Result<Vec<i64>, CommandError> {
                let v = ids
                    .split(',')
                    .map(|i| i.parse::<i64>())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|_| bad("bad item id"))?;
                if v.len() > MAX_DELETE_ITEMS {
                    return Err(bad("too many items"));
                }
                Ok(v)
            };
            if let ["member", "item", r, ids] = p[..] {
                let group_id = group_item_ref(r)
                    .ok_or_else(|| bad("usage: /_delete member item #<groupId> <itemId>[,...]"))?;
                let item_ids = parse_ids(ids)?;
                return Ok(Command::ApiDeleteGroupItems {
                    group_id,
                    item_ids,
                    mode: DeleteMode::Broadcast,
                    moderate: true,
                });
            }
            let ["item", r, ids, mode] = p[..] else {
                return Err(bad(
                    "usage: /_delete item @<contactId> <itemId>[,<itemId>...] internal|internalMark|broadcast",
                ));
            };
            let item_ids = parse_ids(ids)?;
            let mode = match mode {
                "broadcast" => DeleteMode::Broadcast,
                "internal" => DeleteMode::Internal,
                "internalMark" => DeleteMode::InternalMark,
                _ => return Err(bad("delete mode: internal, internalMark or broadcast")),
            };
            if let Some(group_id) = group_item_ref(r) {
                return Ok(Command::ApiDeleteGroupItems {
                    group_id,
                    item_ids,
                    mode,
                    moderate: false,
                });
            }
            let contact_id = contact_ref(r).ok_or_else(|| bad("bad chat reference"))?;
            Command::DeleteItem {
                contact_id,
                item_ids,
                mode,
            }
        }
        "/ad" | "/address" if args.is_empty() => Command::CreateAddress,
        "/_address" if user_id(args) => Command::CreateAddress,
        "/sa" | "/show_address" if args.is_empty() => Command::ShowAddress,
        "/_show_address" if user_id(args) => Command::ShowAddress,
        "/_short_link_address" if user_id(args) => Command::AddAddressShortLink,
        "/reconnect" if args.is_empty() => Command::Reconnect(None),
        "/reconnect" => match args.split_once(' ') {
            Some((uid, server)) if user_id(uid) && !server.trim().is_empty() => {
                Command::Reconnect(Some(server.trim().to_string()))
            }
            _ => return Err(bad("usage: /reconnect [<userId> <smp server>]")),
        },
        "/_short" if args.starts_with("link #") => Command::AddGroupShortLink(
            group_ref(args["link ".len()..].trim())
                .ok_or_else(|| bad("usage: /_short link #<groupId>"))?,
        ),
        "/ac" | "/accept" if args.starts_with("i ") || args.starts_with("incognito ") => {
            let rest = args.split_once(' ').map_or("", |(_, r)| r);
            Command::AcceptIncognito(one_arg(rest)?)
        }
        "/ac" | "/accept" => Command::Accept(one_arg(args)?),
        "/da" | "/delete_address" if args.is_empty() => Command::DeleteAddress,
        "/_delete_address" if user_id(args) => Command::DeleteAddress,
        "/pa" | "/profile_address" | "/_profile_address" => {
            let on = if word == "/_profile_address" {
                match args.split_once(' ') {
                    Some((uid, on)) if user_id(uid) => on,
                    _ => return Err(bad("usage: /_profile_address <userId> on|off")),
                }
            } else {
                args
            };
            match on {
                "on" => Command::ProfileAddress(true),
                "off" => Command::ProfileAddress(false),
                _ => return Err(bad("usage: /pa on|off")),
            }
        }
        "/_address_settings" => {
            let (uid, json) = args
                .split_once(' ')
                .ok_or_else(|| bad("usage: /_address_settings <userId> <json>"))?;
            if !user_id(uid) {
                return Err(bad("no such user"));
            }
            Command::AddressSettings(
                serde_json::from_str(json).map_err(|e| bad(&format!("bad settings ({e})")))?,
            )
        }
        "/auto_accept" => {
            let mut words = args.splitn(2, ' ');
            match words.next() {
                Some("off") => Command::AddressSettings(AddressSettings::default()),
                Some("on") => {
                    let mut rest = words.next().unwrap_or("").trim();
                    let mut incognito = false;
                    let mut business = false;
                    if let Some(r) = rest.strip_prefix("incognito=on") {
                        incognito = true;
                        rest = r.trim();
                    } else if rest == "business" || rest.starts_with("business ") {
                        business = true;
                        rest = rest["business".len()..].trim();
                    }
                    Command::AddressSettings(AddressSettings {
                        business_address: business,
                        auto_accept: Some(AutoAccept {
                            accept_incognito: incognito,
                        }),
                        auto_reply: (!rest.is_empty())
                            .then(|| crate::protocol::MsgContent::text(rest)),
                    })
                }
                _ => {
                    return Err(bad(
                        "usage: /auto_accept on [incognito=on | business] [reply] | off",
                    ))
                }
            }
        }
        "/rc" | "/reject" => Command::Reject(one_arg(args)?),
        "/_accept" => Command::AcceptId(
            args.strip_prefix("incognito=off ")
                .unwrap_or(args)
                .parse()
                .map_err(|_| bad("usage: /_accept <contactReqId>"))?,
        ),
        "/_reject" => Command::RejectId(
            args.parse()
                .map_err(|_| bad("usage: /_reject <contactReqId>"))?,
        ),
        "/user" | "/u" if args.is_empty() => Command::ShowUser,
        "/users" if args.is_empty() => Command::ListUsers,
        "/v" | "/version" if args.is_empty() => Command::Version,
        "/_start" => Command::StartChat,
        "/_check" if args == "running" => Command::CheckRunning,
        "/_stop" if args.is_empty() => Command::StopChat,
        "/_contacts" if user_id(args) => Command::Contacts,
        "/_profile" => {
            let (uid, json) = args
                .split_once(' ')
                .ok_or_else(|| bad("usage: /_profile <userId> <json(profile)>"))?;
            if !user_id(uid) {
                return Err(bad("no such user"));
            }
            Command::SetProfileJson(
                serde_json::from_str(json).map_err(|e| bad(&format!("bad profile ({e})")))?,
            )
        }
        "/_set" if args.starts_with("incognito :") => {
            let usage = || bad("usage: /_set incognito :<connId> on|off");
            let (conn, on) = args["incognito :".len()..]
                .split_once(' ')
                .ok_or_else(usage)?;
            let on = match on.trim() {
                "on" => true,
                "off" => false,
                _ => return Err(usage()),
            };
            Command::SetConnectionIncognito {
                conn: conn.parse().map_err(|_| usage())?,
                on,
            }
        }
        "/_set"
            if args.starts_with("conn user :")
                || args.starts_with("contact user @")
                || args.starts_with("group user #") =>
        {
            let usage = || {
                bad(
                    "usage: /_set conn user :<connId> <userId>, /_set contact user @<contactId> \
                     <userId>, /_set group user #<groupId> <userId>",
                )
            };
            let (kind, rest) = args.split_once(" user ").ok_or_else(usage)?;
            let (r, user) = rest.split_once(' ').ok_or_else(usage)?;
            let id = |prefix: char| -> Result<i64, CommandError> {
                r.strip_prefix(prefix)
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(usage)
            };
            let what = match kind {
                "conn" => crate::moves::Movable::Connection(id(':')? as u64),
                "contact" => crate::moves::Movable::Contact(id('@')?),
                _ => crate::moves::Movable::Group(id('#')?),
            };
            Command::ChangeUser {
                what,
                user_id: user.trim().parse().map_err(|_| usage())?,
            }
        }
        "/_set"
            if args.starts_with("alias @")
                || args.starts_with("alias #")
                || args.starts_with("alias :") =>
        {
            let rest = &args["alias ".len()..];
            let (r, alias) = rest.split_once(' ').unwrap_or((rest, ""));
            let alias = alias.trim();
            if alias.len() > MAX_ALIAS || alias.chars().any(char::is_control) {
                return Err(bad("an alias is one line of at most 1 KiB"));
            }
            let alias = alias.to_string();
            if let Some(group_id) = group_ref(r) {
                return Ok(Command::SetGroupAlias { group_id, alias });
            }
            if let Some(conn) = r.strip_prefix(':').and_then(|n| n.parse().ok()) {
                return Ok(Command::SetConnectionAlias { conn, alias });
            }
            let contact_id = contact_ref(r).ok_or_else(|| {
                bad("usage: /_set alias @<contactId>|#<groupId>|:<connId> [alias]")
            })?;
            Command::SetContactAlias { contact_id, alias }
        }
        "/_set" if args.starts_with("custom @") || args.starts_with("custom #") => {
            let rest = &args["custom ".len()..];
            let (r, json) = rest.split_once(' ').unwrap_or((rest, ""));
            let data = if json.trim().is_empty() {
                None
            } else {
                if json.len() > MAX_CUSTOM_DATA {
                    return Err(bad("custom data over 64 KiB"));
                }
                let v: serde_json::Value =
                    serde_json::from_str(json).map_err(|e| bad(&format!("bad JSON ({e})")))?;
                if !v.is_object() {
                    return Err(bad("custom data is a JSON object"));
                }
                Some(v)
            };
            if let Some(group_id) = group_ref(r) {
                return Ok(Command::SetGroupCustomData { group_id, data });
            }
            let contact_id = contact_ref(r).ok_or_else(|| bad("bad chat reference"))?;
            Command::SetCustomData { contact_id, data }
        }
        "/_forward" => {
            let p: Vec<&str> = args.split(' ').collect();
            let usage = || {
                bad("usage: /_forward <toChatRef> <fromChatRef> <itemId>[,<itemId>...] [ttl=<seconds>]")
            };
            let (to, from, ids, ttl) = match p[..] {
                [to, from, ids] => (to, from, ids, None),
                [to, from, ids, ttl] => (to, from, ids, Some(ttl)),
                _ => return Err(usage()),
            };
            let ttl = match ttl {
                None => None,
                Some(t) => Some(
                    t.strip_prefix("ttl=")
                        .and_then(|t| t.parse::<i64>().ok())
                        .filter(|t| (1..=MAX_TTL).contains(t))
                        .ok_or_else(usage)?,
                ),
            };
            Command::ApiForward {
                to: chat_id(to).ok_or_else(usage)?,
                from: chat_id(from).ok_or_else(usage)?,
                item_ids: id_list(ids).ok_or_else(usage)?,
                ttl,
            }
        }
        "/_user" => {
            let usage = || bad("usage: /_user <userId> [<json(password)>]");
            let (id, pwd) = args.split_once(' ').unwrap_or((args, ""));
            let id = id.parse::<i64>().map_err(|_| usage())?;
            let password = match pwd.trim() {
                "" => None,
                p => Some(json_password(p).ok_or_else(usage)?),
            };
            Command::SetActiveUser(UserRef::Id(id), password)
        }
        "/_get" => {
            let mut p = args.split(' ');
            let (Some("chats"), Some(uid)) = (p.next(), p.next()) else {
                return Err(bad(
                    "usage: /_get chats <userId> [pcc=on] count=<n> <query>",
                ));
            };
            if !user_id(uid) {
                return Err(bad("no such user"));
            }
            let count = p
                .find_map(|w| w.strip_prefix("count="))
                .and_then(|c| c.parse::<usize>().ok())
                .ok_or_else(|| bad("usage: /_get chats <userId> [pcc=on] count=<n> <query>"))?;
            Command::GetChats { count }
        }
        "/p" | "/profile" if args.is_empty() => Command::ShowProfile,
        "/p" | "/profile" => {
            let (display_name, full) = name(args)?;
            Command::SetProfile {
                display_name,
                full_name: full.trim().to_string(),
            }
        }
        "/contacts" | "/cs" if args.is_empty() => Command::Contacts,
        "/chats" if args.is_empty() => Command::Chats,
        "/?" | "/search" if !args.is_empty() => Command::Search(args.to_string()),
        "/_read" => match args.split_once(' ') {
            Some(("chat", r)) if r.starts_with('#') => {
                Command::ReadGroupChat(group_ref(r).ok_or_else(|| bad("bad chat reference"))?)
            }
            Some(("chat", r)) => {
                Command::ReadChat(contact_ref(r).ok_or_else(|| bad("bad chat reference"))?)
            }
            _ => return Err(bad("usage: /_read chat <chat>")),
        },
        "/_unread" => {
            let p: Vec<&str> = args.split(' ').collect();
            let ["chat", r, on] = p[..] else {
                return Err(bad("usage: /_unread chat <chat> on|off"));
            };
            let id = contact_ref(r).ok_or_else(|| bad("bad chat reference"))?;
            match on {
                "on" => Command::UnreadChat(id, true),
                "off" => Command::UnreadChat(id, false),
                _ => return Err(bad("usage: /_unread chat <chat> on|off")),
            }
        }
        "/clear" if args == "*" => Command::ClearChat(None),
        "/clear" => Command::ClearChat(Some(one_arg(args)?)),
        "/t" | "/tail" if args.starts_with('#') => {
            let (group, rest) = name(&args[1..])?;
            let count = match rest.trim() {
                "" => 10,
                n => n.parse().map_err(|_| bad("bad count"))?,
            };
            Command::TailGroup { group, count }
        }
        "/t" | "/tail" => {
            let mut contact = None;
            let mut count = 10;
            let mut rest = args;
            if let Some(r) = rest.strip_prefix('*') {
                contact = Some("*".to_string());
                rest = r.trim();
            } else if let Some(r) = rest.strip_prefix('@') {
                let (n, after) = name(r)?;
                contact = Some(n);
                rest = after.trim();
            }
            if !rest.is_empty() {
                count = rest.parse().map_err(|_| bad("bad count"))?;
            }
            Command::Tail { contact, count }
        }
        "/f" | "/file" | "/img" | "/image" if args.starts_with('#') => {
            let (group, path) = name(&args[1..])?;
            if path.trim().is_empty() {
                return Err(bad("no file"));
            }
            Command::SendGroupFile {
                group,
                path: path.trim().to_string(),
                image: word.starts_with("/i"),
            }
        }
        "/f" | "/file" | "/img" | "/image" => {
            let a = args
                .strip_prefix('@')
                .ok_or_else(|| bad("usage: /f @name path"))?;
            let (to, path) = name(a)?;
            if path.trim().is_empty() {
                return Err(bad("no file"));
            }
            let path = path.trim().to_string();
            if word.starts_with("/i") {
                Command::SendImage { to, path }
            } else {
                Command::SendFile { to, path }
            }
        }
        "/ff" | "/fforward" | "/imgf" | "/image_forward" => {
            let usage = || bad("usage: /ff @name|#group <file number>");
            let (to, n) = if let Some(r) = args.strip_prefix('@') {
                let (n, rest) = name(r)?;
                (ChatName::Contact(n), rest)
            } else if let Some(r) = args.strip_prefix('#') {
                let (g, rest) = name(r)?;
                (ChatName::Group(g), rest)
            } else {
                return Err(usage());
            };
            Command::ForwardFile {
                to,
                file_id: n.trim().parse().map_err(|_| usage())?,
                image: word.starts_with("/im"),
            }
        }
        "/_set_file_to_receive" => {
            let usage =
                || bad("usage: /_set_file_to_receive <fileId> [approved_relays=on] [encrypt=off]");
            let mut words = args.split_whitespace();
            let file_id = words
                .next()
                .and_then(|n| n.parse().ok())
                .ok_or_else(usage)?;
            for w in words {
                match w {
                    "approved_relays=on" | "approved_relays=off" | "encrypt=off" => {}
                    "encrypt=on" => {
                        return Err(bad("encrypt=on: files encrypted on disk are not supported"))
                    }
                    _ => return Err(usage()),
                }
            }
            Command::SetFileToReceive(file_id)
        }
        "/fr" | "/freceive" => {
            let (n, mut path) = args.split_once(' ').unwrap_or((args, ""));
            let file_id = n.parse().map_err(|_| bad("usage: /fr N [path]"))?;
            // The API's options before the path: relays are not approved one by one here,
            // and a file is never inline; a file encrypted on disk is not supported.
            loop {
                path = path.trim_start();
                let Some((opt, rest)) = [
                    "approved_relays=on",
                    "encrypt=off",
                    "inline=on",
                    "inline=off",
                ]
                .iter()
                .find_map(|o| path.strip_prefix(o).map(|r| (*o, r)))
                .or_else(|| path.strip_prefix("encrypt=on").map(|r| ("encrypt=on", r))) else {
                    break;
                };
                if !(rest.is_empty() || rest.starts_with(' ')) {
                    break;
                }
                if opt == "encrypt=on" {
                    return Err(bad("encrypt=on: files encrypted on disk are not supported"));
                }
                path = rest;
            }
            let path = path.trim();
            Command::ReceiveFile {
                file_id,
                path: (!path.is_empty()).then(|| path.to_string()),
            }
        }
        "/fc" | "/fcancel" => Command::CancelFile(args.parse().map_err(|_| bad("usage: /fc N"))?),
        "/fs" | "/fstatus" => Command::FileStatus(args.parse().map_err(|_| bad("usage: /fs N"))?),
        "/q" | "/quit" if args.is_empty() => Command::Quit,
        _ => return Err(bad("invalid chat command")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_receive_options_and_forwarding() {
        assert_eq!(
            parse("/freceive 3 approved_relays=on inline=off /tmp/got"),
            Ok(Command::ReceiveFile {
                file_id: 3,
                path: Some("/tmp/got".into())
            })
        );
        assert_eq!(
            parse("/freceive 3 encrypt=off"),
            Ok(Command::ReceiveFile {
                file_id: 3,
                path: None
            })
        );
        // A path that only starts like an option is a path.
        assert_eq!(
            parse("/fr 3 inline=onward.txt"),
            Ok(Command::ReceiveFile {
                file_id: 3,
                path: Some("inline=onward.txt".into())
            })
        );
        assert!(parse("/freceive 3 encrypt=on").is_err());
        assert_eq!(
            parse("@bob <- @cath hi there"),
            Ok(Command::Forward {
                to: ChatName::Contact("bob".into()),
                from: ChatName::Contact("cath".into()),
                member: None,
                prefix: "hi there".into()
            })
        );
        assert_eq!(
            parse("#team <- #club @'John Doe' hi"),
            Ok(Command::Forward {
                to: ChatName::Group("team".into()),
                from: ChatName::Group("club".into()),
                member: Some("John Doe".into()),
                prefix: "hi".into()
            })
        );
        assert_eq!(
            parse("* <- * hi"),
            Ok(Command::Forward {
                to: ChatName::Notes,
                from: ChatName::Notes,
                member: None,
                prefix: "hi".into()
            })
        );
        assert_eq!(
            parse("/_forward #1 *1 8,9 ttl=30"),
            Ok(Command::ApiForward {
                to: ChatId::Group(1),
                from: ChatId::Contact(crate::store::NOTES),
                item_ids: vec![8, 9],
                ttl: Some(30)
            })
        );
        for bad in [
            "@bob <- @cath",
            "@bob <- cath hi",
            "* <- @cath ",
            "/_forward @3 @2",
            "/_forward @3 bob 8",
            "/_forward @3 @2 8 ttl=0",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(matches!(parse("@bob <-> hi"), Ok(Command::SendText { .. })));
        assert_eq!(
            parse("/switch @'John Doe'"),
            Ok(Command::SwitchContact(ContactName::Name("John Doe".into())))
        );
        assert_eq!(
            parse("/_switch @2"),
            Ok(Command::SwitchContact(ContactName::Id(2)))
        );
        assert_eq!(
            parse("/switch #team bob"),
            Ok(Command::SwitchMember {
                group: ContactName::Name("team".into()),
                member: ContactName::Name("bob".into())
            })
        );
        assert_eq!(
            parse("/_switch #1 3"),
            Ok(Command::SwitchMember {
                group: ContactName::Id(1),
                member: ContactName::Id(3)
            })
        );
        assert_eq!(
            parse("/sync bob force=on"),
            Ok(Command::SyncContact {
                who: ContactName::Name("bob".into()),
                force: true
            })
        );
        assert_eq!(
            parse("/_sync @2"),
            Ok(Command::SyncContact {
                who: ContactName::Id(2),
                force: false
            })
        );
        assert_eq!(
            parse("/sync #team 'John Doe'"),
            Ok(Command::SyncMember {
                group: ContactName::Name("team".into()),
                member: ContactName::Name("John Doe".into()),
                force: false
            })
        );
        assert_eq!(
            parse("/enable bob"),
            Ok(Command::EnableContact(ContactName::Name("bob".into())))
        );
        assert_eq!(
            parse("/enable @'John Doe'"),
            Ok(Command::EnableContact(ContactName::Name("John Doe".into())))
        );
        assert_eq!(
            parse("/_enable @2"),
            Ok(Command::EnableContact(ContactName::Id(2)))
        );
        assert_eq!(
            parse("/enable #team bob"),
            Ok(Command::EnableMember {
                group: ContactName::Name("team".into()),
                member: ContactName::Name("bob".into()),
            })
        );
        assert_eq!(
            parse("/_enable #1 3"),
            Ok(Command::EnableMember {
                group: ContactName::Id(1),
                member: ContactName::Id(3),
            })
        );
        for bad in [
            "/_enable bob",
            "/_enable #1",
            "/enable",
            "/_enable #1 x",
            "/enable #team",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse("/_sync #1 3 force=on"),
            Ok(Command::SyncMember {
                group: ContactName::Id(1),
                member: ContactName::Id(3),
                force: true
            })
        );
        for bad in [
            "/_sync bob",
            "/_sync #1",
            "/sync",
            "/_switch 2",
            "/_switch #1 x",
            "/switch #team",
            "/switch bob extra",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        for (line, allow, ttl) in [
            ("/set disappear @bob yes", Some("yes"), None),
            ("/set disappear @bob yes 5min", Some("yes"), Some(300)),
            ("/set disappear @bob yes day", Some("yes"), Some(86400)),
            ("/set disappear @bob yes 8h", Some("yes"), Some(8 * 3600)),
            ("/set disappear @bob no", Some("no"), None),
            ("/set disappear @bob", None, None),
        ] {
            assert_eq!(
                parse(line),
                Ok(Command::SetContactFeature {
                    name: "bob".into(),
                    feature: "timedMessages",
                    allow: allow.map(str::to_string),
                    ttl
                }),
                "{line}"
            );
        }
        for bad in [
            "/set disappear @bob yes 0s",
            "/set disappear @bob yes forever",
            "/set disappear @bob no 30s",
            "/set voice @bob yes 30s",
            "/set disappear @bob yes 30s extra",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(parse("/cs"), Ok(Command::Contacts));
        assert_eq!(parse("/u"), Ok(Command::ShowUser));
    }

    #[test]
    fn commands_parse_as_typed() {
        assert_eq!(parse("/c"), Ok(Command::CreateInvitation));
        assert_eq!(parse("/_connect 1"), Ok(Command::CreateInvitation));
        assert_eq!(
            parse("/c https://simplex.chat/invitation#/?v=2"),
            Ok(Command::Connect(
                "https://simplex.chat/invitation#/?v=2".into()
            ))
        );
        assert_eq!(
            parse("/_connect 1 simplex:/contact#/?v=2"),
            Ok(Command::ApiConnect("simplex:/contact#/?v=2".into()))
        );
        assert_eq!(
            parse("/_delete :7 full"),
            Ok(Command::DeletePendingConnection(7))
        );
        assert_eq!(
            parse("/_delete :7"),
            Ok(Command::DeletePendingConnection(7))
        );
        assert!(parse("/_delete :x full").is_err());
        assert!(parse("/_delete :7 messages").is_err());
        assert_eq!(
            parse("@bob hello there 🙂"),
            Ok(Command::SendText {
                to: "bob".into(),
                text: "hello there 🙂".into()
            })
        );
        assert_eq!(
            parse("@'John Doe' hi"),
            Ok(Command::SendText {
                to: "John Doe".into(),
                text: "hi".into()
            })
        );
        assert_eq!(parse("/ac bob"), Ok(Command::Accept("bob".into())));
        assert_eq!(parse("/rc @cath"), Ok(Command::Reject("cath".into())));
        assert_eq!(
            parse("/p alice Alice Smith"),
            Ok(Command::SetProfile {
                display_name: "alice".into(),
                full_name: "Alice Smith".into()
            })
        );
        assert_eq!(
            parse("/tail @bob 3"),
            Ok(Command::Tail {
                contact: Some("bob".into()),
                count: 3
            })
        );
        assert_eq!(
            parse("> @alice (hello) all good - you?"),
            Ok(Command::SendQuote {
                to: "alice".into(),
                prefix: "hello".into(),
                own: false,
                text: "all good - you?".into()
            })
        );
        assert_eq!(
            parse(">> @alice (all good) will tell more"),
            Ok(Command::SendQuote {
                to: "alice".into(),
                prefix: "all good".into(),
                own: true,
                text: "will tell more".into()
            })
        );
        assert_eq!(
            parse("/_update item @2 8 text hey 👋"),
            Ok(Command::UpdateItem {
                contact_id: 2,
                item_id: 8,
                text: "hey 👋".into(),
                live: false
            })
        );
        assert_eq!(
            parse("/_update item @2 8 live=on text hey"),
            Ok(Command::UpdateItem {
                contact_id: 2,
                item_id: 8,
                text: "hey".into(),
                live: true
            })
        );
        assert_eq!(
            parse("/live @'John Doe' hi there"),
            Ok(Command::SendLive {
                to: "John Doe".into(),
                group: false,
                text: "hi there".into()
            })
        );
        assert_eq!(
            parse("/live #team"),
            Ok(Command::SendLive {
                to: "team".into(),
                group: true,
                text: String::new()
            })
        );
        assert!(parse("/live bob").is_err());
        // A text with options keeps them.
        assert_eq!(
            parse("/_send @2 ttl=1 text hello!"),
            Ok(Command::ApiSendJson {
                chat_id: 2,
                ttl: Some(1),
                live: false,
                messages: vec![Composed {
                    file: None,
                    quoted_item_id: None,
                    content: crate::protocol::MsgContent::text("hello!"),
                    mentions: Default::default(),
                }]
            })
        );
        assert!(matches!(
            parse("/_send @2 live=off ttl=default text hi"),
            Ok(Command::ApiSend { contact_id: 2, .. })
        ));
        assert_eq!(
            parse("/_delete item @2 9 broadcast"),
            Ok(Command::DeleteItem {
                contact_id: 2,
                item_ids: vec![9],
                mode: DeleteMode::Broadcast
            })
        );
        assert_eq!(
            parse("/_delete item @2 9,10 internalMark"),
            Ok(Command::DeleteItem {
                contact_id: 2,
                item_ids: vec![9, 10],
                mode: DeleteMode::InternalMark
            })
        );
        // The bot API's forms, as the Python library renders them (spaces after ':' and ',').
        assert_eq!(
            parse(
                r#"/_send @2 json [{"msgContent": {"type": "text", "text": "hello"}, "mentions": {}}]"#
            ),
            Ok(Command::ApiSendJson {
                chat_id: 2,
                ttl: None,
                live: false,
                messages: vec![Composed {
                    file: None,
                    quoted_item_id: None,
                    content: crate::protocol::MsgContent::text("hello"),
                    mentions: Default::default(),
                }]
            })
        );
        assert_eq!(
            parse(
                r#"/_send @2 live=on ttl=60 json [{"fileSource":{"filePath":"/tmp/a b.txt"},"quotedItemId":5,"msgContent":{"type":"file","text":""}}]"#
            ),
            Ok(Command::ApiSendJson {
                chat_id: 2,
                ttl: Some(60),
                live: true,
                messages: vec![Composed {
                    file: Some("/tmp/a b.txt".into()),
                    quoted_item_id: Some(5),
                    content: crate::protocol::MsgContent::File {
                        text: String::new()
                    },
                    mentions: Default::default(),
                }]
            })
        );
        assert_eq!(
            parse(
                r#"/_update item @2 8 json {"msgContent":{"type":"text","text":"hey"},"mentions":{}}"#
            ),
            Ok(Command::UpdateItem {
                contact_id: 2,
                item_id: 8,
                text: "hey".into(),
                live: false
            })
        );
        assert_eq!(
            parse("/d @'John Doe'"),
            Ok(Command::DeleteContact {
                name: Some("John Doe".into()),
                id: None,
                notify: true,
                messages_only: false
            })
        );
        assert_eq!(
            parse("/_delete @3 full notify=off"),
            Ok(Command::DeleteContact {
                name: None,
                id: Some(3),
                notify: false,
                messages_only: false
            })
        );
        for (line, notify) in [
            ("/_delete @3", true),
            ("/_delete @3 notify=off", false),
            ("/_delete @3 notify=on", true),
        ] {
            assert_eq!(
                parse(line),
                Ok(Command::DeleteContact {
                    name: None,
                    id: Some(3),
                    notify,
                    messages_only: false
                }),
                "{line}"
            );
        }
        assert!(parse("/_delete @3 notify=off full").is_err());
        assert_eq!(
            parse("/_delete @3 messages"),
            Ok(Command::DeleteContact {
                name: None,
                id: Some(3),
                notify: false,
                messages_only: true
            })
        );
        assert_eq!(
            parse("/_connect plan 1 https://simplex.chat/contact#/?v=2"),
            Ok(Command::ConnectPlan(
                "https://simplex.chat/contact#/?v=2".into()
            ))
        );
        assert_eq!(parse("/c i"), Ok(Command::CreateInvitationIncognito));
        assert_eq!(
            parse("/_connect 1 incognito=on"),
            Ok(Command::CreateInvitationIncognito)
        );
        assert_eq!(
            parse("/connect incognito https://simplex.chat/invitation#/?v=2"),
            Ok(Command::ConnectIncognito(
                "https://simplex.chat/invitation#/?v=2".into()
            ))
        );
        assert_eq!(
            parse("+1 @bob hello"),
            Ok(Command::ReactLatest {
                to: "bob".into(),
                prefix: "hello".into(),
                add: true,
                emoji: "👍".into()
            })
        );
        assert_eq!(
            parse("-🚀 @'John Doe' hi"),
            Ok(Command::ReactLatest {
                to: "John Doe".into(),
                prefix: "hi".into(),
                add: false,
                emoji: "🚀".into()
            })
        );
        assert_eq!(
            parse(r#"/_reaction @2 8 on {"type": "emoji", "emoji": "👍"}"#),
            Ok(Command::Reaction {
                contact_id: 2,
                item_id: 8,
                add: true,
                reaction: serde_json::json!({"type": "emoji", "emoji": "👍"})
            })
        );
        assert_eq!(
            parse("/help files"),
            Ok(Command::Help(Some("files".into())))
        );
        assert_eq!(parse("/?"), Ok(Command::Help(None)));
        assert_eq!(parse("/hf"), Ok(Command::Help(Some("files".into()))));
        assert_eq!(parse("/hd"), Ok(Command::Help(Some("db".into()))));
        assert_eq!(parse("/m"), Ok(Command::Help(Some("markdown".into()))));
        assert_eq!(
            parse("/markdown"),
            Ok(Command::Help(Some("markdown".into())))
        );
        assert_eq!(parse("/w"), Ok(Command::Help(Some("welcome".into()))));
        assert_eq!(
            parse("/show welcome #team"),
            Ok(Command::ShowWelcome("team".into()))
        );
        assert_eq!(
            parse("/feed hello all"),
            Ok(Command::Feed("hello all".into()))
        );
        assert!(parse("/feed").is_err());
        assert_eq!(
            parse("/simplex i"),
            Ok(Command::ConnectSimplex { incognito: true })
        );
        assert_eq!(
            parse("/item info @'John Doe' hi there"),
            Ok(Command::ItemInfo {
                chat: ChatName::Contact("John Doe".into()),
                prefix: "hi there".into(),
            })
        );
        assert_eq!(
            parse("/_get item info #1 12"),
            Ok(Command::ApiItemInfo {
                chat: ChatId::Group(1),
                item_id: 12,
            })
        );
        assert!(parse("/item info @bob").is_err());
        assert_eq!(parse("/show"), Ok(Command::ShowLive(true)));
        match parse("/public group relays=1,2 #news Daily News") {
            Ok(Command::NewPublicGroup {
                relay_ids,
                profile,
                incognito: false,
            }) => {
                assert_eq!(relay_ids, [1, 2]);
                assert_eq!(profile.display_name, "news");
                assert_eq!(profile.full_name, "Daily News");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse("/pg i relays=3 #news"),
            Ok(Command::NewPublicGroup {
                incognito: true,
                ..
            })
        ));
        assert!(parse("/pg #news").is_err());
        assert_eq!(parse("/_check running"), Ok(Command::CheckRunning));
        assert_eq!(
            parse("/_set alias @2 Bobby T"),
            Ok(Command::SetContactAlias {
                contact_id: 2,
                alias: "Bobby T".into()
            })
        );
        assert_eq!(
            parse("/_set alias @2"),
            Ok(Command::SetContactAlias {
                contact_id: 2,
                alias: String::new()
            })
        );
        assert!(parse(&format!("/_set alias @2 {}", "x".repeat(1025))).is_err());
        assert_eq!(
            parse("/_set alias :7 the shop"),
            Ok(Command::SetConnectionAlias {
                conn: 7,
                alias: "the shop".into()
            })
        );
        assert!(parse("/_set alias :x the shop").is_err());
        use crate::tags::{TagChange, TagData, TaggedChat};
        assert_eq!(
            parse(r#"/_create tag {"text": " work ", "emoji": "💼"}"#),
            Ok(Command::CreateChatTag(TagData {
                text: "work".into(),
                emoji: Some("💼".into())
            }))
        );
        assert_eq!(
            parse(r#"/_update tag 2 {"text": "job"}"#),
            Ok(Command::ChangeChatTag(TagChange::Update(
                2,
                TagData {
                    text: "job".into(),
                    emoji: None
                }
            )))
        );
        assert_eq!(
            parse("/_tags @3 1,2"),
            Ok(Command::SetChatTags {
                chat: TaggedChat::Contact(3),
                ids: vec![1, 2]
            })
        );
        assert_eq!(
            parse("/_tags #4"),
            Ok(Command::SetChatTags {
                chat: TaggedChat::Group(4),
                ids: vec![]
            })
        );
        assert_eq!(
            parse("/_reorder tags 2,1"),
            Ok(Command::ChangeChatTag(TagChange::Reorder(vec![2, 1])))
        );
        assert_eq!(
            parse("/_delete tag 2"),
            Ok(Command::ChangeChatTag(TagChange::Delete(2)))
        );
        assert_eq!(parse("/_get tags 1"), Ok(Command::GetChatTags));
        assert_eq!(
            parse(r#"/_save app settings {"networkConfig": null, "uiTheme": "dark"}"#),
            Ok(Command::SaveAppSettings(
                serde_json::json!({"networkConfig": null, "uiTheme": "dark"})
            ))
        );
        assert_eq!(
            parse("/_get app settings"),
            Ok(Command::GetAppSettings(None))
        );
        assert_eq!(
            parse(r#"/_get app settings {"uiTheme": "light"}"#),
            Ok(Command::GetAppSettings(Some(
                serde_json::json!({"uiTheme": "light"})
            )))
        );
        for bad in [
            "/_save app settings",
            "/_save app settings [1]",
            "/_get app settings 1",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        use crate::archive::ArchiveConfig;
        let config = |p: &str, off: Option<bool>| ArchiveConfig {
            archive_path: p.into(),
            disable_compression: off,
            parent_temp_directory: None,
        };
        assert_eq!(parse("/db export"), Ok(Command::DbExport(None)));
        assert_eq!(parse("/_db delete"), Ok(Command::DbDelete));
        assert!(parse("/_db delete all").is_err());
        assert_eq!(
            parse(r#"/_db export {"archivePath": "/tmp/a.zip", "disableCompression": true}"#),
            Ok(Command::DbExport(Some(config("/tmp/a.zip", Some(true)))))
        );
        assert_eq!(
            parse(r#"/_db import {"archivePath": "a.zip"}"#),
            Ok(Command::DbImport(config("a.zip", None)))
        );
        for bad in [
            r#"/_db import {"archivePath": ""}"#,
            "/_db import a.zip",
            "/_db export",
            "/db export now",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        for bad in [
            r#"/_create tag {"text": ""}"#,
            r#"/_create tag {"text": "a\nb"}"#,
            "/_create tag text",
            "/_tags @1 1",
            "/_tags bob 1",
            "/_tags @3 1,x",
            "/_reorder tags",
            "/_delete tag x",
            "/_get tags x",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse("/_set incognito :3 on"),
            Ok(Command::SetConnectionIncognito { conn: 3, on: true })
        );
        assert_eq!(
            parse("/_set incognito :3 off"),
            Ok(Command::SetConnectionIncognito { conn: 3, on: false })
        );
        for bad in [
            "/_set incognito :3",
            "/_set incognito :x on",
            "/_set incognito :3 yes",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        use crate::moves::Movable;
        for (line, what) in [
            ("/_set conn user :3 2", Movable::Connection(3)),
            ("/_set contact user @4 2", Movable::Contact(4)),
            ("/_set group user #5 2", Movable::Group(5)),
        ] {
            assert_eq!(
                parse(line),
                Ok(Command::ChangeUser { what, user_id: 2 }),
                "{line}"
            );
        }
        for bad in [
            "/_set conn user :3",
            "/_set conn user @3 2",
            "/_set contact user #3 2",
            "/_set group user #x 2",
            "/_set group user #3 two",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse("/_short_link_address 1"),
            Ok(Command::AddAddressShortLink)
        );
        assert_eq!(parse("/_short link #3"), Ok(Command::AddGroupShortLink(3)));
        assert!(parse("/_short link 3").is_err());
        assert_eq!(parse("/reconnect"), Ok(Command::Reconnect(None)));
        assert_eq!(
            parse("/_set_file_to_receive 3 approved_relays=on"),
            Ok(Command::SetFileToReceive(3))
        );
        assert!(parse("/_set_file_to_receive 3 encrypt=on").is_err());
        assert!(parse("/_set_file_to_receive x").is_err());
        assert_eq!(
            parse("/reconnect 1 smp://a@b"),
            Ok(Command::Reconnect(Some("smp://a@b".into())))
        );
        assert!(parse("/reconnect smp://a@b").is_err());
        assert_eq!(
            parse("/_set alias #1 Weekly"),
            Ok(Command::SetGroupAlias {
                group_id: 1,
                alias: "Weekly".into()
            })
        );
        assert_eq!(
            parse("/accept_member_contact @bob"),
            Ok(Command::AcceptMemberContactNamed("bob".into()))
        );
        assert_eq!(
            parse("/delete welcome #team"),
            Ok(Command::SetWelcome {
                group: "team".into(),
                text: None
            })
        );
        assert_eq!(
            parse("/group_descr #team hello all"),
            Ok(Command::SetWelcome {
                group: "team".into(),
                text: Some("hello all".into())
            })
        );
        assert_eq!(
            parse("/group_descr #team"),
            Ok(Command::SetWelcome {
                group: "team".into(),
                text: None
            })
        );
        assert_eq!(parse("/show 12"), Ok(Command::ShowItem(12)));
        assert_eq!(
            parse("/last_item_id #team 2"),
            Ok(Command::LastItemId {
                chat: Some(ChatName::Group("team".into())),
                index: 2
            })
        );
        assert_eq!(
            parse("/last_item_id"),
            Ok(Command::LastItemId {
                chat: None,
                index: 0
            })
        );
        assert_eq!(
            parse("/imgf @bob 3"),
            Ok(Command::ForwardFile {
                to: ChatName::Contact("bob".into()),
                file_id: 3,
                image: true
            })
        );
        assert_eq!(parse("/accept bob"), Ok(Command::Accept("bob".into())));
        assert_eq!(
            parse("/img @bob ./cat.png"),
            Ok(Command::SendImage {
                to: "bob".into(),
                path: "./cat.png".into()
            })
        );
        assert_eq!(parse("/da"), Ok(Command::DeleteAddress));
        assert_eq!(parse("/_delete_address 1"), Ok(Command::DeleteAddress));
        assert_eq!(parse("/pa on"), Ok(Command::ProfileAddress(true)));
        assert_eq!(
            parse("/_profile_address 1 off"),
            Ok(Command::ProfileAddress(false))
        );
        assert_eq!(
            parse("/ac i bob"),
            Ok(Command::AcceptIncognito("bob".into()))
        );
        assert_eq!(
            parse("/auto_accept on incognito=on Hello there"),
            Ok(Command::AddressSettings(AddressSettings {
                business_address: false,
                auto_accept: Some(AutoAccept {
                    accept_incognito: true
                }),
                auto_reply: Some(crate::protocol::MsgContent::text("Hello there")),
            }))
        );
        assert_eq!(
            parse("/auto_accept on business Welcome!"),
            Ok(Command::AddressSettings(AddressSettings {
                business_address: true,
                auto_accept: Some(AutoAccept::default()),
                auto_reply: Some(crate::protocol::MsgContent::text("Welcome!")),
            }))
        );
        assert_eq!(
            parse("/auto_accept on businessman"),
            Ok(Command::AddressSettings(AddressSettings {
                business_address: false,
                auto_accept: Some(AutoAccept::default()),
                auto_reply: Some(crate::protocol::MsgContent::text("businessman")),
            }))
        );
        assert_eq!(
            parse(
                r#"/_address_settings 1 {"businessAddress": false, "autoAccept": {"acceptIncognito": false}, "autoReply": {"type": "text", "text": "Hello"}}"#
            ),
            Ok(Command::AddressSettings(AddressSettings {
                business_address: false,
                auto_accept: Some(AutoAccept::default()),
                auto_reply: Some(crate::protocol::MsgContent::text("Hello")),
            }))
        );
        assert_eq!(
            parse(r#"/_set custom @2 {"k": "v"}"#),
            Ok(Command::SetCustomData {
                contact_id: 2,
                data: Some(serde_json::json!({"k": "v"}))
            })
        );
        assert_eq!(
            parse("/_set custom @2"),
            Ok(Command::SetCustomData {
                contact_id: 2,
                data: None
            })
        );
        assert!(parse("/_set custom @2 [1]").is_err());
        // Groups, in the reference's short and long forms.
        use crate::protocol::GroupMemberRole as R;
        let new_group = |n: &str, f: &str| Command::NewGroup {
            name: n.into(),
            full_name: f.into(),
            incognito: false,
        };
        assert_eq!(
            parse("/g i team"),
            Ok(Command::NewGroup {
                name: "team".into(),
                full_name: String::new(),
                incognito: true
            })
        );
        assert_eq!(parse("/g team"), Ok(new_group("team", "")));
        assert_eq!(
            parse("/group #team Our Team"),
            Ok(new_group("team", "Our Team"))
        );
        let add = |role| Command::AddMember {
            group: "team".into(),
            contact: "bob".into(),
            role,
        };
        assert_eq!(parse("/a team bob"), Ok(add(R::Member)));
        assert_eq!(parse("/add #team @bob observer"), Ok(add(R::Observer)));
        assert_eq!(parse("/j team"), Ok(Command::JoinGroup("team".into())));
        assert_eq!(parse("/join #team"), Ok(Command::JoinGroup("team".into())));
        assert_eq!(
            parse("#team hello all"),
            Ok(Command::SendGroup {
                group: "team".into(),
                text: "hello all".into()
            })
        );
        assert_eq!(parse("/gs"), Ok(Command::ListGroups));
        assert_eq!(
            parse("/members #team"),
            Ok(Command::ListMembers("team".into()))
        );
        assert_eq!(
            parse("/remove #team @bob"),
            Ok(Command::RemoveMember {
                group: "team".into(),
                member: "bob".into()
            })
        );
        assert_eq!(parse("/l team"), Ok(Command::LeaveGroup("team".into())));
        assert_eq!(
            parse("/f #team ./a b.pdf"),
            Ok(Command::SendGroupFile {
                group: "team".into(),
                path: "./a b.pdf".into(),
                image: false
            })
        );
        let files = crate::group_prefs::feature("files").expect("files");
        assert_eq!(
            parse("/set files #team off"),
            Ok(Command::SetGroupFeature {
                group: "team".into(),
                feature: files,
                on: false,
                role: None
            })
        );
        assert_eq!(
            parse("/set files #'my team' on admin"),
            Ok(Command::SetGroupFeature {
                group: "my team".into(),
                feature: files,
                on: true,
                role: Some(R::Admin)
            })
        );
        assert!(parse("/set history #team on admin").is_err());
        assert_eq!(
            parse("/set disappear #team on 1h"),
            Ok(Command::SetGroupTimed {
                group: "team".into(),
                ttl: Some(3600)
            })
        );
        assert_eq!(
            parse("/set disappear #team off"),
            Ok(Command::SetGroupTimed {
                group: "team".into(),
                ttl: None
            })
        );
        assert!(parse("/set disappear #team on 2y").is_err());
        assert_eq!(
            parse("/create link #team"),
            Ok(Command::CreateGroupLink {
                group: "team".into(),
                role: R::Member
            })
        );
        assert_eq!(
            parse("/create link #team observer"),
            Ok(Command::CreateGroupLink {
                group: "team".into(),
                role: R::Observer
            })
        );
        assert_eq!(
            parse("/show link #team"),
            Ok(Command::ShowGroupLink("team".into()))
        );
        assert_eq!(
            parse("/delete link #team"),
            Ok(Command::DeleteGroupLink("team".into()))
        );
        assert!(parse("/set files #team maybe").is_err());
        assert_eq!(parse("/d #team"), Ok(Command::DeleteGroup("team".into())));
        assert_eq!(
            parse("/member role #team @bob admin"),
            Ok(Command::MemberRole {
                group: "team".into(),
                member: "bob".into(),
                role: R::Admin
            })
        );
        assert_eq!(
            parse("/_user 1"),
            Ok(Command::SetActiveUser(UserRef::Id(1), None))
        );
        assert_eq!(parse("/_accept 7"), Ok(Command::AcceptId(7)));
        assert_eq!(parse("/_reject 7"), Ok(Command::RejectId(7)));
        assert_eq!(parse("/_contacts 1"), Ok(Command::Contacts));
        assert_eq!(
            parse(r#"/_get chats 1 pcc=on count=5 {"type": "search", "search": "bob"}"#),
            Ok(Command::GetChats { count: 5 })
        );
        assert_eq!(
            parse("! @bob (hi) hello there"),
            Ok(Command::EditLatest {
                to: "bob".into(),
                prefix: Some("hi".into()),
                text: "hello there".into()
            })
        );
        assert_eq!(
            parse("\\ @bob hi there"),
            Ok(Command::DeleteLatest {
                to: "bob".into(),
                prefix: "hi there".into()
            })
        );
        assert_eq!(
            parse("/_send @2 text hello! how are you?"),
            Ok(Command::ApiSend {
                contact_id: 2,
                text: "hello! how are you?".into()
            })
        );
        for bad in [
            "> @bob hi",
            "/_delete item @2 9 all",
            "/_delete item @2 9,x internal",
            "/_send @x text hi",
            "/_send @2 json []",
            "/_send @2 json {\"msgContent\":1}",
            "/_send @2 json [{\"text\":\"no content\"}]",
            "/_contacts 0",
            "/_delete @2 everything",
            "/a team bob chief",
            "/mr team bob",
            "/rm team",
            "#team",
            "/ms team extra",
            "/_address x",
            "/_user",
            "/_delete user 2",
            "/_delete user x del_smp=on",
            "/_create user []",
            "/_create user {\"profile\": 1}",
            "",
            "hello",
            "@bob",
            "@'bob hi",
            "/ac",
            "/c1",
            "/_connect x",
            "/t x",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(view_name("John Doe"), "'John Doe'");
    }

    #[test]
    fn users_commands_and_the_user_an_api_command_names() {
        for (line, id) in [
            ("/_contacts 2", Some(2)),
            ("/_connect 1", Some(1)),
            ("/_connect 3 https://simplex.chat/contact#/?v=2", Some(3)),
            (
                "/_connect plan 4 https://simplex.chat/contact#/?v=2",
                Some(4),
            ),
            ("/_get chats 5 count=1 {}", Some(5)),
            ("/_get chat @2 count=1", None),
            ("/_set receipts contacts 6 on", Some(6)),
            ("/_set accept member contacts 7 on", Some(7)),
            ("/_set custom @2", None),
            ("/_group 8 {}", Some(8)),
            ("/_group_profile #1 {}", None),
            ("/_public group 9 1 {}", Some(9)),
            ("/_profile 10 {}", Some(10)),
            ("/_address_settings 11 {}", Some(11)),
            ("@bob hi", None),
            ("/_contacts", None),
        ] {
            assert_eq!(api_user_id(line), id, "{line}");
        }
        assert_eq!(
            parse("/create user alisa Alisa Smith"),
            Ok(Command::CreateUser(Some(crate::protocol::Profile {
                display_name: "alisa".into(),
                full_name: "Alisa Smith".into(),
                ..Default::default()
            })))
        );
        assert_eq!(
            parse(r#"/_create user {"pastTimestamp": false}"#),
            Ok(Command::CreateUser(None))
        );
        let Ok(Command::CreateUser(Some(p))) =
            parse(r#"/_create user {"profile": {"displayName": "bot2", "fullName": ""}}"#)
        else {
            panic!("a profile")
        };
        assert_eq!(p.display_name, "bot2");
        assert_eq!(
            parse("/user alisa"),
            Ok(Command::SetActiveUser(UserRef::Name("alisa".into()), None))
        );
        assert_eq!(
            parse("/_user 2 \"secret\""),
            Ok(Command::SetActiveUser(
                UserRef::Id(2),
                Some("secret".into())
            ))
        );
        assert_eq!(
            parse("/_delete user 2 del_smp=off"),
            Ok(Command::DeleteUser {
                user: UserRef::Id(2),
                del_smp: false,
                password: None
            })
        );
        assert_eq!(
            parse("/_delete user 2 del_smp=on \"my pwd\""),
            Ok(Command::DeleteUser {
                user: UserRef::Id(2),
                del_smp: true,
                password: Some("my pwd".into())
            })
        );
        // What follows the name is a password, as in the reference: queues are deleted.
        assert_eq!(
            parse("/delete user alisa2 del_smp=off"),
            Ok(Command::DeleteUser {
                user: UserRef::Name("alisa2".into()),
                del_smp: true,
                password: Some("del_smp=off".into())
            })
        );
        assert_eq!(
            parse("/user alisa my_password"),
            Ok(Command::SetActiveUser(
                UserRef::Name("alisa".into()),
                Some("my_password".into())
            ))
        );
        let db = |current: &str, new: &str| {
            Ok(Command::DbEncryption {
                current: current.into(),
                new: new.into(),
            })
        };
        assert_eq!(parse("/db encrypt k1"), db("", "k1"));
        assert_eq!(parse("/db key k1 k2"), db("k1", "k2"));
        assert_eq!(parse("/db decrypt k2"), db("k2", ""));
        assert_eq!(
            parse(r#"/_db encryption {"currentKey":"a b","newKey":""}"#),
            db("a b", "")
        );
        assert_eq!(
            parse("/db test key k3"),
            Ok(Command::DbTestKey("k3".into()))
        );
        for bad in [
            "/db encrypt",
            "/db key k1",
            "/db encrypt a b",
            "/_db encryption {}",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(parse("/ttl"), Ok(Command::GetChatItemTtl));
        assert_eq!(
            parse("/ttl week"),
            Ok(Command::SetChatItemTtl(Some(604_800)))
        );
        assert_eq!(parse("/ttl none"), Ok(Command::SetChatItemTtl(None)));
        assert_eq!(parse("/_ttl 1"), Ok(Command::GetChatItemTtl));
        assert_eq!(parse("/_ttl 1 2"), Ok(Command::SetChatItemTtl(Some(2))));
        assert_eq!(parse("/_ttl 1 0"), Ok(Command::SetChatItemTtl(None)));
        assert_eq!(api_user_id("/_ttl 3 2"), Some(3));
        // A chat's own.
        assert_eq!(
            parse("/ttl @'John Doe' day"),
            Ok(Command::SetChatTtl {
                chat: TtlChat::ContactNamed("John Doe".into()),
                ttl: Some(86_400)
            })
        );
        assert_eq!(
            parse("/ttl #team none"),
            Ok(Command::SetChatTtl {
                chat: TtlChat::GroupNamed("team".into()),
                ttl: Some(0)
            })
        );
        assert_eq!(
            parse("/_ttl 1 @2 5"),
            Ok(Command::SetChatTtl {
                chat: TtlChat::Contact(2),
                ttl: Some(5)
            })
        );
        assert_eq!(
            parse("/_ttl 1 #3 default"),
            Ok(Command::SetChatTtl {
                chat: TtlChat::Group(3),
                ttl: None
            })
        );
        for bad in [
            "/ttl fortnight",
            "/ttl @bob fortnight",
            "/ttl @bob",
            "/_ttl x",
            "/_ttl 1 -5",
            "/_ttl 1 @2 -5",
            "/_ttl 1 @x 5",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        // Keys never reach a log through the command's `Debug`.
        assert!(!format!("{:?}", parse("/db key secret1 secret2")).contains("secret"));
        assert_eq!(
            parse("/hide user my password"),
            Ok(Command::HideUser {
                user: None,
                password: "my password".into()
            })
        );
        assert_eq!(
            parse("/_hide user 3 \"password2\""),
            Ok(Command::HideUser {
                user: Some(3),
                password: "password2".into()
            })
        );
        assert!(parse("/_hide user 3 password2").is_err());
        assert_eq!(
            parse("/_unhide user 2 \"pwd\""),
            Ok(Command::UnhideUser {
                user: Some(2),
                password: "pwd".into()
            })
        );
        assert_eq!(
            parse("/unmute user"),
            Ok(Command::MuteUser {
                user: None,
                muted: false
            })
        );
        assert_eq!(
            parse("/_mute user 2"),
            Ok(Command::MuteUser {
                user: Some(2),
                muted: true
            })
        );
        // A contact called so is muted as before.
        assert!(matches!(parse("/mute bob"), Ok(Command::Mute { .. })));
    }

    #[test]
    fn member_contacts_and_admission_commands() {
        use crate::protocol::GroupMemberRole;
        assert_eq!(
            parse("@#team bob hi there"),
            Ok(Command::SendMemberText {
                group: "team".into(),
                member: "bob".into(),
                text: "hi there".into()
            })
        );
        assert_eq!(
            parse("@#'my team' 'John Doe' hi"),
            Ok(Command::SendMemberText {
                group: "my team".into(),
                member: "John Doe".into(),
                text: "hi".into()
            })
        );
        assert!(parse("@#team bob").is_err());
        assert_eq!(
            parse("/_create member contact #1 3"),
            Ok(Command::CreateMemberContact {
                group_id: 1,
                group_member_id: 3
            })
        );
        assert!(parse("/_create member contact #1").is_err());
        assert_eq!(
            parse("/_invite member contact @3 text hi"),
            Ok(Command::InviteMemberContact {
                contact_id: 3,
                content: Some(crate::protocol::MsgContent::text("hi"))
            })
        );
        assert_eq!(
            parse("/_invite member contact @3"),
            Ok(Command::InviteMemberContact {
                contact_id: 3,
                content: None
            })
        );
        assert!(parse("/_invite member contact @3 hi").is_err());
        assert_eq!(
            parse("/_accept member contact @4"),
            Ok(Command::AcceptMemberContact(4))
        );
        assert_eq!(
            parse("/set accept member contacts on"),
            Ok(Command::SetAcceptMemberContacts(true))
        );
        assert_eq!(
            parse("/_set accept member contacts 1 off"),
            Ok(Command::SetAcceptMemberContacts(false))
        );
        assert!(parse("/set accept member contacts maybe").is_err());
        assert_eq!(
            parse("/_accept member #1 2 member"),
            Ok(Command::AcceptMember {
                group_id: 1,
                group_member_id: 2,
                role: GroupMemberRole::Member
            })
        );
        assert!(parse("/_accept member #1 2 boss").is_err());
        assert_eq!(
            parse("/set admission review #team all"),
            Ok(Command::SetAdmissionReview {
                group: "team".into(),
                on: true
            })
        );
        assert_eq!(
            parse("/set admission review #team off"),
            Ok(Command::SetAdmissionReview {
                group: "team".into(),
                on: false
            })
        );
        assert!(parse("/set admission review team all").is_err());
        let scoped = |line: &str| match parse(line) {
            Ok(Command::ApiSendGroup {
                group_id, scope, ..
            }) => Some((group_id, scope)),
            _ => None,
        };
        let json = r#"json [{"msgContent": {"type": "text", "text": "hi"}}]"#;
        assert_eq!(scoped(&format!("/_send #1 {json}")), Some((1, None)));
        assert_eq!(
            scoped(&format!("/_send #1(_support) {json}")),
            Some((1, Some(None)))
        );
        assert_eq!(
            scoped(&format!("/_send #1(_support:3) {json}")),
            Some((1, Some(Some(3))))
        );
        assert_eq!(scoped(&format!("/_send #1(_support:x) {json}")), None);
        assert!(matches!(
            parse(&format!("/_send #4(as_group=on) {json}")),
            Ok(Command::ApiSendGroup {
                group_id: 4,
                as_group: true,
                ..
            })
        ));
        assert!(matches!(
            parse(&format!("/_send #4(as_group=off) {json}")),
            Ok(Command::ApiSendGroup {
                as_group: false,
                ..
            })
        ));
        assert!(matches!(
            parse(&format!("/_send #4(as_group=on) live=on {json}")),
            Ok(Command::ApiSendGroup {
                as_group: true,
                live: true,
                ..
            })
        ));
        assert!(matches!(
            parse(&format!("/_send #4 sign=on {json}")),
            Ok(Command::ApiSendGroup {
                sign: true,
                live: false,
                ..
            })
        ));
        assert!(matches!(
            parse(&format!("/_send #4 sign=off {json}")),
            Ok(Command::ApiSendGroup { sign: false, .. })
        ));
        // `/i`: a contact, a group, a member; `/_info` by ids.
        assert_eq!(parse("/i bob"), Ok(Command::ContactInfo("bob".into())));
        assert_eq!(
            parse("/i #team"),
            Ok(Command::GroupInfo(ContactName::Name("team".into())))
        );
        assert_eq!(
            parse("/info #team 'John Doe'"),
            Ok(Command::MemberInfo {
                group: ContactName::Name("team".into()),
                member: ContactName::Name("John Doe".into()),
            })
        );
        assert_eq!(
            parse("/_info #2"),
            Ok(Command::GroupInfo(ContactName::Id(2)))
        );
        assert_eq!(
            parse("/_info #2 5"),
            Ok(Command::MemberInfo {
                group: ContactName::Id(2),
                member: ContactName::Id(5),
            })
        );
        assert!(parse("/_info #x").is_err());
        assert!(matches!(
            parse("/_get chat #1(_support:3) count=5"),
            Ok(Command::GetChat {
                scope: Some(Some(3)),
                ..
            })
        ));
        assert!(matches!(
            parse("/_get chat #1(_support) count=5"),
            Ok(Command::GetChat {
                scope: Some(None),
                ..
            })
        ));
        assert!(parse("/_get chat @1(_support) count=5").is_err());
        // An item's commands name its chat, a support chat too.
        assert!(matches!(
            parse(
                r#"/_update item #1(_support:3) 9 json {"msgContent": {"type": "text", "text": "x"}}"#
            ),
            Ok(Command::ApiUpdateGroupItem {
                group_id: 1,
                item_id: 9,
                ..
            })
        ));
        assert!(matches!(
            parse(r#"/_reaction #1(_support) 9 on {"type": "emoji", "emoji": "👍"}"#),
            Ok(Command::ApiGroupReaction {
                group_id: 1,
                item_id: 9,
                add: true,
                ..
            })
        ));
        assert!(matches!(
            parse("/_delete item #1(_support:3) 9,10 broadcast"),
            Ok(Command::ApiDeleteGroupItems {
                group_id: 1,
                moderate: false,
                ..
            })
        ));
        assert!(parse("/_delete item #1(_support:x) 9 broadcast").is_err());
        assert_eq!(
            parse("/_set receipts groups 1 off clear_overrides=on"),
            Ok(Command::SetGroupReceipts {
                on: false,
                clear: true
            })
        );
        assert_eq!(
            parse("/_set receipts contacts 1 on"),
            Ok(Command::SetReceipts {
                on: true,
                clear: false
            })
        );
        assert_eq!(
            parse("/set receipts all off"),
            Ok(Command::SetReceipts {
                on: false,
                clear: true
            })
        );
        assert_eq!(
            parse("/receipts @'John Doe' off"),
            Ok(Command::SetChatReceipts {
                name: "John Doe".into(),
                group: false,
                on: Some(false)
            })
        );
        assert_eq!(
            parse("/receipts #team default"),
            Ok(Command::SetChatReceipts {
                name: "team".into(),
                group: true,
                on: None
            })
        );
        assert!(parse("/receipts bob on").is_err());
        use crate::servers::Protocol;
        assert_eq!(parse("/smp"), Ok(Command::ShowServers(Protocol::Smp)));
        assert_eq!(
            parse("/xftp test xftp://k@h:443"),
            Ok(Command::TestServer(Protocol::Xftp, "xftp://k@h:443".into()))
        );
        assert_eq!(
            parse("/smp smp://a@h1 smp://b@h2:5224"),
            Ok(Command::SetServers(
                Protocol::Smp,
                vec!["smp://a@h1".into(), "smp://b@h2:5224".into()]
            ))
        );
        assert_eq!(
            parse("/xftp default"),
            Ok(Command::SetServers(Protocol::Xftp, Vec::new()))
        );
        assert!(parse("/smp test").is_err());
        assert!(parse("/receipts @bob maybe").is_err());
        assert_eq!(
            parse(r#"/_settings #3 {"enableNtfs": "none", "sendRcpts": false, "favorite": true}"#),
            Ok(Command::ApiChatSettings {
                contact: None,
                group: Some(3),
                muted: true,
                mentions_only: false,
                flags: crate::store::ChatFlags {
                    send_rcpts: Some(false),
                    favorite: true
                }
            })
        );
        assert_eq!(
            parse(r#"/_settings @2 {"enableNtfs": "all", "favorite": false}"#),
            Ok(Command::ApiChatSettings {
                contact: Some(2),
                group: None,
                muted: false,
                mentions_only: false,
                flags: crate::store::ChatFlags::default()
            })
        );
        assert!(parse(r#"/_settings @2 {"enableNtfs": "mentions", "favorite": false}"#).is_err());
        assert!(matches!(
            parse(r#"/_settings #2 {"enableNtfs": "mentions", "favorite": false}"#),
            Ok(Command::ApiChatSettings {
                muted: true,
                mentions_only: true,
                ..
            })
        ));
        assert_eq!(
            parse("/unmute mentions #team"),
            Ok(Command::Mute {
                name: "team".into(),
                group: true,
                muted: true,
                mentions_only: true
            })
        );
        // A contact called `mentions`: unmuted as before.
        assert!(matches!(
            parse("/unmute mentions"),
            Ok(Command::Mute {
                mentions_only: false,
                ..
            })
        ));
        assert!(parse(r#"/_settings @2 {"enableNtfs": "all"}"#).is_err());
        assert!(parse("/_set receipts groups 1 maybe").is_err());
        assert_eq!(
            parse("/abort switch bob"),
            Ok(Command::AbortSwitchContact(ContactName::Name("bob".into())))
        );
        assert_eq!(
            parse("/abort switch #team bob"),
            Ok(Command::AbortSwitchMember {
                group: ContactName::Name("team".into()),
                member: ContactName::Name("bob".into())
            })
        );
        assert_eq!(
            parse("/_abort switch @2"),
            Ok(Command::AbortSwitchContact(ContactName::Id(2)))
        );
        assert_eq!(
            parse("/_abort switch #1 3"),
            Ok(Command::AbortSwitchMember {
                group: ContactName::Id(1),
                member: ContactName::Id(3)
            })
        );
        assert_eq!(scoped(&format!("/_send #1(_support {json}")), None);
    }

    #[test]
    fn parses_prepared_contacts() {
        let data = r#"{"profile":{"displayName":"alice","fullName":"Alice"},"message":{"type":"text","text":"hi"}}"#;
        let Ok(Command::PrepareContact {
            link,
            short,
            data: d,
        }) = parse(&format!(
            "/_prepare contact 1 https://simplex.chat/contact#/?v=2 https://h/a#x {data}"
        ))
        else {
            panic!("not parsed");
        };
        assert_eq!(link, "https://simplex.chat/contact#/?v=2");
        assert_eq!(short.as_deref(), Some("https://h/a#x"));
        assert_eq!(d.profile.display_name, "alice");
        assert!(!d.business);
        assert!(d.message.is_some());
        let Ok(Command::PrepareContact { short, .. }) = parse(&format!(
            "/_prepare contact 1 simplex:/invitation#/?v=2 {data}"
        )) else {
            panic!("not parsed");
        };
        assert_eq!(short, None);
        for bad in [
            format!("/_prepare contact x link {data}"),
            format!("/_prepare contact 1 {data}"),
            format!("/_prepare contact 1 a b c {data}"),
            "/_prepare contact 1 link".to_string(),
            "/_prepare contact 1 link {\"profile\":{}}".to_string(),
            format!("/_prepare group 1 link {data}"),
        ] {
            assert!(parse(&bad).is_err(), "{bad}");
        }
        assert_eq!(
            api_user_id(&format!("/_prepare contact 2 l {data}")),
            Some(2)
        );
        assert_eq!(
            parse("/_connect contact @3"),
            Ok(Command::ConnectPreparedContact {
                contact_id: 3,
                incognito: false,
                content: None
            })
        );
        assert_eq!(
            parse("/_connect contact @3 incognito=on text hi there"),
            Ok(Command::ConnectPreparedContact {
                contact_id: 3,
                incognito: true,
                content: Some(crate::protocol::MsgContent::text("hi there"))
            })
        );
        assert_eq!(
            parse(r#"/_connect contact @3 incognito=off json {"type":"text","text":"hi"}"#),
            Ok(Command::ConnectPreparedContact {
                contact_id: 3,
                incognito: false,
                content: Some(crate::protocol::MsgContent::text("hi"))
            })
        );
        let g = r#"{"groupProfile":{"displayName":"team","fullName":""}}"#;
        for (cmd, direct, short) in [
            (format!("/_prepare group 1 https://h/g#x {g}"), true, None),
            (
                format!("/_prepare group 1 full https://h/c#y direct=off {g}"),
                false,
                Some("https://h/c#y"),
            ),
            (format!("/_prepare group 1 full direct=on {g}"), true, None),
        ] {
            let Ok(Command::PrepareGroup {
                direct: d,
                short: s,
                data,
                ..
            }) = parse(&cmd)
            else {
                panic!("{cmd}");
            };
            assert_eq!((d, s.as_deref()), (direct, short), "{cmd}");
            assert_eq!(data.group_profile.display_name, "team");
        }
        assert_eq!(
            parse("/_connect group #2 incognito=on"),
            Ok(Command::ConnectPreparedGroup {
                group_id: 2,
                incognito: true,
                content: None
            })
        );
        assert!(parse("/_connect group @2").is_err());
        assert!(parse("/_connect contact @x").is_err());
        assert!(parse("/_connect contact @3 hello").is_err());
        assert!(parse("/_connect contact @3 json {").is_err());
    }

    #[test]
    fn parses_queue_info() {
        let name = |n: &str| ContactName::Name(n.into());
        for cmd in ["/queue info @bob", "/queue info bob", "/qi @bob", "/qi bob"] {
            assert_eq!(parse(cmd), Ok(Command::QueueInfo(name("bob"))), "{cmd}");
        }
        assert_eq!(
            parse("/qi @'John Doe'"),
            Ok(Command::QueueInfo(name("John Doe")))
        );
        for cmd in ["/queue info #team @bob", "/qi #team bob"] {
            assert_eq!(
                parse(cmd),
                Ok(Command::MemberQueueInfo {
                    group: name("team"),
                    member: name("bob")
                }),
                "{cmd}"
            );
        }
        assert_eq!(
            parse("/_queue info @3"),
            Ok(Command::QueueInfo(ContactName::Id(3)))
        );
        assert_eq!(
            parse("/_queue info #1 4"),
            Ok(Command::MemberQueueInfo {
                group: ContactName::Id(1),
                member: ContactName::Id(4)
            })
        );
        for bad in [
            "/queue bob",
            "/_queue info bob",
            "/_queue info #x 4",
            "/_queue @3",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(parse("/network"), Ok(Command::ShowNetwork));
        assert_eq!(parse("/net"), Ok(Command::ShowNetwork));
        assert_eq!(
            parse("/network socks=on"),
            Ok(Command::SetNetwork(crate::network::NetworkChange::Simple(
                "socks=on".into()
            )))
        );
        assert!(matches!(
            parse(r#"/_network {"socksProxy": null}"#),
            Ok(Command::SetNetwork(crate::network::NetworkChange::Json(_)))
        ));
        assert!(parse("/_network {").is_err());
    }
}
