//! Terminal input and output. On a terminal: a line editor (cursor keys, word moves, history
//! of this session's lines with up/down and Ctrl-R; the history is kept in memory only - the
//! lines are messages, and nothing unencrypted is written to disk), and output printed above
//! the line being typed. Otherwise (a pipe, a script, a test): plain lines in, plain lines
//! out.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};

use rustyline::error::ReadlineError;
use rustyline::ExternalPrinter;
use tokio::io::{AsyncBufReadExt, BufReader, Lines, Stdin};
use tokio::sync::mpsc;

type Printer = Box<dyn ExternalPrinter + Send>;

/// Where output lines go: stdout, or above the line editor's prompt.
#[derive(Clone, Default)]
pub struct Out {
    printer: Arc<Mutex<Option<Printer>>>,
}

impl Out {
    /// Prints lines (a block at a time: the lines of one response stay together).
    pub fn lines(&self, lines: &[String]) {
        if lines.is_empty() {
            return;
        }
        // Names and texts come from peers: no terminal control sequences reach the screen.
        let lines: Vec<String> = lines.iter().map(|l| printable(l)).collect();
        let mut printer = self.printer.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = printer.as_mut() {
            let mut text = lines.join("\n");
            text.push('\n');
            if p.print(text).is_ok() {
                return;
            }
        }
        drop(printer);
        let mut w = std::io::stdout().lock();
        for l in &lines {
            let _ = writeln!(w, "{l}");
        }
        let _ = w.flush();
    }
}

/// A line as printed: control characters (escape sequences, carriage returns) a peer put in
/// a name or a message become U+FFFD; line breaks and tabs in a message stay (its lines are shown one
/// under the other, as the reference shows them).
fn printable(l: &str) -> String {
    l.chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect()
}

/// A line typed, and how it was sent: Enter, or Alt-Enter / Ctrl-L (`live`: the reference's
/// keys that send a message live, typed on after it is sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Typed {
    /// The line.
    pub line: String,
    /// Sent with Alt-Enter or Ctrl-L.
    pub live: bool,
}

/// What the line editor's thread is asked for: a line after `prompt`, the line starting as
/// `initial` (a live message's text, typed on), kept in the history after `kept_after` (a live
/// message's `@bob`: recalled, it is a message to send again).
pub struct Ask {
    prompt: String,
    initial: String,
    kept_after: String,
}

/// The names Tab completes: the active user's contacts and groups (read when Tab is pressed).
pub type Names = Box<dyn Fn() -> (Vec<String>, Vec<String>) + Send + Sync>;

/// The commands Tab completes after `/` (as the reference's terminal, those of this client).
const COMMANDS: &[&str] = &[
    "accept",
    "add",
    "address",
    "auto_accept",
    "call",
    "clear",
    "code",
    "connect",
    "contacts",
    "create link",
    "create user",
    "delete",
    "delete link",
    "delete user",
    "delete_address",
    "fcancel",
    "file",
    "fforward",
    "freceive",
    "fstatus",
    "group",
    "groups",
    "help",
    "hide user",
    "image",
    "info",
    "join",
    "leave",
    "live",
    "member role",
    "members",
    "mute",
    "mute user",
    "profile",
    "quit",
    "reject",
    "remove",
    "search",
    "set delete",
    "set direct",
    "set disappear",
    "set link role",
    "set voice",
    "show link",
    "show_address",
    "tail",
    "unhide user",
    "unmute",
    "unmute user",
    "user",
    "users",
    "verify",
];

/// What Tab completes in `line` before `pos`: where the completed word starts, and the
/// candidates. A command after `/` at the start; a contact after `@`, a group after `#`
/// (at the start, after a space or after `>`, `!` or `\`), names with spaces quoted; a
/// unique candidate with a space after it.
pub fn complete(
    line: &str,
    pos: usize,
    names: &dyn Fn() -> (Vec<String>, Vec<String>),
) -> (usize, Vec<String>) {
    let Some(head) = line.get(..pos) else {
        return (pos, Vec::new());
    };
    let finish = |start: usize, mut found: Vec<String>| {
        if let [one] = found.as_mut_slice() {
            one.push(' ');
        }
        (start, found)
    };
    if let Some(cmd) = head.strip_prefix('/') {
        if !cmd.contains(char::is_whitespace) {
            let found = COMMANDS
                .iter()
                .filter(|c| c.starts_with(cmd))
                .map(|c| format!("/{c}"))
                .collect();
            return finish(0, found);
        }
    }
    let Some((at, sigil)) = head
        .char_indices()
        .rev()
        .find(|(_, c)| *c == '@' || *c == '#')
    else {
        return (pos, Vec::new());
    };
    let word = &head[at + 1..];
    let before = head[..at].chars().next_back();
    let starts_word = before.is_none_or(|c| c.is_whitespace() || matches!(c, '>' | '!' | '\\'));
    if !starts_word || word.contains(char::is_whitespace) && !word.starts_with('\'') {
        return (pos, Vec::new());
    }
    let typed = word.trim_start_matches('\'').to_lowercase();
    let (contacts, groups) = names();
    let pool = if sigil == '@' { contacts } else { groups };
    let found = pool
        .into_iter()
        .filter(|n| n.to_lowercase().starts_with(&typed))
        .map(|n| chat_core::command::view_name(&n))
        .collect();
    finish(at + 1, found)
}

/// The line editor's helper: it sees the line after every edit (the hinter is asked on each
/// one) and keeps it for a live message's updates (it offers no hints); Tab completes
/// commands and names ([`complete`]).
struct Watch {
    typed: Arc<Mutex<String>>,
    names: Arc<Mutex<Option<Names>>>,
}

impl rustyline::completion::Completer for Watch {
    type Candidate = String;
    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        let none = || (Vec::new(), Vec::new());
        Ok(match names.as_ref() {
            Some(f) => complete(line, pos, f.as_ref()),
            None => complete(line, pos, &none),
        })
    }
}

impl rustyline::hint::Hinter for Watch {
    type Hint = String;
    fn hint(&self, line: &str, _pos: usize, _ctx: &rustyline::Context<'_>) -> Option<String> {
        let mut typed = self.typed.lock().unwrap_or_else(|p| p.into_inner());
        if *typed != line {
            line.clone_into(&mut typed);
        }
        None
    }
}

impl rustyline::highlight::Highlighter for Watch {}
impl rustyline::validate::Validator for Watch {}
impl rustyline::Helper for Watch {}

/// Alt-Enter and Ctrl-L: the line is accepted, marked as sent live.
struct LiveKey(Arc<std::sync::atomic::AtomicBool>);

impl rustyline::ConditionalEventHandler for LiveKey {
    fn handle(
        &self,
        _evt: &rustyline::Event,
        _n: rustyline::RepeatCount,
        _positive: bool,
        _ctx: &rustyline::EventContext<'_>,
    ) -> Option<rustyline::Cmd> {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        Some(rustyline::Cmd::AcceptLine)
    }
}

/// Lines typed.
pub enum Input {
    /// Plain lines from stdin.
    Plain(Lines<BufReader<Stdin>>),
    /// The line editor, running on a thread of its own: a prompt in, a line (or the end) out.
    /// The next line is asked for as soon as one arrives (`reading`), so that the terminal
    /// stays in the editor's mode while a command runs: keys typed meanwhile are not lost.
    Editor {
        asks: std::sync::mpsc::Sender<Ask>,
        lines: mpsc::Receiver<Option<Typed>>,
        reading: bool,
        /// The line as it is being typed.
        typed: Arc<Mutex<String>>,
        /// Where Tab's names come from, once there is a chat.
        names: Arc<Mutex<Option<Names>>>,
    },
}

impl Input {
    /// Plain lines from stdin.
    pub fn plain() -> Self {
        Self::Plain(BufReader::new(tokio::io::stdin()).lines())
    }

    /// The line editor when stdin and stdout are a terminal (output then goes through `out`
    /// above the prompt), plain lines otherwise.
    pub fn open(out: &Out) -> Self {
        if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) {
            return Self::plain();
        }
        // Tab as a shell's: the common start of the candidates, then the list of them.
        let config = rustyline::Config::builder()
            .completion_type(rustyline::CompletionType::List)
            .build();
        let Ok(mut editor) =
            rustyline::Editor::<Watch, rustyline::history::DefaultHistory>::with_config(config)
        else {
            return Self::plain();
        };
        let typed = Arc::new(Mutex::new(String::new()));
        let names: Arc<Mutex<Option<Names>>> = Arc::default();
        editor.set_helper(Some(Watch {
            typed: typed.clone(),
            names: names.clone(),
        }));
        let live_key = Arc::new(std::sync::atomic::AtomicBool::new(false));
        for key in [
            rustyline::KeyEvent(rustyline::KeyCode::Enter, rustyline::Modifiers::ALT),
            rustyline::KeyEvent::ctrl('L'),
        ] {
            editor.bind_sequence(
                key,
                rustyline::EventHandler::Conditional(Box::new(LiveKey(live_key.clone()))),
            );
        }
        if let Ok(p) = editor.create_external_printer() {
            *out.printer.lock().unwrap_or_else(|p| p.into_inner()) = Some(Box::new(p));
        }
        let (ask_tx, ask_rx) = std::sync::mpsc::channel::<Ask>();
        let (line_tx, line_rx) = mpsc::channel(1);
        std::thread::spawn(move || {
            while let Ok(ask) = ask_rx.recv() {
                live_key.store(false, std::sync::atomic::Ordering::SeqCst);
                let read = if ask.initial.is_empty() {
                    editor.readline(&ask.prompt)
                } else {
                    editor.readline_with_initial(&ask.prompt, (&ask.initial, ""))
                };
                let line = match read {
                    Ok(l) => {
                        if !l.trim().is_empty() {
                            let kept = if ask.kept_after.is_empty() {
                                l.clone()
                            } else {
                                format!("{} {l}", ask.kept_after)
                            };
                            let _ = editor.add_history_entry(kept.as_str());
                        }
                        Some(Typed {
                            line: l,
                            live: live_key.swap(false, std::sync::atomic::Ordering::SeqCst),
                        })
                    }
                    // Ctrl-C, Ctrl-D, or the terminal gone: the end of input.
                    Err(ReadlineError::Interrupted | ReadlineError::Eof) => None,
                    Err(_) => None,
                };
                let end = line.is_none();
                if line_tx.blocking_send(line).is_err() || end {
                    return;
                }
            }
        });
        Self::Editor {
            asks: ask_tx,
            lines: line_rx,
            reading: false,
            typed,
            names,
        }
    }

    /// Where Tab's names come from (the line editor's; plain lines complete nothing).
    pub fn complete_names(&self, f: Names) {
        if let Self::Editor { names, .. } = self {
            *names.lock().unwrap_or_else(|p| p.into_inner()) = Some(f);
        }
    }

    /// Starts reading the next line now (without a prompt of its own), while the last one is
    /// handled: keys typed meanwhile go to the editor, not to the terminal's own line buffer.
    pub fn read_ahead(&mut self) {
        if let Self::Editor { asks, reading, .. } = self {
            if !*reading {
                let ask = Ask {
                    prompt: String::new(),
                    initial: String::new(),
                    kept_after: String::new(),
                };
                *reading = asks.send(ask).is_ok();
            }
        }
    }

    /// Whether a typed line stays on the screen (the line editor's), so that it needs no
    /// echo.
    pub fn shows_typed(&self) -> bool {
        matches!(self, Self::Editor { .. })
    }

    /// The line being typed, as it changes (the line editor's; none for plain lines).
    pub fn typing(&self) -> Option<Arc<Mutex<String>>> {
        match self {
            Self::Editor { typed, .. } => Some(typed.clone()),
            Self::Plain(_) => None,
        }
    }

    /// The next line after showing `prompt` (none at the end of input).
    pub async fn read(&mut self, prompt: &str) -> std::io::Result<Option<Typed>> {
        self.read_from(prompt, "", "").await
    }

    /// The next line after showing `prompt`, the line starting as `initial` (the line
    /// editor's; plain lines start empty), kept in the history after `kept_after` (a live
    /// message's chat). A line already being read keeps its start.
    pub async fn read_from(
        &mut self,
        prompt: &str,
        initial: &str,
        kept_after: &str,
    ) -> std::io::Result<Option<Typed>> {
        match self {
            Self::Plain(lines) => {
                if !prompt.is_empty() {
                    let mut w = std::io::stdout().lock();
                    let _ = write!(w, "{prompt}");
                    let _ = w.flush();
                }
                Ok(lines
                    .next_line()
                    .await?
                    .map(|line| Typed { line, live: false }))
            }
            Self::Editor {
                asks,
                lines,
                reading,
                typed,
                ..
            } => {
                if !*reading {
                    initial.clone_into(&mut typed.lock().unwrap_or_else(|p| p.into_inner()));
                    let ask = Ask {
                        prompt: prompt.to_string(),
                        initial: initial.to_string(),
                        kept_after: kept_after.to_string(),
                    };
                    if asks.send(ask).is_err() {
                        return Ok(None);
                    }
                }
                *reading = false;
                Ok(lines.recv().await.flatten())
            }
        }
    }
}

/// The text of a live message to send while it is typed (the reference's terminal): the line
/// as typed when it has not changed since the last look (`last_typed`), else up to its last
/// whole word (what is being typed is not sent half-way); none when that was sent already.
pub fn live_text(typed: &str, last_typed: &str, sent: &str) -> Option<String> {
    let text = if typed == last_typed {
        typed
    } else {
        match typed
            .char_indices()
            .rev()
            .find(|(_, c)| !c.is_alphanumeric())
        {
            Some((i, c)) => &typed[..i + c.len_utf8()],
            None => "",
        }
    };
    (text != sent).then(|| text.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn tab_completes_commands_and_names() {
        use super::complete;
        let names = || {
            (
                vec!["bob".to_string(), "Bobby".into(), "John Doe".into()],
                vec!["team".to_string(), "tea club".into()],
            )
        };
        assert_eq!(complete("/ta", 3, &names), (0, vec!["/tail ".into()]));
        assert_eq!(complete("/mute", 5, &names).1, ["/mute", "/mute user"]);
        assert_eq!(
            complete("@bo", 3, &names),
            (1, vec!["bob".into(), "Bobby".into()])
        );
        assert_eq!(complete("@j", 2, &names), (1, vec!["'John Doe' ".into()]));
        assert_eq!(
            complete("@'John D", 8, &names),
            (1, vec!["'John Doe' ".into()])
        );
        assert_eq!(complete("/t #tea", 7, &names).1, ["team", "'tea club'"]);
        assert_eq!(complete("> @b", 4, &names).1, ["bob", "Bobby"]);
        assert_eq!(complete("!@bobb", 6, &names), (2, vec!["Bobby ".into()]));
        // A message's text completes nothing; nor does an address.
        assert!(complete("@bob hello th", 13, &names).1.is_empty());
        assert!(complete("mail me@bo", 10, &names).1.is_empty());
    }

    #[test]
    fn the_commands_completed_are_this_clients() {
        for cmd in super::COMMANDS {
            let known = ["", " @a", " #a", " a", " #a @b", " #a b", " a b", " #a a b"]
                .iter()
                .any(|args| {
                    !matches!(chat_core::command::parse(&format!("/{cmd}{args}")),
                        Err(e) if e.to_string().starts_with("invalid chat command"))
                });
            assert!(known, "/{cmd} is not a command here");
        }
    }

    #[test]
    fn a_live_message_is_sent_a_whole_word_at_a_time() {
        use super::live_text;
        // Still being typed: up to the last whole word, once.
        assert_eq!(
            live_text("hello wor", "hello", "hello"),
            Some("hello ".into())
        );
        assert_eq!(live_text("hello worl", "hello wor", "hello "), None);
        // Unchanged since the last look: all of it.
        assert_eq!(
            live_text("hello world", "hello world", "hello "),
            Some("hello world".into())
        );
        assert_eq!(live_text("hello world", "hello world", "hello world"), None);
        // A first word being typed: nothing yet (but an emptied line is sent).
        assert_eq!(live_text("hel", "", "hello"), Some(String::new()));
        assert_eq!(
            live_text("привет мир", "привет", "привет"),
            Some("привет ".into())
        );
    }

    #[test]
    fn control_characters_are_not_printed() {
        assert_eq!(
            super::printable("#team \u{1b}[2Jevil\r> hi\nsecond line\u{7}"),
            "#team \u{FFFD}[2Jevil\u{FFFD}> hi\nsecond line\u{FFFD}"
        );
        assert_eq!(super::printable("alice> hello 👋"), "alice> hello 👋");
    }
}
