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

/// Lines typed.
pub enum Input {
    /// Plain lines from stdin.
    Plain(Lines<BufReader<Stdin>>),
    /// The line editor, running on a thread of its own: a prompt in, a line (or the end) out.
    /// The next line is asked for as soon as one arrives (`reading`), so that the terminal
    /// stays in the editor's mode while a command runs: keys typed meanwhile are not lost.
    Editor {
        prompts: std::sync::mpsc::Sender<String>,
        lines: mpsc::Receiver<Option<String>>,
        reading: bool,
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
        let Ok(mut editor) = rustyline::DefaultEditor::new() else {
            return Self::plain();
        };
        if let Ok(p) = editor.create_external_printer() {
            *out.printer.lock().unwrap_or_else(|p| p.into_inner()) = Some(Box::new(p));
        }
        let (prompt_tx, prompt_rx) = std::sync::mpsc::channel::<String>();
        let (line_tx, line_rx) = mpsc::channel(1);
        std::thread::spawn(move || {
            while let Ok(prompt) = prompt_rx.recv() {
                let line = match editor.readline(&prompt) {
                    Ok(l) => {
                        if !l.trim().is_empty() {
                            let _ = editor.add_history_entry(l.as_str());
                        }
                        Some(l)
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
            prompts: prompt_tx,
            lines: line_rx,
            reading: false,
        }
    }

    /// Starts reading the next line now (without a prompt of its own), while the last one is
    /// handled: keys typed meanwhile go to the editor, not to the terminal's own line buffer.
    pub fn read_ahead(&mut self) {
        if let Self::Editor {
            prompts, reading, ..
        } = self
        {
            if !*reading {
                *reading = prompts.send(String::new()).is_ok();
            }
        }
    }

    /// Whether a typed line stays on the screen (the line editor's), so that it needs no
    /// echo.
    pub fn shows_typed(&self) -> bool {
        matches!(self, Self::Editor { .. })
    }

    /// The next line after showing `prompt` (none at the end of input).
    pub async fn read(&mut self, prompt: &str) -> std::io::Result<Option<String>> {
        match self {
            Self::Plain(lines) => {
                if !prompt.is_empty() {
                    let mut w = std::io::stdout().lock();
                    let _ = write!(w, "{prompt}");
                    let _ = w.flush();
                }
                lines.next_line().await
            }
            Self::Editor {
                prompts,
                lines,
                reading,
            } => {
                if !*reading && prompts.send(prompt.to_string()).is_err() {
                    return Ok(None);
                }
                *reading = false;
                Ok(lines.recv().await.flatten())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_are_not_printed() {
        assert_eq!(
            super::printable("#team \u{1b}[2Jevil\r> hi\nsecond line\u{7}"),
            "#team \u{FFFD}[2Jevil\u{FFFD}> hi\nsecond line\u{FFFD}"
        );
        assert_eq!(super::printable("alice> hello 👋"), "alice> hello 👋");
    }
}
