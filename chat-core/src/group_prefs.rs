//! Group preferences (`groupPreferences` of the group's profile), as the reference reads them:
//! each feature `{"enable": "on" | "off", "role"?: "admin"}`, a feature the profile does not
//! mention taking the default of a group created by `/g`; `/set files #g off` and its
//! siblings change them (owners only) and send the whole profile (`x.grp.info`).

use serde_json::{json, Map, Value};

use crate::protocol::{GroupMemberRole, GroupProfile};

/// A group feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Feature {
    /// Its key in `groupPreferences`.
    pub key: &'static str,
    /// Its name in the reference's lines.
    pub name: &'static str,
    /// On when the profile does not say.
    pub default_on: bool,
    /// It may be enabled for a role and above only.
    pub has_role: bool,
}

/// The features, in the reference's order (its lines list them so).
pub const FEATURES: &[Feature] = &[
    Feature {
        key: "timedMessages",
        name: "Disappearing messages",
        default_on: false,
        has_role: false,
    },
    Feature {
        key: "directMessages",
        name: "Direct messages",
        default_on: true,
        has_role: true,
    },
    Feature {
        key: "fullDelete",
        name: "Full deletion",
        default_on: false,
        has_role: true,
    },
    Feature {
        key: "reactions",
        name: "Message reactions",
        default_on: true,
        has_role: false,
    },
    Feature {
        key: "voice",
        name: "Voice messages",
        default_on: true,
        has_role: true,
    },
    Feature {
        key: "files",
        name: "Files and media",
        default_on: true,
        has_role: true,
    },
    Feature {
        key: "simplexLinks",
        name: "SimpleX links",
        default_on: true,
        has_role: true,
    },
    Feature {
        key: "reports",
        name: "Member reports",
        default_on: true,
        has_role: false,
    },
    Feature {
        key: "history",
        name: "Recent history",
        default_on: true,
        has_role: false,
    },
];

/// The feature a `/set` word names (`/set files #g off`).
pub fn feature_by_word(word: &str) -> Option<Feature> {
    let key = match word {
        "voice" => "voice",
        "files" => "files",
        "delete" => "fullDelete",
        "direct" => "directMessages",
        "links" => "simplexLinks",
        "history" => "history",
        "reactions" => "reactions",
        "reports" => "reports",
        _ => return None,
    };
    feature(key)
}

/// The feature with this key.
pub fn feature(key: &str) -> Option<Feature> {
    FEATURES.iter().copied().find(|f| f.key == key)
}

/// A feature's state in a profile: on or off, and the role it is enabled for (none: all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct State {
    /// Enabled.
    pub on: bool,
    /// Enabled for this role and above only.
    pub role: Option<GroupMemberRole>,
    /// Disappearing messages: the time to live, seconds.
    pub ttl: Option<i64>,
}

/// A feature's state in `profile` (its default where the profile does not say).
pub fn state(profile: &GroupProfile, f: Feature) -> State {
    let p = profile
        .group_preferences
        .as_ref()
        .and_then(|p| p.get(f.key));
    let on = match p.and_then(|p| p.get("enable")).and_then(Value::as_str) {
        Some("on") => true,
        Some("off") => false,
        _ => f.default_on,
    };
    let role = if f.has_role {
        p.and_then(|p| p.get("role"))
            .and_then(|r| serde_json::from_value(r.clone()).ok())
    } else {
        None
    };
    let ttl = p.and_then(|p| p.get("ttl")).and_then(Value::as_i64);
    State { on, role, ttl }
}

/// A member with `role` may use the feature.
pub fn allowed(profile: &GroupProfile, f: Feature, role: GroupMemberRole) -> bool {
    let s = state(profile, f);
    s.on && s.role.is_none_or(|r| role >= r)
}

/// `profile` with the feature set.
pub fn with_state(
    profile: &GroupProfile,
    f: Feature,
    on: bool,
    role: Option<GroupMemberRole>,
) -> GroupProfile {
    let mut prefs = match &profile.group_preferences {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    let mut p = json!({ "enable": if on { "on" } else { "off" } });
    if let (true, Some(r)) = (f.has_role, role) {
        p["role"] = json!(r);
    }
    if let Some(ttl) = prefs.get(f.key).and_then(|o| o.get("ttl")).cloned() {
        p["ttl"] = ttl;
    }
    prefs.insert(f.key.to_string(), p);
    GroupProfile {
        group_preferences: Some(Value::Object(prefs)),
        ..profile.clone()
    }
}

/// `profile` with disappearing messages on after `ttl` seconds, or off.
pub fn with_timed(profile: &GroupProfile, ttl: Option<i64>) -> GroupProfile {
    let mut prefs = match &profile.group_preferences {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    let old_ttl = prefs
        .get("timedMessages")
        .and_then(|o| o.get("ttl"))
        .cloned();
    let p = match ttl {
        Some(t) => json!({"enable": "on", "ttl": t}),
        None => match old_ttl {
            Some(t) => json!({"enable": "off", "ttl": t}),
            None => json!({"enable": "off"}),
        },
    };
    prefs.insert("timedMessages".to_string(), p);
    GroupProfile {
        group_preferences: Some(Value::Object(prefs)),
        ..profile.clone()
    }
}

/// The time to live of a group's messages (seconds), when disappearing messages are on.
pub fn timed_ttl(profile: &GroupProfile) -> Option<i64> {
    let s = state(profile, FEATURES[0]);
    s.on.then_some(s.ttl.unwrap_or(86400))
}

/// `Files and media: on for admins`, `Disappearing messages: on (1 day)`.
pub fn state_text(f: Feature, s: State) -> String {
    let mut t = format!("{}: {}", f.name, if s.on { "on" } else { "off" });
    if let (true, Some(ttl)) = (s.on, s.ttl) {
        t.push_str(&format!(" ({})", ttl_text(ttl)));
    }
    if let Some(r) = s.role {
        t.push_str(&format!(" for {}s", r.name()));
    }
    t
}

/// A time to live as the reference words it: `1 day`, `2 weeks`, `1 hour 30 min`.
pub fn ttl_text(ttl: i64) -> String {
    if ttl == 0 {
        return "0 sec".into();
    }
    let (m, s) = (ttl / 60, ttl % 60);
    let (h, m) = (m / 60, m % 60);
    let (d, h) = (h / 24, h % 24);
    let (mm, d) = (d / 30, d % 30);
    let mut parts = Vec::new();
    match mm {
        0 => {}
        1 => parts.push("1 month".to_string()),
        n => parts.push(format!("{n} months")),
    }
    match d {
        0 => {}
        1 => parts.push("1 day".to_string()),
        7 => parts.push("1 week".to_string()),
        14 => parts.push("2 weeks".to_string()),
        n => parts.push(format!("{n} days")),
    }
    match h {
        0 => {}
        1 => parts.push("1 hour".to_string()),
        n => parts.push(format!("{n} hours")),
    }
    if m != 0 {
        parts.push(format!("{m} min"));
    }
    if s != 0 {
        parts.push(format!("{s} sec"));
    }
    parts.join(" ")
}

/// The lines the reference prints when a group's profile changes from `old` to `new`
/// (without the "alice updated group #team:" line a member's change starts with); none when
/// nothing it shows changed.
pub fn update_lines(old: &GroupProfile, new: &GroupProfile) -> Vec<String> {
    let mut lines = Vec::new();
    // A new name is shown by the view (it knows the name the group goes by here).
    if old.full_name != new.full_name && old.display_name == new.display_name {
        if new.full_name.is_empty() || new.full_name == new.display_name {
            lines.push("full name removed".to_string());
        } else {
            lines.push(format!("full name changed to: {}", new.full_name));
        }
    }
    if old.image != new.image {
        lines.push(
            match new.image {
                Some(_) => "profile image updated",
                None => "profile image removed",
            }
            .to_string(),
        );
    }
    if old.description != new.description {
        match &new.description {
            Some(d) => {
                lines.push("welcome message changed to:".to_string());
                lines.extend(d.lines().map(str::to_string));
            }
            None => lines.push("welcome message removed".to_string()),
        }
    }
    let prefs: Vec<String> = FEATURES
        .iter()
        .filter_map(|f| {
            let (a, b) = (state(old, *f), state(new, *f));
            (a != b).then(|| state_text(*f, b))
        })
        .collect();
    if !prefs.is_empty() {
        lines.push("updated group preferences:".to_string());
        lines.extend(prefs);
    }
    lines
}

/// The group's preferences with every feature (`FullGroupPreferences` of the bot API).
pub fn full_preferences(profile: &GroupProfile) -> Value {
    let mut o = Map::new();
    for f in FEATURES {
        let s = state(profile, *f);
        let mut p = json!({ "enable": if s.on { "on" } else { "off" } });
        if let Some(r) = s.role {
            p["role"] = json!(r);
        }
        if f.key == "timedMessages" {
            p["ttl"] = json!(s.ttl.unwrap_or(86400));
        }
        o.insert(f.key.to_string(), p);
    }
    for (k, v) in [
        ("support", json!({"enable": "off"})),
        ("sessions", json!({"enable": "off"})),
        ("comments", json!({"enable": "off"})),
        ("signMessages", json!({"enable": "off"})),
        ("commands", json!([])),
    ] {
        o.insert(k.to_string(), v);
    }
    Value::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> Feature {
        feature("files").expect("files")
    }

    #[test]
    fn defaults_and_changes() {
        let p = GroupProfile::default();
        assert!(allowed(&p, files(), GroupMemberRole::Member));
        let off = with_state(&p, files(), false, None);
        assert!(!allowed(&off, files(), GroupMemberRole::Owner));
        assert_eq!(
            update_lines(&p, &off),
            vec!["updated group preferences:", "Files and media: off"]
        );
        let admins = with_state(&off, files(), true, Some(GroupMemberRole::Admin));
        assert!(allowed(&admins, files(), GroupMemberRole::Admin));
        assert!(!allowed(&admins, files(), GroupMemberRole::Member));
        assert_eq!(
            update_lines(&off, &admins),
            vec![
                "updated group preferences:",
                "Files and media: on for admins"
            ]
        );
        // A profile written by the reference, with its own keys, keeps them.
        let theirs: GroupProfile = serde_json::from_value(json!({
            "displayName": "team", "fullName": "",
            "groupPreferences": {"history": {"enable": "off"}, "x": {"enable": "on"}}
        }))
        .expect("profile");
        let h = feature("history").expect("history");
        assert!(!state(&theirs, h).on);
        let on = with_state(&theirs, h, true, None);
        assert!(on
            .group_preferences
            .as_ref()
            .and_then(|p| p.get("x"))
            .is_some());
        assert!(update_lines(&theirs, &theirs).is_empty());
    }

    #[test]
    fn disappearing() {
        let p = GroupProfile::default();
        assert_eq!(timed_ttl(&p), None);
        let on = with_timed(&p, Some(3600));
        assert_eq!(timed_ttl(&on), Some(3600));
        assert_eq!(
            update_lines(&p, &on),
            vec![
                "updated group preferences:",
                "Disappearing messages: on (1 hour)"
            ]
        );
        let off = with_timed(&on, None);
        assert_eq!(timed_ttl(&off), None);
        assert_eq!(
            update_lines(&on, &off),
            vec!["updated group preferences:", "Disappearing messages: off"]
        );
    }

    #[test]
    fn ttl_words() {
        assert_eq!(ttl_text(86400), "1 day");
        assert_eq!(ttl_text(604800), "1 week");
        assert_eq!(ttl_text(5400), "1 hour 30 min");
        assert_eq!(ttl_text(30), "30 sec");
    }
}
