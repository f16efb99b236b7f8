//! Files in the private notes, as the reference's local files (`/_create *1 json [...]`,
//! `/_send *1 json [...]` with a `filePath`): nothing is sent anywhere; the file is kept in the
//! files folder and the note points at it (`fileProtocol` `LOCAL`, `sndStored`).
//!
//! A relative path is in the files folder, as every file path the API is given. A file already
//! there that no other transfer records is kept where it is (the reference's apps write it
//! there first); any other is copied in under a name nothing holds, so the user's own file is
//! never touched. Deleting the note (`/_delete item *1 N internal`, `/clear *`) removes the
//! kept file, as the reference does - only files this module put or found in the files
//! folder for a note are ever removed.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::chat::{Chat, ChatError, Response};
use crate::protocol::MsgContent;
use crate::store::{ChatItem, FileStatus, NewFile, NOTES};

type Result<T> = std::result::Result<T, ChatError>;

impl Chat {
    /// A note with a file: the item and the file's id and name as kept.
    pub(crate) fn add_note_file(
        &self,
        path: &str,
        content: MsgContent,
    ) -> Result<(ChatItem, i64, String)> {
        let given = self.send_path(path);
        // Not through a link: the note keeps a file, not what a link points at.
        let meta = std::fs::symlink_metadata(&given)
            .map_err(|e| ChatError::File(format!("cannot read {path}: {e}")))?;
        if !meta.is_file() {
            return Err(ChatError::File(format!("{path} is not a file")));
        }
        let (name, size, source) = crate::files::file_source(&given)?;
        let folder = std::fs::canonicalize(&self.inner.files_folder).map_err(|e| {
            ChatError::File(format!(
                "files folder {}: {e}",
                self.inner.files_folder.display()
            ))
        })?;
        let in_place = source.parent() == Some(folder.as_path()) && !self.recorded(&source, 0)?;
        let kept = if in_place {
            source
        } else {
            copy_into(&source, &folder, &name)?
        };
        let kept_name = kept
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or(name);
        let shared = crate::chat::new_shared_msg_id();
        let mut file_id = None;
        let stored = (|| {
            let id = self.store().add_file(&NewFile {
                contact_id: NOTES,
                group_id: None,
                group_member_id: None,
                sent: true,
                shared_msg_id: &shared.0,
                name: &kept_name,
                size,
                path: Some(&kept.to_string_lossy()),
                status: FileStatus::Stored,
            })?;
            file_id = Some(id);
            let Response::Sent(_, item) = self.add_note_content(content)? else {
                return Err(ChatError::File("the note was not stored".into()));
            };
            self.store().set_item_file(item.item_id, id)?;
            Ok((item, id))
        })();
        // Not recorded: nothing of it is left (the copy and its record go; the user's own
        // file stays where it is).
        let (item, file_id) = match stored {
            Ok(r) => r,
            Err(e) => {
                if let Some(id) = file_id {
                    let _ = self.store().delete_file(id);
                }
                if !in_place {
                    let _ = std::fs::remove_file(&kept);
                }
                return Err(e);
            }
        };
        Ok((
            ChatItem {
                file_id: Some(file_id),
                ..item
            },
            file_id,
            kept_name,
        ))
    }

    /// The files of notes being deleted: removed from the files folder and forgotten (a file
    /// another transfer also records stays on disk).
    pub(crate) fn remove_note_files(&self, file_ids: &[i64]) -> Result<()> {
        for &id in file_ids {
            let Some(f) = self.store().file(id)? else {
                continue;
            };
            if f.status != FileStatus::Stored {
                continue;
            }
            if let Some(p) = &f.path {
                if !self.recorded(Path::new(p), id)? {
                    match std::fs::remove_file(p) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => {
                            return Err(ChatError::File(format!("cannot remove {p}: {e}")));
                        }
                    }
                }
            }
            self.store().delete_file(id)?;
        }
        Ok(())
    }

    /// Whether a file other than `file_id` (a transfer, another note) is recorded at `path`,
    /// however its path was written.
    fn recorded(&self, path: &Path, file_id: i64) -> Result<bool> {
        let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            return Ok(false);
        };
        let same =
            |p: &str| Path::new(p) == path || std::fs::canonicalize(p).is_ok_and(|c| c == path);
        Ok(self
            .store()
            .file_paths_named(&name, file_id)?
            .iter()
            .any(|p| same(p)))
    }

    /// `/_create *1 json [...]` (and `/_send *1 json [...]`): notes, with their files.
    pub(crate) fn create_notes(&self, messages: Vec<crate::command::Composed>) -> Result<Response> {
        let notes = self.contact_by_id(NOTES)?;
        let mut items = Vec::with_capacity(messages.len());
        let mut names = Vec::new();
        for m in messages {
            match m.file {
                Some(path) => {
                    let (item, file_id, name) = self.add_note_file(&path, m.content)?;
                    items.push(item);
                    names.push((file_id, name));
                }
                None => {
                    if let Response::Sent(_, item) = self.add_note_content(m.content)? {
                        items.push(item);
                    }
                }
            }
        }
        Ok(Response::SentMany(notes, items, names))
    }
}

/// Copies `source` into `folder` as `name` or the first free `name_N`, never replacing a
/// file; synced before it is named. The copy's path.
fn copy_into(source: &Path, folder: &Path, name: &str) -> Result<PathBuf> {
    let err =
        |e: std::io::Error| ChatError::File(format!("cannot keep {name} in the files folder: {e}"));
    let tmp = folder.join(format!(
        ".note-{}.tmp",
        simplex_codec::base64url::encode(&crate::chat::new_shared_msg_id().0)
    ));
    let result = (|| {
        let mut from = std::fs::File::open(source)?;
        let mut to = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        std::io::copy(&mut from, &mut to)?;
        to.flush()?;
        to.sync_all()?;
        chunker::name::persist_no_clobber(&tmp, folder, name)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        err(e)
    })
}
