//! Forwarding messages, as the reference's `ChatTests.Forward` (contact to contact, to and
//! from notes, group to contact and contact to group, the origin kept, a received forwarded
//! message, no edits, deletion for everyone): real `simplex-chat` processes and a relay on
//! 127.0.0.1.

mod common;

use common::groups::{send, team};
use common::{connect, relay, Client};

fn command(c: &mut Client, line: &str) {
    c.type_line(line);
    c.expect(line);
}

/// A forwarded item: `head` then the text indented, as both lines of it.
fn expect_forwarded(c: &mut Client, head: &str, text: &str) {
    c.expect_item(head);
    c.expect(&format!("      {text}"));
}

/// The id of the latest item of a chat, from `/_get chat` (printed as its JSON).
fn last_item_id(c: &mut Client, chat: &str) -> i64 {
    command(c, &format!("/_get chat {chat} count=1"));
    let page: serde_json::Value = serde_json::from_str(&c.next()).expect("a chat's JSON");
    page["chatItems"][0]["meta"]["itemId"]
        .as_i64()
        .expect("an item id")
}

#[test]
fn forwarding_between_contacts_and_notes() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob, mut cath) = common::groups::three(dir.path(), &server);
    connect(&mut bob, &mut cath, "Bob", "Catherine");

    alice.type_line("@bob hi");
    alice.expect_item("@bob hi");
    bob.expect_item("alice> hi");
    let hi = last_item_id(&mut alice, "@2");
    bob.type_line("@alice hey");
    bob.expect_item("@alice hey");
    alice.expect_item("bob> hey");

    // By id: ours, so `<- you @bob`.
    command(&mut alice, &format!("/_forward @3 @2 {hi}"));
    expect_forwarded(&mut alice, "@cath <- you @bob", "hi");
    expect_forwarded(&mut cath, "alice> -> forwarded", "hi");
    // By text: bob's.
    alice.type_line("@cath <- @bob hey");
    expect_forwarded(&mut alice, "@cath <- @bob", "hey");
    expect_forwarded(&mut cath, "alice> -> forwarded", "hey");
    command(&mut alice, "/tail @cath 2");
    expect_forwarded(&mut alice, "@cath <- you @bob", "hi");
    expect_forwarded(&mut alice, "@cath <- @bob", "hey");
    command(&mut cath, "/tail @alice 2");
    expect_forwarded(&mut cath, "alice> -> forwarded", "hi");
    expect_forwarded(&mut cath, "alice> -> forwarded", "hey");
    // Its information names the item it came from, as the reference's.
    let hey = last_item_id(&mut alice, "@2");
    command(&mut alice, "/item info @cath hey");
    assert!(alice.next().starts_with("sent at: "));
    alice.expect("message history:");
    assert!(alice.next().ends_with(": hey"));
    alice.expect(&format!("forwarded from: @bob, chat item id: {hey}"));
    // Received: the time it came too; its origin is not known to cath.
    command(&mut cath, "/item info @alice hey");
    assert!(cath.next().starts_with("sent at: "));
    assert!(cath.next().starts_with("received at: "));
    cath.expect("message history:");
    assert!(cath.next().ends_with(": hey"));
    command(&mut cath, "/item info @alice nothing like this");
    let refused = cath.next();
    assert!(refused.contains("nothing like this"), "{refused}");

    // To the notes and on from them: the first origin is kept.
    alice.type_line("* <- @bob hi");
    expect_forwarded(&mut alice, "* <- you @bob", "hi");
    alice.type_line("@cath <- * hi");
    expect_forwarded(&mut alice, "@cath <- you @bob", "hi");
    expect_forwarded(&mut cath, "alice> -> forwarded", "hi");
    // A note of one's own goes as a plain message.
    alice.type_line("/* plain note");
    alice.expect_item("* plain note");
    alice.type_line("@cath <- * plain");
    alice.expect_item("@cath plain note");
    cath.expect_item("alice> plain note");

    // A received forwarded message forwarded again gets the chat it comes from.
    cath.type_line("@bob <- @alice plain");
    expect_forwarded(&mut cath, "@bob <- @alice", "plain note");
    expect_forwarded(&mut bob, "cath> -> forwarded", "plain note");
    cath.type_line("* <- @alice hey");
    expect_forwarded(&mut cath, "* <- @alice", "hey");

    // Forwarded items are not edited; they are deleted for everyone as any message.
    command(&mut alice, "! @cath (hey) edited");
    alice.expect("cannot update this item");
    command(&mut alice, "\\ @cath hey");
    alice.expect("message marked deleted");
    cath.expect_item("alice> [marked deleted] hey");
    // No such message: nothing sent.
    alice.type_line("@cath <- @bob nothing like this");
    alice.expect("@cath <- @bob nothing like this");
    let refused = alice.next();
    assert!(refused.contains("nothing like this"), "{refused}");
    relay.stop();
}

#[test]
fn forwarding_with_groups() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob, mut cath) = team(dir.path(), &server);
    send(&mut alice, "hi", &mut [&mut bob, &mut cath]);
    send(&mut bob, "hey", &mut [&mut alice, &mut cath]);

    alice.type_line("@cath <- #team hi");
    expect_forwarded(&mut alice, "@cath <- you #team", "hi");
    expect_forwarded(&mut cath, "alice> -> forwarded", "hi");
    alice.type_line("@cath <- #team @bob hey");
    expect_forwarded(&mut alice, "@cath <- #team", "hey");
    expect_forwarded(&mut cath, "alice> -> forwarded", "hey");
    // To the group, from a contact.
    alice.type_line("#team <- @cath hey");
    expect_forwarded(&mut alice, "#team <- #team", "hey");
    expect_forwarded(&mut bob, "#team alice> -> forwarded", "hey");
    expect_forwarded(&mut cath, "#team alice> -> forwarded", "hey");
    command(&mut alice, "/tail #team 1");
    expect_forwarded(&mut alice, "#team <- #team", "hey");
    relay.stop();
}

/// A message with a file forwarded: the file goes again as a new upload (from where it was
/// saved), marked forwarded; one not received cannot be forwarded. A file sent while
/// disappearing messages are on goes with their time.
#[test]
fn forwarding_a_file() {
    let (rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (_xftp, xftp_address) = common::xftp_relay(&rt, dir.path());
    let args = ["--xftp-server", xftp_address.as_str()];
    let (mut alice, mut bob, mut cath) = common::groups::three_with(dir.path(), &server, &args);
    let src = dir.path().join("src");
    let out = dir.path().join("out");
    std::fs::create_dir_all(&src).expect("src");
    std::fs::create_dir_all(&out).expect("out");
    let data = common::pseudo_random(200_000, 3);
    std::fs::write(src.join("f.bin"), &data).expect("write");
    let path = src.join("f.bin").to_string_lossy().into_owned();

    bob.type_line(&format!("/f @alice {path}"));
    bob.expect_item(&format!("/f @alice {path}"));
    bob.expect("use /fc 1 to cancel sending");
    alice.expect_item("bob> sends file f.bin (195.3 KiB / 200000 bytes)");
    alice.expect("use /fr 1 [<dir>/ | <path>] to receive it");
    bob.expect("completed uploading file 1 (f.bin) for alice");
    let item = last_item_id(&mut alice, "@2");
    // Not received yet: not forwarded.
    command(&mut alice, &format!("/_forward @3 @2 {item}"));
    alice.expect("chat error: file 1 (f.bin) is not received: it cannot be forwarded");
    common::groups::receive(&mut alice, 1, "f.bin", "bob", &out, "f.bin");

    // Disappearing messages on with cath: the file goes with their time.
    let set = r#"/_set prefs @3 {"timedMessages": {"allow": "yes", "ttl": 600}}"#;
    command(&mut alice, set);
    alice.expect("you updated preferences for cath:");
    alice.next();
    cath.expect("alice updated preferences for you:");
    cath.next();
    command(&mut cath, "/set disappear @alice yes");
    cath.expect("you updated preferences for alice:");
    cath.next();
    alice.expect("cath updated preferences for you:");
    alice.next();

    let saved = out.join("f.bin").to_string_lossy().into_owned();
    command(&mut alice, &format!("/_forward @3 @2 {item}"));
    alice.expect_item(&format!("/f @cath {saved}"));
    alice.expect("use /fc 2 to cancel sending");
    cath.expect_item("alice> sends file f.bin (195.3 KiB / 200000 bytes)");
    cath.expect("use /fr 1 [<dir>/ | <path>] to receive it");
    alice.expect("completed uploading file 2 (f.bin) for cath");
    let cath_out = dir.path().join("cath_out");
    std::fs::create_dir_all(&cath_out).expect("out");
    common::groups::receive(&mut cath, 1, "f.bin", "alice", &cath_out, "f.bin");
    assert_eq!(std::fs::read(cath_out.join("f.bin")).expect("cath's"), data);
    // cath's copy is marked forwarded (the API's itemForwarded); both disappear in 10 minutes.
    command(&mut cath, "/_get chat @2 count=1");
    let page: serde_json::Value = serde_json::from_str(&cath.next()).expect("a chat's JSON");
    let meta = &page["chatItems"][0]["meta"];
    assert_eq!(meta["itemForwarded"]["type"], "unknown");
    assert_eq!(meta["itemTimed"]["ttl"], 600);
    command(&mut alice, "/_get chat @3 count=1");
    let page: serde_json::Value = serde_json::from_str(&alice.next()).expect("a chat's JSON");
    let meta = &page["chatItems"][0]["meta"];
    assert_eq!(meta["itemForwarded"]["type"], "contact");
    assert_eq!(meta["itemTimed"]["ttl"], 600);
    assert!(meta["itemTimed"]["deleteAt"].is_string(), "{meta}");
    relay.stop();
}
