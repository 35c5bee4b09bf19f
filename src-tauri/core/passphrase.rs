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

/// Estimates strength from length, variety and obvious repetition. It is deliberately simple and
/// conservative: a long phrase of ordinary words rates well, `aaaaaaaaaaaa` or `1234567890` do not.
pub fn strength(p: &Passphrase) -> Strength {
    let text = p.expose();
    let chars: Vec<char> = text.chars().collect();
    let n = chars.len();
    if n < MIN_CHARS {
        return Strength {
            level: StrengthLevel::TooShort,
            hint: format!("Use at least {MIN_CHARS} characters ({n} so far)."),
        };
    }
    let distinct = {
        let mut c = chars.clone();
        c.sort_unstable();
        c.dedup();
        c.len()
    };
    let classes = [
        chars.iter().any(|c| c.is_lowercase()),
        chars.iter().any(|c| c.is_uppercase()),
        chars.iter().any(|c| c.is_ascii_digit()),
        chars.iter().any(|c| !c.is_alphanumeric()),
    ]
    .iter()
    .filter(|&&b| b)
    .count();
    let sequential = chars.windows(2).filter(|w| (w[1] as i64 - w[0] as i64).abs() <= 1).count();
    let repetitive = distinct * 3 < n || sequential * 10 >= (n - 1) * 7;
    let words = text.split_whitespace().filter(|w| w.chars().count() >= 3).count();

    let level = if repetitive {
        StrengthLevel::Weak
    } else if n >= 20 && (words >= 4 || classes >= 3) {
        StrengthLevel::Strong
    } else if n >= 16 || (n >= 12 && classes >= 3) {
        StrengthLevel::Good
    } else if classes >= 2 {
        StrengthLevel::Fair
    } else {
        StrengthLevel::Weak
    };
    let hint = match level {
        StrengthLevel::TooShort => unreachable_hint(),
        StrengthLevel::Weak if repetitive => {
            "Repeated or sequential characters are easy to guess: mix in unrelated words.".into()
        }
        StrengthLevel::Weak => "Easy to guess: make it longer, e.g. four or more unrelated words.".into(),
        StrengthLevel::Fair => "Fair: a few more words would make it much harder to guess.".into(),
        StrengthLevel::Good => "Good. Longer is still better.".into(),
        StrengthLevel::Strong => "Strong.".into(),
    };
    Strength { level, hint }
}

fn unreachable_hint() -> String {
    // TooShort returns early above; kept total so a future edit cannot panic here.
    format!("Use at least {MIN_CHARS} characters.")
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
    fn strength_rates_repetition_low_and_long_phrases_high() {
        assert_eq!(strength(&p("abc")).level, StrengthLevel::TooShort);
        assert_eq!(strength(&p("aaaaaaaaaaaaaaaa")).level, StrengthLevel::Weak);
        assert_eq!(strength(&p("1234567890")).level, StrengthLevel::Weak);
        assert_eq!(strength(&p("abcdefghijkl")).level, StrengthLevel::Weak);
        assert_eq!(strength(&p("Tr0ub4dor&3x")).level, StrengthLevel::Good);
        assert_eq!(strength(&p("orbit velvet canyon lantern")).level, StrengthLevel::Strong);
        assert!(strength(&p("passwordpw")).level <= StrengthLevel::Fair);
    }
}
