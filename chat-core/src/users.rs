//! Several users in one database prefix: `/create user`, `/user name`, `/users`,
//! `/_delete user` (the reference's multi-user profiles).
//!
//! Each user is a chat of its own ([`Chat`]): its own chat and agent databases and its own
//! connections to the relays (the reference's default keeps each user's traffic on separate
//! connections too). The registry `<prefix>_users.db` lists the users, the prefix of each
//! one's databases and which is active:
//!
//! ```text
//! users(user_id AUTOINCREMENT, suffix UNIQUE, active, deleting, created_at)
//! ```
//!
//! User 1 keeps `<prefix>_chat.db` and `<prefix>_agent.db` (suffix ""), so a database made
//! before there were several users is user 1 as it is; user N's are `<prefix>_uN_chat.db`,
//! `<prefix>_uN_agent.db` (suffix `_uN`). Ids are never reused.
//!
//! Commands act for the active user, as the reference's: an API command naming another user
//! (`/_contacts 2` while user 1 is active) is refused (`differentActiveUser`). Every user
//! receives all the time; the terminal marks another user's events `[user: name]`.
//!
//! Ids are unique across users, as the reference's: each user's database numbers its new
//! contacts, groups, members, items, files, tags, chat relays, connections and requests from
//! `(user_id - 1) * 1,000,000,000 + 1` on (`ChatStore::set_id_base`), so a second user's first
//! contact is `@1000000002`, and an API command naming another user's chat finds nothing in
//! the active user's (`contactNotFound`, `no group #N`, as the reference's errors). Rows
//! made before this numbering keep their ids.
//!
//! A user may be muted (`/mute user`: its events are not shown while another user is
//! active) or hidden (`/hide user <password>`: also left out of `/users` unless active, and
//! made active or deleted only with its password - kept as SHA-512 of the password and a
//! random salt, compared in constant time). Registry v2: `show_ntfs`, `view_pwd_hash`,
//! `view_pwd_salt`.
//!
//! Deleting a user: its registry row is marked first, then its chat stops, its queues are
//! deleted on their relays (`del_smp=on`, in the background) and its database files are
//! removed, then the row; a deletion cut short by a crash is finished at the next start.
//! Received files stay in the files folder.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::chat::{Chat, ChatConfig, ChatError, Event, Response};
use crate::command::{Command, UserRef};
use crate::protocol::Profile;
use crate::store::ChatStore;

type Result<T> = std::result::Result<T, ChatError>;

const REGISTRY_MIGRATIONS: &[&str] = &[
    "CREATE TABLE users (
        user_id INTEGER PRIMARY KEY AUTOINCREMENT,
        suffix TEXT NOT NULL UNIQUE,
        active INTEGER NOT NULL DEFAULT 0,
        deleting INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL
     );",
    // v2: muted and hidden users
    "ALTER TABLE users ADD COLUMN show_ntfs INTEGER NOT NULL DEFAULT 1;
     ALTER TABLE users ADD COLUMN view_pwd_hash BLOB;
     ALTER TABLE users ADD COLUMN view_pwd_salt BLOB;",
    // v3: the apps' settings (`/_save app settings`): every user's
    "CREATE TABLE app_settings (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        settings TEXT NOT NULL
     );",
];

/// App settings kept at most (bytes of JSON).
pub const MAX_APP_SETTINGS: usize = 64 << 10;

/// The stored settings over `defaults` (the reference's `combineAppSettings`: what was saved
/// wins, what was not comes from the defaults given).
fn merged_settings(defaults: Option<&Value>, stored: Option<&Value>) -> Value {
    let mut out = match defaults {
        Some(Value::Object(d)) => d.clone(),
        _ => serde_json::Map::new(),
    };
    if let Some(Value::Object(s)) = stored {
        for (k, v) in s {
            if !v.is_null() {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

/// A user's privacy: muted (its events not shown while another user is active), hidden.
#[derive(Clone, PartialEq, Eq)]
pub struct Privacy {
    /// Its events are shown while another user is active.
    pub show_ntfs: bool,
    /// Hidden: listed and reached only with its password.
    pub hidden: bool,
    /// The password's hash and salt, when hidden.
    pwd: Option<(Vec<u8>, Vec<u8>)>,
}

/// The password's hash stays out of logs.
impl std::fmt::Debug for Privacy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Privacy")
            .field("show_ntfs", &self.show_ntfs)
            .field("hidden", &self.hidden)
            .finish_non_exhaustive()
    }
}

impl Default for Privacy {
    fn default() -> Self {
        Self {
            show_ntfs: true,
            hidden: false,
            pwd: None,
        }
    }
}

impl Privacy {
    /// The API's `viewPwdHash` (`{hash, salt}` in base64), when hidden.
    pub fn pwd_json(&self) -> Option<Value> {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        self.pwd
            .as_ref()
            .map(|(h, s)| serde_json::json!({"hash": b64.encode(h), "salt": b64.encode(s)}))
    }

    /// Whether `password` is the user's (any for a user not hidden).
    fn admits(&self, password: Option<&str>) -> bool {
        match (&self.pwd, password) {
            (None, _) => true,
            (Some((hash, salt)), Some(p)) => simplex_crypto::ct_eq(hash, &password_hash(p, salt)),
            (Some(_), None) => false,
        }
    }
}

/// SHA-512 of the password and the salt (the reference's `viewPwdHash`).
fn password_hash(password: &str, salt: &[u8]) -> Vec<u8> {
    let mut data = password.as_bytes().to_vec();
    data.extend_from_slice(salt);
    simplex_crypto::digest::sha512(&data).to_vec()
}

/// How long deleting one queue on its relay may take when a user is deleted with its queues.
const QUEUE_DELETE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// An event of one of the users.
#[derive(Debug, Clone)]
pub struct UserEvent {
    /// Whose.
    pub user_id: i64,
    /// What happened.
    pub event: Event,
}

/// A user as `/users` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct UserListed {
    /// The user's id.
    pub user_id: i64,
    /// The user's profile.
    pub profile: Profile,
    /// Whether it is the active user.
    pub active: bool,
    /// Muted, hidden.
    pub privacy: Privacy,
    /// Received items not read, and chats marked unread.
    pub unread: usize,
    /// The user as the API gives it (`User`).
    pub user: Value,
}

impl UserListed {
    pub(crate) fn of(chat: &Chat) -> Result<Self> {
        let unread = {
            let store = chat.store();
            store.unread_count()? + store.unread_total()? as usize
        };
        Ok(Self {
            user_id: chat.user_id(),
            profile: chat.profile(),
            active: chat.is_active(),
            privacy: chat.privacy(),
            unread,
            user: crate::api::user(chat),
        })
    }
}

struct Row {
    user_id: i64,
    suffix: String,
    active: bool,
    deleting: bool,
    privacy: Privacy,
}

/// The list of users (`<prefix>_users.db`).
struct Registry {
    db: Connection,
}

impl Registry {
    fn open(config: &ChatConfig) -> Result<Self> {
        let mut db =
            agent::store::open_connection(&prefixed(config, "_users.db"), config.db_key.as_deref())
                .map_err(crate::store::StoreError::from)?;
        agent::store::migrate(&mut db, REGISTRY_MIGRATIONS)
            .map_err(crate::store::StoreError::from)?;
        Ok(Self { db })
    }

    fn rows(&self) -> Result<Vec<Row>> {
        let mut st = self
            .db
            .prepare(
                "SELECT user_id, suffix, active, deleting, show_ntfs, view_pwd_hash, view_pwd_salt
                 FROM users ORDER BY user_id",
            )
            .map_err(store_err)?;
        let rows = st
            .query_map([], |r| {
                let hash: Option<Vec<u8>> = r.get(5)?;
                let salt: Option<Vec<u8>> = r.get(6)?;
                let pwd = hash.zip(salt);
                Ok(Row {
                    user_id: r.get(0)?,
                    suffix: r.get(1)?,
                    active: r.get(2)?,
                    deleting: r.get(3)?,
                    privacy: Privacy {
                        show_ntfs: r.get(4)?,
                        hidden: pwd.is_some(),
                        pwd,
                    },
                })
            })
            .map_err(store_err)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(store_err)?;
        Ok(rows)
    }

    /// The saved app settings, if any.
    fn app_settings(&self) -> Result<Option<Value>> {
        let json: Option<String> = self
            .db
            .query_row("SELECT settings FROM app_settings WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(store_err)?;
        json.map(|j| {
            serde_json::from_str(&j)
                .map_err(|_| ChatError::Store(crate::store::StoreError::Corrupt("app settings")))
        })
        .transpose()
    }

    fn save_app_settings(&self, settings: &Value) -> Result<()> {
        self.db
            .execute(
                "INSERT INTO app_settings (id, settings) VALUES (1, ?1)
                 ON CONFLICT (id) DO UPDATE SET settings = excluded.settings",
                [settings.to_string()],
            )
            .map_err(store_err)?;
        Ok(())
    }

    /// The id the next user gets: ids are never reused.
    fn next_id(&self) -> Result<i64> {
        let seq: Option<i64> = self
            .db
            .query_row(
                "SELECT seq FROM sqlite_sequence WHERE name = 'users'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(store_err)?;
        Ok(seq.unwrap_or(0) + 1)
    }

    /// Registers a user (made active).
    fn add(&mut self, user_id: i64, suffix: &str) -> Result<()> {
        let tx = self.db.transaction().map_err(store_err)?;
        tx.execute("UPDATE users SET active = 0", [])
            .map_err(store_err)?;
        tx.execute(
            "INSERT INTO users (user_id, suffix, active, created_at) VALUES (?1, ?2, 1, ?3)",
            params![user_id, suffix, crate::store::now_ms()],
        )
        .map_err(store_err)?;
        tx.commit().map_err(store_err)
    }

    fn set_active(&mut self, user_id: i64) -> Result<()> {
        let tx = self.db.transaction().map_err(store_err)?;
        tx.execute("UPDATE users SET active = (user_id = ?1)", [user_id])
            .map_err(store_err)?;
        tx.commit().map_err(store_err)
    }

    fn set_privacy(&self, user_id: i64, p: &Privacy) -> Result<()> {
        let (hash, salt) = match &p.pwd {
            Some((h, s)) => (Some(h.as_slice()), Some(s.as_slice())),
            None => (None, None),
        };
        self.db
            .execute(
                "UPDATE users SET show_ntfs = ?2, view_pwd_hash = ?3, view_pwd_salt = ?4
                 WHERE user_id = ?1",
                params![user_id, p.show_ntfs, hash, salt],
            )
            .map_err(store_err)?;
        Ok(())
    }

    fn mark_deleting(&self, user_id: i64) -> Result<()> {
        self.db
            .execute(
                "UPDATE users SET deleting = 1, active = 0 WHERE user_id = ?1",
                [user_id],
            )
            .map_err(store_err)?;
        Ok(())
    }

    fn remove(&self, user_id: i64) -> Result<()> {
        self.db
            .execute("DELETE FROM users WHERE user_id = ?1", [user_id])
            .map_err(store_err)?;
        Ok(())
    }
}

fn store_err(e: rusqlite::Error) -> ChatError {
    ChatError::Store(e.into())
}

/// `<prefix><tail>`.
fn prefixed(config: &ChatConfig, tail: &str) -> PathBuf {
    let mut p = config.db_prefix.clone().into_os_string();
    p.push(tail);
    PathBuf::from(p)
}

/// A user's configuration: its databases under its suffix of the prefix.
fn config_for(base: &ChatConfig, suffix: &str) -> ChatConfig {
    ChatConfig {
        db_prefix: prefixed(base, suffix),
        ..base.clone()
    }
}

/// The files of a user's databases (and their journals) and its transfer state folder.
fn user_files(config: &ChatConfig) -> (Vec<PathBuf>, PathBuf) {
    let mut files = Vec::new();
    for db in ["_chat.db", "_agent.db"] {
        for journal in ["", "-wal", "-shm", "-journal"] {
            files.push(prefixed(config, &format!("{db}{journal}")));
        }
    }
    (files, prefixed(config, "_xftp"))
}

/// Removes a deleted user's databases and transfer state.
fn remove_user_files(config: &ChatConfig) -> std::io::Result<()> {
    let (files, state) = user_files(config);
    for f in files {
        match std::fs::remove_file(&f) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    match std::fs::remove_dir_all(&state) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Databases left at a new user's prefix by no registered user (a creation cut short): moved
/// aside, not deleted.
fn move_aside_leftovers(config: &ChatConfig) -> std::io::Result<()> {
    let (files, state) = user_files(config);
    let stamp = crate::store::now_ms();
    for f in files.into_iter().chain(std::iter::once(state)) {
        if std::fs::symlink_metadata(&f).is_ok() {
            let mut aside = f.clone().into_os_string();
            aside.push(format!(".orphan-{stamp}"));
            std::fs::rename(&f, &aside)?;
        }
    }
    Ok(())
}

/// The registry read before the users are opened: whether there is any user yet (a first
/// start asks for a profile).
pub struct Prepared {
    registry: Registry,
    rows: Vec<Row>,
    /// User 1's chat database when nothing is registered yet: one made before there were
    /// several users, or a first start's.
    first: Option<ChatStore>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("users", &self.rows.len())
            .finish_non_exhaustive()
    }
}

impl Prepared {
    /// Whether no user exists: [`Users::open`] needs a profile to create one (or runs with no
    /// user, as the reference does after its last user is deleted).
    pub fn needs_user(&self) -> Result<bool> {
        if !self.rows.is_empty() {
            return Ok(false);
        }
        match &self.first {
            Some(store) => Ok(store.user()?.is_none()),
            None => Ok(true),
        }
    }
}

struct State {
    chats: BTreeMap<i64, Chat>,
    active: Option<i64>,
}

struct UsersInner {
    config: ChatConfig,
    registry: Mutex<Registry>,
    state: Mutex<State>,
    /// One user change (create, switch, delete) at a time.
    changing: tokio::sync::Mutex<()>,
    events: mpsc::Sender<UserEvent>,
    /// Whether chats run (`/_stop` stops every user's; a user created then opens stopped).
    running: std::sync::atomic::AtomicBool,
    /// The databases were given another key (`/db ...`): the open ones are stale, so nothing
    /// but another `/db` command runs until a restart.
    store_changed: std::sync::atomic::AtomicBool,
}

/// The users of a database prefix, each one's chat running.
#[derive(Clone)]
pub struct Users {
    inner: Arc<UsersInner>,
}

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Users").finish_non_exhaustive()
    }
}

impl Users {
    /// Reads the registry (creating it; a database made before there were several users is
    /// found as user 1) and finishes deletions a crash cut short.
    pub fn prepare(config: &ChatConfig) -> Result<Prepared> {
        let registry = Registry::open(config)?;
        let mut rows = registry.rows()?;
        for r in rows.iter().filter(|r| r.deleting) {
            remove_user_files(&config_for(config, &r.suffix))
                .map_err(|e| ChatError::Store(e.into()))?;
            registry.remove(r.user_id)?;
        }
        rows.retain(|r| !r.deleting);
        let first = if rows.is_empty() && registry.next_id()? == 1 {
            Some(Chat::open_store(config)?)
        } else {
            None
        };
        Ok(Prepared {
            registry,
            rows,
            first,
        })
    }

    /// Opens every user's chat (`start` false: all opened stopped, `-m`); `new_user` creates a
    /// user when there is none. Events of every user must be read.
    pub async fn open(
        prepared: Prepared,
        config: &ChatConfig,
        new_user: Option<Profile>,
        start: bool,
    ) -> Result<(Self, mpsc::Receiver<UserEvent>)> {
        let Prepared {
            registry,
            rows,
            first,
        } = prepared;
        let (tx, rx) = mpsc::channel(config.event_queue.max(1));
        let users = Self {
            inner: Arc::new(UsersInner {
                config: config.clone(),
                registry: Mutex::new(registry),
                state: Mutex::new(State {
                    chats: BTreeMap::new(),
                    active: None,
                }),
                changing: tokio::sync::Mutex::new(()),
                events: tx,
                running: std::sync::atomic::AtomicBool::new(start),
                store_changed: std::sync::atomic::AtomicBool::new(false),
            }),
        };
        if rows.is_empty() {
            match first {
                // User 1: a database from before the registry, or a first start's.
                Some(store) if store.user()?.is_some() || new_user.is_some() => {
                    users.open_chat(1, "", Some(store), new_user).await?;
                    users.registry().add(1, "")?;
                    users.activate(1);
                }
                _ => {
                    if let Some(p) = new_user {
                        users.create(Some(p)).await?;
                    }
                }
            }
        } else {
            for r in &rows {
                let chat = users.open_chat(r.user_id, &r.suffix, None, None).await?;
                chat.set_privacy(r.privacy.clone());
            }
            let active = rows.iter().find(|r| r.active).unwrap_or(&rows[0]).user_id;
            users.registry().set_active(active)?;
            users.activate(active);
        }
        Ok((users, rx))
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.inner
            .registry
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The active user's chat (none once every user is deleted).
    pub fn active(&self) -> Option<Chat> {
        let st = self.state();
        st.active.and_then(|id| st.chats.get(&id).cloned())
    }

    /// A user's chat.
    pub fn chat(&self, user_id: i64) -> Option<Chat> {
        self.state().chats.get(&user_id).cloned()
    }

    /// Every user's chat, by id.
    pub fn chats(&self) -> Vec<Chat> {
        self.state().chats.values().cloned().collect()
    }

    /// Makes a user the active one (in memory; the registry is written by the caller).
    fn activate(&self, user_id: i64) {
        let mut st = self.state();
        st.active = Some(user_id);
        for (id, chat) in &st.chats {
            chat.set_identity(*id, *id == user_id);
        }
    }

    /// Opens a user's chat and forwards its events.
    async fn open_chat(
        &self,
        user_id: i64,
        suffix: &str,
        store: Option<ChatStore>,
        new_user: Option<Profile>,
    ) -> Result<Chat> {
        let mut config = config_for(&self.inner.config, suffix);
        // The network settings in effect (`/network` may have changed the start options).
        if let Some(other) = self.chats().first() {
            config.connect = other.network();
        }
        let mut store = match store {
            Some(s) => s,
            None => Chat::open_store(&config)?,
        };
        // Each user numbers its chats in a range of its own (the reference's ids are unique
        // across its users).
        store.set_id_base((user_id - 1).max(0) * crate::store::USER_ID_RANGE)?;
        let running = self.inner.running.load(std::sync::atomic::Ordering::SeqCst);
        let (chat, mut events) = Chat::open_with(store, &config, new_user, running).await?;
        chat.set_identity(user_id, false);
        let tx = self.inner.events.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                if tx.send(UserEvent { user_id, event }).await.is_err() {
                    break;
                }
            }
        });
        self.state().chats.insert(user_id, chat.clone());
        Ok(chat)
    }

    /// `/create user`, `/_create user`: a new user, made active.
    async fn create(&self, profile: Option<Profile>) -> Result<Chat> {
        let p = profile.unwrap_or_else(crate::incognito::random_profile);
        if p.display_name.trim().is_empty() || p.display_name.contains('\'') {
            return Err(ChatError::InvalidName(p.display_name));
        }
        if self
            .chats()
            .iter()
            .any(|c| c.profile().display_name == p.display_name)
        {
            return Err(ChatError::UserExists(p.display_name));
        }
        let id = self.registry().next_id()?;
        let suffix = if id == 1 {
            String::new()
        } else {
            format!("_u{id}")
        };
        let config = config_for(&self.inner.config, &suffix);
        // User 1's database may be a first start's, still empty: used as it is.
        let leftover = match id {
            1 => Chat::open_store(&config)?.user()?.is_some(),
            _ => true,
        };
        if leftover {
            move_aside_leftovers(&config).map_err(|e| ChatError::Store(e.into()))?;
        }
        let chat = self.open_chat(id, &suffix, None, Some(p)).await?;
        let added = self.registry().add(id, &suffix);
        if let Err(e) = added {
            self.state().chats.remove(&id);
            chat.close().await;
            return Err(e);
        }
        self.activate(id);
        Ok(chat)
    }

    fn find(&self, user: &UserRef) -> Result<Chat> {
        self.chats()
            .into_iter()
            .find(|c| match user {
                UserRef::Id(id) => c.user_id() == *id,
                UserRef::Name(n) => c.profile().display_name == *n,
            })
            .ok_or(ChatError::UserUnknown)
    }

    /// A user, with its password when it is hidden (else, as for a user that does not exist,
    /// `userUnknown`).
    fn find_admitted(&self, user: &UserRef, password: Option<&str>) -> Result<Chat> {
        let chat = self.find(user)?;
        if !chat.privacy().admits(password) {
            return Err(ChatError::UserUnknown);
        }
        Ok(chat)
    }

    /// The user a privacy command names (none: the active one).
    fn privacy_target(&self, user: Option<i64>) -> Result<Chat> {
        match user {
            Some(id) => self.find(&UserRef::Id(id)),
            None => self.active().ok_or(ChatError::NoActiveUser),
        }
    }

    /// Stores and applies a user's new privacy; the response.
    fn apply_privacy(&self, chat: &Chat, privacy: Privacy) -> Result<Response> {
        self.registry().set_privacy(chat.user_id(), &privacy)?;
        chat.set_privacy(privacy.clone());
        Ok(Response::UserPrivacy {
            user: crate::api::user(chat),
            name: chat.profile().display_name,
            current: chat.is_active(),
            privacy,
        })
    }

    /// `/hide user`, `/unhide user`, `/mute user`, `/unmute user` and their API forms.
    fn privacy_command(&self, cmd: Command) -> Result<Response> {
        match cmd {
            Command::HideUser { user, password } => {
                let chat = self.privacy_target(user)?;
                let id = chat.user_id();
                if chat.privacy().hidden {
                    return Err(ChatError::UserAlreadyHidden(id));
                }
                if password.as_str().trim().is_empty() {
                    return Err(ChatError::EmptyUserPassword(id));
                }
                let visible = self.chats().iter().filter(|c| !c.privacy().hidden).count();
                if visible <= 1 {
                    return Err(ChatError::CantHideLastUser(id));
                }
                let mut salt = vec![0u8; 16];
                simplex_crypto::random_bytes(&mut salt);
                let hash = password_hash(password.as_str(), &salt);
                self.apply_privacy(
                    &chat,
                    Privacy {
                        show_ntfs: false,
                        hidden: true,
                        pwd: Some((hash, salt)),
                    },
                )
            }
            Command::UnhideUser { user, password } => {
                let chat = self.privacy_target(user)?;
                let now = chat.privacy();
                if !now.hidden {
                    return Err(ChatError::UserNotHidden(chat.user_id()));
                }
                if !now.admits(Some(password.as_str())) {
                    return Err(ChatError::UserUnknown);
                }
                self.apply_privacy(&chat, Privacy::default())
            }
            Command::MuteUser { user, muted } => {
                let chat = self.privacy_target(user)?;
                let now = chat.privacy();
                if now.hidden && !muted {
                    return Err(ChatError::HiddenUserAlwaysMuted(chat.user_id()));
                }
                self.apply_privacy(
                    &chat,
                    Privacy {
                        show_ntfs: !muted,
                        ..now
                    },
                )
            }
            _ => Err(ChatError::UsersCommand),
        }
    }

    /// `/_delete user N del_smp=on|off`: the active user only when it is the last one.
    async fn delete(&self, user: &UserRef, del_smp: bool, password: Option<&str>) -> Result<()> {
        let chat = self.find_admitted(user, password)?;
        let user_id = chat.user_id();
        if chat.is_active() && self.chats().len() > 1 {
            return Err(ChatError::CantDeleteActiveUser(user_id));
        }
        let suffix = self
            .registry()
            .rows()?
            .into_iter()
            .find(|r| r.user_id == user_id)
            .map(|r| r.suffix)
            .ok_or(ChatError::UserUnknown)?;
        self.registry().mark_deleting(user_id)?;
        {
            let mut st = self.state();
            st.chats.remove(&user_id);
            if st.active == Some(user_id) {
                st.active = None;
            }
        }
        let config = config_for(&self.inner.config, &suffix);
        let finish = {
            let users = self.clone();
            move || -> Result<()> {
                remove_user_files(&config).map_err(|e| ChatError::Store(e.into()))?;
                users.registry().remove(user_id)
            }
        };
        if !del_smp {
            chat.close().await;
            return finish();
        }
        // Deleting queues waits for their relays: in the background, as the reference's.
        let tx = self.inner.events.clone();
        tokio::spawn(async move {
            if chat.is_running() {
                for (conn, _) in chat.inner.agent.connections() {
                    let _ = tokio::time::timeout(
                        QUEUE_DELETE_TIMEOUT,
                        chat.inner.agent.delete_connection(conn),
                    )
                    .await;
                }
            }
            chat.close().await;
            let event = match finish() {
                Ok(()) => Event::UserDeleted,
                Err(e) => Event::Error(format!("deleting user {user_id}: {e}")),
            };
            let _ = tx.send(UserEvent { user_id, event }).await;
        });
        Ok(())
    }

    /// Parses and runs a line for the active user, or a users command.
    pub async fn execute_line(&self, line: &str) -> Result<(Option<Chat>, Response)> {
        let cmd = crate::command::parse(line)?;
        self.execute(line, cmd).await
    }

    /// Runs a command parsed from `line`: a users command here, any other for the active user
    /// (an API command naming another user is refused). The chat the response is about comes
    /// with it.
    pub async fn execute(&self, line: &str, cmd: Command) -> Result<(Option<Chat>, Response)> {
        let changed = self
            .inner
            .store_changed
            .load(std::sync::atomic::Ordering::SeqCst);
        if changed
            && !matches!(
                cmd,
                Command::DbEncryption { .. }
                    | Command::DbTestKey(_)
                    | Command::DbExport(_)
                    | Command::DbImport(_)
                    | Command::DbDelete
                    | Command::Quit
                    | Command::Version
            )
        {
            return Err(ChatError::StoreChanged);
        }
        match cmd {
            Command::DbEncryption { current, new } => {
                let _g = self.inner.changing.lock().await;
                self.check_stopped()?;
                let files = self.database_files()?;
                crate::db_key::change_key(&files, current.as_str(), new.as_str())?;
                self.inner
                    .store_changed
                    .store(true, std::sync::atomic::Ordering::SeqCst);
                Ok((self.active(), Response::Ok))
            }
            Command::DbExport(config) => {
                let _g = self.inner.changing.lock().await;
                self.check_stopped()?;
                let (path, compress) = match &config {
                    Some(c) => (
                        PathBuf::from(&c.archive_path),
                        !c.disable_compression.unwrap_or(false),
                    ),
                    // The reference's name: `simplex-chat.2026-12-05T093000Z.zip`.
                    None => {
                        let t = simplex_codec::time::UtcTime::from_millis(crate::store::now_ms())
                            .to_string();
                        let t: String = t.chars().take(19).filter(|c| *c != ':').collect();
                        (PathBuf::from(format!("simplex-chat.{t}Z.zip")), true)
                    }
                };
                let config = &self.inner.config;
                let skipped = crate::archive::export(
                    &config.db_prefix,
                    &self.database_files()?,
                    &config.files_folder,
                    &path,
                    compress,
                )
                .map_err(|e| ChatError::Archive(e.to_string()))?;
                Ok((self.active(), Response::ArchiveExported(path, skipped)))
            }
            Command::DbImport(c) => {
                let _g = self.inner.changing.lock().await;
                self.check_stopped()?;
                let config = &self.inner.config;
                let skipped = crate::archive::import(
                    &config.db_prefix,
                    &config.files_folder,
                    std::path::Path::new(&c.archive_path),
                )
                .map_err(|e| ChatError::Archive(e.to_string()))?;
                // The databases open as they are now after a restart.
                self.inner
                    .store_changed
                    .store(true, std::sync::atomic::Ordering::SeqCst);
                Ok((self.active(), Response::ArchiveImported(skipped)))
            }
            Command::DbDelete => {
                let _g = self.inner.changing.lock().await;
                self.check_stopped()?;
                // Asked for by name: the databases go (as the reference's), with their
                // journals. The files folder's files are the user's and stay (the reference
                // deletes the folder; here it may be any folder, the working one by default).
                for db in self.database_files()? {
                    for tail in ["", "-wal", "-shm", "-journal"] {
                        let mut f = db.clone().into_os_string();
                        f.push(tail);
                        match std::fs::remove_file(&f) {
                            Ok(()) => {}
                            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                            Err(e) => {
                                return Err(ChatError::Archive(format!(
                                    "cannot delete {}: {e}",
                                    PathBuf::from(f).display()
                                )))
                            }
                        }
                    }
                }
                // Nothing opens them again but a restart.
                self.inner
                    .store_changed
                    .store(true, std::sync::atomic::Ordering::SeqCst);
                Ok((self.active(), Response::Ok))
            }
            Command::DbTestKey(key) => {
                let _g = self.inner.changing.lock().await;
                self.check_stopped()?;
                crate::db_key::test_key(&self.database_files()?, key.as_str())?;
                Ok((self.active(), Response::Ok))
            }
            Command::CreateUser(p) => {
                let _g = self.inner.changing.lock().await;
                let chat = Box::pin(self.create(p)).await?;
                Ok((Some(chat), Response::ActiveUser))
            }
            Command::SetActiveUser(u, password) => {
                let _g = self.inner.changing.lock().await;
                let chat = self.find_admitted(&u, password.as_ref().map(|p| p.as_str()))?;
                self.registry().set_active(chat.user_id())?;
                self.activate(chat.user_id());
                Ok((Some(chat), Response::ActiveUser))
            }
            Command::DeleteUser {
                user,
                del_smp,
                password,
            } => {
                let _g = self.inner.changing.lock().await;
                Box::pin(self.delete(&user, del_smp, password.as_ref().map(|p| p.as_str())))
                    .await?;
                Ok((self.active(), Response::Ok))
            }
            Command::HideUser { .. } | Command::UnhideUser { .. } | Command::MuteUser { .. } => {
                let _g = self.inner.changing.lock().await;
                let r = self.privacy_command(cmd)?;
                Ok((self.active(), r))
            }
            Command::ListUsers => {
                // A hidden user is listed only while it is the active one.
                let list = self
                    .chats()
                    .iter()
                    .filter(|c| c.is_active() || !c.privacy().hidden)
                    .map(UserListed::of)
                    .collect::<Result<Vec<_>>>()?;
                Ok((self.active(), Response::UsersList(list)))
            }
            Command::StartChat | Command::StopChat => {
                let _g = self.inner.changing.lock().await;
                let start = matches!(cmd, Command::StartChat);
                self.inner
                    .running
                    .store(start, std::sync::atomic::Ordering::SeqCst);
                let active = self.active();
                let mut answer = None;
                for chat in self.chats() {
                    let r = Box::pin(chat.execute(cmd.clone())).await?;
                    if answer.is_none()
                        || active.as_ref().map(Chat::user_id) == Some(chat.user_id())
                    {
                        answer = Some(r);
                    }
                }
                Ok((active, answer.unwrap_or(Response::Ok)))
            }
            Command::Quit => Ok((self.active(), Response::Quit)),
            Command::SaveAppSettings(settings) => {
                self.registry().save_app_settings(&settings)?;
                Ok((self.active(), Response::Ok))
            }
            Command::GetAppSettings(defaults) => {
                let stored = self.registry().app_settings()?;
                let merged = merged_settings(defaults.as_ref(), stored.as_ref());
                Ok((self.active(), Response::AppSettings(merged)))
            }
            // Moved from the active user to another (made there, then deleted here): no user
            // is created or deleted meanwhile.
            Command::ChangeUser { what, user_id } => {
                let _g = self.inner.changing.lock().await;
                let chat = self.active().ok_or(ChatError::NoActiveUser)?;
                let to = self.find(&UserRef::Id(user_id))?;
                if !chat.is_running() || !to.is_running() {
                    return Err(ChatError::NotStarted);
                }
                let r = Box::pin(chat.move_to_user(what, &to)).await?;
                Ok((Some(chat), r))
            }
            // The network settings are every user's (the active one's answer).
            Command::SetNetwork(change) => {
                let chat = self.active().ok_or(ChatError::NoActiveUser)?;
                chat.check_user(line)?;
                let r = Box::pin(chat.execute(Command::SetNetwork(change))).await?;
                let opts = chat.network();
                for other in self.chats() {
                    if other.user_id() != chat.user_id() {
                        other.set_network(opts.clone()).await;
                    }
                }
                Ok((Some(chat), r))
            }
            cmd => {
                let chat = match self.active() {
                    Some(c) => c,
                    None if cmd == Command::Version => return Ok((None, Response::Version)),
                    None => return Err(ChatError::NoActiveUser),
                };
                chat.check_user(line)?;
                // Users' names are unique, as the reference's.
                let renamed = match &cmd {
                    Command::SetProfile { display_name, .. } => Some(display_name),
                    Command::SetProfileJson(p) => Some(&p.display_name),
                    _ => None,
                };
                if let Some(name) = renamed {
                    let taken = self.chats().iter().any(|c| {
                        c.user_id() != chat.user_id() && c.profile().display_name == *name
                    });
                    if taken {
                        return Err(ChatError::UserExists(name.clone()));
                    }
                }
                let r = Box::pin(chat.execute(cmd)).await?;
                Ok((Some(chat), r))
            }
        }
    }

    /// `/db ...` works on the files only while no chat uses them.
    fn check_stopped(&self) -> Result<()> {
        if self.inner.running.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(ChatError::ChatNotStopped);
        }
        Ok(())
    }

    /// Every database of the prefix: the users' list, then each user's chat and agent
    /// databases.
    fn database_files(&self) -> Result<Vec<PathBuf>> {
        let config = &self.inner.config;
        let mut files = vec![prefixed(config, "_users.db")];
        for r in self.registry().rows()? {
            let user = config_for(config, &r.suffix);
            for db in ["_chat.db", "_agent.db"] {
                let f = prefixed(&user, db);
                if f.exists() {
                    files.push(f);
                }
            }
        }
        Ok(files)
    }

    /// Stops every user's chat.
    pub async fn close(&self) {
        for chat in self.chats() {
            chat.close().await;
        }
    }
}

/// A response as the API gives it; `/users` and the answer to deleting the last user belong
/// to no user's chat.
pub fn response_json(chat: Option<&Chat>, r: &Response) -> Value {
    match (chat, r) {
        (_, Response::UsersList(list)) => crate::api::users_list(list),
        // Every user's, so none is needed.
        (None, Response::AppSettings(s)) => {
            serde_json::json!({"type": "appSettings", "appSettings": s})
        }
        (Some(chat), r) => crate::api::response(chat, r),
        (None, Response::Version) => crate::api::version_info(),
        (None, _) => serde_json::json!({"type": "cmdOk"}),
    }
}
