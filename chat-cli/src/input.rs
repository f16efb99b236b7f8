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
/// `initial` (a live message's text, typed on).
pub struct Ask {
    prompt: String,
    initial: String,
}

/// The line editor's helper: it sees the line after every edit (the hinter is asked on each
/// one) and keeps it for a live message's updates; it offers no hints.
struct Watch {
    typed: Arc<Mutex<String>>,
}

impl rustyline::completion::Completer for Watch {
    type Candidate = String;
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
        let config = rustyline::Config::default();
        let Ok(mut editor) =
            rustyline::Editor::<Watch, rustyline::history::DefaultHistory>::with_config(config)
        else {
            return Self::plain();
        };
        let typed = Arc::new(Mutex::new(String::new()));
        editor.set_helper(Some(Watch {
            typed: typed.clone(),
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
                            let _ = editor.add_history_entry(l.as_str());
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
        self.read_from(prompt, "").await
    }

    /// The next line after showing `prompt`, the line starting as `initial` (the line
    /// editor's; plain lines start empty). A line already being read keeps its start.
    pub async fn read_from(
        &mut self,
        prompt: &str,
        initial: &str,
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
            } => {
                if !*reading {
                    initial.clone_into(&mut typed.lock().unwrap_or_else(|p| p.into_inner()));
                    let ask = Ask {
                        prompt: prompt.to_string(),
                        initial: initial.to_string(),
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
