//! Files to contacts over XFTP, as the reference sends them (spec §6.3):
//!
//! 1. `/f @bob path`: the offer goes at once as `x.msg.new` with the file's name and size and an
//!    empty description (`fileDescrPartNo 0`: "it comes over XFTP"), while our XFTP pipeline
//!    encrypts and uploads the file (no encrypted copy on disk; resumable from a state file);
//! 2. uploaded: the recipient's own description is sent as `x.msg.file.descr` in parts of
//!    14,000 characters, numbered from 1, the last marked complete;
//! 3. the recipient collects the parts in order (a lost or reordered part fails the file with a
//!    clear error; a repeated one is ignored), and `/fr N [path]` downloads, verifies and saves
//!    under a sanitized name that replaces nothing;
//! 4. `/fc N`: the sender deletes the uploaded chunks and sends `x.file.cancel`; a recipient's
//!    cancel stops its download and leaves the file to be received again.
//!
//! Transfers in progress continue after a restart.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use xftp_client::agent::{Progress, RecvOptions, SendOptions};
use xftp_proto::description::ValidFileDescription;

use crate::chat::{Chat, ChatError, Event, FilePeer, Response};
use crate::protocol::{
    ChatEvent, ChatMessage, FileDescr, FileInvitation, MsgContainer, MsgContent, B64,
};
use crate::store::{ChatItem, Contact, FileStatus, FileTransfer, NewFile, NewItem};

/// Characters of a description per `x.msg.file.descr` (the reference's part size).
pub const DESCR_PART_LEN: usize = 14_000;

/// The first wait before a transfer whose relay could not be reached is tried again; each
/// further wait doubles, up to [`RETRY_MAX`].
const RETRY_FIRST: std::time::Duration = std::time::Duration::from_secs(1);
/// The longest wait between a transfer's attempts.
const RETRY_MAX: std::time::Duration = std::time::Duration::from_secs(30);

/// Whether a transfer's error may pass by itself (a relay unreachable, a connection lost, a
/// timeout): the transfer is tried again rather than failed.
fn temporary(e: &xftp_client::agent::AgentError) -> bool {
    matches!(e, xftp_client::agent::AgentError::Client(c) if c.is_retriable())
}

/// The longest description a recipient collects (a redirect keeps real ones far below).
pub const MAX_DESCR_LEN: usize = 4 << 20;

/// `266.0 KiB`, `17.0 MiB`, `12 bytes`: sizes as the reference prints them.
pub fn size_text(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// What a file transfer shows for `/fs`.
pub fn status_line(f: &FileTransfer, progress: Option<Progress>) -> String {
    let percent = |p: Progress| {
        p.done
            .saturating_mul(100)
            .checked_div(p.total)
            .unwrap_or(0)
            .min(100)
    };
    let size = size_text(f.size);
    if f.sent {
        let head = format!("sending file {} ({})", f.file_id, f.name);
        match f.status {
            FileStatus::Uploading => match progress {
                Some(p) if p.done > 0 => format!("{head} in progress {}% of {size}", percent(p)),
                _ => format!("{head} just started"),
            },
            FileStatus::Uploaded => format!("{head} in progress 100% of {size}"),
            FileStatus::Complete => format!("{head} complete"),
            FileStatus::Cancelled => format!("{head} cancelled"),
            _ => format!("{head} failed"),
        }
    } else {
        let head = format!("receiving file {} ({})", f.file_id, f.name);
        match f.status {
            FileStatus::Offered => format!(
                "{head} not accepted yet, use /fr {} to receive file",
                f.file_id
            ),
            FileStatus::Accepted => match progress {
                Some(p) if p.done > 0 => format!("{head} progress {}% of {size}", percent(p)),
                _ => format!("{head} just started"),
            },
            FileStatus::Complete => format!(
                "{head} complete, path: {}",
                f.path.as_deref().unwrap_or_default()
            ),
            FileStatus::Cancelled => format!("{head} cancelled"),
            _ => format!("{head} failed"),
        }
    }
}

/// Where a received file goes: the directory, the name, and the path as the user sees it.
fn destination(folder: &Path, name: &str, given: Option<&str>) -> (PathBuf, String, String) {
    let (dir, name, shown_dir) = match given {
        None => (folder.to_path_buf(), name.to_string(), None),
        Some(p) if p.ends_with('/') || Path::new(p).is_dir() => (
            PathBuf::from(p),
            name.to_string(),
            Some(p.trim_end_matches('/').to_string()),
        ),
        Some(p) => {
            let path = Path::new(p);
            let dir = match path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => PathBuf::from("."),
            };
            let file = path
                .file_name()
                .map(|n| chunker::name::sanitize_component(&n.to_string_lossy()))
                .unwrap_or_else(|| name.to_string());
            let shown = path
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .map(|d| d.to_string_lossy().into_owned());
            (dir, file, shown)
        }
    };
    // The first name nothing holds (the download never replaces a file either).
    let mut chosen = name.clone();
    for n in 0..chunker::name::MAX_UNIQUE_ATTEMPTS {
        let candidate = chunker::name::numbered_name(&name, n);
        if std::fs::symlink_metadata(dir.join(&candidate)).is_err() {
            chosen = candidate;
            break;
        }
    }
    let shown = match shown_dir {
        Some(d) => format!("{d}/{chosen}"),
        None => chosen.clone(),
    };
    (dir, chosen, shown)
}

/// How many recipient descriptions a group file is uploaded with for `n` members: the next
/// power of two, at least 4 (the reference's `roundedFDCount`), so that members who join
/// later get descriptions of their own and the count tells little about the group's size.
pub fn rounded_fd_count(n: usize) -> usize {
    n.max(1).next_power_of_two().max(4)
}

/// The content an image file is offered with (`/img`): the image type with a fixed small
/// preview; an error for a file that is no image by its extension.
pub(crate) fn image_content(path: &str) -> Result<MsgContent, ChatError> {
    let ext = Path::new(path)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    if !matches!(
        ext.as_deref(),
        Some("jpg" | "jpeg" | "png" | "gif" | "webp" | "bmp" | "heic" | "heif")
    ) {
        return Err(ChatError::File(format!(
            "{path} is not an image (jpg, jpeg, png, gif, webp, bmp, heic)"
        )));
    }
    Ok(MsgContent::Image {
        text: String::new(),
        image: IMAGE_PREVIEW.to_string(),
    })
}

/// Checks a file offer (`from` offers it): its message id and the sanitized name. A legacy
/// offer over an SMP file connection is not taken: files come over XFTP.
pub(crate) fn check_offer<'a>(
    from: &str,
    shared: Option<&'a B64>,
    inv: &FileInvitation,
) -> Result<(&'a B64, String), ChatError> {
    let Some(shared) = shared else {
        return Err(ChatError::File("a file offer without a message id".into()));
    };
    if inv.file_descr.is_none() {
        return Err(ChatError::File(format!(
            "{from} offers {} the legacy way (not over XFTP): not supported",
            inv.file_name
        )));
    }
    if inv.file_size <= 0 {
        return Err(ChatError::File("a file offer with no size".into()));
    }
    Ok((shared, chunker::name::sanitize_file_name(&inv.file_name)))
}

/// Checks a file to send: its sanitized name, size and canonical path.
impl Chat {
    /// Where a file to send is: a relative path is in the files folder (`--files-folder`,
    /// by default the working directory), as the reference's `toFSFilePath`; an absolute one
    /// is itself.
    pub(crate) fn send_path(&self, given: &str) -> String {
        let p = Path::new(given);
        if p.is_absolute() {
            given.to_string()
        } else {
            self.inner
                .files_folder
                .join(p)
                .to_string_lossy()
                .into_owned()
        }
    }
}

pub(crate) fn file_source(path: &str) -> Result<(String, u64, PathBuf), ChatError> {
    let meta =
        std::fs::metadata(path).map_err(|e| ChatError::File(format!("cannot read {path}: {e}")))?;
    if !meta.is_file() {
        return Err(ChatError::File(format!("{path} is not a file")));
    }
    if meta.len() == 0 {
        return Err(ChatError::File(format!("{path} is empty")));
    }
    let name = chunker::name::sanitize_component(path);
    let source = std::fs::canonicalize(path)
        .map_err(|e| ChatError::File(format!("cannot read {path}: {e}")))?;
    Ok((name, meta.len(), source))
}

/// `x.msg.new` offering a file over XFTP: name and size, the description to follow
/// (`fileDescrPartNo 0`).
pub(crate) fn offer_message(
    shared: &B64,
    content: &MsgContent,
    name: &str,
    size: u64,
) -> ChatMessage {
    offer_message_with(shared, content, name, size, None, false)
}

/// [`offer_message`] disappearing after `ttl` seconds, marked forwarded.
/// What a file to a contact may come with besides its content.
#[derive(Default)]
pub(crate) struct FileExtras {
    /// Disappearing after this many seconds.
    pub ttl: Option<i64>,
    /// Forwarded: where it came from.
    pub forward: Option<serde_json::Value>,
    /// The item of the chat it quotes.
    pub quoted: Option<ChatItem>,
}

pub(crate) fn offer_message_with(
    shared: &B64,
    content: &MsgContent,
    name: &str,
    size: u64,
    ttl: Option<i64>,
    forward: bool,
) -> ChatMessage {
    let mut container = MsgContainer::simple(content.clone());
    container.ttl = ttl;
    container.forward = forward;
    container.file = Some(FileInvitation {
        file_name: name.to_string(),
        file_size: size as i64,
        file_digest: None,
        file_conn_req: None,
        file_inline: None,
        file_descr: Some(FileDescr {
            file_descr_text: String::new(),
            file_descr_part_no: 0,
            file_descr_complete: false,
        }),
    });
    ChatMessage::new(Some(shared.clone()), ChatEvent::MsgNew(container))
}

/// A recipient description as `x.msg.file.descr` messages: parts of [`DESCR_PART_LEN`]
/// characters, numbered from 1, the last marked complete.
pub(crate) fn descr_messages(shared_msg_id: &[u8], descr: &str) -> Vec<ChatMessage> {
    let text: Vec<char> = descr.chars().collect();
    let parts: Vec<String> = text
        .chunks(DESCR_PART_LEN)
        .map(|c| c.iter().collect())
        .collect();
    let n = parts.len();
    parts
        .into_iter()
        .enumerate()
        .map(|(i, part)| {
            ChatMessage::new(
                None,
                ChatEvent::MsgFileDescr {
                    msg_id: B64(shared_msg_id.to_vec()),
                    file_descr: FileDescr {
                        file_descr_text: part,
                        file_descr_part_no: i as i64 + 1,
                        file_descr_complete: i + 1 == n,
                    },
                },
            )
        })
        .collect()
}

/// The preview sent with `/img`: a 1x1 transparent PNG (a terminal makes no thumbnails).
pub const IMAGE_PREVIEW: &str = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

impl Chat {
    /// A running transfer's progress (encrypted bytes done, in all).
    pub(crate) fn transfer_progress(&self, file_id: i64) -> Option<Progress> {
        self.inner
            .progress
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&file_id)
            .copied()
    }

    fn set_progress(inner: &Arc<crate::chat::Inner>, file_id: i64, p: Progress) {
        inner
            .progress
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(file_id, p);
    }

    pub(crate) fn stop_transfer(&self, file_id: i64) {
        if let Some(h) = self
            .inner
            .transfers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&file_id)
        {
            h.abort();
        }
    }

    fn file(&self, file_id: i64) -> Result<FileTransfer, ChatError> {
        self.store()
            .file(file_id)?
            .ok_or(ChatError::NoFile(file_id))
    }

    /// `/f @name path`.
    pub(crate) async fn send_file(&self, to: String, path: String) -> Result<Response, ChatError> {
        let contact = self.ready_contact(&to)?;
        let content = MsgContent::File {
            text: String::new(),
        };
        self.send_file_to(contact, path, content).await
    }

    /// `/img @name path`: an image file, offered as an image (`"type":"image"`) with a fixed
    /// small preview, as the reference's terminal client sends images (it makes no
    /// thumbnails); the file itself goes over XFTP as any file.
    pub(crate) async fn send_image(&self, to: String, path: String) -> Result<Response, ChatError> {
        let content = image_content(&path)?;
        let contact = self.ready_contact(&to)?;
        self.send_file_to(contact, path, content).await
    }

    /// Offers a file to a contact with `content` (a file, or an image or voice with its
    /// preview), then uploads it.
    pub(crate) async fn send_file_to(
        &self,
        contact: Contact,
        path: String,
        content: MsgContent,
    ) -> Result<Response, ChatError> {
        self.send_file_with(contact, path, content, FileExtras::default())
            .await
    }

    /// [`Chat::send_file_to`] with what `extras` add: disappearing after `ttl` seconds (by
    /// default the contact's time, when disappearing messages are on with it), marked
    /// forwarded, quoting an item of the chat.
    pub(crate) async fn send_file_with(
        &self,
        contact: Contact,
        path: String,
        content: MsgContent,
        extras: FileExtras,
    ) -> Result<Response, ChatError> {
        let FileExtras {
            ttl,
            forward,
            quoted,
        } = extras;
        let xftp_servers = self.xftp_servers();
        if xftp_servers.is_empty() {
            return Err(ChatError::NoXftpServers);
        }
        if contact.deleted_by_contact {
            return Err(ChatError::ContactDeleted(contact.local_name));
        }
        if !contact.ready {
            return Err(ChatError::NotReady(contact.local_name));
        }
        crate::disable::check_enabled(&contact)?;
        let (name, size, source) = file_source(&self.send_path(&path))?;
        let shared = crate::chat::new_shared_msg_id();
        let file_id = self.store().add_file(&NewFile {
            contact_id: contact.contact_id,
            group_id: None,
            group_member_id: None,
            sent: true,
            shared_msg_id: &shared.0,
            name: &name,
            size,
            path: Some(&source.to_string_lossy()),
            status: FileStatus::Uploading,
        })?;
        let ttl = ttl.or_else(|| crate::features::Prefs::of(&contact).timed_ttl());
        let mut msg = offer_message_with(&shared, &content, &name, size, ttl, forward.is_some());
        let (msg_quote, quote) = quoted.as_ref().map(crate::messages::direct_quote).unzip();
        if let ChatEvent::MsgNew(c) = &mut msg.event {
            c.quote = msg_quote;
        }
        let conn = contact
            .conn_id
            .ok_or_else(|| ChatError::NotReady(contact.local_name.clone()))?;
        let agent_msg_id = match self.send_body(conn, &msg.encode()).await {
            Ok(id) => id,
            Err(e) => {
                self.store().set_file_status(file_id, FileStatus::Failed)?;
                return Err(ChatError::Agent(e.to_string()));
            }
        };
        let (item, refused) = self.record_sent_item(conn, agent_msg_id, |store| {
            store.add_item(&NewItem {
                contact_id: contact.contact_id,
                sent: true,
                shared_msg_id: Some(&shared.0),
                agent_msg_id: Some(agent_msg_id),
                content: &content,
                quote: quote.as_ref(),
                edited: false,
            })
        })?;
        self.store().set_item_file(item.item_id, file_id)?;
        let item = ChatItem {
            file_id: Some(file_id),
            ..item
        };
        // Refused already (the contact's queue is gone): said as for any refusal.
        if refused {
            let status = Event::ItemStatus(contact.clone(), item.clone());
            crate::chat::on_heap(|| self.emit(status)).await;
        }
        let item = self.with_forward(item, forward)?;
        let item = match ttl {
            Some(t) => self.set_timer(item, t)?,
            None => item,
        };
        self.spawn_upload(file_id);
        Ok(Response::FileSending {
            contact,
            item,
            file_id,
            path,
        })
    }

    pub(crate) fn ready_contact(&self, name: &str) -> Result<Contact, ChatError> {
        let contact = self.contact_named(name)?;
        if contact.deleted_by_contact {
            return Err(ChatError::ContactDeleted(contact.local_name));
        }
        if !contact.ready || contact.conn_id.is_none() {
            return Err(ChatError::NotReady(name.to_string()));
        }
        crate::disable::check_enabled(&contact)?;
        Ok(contact)
    }

    fn state_path(&self, file_id: i64) -> PathBuf {
        self.inner.state_dir.join(format!("{file_id}.snd"))
    }

    /// Starts (or resumes) a file's upload in the background.
    pub(crate) fn spawn_upload(&self, file_id: i64) {
        let chat = self.clone();
        let h = tokio::spawn(async move {
            if let Err(e) = chat.upload(file_id).await {
                let _ = chat.store().set_file_status(file_id, FileStatus::Failed);
                chat.file_failed(file_id, true, e.to_string()).await;
            }
            chat.forget_transfer(file_id);
        });
        self.keep_transfer(file_id, h);
    }

    /// A transfer's failure, reported with its file and peer (a plain error when they are
    /// gone).
    async fn file_failed(&self, file_id: i64, sent: bool, error: String) {
        let what = if sent { "sending" } else { "receiving" };
        tracing::warn!(target: "chat", file_id, "{what} file failed: {error}");
        match self.trouble(file_id, sent, error.clone()) {
            Some(t) => self.emit(Event::FileFailed(t)).await,
            None => {
                self.emit(Event::Error(format!("{what} file {file_id}: {error}")))
                    .await
            }
        }
    }

    fn trouble(&self, file_id: i64, sent: bool, error: String) -> Option<crate::chat::FileTrouble> {
        let f = self.file(file_id).ok()?;
        let peer = self.file_peer(&f).ok()?;
        Some(crate::chat::FileTrouble {
            file_id,
            name: f.name,
            peer,
            sent,
            error,
        })
    }

    /// Runs a transfer's `attempt` until it succeeds or fails for good. While its relays
    /// cannot be reached it is tried again (after 1 s, doubling to 30 s; `/fc` stops it),
    /// with a warning when the trouble starts - once per outage: another after the transfer
    /// moved on. Each attempt resumes where the last stopped (the upload's state file, the
    /// download's partial file).
    async fn with_relay_retries<T, F, Fut>(
        &self,
        file_id: i64,
        sent: bool,
        attempt: F,
    ) -> Result<T, ChatError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, xftp_client::agent::AgentError>>,
    {
        let mut wait = RETRY_FIRST;
        let mut warned_at = None;
        loop {
            match attempt().await {
                Ok(v) => return Ok(v),
                Err(e) if temporary(&e) => {
                    let done = self.transferred(file_id);
                    if warned_at != Some(done) {
                        warned_at = Some(done);
                        wait = RETRY_FIRST;
                        let error = e.to_string();
                        tracing::info!(target: "chat", file_id, "transfer waits for its relay: {error}");
                        if let Some(t) = self.trouble(file_id, sent, error) {
                            self.emit(Event::FileWarning(t)).await;
                        }
                    }
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(RETRY_MAX);
                }
                Err(e) => return Err(ChatError::File(e.to_string())),
            }
        }
    }

    /// Bytes a running transfer has moved so far.
    fn transferred(&self, file_id: i64) -> u64 {
        self.inner
            .progress
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&file_id)
            .map_or(0, |p| p.done)
    }

    fn keep_transfer(&self, file_id: i64, h: tokio::task::JoinHandle<()>) {
        self.inner
            .transfers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(file_id, h);
    }

    fn forget_transfer(&self, file_id: i64) {
        self.inner
            .transfers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&file_id);
    }

    async fn upload(&self, file_id: i64) -> Result<(), ChatError> {
        let f = self.file(file_id)?;
        if f.status == FileStatus::Uploading {
            let source = f.path.clone().ok_or(ChatError::File("no source".into()))?;
            {
                use std::os::unix::fs::DirBuilderExt;
                // Upload state holds the file's key: a folder only the user reads.
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(&self.inner.state_dir)
                    .map_err(|e| {
                        ChatError::File(format!("{}: {e}", self.inner.state_dir.display()))
                    })?;
            }
            // A group's file gets a description for every member it was offered to, rounded up
            // as the reference does, the rest kept for members who join later.
            let recipients = match f.group_id {
                Some(_) => rounded_fd_count(self.store().group_file_members(file_id)?.len()),
                None => 1,
            };
            let opts = SendOptions {
                recipients,
                state: Some(self.state_path(file_id)),
                ..SendOptions::default()
            };
            let servers = self.xftp_servers();
            let sent = self
                .with_relay_retries(file_id, true, || {
                    let inner = self.inner.clone();
                    xftp_client::agent::send_file(
                        self.inner.pool.clone(),
                        Path::new(&source),
                        &servers,
                        &opts,
                        move |p| Self::set_progress(&inner, file_id, p),
                    )
                })
                .await?;
            if f.group_id.is_some() {
                let all: Vec<String> = sent.recipients.iter().map(|d| d.to_yaml()).collect();
                self.store()
                    .group_file_uploaded(file_id, &sent.sender.to_yaml(), &all)?;
            } else {
                let recipient = sent
                    .recipients
                    .first()
                    .ok_or(ChatError::File("no recipient description".into()))?;
                self.store().file_uploaded(
                    file_id,
                    &sent.sender.to_yaml(),
                    &recipient.to_yaml(),
                )?;
            }
        }
        let f = self.file(file_id)?;
        if f.status != FileStatus::Uploaded {
            return Ok(());
        }
        if f.group_id.is_some() {
            return self.send_group_descriptions(&f).await;
        }
        let contact = self
            .store()
            .contact(f.contact_id)?
            .ok_or_else(|| ChatError::NoContact(f.contact_id.to_string()))?;
        let conn = contact
            .conn_id
            .ok_or_else(|| ChatError::NotReady(contact.local_name.clone()))?;
        for msg in descr_messages(&f.shared_msg_id, &f.descr) {
            self.send_body(conn, &msg.encode())
                .await
                .map_err(|e| ChatError::Agent(e.to_string()))?;
        }
        self.store()
            .set_file_status(file_id, FileStatus::Complete)?;
        let _ = std::fs::remove_file(self.state_path(file_id));
        self.emit(Event::FileUploaded(
            f.file_id,
            f.name,
            FilePeer::Contact(contact),
        ))
        .await;
        Ok(())
    }

    /// The other side of a transfer: the contact, the group we send to, or the member who
    /// sends to us.
    pub(crate) fn file_peer(&self, f: &FileTransfer) -> Result<FilePeer, ChatError> {
        match (f.group_id, f.group_member_id) {
            (Some(g), Some(m)) => {
                let g = self.group_by_id(g)?;
                let m = self.member_by_id(&g, m)?;
                Ok(FilePeer::Member(g, m))
            }
            (Some(g), None) => Ok(FilePeer::Group(self.group_by_id(g)?)),
            (None, _) => Ok(FilePeer::Contact(
                self.store()
                    .contact(f.contact_id)?
                    .ok_or_else(|| ChatError::NoContact(f.contact_id.to_string()))?,
            )),
        }
    }

    /// `/fr N [path]`.
    pub(crate) async fn receive_file(
        &self,
        file_id: i64,
        path: Option<String>,
    ) -> Result<Response, ChatError> {
        let f = self.file(file_id)?;
        if f.sent {
            return Err(ChatError::File(format!(
                "file {file_id} is one you send, not one you receive"
            )));
        }
        match f.status {
            FileStatus::Offered => {}
            FileStatus::Cancelled => return Err(ChatError::FileCancelled(f.name)),
            FileStatus::Accepted | FileStatus::Complete => {
                return Err(ChatError::File(format!(
                    "file {file_id} is already accepted"
                )))
            }
            _ => return Err(ChatError::File(format!("file {file_id} failed"))),
        }
        if f.size > self.inner.max_file_size {
            return Err(ChatError::File(format!(
                "file {file_id} ({}) has {}, more than the {} this client accepts",
                f.name,
                size_text(f.size),
                size_text(self.inner.max_file_size)
            )));
        }
        let peer = self.file_peer(&f)?;
        let (dir, name, shown) = destination(&self.inner.files_folder, &f.name, path.as_deref());
        let full = dir.join(&name);
        self.store()
            .set_file_path(file_id, &full.to_string_lossy(), FileStatus::Accepted)?;
        // Read again: the description's last part may have come meanwhile (its handler then
        // saw the file not yet accepted).
        if self.file(file_id)?.descr_complete {
            self.spawn_download(file_id);
        }
        Ok(Response::FileAccepted {
            file_id,
            peer,
            shown,
        })
    }

    /// Starts a file's download in the background, unless it runs already (`/fr` and the
    /// description's last part may both find the file ready).
    pub(crate) fn spawn_download(&self, file_id: i64) {
        let mut transfers = self
            .inner
            .transfers
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if transfers.contains_key(&file_id) {
            return;
        }
        let chat = self.clone();
        let h = tokio::spawn(async move {
            if let Err(e) = chat.download(file_id).await {
                let _ = chat.store().set_file_status(file_id, FileStatus::Failed);
                chat.file_failed(file_id, false, e.to_string()).await;
            }
            chat.forget_transfer(file_id);
        });
        transfers.insert(file_id, h);
    }

    async fn download(&self, file_id: i64) -> Result<(), ChatError> {
        let f = self.file(file_id)?;
        let peer = self.file_peer(&f)?;
        let target = PathBuf::from(f.path.clone().ok_or(ChatError::File("no path".into()))?);
        let dir = target
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| f.name.clone());
        let desc = ValidFileDescription::from_yaml(&f.descr)
            .map_err(|e| ChatError::File(format!("bad description: {e}")))?;
        std::fs::create_dir_all(&dir)
            .map_err(|e| ChatError::File(format!("{}: {e}", dir.display())))?;
        self.emit(Event::FileReceiving(
            f.file_id,
            f.name.clone(),
            peer.clone(),
        ))
        .await;
        let opts = RecvOptions {
            file_name: Some(name),
            max_file_size: self.inner.max_file_size,
            // A group file's description may serve a member who joins later (the host sends
            // the history with it): its chunks are not acknowledged, as the reference's agent
            // acknowledges none.
            ack: f.group_id.is_none(),
            ..RecvOptions::default()
        };
        let got = self
            .with_relay_retries(file_id, false, || {
                let inner = self.inner.clone();
                xftp_client::agent::receive_file(
                    self.inner.pool.clone(),
                    &desc,
                    &dir,
                    &opts,
                    move |p| Self::set_progress(&inner, file_id, p),
                )
            })
            .await?;
        // The decrypted size is the sender's own header's: it must be what the offer said.
        if got.size != f.size {
            let _ = std::fs::remove_file(&got.path);
            return Err(ChatError::File(format!(
                "the file has {} bytes, the offer said {}: not saved",
                got.size, f.size
            )));
        }
        self.store()
            .set_file_path(file_id, &got.path.to_string_lossy(), FileStatus::Complete)?;
        self.emit(Event::FileReceived(f.file_id, f.name, peer))
            .await;
        Ok(())
    }

    /// `/fc N`.
    pub(crate) async fn cancel_file(&self, file_id: i64) -> Result<Response, ChatError> {
        let f = self.file(file_id)?;
        if f.status == FileStatus::Stored {
            return Err(ChatError::BadCommand(
                "not supported for local files".into(),
            ));
        }
        let peer = self.file_peer(&f)?;
        let mut members = Vec::new();
        if f.sent {
            if matches!(f.status, FileStatus::Cancelled | FileStatus::Failed) {
                return Err(ChatError::File(format!("file {file_id} is not being sent")));
            }
            self.stop_transfer(file_id);
            self.store()
                .set_file_status(file_id, FileStatus::Cancelled)?;
            let cancel = ChatEvent::FileCancel {
                msg_id: B64(f.shared_msg_id.clone()),
            };
            match &peer {
                FilePeer::Contact(contact) => {
                    if let Some(conn) = contact.conn_id {
                        self.send_event(conn, cancel).await?;
                    }
                }
                FilePeer::Group(g) => members = self.cancel_group_file(g, &f, cancel).await?,
                FilePeer::Member(..) => {}
            }
            // The uploaded chunks go (retried in the background; the relay expires them anyway):
            // all of them once the upload finished, else those the upload state recorded.
            if f.sender_descr.is_none() {
                let pool = self.inner.pool.clone();
                let chat = self.clone();
                let state = self.state_path(file_id);
                tokio::spawn(async move {
                    if let Err(e) = xftp_client::agent::delete_partial_send(pool, &state, 5).await {
                        chat.emit(Event::Error(format!(
                            "deleting the chunks of file {file_id}: {e}"
                        )))
                        .await;
                    }
                });
            }
            if let Some(yaml) = f.sender_descr.clone() {
                let pool = self.inner.pool.clone();
                let chat = self.clone();
                tokio::spawn(async move {
                    let r = match ValidFileDescription::from_yaml(&yaml) {
                        Ok(d) => xftp_client::agent::delete_file(pool, &d, 5)
                            .await
                            .map_err(|e| e.to_string()),
                        Err(e) => Err(e.to_string()),
                    };
                    if let Err(e) = r {
                        chat.emit(Event::Error(format!(
                            "deleting the chunks of file {file_id}: {e}"
                        )))
                        .await;
                    }
                });
                let _ = std::fs::remove_file(self.state_path(file_id));
            }
        } else {
            if f.status != FileStatus::Accepted {
                return Err(ChatError::File(format!(
                    "file {file_id} is not being received"
                )));
            }
            self.stop_transfer(file_id);
            // It may be received again: back to offered (a partial download stays for resume).
            self.store().set_file_status(file_id, FileStatus::Offered)?;
        }
        Ok(Response::FileCancelled {
            file_id,
            name: f.name,
            sent: f.sent,
            peer,
            members,
        })
    }

    /// `/fs N`.
    pub(crate) fn file_status(&self, file_id: i64) -> Result<Response, ChatError> {
        let f = self.file(file_id)?;
        // As the reference answers for a note's file.
        if f.status == FileStatus::Stored {
            return Err(ChatError::BadCommand(
                "not supported for local files".into(),
            ));
        }
        Ok(Response::FileStatus(status_line(
            &f,
            self.transfer_progress(file_id),
        )))
    }

    /// A file offered with a message we received.
    pub(crate) async fn file_offered(
        &self,
        contact: &Contact,
        shared: Option<&B64>,
        inv: &FileInvitation,
        item_id: i64,
    ) -> Result<(), ChatError> {
        let (shared, name) = check_offer(&contact.local_name, shared, inv)?;
        let file_id = self.store().add_file(&NewFile {
            contact_id: contact.contact_id,
            group_id: None,
            group_member_id: None,
            sent: false,
            shared_msg_id: &shared.0,
            name: &name,
            size: inv.file_size as u64,
            path: None,
            status: FileStatus::Offered,
        })?;
        self.store().set_item_file(item_id, file_id)?;
        self.emit(Event::FileOffered {
            contact: contact.clone(),
            item_id,
            file_id,
            name,
            size: inv.file_size as u64,
        })
        .await;
        let size = inv.file_size as u64;
        if size <= self.inner.auto_accept_size && size <= self.inner.max_file_size {
            // Accepted as `/fr N` would (into the files folder, under a name not taken).
            self.auto_accept(file_id).await?;
        }
        Ok(())
    }

    /// Accepts an offered file as `/fr N` would (into the files folder, under a name not
    /// taken), and says so.
    pub(crate) async fn auto_accept(&self, file_id: i64) -> Result<(), ChatError> {
        if let Response::FileAccepted {
            file_id,
            peer,
            shown,
        } = self.receive_file(file_id, None).await?
        {
            self.emit(Event::FileAutoAccepted {
                file_id,
                peer,
                shown,
            })
            .await;
        }
        Ok(())
    }

    /// One part of a description for a file we were offered; the file's number when the
    /// description is complete with it.
    pub(crate) fn file_descr_part(
        &self,
        contact: &Contact,
        shared: &B64,
        d: &FileDescr,
    ) -> Result<Option<i64>, ChatError> {
        let f = self
            .store()
            .file_by_msg(contact.contact_id, false, &shared.0)?;
        self.descr_part_of(f, d)
    }

    /// A received file's description is complete: reported with its sender, then the
    /// download starts if the file is accepted. (Read after the description was stored:
    /// `/fr` may have accepted the file meanwhile - it then saw the description incomplete.)
    pub(crate) async fn descr_ready(&self, file_id: i64) {
        let Ok(f) = self.file(file_id) else { return };
        if let Ok(peer) = self.file_peer(&f) {
            self.emit(Event::FileDescrReady(file_id, peer)).await;
        }
        if self
            .file(file_id)
            .is_ok_and(|f| f.status == FileStatus::Accepted)
        {
            self.spawn_download(file_id);
        }
    }

    /// One part of a description for `f` (none: a file never offered); the file's number
    /// when the description is complete with it.
    pub(crate) fn descr_part_of(
        &self,
        f: Option<FileTransfer>,
        d: &FileDescr,
    ) -> Result<Option<i64>, ChatError> {
        let Some(f) = f else {
            return Err(ChatError::File(
                "a description for a file never offered".into(),
            ));
        };
        if matches!(f.status, FileStatus::Failed | FileStatus::Cancelled) || f.descr_complete {
            return Ok(None);
        }
        if d.file_descr_part_no <= f.descr_parts {
            return Ok(None); // sent again after the sender's restart
        }
        if d.file_descr_part_no != f.descr_parts + 1 {
            self.store()
                .set_file_status(f.file_id, FileStatus::Failed)?;
            return Err(ChatError::File(format!(
                "file {} ({}): description part {} arrived after part {} - a part was lost or \
                 reordered; nothing will be saved",
                f.file_id, f.name, d.file_descr_part_no, f.descr_parts
            )));
        }
        if f.descr.len() + d.file_descr_text.len() > MAX_DESCR_LEN {
            self.store()
                .set_file_status(f.file_id, FileStatus::Failed)?;
            return Err(ChatError::File(format!(
                "file {} ({}): the description is too long",
                f.file_id, f.name
            )));
        }
        self.store().add_descr_part(
            f.file_id,
            &d.file_descr_text,
            d.file_descr_part_no,
            d.file_descr_complete,
        )?;
        Ok(d.file_descr_complete.then_some(f.file_id))
    }

    /// The sender cancelled a file it offered.
    pub(crate) async fn file_cancelled_by_sender(
        &self,
        contact: &Contact,
        shared: &B64,
    ) -> Result<(), ChatError> {
        let f = self
            .store()
            .file_by_msg(contact.contact_id, false, &shared.0)?;
        self.cancelled_by_sender(f, FilePeer::Contact(contact.clone()))
            .await
    }

    /// The sender cancelled `f` (none: a file never offered).
    pub(crate) async fn cancelled_by_sender(
        &self,
        f: Option<FileTransfer>,
        peer: FilePeer,
    ) -> Result<(), ChatError> {
        let Some(f) = f else {
            return Ok(());
        };
        if matches!(f.status, FileStatus::Complete | FileStatus::Cancelled) {
            return Ok(());
        }
        self.stop_transfer(f.file_id);
        self.store()
            .set_file_status(f.file_id, FileStatus::Cancelled)?;
        self.emit(Event::FileCancelledBySender(f.file_id, f.name, peer))
            .await;
        Ok(())
    }

    /// Transfers that were running when the process stopped go on.
    pub(crate) fn resume_transfers(&self) -> Result<(), ChatError> {
        let (up, uploaded, down) = {
            let s = self.store();
            (
                s.files_in(FileStatus::Uploading)?,
                s.files_in(FileStatus::Uploaded)?,
                s.files_in(FileStatus::Accepted)?,
            )
        };
        for id in up.into_iter().chain(uploaded) {
            self.spawn_upload(id);
        }
        for id in down {
            if self.file(id)?.descr_complete {
                self.spawn_download(id);
            }
        }
        Ok(())
    }
}
