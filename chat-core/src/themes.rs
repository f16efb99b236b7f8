//! The apps' theme overrides (the reference's `UIThemeEntityOverrides`): a user's
//! (`/_set theme user N [json]`), a contact's or a group's (`/_set theme @N|#N [json]`), kept
//! here and given back as `uiThemes` in `User`, `Contact` and `GroupInfo`; without JSON the
//! override is removed. Nothing here draws them: they are the apps' to use. The JSON is read
//! as the reference's types (unknown keys dropped, every known one checked), at most
//! [`MAX_THEMES_JSON`] bytes.

use serde::{Deserialize, Serialize};

/// The largest override taken (JSON bytes): a theme is a handful of colours and a wallpaper.
pub const MAX_THEMES_JSON: usize = 16 * 1024;

/// The settings key of the user's own overrides (`/_set theme user N`).
pub const USER_THEMES: &str = "ui_themes";

/// The light and dark overrides (`UIThemeEntityOverrides`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UiThemes {
    /// For the light mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub light: Option<UiTheme>,
    /// For the dark mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dark: Option<UiTheme>,
}

/// One mode's override (`UIThemeEntityOverride`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UiTheme {
    /// Its mode.
    pub mode: UiColorMode,
    /// A wallpaper.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wallpaper: Option<ChatWallpaper>,
    /// Its colours.
    pub colors: UiColors,
}

/// Light or dark (`UIColorMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UiColorMode {
    /// Light.
    Light,
    /// Dark.
    Dark,
}

/// Colours, each optional (`UIColors`: `#AARRGGBB` strings in the apps).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct UiColors {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accent_variant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secondary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secondary_variant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub menus: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accent_variant2: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_reply: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_reply: Option<String>,
}

/// A chat's wallpaper (`ChatWallpaper`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatWallpaper {
    /// One of the apps' presets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// An image file of the app's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_file: Option<String>,
    /// Its background colour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background: Option<String>,
    /// Its tint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tint: Option<String>,
    /// How the image fills the chat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_type: Option<WallpaperScale>,
    /// Its scale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<f64>,
}

/// `ChatWallpaperScale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WallpaperScale {
    /// Fill.
    Fill,
    /// Fit.
    Fit,
    /// Repeat.
    Repeat,
}

/// The override a command gives (none: removed), checked and as it will be kept (its JSON).
pub fn parse(json: Option<&str>) -> Result<Option<String>, String> {
    let Some(json) = json.map(str::trim).filter(|j| !j.is_empty()) else {
        return Ok(None);
    };
    if json.len() > MAX_THEMES_JSON {
        return Err(format!(
            "theme overrides of {} bytes: at most {MAX_THEMES_JSON}",
            json.len()
        ));
    }
    let themes: UiThemes =
        serde_json::from_str(json).map_err(|e| format!("bad theme overrides ({e})"))?;
    serde_json::to_string(&themes)
        .map(Some)
        .map_err(|e| format!("bad theme overrides ({e})"))
}

/// A kept override as the API gives it (`uiThemes`); a row that does not read is left out.
pub fn json(kept: Option<&str>) -> Option<serde_json::Value> {
    serde_json::from_str::<UiThemes>(kept?)
        .ok()
        .and_then(|t| serde_json::to_value(t).ok())
}

impl crate::chat::Chat {
    /// `/_set theme user N [json]`: the user's overrides.
    pub(crate) fn set_user_themes(
        &self,
        json: Option<&str>,
    ) -> Result<crate::chat::Response, crate::chat::ChatError> {
        let kept = parse(json).map_err(crate::chat::ChatError::BadCommand)?;
        self.store().set_setting(USER_THEMES, kept.as_deref())?;
        *self
            .inner
            .user_themes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = self::json(kept.as_deref());
        Ok(crate::chat::Response::Ok)
    }

    /// The user's overrides as the API gives them (`uiThemes`).
    pub(crate) fn user_themes(&self) -> Option<serde_json::Value> {
        self.inner
            .user_themes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// `/_set theme @N|#N [json]`: a contact's or a group's overrides.
    pub(crate) fn set_chat_themes(
        &self,
        chat: crate::tags::TaggedChat,
        json: Option<&str>,
    ) -> Result<crate::chat::Response, crate::chat::ChatError> {
        let kept = parse(json).map_err(crate::chat::ChatError::BadCommand)?;
        match chat {
            crate::tags::TaggedChat::Contact(id) => {
                let c = self.contact_by_id(id)?;
                self.store()
                    .set_contact_themes(c.contact_id, kept.as_deref())?;
            }
            crate::tags::TaggedChat::Group(id) => {
                let g = self.group_by_id(id)?;
                self.store().set_group_themes(g.group_id, kept.as_deref())?;
            }
        }
        Ok(crate::chat::Response::Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_are_read_as_the_references_types() {
        let given = r##"{"light": {"mode": "light", "colors": {"accent": "#ff0000ff", "unknown": 1},
                         "wallpaper": {"preset": "cats", "scaleType": "fit", "scale": 0.5}},
                         "extra": true}"##;
        let kept = parse(Some(given)).expect("valid").expect("kept");
        let v: serde_json::Value = serde_json::from_str(&kept).expect("json");
        assert_eq!(
            v,
            serde_json::json!({"light": {"mode": "light", "colors": {"accent": "#ff0000ff"},
                               "wallpaper": {"preset": "cats", "scaleType": "fit", "scale": 0.5}}})
        );
        assert_eq!(json(Some(&kept)), Some(v));
        // None, or nothing: removed.
        assert_eq!(parse(None), Ok(None));
        assert_eq!(parse(Some("  ")), Ok(None));
        // A mode that is no mode, colours missing, too large: refused.
        assert!(parse(Some(r#"{"dark": {"mode": "dim", "colors": {}}}"#)).is_err());
        assert!(parse(Some(r#"{"dark": {"mode": "dark"}}"#)).is_err());
        assert!(parse(Some(&format!(
            "{{\"x\": \"{}\"}}",
            "a".repeat(MAX_THEMES_JSON)
        )))
        .is_err());
        // A corrupt row is left out, not an error.
        assert_eq!(json(Some("{")), None);
    }
}
