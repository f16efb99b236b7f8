//! Mentions of group members (the reference's, chat v6.3+): `@name` or `@'name with spaces'` in
//! a group message's text, with `mentions` - each name's member id - in its `x.msg.new` (and
//! `x.msg.update`).
//!
//! Which names a text mentions follows the reference's markdown: a mention starts a word
//! (the text's start or after a space) - not inside other formatting (`*bold @x*`, `` `@x` ``,
//! a secret `#@x#`, a colored `!1 @x!`) - and trailing punctuation is not part of it.
//!
//! Sending: at most [`MAX_SND_MENTIONS`] members, each named in the text, each once (the
//! API's `mentions`, or for `#team text` the members whose name here the text mentions).
//! Receiving: the names the text mentions, in order, that the message's `mentions` gives a
//! member id for, each member once, at most [`MAX_RCV_MENTIONS`] (the reference's rule against
//! invisible and repeated mentions). Kept per item:
//!
//! ```text
//! item_mentions(item_id -> chat_items ON DELETE CASCADE, name, member_id, PRIMARY KEY (item_id, name))
//! ```

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::params;

use crate::chat::{Chat, ChatError};
use crate::group_store::Group;
use crate::protocol::{MemberId, MsgMention};
use crate::store::{ChatStore, StoreError};

type Result<T> = std::result::Result<T, ChatError>;

/// The most members one sent message may mention (the reference's `maxSndMentions`).
pub const MAX_SND_MENTIONS: usize = 3;

/// The most mentions of a received message that are kept (the reference's `maxRcvMentions`).
pub const MAX_RCV_MENTIONS: usize = 5;

/// The names a text mentions, in order (repeats kept), as the reference's markdown finds
/// them.
pub fn mentioned_names(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut names = Vec::new();
    let mut i = 0;
    let take_till = |from: usize, stop: &dyn Fn(char) -> bool| -> usize {
        let mut j = from;
        while j < chars.len() && !stop(chars[j]) {
            j += 1;
        }
        j
    };
    while i < chars.len() {
        let c = chars[i];
        i = match c {
            ' ' => take_till(i, &|c| c != ' '),
            // Formatted text: up to the closing mark (without one, the rest of the text).
            '*' | '_' | '~' | '`' => {
                let end = take_till(i + 1, &|x| x == c);
                (end + 1).min(chars.len())
            }
            // A secret: its marks, up to the next mark, its closing marks.
            '#' => {
                let a = take_till(i, &|x| x != '#');
                let b = take_till(a, &|x| x == '#');
                take_till(b, &|x| x != '#')
            }
            '!' => colored_end(&chars, i).unwrap_or_else(|| take_till(i, &|x| x == ' ')),
            '@' => match mention_at(&chars, i) {
                Some((name, end)) => {
                    names.push(name);
                    end
                }
                None => take_till(i, &|x| x == ' '),
            },
            _ => take_till(i, &|x| x == ' '),
        };
    }
    names
}

/// A colored fragment (`!1 text!`, `!red text!`) starting at `i`: where it ends.
fn colored_end(chars: &[char], i: usize) -> Option<usize> {
    let mut j = i + 1;
    let first = *chars.get(j)?;
    j += 1;
    let long = match first {
        'r' => "ed",
        'g' => "reen",
        'b' => "lue",
        'y' => "ellow",
        'c' => "yan",
        'm' => "agenta",
        '1'..='6' => "",
        _ => return None,
    };
    let rest: String = chars[j..].iter().take(long.len()).collect();
    if !long.is_empty() && rest == long {
        j += long.len();
    }
    if chars.get(j) != Some(&' ') {
        return None;
    }
    j += 1;
    let start = j;
    // At least one character other than a space or `!`, then up to the closing `!`.
    match chars.get(j) {
        Some(&c) if c != ' ' && c != '!' => {}
        _ => return None,
    }
    while j < chars.len() && chars[j] != '!' {
        j += 1;
    }
    if j >= chars.len() || chars[j - 1] == ' ' || j == start {
        return None;
    }
    Some(j + 1)
}

/// A character a name may start with (the reference's `refChar`).
fn name_start(c: char) -> bool {
    c > ' ' && c != '#' && c != '@' && c != '\''
}

/// Punctuation, as Haskell's `isPunctuation` (Unicode's P categories) for the characters
/// that occur in names and texts.
fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation() && !matches!(c, '$' | '+' | '<' | '=' | '>' | '^' | '`' | '|' | '~')
        || matches!(
            c,
            '\u{a1}' | '\u{a7}' | '\u{ab}' | '\u{b6}' | '\u{b7}' | '\u{bb}' | '\u{bf}'
        )
        || ('\u{2010}'..='\u{2027}').contains(&c)
        || ('\u{2030}'..='\u{205e}').contains(&c)
        || ('\u{3001}'..='\u{3003}').contains(&c)
        || ('\u{3008}'..='\u{3011}').contains(&c)
}

/// A mention at `i` (an `@`): its name and where it ends.
fn mention_at(chars: &[char], i: usize) -> Option<(String, usize)> {
    let j = i + 1;
    if chars.get(j) == Some(&'\'') {
        let start = j + 1;
        if !name_start(*chars.get(start)?) {
            return None;
        }
        let mut end = start;
        while end < chars.len() && chars[end] != '\'' {
            end += 1;
        }
        if end >= chars.len() {
            return None;
        }
        return Some((chars[start..end].iter().collect(), end + 1));
    }
    if !name_start(*chars.get(j)?) {
        return None;
    }
    let mut end = j;
    while end < chars.len() && !chars[end].is_whitespace() {
        end += 1;
    }
    let mut name_end = end;
    while name_end > j && is_punctuation(chars[name_end - 1]) {
        name_end -= 1;
    }
    if name_end == j {
        return None;
    }
    Some((chars[j..name_end].iter().collect(), end))
}

/// A message content's own text (where mentions are).
pub fn content_text(c: &crate::protocol::MsgContent) -> &str {
    use crate::protocol::MsgContent as M;
    match c {
        M::Text { text }
        | M::Link { text, .. }
        | M::Image { text, .. }
        | M::Video { text, .. }
        | M::Voice { text, .. }
        | M::File { text }
        | M::Report { text, .. }
        | M::Chat { text, .. }
        | M::Unknown { text, .. } => text,
    }
}

/// The member ids of a message's mentions, as an item keeps them.
pub fn member_ids(mentions: &BTreeMap<String, MsgMention>) -> BTreeMap<String, MemberId> {
    mentions
        .iter()
        .map(|(n, m)| (n.clone(), m.member_id.clone()))
        .collect()
}

/// Whether a received message in `g` is for us: it mentions us, or replies to one of our
/// messages (the reference's `userMention`).
pub fn for_us(
    g: &Group,
    mentions: &BTreeMap<String, MemberId>,
    quote: Option<&crate::store::ItemQuote>,
) -> bool {
    mentions.values().any(|id| *id == g.member_id)
        || quote.and_then(|q| q.member_id.as_ref()) == Some(&g.member_id)
}

/// The mentions kept of a received message: the names its text mentions, in order, that
/// `mentions` gives a member id for, each member once, at most [`MAX_RCV_MENTIONS`].
pub fn received(text: &str, mentions: &BTreeMap<String, MsgMention>) -> BTreeMap<String, MemberId> {
    let mut kept = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for name in mentioned_names(text) {
        if kept.len() >= MAX_RCV_MENTIONS {
            break;
        }
        if let Some(m) = mentions.get(&name) {
            if seen.insert(m.member_id.clone()) {
                kept.insert(name, m.member_id.clone());
            }
        }
    }
    kept
}

impl ChatStore {
    /// Records an item's mentions (replacing what it had: an edit mentions anew).
    pub fn set_item_mentions(
        &self,
        item_id: i64,
        mentions: &BTreeMap<String, MemberId>,
    ) -> std::result::Result<(), StoreError> {
        self.db
            .execute("DELETE FROM item_mentions WHERE item_id = ?1", [item_id])?;
        for (name, id) in mentions {
            self.db.execute(
                "INSERT INTO item_mentions (item_id, name, member_id) VALUES (?1, ?2, ?3)",
                params![item_id, name, id.0],
            )?;
        }
        Ok(())
    }

    /// How many unread items of a group mention us or reply to ours.
    pub fn unread_mentions(&self, group_id: i64) -> std::result::Result<i64, StoreError> {
        Ok(self.db.query_row(
            "SELECT count(*) FROM chat_items
             WHERE group_id = ?1 AND unread = 1 AND user_mention = 1",
            [group_id],
            |r| r.get(0),
        )?)
    }

    /// Records whether a received item mentions us or replies to one of ours.
    pub fn set_user_mention(&self, item_id: i64, on: bool) -> std::result::Result<(), StoreError> {
        self.db.execute(
            "UPDATE chat_items SET user_mention = ?2 WHERE item_id = ?1",
            params![item_id, on],
        )?;
        Ok(())
    }

    /// An item's mentions: each name's member id.
    pub fn item_mentions(
        &self,
        item_id: i64,
    ) -> std::result::Result<BTreeMap<String, MemberId>, StoreError> {
        let mut st = self
            .db
            .prepare_cached("SELECT name, member_id FROM item_mentions WHERE item_id = ?1")?;
        let rows = st.query_map([item_id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?;
        let mut out = BTreeMap::new();
        for r in rows {
            let (name, id) = r?;
            out.insert(name, crate::protocol::B64(id));
        }
        Ok(out)
    }
}

impl Chat {
    /// The mentions a message we send to `g` carries: `explicit` (the API's names and group
    /// member ids) checked against the text, or, without them, the members whose name here
    /// the text mentions.
    pub(crate) fn sent_mentions(
        &self,
        g: &Group,
        text: &str,
        explicit: Option<&BTreeMap<String, i64>>,
    ) -> Result<BTreeMap<String, MsgMention>> {
        let named = mentioned_names(text);
        if named.is_empty() && explicit.is_none_or(BTreeMap::is_empty) {
            return Ok(BTreeMap::new());
        }
        let invalid = |why: &str| ChatError::BadCommand(format!("invalid mention: {why}"));
        let mut out = BTreeMap::new();
        match explicit {
            Some(given) => {
                if given.len() > MAX_SND_MENTIONS {
                    return Err(invalid(&format!("at most {MAX_SND_MENTIONS} members")));
                }
                for (name, gm_id) in given {
                    if !named.contains(name) {
                        return Err(invalid(&format!("@{name} is not in the text")));
                    }
                    let m = self
                        .store()
                        .member(*gm_id)?
                        .filter(|m| m.group_id == g.group_id)
                        .ok_or_else(|| invalid(&format!("no member {gm_id} in the group")))?;
                    out.insert(
                        name.clone(),
                        MsgMention {
                            member_id: m.member_id,
                        },
                    );
                }
            }
            None => {
                let members = self.store().members(g.group_id)?;
                for name in named {
                    if out.contains_key(&name) {
                        continue;
                    }
                    if let Some(m) = members.iter().find(|m| m.local_name == name) {
                        out.insert(
                            name,
                            MsgMention {
                                member_id: m.member_id.clone(),
                            },
                        );
                    }
                }
                if out.len() > MAX_SND_MENTIONS {
                    return Err(invalid(&format!("at most {MAX_SND_MENTIONS} members")));
                }
            }
        }
        let distinct: BTreeSet<&MemberId> = out.values().map(|m| &m.member_id).collect();
        if distinct.len() != out.len() {
            return Err(invalid("a member mentioned by two names"));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_the_reference_markdown_finds_them() {
        assert_eq!(mentioned_names("hi @alice"), ["alice"]);
        assert_eq!(
            mentioned_names("@alice, @bob! and @'John Doe'?"),
            ["alice", "bob", "John Doe"]
        );
        assert_eq!(mentioned_names("@alice @alice"), ["alice", "alice"]);
        // Not a mention: inside a word, formatting, a secret, a colored fragment.
        assert!(mentioned_names("mail@alice.org (@bob)").is_empty());
        assert!(mentioned_names("*hi @alice* `@bob` #@cath# !1 @dan!").is_empty());
        assert!(mentioned_names("_open @alice").is_empty());
        // Not names: nothing after `@`, a quote not closed, a bad first character.
        assert!(mentioned_names("@ @# @@x @'open").is_empty());
        assert_eq!(mentioned_names("!x @alice"), ["alice"]);
        assert_eq!(mentioned_names("!1 not colored @bob"), ["bob"]);
    }

    #[test]
    fn received_mentions_are_named_in_the_text_and_unique() {
        let id = |b: u8| MsgMention {
            member_id: crate::protocol::B64(vec![b]),
        };
        let given: BTreeMap<String, MsgMention> = [
            ("alice".to_string(), id(1)),
            ("al".to_string(), id(1)),
            ("hidden".to_string(), id(2)),
            ("bob".to_string(), id(3)),
        ]
        .into();
        let kept = received("@alice @al @bob", &given);
        assert_eq!(kept.len(), 2, "{kept:?}");
        assert_eq!(kept["alice"].0, vec![1]);
        assert_eq!(kept["bob"].0, vec![3]);
        let many: BTreeMap<String, MsgMention> =
            (0..9u8).map(|i| (format!("m{i}"), id(i))).collect();
        let text: Vec<String> = (0..9).map(|i| format!("@m{i}")).collect();
        assert_eq!(received(&text.join(" "), &many).len(), MAX_RCV_MENTIONS);
    }
}
