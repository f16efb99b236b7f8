//! Editing a test relay's `file-server.ini`.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;

/// Sets `key = value` in `[section]` of the ini at `path` (replacing the key, or adding it at
/// the end of the section, or adding the section).
pub fn set_ini(path: &Path, section: &str, key: &str, value: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = String::new();
    let (mut inside, mut done) = (false, false);
    for line in text.lines() {
        if line.starts_with('[') {
            if inside && !done {
                out.push_str(&format!("{key} = {value}\n"));
                done = true;
            }
            inside = line == format!("[{section}]");
        } else if inside && line.split('=').next().unwrap_or("").trim() == key {
            out.push_str(&format!("{key} = {value}\n"));
            done = true;
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    if !done {
        out.push_str(&format!("[{section}]\n{key} = {value}\n"));
    }
    std::fs::write(path, out).unwrap();
}
