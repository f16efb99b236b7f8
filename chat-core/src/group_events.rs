//! A group's informational items, as the reference keeps them in the group's chat: what
//! happened in the group (`rcvGroupEvent` / `sndGroupEvent`: a member added, connected, gone,
//! its role, the group's profile), the encryption notice and the group's features
//! (`rcvGroupFeature` / `sndGroupFeature`) a chat starts with or that changed. They are never
//! sent, edited, quoted or reacted to; the terminal prints them in `/tail` only (as the
//! reference, whose live lines say the same), the bot API reports them as `newChatItems`.

use serde_json::{json, Value};

use crate::features::{InfoItem, E2EE_TEXT};
use crate::group_prefs::{self, FEATURES};
use crate::protocol::{GroupMemberRole, GroupProfile, Profile};

/// `alice` or `bob (Robert)`: a profile in an item's text (the reference's `profileToText`).
fn profile_text(p: &Profile) -> String {
    if p.full_name.is_empty() || p.full_name == p.display_name {
        p.display_name.clone()
    } else {
        format!("{} ({})", p.display_name, p.full_name)
    }
}

fn item(sent: bool, text: String, content: Value) -> InfoItem {
    InfoItem {
        sent,
        text,
        content,
        at_epoch: false,
    }
}

/// An event a member caused (`rcvGroupEvent`).
fn rcv(event: Value, text: String) -> InfoItem {
    item(
        false,
        text,
        json!({"type": "rcvGroupEvent", "rcvGroupEvent": event}),
    )
}

/// An event we caused (`sndGroupEvent`).
fn snd(event: Value, text: String) -> InfoItem {
    item(
        true,
        text,
        json!({"type": "sndGroupEvent", "sndGroupEvent": event}),
    )
}

fn profile_json(p: &Profile) -> Value {
    crate::api::profile(p)
}

fn group_profile_json(p: &GroupProfile) -> Value {
    serde_json::to_value(p).unwrap_or_else(|_| json!({"displayName": p.display_name}))
}

/// The items a group's chat starts with: the banner (ours, dated at the epoch), the
/// encryption notice and every feature's state; `sent` for a group we created, else said by
/// the host (the reference's `createGroupFeatureItems`).
pub fn start_items(profile: &GroupProfile, sent: bool) -> Vec<InfoItem> {
    let mut v = Vec::with_capacity(2 + FEATURES.len());
    v.push(InfoItem {
        sent: true,
        text: String::new(),
        content: json!({"type": "chatBanner"}),
        at_epoch: true,
    });
    let tag = if sent {
        "sndGroupE2EEInfo"
    } else {
        "rcvGroupE2EEInfo"
    };
    v.push(item(
        sent,
        E2EE_TEXT.into(),
        json!({"type": tag, "e2eeInfo": {"pqEnabled": false}}),
    ));
    v.extend(FEATURES.iter().map(|f| feature_item(profile, *f, sent)));
    v
}

/// A feature's state as an item: `Files and media: on for admins`.
fn feature_item(profile: &GroupProfile, f: group_prefs::Feature, sent: bool) -> InfoItem {
    let s = group_prefs::state(profile, f);
    let mut content = json!({
        "type": if sent { "sndGroupFeature" } else { "rcvGroupFeature" },
        "groupFeature": f.key,
        "preference": {"enable": if s.on { "on" } else { "off" }},
    });
    if f.key == "timedMessages" && s.on {
        content["param"] = s.ttl.unwrap_or(86400).into();
    }
    if let Some(r) = s.role {
        content["memberRole_"] = json!(r);
    }
    let state = group_prefs::State {
        ttl: if f.key == "timedMessages" {
            Some(s.ttl.unwrap_or(86400))
        } else {
            s.ttl
        },
        ..s
    };
    item(sent, group_prefs::state_text(f, state), content)
}

/// The group's profile changed from `old` to `new`: `group profile updated`, then an item per
/// feature whose state changed (`sent`: we changed it).
pub fn updated(old: &GroupProfile, new: &GroupProfile, sent: bool) -> Vec<InfoItem> {
    let event = json!({"type": "groupUpdated", "groupProfile": group_profile_json(new)});
    let text = "group profile updated".to_string();
    let mut v = vec![if sent {
        snd(event, text)
    } else {
        rcv(event, text)
    }];
    v.extend(
        FEATURES
            .iter()
            .filter(|f| group_prefs::state(old, **f) != group_prefs::state(new, **f))
            .map(|f| feature_item(new, *f, sent)),
    );
    v
}

/// A member connected (to us).
pub fn member_connected() -> InfoItem {
    rcv(json!({"type": "memberConnected"}), "connected".into())
}

/// A member added another (`x.grp.mem.new`).
pub fn member_added(member: i64, p: &Profile) -> InfoItem {
    rcv(
        json!({"type": "memberAdded", "groupMemberId": member, "profile": profile_json(p)}),
        format!("added {}", profile_text(p)),
    )
}

/// A member left.
pub fn member_left() -> InfoItem {
    rcv(json!({"type": "memberLeft"}), "left".into())
}

/// We left.
pub fn user_left() -> InfoItem {
    snd(json!({"type": "userLeft"}), "left".into())
}

/// A member's role changed: by a member (`sent` false), or by us.
pub fn member_role(member: i64, p: &Profile, role: GroupMemberRole, sent: bool) -> InfoItem {
    let event = json!({"type": "memberRole", "groupMemberId": member,
                       "profile": profile_json(p), "role": role});
    let text = format!("changed role of {} to {}", profile_text(p), role.name());
    if sent {
        snd(event, text)
    } else {
        rcv(event, text)
    }
}

/// A member changed our role.
pub fn user_role(role: GroupMemberRole) -> InfoItem {
    rcv(
        json!({"type": "userRole", "role": role}),
        format!("changed your role to {}", role.name()),
    )
}

/// A member was removed: by a member (`sent` false), or by us.
pub fn member_deleted(member: i64, p: &Profile, sent: bool) -> InfoItem {
    let event = json!({"type": "memberDeleted", "groupMemberId": member,
                       "profile": profile_json(p)});
    let text = format!("removed {}", profile_text(p));
    if sent {
        snd(event, text)
    } else {
        rcv(event, text)
    }
}

/// A member removed us.
pub fn user_deleted() -> InfoItem {
    rcv(json!({"type": "userDeleted"}), "removed you".into())
}

/// The owner deleted the group.
pub fn group_deleted() -> InfoItem {
    rcv(json!({"type": "groupDeleted"}), "deleted group".into())
}

/// A member was blocked (or unblocked) for all: by an admin (`sent` false), or by us.
pub fn member_blocked(member: i64, p: &Profile, blocked: bool, sent: bool) -> InfoItem {
    let event = json!({"type": "memberBlocked", "groupMemberId": member,
                       "profile": profile_json(p), "blocked": blocked});
    let text = format!(
        "{} {}",
        if blocked { "blocked" } else { "unblocked" },
        profile_text(p)
    );
    if sent {
        snd(event, text)
    } else {
        rcv(event, text)
    }
}

/// A member changed what its profile shows.
pub fn member_profile_updated(from: &Profile, to: &Profile) -> InfoItem {
    rcv(
        json!({"type": "memberProfileUpdated", "fromProfile": profile_json(from),
               "toProfile": profile_json(to)}),
        "updated profile".into(),
    )
}

/// We wait for the admins' review (in our support chat).
pub fn user_pending_review() -> InfoItem {
    snd(
        json!({"type": "userPendingReview"}),
        "please wait for group moderators to review your request to join the group".into(),
    )
}

/// A new member waits for the admins' review (in its support chat).
pub fn new_member_pending_review() -> InfoItem {
    rcv(
        json!({"type": "newMemberPendingReview"}),
        "new member wants to join the group".into(),
    )
}

/// A member pending review was accepted: by us (`sent`), or by another moderator (in its
/// support chat).
pub fn member_accepted(member: i64, p: &Profile, sent: bool) -> InfoItem {
    let event = json!({"type": "memberAccepted", "groupMemberId": member,
                       "profile": profile_json(p)});
    if sent {
        snd(event, "you accepted this member".into())
    } else {
        rcv(event, format!("accepted {}", profile_text(p)))
    }
}

/// A moderator accepted us (in our support chat).
pub fn user_accepted() -> InfoItem {
    rcv(json!({"type": "userAccepted"}), "accepted you".into())
}

/// Whether a received item asks for the user's attention (created unread): what happened to
/// the user itself, or a joiner waiting for review, as the reference's `ciRequiresAttention`.
pub fn requires_attention(content: &Value) -> bool {
    content["type"] == "rcvGroupEvent"
        && matches!(
            content["rcvGroupEvent"]["type"].as_str(),
            Some(
                "userRole"
                    | "userDeleted"
                    | "groupDeleted"
                    | "userAccepted"
                    | "newMemberPendingReview"
            )
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_group_starts_with_its_features() {
        let items = start_items(&GroupProfile::default(), true);
        let texts: Vec<&str> = items.iter().map(|i| i.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "",
                E2EE_TEXT,
                "Disappearing messages: off",
                "Direct messages: on",
                "Full deletion: off",
                "Message reactions: on",
                "Voice messages: on",
                "Files and media: on",
                "SimpleX links: on",
                "Member reports: on",
                "Recent history: on",
            ]
        );
        assert_eq!(items[0].content["type"], "chatBanner");
        assert!(items[0].at_epoch);
        assert_eq!(items[1].content["type"], "sndGroupE2EEInfo");
        assert_eq!(items[2].content["groupFeature"], "timedMessages");
        assert_eq!(items[2].content["preference"]["enable"], "off");
        let theirs = start_items(&GroupProfile::default(), false);
        assert_eq!(theirs[1].content["type"], "rcvGroupE2EEInfo");
        assert!(!theirs[3].sent);
        assert_eq!(theirs[3].content["type"], "rcvGroupFeature");
    }

    #[test]
    fn a_profile_change_names_the_changed_features() {
        let old = GroupProfile::default();
        let files = group_prefs::feature("files").expect("files");
        let new = group_prefs::with_state(&old, files, true, Some(GroupMemberRole::Admin));
        let new = group_prefs::with_timed(&new, Some(3600));
        let items = updated(&old, &new, false);
        let texts: Vec<&str> = items.iter().map(|i| i.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "group profile updated",
                "Disappearing messages: on (1 hour)",
                "Files and media: on for admins",
            ]
        );
        assert_eq!(items[0].content["rcvGroupEvent"]["type"], "groupUpdated");
        assert_eq!(items[1].content["param"], 3600);
        assert_eq!(items[2].content["memberRole_"], "admin");
        assert_eq!(updated(&new, &new, true).len(), 1);
    }

    #[test]
    fn texts_and_attention() {
        let p = Profile {
            display_name: "dan".into(),
            full_name: "Daniel".into(),
            ..Profile::default()
        };
        assert_eq!(member_added(4, &p).text, "added dan (Daniel)");
        assert_eq!(
            member_role(4, &p, GroupMemberRole::Admin, true).text,
            "changed role of dan (Daniel) to admin"
        );
        assert_eq!(member_deleted(4, &p, false).text, "removed dan (Daniel)");
        assert_eq!(
            member_blocked(4, &p, false, true).text,
            "unblocked dan (Daniel)"
        );
        assert!(requires_attention(
            &user_role(GroupMemberRole::Member).content
        ));
        assert!(requires_attention(&user_deleted().content));
        assert!(!requires_attention(&member_connected().content));
        assert!(!requires_attention(&member_left().content));
    }
}
