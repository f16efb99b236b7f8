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

/// One feature's preference (`allow`, and the time to live of disappearing messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pref {
    /// `yes`, `no` or `always`.
    pub allow: String,
    /// Disappearing messages: seconds.
    pub ttl: Option<i64>,
}

impl Pref {
    /// As the terminal shows a preference: `yes`, `no`, `always`, `yes (30 sec)`.
    fn text(&self) -> String {
        match self.ttl {
            Some(t) if self.allow != "no" => {
                format!("{} ({})", self.allow, crate::group_prefs::ttl_text(t))
            }
            _ => self.allow.clone(),
        }
    }

    fn json(&self) -> Value {
        let mut v = json!({ "allow": self.allow });
        if let Some(t) = self.ttl {
            v["ttl"] = t.into();
        }
        v
    }
}

/// The longest time to live of a disappearing message (a year, as the bot API's `ttl=`).
const MAX_TTL: i64 = 365 * 24 * 3600;

/// One feature's preference in a preferences object, if it is there and valid; a preference
/// that cannot be read is left out, as the reference drops what it cannot parse.
fn pref_in(prefs: Option<&Value>, feature: &str) -> Option<Pref> {
    let f = prefs?.get(feature)?;
    let allow = f.get("allow")?.as_str()?;
    if !matches!(allow, "yes" | "no" | "always") {
        return None;
    }
    let ttl = match f.get("ttl") {
        None | Some(Value::Null) => None,
        Some(t) => Some(t.as_i64().filter(|t| (1..=MAX_TTL).contains(t))?),
    }
    .filter(|_| feature == "timedMessages");
    Some(Pref {
        allow: allow.to_string(),
        ttl,
    })
}

fn default_of(feature: &str) -> &'static str {
    FEATURES
        .iter()
        .find(|(f, _)| *f == feature)
        .map_or("no", |(_, d)| *d)
}

fn default_pref(feature: &str) -> Pref {
    Pref {
        allow: default_of(feature).to_string(),
        ttl: None,
    }
}

/// What decides a contact's features: its profile's preferences, the user's preferences set
/// for it (`/_set prefs`; the user's own are the defaults here), and whether it knows an
/// incognito profile (then the user's choices for it are always its own).
#[derive(Debug, Clone, Copy)]
pub struct Prefs<'a> {
    /// The contact's profile `preferences`.
    pub contact: Option<&'a Value>,
    /// The user's preferences for this contact.
    pub user: Option<&'a Value>,
    /// Connected with an incognito profile.
    pub incognito: bool,
    /// The user's own preferences (its profile's): what it allows a contact without its own
    /// setting, over the defaults.
    pub own: Option<&'a Value>,
}

impl<'a> Prefs<'a> {
    /// A contact's.
    pub fn of(c: &'a crate::store::Contact) -> Self {
        Prefs {
            contact: c.profile.preferences.as_ref(),
            user: c.user_prefs.as_ref(),
            incognito: c.incognito.is_some(),
            own: c.own_prefs.as_ref(),
        }
    }

    /// The user's preference: the one set for the contact, else the user's own (an
    /// incognito contact's: the default), else the default; and whether it was set for the
    /// contact.
    fn user_pref(&self, feature: &str) -> (Pref, bool) {
        match pref_in(self.user, feature) {
            Some(p) => (p, true),
            None if self.incognito => (default_pref(feature), true),
            None => (
                pref_in(self.own, feature).unwrap_or_else(|| default_pref(feature)),
                false,
            ),
        }
    }

    fn contact_pref(&self, feature: &str) -> Pref {
        pref_in(self.contact, feature).unwrap_or_else(|| default_pref(feature))
    }

    /// Whether a feature is on for the user and for the contact.
    pub fn enabled(&self, feature: &str) -> Enabled {
        self.state(feature).0
    }

    /// The time to live of what is sent to this contact: disappearing messages on for both
    /// sides, with the user's time (the reference's `contactTimedTTL`); none otherwise.
    pub fn timed_ttl(&self) -> Option<i64> {
        let (e, ttl) = self.state("timedMessages");
        if e.for_user && e.for_contact {
            ttl
        } else {
            None
        }
    }

    /// Whether a received message's time to live is kept: disappearing messages on for both
    /// sides (otherwise the message stays, as the reference's).
    pub fn timed_allowed(&self) -> bool {
        let e = self.enabled("timedMessages");
        e.for_user && e.for_contact
    }

    /// The time to live the contact offers (its preference's).
    pub fn contact_ttl(&self) -> Option<i64> {
        pref_in(self.contact, "timedMessages").and_then(|p| p.ttl)
    }

    /// A feature's state for both sides, with its parameter (the user's time to live of
    /// disappearing messages, when on for the user) - the reference's `featureState`.
    fn state(&self, feature: &str) -> (Enabled, Option<i64>) {
        let (user, _) = self.user_pref(feature);
        let e = enabled(feature, &user.allow, &self.contact_pref(feature).allow);
        (e, if e.for_user { user.ttl } else { None })
    }
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

/// `mergedPreferences` of a contact (`ContactUserPreferences`).
pub fn merged_preferences(p: &Prefs<'_>) -> Value {
    let mut m = Map::new();
    for (f, _) in FEATURES {
        let (user, own) = p.user_pref(f);
        let (e, _) = p.state(f);
        m.insert(
            f.into(),
            json!({
                "enabled": {"forUser": e.for_user, "forContact": e.for_contact},
                "userPreference": {"type": if own { "contact" } else { "user" },
                                   "preference": user.json()},
                "contactPreference": p.contact_pref(f).json(),
            }),
        );
    }
    Value::Object(m)
}

/// The user's full preferences (`FullPreferences`): the defaults, with what the user's
/// profile says over them (a bot created without files says `files: no`).
pub fn full_preferences(own: Option<&Value>) -> Value {
    let mut m = Map::new();
    for (f, _) in FEATURES {
        let p = pref_in(own, f).unwrap_or_else(|| default_pref(f));
        m.insert(f.into(), p.json());
    }
    m.insert("commands".into(), json!([]));
    Value::Object(m)
}

/// The preferences a contact is sent in our profile (`x.info`) once the user set any for it:
/// every feature's, the ones set for it over the user's own (`own`) over the defaults.
pub fn profile_preferences(user: Option<&Value>, own: Option<&Value>) -> Value {
    let p = Prefs {
        contact: None,
        user,
        incognito: false,
        own,
    };
    let mut m = Map::new();
    for (f, _) in FEATURES {
        m.insert(f.into(), p.user_pref(f).0.json());
    }
    Value::Object(m)
}

/// Reads the preferences of `/_set prefs @N <json>`: an object of features, each
/// `{"allow": "yes|no|always"}` (`"ttl": seconds` for disappearing messages); anything else
/// is refused with what is wrong.
pub fn parse_preferences(v: &Value) -> Result<Value, String> {
    let Some(o) = v.as_object() else {
        return Err("preferences are a JSON object".into());
    };
    let mut out = Map::new();
    for (k, val) in o {
        if k == "commands" {
            continue;
        }
        if !FEATURES.iter().any(|(f, _)| f == k) {
            return Err(format!("unknown feature {k:?}"));
        }
        if val.is_null() {
            continue;
        }
        let Some(p) = pref_in(Some(v), k) else {
            return Err(format!(
                "{k}: expected {{\"allow\": \"yes|no|always\"}}{}",
                if k == "timedMessages" {
                    " with an optional \"ttl\" of 1 second to a year"
                } else {
                    ""
                }
            ));
        };
        out.insert(k.clone(), p.json());
    }
    Ok(Value::Object(out))
}

/// The text of a feature's state (`featureStateText`): `Voice messages: enabled`,
/// `Full deletion: off`, `... enabled for you`; disappearing messages without a time are
/// `allowed`, with one `enabled (1 hour)`.
fn state_text(name: &str, feature: &str, e: Enabled, param: Option<i64>) -> String {
    let on = if feature == "timedMessages" && param.is_none() {
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
    let param = match param {
        Some(t) if e.for_user && feature == "timedMessages" => {
            format!(" ({})", crate::group_prefs::ttl_text(t))
        }
        _ => String::new(),
    };
    format!("{name}: {state}{param}")
}

/// The lines the terminal prints when preferences changed (`viewContactPreferences`): one per
/// feature whose user's or contact's preference changed, `Full deletion: enabled for contact
/// (you allow: always, contact allows: no)` (`default (yes)` for the user's default).
pub fn pref_lines(old: &Prefs<'_>, new: &Prefs<'_>) -> Vec<String> {
    let mut v = Vec::new();
    for (f, name) in ITEM_FEATURES {
        let (user, own) = new.user_pref(f);
        let contact = new.contact_pref(f);
        if old.user_pref(f).0 == user && old.contact_pref(f) == contact {
            continue;
        }
        let (e, _) = new.state(f);
        let state = match (e.for_user, e.for_contact) {
            (true, true) => "enabled",
            (false, false) => "off",
            (true, false) => "enabled for you",
            (false, true) => "enabled for contact",
        };
        let you = if own {
            user.text()
        } else {
            format!("default ({})", user.text())
        };
        v.push(format!(
            "{name}: {state} (you allow: {you}, contact allows: {})",
            contact.text()
        ));
    }
    v
}

/// The lines after the user changed its own preferences (`viewPrefsUpdated`): `updated
/// preferences:`, then `Voice messages allowed: no` for each feature whose preference changed
/// (the defaults standing for what is not set); none when nothing changed.
pub fn own_pref_lines(old: Option<&Value>, new: Option<&Value>) -> Vec<String> {
    const NAMED: [(&str, &str); 6] = [
        ("timedMessages", "Disappearing messages"),
        ("fullDelete", "Full deletion"),
        ("reactions", "Message reactions"),
        ("voice", "Voice messages"),
        ("files", "Files and media"),
        ("calls", "Audio/video calls"),
    ];
    let pref = |v: Option<&Value>, f: &str| pref_in(v, f).unwrap_or_else(|| default_pref(f));
    let lines: Vec<String> = NAMED
        .iter()
        .filter(|(f, _)| pref(old, f) != pref(new, f))
        .map(|(f, name)| format!("{name} allowed: {}", pref(new, f).text()))
        .collect();
    if lines.is_empty() {
        return lines;
    }
    std::iter::once("updated preferences:".to_string())
        .chain(lines)
        .collect()
}

/// The user's own preferences with one feature's `allow` changed (a disappearing messages'
/// time kept).
pub fn with_own_pref(own: Option<&Value>, feature: &str, allow: &str) -> Value {
    let mut m = match own {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    let mut p = pref_in(own, feature).unwrap_or_else(|| default_pref(feature));
    p.allow = allow.to_string();
    m.insert(feature.into(), p.json());
    Value::Object(m)
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
    /// A contact used a feature the preferences do not allow it (`rcvChatFeatureRejected`):
    /// what it sent is not kept.
    pub fn rejected(feature: &str) -> Self {
        let name = ITEM_FEATURES
            .iter()
            .find(|(f, _)| *f == feature)
            .map_or(feature, |(_, n)| *n);
        InfoItem {
            sent: false,
            text: format!("{name}: received, prohibited"),
            content: json!({"type": "rcvChatFeatureRejected", "feature": feature}),
            at_epoch: false,
        }
    }

    /// A queue rotation started or completed (`sndConnEvent`/`rcvConnEvent` `switchQueue`):
    /// `ours` when our receiving queue moves; none for the phases between.
    pub fn switch(ours: bool, phase: agent::agent::SwitchPhase) -> Option<Self> {
        use agent::agent::SwitchPhase;
        let (name, text) = match (phase, ours) {
            (SwitchPhase::Started, true) => ("started", "started changing address..."),
            (SwitchPhase::Completed, true) => ("completed", "you changed address"),
            (SwitchPhase::Started, false) => ("started", "started changing address for you..."),
            (SwitchPhase::Completed, false) => ("completed", "changed address for you"),
            _ => return None,
        };
        let (tag, field) = if ours {
            ("sndConnEvent", "sndConnEvent")
        } else {
            ("rcvConnEvent", "rcvConnEvent")
        };
        let mut content = json!({ "type": tag });
        content[field] = json!({"type": "switchQueue", "phase": name});
        Some(InfoItem {
            sent: ours,
            text: text.into(),
            content,
            at_epoch: false,
        })
    }

    /// A ratchet re-synchronisation's state (`sndConnEvent`/`rcvConnEvent` `ratchetSync`):
    /// ours when we started it.
    pub fn ratchet_sync(ours: bool, state: agent::agent::SyncState) -> Self {
        let (name, text) = sync_state(state);
        let (tag, field) = if ours {
            ("sndConnEvent", "sndConnEvent")
        } else {
            ("rcvConnEvent", "rcvConnEvent")
        };
        let mut content = json!({ "type": tag });
        content[field] = json!({"type": "ratchetSync", "syncStatus": name});
        InfoItem {
            sent: ours,
            text: text.into(),
            content,
            at_epoch: false,
        }
    }

    /// The contact deleted the conversation (`x.direct.del`; the reference's
    /// `RDEContactDeleted`).
    /// The contact changed what its profile shows (`rcvDirectEvent` `profileUpdated`, as the
    /// reference creates it when the name, full name, description, image or address change).
    pub fn profile_updated(from: &crate::protocol::Profile, to: &crate::protocol::Profile) -> Self {
        InfoItem {
            sent: false,
            text: "updated profile".into(),
            content: json!({"type": "rcvDirectEvent",
                            "rcvDirectEvent": {"type": "profileUpdated",
                                               "fromProfile": crate::api::profile(from),
                                               "toProfile": crate::api::profile(to)}}),
            at_epoch: false,
        }
    }

    /// Messages that did not decrypt (`rcvDecryptionError`), with the reference's text:
    /// `decryption error, possibly due to the device change (header, 2 messages)`.
    pub fn decryption_error(error: agent::agent::DecryptError, count: u32) -> Self {
        InfoItem {
            sent: false,
            text: decryption_error_text(error, count),
            content: json!({"type": "rcvDecryptionError",
                            "msgDecryptError": error.api_name(), "msgCount": count}),
            at_epoch: false,
        }
    }

    /// Whether a profile change shows (not only preferences): the reference's rule for
    /// [`InfoItem::profile_updated`].
    pub fn profile_change_shows(
        from: &crate::protocol::Profile,
        to: &crate::protocol::Profile,
    ) -> bool {
        from.display_name != to.display_name
            || from.full_name != to.full_name
            || from.short_descr != to.short_descr
            || from.image != to.image
            || from.contact_link != to.contact_link
    }

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

/// The reference's `msgDecryptErrorText`.
pub fn decryption_error_text(error: agent::agent::DecryptError, count: u32) -> String {
    use agent::agent::DecryptError as E;
    let several = (count != 1).then(|| format!("{count} messages"));
    let with_count = |what: &str| match &several {
        Some(n) => format!("{what}, {n}"),
        None => what.to_string(),
    };
    let detail = match error {
        E::Header => Some(with_count("header")),
        E::TooManySkipped => Some(with_count("too many skipped messages")),
        E::Earlier => Some(with_count("earlier message")),
        E::Other => several,
        E::Sync => Some("synchronization error".to_string()),
    };
    match detail {
        Some(d) => format!("decryption error, possibly due to the device change ({d})"),
        None => "decryption error, possibly due to the device change".to_string(),
    }
}

/// A re-synchronisation state's API name and text (the reference's
/// `ratchetSyncStatusToText`).
pub fn sync_state(state: agent::agent::SyncState) -> (&'static str, &'static str) {
    use agent::agent::SyncState;
    match state {
        SyncState::Ok => ("ok", "connection synchronized"),
        SyncState::Allowed => (
            "allowed",
            "decryption error (connection may be out of sync), synchronization allowed",
        ),
        SyncState::Required => (
            "required",
            "decryption error (connection out of sync), synchronization required",
        ),
        SyncState::Started => ("started", "connection synchronization started"),
        SyncState::Agreed => ("agreed", "connection synchronization agreed"),
    }
}

/// The items a direct chat starts with once the contact is connected (the reference's
/// `CIChatBanner` when the chat has no items yet, `CIRcvDirectE2EEInfo`, then
/// `createFeatureEnabledItems`).
/// The banner a chat starts with (dated at the epoch, not printed).
pub fn banner_item() -> InfoItem {
    InfoItem {
        sent: true,
        text: String::new(),
        content: json!({"type": "chatBanner"}),
        at_epoch: true,
    }
}

pub fn start_items(p: &Prefs<'_>, banner: bool) -> Vec<InfoItem> {
    let mut v = Vec::with_capacity(2 + ITEM_FEATURES.len());
    if banner {
        v.push(banner_item());
    }
    v.push(InfoItem {
        sent: false,
        text: E2EE_TEXT.into(),
        content: json!({"type": "rcvDirectE2EEInfo", "e2eeInfo": {"pqEnabled": false}}),
        at_epoch: false,
    });
    for (f, name) in ITEM_FEATURES {
        v.push(feature_item(false, f, name, p));
    }
    v
}

fn feature_item(sent: bool, feature: &str, name: &str, p: &Prefs<'_>) -> InfoItem {
    let (e, param) = p.state(feature);
    let mut content = json!({
        "type": if sent { "sndChatFeature" } else { "rcvChatFeature" },
        "feature": feature,
        "enabled": {"forUser": e.for_user, "forContact": e.for_contact},
    });
    if let Some(t) = param {
        content["param"] = t.into();
    }
    InfoItem {
        sent,
        text: state_text(name, feature, e, param),
        content,
        at_epoch: false,
    }
}

/// The items for the features whose state changed (`createSndFeatureItems` when the user
/// changed preferences, `createRcvFeatureItems` when the contact did).
pub fn changed_items(old: &Prefs<'_>, new: &Prefs<'_>, sent: bool) -> Vec<InfoItem> {
    ITEM_FEATURES
        .iter()
        .filter(|(f, _)| old.state(f) != new.state(f))
        .map(|(f, name)| feature_item(sent, f, name, new))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decryption_error_texts() {
        use agent::agent::DecryptError as E;
        let t = decryption_error_text;
        assert_eq!(
            t(E::Header, 1),
            "decryption error, possibly due to the device change (header)"
        );
        assert_eq!(
            t(E::Header, 2),
            "decryption error, possibly due to the device change (header, 2 messages)"
        );
        assert_eq!(
            t(E::TooManySkipped, 600),
            "decryption error, possibly due to the device change (too many skipped messages, \
             600 messages)"
        );
        assert_eq!(
            t(E::Other, 1),
            "decryption error, possibly due to the device change"
        );
        assert_eq!(
            t(E::Other, 3),
            "decryption error, possibly due to the device change (3 messages)"
        );
        assert_eq!(
            t(E::Sync, 0),
            "decryption error, possibly due to the device change (synchronization error)"
        );
        let item = InfoItem::decryption_error(E::Earlier, 1);
        assert_eq!(item.content["msgDecryptError"], "ratchetEarlier");
        assert_eq!(item.content["msgCount"], 1);
    }

    fn defaults() -> Prefs<'static> {
        Prefs {
            contact: None,
            user: None,
            incognito: false,
            own: None,
        }
    }

    fn contact(v: &Value) -> Prefs<'_> {
        Prefs {
            contact: Some(v),
            user: None,
            incognito: false,
            own: None,
        }
    }

    #[test]
    fn default_contacts_get_the_reference_items() {
        let items = start_items(&defaults(), true);
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
        assert_eq!(start_items(&defaults(), false).len(), 6);
    }

    #[test]
    fn a_contact_that_refuses_or_insists_changes_the_state() {
        let prefs = json!({"voice": {"allow": "no"}, "fullDelete": {"allow": "always"},
                           "calls": {"allow": "nonsense"}});
        let items = start_items(&contact(&prefs), false);
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
        let merged = merged_preferences(&contact(&prefs));
        assert_eq!(merged["voice"]["enabled"]["forUser"], false);
        assert_eq!(merged["voice"]["contactPreference"]["allow"], "no");
        assert_eq!(merged["fullDelete"]["enabled"]["forUser"], true);
        assert_eq!(merged["fullDelete"]["enabled"]["forContact"], false);
        // A contact's "no" turns disappearing messages off for both.
        let timed = json!({"timedMessages": {"allow": "no"}});
        assert_eq!(
            start_items(&contact(&timed), false)[1].text,
            "Disappearing messages: off"
        );
    }

    #[test]
    fn preference_lines_as_the_reference_prints_them() {
        // alice allows bob full deletion "always"; the defaults otherwise.
        let set = json!({"fullDelete": {"allow": "always"}});
        let mine = Prefs {
            contact: None,
            user: Some(&set),
            incognito: false,
            own: None,
        };
        assert_eq!(
            pref_lines(&defaults(), &mine),
            ["Full deletion: enabled for contact (you allow: always, contact allows: no)"]
        );
        // bob gets alice's profile with every preference.
        let sent = profile_preferences(Some(&set), None);
        assert_eq!(sent["fullDelete"]["allow"], "always");
        assert_eq!(sent["voice"]["allow"], "yes");
        let theirs = contact(&sent);
        assert_eq!(
            pref_lines(&defaults(), &theirs),
            ["Full deletion: enabled for you (you allow: default (no), contact allows: always)"]
        );
        assert_eq!(
            changed_items(&defaults(), &theirs, false)[0].text,
            "Full deletion: enabled for you"
        );
        // An incognito contact's preferences are the user's own: no "default".
        let incognito = Prefs {
            incognito: true,
            ..theirs
        };
        assert_eq!(
            pref_lines(&defaults(), &incognito),
            ["Full deletion: enabled for you (you allow: no, contact allows: always)"]
        );
        // Disappearing messages with a time.
        let timed = json!({"timedMessages": {"allow": "yes", "ttl": 30}});
        let new = Prefs {
            contact: None,
            user: Some(&timed),
            incognito: false,
            own: None,
        };
        assert_eq!(
            pref_lines(&defaults(), &new),
            ["Disappearing messages: enabled (you allow: yes (30 sec), contact allows: yes)"]
        );
        let items = changed_items(&defaults(), &new, true);
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].text, "Disappearing messages: enabled (30 sec)");
        assert_eq!(items[0].content["type"], "sndChatFeature");
        assert_eq!(items[0].content["param"], 30);
        // Nothing changed: nothing printed, no items.
        assert!(pref_lines(&new, &new).is_empty());
        assert!(changed_items(&new, &new, true).is_empty());
        let merged = merged_preferences(&new);
        assert_eq!(merged["timedMessages"]["userPreference"]["type"], "contact");
        assert_eq!(
            merged["timedMessages"]["userPreference"]["preference"]["ttl"],
            30
        );
        assert_eq!(merged["voice"]["userPreference"]["type"], "user");
    }

    #[test]
    fn set_preferences_are_checked() {
        let ok = parse_preferences(&json!({"voice": {"allow": "no"}, "commands": []}));
        assert_eq!(ok, Ok(json!({"voice": {"allow": "no"}})));
        for bad in [
            json!([]),
            json!({"voice": {"allow": "maybe"}}),
            json!({"teleport": {"allow": "yes"}}),
            json!({"timedMessages": {"allow": "yes", "ttl": 0}}),
            json!({"timedMessages": {"allow": "yes", "ttl": "1h"}}),
        ] {
            assert!(parse_preferences(&bad).is_err(), "{bad}");
        }
    }
}
