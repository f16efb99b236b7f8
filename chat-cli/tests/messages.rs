//! Sections 3, 4 and 5 of `testdata/chat/cli_transcripts.md` with real `simplex-chat`
//! processes: quoted replies, edits and deletions, with the API forms (`/_send`,
//! `/_update item`, `/_delete item`) and the typed ones (`>`, `>>`, `!`, `\`). Item ids are
//! the transcripts' own: one sequence per database, and a new chat starts with the
//! reference's seven informational items, so the first message is 8 on both sides.

mod common;

use common::{alice_and_bob, connect, relay, Client};

fn pair(dir: &std::path::Path, server: &str) -> (Client, Client) {
    let (mut alice, mut bob) = alice_and_bob(dir, server, &[]);
    connect(&mut alice, &mut bob, "Alice", "Bob");
    (alice, bob)
}

#[test]
fn quoted_replies() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob) = pair(dir.path(), &server);
    alice.type_line("/_send @2 text hello! how are you?");
    alice.expect("/_send @2 text hello! how are you?");
    alice.expect_item("@bob hello! how are you?");
    bob.expect_item("alice> hello! how are you?");
    bob.type_line("@alice hi!");
    bob.expect_item("@alice hi!");
    alice.expect_item("bob> hi!");
    bob.type_line("> @alice (hello) all good - you?");
    bob.expect_item("@alice > hello! how are you?");
    bob.expect("      all good - you?");
    alice.expect_item("bob> > hello! how are you?");
    alice.expect("      all good - you?");
    bob.type_line(">> @alice (all good) will tell more");
    bob.expect_item("@alice >> all good - you?");
    bob.expect("      will tell more");
    alice.expect_item("bob> >> all good - you?");
    alice.expect("      will tell more");
    relay.stop();
}

#[test]
fn edits() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob) = pair(dir.path(), &server);
    alice.type_line("@bob hello 🙂");
    alice.expect_item("@bob hello 🙂");
    bob.expect_item("alice> hello 🙂");
    bob.type_line("> @alice (hello) hi alice");
    bob.expect_item("@alice > hello 🙂");
    bob.expect("      hi alice");
    alice.expect_item("bob> > hello 🙂");
    alice.expect("      hi alice");
    alice.type_line("/_update item @2 8 text hello 🙂");
    alice.expect("/_update item @2 8 text hello 🙂");
    alice.expect("message didn't change");
    alice.type_line("/_update item @2 8 text hey 👋");
    alice.expect("/_update item @2 8 text hey 👋");
    alice.expect_item("@bob [edited] hey 👋");
    bob.expect_item("alice> [edited] hey 👋");
    bob.type_line("> @alice (hey) hey alice");
    bob.expect_item("@alice > hey 👋");
    bob.expect("      hey alice");
    alice.expect_item("bob> > hey 👋");
    alice.expect("      hey alice");
    alice.type_line("/_update item @2 8 text greetings 🤝");
    alice.expect("/_update item @2 8 text greetings 🤝");
    alice.expect_item("@bob [edited] greetings 🤝");
    bob.expect_item("alice> [edited] greetings 🤝");
    // Every version is kept, newest first (the unchanged edit is none), as the reference's
    // `/item info` and `/_get item info` show them.
    let history = ["greetings 🤝", "hey 👋", "hello 🙂"];
    for (c, cmd) in [
        (&mut alice, "/item info @bob greet"),
        (&mut bob, "/_get item info @2 8"),
    ] {
        c.type_line(cmd);
        c.expect(cmd);
        assert!(c.next().starts_with("sent at: "));
        if c.name == "bob" {
            assert!(c.next().starts_with("received at: "));
        }
        c.expect("message history:");
        for text in history {
            let line = c.next();
            assert!(line.ends_with(&format!(": {text}")), "{line}");
        }
    }
    // A message never edited: its one version.
    bob.type_line("/item info @alice hey alice");
    bob.expect("/item info @alice hey alice");
    assert!(bob.next().starts_with("sent at: "));
    bob.expect("message history:");
    assert!(bob.next().ends_with(": hey alice"));
    alice.type_line("/_update item @2 9 text updating bob's message");
    alice.expect("/_update item @2 9 text updating bob's message");
    alice.expect("cannot update this item");
    bob.type_line("/_update item @2 9 text hey Alice");
    bob.expect("/_update item @2 9 text hey Alice");
    bob.expect_item("@alice [edited] > hello 🙂");
    bob.expect("      hey Alice");
    alice.expect_item("bob> [edited] > hello 🙂");
    alice.expect("      hey Alice");
    bob.type_line("/_update item @2 10 text greetings Alice");
    bob.expect("/_update item @2 10 text greetings Alice");
    bob.expect_item("@alice [edited] > hey 👋");
    bob.expect("      greetings Alice");
    alice.expect_item("bob> [edited] > hey 👋");
    alice.expect("      greetings Alice");

    // The typed forms, echoed.
    alice.type_line("! @bob (greetings) hi again");
    alice.expect("! @bob (greetings) hi again");
    alice.expect_item("@bob [edited] hi again");
    bob.expect_item("alice> [edited] hi again");
    alice.type_line("\\ @bob hi again");
    alice.expect("\\ @bob hi again");
    alice.expect("message marked deleted");
    bob.expect_item("alice> [marked deleted] hi again");
    relay.stop();
}

#[test]
fn deletions() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob) = pair(dir.path(), &server);
    alice.type_line("@bob hello 🙂");
    alice.expect_item("@bob hello 🙂");
    bob.expect_item("alice> hello 🙂");
    bob.type_line("> @alice (hello 🙂) hey alic");
    bob.expect_item("@alice > hello 🙂");
    bob.expect("      hey alic");
    alice.expect_item("bob> > hello 🙂");
    alice.expect("      hey alic");
    alice.type_line("/_delete item @2 8 internal");
    alice.expect("/_delete item @2 8 internal");
    alice.expect("message deleted");
    alice.type_line("/_delete item @2 9 internal");
    alice.expect("/_delete item @2 9 internal");
    alice.expect("message deleted");
    bob.type_line("/_update item @2 9 text hey alice");
    bob.expect("/_update item @2 9 text hey alice");
    bob.expect_item("@alice [edited] > hello 🙂");
    bob.expect("      hey alice");
    // Alice had deleted her copy: the edit comes as a new item, without the quote.
    alice.expect_item("bob> [edited] hey alice");
    bob.type_line("/_delete item @2 9 broadcast");
    bob.expect("/_delete item @2 9 broadcast");
    bob.expect("message marked deleted");
    alice.expect_item("bob> [marked deleted] hey alice");
    alice.type_line("/_delete item @2 10 internal");
    alice.expect("/_delete item @2 10 internal");
    alice.expect("message deleted");
    bob.type_line("> @alice (hello 🙂) do you receive my messages?");
    bob.expect_item("@alice > hello 🙂");
    bob.expect("      do you receive my messages?");
    alice.expect_item("bob> > hello 🙂");
    alice.expect("      do you receive my messages?");
    alice.type_line("/_delete item @2 11 broadcast");
    alice.expect("/_delete item @2 11 broadcast");
    alice.expect("cannot delete this item");
    bob.type_line("@alice how are you?");
    bob.expect_item("@alice how are you?");
    alice.expect_item("bob> how are you?");
    alice.type_line("/_delete item @2 12 internal");
    alice.expect("/_delete item @2 12 internal");
    alice.expect("message deleted");
    bob.type_line("/_delete item @2 11 broadcast");
    bob.expect("/_delete item @2 11 broadcast");
    bob.expect("message marked deleted");
    alice.expect("bob> [deleted - original message not found]");
    relay.stop();
}

/// Section 6: private notes.
#[test]
fn private_notes() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let mut alice = Client::start(dir.path(), "alice", &server);
    alice.create_profile("alice", "Alice");
    alice.type_line("/contacts");
    alice.expect("/contacts");
    alice.type_line("/* keep in mind");
    alice.expect_item("* keep in mind");
    alice.type_line("/tail");
    alice.expect("/tail");
    alice.expect_item("* keep in mind");
    alice.type_line("/chats");
    alice.expect("/chats");
    alice.expect_item("* keep in mind");
    alice.type_line("/? keep");
    alice.expect("/? keep");
    alice.expect_item("* keep in mind");
    alice.type_line("/_read chat *1");
    alice.expect("/_read chat *1");
    alice.expect("ok");
    alice.type_line("/_unread chat *1 on");
    alice.expect("/_unread chat *1 on");
    alice.expect("ok");
    alice.type_line("/_delete item *1 1 internal");
    alice.expect("/_delete item *1 1 internal");
    alice.expect("message deleted");
    alice.type_line("/tail");
    alice.expect("/tail");
    alice.type_line("/chats");
    alice.expect("/chats");
    alice.type_line("/* ahoy!");
    alice.expect_item("* ahoy!");
    alice.type_line("/_update item *1 2 text Greetings.");
    alice.expect("/_update item *1 2 text Greetings.");
    alice.type_line("/tail *");
    alice.expect("/tail *");
    alice.expect_item("* Greetings.");
    alice.type_line("/clear *");
    alice.expect("/clear *");
    alice.expect("notes: all messages are removed");
    alice.type_line("/tail *");
    alice.expect("/tail *");
    alice.type_line("/q");
    alice.expect("/q");
    relay.stop();
}

/// Files in the notes, as the reference's `testFiles` and `testCreateMultiFiles`: a file in the
/// files folder is kept where it is, one elsewhere is copied in (never over a file); `/fs` and
/// `/fc` are refused for them; deleting the note removes its file, `/clear *` the rest, and
/// the user's own file outside the folder stays.
#[test]
fn files_in_the_notes() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let files = dir.path().join("app_files");
    std::fs::create_dir_all(&files).expect("files folder");
    let folder = files.to_string_lossy().into_owned();
    let mut alice = Client::start_with(dir.path(), "alice", &server, &["--files-folder", &folder]);
    alice.create_profile("alice", "Alice");
    std::fs::write(files.join("test.jpg"), b"not really a jpeg").expect("write");
    let outside = dir.path().join("report.pdf");
    std::fs::write(&outside, b"%PDF").expect("write");
    // Something of the same name already in the folder: the copy takes another.
    std::fs::write(files.join("report.pdf"), b"older").expect("write");

    let cmd = format!(
        r#"/_create *1 json [{{"msgContent": {{"type": "text", "text": "message without file"}}}}, {{"filePath": "test.jpg", "msgContent": {{"type": "text", "text": "hi myself"}}}}, {{"fileSource": {{"filePath": "{}"}}, "msgContent": {{"type": "file", "text": ""}}}}]"#,
        outside.to_string_lossy()
    );
    alice.type_line(&cmd);
    alice.expect(&cmd);
    alice.expect_item("* message without file");
    alice.expect_item("* hi myself");
    alice.expect_item("* file 1 (test.jpg)");
    alice.expect_item("* file 2 (report_1.pdf)");
    assert_eq!(
        std::fs::read(files.join("report_1.pdf")).expect("copy"),
        b"%PDF"
    );
    assert_eq!(
        std::fs::read(files.join("report.pdf")).expect("older"),
        b"older"
    );

    let page = alice.page("*1", 3);
    let file = &page["chatItems"][1]["file"];
    assert_eq!(file["fileName"], "test.jpg", "{page}");
    assert_eq!(file["fileProtocol"], "LOCAL", "{page}");
    assert_eq!(file["fileStatus"]["type"], "sndStored", "{page}");
    let note_id = page["chatItems"][1]["meta"]["itemId"].as_i64().expect("id");

    // Forwarded to the notes (one's own note: as a plain one), a note's file is copied with
    // it.
    alice.type_line("* <- * hi myself");
    alice.expect_item("* hi myself");
    alice.expect_item("* file 3 (test_1.jpg)");
    assert_eq!(
        std::fs::read(files.join("test_1.jpg")).expect("copy"),
        b"not really a jpeg"
    );

    alice.type_line("/fs 1");
    alice.expect("/fs 1");
    alice.expect("bad chat command: not supported for local files");
    alice.type_line("/fc 1");
    alice.expect("/fc 1");
    alice.expect("bad chat command: not supported for local files");

    // Deleting a note removes its file; clearing the notes removes the rest.
    let cmd = format!("/_delete item *1 {note_id} internal");
    alice.type_line(&cmd);
    alice.expect(&cmd);
    alice.expect("message deleted");
    assert!(
        !files.join("test.jpg").exists(),
        "the note's file is removed"
    );
    assert!(files.join("report_1.pdf").exists());
    alice.type_line("/clear *");
    alice.expect("/clear *");
    alice.expect("notes: all messages are removed");
    assert!(!files.join("report_1.pdf").exists(), "the copy is removed");
    assert!(
        !files.join("test_1.jpg").exists(),
        "the forwarded copy is removed"
    );
    assert_eq!(std::fs::read(&outside).expect("the user's own"), b"%PDF");
    assert_eq!(
        std::fs::read(files.join("report.pdf")).expect("untouched"),
        b"older"
    );
    alice.type_line("/fs 2");
    alice.expect("/fs 2");
    alice.expect("file 2 not found");
    relay.stop();
}

/// Reactions: the reactor sees `added 👍` / `removed 👍`; with `--reactions` (the reference's
/// option) the other side sees the message reacted to (`>>`: one it wrote) and the reaction.
#[test]
fn reactions_are_shown_with_the_reactions_option() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob) = alice_and_bob(dir.path(), &server, &["--reactions"]);
    connect(&mut alice, &mut bob, "Alice", "Bob");
    alice.type_line("@bob hello there");
    alice.expect_item("@bob hello there");
    bob.expect_item("alice> hello there");
    bob.type_line("+1 @alice hello");
    bob.expect("+1 @alice hello");
    bob.expect("added 👍");
    alice.expect_item("bob> >> hello there");
    alice.expect("    + 👍");
    bob.type_line("-1 @alice hello");
    bob.expect("-1 @alice hello");
    bob.expect("removed 👍");
    alice.expect_item("bob> >> hello there");
    alice.expect("    - 👍");
    // And the other way, with another emoji.
    bob.type_line("@alice howdy");
    bob.expect_item("@alice howdy");
    alice.expect_item("bob> howdy");
    alice.type_line("+🚀 @bob how");
    alice.expect("+🚀 @bob how");
    alice.expect("added 🚀");
    bob.expect_item("alice> >> howdy");
    bob.expect("    + 🚀");
    relay.stop();
}

/// `/_set prefs` and `/set delete @name`: the reference's lines on both sides (Profiles.hs
/// `testSetContactPrefs`-like flows), nothing sent when nothing changes, the features' items
/// in the chat.
#[test]
fn contact_preferences() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob) = pair(dir.path(), &server);
    alice.type_line("/_set prefs @2 {}");
    alice.expect("/_set prefs @2 {}");
    alice.expect("your preferences for bob did not change");
    alice.type_line(r#"/_set prefs @2 {"fullDelete": {"allow": "always"}}"#);
    alice.expect(r#"/_set prefs @2 {"fullDelete": {"allow": "always"}}"#);
    alice.expect("you updated preferences for bob:");
    alice.expect("Full deletion: enabled for contact (you allow: always, contact allows: no)");
    bob.expect("alice updated preferences for you:");
    bob.expect("Full deletion: enabled for you (you allow: default (no), contact allows: always)");
    bob.type_line("/set delete @alice yes");
    bob.expect("/set delete @alice yes");
    bob.expect("you updated preferences for alice:");
    bob.expect("Full deletion: enabled (you allow: yes, contact allows: always)");
    alice.expect("bob updated preferences for you:");
    alice.expect("Full deletion: enabled (you allow: always, contact allows: yes)");
    // Full deletion on for both: a deletion for everyone removes the message on both sides.
    bob.type_line("@alice to be gone");
    bob.expect_item("@alice to be gone");
    alice.expect_item("bob> to be gone");
    bob.type_line("\\ @alice to be");
    bob.expect("\\ @alice to be");
    bob.expect("message deleted");
    alice.expect_item("bob> [deleted] to be gone");
    // Voice messages refused by bob: alice may not send one.
    bob.type_line("/set voice @alice no");
    bob.expect("/set voice @alice no");
    bob.expect("you updated preferences for alice:");
    bob.expect("Voice messages: off (you allow: no, contact allows: yes)");
    alice.expect("bob updated preferences for you:");
    alice.expect("Voice messages: off (you allow: default (yes), contact allows: no)");
    let voice = r#"/_send @2 json [{"msgContent": {"type": "voice", "text": "", "duration": 3}}]"#;
    alice.type_line(voice);
    alice.expect(voice);
    alice.expect("bad chat command: feature not allowed Voice messages");
    // Back to the default: off for both.
    alice.type_line(r#"/_set prefs @2 {"fullDelete": {"allow": "no"}}"#);
    alice.expect(r#"/_set prefs @2 {"fullDelete": {"allow": "no"}}"#);
    alice.expect("you updated preferences for bob:");
    alice.expect("Full deletion: off (you allow: no, contact allows: yes)");
    bob.expect("alice updated preferences for you:");
    bob.expect("Full deletion: off (you allow: yes, contact allows: no)");
    alice.type_line("/set voice @bob hmm");
    alice.expect("/set voice @bob hmm");
    alice.expect(
        "invalid chat command: usage: /set voice|calls|delete|reactions @name [yes|no|always], \
         /set disappear @name [yes [30s|5min|1h|8h|day|week|month]|no]: /set voice @bob hmm",
    );
    // The chat keeps the changes: alice's own items and bob's (the message deleted fully is
    // not there).
    alice.type_line("/tail @bob 4");
    alice.expect("/tail @bob 4");
    alice.expect_item("@bob Full deletion: enabled for contact");
    alice.expect_item("bob> Full deletion: enabled");
    alice.expect_item("bob> Voice messages: off");
    alice.expect_item("@bob Full deletion: off");
    // Reactions refused by bob: alice's is refused here.
    bob.type_line("@alice react to this");
    bob.expect_item("@alice react to this");
    alice.expect_item("bob> react to this");
    bob.type_line("/set reactions @alice no");
    bob.expect("/set reactions @alice no");
    bob.expect("you updated preferences for alice:");
    bob.expect("Message reactions: off (you allow: no, contact allows: yes)");
    alice.expect("bob updated preferences for you:");
    alice.expect("Message reactions: off (you allow: default (yes), contact allows: no)");
    alice.type_line("+1 @bob react");
    alice.expect("+1 @bob react");
    alice.expect("bad chat command: feature not allowed Message reactions");
    relay.stop();
}

/// `/mute @name` and `/unmute @name`, as the reference's `testMuteContact`: the contact's
/// messages are shown marked `<muted>`, `/contacts` says how to unmute.
#[test]
fn muting_a_contact() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob) = pair(dir.path(), &server);
    alice.type_line("@bob hello");
    alice.expect_item("@bob hello");
    bob.expect_item("alice> hello");
    bob.type_line("/mute @alice");
    bob.expect("/mute @alice");
    bob.expect("ok");
    alice.type_line("@bob hi");
    alice.expect_item("@bob hi");
    bob.expect_item("alice> hi <muted>");
    bob.type_line("/contacts");
    bob.expect("/contacts");
    bob.expect("alice (Alice) (muted, you can /unmute @alice)");
    bob.type_line("/unmute @alice");
    bob.expect("/unmute @alice");
    bob.expect("ok");
    bob.type_line("/contacts");
    bob.expect("/contacts");
    bob.expect("alice (Alice)");
    alice.type_line("@bob hi again");
    alice.expect_item("@bob hi again");
    bob.expect_item("alice> hi again");
    bob.type_line("/mute @nobody");
    bob.expect("/mute @nobody");
    bob.expect("chat error: no contact nobody");
    relay.stop();
}

/// The id and whether it is timed, of the latest item of a chat (`/_get chat`, printed as
/// its JSON).
fn latest_item(c: &mut Client, chat: &str) -> (String, bool) {
    let cmd = format!("/_get chat {chat} count=1");
    c.type_line(&cmd);
    c.expect(&cmd);
    let page: serde_json::Value = serde_json::from_str(&c.next()).expect("a chat's JSON");
    let meta = &page["chatItems"][0]["meta"];
    (
        meta["itemText"].as_str().unwrap_or_default().to_string(),
        meta.get("itemTimed").is_some(),
    )
}

/// Disappearing messages with a contact, as the reference's `testEnableTimedMessagesContact`:
/// on for both, every message goes with the time and is gone on both sides after it (the
/// received one from when it is read: `-r`); off, messages stay; a time to live the user
/// does not allow is not kept.
#[test]
fn disappearing_messages_with_a_contact() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob) = alice_and_bob(dir.path(), &server, &["-r"]);
    connect(&mut alice, &mut bob, "Alice", "Bob");
    let set = r#"/_set prefs @2 {"timedMessages": {"allow": "yes", "ttl": 1}}"#;
    alice.type_line(set);
    alice.expect(set);
    alice.expect("you updated preferences for bob:");
    alice.expect("Disappearing messages: enabled (you allow: yes (1 sec), contact allows: yes)");
    bob.expect("alice updated preferences for you:");
    bob.expect(
        "Disappearing messages: enabled (you allow: default (yes), contact allows: yes (1 sec))",
    );
    bob.type_line("/set disappear @alice yes");
    bob.expect("/set disappear @alice yes");
    bob.expect("you updated preferences for alice:");
    bob.expect(
        "Disappearing messages: enabled (you allow: yes (1 sec), contact allows: yes (1 sec))",
    );
    alice.expect("bob updated preferences for you:");
    alice.expect(
        "Disappearing messages: enabled (you allow: yes (1 sec), contact allows: yes (1 sec))",
    );

    alice.type_line("@bob hi");
    alice.expect_item("@bob hi");
    bob.expect_item("alice> hi");
    bob.type_line("@alice hey");
    bob.expect_item("@alice hey");
    alice.expect_item("bob> hey");
    // Gone on both sides after a second (polled: the terminal prints nothing then).
    for (c, chat) in [(&mut alice, "@2"), (&mut bob, "@2")] {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            let (text, _) = latest_item(c, chat);
            if text != "hi" && text != "hey" {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{}: {text} stays",
                c.name
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }

    // Off: messages stay; a time to live sent anyway is not kept.
    bob.type_line("/set disappear @alice no");
    bob.expect("/set disappear @alice no");
    bob.expect("you updated preferences for alice:");
    bob.expect("Disappearing messages: off (you allow: no, contact allows: yes (1 sec))");
    alice.expect("bob updated preferences for you:");
    alice.expect("Disappearing messages: off (you allow: yes (1 sec), contact allows: no)");
    alice.type_line("@bob stays");
    alice.expect_item("@bob stays");
    bob.expect_item("alice> stays");
    assert_eq!(latest_item(&mut alice, "@2"), ("stays".into(), false));
    let timed =
        r#"/_send @2 ttl=1 json [{"msgContent": {"type": "text", "text": "timed anyway"}}]"#;
    alice.type_line(timed);
    alice.expect(timed);
    alice.expect_item("@bob timed anyway");
    bob.expect_item("alice> timed anyway");
    assert_eq!(latest_item(&mut bob, "@2"), ("timed anyway".into(), false));
    relay.stop();
}

/// Live messages, as the reference's `testDirectLiveMessage`: `/live @bob hello` goes at once
/// and bob sees it started; updates with `live=on` change it on both sides without a line;
/// the update without it ends it (`[LIVE]` for alice, `[LIVE ended]` for bob), not marked
/// edited. An empty one goes at once too, and an edit (`!`) ends it.
#[test]
fn live_messages() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob) = pair(dir.path(), &server);
    alice.type_line("/live @bob hello");
    alice.expect("/live @bob hello");
    bob.expect_item("alice> [LIVE started] use /show [on/off/8] hello");
    alice.type_line("/_update item @2 8 live=on text hello th");
    alice.expect("/_update item @2 8 live=on text hello th");
    // Still live: no line on either side; bob's item follows (polled, bounded).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        bob.type_line("/_get chat @2 count=1");
        bob.expect("/_get chat @2 count=1");
        let page: serde_json::Value = serde_json::from_str(&bob.next()).expect("JSON");
        let meta = &page["chatItems"][0]["meta"];
        if meta["itemText"] == "hello th" {
            assert_eq!(meta["itemLive"], true, "{meta}");
            assert_eq!(meta["itemEdited"], false, "{meta}");
            break;
        }
        assert_eq!(meta["itemText"], "hello", "{meta}");
        assert!(
            std::time::Instant::now() < deadline,
            "the live update did not come"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    alice.type_line("/_update item @2 8 text hello there");
    alice.expect("/_update item @2 8 text hello there");
    alice.expect_item("@bob [LIVE] hello there");
    bob.expect_item("alice> [LIVE ended] hello there");
    for c in [&mut alice, &mut bob] {
        c.type_line("/_get chat @2 count=1");
        c.expect("/_get chat @2 count=1");
        let page: serde_json::Value = serde_json::from_str(&c.next()).expect("JSON");
        let meta = &page["chatItems"][0]["meta"];
        assert_eq!(meta["itemLive"], false, "{}: {meta}", c.name);
        assert_eq!(meta["itemEdited"], false, "{}: {meta}", c.name);
    }
    // Empty, then ended by an edit.
    alice.type_line("/live @bob");
    alice.expect("/live @bob");
    bob.expect_item("alice> [LIVE started] use /show [on/off/9]");
    alice.type_line("! @bob hello 2");
    alice.expect("! @bob hello 2");
    alice.expect_item("@bob [LIVE] hello 2");
    bob.expect_item("alice> [LIVE ended] hello 2");
    // Ended, it is an ordinary message: a later edit is marked so.
    alice.type_line("! @bob hello 3");
    alice.expect("! @bob hello 3");
    alice.expect_item("@bob [edited] hello 3");
    bob.expect_item("alice> [edited] hello 3");
    // One at a time.
    alice.type_line(
        r#"/_send @2 live=on json [{"msgContent": {"type": "text", "text": "a"}}, {"msgContent": {"type": "text", "text": "b"}}]"#,
    );
    alice.next();
    alice
        .expect("bad chat command: invalid multi send: live and more than one quote not supported");
    // `/show on`: the updates while typed are shown too (bob's first, then alice's own).
    bob.type_line("/show on");
    bob.expect("/show on");
    bob.expect("ok");
    alice.type_line("/live @bob again");
    alice.expect("/live @bob again");
    bob.expect_item("alice> [LIVE started] use /show [on/off/10] again");
    alice.type_line("/_update item @2 10 live=on text again and");
    alice.expect("/_update item @2 10 live=on text again and");
    bob.expect_item("alice> [LIVE] again and");
    alice.type_line("/show on");
    alice.expect("/show on");
    alice.expect("ok");
    alice.type_line("/_update item @2 10 live=on text again and more");
    alice.expect("/_update item @2 10 live=on text again and more");
    alice.expect_item("@bob [LIVE started] again and more");
    bob.expect_item("alice> [LIVE] again and more");
    alice.type_line("/_update item @2 10 text done");
    alice.expect("/_update item @2 10 text done");
    alice.expect_item("@bob [LIVE] done");
    bob.expect_item("alice> [LIVE ended] done");
    // The hint's `/show N`: that item as `/tail` prints it; `/last_item_id [chat] [N]`, as the
    // reference's tests use it; `/show` alone is `/show on`.
    bob.type_line("/last_item_id");
    bob.expect("/last_item_id");
    bob.expect("10");
    bob.type_line("/show 10");
    bob.expect("/show 10");
    bob.expect_item("alice> done");
    bob.type_line("/last_item_id @alice 1");
    bob.expect("/last_item_id @alice 1");
    bob.expect("9");
    bob.type_line("/show 9");
    bob.expect("/show 9");
    bob.expect_item("alice> hello 3");
    bob.type_line("/show 999");
    bob.expect("/show 999");
    bob.expect("chat error: no chat item 999");
    bob.type_line("/last_item_id @alice 99");
    bob.expect("/last_item_id @alice 99");
    bob.expect("no item");
    bob.type_line("/show");
    bob.expect("/show");
    bob.expect("ok");
    relay.stop();
}

/// The user's own preferences (`/set voice no`, `/set disappear no`, as the reference's
/// `SetUserFeature`): `updated preferences:` for the user, the contact told as by `/_set
/// prefs`, a contact's own setting still over them.
#[test]
fn own_preferences() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob) = pair(dir.path(), &server);
    alice.type_line("/set voice no");
    alice.expect("/set voice no");
    alice.expect("updated preferences:");
    alice.expect("Voice messages allowed: no");
    bob.expect("alice updated preferences for you:");
    bob.expect("Voice messages: off (you allow: default (yes), contact allows: no)");
    let voice = r#"/_send @2 json [{"msgContent": {"type": "voice", "text": "", "duration": 3}}]"#;
    bob.type_line(voice);
    bob.expect(voice);
    bob.expect("bad chat command: feature not allowed Voice messages");
    // A contact's own setting wins over the user's.
    alice.type_line("/set voice @bob yes");
    alice.expect("/set voice @bob yes");
    alice.expect("you updated preferences for bob:");
    alice.expect("Voice messages: enabled (you allow: yes, contact allows: yes)");
    bob.expect("alice updated preferences for you:");
    bob.expect("Voice messages: enabled (you allow: default (yes), contact allows: yes)");
    alice.type_line("/set disappear no");
    alice.expect("/set disappear no");
    alice.expect("updated preferences:");
    alice.expect("Disappearing messages allowed: no");
    bob.expect("alice updated preferences for you:");
    bob.expect("Disappearing messages: off (you allow: default (yes), contact allows: no)");
    alice.type_line("/set voice maybe");
    alice.expect("/set voice maybe");
    alice.expect(
        "invalid chat command: usage: /set voice|files|calls|delete yes|no|always, \
         /set disappear yes|no: /set voice maybe",
    );
    // The chat keeps the changes on both sides.
    alice.type_line("/tail @bob 3");
    alice.expect("/tail @bob 3");
    alice.expect_item("@bob Voice messages: off");
    alice.expect_item("@bob Voice messages: enabled");
    alice.expect_item("@bob Disappearing messages: off");
    bob.type_line("/tail @alice 3");
    bob.expect("/tail @alice 3");
    bob.expect_item("alice> Voice messages: off");
    bob.expect_item("alice> Voice messages: enabled");
    bob.expect_item("alice> Disappearing messages: off");
    // Kept: after a restart the same setting changes nothing.
    alice.stop();
    let mut alice = common::Client::start(dir.path(), "alice", &server);
    alice.expect("Current user: alice (Alice)");
    alice.expect("1 contacts connected (use /cs for the list)");
    alice.type_line("/set disappear no");
    alice.expect("/set disappear no");
    alice.expect("user profile did not change");
    relay.stop();
}

/// `/feed text` (the reference's `SendMessageBroadcast`): one message to every connected
/// contact, each kept in its chat; the line counts them.
#[test]
fn a_feed_message_goes_to_every_contact() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob, mut cath) = common::groups::three(dir.path(), &server);
    alice.type_line("/feed hello all");
    alice.expect("/feed hello all");
    let line = alice.next();
    let (head, text) = line.split_at("/feed (2) ".len());
    assert_eq!(head, "/feed (2) ", "{line}");
    assert!(
        text.ends_with(" hello all") && text.len() == "12:34 hello all".len(),
        "{line}"
    );
    bob.expect_item("alice> hello all");
    cath.expect_item("alice> hello all");
    for (name, c) in [("bob", &mut bob), ("cath", &mut cath)] {
        alice.type_line(&format!("/tail @{name} 1"));
        alice.expect(&format!("/tail @{name} 1"));
        alice.expect_item(&format!("@{name} hello all"));
        c.type_line("@alice thanks");
        c.expect_item("@alice thanks");
        alice.expect_item(&format!("{name}> thanks"));
    }
    relay.stop();
}

/// `/reconnect` (the reference's `ReconnectAllServers`, after a network change): the relay
/// connections are made again with their queues subscribed, so messages keep arriving;
/// `/reconnect 1 <server>` does one relay, and a relay not connected is refused.
#[test]
fn reconnecting_to_the_relays() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob) = pair(dir.path(), &server);
    alice.type_line("/reconnect");
    alice.expect("/reconnect");
    alice.expect("ok");
    bob.type_line("@alice after reconnecting");
    bob.expect_item("@alice after reconnecting");
    alice.expect_item("bob> after reconnecting");
    let one = format!("/reconnect 1 {server}");
    alice.type_line(&one);
    alice.expect(&one);
    alice.expect("ok");
    bob.type_line("@alice once more");
    bob.expect_item("@alice once more");
    alice.expect_item("bob> once more");
    let other = "/reconnect 1 smp://AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=@127.0.0.1:1";
    alice.type_line(other);
    alice.expect(other);
    let refused = alice.next();
    assert!(refused.contains("not connected to 127.0.0.1"), "{refused}");
    relay.stop();
}

/// `/queue info @bob`, `/qi @bob`, `/_queue info @N`: what the relay says of the queue bob's
/// messages come to (QUE) - the relay, the queue's ids, active, secured by bob, subscribed by
/// this client, the messages waiting; an unknown contact refused.
#[test]
fn queue_info_of_a_contact() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob) = alice_and_bob(dir.path(), &server, &[]);
    connect(&mut alice, &mut bob, "Alice", "Bob");
    for cmd in ["/queue info @bob", "/qi bob", "/_queue info @2"] {
        alice.type_line(cmd);
        alice.expect(cmd);
        let line = alice.next();
        let json = line
            .strip_prefix("server queue info: ")
            .unwrap_or_else(|| panic!("{line}"));
        let v: serde_json::Value = serde_json::from_str(json).expect("JSON");
        assert_eq!(v["server"], server.as_str(), "{v}");
        assert_eq!(v["status"], "active", "{v}");
        assert!(v["rcvId"].as_str().is_some_and(|s| !s.is_empty()), "{v}");
        assert!(v["sndId"].as_str().is_some_and(|s| !s.is_empty()), "{v}");
        assert_eq!(v["info"]["qiSnd"], true, "{v}");
        assert_eq!(v["info"]["qiSize"], 0, "{v}");
        assert_eq!(v["info"]["qiSub"]["qSubThread"], "subThread", "{v}");
    }
    alice.type_line("/qi @nobody");
    alice.expect("/qi @nobody");
    alice.expect("chat error: no contact nobody");
    alice.type_line("/network");
    alice.expect("/network");
    alice.expect("direct network connection");
    alice.expect("TCP timeouts: connecting 30 s, answers 30 s");
    alice.skip_to("[timeout=<seconds>]");
    relay.stop();
}
