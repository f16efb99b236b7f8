//! Output lines as the reference terminal prints them (its View.hs; testdata/chat/
//! cli_transcripts.md).

use chat_core::chat::{ChatError, ConnLink, Event, FilePeer, Response};
use chat_core::command::view_name;
use chat_core::group_store::{Group, MemberCategory, MemberStatus};
use chat_core::protocol::{GroupMemberRole, Profile};
use chat_core::store::{ChatItem, Contact};

/// `alice (Alice)`, or `alice` when the full name is empty or the same.
pub fn full_name(name: &str, p: &Profile) -> String {
    if p.full_name.is_empty() || p.full_name == name {
        view_name(name)
    } else {
        format!("{} ({})", view_name(name), p.full_name)
    }
}

fn contact_name(c: &Contact) -> String {
    full_name(&c.local_name, &c.profile)
}

/// What the terminal shows beyond its defaults (the reference's options).
#[derive(Debug, Clone, Copy, Default)]
pub struct Shown {
    /// `--reactions`: the contacts' and members' reactions, under the message they react to.
    pub reactions: bool,
    /// `/show on`: live messages shown as they are typed.
    pub live: bool,
    /// `--log-hosts` (or `-l info`): relays' connections lost and back.
    pub hosts: bool,
}

/// With `/show on`, our own live message while we type it (the reference's
/// `[LIVE started] ` mark); none for any other response.
pub fn live_response(r: &Response) -> Option<Vec<String>> {
    const MARK: &str = "[LIVE started] ";
    match r {
        Response::Sent(c, item) | Response::Updated(c, item) if item.live == Some(true) => {
            Some(item_lines_marked(c, item, MARK))
        }
        Response::GroupSent(g, item) | Response::GroupItemUpdated(g, item)
            if item.live == Some(true) =>
        {
            Some(group_item_lines(g, None, item, MARK, ""))
        }
        Response::GroupSentMany(g, items, _) if items.iter().any(|i| i.live == Some(true)) => Some(
            items
                .iter()
                .flat_map(|i| group_item_lines(g, None, i, MARK, ""))
                .collect(),
        ),
        _ => None,
    }
}

/// A message as a reaction quotes it: its first 120 characters (`...` after a cut), one
/// entry per line.
fn preview(item: &ChatItem) -> Vec<String> {
    let text = item.content.text_shown();
    let cut: String = text.chars().take(120).collect();
    let shown = if cut.len() < text.len() {
        format!("{cut}...")
    } else {
        cut
    };
    shown.split('\n').map(str::to_string).collect()
}

/// A received reaction as the reference shows it with `--reactions`: `head` and the quoted
/// message (`quote`: `>`, `>>`, `> alice`), then `    + 👍` (or `-` when it was removed).
fn reaction_lines(
    head: String,
    quote: &str,
    item: &ChatItem,
    reaction: &serde_json::Value,
    added: bool,
) -> Vec<String> {
    let mut lines = preview(item);
    if let Some(first) = lines.first_mut() {
        *first = format!("{head}{quote} {first}");
    }
    lines.push(format!(
        "    {} {}",
        if added { "+" } else { "-" },
        emoji(reaction)
    ));
    lines
}

/// The reaction's emoji (`?` for a kind this client does not show).
fn emoji(reaction: &serde_json::Value) -> &str {
    reaction["emoji"].as_str().unwrap_or("?")
}

/// `HH:MM ` in local time for today's items, `MM-DD ` for older ones.
fn time_prefix(ms: i64) -> String {
    use chrono::TimeZone;
    let now = chrono::Local::now();
    match chrono::Local.timestamp_millis_opt(ms).single() {
        Some(t) if t.date_naive() == now.date_naive() => t.format("%H:%M ").to_string(),
        Some(t) => t.format("%m-%d ").to_string(),
        None => String::new(),
    }
}

/// A text's lines, the first after `head` (the reference's `prependFirst`).
fn head_lines(head: String, text: &str) -> Vec<String> {
    let mut lines = text.lines();
    let mut v = vec![head + lines.next().unwrap_or_default()];
    v.extend(lines.map(str::to_string));
    v
}

/// A time in full, local: `2026-12-05 01:02:03` (`/item info`).
fn full_time(ms: i64) -> String {
    use chrono::TimeZone;
    match chrono::Local.timestamp_millis_opt(ms).single() {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
        None => ms.to_string(),
    }
}

/// `/item info`: the reference's lines (`sent at: ...`, `received at: ...`, `to be deleted
/// at: ...`, `message history:` with each version newest first, `forwarded from: @bob, chat
/// item id: 5`). A received item's time is when it came (the sender's is not kept).
fn item_info_lines(info: &chat_core::item_info::ItemInfo) -> Vec<String> {
    let item = &info.item.item;
    let mut v = vec![format!("sent at: {}", full_time(item.item_ts))];
    if !item.sent {
        v.push(format!("received at: {}", full_time(item.item_ts)));
    }
    if let Some((_, Some(at))) = item.timed {
        v.push(format!("to be deleted at: {}", full_time(at)));
    }
    if !info.versions.is_empty() {
        v.push("message history:".into());
        for (ts, content) in &info.versions {
            v.extend(head_lines(
                format!("{}: ", full_time(*ts)),
                &content.text_shown(),
            ));
        }
    }
    if let Some(from) = &info.forwarded_from {
        v.push(format!(
            "forwarded from: {}, chat item id: {}",
            from.chat.shown(),
            from.item.item_id
        ));
    }
    v
}

/// An item's lines: `HH:MM @bob text` or `HH:MM bob> text`, after `marker` (`[edited] `);
/// a quote goes on the first line (`> quoted` or `>> quoted` when the item's author wrote
/// it) and the text on the next, indented by 6 spaces.
fn item_lines_marked(c: &Contact, item: &ChatItem, marker: &str) -> Vec<String> {
    // The chat banner says nothing in a terminal (the reference's apps draw it).
    if item.info.is_some() && item.content.text_shown().is_empty() {
        return Vec::new();
    }
    let head = if c.contact_id == chat_core::store::NOTES {
        format!("{}* ", time_prefix(item.item_ts))
    } else if item.sent {
        format!(
            "{}@{} ",
            time_prefix(item.item_ts),
            view_name(&c.local_name)
        )
    } else {
        format!(
            "{}{}> ",
            time_prefix(item.item_ts),
            view_name(&c.local_name)
        )
    };
    let text = item.content.text_shown();
    // Marked (`[marked deleted] `), the text alone, as the reference's.
    if let (Some(f), "") = (forwarded(item), marker) {
        return vec![format!("{head}{f}"), format!("      {text}")];
    }
    match &item.quote {
        Some(q) => vec![
            format!(
                "{head}{marker}{} {}",
                if q.by_author { ">>" } else { ">" },
                q.content.text_shown()
            ),
            format!("      {text}"),
        ],
        None => vec![format!("{head}{marker}{text}")],
    }
}

/// How a live message's line shows (the reference's marks): `None` when it is not shown
/// (ours while typed, a received one's updates while typed), else its marker: a received
/// new one `[LIVE started] use /show [on/off/N] `, a received one ended `[LIVE ended] `, ours
/// ended `[LIVE] `; an item that is not live gets `usual`.
fn live_marker(item: &ChatItem, received_new: bool, usual: &str, show: bool) -> Option<String> {
    // Edited after it ended: an edit like any other.
    if item.edited {
        return Some(usual.to_string());
    }
    match (item.live, item.sent, received_new) {
        (Some(true), true, _) => None,
        (Some(true), false, true) => Some(format!(
            "[LIVE started] use /show [on/off/{}] ",
            item.item_id
        )),
        // Its updates while typed, with `/show on`.
        (Some(true), false, false) => show.then(|| "[LIVE] ".to_string()),
        (Some(false), true, false) => Some("[LIVE] ".into()),
        (Some(false), false, false) => Some("[LIVE ended] ".into()),
        _ => Some(usual.to_string()),
    }
}

/// Lines without trailing spaces (a live message started empty ends with its marker).
fn trimmed(mut lines: Vec<String>) -> Vec<String> {
    for l in &mut lines {
        let t = l.trim_end().len();
        l.truncate(t);
    }
    lines
}

/// A forwarded item's mark, as the reference's: ours `<- @bob` (`<- you @bob` when we wrote
/// the original, `<- #team` from a group), a received one `-> forwarded`.
fn forwarded(item: &ChatItem) -> Option<String> {
    let f = item.forward.as_ref()?;
    let name = view_name(f["chatName"].as_str().unwrap_or_default());
    let you = if f["msgDir"] == "snd" { "you " } else { "" };
    Some(match f["type"].as_str() {
        Some("contact") if item.sent => format!("<- {you}@{name}"),
        Some("group") if item.sent => format!("<- {you}#{name}"),
        _ => "-> forwarded".to_string(),
    })
}

/// A group item's lines are marked muted: the group is muted, and (muted but for mentions)
/// the item does not mention us or reply to us.
fn group_muted(g: &Group, item: &ChatItem) -> bool {
    g.muted && !(g.mentions_only && item.user_mention)
}

/// A muted chat's new lines, each marked ` <muted>` as the reference's terminal marks them.
fn muted_if(muted: bool, lines: Vec<String>) -> Vec<String> {
    if !muted {
        return lines;
    }
    lines.into_iter().map(|l| format!("{l} <muted>")).collect()
}

fn item_lines(c: &Contact, item: &ChatItem) -> Vec<String> {
    item_lines_marked(c, item, "")
}

fn link_block(head: &str, link: &str, how: &str, more: &[&str]) -> Vec<String> {
    let mut v = vec![
        head.to_string(),
        String::new(),
        link.to_string(),
        String::new(),
    ];
    v.push(how.to_string());
    v.extend(more.iter().map(|s| s.to_string()));
    v
}

/// The address as `/ad` and `/sa` show it: the short link, then the full one for old clients.
fn address_block(head: &str, link: &ConnLink) -> Vec<String> {
    let mut v = link_block(
        head,
        link.shown(),
        "Anybody can send you contact requests with: /c <contact_link_above>",
        &ADDRESS_TAIL,
    );
    if link.short.is_some() {
        v.push(format!("The contact link for old clients: {}", link.full));
    }
    v
}

const ADDRESS_TAIL: [&str; 3] = [
    "to show it again: /sa",
    "to share with your contacts: /profile_address on",
    "to delete it: /da (accepted contacts will remain connected)",
];

/// The user's profile changed, as the reference says what changed: the name, else the full
/// name, else the image, else the address in the profile.
fn profile_changed(from: &Profile, to: &Profile, told: usize) -> Vec<String> {
    let mut lines = profile_lines(from, to, told);
    lines.extend(chat_core::features::own_pref_lines(
        from.preferences.as_ref(),
        to.preferences.as_ref(),
    ));
    lines
}

/// What changed in the user's profile besides its preferences (`viewUserProfileUpdated`).
fn profile_lines(from: &Profile, to: &Profile, told: usize) -> Vec<String> {
    let notified = format!(" (your {told} contacts are notified)");
    let same_name = from.display_name == to.display_name;
    if !same_name {
        return vec![format!(
            "user profile is changed to {}{notified}",
            full_name(&to.display_name, to)
        )];
    }
    if from.full_name != to.full_name {
        let what = if to.full_name.is_empty() || to.full_name == to.display_name {
            "removed".to_string()
        } else {
            format!("changed to {}", to.full_name)
        };
        return vec![format!("user full name {what}{notified}")];
    }
    if from.image != to.image {
        return vec![match to.image {
            None => "profile image removed".into(),
            Some(_) => "profile image updated".into(),
        }];
    }
    if from.contact_link != to.contact_link {
        return vec![match to.contact_link {
            None => "contact address removed".into(),
            Some(_) => "new contact address set".into(),
        }];
    }
    Vec::new()
}

/// A contact's new profile, as the reference says what changed.
fn contact_updated(c: &Contact, new: &Contact) -> Vec<String> {
    let n = view_name(&c.local_name);
    let (from, to) = (&c.profile, &new.profile);
    if from.display_name != to.display_name {
        return vec![
            format!("contact {n} changed to {}", full_name(&new.local_name, to)),
            format!(
                "use @{} <message> to send messages",
                view_name(&new.local_name)
            ),
        ];
    }
    if from.full_name != to.full_name {
        return vec![
            if to.full_name.is_empty() || to.full_name == to.display_name {
                format!("contact {n} removed full name")
            } else {
                format!("contact {n} updated full name: {}", to.full_name)
            },
        ];
    }
    if from.contact_link != to.contact_link {
        return vec![match to.contact_link {
            None => format!("{n} removed contact address"),
            Some(_) => format!("{n} set new contact address, use /info {n} to view"),
        }];
    }
    Vec::new()
}

/// `saving file N from bob to <where>` (`/fr`, or accepted automatically).
fn saving(file_id: i64, peer: &FilePeer, shown: &str) -> Vec<String> {
    vec![format!(
        "saving file {file_id} from {} to {shown}",
        peer_name(peer)
    )]
}

/// A group item's lines: `#team text` (ours) or `#team bob> text`, `marker` before the text
/// (`[edited] `), `suffix` after each line (` [>>]`); a quote first as `> bob quoted`.
fn group_item_lines(
    g: &Group,
    author: Option<&str>,
    item: &ChatItem,
    marker: &str,
    suffix: &str,
) -> Vec<String> {
    // The chat banner says nothing in a terminal.
    if item.info.is_some() && item.content.text_shown().is_empty() {
        return Vec::new();
    }
    let scope = scope_prefix(item);
    let head = match author {
        // A post as the channel itself (`#news> text`; never in a support chat).
        None if item.is_channel_post() => format!(
            "{}{}#{}> ",
            time_prefix(item.item_ts),
            inc(g),
            view_name(&g.local_name)
        ),
        None => format!(
            "{}{}#{} {scope}",
            time_prefix(item.item_ts),
            inc(g),
            view_name(&g.local_name)
        ),
        // `bob!>`: a message that mentions us or replies to one of ours, as the reference
        // marks it.
        Some(name) => format!(
            "{}{}#{} {scope}{}{}> ",
            time_prefix(item.item_ts),
            inc(g),
            view_name(&g.local_name),
            view_name(name),
            if item.user_mention
                || item.quote.as_ref().and_then(|q| q.member_id.as_ref()) == Some(&g.member_id)
            {
                "!"
            } else {
                ""
            }
        ),
    };
    let text = item.content.text_shown();
    if let (Some(f), "") = (forwarded(item), marker) {
        return vec![
            format!("{head}{f}{suffix}"),
            format!("      {text}{suffix}"),
        ];
    }
    match &item.quote {
        Some(q) => vec![
            format!(
                "{head}{marker}> {} {}{suffix}",
                q.member_name.as_deref().map_or("?".to_string(), view_name),
                q.content.text_shown()
            ),
            format!("      {text}{suffix}"),
        ],
        None => vec![format!("{head}{marker}{text}{suffix}")],
    }
}

/// A file sent by `/_send` (`paths`: each file's path as given): `/f @bob path` (`chat`),
/// then how to cancel it; nothing for an item without a file.
fn sent_file_lines(item: &ChatItem, paths: &[(i64, String)], chat: &str) -> Vec<String> {
    let Some(id) = item.file_id else {
        return Vec::new();
    };
    let mut lines = Vec::with_capacity(2);
    if let Some((_, path)) = paths.iter().find(|(f, _)| *f == id) {
        lines.push(format!("{}/f {chat} {path}", time_prefix(item.item_ts)));
    }
    lines.push(format!("use /fc {id} to cancel sending"));
    lines
}

/// A support chat's item: `(support) ` (ours with the admins), an admin's `(support: cath) `;
/// nothing for the group's chat.
fn scope_prefix(item: &ChatItem) -> String {
    match &item.scope {
        None => String::new(),
        Some(s) => match &s.name {
            Some(n) => format!("(support: {}) ", view_name(n)),
            None => "(support) ".into(),
        },
    }
}

/// How to accept a member pending review: `use /_accept member #1 3 <role> to accept member`.
fn accept_hint(g: &Group, m: &chat_core::group_store::Member) -> String {
    format!(
        "use /_accept member #{} {} <role> to accept member",
        g.group_id, m.group_member_id
    )
}

/// What changed in a group's profile: its new name first (`changed to #my_team`), then the
/// rest as the reference words it.
fn group_update_lines(from: &Group, to: &Group) -> Vec<String> {
    let mut lines = Vec::new();
    if from.profile.display_name != to.profile.display_name {
        lines.push(format!("changed to {}", full_group(to)));
    }
    lines.extend(chat_core::group_prefs::update_lines(
        &from.profile,
        &to.profile,
    ));
    // Joiners reviewed by the admins, or not (our wording).
    let review = chat_core::admission::review_on(&to.profile);
    if chat_core::admission::review_on(&from.profile) != review {
        lines.push(format!(
            "new members are reviewed by admins: {}",
            if review { "all" } else { "off" }
        ));
    }
    lines
}

/// `i ` before a group's items when we are incognito in it, as the reference marks them.
fn inc(g: &Group) -> &'static str {
    if g.incognito.is_some() {
        "i "
    } else {
        ""
    }
}

/// The other side of a transfer as lines name it: `bob`, `#team`.
fn peer_name(peer: &FilePeer) -> String {
    match peer {
        FilePeer::Group(g) => format!("#{}", view_name(&g.local_name)),
        p => view_name(p.name()),
    }
}

/// `error uploading file 1 (f.bin) for bob`, `warning receiving file 2 (g.bin) from cath`.
fn file_trouble(status: &str, t: &chat_core::chat::FileTrouble) -> String {
    let (what, dir) = if t.sent {
        ("uploading", "for")
    } else {
        ("receiving", "from")
    };
    format!(
        "{status} {what} file {} ({}) {dir} {}",
        t.file_id,
        t.name,
        peer_name(&t.peer)
    )
}

/// The lines of a command's response.
pub fn response(r: &Response, user: &Profile) -> Vec<String> {
    match r {
        Response::Invitation { link, short, .. } => {
            let mut v = link_block(
                "pass this invitation link to your contact (via another channel): ",
                short.as_deref().unwrap_or(link),
                "and ask them to connect: /c <invitation_link_above>",
                &[],
            );
            // The reference's lines for a client that cannot read short links yet.
            if short.is_some() {
                v.push("The invitation link for old clients:".into());
                v.push(link.clone());
            }
            v
        }
        Response::ConnectionIncognitoUpdated { conn, incognito } => vec![format!(
            "connection {conn} changed to {}incognito",
            if incognito.is_some() { "" } else { "non " }
        )],
        Response::UserChanged(c) => {
            let users = format!(
                "changed from user {} to user {}",
                view_name(&user.display_name),
                view_name(&c.new_user_name)
            );
            // The name in the other user's chats, when it is not the same.
            let named = |from: &String, to: &String, prefix: &str| {
                if from == to {
                    String::new()
                } else {
                    format!(", as {prefix}{}", view_name(to))
                }
            };
            match &c.moved {
                chat_core::moves::Moved::Connection { conn, link, short } => vec![
                    format!("connection {conn} {users}, new link:"),
                    String::new(),
                    short.clone().unwrap_or_else(|| link.clone()),
                    String::new(),
                ],
                chat_core::moves::Moved::Contact(from, to) => vec![format!(
                    "contact {} {users}{}",
                    view_name(from),
                    named(from, to, "")
                )],
                chat_core::moves::Moved::Group(from, to) => vec![format!(
                    "group #{} {users}{}",
                    view_name(from),
                    named(from, to, "#")
                )],
            }
        }
        // The reference's `ok` or its errors; where the archive is (ours).
        Response::ArchiveExported(path, skipped) => {
            let mut v = match skipped.is_empty() {
                true => vec!["ok".to_string()],
                false => vec![format!("archive export errors: {}", skipped.join("; "))],
            };
            v.push(format!("archive: {}", path.display()));
            v
        }
        Response::ArchiveImported(skipped) => match skipped.is_empty() {
            true => vec!["ok".into()],
            false => vec![format!("archive import errors: {}", skipped.join("; "))],
        },
        Response::AppSettings(s) => vec![format!("app settings: {s}")],
        // Ours (the reference's terminal prints its JSON): one line a tag, in order.
        Response::ChatTags(tags) | Response::TagsUpdated(tags, _) => {
            let mut v: Vec<String> = tags
                .iter()
                .map(|t| {
                    let emoji = t
                        .chat_tag_emoji
                        .as_deref()
                        .map(|e| format!("{e} "))
                        .unwrap_or_default();
                    format!("tag {}: {emoji}{}", t.chat_tag_id, t.chat_tag_text)
                })
                .collect();
            if let Response::TagsUpdated(_, ids) = r {
                let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
                v.push(match ids.is_empty() {
                    true => "chat tags: none".into(),
                    false => format!("chat tags: {}", ids.join(", ")),
                });
            }
            if v.is_empty() {
                v.push("no tags".into());
            }
            v
        }
        Response::ConfirmationSent(_) => vec!["confirmation sent!".into()],
        Response::RequestSent(_, false) => vec!["connection request sent!".into()],
        Response::RequestSent(_, true) => vec!["connection request sent incognito!".into()],
        Response::QueueInfo(q) => vec![format!("server queue info: {q}")],
        Response::NetworkConfig(c) => {
            // Microseconds in the JSON.
            let secs = |key: &str| c[key].as_u64().unwrap_or(0) as f64 / 1e6;
            vec![
                match c["socksProxy"].as_str() {
                    Some(s) => format!("using SOCKS5 proxy {s}"),
                    None => "direct network connection".into(),
                },
                format!(
                    "TCP timeouts: connecting {} s, answers {} s",
                    secs("tcpConnectTimeout"),
                    secs("tcpTimeout")
                ),
                "to change: /network socks=on|off|<ip:port> [socks-mode=always|onion] \
                 [host-mode=onion|public] [smp-proxy=...] [timeout=<seconds>]"
                    .into(),
            ]
        }
        Response::PreparedGroup(g, _) => {
            vec![format!("#{}: group is prepared", view_name(&g.local_name))]
        }
        Response::StartedConnectionToGroup(g, None) => {
            vec![format!("#{}: connection started", view_name(&g.local_name))]
        }
        Response::StartedConnectionToGroup(g, Some(_)) => {
            vec![format!(
                "#{}: connection started incognito",
                view_name(&g.local_name)
            )]
        }
        Response::PreparedContact(c, _) => {
            vec![format!("{}: contact is prepared", view_name(&c.local_name))]
        }
        Response::StartedConnectionToContact(c, None) => {
            vec![format!("{}: connection started", view_name(&c.local_name))]
        }
        Response::StartedConnectionToContact(c, Some(_)) => {
            vec![format!(
                "{}: connection started incognito",
                view_name(&c.local_name)
            )]
        }
        Response::AddressCreated(link) => address_block("Your new chat address is created!", link),
        Response::Address(link) => address_block("Your chat address:", link),
        Response::AddressDeleted => vec![
            "Your chat address is deleted - accepted contacts will remain connected.".into(),
            "To create a new chat address use /ad".into(),
        ],
        Response::AddressSettings(_, s) => {
            let mut v = vec![match &s.auto_accept {
                // A business address accepts every request (as a business chat).
                _ if s.business_address => "auto_accept on, business".to_string(),
                Some(a) if a.accept_incognito => "auto_accept on, incognito".to_string(),
                Some(_) => "auto_accept on".to_string(),
                None => "auto_accept off".to_string(),
            }];
            if let (Some(_), Some(r)) = (&s.auto_accept, &s.auto_reply) {
                v.push("auto reply:".into());
                v.push(r.text_shown());
            }
            v
        }
        Response::Accepting(c) => vec![format!(
            "{}: accepting contact request, you can send messages to contact",
            contact_name(c)
        )],
        Response::Rejected(req) => vec![format!(
            "{}: contact request rejected",
            view_name(&req.local_name)
        )],
        // Our live message is not shown while we type it (the reference's terminal shows it
        // in its input line).
        Response::Sent(_, item) if item.live == Some(true) => Vec::new(),
        Response::Sent(c, item) => item_lines(c, item),
        Response::SentMany(c, items, paths) => items
            .iter()
            .filter(|i| i.live != Some(true))
            .flat_map(|i| {
                // A file: its text if it has one, then `/f @bob path` and how to cancel it,
                // as the reference's.
                let mut lines = match i.file_id {
                    Some(_) if i.content.text_shown().is_empty() => Vec::new(),
                    _ => item_lines(c, i),
                };
                if c.contact_id == chat_core::store::NOTES {
                    // A note's file: `* file 1 (test.jpg)`, as the reference's.
                    if let Some((id, name)) = i
                        .file_id
                        .and_then(|f| paths.iter().find(|(id, _)| *id == f))
                    {
                        lines.push(format!("{}* file {id} ({name})", time_prefix(i.item_ts)));
                    }
                    return lines;
                }
                let chat = format!("@{}", view_name(&c.local_name));
                lines.extend(sent_file_lines(i, paths, &chat));
                lines
            })
            .collect(),
        Response::Updated(c, item) => match live_marker(item, false, "[edited] ", false) {
            Some(m) => item_lines_marked(c, item, &m),
            None => Vec::new(),
        },
        Response::NoteUpdated(..) => Vec::new(),
        Response::NotChanged(..) => vec!["message didn't change".into()],
        Response::Deleted { items, .. } => items
            .iter()
            .map(|(_, now)| match now {
                Some(_) => "message marked deleted".to_string(),
                None => "message deleted".to_string(),
            })
            .collect(),
        Response::Cleared(c) => vec![format!(
            "{}: all messages are removed",
            if c.contact_id == chat_core::store::NOTES {
                "notes".to_string()
            } else {
                view_name(&c.local_name)
            }
        )],
        Response::Ok => vec!["ok".into()],
        Response::ChatItemTtl(ttl) => vec![chat_item_ttl(*ttl)],
        // The reference's terminal prints nothing for it (its apps show the calls).
        Response::CallInvitations(_) => Vec::new(),
        Response::GroupRelays(g, relays) if relays.is_empty() => {
            vec![format!("#{}: no chat relays", view_name(&g.local_name))]
        }
        Response::GroupRelays(g, relays) => {
            let mut v = vec![format!("#{} relays:", view_name(&g.local_name))];
            v.extend(relays.iter().map(relay_line));
            v
        }
        Response::PublicGroupCreated(g, link, relays) => {
            let mut v = vec![
                format!(
                    "channel #{} is created, subscribers join it by its link:",
                    view_name(&g.local_name)
                ),
                link.clone(),
            ];
            v.extend(relays.iter().map(relay_line));
            v
        }
        Response::GroupRelaysAdded(g, _, relays) => {
            let mut v = vec![format!("#{}: relays asked", view_name(&g.local_name))];
            v.extend(relays.iter().map(relay_line));
            v
        }
        Response::PublicGroupCreationFailed(results) | Response::GroupRelaysAddFailed(results) => {
            let mut v = vec!["no chat relay could be asked to serve the channel:".to_string()];
            v.extend(results.iter().map(|r| {
                format!(
                    "  relay {}: {}",
                    r.relay.name,
                    r.error.as_deref().unwrap_or("asked")
                )
            }));
            v
        }
        Response::RelayGroupAllowed(g) => vec![format!(
            "#{}: the channel will be served again when its owner asks",
            view_name(&g.local_name)
        )],
        Response::ChannelJoining(g, _) => vec![format!(
            "#{}: joining the channel through its relays...",
            view_name(&g.local_name)
        )],
        Response::ChatRelays(list) => {
            let mut v = vec!["Your servers".to_string(), "  Chat relays".to_string()];
            if list.is_empty() {
                v.push("    none".into());
            }
            v.extend(
                list.iter()
                    .map(|r| format!("    {}: {}", r.name, r.address)),
            );
            v
        }
        Response::Servers(p, servers) => {
            let mut v = vec![
                "Your servers".to_string(),
                format!("  {} servers", p.name()),
            ];
            v.extend(servers.iter().map(|s| format!("    {s}")));
            v
        }
        Response::ServerTested {
            protocol,
            failure: None,
            ..
        } => vec![format!("{} server test passed", protocol.name())],
        Response::ServerTested {
            protocol,
            failure: Some(f),
            ..
        } => chat_core::servers::failure_lines(*protocol, f),
        Response::ConnectionPlan { plan, .. } => plan.lines(),
        // The reference's lines (its `viewGroupInfo`, `viewGroupMemberInfo`).
        Response::GroupInfo { group, members } => vec![
            format!("group ID: {}", group.group_id),
            format!("current members: {members}"),
        ],
        Response::MemberInfo { group, member } => {
            let mut v = vec![
                format!("group ID: {}", group.group_id),
                format!("member ID: {}", member.group_member_id),
            ];
            if member.conn_id.is_none() {
                v.push("member not connected".into());
            }
            v
        }
        Response::ContactInfo { contact, verified } => {
            let mut v = vec![format!("contact ID: {}", contact.contact_id)];
            v.push(match &contact.incognito {
                Some(p) => format!(
                    "you've shared incognito profile with this contact: {}",
                    p.display_name
                ),
                None => "you've shared main profile with this contact".into(),
            });
            v.push(if *verified {
                "connection verified".into()
            } else {
                "connection not verified, use /code command to see security code".into()
            });
            if contact.deleted_by_contact {
                v.push("the contact deleted the conversation".into());
            }
            v
        }
        // Our own reaction, as the reference says it.
        Response::Reaction {
            reaction, added, ..
        } => vec![format!(
            "{} {}",
            if *added { "added" } else { "removed" },
            emoji(reaction)
        )],
        Response::Help(topic) => crate::help::lines(topic.as_deref()),
        Response::SecurityCode(c, code) => {
            let n = view_name(&c.local_name);
            vec![
                format!("{n} security code:"),
                code.clone(),
                format!("pass this code to your contact and use /verify {n} <code from your contact> to verify"),
            ]
        }
        Response::Verified { verified: true, .. } => vec!["connection verified".into()],
        Response::Verified { code, .. } => {
            vec![format!("connection not verified, current code is {code}")]
        }
        Response::ContactDeleted(c) => {
            vec![format!("{}: contact is deleted", view_name(&c.local_name))]
        }
        Response::ContactAlreadyExists(c) => {
            vec![format!("{}: contact already exists", contact_name(c))]
        }
        Response::PendingDeleted { conn, .. } => vec![format!("connection :{conn} deleted")],
        Response::ProfileChanged { from, to, told } => profile_changed(from, to, *told),
        Response::ProfileUnchanged => vec!["user profile did not change".into()],
        Response::ActiveUser => vec![
            format!("user profile: {}", full_name(&user.display_name, user)),
            "use /p <display name> to change it".into(),
            "(the updated profile will be sent to all your contacts)".into(),
        ],
        Response::UsersList(list) => users_list(list),
        Response::MemberContactCreated { group, member, .. } => vec![format!(
            "contact for member #{} {} is created",
            view_name(&group.local_name),
            view_name(&member.local_name)
        )],
        Response::MemberContactInvited { group, member, .. } => vec![format!(
            "sent invitation to connect directly to member #{} {}",
            view_name(&group.local_name),
            view_name(&member.local_name)
        )],
        Response::UserPrivacy {
            name,
            current,
            privacy,
            ..
        } => vec![
            format!(
                "{}user {}:",
                if *current { "current " } else { "" },
                view_name(name)
            ),
            if privacy.show_ntfs {
                "messages are shown".into()
            } else {
                "messages are hidden (use /tail to view)".into()
            },
            format!(
                "profile is {}",
                if privacy.hidden { "hidden" } else { "visible" }
            ),
        ],
        Response::MemberAccepted(g, m) => vec![format!(
            "#{}: you accepted {} to the group",
            view_name(&g.local_name),
            view_name(&m.local_name)
        )],
        Response::MemberContactAccepted(c) => vec![format!(
            "{}: joining the member's invitation to connect directly",
            view_name(&c.local_name)
        )],
        Response::SwitchAborted(_) | Response::MemberSwitchAborted(..) => {
            vec!["switch aborted".into()]
        }
        Response::SwitchStarted(_) | Response::MemberSwitchStarted(..) => {
            vec!["switch started".into()]
        }
        Response::SyncStarted(_) | Response::MemberSyncStarted(..) => {
            vec!["connection synchronization started".into()]
        }
        Response::Version => vec![format!(
            "SimpleX Chat v{}",
            chat_core::api::REFERENCE_VERSION
        )],
        Response::Running => vec!["chat is running".into()],
        // Printed as JSON by the caller (it needs the chat for the API's form).
        Response::Chat(..) | Response::GroupChat(..) => Vec::new(),
        Response::Started => vec!["chat started".into()],
        Response::ContactPrefsUpdated { from, to } => {
            let lines = chat_core::features::pref_lines(
                &chat_core::features::Prefs::of(from),
                &chat_core::features::Prefs::of(to),
            );
            let n = view_name(&to.local_name);
            if lines.is_empty() {
                vec![format!("your preferences for {n} did not change")]
            } else {
                let mut v = vec![format!("you updated preferences for {n}:")];
                v.extend(lines);
                v
            }
        }
        Response::Stopped => vec!["chat stopped".into()],
        Response::Chats(chats) => chats
            .iter()
            .flat_map(|(c, items, _)| match items.last() {
                Some(i) => item_lines(c, i),
                None => vec![contact_name(c)],
            })
            .collect(),
        Response::Profile(p) => vec![
            format!("Display name: {}", p.display_name),
            format!("Full name: {}", p.full_name),
        ],
        Response::Contacts(cs) => cs
            .iter()
            .map(|c| match c.muted {
                true => format!(
                    "{} (muted, you can /unmute @{})",
                    contact_name(c),
                    view_name(&c.local_name)
                ),
                false => contact_name(c),
            })
            .collect(),
        Response::Items(items) => items.iter().flat_map(|(c, i)| item_lines(c, i)).collect(),
        Response::ItemInfo(info) => item_info_lines(info),
        Response::GroupWelcome(g) => match &g.profile.description {
            None => vec!["No welcome message!".into()],
            Some(d) => std::iter::once("Welcome message:".to_string())
                .chain(d.lines().map(str::to_string))
                .collect(),
        },
        // The reference's line: `/feed (2) 12:34 text` (`, 1 failures` when some failed).
        Response::Broadcast {
            content,
            sent,
            failed,
            at,
        } => {
            let failures = if *failed > 0 {
                format!(", {failed} failures")
            } else {
                String::new()
            };
            head_lines(
                format!("/feed ({sent}{failures}) {}", time_prefix(*at)),
                &content.text_shown(),
            )
        }
        // The reference's `viewContactAliasUpdated`.
        Response::ContactAliasUpdated(c) if c.local_alias.is_empty() => {
            vec![format!(
                "contact {} alias removed",
                view_name(&c.local_name)
            )]
        }
        Response::ContactAliasUpdated(c) => vec![format!(
            "contact {} alias updated: {}",
            view_name(&c.local_name),
            c.local_alias
        )],
        // The reference's `viewConnectionAliasUpdated`.
        Response::ConnectionAliasUpdated { conn, alias } if alias.is_empty() => {
            vec![format!("connection {conn} alias removed")]
        }
        Response::ConnectionAliasUpdated { conn, alias } => {
            vec![format!("connection {conn} alias updated: {alias}")]
        }
        Response::GroupAliasUpdated(g) if g.local_alias.is_empty() => {
            vec![format!("group #{} alias removed", view_name(&g.local_name))]
        }
        Response::GroupAliasUpdated(g) => vec![format!(
            "group #{} alias updated: {}",
            view_name(&g.local_name),
            g.local_alias
        )],
        // The reference's `CRChatItemId`.
        Response::ItemId(id) => vec![id.map_or_else(|| "no item".to_string(), |i| i.to_string())],
        Response::FileSending {
            contact,
            item,
            file_id,
            path,
        } => vec![
            format!(
                "{}/f @{} {path}",
                time_prefix(item.item_ts),
                view_name(&contact.local_name)
            ),
            format!("use /fc {file_id} to cancel sending"),
        ],
        Response::FileAccepted {
            file_id,
            peer,
            shown,
        } => saving(*file_id, peer, shown),
        Response::FileCancelled {
            file_id,
            name,
            sent: true,
            members,
            ..
        } if !members.is_empty() => vec![format!(
            "cancelled sending file {file_id} ({name}) to {}",
            members
                .iter()
                .map(|m| view_name(m))
                .collect::<Vec<_>>()
                .join(", ")
        )],
        Response::FileCancelled {
            file_id,
            name,
            sent: true,
            ..
        } => vec![format!("cancelled sending file {file_id} ({name})")],
        Response::FileCancelled {
            file_id,
            name,
            peer,
            ..
        } => vec![format!(
            "cancelled receiving file {file_id} ({name}) from {}",
            peer_name(peer)
        )],
        Response::GroupFileSending {
            group,
            item,
            file_id,
            path,
        } => {
            let g = view_name(&group.local_name);
            let t = format!("{}{}", time_prefix(item.item_ts), inc(group));
            let text = item.content.text_shown();
            let mut lines = Vec::new();
            if !text.is_empty() {
                lines.push(format!("{t}#{g} {text}"));
            }
            lines.push(format!("{t}/f #{g} {path}"));
            lines.push(format!("use /fc {file_id} to cancel sending"));
            lines
        }
        Response::GroupLink {
            group,
            link,
            role,
            created,
        } => {
            let n = view_name(&group.local_name);
            let mut v = vec![
                if *created {
                    "Group link is created!".into()
                } else {
                    "Group link:".into()
                },
                String::new(),
                link.shown().to_string(),
                String::new(),
                format!(
                    "Anybody can connect to you and join group as {} with: /c <group_link_above>",
                    role.name()
                ),
                format!("to show it again: /show link #{n}"),
                format!(
                    "to delete it: /delete link #{n} (joined members will remain connected to you)"
                ),
            ];
            // As the address: the short link first, the full one for old clients after.
            if link.short.is_some() {
                v.push(format!("The group link for old clients: {}", link.full));
            }
            v
        }
        Response::BlockedForAll {
            group,
            members,
            blocked,
        } => vec![format!(
            "#{}: you {} {}",
            view_name(&group.local_name),
            if *blocked { "blocked" } else { "unblocked" },
            match &members[..] {
                [m] => view_name(&m.local_name),
                ms => format!("{} members", ms.len()),
            }
        )],
        Response::GroupLinkDeleted(g) => vec![
            "Group link is deleted - joined members will remain connected.".into(),
            format!(
                "To create a new group link use /create link #{}",
                view_name(&g.local_name)
            ),
        ],
        Response::GroupUpdated { from, to } => group_update_lines(from, to),
        Response::FileStatus(line) => vec![line.clone()],
        // Incognito: members join by link only.
        Response::GroupCreated(g) if g.incognito.is_some() => {
            let n = view_name(&g.local_name);
            let p = g
                .incognito
                .as_ref()
                .map_or(String::new(), |p| p.display_name.clone());
            vec![
                format!(
                    "group #{n} is created, your incognito profile for this group is {}",
                    view_name(&p)
                ),
                format!("to add members use /create link #{n}"),
            ]
        }
        Response::GroupCreated(g) => vec![
            format!("group {} is created", full_group(g)),
            format!(
                "to add members use /a {n} <name> or /create link #{n}",
                n = view_name(&g.local_name)
            ),
        ],
        Response::GroupInvitationSent { group, contact, .. } => vec![format!(
            "invitation to join the group #{} sent to {}",
            view_name(&group.local_name),
            view_name(&contact.local_name)
        )],
        // The reference prints nothing until connected.
        Response::GroupJoining(_) => Vec::new(),
        Response::GroupSent(_, item) if item.live == Some(true) => Vec::new(),
        Response::GroupSent(g, item) => group_item_lines(g, None, item, "", ""),
        Response::GroupItemUpdated(g, item) => match live_marker(item, false, "[edited] ", false) {
            Some(m) => group_item_lines(g, None, item, &m, ""),
            None => Vec::new(),
        },
        Response::GroupReaction {
            reaction, added, ..
        } => vec![format!(
            "{} {}",
            if *added { "added" } else { "removed" },
            emoji(reaction)
        )],
        Response::GroupItemsDeleted {
            items, moderated, ..
        } => items
            .iter()
            .map(|(_, _, now)| match (now, moderated) {
                (None, _) => "message deleted".to_string(),
                // Left as `moderated` (full deletion), or marked.
                (Some(i), true) if i.info.is_some() => "message deleted by you".to_string(),
                (Some(_), true) => "message marked deleted by you".to_string(),
                (Some(_), false) => "message marked deleted".to_string(),
            })
            .collect(),
        Response::GroupItemDeleted {
            full: true,
            moderated: true,
            ..
        } => vec!["message deleted by you".into()],
        Response::GroupItemDeleted { full: true, .. } => vec!["message deleted".into()],
        Response::GroupItemDeleted {
            moderated: false, ..
        } => vec!["message marked deleted".into()],
        Response::GroupItemDeleted {
            moderated: true, ..
        } => {
            vec!["message marked deleted by you".into()]
        }
        Response::GroupItems(g, list) => list
            .iter()
            .flat_map(|(m, i)| {
                let mut suffix = String::new();
                if i.forwarded_by.is_some() {
                    suffix.push_str(" [>>]");
                }
                if let Some(m) = m {
                    if m.blocked_by_admin {
                        suffix.push_str(" [blocked by admin]");
                    } else if !m.show_messages {
                        suffix.push_str(" [blocked]");
                    }
                }
                let marker = if i.deleted { "[marked deleted] " } else { "" };
                let name = m.as_ref().map(|m| m.local_name.as_str());
                group_item_lines(g, name, i, marker, &suffix)
            })
            .collect(),
        Response::Groups(list) if list.is_empty() => {
            vec!["you have no groups!".into(), "to create: /g <name>".into()]
        }
        Response::Groups(list) => list.iter().map(|(g, n)| group_line(g, *n)).collect(),
        Response::Members(g, members) => {
            let mut v = vec![member_line(
                &full_name(&user.display_name, user),
                g.role,
                Some("you"),
                g.status,
            )];
            for m in members {
                if matches!(m.status, MemberStatus::Left | MemberStatus::Removed) {
                    continue;
                }
                let category = match m.category {
                    MemberCategory::Invitee => Some("invited"),
                    MemberCategory::Host => Some("host"),
                    _ => None,
                };
                let mut line = member_line(
                    &full_name(&m.local_name, &m.profile),
                    m.role,
                    category,
                    m.status,
                );
                if !m.show_messages {
                    line.push_str(", blocked");
                }
                if m.blocked_by_admin {
                    line.push_str(", blocked by admin");
                }
                v.push(line);
            }
            v
        }
        Response::MemberRemoved(g, m) => vec![format!(
            "#{}: you removed {} from the group",
            view_name(&g.local_name),
            view_name(&m.local_name)
        )],
        Response::MembersRemoved(g, ms) => ms
            .iter()
            .map(|m| {
                format!(
                    "#{}: you removed {} from the group",
                    view_name(&g.local_name),
                    view_name(&m.local_name)
                )
            })
            .collect(),
        Response::MembersRoleChanged { group, members, to } => members
            .iter()
            .map(|m| {
                format!(
                    "#{}: you changed the role of {} to {}",
                    view_name(&group.local_name),
                    view_name(&m.local_name),
                    to.name()
                )
            })
            .collect(),
        Response::GroupSentMany(g, items, paths) => items
            .iter()
            .filter(|i| i.live != Some(true))
            .flat_map(|item| {
                // A file: its text if it has one, then `/f #team path` and how to cancel it,
                // as the reference's.
                let mut lines = match item.file_id {
                    Some(_) if item.content.text_shown().is_empty() => Vec::new(),
                    _ => group_item_lines(g, None, item, "", ""),
                };
                let chat = format!("#{}", view_name(&g.local_name));
                lines.extend(sent_file_lines(item, paths, &chat));
                lines
            })
            .collect(),
        Response::LeftGroup(g) => vec![
            format!("#{}: you left the group", view_name(&g.local_name)),
            format!("use /d #{} to delete the group", view_name(&g.local_name)),
        ],
        Response::GroupDeleted(g) => {
            vec![format!(
                "#{}: you deleted the group",
                view_name(&g.local_name)
            )]
        }
        Response::RoleChanged {
            group,
            member,
            from,
            to,
        } if from == to => {
            let _ = member;
            vec![format!(
                "#{}: member role did not change",
                view_name(&group.local_name)
            )]
        }
        Response::RoleChanged {
            group, member, to, ..
        } => vec![format!(
            "#{}: you changed the role of {} to {}",
            view_name(&group.local_name),
            view_name(&member.local_name),
            to.name()
        )],
        Response::Quit => Vec::new(),
    }
}

/// `#team`, or `#team (Full Name)` when the full name says more.
fn full_group(g: &Group) -> String {
    let n = view_name(&g.local_name);
    if g.profile.full_name.is_empty() || g.profile.full_name == g.local_name {
        format!("#{n}")
    } else {
        format!("#{n} ({})", g.profile.full_name)
    }
}

/// A line of `/gs`.
fn group_line(g: &Group, members: usize) -> String {
    let n = view_name(&g.local_name);
    let delete = |why: &str| format!(" ({why}, delete local copy: /d #{n})");
    let tail = match g.status {
        MemberStatus::Invited => {
            return format!(
                "{} - you are invited (/j {n} to join, /d #{n} to delete invitation)",
                full_group(g)
            )
        }
        MemberStatus::Removed => delete("you are removed"),
        MemberStatus::Left => delete("you left"),
        MemberStatus::GroupDeleted => delete("group deleted"),
        MemberStatus::Rejected => delete("request to join rejected"),
        _ if g.muted => format!(
            " ({members} member{}, {}, you can /unmute #{n})",
            if members == 1 { "" } else { "s" },
            if g.mentions_only {
                "mentions only"
            } else {
                "muted"
            }
        ),
        _ => format!(" ({members} member{})", if members == 1 { "" } else { "s" }),
    };
    // `i `: our membership is incognito.
    let mark = if g.incognito.is_some() { "i " } else { "" };
    format!("{mark}{}{tail}", full_group(g))
}

/// A line of `/ms`: `bob (Bob): admin, invited, connected`.
fn member_line(
    name: &str,
    role: GroupMemberRole,
    category: Option<&str>,
    status: MemberStatus,
) -> String {
    let status = match status {
        MemberStatus::Invited => Some("not yet joined"),
        MemberStatus::Connected => Some("connected"),
        MemberStatus::Creator => Some("created group"),
        MemberStatus::Removed => Some("removed"),
        MemberStatus::Left => Some("left"),
        MemberStatus::PendingApproval => Some("pending approval"),
        MemberStatus::PendingReview => Some("pending review"),
        MemberStatus::Unknown => Some("status unknown"),
        _ => None,
    };
    let parts: Vec<&str> = [Some(role.name()), category, status]
        .into_iter()
        .flatten()
        .collect();
    format!("{name}: {}", parts.join(", "))
}

/// The lines of an event.
pub fn event(e: &Event, shown: Shown) -> Vec<String> {
    match e {
        Event::ContactConnected(c) => match &c.incognito {
            Some(p) => vec![
                format!(
                    "{}: contact is connected, your incognito profile for this contact is {}",
                    contact_name(c),
                    p.display_name
                ),
                format!(
                    "use /i {} to print out this incognito profile again",
                    view_name(&c.local_name)
                ),
            ],
            None => vec![format!("{}: contact is connected", contact_name(c))],
        },
        Event::Received(c, item) | Event::ReceivedCaption(c, item) => muted_if(
            c.muted,
            match live_marker(item, true, "", shown.live) {
                Some(m) => trimmed(item_lines_marked(c, item, &m)),
                None => Vec::new(),
            },
        ),
        // Created when a contact connects; shown by /tail, not as it happens (the reference
        // shows new items of this kind to apps only).
        Event::InfoItem(..) | Event::GroupInfoItem(..) => Vec::new(),
        // Progress the reference's terminal does not print (the bot API reports it).
        Event::ContactConnecting(_) | Event::ContactSndReady(_) => Vec::new(),
        // Not shown, as the reference's (its item says it in `/tail`).
        Event::GroupMemberUpdated { .. } => Vec::new(),
        // Delivery receipts are printed by the reference's terminal only in its test view.
        Event::ItemStatus(..) | Event::GroupItemStatus(..) => Vec::new(),
        // Informational items are not printed as they change (a count of decryption errors).
        Event::Updated(_, item) | Event::GroupItemUpdated(_, _, item) if item.info.is_some() => {
            Vec::new()
        }
        Event::Updated(c, item) => match live_marker(item, false, "[edited] ", shown.live) {
            Some(m) => item_lines_marked(c, item, &m),
            None => Vec::new(),
        },
        Event::ItemSent(c, item) => item_lines(c, item),
        Event::AutoAccepted(c) => vec![format!(
            "{}: accepting contact request, you can send messages to contact",
            contact_name(c)
        )],
        // Shown by the reference only with --reactions.
        Event::Reaction {
            contact,
            item,
            reaction,
            added,
            ..
        } if shown.reactions => reaction_lines(
            format!(
                "{}{}> ",
                time_prefix(chrono::Local::now().timestamp_millis()),
                view_name(&contact.local_name)
            ),
            if item.sent { ">>" } else { ">" },
            item,
            reaction,
            *added,
        ),
        Event::Reaction { .. } => Vec::new(),
        // Disappearing messages go without a word, as in the reference.
        Event::TimedDeleted(..) => Vec::new(),
        Event::Deleted(c, Some(item)) => {
            let mut shown = item.clone();
            shown.quote = None;
            item_lines_marked(c, &shown, "[marked deleted] ")
        }
        Event::FullyDeleted(c, item) => {
            let mut shown = item.clone();
            shown.quote = None;
            muted_if(c.muted, item_lines_marked(c, &shown, "[deleted] "))
        }
        Event::Deleted(c, None) => vec![format!(
            "{}> [deleted - original message not found]",
            view_name(&c.local_name)
        )],
        Event::Request(req) => {
            let n = view_name(&req.local_name);
            let mut v = vec![format!(
                "{} wants to connect to you!",
                full_name(&req.local_name, &req.profile)
            )];
            // The message the request came with, as a received message.
            if let Some(m) = &req.message {
                v.push(format!(
                    "{}{n}> {}",
                    time_prefix(req.created_at),
                    m.content.text_shown()
                ));
            }
            v.push(format!("to accept: /ac {n}"));
            v.push(format!(
                "to reject: /rc {n} (the sender will NOT be notified)"
            ));
            v
        }
        Event::ProfileUpdated { from, to } => {
            let mut v = contact_updated(from, to);
            let lines = chat_core::features::pref_lines(
                &chat_core::features::Prefs::of(from),
                &chat_core::features::Prefs::of(to),
            );
            if !lines.is_empty() {
                v.push(format!(
                    "{} updated preferences for you:",
                    view_name(&to.local_name)
                ));
                v.extend(lines);
            }
            v
        }
        Event::ContactDeletedByContact(c) => {
            vec![format!("{} deleted contact with you", contact_name(c))]
        }
        Event::FileOffered {
            contact,
            file_id,
            item_id: _,
            name,
            size,
        } => muted_if(
            contact.muted,
            vec![
                format!(
                    "{}{}> sends file {name} ({} / {size} bytes)",
                    time_prefix(chrono::Local::now().timestamp_millis()),
                    view_name(&contact.local_name),
                    chat_core::files::size_text(*size)
                ),
                format!("use /fr {file_id} [<dir>/ | <path>] to receive it"),
            ],
        ),
        Event::FileAutoAccepted {
            file_id,
            peer,
            shown,
        } => saving(*file_id, peer, shown),
        Event::FileUploaded(id, name, p) => vec![format!(
            "completed uploading file {id} ({name}) for {}",
            peer_name(p)
        )],
        // The reference's terminal prints these only in its test view.
        Event::SubscriptionStatus { .. } => Vec::new(),
        Event::SubscriptionErrors { server, errors } => vec![format!(
            "error: {} connection(s) lost: {server} no longer has their queues ({})",
            errors.len(),
            errors.first().map(|(_, e)| e.as_str()).unwrap_or_default()
        )],
        // The reference's terminal prints nothing when a description is complete.
        Event::FileDescrReady(..) => Vec::new(),
        // The reference's `error uploading file ...` / `error receiving file ...` and the
        // error; a warning (the relay cannot be reached, the transfer tried again) in one line.
        Event::FileFailed(t) => vec![file_trouble("error", t), t.error.clone()],
        Event::FileWarning(t) => vec![format!(
            "{}, trying again: {}",
            file_trouble("warning", t),
            t.error
        )],
        Event::FileReceiving(id, name, p) => vec![format!(
            "started receiving file {id} ({name}) from {}",
            peer_name(p)
        )],
        Event::FileReceived(id, name, p) => vec![format!(
            "completed receiving file {id} ({name}) from {}",
            peer_name(p)
        )],
        Event::FileCancelledBySender(id, name, p) => vec![format!(
            "{} cancelled sending file {id} ({name})",
            peer_name(p)
        )],
        // ` [>>]` on both lines when the host forwarded it (the history, as the reference).
        Event::GroupFileOffered {
            group,
            member,
            item,
            file_id,
            name,
            size,
            forwarded,
        } => {
            let mark = if *forwarded { " [>>]" } else { "" };
            // A post as the channel itself: `#news> sends file ...`.
            let from = match member {
                Some(m) => format!(" {}{}", scope_prefix(item), view_name(&m.local_name)),
                None => String::new(),
            };
            muted_if(
                group_muted(group, item),
                vec![
                    format!(
                        "{}{}#{}{from}> sends file {name} ({} / {size} bytes){mark}",
                        time_prefix(item.item_ts),
                        inc(group),
                        view_name(&group.local_name),
                        chat_core::files::size_text(*size)
                    ),
                    format!("use /fr {file_id} [<dir>/ | <path>] to receive it{mark}"),
                ],
            )
        }
        Event::GroupJoinRequest(g, m) => vec![format!(
            "{}: accepting request to join group #{}...",
            full_name(&m.local_name, &m.profile),
            view_name(&g.local_name)
        )],
        Event::AcceptingBusinessRequest(g) => vec![format!(
            "{}: accepting business address request...",
            full_group(g)
        )],
        Event::GroupItemSent(g, item) => group_item_lines(g, None, item, "", ""),
        Event::Call(c) => call_lines(c),
        // A refused request is told by the rejection's line, not as joining.
        Event::GroupLinkJoining(g, _) if g.status == MemberStatus::Rejected => Vec::new(),
        Event::GroupLinkRejected { group, reason } => {
            let reason = if reason.is_empty() {
                String::new()
            } else {
                format!(" ({reason})")
            };
            vec![format!(
                "#{}: the group's admins rejected the request to join{reason}",
                view_name(&group.local_name)
            )]
        }
        Event::GroupLinkJoining(g, _) => {
            vec![format!(
                "#{}: joining the group...",
                view_name(&g.local_name)
            )]
        }
        Event::GroupUpdatedBy { from, to, by, .. } => {
            let lines = group_update_lines(from, to);
            if lines.is_empty() {
                return Vec::new();
            }
            let mut all = vec![format!(
                "{} updated group #{}:",
                view_name(&by.local_name),
                view_name(&from.local_name)
            )];
            all.extend(lines);
            all
        }
        Event::GroupInvited {
            group,
            contact,
            role,
        } => vec![
            format!(
                "{}: {} invites you to join the group as {}",
                full_group(group),
                view_name(&contact.local_name),
                role.name()
            ),
            format!("use /j {} to accept", view_name(&group.local_name)),
        ],
        Event::UserJoinedGroup(g, _) => {
            // Pending: we talk with the admins until one accepts us.
            let pending = match g.status {
                MemberStatus::PendingApproval => ", pending approval",
                MemberStatus::PendingReview => {
                    ", connecting to group moderators for admission to group"
                }
                _ => "",
            };
            match &g.incognito {
                Some(p) => vec![format!(
                    "#{}: you joined the group incognito as {}{pending}",
                    view_name(&g.local_name),
                    view_name(&p.display_name)
                )],
                None => vec![format!(
                    "#{}: you joined the group{pending}",
                    view_name(&g.local_name)
                )],
            }
        }
        Event::UserAccepted { group, by } => vec![match group.status {
            MemberStatus::PendingReview => format!(
                "#{}: {} accepted you to the group, pending review",
                view_name(&group.local_name),
                view_name(&by.local_name)
            ),
            _ => format!("#{}: you joined the group", view_name(&group.local_name)),
        }],
        Event::MemberAcceptedByOther { group, by, member } => vec![format!(
            "#{}: {} accepted {} to the group",
            view_name(&group.local_name),
            view_name(&by.local_name),
            view_name(&member.local_name)
        )],
        Event::MemberJoined(g, m) if m.status.is_pending() => vec![format!(
            "#{}: {} connected and pending review, {}",
            view_name(&g.local_name),
            view_name(&m.local_name),
            accept_hint(g, m)
        )],
        Event::MemberJoined(g, m) => vec![format!(
            "#{}: {} joined the group",
            view_name(&g.local_name),
            view_name(&m.local_name)
        )],
        // The reference's `viewHostEvent` lines, with `--log-hosts`.
        Event::HostConnected(host) if shown.hosts => {
            vec![format!("connected to SMP host {host}")]
        }
        Event::HostDisconnected(host) if shown.hosts => {
            vec![format!("disconnected from SMP host {host}")]
        }
        Event::HostConnected(_) | Event::HostDisconnected(_) => Vec::new(),
        // The reference's line (its directory bot's tests).
        Event::UnknownMemberCreated { group, by, member } => vec![format!(
            "#{}: {} forwarded a message from an unknown member, creating unknown member record {}",
            view_name(&group.local_name),
            view_name(&by.local_name),
            view_name(&member.local_name)
        )],
        Event::MemberAnnounced { group, by, member } if member.status.is_pending() => {
            vec![format!(
                "#{}: {} added {} to the group (connecting and pending review...), {}",
                view_name(&group.local_name),
                view_name(&by.local_name),
                full_name(&member.local_name, &member.profile),
                accept_hint(group, member)
            )]
        }
        Event::MemberAnnounced { group, by, member } => vec![format!(
            "#{}: {} added {} to the group (connecting...)",
            view_name(&group.local_name),
            view_name(&by.local_name),
            full_name(&member.local_name, &member.profile)
        )],
        // The reference's terminal shows nothing when only the count changed.
        Event::ChannelCountPublished(..) => vec![],
        Event::GroupRelayUpdated(g, r) => vec![format!(
            "#{}: relay {} is {}",
            view_name(&g.local_name),
            relay_name(r),
            match r.status {
                chat_core::channels::RelayStatus::Active => "active, subscribers join through it",
                s => s.as_str(),
            }
        )],
        // The removal's line says it already.
        Event::MemberItemsDeleted { .. } => Vec::new(),
        // Shown once it is active (the link's data written).
        Event::GroupRelayAccepted(..) => Vec::new(),
        Event::RelayServing(g, owner) => vec![format!(
            "#{}: serving the channel of {} as its relay",
            view_name(&g.local_name),
            view_name(&owner.profile.display_name)
        )],
        Event::MemberConnected(g, m) => vec![match m.category {
            MemberCategory::Post if m.status.is_pending() => format!(
                "#{}: new member {} is connected and pending review, {}",
                view_name(&g.local_name),
                view_name(&m.local_name),
                accept_hint(g, m)
            ),
            MemberCategory::Post => format!(
                "#{}: new member {} is connected",
                view_name(&g.local_name),
                view_name(&m.local_name)
            ),
            _ => format!(
                "#{}: member {} is connected",
                view_name(&g.local_name),
                full_name(&m.local_name, &m.profile)
            ),
        }],
        // A post as the channel itself (the reference's `#news> text`, ` [>>]` through a relay).
        Event::ChannelPost(g, item) => muted_if(
            g.muted,
            trimmed(group_item_lines(
                g,
                None,
                item,
                &live_marker(item, true, "", shown.live).unwrap_or_default(),
                if item.forwarded_by.is_some() {
                    " [>>]"
                } else {
                    ""
                },
            )),
        ),
        // ` [>>]`: forwarded by a member (the host) until the author's connection is up.
        // A muted group's messages get the mark the blocked ones carry already.
        Event::GroupReceived(g, m, item) | Event::GroupReceivedCaption(g, m, item) => muted_if(
            group_muted(g, item) && m.show_messages && !m.blocked_by_admin,
            trimmed(group_item_lines(
                g,
                Some(&m.local_name),
                item,
                &live_marker(item, true, "", shown.live).unwrap_or_default(),
                match (
                    item.forwarded_by.is_some(),
                    m.show_messages,
                    m.blocked_by_admin,
                ) {
                    (false, true, false) => "",
                    (true, true, false) => " [>>]",
                    // Blocked by a moderator for all, or by us: shown marked and without
                    // notice, as the reference.
                    (false, _, true) => " [blocked by admin] <muted>",
                    (true, _, true) => " [>>] [blocked by admin] <muted>",
                    (false, false, false) => " [blocked] <muted>",
                    (true, false, false) => " [>>] [blocked] <muted>",
                },
            )),
        ),
        // Shown by the reference only with --reactions.
        Event::GroupReaction {
            group,
            member,
            item,
            item_author,
            reaction,
            added,
        } if shown.reactions => reaction_lines(
            // Someone in a channel whom its relay does not name: the channel's, as its posts.
            match member {
                Some(member) => format!(
                    "{}{}#{} {}{}> ",
                    time_prefix(chrono::Local::now().timestamp_millis()),
                    inc(group),
                    view_name(&group.local_name),
                    scope_prefix(item),
                    view_name(&member.local_name)
                ),
                None => format!(
                    "{}{}#{}> ",
                    time_prefix(chrono::Local::now().timestamp_millis()),
                    inc(group),
                    view_name(&group.local_name),
                ),
            },
            &format!("> {}", view_name(item_author)),
            item,
            reaction,
            *added,
        ),
        Event::GroupReaction { .. } => Vec::new(),
        Event::GroupItemUpdated(g, m, item) => {
            match live_marker(item, false, "[edited] ", shown.live) {
                Some(mark) => group_item_lines(g, Some(&m.local_name), item, &mark, ""),
                None => Vec::new(),
            }
        }
        // A live post's updates while typed show only with `/show on`, as a member's.
        Event::ChannelPostUpdated(g, item) => {
            match live_marker(item, false, "[edited] ", shown.live) {
                Some(mark) => {
                    muted_if(g.muted, trimmed(group_item_lines(g, None, item, &mark, "")))
                }
                None => Vec::new(),
            }
        }
        Event::GroupItemDeleted {
            group,
            author,
            item,
            by,
            own_name,
            full,
        } => {
            let marker = match (by, full) {
                (Some(b), true) => format!("[deleted by {}] ", view_name(&b.local_name)),
                (Some(b), false) => format!("[marked deleted by {}] ", view_name(&b.local_name)),
                (None, true) => "[deleted] ".to_string(),
                (None, false) => "[marked deleted] ".to_string(),
            };
            // Ours, deleted by a moderator: under our name, as the reference shows it.
            let name = match (author, by) {
                (Some(a), _) => Some(a.local_name.as_str()),
                (None, Some(_)) => Some(own_name.as_str()),
                (None, None) => None,
            };
            group_item_lines(group, name, item, &marker, "")
        }
        Event::MemberBlockedBy {
            group, by, member, ..
        } => vec![format!(
            "#{}: {} {} {}",
            view_name(&group.local_name),
            view_name(&by.local_name),
            if member.blocked_by_admin {
                "blocked"
            } else {
                "unblocked"
            },
            view_name(&member.local_name)
        )],
        Event::RemovedFromGroup(g, by, _) => vec![
            format!(
                "#{}: {} removed you from the group",
                view_name(&g.local_name),
                view_name(&by.local_name)
            ),
            format!("use /d #{} to delete the group", view_name(&g.local_name)),
        ],
        Event::MemberRemovedBy {
            group, by, member, ..
        } => vec![format!(
            "#{}: {} removed {} from the group",
            view_name(&group.local_name),
            view_name(&by.local_name),
            view_name(&member.local_name)
        )],
        Event::MemberLeft(g, m, _) => vec![format!(
            "#{}: {} left the group",
            view_name(&g.local_name),
            view_name(&m.local_name)
        )],
        Event::GroupDeletedBy(g, by, _) => vec![
            format!(
                "#{}: {} deleted the group",
                view_name(&g.local_name),
                view_name(&by.local_name)
            ),
            format!(
                "use /d #{} to delete the local copy of the group",
                view_name(&g.local_name)
            ),
        ],
        Event::RoleChangedBy {
            group,
            by,
            member,
            from,
            to,
            ..
        } => vec![format!(
            "#{}: {} changed {} from {} to {}",
            view_name(&group.local_name),
            view_name(&by.local_name),
            match member {
                Some(m) => format!("the role of {}", view_name(&m.local_name)),
                None => "your role".into(),
            },
            from.name(),
            to.name()
        )],
        Event::Error(e) => vec![format!("error: {e}")],
        // The reference's lines (names quoted when they have spaces, as commands take them).
        Event::MessageRefused(c, conn) => vec![format!(
            "[{}, contactId: {}, connId: {conn}] error: {}",
            view_name(&c.local_name),
            c.contact_id,
            chat_core::disable::AUTH_REFUSED
        )],
        Event::ContactDisabled(c) => {
            let n = view_name(&c.local_name);
            vec![format!(
                "[{n}] connection is disabled, to enable: /enable {n}, to delete: /d {n}"
            )]
        }
        Event::MemberDisabled(g, m) => {
            let (g, m) = (view_name(&g.local_name), view_name(&m.local_name));
            vec![format!(
                "[#{g} {m}] connection is disabled, to enable: /enable #{g} {m}"
            )]
        }
        Event::ConnectionError { conn, error } => {
            vec![format!("error: connection {conn}: {error}")]
        }
        Event::UserDeleted => vec!["completed deleting user".into()],
        // `bob: connection synchronized`; after a decryption error, how to re-synchronise.
        Event::RatchetSync {
            contact,
            member,
            state,
        } => {
            let (who, sync) = match (contact, member) {
                (Some(c), _) => (view_name(&c.local_name), view_name(&c.local_name)),
                (None, Some((g, m))) => {
                    let gm = format!("#{} {}", view_name(&g.local_name), view_name(&m.local_name));
                    (gm.clone(), gm)
                }
                (None, None) => return Vec::new(),
            };
            let mut lines = vec![format!(
                "{who}: {}",
                chat_core::features::sync_state(*state).1
            )];
            if matches!(
                state,
                chat_core::chat::SyncState::Allowed | chat_core::chat::SyncState::Required
            ) {
                lines.push(format!("use /sync {sync} to synchronize"));
            }
            lines
        }
        Event::NoMemberContact(group, member) => vec![format!(
            "member #{} {} does not have direct connection, creating",
            view_name(&group.local_name),
            view_name(&member.local_name)
        )],
        Event::MemberContactCreated { group, member, .. } => vec![format!(
            "contact for member #{} {} is created",
            view_name(&group.local_name),
            view_name(&member.local_name)
        )],
        Event::MemberContactInvitation {
            group,
            member,
            contact,
        } => {
            let mut lines = vec![format!(
                "#{} {} is creating direct contact {} with you",
                view_name(&group.local_name),
                view_name(&member.local_name),
                view_name(&contact.local_name)
            )];
            // Not joined at once (members' contacts are not accepted automatically): how to.
            if contact.conn_id.is_none() {
                lines.push(format!(
                    "to accept: /_accept member contact @{} (to accept such contacts always: /set accept member contacts on)",
                    contact.contact_id
                ));
            }
            lines
        }
        // The reference shows a rotation's start and end only.
        Event::ContactSwitch {
            contact,
            ours,
            phase,
        } => match switch_phase(*phase) {
            None => Vec::new(),
            Some(p) if *ours => vec![format!("{}: you {p}", view_name(&contact.local_name))],
            Some(p) => vec![format!("{} {p} for you", view_name(&contact.local_name))],
        },
        Event::MemberSwitch {
            group,
            member,
            ours,
            phase,
        } => match switch_phase(*phase) {
            None => Vec::new(),
            Some(p) if *ours => vec![format!(
                "#{}: you {p} for {}",
                view_name(&group.local_name),
                view_name(&member.local_name)
            )],
            Some(p) => vec![format!(
                "#{}: {} {p} for you",
                view_name(&group.local_name),
                view_name(&member.local_name)
            )],
        },
    }
}

/// What a start prints, as the reference's subscription summary: one block per thing
/// reported (another user's blocks each get its name: [`for_user`]).
pub fn start_summary(s: &chat_core::chat::StartSummary) -> Vec<Vec<String>> {
    let mut blocks = Vec::new();
    let mut contacts = Vec::new();
    if s.connected > 0 {
        contacts.push(format!(
            "{} contacts connected (use /cs for the list)",
            s.connected
        ));
    }
    if s.errors > 0 {
        contacts.push(format!(
            "{} contact errors (their relay cannot be reached: tried again in the background)",
            s.errors
        ));
    }
    if !contacts.is_empty() {
        blocks.push(contacts);
    }
    for g in &s.groups {
        blocks.push(vec![format!(
            "{}#{}: connected to server(s)",
            inc(g),
            view_name(&g.local_name)
        )]);
    }
    blocks
}

/// A queue rotation's phase as the terminal says it; none for the phases it does not show.
fn switch_phase(phase: chat_core::chat::SwitchPhase) -> Option<&'static str> {
    match phase {
        chat_core::chat::SwitchPhase::Started => Some("started changing address"),
        chat_core::chat::SwitchPhase::Completed => Some("changed address"),
        _ => None,
    }
}

/// `/users`: by name, each marked active, with its unread count when it has any.
fn users_list(list: &[chat_core::users::UserListed]) -> Vec<String> {
    let mut list: Vec<_> = list.iter().collect();
    list.sort_by_key(|u| u.profile.display_name.to_lowercase());
    if list.is_empty() {
        return vec!["no users".into()];
    }
    list.iter()
        .map(|u| {
            let mut info = Vec::new();
            if u.active {
                info.push("active".to_string());
            }
            if u.privacy.hidden {
                info.push("hidden".to_string());
            }
            if !u.privacy.show_ntfs {
                info.push("muted".to_string());
            }
            if u.unread > 0 {
                info.push(format!("unread: {}", u.unread));
            }
            let mut line = full_name(&u.profile.display_name, &u.profile);
            if !info.is_empty() {
                line.push_str(&format!(" ({})", info.join(", ")));
            }
            line
        })
        .collect()
}

/// Another user's lines, as the reference marks them: `[user: name] ` before the first.
pub fn for_user(name: &str, mut lines: Vec<String>) -> Vec<String> {
    if let Some(first) = lines.first_mut() {
        first.insert_str(0, &format!("[user: {}] ", view_name(name)));
    }
    lines
}

/// The received items an event shows (marked read with `-r`).
pub fn shown_items(e: &Event) -> Vec<i64> {
    match e {
        Event::Received(_, item) | Event::GroupReceived(_, _, item) => vec![item.item_id],
        Event::FileOffered { item_id, .. } => vec![*item_id],
        Event::GroupFileOffered { item, .. } => vec![item.item_id],
        _ => Vec::new(),
    }
}

/// A contact's call signalling, as the reference's terminal shows it: the link of the call
/// page to continue in a browser, or the data to paste into it.
fn call_lines(e: &chat_core::calls::CallEvent) -> Vec<String> {
    use chat_core::calls::{
        browsers_note, call_kind, call_page_link, page_answer, page_command, CallEvent,
    };
    match e {
        CallEvent::Invitation(i) => vec![
            format!(
                "{} wants to connect with you via WebRTC {}",
                view_name(&i.contact.local_name),
                call_kind(&i.call_type)
            ),
            format!(
                "To accept the call, please open the link below in your browser{}",
                browsers_note(&i.call_type)
            ),
            String::new(),
            call_page_link(
                &page_command(
                    i.call_type.media,
                    i.shared_key.as_ref().map(|k| k.as_str()),
                    None,
                ),
                i.contact.contact_id,
            ),
        ],
        CallEvent::Offer {
            contact,
            call_type,
            offer,
            shared_key,
            ..
        } => vec![
            format!(
                "{} accepted your WebRTC {}",
                view_name(&contact.local_name),
                call_kind(call_type)
            ),
            format!(
                "To connect, please open the link below in your browser{}",
                browsers_note(call_type)
            ),
            String::new(),
            call_page_link(
                &page_command(
                    call_type.media,
                    shared_key.as_ref().map(|k| k.as_str()),
                    Some(offer),
                ),
                contact.contact_id,
            ),
        ],
        CallEvent::Answer { contact, answer } => vec![
            format!("{} continued the WebRTC call", view_name(&contact.local_name)),
            "To connect, please paste the data below in your browser window you opened earlier and click Connect button".into(),
            String::new(),
            page_answer(answer),
        ],
        CallEvent::ExtraInfo { contact, .. } => vec![format!(
            "call extra info from {}",
            view_name(&contact.local_name)
        )],
        CallEvent::Ended(contact) => {
            vec![format!("call with {} ended", view_name(&contact.local_name))]
        }
    }
}

/// The lines of a failed command.
pub fn error(e: &ChatError) -> Vec<String> {
    match e {
        ChatError::Command(c) => vec![format!("invalid chat command: {c}")],
        // As the reference's terminal: a call command in the wrong state prints nothing.
        ChatError::CallState(_) => Vec::new(),
        ChatError::NoCurrentCall => vec![e.to_string()],
        ChatError::LinkUsed(plan) => plan.lines(),
        ChatError::FileCancelled(_)
        | ChatError::NoFile(_)
        | ChatError::CannotUpdate
        | ChatError::CannotDelete
        | ChatError::NoGroup(_)
        | ChatError::NoGroupId(_)
        | ChatError::GroupRole(..)
        | ChatError::GroupCannotSend(_)
        | ChatError::GroupNotJoined(_)
        | ChatError::GroupNotActive(_)
        | ChatError::AlreadyMember(..)
        | ChatError::GroupContactRole(_)
        | ChatError::NotCurrentMember
        | ChatError::BadCommand(_)
        | ChatError::NoContactButMember(..)
        | ChatError::FeatureNotAllowed(_)
        | ChatError::GroupIncognitoCantInvite
        | ChatError::GroupLinkExists(_)
        | ChatError::NoGroupLink(_)
        | ChatError::GroupLinkRole(..)
        | ChatError::BlockForSelf(..)
        | ChatError::IncognitoContact
        | ChatError::NotGroupMember(_)
        | ChatError::NotStarted
        | ChatError::NoActiveUser
        | ChatError::UserExists(_)
        | ChatError::UserUnknown
        | ChatError::DifferentActiveUser(..)
        | ChatError::CantDeleteActiveUser(_)
        | ChatError::UserAlreadyHidden(_)
        | ChatError::UserNotHidden(_)
        | ChatError::EmptyUserPassword(_)
        | ChatError::CantHideLastUser(_)
        | ChatError::HiddenUserAlwaysMuted(_)
        | ChatError::Prohibited(_)
        | ChatError::SwitchProhibited(_)
        | ChatError::ChatNotStopped
        | ChatError::StoreChanged
        | ChatError::DbEncrypted
        | ChatError::DbPlaintext
        | ChatError::DbExport(_)
        | ChatError::DbOpen(_)
        | ChatError::Archive(_)
        | ChatError::IncognitoChangeProhibited
        | ChatError::UserChangeProhibited
        | ChatError::ContactDisabled(_) => vec![e.to_string()],
        other => vec![format!("chat error: {other}")],
    }
}

/// `/ttl`: the reference's `viewChatItemTTL`.
fn chat_item_ttl(ttl: Option<i64>) -> String {
    let after = match ttl {
        None => return "old messages are not being deleted".into(),
        Some(86_400) => "one day".to_string(),
        Some(604_800) => "one week".to_string(),
        Some(2_592_000) => "one month".to_string(),
        Some(s) => format!("{s} second(s)"),
    };
    format!("old messages are set to be deleted after: {after}")
}

/// A channel's relay by the name it was configured with (or its member name).
fn relay_name(r: &chat_core::channels::GroupRelay) -> String {
    match &r.chat_relay {
        Some(c) => c.name.clone(),
        None => view_name(&r.member.local_name),
    }
}

/// `  relay bob_relay: invited`.
fn relay_line(r: &chat_core::channels::GroupRelay) -> String {
    format!("  relay {}: {}", relay_name(r), r.status.as_str())
}
