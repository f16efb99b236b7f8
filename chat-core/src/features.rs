//! A contact's chat features (the reference's `Types/Preferences.hs`): what the user allows,
//! what the contact allows (its profile's `preferences`), and what follows for both - the
//! `mergedPreferences` of the bot API's `Contact` and the informational items a new direct
//! chat starts with (the chat banner, the end-to-end encryption notice and one item per
//! feature), whose number the reference's item ids count on.

use serde_json::{json, Map, Value};

/// The features a contact's preferences name, with the reference's default for a user
/// (`defaultChatPrefs`): the bot API lists all of them.
pub const FEATURES: [(&str, &str); 7] = [
    ("timedMessages", "yes"),
    ("fullDelete", "no"),
    ("reactions", "yes"),
    ("voice", "yes"),
    ("files", "always"),
    ("calls", "yes"),
    ("sessions", "no"),
];

/// The features a new direct chat gets an item for, in order (`allChatFeatures`), with the
/// names the terminal shows.
const ITEM_FEATURES: [(&str, &str); 5] = [
    ("timedMessages", "Disappearing messages"),
    ("fullDelete", "Full deletion"),
    ("reactions", "Message reactions"),
    ("voice", "Voice messages"),
    ("calls", "Audio/video calls"),
];

/// The end-to-end encryption notice of a chat without post-quantum keys
/// (`e2eInfoNoPQText`).
pub const E2EE_TEXT: &str = "This conversation is protected by end-to-end encryption with \
perfect forward secrecy, repudiation and break-in recovery.";

/// Whether a feature is on for each side (`PrefEnabled`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enabled {
    /// The user may use it.
    pub for_user: bool,
    /// The contact may use it.
    pub for_contact: bool,
}

/// The `allow` of one feature in a preferences object (`yes`, `no`, `always`), or the
/// default; anything else is read as the default, as a preference the reference cannot parse
/// is dropped.
fn allow_of(prefs: Option<&Value>, feature: &str, default: &'static str) -> String {
    prefs
        .and_then(|p| p.get(feature))
        .and_then(|f| f.get("allow"))
        .and_then(Value::as_str)
        .filter(|a| matches!(*a, "yes" | "no" | "always"))
        .unwrap_or(default)
        .to_string()
}

/// The reference's `prefEnabled`: `always` against `no` leaves the feature to the side that
/// insists when the feature is asymmetric (all but disappearing messages).
fn enabled(feature: &str, user: &str, contact: &str) -> Enabled {
    let asymmetric = feature != "timedMessages";
    let (for_user, for_contact) = match (user, contact) {
        ("always", "no") => (false, asymmetric),
        ("no", "always") => (asymmetric, false),
        (_, "no") | ("no", _) => (false, false),
        _ => (true, true),
    };
    Enabled {
        for_user,
        for_contact,
    }
}

fn default_of(feature: &str) -> &'static str {
    FEATURES
        .iter()
        .find(|(f, _)| *f == feature)
        .map_or("no", |(_, d)| *d)
}

/// The user's preferences here: the defaults (this client has no per-user or per-contact
/// overrides).
fn user_allow(feature: &str) -> &'static str {
    default_of(feature)
}

/// `mergedPreferences` of a contact (`ContactUserPreferences`) given its profile's
/// preferences.
pub fn merged_preferences(contact_prefs: Option<&Value>) -> Value {
    let mut m = Map::new();
    for (f, default) in FEATURES {
        let user = user_allow(f);
        let contact = allow_of(contact_prefs, f, default);
        let e = enabled(f, user, &contact);
        m.insert(
            f.into(),
            json!({
                "enabled": {"forUser": e.for_user, "forContact": e.for_contact},
                "userPreference": {"type": "user", "preference": {"allow": user}},
                "contactPreference": {"allow": contact},
            }),
        );
    }
    Value::Object(m)
}

/// The user's full preferences (`FullPreferences`).
pub fn full_preferences() -> Value {
    let mut m = Map::new();
    for (f, allow) in FEATURES {
        m.insert(f.into(), json!({ "allow": allow }));
    }
    m.insert("commands".into(), json!([]));
    Value::Object(m)
}

/// The text of a feature's state (`featureStateText`): `Voice messages: enabled`,
/// `Full deletion: off`, `... enabled for you`; disappearing messages without a time are
/// `allowed`.
fn state_text(name: &str, feature: &str, e: Enabled) -> String {
    let on = if feature == "timedMessages" {
        "allowed"
    } else {
        "enabled"
    };
    let state = match (e.for_user, e.for_contact) {
        (true, true) => on.to_string(),
        (false, false) => "off".to_string(),
        (true, false) => format!("{on} for you"),
        (false, true) => format!("{on} for contact"),
    };
    format!("{name}: {state}")
}

/// One informational item: sent by us or not, its text (empty for the banner), its API
/// content (`CIContent`), and whether it sorts before everything (the banner's time is the
/// epoch).
#[derive(Debug, Clone, PartialEq)]
pub struct InfoItem {
    /// Shown as ours (`directSnd`).
    pub sent: bool,
    /// Its text (`itemText`).
    pub text: String,
    /// Its content in the API.
    pub content: Value,
    /// Dated at the epoch.
    pub at_epoch: bool,
}

impl InfoItem {
    /// The contact deleted the conversation (`x.direct.del`; the reference's
    /// `RDEContactDeleted`).
    pub fn contact_deleted() -> Self {
        InfoItem {
            sent: false,
            text: "contact deleted".into(),
            content: json!({"type": "rcvDirectEvent",
                            "rcvDirectEvent": {"type": "contactDeleted"}}),
            at_epoch: false,
        }
    }
}

/// The items a direct chat starts with once the contact is connected (the reference's
/// `CIChatBanner` when the chat has no items yet, `CIRcvDirectE2EEInfo`, then
/// `createFeatureEnabledItems`).
pub fn start_items(contact_prefs: Option<&Value>, banner: bool) -> Vec<InfoItem> {
    let mut v = Vec::with_capacity(2 + ITEM_FEATURES.len());
    if banner {
        v.push(InfoItem {
            sent: true,
            text: String::new(),
            content: json!({"type": "chatBanner"}),
            at_epoch: true,
        });
    }
    v.push(InfoItem {
        sent: false,
        text: E2EE_TEXT.into(),
        content: json!({"type": "rcvDirectE2EEInfo", "e2eeInfo": {"pqEnabled": false}}),
        at_epoch: false,
    });
    for (f, name) in ITEM_FEATURES {
        let contact = allow_of(contact_prefs, f, default_of(f));
        let e = enabled(f, user_allow(f), &contact);
        v.push(InfoItem {
            sent: false,
            text: state_text(name, f, e),
            content: json!({
                "type": "rcvChatFeature",
                "feature": f,
                "enabled": {"forUser": e.for_user, "forContact": e.for_contact},
            }),
            at_epoch: false,
        });
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_contacts_get_the_reference_items() {
        let items = start_items(None, true);
        let texts: Vec<&str> = items.iter().map(|i| i.text.as_str()).collect();
        // The reference tests' `chatFeatures` for two default users, after banner and notice.
        assert_eq!(
            texts,
            [
                "",
                E2EE_TEXT,
                "Disappearing messages: allowed",
                "Full deletion: off",
                "Message reactions: enabled",
                "Voice messages: enabled",
                "Audio/video calls: enabled",
            ]
        );
        assert_eq!(items[0].content["type"], "chatBanner");
        assert!(items[0].sent && items[0].at_epoch);
        assert_eq!(items[3].content["feature"], "fullDelete");
        assert_eq!(items[3].content["enabled"]["forUser"], false);
        assert_eq!(start_items(None, false).len(), 6);
    }

    #[test]
    fn a_contact_that_refuses_or_insists_changes_the_state() {
        let prefs = json!({"voice": {"allow": "no"}, "fullDelete": {"allow": "always"},
                           "calls": {"allow": "nonsense"}});
        let items = start_items(Some(&prefs), false);
        let text = |f: &str| {
            items
                .iter()
                .find(|i| i.content["feature"] == f)
                .map(|i| i.text.clone())
                .unwrap_or_default()
        };
        assert_eq!(text("voice"), "Voice messages: off");
        // The user's "no" against the contact's "always": the user may, the contact not.
        assert_eq!(text("fullDelete"), "Full deletion: enabled for you");
        assert_eq!(text("calls"), "Audio/video calls: enabled");
        let merged = merged_preferences(Some(&prefs));
        assert_eq!(merged["voice"]["enabled"]["forUser"], false);
        assert_eq!(merged["voice"]["contactPreference"]["allow"], "no");
        assert_eq!(merged["fullDelete"]["enabled"]["forUser"], true);
        assert_eq!(merged["fullDelete"]["enabled"]["forContact"], false);
        // A contact's "no" turns disappearing messages off for both.
        let timed = json!({"timedMessages": {"allow": "no"}});
        assert_eq!(
            start_items(Some(&timed), false)[1].text,
            "Disappearing messages: off"
        );
    }
}
