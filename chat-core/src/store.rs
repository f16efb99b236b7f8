//! The chat database (`<prefix>_chat.db`, beside the agent's `<prefix>_agent.db`): the user,
//! contacts, pending connections, requests to our address and chat items. SQLite through
//! rusqlite with SQLCipher (the same key as the agent's database), migrations from v1.
//!
//! ```text
//! schema v1: users(user_id, profile JSON)
//!            contacts(contact_id, local_name UNIQUE, profile JSON, conn_id UNIQUE, ready)
//!            pending(conn_id, kind: invitation | joined_invitation | joined_address | address,
//!                    link)
//!            requests(request_id = the agent's, local_name UNIQUE, profile JSON)
//!            chat_items(item_id, contact_id, sent, shared_msg_id, agent_msg_id,
//!                       content JSON, item_ts ms)
//! ```
//! Contact ids start at 2 (the reference gives the user's own contact id 1).

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

use crate::protocol::{MsgContent, Profile};

/// Why the chat store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Not a chat database, or the wrong key.
    #[error("cannot open the chat database (wrong key, or not a chat database): {0}")]
    Open(String),
    /// A query failed.
    #[error("chat database: {0}")]
    Db(#[from] rusqlite::Error),
    /// The file could not be created.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Stored JSON that does not read back (a damaged row).
    #[error("chat database: stored {0} does not read back")]
    Corrupt(&'static str),
    /// From a newer version of this program.
    #[error("the chat database has schema version {0}, newer than this program's {1}")]
    TooNew(i64, i64),
    /// The copy made before an upgrade failed (the database is not upgraded).
    #[error("cannot back up the database to {0} before upgrading it: {1}")]
    Backup(String, std::io::Error),
}

impl From<agent::store::StoreError> for StoreError {
    fn from(e: agent::store::StoreError) -> Self {
        use agent::store::StoreError as A;
        match e {
            A::Open(m) => Self::Open(m),
            A::Db(e) => Self::Db(e),
            A::Io(e) => Self::Io(e),
            A::TooNew(have, known) => Self::TooNew(have, known),
            A::Backup(to, e) => Self::Backup(to, e),
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

pub(crate) const MIGRATIONS: &[&str] = &[
    "CREATE TABLE users (
        user_id INTEGER PRIMARY KEY,
        profile TEXT NOT NULL
     );
     CREATE TABLE contacts (
        contact_id INTEGER PRIMARY KEY,
        local_name TEXT NOT NULL UNIQUE,
        profile TEXT NOT NULL,
        conn_id INTEGER UNIQUE,
        ready INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL
     );
     CREATE TABLE pending (
        conn_id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        link TEXT,
        created_at INTEGER NOT NULL
     );
     CREATE TABLE requests (
        request_id INTEGER PRIMARY KEY,
        local_name TEXT NOT NULL UNIQUE,
        profile TEXT NOT NULL,
        created_at INTEGER NOT NULL
     );
     CREATE TABLE chat_items (
        item_id INTEGER PRIMARY KEY AUTOINCREMENT,
        contact_id INTEGER NOT NULL REFERENCES contacts ON DELETE CASCADE,
        sent INTEGER NOT NULL,
        shared_msg_id BLOB,
        agent_msg_id INTEGER,
        content TEXT NOT NULL,
        item_ts INTEGER NOT NULL
     );
     CREATE INDEX chat_items_contact ON chat_items (contact_id, item_id);",
    // v2: files sent and received over XFTP
    "CREATE TABLE files (
        file_id INTEGER PRIMARY KEY,
        contact_id INTEGER NOT NULL REFERENCES contacts ON DELETE CASCADE,
        sent INTEGER NOT NULL,
        shared_msg_id BLOB NOT NULL,
        name TEXT NOT NULL,
        size INTEGER NOT NULL,
        path TEXT,
        status TEXT NOT NULL,
        descr TEXT NOT NULL DEFAULT '',
        descr_parts INTEGER NOT NULL DEFAULT 0,
        descr_complete INTEGER NOT NULL DEFAULT 0,
        sender_descr TEXT,
        created_at INTEGER NOT NULL
     );
     CREATE INDEX files_msg ON files (contact_id, shared_msg_id);
     ALTER TABLE chat_items ADD COLUMN file_id INTEGER;",
    // v3: quotes, edits, deletions for everyone
    "ALTER TABLE chat_items ADD COLUMN quote TEXT;
     ALTER TABLE chat_items ADD COLUMN edited INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE chat_items ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
     CREATE INDEX chat_items_shared ON chat_items (contact_id, shared_msg_id);",
    // v4: the note folder (`*`) is contact 1, as the user's own contact in the reference;
    // chats marked unread
    "INSERT OR IGNORE INTO contacts (contact_id, local_name, profile, conn_id, ready, created_at)
        VALUES (1, '*', '{\"displayName\":\"*\",\"fullName\":\"\"}', NULL, 0, 0);
     CREATE TABLE unread_chats (contact_id INTEGER PRIMARY KEY REFERENCES contacts ON DELETE CASCADE);",
    // v5: deleted contacts - by the user (the agent connection is deleted once the message
    // telling the contact is sent: `after_msg_id`), or by the contact (kept, marked)
    "CREATE TABLE conn_deletions (
        conn_id INTEGER PRIMARY KEY,
        after_msg_id INTEGER
     );
     ALTER TABLE contacts ADD COLUMN deleted_by_contact INTEGER NOT NULL DEFAULT 0;",
    // v6: the security code the user verified (`/verify`)
    "ALTER TABLE contacts ADD COLUMN verified_code TEXT;",
    // v7: the link a contact came by (ours or the one we joined), as shown: a link used again
    // is recognised (`/_connect plan`)
    "ALTER TABLE contacts ADD COLUMN via_link TEXT;
     CREATE INDEX contacts_via_link ON contacts (via_link);",
    // v8: incognito connections - the random profile shown to that one contact instead of the
    // user's
    "ALTER TABLE pending ADD COLUMN incognito TEXT;
     ALTER TABLE contacts ADD COLUMN incognito TEXT;",
    // v9: reactions to chat items, ours and the contact's (one of each emoji per side)
    "CREATE TABLE reactions (
        item_id INTEGER NOT NULL REFERENCES chat_items ON DELETE CASCADE,
        by_us INTEGER NOT NULL,
        reaction TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (item_id, by_us, reaction)
     );",
    // v10: the address's settings (auto-accept, auto-reply) and, per contact accepted
    // automatically, the reply still to send once it is connected
    "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
     ALTER TABLE contacts ADD COLUMN send_on_connect TEXT;",
    // v11: a bot's own data about a contact (`/_set custom`), JSON
    "ALTER TABLE contacts ADD COLUMN custom_data TEXT;",
    // v12: disappearing messages - the item's time to live (seconds) and when it goes
    "ALTER TABLE chat_items ADD COLUMN ttl INTEGER;
     ALTER TABLE chat_items ADD COLUMN delete_at INTEGER;
     CREATE INDEX chat_items_delete_at ON chat_items (delete_at) WHERE delete_at IS NOT NULL;",
    // v13: groups - the group (our membership in it), its members (each on its own agent
    // connection), the host's record of introductions; chat items of a group (contact_id
    // NULL, group_id and the sending member), so chat_items is rebuilt with contact_id
    // nullable (foreign keys are off while migrations run, so reactions keep their items)
    "CREATE TABLE groups (
        group_id INTEGER PRIMARY KEY,
        local_name TEXT NOT NULL UNIQUE,
        profile TEXT NOT NULL,
        member_id BLOB NOT NULL,
        role TEXT NOT NULL,
        status TEXT NOT NULL,
        conn_request TEXT,
        created_at INTEGER NOT NULL
     );
     CREATE TABLE group_members (
        group_member_id INTEGER PRIMARY KEY,
        group_id INTEGER NOT NULL REFERENCES groups ON DELETE CASCADE,
        member_id BLOB NOT NULL,
        role TEXT NOT NULL,
        category TEXT NOT NULL,
        status TEXT NOT NULL,
        profile TEXT NOT NULL,
        local_name TEXT NOT NULL,
        conn_id INTEGER UNIQUE,
        contact_id INTEGER REFERENCES contacts ON DELETE SET NULL,
        invited_by INTEGER,
        created_at INTEGER NOT NULL,
        UNIQUE (group_id, member_id)
     );
     CREATE INDEX group_members_name ON group_members (local_name);
     CREATE TABLE group_intros (
        re_member INTEGER NOT NULL REFERENCES group_members ON DELETE CASCADE,
        to_member INTEGER NOT NULL REFERENCES group_members ON DELETE CASCADE,
        status TEXT NOT NULL,
        PRIMARY KEY (re_member, to_member)
     );
     CREATE TABLE chat_items_v13 (
        item_id INTEGER PRIMARY KEY AUTOINCREMENT,
        contact_id INTEGER REFERENCES contacts ON DELETE CASCADE,
        sent INTEGER NOT NULL,
        shared_msg_id BLOB,
        agent_msg_id INTEGER,
        content TEXT NOT NULL,
        item_ts INTEGER NOT NULL,
        file_id INTEGER,
        quote TEXT,
        edited INTEGER NOT NULL DEFAULT 0,
        deleted INTEGER NOT NULL DEFAULT 0,
        ttl INTEGER,
        delete_at INTEGER,
        group_id INTEGER REFERENCES groups ON DELETE CASCADE,
        group_member_id INTEGER REFERENCES group_members ON DELETE SET NULL,
        CHECK ((contact_id IS NULL) != (group_id IS NULL))
     );
     INSERT INTO chat_items_v13 (item_id, contact_id, sent, shared_msg_id, agent_msg_id, content,
                                 item_ts, file_id, quote, edited, deleted, ttl, delete_at)
        SELECT item_id, contact_id, sent, shared_msg_id, agent_msg_id, content, item_ts, file_id,
               quote, edited, deleted, ttl, delete_at FROM chat_items;
     DROP TABLE chat_items;
     ALTER TABLE chat_items_v13 RENAME TO chat_items;
     CREATE INDEX chat_items_contact ON chat_items (contact_id, item_id);
     CREATE INDEX chat_items_shared ON chat_items (contact_id, shared_msg_id);
     CREATE INDEX chat_items_delete_at ON chat_items (delete_at) WHERE delete_at IS NOT NULL;
     CREATE INDEX chat_items_group ON chat_items (group_id, item_id) WHERE group_id IS NOT NULL;
     CREATE INDEX chat_items_group_shared ON chat_items (group_id, group_member_id, shared_msg_id)
        WHERE group_id IS NOT NULL;",
    // v14: a group item that a member (the host) forwarded, not its author directly
    "ALTER TABLE chat_items ADD COLUMN forwarded_by INTEGER;",
    // v15: a member's messages hidden for us (`/block #g member`)
    "ALTER TABLE group_members ADD COLUMN show_messages INTEGER NOT NULL DEFAULT 1;",
    // v16: files in groups - a file is a contact's or a group's (rebuilt with contact_id
    // nullable; a received group file records the member who offered it); a file sent to a
    // group keeps the members it was offered to and every recipient description of its
    // upload (one per member, the rest spare for members who join later)
    "CREATE TABLE files_v16 (
        file_id INTEGER PRIMARY KEY,
        contact_id INTEGER REFERENCES contacts ON DELETE CASCADE,
        group_id INTEGER REFERENCES groups ON DELETE CASCADE,
        group_member_id INTEGER REFERENCES group_members ON DELETE SET NULL,
        sent INTEGER NOT NULL,
        shared_msg_id BLOB NOT NULL,
        name TEXT NOT NULL,
        size INTEGER NOT NULL,
        path TEXT,
        status TEXT NOT NULL,
        descr TEXT NOT NULL DEFAULT '',
        descr_parts INTEGER NOT NULL DEFAULT 0,
        descr_complete INTEGER NOT NULL DEFAULT 0,
        sender_descr TEXT,
        created_at INTEGER NOT NULL,
        descr_via INTEGER,
        CHECK ((contact_id IS NULL) != (group_id IS NULL))
     );
     INSERT INTO files_v16 (file_id, contact_id, sent, shared_msg_id, name, size, path, status,
                            descr, descr_parts, descr_complete, sender_descr, created_at)
        SELECT file_id, contact_id, sent, shared_msg_id, name, size, path, status, descr,
               descr_parts, descr_complete, sender_descr, created_at FROM files;
     DROP TABLE files;
     ALTER TABLE files_v16 RENAME TO files;
     CREATE INDEX files_msg ON files (contact_id, shared_msg_id);
     CREATE INDEX files_group_msg ON files (group_id, group_member_id, shared_msg_id)
        WHERE group_id IS NOT NULL;
     CREATE TABLE group_file_members (
        file_id INTEGER NOT NULL REFERENCES files ON DELETE CASCADE,
        group_member_id INTEGER NOT NULL REFERENCES group_members ON DELETE CASCADE,
        PRIMARY KEY (file_id, group_member_id)
     );
     CREATE TABLE group_file_descrs (
        file_id INTEGER NOT NULL REFERENCES files ON DELETE CASCADE,
        descr_no INTEGER NOT NULL,
        descr TEXT NOT NULL,
        group_member_id INTEGER REFERENCES group_members ON DELETE SET NULL,
        sent INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (file_id, descr_no)
     );",
    // v17: group links - a group's contact address (its link carries the group link id); a
    // member who joined through it keeps the agent's request id (a request announced again
    // after a restart is not accepted twice)
    "CREATE TABLE group_links (
        group_id INTEGER PRIMARY KEY REFERENCES groups ON DELETE CASCADE,
        conn_id INTEGER NOT NULL UNIQUE,
        link TEXT NOT NULL,
        link_id BLOB NOT NULL,
        role TEXT NOT NULL,
        created_at INTEGER NOT NULL
     );
     ALTER TABLE group_members ADD COLUMN join_request INTEGER;
     CREATE UNIQUE INDEX group_members_join_request ON group_members (join_request)
        WHERE join_request IS NOT NULL;",
    // v18: a member blocked for all by a moderator or above (`x.grp.mem.restrict`)
    "ALTER TABLE group_members ADD COLUMN blocked_by_admin INTEGER NOT NULL DEFAULT 0;",
    // v19: incognito membership - the random profile the group knows us by (`/g i`, a group
    // link joined with `/c i`)
    "ALTER TABLE groups ADD COLUMN incognito TEXT;",
    // v20: reactions in groups - each member's own (by_member: the reacting member, 0 for us
    // and for a contact), so the table is rebuilt with the member in its key
    "CREATE TABLE reactions_v20 (
        item_id INTEGER NOT NULL REFERENCES chat_items ON DELETE CASCADE,
        by_us INTEGER NOT NULL,
        by_member INTEGER NOT NULL DEFAULT 0,
        reaction TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (item_id, by_us, by_member, reaction)
     );
     INSERT INTO reactions_v20 (item_id, by_us, reaction, created_at)
        SELECT item_id, by_us, reaction, created_at FROM reactions;
     DROP TABLE reactions;
     ALTER TABLE reactions_v20 RENAME TO reactions;",
    // v21: a new member being introduced (the history's last item id) until every member is
    // introduced and the history sent: a host restarted meanwhile finishes it
    "ALTER TABLE group_members ADD COLUMN introducing INTEGER;",
    // v22: informational items (a new direct chat's banner, encryption notice and features):
    // the item's API content (`CIContent`); NULL for a message
    "ALTER TABLE chat_items ADD COLUMN info TEXT;",
    // v23: the user's preferences set for a contact (`/_set prefs`), a JSON object
    "ALTER TABLE contacts ADD COLUMN user_prefs TEXT;",
    // v24: received items not read yet (`rcvNew`); a received disappearing message's timer
    // starts when it is read
    "ALTER TABLE chat_items ADD COLUMN unread INTEGER NOT NULL DEFAULT 0;
     CREATE INDEX chat_items_unread ON chat_items (contact_id, group_id) WHERE unread = 1;",
    // v25: a sent item's delivery receipt (1: received and stored by the contact, 0: a
    // receipt whose hash is not the message's); NULL before one comes
    "ALTER TABLE chat_items ADD COLUMN rcpt INTEGER;
     CREATE INDEX chat_items_agent_msg ON chat_items (contact_id, agent_msg_id)
        WHERE agent_msg_id IS NOT NULL;",
    // v26: chats muted by the user (`/mute @name`, `/mute #group`)
    "ALTER TABLE contacts ADD COLUMN muted INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE groups ADD COLUMN muted INTEGER NOT NULL DEFAULT 0;",
    // v27: a bot's own data about a group (`/_set custom #G {...}`)
    "ALTER TABLE groups ADD COLUMN custom_data TEXT;",
    // v28: a forwarded item's origin (the API's `itemForwarded`: the chat it was forwarded
    // from, or `unknown` for one received forwarded)
    "ALTER TABLE chat_items ADD COLUMN fwd TEXT;",
    // v29: a group member's contact's invitation (`x.grp.direct.inv`): the link - ours to
    // send or the member's to join - and where it stands (created, sent, received, accepted)
    "ALTER TABLE contacts ADD COLUMN grp_inv_link TEXT;
     ALTER TABLE contacts ADD COLUMN grp_inv TEXT;",
    // v30: joiners reviewed by the admins (`memberAdmission`): a pending member's connection
    // (`joining`, then `connected`), and the support chat a group item is in (JSON
    // `ItemScope`; NULL: the group's own chat)
    "ALTER TABLE group_members ADD COLUMN admission TEXT;
     ALTER TABLE chat_items ADD COLUMN scope TEXT;",
    // v31: where a message to a small group went (each member and the agent's message id on
    // its connection) and that member's receipt
    "CREATE TABLE group_deliveries (
        item_id INTEGER NOT NULL REFERENCES chat_items ON DELETE CASCADE,
        group_member_id INTEGER NOT NULL,
        agent_msg_id INTEGER NOT NULL,
        rcpt INTEGER,
        PRIMARY KEY (group_member_id, agent_msg_id)
     );
     CREATE INDEX group_deliveries_item ON group_deliveries (item_id);",
    // v32: a chat's own settings (`ChatSettings`): delivery receipts to it (NULL: the user's
    // default for contacts or small groups), and favorite
    "ALTER TABLE contacts ADD COLUMN send_rcpts INTEGER;
     ALTER TABLE contacts ADD COLUMN favorite INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE groups ADD COLUMN send_rcpts INTEGER;
     ALTER TABLE groups ADD COLUMN favorite INTEGER NOT NULL DEFAULT 0;",
    // v33: live messages (`/live`): 1 while its author is still typing it, 0 once ended;
    // NULL for a message that never was live
    "ALTER TABLE chat_items ADD COLUMN live INTEGER;",
    // v34: the short link of an invitation or address we made (`https://<relay host>/i#...`),
    // beside its full link
    "ALTER TABLE pending ADD COLUMN short_link TEXT;",
    // v35: when our profile last went to a group's members (`x.info` before our next message
    // once the profile changed; NULL: not since this version)
    "ALTER TABLE groups ADD COLUMN profile_sent_at INTEGER;",
    // v36: a group message deleted by a moderator: the moderator's group_member_id (0: the
    // user); NULL otherwise
    "ALTER TABLE chat_items ADD COLUMN deleted_by INTEGER;",
    // v37: channels (chat relays): the relays the user chose; a group that is a channel, its
    // link, and whether we (its relay) refuse to serve it again; a channel's relays
    "CREATE TABLE chat_relays (
        chat_relay_id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        address TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL
     );
     ALTER TABLE groups ADD COLUMN use_relays INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE groups ADD COLUMN channel_link TEXT;
     ALTER TABLE groups ADD COLUMN relay_refused INTEGER NOT NULL DEFAULT 0;
     CREATE INDEX groups_channel_link ON groups (channel_link);
     CREATE TABLE group_relays (
        group_member_id INTEGER PRIMARY KEY REFERENCES group_members ON DELETE CASCADE,
        chat_relay_id INTEGER,
        status TEXT NOT NULL,
        relay_link TEXT
     );",
    // v38: a chat's own message expiry (`/ttl @name week`): seconds, 0 never; NULL the user's
    "ALTER TABLE contacts ADD COLUMN chat_item_ttl INTEGER;
     ALTER TABLE groups ADD COLUMN chat_item_ttl INTEGER;",
    // v39: a business chat's data (`BusinessChatInfo` JSON: whom it is with, the business's
    // and the customer's member ids); NULL for other groups
    "ALTER TABLE groups ADD COLUMN business TEXT;",
    // v40: messages to group members we invited whose connection is not up yet (the
    // reference's pending_group_messages), sent when it is
    "CREATE TABLE pending_group_messages (
        pending_id INTEGER PRIMARY KEY,
        group_member_id INTEGER NOT NULL REFERENCES group_members ON DELETE CASCADE,
        body BLOB NOT NULL,
        created_at INTEGER NOT NULL
     );
     CREATE INDEX pending_group_messages_member ON pending_group_messages (group_member_id);",
    // v41: the link a group was joined by (a group link, or a business address), as used: its
    // connection plan says the group is known
    "ALTER TABLE groups ADD COLUMN via_link TEXT;
     CREATE INDEX groups_via_link ON groups (via_link);",
    // v42: the user's own name for a contact (`/_set alias @N text`); empty: none
    "ALTER TABLE contacts ADD COLUMN local_alias TEXT NOT NULL DEFAULT '';",
    // v43: the user's own name for a group (`/_set alias #N text`); empty: none
    "ALTER TABLE groups ADD COLUMN local_alias TEXT NOT NULL DEFAULT '';",
    // v44: a group link's short link (`https://<relay>/g#...`, as shown), when its relay keeps
    // link data; NULL: the full link only
    "ALTER TABLE group_links ADD COLUMN short_link TEXT;
     CREATE INDEX group_links_short_link ON group_links (short_link);",
    // v45: an edited item's contents (`/item info`): the original at the item's time, then
    // each edit's; none for an item never edited
    "CREATE TABLE chat_item_versions (
        version_id INTEGER PRIMARY KEY,
        item_id INTEGER NOT NULL REFERENCES chat_items ON DELETE CASCADE,
        content TEXT NOT NULL,
        version_ts INTEGER NOT NULL
     );
     CREATE INDEX chat_item_versions_item ON chat_item_versions (item_id);",
    // v46: the user's own name for a connection in progress (`/_set alias :N text`)
    "ALTER TABLE pending ADD COLUMN local_alias TEXT NOT NULL DEFAULT '';",
    // v47: a prepared contact (`/_prepare contact`): the link to connect by, kept as JSON
    // (`PreparedContact`); the connection started for it (`/_connect contact @N`); a request's
    // message (`x.contact`'s `msgId` and `content`), as JSON
    "ALTER TABLE contacts ADD COLUMN prepared TEXT;
     ALTER TABLE pending ADD COLUMN contact_id INTEGER REFERENCES contacts ON DELETE CASCADE;
     ALTER TABLE requests ADD COLUMN request_msg TEXT;",
    // v48: our channel post sent as the channel itself (`/_send #G(as_group=on)`): its edits
    // go as the channel's too
    "ALTER TABLE chat_items ADD COLUMN as_group INTEGER NOT NULL DEFAULT 0;",
    // v49: a prepared group (`/_prepare group`): the link to join by, kept as JSON
    // (`PreparedGroup`); the connection started for it (`/_connect group #G`)
    "ALTER TABLE groups ADD COLUMN prepared TEXT;
     ALTER TABLE pending ADD COLUMN group_id INTEGER REFERENCES groups ON DELETE CASCADE;",
    // v50: the shared id a requester gave our address's welcome message (`welcomeMsgId`): the
    // auto-reply goes as an edit of it
    "ALTER TABLE requests ADD COLUMN welcome_msg_id BLOB;",
    // v51: the shared id a member joining by our group link or business address gave the
    // welcome message it has from the link's data (`welcomeMsgId`): the group's welcome is not
    // sent again, the business's auto-reply goes as an edit of it
    "ALTER TABLE group_members ADD COLUMN welcome_msg_id BLOB;",
    // v52: the members a group item mentions (`mentions.rs`)
    "CREATE TABLE item_mentions (
        item_id INTEGER NOT NULL REFERENCES chat_items ON DELETE CASCADE,
        name TEXT NOT NULL,
        member_id BLOB NOT NULL,
        PRIMARY KEY (item_id, name)
     );",
    // v53: a received group item that mentions us or replies to one of ours
    "ALTER TABLE chat_items ADD COLUMN user_mention INTEGER NOT NULL DEFAULT 0;",
    // v54: messages the relay refused with AUTH since the contact or member was enabled
    // (`disable.rs`)
    "ALTER TABLE contacts ADD COLUMN auth_errors INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE group_members ADD COLUMN auth_errors INTEGER NOT NULL DEFAULT 0;",
    // v55: why a sent message was not delivered (`auth`: the relay refused it)
    "ALTER TABLE chat_items ADD COLUMN snd_error TEXT;",
    // v56: the user's chat tags (`tags.rs`) and the chats they are on
    "CREATE TABLE chat_tags (
        tag_id INTEGER PRIMARY KEY,
        text TEXT NOT NULL,
        emoji TEXT,
        tag_order INTEGER NOT NULL
     );
     CREATE TABLE chat_tags_chats (
        tag_id INTEGER NOT NULL REFERENCES chat_tags ON DELETE CASCADE,
        contact_id INTEGER REFERENCES contacts ON DELETE CASCADE,
        group_id INTEGER REFERENCES groups ON DELETE CASCADE,
        UNIQUE (tag_id, contact_id),
        UNIQUE (tag_id, group_id)
     );
     CREATE INDEX chat_tags_chats_contact ON chat_tags_chats (contact_id);
     CREATE INDEX chat_tags_chats_group ON chat_tags_chats (group_id);",
    // v57: why a message to a small group did not reach a member (`auth`: the relay refused
    // it; `group_receipts.rs`)
    "ALTER TABLE group_deliveries ADD COLUMN snd_error TEXT;",
    // v58: the apps' theme overrides of a contact's and a group's chat (`themes.rs`)
    "ALTER TABLE contacts ADD COLUMN ui_themes TEXT;
     ALTER TABLE groups ADD COLUMN ui_themes TEXT;",
    // v59: a call we are invited to and have not answered (`calls.rs`), kept across a restart
    "CREATE TABLE calls (
        contact_id INTEGER PRIMARY KEY REFERENCES contacts ON DELETE CASCADE,
        call_id BLOB NOT NULL,
        call_uuid TEXT NOT NULL,
        item_id INTEGER NOT NULL,
        call_type TEXT NOT NULL,
        local_public BLOB,
        shared_key BLOB,
        call_ts INTEGER NOT NULL
     );",
    // v60: channels' member keys (`group_keys.rs`): each member's public signing key, and our
    // own private key in each channel we are a member of
    "ALTER TABLE group_members ADD COLUMN member_key BLOB;
     CREATE TABLE group_keys (
        group_id INTEGER PRIMARY KEY REFERENCES groups ON DELETE CASCADE,
        member_priv_key BLOB NOT NULL
     );",
    // v61: how many a channel has (`channels.rs`): its owner's count, or the one its link's
    // data said when a subscriber joined
    "ALTER TABLE groups ADD COLUMN public_member_count INTEGER;",
    // v62: a channel's owners as its link's data names them (`group_keys.rs`), each with the
    // key the link's root key authorized
    "CREATE TABLE channel_owners (
        group_id INTEGER NOT NULL REFERENCES groups ON DELETE CASCADE,
        member_id BLOB NOT NULL,
        member_key BLOB NOT NULL,
        PRIMARY KEY (group_id, member_id)
     );",
    // v63: a group message that came (or went) signed (`group_keys.rs`): `verified` or
    // `signedNoKey`
    "ALTER TABLE chat_items ADD COLUMN msg_signed TEXT;",
];

/// The most versions an edited item keeps (the original among them): edits beyond change the
/// item, not its history - a peer editing one message without end fills no disk.
pub const MAX_ITEM_VERSIONS: i64 = 100;

/// The items with their chat's expiry (`?2`: the user's, for chats without their own).
const ITEM_TTL_FROM: &str = "FROM chat_items i
    LEFT JOIN contacts c ON i.group_id IS NULL AND c.contact_id = i.contact_id
    LEFT JOIN groups g ON g.group_id = i.group_id";
/// The expiry of an item's chat, in seconds (0 or NULL: never).
const ITEM_TTL: &str = "COALESCE(g.chat_item_ttl, c.chat_item_ttl, ?2)";

/// Where informational items go.
#[derive(Debug, Clone)]
pub(crate) enum InfoChat {
    /// A contact's chat.
    Contact(i64),
    /// A group's chat (or, with a scope, a member's support chat in it); received items said
    /// by `member`.
    Group {
        group_id: i64,
        member: Option<i64>,
        scope: Option<ItemScope>,
    },
}

/// An informational item's stored forms: its text as a message content, that content's
/// JSON and the item's API content's.
fn info_columns(i: &crate::features::InfoItem) -> Result<(MsgContent, String, String)> {
    let content = MsgContent::text(i.text.clone());
    let json = serde_json::to_string(&content).map_err(|_| StoreError::Corrupt("content"))?;
    let info = serde_json::to_string(&i.content).map_err(|_| StoreError::Corrupt("info"))?;
    Ok((content, json, info))
}

/// A chat's own settings beyond muting (the reference's `ChatSettings`): delivery receipts
/// to it (none: the user's default) and favorite.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChatFlags {
    /// Send delivery receipts to this chat (`/receipts @name on|off`); none: the user's
    /// default (`/default`).
    pub send_rcpts: Option<bool>,
    /// Marked favorite (`/_settings`).
    pub favorite: bool,
}

/// The id a new contact gets (2 at least: 1 is the note folder).
pub(crate) fn next_contact_id(tx: &rusqlite::Transaction<'_>, base: i64) -> rusqlite::Result<i64> {
    tx.query_row(
        "SELECT max(?1 + 1, coalesce(max(contact_id), 1)) + 1 FROM contacts",
        [base],
        |r| r.get(0),
    )
}

/// The id of a new row of `table` (whose key is `column`): the next above the user's id base
/// ([`ChatStore::set_id_base`]) and above every row's.
pub(crate) fn next_row_id(
    db: &Connection,
    table: &str,
    column: &str,
    base: i64,
) -> rusqlite::Result<i64> {
    db.query_row(
        &format!("SELECT max(?1, coalesce(max({column}), 0)) + 1 FROM {table}"),
        [base],
        |r| r.get(0),
    )
}

/// The most anonymous reactions kept on one item ([`ChatStore::set_anonymous_reaction`]): a
/// relay that floods them does not grow the database without bound.
pub const MAX_ANONYMOUS_REACTIONS: i64 = 100_000;

/// How many ids each user has ([`ChatStore::set_id_base`]): user N numbers its new rows from
/// `(N - 1) * USER_ID_RANGE + 1`.
pub const USER_ID_RANGE: i64 = 1_000_000_000;

/// The chat of private notes (`*`, `*1` in API commands).
pub const NOTES: i64 = 1;

/// Where a file transfer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileStatus {
    /// Sending: being encrypted and uploaded.
    Uploading,
    /// Sending: uploaded; the recipient's description is being sent.
    Uploaded,
    /// Sending: the recipient has its description. Receiving: saved and verified.
    Complete,
    /// Cancelled by the sender.
    Cancelled,
    /// Failed (the reason was reported).
    Failed,
    /// Receiving: offered, not accepted.
    Offered,
    /// Receiving: accepted, waiting for the description or downloading.
    Accepted,
    /// A note's file, kept in the files folder (the reference's local file, `sndStored`).
    Stored,
}

impl FileStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Uploading => "uploading",
            Self::Uploaded => "uploaded",
            Self::Complete => "complete",
            Self::Cancelled => "cancelled",
            Self::Failed => "failed",
            Self::Offered => "offered",
            Self::Accepted => "accepted",
            Self::Stored => "stored",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "uploading" => Self::Uploading,
            "uploaded" => Self::Uploaded,
            "complete" => Self::Complete,
            "cancelled" => Self::Cancelled,
            "failed" => Self::Failed,
            "offered" => Self::Offered,
            "accepted" => Self::Accepted,
            "stored" => Self::Stored,
            _ => return None,
        })
    }
}

/// A file to record.
#[derive(Debug, Clone, Copy)]
pub struct NewFile<'a> {
    /// The contact (0 for a group's file).
    pub contact_id: i64,
    /// The group, for a group's file.
    pub group_id: Option<i64>,
    /// A received group file: the member who offered it.
    pub group_member_id: Option<i64>,
    /// Sent by us.
    pub sent: bool,
    /// The offer's shared message id.
    pub shared_msg_id: &'a [u8],
    /// The name.
    pub name: &'a str,
    /// The size.
    pub size: u64,
    /// Sending: the source.
    pub path: Option<&'a str>,
    /// The first status.
    pub status: FileStatus,
}

/// A file sent or received.
#[derive(Debug, Clone, PartialEq)]
pub struct FileTransfer {
    /// Its id (`/fr 1`).
    pub file_id: i64,
    /// The contact (0 for a group's file).
    pub contact_id: i64,
    /// The group, for a group's file.
    pub group_id: Option<i64>,
    /// A received group file: the member who offered it.
    pub group_member_id: Option<i64>,
    /// Sent by us.
    pub sent: bool,
    /// The shared id of the message that offered it.
    pub shared_msg_id: Vec<u8>,
    /// The name (received names sanitized).
    pub name: String,
    /// Its size.
    pub size: u64,
    /// Sending: the source; receiving: where it is saved (once accepted).
    pub path: Option<String>,
    /// Where it stands.
    pub status: FileStatus,
    /// Receiving: the description so far; sending: the recipient's description.
    pub descr: String,
    /// Receiving: description parts so far.
    pub descr_parts: i64,
    /// Receiving: the description is whole.
    pub descr_complete: bool,
    /// Sending: our own description (to delete the chunks).
    pub sender_descr: Option<String>,
}

/// A pending connection's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingKind {
    /// Our one-time invitation, not yet joined.
    Invitation,
    /// We joined someone's one-time invitation.
    JoinedInvitation,
    /// We sent a request to someone's address.
    JoinedAddress,
    /// Our contact address.
    Address,
}

impl PendingKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Invitation => "invitation",
            Self::JoinedInvitation => "joined_invitation",
            Self::JoinedAddress => "joined_address",
            Self::Address => "address",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "invitation" => Self::Invitation,
            "joined_invitation" => Self::JoinedInvitation,
            "joined_address" => Self::JoinedAddress,
            "address" => Self::Address,
            _ => return None,
        })
    }
}

/// A contact.
#[derive(Debug, Clone, PartialEq)]
pub struct Contact {
    /// Its id (from 2).
    pub contact_id: i64,
    /// The unique local name commands use (`bob`, `bob_1`, `'John Doe'`).
    pub local_name: String,
    /// Its profile.
    pub profile: Profile,
    /// The agent connection.
    pub conn_id: Option<u64>,
    /// Both sides connected.
    pub ready: bool,
    /// When it was created (ms since the epoch).
    pub created_at: i64,
    /// The contact deleted the conversation (`x.direct.del`): nothing can be sent.
    pub deleted_by_contact: bool,
    /// The random profile this contact knows us by (an incognito connection), instead of the
    /// user's.
    pub incognito: Option<Profile>,
    /// A bot's own data about the contact (a JSON object), if set.
    pub custom_data: Option<String>,
    /// The user's own name for the contact (`/_set alias @N text`; empty: none).
    pub local_alias: String,
    /// The user's chat preferences set for this contact (`/_set prefs`), if any.
    pub user_prefs: Option<serde_json::Value>,
    /// The user's own preferences (its profile's): what it allows the contact where
    /// `user_prefs` says nothing.
    pub own_prefs: Option<serde_json::Value>,
    /// Muted by the user (`/mute @name`): its messages are shown marked `<muted>`.
    pub muted: bool,
    /// Its receipts and favorite settings.
    pub flags: ChatFlags,
    /// Messages the relay refused (AUTH) since the contact was last enabled: at
    /// [`crate::disable::AUTH_ERR_DISABLE_COUNT`] the contact is disabled.
    pub auth_errors: i64,
    /// The user's tags on its chat (`tags.rs`), by id.
    pub tags: Vec<i64>,
    /// The apps' theme overrides of its chat (`themes.rs`; kept JSON).
    pub ui_themes: Option<String>,
}

/// What an item quotes: the quoted content as it was, and whether the item's own author
/// wrote it (shown `>>`, else `>`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ItemQuote {
    /// The quoted message's shared id, when known.
    pub shared_msg_id: Option<crate::protocol::B64>,
    /// Its content when quoted.
    pub content: MsgContent,
    /// Written by the quoting item's author.
    pub by_author: bool,
    /// In a group: the member who wrote it (ours when it is our message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_id: Option<crate::protocol::B64>,
    /// In a group: that member's name here when the item was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_name: Option<String>,
}

/// A chat item.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatItem {
    /// Its id (one sequence for all chats).
    pub item_id: i64,
    /// The contact.
    pub contact_id: i64,
    /// Sent by us.
    pub sent: bool,
    /// The shared message id.
    pub shared_msg_id: Option<Vec<u8>>,
    /// The content.
    pub content: MsgContent,
    /// When (ms since the epoch): sent, or received.
    pub item_ts: i64,
    /// What it quotes.
    pub quote: Option<ItemQuote>,
    /// Edited since.
    pub edited: bool,
    /// Deleted for everyone by its sender (kept, marked).
    pub deleted: bool,
    /// The file it offers.
    pub file_id: Option<i64>,
    /// A disappearing message: its time to live (seconds) and when it goes (ms) - not yet
    /// for a received one not read yet.
    pub timed: Option<(i64, Option<i64>)>,
    /// Received and not read yet.
    pub unread: bool,
    /// A sent item's delivery receipt: `true` when the contact stored it, `false` for a
    /// receipt whose hash is not the message's; none yet.
    pub receipt: Option<bool>,
    /// The group of a group item (its `contact_id` is then 0).
    pub group_id: Option<i64>,
    /// The member who sent a received group item.
    pub group_member_id: Option<i64>,
    /// The member who forwarded it (`x.grp.msg.forward`), when it did not come directly.
    pub forwarded_by: Option<i64>,
    /// An informational item (not a message): its API content (`CIContent`); its `content`
    /// is then a text of what it says, never sent, edited, quoted or reacted to.
    pub info: Option<serde_json::Value>,
    /// A forwarded item's origin, as the API's `itemForwarded` (`CIForwardedFrom`):
    /// `{"type": "contact"|"group", "chatName", "msgDir", ...}`, or `{"type": "unknown"}` for
    /// one received forwarded. Never edited.
    pub forward: Option<serde_json::Value>,
    /// A group item in a member's support chat (members reviewed by the admins), not in the
    /// group's own chat.
    pub scope: Option<ItemScope>,
    /// A live message (`/live`): `true` while its author types it, `false` once ended.
    pub live: Option<bool>,
    /// A group message deleted by a moderator: the moderator's member id (0: we were).
    pub deleted_by: Option<i64>,
    /// A received group message that mentions us or replies to one of ours (the reference's
    /// `userMention`: `bob!>` in the terminal).
    pub user_mention: bool,
    /// Why a sent message was not delivered (the reference's `SndError` tag: `auth`, the
    /// peer's queue gone), if it was not.
    pub snd_error: Option<String>,
    /// A group message that came or went signed (`group_keys.rs`): `verified` (the author's
    /// key checked it; ours when we signed) or `signedNoKey`.
    pub msg_signed: Option<String>,
}

impl ChatItem {
    /// A post a channel's owner made as the channel itself, received: a group message
    /// without an author that we did not send.
    pub fn is_channel_post(&self) -> bool {
        self.group_id.is_some()
            && self.group_member_id.is_none()
            && !self.sent
            && self.info.is_none()
    }
}

/// The support chat a group item is in: ours with the group's admins (`member` none), or,
/// for an admin, a member's with them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ItemScope {
    /// The member whose support chat it is (its id here), none for ours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<i64>,
    /// That member's name when the item was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A chat item to store.
#[derive(Debug, Clone, Copy)]
pub struct NewItem<'a> {
    /// The contact.
    pub contact_id: i64,
    /// Sent by us.
    pub sent: bool,
    /// The shared message id.
    pub shared_msg_id: Option<&'a [u8]>,
    /// The agent's message id (sent items).
    pub agent_msg_id: Option<i64>,
    /// The content.
    pub content: &'a MsgContent,
    /// What it quotes.
    pub quote: Option<&'a ItemQuote>,
    /// Arrived as an edit of a message we no longer have.
    pub edited: bool,
}

/// A received call invitation as kept (`calls.rs`): the call, its item, its kind (JSON), our
/// public key for the offer and the agreed key.
pub struct StoredCall {
    /// The call's id.
    pub call_id: Vec<u8>,
    /// Its UUID.
    pub call_uuid: String,
    /// Its item.
    pub item_id: i64,
    /// Its kind (`CallType` JSON).
    pub call_type: String,
    /// Our X25519 key for the offer (SubjectPublicKeyInfo).
    pub local_public: Option<Vec<u8>>,
    /// The agreed key.
    pub shared_key: Option<zeroize::Zeroizing<Vec<u8>>>,
    /// When it came (ms).
    pub call_ts: i64,
}

impl std::fmt::Debug for StoredCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the agreed key.
        f.debug_struct("StoredCall")
            .field("call_uuid", &self.call_uuid)
            .field("item_id", &self.item_id)
            .field("call_type", &self.call_type)
            .field("call_ts", &self.call_ts)
            .finish_non_exhaustive()
    }
}

type ContactRow = (
    i64,
    String,
    String,
    Option<i64>,
    bool,
    i64,
    bool,
    Option<String>,
    Option<String>,
    Option<String>,
    bool,
    Option<bool>,
    bool,
    String,
    i64,
    Option<String>,
    Option<String>,
);

pub(crate) type ItemRow = (
    (i64, i64, bool, Option<Vec<u8>>),
    (String, i64, Option<String>, bool, bool, Option<i64>),
    (
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<String>,
        bool,
        Option<bool>,
    ),
    (
        Option<String>,
        Option<String>,
        Option<bool>,
        Option<i64>,
        bool,
        Option<String>,
        Option<String>,
    ),
);

/// A group message as a moderator's full deletion leaves it (the reference's `moderated`):
/// its text gone, `sndModerated` / `rcvModerated`, deleted by `by`.
pub fn moderated_form(item: &ChatItem, by: i64) -> ChatItem {
    let kind = if item.sent {
        "sndModerated"
    } else {
        "rcvModerated"
    };
    ChatItem {
        content: MsgContent::text("moderated"),
        info: Some(serde_json::json!({ "type": kind })),
        quote: None,
        deleted: true,
        deleted_by: Some(by),
        ..item.clone()
    }
}

/// A request to our address.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactRequest {
    /// The agent's request id.
    pub request_id: u64,
    /// Its unique local name.
    pub local_name: String,
    /// The requester's profile.
    pub profile: Profile,
    /// When it arrived (ms since the epoch).
    pub created_at: i64,
    /// The message that came with it (`x.contact`'s `msgId` and `content`), if any.
    pub message: Option<RequestMsg>,
    /// The shared id the requester gave our welcome message (`welcomeMsgId`), if any.
    pub welcome_msg_id: Option<crate::protocol::SharedMsgId>,
}

/// A message sent with a contact request: its shared id and content.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RequestMsg {
    /// Its shared id (the requester's item has the same).
    #[serde(rename = "msgId")]
    pub shared_msg_id: crate::protocol::SharedMsgId,
    /// What it says.
    pub content: MsgContent,
}

/// Milliseconds since the epoch, now.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub(crate) fn profile_json(p: &Profile) -> Result<String> {
    serde_json::to_string(p).map_err(|_| StoreError::Corrupt("profile"))
}

pub(crate) fn profile_from(s: &str) -> Result<Profile> {
    serde_json::from_str(s).map_err(|_| StoreError::Corrupt("profile"))
}

pub use agent::store::{set_migration_options, MigrationBackup, MigrationOptions};

/// The chat database.
#[derive(Debug)]
pub struct ChatStore {
    pub(crate) db: Connection,
    /// The user's own preferences (its profile's), given to every contact read.
    pub(crate) own_prefs: Option<serde_json::Value>,
    /// New contacts, groups, members, items, files, tags and relays are numbered above this
    /// ([`ChatStore::set_id_base`]).
    pub(crate) id_base: i64,
}

impl ChatStore {
    /// Opens (creating, mode 0600) the database at `path`, encrypted with `key` when given,
    /// as the agent opens its own (the same pragmas, the same migration bookkeeping).
    pub fn open(path: &Path, key: Option<&str>) -> Result<Self> {
        let mut db = agent::store::open_connection(path, key)?;
        // Off while the schema changes: a table rebuilt (v13) is dropped and replaced, which
        // with foreign keys on would delete the rows that refer to it.
        db.pragma_update(None, "foreign_keys", "OFF")?;
        agent::store::migrate(&mut db, MIGRATIONS)?;
        let broken: Option<String> = db
            .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
            .optional()?;
        if let Some(table) = broken {
            return Err(StoreError::Open(format!(
                "the chat database's table {table} refers to rows that do not exist"
            )));
        }
        db.pragma_update(None, "foreign_keys", "ON")?;
        let mut store = Self {
            db,
            own_prefs: None,
            id_base: 0,
        };
        store.own_prefs = store.user()?.and_then(|p| p.preferences);
        Ok(store)
    }

    /// Numbers the rows made from now on (contacts, groups, members, chat items, files, tags,
    /// chat relays; and the agent's connections and requests, [`agent::store::Store`]) above
    /// `base`, as the reference numbers them across its users: each user has a database of its
    /// own here, so each is given its own range and an id of one user's chat is never another
    /// user's (an API command naming it acts on nothing). Rows stored before keep their ids.
    pub fn set_id_base(&mut self, base: i64) -> Result<()> {
        self.id_base = base.max(0);
        if self.id_base > 0 {
            // chat_items is AUTOINCREMENT: its counter is SQLite's sqlite_sequence row.
            let tx = self.db.transaction()?;
            tx.execute(
                "UPDATE sqlite_sequence SET seq = ?1 WHERE name = 'chat_items' AND seq < ?1",
                [self.id_base],
            )?;
            tx.execute(
                "INSERT INTO sqlite_sequence (name, seq) SELECT 'chat_items', ?1
                 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'chat_items')",
                [self.id_base],
            )?;
            tx.commit()?;
        }
        Ok(())
    }

    /// See [`ChatStore::set_id_base`].
    pub fn id_base(&self) -> i64 {
        self.id_base
    }

    /// The user's profile, if one was created.
    pub fn user(&self) -> Result<Option<Profile>> {
        self.db
            .query_row("SELECT profile FROM users WHERE user_id = 1", [], |r| {
                r.get::<_, String>(0)
            })
            .optional()?
            .map(|s| profile_from(&s))
            .transpose()
    }

    /// Creates or replaces the user's profile.
    pub fn set_user(&mut self, p: &Profile) -> Result<()> {
        self.db.execute(
            "INSERT INTO users (user_id, profile) VALUES (1, ?1)
             ON CONFLICT (user_id) DO UPDATE SET profile = excluded.profile",
            [profile_json(p)?],
        )?;
        self.own_prefs = p.preferences.clone();
        Ok(())
    }

    /// A local name not yet used by a contact, request, group or member who is no contact
    /// (one namespace, as the reference's): `base`, else `base_1`, `base_2`...
    pub(crate) fn unique_name(&self, base: &str) -> Result<String> {
        let taken = |n: &str| -> Result<bool> {
            Ok(self.db.query_row(
                "SELECT EXISTS (SELECT 1 FROM contacts WHERE local_name = ?1)
                     OR EXISTS (SELECT 1 FROM requests WHERE local_name = ?1)
                     OR EXISTS (SELECT 1 FROM group_members
                                WHERE local_name = ?1 AND contact_id IS NULL)
                     OR EXISTS (SELECT 1 FROM groups WHERE local_name = ?1)",
                [n],
                |r| r.get::<_, bool>(0),
            )?)
        };
        if !taken(base)? {
            return Ok(base.to_string());
        }
        for i in 1..=100_000 {
            let n = format!("{base}_{i}");
            if !taken(&n)? {
                return Ok(n);
            }
        }
        Err(StoreError::Corrupt("local names (100,000 alike)"))
    }

    /// Records a pending connection.
    pub fn add_pending(&self, conn_id: u64, kind: PendingKind, link: Option<&str>) -> Result<()> {
        self.db.execute(
            "INSERT OR REPLACE INTO pending (conn_id, kind, link, created_at)
             VALUES (?1, ?2, ?3, ?4)",
            params![conn_id as i64, kind.as_str(), link, now_ms()],
        )?;
        Ok(())
    }

    /// Keeps the short link of an invitation or address we made (none: it has none).
    pub fn set_pending_short_link(&self, conn_id: u64, short: Option<&str>) -> Result<()> {
        self.db.execute(
            "UPDATE pending SET short_link = ?2 WHERE conn_id = ?1",
            params![conn_id as i64, short],
        )?;
        Ok(())
    }

    /// A setting (JSON), if set.
    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .db
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Sets (or, with none, removes) a setting.
    pub fn set_setting(&self, key: &str, value: Option<&str>) -> Result<()> {
        match value {
            Some(v) => self.db.execute(
                "INSERT OR REPLACE INTO settings (key, value) VALUES (?1, ?2)",
                params![key, v],
            )?,
            None => self
                .db
                .execute("DELETE FROM settings WHERE key = ?1", [key])?,
        };
        Ok(())
    }

    /// A message to send to a contact once it is connected (an auto-reply), or none.
    pub fn set_send_on_connect(&self, contact_id: i64, content: Option<&str>) -> Result<()> {
        self.db.execute(
            "UPDATE contacts SET send_on_connect = ?2 WHERE contact_id = ?1",
            params![contact_id, content],
        )?;
        Ok(())
    }

    /// The message to send once connected (taken: cleared in the same statement's transaction).
    pub fn take_send_on_connect(&mut self, contact_id: i64) -> Result<Option<String>> {
        let tx = self.db.transaction()?;
        let v: Option<String> = tx
            .query_row(
                "SELECT send_on_connect FROM contacts WHERE contact_id = ?1",
                [contact_id],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        tx.execute(
            "UPDATE contacts SET send_on_connect = NULL WHERE contact_id = ?1",
            [contact_id],
        )?;
        tx.commit()?;
        Ok(v)
    }

    /// The user's own name for a contact (empty: none).
    pub fn set_contact_alias(&self, contact_id: i64, alias: &str) -> Result<()> {
        self.db.execute(
            "UPDATE contacts SET local_alias = ?2 WHERE contact_id = ?1",
            params![contact_id, alias],
        )?;
        Ok(())
    }

    /// Sets (or clears) a contact's custom data (a JSON object).
    pub fn set_custom_data(&self, contact_id: i64, json: Option<&str>) -> Result<()> {
        self.db.execute(
            "UPDATE contacts SET custom_data = ?2 WHERE contact_id = ?1",
            params![contact_id, json],
        )?;
        Ok(())
    }

    /// Records the random profile an accepted contact knows us by.
    pub fn set_contact_incognito(&self, contact_id: i64, p: &Profile) -> Result<()> {
        self.db.execute(
            "UPDATE contacts SET incognito = ?2 WHERE contact_id = ?1",
            params![contact_id, profile_json(p)?],
        )?;
        Ok(())
    }

    /// The user's own name for a connection in progress (empty: none); false: no such
    /// connection (the address is none).
    pub fn set_pending_alias(&self, conn_id: u64, alias: &str) -> Result<bool> {
        Ok(self.db.execute(
            "UPDATE pending SET local_alias = ?2 WHERE conn_id = ?1 AND kind != 'address'",
            params![conn_id as i64, alias],
        )? == 1)
    }

    /// A connection in progress's alias (empty: none).
    pub fn pending_alias(&self, conn_id: u64) -> Result<String> {
        Ok(self
            .db
            .query_row(
                "SELECT local_alias FROM pending WHERE conn_id = ?1",
                [conn_id as i64],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or_default())
    }

    /// The random profile a pending connection shows instead of the user's (none: the
    /// user's).
    pub fn set_pending_incognito(&self, conn_id: u64, p: Option<&Profile>) -> Result<()> {
        let json = p.map(profile_json).transpose()?;
        self.db.execute(
            "UPDATE pending SET incognito = ?2 WHERE conn_id = ?1",
            params![conn_id as i64, json],
        )?;
        Ok(())
    }

    /// The short link of an invitation or address we made, if it has one.
    pub fn pending_short_link(&self, conn_id: u64) -> Result<Option<String>> {
        Ok(self
            .db
            .query_row(
                "SELECT short_link FROM pending WHERE conn_id = ?1",
                [conn_id as i64],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()?
            .flatten())
    }

    /// The random profile a pending connection shows instead of the user's.
    pub fn pending_incognito(&self, conn_id: u64) -> Result<Option<Profile>> {
        let p: Option<String> = self
            .db
            .query_row(
                "SELECT incognito FROM pending WHERE conn_id = ?1",
                [conn_id as i64],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        p.as_deref().map(profile_from).transpose()
    }

    /// A pending connection's kind.
    pub fn pending(&self, conn_id: u64) -> Result<Option<PendingKind>> {
        let kind: Option<String> = self
            .db
            .query_row(
                "SELECT kind FROM pending WHERE conn_id = ?1",
                [conn_id as i64],
                |r| r.get(0),
            )
            .optional()?;
        kind.map(|k| PendingKind::parse(&k).ok_or(StoreError::Corrupt("pending kind")))
            .transpose()
    }

    /// Our contact address: its connection and links.
    pub fn address(&self) -> Result<Option<(u64, crate::chat::ConnLink)>> {
        Ok(self
            .db
            .query_row(
                "SELECT conn_id, link, short_link FROM pending WHERE kind = 'address'",
                [],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)? as u64,
                        crate::chat::ConnLink {
                            full: r.get(1)?,
                            short: r.get(2)?,
                        },
                    ))
                },
            )
            .optional()?)
    }

    /// Forgets a pending connection.
    pub fn delete_pending(&self, conn_id: u64) -> Result<()> {
        self.db
            .execute("DELETE FROM pending WHERE conn_id = ?1", [conn_id as i64])?;
        Ok(())
    }

    /// A new contact on `conn_id` (the pending row goes in the same transaction).
    pub fn add_contact(&mut self, conn_id: u64, profile: &Profile) -> Result<Contact> {
        // A connection started for a prepared contact: that contact takes it (its local name
        // kept, its profile the peer's).
        let prepared: Option<i64> = self
            .db
            .query_row(
                "SELECT p.contact_id FROM pending p JOIN contacts c ON c.contact_id = p.contact_id
                 WHERE p.conn_id = ?1 AND p.kind != 'address' AND c.conn_id IS NULL",
                [conn_id as i64],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(contact_id) = prepared {
            let tx = self.db.transaction()?;
            tx.execute(
                "UPDATE contacts SET conn_id = ?2, profile = ?3,
                        incognito = (SELECT incognito FROM pending WHERE conn_id = ?2)
                 WHERE contact_id = ?1",
                params![contact_id, conn_id as i64, profile_json(profile)?],
            )?;
            tx.execute("DELETE FROM pending WHERE conn_id = ?1", [conn_id as i64])?;
            tx.commit()?;
            return self
                .contact(contact_id)?
                .ok_or(StoreError::Corrupt("prepared contact"));
        }
        let name = self.unique_name(&profile.display_name)?;
        let base = self.id_base;
        let tx = self.db.transaction()?;
        let next = next_contact_id(&tx, base)?;
        let created_at = now_ms();
        // The link of the pending connection (our invitation, or the link we joined) - not of
        // our address, which stays for further requests.
        let (via_link, incognito): (Option<String>, Option<String>) = tx
            .query_row(
                "SELECT link, incognito FROM pending WHERE conn_id = ?1 AND kind != 'address'",
                [conn_id as i64],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
            .unwrap_or_default();
        tx.execute(
            "INSERT INTO contacts
               (contact_id, local_name, profile, conn_id, ready, created_at, via_link, incognito)
             VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6, ?7)",
            params![
                next,
                name,
                profile_json(profile)?,
                conn_id as i64,
                created_at,
                via_link,
                incognito
            ],
        )?;
        tx.execute(
            "DELETE FROM pending WHERE conn_id = ?1 AND kind != 'address'",
            [conn_id as i64],
        )?;
        tx.commit()?;
        Ok(Contact {
            contact_id: next,
            local_name: name,
            profile: profile.clone(),
            conn_id: Some(conn_id),
            ready: false,
            created_at,
            deleted_by_contact: false,
            incognito: incognito.map(|p| profile_from(&p)).transpose()?,
            custom_data: None,
            local_alias: String::new(),
            user_prefs: None,
            own_prefs: self.own_prefs.clone(),
            muted: false,
            flags: ChatFlags::default(),
            auth_errors: 0,
            tags: Vec::new(),
            ui_themes: None,
        })
    }

    fn contact_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ContactRow> {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
            r.get(7)?,
            r.get(8)?,
            r.get(9)?,
            r.get(10)?,
            r.get(11)?,
            r.get(12)?,
            r.get(13)?,
            r.get(14)?,
            r.get(15)?,
            r.get(16)?,
        ))
    }

    fn contact_from(
        &self,
        (
            contact_id,
            local_name,
            profile,
            conn,
            ready,
            created_at,
            deleted_by_contact,
            incognito,
            custom_data,
            user_prefs,
            muted,
            send_rcpts,
            favorite,
            local_alias,
            auth_errors,
            tags,
            ui_themes,
        ): ContactRow,
    ) -> Result<Contact> {
        Ok(Contact {
            contact_id,
            local_name,
            profile: profile_from(&profile)?,
            conn_id: conn.map(|c| c as u64),
            ready,
            created_at,
            deleted_by_contact,
            incognito: incognito.map(|p| profile_from(&p)).transpose()?,
            custom_data,
            local_alias,
            user_prefs: user_prefs
                .map(|p| serde_json::from_str(&p))
                .transpose()
                .map_err(|_| StoreError::Corrupt("user_prefs"))?,
            own_prefs: self.own_prefs.clone(),
            muted,
            flags: ChatFlags {
                send_rcpts,
                favorite,
            },
            auth_errors,
            tags: crate::tags::tag_ids(tags.as_deref()),
            ui_themes,
        })
    }

    /// A received call invitation kept (replacing the contact's), or none for the contact.
    pub fn set_stored_call(&self, contact_id: i64, call: Option<&StoredCall>) -> Result<()> {
        match call {
            Some(c) => self.db.execute(
                "INSERT OR REPLACE INTO calls
                   (contact_id, call_id, call_uuid, item_id, call_type, local_public, shared_key,
                    call_ts)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    contact_id,
                    c.call_id,
                    c.call_uuid,
                    c.item_id,
                    c.call_type,
                    c.local_public,
                    c.shared_key.as_deref().map(|k| k.as_slice()),
                    c.call_ts
                ],
            )?,
            None => self
                .db
                .execute("DELETE FROM calls WHERE contact_id = ?1", [contact_id])?,
        };
        Ok(())
    }

    /// The received call invitations kept, by contact.
    pub fn stored_calls(&self) -> Result<Vec<(i64, StoredCall)>> {
        let mut st = self.db.prepare(
            "SELECT contact_id, call_id, call_uuid, item_id, call_type, local_public, shared_key,
                    call_ts
             FROM calls",
        )?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get(0)?,
                StoredCall {
                    call_id: r.get(1)?,
                    call_uuid: r.get(2)?,
                    item_id: r.get(3)?,
                    call_type: r.get(4)?,
                    local_public: r.get(5)?,
                    shared_key: r.get::<_, Option<Vec<u8>>>(6)?.map(zeroize::Zeroizing::new),
                    call_ts: r.get(7)?,
                },
            ))
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// A contact's theme overrides (`/_set theme @N`; none: removed), as `themes::parse`
    /// kept them.
    pub fn set_contact_themes(&self, contact_id: i64, themes: Option<&str>) -> Result<()> {
        self.db.execute(
            "UPDATE contacts SET ui_themes = ?2 WHERE contact_id = ?1",
            params![contact_id, themes],
        )?;
        Ok(())
    }

    /// A contact's receipts and favorite settings (`/receipts @name`, `/_settings @N`).
    pub fn set_contact_flags(&self, contact_id: i64, flags: ChatFlags) -> Result<()> {
        self.db.execute(
            "UPDATE contacts SET send_rcpts = ?2, favorite = ?3 WHERE contact_id = ?1",
            params![contact_id, flags.send_rcpts, flags.favorite],
        )?;
        Ok(())
    }

    /// Every contact's receipts setting back to the user's default (`clear_overrides=on`).
    pub fn clear_contact_receipts(&self) -> Result<()> {
        self.db
            .execute("UPDATE contacts SET send_rcpts = NULL", [])?;
        Ok(())
    }

    /// Mutes (or unmutes) a contact's chat.
    pub fn set_contact_muted(&self, contact_id: i64, muted: bool) -> Result<()> {
        self.db.execute(
            "UPDATE contacts SET muted = ?2 WHERE contact_id = ?1",
            params![contact_id, muted],
        )?;
        Ok(())
    }

    /// The user's preferences for a contact (`/_set prefs`).
    pub fn set_contact_user_prefs(&self, contact_id: i64, prefs: &serde_json::Value) -> Result<()> {
        self.db.execute(
            "UPDATE contacts SET user_prefs = ?2 WHERE contact_id = ?1",
            params![contact_id, prefs.to_string()],
        )?;
        Ok(())
    }

    fn contact_where(&self, clause: &str, arg: rusqlite::types::Value) -> Result<Option<Contact>> {
        let sql = format!(
            "SELECT contact_id, local_name, profile, conn_id, ready, created_at, deleted_by_contact,
                    incognito, custom_data, user_prefs, muted, send_rcpts, favorite, local_alias,
                    auth_errors, (SELECT group_concat(t.tag_id) FROM chat_tags_chats t
                                  WHERE t.contact_id = contacts.contact_id),
                    ui_themes
             FROM contacts WHERE {clause}"
        );
        self.db
            .query_row(&sql, [arg], Self::contact_row)
            .optional()?
            .map(|r| self.contact_from(r))
            .transpose()
    }

    /// The contact on an agent connection.
    pub fn contact_by_conn(&self, conn_id: u64) -> Result<Option<Contact>> {
        self.contact_where("conn_id = ?1", (conn_id as i64).into())
    }

    /// The contact with a local name (not the note folder).
    pub fn contact_by_name(&self, name: &str) -> Result<Option<Contact>> {
        self.contact_where(
            "local_name = ?1 AND contact_id > 1",
            name.to_string().into(),
        )
    }

    /// The contact with an id.
    pub fn contact(&self, contact_id: i64) -> Result<Option<Contact>> {
        self.contact_where("contact_id = ?1", contact_id.into())
    }

    /// All contacts, by name.
    pub fn contacts(&self) -> Result<Vec<Contact>> {
        let mut st = self.db.prepare(
            "SELECT contact_id, local_name, profile, conn_id, ready, created_at, deleted_by_contact,
                    incognito, custom_data, user_prefs, muted, send_rcpts, favorite, local_alias,
                    auth_errors, (SELECT group_concat(t.tag_id) FROM chat_tags_chats t
                                  WHERE t.contact_id = contacts.contact_id),
                    ui_themes
             FROM contacts WHERE contact_id > 1 ORDER BY local_name",
        )?;
        let rows = st.query_map([], Self::contact_row)?;
        rows.map(|r| self.contact_from(r?)).collect()
    }

    /// Marks a contact connected.
    pub fn set_ready(&self, contact_id: i64) -> Result<()> {
        self.db.execute(
            "UPDATE contacts SET ready = 1 WHERE contact_id = ?1",
            [contact_id],
        )?;
        Ok(())
    }

    /// Updates a contact's profile (its local name stays).
    /// A contact's new profile; a new display name renames it (unique, as a new contact's):
    /// its local name now.
    pub fn set_contact_profile(&self, contact_id: i64, p: &Profile) -> Result<String> {
        let (name, old): (String, String) = self.db.query_row(
            "SELECT local_name, profile FROM contacts WHERE contact_id = ?1",
            [contact_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let renamed = profile_from(&old)?.display_name != p.display_name;
        let name = if renamed {
            self.unique_name(&p.display_name)?
        } else {
            name
        };
        self.db.execute(
            "UPDATE contacts SET profile = ?2, local_name = ?3 WHERE contact_id = ?1",
            params![contact_id, profile_json(p)?, name],
        )?;
        Ok(name)
    }

    /// Records a request to our address under a unique local name.
    pub fn add_request(
        &self,
        request_id: u64,
        profile: &Profile,
        message: Option<RequestMsg>,
        welcome_msg_id: Option<crate::protocol::SharedMsgId>,
    ) -> Result<ContactRequest> {
        let name = self.unique_name(&profile.display_name)?;
        let created_at = now_ms();
        let msg_json = message
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|_| StoreError::Corrupt("request message"))?;
        self.db.execute(
            "INSERT OR REPLACE INTO requests (request_id, local_name, profile, created_at,
                                              request_msg, welcome_msg_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                request_id as i64,
                name,
                profile_json(profile)?,
                created_at,
                msg_json,
                welcome_msg_id.as_ref().map(|w| w.0.as_slice())
            ],
        )?;
        Ok(ContactRequest {
            request_id,
            local_name: name,
            profile: profile.clone(),
            created_at,
            message,
            welcome_msg_id,
        })
    }

    /// A request by its local name.
    pub fn request_by_name(&self, name: &str) -> Result<Option<ContactRequest>> {
        self.request_where("local_name = ?1", name.to_string().into())
    }

    /// A request by its id (the agent's, `contactRequestId` in the bot API).
    pub fn request(&self, request_id: u64) -> Result<Option<ContactRequest>> {
        self.request_where("request_id = ?1", (request_id as i64).into())
    }

    fn request_where(
        &self,
        clause: &str,
        arg: rusqlite::types::Value,
    ) -> Result<Option<ContactRequest>> {
        let sql = format!(
            "SELECT request_id, local_name, profile, created_at, request_msg, welcome_msg_id
             FROM requests WHERE {clause}"
        );
        self.db
            .query_row(&sql, [arg], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, Option<Vec<u8>>>(5)?,
                ))
            })
            .optional()?
            .map(|(id, local_name, p, created_at, msg, welcome)| {
                Ok(ContactRequest {
                    request_id: id as u64,
                    local_name,
                    profile: profile_from(&p)?,
                    created_at,
                    // A message this version cannot read is dropped, not the request.
                    message: msg.and_then(|m| serde_json::from_str(&m).ok()),
                    welcome_msg_id: welcome.map(crate::protocol::B64),
                })
            })
            .transpose()
    }

    /// Whether a request is kept (an agent request announced again after a restart).
    pub fn has_request(&self, request_id: u64) -> Result<bool> {
        Ok(self.db.query_row(
            "SELECT EXISTS (SELECT 1 FROM requests WHERE request_id = ?1)",
            [request_id as i64],
            |r| r.get(0),
        )?)
    }

    /// An accepted request becomes a contact on `conn_id`, in one transaction.
    pub fn request_accepted(&mut self, req: &ContactRequest, conn_id: u64) -> Result<Contact> {
        let base = self.id_base;
        let tx = self.db.transaction()?;
        let next = next_contact_id(&tx, base)?;
        tx.execute(
            "DELETE FROM requests WHERE request_id = ?1",
            [req.request_id as i64],
        )?;
        let created_at = now_ms();
        tx.execute(
            "INSERT INTO contacts (contact_id, local_name, profile, conn_id, ready, created_at)
             VALUES (?1, ?2, ?3, ?4, 0, ?5)",
            params![
                next,
                req.local_name,
                profile_json(&req.profile)?,
                conn_id as i64,
                created_at
            ],
        )?;
        tx.commit()?;
        Ok(self.new_contact(
            next,
            &req.local_name,
            &req.profile,
            Some(conn_id),
            created_at,
        ))
    }

    /// A contact just made: not ready, nothing set by the user yet.
    pub(crate) fn new_contact(
        &self,
        contact_id: i64,
        local_name: &str,
        profile: &Profile,
        conn_id: Option<u64>,
        created_at: i64,
    ) -> Contact {
        Contact {
            contact_id,
            local_name: local_name.to_string(),
            profile: profile.clone(),
            conn_id,
            ready: false,
            created_at,
            deleted_by_contact: false,
            incognito: None,
            custom_data: None,
            local_alias: String::new(),
            user_prefs: None,
            own_prefs: self.own_prefs.clone(),
            muted: false,
            flags: ChatFlags::default(),
            auth_errors: 0,
            tags: Vec::new(),
            ui_themes: None,
        }
    }

    /// Forgets a request.
    pub fn delete_request(&self, request_id: u64) -> Result<()> {
        self.db.execute(
            "DELETE FROM requests WHERE request_id = ?1",
            [request_id as i64],
        )?;
        Ok(())
    }

    /// Stores a chat item; returns it with its id.
    pub fn add_item(&self, item: &NewItem<'_>) -> Result<ChatItem> {
        let json =
            serde_json::to_string(item.content).map_err(|_| StoreError::Corrupt("content"))?;
        let quote = item
            .quote
            .map(serde_json::to_string)
            .transpose()
            .map_err(|_| StoreError::Corrupt("quote"))?;
        let ts = now_ms();
        let unread = !item.sent && item.contact_id != NOTES;
        self.db.execute(
            "INSERT INTO chat_items
               (contact_id, sent, shared_msg_id, agent_msg_id, content, item_ts, quote, edited,
                unread)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                item.contact_id,
                item.sent,
                item.shared_msg_id,
                item.agent_msg_id,
                json,
                ts,
                quote,
                item.edited,
                unread
            ],
        )?;
        Ok(ChatItem {
            item_id: self.db.last_insert_rowid(),
            contact_id: item.contact_id,
            sent: item.sent,
            shared_msg_id: item.shared_msg_id.map(<[u8]>::to_vec),
            content: item.content.clone(),
            item_ts: ts,
            quote: item.quote.cloned(),
            edited: item.edited,
            deleted: false,
            file_id: None,
            timed: None,
            unread,
            receipt: None,
            group_id: None,
            group_member_id: None,
            forwarded_by: None,
            info: None,
            forward: None,
            scope: None,
            live: None,
            deleted_by: None,
            user_mention: false,
            snd_error: None,
            msg_signed: None,
        })
    }

    /// Stores the informational items a direct chat starts with, in order; returns them.
    pub fn add_info_items(
        &mut self,
        contact_id: i64,
        items: &[crate::features::InfoItem],
    ) -> Result<Vec<ChatItem>> {
        self.add_info_items_to(InfoChat::Contact(contact_id), items)
    }

    /// Stores informational items in a contact's or a group's chat, in order. A group's
    /// received one is said by `member`, and unread when it asks for attention (what
    /// happened to us).
    pub(crate) fn add_info_items_to(
        &mut self,
        chat: InfoChat,
        items: &[crate::features::InfoItem],
    ) -> Result<Vec<ChatItem>> {
        let tx = self.db.transaction()?;
        let now = now_ms();
        let mut out = Vec::with_capacity(items.len());
        for i in items {
            let (content, json, info) = info_columns(i)?;
            let ts = if i.at_epoch { 0 } else { now };
            let (contact_id, group_id, by, unread, scope) = match &chat {
                InfoChat::Contact(c) => (Some(*c), None, None, false, None),
                InfoChat::Group {
                    group_id,
                    member,
                    scope,
                } => (
                    None,
                    Some(*group_id),
                    if i.sent { None } else { *member },
                    !i.sent && crate::group_events::requires_attention(&i.content),
                    scope.clone(),
                ),
            };
            let scope_json = scope
                .as_ref()
                .map(serde_json::to_string)
                .transpose()
                .map_err(|_| StoreError::Corrupt("scope"))?;
            tx.execute(
                "INSERT INTO chat_items
                   (contact_id, group_id, group_member_id, sent, content, item_ts, info, unread,
                    scope)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![contact_id, group_id, by, i.sent, json, ts, info, unread, scope_json],
            )?;
            out.push(ChatItem {
                item_id: tx.last_insert_rowid(),
                contact_id: contact_id.unwrap_or(0),
                sent: i.sent,
                shared_msg_id: None,
                content,
                item_ts: ts,
                quote: None,
                edited: false,
                deleted: false,
                file_id: None,
                timed: None,
                unread,
                receipt: None,
                group_id,
                group_member_id: by,
                forwarded_by: None,
                info: Some(i.content.clone()),
                forward: None,
                scope,
                live: None,
                deleted_by: None,
                user_mention: false,
                snd_error: None,
                msg_signed: None,
            });
        }
        tx.commit()?;
        Ok(out)
    }

    /// An informational item says something else now (a count of decryption errors).
    pub fn update_info_item(
        &self,
        item: ChatItem,
        now: &crate::features::InfoItem,
    ) -> Result<ChatItem> {
        let (content, json, info) = info_columns(now)?;
        self.db.execute(
            "UPDATE chat_items SET content = ?2, info = ?3 WHERE item_id = ?1",
            params![item.item_id, json, info],
        )?;
        Ok(ChatItem {
            content,
            info: Some(now.content.clone()),
            ..item
        })
    }

    /// Whether a contact's chat has any item.
    pub fn has_items(&self, contact_id: i64) -> Result<bool> {
        Ok(self.db.query_row(
            "SELECT EXISTS (SELECT 1 FROM chat_items WHERE contact_id = ?1)",
            [contact_id],
            |r| r.get(0),
        )?)
    }

    pub(crate) const ITEM_COLUMNS: &'static str =
        "item_id, coalesce(contact_id, 0), sent, shared_msg_id, content, item_ts, quote, edited,
         deleted, file_id, ttl, delete_at, group_id, group_member_id, forwarded_by, info,
         unread, rcpt, fwd, scope, live, deleted_by, user_mention, snd_error, msg_signed";

    pub(crate) fn item_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ItemRow> {
        Ok((
            (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?),
            (
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
            ),
            (
                r.get(10)?,
                r.get(11)?,
                r.get(12)?,
                r.get(13)?,
                r.get(14)?,
                r.get(15)?,
                r.get(16)?,
                r.get(17)?,
            ),
            (
                r.get(18)?,
                r.get(19)?,
                r.get(20)?,
                r.get(21)?,
                r.get(22)?,
                r.get(23)?,
                r.get(24)?,
            ),
        ))
    }

    pub(crate) fn item_from(row: ItemRow) -> Result<ChatItem> {
        let (
            (item_id, contact_id, sent, shared_msg_id),
            (content, item_ts, quote, edited, deleted, file_id),
            (ttl, delete_at, group_id, group_member_id, forwarded_by, info, unread, receipt),
            (forward, scope, live, deleted_by, user_mention, snd_error, msg_signed),
        ) = row;
        Ok(ChatItem {
            item_id,
            contact_id,
            sent,
            shared_msg_id,
            content: serde_json::from_str(&content).map_err(|_| StoreError::Corrupt("content"))?,
            item_ts,
            quote: quote
                .map(|q| serde_json::from_str(&q))
                .transpose()
                .map_err(|_| StoreError::Corrupt("quote"))?,
            edited,
            deleted,
            file_id,
            timed: ttl.map(|t| (t, delete_at)),
            unread,
            receipt,
            group_id,
            group_member_id,
            forwarded_by,
            info: info
                .map(|i| serde_json::from_str(&i))
                .transpose()
                .map_err(|_| StoreError::Corrupt("info"))?,
            forward: forward
                .map(|f| serde_json::from_str(&f))
                .transpose()
                .map_err(|_| StoreError::Corrupt("fwd"))?,
            scope: scope
                .map(|s| serde_json::from_str(&s))
                .transpose()
                .map_err(|_| StoreError::Corrupt("scope"))?,
            live,
            deleted_by,
            user_mention,
            snd_error,
            msg_signed,
        })
    }

    /// A live message's state: `Some(true)` while typed, `Some(false)` once ended.
    pub fn set_item_live(&self, item_id: i64, live: Option<bool>) -> Result<()> {
        self.db.execute(
            "UPDATE chat_items SET live = ?2 WHERE item_id = ?1",
            params![item_id, live],
        )?;
        Ok(())
    }

    /// Puts a group item in a member's support chat (`scope`).
    pub fn set_item_scope(&self, item_id: i64, scope: &ItemScope) -> Result<()> {
        self.db.execute(
            "UPDATE chat_items SET scope = ?2 WHERE item_id = ?1",
            params![
                item_id,
                serde_json::to_string(scope).map_err(|_| StoreError::Corrupt("scope"))?
            ],
        )?;
        Ok(())
    }

    /// Records a forwarded item's origin (`itemForwarded`).
    pub fn set_item_forward(&self, item_id: i64, forward: &serde_json::Value) -> Result<()> {
        self.db.execute(
            "UPDATE chat_items SET fwd = ?2 WHERE item_id = ?1",
            params![item_id, forward.to_string()],
        )?;
        Ok(())
    }

    pub(crate) fn items_where(
        &self,
        clause: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<ChatItem>> {
        let sql = format!(
            "SELECT {} FROM chat_items WHERE {clause}",
            Self::ITEM_COLUMNS
        );
        let mut st = self.db.prepare(&sql)?;
        let rows = st.query_map(args, Self::item_row)?;
        rows.map(|r| Self::item_from(r?)).collect()
    }

    /// The last `n` items of a contact's chat, oldest first.
    pub fn items(&self, contact_id: i64, n: usize) -> Result<Vec<ChatItem>> {
        let mut v = self.items_where(
            "contact_id = ?1 ORDER BY item_id DESC LIMIT ?2",
            &[&contact_id, &(n as i64)],
        )?;
        v.reverse();
        Ok(v)
    }

    /// A page of a chat's items (`column` is `contact_id` or `group_id`), oldest first: the
    /// last `n`, the `n` before item `before`, or the `n` after item `after`.
    pub fn items_page(
        &self,
        group: bool,
        id: i64,
        n: usize,
        before: Option<i64>,
        after: Option<i64>,
    ) -> Result<Vec<ChatItem>> {
        self.items_page_in(group, id, None, n, before, after)
    }

    /// [`ChatStore::items_page`] of a group's own chat (`scope` none) or of a support chat
    /// (ours: `Some(None)`; a member's: `Some(Some(id))`).
    pub fn items_page_in(
        &self,
        group: bool,
        id: i64,
        scope: Option<Option<i64>>,
        n: usize,
        before: Option<i64>,
        after: Option<i64>,
    ) -> Result<Vec<ChatItem>> {
        let column = if group { "group_id" } else { "contact_id" };
        let scope = match (group, scope) {
            (false, _) => String::new(),
            (true, None) => " AND scope IS NULL".into(),
            (true, Some(None)) => {
                " AND scope IS NOT NULL AND json_extract(scope, '$.member') IS NULL".into()
            }
            (true, Some(Some(m))) => format!(" AND json_extract(scope, '$.member') = {m}"),
        };
        let n = n as i64;
        match after {
            Some(a) => self.items_where(
                &format!("{column} = ?1{scope} AND item_id > ?2 ORDER BY item_id LIMIT ?3"),
                &[&id, &a, &n],
            ),
            None => {
                let mut v = self.items_where(
                    &format!(
                        "{column} = ?1{scope} AND item_id < ?2 ORDER BY item_id DESC LIMIT ?3"
                    ),
                    &[&id, &before.unwrap_or(i64::MAX), &n],
                )?;
                v.reverse();
                Ok(v)
            }
        }
    }

    /// An item of a contact's chat by id.
    pub fn item(&self, contact_id: i64, item_id: i64) -> Result<Option<ChatItem>> {
        Ok(self
            .items_where("contact_id = ?1 AND item_id = ?2", &[&contact_id, &item_id])?
            .pop())
    }

    /// The item of a shared message id (sent by us or received).
    pub fn item_by_shared(
        &self,
        contact_id: i64,
        sent: bool,
        shared_msg_id: &[u8],
    ) -> Result<Option<ChatItem>> {
        Ok(self
            .items_where(
                "contact_id = ?1 AND sent = ?2 AND shared_msg_id = ?3
                 ORDER BY item_id DESC LIMIT 1",
                &[&contact_id, &sent, &shared_msg_id],
            )?
            .pop())
    }

    /// The latest item sent (or received) in a chat whose text starts with `prefix`, not
    /// deleted (among the last 1,000).
    pub fn latest_item(
        &self,
        contact_id: i64,
        sent: bool,
        prefix: Option<&str>,
    ) -> Result<Option<ChatItem>> {
        let recent = self.items_where(
            "contact_id = ?1 AND sent = ?2 AND deleted = 0 AND info IS NULL
             ORDER BY item_id DESC LIMIT 1000",
            &[&contact_id, &sent],
        )?;
        Ok(recent
            .into_iter()
            .find(|i| prefix.is_none_or(|p| i.content.text_shown().starts_with(p))))
    }

    /// An edit: the new content, marked edited. An edit that changes the content is kept as a
    /// version (now), after the original (at the item's time) on the first one; at most
    /// [`MAX_ITEM_VERSIONS`].
    pub fn update_item(&self, item_id: i64, content: &MsgContent) -> Result<()> {
        let json = serde_json::to_string(content).map_err(|_| StoreError::Corrupt("content"))?;
        let tx = self.db.unchecked_transaction()?;
        let current: Option<(String, i64)> = tx
            .query_row(
                "SELECT content, item_ts FROM chat_items WHERE item_id = ?1",
                [item_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((old, ts)) = current.filter(|(old, _)| *old != json) {
            let kept: i64 = tx.query_row(
                "SELECT count(*) FROM chat_item_versions WHERE item_id = ?1",
                [item_id],
                |r| r.get(0),
            )?;
            let insert = "INSERT INTO chat_item_versions (item_id, content, version_ts)
                          VALUES (?1, ?2, ?3)";
            if kept == 0 {
                tx.execute(insert, params![item_id, old, ts])?;
            }
            if kept.max(1) < MAX_ITEM_VERSIONS {
                tx.execute(insert, params![item_id, json, now_ms()])?;
            }
        }
        tx.execute(
            "UPDATE chat_items SET content = ?2, edited = 1 WHERE item_id = ?1",
            params![item_id, json],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// An edited item's versions, newest first: (when, in ms; content); none for one never
    /// edited.
    pub fn item_versions(&self, item_id: i64) -> Result<Vec<(i64, MsgContent)>> {
        let mut st = self.db.prepare(
            "SELECT version_ts, content FROM chat_item_versions
             WHERE item_id = ?1 ORDER BY version_id DESC",
        )?;
        let rows = st.query_map([item_id], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut v = Vec::new();
        for row in rows {
            let (ts, json) = row?;
            let content =
                serde_json::from_str(&json).map_err(|_| StoreError::Corrupt("item version"))?;
            v.push((ts, content));
        }
        Ok(v)
    }

    /// Deleted for everyone by its sender: kept, marked.
    /// A group message deleted by a moderator (`by`: its member id, 0 for the user): marked,
    /// or (`full`, the group allows the moderator full deletion) its content replaced by the
    /// reference's `moderated` (`sndModerated` / `rcvModerated`); the item as it is now.
    pub fn moderate_item(&self, item: &ChatItem, by: i64, full: bool) -> Result<ChatItem> {
        let now = if full {
            moderated_form(item, by)
        } else {
            ChatItem {
                deleted: true,
                deleted_by: Some(by),
                ..item.clone()
            }
        };
        let content =
            serde_json::to_string(&now.content).map_err(|_| StoreError::Corrupt("content"))?;
        let info = now.info.as_ref().map(|i| i.to_string());
        let tx = self.db.unchecked_transaction()?;
        tx.execute(
            "UPDATE chat_items SET deleted = 1, deleted_by = ?2, content = ?3, info = ?4
             WHERE item_id = ?1",
            params![item.item_id, by, content, info],
        )?;
        // Its text gone, its earlier versions go too (`/item info` shows none).
        if full {
            tx.execute(
                "DELETE FROM chat_item_versions WHERE item_id = ?1",
                [item.item_id],
            )?;
        }
        tx.commit()?;
        Ok(now)
    }

    pub fn mark_item_deleted(&self, item_id: i64) -> Result<()> {
        self.db.execute(
            "UPDATE chat_items SET deleted = 1 WHERE item_id = ?1",
            [item_id],
        )?;
        Ok(())
    }

    /// Items whose text contains `text`, oldest first (among the last 10,000).
    pub fn search(&self, text: &str) -> Result<Vec<ChatItem>> {
        let mut v: Vec<ChatItem> = self
            .items_where(
                "contact_id IS NOT NULL ORDER BY item_id DESC LIMIT 10000",
                &[],
            )?
            .into_iter()
            .filter(|i| !i.deleted && i.content.text_shown().contains(text))
            .collect();
        v.reverse();
        Ok(v)
    }

    /// Each chat's latest item, the most recent chat first.
    pub fn chat_heads(&self) -> Result<Vec<ChatItem>> {
        let mut st = self.db.prepare(
            "SELECT max(item_id) FROM chat_items WHERE contact_id IS NOT NULL
             GROUP BY contact_id ORDER BY max(item_id) DESC",
        )?;
        let ids: Vec<i64> = st
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.extend(self.items_where("item_id = ?1", &[&id])?);
        }
        Ok(out)
    }

    /// Removes every item of a chat.
    /// The paths of the files other than `file_id` whose name (the path's last part) is
    /// `name`, as recorded (a received file's may be relative).
    pub fn file_paths_named(&self, name: &str, file_id: i64) -> Result<Vec<String>> {
        let mut st = self.db.prepare(
            "SELECT path FROM files WHERE file_id != ?2 AND path IS NOT NULL
               AND (path = ?1 OR substr(path, -length(?1) - 1) = '/' || ?1)",
        )?;
        let rows = st.query_map(params![name, file_id], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
    }

    /// The files of a chat's items.
    pub fn item_files(&self, contact_id: i64) -> Result<Vec<i64>> {
        let mut st = self.db.prepare(
            "SELECT file_id FROM chat_items WHERE contact_id = ?1 AND file_id IS NOT NULL",
        )?;
        let rows = st.query_map([contact_id], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<Vec<i64>>>()?)
    }

    /// Forgets a file.
    pub fn delete_file(&self, file_id: i64) -> Result<()> {
        self.db
            .execute("DELETE FROM files WHERE file_id = ?1", [file_id])?;
        Ok(())
    }

    pub fn clear_chat(&self, contact_id: i64) -> Result<()> {
        self.db
            .execute("DELETE FROM chat_items WHERE contact_id = ?1", [contact_id])?;
        Ok(())
    }

    /// Marks a chat unread (or read).
    pub fn set_unread(&self, contact_id: i64, unread: bool) -> Result<()> {
        if unread {
            self.db.execute(
                "INSERT OR IGNORE INTO unread_chats (contact_id) VALUES (?1)",
                [contact_id],
            )?;
        } else {
            self.db.execute(
                "DELETE FROM unread_chats WHERE contact_id = ?1",
                [contact_id],
            )?;
        }
        Ok(())
    }

    /// Whether a chat is marked unread.
    pub fn is_unread(&self, contact_id: i64) -> Result<bool> {
        Ok(self.db.query_row(
            "SELECT EXISTS (SELECT 1 FROM unread_chats WHERE contact_id = ?1)",
            [contact_id],
            |r| r.get(0),
        )?)
    }

    /// How many chats are marked unread.
    pub fn unread_count(&self) -> Result<usize> {
        let n: i64 = self
            .db
            .query_row("SELECT count(*) FROM unread_chats", [], |r| r.get(0))?;
        Ok(n as usize)
    }

    /// The item that offers a file.
    pub fn item_by_file(&self, file_id: i64) -> Result<Option<ChatItem>> {
        Ok(self
            .items_where("file_id = ?1 ORDER BY item_id LIMIT 1", &[&file_id])?
            .pop())
    }

    /// A pending connection's kind, link and creation time.
    pub fn pending_conn(&self, conn_id: u64) -> Result<Option<(PendingKind, Option<String>, i64)>> {
        self.db
            .query_row(
                "SELECT kind, link, created_at FROM pending WHERE conn_id = ?1",
                [conn_id as i64],
                |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?
            .map(|(k, link, at)| {
                let kind = PendingKind::parse(&k).ok_or(StoreError::Corrupt("pending kind"))?;
                Ok((kind, link, at))
            })
            .transpose()
    }

    /// Deletes a contact with its chat, files and unread mark; its agent connection is
    /// recorded for deletion once message `after_msg_id` is sent (none: at once), in the same
    /// transaction.
    pub fn delete_contact(
        &mut self,
        contact_id: i64,
        conn_id: Option<u64>,
        after_msg_id: Option<i64>,
    ) -> Result<()> {
        let tx = self.db.transaction()?;
        if let Some(conn) = conn_id {
            tx.execute(
                "INSERT OR REPLACE INTO conn_deletions (conn_id, after_msg_id) VALUES (?1, ?2)",
                params![conn as i64, after_msg_id],
            )?;
        }
        tx.execute("DELETE FROM chat_items WHERE contact_id = ?1", [contact_id])?;
        tx.execute("DELETE FROM files WHERE contact_id = ?1", [contact_id])?;
        tx.execute(
            "DELETE FROM unread_chats WHERE contact_id = ?1",
            [contact_id],
        )?;
        tx.execute("DELETE FROM contacts WHERE contact_id = ?1", [contact_id])?;
        tx.commit()?;
        Ok(())
    }

    /// The contact deleted the conversation: kept (with its chat), marked, without a
    /// connection; the connection is recorded for deletion.
    pub fn contact_deleted_by_contact(&mut self, contact_id: i64, conn_id: u64) -> Result<()> {
        let tx = self.db.transaction()?;
        tx.execute(
            "INSERT OR REPLACE INTO conn_deletions (conn_id, after_msg_id) VALUES (?1, NULL)",
            [conn_id as i64],
        )?;
        tx.execute(
            "UPDATE contacts SET deleted_by_contact = 1, ready = 0, conn_id = NULL
             WHERE contact_id = ?1",
            [contact_id],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Connections to delete: (connection, delete after this message is sent).
    pub fn conn_deletions(&self) -> Result<Vec<(u64, Option<i64>)>> {
        let mut st = self
            .db
            .prepare("SELECT conn_id, after_msg_id FROM conn_deletions")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// A connection to delete, if it is one: after which message.
    pub fn conn_deletion(&self, conn_id: u64) -> Result<Option<Option<i64>>> {
        Ok(self
            .db
            .query_row(
                "SELECT after_msg_id FROM conn_deletions WHERE conn_id = ?1",
                [conn_id as i64],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// The connection is deleted.
    pub fn conn_deleted(&self, conn_id: u64) -> Result<()> {
        self.db.execute(
            "DELETE FROM conn_deletions WHERE conn_id = ?1",
            [conn_id as i64],
        )?;
        Ok(())
    }

    /// The security code verified with a contact (none: not verified).
    pub fn verified_code(&self, contact_id: i64) -> Result<Option<String>> {
        Ok(self
            .db
            .query_row(
                "SELECT verified_code FROM contacts WHERE contact_id = ?1",
                [contact_id],
                |r| r.get(0),
            )
            .optional()?
            .flatten())
    }

    /// Records (or clears) the verified security code.
    pub fn set_verified_code(&self, contact_id: i64, code: Option<&str>) -> Result<()> {
        self.db.execute(
            "UPDATE contacts SET verified_code = ?2 WHERE contact_id = ?1",
            params![contact_id, code],
        )?;
        Ok(())
    }

    /// The contact that came by `link` (as shown), if any.
    pub fn contact_by_link(&self, link: &str) -> Result<Option<Contact>> {
        self.contact_where(
            "via_link = ?1 AND contact_id > 1 ORDER BY contact_id DESC LIMIT 1",
            link.to_string().into(),
        )
    }

    /// The chat of an item: its contact (the notes' too) or its group.
    pub fn item_chat(&self, item_id: i64) -> Result<Option<(Option<i64>, Option<i64>)>> {
        Ok(self
            .db
            .query_row(
                "SELECT contact_id, group_id FROM chat_items WHERE item_id = ?1",
                [item_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// The id of the last item, or of the `index`th before it: of a chat (a contact's or the
    /// notes', or a group's main chat), or of all.
    pub fn last_item_id(
        &self,
        chat: Option<(Option<i64>, Option<i64>)>,
        index: usize,
    ) -> Result<Option<i64>> {
        let offset = i64::try_from(index).unwrap_or(i64::MAX);
        let last = |filter: &str, id: i64| {
            self.db
                .query_row(
                    &format!(
                        "SELECT item_id FROM chat_items WHERE {filter}
                         ORDER BY item_id DESC LIMIT 1 OFFSET ?2"
                    ),
                    params![id, offset],
                    |r| r.get(0),
                )
                .optional()
        };
        Ok(match chat {
            // Every item (the id is not used).
            None => last("?1 = ?1", 0)?,
            Some((Some(c), _)) => last("contact_id = ?1", c)?,
            Some((None, Some(g))) => last("group_id = ?1 AND scope IS NULL", g)?,
            Some((None, None)) => None,
        })
    }

    /// A pending connection with `link` (as shown, full or short): its connection and kind.
    pub fn pending_by_link(&self, link: &str) -> Result<Option<(u64, PendingKind)>> {
        self.db
            .query_row(
                "SELECT conn_id, kind FROM pending WHERE link = ?1 OR short_link = ?1 LIMIT 1",
                [link],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?)),
            )
            .optional()?
            .map(|(c, k)| {
                Ok((
                    c,
                    PendingKind::parse(&k).ok_or(StoreError::Corrupt("pending kind"))?,
                ))
            })
            .transpose()
    }

    /// Adds (or removes) a reaction to an item, ours or the contact's; whether it changed.
    pub fn set_reaction(
        &self,
        item_id: i64,
        by_us: bool,
        reaction: &str,
        add: bool,
    ) -> Result<bool> {
        self.set_member_reaction(item_id, by_us, 0, reaction, add)
    }

    /// A group member's reaction (`by_member`: its id; 0 for ours); whether it changed.
    pub fn set_member_reaction(
        &self,
        item_id: i64,
        by_us: bool,
        by_member: i64,
        reaction: &str,
        add: bool,
    ) -> Result<bool> {
        let n = if add {
            self.db.execute(
                "INSERT OR IGNORE INTO reactions (item_id, by_us, by_member, reaction, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![item_id, by_us, by_member, reaction, now_ms()],
            )?
        } else {
            self.db.execute(
                "DELETE FROM reactions
                 WHERE item_id = ?1 AND by_us = ?2 AND by_member = ?3 AND reaction = ?4",
                params![item_id, by_us, by_member, reaction],
            )?
        };
        Ok(n > 0)
    }

    /// A reaction to an item in a channel whose relay does not say who reacted (a
    /// subscriber's, told to the other subscribers): kept as one of the item's anonymous
    /// reactions (`by_member` below 0, each its own row, so they count), at most
    /// [`MAX_ANONYMOUS_REACTIONS`] per item; a removal takes one of that emoji away. Whether it
    /// changed anything.
    pub fn set_anonymous_reaction(&self, item_id: i64, reaction: &str, add: bool) -> Result<bool> {
        let n = if add {
            self.db.execute(
                "INSERT INTO reactions (item_id, by_us, by_member, reaction, created_at)
                 SELECT ?1, 0, coalesce(min(by_member), 0) - 1, ?2, ?3
                   FROM reactions WHERE item_id = ?1 AND by_member < 0
                 HAVING count(*) < ?4",
                params![item_id, reaction, now_ms(), MAX_ANONYMOUS_REACTIONS],
            )?
        } else {
            self.db.execute(
                "DELETE FROM reactions WHERE rowid = (
                    SELECT rowid FROM reactions
                     WHERE item_id = ?1 AND by_us = 0 AND by_member < 0 AND reaction = ?2
                     LIMIT 1)",
                params![item_id, reaction],
            )?
        };
        Ok(n > 0)
    }

    /// How many reactions a group member (0: us) put on an item.
    pub fn member_reaction_count(&self, item_id: i64, by_member: i64) -> Result<i64> {
        Ok(self.db.query_row(
            "SELECT count(*) FROM reactions WHERE item_id = ?1 AND by_member = ?2",
            params![item_id, by_member],
            |r| r.get(0),
        )?)
    }

    /// An item's reactions: (reaction JSON, how many, whether one is ours), oldest first.
    pub fn reactions(&self, item_id: i64) -> Result<Vec<(String, i64, bool)>> {
        let mut st = self.db.prepare_cached(
            "SELECT reaction, count(*), max(by_us) FROM reactions WHERE item_id = ?1
             GROUP BY reaction ORDER BY min(created_at)",
        )?;
        let rows = st.query_map([item_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// How many reactions one side has on an item (a bound against floods).
    pub fn reaction_count(&self, item_id: i64, by_us: bool) -> Result<i64> {
        Ok(self.db.query_row(
            "SELECT count(*) FROM reactions WHERE item_id = ?1 AND by_us = ?2",
            params![item_id, by_us],
            |r| r.get(0),
        )?)
    }

    /// Makes an item disappear `ttl` seconds from now; when.
    pub fn set_item_timer(&self, item_id: i64, ttl: i64) -> Result<i64> {
        let at = now_ms().saturating_add(ttl.saturating_mul(1000));
        self.db.execute(
            "UPDATE chat_items SET ttl = ?2, delete_at = ?3 WHERE item_id = ?1",
            params![item_id, ttl, at],
        )?;
        Ok(at)
    }

    /// A received disappearing message not read yet: its time to live, its timer not started.
    pub fn set_item_ttl(&self, item_id: i64, ttl: i64) -> Result<()> {
        self.db.execute(
            "UPDATE chat_items SET ttl = ?2, delete_at = NULL WHERE item_id = ?1",
            params![item_id, ttl],
        )?;
        Ok(())
    }

    /// Marks read the received items of a chat (`column` is `contact_id` or `group_id`) or
    /// the items of `ids`, starting the timers of disappearing ones; how many timers started.
    fn mark_read_where(&mut self, clause: &str, arg: &dyn rusqlite::ToSql) -> Result<usize> {
        let now = now_ms();
        let tx = self.db.transaction()?;
        let timers = tx.execute(
            &format!(
                "UPDATE chat_items SET delete_at = ?2 + ttl * 1000
                 WHERE {clause} AND unread = 1 AND ttl IS NOT NULL AND delete_at IS NULL"
            ),
            params![arg, now],
        )?;
        tx.execute(
            &format!("UPDATE chat_items SET unread = 0 WHERE {clause} AND unread = 1"),
            [arg],
        )?;
        tx.commit()?;
        Ok(timers)
    }

    /// `/_read chat @N`: every received item of a contact's chat read.
    pub fn mark_chat_read(&mut self, contact_id: i64) -> Result<usize> {
        self.mark_read_where("contact_id = ?1", &contact_id)
    }

    /// `/_read chat #G`: every received item of a group read.
    pub fn mark_group_read(&mut self, group_id: i64) -> Result<usize> {
        self.mark_read_where("group_id = ?1", &group_id)
    }

    /// One item read (shown with `-r`).
    pub fn mark_item_read(&mut self, item_id: i64) -> Result<usize> {
        self.mark_read_where("item_id = ?1", &item_id)
    }

    /// Received items not read yet in a contact's chat (`contact_id`) or a group's.
    pub fn unread_items(&self, contact_id: Option<i64>, group_id: Option<i64>) -> Result<i64> {
        Ok(self.db.query_row(
            "SELECT count(*) FROM chat_items
             WHERE unread = 1 AND (contact_id = ?1 OR group_id = ?2)",
            params![contact_id, group_id],
            |r| r.get(0),
        )?)
    }

    /// Received items not read yet, in every chat.
    pub fn unread_total(&self) -> Result<i64> {
        Ok(self.db.query_row(
            "SELECT count(*) FROM chat_items WHERE unread = 1",
            [],
            |r| r.get(0),
        )?)
    }

    /// A delivery receipt for the item sent to a contact as agent message `agent_msg_id`: the
    /// item with it, if there is one.
    pub fn set_receipt(
        &self,
        contact_id: i64,
        agent_msg_id: i64,
        ok: bool,
    ) -> Result<Option<ChatItem>> {
        // Not waiting for the disk: a receipt's mark lost in a crash only shows the message
        // as sent instead of delivered (the next synced commit makes it durable).
        self.db.execute_batch("PRAGMA synchronous = NORMAL")?;
        let n = self.db.execute(
            "UPDATE chat_items SET rcpt = ?3
             WHERE contact_id = ?1 AND agent_msg_id = ?2 AND sent = 1",
            params![contact_id, agent_msg_id, ok],
        );
        self.db.execute_batch("PRAGMA synchronous = FULL")?;
        if n? == 0 {
            return Ok(None);
        }
        self.sent_item_of(contact_id, agent_msg_id)
    }

    /// Our item of a message the agent sent to a contact (by its message id).
    fn sent_item_of(&self, contact_id: i64, agent_msg_id: i64) -> Result<Option<ChatItem>> {
        Ok(self
            .items_where(
                "contact_id = ?1 AND agent_msg_id = ?2 AND sent = 1",
                &[&contact_id, &agent_msg_id],
            )?
            .pop())
    }

    /// A sent message the relay refused (`error`: the reference's `SndError` tag); the item,
    /// if the message was one.
    /// Marks an item signed (`verified`, `signedNoKey`) or not (none).
    pub fn set_item_signed(&self, item_id: i64, signed: Option<&str>) -> Result<()> {
        self.db.execute(
            "UPDATE chat_items SET msg_signed = ?2 WHERE item_id = ?1",
            params![item_id, signed],
        )?;
        Ok(())
    }

    pub fn set_snd_error(
        &self,
        contact_id: i64,
        agent_msg_id: i64,
        error: &str,
    ) -> Result<Option<ChatItem>> {
        let n = self.db.execute(
            "UPDATE chat_items SET snd_error = ?3
             WHERE contact_id = ?1 AND agent_msg_id = ?2 AND sent = 1",
            params![contact_id, agent_msg_id, error],
        )?;
        if n == 0 {
            return Ok(None);
        }
        self.sent_item_of(contact_id, agent_msg_id)
    }

    /// When the next disappearing message goes (ms), if any.
    pub fn next_delete_at(&self) -> Result<Option<i64>> {
        Ok(self.db.query_row(
            "SELECT min(delete_at) FROM chat_items WHERE delete_at IS NOT NULL",
            [],
            |r| r.get(0),
        )?)
    }

    /// Deletes up to 1,000 items made before `cutoff` (ms): the ids of their files, and how
    /// many were deleted.
    pub fn expire_items_before(&mut self, now: i64, ttl: Option<i64>) -> Result<(usize, Vec<i64>)> {
        let tx = self.db.transaction()?;
        let old: Vec<(i64, Option<i64>)> = {
            let mut st = tx.prepare(&format!(
                "SELECT i.item_id, i.file_id {ITEM_TTL_FROM}
                  WHERE {ITEM_TTL} > 0 AND i.item_ts < ?1 - {ITEM_TTL} * 1000 LIMIT 1000"
            ))?;
            let rows = st.query_map(params![now, ttl], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        for (id, _) in &old {
            tx.execute("DELETE FROM chat_items WHERE item_id = ?1", [id])?;
        }
        tx.commit()?;
        Ok((old.len(), old.into_iter().filter_map(|(_, f)| f).collect()))
    }

    /// When the next item expires (ms) with the user's expiry `ttl` and the chats' own.
    pub fn next_item_expiry(&self, ttl: Option<i64>) -> Result<Option<i64>> {
        Ok(self.db.query_row(
            &format!(
                "SELECT min(i.item_ts + {ITEM_TTL} * 1000) {ITEM_TTL_FROM} WHERE {ITEM_TTL} > 0"
            ),
            params![0, ttl],
            |r| r.get(0),
        )?)
    }

    /// The shortest of the chats' own expiries (seconds), if any chat has one.
    pub fn shortest_chat_ttl(&self) -> Result<Option<i64>> {
        Ok(self.db.query_row(
            "SELECT min(t) FROM (SELECT chat_item_ttl AS t FROM contacts
                                 UNION ALL SELECT chat_item_ttl FROM groups) WHERE t > 0",
            [],
            |r| r.get(0),
        )?)
    }

    /// A contact's own message expiry (seconds, 0 never; none: the user's).
    pub fn set_contact_ttl(&self, contact_id: i64, ttl: Option<i64>) -> Result<()> {
        self.db.execute(
            "UPDATE contacts SET chat_item_ttl = ?2 WHERE contact_id = ?1",
            params![contact_id, ttl],
        )?;
        Ok(())
    }

    /// A group's own message expiry, as [`ChatStore::set_contact_ttl`].
    pub fn set_group_ttl(&self, group_id: i64, ttl: Option<i64>) -> Result<()> {
        self.db.execute(
            "UPDATE groups SET chat_item_ttl = ?2 WHERE group_id = ?1",
            params![group_id, ttl],
        )?;
        Ok(())
    }

    /// Disappearing messages whose time has come (up to 1,000 at a time).
    pub fn expired_items(&self, now: i64) -> Result<Vec<ChatItem>> {
        self.items_where(
            "delete_at IS NOT NULL AND delete_at <= ?1 ORDER BY delete_at LIMIT 1000",
            &[&now],
        )
    }

    /// Files of a contact (to stop their transfers).
    pub fn files_of(&self, contact_id: i64) -> Result<Vec<i64>> {
        let mut st = self
            .db
            .prepare("SELECT file_id FROM files WHERE contact_id = ?1")?;
        let rows = st.query_map([contact_id], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Deleted here only.
    pub fn delete_item(&self, item_id: i64) -> Result<()> {
        self.db
            .execute("DELETE FROM chat_items WHERE item_id = ?1", [item_id])?;
        Ok(())
    }

    /// Records a file; its id.
    pub fn add_file(&self, f: &NewFile<'_>) -> Result<i64> {
        let id = next_row_id(&self.db, "files", "file_id", self.id_base)?;
        self.db.execute(
            "INSERT INTO files (contact_id, sent, shared_msg_id, name, size, path, status, created_at,
                                group_id, group_member_id, file_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                (f.group_id.is_none()).then_some(f.contact_id),
                f.sent,
                f.shared_msg_id,
                f.name,
                f.size as i64,
                f.path,
                f.status.as_str(),
                now_ms(),
                f.group_id,
                f.group_member_id,
                id
            ],
        )?;
        Ok(id)
    }

    fn file_where(
        &self,
        clause: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Option<FileTransfer>> {
        let sql = format!(
            "SELECT file_id, IFNULL(contact_id, 0), sent, shared_msg_id, name, size, path, status,
                    descr, descr_parts, descr_complete, sender_descr, group_id, group_member_id
             FROM files WHERE {clause}"
        );
        let row = self
            .db
            .query_row(&sql, args, |r| {
                Ok((
                    (
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, bool>(2)?,
                        r.get::<_, Vec<u8>>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, i64>(5)?,
                    ),
                    (
                        r.get::<_, Option<String>>(6)?,
                        r.get::<_, String>(7)?,
                        r.get::<_, String>(8)?,
                        r.get::<_, i64>(9)?,
                        r.get::<_, bool>(10)?,
                        r.get::<_, Option<String>>(11)?,
                    ),
                    (r.get::<_, Option<i64>>(12)?, r.get::<_, Option<i64>>(13)?),
                ))
            })
            .optional()?;
        let Some((
            (file_id, contact_id, sent, shared_msg_id, name, size),
            (path, status, descr, descr_parts, descr_complete, sender_descr),
            (group_id, group_member_id),
        )) = row
        else {
            return Ok(None);
        };
        Ok(Some(FileTransfer {
            file_id,
            contact_id,
            group_id,
            group_member_id,
            sent,
            shared_msg_id,
            name,
            size: size.max(0) as u64,
            path,
            status: FileStatus::parse(&status).ok_or(StoreError::Corrupt("file status"))?,
            descr,
            descr_parts,
            descr_complete,
            sender_descr,
        }))
    }

    /// A file by id.
    pub fn file(&self, file_id: i64) -> Result<Option<FileTransfer>> {
        self.file_where("file_id = ?1", &[&file_id])
    }

    /// The file a contact offered with a message.
    pub fn file_by_msg(
        &self,
        contact_id: i64,
        sent: bool,
        shared_msg_id: &[u8],
    ) -> Result<Option<FileTransfer>> {
        self.file_where(
            "contact_id = ?1 AND sent = ?2 AND shared_msg_id = ?3",
            &[&contact_id, &sent, &shared_msg_id],
        )
    }

    /// The file a group member offered with a message.
    pub fn group_file_by_msg(
        &self,
        group_id: i64,
        group_member_id: i64,
        shared_msg_id: &[u8],
    ) -> Result<Option<FileTransfer>> {
        self.file_where(
            "group_id = ?1 AND group_member_id = ?2 AND sent = 0 AND shared_msg_id = ?3",
            &[&group_id, &group_member_id, &shared_msg_id],
        )
    }

    /// A file a channel's post as the channel itself offers (received: no member offered it).
    pub fn channel_file_by_msg(
        &self,
        group_id: i64,
        shared_msg_id: &[u8],
    ) -> Result<Option<FileTransfer>> {
        self.file_where(
            "group_id = ?1 AND group_member_id IS NULL AND sent = 0 AND shared_msg_id = ?2",
            &[&group_id, &shared_msg_id],
        )
    }

    /// The members a group file was offered to.
    pub fn add_group_file_members(&mut self, file_id: i64, members: &[i64]) -> Result<()> {
        let tx = self.db.transaction()?;
        for m in members {
            tx.execute(
                "INSERT OR IGNORE INTO group_file_members (file_id, group_member_id) VALUES (?1, ?2)",
                params![file_id, m],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The members a group file was offered to.
    pub fn group_file_members(&self, file_id: i64) -> Result<Vec<i64>> {
        let mut st = self.db.prepare(
            "SELECT group_member_id FROM group_file_members WHERE file_id = ?1
             ORDER BY group_member_id",
        )?;
        let rows = st.query_map([file_id], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// A group file is uploaded: its sender description and the recipients' - one for each
    /// member it was offered to (in member order), the rest spare; all in one transaction.
    pub fn group_file_uploaded(
        &mut self,
        file_id: i64,
        sender: &str,
        recipients: &[String],
    ) -> Result<()> {
        let tx = self.db.transaction()?;
        let members: Vec<i64> = {
            let mut st = tx.prepare(
                "SELECT group_member_id FROM group_file_members WHERE file_id = ?1
                 ORDER BY group_member_id",
            )?;
            let rows = st.query_map([file_id], |r| r.get(0))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        for (i, d) in recipients.iter().enumerate() {
            tx.execute(
                "INSERT OR REPLACE INTO group_file_descrs (file_id, descr_no, descr, group_member_id)
                 VALUES (?1, ?2, ?3, ?4)",
                params![file_id, i as i64, d, members.get(i)],
            )?;
        }
        tx.execute(
            "UPDATE files SET sender_descr = ?2, status = 'uploaded' WHERE file_id = ?1",
            params![file_id, sender],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Descriptions of a group file assigned to members and not sent yet: (number, member,
    /// description).
    pub fn group_file_unsent(&self, file_id: i64) -> Result<Vec<(i64, i64, String)>> {
        let mut st = self.db.prepare(
            "SELECT descr_no, group_member_id, descr FROM group_file_descrs
             WHERE file_id = ?1 AND group_member_id IS NOT NULL AND sent = 0 ORDER BY descr_no",
        )?;
        let rows = st.query_map([file_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Which way a received group file's description comes: 0 from its author, else the
    /// member (the host) that forwards it; none before its first part.
    pub fn descr_via(&self, file_id: i64) -> Result<Option<i64>> {
        Ok(self
            .db
            .query_row(
                "SELECT descr_via FROM files WHERE file_id = ?1",
                [file_id],
                |r| r.get(0),
            )
            .optional()?
            .flatten())
    }

    /// Records which way a group file's description comes (its first part).
    pub fn set_descr_via(&self, file_id: i64, via: i64) -> Result<()> {
        self.db.execute(
            "UPDATE files SET descr_via = ?2 WHERE file_id = ?1",
            params![file_id, via],
        )?;
        Ok(())
    }

    /// A description of a group file was sent to its member.
    pub fn group_file_descr_sent(&self, file_id: i64, descr_no: i64) -> Result<()> {
        self.db.execute(
            "UPDATE group_file_descrs SET sent = 1 WHERE file_id = ?1 AND descr_no = ?2",
            params![file_id, descr_no],
        )?;
        Ok(())
    }

    /// A description of a group file for a member who joined later (its history): a spare
    /// one, now the member's; once none is spare, the one of the member it went to first (a
    /// recipient description can be downloaded more than once, as the reference reuses it).
    pub fn group_file_descr_for(
        &self,
        file_id: i64,
        group_member_id: i64,
    ) -> Result<Option<String>> {
        let mine: Option<String> = self
            .db
            .query_row(
                "SELECT descr FROM group_file_descrs WHERE file_id = ?1 AND group_member_id = ?2",
                params![file_id, group_member_id],
                |r| r.get(0),
            )
            .optional()?;
        if mine.is_some() {
            return Ok(mine);
        }
        let spare: Option<(i64, String)> = self
            .db
            .query_row(
                "SELECT descr_no, descr FROM group_file_descrs
                 WHERE file_id = ?1 AND group_member_id IS NULL ORDER BY descr_no LIMIT 1",
                [file_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((no, d)) = spare {
            self.db.execute(
                "UPDATE group_file_descrs SET group_member_id = ?3, sent = 1
                 WHERE file_id = ?1 AND descr_no = ?2",
                params![file_id, no, group_member_id],
            )?;
            return Ok(Some(d));
        }
        Ok(self
            .db
            .query_row(
                "SELECT descr FROM group_file_descrs WHERE file_id = ?1 ORDER BY descr_no LIMIT 1",
                [file_id],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Files in a status (to resume them after a start).
    pub fn files_in(&self, status: FileStatus) -> Result<Vec<i64>> {
        let mut st = self
            .db
            .prepare("SELECT file_id FROM files WHERE status = ?1 ORDER BY file_id")?;
        let ids = st.query_map([status.as_str()], |r| r.get(0))?;
        Ok(ids.collect::<rusqlite::Result<_>>()?)
    }

    /// Sets a file's status.
    pub fn set_file_status(&self, file_id: i64, status: FileStatus) -> Result<()> {
        self.db.execute(
            "UPDATE files SET status = ?2 WHERE file_id = ?1",
            params![file_id, status.as_str()],
        )?;
        Ok(())
    }

    /// Sets a received file's destination and status.
    pub fn set_file_path(&self, file_id: i64, path: &str, status: FileStatus) -> Result<()> {
        self.db.execute(
            "UPDATE files SET path = ?2, status = ?3 WHERE file_id = ?1",
            params![file_id, path, status.as_str()],
        )?;
        Ok(())
    }

    /// A sent file is uploaded: both descriptions are kept.
    pub fn file_uploaded(&self, file_id: i64, sender: &str, recipient: &str) -> Result<()> {
        self.db.execute(
            "UPDATE files SET sender_descr = ?2, descr = ?3, status = 'uploaded' WHERE file_id = ?1",
            params![file_id, sender, recipient],
        )?;
        Ok(())
    }

    /// One more part of a received file's description.
    pub fn add_descr_part(
        &self,
        file_id: i64,
        text: &str,
        parts: i64,
        complete: bool,
    ) -> Result<()> {
        self.db.execute(
            "UPDATE files SET descr = descr || ?2, descr_parts = ?3, descr_complete = ?4
             WHERE file_id = ?1",
            params![file_id, text, parts, complete],
        )?;
        Ok(())
    }

    /// Links a chat item to its file.
    pub fn set_item_file(&self, item_id: i64, file_id: i64) -> Result<()> {
        self.db.execute(
            "UPDATE chat_items SET file_id = ?2 WHERE item_id = ?1",
            params![item_id, file_id],
        )?;
        Ok(())
    }
}
