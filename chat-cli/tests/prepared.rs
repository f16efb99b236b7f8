//! Prepared contacts (`/_prepare contact`, `/_connect contact @N`): a contact made from a
//! link's data before connecting, then connected with a first message - by an address (the
//! message goes with the request and opens the chat on both sides) and by a one-time
//! invitation (sent once connected); the prepared contact takes the connection over.

mod common;

use common::{address_links, alice_and_bob, invitation_links, relay};

/// biz (with an address: its short and full links) and cath, a customer to be.
fn biz_and_cath(
    dir: &std::path::Path,
    server: &str,
) -> (common::Client, common::Client, String, String) {
    let mut biz = common::Client::start(dir, "biz", server);
    biz.create_profile("biz", "Biz Inc");
    let mut cath = common::Client::start(dir, "cath", server);
    cath.create_profile("cath", "Catherine");
    biz.type_line("/ad");
    biz.expect("/ad");
    let (short, full) = address_links(&mut biz, "Your new chat address is created!");
    (biz, cath, short, full)
}

/// biz's address made a business address whose auto-reply is `Welcome to Biz!`.
fn business_auto_reply(biz: &mut common::Client) {
    biz.type_line("/auto_accept on business Welcome to Biz!");
    biz.expect("/auto_accept on business Welcome to Biz!");
    biz.expect("auto_accept on, business");
    biz.expect("auto reply:");
    biz.expect("Welcome to Biz!");
}

/// A business card's link data with an older welcome message than the auto-reply.
const BIZ_CARD_DATA: &str = r#"{"profile":{"displayName":"biz","fullName":"Biz Inc"},"message":{"type":"text","text":"Welcome!"},"business":true}"#;

/// The link data a plan of alice's link shows (`ContactShortLinkData`).
const ALICE_DATA: &str =
    r#"{"profile":{"displayName":"alice","fullName":"Alice"},"business":false}"#;

#[test]
fn a_prepared_contact_connects_by_an_address_with_a_message() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob) = alice_and_bob(dir.path(), &server, &[]);
    alice.type_line("/ad");
    alice.expect("/ad");
    let (short, full) = address_links(&mut alice, "Your new chat address is created!");

    // Bad forms and data refused, nothing made.
    for (cmd, err) in [
        (
            format!("/_prepare contact 1 {full} {short}"),
            "invalid chat command: usage: /_prepare contact <userId> <fullLink>[ <shortLink>] <json linkData>",
        ),
        (
            format!("/_prepare contact 1 {full} {{\"profile\":1}}"),
            "invalid chat command: bad link data JSON",
        ),
    ] {
        bob.type_line(&cmd);
        bob.expect(&cmd);
        let got = bob.next();
        assert!(got.starts_with(err), "{got:?} for {cmd}");
    }

    let cmd = format!("/_prepare contact 1 {full} {short} {ALICE_DATA}");
    bob.type_line(&cmd);
    bob.expect(&cmd);
    bob.expect("alice: contact is prepared");
    // The link is known now: by either form, and preparing it again is refused.
    for link in [&short, &full] {
        bob.type_line(&format!("/_connect plan 1 {link}"));
        bob.expect(&format!("/_connect plan 1 {link}"));
        bob.expect("contact address: known prepared contact alice");
    }
    bob.type_line(&cmd);
    bob.expect(&cmd);
    bob.expect("contact address: known prepared contact alice");
    // Nothing can be sent before it is connected.
    bob.type_line("@alice too early");
    bob.expect("@alice too early");
    bob.expect("chat error: contact alice is not connected yet");

    bob.type_line("/_connect contact @2 text hello, it's bob");
    bob.expect("/_connect contact @2 text hello, it's bob");
    bob.expect_unordered(&["alice: connection started", "~ @alice hello, it's bob"]);
    alice.expect("bob (Bob) wants to connect to you!");
    alice.expect_item("bob> hello, it's bob");
    alice.expect("to accept: /ac bob");
    alice.expect("to reject: /rc bob (the sender will NOT be notified)");
    // Started once: again is refused.
    bob.type_line("/_connect contact @2");
    bob.expect("/_connect contact @2");
    bob.expect("bad chat command: the contact's connection is started already");

    alice.type_line("/ac bob");
    alice.expect("/ac bob");
    alice.expect("bob (Bob): accepting contact request, you can send messages to contact");
    bob.expect("alice (Alice): contact is connected");
    alice.expect("bob (Bob): contact is connected");
    bob.type_line("@alice hi");
    bob.expect_item("@alice hi");
    alice.expect_item("bob> hi");
    alice.type_line("@bob welcome");
    alice.expect_item("@bob welcome");
    bob.expect_item("alice> welcome");

    // One contact on bob's side (the prepared one, its name kept), the first message in both
    // chats.
    bob.type_line("/contacts");
    bob.expect("/contacts");
    bob.expect("alice (Alice)");
    bob.type_line("/tail @alice 3");
    bob.expect("/tail @alice 3");
    for line in ["@alice hello, it's bob", "@alice hi", "alice> welcome"] {
        bob.expect_item(line);
    }
    // Alice's chat opens with the request's message, then what a new contact's chat has.
    alice.type_line("/tail @bob 9");
    alice.expect("/tail @bob 9");
    for line in [
        "bob> hello, it's bob",
        "bob> This conversation is protected by end-to-end encryption with perfect forward \
         secrecy, repudiation and break-in recovery.",
        "bob> Disappearing messages: allowed",
        "bob> Full deletion: off",
        "bob> Message reactions: enabled",
        "bob> Voice messages: enabled",
        "bob> Audio/video calls: enabled",
        "bob> hi",
        "@bob welcome",
    ] {
        alice.expect_item(line);
    }
    relay.stop();
}

#[test]
fn a_prepared_contact_connects_by_an_invitation() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob) = alice_and_bob(dir.path(), &server, &[]);
    alice.type_line("/c");
    alice.expect("/c");
    let (short, full) = invitation_links(&mut alice);
    let cmd = format!("/_prepare contact 1 {full} {short} {ALICE_DATA}");
    bob.type_line(&cmd);
    bob.expect(&cmd);
    bob.expect("alice: contact is prepared");
    bob.type_line(&format!("/_connect plan 1 {short}"));
    bob.expect(&format!("/_connect plan 1 {short}"));
    bob.expect("invitation link: known prepared contact alice");

    // The message waits for the connection.
    bob.type_line("/_connect contact @2 json {\"type\":\"text\",\"text\":\"hi alice\"}");
    bob.expect("/_connect contact @2 json {\"type\":\"text\",\"text\":\"hi alice\"}");
    bob.expect("alice: connection started");
    bob.expect_unordered(&["alice (Alice): contact is connected", "~ @alice hi alice"]);
    alice.expect_unordered(&["bob (Bob): contact is connected", "~ bob> hi alice"]);
    alice.type_line("@bob hello");
    alice.expect_item("@bob hello");
    bob.expect_item("alice> hello");
    bob.type_line("/contacts");
    bob.expect("/contacts");
    bob.expect("alice (Alice)");

    // `/c` with a prepared contact's link connects that contact.
    alice.type_line("/c");
    alice.expect("/c");
    let (short, full) = invitation_links(&mut alice);
    let cmd = format!("/_prepare contact 1 {full} {short} {ALICE_DATA}");
    bob.type_line(&cmd);
    bob.expect(&cmd);
    bob.expect("alice_1: contact is prepared");
    bob.type_line(&format!("/c {short}"));
    bob.expect(&format!("/c {short}"));
    bob.expect("alice_1: connection started");
    bob.expect("alice_1 (Alice): contact is connected");
    alice.expect("bob_1 (Bob): contact is connected");
    bob.type_line("/contacts");
    bob.expect("/contacts");
    bob.expect_unordered(&["alice (Alice)", "alice_1 (Alice)"]);

    // A prepared contact deleted: the link is new again.
    alice.type_line("/c");
    alice.expect("/c");
    let (short, full) = invitation_links(&mut alice);
    let cmd = format!("/_prepare contact 1 {full} {short} {ALICE_DATA}");
    bob.type_line(&cmd);
    bob.expect(&cmd);
    bob.expect("alice_2: contact is prepared");
    bob.type_line(&format!("/_connect plan 1 {full}"));
    bob.expect(&format!("/_connect plan 1 {full}"));
    bob.expect("invitation link: known prepared contact alice_2");
    bob.type_line("/d @alice_2");
    bob.expect("/d @alice_2");
    bob.expect("alice_2: contact is deleted");
    bob.type_line(&format!("/_connect plan 1 {full}"));
    bob.expect(&format!("/_connect plan 1 {full}"));
    bob.expect("invitation link: ok to connect");
    relay.stop();
}

/// `/_prepare group` of a group link, then `/_connect group #G`: the prepared group is the
/// group joined (its id and name kept); a second start refused; the plan by either link says
/// what it is at each step.
#[test]
fn a_prepared_group_joins_by_its_group_link() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob) = alice_and_bob(dir.path(), &server, &[]);
    alice.type_line("/g team");
    alice.expect("/g team");
    alice.expect("group #team is created");
    alice.expect("to add members use /a team <name> or /create link #team");
    alice.type_line("/create link #team");
    alice.expect("/create link #team");
    alice.expect("Group link is created!");
    alice.expect("");
    let short = alice.next();
    alice.skip_to("to delete it: /delete link #team (joined members will remain connected to you)");
    let line = alice.next();
    let full = line
        .strip_prefix("The group link for old clients: ")
        .unwrap_or_else(|| panic!("{line}"))
        .to_string();
    alice.type_line("/set welcome team Welcome to the team!");
    alice.expect("/set welcome team Welcome to the team!");
    alice.expect("welcome message changed to:");
    alice.expect("Welcome to the team!");

    let data = r#"{"groupProfile":{"displayName":"team","fullName":"","description":"Welcome to the team!"}}"#;
    // A channel's flag with a group's link: refused.
    let cmd = format!("/_prepare group 1 {full} {short} direct=off {data}");
    bob.type_line(&cmd);
    bob.expect(&cmd);
    bob.expect("bad chat command: a channel is joined by its short link (https://<relay>/c#...)");
    let cmd = format!("/_prepare group 1 {full} {short} {data}");
    bob.type_line(&cmd);
    bob.expect(&cmd);
    bob.expect("#team: group is prepared");
    // The group's welcome message (its description) opens the chat, from a stand-in for the
    // host.
    bob.type_line("/tail #team 1");
    bob.expect("/tail #team 1");
    bob.expect_item("#team team_1> Welcome to the team!");
    bob.type_line(&format!("/_connect plan 1 {short}"));
    bob.expect(&format!("/_connect plan 1 {short}"));
    bob.expect("group link: known prepared group #team");
    // Nothing is sent to a group not joined yet (the reference's words for it).
    bob.type_line("#team too early");
    bob.expect("#team too early");
    bob.expect("you cannot invite other members yet, try later");
    // A first message goes with the request: in bob's chat at once; the group's host, as
    // the reference's, does not show it.
    bob.type_line("/_connect group #1 text hello");
    bob.expect("/_connect group #1 text hello");
    bob.expect_unordered(&["#team: connection started", "~ #team hello"]);
    alice.expect("bob (Bob): accepting request to join group #team...");
    alice.expect("#team: bob joined the group");
    bob.expect("#team: joining the group...");
    bob.expect("#team: you joined the group");
    // The welcome message is not sent again (bob has it): his next line is his message's.
    bob.type_line("#team hi all");
    bob.expect_item("#team hi all");
    alice.expect_item("#team bob> hi all");
    // It is the host's now: the host that admitted bob took the stand-in's place.
    bob.type_line("/tail #team 40");
    bob.expect("/tail #team 40");
    bob.skip_to("#team alice> Welcome to the team!");
    bob.skip_to("#team hi all");
    bob.type_line("/_connect group #1");
    bob.expect("/_connect group #1");
    bob.expect("bad chat command: the group's connection is started already");
    bob.type_line(&format!("/c {short}"));
    bob.expect(&format!("/c {short}"));
    bob.expect("group link: known group #team");
    bob.expect("use #team <message> to send messages");
    // One group, the prepared one (the next line is the next command's).
    bob.type_line("/gs");
    bob.expect("/gs");
    let line = bob.next();
    assert!(line.starts_with("#team"), "{line}");
    bob.type_line(&format!("/_connect plan 1 {full}"));
    bob.expect(&format!("/_connect plan 1 {full}"));
    bob.expect("group link: known group #team");
    relay.stop();
}

/// `/_prepare contact` of a business address's data makes a prepared group (the business
/// card); `/_connect group #G` asks the business, whose acceptance makes it the business chat.
#[test]
fn a_prepared_business_card_becomes_the_business_chat() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut biz, mut cath, short, full) = biz_and_cath(dir.path(), &server);
    business_auto_reply(&mut biz);

    // The link's data has an older welcome message: the card opens with it, from the
    // business.
    let cmd = format!("/_prepare contact 1 {full} {short} {BIZ_CARD_DATA}");
    cath.type_line(&cmd);
    cath.expect(&cmd);
    cath.expect("#biz: group is prepared");
    cath.type_line("/tail #biz 1");
    cath.expect("/tail #biz 1");
    cath.expect_item("#biz biz_1> Welcome!");
    cath.type_line(&format!("/_connect plan 1 {short}"));
    cath.expect(&format!("/_connect plan 1 {short}"));
    cath.expect("business address: known prepared business #biz");
    // The first message goes with the request: the business shows it as the customer's.
    cath.type_line("/_connect group #1 json {\"type\":\"text\",\"text\":\"hello biz\"}");
    cath.expect("/_connect group #1 json {\"type\":\"text\",\"text\":\"hello biz\"}");
    cath.expect_unordered(&["#biz: connection started", "~ #biz hello biz"]);
    biz.expect_item("#cath cath_1> hello biz");
    biz.expect("#cath (Catherine): accepting business address request...");
    cath.expect_unordered(&[
        "#biz: joining the group...",
        "#biz: you joined the group",
        "~ #biz biz_1> [edited] Welcome to Biz!",
    ]);
    biz.expect_unordered(&["#cath: cath_1 joined the group", "~ #cath Welcome to Biz!"]);
    // One welcome message in cath's chat, up to date, from the business that answered, then
    // cath's first message (the chat's informational items follow, up to the next command).
    cath.type_line("/tail #biz 20");
    cath.expect("/tail #biz 20");
    let mut welcome = Vec::new();
    loop {
        let line = cath.next();
        if line.ends_with("#biz hello biz") {
            break;
        }
        if line.contains("Welcome") {
            welcome.push(line);
        }
    }
    assert_eq!(welcome.len(), 1, "{welcome:?}");
    assert!(
        welcome[0].ends_with("#biz biz_1> Welcome to Biz!"),
        "{welcome:?}"
    );
    cath.type_line(&format!("/c {full}"));
    cath.skip_to(&format!("/c {full}"));
    cath.expect("business address: known business #biz");
    cath.expect("use #biz <message> to send messages");
    cath.type_line("#biz a question");
    cath.expect_item("#biz a question");
    biz.expect_item("#cath cath_1> a question");
    // The first message is in both chats under one shared id: the customer's edit of it
    // reaches it.
    cath.type_line("! #biz (hello biz) hello business");
    cath.expect("! #biz (hello biz) hello business");
    cath.expect_item("#biz [edited] hello business");
    biz.expect_item("#cath cath_1> [edited] hello business");
    relay.stop();
}

/// An address's welcome message (its auto-reply, in the link's data): a contact prepared from
/// the data has it as the chat's first message; when the address accepts, the auto-reply goes
/// as an edit of that message (its text changed since: brought up to date), not as another.
#[test]
fn the_welcome_message_of_a_prepared_contact_is_brought_up_to_date() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob) = alice_and_bob(dir.path(), &server, &[]);
    alice.type_line("/ad");
    alice.expect("/ad");
    let (short, full) = address_links(&mut alice, "Your new chat address is created!");
    alice.type_line("/auto_accept on Welcome!");
    alice.expect("/auto_accept on Welcome!");
    alice.expect("auto_accept on");
    alice.expect("auto reply:");
    alice.expect("Welcome!");

    let data = r#"{"profile":{"displayName":"alice","fullName":"Alice"},"message":{"type":"text","text":"Welcome!"},"business":false}"#;
    let cmd = format!("/_prepare contact 1 {full} {short} {data}");
    bob.type_line(&cmd);
    bob.expect(&cmd);
    bob.expect("alice: contact is prepared");
    bob.type_line("/tail @alice 1");
    bob.expect("/tail @alice 1");
    bob.expect_item("alice> Welcome!");

    alice.type_line("/auto_accept on Welcome, glad you came!");
    alice.expect("/auto_accept on Welcome, glad you came!");
    alice.expect("auto_accept on");
    alice.expect("auto reply:");
    alice.expect("Welcome, glad you came!");

    bob.type_line("/_connect contact @2");
    bob.expect("/_connect contact @2");
    bob.expect("alice: connection started");
    alice.expect("bob (Bob): accepting contact request, you can send messages to contact");
    alice.expect("bob (Bob): contact is connected");
    bob.expect("alice (Alice): contact is connected");
    bob.expect_item("alice> [edited] Welcome, glad you came!");
    // One welcome message in bob's chat, up to date; none sent again by alice.
    bob.type_line("/tail @alice 2");
    bob.expect("/tail @alice 2");
    bob.expect_item("alice> Audio/video calls: enabled");
    bob.expect_item("alice> Welcome, glad you came!");
    alice.type_line("@bob hi");
    alice.expect_item("@bob hi");
    bob.expect_item("alice> hi");
    relay.stop();
}

/// A contact's card of an address that became a business's since its data was read: the
/// business answers with its chat, which replaces the card (the reference's
/// `businessLinkConnecting`): one chat, the business's, named as the card was.
#[test]
fn a_prepared_contact_of_an_address_turned_business_becomes_the_business_chat() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut biz, mut cath, short, full) = biz_and_cath(dir.path(), &server);
    let data = r#"{"profile":{"displayName":"biz","fullName":"Biz Inc"},"business":false}"#;
    let cmd = format!("/_prepare contact 1 {full} {short} {data}");
    cath.type_line(&cmd);
    cath.expect(&cmd);
    cath.expect("biz: contact is prepared");
    biz.type_line("/auto_accept on business");
    biz.expect("/auto_accept on business");
    biz.expect("auto_accept on, business");

    cath.type_line("/_connect contact @2");
    cath.expect("/_connect contact @2");
    cath.expect("biz: connection started");
    biz.expect("#cath (Catherine): accepting business address request...");
    cath.expect("#biz: joining the group...");
    cath.expect("#biz: you joined the group");
    biz.expect("#cath: cath_1 joined the group");
    cath.type_line("#biz hello");
    cath.expect_item("#biz hello");
    biz.expect_item("#cath cath_1> hello");
    // The card is gone: no contact, the address known as the business chat.
    cath.type_line("/contacts");
    cath.expect("/contacts");
    cath.type_line(&format!("/_connect plan 1 {short}"));
    cath.expect(&format!("/_connect plan 1 {short}"));
    cath.expect("business address: known business #biz");
    cath.expect("use #biz <message> to send messages");
    relay.stop();
}

/// A business card moved to another user (`/_set group user`, the app's) before it connects:
/// the welcome message from the business comes with it, and it becomes that user's business
/// chat, the auto-reply an edit of the welcome message as on a card never moved.
#[test]
fn a_business_card_moved_to_another_user_connects_from_there() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut biz, mut cath, short, full) = biz_and_cath(dir.path(), &server);
    business_auto_reply(&mut biz);
    cath.type_line("/create user kate");
    cath.skip_to("(the updated profile will be sent to all your contacts)");
    cath.type_line("/user cath");
    cath.skip_to("(the updated profile will be sent to all your contacts)");
    let cmd = format!("/_prepare contact 1 {full} {short} {BIZ_CARD_DATA}");
    cath.type_line(&cmd);
    cath.expect(&cmd);
    cath.expect("#biz: group is prepared");
    cath.type_line("/_set group user #1 2");
    cath.expect("/_set group user #1 2");
    cath.expect("group #biz changed from user cath to user kate");
    cath.type_line("/user kate");
    cath.skip_to("(the updated profile will be sent to all your contacts)");
    cath.type_line("/tail #biz 1");
    cath.expect("/tail #biz 1");
    cath.expect_item("#biz biz_1> Welcome!");
    // Ids are unique across users: kate (user 2) numbers hers from 1,000,000,001.
    cath.type_line("/_connect group #1000000001 text hello from kate");
    cath.expect("/_connect group #1000000001 text hello from kate");
    cath.expect_unordered(&["#biz: connection started", "~ #biz hello from kate"]);
    biz.expect_item("#kate kate_1> hello from kate");
    biz.expect("#kate: accepting business address request...");
    cath.expect_unordered(&[
        "#biz: joining the group...",
        "#biz: you joined the group",
        "~ #biz biz_1> [edited] Welcome to Biz!",
    ]);
    biz.expect_unordered(&["#kate: kate_1 joined the group", "~ #kate Welcome to Biz!"]);
    relay.stop();
}
