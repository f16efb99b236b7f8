//! `/help [topic]`: the commands this client has, by topic.

const MAIN: &[&str] = &[
    "Commands (names with spaces are quoted: @'John Doe'):",
    "  /c                      one-time invitation link; /c <link> connects by one",
    "  /c i                    the same with a random profile for this contact (incognito)",
    "  /ad, /sa                create, show your contact address; /ac name, /rc name answer requests",
    "  @name text              send a message; /tail [@name] [n] shows the last ones",
    "  > @name (start) text    reply quoting their message; >> quotes your own",
    "  ! @name [(start)] text  edit your message; \\ @name start deletes it for both",
    "  /live @name [text]      a live message typed on: sent as you type, Enter ends it (/live #group)",
    "  /show on|off            live messages shown as they are typed (off by default)",
    "  +1 @name start          react with a thumbs up (-1 takes it back)",
    "  @name <- @other start   forward a message (to #group or *; from #group [@member] or *)",
    "  /set disappear @name yes  disappearing messages [30s|5min|1h|8h|day|week|month]; no: off",
    "  /set receipts all on|off  delivery receipts to contacts; /receipts @name|#group on|off|default",
    "  /* text                 a private note; /tail * lists them",
    "  /contacts, /chats       contacts; each chat's latest message",
    "  /? text, /search text   find messages",
    "  /i @name, /code @name   contact info; the security code to compare",
    "  /call @name             a video call: its page opens in a browser (the link is shown)",
    "  /verify @name <code>    mark the connection verified",
    "  /d @name                delete a contact (they are told)",
    "  /p [name [full name]]   show or change your profile",
    "  /smp, /xftp             your relays; /smp <server>... sets them, /smp test <server> tries one",
    "  /create user name       another user; /user name switches to it, /users lists them",
    "  /delete user name       delete a user (not the active one while there are others)",
    "  /mute user              this user's events not shown while another is active (/unmute user)",
    "  /hide user password     muted and unlisted too; /user name password reaches it (/unhide user)",
    "  /ttl week               delete messages after a week (day, month, year; none: keep); /ttl shows it",
    "  /ttl @bob day           one chat's own expiry (also #team; none: keep; default: as the others)",
    "  /db encrypt key         encrypt the databases (chat stopped with /_stop; restart with -k key);",
    "                          /db key old new, /db decrypt key, /db test key key",
    "  /q                      quit",
    "More: /help files, /help groups, /help address, /help incognito, /help settings, /help db,",
    "      /help api (short: /hf, /hg, /ha, /hi, /hs, /hd), /markdown, /welcome",
];

const GROUPS: &[&str] = &[
    "Groups:",
    "  /g name [full name]     create a group (/g i name: with a random profile)",
    "  /a group name [role]    invite a contact (roles: observer, member, moderator, admin, owner)",
    "  /j group                join a group you are invited to; /l group leaves it",
    "  #group text             send to the group; /tail #group [n] shows the last messages",
    "  > #group (start) text   reply quoting a message; > #group @member (start) text: a member's",
    "  /ms group, /gs          members of a group; your groups",
    "  /i #group [member]      a group's id and size; a member's id",
    "  /mr group member role   change a member's role; /rm group member removes it",
    "  /create link #group     a link anyone can join by (/show link, /delete link)",
    "  /mute #group            new messages shown marked <muted> (/unmute #group)",
    "  @#group member text     a direct message to a member (a contact is made for it)",
    "  /set accept member contacts on  members' contacts joined at once (off: /_accept member contact @N)",
    "  /set admission review #group all  joiners reviewed by admins (off to stop); /_accept member #G M role",
    "  #group (support) text   while pending: to the admins; admins: #group (support: member) text",
    "  /d #group               delete the group",
];

const FILES: &[&str] = &[
    "Files (over XFTP relays; --xftp-server, or the preset relays):",
    "  /f @name <path>         send a file",
    "  /fr <n> [dir/ | path]   receive file n (into --files-folder without a path)",
    "  /fc <n>                 cancel sending or receiving file n",
    "  /fs <n>                 status of file n",
    "Start with -a to accept files up to 1 MB at once (--auto-accept-files SIZE for another limit).",
];

const ADDRESS: &[&str] = &[
    "Your contact address:",
    "  /ad                     create it; anybody with it can ask to connect",
    "  /sa                     show it",
    "  /ac name, /rc name      accept or reject a request (the sender is not told of a rejection)",
    "  /_connect plan 1 <link> what a link is to you: your own, known, or new",
];

const INCOGNITO: &[&str] = &[
    "Incognito (a random profile instead of yours, for one contact or group):",
    "  /c i                    a one-time invitation; /c i <link> connects by one",
    "  /ac i name              accept a request to your address incognito",
    "  /g i name               a group you are in with a random profile",
    "  /i @name                the profile the contact knows you by",
    "  /_set incognito :1 on   invitation 1, not used yet, shows a random profile (off: yours)",
];

const SETTINGS: &[&str] = &[
    "Settings:",
    "  /set receipts all on|off  delivery receipts to contacts; /receipts @name|#group on|off|default",
    "  /set voice|files|delete|calls yes|no|always  what your contacts may send you",
    "  /set disappear @name yes  disappearing messages with a contact; /set disappear #group on [ttl]",
    "  /ttl week               delete messages after a week (day, month, year; none: keep)",
    "  /smp, /xftp             your relays; /smp <server>... sets them, /smp test <server> tries one",
    "  /mute @name, /mute #group  no notification of new messages (/unmute)",
];

const DB: &[&str] = &[
    "Database (stop the chat first: /_stop; start it again: /_start):",
    "  /db encrypt key         encrypt the databases (restart with -k key)",
    "  /db key old new         change the key; /db decrypt key removes it",
    "  /db test key <key>      check a key",
    "  /db export              a zip of every database and received file (simplex-chat.<time>Z.zip)",
    "  /_db import {\"archivePath\": \"<file>\"}  read one back (the current databases moved aside)",
    "  /_db delete             delete every database (received files stay); a restart starts afresh",
    "Before a newer version upgrades a database it is copied to <file>.bak (--backup-directory).",
];

const REMOTE: &[&str] = &["Remote control (desktop and mobile) is not implemented in this client."];

const MARKDOWN: &[&str] = &[
    "Markdown in messages (sent as typed; the apps show it formatted):",
    "  *bold*                  bold text",
    "  _italic_                italic text",
    "  ~strike~                struck through",
    "  `code`                  monospace (```...``` for several lines)",
    "  !1 text!                colored: 1 red, 2 green, 3 blue, 4 yellow, 5 cyan, 6 magenta",
    "  #secret#                hidden until tapped",
    "  https://..., SimpleX links, emails and phone numbers are shown as links",
];

const WELCOME: &[&str] = &[
    "Welcome to SimpleX Chat - the messenger without user identifiers!",
    "To connect: /c makes a one-time invitation link for a contact, /c <link> uses one;",
    "  /ad creates your address for anyone to ask to connect.",
    "Send files with /f @name <path>; make groups with /g name.",
    "To ask the SimpleX Chat team: /simplex (a contact request to their address).",
    "Commands: /help; formatting: /markdown; to quit: /q.",
];

const API: &[&str] = &[
    "Bots: start with -p PORT for the WebSocket API on 127.0.0.1 (stdin is then not read).",
    "Send {\"corrId\":\"1\",\"cmd\":\"/_send @2 json [...]\"}; answers carry the corrId, events do not.",
    "API commands: /user, /_address 1, /_connect 1 [link], /_accept <id>, /_contacts 1,",
    "  /_send, /_update item, /_delete item, /_reaction, /freceive, /fcancel, /_get chats, /_profile 1.",
];

/// The help text for `topic` (none: the main one).
pub fn lines(topic: Option<&str>) -> Vec<String> {
    let text = match topic.map(str::trim) {
        None | Some("") => MAIN,
        Some("files" | "file") => FILES,
        Some("groups" | "group") => GROUPS,
        Some("address" | "addresses") => ADDRESS,
        // Contacts and messages are the main help's.
        Some("contacts" | "contact" | "messages" | "message") => MAIN,
        Some("incognito") => INCOGNITO,
        Some("settings") => SETTINGS,
        Some("db" | "database") => DB,
        Some("remote") => REMOTE,
        Some("api" | "bot" | "bots") => API,
        Some("markdown") => MARKDOWN,
        Some("welcome") => WELCOME,
        Some(other) => {
            let topics = "/help, /help files, /help groups, /help address, /help incognito, \
                          /help settings, /help db, /help api";
            return vec![format!("no help on {other:?}: try {topics}")];
        }
    };
    text.iter().map(|s| (*s).to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_named_in_the_help_parses() {
        for topic in [
            None,
            Some("files"),
            Some("groups"),
            Some("address"),
            Some("incognito"),
            Some("settings"),
            Some("db"),
        ] {
            for l in lines(topic).iter().filter(|l| l.starts_with("  ")) {
                let cmd = l.trim_start().split("  ").next().unwrap_or_default();
                // The first form of each line, with placeholders filled in.
                let first = cmd.split(", ").next().unwrap_or_default();
                let example = first
                    .replace("accept member contacts", "ACCEPT_MC")
                    .replace("[@name] [n]", "")
                    .replace("[(start)] ", "")
                    .replace("[name [full name]]", "")
                    .replace("[dir/ | path]", "")
                    .replace(" [role]", "")
                    .replace(" [full name]", "")
                    .replace(" [n]", "")
                    .replace("member role", "cath admin")
                    .replace(" member", " cath")
                    .replace("group", "team")
                    .replace("<link>", "https://simplex.chat/invitation#/?v=2")
                    .replace("<path>", "/tmp/x")
                    .replace("<code>", "12345")
                    .replace("<n>", "1")
                    .replace("(start)", "(hi)")
                    .replace("start", "hi")
                    .replace("name", "bob")
                    .replace("ACCEPT_MC", "accept member contacts")
                    .replace("voice|files|delete|calls yes|no|always", "voice yes")
                    .replace("[ttl]", "")
                    .replace("old new", "k1 k2")
                    .replace("<key>", "k1")
                    .replace("on|off", "on");
                let example = example.trim();
                assert!(
                    chat_core::command::parse(example).is_ok(),
                    "{example:?} from {l:?}"
                );
            }
        }
        assert_eq!(lines(Some("nothing")).len(), 1);
    }
}
