//! Issue 11's acceptance run: five `simplex-chat` processes and our SMP and XFTP relays on
//! 127.0.0.1, with the reference's lines throughout. alice creates `#team` and adds four
//! members with different roles (bob admin, cath moderator, dan member, eve observer); a file
//! goes to the group; eve is stopped (SIGSTOP) while she is introduced and still gets bob's
//! message through alice, marked forwarded, then directly once she runs again; eve, who
//! joined late, gets the file in the history and receives it; a member blocked for himself
//! and one blocked for all by the moderator; files prohibited by the owner; dan restarted
//! while a message is on its way gets it; then removal, leaving and deletion, seen by every
//! member.

mod common;

use common::groups::{create_team, invite, join, receive, send};
use common::{connect, pseudo_random, relay, xftp_relay, Client};

/// The next line of `c` that ends with `tail` (lines printed on a start are skipped).
fn skip_to_end(c: &mut Client, tail: &str) {
    for _ in 0..50 {
        if c.next().ends_with(tail) {
            return;
        }
    }
    panic!("{}: no line ending with {tail:?}", c.name);
}

#[test]
fn five_members() {
    let (rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (_xftp, xftp_address) = xftp_relay(&rt, dir.path());
    let args = ["--xftp-server", xftp_address.as_str()];
    let start = |name: &'static str, full: &str| {
        let mut c = Client::start_with(dir.path(), name, &server, &args);
        c.create_profile(name, full);
        c
    };
    let mut alice = start("alice", "Alice");
    let mut bob = start("bob", "Bob");
    let mut cath = start("cath", "Catherine");
    let mut dan = start("dan", "Daniel");
    let mut eve = start("eve", "Eve");
    connect(&mut alice, &mut bob, "Alice", "Bob");
    connect(&mut alice, &mut cath, "Alice", "Catherine");
    connect(&mut alice, &mut dan, "Alice", "Daniel");
    connect(&mut alice, &mut eve, "Alice", "Eve");

    // Four members with four roles.
    create_team(&mut alice);
    invite(&mut alice, &mut bob, "admin");
    join(&mut alice, &mut bob);
    invite(&mut alice, &mut cath, "moderator");
    join(&mut alice, &mut cath);
    cath.expect("#team: member bob (Bob) is connected");
    bob.expect("#team: alice added cath (Catherine) to the group (connecting...)");
    bob.expect("#team: new member cath is connected");
    invite(&mut alice, &mut dan, "");
    join(&mut alice, &mut dan);
    dan.expect_unordered(&[
        "#team: member bob (Bob) is connected",
        "#team: member cath (Catherine) is connected",
    ]);
    for c in [&mut bob, &mut cath] {
        c.expect("#team: alice added dan (Daniel) to the group (connecting...)");
        c.expect("#team: new member dan is connected");
    }

    // A file to the group: one upload, bob receives it.
    let src = dir.path().join("src");
    let out = dir.path().join("out");
    std::fs::create_dir_all(&src).expect("src");
    std::fs::create_dir_all(&out).expect("out");
    let f = pseudo_random(300_000, 5);
    std::fs::write(src.join("f.bin"), &f).expect("write");
    let f_path = src.join("f.bin").to_string_lossy().into_owned();
    alice.type_line(&format!("/f #team {f_path}"));
    alice.expect_item(&format!("/f #team {f_path}"));
    alice.expect("use /fc 1 to cancel sending");
    for c in [&mut bob, &mut cath, &mut dan] {
        c.expect_item("#team alice> sends file f.bin (293.0 KiB / 300000 bytes)");
        c.expect("use /fr 1 [<dir>/ | <path>] to receive it");
    }
    alice.expect("completed uploading file 1 (f.bin) for #team");
    receive(&mut bob, 1, "f.bin", "alice", &out, "f.bin");
    assert_eq!(std::fs::read(out.join("f.bin")).expect("bob's"), f);

    // eve, an observer, is stopped as soon as she is in: bob's message reaches her through
    // alice, marked forwarded, when she runs again.
    invite(&mut alice, &mut eve, "observer");
    eve.type_line("/j team");
    eve.expect("/j team");
    alice.expect("#team: eve joined the group");
    eve.signal("STOP");
    for c in [&mut bob, &mut cath, &mut dan] {
        c.expect("#team: alice added eve (Eve) to the group (connecting...)");
    }
    send(&mut bob, "hi eve", &mut [&mut alice, &mut cath, &mut dan]);
    eve.signal("CONT");
    eve.expect_unordered(&[
        "#team: you joined the group",
        "~ #team alice> sends file f.bin (293.0 KiB / 300000 bytes) [>>]",
        "use /fr 1 [<dir>/ | <path>] to receive it [>>]",
        "~ #team bob> hi eve [>>]",
        "#team: member bob (Bob) is connected",
        "#team: member cath (Catherine) is connected",
        "#team: member dan (Daniel) is connected",
    ]);
    for c in [&mut bob, &mut cath, &mut dan] {
        c.expect("#team: new member eve is connected");
    }
    // Connected now: directly.
    send(
        &mut bob,
        "direct now",
        &mut [&mut alice, &mut cath, &mut dan, &mut eve],
    );
    // The late joiner receives the file of the history.
    receive(&mut eve, 1, "f.bin", "alice", &out, "f_1.bin");
    assert_eq!(std::fs::read(out.join("f_1.bin")).expect("eve's"), f);
    // An observer does not send.
    eve.type_line("#team may I?");
    eve.expect("#team may I?");
    eve.expect("#team: you don't have permission to send messages");

    // dan hides bob for himself; cath, a moderator, blocks dan for all.
    dan.type_line("/block #team bob");
    dan.expect("/block #team bob");
    dan.expect("ok");
    bob.type_line("#team can you hear me?");
    bob.expect_item("#team can you hear me?");
    for c in [&mut alice, &mut cath, &mut eve] {
        c.expect_item("#team bob> can you hear me?");
    }
    dan.expect_item("#team bob> can you hear me? [blocked] <muted>");
    cath.type_line("/block for all #team dan");
    cath.expect("/block for all #team dan");
    cath.expect("#team: you blocked dan");
    for c in [&mut alice, &mut bob, &mut eve] {
        c.expect("#team: cath blocked dan");
    }
    dan.type_line("#team hello?");
    dan.expect_item("#team hello?");
    for c in [&mut alice, &mut bob, &mut cath, &mut eve] {
        c.expect_item("#team dan> hello? [blocked by admin] <muted>");
    }

    // Files prohibited by the owner: refused.
    alice.type_line("/set files #team off");
    alice.expect("/set files #team off");
    alice.expect("updated group preferences:");
    alice.expect("Files and media: off");
    for c in [&mut bob, &mut cath, &mut dan, &mut eve] {
        c.expect("alice updated group #team:");
        c.expect("updated group preferences:");
        c.expect("Files and media: off");
    }
    bob.type_line(&format!("/f #team {f_path}"));
    bob.expect(&format!("/f #team {f_path}"));
    bob.expect("bad chat command: feature not allowed Files and media");

    // dan stops; a message sent meanwhile reaches him after his restart.
    dan.stop();
    send(
        &mut cath,
        "while dan is away",
        &mut [&mut alice, &mut bob, &mut eve],
    );
    let mut dan = Client::start_with(dir.path(), "dan", &server, &args);
    skip_to_end(&mut dan, "#team cath> while dan is away");
    send(
        &mut cath,
        "welcome back",
        &mut [&mut alice, &mut bob, &mut dan, &mut eve],
    );

    // Removal, leaving, deletion.
    alice.type_line("/rm team dan");
    alice.expect("/rm team dan");
    alice.expect("#team: you removed dan from the group");
    dan.expect("#team: alice removed you from the group");
    dan.expect("use /d #team to delete the group");
    for c in [&mut bob, &mut cath, &mut eve] {
        c.expect("#team: alice removed dan from the group");
    }
    eve.type_line("/l team");
    eve.expect("/l team");
    eve.expect("#team: you left the group");
    eve.expect("use /d #team to delete the group");
    for c in [&mut alice, &mut bob, &mut cath] {
        c.expect("#team: eve left the group");
    }
    alice.type_line("/d #team");
    alice.expect("/d #team");
    alice.expect("#team: you deleted the group");
    for c in [&mut bob, &mut cath] {
        c.expect("#team: alice deleted the group");
        c.expect("use /d #team to delete the local copy of the group");
    }
    bob.type_line("#team anyone?");
    bob.expect("#team anyone?");
    bob.expect("bad chat command: not current member");
    relay.stop();
}
