//! Channels with real `simplex-chat` processes: an owner (alice), a chat relay started with
//! `--relay` (bob), two subscribers (cath, dan). The owner configures the relay (`/relays`,
//! the reference's lines), creates the channel (`/_public group`), the relay accepts and is
//! published in the channel link's data; subscribers join by the channel's link through the
//! relay, receive what the owner sends (forwarded by the relay), never each other.

mod common;

use common::{address_links, relay, Client};

#[test]
fn a_channel_served_by_a_relay() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let mut alice = Client::start(dir.path(), "alice", &server);
    let mut bob = Client::start_with(dir.path(), "bob", &server, &["--relay"]);
    alice.create_profile("alice", "Alice");
    bob.create_profile("bob_relay", "Relay");
    bob.type_line("/ad");
    bob.expect("/ad");
    let (bob_address, _) = address_links(&mut bob, "Your new chat address is created!");

    alice.type_line(&format!("/relays name=bob_relay {bob_address}"));
    alice.expect(&format!("/relays name=bob_relay {bob_address}"));
    alice.expect("ok");
    alice.type_line("/relays");
    alice.expect("/relays");
    alice.expect("Your servers");
    alice.expect("  Chat relays");
    alice.expect(&format!("    bob_relay: {bob_address}"));

    let cmd = r#"/_public group 1 1 {"displayName": "news", "fullName": "", "description": "welcome to the news"}"#;
    alice.type_line(cmd);
    alice.expect(cmd);
    alice.expect("channel #news is created, subscribers join it by its link:");
    let link = alice.next();
    assert!(link.starts_with("https://127.0.0.1/c#"), "{link}");
    alice.expect("  relay bob_relay: invited");
    alice.expect("#news: relay bob_relay is active, subscribers join through it");
    alice.expect("#news: member bob_relay is connected");
    bob.expect("#news: serving the channel of alice as its relay");
    bob.expect("#news: you joined the group");
    let mut cath = Client::start(dir.path(), "cath", &server);
    cath.create_profile("cath", "Catherine");
    cath.type_line(&format!("/c {link}"));
    cath.expect(&format!("/c {link}"));
    cath.expect("#news: joining the channel through its relays...");
    cath.expect("#news: you joined the group");
    bob.expect("cath (Catherine): accepting request to join group #news...");
    bob.expect("#news: cath joined the group");
    alice.type_line("#news hello subscribers");
    alice.expect_item("#news hello subscribers");
    bob.expect_item("#news alice> hello subscribers");
    cath.expect_item("#news alice> hello subscribers [>>]");

    // A second subscriber: the history, then what is sent - never the other subscriber.
    let mut dan = Client::start(dir.path(), "dan", &server);
    dan.create_profile("dan", "Daniel");
    dan.type_line(&format!("/c {link}"));
    dan.expect(&format!("/c {link}"));
    dan.expect("#news: joining the channel through its relays...");
    dan.expect("#news: you joined the group");
    dan.expect_item("#news alice> hello subscribers [>>]");
    bob.expect("dan (Daniel): accepting request to join group #news...");
    bob.expect("#news: dan joined the group");
    alice.type_line("#news second post");
    alice.expect_item("#news second post");
    bob.expect_item("#news alice> second post");
    cath.expect_item("#news alice> second post [>>]");
    dan.expect_item("#news alice> second post [>>]");
    // Subscribers know the relay and the owner, not each other; the owner knows its relay.
    cath.type_line("/ms news");
    cath.expect("/ms news");
    cath.expect("cath (Catherine): observer, you, connected");
    cath.expect("bob_relay (Relay): relay, host, connected");
    cath.expect("alice (Alice): owner");
    dan.type_line("/ms news");
    dan.expect("/ms news");
    dan.expect("dan (Daniel): observer, you, connected");
    dan.expect("bob_relay (Relay): relay, host, connected");
    dan.expect("alice (Alice): owner");
    alice.type_line("/ms news");
    alice.expect("/ms news");
    alice.expect("alice (Alice): owner, you, created group");
    alice.expect("bob_relay: relay, invited, connected");
    bob.type_line("/ms news");
    bob.expect("/ms news");
    bob.expect("bob_relay (Relay): relay, you, connected");
    bob.expect("alice (Alice): owner, host, connected");
    bob.expect("cath (Catherine): observer, invited, connected");
    bob.expect("dan (Daniel): observer, invited, connected");
    // Subscribers only read.
    cath.type_line("#news may I?");
    cath.expect("#news may I?");
    cath.expect("#news: you don't have permission to send messages");
    alice.type_line("/_get relays #1");
    alice.expect("/_get relays #1");
    alice.expect("#news relays:");
    alice.expect("  relay bob_relay: active");

    // The relay restarts: it goes on serving.
    bob.stop();
    let mut bob = Client::start_with(dir.path(), "bob", &server, &["--relay"]);
    bob.expect("Current user: bob_relay (Relay)");
    bob.expect("#news: connected to server(s)");
    alice.type_line("#news after the restart");
    alice.expect_item("#news after the restart");
    bob.expect_item("#news alice> after the restart");
    cath.expect_item("#news alice> after the restart [>>]");
    dan.expect_item("#news alice> after the restart [>>]");
    relay.stop();
}
