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

fn command(c: &mut Client, line: &str, answer: &[&str]) {
    c.type_line(line);
    c.expect(line);
    for l in answer {
        c.expect(l);
    }
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

    command(&mut alice, "/user", &[]);
    show_active_user(&mut alice, "alisa");
    command(&mut alice, "/users", &["alice (Alice)", "alisa (active)"]);
    // The first user receives while not active.
    bob.type_line("@alice hey alice");
    bob.expect_item("@alice hey alice");
    expect_user_item(&mut alice, "alice", "bob> hey alice");

    command(&mut alice, "/user alice", &[]);
    show_active_user(&mut alice, "alice (Alice)");
    command(&mut alice, "/users", &["alice (Alice) (active)", "alisa"]);
    alice.type_line("@bob hi bob");
    alice.expect_item("@bob hi bob");
    bob.expect_item("alice> hi bob");
    bob.type_line("@alisa hey alisa");
    bob.expect_item("@alisa hey alisa");
    expect_user_item(&mut alice, "alisa", "bob> hey alisa");
    // An API command for a user that is not the active one is refused.
    command(
        &mut alice,
        "/_contacts 2",
        &["error: different active user, command user id: 2, active user id: 1"],
    );
    command(
        &mut alice,
        "/user nobody",
        &["user does not exist or incorrect password"],
    );
    command(
        &mut alice,
        "/create user alisa",
        &["user with the name alisa already exists"],
    );
    command(
        &mut alice,
        "/p alisa",
        &["user with the name alisa already exists"],
    );
    command(&mut alice, "/_user 2", &[]);
    show_active_user(&mut alice, "alisa");
    command(&mut alice, "/contacts", &["bob (Bob)"]);

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
    command(&mut alice, "/create user alisa", &[]);
    show_active_user(&mut alice, "alisa");
    connect_as(&mut alice, "alisa", &mut bob);
    assert!(dir.path().join("alice_u2_chat.db").exists());

    // Not the active user while there is another.
    command(
        &mut alice,
        "/_delete user 2 del_smp=off",
        &["cannot delete active user"],
    );
    command(&mut alice, "/user alice", &[]);
    show_active_user(&mut alice, "alice (Alice)");
    // With its queues (bob's messages to alisa fail from then on): the answer, and the end
    // of the deletion in the background - either may come first, as in the reference's test.
    alice.type_line("/delete user alisa");
    alice.expect("/delete user alisa");
    alice.expect_unordered(&["ok", "completed deleting user"]);
    command(&mut alice, "/users", &["alice (Alice) (active)"]);
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
    command(&mut alice, "/_delete user 1 del_smp=off", &["ok"]);
    command(&mut alice, "/users", &["no users"]);
    command(&mut alice, "/contacts", &["error: active user is required"]);
    command(&mut alice, "/create user alisa3", &[]);
    show_active_user(&mut alice, "alisa3");
    command(&mut alice, "/users", &["alisa3 (active)"]);
    assert!(dir.path().join("alice_u3_chat.db").exists());
    assert!(!dir.path().join("alice_chat.db").exists());
    // A restart finds the user made last.
    alice.stop();
    let mut alice = Client::start_with(dir.path(), "alice", &server, &["-r"]);
    alice.expect("Current user: alisa3");
    connect_as(&mut alice, "alisa3", &mut bob);
    relay.stop();
}
