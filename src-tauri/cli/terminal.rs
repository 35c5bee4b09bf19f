//! What `keyhold chat` lets reach a terminal: a model's answer is text, and text must not drive
//! the terminal. Escape sequences (colours, cursor moves, OSC 52 clipboard writes, title
//! changes) and other control characters are dropped; newlines and tabs stay. The filter keeps
//! its state between pieces, because a sequence can be split across two pieces of a stream.

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    #[default]
    Text,
    /// After ESC.
    Escape,
    /// Inside `ESC [` … final byte.
    Csi,
    /// Inside `ESC ]` … BEL or `ESC \`.
    Osc,
    /// ESC inside an OSC: `\` ends it.
    OscEscape,
}

#[derive(Debug, Default)]
pub struct TerminalFilter {
    state: State,
}

impl TerminalFilter {
    /// The printable part of `piece`.
    pub fn filter(&mut self, piece: &str) -> String {
        let mut out = String::with_capacity(piece.len());
        for c in piece.chars() {
            self.state = match (self.state, c) {
                (State::Text, '\u{1b}') => State::Escape,
                (State::Text, '\u{9b}') => State::Csi,
                (State::Text, '\u{9d}') => State::Osc,
                (State::Text, '\n' | '\t') => {
                    out.push(c);
                    State::Text
                }
                (State::Text, c) if c.is_control() => State::Text,
                (State::Text, c) => {
                    out.push(c);
                    State::Text
                }
                (State::Escape, '[') => State::Csi,
                (State::Escape, ']' | 'P' | '_' | '^') => State::Osc,
                // Any other escape is one character long.
                (State::Escape, _) => State::Text,
                // A CSI ends at its final byte, @ through ~.
                (State::Csi, '@'..='~') => State::Text,
                (State::Csi, _) => State::Csi,
                (State::Osc, '\u{7}' | '\u{9c}') => State::Text,
                (State::Osc, '\u{1b}') => State::OscEscape,
                (State::Osc, _) => State::Osc,
                (State::OscEscape, '\\') => State::Text,
                (State::OscEscape, _) => State::Osc,
            };
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_never_reach_the_terminal_even_split_across_pieces() {
        let hostile =
            "Hi\u{1b}]52;c;ZWNobyBwd25lZA==\u{7} there\u{1b}[31m red\u{1b}[0m\r\n\u{1b}]0;title\u{1b}\\ok\tdone\u{7}";
        let whole = TerminalFilter::default().filter(hostile);
        assert_eq!(whole, "Hi there red\nok\tdone");
        // Cut anywhere: the same text comes out.
        for cut in 0..=hostile.len() {
            if !hostile.is_char_boundary(cut) {
                continue;
            }
            let mut f = TerminalFilter::default();
            let out = f.filter(&hostile[..cut]) + &f.filter(&hostile[cut..]);
            assert_eq!(out, whole, "cut at {cut}");
        }
    }

    #[test]
    fn ordinary_text_passes_unchanged() {
        let text = "Grüße aus 東京 🦊 — 1 < 2, [links](x) and `code`\n\tindented";
        assert_eq!(TerminalFilter::default().filter(text), text);
    }
}
