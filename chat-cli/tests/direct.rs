//! The direct-chat transcripts of `testdata/chat/cli_transcripts.md` (sections 1 and 2) with
//! real `simplex-chat` processes driven through stdin/stdout and an SMP relay on 127.0.0.1:
//! connecting by invitation and by address (accepted and rejected), messages both ways, and a
//! client restarted on its databases.

mod common;

use std::time::Duration;

use common::{
    address_links, alice_and_bob, connect, invitation_link, invitation_links, relay, xftp_relay,
    Client,
};

#[test]
fn invitation_messages_and_a_restart() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob) = alice_and_bob(dir.path(), &server, &[]);
    connect(&mut alice, &mut bob, "Alice", "Bob");

    alice.type_line("@bob hello there 🙂");
    alice.expect_item("@bob hello there 🙂");
    bob.expect_item("alice> hello there 🙂");
    bob.type_line("@alice hello there");
    bob.expect_item("@alice hello there");
    alice.expect_item("bob> hello there");
    bob.type_line("@alice how are you?");
    bob.expect_item("@alice how are you?");
    alice.expect_item("bob> how are you?");

    // Alice stops; Bob writes meanwhile; Alice starts again on her databases.
    alice.stop();
    bob.type_line("@alice are you back?");
    bob.expect_item("@alice are you back?");
    let mut alice = Client::start(dir.path(), "alice", &server);
    alice.expect("Current user: alice (Alice)");
    alice.expect("1 contacts connected (use /cs for the list)");
    alice.expect_item("bob> are you back?");
    alice.type_line("@bob yes");
    alice.expect_item("@bob yes");
    bob.expect_item("alice> yes");
    alice.type_line("/tail @bob 2");
    alice.expect("/tail @bob 2");
    alice.expect_item("bob> are you back?");
    alice.expect_item("@bob yes");

    // A message to no one is refused with the line echoed.
    alice.type_line("@nobody hi");
    alice.expect("@nobody hi");
    alice.expect("chat error: no contact nobody");
    relay.stop();
}

#[test]
fn address_with_requests_accepted_and_rejected() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let mut alice = Client::start(dir.path(), "alice", &server);
    let mut bob = Client::start(dir.path(), "bob", &server);
    let mut cath = Client::start(dir.path(), "cath", &server);
    alice.create_profile("alice", "Alice");
    bob.create_profile("bob", "Bob");
    cath.create_profile("cath", "Catherine");

    alice.type_line("/ad");
    alice.expect("/ad");
    let (short_address, address) = address_links(&mut alice, "Your new chat address is created!");

    bob.type_line(&format!("/c {address}"));
    bob.expect(&format!("/c {address}"));
    bob.expect("connection request sent!");
    alice.expect("bob (Bob) wants to connect to you!");
    alice.expect("to accept: /ac bob");
    alice.expect("to reject: /rc bob (the sender will NOT be notified)");
    alice.type_line("/ac bob");
    alice.expect("/ac bob");
    alice.expect("bob (Bob): accepting contact request, you can send messages to contact");
    bob.expect("alice (Alice): contact is connected");
    alice.expect("bob (Bob): contact is connected");
    alice.type_line("@bob hi");
    alice.expect_item("@bob hi");
    bob.expect_item("alice> hi");
    bob.type_line("@alice hey");
    bob.expect_item("@alice hey");
    alice.expect_item("bob> hey");

    // Cath's request, by the short link (the relay gives the address to anyone with it), is
    // rejected: nothing reaches her.
    cath.type_line(&format!("/c {short_address}"));
    cath.expect(&format!("/c {short_address}"));
    cath.expect("connection request sent!");
    alice.expect("cath (Catherine) wants to connect to you!");
    alice.expect("to accept: /ac cath");
    alice.expect("to reject: /rc cath (the sender will NOT be notified)");
    alice.type_line("/rc cath");
    alice.expect("/rc cath");
    alice.expect("cath: contact request rejected");
    alice.type_line("/ac cath");
    alice.expect("/ac cath");
    alice.expect("chat error: no contact request from cath");

    alice.type_line("/_show_address 1");
    alice.expect("/_show_address 1");
    assert_eq!(
        address_links(&mut alice, "Your chat address:"),
        (short_address, address)
    );
    assert!(
        cath.lines.recv_timeout(Duration::from_millis(300)).is_err(),
        "cath hears nothing"
    );
    relay.stop();
}

/// `/d @bob`: bob is told (`x.direct.del`) and keeps the chat, marked; alice's connection and
/// its queue on the relay are deleted once the notice is sent; nothing of it comes back after
/// a restart.
#[test]
fn contact_deleted_and_told() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob) = alice_and_bob(dir.path(), &server, &[]);
    connect(&mut alice, &mut bob, "Alice", "Bob");
    alice.type_line("@bob hi");
    alice.expect_item("@bob hi");
    bob.expect_item("alice> hi");
    assert_eq!(relay.relay.queue_count(), 2, "one receiving queue each");

    alice.type_line("/d @bob");
    alice.expect("/d @bob");
    alice.expect("bob: contact is deleted");
    bob.expect("alice (Alice) deleted contact with you");
    // Both sides delete their receiving queue on the relay (alice once her notice is sent, bob
    // once he has read it).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while relay.relay.queue_count() > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        relay.relay.queue_count(),
        0,
        "both queues deleted on the relay"
    );
    bob.type_line("@alice are you there?");
    bob.expect("@alice are you there?");
    bob.expect("chat error: contact alice deleted the conversation: messages cannot be sent");
    // The chat as the reference keeps it: its informational items (the banner is not
    // printed), the message, and the contact's deletion.
    bob.type_line("/tail @alice");
    bob.expect("/tail @alice");
    for line in [
        "alice> This conversation is protected by end-to-end encryption with perfect forward \
         secrecy, repudiation and break-in recovery.",
        "alice> Disappearing messages: allowed",
        "alice> Full deletion: off",
        "alice> Message reactions: enabled",
        "alice> Voice messages: enabled",
        "alice> Audio/video calls: enabled",
        "alice> hi",
        "alice> contact deleted",
    ] {
        bob.expect_item(line);
    }
    alice.type_line("/contacts");
    alice.expect("/contacts");
    alice.type_line("@bob hello?");
    alice.expect("@bob hello?");
    alice.expect("chat error: no contact bob");

    // After a restart: nothing of bob, no error from a connection that is gone.
    alice.stop();
    let mut alice = Client::start(dir.path(), "alice", &server);
    alice.expect("Current user: alice (Alice)");
    alice.type_line("/contacts");
    alice.expect("/contacts");
    alice.type_line("/p");
    alice.expect("/p");
    alice.expect("Display name: alice");
    alice.expect("Full name: Alice");
    relay.stop();
}

/// Chat tags in the terminal (the app's commands; our lines): made, put on a chat, listed.
#[test]
fn chat_tags_in_the_terminal() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob) = alice_and_bob(dir.path(), &server, &[]);
    connect(&mut alice, &mut bob, "Alice", "Bob");
    for (line, answer) in [
        ("/_get tags 1", vec!["no tags"]),
        (
            r#"/_create tag {"text": "work", "emoji": "💼"}"#,
            vec!["tag 1: 💼 work"],
        ),
        (
            r#"/_create tag {"text": "family"}"#,
            vec!["tag 1: 💼 work", "tag 2: family"],
        ),
        (
            "/_tags @2 2",
            vec!["tag 1: 💼 work", "tag 2: family", "chat tags: 2"],
        ),
        ("/_reorder tags 2", vec!["ok"]),
        ("/_get tags 1", vec!["tag 2: family", "tag 1: 💼 work"]),
        (
            "/_tags @2",
            vec!["tag 2: family", "tag 1: 💼 work", "chat tags: none"],
        ),
        ("/_tags @2 7", vec!["bad chat command: no tag 7"]),
    ] {
        alice.type_line(line);
        alice.expect(line);
        for l in answer {
            alice.expect(l);
        }
    }
    relay.stop();
}

/// A contact that deleted us without telling (its queue gone): each message the relay
/// refuses (AUTH) is reported, not retried for ever; after 10 the contact is disabled until
/// `/enable` - the reference's `testRepeatAuthErrorsDisableContact`.
#[test]
fn repeated_refusals_disable_a_contact() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob) = alice_and_bob(dir.path(), &server, &[]);
    connect(&mut alice, &mut bob, "Alice", "Bob");
    alice.type_line("@bob hi");
    alice.expect_item("@bob hi");
    bob.expect_item("alice> hi");
    bob.type_line("/_delete @2 notify=off");
    bob.expect("/_delete @2 notify=off");
    bob.expect("alice: contact is deleted");
    // The sent item and the relay's refusal, in either order (delivery runs on its own).
    // The 10th refusal disables the contact (its line after the refusal's).
    let sent_and_refused = |alice: &mut Client, last: bool| {
        alice.type_line("@bob hey");
        let refused = "[bob, contactId: 2, connId: 1] error: connection authorization failed - \
                       this could happen if connection was deleted, secured with different \
                       credentials, or due to a bug - please re-create the connection";
        let disabled = "[bob] connection is disabled, to enable: /enable bob, to delete: /d bob";
        let mut lines = vec![alice.next(), alice.next()];
        if last {
            lines.push(alice.next());
        }
        let item = lines
            .iter()
            .position(|l| l.ends_with(" @bob hey") && l.len() == "HH:MM @bob hey".len())
            .unwrap_or_else(|| panic!("no sent item in {lines:?}"));
        lines.remove(item);
        let mut want = vec![refused];
        if last {
            want.push(disabled);
        }
        assert_eq!(lines, want);
    };
    for i in 0..10 {
        sent_and_refused(&mut alice, i == 9);
    }
    alice.type_line("@bob hey");
    alice.expect("@bob hey");
    alice.expect("bob: disabled, to enable: /enable bob, to delete: /d bob");
    alice.type_line("/enable bob");
    alice.expect("/enable bob");
    alice.expect("ok");
    // Counted afresh, and kept: a restart does not enable the contact again.
    for i in 0..10 {
        sent_and_refused(&mut alice, i == 9);
    }
    alice.stop();
    let mut alice = Client::start(dir.path(), "alice", &server);
    alice.skip_to("Current user: alice (Alice)");
    alice.type_line("@bob hey");
    // (After the start's summary lines.)
    alice.skip_to("@bob hey");
    alice.expect("bob: disabled, to enable: /enable bob, to delete: /d bob");
    relay.stop();
}

/// `/code` shows the same security code on both sides; `/verify` with it verifies the
/// connection, with another code it says so and shows the current one.
#[test]
fn security_codes_match_and_verify() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob) = alice_and_bob(dir.path(), &server, &[]);
    connect(&mut alice, &mut bob, "Alice", "Bob");
    alice.type_line("/code @bob");
    alice.expect("/code @bob");
    alice.expect("bob security code:");
    let code = alice.next();
    alice.expect(
        "pass this code to your contact and use /verify bob <code from your contact> to verify",
    );
    assert!(
        code.len() > 80
            && code
                .split(' ')
                .all(|g| g.len() <= 5 && g.bytes().all(|b| b.is_ascii_digit())),
        "{code}"
    );
    bob.type_line("/code alice");
    bob.expect("/code alice");
    bob.expect("alice security code:");
    bob.expect(&code);
    bob.expect(
        "pass this code to your contact and use /verify alice <code from your contact> to verify",
    );
    bob.type_line(&format!("/verify @alice {code}"));
    bob.expect(&format!("/verify @alice {code}"));
    bob.expect("connection verified");
    bob.type_line("/verify @alice 12345 67890");
    bob.expect("/verify @alice 12345 67890");
    bob.expect(&format!("connection not verified, current code is {code}"));
    relay.stop();
}

/// Links of one's own and links already used are recognised (`/_connect plan`, and `/c`
/// refuses them with what they are).
#[test]
fn own_and_used_links_are_recognised() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob) = alice_and_bob(dir.path(), &server, &[]);
    alice.type_line("/c");
    alice.expect("/c");
    // By the short link (the relay keeps the invitation; LKEY takes it), known by either.
    let (link, full) = invitation_links(&mut alice);
    alice.type_line(&format!("/c {full}"));
    alice.expect(&format!("/c {full}"));
    alice.expect("invitation link: own link");
    alice.type_line(&format!("/c {link}"));
    alice.expect(&format!("/c {link}"));
    alice.expect("invitation link: own link");
    bob.type_line(&format!("/_connect plan 1 {link}"));
    bob.expect(&format!("/_connect plan 1 {link}"));
    bob.expect("invitation link: ok to connect");
    bob.type_line(&format!("/c {link}"));
    bob.expect(&format!("/c {link}"));
    bob.expect("confirmation sent!");
    bob.expect("alice (Alice): contact is connected");
    alice.expect("bob (Bob): contact is connected");
    bob.type_line(&format!("/c {link}"));
    bob.expect(&format!("/c {link}"));
    bob.expect("invitation link: known contact alice");
    bob.expect("use @alice <message> to send messages");
    // The user's own name for a contact, kept apart from its profile.
    alice.type_line("/_set alias @2 Bob from work");
    alice.expect("/_set alias @2 Bob from work");
    alice.expect("contact bob alias updated: Bob from work");
    alice.type_line("/_set alias @2");
    alice.expect("/_set alias @2");
    alice.expect("contact bob alias removed");

    alice.type_line("/ad");
    alice.expect("/ad");
    let (short, address) = address_links(&mut alice, "Your new chat address is created!");
    for a in [&address, &short] {
        alice.type_line(&format!("/_connect plan 1 {a}"));
        alice.expect(&format!("/_connect plan 1 {a}"));
        alice.expect("contact address: own address");
    }
    // A new address's short link: its data read from the relay (not a business).
    bob.type_line(&format!("/_connect plan 1 {short}"));
    bob.expect(&format!("/_connect plan 1 {short}"));
    bob.expect("contact address: ok to connect");
    relay.stop();
}

/// An incognito invitation (`/c i`): bob knows alice only by a random profile; alice's
/// profile changes are not sent to him.
#[test]
fn incognito_invitation() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob) = alice_and_bob(dir.path(), &server, &[]);
    alice.type_line("/c i");
    alice.expect("/c i");
    let link = invitation_link(&mut alice);
    bob.type_line(&format!("/c {link}"));
    bob.expect(&format!("/c {link}"));
    bob.expect("confirmation sent!");
    let line = alice.next();
    let incognito = line
        .strip_prefix(
            "bob (Bob): contact is connected, your incognito profile for this contact is ",
        )
        .unwrap_or_else(|| panic!("{line}"))
        .to_string();
    assert!(
        !incognito.is_empty() && !incognito.contains("alice"),
        "{incognito}"
    );
    alice.expect("use /i bob to print out this incognito profile again");
    bob.expect(&format!("{incognito}: contact is connected"));
    bob.type_line(&format!("@{incognito} hi"));
    bob.expect_item(&format!("@{incognito} hi"));
    alice.expect_item("bob> hi");
    alice.type_line("@bob hello");
    alice.expect_item("@bob hello");
    bob.expect_item(&format!("{incognito}> hello"));
    alice.type_line("/i bob");
    alice.expect("/i bob");
    alice.expect("contact ID: 2");
    alice.expect(&format!(
        "you've shared incognito profile with this contact: {incognito}"
    ));
    alice.expect("connection not verified, use /code command to see security code");
    bob.type_line(&format!("/i {incognito}"));
    bob.expect(&format!("/i {incognito}"));
    bob.expect("contact ID: 2");
    bob.expect("you've shared main profile with this contact");
    bob.expect("connection not verified, use /code command to see security code");
    alice.type_line("/p alice Alice Smith");
    alice.expect("/p alice Alice Smith");
    alice.expect("user full name changed to Alice Smith (your 0 contacts are notified)");
    relay.stop();
}

/// The address's settings: requests accepted at once with an auto-reply, then by hand with a
/// random profile; the address put in the profile; a contact renaming itself; the address
/// deleted.
#[test]
fn address_settings_and_profile_changes() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob) = alice_and_bob(dir.path(), &server, &[]);
    let mut cath = Client::start(dir.path(), "cath", &server);
    cath.create_profile("cath", "Catherine");
    alice.type_line("/ad");
    alice.expect("/ad");
    let address = address_links(&mut alice, "Your new chat address is created!").1;
    alice.type_line("/auto_accept on Hello, I am a bot");
    alice.expect("/auto_accept on Hello, I am a bot");
    alice.expect("auto_accept on");
    alice.expect("auto reply:");
    alice.expect("Hello, I am a bot");

    bob.type_line(&format!("/c {address}"));
    bob.expect(&format!("/c {address}"));
    bob.expect("connection request sent!");
    alice.expect("bob (Bob): accepting contact request, you can send messages to contact");
    alice.expect("bob (Bob): contact is connected");
    alice.expect_item("@bob Hello, I am a bot");
    bob.expect("alice (Alice): contact is connected");
    bob.expect_item("alice> Hello, I am a bot");

    alice.type_line("/pa on");
    alice.expect("/pa on");
    alice.expect("new contact address set");
    bob.expect("alice set new contact address, use /info alice to view");

    bob.type_line("/p robert Robert");
    bob.expect("/p robert Robert");
    bob.expect("user profile is changed to robert (Robert) (your 1 contacts are notified)");
    alice.expect("contact bob changed to robert (Robert)");
    alice.expect("use @robert <message> to send messages");
    alice.type_line("@robert hi");
    alice.expect_item("@robert hi");
    bob.expect_item("alice> hi");

    alice.type_line("/auto_accept off");
    alice.expect("/auto_accept off");
    alice.expect("auto_accept off");
    cath.type_line(&format!("/c {address}"));
    cath.expect(&format!("/c {address}"));
    cath.expect("connection request sent!");
    alice.expect("cath (Catherine) wants to connect to you!");
    alice.expect("to accept: /ac cath");
    alice.expect("to reject: /rc cath (the sender will NOT be notified)");
    alice.type_line("/ac i cath");
    alice.expect("/ac i cath");
    alice.expect("cath (Catherine): accepting contact request, you can send messages to contact");
    let line = alice.next();
    let incognito = line
        .strip_prefix(
            "cath (Catherine): contact is connected, your incognito profile for this contact is ",
        )
        .unwrap_or_else(|| panic!("{line}"))
        .to_string();
    alice.expect("use /i cath to print out this incognito profile again");
    cath.expect(&format!("{incognito}: contact is connected"));

    alice.type_line("/da");
    alice.expect("/da");
    alice.expect("Your chat address is deleted - accepted contacts will remain connected.");
    alice.expect("To create a new chat address use /ad");
    alice.type_line("/sa");
    alice.expect("/sa");
    alice.expect("chat error: no chat address, to create: /ad");
    relay.stop();
}

/// `/_stop` and `/_start`, and `-m` (maintenance: the chat opened stopped): while stopped
/// nothing is received, what needs a relay answers "error: chat not started", what is stored
/// can be read; started, the messages that waited at the relay arrive and sending works.
#[test]
fn stopped_chat_and_maintenance_mode() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob) = alice_and_bob(dir.path(), &server, &[]);
    connect(&mut alice, &mut bob, "Alice", "Bob");

    alice.type_line("/_stop");
    alice.expect("/_stop");
    alice.expect("chat stopped");
    // Sending needs the chat: the send form is echoed when it fails, then the error.
    alice.type_line("@bob hi");
    alice.expect("@bob hi");
    alice.expect("error: chat not started");
    alice.type_line("/c");
    alice.expect("/c");
    alice.expect("error: chat not started");
    bob.type_line("@alice are you there?");
    bob.expect_item("@alice are you there?");
    // What is stored can be read.
    alice.type_line("/contacts");
    alice.expect("/contacts");
    alice.expect("bob (Bob)");
    assert!(
        alice
            .lines
            .recv_timeout(Duration::from_millis(500))
            .is_err(),
        "nothing received while stopped"
    );
    alice.type_line("/_start");
    alice.expect("/_start");
    // The message waiting at the relay may be shown before the answer is (under load).
    alice.expect_unordered(&["chat started", "~ bob> are you there?"]);
    alice.type_line("/_start");
    alice.expect("/_start");
    alice.expect("chat is running");
    alice.type_line("@bob back");
    alice.expect_item("@bob back");
    bob.expect_item("alice> back");

    // Maintenance mode: started stopped.
    alice.stop();
    bob.type_line("@alice and now?");
    bob.expect_item("@alice and now?");
    let mut alice = Client::start_with(dir.path(), "alice", &server, &["-m"]);
    alice.expect("Current user: alice (Alice)");
    alice.type_line("/tail @bob 1");
    alice.expect("/tail @bob 1");
    alice.expect_item("@bob back");
    assert!(
        alice
            .lines
            .recv_timeout(Duration::from_millis(500))
            .is_err(),
        "nothing received in maintenance mode"
    );
    alice.type_line("/_start");
    alice.expect("/_start");
    alice.expect("chat started");
    alice.expect_item("bob> and now?");
    alice.type_line("@bob yes");
    alice.expect_item("@bob yes");
    bob.expect_item("alice> yes");
    relay.stop();
}

/// `/switch bob`, as the reference's `testSwitchContact`: alice's receiving queue moves to a
/// new one; both sides see the start and the end (and get them as items); messages go both
/// ways on the new queues, also after both restart.
#[test]
fn switching_a_contacts_address() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob) = alice_and_bob(dir.path(), &server, &[]);
    connect(&mut alice, &mut bob, "Alice", "Bob");
    alice.type_line("/switch bob");
    alice.expect("/switch bob");
    // The rotation's start may be printed before the answer.
    alice.expect_unordered(&["switch started", "bob: you started changing address"]);
    bob.expect("alice started changing address for you");
    bob.expect("alice changed address for you");
    alice.expect("bob: you changed address");
    alice.type_line("/tail @bob 2");
    alice.expect("/tail @bob 2");
    alice.expect_item("@bob started changing address...");
    alice.expect_item("@bob you changed address");
    bob.type_line("/tail @alice 2");
    bob.expect("/tail @alice 2");
    bob.expect_item("alice> started changing address for you...");
    bob.expect_item("alice> changed address for you");
    for round in ["after the switch", "after a restart"] {
        alice.type_line(&format!("@bob hi {round}"));
        alice.expect_item(&format!("@bob hi {round}"));
        bob.expect_item(&format!("alice> hi {round}"));
        bob.type_line(&format!("@alice hey {round}"));
        bob.expect_item(&format!("@alice hey {round}"));
        alice.expect_item(&format!("bob> hey {round}"));
        if round == "after the switch" {
            alice.stop();
            bob.stop();
            alice = Client::start(dir.path(), "alice", &server);
            bob = Client::start(dir.path(), "bob", &server);
            alice.expect("Current user: alice (Alice)");
            alice.expect("1 contacts connected (use /cs for the list)");
            bob.expect("Current user: bob (Bob)");
            bob.expect("1 contacts connected (use /cs for the list)");
        }
    }
    command_error(&mut alice, "/switch nobody");
    relay.stop();
}

fn command_error(c: &mut Client, line: &str) {
    c.type_line(line);
    c.expect(line);
    let e = c.next();
    assert!(e.contains("nobody"), "{e}");
}

/// A ratchet out of step, as the reference's `testSyncRatchet`: bob's databases restored
/// from an old copy; alice's next message does not decrypt for him (synchronization
/// required, sending refused) until `/sync alice`; then both agree and messages flow again.
#[test]
fn resynchronising_a_ratchet() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob) = alice_and_bob(dir.path(), &server, &[]);
    connect(&mut alice, &mut bob, "Alice", "Bob");
    let exchange = |alice: &mut Client, bob: &mut Client, text: &str| {
        alice.type_line(&format!("@bob {text}"));
        alice.expect_item(&format!("@bob {text}"));
        bob.expect_item(&format!("alice> {text}"));
        bob.type_line(&format!("@alice {text} too"));
        bob.expect_item(&format!("@alice {text} too"));
        alice.expect_item(&format!("bob> {text} too"));
    };
    exchange(&mut alice, &mut bob, "hi");
    // The old copy, taken while bob is stopped.
    bob.stop();
    common::keep_old_databases(dir.path(), "bob", false);
    let mut bob = Client::start(dir.path(), "bob", &server);
    bob.expect("Current user: bob (Bob)");
    bob.expect("1 contacts connected (use /cs for the list)");
    for round in ["one", "two", "three"] {
        exchange(&mut alice, &mut bob, round);
    }
    bob.stop();
    common::keep_old_databases(dir.path(), "bob", true);
    let mut bob = Client::start(dir.path(), "bob", &server);
    bob.expect("Current user: bob (Bob)");
    bob.expect("1 contacts connected (use /cs for the list)");
    alice.type_line("@bob lost");
    alice.expect_item("@bob lost");
    bob.expect("alice: decryption error (connection out of sync), synchronization required");
    bob.expect("use /sync alice to synchronize");
    // What did not decrypt is an item of the chat, as the reference's (`rcvDecryptionError`).
    bob.type_line("/tail @alice 1");
    bob.expect("/tail @alice 1");
    let l = bob.next();
    assert!(
        l.get(6..)
            .unwrap_or_default()
            .starts_with("alice> decryption error, possibly due to the device change"),
        "{l}"
    );
    bob.type_line("@alice not yet");
    bob.expect("@alice not yet");
    bob.expect("error: command is prohibited");
    bob.type_line("/sync alice");
    bob.expect("/sync alice");
    bob.expect("connection synchronization started");
    alice.expect("bob: connection synchronization agreed");
    bob.expect("alice: connection synchronization agreed");
    alice.expect("bob: connection synchronized");
    bob.expect("alice: connection synchronized");
    exchange(&mut alice, &mut bob, "back in step");
    // In step: a re-synchronisation is not needed.
    bob.type_line("/sync alice");
    bob.expect("/sync alice");
    bob.expect("error: command is prohibited");
    relay.stop();
}

/// The relay of alice's contact is down when she starts: the client starts all the same and
/// works on what is stored (before, the start failed on the unreachable relay).
#[test]
fn starts_while_its_relay_is_down() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob) = alice_and_bob(dir.path(), &server, &[]);
    connect(&mut alice, &mut bob, "Alice", "Bob");
    alice.stop();
    relay.stop();
    let mut alice = Client::start(dir.path(), "alice", &server);
    alice.expect("Current user: alice (Alice)");
    alice.expect("1 contact errors (their relay cannot be reached: tried again in the background)");
    alice.type_line("/contacts");
    alice.expect("/contacts");
    alice.expect("bob (Bob)");
    assert!(alice.running());
}

/// A rotation the contact has not answered stopped (`/abort switch`, the reference's
/// `testAbortSwitchContact` lines): bob is offline, alice starts and aborts; bob, back, sees the
/// start; alice's next rotation completes on both sides.
#[test]
fn aborting_an_address_switch() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob) = alice_and_bob(dir.path(), &server, &[]);
    connect(&mut alice, &mut bob, "Alice", "Bob");
    bob.stop();
    alice.type_line("/switch bob");
    alice.expect("/switch bob");
    alice.expect_unordered(&["switch started", "bob: you started changing address"]);
    alice.type_line("/switch bob");
    alice.expect("/switch bob");
    alice.expect("error: command is prohibited, switchConnectionAsync: already switching");
    alice.type_line("/abort switch bob");
    alice.expect("/abort switch bob");
    alice.expect("switch aborted");
    alice.type_line("/abort switch bob");
    alice.expect("/abort switch bob");
    alice.expect("error: command is prohibited, abortConnectionSwitch: not allowed");

    let mut bob = Client::start(dir.path(), "bob", &server);
    bob.expect("Current user: bob (Bob)");
    bob.expect("1 contacts connected (use /cs for the list)");
    bob.expect("alice started changing address for you");
    alice.type_line("/switch bob");
    alice.expect("/switch bob");
    alice.expect_unordered(&["switch started", "bob: you started changing address"]);
    bob.expect("alice started changing address for you");
    bob.expect("alice changed address for you");
    alice.expect("bob: you changed address");
    alice.type_line("@bob hi after all");
    alice.expect_item("@bob hi after all");
    bob.expect_item("alice> hi after all");
    bob.type_line("@alice hey");
    bob.expect_item("@alice hey");
    alice.expect_item("bob> hey");
    relay.stop();
}

/// `/smp` and `/xftp` as the reference's: the relays in use; each tested (a queue made and
/// deleted; a chunk uploaded, downloaded and deleted), a wrong fingerprint failing at
/// Connect with the reference's hint; set for new queues (an invitation made after
/// `/smp <other>` is on the other relay), kept across a restart, back with `/smp default`.
#[test]
fn relays_shown_tested_and_set() {
    let (rt, relay1, server) = relay();
    let (_rt2, relay2, server2) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (_xftp, xftp) = xftp_relay(&rt, dir.path());
    let key_hash = |s: &str| {
        s.trim_start_matches("smp://")
            .split('@')
            .next()
            .unwrap_or_default()
            .to_string()
    };
    let mut alice = Client::start_with(dir.path(), "alice", &server, &["--xftp-server", &xftp]);
    alice.create_profile("alice", "Alice");
    let show = |c: &mut Client, cmd: &str, kind: &str, servers: &[&str]| {
        c.type_line(cmd);
        c.expect(cmd);
        c.expect("Your servers");
        c.expect(&format!("  {kind} servers"));
        for s in servers {
            c.expect(&format!("    {s}"));
        }
    };
    show(&mut alice, "/smp", "SMP", &[&server]);
    show(&mut alice, "/xftp", "XFTP", &[&xftp]);
    for (cmd, passed) in [
        (format!("/smp test {server}"), "SMP server test passed"),
        (format!("/xftp test {xftp}"), "XFTP server test passed"),
    ] {
        alice.type_line(&cmd);
        alice.expect(&cmd);
        alice.expect(passed);
    }
    // relay 2's fingerprint at relay 1's address: the TLS handshake fails.
    let wrong = server.replace(&key_hash(&server), &key_hash(&server2));
    let cmd = format!("/smp test {wrong}");
    alice.type_line(&cmd);
    alice.expect(&cmd);
    let failed = alice.next();
    assert!(
        failed.starts_with("SMP server test failed at Connect, error: "),
        "{failed}"
    );
    alice.expect("Possibly, certificate fingerprint in SMP server address is incorrect");

    // New queues on relay 2.
    let cmd = format!("/smp {server2}");
    alice.type_line(&cmd);
    alice.expect(&cmd);
    alice.expect("ok");
    show(&mut alice, "/smp", "SMP", &[&server2]);
    alice.type_line("/c");
    alice.expect("/c");
    let link = invitation_link(&mut alice);
    // The key hashes in the link (their `=` padding percent-encoded).
    assert!(
        link.contains(key_hash(&server2).trim_end_matches('=')),
        "{link}"
    );
    assert!(
        !link.contains(key_hash(&server).trim_end_matches('=')),
        "{link}"
    );
    alice.type_line("/smp nonsense");
    alice.expect("/smp nonsense");
    let bad = alice.next();
    assert!(
        bad.starts_with("bad chat command: invalid SMP server nonsense"),
        "{bad}"
    );
    // Kept for the user across a restart; back to the options' relay with `default`.
    alice.stop();
    let mut alice = Client::start_with(dir.path(), "alice", &server, &["--xftp-server", &xftp]);
    alice.expect("Current user: alice (Alice)");
    show(&mut alice, "/smp", "SMP", &[&server2]);
    alice.type_line("/smp default");
    alice.expect("/smp default");
    alice.expect("ok");
    show(&mut alice, "/smp", "SMP", &[&server]);
    relay1.stop();
    relay2.stop();
}

/// A one-command run (`-e CMD -t SECS`), as scripts use it: the command's answer and, with
/// `--execute-log messages`, the messages received while it waits; by default (`none`) only the
/// answer, as the reference's.
#[test]
fn one_command_runs_for_scripts() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob) = alice_and_bob(dir.path(), &server, &[]);
    connect(&mut alice, &mut bob, "Alice", "Bob");
    alice.stop();
    let run = |args: &[&str]| -> Vec<String> {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_simplex-chat"))
            .args([
                "-d",
                &dir.path().join("alice").to_string_lossy(),
                "-s",
                &server,
            ])
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("simplex-chat runs");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim_end().to_string())
            .collect()
    };
    let timed =
        |l: &str, rest: &str| l.as_bytes().get(2) == Some(&b':') && l.get(6..) == Some(rest);

    // A message sent by a script: its item.
    let out = run(&["-e", "@bob hello from a script", "-t", "2"]);
    assert!(
        out.iter().any(|l| timed(l, "@bob hello from a script")),
        "{out:?}"
    );
    bob.expect_item("alice> hello from a script");

    // What arrives while it waits is shown with `--execute-log messages`...
    bob.type_line("@alice reply 1");
    bob.expect_item("@alice reply 1");
    let out = run(&["-e", "/contacts", "-t", "3", "--execute-log", "messages"]);
    assert!(out.iter().any(|l| l == "bob (Bob)"), "{out:?}");
    assert!(out.iter().any(|l| timed(l, "bob> reply 1")), "{out:?}");

    // ... and not by default; it was received all the same.
    bob.type_line("@alice reply 2");
    bob.expect_item("@alice reply 2");
    let out = run(&["-e", "/contacts", "-t", "3"]);
    assert!(out.iter().any(|l| l == "bob (Bob)"), "{out:?}");
    assert!(!out.iter().any(|l| l.contains("reply 2")), "{out:?}");
    let out = run(&["-e", "/tail @bob 1", "-t", "0"]);
    assert!(out.iter().any(|l| timed(l, "bob> reply 2")), "{out:?}");

    // A bad command: its error, and the run still ends.
    let out = run(&["-e", "/nonsense", "-t", "0"]);
    assert!(
        out.iter().any(|l| l.starts_with("invalid chat command")),
        "{out:?}"
    );
    relay.stop();
}

/// `--socks-mode onion`: only onion hosts go through the proxy, so a relay with a public host
/// is reached directly even while the proxy is down; by default (`always`) every connection
/// goes through it, so nothing is reached; `--required-host-mode` refuses a relay without an
/// onion host. `--tcp-timeout` bounds the wait for the relay that cannot be reached.
#[test]
fn socks_and_host_modes() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    // A port nothing listens on: the proxy is down.
    let proxy = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .to_string();
    let onion = ["--socks-proxy", proxy.as_str(), "--socks-mode", "onion"];
    let (mut alice, mut bob) = alice_and_bob(dir.path(), &server, &onion);
    connect(&mut alice, &mut bob, "Alice", "Bob");
    alice.type_line("@bob not through the proxy");
    alice.expect_item("@bob not through the proxy");
    bob.expect_item("alice> not through the proxy");
    // `/network` says what is in effect.
    const CHANGE: &str = "to change: /network socks=on|off|<ip:port> [socks-mode=always|onion] \
                          [host-mode=onion|public] [smp-proxy=...] [timeout=<seconds>]";
    for c in [&mut alice, &mut bob] {
        c.type_line("/network");
        c.expect("/network");
        c.expect(&format!("using SOCKS5 proxy {proxy}"));
        c.expect("TCP timeouts: connecting 30 s, answers 30 s");
        c.expect(CHANGE);
    }
    // Changed while running: every connection now goes through the (down) proxy - bob's
    // relay connection is made again through it and fails (a new invitation cannot be made;
    // by then the old connection is closed), so alice's message waits; back to a direct
    // connection, it arrives.
    let always = format!("/network socks={proxy} timeout=1");
    bob.type_line(&always);
    bob.expect(&always);
    bob.expect(&format!("using SOCKS5 proxy {proxy}"));
    bob.expect("TCP timeouts: connecting 1.5 s, answers 3 s");
    bob.expect(CHANGE);
    bob.type_line("/c");
    bob.expect("/c");
    let line = bob.next();
    assert!(line.starts_with("chat error"), "{line}");
    alice.type_line("@bob while bob's proxy is down");
    alice.expect_item("@bob while bob's proxy is down");
    bob.type_line("/net socks=off");
    bob.expect("/net socks=off");
    bob.expect("direct network connection");
    bob.expect("TCP timeouts: connecting 1.5 s, answers 3 s");
    bob.expect(CHANGE);
    bob.skip_to("alice> while bob's proxy is down");
    alice.type_line("/net socks=nowhere");
    alice.expect("/net socks=nowhere");
    let line = alice.next();
    assert!(line.contains("not a SOCKS proxy address"), "{line}");

    let always = ["--socks-proxy", proxy.as_str(), "--tcp-timeout", "1"];
    let mut cath = Client::start_with(dir.path(), "cath", &server, &always);
    cath.create_profile("cath", "Catherine");
    cath.type_line("/net");
    cath.expect("/net");
    cath.expect(&format!("using SOCKS5 proxy {proxy}"));
    cath.expect("TCP timeouts: connecting 1.5 s, answers 3 s");
    cath.expect(CHANGE);
    cath.type_line("/c");
    cath.expect("/c");
    let line = cath.next();
    assert!(line.starts_with("chat error"), "{line}");
    // A reference client's short link on a preset relay names only the host: it is read
    // through the preset (so the proxy is tried), while an unknown host-only link is refused
    // before any connection.
    let key = "A".repeat(43);
    let preset = format!("/c https://smp8.simplex.im/a#{key}");
    cath.type_line(&preset);
    cath.expect(&preset);
    let line = cath.next();
    assert!(
        line.starts_with("chat error") && line.contains("SOCKS5"),
        "{line}"
    );
    let unknown = format!("/c https://relay.example.com/a#{key}");
    cath.type_line(&unknown);
    cath.expect(&unknown);
    let line = cath.next();
    assert!(
        line.starts_with("chat error") && line.contains("not a preset relay here"),
        "{line}"
    );

    let mut dan = Client::start_with(
        dir.path(),
        "dan",
        &server,
        &["--socks-proxy", proxy.as_str(), "--required-host-mode"],
    );
    dan.create_profile("dan", "Daniel");
    dan.type_line("/c");
    dan.expect("/c");
    let line = dan.next();
    assert!(
        line.starts_with("chat error") && line.contains("no onion host"),
        "{line}"
    );
    relay.stop();
}

/// `/db encrypt`, `/db key`, `/_db encryption`, `/db decrypt`, `/db test key`, as the
/// reference's `testDatabaseEncryption`, with a second user so that every database of the
/// prefix gets the key.
#[test]
fn database_encryption() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob) = alice_and_bob(dir.path(), &server, &[]);
    connect(&mut alice, &mut bob, "Alice", "Bob");
    alice.type_line("/create user alisa");
    alice.expect("/create user alisa");
    alice.expect("user profile: alisa");
    alice.expect("use /p <display name> to change it");
    alice.expect("(the updated profile will be sent to all your contacts)");
    alice.type_line("/user alice");
    alice.expect("/user alice");
    alice.expect("user profile: alice (Alice)");
    alice.expect("use /p <display name> to change it");
    alice.expect("(the updated profile will be sent to all your contacts)");
    let said = |a: &mut Client, line: &str, answer: &str| {
        a.type_line(line);
        a.expect(line);
        a.expect(answer);
    };
    said(&mut alice, "/db encrypt mykey", "error: chat not stopped");
    said(&mut alice, "/db decrypt mykey", "error: chat not stopped");
    said(&mut alice, "/_stop", "chat stopped");
    said(
        &mut alice,
        "/db decrypt mykey",
        "error: chat database is not encrypted",
    );
    said(&mut alice, "/db encrypt mykey", "ok");
    said(
        &mut alice,
        "/_start",
        "error: chat store changed, please restart chat",
    );
    said(
        &mut alice,
        "@bob hi",
        "error: chat store changed, please restart chat",
    );
    alice.stop();
    for db in [
        "alice_users.db",
        "alice_chat.db",
        "alice_agent.db",
        "alice_u2_chat.db",
    ] {
        let mut head = [0u8; 16];
        use std::io::Read;
        std::fs::File::open(dir.path().join(db))
            .and_then(|mut f| f.read_exact(&mut head))
            .expect(db);
        assert_ne!(&head, b"SQLite format 3\0", "{db} is encrypted");
    }

    // Without the key the chat does not open; with it, everything is there.
    let wrong = std::process::Command::new(env!("CARGO_BIN_EXE_simplex-chat"))
        .args([
            "-d",
            &dir.path().join("alice").to_string_lossy(),
            "-s",
            &server,
        ])
        .args(["-e", "/users"])
        .output()
        .expect("runs");
    assert!(!wrong.status.success(), "opened without its key");
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("cannot open the chat database (wrong key"),
        "{}",
        String::from_utf8_lossy(&wrong.stderr)
    );
    let mut alice = Client::start_with(dir.path(), "alice", &server, &["-k", "mykey", "-m"]);
    alice.expect("Current user: alice (Alice)");
    said(&mut alice, "/_start", "chat started");
    alice.type_line("/users");
    alice.expect("/users");
    alice.expect("alice (Alice) (active)");
    alice.expect("alisa");
    alice.type_line("@bob hi");
    alice.expect_item("@bob hi");
    bob.expect_item("alice> hi");
    bob.type_line("@alice hello");
    bob.expect_item("@alice hello");
    alice.expect_item("bob> hello");
    said(&mut alice, "/_stop", "chat stopped");
    said(
        &mut alice,
        "/db test key wrongkey",
        "error opening database after encryption: wrong passphrase or invalid database file",
    );
    said(&mut alice, "/db test key mykey", "ok");
    said(
        &mut alice,
        "/db key wrongkey nextkey",
        "error encrypting database: wrong passphrase or invalid database file",
    );
    said(&mut alice, "/db key mykey nextkey", "ok");
    said(
        &mut alice,
        r#"/_db encryption {"currentKey":"nextkey","newKey":"anotherkey"}"#,
        "ok",
    );
    alice.stop();

    let mut alice = Client::start_with(dir.path(), "alice", &server, &["-k", "anotherkey", "-m"]);
    alice.expect("Current user: alice (Alice)");
    said(&mut alice, "/_start", "chat started");
    alice.type_line("@bob again");
    alice.expect_item("@bob again");
    bob.expect_item("alice> again");
    said(&mut alice, "/_stop", "chat stopped");
    said(&mut alice, "/db decrypt anotherkey", "ok");
    alice.stop();

    let mut alice = Client::start(dir.path(), "alice", &server);
    alice.expect("Current user: alice (Alice)");
    alice.expect("1 contacts connected (use /cs for the list)");
    alice.type_line("/tail @bob 3");
    alice.expect("/tail @bob 3");
    alice.expect_item("@bob hi");
    alice.expect_item("bob> hello");
    alice.expect_item("@bob again");
    alice.type_line("@bob plain again");
    alice.expect_item("@bob plain again");
    bob.expect_item("alice> plain again");
    relay.stop();
}

/// The log options: `-l info --log-file` writes what happens with the relays to a file only
/// its owner reads; `--log-hosts` shows a relay's connection lost and back; a client without
/// them shows neither.
#[test]
fn log_options() {
    let (rt, identity, relay, server) = common::restartable_relay();
    let kh = identity.key_hash().expect("hash");
    let start = |addr| common::start_relay(&rt, &identity, addr);
    let addr = relay.addr;
    let dir = tempfile::tempdir().expect("tmp");
    let log = dir.path().join("alice.log");
    let log_arg = log.to_string_lossy().into_owned();
    let mut alice = Client::start_with(
        dir.path(),
        "alice",
        &server,
        &["--log-hosts", "-l", "info", "--log-file", &log_arg],
    );
    alice.create_profile("alice", "Alice");
    let mut bob = Client::start(dir.path(), "bob", &server);
    bob.create_profile("bob", "Bob");
    connect(&mut alice, &mut bob, "Alice", "Bob");

    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&log)
        .expect("log file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the log is the owner's only");
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(
        text.lines()
            .any(|l| l.contains("connected") && l.contains("127.0.0.1")),
        "{text}"
    );
    assert!(
        !text.contains(&simplex_codec::base64url::encode(&kh)),
        "{text}"
    );

    relay.stop();
    alice.expect("disconnected from SMP host 127.0.0.1");
    let relay = start(addr);
    // The client tries again with growing pauses: a minute at most.
    assert_eq!(
        alice.next_within(Duration::from_secs(90)),
        "connected to SMP host 127.0.0.1"
    );
    // This relay keeps no store: back, it no longer has alice's queue - said, not hidden.
    let lost = alice.next();
    assert!(
        lost.starts_with("error: 1 connection(s) lost: smp://")
            && lost.ends_with("no longer has their queues (AUTH)"),
        "{lost}"
    );
    relay.stop();
    // bob, without the options, printed no host lines (his queue lost on the restarted relay
    // is an error he sees if he was reconnected in time - before his command or while it
    // runs: the reconnection is his client's own).
    bob.type_line("/contacts");
    let mut seen = Vec::new();
    for _ in 0..6 {
        match bob.next() {
            l if l == "alice (Alice)" => break,
            l => seen.push(l),
        }
    }
    assert!(
        seen.len() < 6
            && seen.iter().filter(|l| *l == "/contacts").count() == 1
            && seen
                .iter()
                .all(|l| l == "/contacts" || l.starts_with("error: 1 connection(s) lost")),
        "{seen:?}"
    );
}

/// Private message routing, the reference's default (`--smp-proxy unknown`): alice on relay A
/// and bob on relay B connect and talk, each sending to the other's queue only through its
/// own relay (PRXY / PFWD; A and B forward with RFWD) - nothing goes directly to the other's
/// relay, as alice's log of the routing sessions shows.
#[test]
fn private_routing_through_ones_own_relay() {
    let (_rt_a, relay_a, server_a) = relay();
    let (_rt_b, relay_b, server_b) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let log = dir.path().join("alice.log");
    let log_arg = log.to_string_lossy().into_owned();
    let mut alice = Client::start_with(
        dir.path(),
        "alice",
        &server_a,
        &[
            "--log-agent",
            "--log-file",
            &log_arg,
            "--smp-proxy-fallback",
            "no",
        ],
    );
    alice.create_profile("alice", "Alice");
    let mut bob = Client::start_with(
        dir.path(),
        "bob",
        &server_b,
        &["--smp-proxy-fallback", "no"],
    );
    bob.create_profile("bob", "Bob");
    // By the short link: bob reads its data and secures alice's queue (LKEY) through B too.
    alice.type_line("/c");
    alice.expect("/c");
    let (short, _) = invitation_links(&mut alice);
    bob.type_line(&format!("/c {short}"));
    bob.expect(&format!("/c {short}"));
    bob.expect("confirmation sent!");
    bob.expect("alice (Alice): contact is connected");
    alice.expect("bob (Bob): contact is connected");
    alice.type_line("@bob hello through my relay");
    alice.expect_item("@bob hello through my relay");
    bob.expect_item("alice> hello through my relay");
    bob.type_line("@alice and through mine");
    bob.expect_item("@alice and through mine");
    alice.expect_item("bob> and through mine");
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(text.contains("private routing session"), "{text}");
    relay_a.stop();
    relay_b.stop();
}
