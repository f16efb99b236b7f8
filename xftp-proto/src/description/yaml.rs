//! A minimal YAML document tree read with a real YAML parser (`yaml-rust2`'s event parser),
//! and the canonical emitter for descriptions.
//!
//! The tree keeps every scalar as the text it was written as (quoted or not), refuses aliases
//! (no "billion laughs"), and bounds depth and node count.

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// Deepest nesting accepted (a description needs 4).
const MAX_DEPTH: usize = 16;
/// Most nodes accepted (a 5 GiB file with 4 replicas needs ~6,000).
const MAX_NODES: usize = 200_000;

/// A YAML node with scalars kept as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    Scalar(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
}

impl Node {
    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Parses one YAML document into a [`Node`] tree.
pub(crate) fn parse(text: &str) -> Result<Node, String> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser
        .load(&mut builder, false)
        .map_err(|e| e.to_string())?;
    if let Some(e) = builder.error {
        return Err(e);
    }
    builder.root.ok_or_else(|| "empty document".to_string())
}

#[derive(Default)]
struct Builder {
    stack: Vec<Partial>,
    root: Option<Node>,
    nodes: usize,
    error: Option<String>,
}

enum Partial {
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>, Option<String>),
}

impl Builder {
    fn fail(&mut self, msg: String) {
        if self.error.is_none() {
            self.error = Some(msg);
        }
    }

    fn add(&mut self, node: Node, mark: Marker) {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return self.fail(format!("more than {MAX_NODES} YAML nodes"));
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_some() {
                    return self.fail("more than one YAML document".into());
                }
                self.root = Some(node);
            }
            Some(Partial::Seq(items)) => items.push(node),
            Some(Partial::Map(entries, key)) => match key.take() {
                None => match node {
                    Node::Scalar(k) => {
                        if entries.iter().any(|(e, _)| *e == k) {
                            let msg = format!("duplicate key {k:?} at line {}", mark.line());
                            return self.fail(msg);
                        }
                        *key = Some(k);
                    }
                    _ => self.fail(format!("non-scalar key at line {}", mark.line())),
                },
                Some(k) => entries.push((k, node)),
            },
        }
    }

    fn open(&mut self, p: Partial, mark: Marker) {
        if self.stack.len() >= MAX_DEPTH {
            return self.fail(format!(
                "YAML nested deeper than {MAX_DEPTH} at line {}",
                mark.line()
            ));
        }
        self.stack.push(p);
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        match ev {
            Event::Scalar(value, ..) => self.add(Node::Scalar(value), mark),
            Event::SequenceStart(..) => self.open(Partial::Seq(Vec::new()), mark),
            Event::MappingStart(..) => self.open(Partial::Map(Vec::new(), None), mark),
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Partial::Seq(items)) => self.add(Node::Seq(items), mark),
                Some(Partial::Map(entries, None)) => self.add(Node::Map(entries), mark),
                Some(Partial::Map(_, Some(_))) | None => {
                    self.fail(format!("unbalanced YAML at line {}", mark.line()))
                }
            },
            Event::Alias(_) => self.fail(format!(
                "YAML aliases are not supported (line {})",
                mark.line()
            )),
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

/// Writes a scalar as the reference's YAML library would: plain when that reads back as the
/// same string, single-quoted otherwise.
pub(crate) fn scalar(s: &str) -> String {
    if plain_is_safe(s) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

/// Words and number-like strings that a YAML reader would not take as strings, and text that
/// the plain style cannot hold.
fn plain_is_safe(s: &str) -> bool {
    const SPECIAL: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
        "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL", "~", "*",
    ];
    if s.is_empty() || SPECIAL.contains(&s) {
        return false;
    }
    let numeric =
        s.bytes().all(|b| b"+-.0123456789eE".contains(&b)) && s.bytes().any(|b| b.is_ascii_digit());
    if numeric {
        return false;
    }
    let first = s.as_bytes()[0];
    if b"?:,[]{}#&*!|>'\"%@`".contains(&first) || first == b' ' {
        return false;
    }
    if first == b'-' && s.len() == 1 || s.starts_with("- ") {
        return false;
    }
    !(s.ends_with(' ')
        || s.ends_with(':')
        || s.contains(": ")
        || s.contains(" #")
        || s.chars().any(|c| c.is_control()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_keep_their_text() {
        let n = parse("a: 0012\nb: '1'\nc: \"x y\"\nd:\n- 1\n- yes\n").unwrap();
        assert_eq!(n.get("a"), Some(&Node::Scalar("0012".into())));
        assert_eq!(n.get("b"), Some(&Node::Scalar("1".into())));
        assert_eq!(n.get("c"), Some(&Node::Scalar("x y".into())));
        assert_eq!(
            n.get("d"),
            Some(&Node::Seq(vec![
                Node::Scalar("1".into()),
                Node::Scalar("yes".into())
            ]))
        );
    }

    #[test]
    fn hostile_yaml_is_refused() {
        assert!(parse("a: &x [1]\nb: *x\n").unwrap_err().contains("alias"));
        assert!(parse("a: 1\na: 2\n").unwrap_err().contains("duplicate"));
        let deep = format!("{}1{}", "[".repeat(40), "]".repeat(40));
        assert!(parse(&deep).unwrap_err().contains("deeper"));
        assert!(parse("a: [").is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn quoting() {
        assert_eq!(scalar("4mb"), "4mb");
        assert_eq!(scalar("1023"), "'1023'");
        assert_eq!(scalar("yes"), "'yes'");
        assert_eq!(scalar("-GCDK0SfzP0="), "-GCDK0SfzP0=");
        assert_eq!(scalar("xftp://abc=@h:1"), "xftp://abc=@h:1");
        assert_eq!(scalar("it's: x"), "'it''s: x'");
        assert_eq!(scalar(""), "''");
        for s in ["1023", "yes", "it's: x", "", "-", "#x", "a #b"] {
            let doc = format!("k: {}\n", scalar(s));
            assert_eq!(
                parse(&doc).unwrap().get("k"),
                Some(&Node::Scalar(s.into())),
                "{s}"
            );
        }
    }
}
