//! Channels with real `simplex-chat` processes: an owner (alice), chat relays started with
//! `--relay` (bob, later eve), subscribers (cath, dan, fay). The owner configures the relays
//! (`/relays`, the reference's lines), creates the channel (`/_public group`), a relay accepts
//! and is published in the channel link's data; subscribers join by the channel's link through
//! the relays, get the history and what the owner sends (forwarded by the relays, once with
//! two), never each other, cannot post. A relay restarted goes on serving; one that leaves is
//! taken out of the link's data and refuses to serve the channel again until its operator
//! allows it; the owner's deletion reaches every subscriber through the relays.

mod common;

use common::{address_links, relay, Client};

/// A chat relay (`--relay`) with its address made: the client and the address.
fn relay_client(
    dir: &std::path::Path,
    name: &'static str,
    server: &str,
    more: &[&str],
) -> (Client, String) {
    let mut args = vec!["--relay"];
    args.extend_from_slice(more);
    let mut r = Client::start_with(dir, name, server, &args);
    r.create_profile(&format!("{name}_relay"), "Relay");
    r.type_line("/ad");
    r.expect("/ad");
    let (address, _) = address_links(&mut r, "Your new chat address is created!");
    (r, address)
}

/// The owner (alice) creates channel `#news` (`cmd`) served by its one configured relay
/// (named `<relay>_relay`): the channel's link, once the relay is active and connected.
fn create_channel(owner: &mut Client, relay: &mut Client, cmd: &str) -> String {
    owner.type_line(cmd);
    owner.expect(cmd);
    owner.expect("channel #news is created, subscribers join it by its link:");
    let link = owner.next();
    assert!(link.starts_with("https://127.0.0.1/c#"), "{link}");
    let name = format!("{}_relay", relay.name);
    owner.expect(&format!("  relay {name}: invited"));
    owner.expect(&format!(
        "#news: relay {name} is active, subscribers join through it"
    ));
    owner.expect(&format!("#news: member {name} is connected"));
    relay.expect("#news: serving the channel of alice as its relay");
    relay.expect("#news: you joined the group");
    link
}

/// A subscriber joins `#news` by its link through its one relay, which announces it to the
/// owner.
fn subscribe(c: &mut Client, full: &str, link: &str, relay: &mut Client, owner: &mut Client) {
    c.type_line(&format!("/c {link}"));
    c.expect(&format!("/c {link}"));
    c.expect("#news: joining the channel through its relays...");
    c.expect("#news: you joined the group");
    relay.expect(&format!(
        "{} ({full}): accepting request to join group #news...",
        c.name
    ));
    relay.expect(&format!("#news: {} joined the group", c.name));
    announced(owner, c.name, full);
}

/// The owner's line for a subscriber a relay announced (the reference's
/// `joinedGroupMemberConnecting` line; whichever relay announced it first).
fn announced(owner: &mut Client, name: &str, full: &str) {
    let line = owner.next();
    assert!(
        line.starts_with("#news: ")
            && line.ends_with(&format!(
                "added {name} ({full}) to the group (connecting...)"
            )),
        "{}: {line}",
        owner.name
    );
}

/// alice, whose chat relay is bob (`/relays name=bob_relay <bob's address>`).
fn owner_with_relay(dir: &std::path::Path, server: &str) -> (Client, Client, String) {
    let mut alice = Client::start(dir, "alice", server);
    alice.create_profile("alice", "Alice");
    let (bob, bob_address) = relay_client(dir, "bob", server, &[]);
    alice.type_line(&format!("/relays name=bob_relay {bob_address}"));
    alice.expect(&format!("/relays name=bob_relay {bob_address}"));
    alice.expect("ok");
    (alice, bob, bob_address)
}

#[test]
fn a_channel_served_by_a_relay() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob, bob_address) = owner_with_relay(dir.path(), &server);
    alice.type_line("/relays");
    alice.expect("/relays");
    alice.expect("Your servers");
    alice.expect("  Chat relays");
    alice.expect(&format!("    bob_relay: {bob_address}"));

    let cmd = r#"/_public group 1 1 {"displayName": "news", "fullName": "", "description": "welcome to the news"}"#;
    let link = create_channel(&mut alice, &mut bob, cmd);
    let mut cath = Client::start(dir.path(), "cath", &server);
    cath.create_profile("cath", "Catherine");
    subscribe(&mut cath, "Catherine", &link, &mut bob, &mut alice);
    alice.type_line("#news hello subscribers");
    alice.expect_item("#news hello subscribers");
    bob.expect_item("#news alice> hello subscribers");
    cath.expect_item("#news alice> hello subscribers [>>]");
    // A post as the channel itself (the reference's `/_send #G(as_group=on)`): no author at
    // the relay and the subscribers; only the owner may.
    let as_channel = r#"/_send #1(as_group=on) json [{"msgContent": {"type": "text", "text": "from the channel"}}]"#;
    alice.type_line(as_channel);
    alice.expect(as_channel);
    alice.expect_item("#news from the channel");
    bob.expect_item("#news> from the channel");
    cath.expect_item("#news> from the channel [>>]");
    cath.type_line("/tail #news 1");
    cath.expect("/tail #news 1");
    cath.expect_item("#news> from the channel [>>]");
    let not_owner =
        r#"/_send #1(as_group=on) json [{"msgContent": {"type": "text", "text": "me?"}}]"#;
    cath.type_line(not_owner);
    cath.expect(not_owner);
    let refused = cath.next();
    assert!(refused.contains("only a channel's owner"), "{refused}");

    // A second subscriber: the history (the post as the channel without an author), then
    // what is sent - never the other subscriber.
    let mut dan = Client::start(dir.path(), "dan", &server);
    dan.create_profile("dan", "Daniel");
    subscribe(&mut dan, "Daniel", &link, &mut bob, &mut alice);
    dan.expect_item("#news alice> hello subscribers [>>]");
    dan.expect_item("#news> from the channel [>>]");
    alice.type_line("#news second post");
    alice.expect_item("#news second post");
    bob.expect_item("#news alice> second post");
    cath.expect_item("#news alice> second post [>>]");
    dan.expect_item("#news alice> second post [>>]");
    // A live post as the channel: started live at the relay and the subscribers, then
    // ended by its update - as a member's live message, without an author.
    let live = r#"/_send #1(as_group=on) live=on json [{"msgContent": {"type": "text", "text": "breaking"}}]"#;
    alice.type_line(live);
    alice.expect(live);
    fn started(c: &mut Client, text: &str) {
        let l = c.next();
        let rest = l.get(6..).unwrap_or_default();
        assert!(
            rest.starts_with("#news> [LIVE started] use /show [on/off/") && l.contains(text),
            "{}: {l}",
            c.name
        );
    }
    started(&mut bob, "] breaking");
    started(&mut cath, "] breaking [>>]");
    started(&mut dan, "] breaking [>>]");
    let page = alice.page("#1", 1);
    let meta = &page["chatItems"][0]["meta"];
    assert_eq!(meta["itemLive"], true, "{meta}");
    let id = meta["itemId"].as_i64().expect("itemId");
    let update = format!("/_update item #1 {id} text breaking news");
    alice.type_line(&update);
    alice.expect(&update);
    alice.expect_item("#news [LIVE] breaking news");
    bob.expect_item("#news> [LIVE ended] breaking news");
    cath.expect_item("#news> [LIVE ended] breaking news");
    dan.expect_item("#news> [LIVE ended] breaking news");
    // Subscribers know the relay and the owner, not each other; the owner knows its relay and
    // the subscribers its relay announced (never connected to them).
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
    alice.expect("cath (Catherine): observer");
    alice.expect("dan (Daniel): observer");
    alice.type_line("/i #news");
    alice.expect("/i #news");
    let id = alice.next();
    assert!(id.starts_with("group ID: "), "{id}");
    alice.expect("current members: 4");
    alice.type_line("/i #news cath");
    alice.expect("/i #news cath");
    alice.expect(&id);
    let member = alice.next();
    assert!(member.starts_with("member ID: "), "{member}");
    alice.expect("member not connected");
    bob.type_line("/ms news");
    bob.expect("/ms news");
    bob.expect("bob_relay (Relay): relay, you, connected");
    bob.expect("alice (Alice): owner, host, connected");
    bob.expect("cath (Catherine): observer, invited, connected");
    bob.expect("dan (Daniel): observer, invited, connected");
    // The channel's link again: known to a subscriber, the owner's own.
    cath.type_line(&format!("/c {link}"));
    cath.expect(&format!("/c {link}"));
    cath.expect("group link: known group #news");
    cath.expect("use #news <message> to send messages");
    alice.type_line(&format!("/c {link}"));
    alice.expect(&format!("/c {link}"));
    alice.expect("group link: own link for group #news");
    // Subscribers only read.
    cath.type_line("#news may I?");
    cath.expect("#news may I?");
    cath.expect("#news: you don't have permission to send messages");
    alice.type_line("/_get relays #1");
    alice.expect("/_get relays #1");
    alice.expect("#news relays:");
    alice.expect("  relay bob_relay: active");

    // A second relay: the subscribers are told of it (`x.grp.relay.new` from the owner,
    // through the first relay) and join through it too; a subscriber joining now joins
    // through both; each gets every message once.
    let (mut eve, eve_address) = relay_client(dir.path(), "eve", &server, &[]);
    let both = format!("/relays name=bob_relay {bob_address} name=eve_relay {eve_address}");
    alice.type_line(&both);
    alice.expect(&both);
    alice.expect("ok");
    alice.type_line("/_add relays #1 2");
    alice.expect("/_add relays #1 2");
    alice.expect("#news: relays asked");
    alice.expect("  relay bob_relay: active");
    alice.expect("  relay eve_relay: invited");
    alice.expect("#news: relay eve_relay is active, subscribers join through it");
    alice.expect("#news: member eve_relay is connected");
    eve.expect("#news: serving the channel of alice as its relay");
    eve.expect_unordered(&[
        "#news: you joined the group",
        "cath (Catherine): accepting request to join group #news...",
        "#news: cath joined the group",
        "dan (Daniel): accepting request to join group #news...",
        "#news: dan joined the group",
    ]);
    cath.expect("#news: member eve_relay is connected");
    dan.expect("#news: member eve_relay is connected");
    let mut fay = Client::start(dir.path(), "fay", &server);
    fay.create_profile("fay", "Fay");
    fay.type_line(&format!("/c {link}"));
    fay.expect(&format!("/c {link}"));
    fay.expect("#news: joining the channel through its relays...");
    let mut lines: Vec<String> = (0..6).map(|_| fay.next()).collect();
    lines.sort();
    assert!(
        [
            "#news: member bob_relay is connected",
            "#news: member eve_relay is connected"
        ]
        .contains(&lines[0].as_str()),
        "{lines:?}"
    );
    assert_eq!(lines[1], "#news: you joined the group", "{lines:?}");
    // The history, once (the post as the channel too, though both relays may send it).
    for post in [
        " #news alice> hello subscribers [>>]",
        " #news> from the channel [>>]",
        " #news alice> second post [>>]",
        " #news> breaking news [>>]",
    ] {
        let n = lines.iter().filter(|l| l.ends_with(post)).count();
        assert_eq!(n, 1, "{post}: {lines:?}");
    }
    for r in [&mut bob, &mut eve] {
        r.expect("fay (Fay): accepting request to join group #news...");
        r.expect("#news: fay joined the group");
    }
    // Both relays announce fay: the owner shows the first.
    announced(&mut alice, "fay", "Fay");
    alice.type_line("#news with two relays");
    alice.expect_item("#news with two relays");
    bob.expect_item("#news alice> with two relays");
    eve.expect_item("#news alice> with two relays");
    cath.expect_item("#news alice> with two relays [>>]");
    dan.expect_item("#news alice> with two relays [>>]");
    fay.expect_item("#news alice> with two relays [>>]");

    // The owner edits and deletes its post as the channel: as the channel's everywhere, once
    // though both relays send them (eve, a relay since, never had the post).
    alice.type_line("! #news (from the channel) from the channel, edited");
    alice.expect("! #news (from the channel) from the channel, edited");
    alice.expect_item("#news [edited] from the channel, edited");
    bob.expect_item("#news> [edited] from the channel, edited");
    for s in [&mut cath, &mut dan, &mut fay] {
        s.expect_item("#news> [edited] from the channel, edited");
    }
    alice.type_line("\\ #news from the channel");
    alice.expect("\\ #news from the channel");
    alice.expect("message marked deleted");
    bob.expect_item("#news> [marked deleted] from the channel, edited");
    for s in [&mut cath, &mut dan, &mut fay] {
        s.expect_item("#news> [marked deleted] from the channel, edited");
    }
    alice.type_line("#news after the edit");
    alice.expect_item("#news after the edit");
    bob.expect_item("#news alice> after the edit");
    eve.expect_item("#news alice> after the edit");
    for s in [&mut cath, &mut dan, &mut fay] {
        s.expect_item("#news alice> after the edit [>>]");
    }
    cath.type_line("/tail #news 5");
    cath.expect("/tail #news 5");
    cath.expect_item("#news> [marked deleted] from the channel, edited [>>]");
    cath.expect_item("#news alice> second post [>>]");
    cath.expect_item("#news> breaking news [>>]");
    cath.expect_item("#news alice> with two relays [>>]");
    cath.expect_item("#news alice> after the edit [>>]");

    // The relay restarts: it goes on serving.
    bob.stop();
    let mut bob = Client::start_with(dir.path(), "bob", &server, &["--relay"]);
    bob.expect("Current user: bob_relay (Relay)");
    bob.expect("#news: connected to server(s)");
    alice.type_line("#news after the restart");
    alice.expect_item("#news after the restart");
    bob.expect_item("#news alice> after the restart");
    eve.expect_item("#news alice> after the restart");
    cath.expect_item("#news alice> after the restart [>>]");
    dan.expect_item("#news alice> after the restart [>>]");
    fay.expect_item("#news alice> after the restart [>>]");

    // A relay that left does not serve the channel again until its operator allows it; the
    // owner takes its link out of the channel link's data.
    eve.type_line("/leave news");
    eve.expect("/leave news");
    eve.expect("#news: you left the group");
    eve.expect("use /d #news to delete the group");
    alice.expect("#news: eve_relay left the group");
    alice.expect("#news: relay eve_relay is inactive");
    for s in [&mut cath, &mut dan, &mut fay] {
        s.expect("#news: eve_relay left the group");
    }
    alice.type_line("/_add relays #1 2");
    alice.expect("/_add relays #1 2");
    alice.expect("#news: relays asked");
    alice.expect("  relay bob_relay: active");
    alice.expect("  relay eve_relay: inactive");
    alice.expect("  relay eve_relay: invited");
    eve.expect(
        "error: agent: alice asked again to serve a channel this relay left (/_relay allow #G \
         to serve it again)",
    );
    eve.type_line("/_relay allow #1");
    eve.expect("/_relay allow #1");
    eve.expect("#news: the channel will be served again when its owner asks");
    // Asked again (the unanswered request replaced): served.
    alice.type_line("/_add relays #1 2");
    alice.expect("/_add relays #1 2");
    alice.expect("#news: relays asked");
    alice.expect("  relay bob_relay: active");
    alice.expect("  relay eve_relay: inactive");
    alice.expect("  relay eve_relay: rejected");
    alice.expect("  relay eve_relay: invited");
    alice.expect("#news: relay eve_relay is active, subscribers join through it");
    alice.expect("#news: member eve_relay_2 is connected");
    eve.expect("#news_1: serving the channel of alice as its relay");
    // Its new link announced: the subscribers join through it again.
    eve.expect_unordered(&[
        "#news_1: you joined the group",
        "cath_1 (Catherine): accepting request to join group #news_1...",
        "#news_1: cath_1 joined the group",
        "dan_1 (Daniel): accepting request to join group #news_1...",
        "#news_1: dan_1 joined the group",
        "fay_1 (Fay): accepting request to join group #news_1...",
        "#news_1: fay_1 joined the group",
    ]);
    for s in [&mut cath, &mut dan, &mut fay] {
        s.expect("#news: member eve_relay_1 is connected");
    }
    // The owner deletes the channel: every subscriber is told through the relays.
    alice.type_line("/d #news");
    alice.expect("/d #news");
    alice.expect("#news: you deleted the group");
    for c in [&mut cath, &mut dan, &mut fay, &mut bob] {
        c.expect("#news: alice deleted the group");
        c.expect("use /d #news to delete the local copy of the group");
    }
    eve.expect("#news_1: alice_1 deleted the group");
    eve.expect("use /d #news_1 to delete the local copy of the group");
    relay.stop();
}

/// Reactions in a channel (every client with `--reactions`): the relay tells the owner who
/// reacted and the other subscribers only that someone did (the reference's relays), never the
/// reactor itself; the owner's own reactions reach the subscribers as the channel's too. A
/// post as the channel is quoted as the channel's (also in a later subscriber's history).
#[test]
fn reactions_and_quotes_in_a_channel() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let shown = ["--reactions"];
    let mut alice = Client::start_with(dir.path(), "alice", &server, &shown);
    alice.create_profile("alice", "Alice");
    let (mut bob, bob_address) = relay_client(dir.path(), "bob", &server, &[]);
    alice.type_line(&format!("/relays name=bob_relay {bob_address}"));
    alice.expect(&format!("/relays name=bob_relay {bob_address}"));
    alice.expect("ok");
    let cmd = r#"/_public group 1 1 {"displayName": "news", "fullName": ""}"#;
    let link = create_channel(&mut alice, &mut bob, cmd);
    let mut subscribers: Vec<Client> = [("cath", "Catherine"), ("dan", "Daniel")]
        .into_iter()
        .map(|(name, full)| {
            let mut c = Client::start_with(dir.path(), name, &server, &shown);
            c.create_profile(name, full);
            subscribe(&mut c, full, &link, &mut bob, &mut alice);
            c
        })
        .collect();
    let [cath, dan] = &mut subscribers[..] else {
        unreachable!()
    };
    alice.type_line("#news hello subscribers");
    alice.expect_item("#news hello subscribers");
    bob.expect_item("#news alice> hello subscribers");
    cath.expect_item("#news alice> hello subscribers [>>]");
    dan.expect_item("#news alice> hello subscribers [>>]");

    // cath reacts: alice is told it was cath, dan only that someone did.
    cath.type_line("+1 #news hello");
    cath.expect("+1 #news hello");
    cath.expect("added 👍");
    // (The owner knows cath: her relay announced her when she joined.)
    alice.expect_item("#news cath> > alice hello subscribers");
    alice.expect("    + 👍");
    dan.expect_item("#news> > alice hello subscribers");
    dan.expect("    + 👍");
    // dan too; then cath takes hers back.
    dan.type_line("+1 #news hello");
    dan.expect("+1 #news hello");
    dan.expect("added 👍");
    alice.expect_item("#news dan> > alice hello subscribers");
    alice.expect("    + 👍");
    cath.expect_item("#news> > alice hello subscribers");
    cath.expect("    + 👍");
    cath.type_line("-1 #news hello");
    cath.expect("-1 #news hello");
    cath.expect("removed 👍");
    alice.expect_item("#news cath> > alice hello subscribers");
    alice.expect("    - 👍");
    dan.expect_item("#news> > alice hello subscribers");
    dan.expect("    - 👍");
    // The owner's reaction: the channel's to the subscribers.
    alice.type_line("+🚀 #news hello");
    alice.expect("+🚀 #news hello");
    alice.expect("added 🚀");
    for s in [&mut *cath, &mut *dan] {
        s.expect_item("#news> > alice hello subscribers");
        s.expect("    + 🚀");
    }
    // No reaction came back to its reactor: the next line everyone sees is the next post.
    alice.type_line("#news next");
    alice.expect_item("#news next");
    bob.expect_item("#news alice> next");
    cath.expect_item("#news alice> next [>>]");
    dan.expect_item("#news alice> next [>>]");

    // A post as the channel quoted (by the owner's own post, then by one as the channel): the
    // quote names the channel, not the owner who wrote it.
    let as_channel =
        r#"/_send #1(as_group=on) json [{"msgContent": {"type": "text", "text": "channel news"}}]"#;
    alice.type_line(as_channel);
    alice.expect(as_channel);
    alice.expect_item("#news channel news");
    bob.expect_item("#news> channel news");
    cath.expect_item("#news> channel news [>>]");
    dan.expect_item("#news> channel news [>>]");
    alice.type_line("> #news (channel news) about that");
    alice.expect_item("#news > #news channel news");
    alice.expect("      about that");
    bob.expect_item("#news alice> > #news channel news");
    bob.expect("      about that");
    for s in [&mut *cath, &mut *dan] {
        s.expect_item("#news alice> > #news channel news [>>]");
        s.expect("      about that [>>]");
    }
    // A subscriber joining now gets the quote in the history too.
    let mut eve = Client::start_with(dir.path(), "eve", &server, &shown);
    eve.create_profile("eve", "Eve");
    subscribe(&mut eve, "Eve", &link, &mut bob, &mut alice);
    eve.expect_item("#news alice> hello subscribers [>>]");
    eve.expect_item("#news alice> next [>>]");
    eve.expect_item("#news> channel news [>>]");
    eve.expect_item("#news alice> > #news channel news [>>]");
    eve.expect("      about that [>>]");
    relay.stop();
}

/// A file in a channel: uploaded once by the owner, forwarded by the relay to each subscriber,
/// who receives it byte-identical.
/// The relay's address is made on the SMP relay its operator chose
/// (`--relay-address-server`), not on its `-s` one.
#[test]
fn a_file_in_a_channel() {
    let (rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (_xftp, xftp_address) = common::xftp_relay(&rt, dir.path());
    let args = ["--xftp-server", xftp_address.as_str()];
    let mut alice = Client::start_with(dir.path(), "alice", &server, &args);
    alice.create_profile("alice", "Alice");
    let (identity, _) =
        transport::Identity::generate(transport::SignAlgorithm::Ed448, "localhost").expect("id");
    let second = common::start_relay(&rt, &identity, "127.0.0.1:0".parse().expect("addr"));
    let second_address = common::relay_address(&identity, second.addr.port());
    let relay_args = [
        "--xftp-server",
        xftp_address.as_str(),
        "--relay-address-server",
        second_address.as_str(),
    ];
    let (mut bob, bob_address) = relay_client(dir.path(), "bob", &server, &relay_args);
    bob.type_line("/sa");
    bob.expect("/sa");
    let (_, bob_full) = address_links(&mut bob, "Your chat address:");
    let fingerprint = simplex_codec::base64url::encode(&identity.key_hash().expect("hash"));
    assert!(
        bob_full.contains(fingerprint.trim_end_matches('=')),
        "the address is not on the chosen relay: {bob_full}"
    );
    alice.type_line(&format!("/relays name=bob_relay {bob_address}"));
    alice.expect(&format!("/relays name=bob_relay {bob_address}"));
    alice.expect("ok");
    // The terminal's form of `/_public group`.
    let link = create_channel(&mut alice, &mut bob, "/public group relays=1 #news");
    let mut subscribers = Vec::new();
    for (name, full) in [("cath", "Catherine"), ("dan", "Daniel")] {
        let mut c = Client::start_with(dir.path(), name, &server, &args);
        c.create_profile(name, full);
        subscribe(&mut c, full, &link, &mut bob, &mut alice);
        subscribers.push(c);
    }
    let src = dir.path().join("src");
    let out = dir.path().join("out");
    std::fs::create_dir_all(&src).expect("src");
    std::fs::create_dir_all(&out).expect("out");
    let f = common::pseudo_random(70_000, 5);
    std::fs::write(src.join("f.bin"), &f).expect("write");
    let f_path = src.join("f.bin").to_string_lossy().into_owned();
    alice.type_line(&format!("/f #news {f_path}"));
    alice.expect_item(&format!("/f #news {f_path}"));
    alice.expect("use /fc 1 to cancel sending");
    alice.expect("completed uploading file 1 (f.bin) for #news");
    bob.expect_item("#news alice> sends file f.bin (68.4 KiB / 70000 bytes)");
    bob.expect("use /fr 1 [<dir>/ | <path>] to receive it");
    for c in subscribers.iter_mut() {
        c.expect_item("#news alice> sends file f.bin (68.4 KiB / 70000 bytes) [>>]");
        c.expect("use /fr 1 [<dir>/ | <path>] to receive it [>>]");
    }
    for (c, saved) in subscribers.iter_mut().zip(["f.bin", "f_1.bin"]) {
        common::groups::receive(c, 1, "f.bin", "alice", &out, saved);
        assert_eq!(std::fs::read(out.join(saved)).expect("received"), f);
    }

    // A file posted as the channel itself: no author at the relay and the subscribers, who
    // receive it from the channel.
    let g = common::pseudo_random(70_000, 6);
    std::fs::write(src.join("g.bin"), &g).expect("write");
    let g_path = src.join("g.bin").to_string_lossy().into_owned();
    let cmd = format!(
        r#"/_send #1(as_group=on) json [{{"fileSource": {{"filePath": "{g_path}"}}, "msgContent": {{"type": "file", "text": ""}}}}]"#
    );
    alice.type_line(&cmd);
    alice.expect(&cmd);
    alice.expect_item(&format!("/f #news {g_path}"));
    alice.expect("use /fc 2 to cancel sending");
    alice.expect("completed uploading file 2 (g.bin) for #news");
    bob.expect_item("#news> sends file g.bin (68.4 KiB / 70000 bytes)");
    bob.expect("use /fr 2 [<dir>/ | <path>] to receive it");
    for c in subscribers.iter_mut() {
        c.expect_item("#news> sends file g.bin (68.4 KiB / 70000 bytes) [>>]");
        c.expect("use /fr 2 [<dir>/ | <path>] to receive it [>>]");
    }
    for (c, saved) in subscribers.iter_mut().zip(["g.bin", "g_1.bin"]) {
        common::groups::receive(c, 2, "g.bin", "#news", &out, saved);
        assert_eq!(std::fs::read(out.join(saved)).expect("received"), g);
    }
    // A subscriber joining later gets it in the history, from the channel too.
    let mut eve = Client::start_with(dir.path(), "eve", &server, &args);
    eve.create_profile("eve", "Eve");
    subscribe(&mut eve, "Eve", &link, &mut bob, &mut alice);
    eve.expect_item("#news alice> sends file f.bin (68.4 KiB / 70000 bytes) [>>]");
    eve.expect("use /fr 1 [<dir>/ | <path>] to receive it [>>]");
    eve.expect_item("#news> sends file g.bin (68.4 KiB / 70000 bytes) [>>]");
    eve.expect("use /fr 2 [<dir>/ | <path>] to receive it [>>]");
    common::groups::receive(&mut eve, 2, "g.bin", "#news", &out, "g_2.bin");
    assert_eq!(std::fs::read(out.join("g_2.bin")).expect("received"), g);
    // Cancelled by the owner: the channel's file cannot be received any more.
    std::fs::write(src.join("h.bin"), common::pseudo_random(70_000, 7)).expect("write");
    let h_path = src.join("h.bin").to_string_lossy().into_owned();
    let cmd = format!(
        r#"/_send #1(as_group=on) json [{{"fileSource": {{"filePath": "{h_path}"}}, "msgContent": {{"type": "file", "text": ""}}}}]"#
    );
    alice.type_line(&cmd);
    alice.expect(&cmd);
    alice.expect_item(&format!("/f #news {h_path}"));
    alice.expect("use /fc 3 to cancel sending");
    alice.expect("completed uploading file 3 (h.bin) for #news");
    subscribers.push(eve);
    bob.skip_to("use /fr 3 [<dir>/ | <path>] to receive it");
    for c in subscribers.iter_mut() {
        c.skip_to("use /fr 3 [<dir>/ | <path>] to receive it [>>]");
    }
    alice.type_line("/fc 3");
    alice.expect("/fc 3");
    alice.expect("cancelled sending file 3 (h.bin) to bob_relay");
    for c in std::iter::once(&mut bob).chain(subscribers.iter_mut()) {
        c.expect("#news cancelled sending file 3 (h.bin)");
    }
    let d = out.to_string_lossy();
    let cath = &mut subscribers[0];
    cath.type_line(&format!("/fr 3 {d}/"));
    cath.expect(&format!("/fr 3 {d}/"));
    cath.expect("file cancelled: h.bin");
    relay.stop();
}

/// A channel prepared from its link's data (`/_prepare group ... direct=off`), then joined
/// (`/c` with its link) through its relay: the prepared group is the channel joined; the
/// plan says so at each step.
#[test]
fn a_prepared_channel_is_joined_through_its_relay() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob, _) = owner_with_relay(dir.path(), &server);
    let cmd = r#"/_public group 1 1 {"displayName": "news", "fullName": ""}"#;
    let link = create_channel(&mut alice, &mut bob, cmd);
    let mut cath = Client::start(dir.path(), "cath", &server);
    cath.create_profile("cath", "Catherine");

    // The channel's description (as the link's data would have it) is its welcome message:
    // the prepared channel opens with it, as the channel's post.
    let data = r#"{"groupProfile": {"displayName": "news", "fullName": "", "description": "about the news"}}"#;
    let prepare = format!("/_prepare group 1 {link} direct=off {data}");
    cath.type_line(&prepare);
    cath.expect(&prepare);
    cath.expect("#news: group is prepared");
    cath.type_line("/tail #news 1");
    cath.expect("/tail #news 1");
    cath.expect_item("#news> about the news");
    cath.type_line(&format!("/_connect plan 1 {link}"));
    cath.expect(&format!("/_connect plan 1 {link}"));
    cath.expect("group link: known prepared group #news");
    // Prepared once.
    cath.type_line(&prepare);
    cath.expect(&prepare);
    cath.expect("bad chat command: this channel is known already: see /_connect plan");
    // A channel is joined without a first message (its relays take no request's message).
    cath.type_line("/_connect group #1 text hi");
    cath.expect("/_connect group #1 text hi");
    cath.expect("bad chat command: a channel is joined without a message: send it once joined");

    // `/c` with the prepared channel's link joins it (`/_connect group #G` in bot_api.rs).
    cath.type_line(&format!("/c {link}"));
    cath.expect(&format!("/c {link}"));
    cath.expect("#news: connection started");
    cath.expect("#news: you joined the group");
    bob.expect("cath (Catherine): accepting request to join group #news...");
    bob.expect("#news: cath joined the group");
    announced(&mut alice, "cath", "Catherine");
    alice.type_line("#news hello subscribers");
    alice.expect_item("#news hello subscribers");
    bob.expect_item("#news alice> hello subscribers");
    cath.expect_item("#news alice> hello subscribers [>>]");
    cath.type_line(&format!("/c {link}"));
    cath.expect(&format!("/c {link}"));
    cath.expect("group link: known group #news");
    cath.expect("use #news <message> to send messages");
    relay.stop();
}
