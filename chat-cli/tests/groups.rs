//! Groups with real `simplex-chat` processes (the reference's `testGroupShared` and
//! `createGroup3` lines): a group created, two contacts added as admins, the second
//! introduced to the first by the host, messages from each member to all, the lists, roles
//! refused, and a member restarted keeping its membership.

mod common;

use common::groups::*;
use common::{alice_and_bob, connect, pseudo_random, relay, xftp_relay, Client};

#[test]
fn three_members_talk() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob, mut cath) = team(dir.path(), &server);
    send(&mut alice, "hello", &mut [&mut bob, &mut cath]);
    send(&mut bob, "hi there", &mut [&mut alice, &mut cath]);
    send(&mut cath, "hey team", &mut [&mut alice, &mut bob]);

    alice.type_line("/gs");
    alice.expect("/gs");
    alice.expect("#team (3 members)");
    alice.type_line("/ms team");
    alice.expect("/ms team");
    alice.expect("alice (Alice): owner, you, created group");
    alice.expect("bob (Bob): admin, invited, connected");
    alice.expect("cath (Catherine): admin, invited, connected");
    bob.type_line("/ms team");
    bob.expect("/ms team");
    bob.expect("bob (Bob): admin, you, connected");
    bob.expect("alice (Alice): owner, host, connected");
    bob.expect("cath (Catherine): admin, connected");
    cath.type_line("/ms #team");
    cath.expect("/ms #team");
    cath.expect("cath (Catherine): admin, you, connected");
    cath.expect("alice (Alice): owner, host, connected");
    cath.expect("bob (Bob): admin, connected");
    // The reference's `/i #group` and `/i #group member` lines.
    alice.type_line("/i #team");
    alice.expect("/i #team");
    let id = alice.next();
    assert!(id.starts_with("group ID: "), "{id}");
    alice.expect("current members: 3");
    alice.type_line("/i #team bob");
    alice.expect("/i #team bob");
    alice.expect(&id);
    let member = alice.next();
    assert!(member.starts_with("member ID: "), "{member}");
    alice.type_line("/i #team dan");
    alice.expect("/i #team dan");
    alice.expect("contact dan is not a group member");

    // Roles: an admin cannot make an owner; a contact already in the group is refused.
    bob.type_line("/g club");
    bob.expect("/g club");
    bob.expect("group #club is created");
    bob.expect("to add members use /a club <name> or /create link #club");
    alice.type_line("/a team bob");
    alice.expect("/a team bob");
    alice.expect("contact bob is already in the group");
    alice.type_line("#nope hi");
    alice.expect("#nope hi");
    alice.expect("no group #nope");
    bob.type_line("/gs");
    bob.expect("/gs");
    bob.expect("#club (1 member)");
    bob.expect("#team (3 members)");

    // cath restarts: still a member, messages both ways.
    cath.stop();
    let mut cath = Client::start(dir.path(), "cath", &server);
    cath.skip_to("Current user: cath (Catherine)");
    cath.expect("1 contacts connected (use /cs for the list)");
    cath.expect("#team: connected to server(s)");
    send(&mut alice, "welcome back", &mut [&mut bob, &mut cath]);
    send(&mut cath, "thanks", &mut [&mut alice, &mut bob]);
    relay.stop();
}

#[test]
fn invitations_checked() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob) = alice_and_bob(dir.path(), &server, &[]);
    connect(&mut alice, &mut bob, "Alice", "Bob");
    alice.type_line("/g team Our Team");
    alice.expect("/g team Our Team");
    alice.expect("group #team (Our Team) is created");
    alice.expect("to add members use /a team <name> or /create link #team");
    alice.type_line("/a team bob");
    alice.expect("/a team bob");
    alice.expect("invitation to join the group #team sent to bob");
    bob.expect("#team (Our Team): alice invites you to join the group as member");
    bob.expect("use /j team to accept");
    // Not joined yet: listed as invited, nothing can be sent.
    bob.type_line("/gs");
    bob.expect("/gs");
    bob.expect(
        "#team (Our Team) - you are invited (/j team to join, /d #team to delete invitation)",
    );
    bob.type_line("#team hi");
    bob.expect("#team hi");
    bob.expect("you did not join this group, use /join #team");
    bob.type_line("/j team");
    bob.expect("/j team");
    alice.expect("#team: bob joined the group");
    bob.expect("#team: you joined the group");
    // A member cannot add admins.
    bob.type_line("/a team alice admin");
    bob.expect("/a team alice admin");
    bob.expect(
        "#team: you have insufficient permissions for this action, the required role is admin",
    );
    bob.type_line("/j team");
    bob.expect("/j team");
    bob.expect("chat error: you are not invited to the group #team or have joined it already");
    relay.stop();
}

#[test]
fn roles_removal_and_leaving() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob, mut cath) = team(dir.path(), &server);
    alice.type_line("/mr team bob observer");
    alice.expect("/mr team bob observer");
    alice.expect("#team: you changed the role of bob to observer");
    bob.expect("#team: alice changed your role from admin to observer");
    cath.expect("#team: alice changed the role of bob from admin to observer");
    bob.type_line("#team hello");
    bob.expect("#team hello");
    bob.expect("#team: you don't have permission to send messages");
    bob.type_line("/rm team cath");
    bob.expect("/rm team cath");
    bob.expect(
        "#team: you have insufficient permissions for this action, the required role is admin",
    );
    alice.type_line("/mr team bob admin");
    alice.expect("/mr team bob admin");
    alice.expect("#team: you changed the role of bob to admin");
    bob.expect("#team: alice changed your role from observer to admin");
    cath.expect("#team: alice changed the role of bob from observer to admin");
    alice.type_line("/mr team bob admin");
    alice.expect("/mr team bob admin");
    alice.expect("#team: member role did not change");

    // An admin removes an admin: everyone is told, the member too.
    bob.type_line("/rm team cath");
    bob.expect("/rm team cath");
    bob.expect("#team: you removed cath from the group");
    alice.expect("#team: bob removed cath from the group");
    cath.expect("#team: bob removed you from the group");
    cath.expect("use /d #team to delete the group");
    send(&mut bob, "hi", &mut [&mut alice]);
    cath.type_line("#team hello");
    cath.expect("#team hello");
    cath.expect("bad chat command: not current member");
    cath.type_line("/gs");
    cath.expect("/gs");
    cath.expect("#team (you are removed, delete local copy: /d #team)");
    cath.type_line("/d #team");
    cath.expect("/d #team");
    cath.expect("#team: you deleted the group");
    cath.type_line("/gs");
    cath.expect("/gs");
    cath.expect("you have no groups!");
    cath.expect("to create: /g <name>");

    // bob leaves.
    bob.type_line("/l team");
    bob.expect("/l team");
    bob.expect("#team: you left the group");
    bob.expect("use /d #team to delete the group");
    alice.expect("#team: bob left the group");
    bob.type_line("#team anyone?");
    bob.expect("#team anyone?");
    bob.expect("bad chat command: not current member");
    alice.type_line("/ms team");
    alice.expect("/ms team");
    alice.expect("alice (Alice): owner, you, created group");
    alice.type_line("/gs");
    alice.expect("/gs");
    alice.expect("#team (1 member)");
    relay.stop();
}

#[test]
fn owner_deletes_the_group() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob, mut cath) = team(dir.path(), &server);
    // Only an owner deletes an active group for everyone.
    bob.type_line("/d #team");
    bob.expect("/d #team");
    bob.expect(
        "#team: you have insufficient permissions for this action, the required role is owner",
    );
    alice.type_line("/d #team");
    alice.expect("/d #team");
    alice.expect("#team: you deleted the group");
    for c in [&mut bob, &mut cath] {
        c.expect("#team: alice deleted the group");
        c.expect("use /d #team to delete the local copy of the group");
    }
    alice.type_line("#team hi");
    alice.expect("#team hi");
    alice.expect("no group #team");
    cath.type_line("#team hi");
    cath.expect("#team hi");
    cath.expect("bad chat command: not current member");
    bob.type_line("/d #team");
    bob.expect("/d #team");
    bob.expect("#team: you deleted the group");
    // The contacts stay.
    alice.type_line("@bob still here");
    alice.expect_item("@bob still here");
    bob.expect_item("alice> still here");
    relay.stop();
}

/// A member stopped (SIGSTOP) while a new member is introduced to it gets the new member's
/// message through the host, marked forwarded (` [>>]`), once it runs again; after the two
/// connect (and tell the host), messages go directly and are not forwarded.
#[test]
fn host_forwards_until_members_connect() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob, mut cath) = three(dir.path(), &server);
    create_team(&mut alice);
    invite(&mut alice, &mut bob, "admin");
    join(&mut alice, &mut bob);

    bob.signal("STOP");
    invite(&mut alice, &mut cath, "");
    join(&mut alice, &mut cath);
    cath.type_line("#team hi");
    cath.expect_item("#team hi");
    alice.expect_item("#team cath> hi");

    bob.signal("CONT");
    bob.expect("#team: alice added cath (Catherine) to the group (connecting...)");
    bob.expect_unordered(&[
        "~ #team cath> hi [>>]",
        "#team: new member cath is connected",
    ]);
    cath.expect("#team: member bob (Bob) is connected");
    // bob's x.grp.mem.con reaches alice before this message (one connection, in order):
    // from here alice forwards nothing between them.
    send(&mut bob, "ping", &mut [&mut alice, &mut cath]);
    send(&mut cath, "direct", &mut [&mut alice, &mut bob]);
    send(&mut alice, "all here", &mut [&mut bob, &mut cath]);
    relay.stop();
}

/// A member hides another's messages for itself (`/block`); admins may not (they block for
/// all), as the reference.
#[test]
fn blocking_a_member_for_oneself() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob, mut cath) = team(dir.path(), &server);
    alice.type_line("/mr team cath member");
    alice.expect("/mr team cath member");
    alice.expect("#team: you changed the role of cath to member");
    cath.expect("#team: alice changed your role from admin to member");
    bob.expect("#team: alice changed the role of cath from admin to member");
    cath.type_line("/block #team alice");
    cath.expect("/block #team alice");
    cath.expect("ok");
    cath.type_line("/ms team");
    cath.expect("/ms team");
    cath.expect("cath (Catherine): member, you, connected");
    cath.expect("alice (Alice): owner, host, connected, blocked");
    cath.expect("bob (Bob): admin, connected");
    alice.type_line("#team test 1");
    alice.expect_item("#team test 1");
    bob.expect_item("#team alice> test 1");
    cath.expect_item("#team alice> test 1 [blocked] <muted>");
    bob.type_line("/block #team alice");
    bob.expect("/block #team alice");
    bob.expect("admins or above can't block member for self, use /block for all #team alice");
    cath.type_line("/unblock #team alice");
    cath.expect("/unblock #team alice");
    cath.expect("ok");
    send(&mut alice, "test 2", &mut [&mut bob, &mut cath]);
    relay.stop();
}

/// A new member gets the group's recent messages from the host (v5.5), forwarded with their
/// authors, then talks with everyone.
#[test]
fn new_member_gets_the_history() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob, mut cath) = three(dir.path(), &server);
    create_team(&mut alice);
    invite(&mut alice, &mut bob, "");
    join(&mut alice, &mut bob);
    send(&mut alice, "hello", &mut [&mut bob]);
    send(&mut bob, "hi there", &mut [&mut alice]);

    invite(&mut alice, &mut cath, "");
    join(&mut alice, &mut cath);
    cath.expect_unordered(&[
        "~ #team alice> hello [>>]",
        "~ #team bob> hi there [>>]",
        "#team: member bob (Bob) is connected",
    ]);
    bob.expect("#team: alice added cath (Catherine) to the group (connecting...)");
    bob.expect("#team: new member cath is connected");
    send(&mut cath, "thanks", &mut [&mut alice, &mut bob]);
    relay.stop();
}

/// What the host sends to the group while a member it invited is not connected yet is kept
/// and sent once it is (the reference's pending group messages): without the history, the
/// messages themselves; with it, one copy (the history's) of each.
#[test]
fn messages_wait_for_a_member_still_joining() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob, mut cath) = three(dir.path(), &server);
    create_team(&mut alice);
    alice.type_line("/set history #team off");
    alice.expect("/set history #team off");
    alice.expect("updated group preferences:");
    alice.expect("Recent history: off");
    invite(&mut alice, &mut bob, "");
    alice.type_line("#team sent while you were invited");
    alice.expect_item("#team sent while you were invited");
    bob.type_line("/j team");
    bob.expect("/j team");
    // Invited, accepted or connected by now: it arrives once, whichever.
    alice.type_line("#team sent while you were joining");
    alice.expect_item("#team sent while you were joining");
    alice.expect("#team: bob joined the group");
    bob.expect("#team: you joined the group");
    bob.expect_item("#team alice> sent while you were invited");
    bob.expect_item("#team alice> sent while you were joining");
    send(&mut bob, "got both", &mut [&mut alice]);

    // With the history on, a message kept for cath is in her history too: one copy.
    alice.type_line("/set history #team on");
    alice.expect("/set history #team on");
    alice.expect("updated group preferences:");
    alice.expect("Recent history: on");
    bob.expect("alice updated group #team:");
    bob.expect("updated group preferences:");
    bob.expect("Recent history: on");
    invite(&mut alice, &mut cath, "");
    alice.type_line("#team sent while cath was invited");
    alice.expect_item("#team sent while cath was invited");
    bob.expect_item("#team alice> sent while cath was invited");
    join(&mut alice, &mut cath);
    cath.expect_unordered(&[
        "~ #team alice> sent while you were invited [>>]",
        "~ #team alice> sent while you were joining [>>]",
        "~ #team bob> got both [>>]",
        "~ #team alice> sent while cath was invited [>>]",
        "#team: member bob (Bob) is connected",
    ]);
    bob.expect("#team: alice added cath (Catherine) to the group (connecting...)");
    bob.expect("#team: new member cath is connected");
    send(&mut bob, "welcome cath", &mut [&mut alice, &mut cath]);
    relay.stop();
}

/// A message of a member who left comes in the history too: the new member records its
/// author as an unknown member, with the reference's lines.
#[test]
fn history_from_a_member_who_left() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob, mut cath) = three(dir.path(), &server);
    create_team(&mut alice);
    invite(&mut alice, &mut bob, "");
    join(&mut alice, &mut bob);
    send(&mut bob, "hello from bob", &mut [&mut alice]);
    bob.type_line("/l team");
    bob.expect("/l team");
    bob.expect("#team: you left the group");
    bob.expect("use /d #team to delete the group");
    alice.expect("#team: bob left the group");

    invite(&mut alice, &mut cath, "");
    join(&mut alice, &mut cath);
    cath.expect("#team: alice forwarded a message from an unknown member, creating unknown member record bob");
    cath.expect_item("#team bob> hello from bob [>>]");
    cath.type_line("/ms team");
    cath.expect("/ms team");
    cath.expect_unordered(&[
        "cath (Catherine): member, you, connected",
        "alice (Alice): owner, host, connected",
        "bob: author, status unknown",
    ]);
    send(&mut cath, "thanks", &mut [&mut alice]);
    relay.stop();
}

/// A contact who knows us by a random profile cannot be invited to a group that knows us by
/// our main profile (it would learn it), as the reference refuses.
#[test]
fn incognito_contacts_are_not_invited() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob) = alice_and_bob(dir.path(), &server, &[]);
    alice.type_line("/c i");
    alice.expect("/c i");
    let link = common::invitation_link(&mut alice);
    bob.type_line(&format!("/c {link}"));
    bob.expect(&format!("/c {link}"));
    bob.expect("confirmation sent!");
    let line = alice.next();
    assert!(
        line.starts_with("bob (Bob): contact is connected, your incognito profile"),
        "{line}"
    );
    alice.expect("use /i bob to print out this incognito profile again");
    bob.next(); // "<random name>: contact is connected"
    create_team(&mut alice);
    alice.type_line("/a team bob");
    alice.expect("/a team bob");
    alice.expect("you're using your main profile for this group - prohibited to invite contacts to whom you are connected incognito");
    relay.stop();
}

/// Files in a group, as the reference's `testXFTPGroupFileTransfer`, `testGroupHistory*File`
/// and `testProhibitFiles`: one upload, each member receives it with its own description;
/// a member who joins later gets both files in the history (the host's own file with a spare
/// description, a member's with the host's description after the host downloaded it) and
/// receives them; the sender cancels and a member that did not receive it is told; files
/// prohibited by the owner are refused.
#[test]
fn files_in_a_group() {
    let (rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (_xftp, xftp_address) = xftp_relay(&rt, dir.path());
    let args = ["--xftp-server", xftp_address.as_str()];
    let (mut alice, mut bob, mut cath) = team_with(dir.path(), &server, &args);
    let src = dir.path().join("src");
    let out = dir.path().join("out");
    std::fs::create_dir_all(&src).expect("src");
    std::fs::create_dir_all(&out).expect("out");
    let f = pseudo_random(300_000, 7);
    let g = pseudo_random(100_000, 11);
    std::fs::write(src.join("f.bin"), &f).expect("write");
    std::fs::write(src.join("g.bin"), &g).expect("write");
    let f_path = src.join("f.bin").to_string_lossy().into_owned();
    let g_path = src.join("g.bin").to_string_lossy().into_owned();

    alice.type_line(&format!("/f #team {f_path}"));
    alice.expect_item(&format!("/f #team {f_path}"));
    alice.expect("use /fc 1 to cancel sending");
    for c in [&mut bob, &mut cath] {
        c.expect_item("#team alice> sends file f.bin (293.0 KiB / 300000 bytes)");
        c.expect("use /fr 1 [<dir>/ | <path>] to receive it");
    }
    alice.expect("completed uploading file 1 (f.bin) for #team");
    receive(&mut bob, 1, "f.bin", "alice", &out, "f.bin");
    receive(&mut cath, 1, "f.bin", "alice", &out, "f_1.bin");
    assert_eq!(std::fs::read(out.join("f.bin")).expect("bob's"), f);
    assert_eq!(std::fs::read(out.join("f_1.bin")).expect("cath's"), f);
    alice.type_line("/fs 1");
    alice.expect("/fs 1");
    alice.expect("sending file 1 (f.bin) complete");

    // A member's file; the host receives it (its description still serves the history).
    bob.type_line(&format!("/f #team {g_path}"));
    bob.expect_item(&format!("/f #team {g_path}"));
    bob.expect("use /fc 2 to cancel sending");
    for c in [&mut alice, &mut cath] {
        c.expect_item("#team bob> sends file g.bin (97.7 KiB / 100000 bytes)");
        c.expect("use /fr 2 [<dir>/ | <path>] to receive it");
    }
    bob.expect("completed uploading file 2 (g.bin) for #team");
    receive(&mut alice, 2, "g.bin", "bob", &out, "g.bin");
    assert_eq!(std::fs::read(out.join("g.bin")).expect("alice's"), g);

    // dan joins later: both files come in the history, forwarded by alice.
    let mut dan = Client::start_with(dir.path(), "dan", &server, &args);
    dan.create_profile("dan", "Daniel");
    connect(&mut alice, &mut dan, "Alice", "Daniel");
    invite(&mut alice, &mut dan, "");
    join(&mut alice, &mut dan);
    dan.expect_unordered(&[
        "~ #team alice> sends file f.bin (293.0 KiB / 300000 bytes) [>>]",
        "use /fr 1 [<dir>/ | <path>] to receive it [>>]",
        "~ #team bob> sends file g.bin (97.7 KiB / 100000 bytes) [>>]",
        "use /fr 2 [<dir>/ | <path>] to receive it [>>]",
        "#team: member bob (Bob) is connected",
        "#team: member cath (Catherine) is connected",
    ]);
    for c in [&mut bob, &mut cath] {
        c.expect("#team: alice added dan (Daniel) to the group (connecting...)");
        c.expect("#team: new member dan is connected");
    }
    receive(&mut dan, 1, "f.bin", "alice", &out, "f_2.bin");
    receive(&mut dan, 2, "g.bin", "bob", &out, "g_1.bin");
    assert_eq!(std::fs::read(out.join("f_2.bin")).expect("dan's"), f);
    assert_eq!(std::fs::read(out.join("g_1.bin")).expect("dan's"), g);

    // bob cancels: the members it was offered to are named; cath, who did not take it, is
    // told and cannot receive it any more.
    bob.type_line("/fc 2");
    bob.expect("/fc 2");
    bob.expect("cancelled sending file 2 (g.bin) to alice, cath");
    cath.expect("bob cancelled sending file 2 (g.bin)");
    cath.type_line(&format!("/fr 2 {}/", out.to_string_lossy()));
    cath.expect(&format!("/fr 2 {}/", out.to_string_lossy()));
    cath.expect("file cancelled: g.bin");

    // Files prohibited by the owner: refused when sending.
    alice.type_line("/set files #team off");
    alice.expect("/set files #team off");
    alice.expect("updated group preferences:");
    alice.expect("Files and media: off");
    for c in [&mut bob, &mut cath, &mut dan] {
        c.expect("alice updated group #team:");
        c.expect("updated group preferences:");
        c.expect("Files and media: off");
    }
    bob.type_line(&format!("/f #team {g_path}"));
    bob.expect(&format!("/f #team {g_path}"));
    bob.expect("bad chat command: feature not allowed Files and media");
    // Only the owner changes preferences.
    bob.type_line("/set files #team on");
    bob.expect("/set files #team on");
    bob.expect(
        "#team: you have insufficient permissions for this action, the required role is owner",
    );
    send(&mut dan, "thanks", &mut [&mut alice, &mut bob, &mut cath]);
    relay.stop();
}

/// Joining through a group link, as the reference's `testGroupLink*NoContact` lines: the
/// admin accepts at once, the joiner is introduced to the members and gets the history; the
/// link is shown, refused twice, deleted; members who joined through it need not be contacts.
#[test]
fn group_link() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob) = alice_and_bob(dir.path(), &server, &[]);
    let mut cath = Client::start(dir.path(), "cath", &server);
    cath.create_profile("cath", "Catherine");
    create_team(&mut alice);
    alice.type_line("/show link #team");
    alice.expect("/show link #team");
    alice.expect("no group link, to create: /create link #team");
    alice.type_line("/create link #team");
    alice.expect("/create link #team");
    alice.expect("Group link is created!");
    alice.expect("");
    // A short link (`g`) on a relay that keeps link data, as the reference's.
    let link = alice.next();
    assert!(link.starts_with("https://127.0.0.1/g#"), "{link}");
    alice.expect("");
    alice.expect("Anybody can connect to you and join group as member with: /c <group_link_above>");
    alice.expect("to show it again: /show link #team");
    alice.expect("to delete it: /delete link #team (joined members will remain connected to you)");
    let line = alice.next();
    let full = line
        .strip_prefix("The group link for old clients: ")
        .unwrap_or_else(|| panic!("the full group link expected, got {line:?}"))
        .to_string();
    assert!(
        full.starts_with("https://simplex.chat/contact#/?v="),
        "{full}"
    );
    assert!(full.contains("data="), "{full}");
    alice.type_line("/create link #team");
    alice.expect("/create link #team");
    alice.expect("you already have link for this group, to show: /show link #team");
    // Its plan: ours for alice, new for bob.
    alice.type_line(&format!("/c {link}"));
    alice.expect(&format!("/c {link}"));
    alice.expect("group link: own link for group #team");
    alice.type_line(&format!("/c {full}"));
    alice.expect(&format!("/c {full}"));
    alice.expect("group link: own link for group #team");
    bob.type_line(&format!("/_connect plan 1 {link}"));
    bob.expect(&format!("/_connect plan 1 {link}"));
    bob.expect("group link: ok to connect");

    bob.type_line(&format!("/c {link}"));
    bob.expect(&format!("/c {link}"));
    bob.expect("connection request sent!");
    alice.expect("bob (Bob): accepting request to join group #team...");
    alice.expect("#team: bob joined the group");
    bob.expect("#team: joining the group...");
    bob.expect("#team: you joined the group");
    send(&mut bob, "hey now", &mut [&mut alice]);
    // Joined by it: the group is known, the link not used again.
    bob.type_line(&format!("/c {link}"));
    bob.expect(&format!("/c {link}"));
    bob.expect("group link: known group #team");
    bob.expect("use #team <message> to send messages");

    // The full link works as well (old clients).
    cath.type_line(&format!("/c {full}"));
    cath.expect(&format!("/c {full}"));
    cath.expect("connection request sent!");
    alice.expect("cath (Catherine): accepting request to join group #team...");
    alice.expect("#team: cath joined the group");
    cath.expect_unordered(&[
        "#team: joining the group...",
        "#team: you joined the group",
        "~ #team bob> hey now [>>]",
        "#team: member bob (Bob) is connected",
    ]);
    bob.expect("#team: alice added cath (Catherine) to the group (connecting...)");
    bob.expect("#team: new member cath is connected");
    send(&mut cath, "hi all", &mut [&mut alice, &mut bob]);
    send(&mut alice, "welcome", &mut [&mut bob, &mut cath]);
    // The host's profile came after the link's name only.
    cath.type_line("/ms team");
    cath.expect("/ms team");
    cath.expect("cath (Catherine): member, you, connected");
    cath.expect("alice (Alice): owner, host, connected");
    cath.expect("bob (Bob): member, connected");

    alice.type_line("/show link #team");
    alice.expect("/show link #team");
    alice.expect("Group link:");
    alice.expect("");
    alice.expect(&link);
    alice.skip_to("to delete it: /delete link #team (joined members will remain connected to you)");
    alice.expect(&format!("The group link for old clients: {full}"));
    // Joiners from now on come in as observers; an admin role is refused.
    alice.type_line("/set link role #team observer");
    alice.expect("/set link role #team observer");
    alice.expect("Group link:");
    alice.expect("");
    alice.expect(&link);
    alice.expect("");
    alice.expect(
        "Anybody can connect to you and join group as observer with: /c <group_link_above>",
    );
    alice.skip_to("to delete it: /delete link #team (joined members will remain connected to you)");
    alice.expect(&format!("The group link for old clients: {full}"));
    alice.type_line("/set link role #team admin");
    alice.expect("/set link role #team admin");
    alice.expect("#team: initial role for group member cannot be admin");
    alice.type_line("/delete link #team");
    alice.expect("/delete link #team");
    alice.expect("Group link is deleted - joined members will remain connected.");
    alice.expect("To create a new group link use /create link #team");
    alice.type_line("/delete link #team");
    alice.expect("/delete link #team");
    alice.expect("no group link, to create: /create link #team");
    send(&mut bob, "still here", &mut [&mut alice, &mut cath]);
    relay.stop();
}

/// A moderator or above blocks a member for all, as the reference's `testBlockForAll*`: every
/// other member sees its messages marked, the member is not told; a member who joins later
/// learns it with the introduction; another admin unblocks.
#[test]
fn blocking_a_member_for_all() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob, mut cath) = team(dir.path(), &server);
    send(&mut bob, "1", &mut [&mut alice, &mut cath]);
    alice.type_line("/block for all #team bob");
    alice.expect("/block for all #team bob");
    alice.expect("#team: you blocked bob");
    cath.expect("#team: alice blocked bob");
    alice.type_line("/ms team");
    alice.expect("/ms team");
    alice.expect("alice (Alice): owner, you, created group");
    alice.expect("bob (Bob): admin, invited, connected, blocked by admin");
    alice.expect("cath (Catherine): admin, invited, connected");
    bob.type_line("#team 2");
    bob.expect_item("#team 2");
    alice.expect_item("#team bob> 2 [blocked by admin] <muted>");
    cath.expect_item("#team bob> 2 [blocked by admin] <muted>");

    // dan joins: bob is blocked for him too, and its messages are not in the history.
    let mut dan = Client::start(dir.path(), "dan", &server);
    dan.create_profile("dan", "Daniel");
    connect(&mut alice, &mut dan, "Alice", "Daniel");
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
    bob.type_line("#team 3");
    bob.expect_item("#team 3");
    for c in [&mut alice, &mut cath, &mut dan] {
        c.expect_item("#team bob> 3 [blocked by admin] <muted>");
    }
    // A member cannot block; another admin unblocks.
    dan.type_line("/block for all #team cath");
    dan.expect("/block for all #team cath");
    dan.expect(
        "#team: you have insufficient permissions for this action, the required role is moderator",
    );
    cath.type_line("/unblock for all #team bob");
    cath.expect("/unblock for all #team bob");
    cath.expect("#team: you unblocked bob");
    alice.expect("#team: cath unblocked bob");
    dan.expect("#team: cath unblocked bob");
    send(&mut bob, "4", &mut [&mut alice, &mut cath, &mut dan]);
    relay.stop();
}

/// Incognito groups, as the reference's `testGroupLinkNoContactHostIncognito` and
/// `...InviteeIncognito`: the creator is a random profile in the group and adds members only
/// by link (a contact would learn who it is); a member joins incognito with `/c i`; neither
/// main profile reaches the others; items are marked `i `.
#[test]
fn incognito_group() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob) = alice_and_bob(dir.path(), &server, &[]);
    let mut cath = Client::start(dir.path(), "cath", &server);
    cath.create_profile("cath", "Catherine");
    connect(&mut alice, &mut bob, "Alice", "Bob");
    alice.type_line("/g i team");
    alice.expect("/g i team");
    let created = alice.next();
    let alias = created
        .strip_prefix("group #team is created, your incognito profile for this group is ")
        .unwrap_or_else(|| panic!("{created}"))
        .to_string();
    assert_ne!(alias, "alice");
    alice.expect("to add members use /create link #team");
    alice.type_line("/a team bob");
    alice.expect("/a team bob");
    alice.expect(
        "you are using an incognito profile for this group - prohibited to invite contacts",
    );
    alice.type_line("/gs");
    alice.expect("/gs");
    alice.expect("i #team (1 member)");

    let link = team_link(&mut alice);

    // cath joins with her profile: she knows alice only by the alias.
    cath.type_line(&format!("/c {link}"));
    cath.expect(&format!("/c {link}"));
    cath.expect("connection request sent!");
    alice.expect("cath (Catherine): accepting request to join group #team...");
    alice.expect("#team: cath joined the group");
    cath.expect("#team: joining the group...");
    cath.expect("#team: you joined the group");
    alice.type_line("#team hello");
    alice.expect_item("i #team hello");
    cath.expect_item(&format!("#team {alias}> hello"));
    cath.type_line("#team hi there");
    cath.expect_item("#team hi there");
    alice.expect_item("i #team cath> hi there");

    // bob joins incognito: nobody learns he is bob.
    bob.type_line(&format!("/c i {link}"));
    bob.expect(&format!("/c i {link}"));
    bob.expect("connection request sent incognito!");
    bob.expect("#team: joining the group...");
    let joined = bob.next();
    let bob_alias = joined
        .strip_prefix("#team: you joined the group incognito as ")
        .unwrap_or_else(|| panic!("{joined}"))
        .to_string();
    assert_ne!(bob_alias, "bob");
    alice.expect(&format!(
        "{bob_alias}: accepting request to join group #team..."
    ));
    alice.expect(&format!("#team: {bob_alias} joined the group"));
    bob.expect_unordered(&[
        format!("~ i #team {alias}> hello [>>]").as_str(),
        "~ i #team cath> hi there [>>]",
        "#team: member cath (Catherine) is connected",
    ]);
    // Two random names may be the same (1 in 1,024): cath then knows bob by the next free
    // local name.
    let bob_at_cath = if bob_alias == alias {
        format!("{bob_alias}_1")
    } else {
        bob_alias.clone()
    };
    cath.expect(&format!(
        "#team: {alias} added {bob_at_cath} to the group (connecting...)"
    ));
    cath.expect(&format!("#team: new member {bob_at_cath} is connected"));
    bob.type_line("#team hey");
    bob.expect_item("i #team hey");
    alice.expect_item(&format!("i #team {bob_alias}> hey"));
    cath.expect_item(&format!("#team {bob_at_cath}> hey"));
    // Their contact is untouched.
    alice.type_line("@bob still friends");
    alice.expect_item("@bob still friends");
    bob.expect_item("alice> still friends");
    relay.stop();
}

/// Replies, edits and deletions in a group, as the reference's `testGroupMessageQuotedReply`,
/// `...Update` and `...Delete` lines; a moderator deletes a member's message; `/tail #team`.
#[test]
fn quotes_edits_deletions() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob, mut cath) = team(dir.path(), &server);
    send(&mut alice, "hello!", &mut [&mut bob, &mut cath]);
    alice.type_line("! #team hey 👋");
    alice.expect("! #team hey 👋");
    alice.expect_item("#team [edited] hey 👋");
    bob.expect_item("#team alice> [edited] hey 👋");
    cath.expect_item("#team alice> [edited] hey 👋");

    bob.type_line("> #team @alice (hey) hi alice");
    bob.expect_item("#team > alice hey 👋");
    bob.expect("      hi alice");
    // A reply to alice's message: marked `!` for her, as the reference's.
    alice.expect_item("#team bob!> > alice hey 👋");
    alice.expect("      hi alice");
    cath.expect_item("#team bob> > alice hey 👋");
    cath.expect("      hi alice");
    // Quoting one's own message.
    alice.type_line("> #team (hey) and welcome");
    alice.expect_item("#team > alice hey 👋");
    alice.expect("      and welcome");
    for c in [&mut bob, &mut cath] {
        c.expect_item("#team alice> > alice hey 👋");
        c.expect("      and welcome");
    }

    send(&mut cath, "how are you?", &mut [&mut alice, &mut bob]);
    cath.type_line("\\ #team how");
    cath.expect("\\ #team how");
    cath.expect("message marked deleted");
    alice.expect_item("#team cath> [marked deleted] how are you?");
    bob.expect_item("#team cath> [marked deleted] how are you?");

    // A moderator deletes a member's message; a member may not.
    alice.type_line("/mr team cath member");
    alice.expect("/mr team cath member");
    alice.expect("#team: you changed the role of cath to member");
    cath.expect("#team: alice changed your role from admin to member");
    bob.expect("#team: alice changed the role of cath from admin to member");
    send(&mut cath, "spam spam", &mut [&mut alice, &mut bob]);
    cath.type_line("\\\\ #team bob hi");
    cath.expect("\\\\ #team bob hi");
    cath.expect(
        "#team: you have insufficient permissions for this action, the required role is moderator",
    );
    bob.type_line("\\\\ #team cath spam");
    bob.expect("\\\\ #team cath spam");
    bob.expect("message marked deleted by you");
    alice.expect_item("#team cath> [marked deleted by bob] spam spam");
    cath.expect_item("#team cath> [marked deleted by bob] spam spam");

    // Reactions: the reactor's line; members see them with the item.
    bob.type_line("+1 #team hey");
    bob.expect("+1 #team hey");
    bob.expect("added 👍");
    bob.type_line("-1 #team hey");
    bob.expect("-1 #team hey");
    bob.expect("removed 👍");

    // The role change is an item of the chat, as the reference's.
    bob.type_line("/tail #team 4");
    bob.expect("/tail #team 4");
    bob.expect_item("#team alice> > alice hey 👋");
    bob.expect("      and welcome");
    bob.expect_item("#team cath> [marked deleted] how are you?");
    bob.expect_item("#team alice> changed role of cath (Catherine) to member");
    bob.expect_item("#team cath> [marked deleted] spam spam");

    // Full deletion on: an author's deletion removes the message on every side.
    alice.type_line("/set delete #team on");
    alice.expect("/set delete #team on");
    alice.expect("updated group preferences:");
    alice.expect("Full deletion: on");
    for c in [&mut bob, &mut cath] {
        c.expect("alice updated group #team:");
        c.expect("updated group preferences:");
        c.expect("Full deletion: on");
    }
    send(&mut cath, "oops", &mut [&mut alice, &mut bob]);
    cath.type_line("\\ #team oops");
    cath.expect("\\ #team oops");
    cath.expect("message deleted");
    alice.expect_item("#team cath> [deleted] oops");
    bob.expect_item("#team cath> [deleted] oops");
    for c in [&mut alice, &mut bob, &mut cath] {
        c.type_line("/_get chat #1 count=1");
        c.expect("/_get chat #1 count=1");
        let page: serde_json::Value = serde_json::from_str(&c.next()).expect("JSON");
        assert_eq!(
            page["chatItems"][0]["meta"]["itemText"], "Full deletion: on",
            "{}: {page}",
            c.name
        );
    }
    // A moderator's deletion then leaves the reference's `moderated` item on every side.
    send(&mut cath, "spam again", &mut [&mut alice, &mut bob]);
    bob.type_line("\\\\ #team cath spam");
    bob.expect("\\\\ #team cath spam");
    bob.expect("message deleted by you");
    alice.expect_item("#team cath> [deleted by bob] spam again");
    cath.expect_item("#team cath> [deleted by bob] spam again");
    for (c, content, by) in [
        (&mut alice, "rcvModerated", "bob"),
        (&mut bob, "rcvModerated", "bob"),
        (&mut cath, "sndModerated", "bob"),
    ] {
        c.type_line("/_get chat #1 count=1");
        c.expect("/_get chat #1 count=1");
        let page: serde_json::Value = serde_json::from_str(&c.next()).expect("JSON");
        let item = &page["chatItems"][0];
        assert_eq!(item["meta"]["itemText"], "moderated", "{}: {item}", c.name);
        assert_eq!(item["content"]["type"], content, "{}: {item}", c.name);
        assert_eq!(
            item["meta"]["itemDeleted"]["type"], "moderated",
            "{}: {item}",
            c.name
        );
        assert_eq!(
            item["meta"]["itemDeleted"]["byGroupMember"]["localDisplayName"], by,
            "{}: {item}",
            c.name
        );
    }
    relay.stop();
}

/// The host killed (SIGKILL) as soon as a new member joined, before or while it introduces it
/// to the others: restarted, it finishes the introductions, and everyone connects.
#[test]
fn host_killed_while_introducing() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob, mut cath) = team(dir.path(), &server);
    send(&mut bob, "before", &mut [&mut alice, &mut cath]);
    let mut dan = Client::start(dir.path(), "dan", &server);
    dan.create_profile("dan", "Daniel");
    connect(&mut alice, &mut dan, "Alice", "Daniel");
    invite(&mut alice, &mut dan, "");
    dan.type_line("/j team");
    dan.expect("/j team");
    alice.expect("#team: dan joined the group");
    alice.kill();
    dan.expect("#team: you joined the group");
    let mut alice = Client::start(dir.path(), "alice", &server);
    alice.skip_to("Current user: alice (Alice)");
    alice.expect("3 contacts connected (use /cs for the list)");
    alice.expect("#team: connected to server(s)");
    dan.expect_unordered(&[
        "~ #team bob> before [>>]",
        "#team: member bob (Bob) is connected",
        "#team: member cath (Catherine) is connected",
    ]);
    for c in [&mut bob, &mut cath] {
        c.expect("#team: alice added dan (Daniel) to the group (connecting...)");
        c.expect("#team: new member dan is connected");
    }
    send(&mut dan, "all here", &mut [&mut alice, &mut bob, &mut cath]);
    relay.stop();
}

/// The owner renames the group and sets its welcome message, as the reference's
/// `testUpdateGroupProfile` and `testGroupDescription` lines; a new member gets the welcome
/// after the history.
#[test]
fn group_name_and_welcome() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob, mut cath) = team(dir.path(), &server);
    bob.type_line("/gp team my_team");
    bob.expect("/gp team my_team");
    bob.expect(
        "#team: you have insufficient permissions for this action, the required role is owner",
    );
    alice.type_line("/gp team my_team");
    alice.expect("/gp team my_team");
    alice.expect("changed to #my_team");
    for c in [&mut bob, &mut cath] {
        c.expect("alice updated group #team:");
        c.expect("changed to #my_team");
    }
    bob.type_line("#my_team hi");
    bob.expect_item("#my_team hi");
    alice.expect_item("#my_team bob> hi");
    cath.expect_item("#my_team bob> hi");

    bob.type_line("/show welcome #my_team");
    bob.expect("/show welcome #my_team");
    bob.expect("No welcome message!");
    alice.type_line("/set welcome my_team Welcome to the team!");
    alice.expect("/set welcome my_team Welcome to the team!");
    alice.expect("welcome message changed to:");
    alice.expect("Welcome to the team!");
    for c in [&mut bob, &mut cath] {
        c.expect("alice updated group #my_team:");
        c.expect("welcome message changed to:");
        c.expect("Welcome to the team!");
    }
    bob.type_line("/show welcome #my_team");
    bob.expect("/show welcome #my_team");
    bob.expect("Welcome message:");
    bob.expect("Welcome to the team!");

    let mut dan = Client::start(dir.path(), "dan", &server);
    dan.create_profile("dan", "Daniel");
    connect(&mut alice, &mut dan, "Alice", "Daniel");
    alice.type_line("/a my_team dan");
    alice.expect("/a my_team dan");
    alice.expect("invitation to join the group #my_team sent to dan");
    dan.expect("#my_team: alice invites you to join the group as member");
    dan.expect("use /j my_team to accept");
    dan.type_line("/j my_team");
    dan.expect("/j my_team");
    alice.expect("#my_team: dan joined the group");
    dan.expect_unordered(&[
        "#my_team: you joined the group",
        "~ #my_team bob> hi [>>]",
        "~ #my_team alice> Welcome to the team!",
        "#my_team: member bob (Bob) is connected",
        "#my_team: member cath (Catherine) is connected",
    ]);
    for c in [&mut bob, &mut cath] {
        c.expect("#my_team: alice added dan (Daniel) to the group (connecting...)");
        c.expect("#my_team: new member dan is connected");
    }
    // The user's own name for the group (`/_set alias #N`): only here.
    alice.type_line("/_set alias #1 Our team");
    alice.expect("/_set alias #1 Our team");
    alice.expect("group #my_team alias updated: Our team");
    // The reference's other forms: `/group_descr #g text`, `/delete welcome #g`.
    alice.type_line("/group_descr #my_team Hello again");
    alice.expect("/group_descr #my_team Hello again");
    alice.expect("welcome message changed to:");
    alice.expect("Hello again");
    alice.type_line("/delete welcome #my_team");
    alice.expect("/delete welcome #my_team");
    alice.expect("welcome message removed");
    for c in [&mut bob, &mut cath, &mut dan] {
        c.expect("alice updated group #my_team:");
        c.expect("welcome message changed to:");
        c.expect("Hello again");
        c.expect("alice updated group #my_team:");
        c.expect("welcome message removed");
    }
    relay.stop();
}

/// Disappearing messages in a group (`/set disappear #team on 1s`): the owner's preference
/// reaches the members, and a message then sent is gone from the sender and the members after
/// its time (polled with `/tail`, at most 10 s).
#[test]
fn disappearing_messages_in_a_group() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    // -r: what a member sees is read, and a received message's timer starts then.
    let (mut alice, mut bob, mut cath) = team_with(dir.path(), &server, &["-r"]);
    send(&mut alice, "stays", &mut [&mut bob, &mut cath]);
    alice.type_line("/set disappear #team on 1s");
    alice.expect("/set disappear #team on 1s");
    alice.expect("updated group preferences:");
    alice.expect("Disappearing messages: on (1 sec)");
    for c in [&mut bob, &mut cath] {
        c.expect("alice updated group #team:");
        c.expect("updated group preferences:");
        c.expect("Disappearing messages: on (1 sec)");
    }
    send(&mut alice, "gone soon", &mut [&mut bob, &mut cath]);
    for c in [&mut alice, &mut bob] {
        let mut gone = false;
        for _ in 0..50 {
            c.type_line("/tail #team 1");
            c.expect("/tail #team 1");
            let last = c.next();
            // Before the message: the preference's change, an item of the chat.
            if last.ends_with("Disappearing messages: on (1 sec)") {
                gone = true;
                break;
            }
            assert!(last.ends_with("gone soon"), "{last}");
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        assert!(gone, "{}: the message did not disappear", c.name);
    }
    alice.type_line("/set disappear #team off");
    alice.expect("/set disappear #team off");
    alice.expect("updated group preferences:");
    alice.expect("Disappearing messages: off");
    relay.stop();
}

/// `/mute #team` and `/unmute #team`, as the reference's `testMuteGroup`: the group's messages
/// (each line of a quote too) are shown marked `<muted>`, `/gs` says how to unmute; our own
/// and the other members' lines are unchanged.
#[test]
fn muting_a_group() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob, mut cath) = team(dir.path(), &server);
    send(&mut alice, "hello!", &mut [&mut bob, &mut cath]);
    bob.type_line("/mute #team");
    bob.expect("/mute #team");
    bob.expect("ok");
    alice.type_line("#team hi");
    alice.expect_item("#team hi");
    cath.expect_item("#team alice> hi");
    bob.expect_item("#team alice> hi <muted>");
    cath.type_line("> #team (hi) hello too!");
    cath.expect_item("#team > alice hi");
    cath.expect("      hello too!");
    alice.expect_item("#team cath!> > alice hi");
    alice.expect("      hello too!");
    bob.expect_item("#team cath> > alice hi <muted>");
    bob.expect("      hello too! <muted>");
    bob.type_line("/gs");
    bob.expect("/gs");
    bob.expect("#team (3 members, muted, you can /unmute #team)");
    // Mentions only (the reference's `/unmute mentions`): a reply to bob's message and a
    // mention of him are shown as usual (`alice!>`), the rest still marked.
    bob.type_line("#team hello");
    bob.expect_item("#team hello");
    alice.expect_item("#team bob> hello");
    cath.expect_item("#team bob> hello");
    bob.type_line("/unmute mentions #team");
    bob.expect("/unmute mentions #team");
    bob.expect("ok");
    alice.type_line("> #team @bob (hello) hey bob!");
    alice.expect_item("#team > bob hello");
    alice.expect("      hey bob!");
    bob.expect_item("#team alice!> > bob hello");
    bob.expect("      hey bob!");
    cath.expect_item("#team alice> > bob hello");
    cath.expect("      hey bob!");
    alice.type_line("> #team @cath (hello too) hey cath!");
    alice.expect_item("#team > cath hello too!");
    alice.expect("      hey cath!");
    bob.expect_item("#team alice> > cath hello too! <muted>");
    bob.expect("      hey cath! <muted>");
    cath.expect_item("#team alice!> > cath hello too!");
    cath.expect("      hey cath!");
    alice.type_line("#team @bob look");
    alice.expect_item("#team @bob look");
    bob.expect_item("#team alice!> @bob look");
    cath.expect_item("#team alice> @bob look");
    bob.type_line("/gs");
    bob.expect("/gs");
    bob.expect("#team (3 members, mentions only, you can /unmute #team)");
    bob.type_line("/unmute #team");
    bob.expect("/unmute #team");
    bob.expect("ok");
    send(&mut alice, "hi again", &mut [&mut bob, &mut cath]);
    bob.type_line("/gs");
    bob.expect("/gs");
    bob.expect("#team (3 members)");
    relay.stop();
}

/// `/switch #team bob`, as the reference's `testSwitchGroupMember`: the member connection's
/// receiving queue moves; both sides see it; the group's messages still go both ways.
#[test]
fn switching_a_members_address() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob, mut cath) = team(dir.path(), &server);
    alice.type_line("/switch #team bob");
    alice.expect("/switch #team bob");
    alice.expect_unordered(&[
        "switch started",
        "#team: you started changing address for bob",
    ]);
    bob.expect("#team: alice started changing address for you");
    bob.expect("#team: alice changed address for you");
    alice.expect("#team: you changed address for bob");
    send(&mut bob, "after the switch", &mut [&mut alice, &mut cath]);
    send(&mut alice, "received too", &mut [&mut bob, &mut cath]);
    relay.stop();
}

/// A direct contact with a member (`x.grp.direct.inv`, the reference's
/// `testGroupDeleteInvitedContact` lines): `@cath hey` from bob, who has no contact cath, makes
/// one and sends the invitation with the message; cath accepts by hand (members' contacts are
/// not accepted automatically by default), then - the contact deleted by bob and made again -
/// automatically.
#[test]
fn direct_contact_with_a_member() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob, mut cath) = team(dir.path(), &server);
    bob.type_line("@cath hey");
    bob.expect_unordered(&[
        "~ @cath hey",
        "member #team cath does not have direct connection, creating",
        "contact for member #team cath is created",
        "sent invitation to connect directly to member #team cath",
    ]);
    cath.expect_unordered(&[
        "#team bob is creating direct contact bob with you",
        "to accept: /_accept member contact @3 (to accept such contacts always: /set accept member contacts on)",
        "~ bob> hey",
    ]);
    // Not a contact before it is accepted.
    cath.type_line("@bob too early");
    cath.expect("@bob too early");
    cath.expect("chat error: contact bob is not connected yet");
    // The invitation is kept across a restart.
    cath.stop();
    let mut cath = Client::start(dir.path(), "cath", &server);
    cath.expect("Current user: cath (Catherine)");
    cath.expect("1 contacts connected (use /cs for the list)");
    cath.expect("#team: connected to server(s)");
    // By name (the reference's `/accept_member_contact @bob`).
    cath.type_line("/accept_member_contact @bob");
    cath.expect("/accept_member_contact @bob");
    cath.expect("bob: joining the member's invitation to connect directly");
    cath.expect("bob (Bob): contact is connected");
    bob.expect("cath (Catherine): contact is connected");
    bob.type_line("@cath direct now");
    bob.expect_item("@cath direct now");
    cath.expect_item("bob> direct now");
    cath.type_line("/_accept member contact @3");
    cath.expect("/_accept member contact @3");
    cath.expect("bad chat command: contact already accepted");
    // The group goes on as before.
    send(&mut alice, "still here", &mut [&mut bob, &mut cath]);

    // bob deletes the contact; the next message makes it again, accepted at once now.
    cath.type_line("/set accept member contacts on");
    cath.expect("/set accept member contacts on");
    cath.expect("ok");
    bob.type_line("/d cath");
    bob.expect("/d cath");
    bob.expect("cath: contact is deleted");
    cath.expect("bob (Bob) deleted contact with you");
    bob.type_line("@#team cath hello again");
    bob.expect_unordered(&[
        "~ @cath hello again",
        "member #team cath does not have direct connection, creating",
        "contact for member #team cath is created",
        "sent invitation to connect directly to member #team cath",
    ]);
    cath.expect_unordered(&[
        "#team bob is creating direct contact bob with you",
        "~ bob> hello again",
    ]);
    cath.expect("bob (Bob): contact is connected");
    bob.expect("cath (Catherine): contact is connected");
    cath.type_line("@bob hi");
    cath.expect_item("@bob hi");
    bob.expect_item("cath> hi");
    // A member's contact made twice is refused; a contact is not a member's to invite.
    bob.type_line("/_create member contact #1 2");
    bob.expect("/_create member contact #1 2");
    bob.expect("bad chat command: member contact already exists");
    bob.type_line("/_invite member contact @2 text hi");
    bob.expect("/_invite member contact @2 text hi");
    bob.expect("bad chat command: not a group member's contact");
    relay.stop();
}

/// alice (owner) turns on the review of joiners in `team`, where bob is an admin; cath joins
/// through the group link and is pending review, with the lines of the three sides.
fn review_joiners_and_join(alice: &mut Client, bob: &mut Client, cath: &mut Client) {
    alice.type_line("/set admission review #team all");
    alice.expect("/set admission review #team all");
    alice.expect("new members are reviewed by admins: all");
    bob.expect("alice updated group #team:");
    bob.expect("new members are reviewed by admins: all");
    let link = team_link(alice);
    cath.type_line(&format!("/c {link}"));
    cath.expect(&format!("/c {link}"));
    cath.expect("connection request sent!");
    alice.expect("cath (Catherine): accepting request to join group #team...");
    alice.expect("#team: cath connected and pending review, use /_accept member #1 2 <role> to accept member");
    cath.expect_unordered(&[
        "#team: joining the group...",
        "#team: you joined the group, connecting to group moderators for admission to group",
        "#team: member bob (Bob) is connected",
    ]);
    bob.expect("#team: alice added cath (Catherine) to the group (connecting and pending review...), use /_accept member #1 2 <role> to accept member");
    bob.expect("#team: new member cath is connected and pending review, use /_accept member #1 2 <role> to accept member");
}

/// Joiners reviewed by the admins (`/set admission review #team all`, the reference's
/// knocking): cath joins through the link pending review, talks with the moderators only (her
/// support chat), the host accepts her and she joins the rest of the group.
#[test]
fn joiners_reviewed_by_the_admins() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob) = alice_and_bob(dir.path(), &server, &[]);
    let mut cath = Client::start(dir.path(), "cath", &server);
    cath.create_profile("cath", "Catherine");
    connect(&mut alice, &mut bob, "Alice", "Bob");
    create_team(&mut alice);
    invite(&mut alice, &mut bob, "admin");
    join(&mut alice, &mut bob);
    review_joiners_and_join(&mut alice, &mut bob, &mut cath);

    // Pending: cath's messages go to the moderators only, as her support chat.
    cath.type_line("#team hello, may I join?");
    cath.expect_item("#team (support) hello, may I join?");
    alice.expect_item("#team (support: cath) cath> hello, may I join?");
    bob.expect_item("#team (support: cath) cath> hello, may I join?");
    alice.type_line("#team (support: cath) welcome, one moment");
    alice.expect_item("#team (support: cath) welcome, one moment");
    cath.expect_item("#team (support) alice> welcome, one moment");
    bob.expect_item("#team (support: cath) alice> welcome, one moment");
    // Restarted, she is still pending, still talking with the admins.
    cath.stop();
    let mut cath = Client::start(dir.path(), "cath", &server);
    cath.expect("Current user: cath (Catherine)");
    cath.type_line("#team (support) still here");
    cath.expect_item("#team (support) still here");
    alice.expect_item("#team (support: cath) cath> still here");
    bob.expect_item("#team (support: cath) cath> still here");
    // The group's own messages do not reach her yet.
    send(&mut bob, "members only", &mut [&mut alice]);
    cath.type_line("/ms team");
    cath.expect("/ms team");
    cath.expect("cath (Catherine): member, you, pending review");
    cath.expect("alice (Alice): owner, host, connected");
    cath.expect("bob (Bob): admin, connected");
    // Only a pending member is accepted; a member cannot accept.
    alice.type_line("/_accept member #1 1 member");
    alice.expect("/_accept member #1 1 member");
    alice.expect("bad chat command: member should be pending approval and invitee, or pending review and not invitee");

    alice.type_line("/_accept member #1 2 member");
    alice.expect("/_accept member #1 2 member");
    alice.expect("#team: you accepted cath to the group");
    bob.expect("#team: alice accepted cath to the group");
    cath.expect_unordered(&[
        "#team: you joined the group",
        "~ #team bob> members only [>>]",
    ]);
    send(&mut cath, "thanks, hi all", &mut [&mut alice, &mut bob]);
    send(&mut alice, "welcome cath", &mut [&mut bob, &mut cath]);
    cath.type_line("/ms team");
    cath.expect("/ms team");
    cath.expect("cath (Catherine): member, you, connected");
    cath.expect("alice (Alice): owner, host, connected");
    cath.expect("bob (Bob): admin, connected");

    // The admission as items of the support chats (the reference's texts): cath's own, and
    // hers as alice and bob keep it (member 2 on both sides).
    fn support_events(c: &mut Client, chat: &str) -> Vec<String> {
        let cmd = format!("/_get chat {chat} count=20");
        c.type_line(&cmd);
        c.expect(&cmd);
        let page: serde_json::Value = serde_json::from_str(&c.next()).expect("JSON");
        page["chatItems"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|i| {
                i["content"]["type"]
                    .as_str()
                    .is_some_and(|t| t.ends_with("GroupEvent"))
            })
            .map(|i| {
                i["meta"]["itemText"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    }
    assert_eq!(
        support_events(&mut cath, "#1(_support)"),
        [
            "please wait for group moderators to review your request to join the group",
            "accepted you"
        ]
    );
    assert_eq!(
        support_events(&mut alice, "#1(_support:2)"),
        [
            "new member wants to join the group",
            "you accepted this member"
        ]
    );
    assert_eq!(
        support_events(&mut bob, "#1(_support:2)"),
        [
            "new member wants to join the group",
            "accepted cath (Catherine)"
        ]
    );
    relay.stop();
}

/// The id of the latest item of `chat` (`#1`, `#1(_support:2)`) whose text is `text`.
fn item_id(c: &mut Client, chat: &str, text: &str) -> i64 {
    let cmd = format!("/_get chat {chat} count=50");
    c.type_line(&cmd);
    c.expect(&cmd);
    let page: serde_json::Value = serde_json::from_str(&c.next()).expect("JSON");
    page["chatItems"]
        .as_array()
        .expect("items")
        .iter()
        .rev()
        .find(|i| i["meta"]["itemText"] == text)
        .and_then(|i| i["meta"]["itemId"].as_i64())
        .unwrap_or_else(|| panic!("{}: no item {text:?} in {chat}: {page}", c.name))
}

/// A support chat carries what the group's chat does: quotes, a file (received by the
/// member pending review, byte-identical), edits, reactions and deletions - each to the
/// support chat's members only, shown in it on every side; quotes through the API in the
/// group's chat too.
#[test]
fn support_chat_content() {
    let (rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (_xftp, xftp_address) = xftp_relay(&rt, dir.path());
    let args = ["--xftp-server", xftp_address.as_str()];
    let (mut alice, mut bob) = alice_and_bob(dir.path(), &server, &args);
    let mut cath = Client::start_with(dir.path(), "cath", &server, &args);
    cath.create_profile("cath", "Catherine");
    connect(&mut alice, &mut bob, "Alice", "Bob");
    create_team(&mut alice);
    invite(&mut alice, &mut bob, "admin");
    join(&mut alice, &mut bob);
    // A quote through the API in the group's chat.
    send(&mut bob, "hello team", &mut [&mut alice]);
    let id = item_id(&mut alice, "#1", "hello team");
    let cmd = format!(
        r#"/_send #1 json [{{"quotedItemId": {id}, "msgContent": {{"type": "text", "text": "hi bob"}}}}]"#
    );
    alice.type_line(&cmd);
    alice.expect(&cmd);
    alice.expect_item("#team > bob hello team");
    alice.expect("      hi bob");
    bob.expect_item("#team alice!> > bob hello team");
    bob.expect("      hi bob");

    review_joiners_and_join(&mut alice, &mut bob, &mut cath);
    cath.type_line("#team hello, may I join?");
    cath.expect_item("#team (support) hello, may I join?");
    alice.expect_item("#team (support: cath) cath> hello, may I join?");
    bob.expect_item("#team (support: cath) cath> hello, may I join?");

    // alice quotes it in cath's support chat; a quote from another chat is refused.
    let id = item_id(&mut alice, "#1(_support:2)", "hello, may I join?");
    let cmd = format!(
        r#"/_send #1(_support:2) json [{{"quotedItemId": {id}, "msgContent": {{"type": "text", "text": "one question"}}}}]"#
    );
    alice.type_line(&cmd);
    alice.expect(&cmd);
    alice.expect_item("#team (support: cath) > cath hello, may I join?");
    alice.expect("      one question");
    cath.expect_item("#team (support) alice!> > cath hello, may I join?");
    cath.expect("      one question");
    bob.expect_item("#team (support: cath) alice> > cath hello, may I join?");
    bob.expect("      one question");
    let group_item = item_id(&mut alice, "#1", "hello team");
    let cmd = format!(
        r#"/_send #1(_support:2) json [{{"quotedItemId": {group_item}, "msgContent": {{"type": "text", "text": "x"}}}}]"#
    );
    alice.type_line(&cmd);
    alice.expect(&cmd);
    alice.expect(&format!(
        "bad chat command: item {group_item} is in another chat of the group and cannot be quoted"
    ));

    // A file in the support chat (the group's files preference does not apply there).
    let src = dir.path().join("captcha.bin");
    let bytes = pseudo_random(70_000, 5);
    std::fs::write(&src, &bytes).expect("write");
    let cmd = format!(
        r#"/_send #1(_support:2) json [{{"fileSource": {{"filePath": "{}"}}, "msgContent": {{"type": "file", "text": ""}}}}]"#,
        src.to_string_lossy()
    );
    alice.type_line(&cmd);
    alice.expect(&cmd);
    alice.expect_item(&format!("/f #team {}", src.to_string_lossy()));
    alice.expect("use /fc 1 to cancel sending");
    cath.expect_item("#team (support) alice> sends file captcha.bin (68.4 KiB / 70000 bytes)");
    cath.expect("use /fr 1 [<dir>/ | <path>] to receive it");
    bob.expect_item("#team (support: cath) alice> sends file captcha.bin (68.4 KiB / 70000 bytes)");
    bob.expect("use /fr 1 [<dir>/ | <path>] to receive it");
    alice.expect("completed uploading file 1 (captcha.bin) for #team");
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).expect("out");
    receive(&mut cath, 1, "captcha.bin", "alice", &out, "captcha.bin");
    assert_eq!(
        std::fs::read(out.join("captcha.bin")).expect("cath's"),
        bytes
    );

    // cath edits her message; alice reacts to it; bob deletes his own.
    let id = item_id(&mut cath, "#1(_support)", "hello, may I join?");
    let cmd = format!(
        r#"/_update item #1(_support) {id} json {{"msgContent": {{"type": "text", "text": "hello, may I join, please?"}}}}"#
    );
    cath.type_line(&cmd);
    cath.expect(&cmd);
    cath.expect_item("#team (support) [edited] hello, may I join, please?");
    alice.expect_item("#team (support: cath) cath> [edited] hello, may I join, please?");
    bob.expect_item("#team (support: cath) cath> [edited] hello, may I join, please?");
    let id = item_id(&mut alice, "#1(_support:2)", "hello, may I join, please?");
    let cmd = format!(r#"/_reaction #1(_support:2) {id} on {{"type": "emoji", "emoji": "👍"}}"#);
    alice.type_line(&cmd);
    alice.expect(&cmd);
    alice.expect("added 👍");
    // cath has it with her item (reactions are not printed without `--reactions`).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        cath.type_line("/_get chat #1(_support) count=50");
        cath.expect("/_get chat #1(_support) count=50");
        let page: serde_json::Value = serde_json::from_str(&cath.next()).expect("JSON");
        let item = page["chatItems"]
            .as_array()
            .expect("items")
            .iter()
            .find(|i| i["meta"]["itemText"] == "hello, may I join, please?")
            .cloned()
            .expect("cath's item");
        if item["reactions"][0]["totalReacted"] == 1 {
            assert_eq!(item["reactions"][0]["reaction"]["emoji"], "👍", "{item}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no reaction: {item}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    bob.type_line("#team (support: cath) typo");
    bob.expect_item("#team (support: cath) typo");
    alice.expect_item("#team (support: cath) bob> typo");
    cath.expect_item("#team (support) bob> typo");
    let id = item_id(&mut bob, "#1(_support:2)", "typo");
    let cmd = format!("/_delete item #1(_support:2) {id} broadcast");
    bob.type_line(&cmd);
    bob.expect(&cmd);
    bob.expect("message marked deleted");
    alice.expect_item("#team (support: cath) bob> [marked deleted] typo");
    cath.expect_item("#team (support) bob> [marked deleted] typo");

    // None of it reached the group's chat.
    for c in [&mut alice, &mut bob] {
        c.type_line("/_get chat #1 count=50");
        c.expect("/_get chat #1 count=50");
        let page: serde_json::Value = serde_json::from_str(&c.next()).expect("JSON");
        let texts: Vec<&str> = page["chatItems"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|i| i["meta"]["itemText"].as_str())
            .collect();
        for t in [
            "one question",
            "captcha.bin",
            "hello, may I join, please?",
            "typo",
        ] {
            assert!(
                !texts.iter().any(|x| x.contains(t)),
                "{}: {t:?} in {texts:?}",
                c.name
            );
        }
    }
    relay.stop();
}

/// Delivery receipts in a small group: a message is `sndRcvd` once every member it went to
/// acknowledged it; with receipts to groups off a member sends none.
#[test]
fn delivery_receipts_in_a_small_group() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob, mut cath) = team(dir.path(), &server);
    // The status of the latest item of `#team` (1 on every side here), polled (bounded).
    fn status_becomes(c: &mut Client, want: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            c.type_line("/_get chat #1 count=1");
            c.expect("/_get chat #1 count=1");
            let page: serde_json::Value = serde_json::from_str(&c.next()).expect("JSON");
            let status = page["chatItems"][0]["meta"]["itemStatus"]["type"].clone();
            if status == want {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{}: status {status}, not {want}",
                c.name
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    send(&mut alice, "hello", &mut [&mut bob, &mut cath]);
    status_becomes(&mut alice, "sndRcvd");
    // cath stops sending receipts to groups: bob's next message waits for hers.
    cath.type_line("/_set receipts groups 1 off");
    cath.expect("/_set receipts groups 1 off");
    cath.expect("ok");
    send(&mut bob, "hi all", &mut [&mut alice, &mut cath]);
    // Alice's receipt came (bob's item would be sndRcvd with cath's too): still sent.
    std::thread::sleep(std::time::Duration::from_millis(500));
    status_becomes(&mut bob, "sndSent");
    cath.type_line("/_set receipts groups 1 on");
    cath.expect("/_set receipts groups 1 on");
    cath.expect("ok");
    send(&mut bob, "again", &mut [&mut alice, &mut cath]);
    status_becomes(&mut bob, "sndRcvd");
    // The group's own setting wins over the user's default, both ways.
    cath.type_line("/receipts #team off");
    cath.expect("/receipts #team off");
    cath.expect("ok");
    send(&mut bob, "third", &mut [&mut alice, &mut cath]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    status_becomes(&mut bob, "sndSent");
    cath.type_line("/_set receipts groups 1 off");
    cath.expect("/_set receipts groups 1 off");
    cath.expect("ok");
    let settings = r#"/_settings #1 {"enableNtfs": "all", "sendRcpts": true, "favorite": true}"#;
    cath.type_line(settings);
    cath.expect(settings);
    cath.expect("ok");
    send(&mut bob, "fourth", &mut [&mut alice, &mut cath]);
    status_becomes(&mut bob, "sndRcvd");
    // cath's receipt for "fourth" came: one for "third" would have come before it, on the
    // same connection - there is none.
    bob.type_line("/_get chat #1 count=2");
    bob.expect("/_get chat #1 count=2");
    let page: serde_json::Value = serde_json::from_str(&bob.next()).expect("JSON");
    assert_eq!(page["chatItems"][0]["meta"]["itemText"], "third", "{page}");
    assert_eq!(
        page["chatItems"][0]["meta"]["itemStatus"]["type"], "sndSent",
        "{page}"
    );
    cath.type_line("/_get chat #1 count=1");
    cath.expect("/_get chat #1 count=1");
    let page: serde_json::Value = serde_json::from_str(&cath.next()).expect("JSON");
    assert_eq!(
        page["chatInfo"]["groupInfo"]["chatSettings"],
        serde_json::json!({"enableNtfs": "all", "sendRcpts": true, "favorite": true})
    );
    // Cleared with the default's change: none from cath again.
    cath.type_line("/_set receipts groups 1 off clear_overrides=on");
    cath.expect("/_set receipts groups 1 off clear_overrides=on");
    cath.expect("ok");
    send(&mut bob, "fifth", &mut [&mut alice, &mut cath]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    status_becomes(&mut bob, "sndSent");
    relay.stop();
}

/// What happened in a group is kept as items of its chat, as the reference keeps them and
/// prints them with `/tail`: the encryption notice and the features a chat starts with (the
/// creator's own, the host's for a member), members connected and added, a role changed, a
/// member gone.
#[test]
fn events_are_items_of_the_group_chat() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob, mut cath) = team_with(dir.path(), &server, &[]);
    send(&mut alice, "hello", &mut [&mut bob, &mut cath]);
    const E2EE: &str = "This conversation is protected by end-to-end encryption with perfect \
                        forward secrecy, repudiation and break-in recovery.";
    const FEATURES: [&str; 9] = [
        "Disappearing messages: off",
        "Direct messages: on",
        "Full deletion: off",
        "Message reactions: on",
        "Voice messages: on",
        "Files and media: on",
        "SimpleX links: on",
        "Member reports: on",
        "Recent history: on",
    ];
    alice.type_line("/tail #team 20");
    alice.expect("/tail #team 20");
    alice.expect_item(&format!("#team {E2EE}"));
    for f in FEATURES {
        alice.expect_item(&format!("#team {f}"));
    }
    alice.expect_item("#team bob> connected");
    alice.expect_item("#team cath> connected");
    alice.expect_item("#team hello");
    bob.type_line("/tail #team 20");
    bob.expect("/tail #team 20");
    bob.expect_item(&format!("#team alice> {E2EE}"));
    for f in FEATURES {
        bob.expect_item(&format!("#team alice> {f}"));
    }
    bob.expect_item("#team alice> connected");
    bob.expect_item("#team alice> added cath (Catherine)");
    bob.expect_item("#team cath> connected");
    bob.expect_item("#team alice> hello");

    alice.type_line("/mr team cath member");
    alice.expect("/mr team cath member");
    alice.expect("#team: you changed the role of cath to member");
    cath.expect("#team: alice changed your role from admin to member");
    bob.expect("#team: alice changed the role of cath from admin to member");
    cath.type_line("/l team");
    cath.expect("/l team");
    cath.expect("#team: you left the group");
    cath.expect("use /d #team to delete the group");
    alice.expect("#team: cath left the group");
    bob.expect("#team: cath left the group");
    for (c, by) in [(&mut alice, ""), (&mut bob, "alice> ")] {
        c.type_line("/tail #team 2");
        c.expect("/tail #team 2");
        c.expect_item(&format!(
            "#team {by}changed role of cath (Catherine) to member"
        ));
        c.expect_item("#team cath> left");
    }
    cath.type_line("/tail #team 2");
    cath.expect("/tail #team 2");
    cath.expect_item("#team alice> changed your role to member");
    cath.expect_item("#team left");
    relay.stop();
}

/// Live messages in a group, as the reference's `testGroupLiveMessage`: started on every
/// member's side, ended by an edit (`!`) or by the API's update without `live=on`.
#[test]
fn live_messages_in_a_group() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob, mut cath) = team(dir.path(), &server);
    fn started(c: &mut Client, text: &str) {
        let l = c.next();
        let rest = l.get(6..).unwrap_or_default();
        assert!(
            rest.starts_with("#team alice> [LIVE started] use /show [on/off/")
                && l.ends_with(&format!("] {text}")),
            "{}: {l}",
            c.name
        );
    }
    alice.type_line("/live #team hello");
    alice.expect("/live #team hello");
    started(&mut bob, "hello");
    started(&mut cath, "hello");
    alice.type_line("! #team hello there");
    alice.expect("! #team hello there");
    alice.expect_item("#team [LIVE] hello there");
    bob.expect_item("#team alice> [LIVE ended] hello there");
    cath.expect_item("#team alice> [LIVE ended] hello there");
    let send = r#"/_send #1 live=on json [{"msgContent": {"type": "text", "text": "hi"}}]"#;
    alice.type_line(send);
    alice.expect(send);
    started(&mut bob, "hi");
    started(&mut cath, "hi");
    let page = alice.page("#1", 1);
    let meta = &page["chatItems"][0]["meta"];
    assert_eq!(meta["itemLive"], true, "{meta}");
    let id = meta["itemId"].as_i64().expect("itemId");
    let update = format!("/_update item #1 {id} text hi all");
    alice.type_line(&update);
    alice.expect(&update);
    alice.expect_item("#team [LIVE] hi all");
    bob.expect_item("#team alice> [LIVE ended] hi all");
    cath.expect_item("#team alice> [LIVE ended] hi all");
    // The group's last item by `/last_item_id #team`, shown by `/show N`.
    bob.type_line("/last_item_id #team");
    bob.expect("/last_item_id #team");
    let last = bob.next();
    assert!(last.parse::<i64>().is_ok(), "{last}");
    bob.type_line(&format!("/show {last}"));
    bob.expect(&format!("/show {last}"));
    bob.expect_item("#team alice> hi all");
    relay.stop();
}

/// A member removed with its messages (`/_remove #G M messages=on`): every member marks them
/// deleted, as the reference's.
#[test]
fn a_member_removed_with_its_messages() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob, mut cath) = team(dir.path(), &server);
    send(&mut cath, "spam", &mut [&mut alice, &mut bob]);
    // cath's member id on alice's side.
    let page = alice.page("#1", 1);
    let cath_id = page["chatItems"][0]["chatDir"]["groupMember"]["groupMemberId"]
        .as_i64()
        .expect("cath's member id");
    let cmd = format!("/_remove #1 {cath_id} messages=on");
    alice.type_line(&cmd);
    alice.expect(&cmd);
    alice.expect("#team: you removed cath from the group");
    bob.expect("#team: alice removed cath from the group");
    cath.expect("#team: alice removed you from the group");
    cath.expect("use /d #team to delete the group");
    for c in [&mut alice, &mut bob] {
        c.type_line("/tail #team 2");
        c.expect("/tail #team 2");
        c.expect_item("#team cath> [marked deleted] spam");
        let by = if c.name == "alice" { "" } else { "alice> " };
        c.expect_item(&format!("#team {by}removed cath (Catherine)"));
    }
    relay.stop();
}

/// A changed profile reaches the members who are no contacts with our next group message (as
/// the reference's: `x.info` before it), once.
#[test]
fn a_changed_profile_goes_to_the_group_with_the_next_message() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob, mut cath) = team_with(dir.path(), &server, &[]);
    // bob and cath are members of each other only; alice is bob's contact.
    bob.type_line("/p bob Robert");
    bob.expect("/p bob Robert");
    bob.expect("user full name changed to Robert (your 1 contacts are notified)");
    alice.expect("contact bob updated full name: Robert");
    send(&mut bob, "hello", &mut [&mut alice, &mut cath]);
    send(&mut bob, "again", &mut [&mut alice, &mut cath]);
    cath.type_line("/tail #team 3");
    cath.expect("/tail #team 3");
    cath.expect_item("#team bob> updated profile");
    cath.expect_item("#team bob> hello");
    cath.expect_item("#team bob> again");
    relay.stop();
}

/// A member's message that does not decrypt (bob's database restored from a copy older than
/// his ratchet with alice) is an item of the group's chat said by that member, as a
/// contact's is in its chat.
#[test]
fn a_members_decryption_error_is_an_item() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob, mut cath) = team(dir.path(), &server);
    send(&mut alice, "hello", &mut [&mut bob, &mut cath]);
    // Past what a restart prints (the start's summary), by a command's answer.
    // Started: its profile answered. (With the old databases, the decryption error of a
    // message that waited for bob may print around the command: skipped.)
    fn started(c: &mut Client) {
        c.type_line("/p");
        c.skip_to("/p");
        c.skip_to("Display name: bob");
        c.expect("Full name: Bob");
    }
    bob.stop();
    common::keep_old_databases(dir.path(), "bob", false);
    let mut bob = Client::start(dir.path(), "bob", &server);
    started(&mut bob);
    for round in ["one", "two", "three"] {
        send(&mut alice, round, &mut [&mut bob, &mut cath]);
        send(
            &mut bob,
            &format!("{round} too"),
            &mut [&mut alice, &mut cath],
        );
    }
    bob.stop();
    common::keep_old_databases(dir.path(), "bob", true);
    let mut bob = Client::start(dir.path(), "bob", &server);
    started(&mut bob);
    alice.type_line("#team lost");
    alice.expect_item("#team lost");
    cath.expect_item("#team alice> lost");
    // Bob's old ratchet cannot read it: the item says so (polled, bounded).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    // The last items (the error may be followed by the ratchet's re-synchronization), read
    // up to the answer of a command typed after them.
    loop {
        bob.type_line("/tail #team 3");
        bob.type_line("/p");
        let mut found = false;
        for _ in 0..50 {
            let l = bob.next();
            if l.contains("#team alice> decryption error, possibly due to the device change") {
                found = true;
            }
            if l == "Full name: Bob" {
                break;
            }
        }
        if found {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "bob: no decryption error item"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    relay.stop();
}

/// A business address (`/auto_accept on business`, the reference's `connectToBusiness`
/// lines): a customer's request becomes a business chat - a group named after the customer on
/// the business's side, after the business on the customer's - with the address's auto-reply;
/// messages both ways; staff added by the business see the chat as it does (with its history,
/// which the customer does not get); the customer's new profile renames the chat on the
/// business's side, for the staff too, and again after the business restarts; the business's
/// new profile renames it on the customer's side, after the customer restarts.
#[test]
fn a_business_address_makes_business_chats() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let mut biz = Client::start(dir.path(), "biz", &server);
    biz.create_profile("biz", "Biz Inc");
    let mut cath = Client::start(dir.path(), "cath", &server);
    cath.create_profile("cath", "Catherine");
    let mut bob = Client::start(dir.path(), "bob", &server);
    bob.create_profile("bob", "Bob");
    connect(&mut biz, &mut bob, "Biz Inc", "Bob");
    biz.type_line("/ad");
    biz.expect("/ad");
    let (short, address) = common::address_links(&mut biz, "Your new chat address is created!");
    biz.type_line("/auto_accept on incognito=on");
    biz.expect("/auto_accept on incognito=on");
    biz.expect("auto_accept on, incognito");
    biz.type_line(r#"/_address_settings 1 {"businessAddress": true, "autoAccept": {"acceptIncognito": true}}"#);
    biz.expect(r#"/_address_settings 1 {"businessAddress": true, "autoAccept": {"acceptIncognito": true}}"#);
    biz.expect("invalid chat command: requests to business address cannot be accepted incognito");
    biz.type_line("/auto_accept on business Welcome to Biz!");
    biz.expect("/auto_accept on business Welcome to Biz!");
    biz.expect("auto_accept on, business");
    biz.expect("auto reply:");
    biz.expect("Welcome to Biz!");

    // Its short link's data says it is a business.
    cath.type_line(&format!("/_connect plan 1 {short}"));
    cath.expect(&format!("/_connect plan 1 {short}"));
    cath.expect("business address: ok to connect");
    cath.type_line(&format!("/c {address}"));
    cath.expect(&format!("/c {address}"));
    cath.expect("connection request sent!");
    biz.expect("#cath (Catherine): accepting business address request...");
    cath.expect("#biz: joining the group...");
    biz.expect("#cath: cath_1 joined the group");
    biz.expect_item("#cath Welcome to Biz!");
    cath.expect("#biz: you joined the group");
    cath.expect_item("#biz biz_1> Welcome to Biz!");
    // The address used: its plan is the business chat (the reference's `getGroupToConnect`).
    cath.type_line(&format!("/c {address}"));
    cath.expect(&format!("/c {address}"));
    cath.expect("business address: known business #biz");
    cath.expect("use #biz <message> to send messages");

    cath.type_line("#biz I have a question");
    cath.expect_item("#biz I have a question");
    biz.expect_item("#cath cath_1> I have a question");
    biz.type_line("#cath Ask away");
    biz.expect_item("#cath Ask away");
    cath.expect_item("#biz biz_1> Ask away");

    // The business adds its staff: bob sees the chat as the business does.
    biz.type_line("/a cath bob");
    biz.expect("/a cath bob");
    biz.expect("invitation to join the group #cath sent to bob");
    bob.expect("#cath (Catherine): biz invites you to join the group as member");
    bob.expect("use /j cath to accept");
    bob.type_line("/j cath");
    bob.expect("/j cath");
    biz.expect("#cath: bob joined the group");
    bob.expect("#cath: you joined the group");
    // The chat's history (the customer gets none), in order; bob's connection to cath may
    // come up before, between or after it.
    let mut lines: Vec<String> = (0..4).map(|_| bob.next()).collect();
    let connected = lines
        .iter()
        .position(|l| l == "#cath: member cath_1 (Catherine) is connected")
        .unwrap_or_else(|| panic!("cath connected: {lines:?}"));
    lines.remove(connected);
    let history: Vec<Option<&str>> = lines.iter().map(|l| common::item_text(l)).collect();
    assert_eq!(
        history,
        [
            Some("#cath biz> Welcome to Biz! [>>]"),
            Some("#cath cath_1> I have a question [>>]"),
            Some("#cath biz> Ask away [>>]")
        ],
        "{lines:?}"
    );
    cath.expect("#biz: biz_1 added bob (Bob) to the group (connecting...)");
    cath.expect("#biz: new member bob is connected");

    cath.type_line("/gs");
    cath.expect("/gs");
    cath.expect("#biz (Biz Inc) (3 members)");
    cath.type_line("/p cath Catherine Smith");
    cath.expect("/p cath Catherine Smith");
    cath.expect("user full name changed to Catherine Smith (your 0 contacts are notified)");
    cath.type_line("#biz thanks");
    cath.expect_item("#biz thanks");
    // The new profile comes before the message (`x.info`): the chat takes its full name.
    biz.expect("cath_1 updated group #cath:");
    biz.expect("full name changed to: Catherine Smith");
    biz.expect_item("#cath cath_1> thanks");
    // bob keeps the chat's business data: it follows the customer too.
    bob.expect("cath_1 updated group #cath:");
    bob.expect("full name changed to: Catherine Smith");
    bob.expect_item("#cath cath_1> thanks");
    biz.type_line("/gs");
    biz.expect("/gs");
    biz.expect("#cath (Catherine Smith) (3 members)");

    // After a restart the chat is still a business chat (its data kept, schema v39).
    biz.stop();
    let mut biz = Client::start(dir.path(), "biz", &server);
    biz.type_line("/p");
    biz.skip_to("/p");
    biz.skip_to("Display name: biz");
    biz.expect("Full name: Biz Inc");
    cath.type_line("/p cath Cathy");
    cath.expect("/p cath Cathy");
    cath.expect("user full name changed to Cathy (your 0 contacts are notified)");
    cath.type_line("#biz still here");
    cath.expect_item("#biz still here");
    biz.expect("cath_1 updated group #cath:");
    biz.expect("full name changed to: Cathy");
    biz.expect_item("#cath cath_1> still here");

    // The customer's side follows the business, also after the customer restarts.
    cath.stop();
    let mut cath = Client::start(dir.path(), "cath", &server);
    cath.type_line("/p");
    cath.skip_to("/p");
    cath.skip_to("Display name: cath");
    cath.expect("Full name: Cathy");
    biz.type_line("/p biz Biz Corp");
    biz.expect("/p biz Biz Corp");
    biz.expect("user full name changed to Biz Corp (your 1 contacts are notified)");
    biz.type_line("#cath our new name");
    biz.expect_item("#cath our new name");
    cath.expect("biz_1 updated group #biz:");
    cath.expect("full name changed to: Biz Corp");
    cath.expect_item("#biz biz_1> our new name");
    relay.stop();
}

/// A member whose queues are gone without a word (its user deleted with its queues): the
/// host's messages to it are refused (AUTH) - counted silently, as the reference's group
/// errors - and after 10 it is disabled: sent nothing until `/enable #team cath`, which
/// counts afresh.
#[test]
fn a_member_whose_queue_is_gone_is_disabled() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob, mut cath) = team(dir.path(), &server);
    cath.type_line("/_delete user 1 del_smp=on");
    cath.expect("/_delete user 1 del_smp=on");
    cath.expect_unordered(&["ok", "completed deleting user"]);
    // The 10th refusal's line and the 10th message's item: in either order.
    let disabled = "[#team cath] connection is disabled, to enable: /enable #team cath";
    let ten = |alice: &mut Client, bob: &mut Client, prefix: &str| {
        for i in 0..10 {
            let text = format!("{prefix} {i}");
            alice.type_line(&format!("#team {text}"));
            let item = format!("~ #team {text}");
            if i < 9 {
                alice.expect_unordered(&[&item]);
            } else {
                alice.expect_unordered(&[&item, disabled]);
            }
            bob.expect_item(&format!("#team alice> {text}"));
        }
    };
    ten(&mut alice, &mut bob, "message");
    // Disabled: cath is sent nothing (a refusal would say it is disabled again); bob still
    // gets everything.
    for i in 0..3 {
        let text = format!("more {i}");
        alice.type_line(&format!("#team {text}"));
        alice.expect_item(&format!("#team {text}"));
        bob.expect_item(&format!("#team alice> {text}"));
    }
    alice.type_line("/enable #team cath");
    alice.expect("/enable #team cath");
    alice.expect("ok");
    ten(&mut alice, &mut bob, "again");
    drop(cath);
    relay.stop();
}
