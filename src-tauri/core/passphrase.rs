//! The vault passphrase: how it is held in memory, and what a new one must satisfy.
//!
//! The passphrase only ever lives in a [`Passphrase`], whose memory is wiped on drop and whose
//! `Debug` prints a redaction, so it cannot slip into a log line or an error by formatting.

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use specta::Type;

/// Shortest passphrase accepted for a new vault. Ten characters is the floor 1Password sets for
/// its account password; Argon2id makes each guess expensive, length makes the space large.
pub const MIN_CHARS: usize = 10;

/// A passphrase held in zeroizing memory.
#[derive(Clone)]
pub struct Passphrase(SecretString);

impl Passphrase {
    /// Takes ownership of the text. A single trailing newline (from a file or a pipe) is dropped:
    /// `echo pass > file` must give the same vault as typing `pass` at the prompt.
    pub fn new(text: String) -> Self {
        let mut text = text;
        if text.ends_with('\n') {
            text.pop();
            if text.ends_with('\r') {
                text.pop();
            }
        }
        Passphrase(SecretString::from(text))
    }

    pub(crate) fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    pub fn is_empty(&self) -> bool {
        self.expose().is_empty()
    }

    fn char_count(&self) -> usize {
        self.expose().chars().count()
    }
}

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passphrase([redacted])")
    }
}

/// Why a new passphrase was refused. Messages are shown to the user as they are.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PassphraseError {
    #[error("Enter a passphrase.")]
    Empty,
    #[error("The passphrase is too short: use at least {min} characters (it has {got}).")]
    TooShort { min: usize, got: usize },
    #[error("The two passphrases do not match. Type the same passphrase twice.")]
    Mismatch,
    #[error("The new passphrase is the same as the current one. Choose a different passphrase.")]
    Unchanged,
}

/// How hard a passphrase looks to guess: a hint for the first-run screen, not a gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Type)]
#[serde(rename_all = "lowercase")]
pub enum StrengthLevel {
    TooShort,
    Weak,
    Fair,
    Good,
    Strong,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type)]
pub struct Strength {
    pub level: StrengthLevel,
    /// One sentence telling the user how to do better, or that it is fine.
    pub hint: String,
}

/// Estimates how hard the passphrase is to guess with zxcvbn (dictionaries, keyboard walks,
/// sequences, repeats, dates, l33t), the estimator password managers use. Only the score and
/// zxcvbn's generic advice leave this function, never a piece of the passphrase.
pub fn strength(p: &Passphrase) -> Strength {
    let n = p.char_count();
    if n < MIN_CHARS {
        return Strength {
            level: StrengthLevel::TooShort,
            hint: format!("Use at least {MIN_CHARS} characters ({n} so far)."),
        };
    }
    let estimate = zxcvbn::zxcvbn(p.expose(), &["keyhold", "vault", "passphrase"]);
    let level = match estimate.score() {
        zxcvbn::Score::Zero | zxcvbn::Score::One => StrengthLevel::Weak,
        zxcvbn::Score::Two => StrengthLevel::Fair,
        zxcvbn::Score::Three => StrengthLevel::Good,
        _ => StrengthLevel::Strong,
    };
    let advice = estimate.feedback().and_then(|f| f.warning().map(|w| w.to_string()));
    let hint = match (level, advice) {
        (StrengthLevel::Strong, _) => "Strong.".to_string(),
        (StrengthLevel::Good, _) => "Good. Longer is still better.".to_string(),
        (_, Some(warning)) => format!("{warning} Add a few more unrelated words."),
        (StrengthLevel::Fair, None) => "Fair: a few more words would make it much harder to guess.".to_string(),
        (_, None) => "Easy to guess: make it longer, e.g. four or more unrelated words.".to_string(),
    };
    Strength { level, hint }
}

/// Checks a new passphrase typed twice. `confirm` is `None` when it came from a file or a pipe,
/// where a typo cannot happen the way it does at a prompt.
pub fn check_new(new: &Passphrase, confirm: Option<&Passphrase>) -> Result<(), PassphraseError> {
    if new.is_empty() {
        return Err(PassphraseError::Empty);
    }
    let got = new.char_count();
    if got < MIN_CHARS {
        return Err(PassphraseError::TooShort { min: MIN_CHARS, got });
    }
    if let Some(confirm) = confirm {
        if confirm.expose() != new.expose() {
            return Err(PassphraseError::Mismatch);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Passphrase {
        Passphrase::new(s.to_string())
    }

    #[test]
    fn debug_never_shows_the_passphrase() {
        let shown = format!("{:?}", p("canary-horse-battery-9931"));
        assert!(!shown.contains("canary"), "{shown}");
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn one_trailing_newline_from_a_file_is_not_part_of_the_passphrase() {
        assert_eq!(p("correct horse\n").expose(), "correct horse");
        assert_eq!(p("correct horse\r\n").expose(), "correct horse");
        assert_eq!(p("two newlines\n\n").expose(), "two newlines\n");
        assert_eq!(p(" spaces kept ").expose(), " spaces kept ");
    }

    #[test]
    fn new_passphrases_are_checked_for_length_and_match() {
        assert_eq!(check_new(&p(""), None), Err(PassphraseError::Empty));
        assert_eq!(check_new(&p("short"), None), Err(PassphraseError::TooShort { min: 10, got: 5 }));
        // characters, not bytes: nine accented letters are still too short
        assert!(matches!(check_new(&p("ééééééééé"), None), Err(PassphraseError::TooShort { got: 9, .. })));
        assert_eq!(check_new(&p("long enough phrase"), Some(&p("long enough phrasE"))), Err(PassphraseError::Mismatch));
        assert_eq!(check_new(&p("long enough phrase"), Some(&p("long enough phrase"))), Ok(()));
    }

    #[test]
    fn strength_rates_guessable_phrases_low_and_long_unrelated_words_high() {
        assert_eq!(strength(&p("abc")).level, StrengthLevel::TooShort);
        for weak in ["aaaaaaaaaaaaaaaa", "1234567890", "abcdefghijkl", "password123", "qwertyuiop", "keyhold2026"] {
            assert_eq!(strength(&p(weak)).level, StrengthLevel::Weak, "{weak}");
        }
        assert!(strength(&p("Tr0ub4dor&3x")).level >= StrengthLevel::Fair);
        assert_eq!(strength(&p("orbit velvet canyon lantern")).level, StrengthLevel::Strong);
    }

    #[test]
    fn the_strength_hint_never_repeats_the_passphrase() {
        for text in ["password123", "canarycanarycanary", "orbit velvet canyon lantern"] {
            let s = strength(&p(text));
            assert!(!s.hint.to_lowercase().contains("canary") && !s.hint.contains("password123"), "{}", s.hint);
        }
    }
}
