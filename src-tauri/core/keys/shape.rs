//! What a pasted key looks like: trimming, shape warnings, and the masked form shown afterwards.

use zeroize::Zeroizing;

use super::KeyError;
use crate::providers::Provider;

pub struct Prepared {
    pub secret: Zeroizing<String>,
    pub warnings: Vec<String>,
}

/// Trims what a paste adds (spaces, newlines) and says so; warns when the key does not look like
/// the provider's, without refusing it: providers change their key formats.
pub fn prepare_secret(raw: &str, p: &Provider) -> Result<Prepared, KeyError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(KeyError::EmptySecret);
    }
    let mut warnings = Vec::new();
    if trimmed.len() != raw.len() {
        warnings.push("Removed spaces or line breaks around the pasted key.".to_string());
    }
    if trimmed.chars().any(char::is_whitespace) {
        warnings.push("The key contains spaces or line breaks inside it; check that it was pasted whole.".to_string());
    }
    if let Some(prefix) = &p.key_prefix {
        if !trimmed.starts_with(prefix.as_str()) {
            warnings.push(format!(
                "{} keys usually start with \"{prefix}\"; this one does not. It was kept: test it to be sure.",
                p.name
            ));
        }
    }
    Ok(Prepared { secret: Zeroizing::new(trimmed.to_string()), warnings })
}

/// `sk-ant-…9xQ2`: the provider's known prefix (if the key has it) and the last four characters.
/// Short keys show only the last two, so a mask never reveals most of a key.
pub fn mask(secret: &str, p: &Provider) -> String {
    let prefix = p.key_prefix.as_deref().filter(|pre| secret.starts_with(pre)).unwrap_or("");
    let chars: Vec<char> = secret.chars().collect();
    let tail_len = if chars.len() >= 16 { 4 } else { 2.min(chars.len()) };
    let tail: String = chars[chars.len() - tail_len..].iter().collect();
    format!("{prefix}…{tail}")
}
