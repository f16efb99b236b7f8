//! A call between two terminal clients, as the reference's terminal shows it (its
//! `testNegotiateCall`): the invitation with the link of the call page, the offer's link, the
//! answer to paste, more ICE candidates, the end - and each step's item in `/tail`.

mod common;

use common::{alice_and_bob, connect, relay, Client};

const BROWSERS: &str = " (only Chrome and Safari support e2e encryption for WebRTC, Safari may require enabling WebRTC insertable streams)";

/// The call page's link: its command (form-encoded JSON, checked to start as `command`) and
/// the contact id it names.
fn page_link(c: &mut Client, command: &str) -> i64 {
    let link = c.next();
    let rest = link
        .strip_prefix("https://simplex.chat/call#command=")
        .unwrap_or_else(|| panic!("a call page link: {link}"));
    assert!(rest.starts_with(command), "{link}");
    let (_, id) = rest.rsplit_once("&contact_id=").expect("contact_id");
    id.parse().expect("a contact id")
}

#[test]
fn a_call_negotiated_and_ended() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob) = alice_and_bob(dir.path(), &server, &[]);
    connect(&mut alice, &mut bob, "Alice", "Bob");

    // The form-encoded start of each page command (`{"type":"start","media":"video","aesKey"`).
    let start = "%7B%22type%22%3A%22start%22%2C%22media%22%3A%22video%22%2C%22aesKey%22%3A%22";
    let offer = "%7B%22type%22%3A%22offer%22%2C%22offer%22%3A%22%7B%7D%22%2C%22iceCandidates%22%3A%22%5B%5D%22%2C%22media%22%3A%22video%22%2C%22aesKey%22%3A%22";

    alice.command("/call @bob", &["ok"]);
    bob.expect("alice wants to connect with you via WebRTC video call (e2e encrypted)");
    bob.expect(&format!(
        "To accept the call, please open the link below in your browser{BROWSERS}"
    ));
    bob.expect("");
    let alice_id = page_link(&mut bob, start);

    let session = r#"{"rtcSession": "{}", "rtcIceCandidates": "[]"}"#;
    let accept = format!(
        r#"/_call offer @{alice_id} {{"callType": {{"media": "video", "capabilities": {{"encryption": true}}}}, "rtcSession": {session}}}"#
    );
    bob.command(&accept, &["ok"]);
    alice.expect("bob accepted your WebRTC video call (e2e encrypted)");
    alice.expect(&format!(
        "To connect, please open the link below in your browser{BROWSERS}"
    ));
    alice.expect("");
    let bob_id = page_link(&mut alice, offer);

    alice.command(&format!("/_call answer @{bob_id} {session}"), &["ok"]);
    bob.expect("alice continued the WebRTC call");
    bob.expect("To connect, please paste the data below in your browser window you opened earlier and click Connect button");
    bob.expect("");
    bob.expect(r#"{"type":"answer","answer":"{}","iceCandidates":"[]"}"#);

    alice.command(
        &format!(r#"/_call extra @{bob_id} {{"rtcIceCandidates": "[]"}}"#),
        &["ok"],
    );
    bob.expect("call extra info from alice");
    bob.command(&format!("/_call status @{alice_id} connected"), &["ok"]);
    bob.command(&format!("/_call end @{alice_id}"), &["ok"]);
    alice.expect("call with bob ended");
    // Nothing in progress now.
    bob.command(&format!("/_call end @{alice_id}"), &["no call in progress"]);

    alice.type_line("/tail @bob 1");
    alice.expect("/tail @bob 1");
    alice.expect_item("@bob outgoing call: ended (00:00)");
    bob.type_line("/tail @alice 1");
    bob.expect("/tail @alice 1");
    bob.expect_item("alice> incoming call: ended (00:00)");
    relay.stop();
}

/// The page's key in a call link (form-encoded, as printed).
fn link_key(link: &str) -> &str {
    let (_, rest) = link
        .split_once("aesKey%22%3A%22")
        .expect("a key in the link");
    rest.split_once("%22").expect("the key's end").0
}

/// A call bob is invited to survives his restart (kept as the reference keeps it): after it he
/// accepts, and both sides' pages get the same key.
#[test]
fn a_call_invitation_survives_a_restart() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob) = alice_and_bob(dir.path(), &server, &[]);
    connect(&mut alice, &mut bob, "Alice", "Bob");

    alice.command("/call @bob", &["ok"]);
    bob.expect("alice wants to connect with you via WebRTC video call (e2e encrypted)");
    bob.next();
    bob.expect("");
    let link = bob.next();
    let bob_key = link_key(&link).to_string();
    let (_, alice_id) = link.rsplit_once("&contact_id=").expect("contact_id");
    let alice_id: i64 = alice_id.parse().expect("an id");

    bob.stop();
    let mut bob = Client::start(dir.path(), "bob", &server);
    bob.skip_to("Current user: bob (Bob)");
    let accept = format!(
        r#"/_call offer @{alice_id} {{"callType": {{"media": "video", "capabilities": {{"encryption": true}}}}, "rtcSession": {{"rtcSession": "{{}}", "rtcIceCandidates": "[]"}}}}"#
    );
    bob.type_line(&accept);
    bob.skip_to(&accept);
    bob.expect("ok");
    alice.expect("bob accepted your WebRTC video call (e2e encrypted)");
    alice.next();
    alice.expect("");
    let link = alice.next();
    assert_eq!(link_key(&link), bob_key, "both pages get the same key");
    relay.stop();
}
