//! The chat engine: commands in, responses and events out, over the agent.
//!
//! Connections: our invitation (`/c`) becomes a contact when the peer's confirmation brings
//! its profile (`x.info`), which we allow with ours; joining an invitation (`/c link`) sends
//! our `x.info` and the contact appears with the inviter's profile; a request to our address
//! (`x.contact`) waits for `/ac` or `/rc`; a request we sent to an address is confirmed by its
//! owner. Messages: `x.msg.new` with text is stored as a chat item before the agent
//! acknowledges it to the relay (nothing acknowledged is lost).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// A queue rotation's phase (in [`Event::ContactSwitch`], [`Event::MemberSwitch`]).
pub use agent::agent::SwitchPhase;
/// A connection's ratchet re-synchronisation state (in [`Event::RatchetSync`]).
pub use agent::agent::SyncState;
use agent::agent::{Agent, AgentEvent, ConnId};
use smp_client::ConnectOptions;
use smp_proto::address::SmpServer;
use tokio::sync::mpsc;

use crate::command::Command;
use crate::protocol::{parse_chat_messages, ChatEvent, ChatMessage, Profile, B64};
use crate::store::{ChatItem, ChatStore, Contact, ContactRequest, PendingKind};

/// The chat database's user id (one user per database).
pub const USER_ID: i64 = 1;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// No contact by that name.
    #[error("no contact {0}")]
    NoContact(String),
    /// No contact by that name, but several members are called so (the first one's group).
    #[error("no contact {0}, use @#{1} {0} <your message>")]
    NoContactButMember(String, String),
    /// No request by that name.
    #[error("no contact request from {0}")]
    NoRequest(String),
    /// The contact deleted the conversation.
    #[error("contact {0} deleted the conversation: messages cannot be sent")]
    ContactDeleted(String),
    /// `/_connect` with a link of ours or one already used.
    #[error("{}", .0.lines().join("\n"))]
    LinkUsed(Box<LinkPlan>),
    /// `/_delete :N` of no connection in progress.
    #[error("no connection in progress :{0}")]
    NoPendingConnection(u64),
    /// Sending to a contact disabled after repeated refusals (AUTH).
    #[error("{0}: disabled, to enable: /enable {0}, to delete: /d {0}")]
    ContactDisabled(String),
    /// `/_set incognito :N` of a connection used already, or to what it is.
    #[error("incognito mode change prohibited")]
    IncognitoChangeProhibited,
    /// `/_set conn user :N` of a connection used already.
    #[error("connection user change prohibited")]
    UserChangeProhibited,
    /// A reaction to an item that cannot take one (deleted, a note, not connected), or too
    /// many.
    #[error("cannot react to this item")]
    CannotReact,
    /// No request with that id.
    #[error("no contact request {0}")]
    NoRequestId(u64),
    /// A display name that cannot be used.
    #[error("invalid display name: {0:?}")]
    InvalidName(String),
    /// The contact is not connected yet.
    #[error("contact {0} is not connected yet")]
    NotReady(String),
    /// `/ad` when an address exists.
    #[error("you already have a chat address, to show it: /sa")]
    AddressExists,
    /// `/sa` without an address.
    #[error("no chat address, to create: /ad")]
    NoAddress,
    /// The agent failed.
    #[error("agent: {0}")]
    Agent(String),
    /// The database failed.
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    /// The line is not a command.
    #[error("{0}")]
    Command(#[from] crate::command::CommandError),
    /// The chat is stopped (`/_stop`, or started with `-m`) and the command needs it running.
    #[error("error: chat not started")]
    NotStarted,
    /// No file with that number.
    #[error("file {0} not found")]
    NoFile(i64),
    /// Files need an XFTP relay.
    #[error("no XFTP relay configured (--xftp-server)")]
    NoXftpServers,
    /// A file could not be sent or received.
    #[error("{0}")]
    File(String),
    /// The sender cancelled the file.
    #[error("file cancelled: {0}")]
    FileCancelled(String),
    /// No chat item with that id in the chat.
    #[error("no chat item {0}")]
    NoItem(i64),
    /// Only one's own messages can be edited.
    #[error("cannot update this item")]
    CannotUpdate,
    /// Only one's own messages can be deleted for everyone.
    #[error("cannot delete this item")]
    CannotDelete,
    /// No message starts with the text given.
    #[error("no message starting with {0:?}")]
    NoQuotedMessage(String),
    /// No group by that name.
    #[error("no group #{0}")]
    NoGroup(String),
    /// No group by that id (API commands).
    #[error("no group #{0}")]
    NoGroupId(i64),
    /// Our role in the group is too low for the action.
    #[error("#{0}: you have insufficient permissions for this action, the required role is {role}", role = .1.name())]
    GroupRole(String, crate::protocol::GroupMemberRole),
    /// Our role does not allow sending (an observer), or a member's does not.
    #[error("#{0}: you don't have permission to send messages")]
    GroupCannotSend(String),
    /// Not invited to the group (or joined already).
    #[error("you are not invited to the group #{0} or have joined it already")]
    GroupNotInvited(String),
    /// Invited, not joined yet (sending to the group).
    #[error("you did not join this group, use /join #{0}")]
    GroupNotJoined(String),
    /// Our membership is not active (not connected yet, left, removed).
    #[error("you cannot invite other members yet, try later")]
    GroupNotActive(String),
    /// The contact is in the group already.
    #[error("contact {0} is already in the group")]
    AlreadyMember(String, String),
    /// `/a` in a group we are incognito in (the contact would learn who we are).
    #[error("you are using an incognito profile for this group - prohibited to invite contacts")]
    GroupIncognitoCantInvite,
    /// A group with a contact we are incognito with (our main profile would reach it).
    #[error("you're using your main profile for this group - prohibited to invite contacts to whom you are connected incognito")]
    IncognitoContact,
    /// Admins block members for all, not for themselves.
    #[error("admins or above can't block member for self, use /block for all #{0} {1}")]
    BlockForSelf(String, String),
    /// A command refused for what it names (the reference's `commandError`).
    #[error("bad chat command: {0}")]
    BadCommand(String),
    /// Left, removed, the group deleted or our request to join rejected: nothing can be done
    /// in it but deleting it.
    #[error("bad chat command: not current member")]
    NotCurrentMember,
    /// A call command with no call with the contact (`/_call ...`).
    #[error("no call in progress")]
    NoCurrentCall,
    /// A call command the call's state does not allow (the state's name; the reference's
    /// terminal prints nothing for it).
    #[error("call state: {0}")]
    CallState(&'static str),
    /// No member by that name in the group.
    #[error("contact {0} is not a group member")]
    NotGroupMember(String),
    /// `/create link` with a role joiners cannot get.
    #[error("#{0}: initial role for group member cannot be {role}", role = .1.name())]
    GroupLinkRole(String, crate::protocol::GroupMemberRole),
    /// `/create link` twice.
    #[error("you already have link for this group, to show: /show link #{0}")]
    GroupLinkExists(String),
    /// `/show link`, `/delete link` without one.
    #[error("no group link, to create: /create link #{0}")]
    NoGroupLink(String),
    /// The group's preferences do not allow it (`/f #g` when files are off).
    #[error("bad chat command: feature not allowed {0}")]
    FeatureNotAllowed(String),
    /// A contact or member acting beyond its role in a group (a hostile peer).
    #[error("contact {0} has insufficient permissions for this group action")]
    GroupContactRole(String),
    /// Every user was deleted: a command that needs one has none.
    #[error("error: active user is required")]
    NoActiveUser,
    /// `/create user` with a name another user has.
    #[error("user with the name {0} already exists")]
    UserExists(String),
    /// `/user name`, `/_user N`: no such user.
    #[error("user does not exist or incorrect password")]
    UserUnknown,
    /// An API command naming a user that is not the active one.
    #[error("error: different active user, command user id: {0}, active user id: {1}")]
    DifferentActiveUser(i64, i64),
    /// `/_delete user` of the active user while there are others.
    #[error("user is already hidden")]
    UserAlreadyHidden(i64),
    #[error("user is not hidden")]
    UserNotHidden(i64),
    #[error("user password is required")]
    EmptyUserPassword(i64),
    #[error("cannot hide the only not hidden user")]
    CantHideLastUser(i64),
    #[error("hidden user always muted when inactive")]
    HiddenUserAlwaysMuted(i64),
    #[error("cannot delete active user")]
    CantDeleteActiveUser(i64),
    /// Not allowed in the connection's state (the agent's `CMD PROHIBITED`): a message while
    /// the ratchet is re-synchronised, `/sync` when it is in step.
    #[error("error: command is prohibited")]
    Prohibited(String),
    /// A queue rotation not allowed now (the agent's `CMD PROHIBITED` with its context, as the
    /// reference prints it): a second `/switch`, an `/abort switch` too late.
    #[error("error: command is prohibited, {0}")]
    SwitchProhibited(String),
    /// A command of the users host given to one user's chat.
    #[error("this command is for the chat's users, not one user's chat")]
    UsersCommand,
    /// `/db ...` while the chat runs (`/_stop` first).
    #[error("error: chat not stopped")]
    ChatNotStopped,
    /// The databases were changed under the running program (`/db ...`): only a restart
    /// opens them again.
    #[error("error: chat store changed, please restart chat")]
    StoreChanged,
    /// `/db encrypt` of encrypted databases.
    #[error("error: chat database is already encrypted")]
    DbEncrypted,
    /// `/db key`, `/db decrypt` of databases that are not encrypted.
    #[error("error: chat database is not encrypted")]
    DbPlaintext,
    /// The databases could not be exported with the new key (a wrong current key: `wrong
    /// passphrase or invalid database file`); nothing was changed.
    #[error("error encrypting database: {0}")]
    DbExport(String),
    /// An archive could not be written or read (`/db export`, `/_db import`; nothing was
    /// changed), or a database could not be deleted (`/_db delete`; those before it were).
    #[error("error: {0}")]
    Archive(String),
    /// A database did not open with the key (`/db test key`, or an export that does not read
    /// back).
    #[error("error opening database after encryption: {0}")]
    DbOpen(String),
}

/// The settings key of the user's message expiry (`/ttl`), in seconds.
const CHAT_ITEM_TTL: &str = "chat_item_ttl";

type Result<T> = std::result::Result<T, ChatError>;

pub(crate) fn agent_err(e: impl std::fmt::Display) -> ChatError {
    ChatError::Agent(e.to_string())
}

/// An agent error of a queue rotation, what the connection's state does not allow told apart.
fn switch_error(e: agent::agent::AgentError) -> ChatError {
    match e {
        agent::agent::AgentError::Prohibited(why) => ChatError::SwitchProhibited(why.to_string()),
        e => agent_err(e),
    }
}

/// An agent error, what the connection's state does not allow told apart.
pub(crate) fn agent_error(e: agent::agent::AgentError) -> ChatError {
    match e {
        agent::agent::AgentError::Prohibited(why) => ChatError::Prohibited(why.to_string()),
        e => agent_err(e),
    }
}

/// The other side of a file transfer.
// Built once per event and moved to the view: the size of the largest variant is no cost.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum FilePeer {
    /// A contact.
    Contact(Contact),
    /// A group member (who sends it to us).
    Member(crate::group_store::Group, crate::group_store::Member),
    /// A group (we send to it).
    Group(crate::group_store::Group),
}

/// A transfer's failure or trouble, for its events.
#[derive(Debug, Clone, PartialEq)]
pub struct FileTrouble {
    /// The file's number.
    pub file_id: i64,
    /// Its name.
    pub name: String,
    /// The other side.
    pub peer: FilePeer,
    /// A file we send (else one we receive).
    pub sent: bool,
    /// What went wrong.
    pub error: String,
}

impl FilePeer {
    /// The name lines show: the contact's, the member's, or the group's.
    pub fn name(&self) -> &str {
        match self {
            Self::Contact(c) => &c.local_name,
            Self::Member(_, m) => &m.local_name,
            Self::Group(g) => &g.local_name,
        }
    }
}

/// What a command answers.
// Built once per command and moved to the view: the size of the largest variant is no cost.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    /// A one-time invitation link (as shown) and its pending connection.
    Invitation {
        /// The full link as the terminal shows it.
        link: String,
        /// The short link, when the relay keeps link data (shown first, the full one "for old
        /// clients").
        short: Option<String>,
        /// The agent connection waiting for the peer.
        conn: ConnId,
    },
    /// An invitation not used yet shows a new random profile (or the user's again: none).
    ConnectionIncognitoUpdated {
        /// The connection.
        conn: ConnId,
        /// The random profile it shows now.
        incognito: Option<Profile>,
    },
    /// A chat moved to another user.
    UserChanged(Box<crate::moves::UserChange>),
    /// An archive written (`/db export`): where, and the files that could not be read.
    ArchiveExported(std::path::PathBuf, Vec<String>),
    /// An archive read (`/_db import`): the entries not taken.
    ArchiveImported(Vec<String>),
    /// The apps' settings (saved over the defaults given).
    AppSettings(serde_json::Value),
    /// The user's chat tags.
    ChatTags(Vec<crate::tags::ChatTag>),
    /// The user's chat tags and a chat's, by id.
    TagsUpdated(Vec<crate::tags::ChatTag>, Vec<i64>),
    /// Joined an invitation (the pending connection).
    ConfirmationSent(ConnId),
    /// Sent a request to an address (the pending connection).
    RequestSent(ConnId, bool),
    /// What the relay says of a connection's receiving queue (`ServerQueueInfo` JSON).
    QueueInfo(serde_json::Value),
    /// The network settings in effect (`/network`), as the reference's `NetworkConfig` JSON.
    NetworkConfig(serde_json::Value),
    /// A group prepared from its link's data (`/_prepare group`), with its chat's items.
    PreparedGroup(crate::group_store::Group, Vec<ChatItem>),
    /// A prepared group's joining started (`/_connect group #G`), with the random profile it
    /// knows us by (incognito).
    StartedConnectionToGroup(crate::group_store::Group, Option<Profile>),
    /// A contact prepared from a link's data (`/_prepare contact`), with its chat's items.
    PreparedContact(Contact, Vec<ChatItem>),
    /// A prepared contact's connection started (`/_connect contact @N`), with the random
    /// profile it knows us by (incognito).
    StartedConnectionToContact(Contact, Option<Profile>),
    /// A new address.
    AddressCreated(ConnLink),
    /// The address.
    Address(ConnLink),
    /// The address deleted.
    AddressDeleted,
    /// The address's settings changed: the address and the settings now.
    AddressSettings(ConnLink, crate::command::AddressSettings),
    /// A request accepted: the contact is connecting.
    Accepting(Contact),
    /// A request rejected.
    Rejected(ContactRequest),
    /// A message sent.
    Sent(Contact, ChatItem),
    /// Several messages sent at once (`/_send ... json [...]`), with the paths of the files
    /// among them as given (file id, path).
    SentMany(Contact, Vec<ChatItem>, Vec<(i64, String)>),
    /// The profile changed; how many contacts were told.
    ProfileChanged {
        /// Before.
        from: Profile,
        /// Now.
        to: Profile,
        /// Contacts told.
        told: usize,
    },
    /// The user's preferences for a contact (`/_set prefs`, `/set voice @bob no`): the
    /// contact before and after.
    ContactPrefsUpdated {
        /// Before.
        from: Contact,
        /// Now.
        to: Contact,
    },
    /// A profile change that changes nothing.
    ProfileUnchanged,
    /// The profile (`/p`).
    Profile(Profile),
    /// The user (`/user`).
    ActiveUser,
    /// `/switch @name`: the contact's queue rotation started.
    SwitchStarted(Contact),
    /// A rotation stopped (`/abort switch @name`).
    SwitchAborted(Contact),
    /// A member's rotation stopped (`/abort switch #g member`).
    MemberSwitchAborted(crate::group_store::Group, crate::group_store::Member),
    /// A contact made for a member (`/_create member contact`).
    MemberContactCreated {
        /// The group.
        group: crate::group_store::Group,
        /// The member.
        member: crate::group_store::Member,
        /// Its new contact.
        contact: Contact,
    },
    /// Our invitation sent to a member (`/_invite member contact`, `@bob hi`).
    MemberContactInvited {
        /// The group.
        group: crate::group_store::Group,
        /// The member.
        member: crate::group_store::Member,
        /// Its contact.
        contact: Contact,
    },
    /// A member's invitation joined (`/_accept member contact`).
    MemberContactAccepted(Contact),
    /// A member pending review accepted (`/_accept member`).
    MemberAccepted(crate::group_store::Group, crate::group_store::Member),
    /// A user's privacy changed (`/hide user`, `/unhide user`, `/mute user`, `/unmute user`).
    UserPrivacy {
        /// The user (its API `User`).
        user: serde_json::Value,
        /// Its name.
        name: String,
        /// It is the active user.
        current: bool,
        /// Its privacy now.
        privacy: crate::users::Privacy,
    },
    /// `/switch #group member`: the member's queue rotation started.
    MemberSwitchStarted(crate::group_store::Group, crate::group_store::Member),
    /// `/sync @name`: the contact's ratchet re-synchronisation started.
    SyncStarted(Contact),
    /// `/sync #group member`: the member's.
    MemberSyncStarted(crate::group_store::Group, crate::group_store::Member),
    /// The users (`/users`), each with its unread items.
    UsersList(Vec<crate::users::UserListed>),
    /// The version (`/v`).
    Version,
    /// `/_start` when the chat runs already.
    Running,
    /// `/_start`: the stopped chat runs again.
    Started,
    /// `/_stop`: the chat is stopped (nothing is received or sent until `/_start`).
    Stopped,
    /// Group items deleted through the API (`/_delete item #G`, `/_delete member item #G`):
    /// each with its author (none: ours), as it was and as it is now (none: gone here).
    GroupItemsDeleted {
        /// The group.
        group: crate::group_store::Group,
        /// The items.
        items: Vec<(
            Option<crate::group_store::Member>,
            ChatItem,
            Option<ChatItem>,
        )>,
        /// Members' messages deleted by us as a moderator.
        moderated: bool,
    },
    /// A page of a contact's chat, or of the notes (`/_get chat @N`).
    Chat(Contact, Vec<ChatItem>),
    /// A page of a group's chat (`/_get chat #G`), each item with its author.
    GroupChat(
        crate::group_store::Group,
        Vec<(Option<crate::group_store::Member>, ChatItem)>,
    ),
    /// Chats with their latest items (`/_get chats`): (contact, items, unread).
    Chats(Vec<(Contact, Vec<ChatItem>, bool)>),
    /// The contacts.
    Contacts(Vec<Contact>),
    /// Chat items, oldest first, with their contacts.
    Items(Vec<(Contact, ChatItem)>),
    /// An item's id (`/last_item_id`; none: no item).
    ItemId(Option<i64>),
    /// A contact's alias changed (`/_set alias`): the contact now.
    ContactAliasUpdated(Contact),
    /// A group's alias changed (`/_set alias #N`): the group now.
    GroupAliasUpdated(crate::group_store::Group),
    /// `/_set alias :N`: a connection in progress's new alias (empty: removed).
    ConnectionAliasUpdated {
        /// The connection.
        conn: ConnId,
        /// The alias.
        alias: String,
    },
    /// A file is being sent (`/f`): the offer's item, the file's number, the path as given.
    FileSending {
        /// The contact.
        contact: Contact,
        /// The offer.
        item: ChatItem,
        /// The file's number.
        file_id: i64,
        /// The path as typed.
        path: String,
    },
    /// A file is being sent to a group (`/f #group`).
    GroupFileSending {
        /// The group.
        group: crate::group_store::Group,
        /// The offer.
        item: ChatItem,
        /// The file's number.
        file_id: i64,
        /// The path as typed.
        path: String,
    },
    /// A file accepted (`/fr`): where it is saved, as the user sees it.
    FileAccepted {
        /// The file's number.
        file_id: i64,
        /// The sender.
        peer: FilePeer,
        /// The destination as shown.
        shown: String,
    },
    /// A transfer cancelled (`/fc`).
    FileCancelled {
        /// The file's number.
        file_id: i64,
        /// Its name.
        name: String,
        /// We were sending it.
        sent: bool,
        /// The other side.
        peer: FilePeer,
        /// A group file we sent: the members it was offered to.
        members: Vec<String>,
    },
    /// `/fs`: the status line.
    FileStatus(String),
    /// An own message edited.
    Updated(Contact, ChatItem),
    /// A private note edited (nothing printed).
    NoteUpdated(Contact, ChatItem),
    /// An edit that changes nothing.
    NotChanged(Contact, ChatItem),
    /// Items deleted: each as it was, and as it is when kept marked (deleted for everyone).
    Deleted {
        /// The chat.
        contact: Contact,
        /// The items.
        items: Vec<(ChatItem, Option<ChatItem>)>,
    },
    /// A chat's items removed (`/clear`).
    Cleared(Contact),
    /// A contact deleted (`/d @name`).
    ContactDeleted(Contact),
    /// `/_connect` of a known contact's address: that contact.
    ContactAlreadyExists(Contact),
    /// `/_delete :N`: a connection in progress deleted (as it was).
    PendingDeleted {
        /// The agent's connection id.
        conn: u64,
        /// What it was.
        kind: PendingKind,
        /// When it was made (ms).
        created_at: i64,
    },
    /// `/item info`, `/_get item info`: an item's times, versions and origin.
    ItemInfo(Box<crate::item_info::ItemInfo>),
    /// `/_connect plan`: what a link is to us.
    ConnectionPlan {
        /// The link, as shown.
        link: String,
        /// What it is.
        plan: LinkPlan,
    },
    /// `/code @name`: the connection's security code.
    SecurityCode(Contact, String),
    /// `/help [topic]`.
    Help(Option<String>),
    /// A reaction of ours added or removed (the item as it now is).
    Reaction {
        /// The chat.
        contact: Contact,
        /// The item reacted to.
        item: ChatItem,
        /// The reaction (`{"type":"emoji","emoji":"👍"}`).
        reaction: serde_json::Value,
        /// Added (or removed).
        added: bool,
    },
    /// `/i @name`: the contact, and whether its connection is verified.
    ContactInfo {
        /// The contact.
        contact: Contact,
        /// The security code is verified.
        verified: bool,
    },
    /// `/i #group`: the group and how many are in it (us among them).
    GroupInfo {
        /// The group.
        group: crate::group_store::Group,
        /// How many are in it now.
        members: usize,
    },
    /// `/i #group member`: a member.
    MemberInfo {
        /// The group.
        group: crate::group_store::Group,
        /// The member.
        member: crate::group_store::Member,
    },
    /// `/verify @name [code]`: verified, or not (and the current code).
    Verified {
        /// The code given matches (and is now recorded).
        verified: bool,
        /// The connection's code.
        code: String,
    },
    /// `/g`: a group created.
    GroupCreated(crate::group_store::Group),
    /// `/a`: the invitation sent to the contact.
    GroupInvitationSent {
        /// The group.
        group: crate::group_store::Group,
        /// The contact invited.
        contact: Contact,
        /// Its membership.
        member: crate::group_store::Member,
    },
    /// `/j`: joining (nothing printed until connected).
    GroupJoining(crate::group_store::Group),
    /// A message sent to a group.
    GroupSent(crate::group_store::Group, ChatItem),
    /// `! #g text`: our message edited.
    GroupItemUpdated(crate::group_store::Group, ChatItem),
    /// `+1 #g text`: our reaction added (or removed).
    GroupReaction {
        /// The group.
        group: crate::group_store::Group,
        /// The item reacted to.
        item: ChatItem,
        /// `{"type":"emoji","emoji":"👍"}`.
        reaction: serde_json::Value,
        /// Added (or removed).
        added: bool,
    },
    /// `\ #g text`: our message deleted for everyone (`moderated`: a member's, by us).
    GroupItemDeleted {
        /// The group.
        group: crate::group_store::Group,
        /// A member's message, deleted by us as a moderator.
        moderated: bool,
        /// Deleted, not marked (the group allows us full deletion).
        full: bool,
    },
    /// `/tail #g`: items with their authors (none: ours), oldest first.
    GroupItems(
        crate::group_store::Group,
        Vec<(Option<crate::group_store::Member>, ChatItem)>,
    ),
    /// `/block for all #g m`, `/unblock for all #g m`, `/_block`: the members as they are now.
    BlockedForAll {
        /// The group.
        group: crate::group_store::Group,
        /// The members.
        members: Vec<crate::group_store::Member>,
        /// Blocked (or unblocked).
        blocked: bool,
    },
    /// `/create link #g`, `/show link #g`: the group's link.
    GroupLink {
        /// The group.
        group: crate::group_store::Group,
        /// The link: the full one and, when its relay keeps link data, the short one.
        link: ConnLink,
        /// The role joiners get.
        role: crate::protocol::GroupMemberRole,
        /// Just created.
        created: bool,
    },
    /// `/delete link #g`.
    GroupLinkDeleted(crate::group_store::Group),
    /// The group's profile or preferences changed by us (`/set files #g off`).
    GroupUpdated {
        /// Before.
        from: crate::group_store::Group,
        /// Now.
        to: crate::group_store::Group,
    },
    /// `/gs`: the groups with how many are in each.
    Groups(Vec<(crate::group_store::Group, usize)>),
    /// `/ms`: the group and its members (not us).
    Members(crate::group_store::Group, Vec<crate::group_store::Member>),
    /// `/rm`: a member removed.
    MemberRemoved(crate::group_store::Group, crate::group_store::Member),
    /// `/_remove`: members removed.
    MembersRemoved(crate::group_store::Group, Vec<crate::group_store::Member>),
    /// `/_member role`: members' roles changed.
    MembersRoleChanged {
        /// The group.
        group: crate::group_store::Group,
        /// The members, with their new role.
        members: Vec<crate::group_store::Member>,
        /// The role.
        to: crate::protocol::GroupMemberRole,
    },
    /// `/_send #`: messages sent to a group, with the paths of the files among them as given
    /// (file id, path).
    GroupSentMany(crate::group_store::Group, Vec<ChatItem>, Vec<(i64, String)>),
    /// `/l`: we left.
    LeftGroup(crate::group_store::Group),
    /// `/d #group`: deleted (for everyone when we owned it and were in it).
    GroupDeleted(crate::group_store::Group),
    /// `/mr`: a member's role changed (or not, when it had that role).
    RoleChanged {
        /// The group.
        group: crate::group_store::Group,
        /// The member, with its new role.
        member: crate::group_store::Member,
        /// Its role before.
        from: crate::protocol::GroupMemberRole,
        /// Its role now.
        to: crate::protocol::GroupMemberRole,
    },
    /// `/_get relays #G`: the group's chat relays (none: it is no channel).
    GroupRelays(crate::group_store::Group, Vec<crate::channels::GroupRelay>),
    /// `/_public group`: the channel, its link and its relays (asked).
    PublicGroupCreated(
        crate::group_store::Group,
        String,
        Vec<crate::channels::GroupRelay>,
    ),
    /// `/_public group`: no relay could be asked (nothing is kept).
    PublicGroupCreationFailed(Vec<crate::channels::AddRelayResult>),
    /// `/_add relays`: the channel, its link and its relays.
    GroupRelaysAdded(
        crate::group_store::Group,
        String,
        Vec<crate::channels::GroupRelay>,
    ),
    /// `/_add relays`: no relay could be asked.
    GroupRelaysAddFailed(Vec<crate::channels::AddRelayResult>),
    /// `/_relay allow #G`.
    RelayGroupAllowed(crate::group_store::Group),
    /// `/c <channel link>`: asked its relays (the first one's connection).
    ChannelJoining(crate::group_store::Group, u64),
    /// `/relays`: the configured chat relays.
    ChatRelays(Vec<crate::channels::ChatRelay>),
    /// `/smp`, `/xftp`: the relays in use.
    Servers(crate::servers::Protocol, Vec<String>),
    /// `/smp test`, `/xftp test`: passed, or where it failed.
    ServerTested {
        protocol: crate::servers::Protocol,
        server: String,
        failure: Option<crate::servers::TestFailure>,
    },
    /// Done.
    Ok,
    /// `/_call get`: the calls we are invited to, not answered yet.
    CallInvitations(Vec<crate::calls::RcvCallInvitation>),
    /// `/ttl`, `/_ttl N`: after how many seconds old messages are deleted (none: kept).
    ChatItemTtl(Option<i64>),
    /// `/q`.
    Quit,
    /// `/show welcome #g`: the group (its welcome message is its profile's description).
    GroupWelcome(crate::group_store::Group),
    /// `/feed text`: sent to this many contacts, failed to that many.
    Broadcast {
        /// What was sent.
        content: crate::protocol::MsgContent,
        /// Contacts it was sent to.
        sent: usize,
        /// Contacts it could not be sent to.
        failed: usize,
        /// When (ms).
        at: i64,
    },
}

/// What a link is to us (the reference's connection plan, seed v5.4).
#[derive(Debug, Clone, PartialEq)]
pub enum LinkPlan {
    /// A one-time invitation link.
    Invitation(LinkStatus),
    /// A new invitation's short link, its data read (the inviter's profile): reading it
    /// secured the invitation's queue for us, as the reference's plan does.
    InvitationData(ContactLinkData),
    /// A contact address.
    Address(LinkStatus),
    /// A new contact address's short link, its data read (the owner's profile, whether it
    /// is a business).
    AddressData(ContactLinkData),
    /// A channel's link.
    Channel(ChannelPlan),
    /// A group's link, or a business address used already.
    Group(GroupLinkPlan),
}

/// What a group's link is to us (the reference's `GroupLinkPlan`); a business address joined
/// already is its business chat's.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupLinkPlan {
    /// New: joining is fine (the group's profile, when read from its short link's data).
    Ok(Option<crate::protocol::GroupProfile>),
    /// Our own group's link.
    Own(crate::group_store::Group),
    /// Asked to join, no answer yet: asking again is allowed.
    ConnectingReconnect,
    /// Joining that group.
    Connecting(crate::group_store::Group),
    /// Joined already.
    Known(crate::group_store::Group),
    /// Prepared from it, not joined yet (`/_connect group #G` or `/c` with the link joins);
    /// `true`: a business's card (from its address).
    Prepared(crate::group_store::Group, bool),
}

/// A contact address's short link data (the reference's `ContactShortLinkData`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ContactLinkData {
    /// The owner's profile.
    pub profile: Profile,
    /// Its welcome message, as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<serde_json::Value>,
    /// A business address: a request makes a business chat.
    #[serde(default)]
    pub business: bool,
}

/// What a channel's link is to us.
#[derive(Debug, Clone, PartialEq)]
pub enum ChannelPlan {
    /// New: joining is fine (its profile and count of members, from the link's data).
    Ok(crate::protocol::GroupProfile, Option<i64>),
    /// No relay serves it yet.
    NoRelays(crate::protocol::GroupProfile, Option<i64>),
    /// Our own channel.
    Own(crate::group_store::Group),
    /// Joined already.
    Known(crate::group_store::Group),
    /// Prepared from it, not joined yet (`/_connect group #G` or `/c` with the link joins).
    Prepared(crate::group_store::Group),
}

/// Where a link stands.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkStatus {
    /// New to us: connecting is fine.
    Ok,
    /// Our own invitation or address.
    Own,
    /// Used already, the contact not connected yet (if there is one yet).
    Connecting(Option<Contact>),
    /// Used already: this contact.
    Known(Contact),
    /// A contact prepared from it, not connected yet (`/_connect contact @N` or `/c` with
    /// the link connects it).
    Prepared(Contact),
}

impl LinkPlan {
    /// Connecting by the link is fine: a new link, or an address whose request is still
    /// unanswered (asking again is allowed, as the reference's "allowed to reconnect").
    pub fn is_ok(&self) -> bool {
        matches!(
            self,
            Self::Invitation(LinkStatus::Ok)
                | Self::Address(LinkStatus::Ok | LinkStatus::Connecting(None))
                | Self::AddressData(_)
                | Self::InvitationData(_)
                | Self::Channel(ChannelPlan::Ok(..))
                | Self::Group(GroupLinkPlan::Ok(_) | GroupLinkPlan::ConnectingReconnect)
        )
    }

    /// The lines the reference prints for it (`invitation link: own link`, ...).
    pub fn lines(&self) -> Vec<String> {
        let (head, own, status) = match self {
            Self::Invitation(s) => ("invitation link: ", "own link", s),
            Self::Address(s) => ("contact address: ", "own address", s),
            Self::AddressData(d) if d.business => {
                return vec!["business address: ok to connect".into()];
            }
            Self::AddressData(_) => return vec!["contact address: ok to connect".into()],
            Self::InvitationData(_) => return vec!["invitation link: ok to connect".into()],
            Self::Group(p) => {
                let group =
                    |g: &crate::group_store::Group| crate::command::view_name(&g.local_name);
                return match p {
                    GroupLinkPlan::Ok(_) => vec!["group link: ok to connect".into()],
                    GroupLinkPlan::Own(g) => {
                        vec![format!("group link: own link for group #{}", group(g))]
                    }
                    GroupLinkPlan::ConnectingReconnect => {
                        vec!["group link: connecting, allowed to reconnect".into()]
                    }
                    GroupLinkPlan::Connecting(g) => {
                        vec![format!("group link: connecting to group #{}", group(g))]
                    }
                    // A business address used: its business chat (the reference's lines).
                    GroupLinkPlan::Known(g) if g.business.is_some() => vec![
                        format!("business address: known business #{}", group(g)),
                        format!("use #{} <message> to send messages", group(g)),
                    ],
                    GroupLinkPlan::Known(g) => vec![
                        format!("group link: known group #{}", group(g)),
                        format!("use #{} <message> to send messages", group(g)),
                    ],
                    GroupLinkPlan::Prepared(g, true) => {
                        vec![format!(
                            "business address: known prepared business #{}",
                            group(g)
                        )]
                    }
                    GroupLinkPlan::Prepared(g, false) => {
                        vec![format!("group link: known prepared group #{}", group(g))]
                    }
                };
            }
            Self::Channel(c) => {
                let group =
                    |g: &crate::group_store::Group| crate::command::view_name(&g.local_name);
                return match c {
                    ChannelPlan::Ok(p, _) => vec![format!(
                        "group link: ok to connect (channel {})",
                        crate::command::view_name(&p.display_name)
                    )],
                    ChannelPlan::NoRelays(p, _) => vec![format!(
                        "group link: channel {} has no active relays yet",
                        crate::command::view_name(&p.display_name)
                    )],
                    ChannelPlan::Own(g) => {
                        vec![format!("group link: own link for group #{}", group(g))]
                    }
                    ChannelPlan::Known(g) => vec![
                        format!("group link: known group #{}", group(g)),
                        format!("use #{} <message> to send messages", group(g)),
                    ],
                    ChannelPlan::Prepared(g) => {
                        vec![format!("group link: known prepared group #{}", group(g))]
                    }
                };
            }
        };
        let name = |c: &Contact| crate::command::view_name(&c.local_name);
        match status {
            LinkStatus::Ok => vec![format!("{head}ok to connect")],
            LinkStatus::Own => vec![format!("{head}{own}")],
            LinkStatus::Connecting(None) => match self {
                Self::Address(_) => vec![format!("{head}connecting, allowed to reconnect")],
                // (Only an invitation's status gets here: the other plans returned above.)
                _ => vec![format!("{head}connecting")],
            },
            LinkStatus::Connecting(Some(c)) => {
                vec![format!("{head}connecting to contact {}", name(c))]
            }
            LinkStatus::Known(c) => vec![
                format!("{head}known contact {}", name(c)),
                format!("use @{} <message> to send messages", name(c)),
            ],
            LinkStatus::Prepared(c) => vec![format!("{head}known prepared contact {}", name(c))],
        }
    }
}

/// What happens without a command.
#[allow(clippy::large_enum_variant)] // one per event, moved once
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A contact connected.
    ContactConnected(Contact),
    /// A message arrived.
    Received(Contact, ChatItem),
    /// A received file's caption: the terminal's line before the offer's; the API reports
    /// the item once, with its file, as the offer (`FileOffered`).
    ReceivedCaption(Contact, ChatItem),
    /// A sent item's delivery status changed (a delivery receipt came).
    ItemStatus(Contact, ChatItem),
    /// A group item's delivery status changed (every member acknowledged it).
    GroupItemStatus(crate::group_store::Group, ChatItem),
    /// An informational item was added to a chat (a new chat's encryption notice and
    /// features): the API reports it, the terminal does not show it.
    InfoItem(Contact, ChatItem),
    /// Someone asks to connect through our address.
    Request(ContactRequest),
    /// A queue rotation with a contact moved on: ours (`ours`: we started it, our receiving
    /// queue moves) or the contact's.
    ContactSwitch {
        /// The contact.
        contact: Contact,
        /// Our receiving queue (else the contact's).
        ours: bool,
        /// How far.
        phase: agent::agent::SwitchPhase,
    },
    /// A connection's ratchet re-synchronisation state changed: a contact's, or a group
    /// member's (`member` with its group).
    RatchetSync {
        /// The contact (none for a member).
        contact: Option<Contact>,
        /// The member and its group.
        member: Option<(crate::group_store::Group, crate::group_store::Member)>,
        /// The state now.
        state: SyncState,
    },
    /// A queue rotation with a group member moved on.
    MemberSwitch {
        /// The group.
        group: crate::group_store::Group,
        /// The member.
        member: crate::group_store::Member,
        /// Our receiving queue (else the member's).
        ours: bool,
        /// How far.
        phase: agent::agent::SwitchPhase,
    },
    /// A user deleted with its relay queues (`/_delete user N del_smp=on`): every queue's
    /// deletion was tried and its files are gone (from the users host, never a chat).
    UserDeleted,
    /// A request accepted at once (the address's auto-accept).
    AutoAccepted(Contact),
    /// A contact made from a connection in progress: the peer's profile came (its
    /// confirmation to our invitation or address request, or the inviter's info).
    ContactConnecting(Contact),
    /// We can send to a contact whose request we accepted (our join secured its queue); it
    /// follows the acceptance.
    ContactSndReady(Contact),
    /// A contact changed its profile.
    ProfileUpdated {
        /// Before.
        from: Contact,
        /// Now (renamed when the display name changed).
        to: Contact,
    },
    /// A contact deleted the conversation (`x.direct.del`): kept, marked.
    ContactDeletedByContact(Contact),
    /// A contact offers a file.
    FileOffered {
        /// The sender.
        contact: Contact,
        /// The offer's chat item.
        item_id: i64,
        /// The file's number.
        file_id: i64,
        /// Its (sanitized) name.
        name: String,
        /// Its size.
        size: u64,
    },
    /// A group member offers a file (directly, or forwarded by the host: `forwarded`).
    GroupFileOffered {
        /// The group.
        group: crate::group_store::Group,
        /// The sender (none: a channel's post as the channel itself).
        member: Option<crate::group_store::Member>,
        /// The offer's chat item.
        item: ChatItem,
        /// The file's number.
        file_id: i64,
        /// Its (sanitized) name.
        name: String,
        /// Its size.
        size: u64,
        /// Forwarded by the host (the history, or a member not connected yet).
        forwarded: bool,
    },
    /// A file offered was accepted without `/fr` (its size is within the auto-accept limit).
    FileAutoAccepted {
        /// The file's number.
        file_id: i64,
        /// The sender.
        peer: FilePeer,
        /// Where it is saved, as shown.
        shown: String,
    },
    /// A file we send is uploaded and its description sent: number, name, recipient.
    FileUploaded(i64, String, FilePeer),
    /// A message to the contact (on connection `.1`) the relay refused with AUTH: not sent
    /// (the reference's `chatError` with `SMP AUTH`).
    MessageRefused(Contact, ConnId),
    /// The contact's messages were refused too often: disabled until `/enable`.
    ContactDisabled(Contact),
    /// A member's messages were refused too often: sent nothing until `/enable #g m`.
    MemberDisabled(crate::group_store::Group, crate::group_store::Member),
    /// The agent reported a failure on a contact's connection or one being made (the
    /// reference's `chatError` with its agent error).
    ConnectionError {
        /// The agent's connection id.
        conn: u64,
        /// What failed.
        error: String,
    },
    /// A relay refused to subscribe these connections' queues (AUTH: it no longer has them):
    /// they receive nothing more (the reference's `chatErrors`).
    SubscriptionErrors {
        /// The relay's address (no password).
        server: String,
        /// Each connection and the relay's error (`AUTH`, ...).
        errors: Vec<(u64, String)>,
    },
    /// The connections receiving on a relay are subscribed again (`active`) or wait for it
    /// (its connection lost).
    SubscriptionStatus {
        /// The relay's address (no password).
        server: String,
        /// Subscribed (else pending).
        active: bool,
        /// The agent's connection ids.
        conns: Vec<u64>,
    },
    /// A transfer failed for good (the file's status is failed).
    FileFailed(FileTrouble),
    /// A transfer's relay cannot be reached: it is tried again until it can be (or `/fc`).
    FileWarning(FileTrouble),
    /// A description of a file offered to us is complete (it can be downloaded once
    /// accepted): number, sender.
    FileDescrReady(i64, FilePeer),
    /// A download started: number, name, sender.
    FileReceiving(i64, String, FilePeer),
    /// A file is saved and verified: number, name, sender.
    FileReceived(i64, String, FilePeer),
    /// The sender cancelled a file it offered: number, name, sender.
    FileCancelledBySender(i64, String, FilePeer),
    /// A contact edited a message.
    Updated(Contact, ChatItem),
    /// A message the chat sent by itself: the address's auto-reply to a contact accepted
    /// automatically, or the first message to a member with the invitation to connect.
    ItemSent(Contact, ChatItem),
    /// A moderator accepted us to a group (or moved us on to its admins' review).
    UserAccepted {
        /// The group (our membership's new status and role).
        group: crate::group_store::Group,
        /// The moderator.
        by: crate::group_store::Member,
    },
    /// Another moderator accepted a member pending review.
    MemberAcceptedByOther {
        /// The group.
        group: crate::group_store::Group,
        /// The moderator.
        by: crate::group_store::Member,
        /// The member accepted.
        member: crate::group_store::Member,
    },
    /// `@bob hi` to a member without a contact: one is made first.
    NoMemberContact(crate::group_store::Group, crate::group_store::Member),
    /// A contact made for a member (on the way to sending it our invitation).
    MemberContactCreated {
        /// The group.
        group: crate::group_store::Group,
        /// The member.
        member: crate::group_store::Member,
        /// Its new contact.
        contact: Contact,
    },
    /// A member invited us to connect directly (`x.grp.direct.inv`).
    MemberContactInvitation {
        /// The group.
        group: crate::group_store::Group,
        /// The member.
        member: crate::group_store::Member,
        /// Its contact here (joining its link, or waiting for the user to accept).
        contact: Contact,
    },
    /// Disappearing messages went (their time was up).
    TimedDeleted(Contact, Vec<ChatItem>),
    /// A contact reacted to a message (or took the reaction back).
    Reaction {
        /// The contact.
        contact: Contact,
        /// The item reacted to.
        item: ChatItem,
        /// The reaction.
        reaction: serde_json::Value,
        /// Added (or removed).
        added: bool,
    },
    /// A contact deleted a message for everyone (none: we no longer had it).
    Deleted(Contact, Option<ChatItem>),
    /// A contact deleted a message fully (full deletion allowed): gone here, as it was.
    FullyDeleted(Contact, ChatItem),
    /// A contact invites us to a group.
    GroupInvited {
        /// The group.
        group: crate::group_store::Group,
        /// The contact (the host).
        contact: Contact,
        /// The role offered.
        role: crate::protocol::GroupMemberRole,
    },
    /// We are connected to our host: in the group.
    UserJoinedGroup(crate::group_store::Group, crate::group_store::Member),
    /// A contact we invited joined.
    MemberJoined(crate::group_store::Group, crate::group_store::Member),
    /// A member announced a new member it invited.
    MemberAnnounced {
        /// The group.
        group: crate::group_store::Group,
        /// Who added it.
        by: crate::group_store::Member,
        /// The new member.
        member: crate::group_store::Member,
    },
    /// The connection to an SMP relay (its host) is back.
    HostConnected(String),
    /// The connection to an SMP relay (its host) is lost.
    HostDisconnected(String),
    /// A host forwarded a message from a member we did not know: recorded as an unknown
    /// member.
    UnknownMemberCreated {
        /// The group.
        group: crate::group_store::Group,
        /// The host who forwarded it.
        by: crate::group_store::Member,
        /// The unknown member.
        member: crate::group_store::Member,
    },
    /// A removed member's messages marked deleted (removed with its messages), by us or by
    /// the moderator `by`.
    MemberItemsDeleted {
        /// The group.
        group: crate::group_store::Group,
        /// The items.
        item_ids: Vec<i64>,
        /// The moderator who removed the member (none: we did).
        by: Option<crate::group_store::Member>,
    },
    /// The channel link's data changed with a relay's status (active, inactive).
    GroupRelayUpdated(crate::group_store::Group, crate::channels::GroupRelay),
    /// Our channel's link data was written with a new count of its members (nothing shown;
    /// the API's `groupLinkDataUpdated` with `relaysChanged` false, as the reference's).
    ChannelCountPublished(crate::group_store::Group, i64),
    /// A relay of our channel accepted (before it is published in the link's data).
    GroupRelayAccepted(crate::group_store::Group, crate::channels::GroupRelay),
    /// We serve a channel as its relay now (its owner asked; accepted).
    RelayServing(crate::group_store::Group, crate::group_store::Member),
    /// A member introduced to us (or we to it) is connected.
    MemberConnected(crate::group_store::Group, crate::group_store::Member),
    /// A member reacted to a message of the group.
    GroupReaction {
        /// The group.
        group: crate::group_store::Group,
        /// The member (none: someone in a channel, whom its relay does not name).
        member: Option<crate::group_store::Member>,
        /// The item reacted to.
        item: ChatItem,
        /// Who wrote that item (our name when it is ours).
        item_author: String,
        /// `{"type":"emoji","emoji":"👍"}`.
        reaction: serde_json::Value,
        /// Added (or removed).
        added: bool,
    },
    /// A member edited its message.
    GroupItemUpdated(
        crate::group_store::Group,
        crate::group_store::Member,
        ChatItem,
    ),
    /// A message deleted for everyone: by its author, or (`by`) by a moderator.
    GroupItemDeleted {
        /// The group.
        group: crate::group_store::Group,
        /// Its author (none: we wrote it).
        author: Option<crate::group_store::Member>,
        /// The item, marked deleted (its text as it was, also when `full`).
        item: ChatItem,
        /// The moderator who deleted it.
        by: Option<crate::group_store::Member>,
        /// Our name in the group (our message deleted by a moderator is shown under it).
        own_name: String,
        /// Deleted, not marked (the group allows it the deleting member): gone, or a
        /// moderator's left as `moderated`.
        full: bool,
    },
    /// A moderator blocked (or unblocked) a member for all.
    MemberBlockedBy {
        /// The group.
        group: crate::group_store::Group,
        /// The moderator.
        by: crate::group_store::Member,
        /// The member as it is now.
        member: crate::group_store::Member,
        /// Its signature, when it came signed (`group_keys.rs`; the API's `msgSigned`).
        signed: Option<crate::group_keys::SigStatus>,
    },
    /// A request through our group link, accepted: the new member.
    GroupJoinRequest(crate::group_store::Group, crate::group_store::Member),
    /// The host accepted our request through its group link: joining.
    /// With the prepared contact it replaces, when a contact's card answered as a business
    /// (the reference's `businessLinkConnecting`).
    GroupLinkJoining(crate::group_store::Group, Option<Box<Contact>>),
    /// A contact's call signalling (`calls.rs`): an invitation, its offer, answer, more ICE
    /// candidates, its end.
    Call(crate::calls::CallEvent),
    /// The group's admins refused our request through its link (`x.grp.link.reject`, the
    /// reference's terminal event `groupLinkRejected`): our membership is `rejected`.
    GroupLinkRejected {
        /// The group, kept.
        group: crate::group_store::Group,
        /// The rejection's reason (`longName`, `blockedName`, ...), as the host sent it.
        reason: String,
    },
    /// A request to our business address accepted: a business chat with the customer.
    AcceptingBusinessRequest(crate::group_store::Group),
    /// We sent an item to a group without a command (a business address's auto-reply).
    GroupItemSent(crate::group_store::Group, ChatItem),
    /// A member's profile changed (its `x.info` in the group).
    GroupMemberUpdated {
        group: crate::group_store::Group,
        from: crate::group_store::Member,
        to: crate::group_store::Member,
    },
    GroupUpdatedBy {
        /// Before.
        from: crate::group_store::Group,
        /// Now.
        to: crate::group_store::Group,
        /// The owner.
        by: crate::group_store::Member,
        /// Its signature, when it came signed (`group_keys.rs`; the API's `msgSigned`).
        signed: Option<crate::group_keys::SigStatus>,
    },
    /// An owner changed the group's profile or preferences (`x.grp.info`): above.
    /// A post a channel's owner made as the channel itself arrived (`#news> text`).
    ChannelPost(crate::group_store::Group, ChatItem),
    /// A post as the channel itself edited by its owner.
    ChannelPostUpdated(crate::group_store::Group, ChatItem),
    /// A group message arrived.
    GroupReceived(
        crate::group_store::Group,
        crate::group_store::Member,
        ChatItem,
    ),
    /// A received group file's caption (as [`Event::ReceivedCaption`]: the API reports the
    /// item with its offer, `GroupFileOffered`).
    GroupReceivedCaption(
        crate::group_store::Group,
        crate::group_store::Member,
        ChatItem,
    ),
    /// An informational item of a group's chat (what happened in it): ours, or said by a
    /// member.
    GroupInfoItem(
        crate::group_store::Group,
        Option<crate::group_store::Member>,
        ChatItem,
    ),
    /// A member removed us from a group.
    RemovedFromGroup(
        crate::group_store::Group,
        crate::group_store::Member,
        Option<crate::group_keys::SigStatus>,
    ),
    /// A member removed another.
    MemberRemovedBy {
        /// The group.
        group: crate::group_store::Group,
        /// Who removed it.
        by: crate::group_store::Member,
        /// The member removed.
        member: crate::group_store::Member,
        /// Its signature, when it came signed (`group_keys.rs`; the API's `msgSigned`).
        signed: Option<crate::group_keys::SigStatus>,
    },
    /// A member left.
    MemberLeft(
        crate::group_store::Group,
        crate::group_store::Member,
        Option<crate::group_keys::SigStatus>,
    ),
    /// The owner deleted the group.
    GroupDeletedBy(
        crate::group_store::Group,
        crate::group_store::Member,
        Option<crate::group_keys::SigStatus>,
    ),
    /// A member changed a member's role (ours: `member` none).
    RoleChangedBy {
        /// The group.
        group: crate::group_store::Group,
        /// Who changed it.
        by: crate::group_store::Member,
        /// Whose (none: ours).
        member: Option<crate::group_store::Member>,
        /// The role before.
        from: crate::protocol::GroupMemberRole,
        /// The role now.
        to: crate::protocol::GroupMemberRole,
        /// Its signature, when it came signed (`group_keys.rs`; the API's `msgSigned`).
        signed: Option<crate::group_keys::SigStatus>,
    },
    /// Something went wrong in the background.
    Error(String),
}

/// The other side of an agent connection.
// Made once per agent event and moved on: the larger variant's size is no cost.
#[allow(clippy::large_enum_variant)]
enum Peer {
    Contact(Contact),
    Member(crate::group_store::Group, crate::group_store::Member),
}

/// What a start reports ([`Chat::start_summary`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StartSummary {
    /// Contacts whose queues are subscribed.
    pub connected: usize,
    /// Contacts on a relay that could not be reached (tried again meanwhile).
    pub errors: usize,
    /// Groups with a member connected.
    pub groups: Vec<crate::group_store::Group>,
}

/// Where and how a chat runs.
#[derive(Debug, Clone)]
pub struct ChatConfig {
    /// Database prefix: `<prefix>_chat.db` and `<prefix>_agent.db`.
    pub db_prefix: PathBuf,
    /// Database key (SQLCipher), for both databases.
    pub db_key: Option<String>,
    /// The SMP relay new queues are created on.
    pub smp_server: SmpServer,
    /// Connection options.
    pub connect: ConnectOptions,
    /// XFTP relays files are uploaded to (chunks spread over them).
    pub xftp_servers: Vec<xftp_proto::address::ServerAddress>,
    /// Where received files are saved when `/fr` names no path.
    pub files_folder: PathBuf,
    /// The largest file accepted for download.
    pub max_file_size: u64,
    /// Files up to this size are accepted when offered (0: none), saved into `files_folder`.
    pub auto_accept_size: u64,
    /// How many events wait for the client at most ([`DEFAULT_EVENT_QUEUE`], `-q`): the chat
    /// waits while the queue is full.
    pub event_queue: usize,
    /// `--relay`: serve channels whose owners ask (see [`crate::channels`]).
    pub chat_relay: bool,
    /// `--relay-address-server`: the SMP relay a chat relay's address is made on (else one of
    /// `smp_servers`).
    pub relay_address_server: Option<SmpServer>,
    /// `--relay-max-channels`: the most channels a chat relay serves at once
    /// ([`crate::channels::DEFAULT_MAX_CHANNELS`]); more owners asking are refused.
    pub relay_max_channels: usize,
}

/// The event queue's default size, as the reference's `--queue-size`.
pub const DEFAULT_EVENT_QUEUE: usize = 1024;

pub(crate) struct Inner {
    /// The user's id (several users share a database prefix: [`crate::users::Users`]).
    user_id: std::sync::atomic::AtomicI64,
    /// The active user: its events are shown as they are, another user's marked.
    active: std::sync::atomic::AtomicBool,
    /// The user's privacy (`/mute user`, `/hide user`), kept by the users host.
    privacy: Mutex<crate::users::Privacy>,
    pub(crate) agent: Agent,
    store: Mutex<ChatStore>,
    profile: Mutex<Profile>,
    events: mpsc::Sender<Event>,
    pub(crate) pool: Arc<xftp_client::agent::Pool>,
    /// The XFTP relays uploads go to (`/xftp` changes them).
    pub(crate) xftp_servers: Mutex<Vec<xftp_proto::address::ServerAddress>>,
    /// The relays the options named (`/smp default`, `/xftp default` go back to them).
    pub(crate) configured_smp: Vec<SmpServer>,
    pub(crate) configured_xftp: Vec<xftp_proto::address::ServerAddress>,
    pub(crate) files_folder: PathBuf,
    pub(crate) max_file_size: u64,
    pub(crate) auto_accept_size: u64,
    /// Resumable upload state (keys: mode 0600 files in a 0700 folder).
    pub(crate) state_dir: PathBuf,
    /// Woken when a disappearing message's timer is set.
    pub(crate) timers: tokio::sync::Notify,
    /// Receiving and sending (false after `/_stop`, or opened stopped).
    running: std::sync::atomic::AtomicBool,
    /// Counts starts: a background task of an earlier start ends when it changes.
    generation: std::sync::atomic::AtomicU64,
    /// Delivery receipts are sent to contacts (the stored setting, read once at open).
    receipts: std::sync::atomic::AtomicBool,
    /// `/show on`: live messages shown as they are typed (the terminal's view; not kept).
    show_live: std::sync::atomic::AtomicBool,
    /// The calls in progress, by contact (`calls.rs`; not kept across restarts).
    pub(crate) calls: std::sync::Mutex<crate::calls::Calls>,
    /// Held by a call command or a contact's call event for all its work: one at a time.
    pub(crate) call_turn: tokio::sync::Mutex<()>,
    /// The user's theme overrides as the API gives them (`themes.rs`; kept in the settings,
    /// here for every `User` the API writes).
    pub(crate) user_themes: Mutex<Option<serde_json::Value>>,
    /// Channels of ours whose subscriber count changed and whose link's data is about to be
    /// rewritten (`channels.rs` `count_changed`).
    pub(crate) counts_due: Mutex<std::collections::HashSet<i64>>,
    /// `--relay`: this client serves channels (see [`crate::channels`]).
    pub(crate) chat_relay: bool,
    /// `--relay-address-server`: where a chat relay's address is made.
    pub(crate) relay_address_server: Option<SmpServer>,
    /// `--relay-max-channels`.
    pub(crate) relay_max_channels: usize,
    /// Messages the relay refused before their item was recorded (see
    /// [`Chat::record_sent_item`]).
    pub(crate) early_refusals: Mutex<std::collections::VecDeque<(ConnId, i64)>>,
    /// Running uploads and downloads, by file.
    pub(crate) transfers: Mutex<std::collections::HashMap<i64, tokio::task::JoinHandle<()>>>,
    /// Their progress, by file.
    pub(crate) progress: Mutex<std::collections::HashMap<i64, xftp_client::agent::Progress>>,
}

/// A running chat.
#[derive(Clone)]
pub struct Chat {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Chat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chat").finish_non_exhaustive()
    }
}

/// The answer to joining a link used already (or our own): its plan for `/c`, as the
/// reference's; for `/_connect` the known contact of an address, else an error.
pub(crate) fn used_link(link: &str, plan: LinkPlan, api: bool) -> Result<Response> {
    match (plan, api) {
        (LinkPlan::Address(LinkStatus::Known(c)), true) => Ok(Response::ContactAlreadyExists(c)),
        (plan, true) => Err(ChatError::LinkUsed(Box::new(plan))),
        (plan, false) => Ok(Response::ConnectionPlan {
            link: display_link(link),
            plan,
        }),
    }
}

/// A link as the terminal prints it: the `https://simplex.chat` scheme.
pub fn display_link(link: &str) -> String {
    // A short link names its relay's host: `simplex:/a#...` is `https://<host>/a#...`.
    if let Ok(mut short) = agent::links::ShortLink::parse(link) {
        short.simplex_scheme = false;
        return short.to_link();
    }
    match link.strip_prefix("simplex:") {
        Some(rest) => format!("https://simplex.chat{rest}"),
        None => link.to_string(),
    }
}

/// A link the agent made, as shown: the full one and the short one (`""`: none).
pub(crate) fn made_link(full: &str, short: &str) -> ConnLink {
    ConnLink {
        full: display_link(full),
        short: (!short.is_empty()).then(|| display_link(short)),
    }
}

/// The data of an address's or an invitation's (`what`) short link: the owner's profile, its
/// welcome message, whether it is a business.
fn contact_link_data(data: &[u8], what: &str) -> Result<ContactLinkData> {
    let bad = |e: &dyn std::fmt::Display| ChatError::Agent(format!("the {what}'s link data: {e}"));
    let json = crate::compress::read_link_data(data).map_err(|e| bad(&e))?;
    serde_json::from_slice(&json).map_err(|e| bad(&e))
}

/// Whether `link` is a short link of `kind`: a channel's (`c`, joined through its relays), a
/// contact address's (`a`), a group link's (`g`, whose data can be read without using it) or
/// an invitation's (`i`, whose data is read by securing its queue).
fn is_short(link: &str, kind: agent::links::ShortLinkKind) -> bool {
    agent::links::ShortLink::parse(link.trim()).is_ok_and(|s| s.kind == kind)
}

/// A channel's short link (`c`).
pub(crate) fn is_channel_link(link: &str) -> bool {
    is_short(link, agent::links::ShortLinkKind::Channel)
}

/// Whether a link is an address (or a group link, requested as one) rather than a one-time
/// invitation. A short link says so by its type; a relay's link is not for users.
pub(crate) fn is_address_link(link: &str) -> Result<bool> {
    use agent::links::{ShortLink, ShortLinkKind};
    match ShortLink::parse(link.trim()) {
        Ok(s) => match s.kind {
            ShortLinkKind::Invitation => Ok(false),
            ShortLinkKind::Contact | ShortLinkKind::Group => Ok(true),
            ShortLinkKind::Channel => Ok(true),
            ShortLinkKind::Relay => Err(ChatError::BadCommand(
                "a chat relay's link for a channel: join the channel by its own link".into(),
            )),
        },
        Err(_) => Ok(link.contains("/contact")),
    }
}

/// What [`Chat::join_link`] joins, and as whom.
pub(crate) struct JoinLink<'a> {
    /// The link.
    pub link: &'a str,
    /// An address (else a one-time invitation).
    pub address: bool,
    /// The random profile shown instead of the user's.
    pub shown_as: Option<&'a Profile>,
    /// The link as the connection in progress keeps it.
    pub shown_link: &'a str,
    /// The address's welcome message as the requester has it (its shared id).
    pub welcome_msg_id: Option<crate::protocol::SharedMsgId>,
    /// A first message with the request.
    pub request_msg: Option<(crate::protocol::SharedMsgId, crate::protocol::MsgContent)>,
}

/// A link we made: the full link and, when its relay keeps link data, the short one (both as
/// shown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnLink {
    /// The full link (`https://simplex.chat/contact#/?v=...`).
    pub full: String,
    /// The short link (`https://<relay host>/a#...`).
    pub short: Option<String>,
}

impl ConnLink {
    /// The link to pass on: the short one when there is one.
    pub fn shown(&self) -> &str {
        self.short.as_deref().unwrap_or(&self.full)
    }
}

/// The largest link data we send (compressed when over 10,240 bytes, as the reference's), so
/// that it fits the relay's 13,784 bytes with the link's other fields.
const MAX_LINK_DATA: usize = crate::compress::LINK_DATA_PLAIN_MAX;

/// The data of our invitation and address short links (the reference's
/// `ContactShortLinkData`): the profile a peer sees before connecting, compressed when large;
/// an address's says whether it is a business and has its welcome message (the auto-reply).
/// Data too large even so goes without the profile's image and the welcome message; still
/// too large, there is no short link (none: use the full link).
pub(crate) fn short_link_data(
    profile: &Profile,
    business: bool,
    welcome: Option<&crate::protocol::MsgContent>,
    relay: bool,
) -> Option<Vec<u8>> {
    fitting_link_data(
        &(profile.clone(), welcome.cloned()),
        |(p, w)| {
            p.image = None;
            *w = None;
        },
        |(p, w)| {
            let mut v = serde_json::json!({"profile": p, "business": business});
            if let Some(m) = w {
                v["message"] = serde_json::to_value(m).ok()?;
            }
            // A chat relay's address also reads as the reference's `RelayAddressLinkData`
            // (its owners read the relay's profile there when they test and add it).
            if relay {
                let mut r = serde_json::json!({
                    "displayName": p.display_name,
                    "fullName": p.full_name,
                });
                if let Some(d) = &p.short_descr {
                    r["shortDescr"] = d.clone().into();
                }
                if let Some(i) = &p.image {
                    r["image"] = i.clone().into();
                }
                v["relayProfile"] = r;
            }
            serde_json::to_vec(&v).ok()
        },
    )
}

/// Link data of `value` (its JSON by `json`, compressed when large) within [`MAX_LINK_DATA`]:
/// as it is, else without what `strip` takes out (its image); none when too large even so.
pub(crate) fn fitting_link_data<T: Clone>(
    value: &T,
    strip: impl Fn(&mut T),
    json: impl Fn(&T) -> Option<Vec<u8>>,
) -> Option<Vec<u8>> {
    let data = |v: &T| {
        json(v)
            .and_then(|j| crate::compress::link_data(j).ok())
            .filter(|d| d.len() <= MAX_LINK_DATA)
    };
    data(value).or_else(|| {
        let mut v = value.clone();
        strip(&mut v);
        data(&v)
    })
}

pub(crate) fn new_shared_msg_id() -> B64 {
    let mut id = vec![0u8; 12];
    simplex_crypto::random_bytes(&mut id);
    B64(id)
}

impl Chat {
    /// Opens (creating) the chat database of `config`, to see whether it has a user before
    /// [`Chat::open_on`] (which takes it over: the key is derived once).
    pub fn open_store(config: &ChatConfig) -> Result<ChatStore> {
        Ok(ChatStore::open(
            &db_path(config, "chat"),
            config.db_key.as_deref(),
        )?)
    }

    /// Opens the databases and starts the agent; `new_user` creates the user when the
    /// database has none. Events must be read.
    pub async fn open(
        config: &ChatConfig,
        new_user: Option<Profile>,
    ) -> Result<(Self, mpsc::Receiver<Event>)> {
        Self::open_on(Self::open_store(config)?, config, new_user).await
    }

    /// [`Chat::open`] on a chat database already open ([`Chat::open_store`]).
    pub async fn open_on(
        store: ChatStore,
        config: &ChatConfig,
        new_user: Option<Profile>,
    ) -> Result<(Self, mpsc::Receiver<Event>)> {
        Self::open_with(store, config, new_user, true).await
    }

    /// Like [`Chat::open_on`]; with `start` false the chat is opened stopped (the reference's
    /// maintenance mode, `-m`): its databases can be read, no relay is contacted, nothing is
    /// received or sent until [`Chat::start`] (`/_start`).
    pub async fn open_with(
        mut store: ChatStore,
        config: &ChatConfig,
        new_user: Option<Profile>,
        start: bool,
    ) -> Result<(Self, mpsc::Receiver<Event>)> {
        let profile = match (store.user()?, new_user) {
            (Some(p), _) => p,
            (None, Some(p)) => {
                store.set_user(&p)?;
                p
            }
            (None, None) => {
                return Err(ChatError::Command(crate::command::CommandError(
                    "no user profile: create one first".into(),
                )))
            }
        };
        let mut agent_store =
            agent::store::Store::open(&db_path(config, "agent"), config.db_key.as_deref())
                .map_err(agent_err)?;
        agent_store.set_id_base(store.id_base().max(0) as u64);
        let (agent, agent_events) = if start {
            Agent::open(
                config.smp_server.clone(),
                config.connect.clone(),
                agent_store,
            )
            .await
        } else {
            Agent::open_stopped(
                config.smp_server.clone(),
                config.connect.clone(),
                agent_store,
            )
        }
        .map_err(agent_err)?;
        // Short links on the reference's preset relays name only the host.
        agent.set_link_presets(&crate::presets::short_link_relays());
        let (tx, rx) = mpsc::channel(config.event_queue.max(1));
        let receipts = store.setting(RECEIPTS_SETTING)?.as_deref() != Some("off");
        let user_themes =
            crate::themes::json(store.setting(crate::themes::USER_THEMES)?.as_deref());
        let chat = Self {
            inner: Arc::new(Inner {
                user_id: std::sync::atomic::AtomicI64::new(USER_ID),
                active: std::sync::atomic::AtomicBool::new(true),
                privacy: Mutex::new(crate::users::Privacy::default()),
                agent,
                store: Mutex::new(store),
                profile: Mutex::new(profile),
                events: tx,
                pool: Arc::new(xftp_client::agent::Pool::with_network(
                    config.connect.socks.clone(),
                    config.connect.network,
                )),
                xftp_servers: Mutex::new(config.xftp_servers.clone()),
                configured_smp: vec![config.smp_server.clone()],
                configured_xftp: config.xftp_servers.clone(),
                files_folder: config.files_folder.clone(),
                max_file_size: config.max_file_size,
                auto_accept_size: config.auto_accept_size,
                state_dir: {
                    let mut p = config.db_prefix.clone().into_os_string();
                    p.push("_xftp");
                    PathBuf::from(p)
                },
                timers: tokio::sync::Notify::new(),
                running: std::sync::atomic::AtomicBool::new(start),
                generation: std::sync::atomic::AtomicU64::new(0),
                receipts: std::sync::atomic::AtomicBool::new(receipts),
                show_live: std::sync::atomic::AtomicBool::new(false),
                calls: std::sync::Mutex::new(crate::calls::Calls::new()),
                call_turn: tokio::sync::Mutex::new(()),
                user_themes: Mutex::new(user_themes),
                counts_due: Mutex::default(),
                chat_relay: config.chat_relay,
                relay_address_server: config.relay_address_server.clone(),
                relay_max_channels: config.relay_max_channels,
                early_refusals: Mutex::default(),
                transfers: Mutex::new(std::collections::HashMap::new()),
                progress: Mutex::new(std::collections::HashMap::new()),
            }),
        };
        // The relays the user set (`/smp`, `/xftp`) replace the configured ones.
        chat.apply_stored_servers()?;
        // Calls we were invited to before a stop, still to be answered.
        chat.load_calls()?;
        tokio::spawn(chat.clone().run(agent_events));
        if start {
            chat.start_tasks()?;
        }
        Ok((chat, rx))
    }

    /// The work a start resumes: unfinished deletions, disappearing messages, transfers and
    /// introductions.
    fn start_tasks(&self) -> Result<()> {
        let generation = self
            .inner
            .generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        // In the background: deleting on a relay that cannot be reached waits for its timeout.
        {
            let chat = self.clone();
            tokio::spawn(async move {
                if let Err(e) = chat.resume_deletions().await {
                    chat.emit(Event::Error(format!("resuming deletions: {e}")))
                        .await;
                }
            });
        }
        tokio::spawn(self.clone().delete_timed(generation));
        self.resume_transfers()?;
        {
            let chat = self.clone();
            tokio::spawn(async move {
                if let Err(e) = chat.resume_introductions().await {
                    chat.emit(Event::Error(format!("resuming introductions: {e}")))
                        .await;
                }
            });
        }
        Ok(())
    }

    /// The user's id: 1 for a chat of its own, the registered id for one of several users.
    pub fn user_id(&self) -> i64 {
        self.inner.user_id.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// What a start reports (the reference's subscription summary): the contacts whose
    /// queues are subscribed, those on a relay that could not be reached, and the groups
    /// with a member connected. Nothing while the chat is stopped.
    pub fn start_summary(&self) -> Result<StartSummary> {
        let mut s = StartSummary::default();
        if !self.is_running() {
            return Ok(s);
        }
        let down = self.inner.agent.unreachable();
        let store = self.store();
        for c in store.contacts()? {
            match (c.conn_id, c.ready && !c.deleted_by_contact) {
                (Some(conn), true) if down.contains(&conn) => s.errors += 1,
                (Some(_), true) => s.connected += 1,
                _ => {}
            }
        }
        for g in store.groups()? {
            if !matches!(
                g.status,
                crate::group_store::MemberStatus::Connected
                    | crate::group_store::MemberStatus::Creator
            ) {
                continue;
            }
            let reached = store.members(g.group_id)?.iter().any(|m| {
                m.status == crate::group_store::MemberStatus::Connected
                    && m.conn_id.is_some_and(|c| !down.contains(&c))
            });
            if reached {
                s.groups.push(g);
            }
        }
        Ok(s)
    }

    /// Whether this is the active user (always, for a chat of its own).
    pub fn is_active(&self) -> bool {
        self.inner.active.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Sets the user's id and whether it is active (by the users host).
    pub(crate) fn set_identity(&self, user_id: i64, active: bool) {
        self.inner
            .user_id
            .store(user_id, std::sync::atomic::Ordering::SeqCst);
        self.inner
            .active
            .store(active, std::sync::atomic::Ordering::SeqCst);
    }

    /// The user's privacy: muted, hidden.
    pub fn privacy(&self) -> crate::users::Privacy {
        self.inner
            .privacy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Sets the user's privacy (by the users host).
    pub(crate) fn set_privacy(&self, privacy: crate::users::Privacy) {
        *self.inner.privacy.lock().unwrap_or_else(|p| p.into_inner()) = privacy;
    }

    /// Whether the chat runs (not stopped by `/_stop` or opened stopped).
    pub fn is_running(&self) -> bool {
        self.inner.running.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// `/_start`: a stopped chat subscribes its queues again, sends what waits and resumes
    /// its transfers; false when it was running already.
    pub async fn start(&self) -> Result<bool> {
        if self
            .inner
            .running
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return Ok(false);
        }
        if let Err(e) = self.inner.agent.resume().await {
            self.close().await;
            return Err(agent_err(e));
        }
        self.start_tasks()?;
        Ok(true)
    }

    /// Stops: no more messages are handled or sent (transfers in progress stop too); what is
    /// stored stays for [`Chat::start`] or the next [`Chat::open`].
    pub async fn close(&self) {
        self.inner
            .running
            .store(false, std::sync::atomic::Ordering::SeqCst);
        let running: Vec<_> = self
            .inner
            .transfers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .map(|(_, h)| h)
            .collect();
        for h in running {
            h.abort();
        }
        self.inner.agent.close().await;
        // The disappearing-message task sees the agent closed and ends.
        self.inner.timers.notify_one();
    }

    /// The contact with a local name, or [`ChatError::NoContact`].
    pub(crate) fn contact_named(&self, name: &str) -> Result<Contact> {
        self.store()
            .contact_by_name(name)?
            .ok_or_else(|| ChatError::NoContact(name.to_string()))
    }

    /// The local names of the user's contacts and groups (the terminal's Tab completion);
    /// empty when the store cannot be read.
    pub fn chat_names(&self) -> (Vec<String>, Vec<String>) {
        let store = self.store();
        let contacts = store
            .contacts()
            .map(|cs| cs.into_iter().map(|c| c.local_name).collect())
            .unwrap_or_default();
        let groups = store
            .groups()
            .map(|gs| gs.into_iter().map(|g| g.local_name).collect())
            .unwrap_or_default();
        (contacts, groups)
    }

    /// The user's profile.
    pub fn profile(&self) -> Profile {
        self.inner
            .profile
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn store(&self) -> std::sync::MutexGuard<'_, ChatStore> {
        self.inner.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `x.info` with the user's profile, or with an incognito one.
    pub(crate) fn info_as(&self, incognito: Option<&Profile>) -> Vec<u8> {
        let profile = incognito.cloned().unwrap_or_else(|| self.profile());
        ChatMessage::new(None, ChatEvent::Info { profile }).encode()
    }

    /// The profile a contact knows us by: the user's (or the incognito one), with every
    /// preference once the user set any for it (`/_set prefs`).
    fn profile_for(&self, c: &Contact) -> Profile {
        let mut p = c.incognito.clone().unwrap_or_else(|| self.profile());
        if c.user_prefs.is_some() {
            // Over the user's own (an incognito profile has none of its own).
            let own = p.preferences.take();
            p.preferences = Some(crate::features::profile_preferences(
                c.user_prefs.as_ref(),
                own.as_ref(),
            ));
        }
        p
    }

    /// `/_set prefs @N {...}`: the user's preferences for a contact; when what the contact
    /// knows of them changes, it is sent our profile with them (`x.info`) and the chat gets
    /// an item per feature whose state changed.
    async fn set_contact_prefs(&self, c: Contact, prefs: serde_json::Value) -> Result<Response> {
        let (Some(conn), true) = (c.conn_id, c.ready) else {
            return Err(ChatError::NotReady(c.local_name));
        };
        if c.user_prefs.as_ref() == Some(&prefs) {
            return Ok(Response::ContactPrefsUpdated {
                from: c.clone(),
                to: c,
            });
        }
        let to = Contact {
            user_prefs: Some(prefs.clone()),
            ..c.clone()
        };
        // What the contact is sent without preferences of its own: those of the profile it
        // knows (an incognito one has none of the user's).
        let own = match &c.incognito {
            Some(p) => p.preferences.clone(),
            None => self.profile().preferences,
        };
        let known = crate::features::profile_preferences(c.user_prefs.as_ref(), own.as_ref());
        let changed = crate::features::profile_preferences(Some(&prefs), own.as_ref()) != known;
        self.store().set_contact_user_prefs(c.contact_id, &prefs)?;
        if changed {
            let profile = self.profile_for(&to);
            let info = ChatMessage::new(None, ChatEvent::Info { profile }).encode();
            if let Err(e) = self.send_body(conn, &info).await {
                self.emit(Event::Error(format!("sending preferences: {e}")))
                    .await;
            }
            let changed = crate::features::changed_items(
                &crate::features::Prefs::of(&c),
                &crate::features::Prefs::of(&to),
                true,
            );
            self.add_info(&to, &changed).await?;
        }
        Ok(Response::ContactPrefsUpdated { from: c, to })
    }

    /// `/switch @name`: the contact's receiving queue moved to a new queue on our relay.
    async fn switch_contact(&self, who: crate::command::ContactName) -> Result<Response> {
        let (contact, conn) = self.connected_contact(who)?;
        let server = self.inner.agent.server();
        self.inner
            .agent
            .switch_connection(conn, server)
            .await
            .map_err(switch_error)?;
        Ok(Response::SwitchStarted(contact))
    }

    /// What the relay says of a connection's receiving queue (QUE), as the reference's
    /// `ServerQueueInfo` JSON (its `info` as the relay wrote it).
    async fn queue_info(&self, conn: ConnId) -> Result<Response> {
        let q = self.inner.agent.queue_info(conn).await.map_err(agent_err)?;
        let info: serde_json::Value = serde_json::from_str(&q.info)
            .map_err(|e| ChatError::Agent(format!("the relay's queue information: {e}")))?;
        Ok(Response::QueueInfo(serde_json::json!({
            "server": q.server,
            "rcvId": q.rcv_id,
            "sndId": q.snd_id,
            "status": q.status,
            "info": info,
        })))
    }

    /// `/abort switch @name`: a rotation the contact has not answered yet stopped.
    async fn abort_switch_contact(&self, who: crate::command::ContactName) -> Result<Response> {
        let (contact, conn) = self.connected_contact(who)?;
        self.inner
            .agent
            .abort_switch(conn)
            .await
            .map_err(switch_error)?;
        Ok(Response::SwitchAborted(contact))
    }

    /// `/abort switch #group member`: a member's.
    async fn abort_switch_member(
        &self,
        group: crate::command::ContactName,
        member: crate::command::ContactName,
    ) -> Result<Response> {
        let (g, m, conn) = self.connected_member(group, member)?;
        self.inner
            .agent
            .abort_switch(conn)
            .await
            .map_err(switch_error)?;
        Ok(Response::MemberSwitchAborted(g, m))
    }

    /// `/sync @name [force=on]`: the contact's ratchet re-synchronised (allowed after a
    /// decryption error, or forced); the chat gets its start as an item.
    async fn sync_contact(
        &self,
        who: crate::command::ContactName,
        force: bool,
    ) -> Result<Response> {
        let (contact, conn) = self.connected_contact(who)?;
        self.inner
            .agent
            .synchronize_ratchet(conn, force)
            .await
            .map_err(agent_error)?;
        let item = crate::features::InfoItem::ratchet_sync(true, SyncState::Started);
        self.add_info(&contact, &[item]).await?;
        Ok(Response::SyncStarted(contact))
    }

    /// `/sync #group member [force=on]`: a member's.
    async fn sync_member(
        &self,
        group: crate::command::ContactName,
        member: crate::command::ContactName,
        force: bool,
    ) -> Result<Response> {
        let (g, m, conn) = self.connected_member(group, member)?;
        self.inner
            .agent
            .synchronize_ratchet(conn, force)
            .await
            .map_err(agent_error)?;
        Ok(Response::MemberSyncStarted(g, m))
    }

    /// Whose connection it is: a contact's, or a group member's (with its group).
    fn peer_of(&self, conn: ConnId) -> Result<Option<Peer>> {
        let store = self.store();
        if let Some(c) = store.contact_by_conn(conn)? {
            return Ok(Some(Peer::Contact(c)));
        }
        let Some(m) = store.member_by_conn(conn)? else {
            return Ok(None);
        };
        Ok(store.group(m.group_id)?.map(|g| Peer::Member(g, m)))
    }

    /// Stores informational items in a contact's chat and reports each.
    pub(crate) async fn add_info(
        &self,
        contact: &Contact,
        items: &[crate::features::InfoItem],
    ) -> Result<()> {
        let stored = self.store().add_info_items(contact.contact_id, items)?;
        for item in stored {
            self.emit(Event::InfoItem(contact.clone(), item)).await;
        }
        Ok(())
    }

    /// Stores informational items in a group's chat (received ones said by `by`) and
    /// reports each. On the heap: it is awaited in the large event handlers.
    pub(crate) fn add_group_info<'a>(
        &'a self,
        g: &'a crate::group_store::Group,
        by: Option<&'a crate::group_store::Member>,
        items: &'a [crate::features::InfoItem],
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + Send + 'a>> {
        self.add_group_info_in(g, by, None, items)
    }

    /// Stores informational items in a support chat of a group (ours: `member` none; a
    /// member's) and reports each; received ones said by `by`.
    pub(crate) fn add_support_info<'a>(
        &'a self,
        g: &'a crate::group_store::Group,
        by: Option<&'a crate::group_store::Member>,
        member: Option<&'a crate::group_store::Member>,
        items: &'a [crate::features::InfoItem],
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + Send + 'a>> {
        let scope = crate::store::ItemScope {
            member: member.map(|m| m.group_member_id),
            name: member.map(|m| m.local_name.clone()),
        };
        self.add_group_info_in(g, by, Some(scope), items)
    }

    /// Stores a group's informational items, in its chat or (`scope`) a support chat.
    fn add_group_info_in<'a>(
        &'a self,
        g: &'a crate::group_store::Group,
        by: Option<&'a crate::group_store::Member>,
        scope: Option<crate::store::ItemScope>,
        items: &'a [crate::features::InfoItem],
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + Send + 'a>> {
        on_heap(move || async move {
            let stored = self.store().add_group_info_items_in(
                g.group_id,
                by.map(|m| m.group_member_id),
                scope,
                items,
            )?;
            for item in stored {
                let author = if item.sent { None } else { by.cloned() };
                self.emit(Event::GroupInfoItem(g.clone(), author, item))
                    .await;
            }
            Ok(())
        })
    }

    /// Messages of a contact did not decrypt: an item says so, or the last one (the same
    /// error just before) counts them too (`chatItemUpdated`), as the reference's.
    async fn decrypt_failed(
        &self,
        conn: ConnId,
        error: agent::agent::DecryptError,
        count: u32,
    ) -> Result<()> {
        // The same error as the chat's last item (from the same member in a group): counted
        // there; else a new item.
        let same_error = |last: Option<ChatItem>, member: Option<i64>| {
            last.filter(|i| {
                i.group_member_id == member
                    && i.info.as_ref().is_some_and(|v| {
                        v["type"] == "rcvDecryptionError"
                            && v["msgDecryptError"] == error.api_name()
                    })
            })
        };
        let counted = |item: &ChatItem| {
            let before = item
                .info
                .as_ref()
                .and_then(|v| v["msgCount"].as_u64())
                .unwrap_or(0);
            let total = u32::try_from(before)
                .unwrap_or(u32::MAX)
                .saturating_add(count);
            crate::features::InfoItem::decryption_error(error, total)
        };
        match self.peer_of(conn)? {
            Some(Peer::Contact(contact)) => {
                let last = self.store().items(contact.contact_id, 1)?.pop();
                match same_error(last, None) {
                    Some(item) => {
                        let now = counted(&item);
                        let item = self.store().update_info_item(item, &now)?;
                        self.emit(Event::Updated(contact, item)).await;
                    }
                    None => {
                        let item = crate::features::InfoItem::decryption_error(error, count);
                        self.add_info(&contact, &[item]).await?;
                    }
                }
            }
            Some(Peer::Member(g, m)) => {
                let last = self.store().group_items(g.group_id, 1)?.pop();
                match same_error(last, Some(m.group_member_id)) {
                    Some(item) => {
                        let now = counted(&item);
                        let item = self.store().update_info_item(item, &now)?;
                        self.emit(Event::GroupItemUpdated(g, m, item)).await;
                    }
                    None => {
                        let item = crate::features::InfoItem::decryption_error(error, count);
                        self.add_group_info(&g, Some(&m), &[item]).await?;
                    }
                }
            }
            None => {}
        }
        Ok(())
    }

    /// A connected contact named by a command, with its connection.
    pub(crate) fn connected_contact(
        &self,
        who: crate::command::ContactName,
    ) -> Result<(Contact, ConnId)> {
        let contact = match who {
            crate::command::ContactName::Name(n) => self.contact_named(&n)?,
            crate::command::ContactName::Id(id) => self.contact_by_id(id)?,
        };
        match (contact.conn_id, contact.ready) {
            (Some(conn), true) => Ok((contact, conn)),
            _ => Err(ChatError::NotReady(contact.local_name)),
        }
    }

    /// A connected member named by a command, with its group and connection.
    pub(crate) fn connected_member(
        &self,
        group: crate::command::ContactName,
        member: crate::command::ContactName,
    ) -> Result<(
        crate::group_store::Group,
        crate::group_store::Member,
        ConnId,
    )> {
        use crate::command::ContactName;
        let g = match group {
            ContactName::Name(n) => self.group_named(&n)?,
            ContactName::Id(id) => self.group_by_id(id)?,
        };
        let m = match member {
            ContactName::Name(n) => self.member_named(&g, &n)?,
            ContactName::Id(id) => self
                .store()
                .member(id)?
                .filter(|m| m.group_id == g.group_id)
                .ok_or_else(|| ChatError::NotGroupMember(id.to_string()))?,
        };
        match (m.conn_id, m.status) {
            (Some(c), crate::group_store::MemberStatus::Connected) => Ok((g, m, c)),
            _ => Err(ChatError::NotGroupMember(m.local_name)),
        }
    }

    /// A connection's re-synchronisation state changed (the agent's RSYNC): shown, and kept
    /// as an item of a direct chat - unless a decryption error caused it (`with_error`): its
    /// item is then the error's, as the reference's. Its start is the `/sync` command's
    /// (ours) or silent.
    async fn ratchet_synced(&self, conn: ConnId, state: SyncState, with_error: bool) -> Result<()> {
        if state == SyncState::Started {
            return Ok(());
        }
        match self.peer_of(conn)? {
            Some(Peer::Contact(contact)) => {
                if !with_error {
                    let item = crate::features::InfoItem::ratchet_sync(false, state);
                    self.add_info(&contact, &[item]).await?;
                }
                self.emit(Event::RatchetSync {
                    contact: Some(contact),
                    member: None,
                    state,
                })
                .await;
            }
            Some(Peer::Member(group, member)) => {
                self.emit(Event::RatchetSync {
                    contact: None,
                    member: Some((group, member)),
                    state,
                })
                .await;
            }
            None => {}
        }
        Ok(())
    }

    /// `/switch #group member`: a connected member's.
    async fn switch_member(
        &self,
        group: crate::command::ContactName,
        member: crate::command::ContactName,
    ) -> Result<Response> {
        let (g, m, conn) = self.connected_member(group, member)?;
        let server = self.inner.agent.server();
        self.inner
            .agent
            .switch_connection(conn, server)
            .await
            .map_err(switch_error)?;
        Ok(Response::MemberSwitchStarted(g, m))
    }

    /// A queue rotation moved on (the agent's SWITCH): shown, and its start and end kept as
    /// items of a direct chat.
    async fn queue_switched(
        &self,
        conn: ConnId,
        direction: agent::agent::QueueDirection,
        phase: SwitchPhase,
    ) -> Result<()> {
        let ours = direction == agent::agent::QueueDirection::Receiving;
        match self.peer_of(conn)? {
            Some(Peer::Contact(contact)) => {
                if let Some(item) = crate::features::InfoItem::switch(ours, phase) {
                    self.add_info(&contact, &[item]).await?;
                }
                self.emit(Event::ContactSwitch {
                    contact,
                    ours,
                    phase,
                })
                .await;
            }
            Some(Peer::Member(group, member)) => {
                self.emit(Event::MemberSwitch {
                    group,
                    member,
                    ours,
                    phase,
                })
                .await;
            }
            None => {}
        }
        Ok(())
    }

    /// Parses and runs one command line.
    pub async fn execute_line(&self, line: &str) -> Result<Response> {
        let cmd = crate::command::parse(line)?;
        self.check_user(line)?;
        self.execute(cmd).await
    }

    /// Refuses an API command naming another user (`/_contacts 2` to user 1's chat), as the
    /// reference refuses one naming a user that is not the active one.
    pub fn check_user(&self, line: &str) -> Result<()> {
        match crate::command::api_user_id(line) {
            Some(id) if id != self.user_id() => {
                Err(ChatError::DifferentActiveUser(id, self.user_id()))
            }
            _ => Ok(()),
        }
    }

    /// Runs a command.
    pub async fn execute(&self, cmd: Command) -> Result<Response> {
        if !self.is_running() && !cmd.works_stopped() {
            return Err(ChatError::NotStarted);
        }
        let agent = &self.inner.agent;
        match cmd {
            Command::CreateInvitation => on_heap(|| self.create_invitation(None)).await,
            Command::PrepareContact { link, short, data } => {
                self.prepare_contact(&link, short.as_deref(), &data)
            }
            Command::ConnectPreparedContact {
                contact_id,
                incognito,
                content,
            } => on_heap(|| self.connect_prepared_contact(contact_id, incognito, content)).await,
            Command::PrepareGroup {
                link,
                short,
                direct,
                data,
            } => self.prepare_group(&link, short.as_deref(), direct, None, &data),
            Command::ConnectPreparedGroup {
                group_id,
                incognito,
                content,
            } => on_heap(|| self.connect_prepared_group(group_id, incognito, content)).await,
            Command::ConnectPlan(link) => {
                let plan = if is_channel_link(&link) {
                    on_heap(|| self.channel_plan(&link)).await?
                } else {
                    match self.connection_plan(&link)? {
                        // A new address's short link: its data read first (LGET).
                        LinkPlan::Address(LinkStatus::Ok)
                            if is_short(&link, agent::links::ShortLinkKind::Contact) =>
                        {
                            on_heap(|| self.address_link_data(&link)).await?
                        }
                        // A new invitation's short link: the inviter's profile read first
                        // (LKEY: the invitation is ours to join from then on).
                        LinkPlan::Invitation(LinkStatus::Ok)
                            if is_short(&link, agent::links::ShortLinkKind::Invitation) =>
                        {
                            on_heap(|| self.invitation_link_data(&link)).await?
                        }
                        // A new group's short link: the group's profile read first (LGET).
                        LinkPlan::Group(GroupLinkPlan::Ok(None))
                            if is_short(&link, agent::links::ShortLinkKind::Group) =>
                        {
                            on_heap(|| self.group_link_data(&link)).await?
                        }
                        plan => plan,
                    }
                };
                Ok(Response::ConnectionPlan {
                    link: display_link(link.trim()),
                    plan,
                })
            }
            Command::CreateInvitationIncognito => {
                let profile = crate::incognito::random_profile();
                on_heap(|| self.create_invitation(Some(profile))).await
            }
            Command::ConnectIncognito(link) => on_heap(|| self.connect(link, true, false)).await,
            Command::Connect(link) => on_heap(|| self.connect(link, false, false)).await,
            Command::ApiConnect(link) => on_heap(|| self.connect(link, false, true)).await,
            Command::DeletePendingConnection(conn) => {
                // Our address is not a connection in progress (`/da` deletes it).
                let pending = self.store().pending_conn(conn)?;
                let Some((kind, _, created_at)) =
                    pending.filter(|(k, ..)| *k != PendingKind::Address)
                else {
                    return Err(ChatError::NoPendingConnection(conn));
                };
                // The agent forgets it even when its relay cannot be reached (the queue then
                // expires there): the row goes either way, the failure is logged.
                if let Err(e) = agent.delete_connection(conn).await {
                    tracing::warn!(target: "chat", conn, "deleting a connection in progress: {e}");
                }
                self.store().delete_pending(conn)?;
                Ok(Response::PendingDeleted {
                    conn,
                    kind,
                    created_at,
                })
            }
            Command::CreateAddress => {
                if self.store().address()?.is_some() {
                    return Err(ChatError::AddressExists);
                }
                let profile = self.profile();
                let (_, link) =
                    on_heap(|| self.create_link(PendingKind::Address, &profile)).await?;
                Ok(Response::AddressCreated(link))
            }
            Command::DeleteAddress => {
                let (conn, _) = self.store().address()?.ok_or(ChatError::NoAddress)?;
                match agent.delete_connection(conn).await {
                    // Gone here either way: the relay expires a queue it could not delete.
                    Ok(()) | Err(agent::agent::AgentError::Connection(_)) => {}
                    Err(e) => {
                        self.emit(Event::Error(format!("deleting the address queue: {e}")))
                            .await;
                    }
                }
                let store = self.store();
                store.delete_pending(conn)?;
                store.set_setting(ADDRESS_SETTINGS, None)?;
                Ok(Response::AddressDeleted)
            }
            Command::AddressSettings(settings) => {
                // A business chat is a group we own: no random profile for it (the
                // reference's rule).
                let incognito = settings
                    .auto_accept
                    .as_ref()
                    .is_some_and(|a| a.accept_incognito);
                if settings.business_address && incognito {
                    return Err(ChatError::Command(crate::command::CommandError(
                        "requests to business address cannot be accepted incognito".into(),
                    )));
                }
                let (_, link) = self.store().address()?.ok_or(ChatError::NoAddress)?;
                let was = self.address_settings()?;
                let json =
                    serde_json::to_string(&settings).map_err(|e| ChatError::File(e.to_string()))?;
                self.store().set_setting(ADDRESS_SETTINGS, Some(&json))?;
                // Those about to connect see whether it is a business and its welcome
                // message (the link's data).
                if was.business_address != settings.business_address
                    || was.auto_reply != settings.auto_reply
                {
                    let p = self.profile();
                    on_heap(|| self.update_address_data(&p)).await;
                }
                Ok(Response::AddressSettings(link, settings))
            }
            Command::ProfileAddress(on) => {
                let link = match (on, self.store().address()?) {
                    (true, Some((_, l))) => Some(l.full),
                    (true, None) => return Err(ChatError::NoAddress),
                    (false, _) => None,
                };
                let mut p = self.profile();
                p.contact_link = link;
                on_heap(|| self.set_profile(p)).await
            }
            Command::AcceptIncognito(name) => {
                let req = self
                    .store()
                    .request_by_name(&name)?
                    .ok_or(ChatError::NoRequest(name))?;
                self.accept_as(req, Some(crate::incognito::random_profile()))
                    .await
            }
            Command::ShowAddress => match self.store().address()? {
                Some((_, link)) => Ok(Response::Address(link)),
                None => Err(ChatError::NoAddress),
            },
            Command::Accept(name) => {
                let req = self
                    .store()
                    .request_by_name(&name)?
                    .ok_or(ChatError::NoRequest(name))?;
                on_heap(|| self.accept(req)).await
            }
            Command::AcceptId(id) => {
                let req = self
                    .store()
                    .request(id)?
                    .ok_or(ChatError::NoRequestId(id))?;
                on_heap(|| self.accept(req)).await
            }
            Command::Reject(name) => {
                let req = self
                    .store()
                    .request_by_name(&name)?
                    .ok_or(ChatError::NoRequest(name))?;
                self.reject(req)
            }
            Command::RejectId(id) => {
                let req = self
                    .store()
                    .request(id)?
                    .ok_or(ChatError::NoRequestId(id))?;
                self.reject(req)
            }
            Command::SendText { to, text } => on_heap(|| self.send_text_to(to, text)).await,
            Command::SendMemberText {
                group,
                member,
                text,
            } => on_heap(|| self.send_member_text(group, member, text)).await,
            Command::CreateMemberContact {
                group_id,
                group_member_id,
            } => on_heap(|| self.create_member_contact(group_id, group_member_id)).await,
            Command::InviteMemberContact {
                contact_id,
                content,
            } => on_heap(|| self.invite_member_contact(contact_id, content)).await,
            Command::AcceptMemberContact(contact_id) => {
                on_heap(|| self.accept_member_contact(contact_id)).await
            }
            Command::AcceptMemberContactNamed(n) => {
                let contact_id = self
                    .store()
                    .contact_by_name(&n)?
                    .ok_or(ChatError::NoContact(n))?
                    .contact_id;
                on_heap(|| self.accept_member_contact(contact_id)).await
            }
            Command::SetAcceptMemberContacts(on) => self.set_auto_accept_member_contacts(on),
            Command::AcceptMember {
                group_id,
                group_member_id,
                role,
            } => on_heap(|| self.accept_member(group_id, group_member_id, role)).await,
            Command::SetAdmissionReview { group, on } => {
                on_heap(|| self.set_admission_review(group, on)).await
            }
            Command::ApiSend { contact_id, text } => {
                on_heap(|| self.api_send(contact_id, text)).await
            }
            Command::ApiSendJson {
                chat_id,
                ttl,
                live,
                messages,
            } => on_heap(|| self.api_send_json(chat_id, ttl, live, messages)).await,
            Command::SendLive { to, group, text } => {
                on_heap(|| self.send_live(to, group, text)).await
            }
            Command::SendQuote {
                to,
                prefix,
                own,
                text,
            } => on_heap(|| self.send_quote(to, prefix, own, text)).await,
            Command::UpdateItem {
                contact_id,
                item_id,
                text,
                live,
            } => on_heap(|| self.update_item(contact_id, item_id, text, live)).await,
            Command::EditLatest { to, prefix, text } => {
                on_heap(|| self.edit_latest(to, prefix, text)).await
            }
            Command::DeleteItem {
                contact_id,
                item_ids,
                mode,
            } => on_heap(|| self.delete_items(contact_id, item_ids, mode)).await,
            Command::DeleteLatest { to, prefix } => {
                on_heap(|| self.delete_latest(to, prefix)).await
            }
            Command::SetProfile {
                display_name,
                full_name,
            } => {
                let mut p = self.profile();
                p.display_name = display_name;
                p.full_name = full_name;
                on_heap(|| self.set_profile(p)).await
            }
            Command::SetProfileJson(p) => on_heap(|| self.set_profile(p)).await,
            Command::ShowProfile => Ok(Response::Profile(self.profile())),
            Command::ShowUser => Ok(Response::ActiveUser),
            Command::ListUsers => Ok(Response::UsersList(vec![crate::users::UserListed::of(
                self,
            )?])),
            Command::CreateUser(_)
            | Command::SetActiveUser(..)
            | Command::DeleteUser { .. }
            | Command::HideUser { .. }
            | Command::UnhideUser { .. }
            | Command::MuteUser { .. }
            | Command::DbEncryption { .. }
            | Command::DbTestKey(_)
            | Command::DbExport(_)
            | Command::DbImport(_)
            | Command::DbDelete
            | Command::SaveAppSettings(_)
            | Command::GetAppSettings(_)
            | Command::ChangeUser { .. } => Err(ChatError::UsersCommand),
            Command::GetChatTags => Ok(Response::ChatTags(self.store().chat_tags()?)),
            Command::CreateChatTag(d) => self.create_chat_tag(d),
            Command::SetChatTags { chat, ids } => self.set_chat_tags(chat, ids),
            Command::ChangeChatTag(change) => self.change_chat_tag(change),
            Command::SetConnectionIncognito { conn, on } => {
                on_heap(|| self.set_connection_incognito(conn, on)).await
            }
            Command::Version => Ok(Response::Version),
            Command::GetChatItemTtl => Ok(Response::ChatItemTtl(self.chat_item_ttl()?)),
            Command::SetChatItemTtl(ttl) => self.set_chat_item_ttl(ttl),
            Command::SetChatTtl { chat, ttl } => self.set_chat_ttl(chat, ttl),
            Command::StartChat => Ok(if on_heap(|| self.start()).await? {
                Response::Started
            } else {
                Response::Running
            }),
            Command::CheckRunning => Ok(if self.is_running() {
                Response::Running
            } else {
                Response::Stopped
            }),
            Command::StopChat => {
                self.close().await;
                Ok(Response::Stopped)
            }
            Command::GetChats { count } => self.api_chats(count),
            Command::Contacts => Ok(Response::Contacts(self.store().contacts()?)),
            Command::Tail { contact, count } => {
                let store = self.store();
                let notes = || -> Result<Contact> {
                    store
                        .contact(crate::store::NOTES)?
                        .ok_or_else(|| ChatError::NoContact("*".into()))
                };
                let contacts = match contact.as_deref() {
                    Some("*") => vec![notes()?],
                    Some(n) => vec![store
                        .contact_by_name(n)?
                        .ok_or_else(|| ChatError::NoContact(n.to_string()))?],
                    None => {
                        let mut all = store.contacts()?;
                        all.push(notes()?);
                        all
                    }
                };
                let mut items = Vec::new();
                for c in contacts {
                    for i in store.items(c.contact_id, count)? {
                        items.push((c.clone(), i));
                    }
                }
                items.sort_by_key(|(_, i)| i.item_id);
                let skip = items.len().saturating_sub(count);
                Ok(Response::Items(items.split_off(skip)))
            }
            Command::SendFile { to, path } => on_heap(|| self.send_file(to, path)).await,
            Command::ForwardFile { to, file_id, image } => {
                let path = self.forwardable_file(file_id)?;
                match (to, image) {
                    (crate::command::ChatName::Group(group), _) => {
                        on_heap(|| self.send_group_file(group, path, image)).await
                    }
                    (crate::command::ChatName::Contact(to), true) => {
                        on_heap(|| self.send_image(to, path)).await
                    }
                    (crate::command::ChatName::Contact(to), false) => {
                        on_heap(|| self.send_file(to, path)).await
                    }
                    (crate::command::ChatName::Notes, _) => Err(ChatError::BadCommand(
                        "a file is forwarded to a contact or a group".into(),
                    )),
                }
            }
            Command::SendImage { to, path } => on_heap(|| self.send_image(to, path)).await,
            Command::ReceiveFile { file_id, path } => {
                on_heap(|| self.receive_file(file_id, path)).await
            }
            Command::CancelFile(id) => on_heap(|| self.cancel_file(id)).await,
            Command::FileStatus(id) => self.file_status(id),
            Command::AddNote(text) => self.add_note(text),
            Command::Forward {
                to,
                from,
                member,
                prefix,
            } => on_heap(|| self.forward_named(to, from, member, prefix)).await,
            Command::ApiForward {
                to,
                from,
                item_ids,
                ttl,
            } => on_heap(|| self.forward_ids(to, from, item_ids, ttl)).await,
            Command::Chats => self.chats(),
            Command::Search(text) => self.search(&text),
            Command::ReadChat(id) => {
                self.chat_exists(id)?;
                let started = {
                    let mut store = self.store();
                    store.set_unread(id, false)?;
                    store.mark_chat_read(id)?
                };
                if started > 0 {
                    self.inner.timers.notify_one();
                }
                Ok(Response::Ok)
            }
            Command::GetChat {
                id,
                group: false,
                scope: _,
                count,
                before,
                after,
            } => {
                self.chat_exists(id)?;
                let store = self.store();
                let c = store
                    .contact(id)?
                    .ok_or_else(|| ChatError::NoContact(format!("@{id}")))?;
                let items = store.items_page(false, id, count, before, after)?;
                Ok(Response::Chat(c, items))
            }
            Command::GetChat {
                id,
                group: true,
                scope,
                count,
                before,
                after,
            } => {
                let g = self.group_by_id(id)?;
                let items = self
                    .store()
                    .items_page_in(true, g.group_id, scope, count, before, after)?;
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    let author = match i.group_member_id {
                        Some(m) => self.store().member(m)?,
                        None => None,
                    };
                    out.push((author, i));
                }
                Ok(Response::GroupChat(g, out))
            }
            Command::Mute {
                name,
                group,
                muted,
                mentions_only,
            } => {
                if group {
                    let g = self.group_named(&name)?;
                    self.store()
                        .set_group_muted(g.group_id, muted, mentions_only)?;
                } else {
                    let c = self.contact_named(&name)?;
                    self.store().set_contact_muted(c.contact_id, muted)?;
                }
                Ok(Response::Ok)
            }
            Command::SetGroupReceipts { on, clear } => {
                self.store().set_setting(
                    crate::group_receipts::GROUP_RECEIPTS_SETTING,
                    Some(if on { "on" } else { "off" }),
                )?;
                if clear {
                    self.store().clear_group_receipts()?;
                }
                Ok(Response::Ok)
            }
            Command::SetChatReceipts { name, group, on } => {
                self.set_chat_receipts(&name, group, on)
            }
            Command::ShowServers(p) => Ok(self.show_servers(p)),
            Command::ShowItem(id) => self.show_item(id),
            Command::ItemInfo { chat, prefix } => self.item_info_named(chat, prefix),
            Command::ApiItemInfo { chat, item_id } => self.item_info_by_id(chat, item_id),
            Command::LastItemId { chat, index } => {
                let store = self.store();
                let chat = match chat {
                    None => None,
                    Some(crate::command::ChatName::Contact(n)) => Some((
                        Some(
                            store
                                .contact_by_name(&n)?
                                .ok_or(ChatError::NoContact(n))?
                                .contact_id,
                        ),
                        None,
                    )),
                    Some(crate::command::ChatName::Notes) => {
                        Some((Some(crate::store::NOTES), None))
                    }
                    Some(crate::command::ChatName::Group(n)) => Some((
                        None,
                        Some(
                            store
                                .group_by_name(&n)?
                                .ok_or(ChatError::NoGroup(n))?
                                .group_id,
                        ),
                    )),
                };
                Ok(Response::ItemId(store.last_item_id(chat, index)?))
            }
            Command::ShowLive(on) => {
                self.inner
                    .show_live
                    .store(on, std::sync::atomic::Ordering::Relaxed);
                Ok(Response::Ok)
            }
            Command::GetGroupRelays(id) => self.get_group_relays(id),
            Command::RefreshChannelData(id) => on_heap(|| self.refresh_channel_data(id)).await,
            Command::NewPublicGroup {
                relay_ids,
                profile,
                incognito,
            } => on_heap(|| self.new_public_group(relay_ids, profile, incognito)).await,
            Command::AddGroupRelays(id, ids) => on_heap(|| self.add_group_relays(id, ids)).await,
            Command::AllowRelayGroup(id) => self.allow_relay_group(id),
            Command::SetChatRelays(list) => self.set_chat_relays(list),
            Command::ShowChatRelays => Ok(Response::ChatRelays(self.store().chat_relays()?)),
            Command::SetServers(p, list) => self.set_servers(p, list),
            Command::TestServer(p, server) => on_heap(|| self.test_server(p, server)).await,
            Command::ApiChatSettings {
                contact,
                group,
                muted,
                mentions_only,
                flags,
            } => self.set_chat_settings(contact, group, (muted, mentions_only), flags),
            Command::SetReceipts { on, clear } => {
                if clear {
                    self.store().clear_contact_receipts()?;
                }
                self.store()
                    .set_setting(RECEIPTS_SETTING, Some(if on { "on" } else { "off" }))?;
                self.inner
                    .receipts
                    .store(on, std::sync::atomic::Ordering::SeqCst);
                Ok(Response::Ok)
            }
            Command::ReadGroupChat(id) => {
                let g = self.group_by_id(id)?;
                if self.store().mark_group_read(g.group_id)? > 0 {
                    self.inner.timers.notify_one();
                }
                Ok(Response::Ok)
            }
            Command::UnreadChat(id, on) => {
                self.chat_exists(id)?;
                self.store().set_unread(id, on)?;
                Ok(Response::Ok)
            }
            Command::ClearChat(name) => self.clear_chat(name),
            Command::Reaction {
                contact_id,
                item_id,
                add,
                reaction,
            } => {
                let contact = self
                    .store()
                    .contact(contact_id)?
                    .ok_or_else(|| ChatError::NoContact(format!("@{contact_id}")))?;
                let item = self
                    .store()
                    .item(contact_id, item_id)?
                    .ok_or(ChatError::NoItem(item_id))?;
                on_heap(|| self.react(contact, item, reaction, add)).await
            }
            Command::ReactLatest {
                to,
                prefix,
                add,
                emoji,
            } => {
                let contact = self.contact_named(&to)?;
                let item = self
                    .store()
                    .latest_item(contact.contact_id, false, Some(&prefix))?
                    .ok_or(ChatError::NoQuotedMessage(prefix))?;
                let reaction = serde_json::json!({"type": "emoji", "emoji": emoji});
                on_heap(|| self.react(contact, item, reaction, add)).await
            }
            Command::Help(topic) => Ok(Response::Help(topic)),
            Command::SetContactPrefs { contact_id, prefs } => {
                let contact = self.contact_by_id(contact_id)?;
                on_heap(|| self.set_contact_prefs(contact, prefs)).await
            }
            Command::SetUserFeature { feature, allow } => {
                let mut p = self.profile();
                p.preferences = Some(crate::features::with_own_pref(
                    p.preferences.as_ref(),
                    feature,
                    &allow,
                ));
                on_heap(|| self.set_profile(p)).await
            }
            Command::SetContactFeature {
                name,
                feature,
                allow,
                ttl,
            } => {
                let contact = self.contact_named(&name)?;
                let mut prefs = match &contact.user_prefs {
                    Some(serde_json::Value::Object(m)) => m.clone(),
                    _ => serde_json::Map::new(),
                };
                match allow {
                    Some(a) => {
                        let mut pref = serde_json::json!({ "allow": a });
                        // Disappearing messages on without a time: the contact's offer.
                        let ttl = match (feature, a.as_str()) {
                            ("timedMessages", "yes" | "always") => {
                                ttl.or_else(|| crate::features::Prefs::of(&contact).contact_ttl())
                            }
                            _ => None,
                        };
                        if let Some(t) = ttl {
                            pref["ttl"] = t.into();
                        }
                        prefs.insert(feature.into(), pref);
                    }
                    None => {
                        prefs.remove(feature);
                    }
                }
                on_heap(|| self.set_contact_prefs(contact, serde_json::Value::Object(prefs))).await
            }
            Command::SetGroupCustomData { group_id, data } => {
                let g = self.group_by_id(group_id)?;
                let json = data.map(|d| d.to_string());
                self.store()
                    .set_group_custom_data(g.group_id, json.as_deref())?;
                Ok(Response::Ok)
            }
            Command::SetContactAlias { contact_id, alias } => {
                let store = self.store();
                if contact_id <= crate::store::NOTES {
                    return Err(ChatError::NoContact(format!("@{contact_id}")));
                }
                let c = store
                    .contact(contact_id)?
                    .ok_or_else(|| ChatError::NoContact(format!("@{contact_id}")))?;
                store.set_contact_alias(contact_id, &alias)?;
                Ok(Response::ContactAliasUpdated(Contact {
                    local_alias: alias,
                    ..c
                }))
            }
            Command::SetConnectionAlias { conn, alias } => {
                if !self.store().set_pending_alias(conn, &alias)? {
                    return Err(ChatError::NoPendingConnection(conn));
                }
                Ok(Response::ConnectionAliasUpdated { conn, alias })
            }
            Command::SetGroupAlias { group_id, alias } => {
                let g = self.group_by_id(group_id)?;
                self.store().set_group_alias(group_id, &alias)?;
                Ok(Response::GroupAliasUpdated(crate::group_store::Group {
                    local_alias: alias,
                    ..g
                }))
            }
            Command::SetCustomData { contact_id, data } => {
                if contact_id <= crate::store::NOTES || self.store().contact(contact_id)?.is_none()
                {
                    return Err(ChatError::NoContact(format!("@{contact_id}")));
                }
                let json = data.map(|d| d.to_string());
                self.store().set_custom_data(contact_id, json.as_deref())?;
                Ok(Response::Ok)
            }
            Command::ContactInfo(name) => {
                let contact = self.contact_named(&name)?;
                let verified = self.store().verified_code(contact.contact_id)?.is_some();
                Ok(Response::ContactInfo { contact, verified })
            }
            Command::GroupInfo(group) => {
                let group = match group {
                    crate::command::ContactName::Name(n) => self.group_named(&n)?,
                    crate::command::ContactName::Id(id) => self.group_by_id(id)?,
                };
                let members = self.store().current_members(&group)?;
                Ok(Response::GroupInfo { group, members })
            }
            Command::MemberInfo { group, member } => {
                let group = match group {
                    crate::command::ContactName::Name(n) => self.group_named(&n)?,
                    crate::command::ContactName::Id(id) => self.group_by_id(id)?,
                };
                let member = match member {
                    crate::command::ContactName::Name(n) => self.member_named(&group, &n)?,
                    crate::command::ContactName::Id(id) => self
                        .store()
                        .member(id)?
                        .filter(|m| m.group_id == group.group_id)
                        .ok_or_else(|| ChatError::NotGroupMember(id.to_string()))?,
                };
                Ok(Response::MemberInfo { group, member })
            }
            Command::SwitchContact(who) => on_heap(|| self.switch_contact(who)).await,
            Command::SyncContact { who, force } => on_heap(|| self.sync_contact(who, force)).await,
            Command::SyncMember {
                group,
                member,
                force,
            } => on_heap(|| self.sync_member(group, member, force)).await,
            Command::SetUserThemes(json) => self.set_user_themes(json.as_deref()),
            Command::SetChatThemes { chat, json } => self.set_chat_themes(chat, json.as_deref()),
            Command::CallInvite(who, t) => on_heap(|| self.call_invite(who, t)).await,
            Command::CallReject(c) => self.call_reject(c).await,
            Command::CallOffer(c, o) => on_heap(|| self.call_offer(c, o)).await,
            Command::CallAnswer(c, s) => on_heap(|| self.call_answer(c, s)).await,
            Command::CallExtra(c, i) => on_heap(|| self.call_extra(c, i)).await,
            Command::CallEnd(c) => on_heap(|| self.call_end(c)).await,
            Command::CallStatus(c, s) => self.call_status(c, s).await,
            Command::CallGet => self.call_invitations(),
            Command::EnableContact(who) => {
                let c = match who {
                    crate::command::ContactName::Name(n) => self.contact_named(&n)?,
                    crate::command::ContactName::Id(id) => self.contact_by_id(id)?,
                };
                self.enable_contact(c)
            }
            Command::EnableMember { group, member } => {
                let (_, m, _) = self.connected_member(group, member)?;
                self.enable_member(&m)
            }
            Command::SwitchMember { group, member } => {
                on_heap(|| self.switch_member(group, member)).await
            }
            Command::ShowNetwork => Ok(Response::NetworkConfig(crate::api::network_config(
                &self.network(),
            ))),
            // (With several users, `Users` applies it to each.)
            Command::SetNetwork(change) => {
                let opts = crate::network::changed(&self.network(), &change)
                    .map_err(ChatError::BadCommand)?;
                self.set_network(opts.clone()).await;
                Ok(match change {
                    crate::network::NetworkChange::Simple(_) => {
                        Response::NetworkConfig(crate::api::network_config(&opts))
                    }
                    crate::network::NetworkChange::Json(_) => Response::Ok,
                })
            }
            Command::QueueInfo(who) => {
                let (_, conn) = self.connected_contact(who)?;
                self.queue_info(conn).await
            }
            Command::MemberQueueInfo { group, member } => {
                let (_, _, conn) = self.connected_member(group, member)?;
                self.queue_info(conn).await
            }
            Command::AbortSwitchContact(who) => on_heap(|| self.abort_switch_contact(who)).await,
            Command::AbortSwitchMember { group, member } => {
                on_heap(|| self.abort_switch_member(group, member)).await
            }
            Command::ShowCode(name) => {
                let contact = self.contact_named(&name)?;
                let code = self.security_code(&contact)?;
                Ok(Response::SecurityCode(contact, code))
            }
            Command::Verify { name, code } => {
                let contact = self.contact_named(&name)?;
                let current = self.security_code(&contact)?;
                // Compared as digits only: spaces and line breaks as the user typed them.
                let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
                let verified = code.as_deref().is_some_and(|c| {
                    simplex_crypto::ct_eq(digits(c).as_bytes(), digits(&current).as_bytes())
                });
                let stored = if verified {
                    Some(current.as_str())
                } else {
                    None
                };
                self.store().set_verified_code(contact.contact_id, stored)?;
                Ok(Response::Verified {
                    verified,
                    code: current,
                })
            }
            Command::DeleteContact {
                name,
                id,
                notify,
                messages_only,
            } => {
                let contact = match (name, id) {
                    (Some(n), _) => self.contact_named(&n)?,
                    (None, Some(id)) if id > crate::store::NOTES => self
                        .store()
                        .contact(id)?
                        .ok_or_else(|| ChatError::NoContact(format!("@{id}")))?,
                    _ => return Err(ChatError::NoContact("*".into())),
                };
                if messages_only {
                    self.store().clear_chat(contact.contact_id)?;
                    return Ok(Response::Cleared(contact));
                }
                on_heap(|| self.delete_contact(contact, notify)).await
            }
            Command::Quit => Ok(Response::Quit),
            Command::SetFileToReceive(file_id) => {
                on_heap(|| self.receive_file(file_id, None)).await?;
                Ok(Response::Ok)
            }
            Command::Reconnect(None) => {
                let n = agent.reconnect_all().await;
                tracing::info!(target: "chat", relays = n, "reconnecting");
                Ok(Response::Ok)
            }
            Command::Reconnect(Some(server)) => {
                let server: SmpServer = server
                    .parse()
                    .map_err(|e| ChatError::BadCommand(format!("bad SMP server: {e}")))?;
                if !agent.reconnect_server(&server).await {
                    return Err(ChatError::BadCommand(format!(
                        "not connected to {}",
                        server
                            .hosts
                            .first()
                            .map(ToString::to_string)
                            .unwrap_or_default()
                    )));
                }
                Ok(Response::Ok)
            }
            Command::AddAddressShortLink => on_heap(|| self.add_address_short_link()).await,
            Command::AddGroupShortLink(group_id) => {
                on_heap(|| self.add_group_short_link(group_id)).await
            }
            Command::ShowWelcome(group) => Ok(Response::GroupWelcome(self.group_named(&group)?)),
            Command::Feed(text) => on_heap(|| self.feed(text)).await,
            Command::ConnectSimplex { incognito } => {
                let link = crate::presets::SIMPLEX_TEAM_ADDRESS.to_string();
                on_heap(|| self.connect(link, incognito, false)).await
            }
            Command::NewGroup {
                name,
                full_name,
                incognito,
            } => on_heap(|| self.new_group(name, full_name, incognito)).await,
            Command::AddMember {
                group,
                contact,
                role,
            } => on_heap(|| self.add_member(group, contact, role)).await,
            Command::JoinGroup(group) => on_heap(|| self.join_group(group)).await,
            Command::SendGroup { group, text } => {
                on_heap(|| self.send_group_text(group, text)).await
            }
            Command::ListGroups => self.list_groups(),
            Command::ListMembers(group) => self.list_members(group),
            Command::RemoveMember { group, member } => {
                on_heap(|| self.remove_member(group, member)).await
            }
            Command::LeaveGroup(group) => on_heap(|| self.leave_group(group)).await,
            Command::DeleteGroup(group) => on_heap(|| self.delete_group(group)).await,
            Command::MemberRole {
                group,
                member,
                role,
            } => on_heap(|| self.change_role(group, member, role)).await,
            Command::BlockMember {
                group,
                member,
                block,
            } => self.block_member(group, member, block),
            Command::SendGroupFile { group, path, image } => {
                on_heap(|| self.send_group_file(group, path, image)).await
            }
            Command::SetGroupFeature {
                group,
                feature,
                on,
                role,
            } => on_heap(|| self.set_group_feature(group, feature, on, role)).await,
            Command::SendGroupQuote {
                group,
                member,
                prefix,
                text,
            } => on_heap(|| self.send_group_quote(group, member, prefix, text)).await,
            Command::EditGroupLatest {
                group,
                prefix,
                text,
            } => on_heap(|| self.edit_group_latest(group, prefix, text)).await,
            Command::DeleteGroupLatest {
                group,
                member,
                prefix,
            } => on_heap(|| self.delete_group_latest(group, member, prefix)).await,
            Command::TailGroup { group, count } => self.group_tail(group, count),
            Command::GroupReactLatest {
                group,
                prefix,
                add,
                emoji,
            } => on_heap(|| self.react_group_latest(group, prefix, add, emoji)).await,
            Command::BlockForAll {
                group,
                member,
                block,
            } => on_heap(|| self.block_for_all(group, member, block)).await,
            Command::CreateGroupLink { group, role } => {
                on_heap(|| self.create_group_link(group, role)).await
            }
            Command::ShowGroupLink(group) => self.show_group_link(group),
            Command::DeleteGroupLink(group) => on_heap(|| self.delete_group_link(group)).await,
            Command::RenameGroup {
                group,
                name,
                full_name,
            } => on_heap(|| self.rename_group(group, name, full_name)).await,
            Command::SetWelcome { group, text } => on_heap(|| self.set_welcome(group, text)).await,
            Command::SetGroupTimed { group, ttl } => {
                let g = self.group_named(&group)?;
                let profile = crate::group_prefs::with_timed(&g.profile, ttl);
                on_heap(|| self.update_group_profile(g, profile)).await
            }
            Command::ApiGroupProfile { group_id, profile } => {
                let g = self.group_by_id(group_id)?;
                on_heap(|| self.update_group_profile(g, profile)).await
            }
            c @ (Command::ApiNewGroup { .. }
            | Command::ApiAddMember { .. }
            | Command::ApiJoinGroup(_)
            | Command::ApiMembersRole { .. }
            | Command::ApiRemoveMembers { .. }
            | Command::ApiLeaveGroup(_)
            | Command::ApiListMembers(_)
            | Command::ApiListGroups { .. }
            | Command::ApiDeleteGroup(_)
            | Command::ApiBlockMembers { .. }
            | Command::ApiCreateGroupLink { .. }
            | Command::ApiDeleteGroupLink(_)
            | Command::ApiGetGroupLink(_)
            | Command::GroupLinkRole { .. }
            | Command::ApiSendGroup { .. }) => on_heap(|| self.api_group_command(c)).await,
            Command::ApiUpdateGroupItem {
                group_id,
                item_id,
                content,
                live,
            } => {
                let (g, item) = self.current_group_item(group_id, item_id)?;
                on_heap(|| self.edit_group_item(g, item, content, live)).await
            }
            Command::ApiGroupReaction {
                group_id,
                item_id,
                add,
                reaction,
            } => {
                let (g, item) = self.current_group_item(group_id, item_id)?;
                on_heap(|| self.react_group_item(g, item, reaction, add)).await
            }
            Command::ApiDeleteGroupItems {
                group_id,
                item_ids,
                mode,
                moderate,
            } => on_heap(|| self.api_delete_group_items(group_id, item_ids, mode, moderate)).await,
        }
    }

    /// A one-time invitation (`incognito`: the random profile this contact will know us by),
    /// with a short link when the relay keeps link data.
    pub(crate) async fn create_invitation(&self, incognito: Option<Profile>) -> Result<Response> {
        let profile = incognito.clone().unwrap_or_else(|| self.profile());
        let (conn, link) = self.create_link(PendingKind::Invitation, &profile).await?;
        if let Some(p) = &incognito {
            self.store().set_pending_incognito(conn, Some(p))?;
        }
        Ok(Response::Invitation {
            link: link.full,
            short: link.short,
            conn,
        })
    }

    /// An invitation or the address (`kind`), with a short link whose data shows `profile`
    /// when the relay keeps link data; its pending connection recorded with both links.
    async fn create_link(
        &self,
        kind: PendingKind,
        profile: &Profile,
    ) -> Result<(ConnId, ConnLink)> {
        let agent = &self.inner.agent;
        let invitation = kind == PendingKind::Invitation;
        let settings = if invitation {
            crate::command::AddressSettings::default()
        } else {
            self.address_settings()?
        };
        let business = settings.business_address;
        // A chat relay's address: on the relay its operator chose.
        let relay_server = match &self.inner.relay_address_server {
            Some(s) if !invitation && self.inner.chat_relay => Some(s.clone()),
            _ => None,
        };
        let data = short_link_data(
            profile,
            business,
            settings.auto_reply.as_ref(),
            !invitation && self.inner.chat_relay,
        );
        let (conn, full, short) = match (data, invitation, relay_server) {
            (data, false, Some(server)) => agent.create_address_on(server, data.as_deref()).await,
            (Some(data), true, _) => agent.create_invitation_with_short_link(&data).await,
            (Some(data), false, None) => agent.create_address_with_short_link(&data).await,
            (None, true, _) => agent
                .create_invitation()
                .await
                .map(|(c, full)| (c, full, String::new())),
            (None, false, None) => agent
                .create_address()
                .await
                .map(|(c, full)| (c, full, String::new())),
        }
        .map_err(agent_err)?;
        let link = made_link(&full, &short);
        let store = self.store();
        store.add_pending(conn, kind, Some(&link.full))?;
        store.set_pending_short_link(conn, link.short.as_deref())?;
        Ok((conn, link))
    }

    /// Joins an invitation or asks through an address, with the user's profile or (`incognito`)
    /// a random one for this contact only. A link of ours, or one already used, is answered
    /// with what it is (`api`: `/_connect`, where it is the known contact or an error).
    async fn connect(&self, link: String, incognito: bool, api: bool) -> Result<Response> {
        if is_channel_link(&link) {
            return self.join_channel(&link, incognito, api).await;
        }
        let plan = self.connection_plan(&link)?;
        if let LinkPlan::Address(LinkStatus::Prepared(c))
        | LinkPlan::Invitation(LinkStatus::Prepared(c)) = plan
        {
            // Prepared from this link: connecting it is connecting that contact.
            return on_heap(|| self.connect_prepared_contact(c.contact_id, incognito, None)).await;
        }
        if let LinkPlan::Group(GroupLinkPlan::Prepared(g, _)) = plan {
            return on_heap(|| self.connect_prepared_group(g.group_id, incognito, None)).await;
        }
        if !plan.is_ok() {
            return used_link(link.trim(), plan, api);
        }
        let address = is_address_link(&link)?;
        let shown_as = incognito.then(crate::incognito::random_profile);
        let join = JoinLink {
            link: &link,
            address,
            shown_as: shown_as.as_ref(),
            shown_link: &display_link(link.trim()),
            welcome_msg_id: None,
            request_msg: None,
        };
        let conn = self.join_link(join).await?;
        Ok(if address {
            Response::RequestSent(conn, shown_as.is_some())
        } else {
            Response::ConfirmationSent(conn)
        })
    }

    /// Joins a one-time invitation, or asks through an address (`x.contact` with the profile
    /// shown, the welcome message's id and a first message); the connection in progress is
    /// recorded (for `shown_link`, with the random profile shown).
    pub(crate) async fn join_link(&self, j: JoinLink<'_>) -> Result<ConnId> {
        let info = if j.address {
            ChatMessage::new(
                None,
                ChatEvent::Contact {
                    profile: j.shown_as.cloned().unwrap_or_else(|| self.profile()),
                    contact_req_id: Some(new_shared_msg_id()),
                    welcome_msg_id: j.welcome_msg_id,
                    request_msg: j.request_msg,
                },
            )
            .encode()
        } else {
            self.info_as(j.shown_as)
        };
        let conn = self
            .inner
            .agent
            .join(j.link, &info)
            .await
            .map_err(agent_err)?;
        let kind = if j.address {
            PendingKind::JoinedAddress
        } else {
            PendingKind::JoinedInvitation
        };
        let store = self.store();
        store.add_pending(conn, kind, Some(j.shown_link))?;
        if let Some(p) = j.shown_as {
            store.set_pending_incognito(conn, Some(p))?;
        }
        Ok(conn)
    }

    /// A new contact address's plan with its short link's data (the owner's profile, whether
    /// it is a business), read from its relay.
    async fn address_link_data(&self, link: &str) -> Result<LinkPlan> {
        let data = self.link_user_data(link).await?;
        contact_link_data(&data, "address").map(LinkPlan::AddressData)
    }

    /// A new invitation's plan with its short link's data (the inviter's profile), read from
    /// its relay: the invitation's queue is secured with a key the join uses (no one else can
    /// join it then).
    async fn invitation_link_data(&self, link: &str) -> Result<LinkPlan> {
        let data = self
            .inner
            .agent
            .read_invitation(link.trim())
            .await
            .map_err(agent_err)?;
        contact_link_data(&data, "invitation").map(LinkPlan::InvitationData)
    }

    /// A new group's short link's plan with the group's profile, read from its relay.
    async fn group_link_data(&self, link: &str) -> Result<LinkPlan> {
        let data = self.link_user_data(link).await?;
        let profile = crate::channels::profile_from_link_data(&data)?;
        Ok(LinkPlan::Group(GroupLinkPlan::Ok(Some(profile))))
    }

    /// The owner's data of an address's (or a group link's) short link, read from its relay.
    async fn link_user_data(&self, link: &str) -> Result<Vec<u8>> {
        self.inner
            .agent
            .read_address(link.trim())
            .await
            .map(|d| d.user_data)
            .map_err(agent_err)
    }

    /// What `link` is to us: ours, used already (by a contact or a connection in progress),
    /// or new. Links are compared as shown (`https://simplex.chat/...`).
    pub(crate) fn connection_plan(&self, link: &str) -> Result<LinkPlan> {
        let shown = display_link(link.trim());
        let address = is_address_link(&shown)?;
        if address {
            if let Some(plan) = self.group_link_plan(&shown)? {
                return Ok(LinkPlan::Group(plan));
            }
        }
        let store = self.store();
        let status = match store.pending_by_link(&shown)? {
            Some((_, PendingKind::Invitation | PendingKind::Address)) => LinkStatus::Own,
            Some((_, PendingKind::JoinedInvitation | PendingKind::JoinedAddress)) => {
                LinkStatus::Connecting(None)
            }
            None => match store
                .contact_by_link(&shown)?
                .map_or_else(|| store.prepared_contact_by_link(&shown), |c| Ok(Some(c)))?
            {
                Some(c) if c.ready => LinkStatus::Known(c),
                // Prepared from it: connecting is connecting that contact, until it is started.
                Some(c)
                    if c.conn_id.is_none()
                        && store.pending_for_contact(c.contact_id)?.is_none()
                        && store.prepared_contact(c.contact_id)?.is_some() =>
                {
                    LinkStatus::Prepared(c)
                }
                Some(c) => LinkStatus::Connecting(Some(c)),
                None => LinkStatus::Ok,
            },
        };
        Ok(if address {
            LinkPlan::Address(status)
        } else {
            LinkPlan::Invitation(status)
        })
    }

    /// `/show N`: the item with that id, in its chat (a contact's, the notes' or a group's).
    fn show_item(&self, item_id: i64) -> Result<Response> {
        let store = self.store();
        match store.item_chat(item_id)? {
            Some((Some(contact_id), _)) => {
                let c = store
                    .contact(contact_id)?
                    .ok_or(ChatError::NoItem(item_id))?;
                let item = store
                    .item(contact_id, item_id)?
                    .ok_or(ChatError::NoItem(item_id))?;
                Ok(Response::Items(vec![(c, item)]))
            }
            Some((None, Some(group_id))) => {
                let g = store.group(group_id)?.ok_or(ChatError::NoItem(item_id))?;
                let item = store
                    .group_item(group_id, item_id)?
                    .ok_or(ChatError::NoItem(item_id))?;
                let author = match item.group_member_id {
                    Some(id) => Some(store.member(id)?.ok_or(ChatError::NoItem(item_id))?),
                    None => None,
                };
                Ok(Response::GroupItems(g, vec![(author, item)]))
            }
            _ => Err(ChatError::NoItem(item_id)),
        }
    }

    /// What an address link (as shown) is to us when it is a group's: our group's link, the
    /// link a group was joined by (a group link, or a business address: its business chat),
    /// a group link asked through already, or a new group link; none for a contact address
    /// not used for a group.
    fn group_link_plan(&self, shown: &str) -> Result<Option<GroupLinkPlan>> {
        let store = self.store();
        if let Some(id) = store.group_by_own_link(shown)? {
            if let Some(g) = store.group(id)? {
                return Ok(Some(GroupLinkPlan::Own(g)));
            }
        }
        let joined = match store.group_by_via_link(shown)? {
            Some(id) => Some(id),
            None => store.prepared_group_by_link(shown)?,
        };
        if let Some(id) = joined {
            if let Some(g) = store.group(id)? {
                use crate::group_store::MemberStatus as S;
                match store.prepared_group(id)? {
                    Some(p) if !p.conn_link_started_connection => {
                        return Ok(Some(GroupLinkPlan::Prepared(g, p.business)));
                    }
                    _ => {}
                }
                match g.status {
                    // Gone from it: joining again is fine.
                    S::Left | S::Removed | S::GroupDeleted => {}
                    S::Invited | S::Accepted | S::IntroInvited | S::Announced | S::Unknown => {
                        return Ok(Some(GroupLinkPlan::Connecting(g)))
                    }
                    _ => return Ok(Some(GroupLinkPlan::Known(g))),
                }
            }
        }
        let group_link = crate::group_links::is_group_link(shown)
            || is_short(shown, agent::links::ShortLinkKind::Group);
        if !group_link {
            return Ok(None);
        }
        Ok(Some(match store.pending_by_link(shown)? {
            Some((_, PendingKind::JoinedAddress)) => GroupLinkPlan::ConnectingReconnect,
            _ => GroupLinkPlan::Ok(None),
        }))
    }

    /// Reacts to an item of a contact's chat (sent or received), telling the contact.
    async fn react(
        &self,
        contact: Contact,
        item: ChatItem,
        reaction: serde_json::Value,
        add: bool,
    ) -> Result<Response> {
        if add
            && !crate::features::Prefs::of(&contact)
                .enabled("reactions")
                .for_user
        {
            return Err(ChatError::FeatureNotAllowed("Message reactions".into()));
        }
        let key = reaction_key(&reaction).ok_or_else(|| {
            ChatError::Command(crate::command::CommandError(
                "a reaction is {\"type\":\"emoji\",\"emoji\":\"...\"} with one emoji".into(),
            ))
        })?;
        let (Some(shared), Some(conn), true) = (
            item.shared_msg_id.clone(),
            contact.conn_id,
            contact.ready && !item.deleted,
        ) else {
            return Err(ChatError::CannotReact);
        };
        if add && self.store().reaction_count(item.item_id, true)? >= MAX_REACTIONS {
            return Err(ChatError::CannotReact);
        }
        self.send_event(
            conn,
            ChatEvent::MsgReact {
                msg_id: B64(shared),
                member_id: None,
                scope: None,
                reaction: reaction.clone(),
                add,
            },
        )
        .await?;
        self.store().set_reaction(item.item_id, true, &key, add)?;
        Ok(Response::Reaction {
            contact,
            item,
            reaction,
            added: add,
        })
    }

    /// A contact's reaction: to one of our messages or one of its own, found by shared id;
    /// unknown messages and malformed reactions are ignored (as the reference does).
    async fn received_reaction(
        &self,
        contact: &Contact,
        msg_id: &B64,
        reaction: &serde_json::Value,
        add: bool,
    ) -> Result<()> {
        let Some(key) = reaction_key(reaction) else {
            return Ok(());
        };
        // Reactions we do not allow the contact are ignored, as the reference does.
        if add
            && !crate::features::Prefs::of(contact)
                .enabled("reactions")
                .for_contact
        {
            return Ok(());
        }
        let item = {
            let store = self.store();
            match store.item_by_shared(contact.contact_id, true, &msg_id.0)? {
                Some(i) => Some(i),
                None => store.item_by_shared(contact.contact_id, false, &msg_id.0)?,
            }
        };
        let Some(item) = item else { return Ok(()) };
        if add && self.store().reaction_count(item.item_id, false)? >= MAX_REACTIONS {
            return Ok(());
        }
        if self.store().set_reaction(item.item_id, false, &key, add)? {
            self.emit(Event::Reaction {
                contact: contact.clone(),
                item,
                reaction: reaction.clone(),
                added: add,
            })
            .await;
        }
        Ok(())
    }

    /// The security code of a contact's connection: the SHA-256 of its ratchet's associated
    /// data (both sides' identity keys) read as one big-endian number, in decimal, in groups
    /// of 5 digits - the same on both sides.
    fn security_code(&self, contact: &Contact) -> Result<String> {
        let hash = contact
            .conn_id
            .and_then(|c| self.inner.agent.ratchet_ad_hash(c))
            .ok_or_else(|| ChatError::NotReady(contact.local_name.clone()))?;
        Ok(verification_code(&hash))
    }

    /// Deletes a contact with its chat: told with `x.direct.del` (`notify`, when connected),
    /// its connection deleted once that is sent (at once otherwise). The deletion is recorded
    /// before anything is sent: a restart finishes it.
    pub(crate) async fn delete_contact(&self, contact: Contact, notify: bool) -> Result<Response> {
        let files = self.store().files_of(contact.contact_id)?;
        for file_id in files {
            self.stop_transfer(file_id);
        }
        // A prepared contact's connection in progress goes with it.
        let started = match contact.conn_id {
            Some(_) => None,
            None => self.store().pending_for_contact(contact.contact_id)?,
        };
        let conn = contact.conn_id.or(started);
        let mut after = None;
        if let (true, true, Some(c)) = (notify, contact.ready, conn) {
            // Not told (the relay is unreachable) is no reason to keep the contact.
            after = self.send_event(c, ChatEvent::DirectDel).await.ok();
        }
        self.store()
            .delete_contact(contact.contact_id, conn, after)?;
        // A call with it ends with it (its item went with the chat).
        self.forget_call(contact.contact_id);
        if let Some(c) = started {
            self.store().delete_pending(c)?;
        }
        if let Some(c) = conn {
            self.finish_recorded_deletions(&[(c, after)]).await;
        }
        Ok(Response::ContactDeleted(contact))
    }

    /// Deletes a connection recorded for deletion (its agent connection and relay queues).
    pub(crate) async fn finish_deletion(&self, conn: ConnId) {
        match self.inner.agent.delete_connection(conn).await {
            Ok(()) => {}
            // Already gone (deleted before a restart).
            Err(agent::agent::AgentError::Connection(_)) => {}
            Err(e) => {
                self.emit(Event::Error(format!("deleting connection {conn}: {e}")))
                    .await;
            }
        }
        let done = self.store().conn_deleted(conn);
        if let Err(e) = done {
            self.emit(Event::Error(e.to_string())).await;
        }
    }

    /// Deletions a restart interrupted: those whose message was sent (or need none) now; the
    /// others when the agent reports the message sent.
    async fn resume_deletions(&self) -> Result<()> {
        let list = self.store().conn_deletions()?;
        self.finish_recorded_deletions(&list).await;
        Ok(())
    }

    /// Connections just recorded for deletion (each after its message `after`, if any): those
    /// whose message the relay has already (or that need none) deleted now, the others when
    /// the agent reports the message sent. The report can come before the deletion is
    /// recorded - it then found nothing to do, and without this the connection stayed.
    pub(crate) async fn finish_recorded_deletions(&self, conns: &[(u64, Option<i64>)]) {
        for &(conn, after) in conns {
            let waiting = match after {
                // Not known: left for the report, or the next start.
                Some(m) => self.inner.agent.is_pending(conn, m).unwrap_or(true),
                None => false,
            };
            if !waiting {
                self.finish_deletion(conn).await;
            }
        }
    }

    async fn accept(&self, req: ContactRequest) -> Result<Response> {
        self.accept_as(req, None).await
    }

    /// Accepts a request, showing the contact the user's profile or (`incognito`) a random one.
    async fn accept_as(&self, req: ContactRequest, incognito: Option<Profile>) -> Result<Response> {
        let conn = self
            .inner
            .agent
            .accept(req.request_id, &self.info_as(incognito.as_ref()))
            .await
            .map_err(agent_err)?;
        let mut contact = self.store().request_accepted(&req, conn)?;
        if let Some(p) = incognito {
            self.store().set_contact_incognito(contact.contact_id, &p)?;
            contact.incognito = Some(p);
        }
        // The message the request came with opens the contact's chat.
        if let Some(msg) = &req.message {
            self.request_message_item(&contact, msg)?;
        }
        Ok(Response::Accepting(contact))
    }

    /// A request to our address: accepted at once when the address says so (its auto-reply
    /// kept for when the contact is connected), else shown for `/ac` or `/rc`.
    async fn request_arrived(
        &self,
        req: ContactRequest,
        settings: crate::command::AddressSettings,
    ) -> Result<()> {
        let Some(auto) = settings.auto_accept else {
            self.emit(Event::Request(req)).await;
            return Ok(());
        };
        let incognito = auto.accept_incognito.then(crate::incognito::random_profile);
        match self.accept_as(req.clone(), incognito).await {
            Ok(Response::Accepting(c)) => {
                if let Some(reply) = &settings.auto_reply {
                    // The requester has it as the welcome message (from the link's data): it
                    // goes as an edit of that message, bringing it up to date.
                    let json = match &req.welcome_msg_id {
                        Some(id) => serde_json::to_string(&serde_json::json!({
                            "welcomeMsgId": id, "content": reply
                        })),
                        None => serde_json::to_string(reply),
                    }
                    .map_err(|e| ChatError::File(e.to_string()))?;
                    self.store()
                        .set_send_on_connect(c.contact_id, Some(&json))?;
                }
                self.emit(Event::AutoAccepted(c.clone())).await;
                self.emit(Event::ContactSndReady(c)).await;
            }
            Ok(_) => {}
            // Not accepted (the relay unreachable): shown as a request, for /ac.
            Err(e) => {
                let what = format!("accepting {}: {e}", req.local_name);
                self.emit(Event::Error(what)).await;
                self.emit(Event::Request(req)).await;
            }
        }
        Ok(())
    }

    /// The address's settings (none set: requests wait for `/ac`).
    pub(crate) fn address_settings(&self) -> Result<crate::command::AddressSettings> {
        Ok(self
            .store()
            .setting(ADDRESS_SETTINGS)?
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default())
    }

    fn reject(&self, req: ContactRequest) -> Result<Response> {
        self.inner.agent.reject(req.request_id).map_err(agent_err)?;
        self.store().delete_request(req.request_id)?;
        Ok(Response::Rejected(req))
    }

    /// A new profile, stored and sent to every connected contact.
    async fn set_profile(&self, p: Profile) -> Result<Response> {
        let from = self.profile();
        if p == from {
            return Ok(Response::ProfileUnchanged);
        }
        if p.display_name.trim().is_empty() || p.display_name.contains('\'') {
            return Err(ChatError::InvalidName(p.display_name));
        }
        {
            let mut store = self.store();
            store.set_user(&p)?;
            store.set_setting(
                PROFILE_UPDATED_AT,
                Some(&crate::store::now_ms().to_string()),
            )?;
        }
        *self.inner.profile.lock().unwrap_or_else(|e| e.into_inner()) = p.clone();
        let contacts = self.store().contacts()?;
        if from.preferences != p.preferences {
            // A contact whose features change with the user's own preferences gets the
            // changes as items of its chat, as after `/_set prefs`.
            for c in contacts.iter().filter(|c| c.ready) {
                let before = Contact {
                    own_prefs: from.preferences.clone(),
                    ..c.clone()
                };
                let changed = crate::features::changed_items(
                    &crate::features::Prefs::of(&before),
                    &crate::features::Prefs::of(c),
                    true,
                );
                if !changed.is_empty() {
                    self.add_info(c, &changed).await?;
                }
            }
        }
        let mut told = 0;
        // Incognito contacts know another profile: they are not told.
        for c in contacts.iter().filter(|c| c.ready && c.incognito.is_none()) {
            if let Some(conn) = c.conn_id {
                let info = ChatMessage::new(
                    None,
                    ChatEvent::Info {
                        profile: self.profile_for(c),
                    },
                )
                .encode();
                if self.send_body(conn, &info).await.is_ok() {
                    told += 1;
                }
            }
        }
        self.update_address_data(&p).await;
        Ok(Response::ProfileChanged { from, to: p, told })
    }

    /// `/_short_link_address`: a short link for the address made without one (on a relay that
    /// kept no link data then, or by an older version); with one, its data is written again.
    async fn add_address_short_link(&self) -> Result<Response> {
        let (conn, link) = self.store().address()?.ok_or(ChatError::NoAddress)?;
        let settings = self.address_settings()?;
        let data = short_link_data(
            &self.profile(),
            settings.business_address,
            settings.auto_reply.as_ref(),
            self.inner.chat_relay,
        )
        .ok_or_else(|| ChatError::Agent("the profile is too large for link data".into()))?;
        let short = self
            .inner
            .agent
            .add_short_link(
                conn,
                &link.full,
                &data,
                agent::links::ShortLinkKind::Contact,
            )
            .await
            .map_err(agent_err)?;
        let short = display_link(&short);
        self.store().set_pending_short_link(conn, Some(&short))?;
        Ok(Response::Address(ConnLink {
            full: link.full,
            short: Some(short),
        }))
    }

    /// The address's short link shows the new profile to those about to connect (LSET). An
    /// address made before the agent kept its link's keys (agent state v6) keeps its data.
    async fn update_address_data(&self, p: &Profile) {
        let address = self.store().address().ok().flatten();
        let Some((conn, link)) = address else { return };
        if link.short.is_none() {
            return;
        }
        let settings = self.address_settings().unwrap_or_default();
        let Some(data) = short_link_data(
            p,
            settings.business_address,
            settings.auto_reply.as_ref(),
            self.inner.chat_relay,
        ) else {
            return;
        };
        match self.inner.agent.set_link_data(conn, &data, &[]).await {
            Ok(()) | Err(agent::agent::AgentError::Connection(_)) => {}
            Err(e) => {
                self.emit(Event::Error(format!("the address's link data: {e}")))
                    .await;
            }
        }
    }

    /// Sends an encoded chat message on a connection; the agent's message id. Its SEND wakes
    /// the peer's app for the events the reference's chat notifies (`protocol::notifies`).
    pub(crate) async fn send_body(
        &self,
        conn: ConnId,
        body: &[u8],
    ) -> std::result::Result<i64, agent::agent::AgentError> {
        let notify = crate::protocol::notifies(body);
        self.inner.agent.send_with(conn, body, notify).await
    }

    /// Sends an event that carries no message id of its own (an edit, a deletion, a
    /// reaction, ...) to a contact's connection; the agent's message id.
    pub(crate) async fn send_event(&self, conn: ConnId, event: ChatEvent) -> Result<i64> {
        let msg = ChatMessage::new(None, event);
        self.send_body(conn, &msg.encode()).await.map_err(agent_err)
    }

    /// Deletes disappearing messages when their time comes (woken early when a new timer is
    /// set), until the chat closes.
    async fn delete_timed(self, generation: u64) {
        loop {
            let now = crate::store::now_ms();
            let mut stuck = false;
            let expired = self.store().expired_items(now);
            match expired {
                Ok(items) if !items.is_empty() => {
                    let mut by_chat: std::collections::BTreeMap<i64, Vec<ChatItem>> =
                        std::collections::BTreeMap::new();
                    for i in items {
                        if self.store().delete_item(i.item_id).is_ok() {
                            by_chat.entry(i.contact_id).or_default().push(i);
                        }
                    }
                    let progressed = !by_chat.is_empty();
                    for (contact_id, items) in by_chat {
                        let contact = self.store().contact(contact_id).ok().flatten();
                        if let Some(c) = contact {
                            self.emit(Event::TimedDeleted(c, items)).await;
                        }
                    }
                    // None could be deleted (the database failing): wait, do not spin.
                    if progressed {
                        continue;
                    }
                    stuck = true;
                }
                Ok(_) => {}
                Err(e) => self.emit(Event::Error(e.to_string())).await,
            }
            let expiry = match self.expire_old_items(now) {
                Ok(next) => next,
                Err(e) => {
                    self.emit(Event::Error(e.to_string())).await;
                    stuck = true;
                    None
                }
            };
            let next = match (self.store().next_delete_at().ok().flatten(), expiry) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            // At most a minute at a time: the clock may jump.
            let wait = if stuck {
                1_000
            } else {
                next.map_or(60_000, |at| (at - now).clamp(0, 60_000)) as u64
            };
            tokio::select! {
                () = tokio::time::sleep(std::time::Duration::from_millis(wait)) => {}
                () = self.inner.timers.notified() => {}
            }
            let restarted = self
                .inner
                .generation
                .load(std::sync::atomic::Ordering::SeqCst)
                != generation;
            if self.inner.agent.is_closed() || restarted {
                return;
            }
        }
    }

    /// The user's message expiry (`/ttl`), in seconds.
    pub(crate) fn chat_item_ttl(&self) -> Result<Option<i64>> {
        Ok(self
            .store()
            .setting(CHAT_ITEM_TTL)?
            .and_then(|v| v.parse::<i64>().ok())
            .filter(|t| *t > 0))
    }

    /// `/ttl ...`: kept, and the expiry runs at once.
    pub(crate) fn set_chat_item_ttl(&self, ttl: Option<i64>) -> Result<Response> {
        let value = ttl.filter(|t| *t > 0).map(|t| t.to_string());
        self.store().set_setting(CHAT_ITEM_TTL, value.as_deref())?;
        self.inner.timers.notify_one();
        Ok(Response::Ok)
    }

    /// Deletes the messages older than the user's expiry (`/ttl`), in every chat, stopping
    /// the transfers of their files (files already saved stay on disk); when the next one
    /// expires.
    fn expire_old_items(&self, now: i64) -> Result<Option<i64>> {
        let ttl = self.chat_item_ttl()?;
        loop {
            let (deleted, files) = self.store().expire_items_before(now, ttl)?;
            for f in files {
                self.stop_transfer(f);
            }
            if deleted < 1000 {
                break;
            }
        }
        // An item made from now on expires the shortest expiry from now at the earliest.
        let shortest = match (ttl, self.store().shortest_chat_ttl()?) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let fresh = shortest.map(|t| now.saturating_add(t.saturating_mul(1000)));
        Ok(match (self.store().next_item_expiry(ttl)?, fresh) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }

    /// `/ttl @name week`, `/_ttl 1 #1 default`: a chat's own message expiry.
    fn set_chat_ttl(&self, chat: crate::command::TtlChat, ttl: Option<i64>) -> Result<Response> {
        use crate::command::TtlChat;
        match chat {
            TtlChat::ContactNamed(n) => {
                let c = self.contact_named(&n)?;
                self.store().set_contact_ttl(c.contact_id, ttl)?;
            }
            TtlChat::Contact(id) => {
                let c = self
                    .store()
                    .contact(id)?
                    .ok_or_else(|| ChatError::NoContact(format!("@{id}")))?;
                self.store().set_contact_ttl(c.contact_id, ttl)?;
            }
            TtlChat::GroupNamed(n) => {
                let g = self.group_named(&n)?;
                self.store().set_group_ttl(g.group_id, ttl)?;
            }
            TtlChat::Group(id) => {
                let g = self.group_by_id(id)?;
                self.store().set_group_ttl(g.group_id, ttl)?;
            }
        }
        self.inner.timers.notify_one();
        Ok(Response::Ok)
    }

    /// Makes an item disappear after `ttl` seconds; the item with its timer.
    pub(crate) fn set_timer(&self, item: ChatItem, ttl: i64) -> Result<ChatItem> {
        let at = self.store().set_item_timer(item.item_id, ttl)?;
        self.inner.timers.notify_one();
        Ok(ChatItem {
            timed: Some((ttl, Some(at))),
            ..item
        })
    }

    /// A received disappearing message: its timer starts when it is read (as the
    /// reference's), at once when it arrives read.
    pub(crate) fn set_received_ttl(&self, item: ChatItem, ttl: i64) -> Result<ChatItem> {
        if !item.unread {
            return self.set_timer(item, ttl);
        }
        self.store().set_item_ttl(item.item_id, ttl)?;
        Ok(ChatItem {
            timed: Some((ttl, None)),
            ..item
        })
    }

    /// Items shown to the user (`-r`, the reference's `--mark-read`): read, the timers of
    /// disappearing ones started.
    pub fn mark_items_read(&self, item_ids: &[i64]) -> Result<()> {
        let mut started = 0;
        {
            let mut store = self.store();
            for id in item_ids {
                started += store.mark_item_read(*id)?;
            }
        }
        if started > 0 {
            self.inner.timers.notify_one();
        }
        Ok(())
    }

    /// A relay's connection back (`up`) or lost: the host's event, then its subscriptions' (as
    /// the reference's CONNECT/DISCONNECT, then UP/DOWN).
    async fn relay_reached(&self, up: bool, host: String, server: String, conns: Vec<u64>) {
        self.emit(if up {
            Event::HostConnected(host)
        } else {
            Event::HostDisconnected(host)
        })
        .await;
        self.emit(Event::SubscriptionStatus {
            server,
            active: up,
            conns,
        })
        .await;
    }

    /// Events that follow a command's response: emitted once the response is out, so that a
    /// bot sees them in the reference's order (an accepted request's contact can be sent to
    /// once the acceptance is reported - our join already secured its queue).
    pub async fn after_response(&self, r: &Response) {
        if let Response::Accepting(c) = r {
            self.emit(Event::ContactSndReady(c.clone())).await;
        }
    }

    /// Reports an event to the client (the terminal or the bot API); errors are logged too.
    /// On the heap: events carry groups and members by value, and an emit awaited deep in the
    /// handling of a message would otherwise hold one in every frame above it (debug builds'
    /// thread stacks are small).
    pub(crate) fn emit(
        &self,
        e: Event,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            match &e {
                Event::Error(msg) => tracing::warn!(target: "chat", "{msg}"),
                Event::ConnectionError { conn, error } => {
                    tracing::warn!(target: "chat", conn, "connection error: {error}")
                }
                _ => {}
            }
            let _ = self.inner.events.send(e).await;
        })
    }

    /// Handles the agent's events until it stops.
    async fn run(self, mut events: mpsc::Receiver<AgentEvent>) {
        while let Some(e) = events.recv().await {
            if let Err(err) = self.handle(e).await {
                self.emit(Event::Error(err.to_string())).await;
            }
        }
    }

    pub(crate) fn peer_profile(info: &[u8]) -> Result<Profile> {
        match ChatMessage::decode(info).map(|m| m.event) {
            Ok(ChatEvent::Info { profile } | ChatEvent::Contact { profile, .. }) => Ok(profile),
            Ok(other) => Err(ChatError::Agent(format!(
                "unexpected {} in a connection's info",
                other.name()
            ))),
            Err(e) => Err(ChatError::Agent(format!("connection info: {e}"))),
        }
    }

    async fn handle(&self, e: AgentEvent) -> Result<()> {
        let agent = &self.inner.agent;
        tracing::debug!(target: "chat", event = agent_event_kind(&e), "agent event");
        match e {
            // The peer joined our invitation, or the owner of an address we asked accepted.
            AgentEvent::Confirmation { conn, info } => {
                let member = self.store().member_by_conn(conn)?;
                if let Some(m) = member {
                    if let Ok(ChatEvent::GrpRelayAcpt { relay_link }) =
                        ChatMessage::decode(&info).map(|m| m.event)
                    {
                        return on_heap(|| self.relay_accepted(m, relay_link)).await;
                    }
                    if m.category == crate::group_store::MemberCategory::Host {
                        // A group link's host announced again after a restart: allowed again.
                        if let Ok(ChatEvent::GrpLinkInv(inv)) =
                            ChatMessage::decode(&info).map(|m| m.event)
                        {
                            let g = self.group_of(&m)?;
                            return self
                                .joined_via_link(conn, inv, g.incognito.map(|p| *p))
                                .await;
                        }
                    }
                    return self.member_confirmation(m, &info).await;
                }
                let pending = self.store().pending(conn)?;
                if let (
                    Some(PendingKind::JoinedAddress),
                    Ok(ChatEvent::GrpLinkReject {
                        group_link_rejection,
                    }),
                ) = (pending, ChatMessage::decode(&info).map(|m| m.event))
                {
                    return on_heap(|| self.rejected_via_link(conn, group_link_rejection)).await;
                }
                if let (Some(PendingKind::JoinedAddress), Ok(ChatEvent::GrpLinkInv(inv))) =
                    (pending, ChatMessage::decode(&info).map(|m| m.event))
                {
                    let incognito = self.store().pending_incognito(conn)?;
                    return self.joined_via_link(conn, inv, incognito).await;
                }
                let profile = Self::peer_profile(&info)?;
                let pending = self.store().pending(conn)?;
                // Once only: a confirmation announced again after a restart finds the contact.
                let known = self.store().contact_by_conn(conn)?.is_some();
                let made = !known
                    && matches!(
                        pending,
                        Some(PendingKind::Invitation | PendingKind::JoinedAddress)
                    );
                let incognito = if made {
                    let c = self.store().add_contact(conn, &profile)?;
                    let incognito = c.incognito.clone();
                    self.emit(Event::ContactConnecting(c)).await;
                    incognito
                } else {
                    self.store()
                        .contact_by_conn(conn)?
                        .and_then(|c| c.incognito)
                };
                agent
                    .allow(conn, &self.info_as(incognito.as_ref()))
                    .await
                    .map_err(agent_err)?;
            }
            // The inviter's profile (we joined), or a requester's (we accepted).
            AgentEvent::Info { conn, info } => {
                // A member's `x.ok` or `x.grp.mem.info`: its profile came with the introduction.
                if self.store().member_by_conn(conn)?.is_some() {
                    return Ok(());
                }
                let profile = Self::peer_profile(&info)?;
                let existing = self.store().contact_by_conn(conn)?;
                match existing {
                    Some(c) => {
                        self.store().set_contact_profile(c.contact_id, &profile)?;
                    }
                    None => {
                        let c = self.store().add_contact(conn, &profile)?;
                        self.emit(Event::ContactConnecting(c)).await;
                    }
                }
            }
            AgentEvent::Connected { conn } => {
                let member = self.store().member_by_conn(conn)?;
                if let Some(m) = member {
                    return self.member_connected(m).await;
                }
                let contact = self.store().contact_by_conn(conn)?;
                if let Some(mut c) = contact {
                    self.store().set_ready(c.contact_id)?;
                    c.ready = true;
                    let reply = self.store().take_send_on_connect(c.contact_id)?;
                    self.emit(Event::ContactConnected(c.clone())).await;
                    // The chat's informational items, as the reference creates them when a
                    // contact connects (the banner only in a chat without items).
                    // A prepared contact's chat has them from when it was prepared.
                    let prepared = self.store().prepared_contact(c.contact_id)?.is_some();
                    let info = if prepared {
                        Vec::new()
                    } else {
                        let mut store = self.store();
                        let banner = !store.has_items(c.contact_id)?;
                        let items =
                            crate::features::start_items(&crate::features::Prefs::of(&c), banner);
                        store.add_info_items(c.contact_id, &items)?
                    };
                    for item in info {
                        self.emit(Event::InfoItem(c.clone(), item)).await;
                    }
                    // The address's auto-reply (or a prepared contact's first message), once the
                    // contact is here: an edit of the welcome message the requester has from
                    // the link's data, else a message.
                    let reply: Option<serde_json::Value> =
                        reply.and_then(|r| serde_json::from_str(&r).ok());
                    let welcome = reply.as_ref().and_then(|r| {
                        let id = serde_json::from_value(r.get("welcomeMsgId")?.clone()).ok()?;
                        let content = serde_json::from_value(r.get("content")?.clone()).ok()?;
                        Some((id, content))
                    });
                    if let Some((id, content)) = welcome {
                        let update =
                            ChatEvent::MsgUpdate(crate::protocol::MsgUpdate::new(id, content));
                        let sent = match c.conn_id {
                            Some(conn) => self.send_event(conn, update).await.map(|_| ()),
                            None => Ok(()),
                        };
                        if let Err(e) = sent {
                            self.emit(Event::Error(format!("auto-reply: {e}"))).await;
                        }
                    } else if let Some(content) = reply.and_then(|r| serde_json::from_value(r).ok())
                    {
                        match self.send_content(c, content, None).await {
                            Ok(Response::Sent(c, item)) => {
                                self.emit(Event::ItemSent(c, item)).await;
                            }
                            Ok(_) => {}
                            Err(e) => self.emit(Event::Error(format!("auto-reply: {e}"))).await,
                        }
                    }
                }
            }
            AgentEvent::Request {
                address,
                request,
                info,
            } => {
                match ChatMessage::decode(&info).map(|m| m.event) {
                    Ok(ChatEvent::GrpRelayInv(inv)) => {
                        return on_heap(|| self.relay_invitation(request, inv)).await;
                    }
                    Ok(ChatEvent::GrpRelayTest { challenge, .. }) => {
                        return on_heap(|| self.relay_test(address, request, challenge)).await;
                    }
                    _ => {}
                }
                let link = self.store().group_link_by_conn(address)?;
                if let Some((group_id, role)) = link {
                    return self
                        .group_join_request(group_id, role, request, &info)
                        .await;
                }
                let settings = self.address_settings()?;
                let known = self.store().request(request)?;
                // A business address: every request is a new business chat, accepted at once
                // (one listed before the address became one stays a request).
                if settings.business_address && known.is_none() {
                    return on_heap(|| self.business_request(request, &info)).await;
                }
                // Announced again after a restart: already listed - unless the address accepts
                // at once and the accept did not happen before the restart.
                let req = match known {
                    Some(r) if settings.auto_accept.is_some() => r,
                    Some(_) => return Ok(()),
                    None => {
                        let profile = Self::peer_profile(&info)?;
                        let (message, welcome) = match ChatMessage::decode(&info).map(|m| m.event) {
                            Ok(ChatEvent::Contact {
                                request_msg,
                                welcome_msg_id,
                                ..
                            }) => (
                                request_msg.map(|(shared_msg_id, content)| {
                                    crate::store::RequestMsg {
                                        shared_msg_id,
                                        content,
                                    }
                                }),
                                welcome_msg_id,
                            ),
                            _ => (None, None),
                        };
                        self.store()
                            .add_request(request, &profile, message, welcome)?
                    }
                };
                on_heap(|| self.request_arrived(req, settings)).await?;
            }
            AgentEvent::Message {
                conn, msg_id, body, ..
            } => {
                // On the heap, as the other large handlers: the receive path's future is
                // large in debug builds and this frame would hold it on a worker's stack.
                let outcome = on_heap(|| self.received(conn, &body)).await;
                // A message our database could not store is not acknowledged: the relay keeps
                // it and hands it again after a restart (nothing acknowledged is lost).
                if let Err(e @ ChatError::Store(_)) = outcome {
                    return Err(e);
                }
                // Stored, or reported as not ours to store: the relay may drop it. With a
                // delivery receipt (empty info, as the reference's) when one is due and the
                // contact's agent takes them.
                let with_receipt = matches!(outcome, Ok(true));
                let acked = if with_receipt {
                    match agent.ack_with_receipt(conn, msg_id, b"").await {
                        Err(agent::agent::AgentError::Connection(_)) => {
                            agent.ack(conn, msg_id).await
                        }
                        other => other,
                    }
                } else {
                    agent.ack(conn, msg_id).await
                };
                if let Err(e) = acked {
                    // The connection deleted meanwhile (its group or contact deleted while the
                    // message came): nothing is left to acknowledge.
                    let orphan = self.store().contact_by_conn(conn)?.is_none()
                        && self.store().member_by_conn(conn)?.is_none();
                    if !orphan {
                        return Err(agent_err(e));
                    }
                }
                // The contact deleted the conversation with this message.
                let deletion = self.store().conn_deletion(conn)?;
                if deletion == Some(None) {
                    on_heap(|| self.finish_deletion(conn)).await;
                }
                outcome?;
            }
            AgentEvent::Delivered { conn, msg_id, ok } => {
                let contact = self.store().contact_by_conn(conn)?;
                if let Some(c) = contact {
                    let item = self.store().set_receipt(c.contact_id, msg_id, ok)?;
                    if let Some(item) = item {
                        self.emit(Event::ItemStatus(c, item)).await;
                    }
                } else {
                    let member = self.store().member_by_conn(conn)?;
                    if let Some(m) = member {
                        on_heap(|| self.member_delivered(&m, msg_id, ok)).await?;
                    }
                }
            }
            // A message that came again is dropped without a word, as the reference's terminal
            // does at its default log level (ERR A_DUPLICATE).
            AgentEvent::Duplicate { .. } => {}
            AgentEvent::Switch {
                conn,
                direction,
                phase,
            } => on_heap(|| self.queue_switched(conn, direction, phase)).await?,
            AgentEvent::RatchetSync { conn, state, error } => {
                on_heap(|| self.ratchet_synced(conn, state, error.is_some())).await?
            }
            AgentEvent::DecryptFailed { conn, error, count } => {
                on_heap(|| self.decrypt_failed(conn, error, count)).await?
            }
            AgentEvent::Refused { conn, msg_id } => {
                on_heap(|| self.message_refused(conn, msg_id)).await?
            }
            AgentEvent::Error { conn, error } => {
                // Shown for contacts and connections being made; a group member's are not
                // (as the reference, which silences them), nor those of connections deleted
                // since (a peer's queue gone while a message to it was on its way).
                let shown = {
                    let store = self.store();
                    store.contact_by_conn(conn)?.is_some() || store.pending(conn)?.is_some()
                };
                if shown {
                    self.emit(Event::ConnectionError { conn, error }).await;
                }
            }
            // A relay's connection lost or back (`--log-hosts` shows them).
            AgentEvent::SubscriptionErrors { server, errors } => {
                tracing::warn!(target: "chat", %server, count = errors.len(), "queues the relay no longer has");
                self.emit(Event::SubscriptionErrors { server, errors })
                    .await;
            }
            AgentEvent::Down {
                host,
                server,
                conns,
            } => self.relay_reached(false, host, server, conns).await,
            AgentEvent::Up {
                host,
                server,
                conns,
            } => self.relay_reached(true, host, server, conns).await,
            AgentEvent::Sent { conn, msg_id } => {
                let deletion = self.store().conn_deletion(conn)?;
                if let Some(Some(after)) = deletion {
                    if msg_id >= after {
                        on_heap(|| self.finish_deletion(conn)).await;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Handles a contact's (or member's) message; whether a delivery receipt is due (the
    /// reference's: a contact's new message or group invitation, receipts on).
    async fn received(&self, conn: ConnId, body: &[u8]) -> Result<bool> {
        let contact = self.store().contact_by_conn(conn)?;
        let Some(contact) = contact else {
            let member = self.store().member_by_conn(conn)?;
            if let Some(m) = member {
                return on_heap(|| self.member_received(m, body)).await;
            }
            if self.store().conn_deletion(conn)?.is_some() {
                return Ok(false); // a contact being deleted: nothing more is shown
            }
            // Deleted already (a group's or contact's connection deleted while this message
            // was on its way to us).
            if !self
                .inner
                .agent
                .connections()
                .iter()
                .any(|(c, _)| *c == conn)
            {
                return Ok(false);
            }
            return Err(ChatError::Agent(format!(
                "a message on connection {conn}, which is no contact"
            )));
        };
        let mut receipt = false;
        for parsed in parse_chat_messages(body) {
            let msg = match parsed {
                // Only a group's host or relay forwards: a contact's forward is nobody's.
                Ok(p) if p.forward.is_some() => {
                    self.emit(Event::Error(format!(
                        "{}: a forwarded message from a contact is ignored",
                        crate::command::view_name(&contact.local_name)
                    )))
                    .await;
                    continue;
                }
                Ok(p) => p.msg,
                Err(e) => {
                    self.emit(Event::Error(format!(
                        "{}: {e}",
                        crate::command::view_name(&contact.local_name)
                    )))
                    .await;
                    continue;
                }
            };
            // The reference's `hasDeliveryReceipt`: a new message, a group invitation, a call.
            receipt |= matches!(
                msg.event,
                ChatEvent::MsgNew(_) | ChatEvent::GrpInv(_) | ChatEvent::CallInv { .. }
            );
            // A voice message we do not allow the contact: not kept, an item says so.
            if let ChatEvent::MsgNew(c) = &msg.event {
                let voice = matches!(c.content, crate::MsgContent::Voice { .. });
                if voice
                    && !crate::features::Prefs::of(&contact)
                        .enabled("voice")
                        .for_contact
                {
                    self.add_info(&contact, &[crate::features::InfoItem::rejected("voice")])
                        .await?;
                    continue;
                }
            }
            match msg.event {
                ChatEvent::MsgNew(c) => {
                    let item = self.received_new(&contact, msg.msg_id.as_ref(), &c).await?;
                    let item_id = item.item_id;
                    if c.file.is_none() {
                        self.emit(Event::Received(contact.clone(), item)).await;
                    } else if !c.content.text_shown().is_empty() {
                        self.emit(Event::ReceivedCaption(contact.clone(), item))
                            .await;
                    }
                    if let Some(inv) = &c.file {
                        if let Err(e) = self
                            .file_offered(&contact, msg.msg_id.as_ref(), inv, item_id)
                            .await
                        {
                            self.emit(Event::Error(e.to_string())).await;
                        }
                    }
                }
                ChatEvent::MsgFileDescr { msg_id, file_descr } => {
                    match self.file_descr_part(&contact, &msg_id, &file_descr) {
                        Ok(Some(file_id)) => self.descr_ready(file_id).await,
                        Ok(None) => {}
                        Err(e) => self.emit(Event::Error(e.to_string())).await,
                    }
                }
                ChatEvent::MsgUpdate(u) => on_heap(|| self.received_update(&contact, &u)).await?,
                ChatEvent::MsgDel { msg_id, .. } => {
                    on_heap(|| self.received_delete(&contact, &msg_id)).await?
                }
                ChatEvent::MsgReact {
                    msg_id,
                    reaction,
                    add,
                    ..
                } => {
                    self.received_reaction(&contact, &msg_id, &reaction, add)
                        .await?;
                }
                ChatEvent::FileCancel { msg_id } => {
                    on_heap(|| self.file_cancelled_by_sender(&contact, &msg_id)).await?;
                }
                ChatEvent::GrpInv(inv) => {
                    if let Err(e) = self.received_group_invitation(&contact, inv).await {
                        if matches!(e, ChatError::Store(_)) {
                            return Err(e);
                        }
                        self.emit(Event::Error(e.to_string())).await;
                    }
                }
                ChatEvent::CallInv {
                    call_id,
                    invitation,
                } => {
                    on_heap(|| self.received_call_invitation(&contact, call_id, invitation)).await?
                }
                ChatEvent::CallOffer { call_id, offer } => {
                    on_heap(|| self.received_call_offer(&contact, &call_id, offer)).await?
                }
                ChatEvent::CallAnswer { call_id, answer } => {
                    on_heap(|| self.received_call_answer(&contact, &call_id, answer)).await?
                }
                ChatEvent::CallExtra { call_id, extra } => {
                    on_heap(|| self.received_call_extra(&contact, &call_id, extra)).await?
                }
                ChatEvent::CallEnd { call_id } => {
                    on_heap(|| self.received_call_end(&contact, &call_id)).await?
                }
                ChatEvent::DirectDel => {
                    if let Some(c) = contact.conn_id {
                        let noted = {
                            let mut store = self.store();
                            store.contact_deleted_by_contact(contact.contact_id, c)?;
                            store.add_info_items(
                                contact.contact_id,
                                &[crate::features::InfoItem::contact_deleted()],
                            )?
                        };
                        let gone = Contact {
                            conn_id: None,
                            ready: false,
                            deleted_by_contact: true,
                            ..contact.clone()
                        };
                        for item in noted {
                            self.emit(Event::InfoItem(gone.clone(), item)).await;
                        }
                        self.emit(Event::ContactDeletedByContact(gone)).await;
                    }
                    // Nothing after it is read: the connection goes.
                    break;
                }
                ChatEvent::Info { profile } if profile != contact.profile => {
                    let name = self
                        .store()
                        .set_contact_profile(contact.contact_id, &profile)?;
                    let to = Contact {
                        local_name: name,
                        profile,
                        ..contact.clone()
                    };
                    // What shows of the profile changed: an item; its preferences changed
                    // what the features are: an item for each.
                    let mut changed = Vec::new();
                    if crate::features::InfoItem::profile_change_shows(
                        &contact.profile,
                        &to.profile,
                    ) {
                        changed.push(crate::features::InfoItem::profile_updated(
                            &contact.profile,
                            &to.profile,
                        ));
                    }
                    changed.extend(crate::features::changed_items(
                        &crate::features::Prefs::of(&contact),
                        &crate::features::Prefs::of(&to),
                        false,
                    ));
                    let items = self.store().add_info_items(to.contact_id, &changed)?;
                    self.emit(Event::ProfileUpdated {
                        from: contact.clone(),
                        to: to.clone(),
                    })
                    .await;
                    for item in items {
                        self.emit(Event::InfoItem(to.clone(), item)).await;
                    }
                }
                // Other events come with the features that use them.
                _ => {}
            }
        }
        // The contact's own setting, else the user's default.
        Ok(receipt
            && contact
                .flags
                .send_rcpts
                .unwrap_or_else(|| self.receipts_on()))
    }

    /// `/show on`: live messages are shown as they are typed.
    pub fn show_live(&self) -> bool {
        self.inner
            .show_live
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether delivery receipts are sent to contacts (on unless turned off, as for the
    /// reference's new users).
    pub(crate) fn receipts_on(&self) -> bool {
        self.inner
            .receipts
            .load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// The settings key of the delivery receipts to contacts (`on`/`off`).
pub(crate) const RECEIPTS_SETTING: &str = "send_receipts_contacts";

/// When the user's profile last changed (ms): groups are sent it with our next message.
pub(crate) const PROFILE_UPDATED_AT: &str = "profile_updated_at";

/// The settings key of the address's settings.
const ADDRESS_SETTINGS: &str = "address_settings";

/// The most reactions one side may put on one item.
pub const MAX_REACTIONS: i64 = 3;

/// A reaction as stored (its canonical JSON), if it is an emoji reaction of one short emoji.
pub fn reaction_key(r: &serde_json::Value) -> Option<String> {
    let emoji = r.get("emoji")?.as_str()?;
    let ok = r.get("type")?.as_str()? == "emoji"
        && !emoji.is_empty()
        && emoji.len() <= 32
        && !emoji
            .chars()
            .any(|c| c.is_alphanumeric() || c.is_whitespace() || c.is_control());
    ok.then(|| serde_json::json!({"type": "emoji", "emoji": emoji}).to_string())
}

/// Bytes read as a big-endian number, in decimal, in groups of 5 digits from the left (the
/// reference's verification code format).
pub fn verification_code(bytes: &[u8]) -> String {
    // Repeated division of the base-256 number by 10.
    let mut n: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
    let mut digits = Vec::new();
    while !n.is_empty() {
        let mut rem = 0u32;
        for b in n.iter_mut() {
            let cur = (rem << 8) | u32::from(*b);
            *b = (cur / 10) as u8;
            rem = cur % 10;
        }
        digits.push(b'0' + rem as u8);
        let zeros = n.iter().take_while(|b| **b == 0).count();
        n.drain(..zeros);
    }
    if digits.is_empty() {
        digits.push(b'0');
    }
    digits.reverse();
    digits
        .chunks(5)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A future made and boxed in a frame of its own. `Box::pin(self.f(..))` in a big `match`
/// (`Chat::execute`) makes the future in the caller's frame first, and a debug build gives
/// every arm's temporary its own stack slot: the frame grows with each arm until a deep call
/// overflows the stack. Here the caller's frame holds only the closure and the box.
pub(crate) fn on_heap<'a, T, F>(
    make: impl FnOnce() -> F,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>
where
    F: std::future::Future<Output = T> + Send + 'a,
{
    Box::pin(make())
}

pub(crate) fn db_path(config: &ChatConfig, which: &str) -> PathBuf {
    let mut p = config.db_prefix.clone().into_os_string();
    p.push(format!("_{which}.db"));
    PathBuf::from(p)
}

/// One message of `/_send ... json [...]` sent (to a contact or a group): its item, and its
/// file's path as given.
pub(crate) fn collect_sent(r: Response, items: &mut Vec<ChatItem>, paths: &mut Vec<(i64, String)>) {
    match r {
        Response::Sent(_, item) | Response::GroupSent(_, item) => items.push(item),
        Response::FileSending {
            item,
            file_id,
            path,
            ..
        }
        | Response::GroupFileSending {
            item,
            file_id,
            path,
            ..
        } => {
            items.push(item);
            paths.push((file_id, path));
        }
        _ => {}
    }
}

/// An agent event's kind, for the debug log (never its contents).
fn agent_event_kind(e: &AgentEvent) -> &'static str {
    match e {
        AgentEvent::Confirmation { .. } => "confirmation",
        AgentEvent::Info { .. } => "info",
        AgentEvent::Connected { .. } => "connected",
        AgentEvent::Message { .. } => "message",
        AgentEvent::Request { .. } => "request",
        AgentEvent::Sent { .. } => "sent",
        AgentEvent::Down { .. } => "down",
        AgentEvent::Up { .. } => "up",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::verification_code;

    #[test]
    fn verification_codes_are_the_number_in_groups_of_five() {
        assert_eq!(verification_code(&[]), "0");
        assert_eq!(verification_code(&[0, 1, 0]), "256");
        assert_eq!(verification_code(&[0x01, 0x86, 0xa0]), "10000 0");
        assert_eq!(
            verification_code(&[0xff; 32]),
            "11579 20892 37316 19542 35709 85008 68790 78532 69984 66564 05640 39457 58400 \
             79131 29639 935"
        );
    }
}
