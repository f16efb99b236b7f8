//! A checker of bot API messages against `testdata/chat/bot_api.json` (the documented 7.0
//! API): a response's or event's `type` must be documented and every required key present
//! (null is no substitute) with a value of its type, recursively through records, enums and
//! unions; optional keys are checked when present; unknown keys are tolerated (as the
//! documentation asks of clients).
#![allow(dead_code)]

use serde_json::Value;

pub struct Schema {
    doc: Value,
}

impl Schema {
    pub fn load() -> Self {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/chat/bot_api.json");
        let text = std::fs::read_to_string(path).expect("bot_api.json");
        Self {
            doc: serde_json::from_str(&text).expect("bot_api.json is JSON"),
        }
    }

    /// The response tags a documented command may answer with.
    pub fn response_tags(&self, command: &str) -> Vec<String> {
        let cmds = self.doc["commands"].as_array().expect("commands");
        let c = cmds
            .iter()
            .find(|c| c["name"] == command)
            .unwrap_or_else(|| panic!("no documented command {command}"));
        c["responseTags"]
            .as_array()
            .expect("responseTags")
            .iter()
            .map(|t| t.as_str().expect("tag").to_string())
            .collect()
    }

    /// Checks `resp` as a response (`event`: false) or an event; its tag.
    pub fn check(&self, resp: &Value, event: bool) -> Result<String, String> {
        let tag = resp["type"]
            .as_str()
            .ok_or_else(|| format!("no type in {resp}"))?;
        let table = if event { "events" } else { "responses" };
        let def = self.doc[table]
            .get(tag)
            .ok_or_else(|| format!("{tag} is not a documented {table} type"))?;
        self.fields(resp, &def["fields"], tag)?;
        Ok(tag.to_string())
    }

    /// A value against one of the schema's types (`AChat`, `[ChatItem]`, ...).
    pub fn check_type(&self, v: &Value, ty: &str) -> Result<(), String> {
        self.value(v, ty, ty)
    }

    fn fields(&self, obj: &Value, fields: &Value, path: &str) -> Result<(), String> {
        let o = obj
            .as_object()
            .ok_or_else(|| format!("{path}: not an object"))?;
        for f in fields.as_array().into_iter().flatten() {
            let name = f["name"].as_str().unwrap_or_default();
            let ty = f["type"].as_str().unwrap_or_default();
            let required = f["required"].as_bool().unwrap_or(false);
            match o.get(name) {
                None | Some(Value::Null) if required => {
                    return Err(format!("{path}.{name}: required {ty} missing"))
                }
                None | Some(Value::Null) => {}
                Some(v) => {
                    let p = format!("{path}.{name}");
                    self.value(v, ty, &p)?;
                    if f["nonEmpty"].as_bool() == Some(true)
                        && v.as_array().is_some_and(Vec::is_empty)
                    {
                        return Err(format!("{p}: empty list"));
                    }
                }
            }
        }
        Ok(())
    }

    fn value(&self, v: &Value, ty: &str, path: &str) -> Result<(), String> {
        let bad = || Err(format!("{path}: {v} is not {ty}"));
        if let Some(inner) = ty.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            let Some(list) = v.as_array() else {
                return bad();
            };
            for (i, e) in list.iter().enumerate() {
                self.value(e, inner, &format!("{path}[{i}]"))?;
            }
            return Ok(());
        }
        if let Some(inner) = ty
            .strip_prefix("{string:")
            .and_then(|t| t.strip_suffix('}'))
        {
            let Some(map) = v.as_object() else {
                return bad();
            };
            for (k, e) in map {
                self.value(e, inner, &format!("{path}.{k}"))?;
            }
            return Ok(());
        }
        let ok = match ty {
            "int64" | "int" => v.is_i64() || v.is_u64(),
            "double" => v.is_number(),
            "bool" => v.is_boolean(),
            "string" => v.is_string(),
            "timestamp" => v.as_str().is_some_and(is_timestamp),
            "object" => v.is_object(),
            "any" => true,
            name => return self.named(v, name, path),
        };
        if ok {
            Ok(())
        } else {
            bad()
        }
    }

    fn named(&self, v: &Value, name: &str, path: &str) -> Result<(), String> {
        let def = self.doc["types"]
            .get(name)
            .ok_or_else(|| format!("{path}: undocumented type {name}"))?;
        match def["kind"].as_str() {
            Some("record") => self.fields(v, &def["fields"], path),
            Some("enum") => {
                let values = def["values"].as_array().expect("enum values");
                if values.iter().any(|e| e == v) {
                    Ok(())
                } else {
                    Err(format!("{path}: {v} is not one of {name}"))
                }
            }
            Some("union") => {
                let disc = def["discriminator"].as_str().unwrap_or("type");
                let tag = v[disc]
                    .as_str()
                    .ok_or_else(|| format!("{path}: {name} without {disc}"))?;
                let member = def["members"]
                    .get(tag)
                    .ok_or_else(|| format!("{path}: {tag} is not a member of {name}"))?;
                self.fields(v, &member["fields"], &format!("{path}<{tag}>"))
            }
            other => Err(format!("{path}: {name} has kind {other:?}")),
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z`.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && s.ends_with('Z')
}

#[test]
fn the_checker_refuses_what_is_not_documented() {
    let s = Schema::load();
    let user = serde_json::json!({"type": "activeUser"});
    assert!(s.check(&user, false).is_err(), "a required key missing");
    assert!(s
        .check(&serde_json::json!({"type": "noSuchThing"}), false)
        .is_err());
    let err = serde_json::json!({"type": "chatCmdError", "chatError":
        {"type": "error", "errorType": {"type": "commandError", "message": "x"}}});
    assert_eq!(s.check(&err, false), Ok("chatCmdError".into()));
    let wrong = serde_json::json!({"type": "chatCmdError", "chatError":
        {"type": "error", "errorType": {"type": "commandError"}}});
    assert!(
        s.check(&wrong, false).is_err(),
        "a nested required key missing"
    );
    let bad_enum = serde_json::json!({"type": "chatCmdError", "chatError":
        {"type": "error", "errorType": {"type": "noSuchError"}}});
    assert!(
        s.check(&bad_enum, false).is_err(),
        "an unknown union member"
    );
    assert!(is_timestamp("2026-12-03T05:03:40.123Z"));
    assert!(!is_timestamp("2026-12-03 05:03:40"));
}
