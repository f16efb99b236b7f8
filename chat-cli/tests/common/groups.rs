//! Group helpers of the end-to-end tests: a group `team` built with the reference's lines.

use super::{alice_and_bob, connect, Client};

/// alice, bob and cath (Catherine), alice connected to both.
pub fn three(dir: &std::path::Path, server: &str) -> (Client, Client, Client) {
    three_with(dir, server, &[])
}

/// alice, bob and cath (Catherine) started with `more` options, alice connected to both.
pub fn three_with(dir: &std::path::Path, server: &str, more: &[&str]) -> (Client, Client, Client) {
    let (mut alice, mut bob) = alice_and_bob(dir, server, more);
    let mut cath = Client::start_with(dir, "cath", server, more);
    cath.create_profile("cath", "Catherine");
    connect(&mut alice, &mut bob, "Alice", "Bob");
    connect(&mut alice, &mut cath, "Alice", "Catherine");
    (alice, bob, cath)
}

/// `/g team` by `host`.
pub fn create_team(host: &mut Client) {
    host.type_line("/g team");
    host.expect("/g team");
    host.expect("group #team is created");
    host.expect("to add members use /a team <name> or /create link #team");
}

/// `/create link #team` by `host`: the link (the short one), the full one for old clients after
/// the block.
pub fn team_link(host: &mut Client) -> String {
    host.type_line("/create link #team");
    host.expect("/create link #team");
    host.expect("Group link is created!");
    host.expect("");
    let link = host.next();
    host.skip_to("to delete it: /delete link #team (joined members will remain connected to you)");
    let line = host.next();
    assert!(
        line.starts_with("The group link for old clients: https://simplex.chat/contact#/"),
        "{line}"
    );
    link
}

/// `host` invites `c` to `team` as `role` (the default, member, when empty).
pub fn invite(host: &mut Client, c: &mut Client, role: &str) {
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
pub fn join(host: &mut Client, c: &mut Client) {
    c.type_line("/j team");
    c.expect("/j team");
    host.expect(&format!("#team: {} joined the group", c.name));
    c.expect("#team: you joined the group");
}

/// alice's group `team` with bob and cath, as `createGroup3`.
pub fn team(dir: &std::path::Path, server: &str) -> (Client, Client, Client) {
    team_with(dir, server, &[])
}

/// [`team`] with `more` options for every process.
pub fn team_with(dir: &std::path::Path, server: &str, more: &[&str]) -> (Client, Client, Client) {
    let (mut alice, mut bob, mut cath) = three_with(dir, server, more);
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

pub fn send(from: &mut Client, text: &str, to: &mut [&mut Client]) {
    from.type_line(&format!("#team {text}"));
    from.expect_item(&format!("#team {text}"));
    for c in to.iter_mut() {
        c.expect_item(&format!("#team {}> {text}", from.name));
    }
}

/// `c` receives file `n` (`name`) from `from` into `dir`, saved as `saved`, with the
/// reference's lines (the caller compares the bytes).
pub fn receive(c: &mut Client, n: u32, name: &str, from: &str, dir: &std::path::Path, saved: &str) {
    let d = dir.to_string_lossy();
    c.type_line(&format!("/fr {n} {d}/"));
    c.expect(&format!("/fr {n} {d}/"));
    c.expect_unordered(&[
        format!("saving file {n} from {from} to {d}/{saved}").as_str(),
        format!("started receiving file {n} ({name}) from {from}").as_str(),
    ]);
    c.expect(&format!(
        "completed receiving file {n} ({name}) from {from}"
    ));
}
