//! The region whose national phone numbers are found without a context word: a protected
//! setting (changing it decides what leaves the machine), defaulting to the system locale's
//! country.

use rusqlite::Connection;
use serde::Serialize;
use specta::Type;

use super::Region;
use crate::integrity::{self, Tampered, Unlocked};

pub const SETTING: &str = "privacy.phone_region";

/// What the user chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// The system locale's country (the default).
    System,
    /// No region: a national number needs a context word ("call", "Telefon" …).
    Off,
    Given(Region),
}

impl Choice {
    /// `system`, `none`, or a country code (`DE`).
    pub fn parse(text: &str) -> Result<Choice, RegionError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "system" | "" => Ok(Choice::System),
            "none" | "off" => Ok(Choice::Off),
            code => Region::parse(code).map(Choice::Given).ok_or_else(|| RegionError::Unknown(text.trim().into())),
        }
    }

    fn as_setting(&self) -> String {
        match self {
            Choice::System => "system".into(),
            Choice::Off => "none".into(),
            Choice::Given(r) => r.code().to_string(),
        }
    }

    /// The region it gives on this machine.
    pub fn region(&self) -> Option<Region> {
        match self {
            Choice::System => Region::of_system(),
            Choice::Off => None,
            Choice::Given(r) => Some(*r),
        }
    }
}

/// The setting as the window and `keyhold phone-region` show it.
#[derive(Debug, Clone, Serialize, Type)]
pub struct PhoneRegion {
    /// `system`, `none`, or the country code chosen.
    pub choice: String,
    /// The country code in effect (none: national numbers need a context word).
    pub region: Option<String>,
    /// The system locale's country, whatever the choice.
    pub system: Option<String>,
}

impl From<&Choice> for PhoneRegion {
    fn from(c: &Choice) -> PhoneRegion {
        PhoneRegion {
            choice: c.as_setting(),
            region: c.region().map(|r| r.code().to_string()),
            system: Region::of_system().map(|r| r.code().to_string()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegionError {
    #[error("\"{0}\" is not a country code Keyhold knows for phone numbers: give a two-letter code such as DE, US or FR, \"system\" for the system's, or \"none\".")]
    Unknown(String),
    #[error(transparent)]
    Changed(#[from] Tampered),
    #[error("Database error: {0}")]
    Db(#[from] rusqlite::Error),
}

impl crate::error::Kinded for RegionError {
    fn kind(&self) -> crate::error::ErrorKind {
        use crate::error::ErrorKind;
        match self {
            RegionError::Unknown(_) => ErrorKind::Usage,
            RegionError::Changed(_) => ErrorKind::ChangedOutsideKeyhold,
            RegionError::Db(_) => ErrorKind::Database,
        }
    }
}

fn changed() -> Tampered {
    Tampered::new("The phone region setting", "Choose the region for phone numbers again on the Privacy page.")
}

/// The user's choice; a setting changed by hand is refused (a region removed would let national
/// numbers through).
pub fn choice(conn: &Connection, u: &Unlocked) -> Result<Choice, RegionError> {
    match integrity::get_setting(conn, u, SETTING)? {
        Ok(None) => Ok(Choice::System),
        Ok(Some(v)) => Choice::parse(&v).map_err(|_| changed().into()),
        Err(()) => Err(changed().into()),
    }
}

pub fn set(conn: &Connection, u: &Unlocked, choice: &Choice) -> Result<(), RegionError> {
    integrity::set_setting(conn, u, SETTING, &choice.as_setting())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_region_is_kept_signed_and_a_hand_edit_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::db::open(&dir.path().join("k.db")).unwrap();
        let u = integrity::for_tests();
        assert_eq!(choice(&conn, &u).unwrap(), Choice::System);
        set(&conn, &u, &Choice::parse("fr").unwrap()).unwrap();
        assert_eq!(choice(&conn, &u).unwrap().region().map(|r| r.code().to_string()), Some("FR".into()));
        assert!(matches!(Choice::parse("Narnia"), Err(RegionError::Unknown(_))));
        conn.execute("UPDATE settings SET value = 'none' WHERE key = ?1", [SETTING]).unwrap();
        let err = choice(&conn, &u).unwrap_err();
        assert!(err.to_string().contains("The phone region setting was changed outside Keyhold"), "{err}");
    }
}
