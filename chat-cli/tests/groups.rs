//! Groups with real `simplex-chat` processes (the reference's `testGroupShared` and
//! `createGroup3` lines): a group created, two contacts added as admins, the second
//! introduced to the first by the host, messages from each member to all, the lists, roles
//! refused, and a member restarted keeping its membership.

mod common;

use common::{alice_and_bob, connect, relay, Client};

/// alice, bob and cath (Catherine), alice connected to both.
fn three(dir: &std::path::Path, server: &str) -> (Client, Client, Client) {
    let (mut alice, mut bob) = alice_and_bob(dir, server, &[]);
    let mut cath = Client::start(dir, "cath", server);
    cath.create_profile("cath", "Catherine");
    connect(&mut alice, &mut bob, "Alice", "Bob");
    connect(&mut alice, &mut cath, "Alice", "Catherine");
    (alice, bob, cath)
}

/// `/g team` by `host`.
fn create_team(host: &mut Client) {
    host.type_line("/g team");
    host.expect("/g team");
    host.expect("group #team is created");
    host.expect("to add members use /a team <name> or /create link #team");
}

/// `host` invites `c` to `team` as `role` (the default, member, when empty).
fn invite(host: &mut Client, c: &mut Client, role: &str) {
    let cmd = format!("/a team {} {role}", c.name);
    let cmd = cmd.trim_end();
    host.type_line(cmd);
    host.expect(cmd);
    host.expect(&format!(
        "invitation to join the group #team sent to {}",
        c.name
    ));
    let role = if role.is_empty() { "member" } else { role };
    c.expect(&format!(
        "#team: {} invites you to join the group as {role}",
        host.name
    ));
    c.expect("use /j team to accept");
}

/// `c` joins `team`: `host` and `c` see it (lines about other members follow).
fn join(host: &mut Client, c: &mut Client) {
    c.type_line("/j team");
    c.expect("/j team");
    host.expect(&format!("#team: {} joined the group", c.name));
    c.expect("#team: you joined the group");
}

/// alice's group `team` with bob and cath, as `createGroup3`.
fn team(dir: &std::path::Path, server: &str) -> (Client, Client, Client) {
    let (mut alice, mut bob, mut cath) = three(dir, server);
    create_team(&mut alice);
    invite(&mut alice, &mut bob, "admin");
    join(&mut alice, &mut bob);
    invite(&mut alice, &mut cath, "admin");
    join(&mut alice, &mut cath);
    cath.expect("#team: member bob (Bob) is connected");
    bob.expect("#team: alice added cath (Catherine) to the group (connecting...)");
    bob.expect("#team: new member cath is connected");
    (alice, bob, cath)
}

fn send(from: &mut Client, text: &str, to: &mut [&mut Client]) {
    from.type_line(&format!("#team {text}"));
    from.expect_item(&format!("#team {text}"));
    for c in to.iter_mut() {
        c.expect_item(&format!("#team {}> {text}", from.name));
    }
}

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
