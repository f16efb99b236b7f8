//! Several users in one database prefix, as the reference's `testCreateSecondUser`,
//! `testUsersSubscribeAfterRestart` and `testDeleteUser`: real `simplex-chat` processes and
//! a relay on 127.0.0.1.

mod common;

use common::{alice_and_bob, connect, relay, Client};

/// `[user: name] HH:MM rest`: another user's message.
fn expect_user_item(c: &mut Client, user: &str, rest: &str) {
    let got = c.next();
    let prefix = format!("[user: {user}] ");
    let item = got
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{}: no {prefix:?} in {got:?}", c.name));
    let b = item.as_bytes();
    assert!(
        item.len() > 6 && b[2] == b':' && b[5] == b' ',
        "no time in {got:?}"
    );
    assert_eq!(&item[6..], rest, "{}", c.name);
}

fn show_active_user(c: &mut Client, name: &str) {
    c.expect(&format!("user profile: {name}"));
    c.expect("use /p <display name> to change it");
    c.expect("(the updated profile will be sent to all your contacts)");
}

/// alice's active user (named `user`) connects to bob by a new invitation.
fn connect_as(alice: &mut Client, user: &str, bob: &mut Client) {
    let link = connect_link(alice);
    bob.type_line(&format!("/c {link}"));
    bob.expect(&format!("/c {link}"));
    bob.expect("confirmation sent!");
    bob.expect(&format!("{user}: contact is connected"));
    alice.expect("bob (Bob): contact is connected");
}

fn connect_link(alice: &mut Client) -> String {
    alice.type_line("/c");
    alice.expect("/c");
    common::invitation_link(alice)
}

#[test]
fn second_user_and_restart() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    // -r: what the terminal shows is read (the reference's tests' terminal marks it so).
    let (mut alice, mut bob) = alice_and_bob(dir.path(), &server, &["-r"]);
    connect(&mut alice, &mut bob, "Alice", "Bob");

    alice.type_line("/create user alisa");
    alice.expect("/create user alisa");
    show_active_user(&mut alice, "alisa");
    // The second user connects to bob as alisa.
    connect_as(&mut alice, "alisa", &mut bob);
    alice.type_line("@bob hello");
    alice.expect_item("@bob hello");
    bob.expect_item("alisa> hello");
    bob.type_line("@alisa hey");
    bob.expect_item("@alisa hey");
    alice.expect_item("bob> hey");

    alice.command("/user", &[]);
    show_active_user(&mut alice, "alisa");
    alice.command("/users", &["alice (Alice)", "alisa (active)"]);
    // The first user receives while not active.
    bob.type_line("@alice hey alice");
    bob.expect_item("@alice hey alice");
    expect_user_item(&mut alice, "alice", "bob> hey alice");

    alice.command("/user alice", &[]);
    show_active_user(&mut alice, "alice (Alice)");
    alice.command("/users", &["alice (Alice) (active)", "alisa"]);
    alice.type_line("@bob hi bob");
    alice.expect_item("@bob hi bob");
    bob.expect_item("alice> hi bob");
    bob.type_line("@alisa hey alisa");
    bob.expect_item("@alisa hey alisa");
    expect_user_item(&mut alice, "alisa", "bob> hey alisa");
    // An API command for a user that is not the active one is refused.
    alice.command(
        "/_contacts 2",
        &["error: different active user, command user id: 2, active user id: 1"],
    );
    alice.command(
        "/user nobody",
        &["user does not exist or incorrect password"],
    );
    alice.command(
        "/create user alisa",
        &["user with the name alisa already exists"],
    );
    alice.command("/p alisa", &["user with the name alisa already exists"]);
    alice.command("/_user 2", &[]);
    show_active_user(&mut alice, "alisa");
    alice.command("/contacts", &["bob (Bob)"]);

    // After a restart both users receive; the active one is the one that was.
    alice.stop();
    let mut alice = Client::start_with(dir.path(), "alice", &server, &["-r"]);
    alice.expect("Current user: alisa");
    // Each user's summary, the other's marked, as the reference's
    // `testUsersSubscribeAfterRestart`.
    alice.expect("1 contacts connected (use /cs for the list)");
    alice.expect("[user: alice] 1 contacts connected (use /cs for the list)");
    bob.type_line("@alisa after restart");
    bob.expect_item("@alisa after restart");
    alice.expect_item("bob> after restart");
    bob.type_line("@alice after restart too");
    bob.expect_item("@alice after restart too");
    expect_user_item(&mut alice, "alice", "bob> after restart too");
    relay.stop();
}

#[test]
fn deleting_users() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob) = alice_and_bob(dir.path(), &server, &["-r"]);
    connect(&mut alice, &mut bob, "Alice", "Bob");
    alice.command("/create user alisa", &[]);
    show_active_user(&mut alice, "alisa");
    connect_as(&mut alice, "alisa", &mut bob);
    assert!(dir.path().join("alice_u2_chat.db").exists());

    // Not the active user while there is another.
    alice.command(
        "/_delete user 2 del_smp=off",
        &["cannot delete active user"],
    );
    alice.command("/user alice", &[]);
    show_active_user(&mut alice, "alice (Alice)");
    // With its queues (bob's messages to alisa fail from then on): the answer, and the end
    // of the deletion in the background - either may come first, as in the reference's test.
    alice.type_line("/delete user alisa");
    alice.expect("/delete user alisa");
    alice.expect_unordered(&["ok", "completed deleting user"]);
    alice.command("/users", &["alice (Alice) (active)"]);
    for f in ["alice_u2_chat.db", "alice_u2_agent.db"] {
        assert!(!dir.path().join(f).exists(), "{f} is left");
    }
    assert!(dir.path().join("alice_chat.db").exists());
    bob.type_line("@alisa are you there?");
    // The sent item and the relay's refusal, in either order (delivery runs on its own).
    let two = [bob.next(), bob.next()];
    assert!(
        two.iter().any(|l| l.ends_with(" @alisa are you there?")),
        "{two:?}"
    );
    assert!(
        two.iter()
            .any(|l| l.contains("connection authorization failed")),
        "{two:?}"
    );
    alice.type_line("@bob still here");
    alice.expect_item("@bob still here");
    bob.expect_item("alice> still here");

    // The last user can be deleted: then there is none until one is created.
    alice.command("/_delete user 1 del_smp=off", &["ok"]);
    alice.command("/users", &["no users"]);
    alice.command("/contacts", &["error: active user is required"]);
    alice.command("/create user alisa3", &[]);
    show_active_user(&mut alice, "alisa3");
    alice.command("/users", &["alisa3 (active)"]);
    assert!(dir.path().join("alice_u3_chat.db").exists());
    assert!(!dir.path().join("alice_chat.db").exists());
    // A restart finds the user made last.
    alice.stop();
    let mut alice = Client::start_with(dir.path(), "alice", &server, &["-r"]);
    alice.expect("Current user: alisa3");
    connect_as(&mut alice, "alisa3", &mut bob);
    relay.stop();
}

/// Waits (bounded) until the latest message of `c`'s chat `chat` has its delivery receipt:
/// the peer stored it (nothing is printed when a muted or hidden user gets it).
fn received_by_peer(c: &mut Client, chat: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        c.command(&format!("/_get chat {chat} count=1"), &[]);
        let page: serde_json::Value = serde_json::from_str(&c.next()).expect("a chat's JSON");
        if page["chatItems"][0]["meta"]["itemStatus"]["type"] == "sndRcvd" {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no receipt for {chat}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Hidden and muted users, as the reference's `testUserPrivacy`: a hidden user's messages are
/// kept but not shown while another user is active, it is not listed, it is reached and
/// deleted only with its password; a muted user's events are not shown either.
#[test]
fn hidden_and_muted_users() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob) = alice_and_bob(dir.path(), &server, &["-r"]);
    connect(&mut alice, &mut bob, "Alice", "Bob");
    alice.type_line("/create user alisa");
    alice.expect("/create user alisa");
    show_active_user(&mut alice, "alisa");
    connect_as(&mut alice, "alisa", &mut bob);
    let hidden = [
        "current user alisa:",
        "messages are hidden (use /tail to view)",
        "profile is hidden",
    ];
    alice.command("/hide user my_password", &hidden);
    // Shown while active.
    bob.type_line("@alisa hello again");
    bob.expect_item("@alisa hello again");
    alice.expect_item("bob> hello again");
    alice.command("/user alice", &[]);
    show_active_user(&mut alice, "alice (Alice)");
    // Not shown while another user is active, and not listed.
    bob.type_line("@alisa this won't show");
    bob.expect_item("@alisa this won't show");
    received_by_peer(&mut bob, "@3");
    alice.command("/users", &["alice (Alice) (active)"]);
    // Only with its password.
    alice.command(
        "/user alisa",
        &["user does not exist or incorrect password"],
    );
    alice.command(
        "/user alisa wrong_password",
        &["user does not exist or incorrect password"],
    );
    alice.command("/user alisa my_password", &[]);
    show_active_user(&mut alice, "alisa");
    alice.command(
        "/users",
        &["alice (Alice)", "alisa (active, hidden, muted, unread: 1)"],
    );
    alice.command("/tail @bob 1", &[]);
    alice.expect_item("bob> this won't show");
    alice.command("/unmute user", &["hidden user always muted when inactive"]);
    alice.command("/hide user password", &["user is already hidden"]);
    alice.command(
        "/unhide user wrong_password",
        &["user does not exist or incorrect password"],
    );
    alice.command(
        "/unhide user my_password",
        &[
            "current user alisa:",
            "messages are shown",
            "profile is visible",
        ],
    );
    alice.command("/hide user new_password", &hidden);
    // alice the only user not hidden: she cannot be hidden.
    alice.command("/user alice", &[]);
    show_active_user(&mut alice, "alice (Alice)");
    alice.command(
        "/_hide user 1 \"password2\"",
        &["cannot hide the only not hidden user"],
    );
    // Muting alice herself: her events not shown while alisa is active.
    alice.command(
        "/mute user",
        &[
            "current user alice:",
            "messages are hidden (use /tail to view)",
            "profile is visible",
        ],
    );
    alice.command("/user alisa new_password", &[]);
    show_active_user(&mut alice, "alisa");
    bob.type_line("@alice muted now");
    bob.expect_item("@alice muted now");
    received_by_peer(&mut bob, "@2");
    bob.type_line("@alisa but alisa sees this");
    bob.expect_item("@alisa but alisa sees this");
    alice.expect_item("bob> but alisa sees this");
    alice.command(
        "/_unmute user 1",
        &["user alice:", "messages are shown", "profile is visible"],
    );
    bob.type_line("@alice shown again");
    bob.expect_item("@alice shown again");
    expect_user_item(&mut alice, "alice", "bob> shown again");
    // A hidden user is deleted only with its password.
    alice.command("/user alice", &[]);
    show_active_user(&mut alice, "alice (Alice)");
    alice.command(
        "/_delete user 2 del_smp=on",
        &["user does not exist or incorrect password"],
    );
    alice.command(
        "/_delete user 2 del_smp=on \"wrong_password\"",
        &["user does not exist or incorrect password"],
    );
    alice.type_line("/_delete user 2 del_smp=on \"new_password\"");
    alice.expect("/_delete user 2 del_smp=on \"new_password\"");
    alice.expect_unordered(&["ok", "completed deleting user"]);
    // The message that came while alice was muted was not shown: unread.
    alice.command("/users", &["alice (Alice) (active, unread: 1)"]);
    relay.stop();
}

/// The items `/tail <chat> 10` shows (each without its time), read up to the answer of a
/// `/ttl` typed after it.
fn items_of(c: &mut Client, chat: &str) -> Vec<String> {
    c.type_line(&format!("/tail {chat} 10"));
    c.type_line("/ttl");
    c.expect(&format!("/tail {chat} 10"));
    let mut items = Vec::new();
    loop {
        let l = c.next();
        if l == "/ttl" {
            c.next(); // the expiry line
            return items;
        }
        items.push(l.get(6..).unwrap_or_default().to_string());
    }
}

/// Polls `items_of` until `done` holds (at most 15 s: the expiry runs when the oldest item's
/// time comes).
fn wait_items(c: &mut Client, chat: &str, done: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let items = items_of(c, chat);
        if done(&items) || std::time::Instant::now() > deadline {
            return items;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// `/ttl`, `/_ttl`, as the reference's `testUsersDifferentCIExpirationTTL`: each user's old
/// messages are deleted after its own time, those sent after the setting too.
#[test]
fn message_expiry_per_user() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob) = alice_and_bob(dir.path(), &server, &[]);
    connect(&mut alice, &mut bob, "Alice", "Bob");
    alice.command("/ttl", &["old messages are not being deleted"]);
    alice.type_line("@bob alice 1");
    alice.expect_item("@bob alice 1");
    bob.expect_item("alice> alice 1");
    alice.command("/create user alisa", &[]);
    show_active_user(&mut alice, "alisa");
    connect_as(&mut alice, "alisa", &mut bob);
    alice.type_line("@bob alisa 1");
    alice.expect_item("@bob alisa 1");
    bob.expect_item("alisa> alisa 1");
    alice.command("/ttl week", &["ok"]);
    alice.command(
        "/ttl",
        &["old messages are set to be deleted after: one week"],
    );
    // A chat's own expiry (alisa's bob: a day, over her week).
    alice.command("/ttl @bob day", &["ok"]);
    alice.command("/ttl @nobody day", &["chat error: no contact nobody"]);
    alice.command(
        "/_ttl 1 1",
        &["error: different active user, command user id: 1, active user id: 2"],
    );
    alice.command("/user alice", &[]);
    show_active_user(&mut alice, "alice (Alice)");
    alice.command("/_ttl 1 1", &["ok"]);
    alice.command(
        "/ttl",
        &["old messages are set to be deleted after: 1 second(s)"],
    );
    let left = wait_items(&mut alice, "@bob", |i| {
        !i.iter().any(|t| t.contains("alice 1"))
    });
    assert!(
        !left.iter().any(|t| t.contains("alice 1")),
        "alice's old message expired: {left:?}"
    );
    // A message after the setting expires too, when its own time comes.
    bob.type_line("@alice later");
    bob.expect_item("@alice later");
    alice.expect_item("bob> later");
    let left = wait_items(&mut alice, "@bob", |i| i.is_empty());
    assert!(left.is_empty(), "every item of alice's expired: {left:?}");
    // alisa's week has not passed.
    alice.command("/user alisa", &[]);
    show_active_user(&mut alice, "alisa");
    assert!(
        items_of(&mut alice, "@bob").contains(&"@bob alisa 1".to_string()),
        "alisa's message is kept"
    );
    // None: nothing more is deleted.
    alice.command("/user alice", &[]);
    show_active_user(&mut alice, "alice (Alice)");
    alice.command("/ttl none", &["ok"]);
    alice.command("/ttl", &["old messages are not being deleted"]);
    alice.type_line("@bob kept");
    alice.expect_item("@bob kept");
    bob.expect_item("alice> kept");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(items_of(&mut alice, "@bob"), vec!["@bob kept".to_string()]);
    // The chat's own expiry while the user's is none: its messages go after a second.
    alice.command("/_ttl 1 @2 1", &["ok"]);
    let left = wait_items(&mut alice, "@bob", |i| i.is_empty());
    assert!(left.is_empty(), "the chat's own expiry: {left:?}");
    // Back to the user's (none): kept again.
    alice.command("/_ttl 1 @2 default", &["ok"]);
    alice.type_line("@bob kept again");
    alice.expect_item("@bob kept again");
    bob.expect_item("alice> kept again");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(
        items_of(&mut alice, "@bob"),
        vec!["@bob kept again".to_string()]
    );
    relay.stop();
}

/// A database of an earlier release (the users registry with its v2 undone) is upgraded at
/// start after a copy of it: `<file>.bak` beside it by default, in `--backup-directory`, none
/// with `--disable-backup`; the user's contacts and messages go on.
#[test]
fn a_database_is_backed_up_before_its_upgrade() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob) = alice_and_bob(dir.path(), &server, &[]);
    connect(&mut alice, &mut bob, "Alice", "Bob");
    let users_db = dir.path().join("alice_users.db");
    let version = |path: &std::path::Path| -> i64 {
        let db = rusqlite::Connection::open(path).expect("open");
        db.query_row("SELECT max(version) FROM migrations", [], |r| r.get(0))
            .expect("version")
    };
    // The registry as version 1 made it (v2: privacy, v3: app settings undone).
    let undo_to_v1 = || {
        let db = rusqlite::Connection::open(&users_db).expect("open");
        db.execute_batch(
            "DROP TABLE app_settings;
             ALTER TABLE users DROP COLUMN show_ntfs;
             ALTER TABLE users DROP COLUMN view_pwd_hash;
             ALTER TABLE users DROP COLUMN view_pwd_salt;
             DELETE FROM migrations WHERE version >= 2;",
        )
        .expect("v1 again");
    };
    let backups = dir.path().join("backups");
    std::fs::create_dir(&backups).expect("dir");
    let backups_arg = backups.to_string_lossy().into_owned();
    let beside = dir.path().join("alice_users.db.bak");
    let runs: [(&[&str], std::path::PathBuf); 3] = [
        (&[], beside.clone()),
        (
            &["--backup-directory", &backups_arg],
            backups.join("alice_users.db.bak"),
        ),
        (&["--disable-backup"], std::path::PathBuf::new()),
    ];
    for (i, (args, bak)) in runs.iter().enumerate() {
        alice.stop();
        undo_to_v1();
        let _ = std::fs::remove_file(&beside);
        alice = Client::start_with(dir.path(), "alice", &server, args);
        alice.expect("Current user: alice (Alice)");
        alice.expect("1 contacts connected (use /cs for the list)");
        assert_eq!(version(&users_db), 3);
        if bak.as_os_str().is_empty() {
            assert!(!beside.exists());
        } else {
            assert!(bak.exists(), "no copy at {}", bak.display());
            assert_eq!(
                version(bak),
                1,
                "the copy is the database before its upgrade"
            );
        }
        let text = format!("after upgrade {i}");
        bob.type_line(&format!("@alice {text}"));
        bob.expect_item(&format!("@alice {text}"));
        alice.expect_item(&format!("bob> {text}"));
    }
    relay.stop();
}

/// An invitation not used yet made incognito and back (the reference's
/// `testSetConnectionIncognito`, `testConnectionIncognitoUnchangedErrors`), then chats that do
/// not connect yet moved to another user (`testChangePCCUser` and the app's `/_set contact
/// user`, `/_set group user`): made again in the other user's database, gone from this one's.
#[test]
fn invitations_and_prepared_chats_change_incognito_and_user() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob) = alice_and_bob(dir.path(), &server, &[]);
    alice.type_line("/c");
    alice.expect("/c");
    let (short, _) = common::invitation_links(&mut alice);
    for (line, answer) in [
        ("/_set incognito :1 off", "incognito mode change prohibited"),
        ("/_set incognito :1 on", "connection 1 changed to incognito"),
        ("/_set incognito :1 on", "incognito mode change prohibited"),
        (
            "/_set incognito :1 off",
            "connection 1 changed to non incognito",
        ),
        ("/_set incognito :1 on", "connection 1 changed to incognito"),
        (
            "/_set incognito :9 on",
            "chat error: no connection in progress :9",
        ),
    ] {
        alice.command(line, &[answer]);
    }
    // Bob joins by the short link (its data changed each time): alice connects as a random
    // profile.
    bob.type_line(&format!("/c {short}"));
    bob.expect(&format!("/c {short}"));
    bob.expect("confirmation sent!");
    let line = alice.next();
    let random = line
        .strip_prefix(
            "bob (Bob): contact is connected, your incognito profile for this contact is ",
        )
        .unwrap_or_else(|| panic!("{line}"))
        .to_string();
    alice.expect("use /i bob to print out this incognito profile again");
    bob.expect(&format!("{random}: contact is connected"));
    // Used: no longer a connection in progress.
    alice.command(
        "/_set incognito :1 off",
        &["chat error: no connection in progress :1"],
    );

    // Two more users; alice is active again.
    for name in ["alisa", "alisa2"] {
        alice.command(&format!("/create user {name}"), &[]);
        show_active_user(&mut alice, name);
    }
    alice.command("/user alice", &[]);
    show_active_user(&mut alice, "alice (Alice)");

    // An invitation moves to alisa: a new link, the old one works no more.
    alice.type_line("/c");
    alice.expect("/c");
    let (old_short, _) = common::invitation_links(&mut alice);
    let conn = 2; // the invitation above was 1 (bob's contact's connection now)
    alice.command(
        &format!("/_set conn user :{conn} 9"),
        &["user does not exist or incorrect password"],
    );
    alice.type_line(&format!("/_set conn user :{conn} 2"));
    alice.expect(&format!("/_set conn user :{conn} 2"));
    alice.expect(&format!(
        "connection {conn} changed from user alice to user alisa, new link:"
    ));
    alice.expect("");
    let new_short = alice.next();
    assert!(new_short.starts_with("https://127.0.0.1/i#"), "{new_short}");
    assert_ne!(new_short, old_short);
    alice.expect("");
    alice.command(
        &format!("/_delete :{conn}"),
        &[&format!("chat error: no connection in progress :{conn}")],
    );
    bob.type_line(&format!("/c {old_short}"));
    bob.expect(&format!("/c {old_short}"));
    let line = bob.next();
    assert!(line.starts_with("chat error: "), "{line}");
    bob.type_line(&format!("/c {new_short}"));
    bob.expect(&format!("/c {new_short}"));
    bob.expect("confirmation sent!");
    bob.expect("alisa: contact is connected");
    alice.expect("[user: alisa] bob (Bob): contact is connected");

    // A prepared contact (bob's address, with its welcome message) moves to alisa2, where
    // its name is free: it connects from there, the welcome message and the link with it.
    bob.type_line("/ad");
    bob.expect("/ad");
    let (short, full) = common::address_links(&mut bob, "Your new chat address is created!");
    let data = r#"{"profile":{"displayName":"bob","fullName":"Bob"},"message":{"type":"text","text":"Hi, it's bob"},"business":false}"#;
    let cmd = format!("/_prepare contact 1 {full} {short} {data}");
    alice.command(&cmd, &["bob_1: contact is prepared"]);
    alice.command(
        "/_set contact user @3 3",
        &["contact bob_1 changed from user alice to user alisa2, as bob"],
    );
    alice.command("/_set contact user @3 3", &["chat error: no contact @3"]);
    alice.command(
        "/_set contact user @2 3",
        &["bad chat command: contact doesn't have link to connect"],
    );
    alice.command("/user alisa2", &[]);
    show_active_user(&mut alice, "alisa2");
    alice.command("/tail @bob 1", &[]);
    alice.expect_item("bob> Hi, it's bob");
    // Ids are unique across users: alisa2 (user 3) numbers hers from 2,000,000,001.
    alice.type_line("/_connect contact @2000000002 text hello from alisa2");
    alice.expect("/_connect contact @2000000002 text hello from alisa2");
    alice.expect_unordered(&["bob: connection started", "~ @bob hello from alisa2"]);
    bob.expect("alisa2 wants to connect to you!");
    bob.expect_item("alisa2> hello from alisa2");
    bob.skip_to("to reject: /rc alisa2 (the sender will NOT be notified)");
    bob.command(
        "/ac alisa2",
        &["alisa2: accepting contact request, you can send messages to contact"],
    );
    bob.expect("alisa2: contact is connected");
    alice.expect("bob (Bob): contact is connected");

    // A prepared group (bob's group link, its welcome message) moves from alisa2 to alisa
    // and is joined from there.
    bob.command(
        "/g club",
        &[
            "group #club is created",
            "to add members use /a club <name> or /create link #club",
        ],
    );
    bob.command(
        "/set welcome club Welcome to the club!",
        &["welcome message changed to:", "Welcome to the club!"],
    );
    bob.command("/create link #club", &["Group link is created!", ""]);
    let short = bob.next();
    bob.skip_to("to delete it: /delete link #club (joined members will remain connected to you)");
    let line = bob.next();
    let full = line
        .strip_prefix("The group link for old clients: ")
        .unwrap_or_else(|| panic!("{line}"))
        .to_string();
    let data = r#"{"groupProfile":{"displayName":"club","fullName":"","description":"Welcome to the club!"}}"#;
    alice.command(
        &format!("/_prepare group 3 {full} {short} {data}"),
        &["#club: group is prepared"],
    );
    alice.command(
        "/_set group user #2000000001 2",
        &["group #club changed from user alisa2 to user alisa"],
    );
    alice.command("/_set group user #2000000001 2", &["no group #2000000001"]);
    alice.command("/user alisa", &[]);
    show_active_user(&mut alice, "alisa");
    alice.command("/tail #club 1", &[]);
    alice.expect_item("#club club_1> Welcome to the club!");
    alice.type_line("/_connect group #1000000001");
    alice.expect("/_connect group #1000000001");
    alice.expect("#club: connection started");
    // (bob knows alisa as a contact already: the member is alisa_1 to him.)
    bob.expect("alisa_1: accepting request to join group #club...");
    bob.expect("#club: alisa_1 joined the group");
    alice.expect("#club: joining the group...");
    alice.expect("#club: you joined the group");
    // The welcome message is not sent again: the next item is bob's message (alisa has a
    // contact bob already: the host is bob_1 here).
    bob.type_line("#club hi alisa");
    bob.expect_item("#club hi alisa");
    alice.expect_item("#club bob_1> hi alisa");
    relay.stop();
}

/// `/db export` and `/_db import` (the reference's archives): both users' databases and the
/// files folder in one zip, made while the chat is stopped; read back, the chat is as it was
/// then (a note made since is gone, the current databases moved aside), after a restart, and
/// the contacts still talk. Then `/_db delete`: the databases gone, a new start afresh.
#[test]
fn an_archive_exported_and_imported() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob) = alice_and_bob(dir.path(), &server, &[]);
    connect(&mut alice, &mut bob, "Alice", "Bob");
    alice.type_line("@bob before the backup");
    alice.expect_item("@bob before the backup");
    bob.expect_item("alice> before the backup");
    alice.command("/create user alisa", &[]);
    show_active_user(&mut alice, "alisa");
    alice.command("/user alice", &[]);
    show_active_user(&mut alice, "alice (Alice)");

    let archive = dir.path().join("backup.zip");
    let export = format!(r#"/_db export {{"archivePath": "{}"}}"#, archive.display());
    alice.command(&export, &["error: chat not stopped"]);
    alice.command("/_stop", &["chat stopped"]);
    alice.command(&export, &["ok", &format!("archive: {}", archive.display())]);
    // Not over an existing file.
    alice.type_line(&export);
    alice.expect(&export);
    let line = alice.next();
    assert!(
        line.starts_with("error: ") && line.contains("exists"),
        "{line}"
    );
    alice.command("/_start", &["chat started"]);
    alice.type_line("/* made after the backup");
    alice.expect_item("* made after the backup");

    let import = format!(r#"/_db import {{"archivePath": "{}"}}"#, archive.display());
    alice.command(&import, &["error: chat not stopped"]);
    alice.command("/_stop", &["chat stopped"]);
    alice.command(&import, &["ok"]);
    alice.command(
        "/contacts",
        &["error: chat store changed, please restart chat"],
    );
    alice.stop();
    let aside = std::fs::read_dir(dir.path())
        .expect("dir")
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("alice_chat.db.before-import-")
        })
        .count();
    assert_eq!(aside, 1, "the databases replaced are kept");

    let mut alice = Client::start(dir.path(), "alice", &server);
    alice.skip_to("Current user: alice (Alice)");
    alice.type_line("/users");
    alice.skip_to("/users");
    alice.expect("alice (Alice) (active)");
    alice.expect("alisa");
    alice.type_line("/tail *1");
    alice.expect("/tail *1");
    alice.type_line("@bob after the restore");
    alice.expect_item("@bob after the restore");
    bob.expect_item("alice> after the restore");
    bob.type_line("@alice welcome back");
    bob.expect_item("@alice welcome back");
    alice.expect_item("bob> welcome back");

    // `/_db delete`, as the reference's: the chat stopped first; every database of the
    // prefix goes (the files folder's files stay: they are the user's), nothing else runs
    // but an archive's import until a restart.
    alice.command("/_db delete", &["error: chat not stopped"]);
    alice.command("/_stop", &["chat stopped"]);
    // A backup of now (an older one would take the ratchets back: the contact's messages
    // since would not decrypt).
    let latest = dir.path().join("latest.zip");
    let export = format!(r#"/_db export {{"archivePath": "{}"}}"#, latest.display());
    alice.command(&export, &["ok", &format!("archive: {}", latest.display())]);
    alice.command("/_db delete", &["ok"]);
    alice.command(
        "/_start",
        &["error: chat store changed, please restart chat"],
    );
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("alice_") && !n.contains(".before-import-"))
        .collect();
    assert!(left.is_empty(), "databases left: {left:?}");
    assert!(archive.is_file(), "the archive, in the files folder, stays");
    // Restored from the archive (as the reference's test does), it works after a restart.
    let import = format!(r#"/_db import {{"archivePath": "{}"}}"#, latest.display());
    alice.command(&import, &["ok"]);
    alice.stop();
    let mut alice = Client::start(dir.path(), "alice", &server);
    alice.skip_to("Current user: alice (Alice)");
    alice.type_line("/contacts");
    alice.skip_to("/contacts");
    alice.expect("bob (Bob)");
    alice.type_line("@bob restored again");
    alice.expect_item("@bob restored again");
    bob.expect_item("alice> restored again");
    relay.stop();
}
