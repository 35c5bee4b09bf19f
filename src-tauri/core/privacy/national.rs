//! National identifiers, each accepted only when its own rule holds: check digits where the
//! number has them, the published invalid ranges where it does not. A number that merely has
//! the right shape (an order number, a timestamp) is not one of these.

/// A US Social Security number (`AAA-GG-SSSS`): never area 000, 666 or 900–999, group 00 or
/// serial 0000 (the SSA's published never-issued ranges), nor the advertising number
/// 078-05-1120.
pub fn us_ssn(value: &str) -> bool {
    let d = digits(value);
    if d.len() != 9 {
        return false;
    }
    let (area, group, serial) = (num(&d[0..3]), num(&d[3..5]), num(&d[5..9]));
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0 && d != "078051120"
}

/// A UK National Insurance number (`AB 12 34 56 C`): the prefix letters HMRC never issues (D,
/// F, I, Q, U, V; O second; BG, GB, KN, NK, NT, TN, ZZ) and a suffix A–D.
pub fn uk_nino(value: &str) -> bool {
    let s: Vec<char> = value.chars().filter(|c| !c.is_whitespace()).collect();
    if s.len() != 9 || !s[2..8].iter().all(char::is_ascii_digit) || !matches!(s[8], 'A'..='D') {
        return false;
    }
    let (a, b) = (s[0], s[1]);
    let bad_first = matches!(a, 'D' | 'F' | 'I' | 'Q' | 'U' | 'V');
    let bad_second = matches!(b, 'D' | 'F' | 'I' | 'O' | 'Q' | 'U' | 'V');
    let prefix: String = [a, b].iter().collect();
    a.is_ascii_uppercase()
        && b.is_ascii_uppercase()
        && !bad_first
        && !bad_second
        && !matches!(prefix.as_str(), "BG" | "GB" | "KN" | "NK" | "NT" | "TN" | "ZZ")
}

/// A German Steuer-ID (11 digits): no leading 0; in the first ten, one digit appears twice or
/// three times and the rest at most once; the last is the ISO 7064 MOD 11,10 check digit.
pub fn de_steuer_id(value: &str) -> bool {
    let d: Vec<u32> = value.chars().filter_map(|c| c.to_digit(10)).collect();
    if d.len() != 11 || d[0] == 0 {
        return false;
    }
    let mut seen = [0u8; 10];
    for &x in &d[..10] {
        seen[x as usize] += 1;
    }
    let repeated: Vec<u8> = seen.iter().copied().filter(|n| *n > 1).collect();
    if repeated.len() != 1 || !matches!(repeated[0], 2 | 3) {
        return false;
    }
    let mut product = 10;
    for &x in &d[..10] {
        let mut sum = (x + product) % 10;
        if sum == 0 {
            sum = 10;
        }
        product = (sum * 2) % 11;
    }
    let check = (11 - product) % 10;
    check == d[10]
}

/// A French NIR (numéro de sécurité sociale, 13 digits and a 2-digit key): the key is 97 minus
/// the number mod 97 (Corsica's 2A and 2B counted as 19 and 18).
pub fn fr_nir(value: &str) -> bool {
    let s: String = value.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_uppercase();
    if s.len() != 15 {
        return false;
    }
    let (body, key) = s.split_at(13);
    let body = body.replacen("2A", "19", 1).replacen("2B", "18", 1);
    if !body.chars().all(|c| c.is_ascii_digit()) || !key.chars().all(|c| c.is_ascii_digit()) {
        return false;
    }
    let Ok(n) = body.parse::<u64>() else { return false };
    matches!(&s[..1], "1" | "2") && 97 - n % 97 == num(key) as u64
}

const DNI_LETTERS: &[u8; 23] = b"TRWAGMYFPDXBNJZSQVHLCKE";

/// A Spanish DNI (8 digits and a letter) or NIE (X, Y or Z, 7 digits and a letter): the letter
/// is the number mod 23 in the published table.
pub fn es_dni(value: &str) -> bool {
    let s: String = value.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_uppercase();
    if s.len() != 9 {
        return false;
    }
    let (number, letter) = s.split_at(8);
    let number = match number.as_bytes()[0] {
        b'X' => format!("0{}", &number[1..]),
        b'Y' => format!("1{}", &number[1..]),
        b'Z' => format!("2{}", &number[1..]),
        _ => number.to_string(),
    };
    let Ok(n) = number.parse::<u64>() else { return false };
    number.chars().all(|c| c.is_ascii_digit()) && letter.as_bytes()[0] == DNI_LETTERS[(n % 23) as usize]
}

/// An Italian codice fiscale (16 characters): its last letter is the check character of the
/// other fifteen (odd and even places weighted by the published tables).
pub fn it_codice_fiscale(value: &str) -> bool {
    const ODD: [u32; 26] =
        [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23];
    let s: Vec<u8> = value.bytes().map(|b| b.to_ascii_uppercase()).collect();
    if s.len() != 16 || !s.iter().all(u8::is_ascii_alphanumeric) || !s[15].is_ascii_uppercase() {
        return false;
    }
    let mut sum = 0;
    for (i, &c) in s[..15].iter().enumerate() {
        // Digits count as the letter of the same place (0 as A, …).
        let index = if c.is_ascii_digit() { (c - b'0') as usize } else { (c - b'A') as usize };
        sum += if i % 2 == 0 { ODD[index] } else { index as u32 };
    }
    s[15] == b'A' + (sum % 26) as u8
}

/// A Dutch BSN (9 digits): the "elfproef", 9·d1 + 8·d2 + … + 2·d8 − d9 a multiple of 11, and
/// not all zeros.
pub fn nl_bsn(value: &str) -> bool {
    let d: Vec<i64> = value.chars().filter_map(|c| c.to_digit(10)).map(i64::from).collect();
    if d.len() != 9 || d.iter().all(|x| *x == 0) {
        return false;
    }
    let sum: i64 = d[..8].iter().enumerate().map(|(i, x)| (9 - i as i64) * x).sum::<i64>() - d[8];
    sum % 11 == 0
}

fn digits(value: &str) -> String {
    value.chars().filter(char::is_ascii_digit).collect()
}

fn num(s: &str) -> u32 {
    s.parse().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn us_ssns_outside_the_never_issued_ranges_only() {
        assert!(us_ssn("123-45-6789") && us_ssn("536 22 1187"));
        for bad in ["000-12-3456", "666-12-3456", "912-34-5678", "123-00-4567", "123-45-0000", "078-05-1120"] {
            assert!(!us_ssn(bad), "{bad}");
        }
    }

    #[test]
    fn uk_ninos_with_issued_prefixes_only() {
        assert!(uk_nino("AB 12 34 56 C") && uk_nino("JG103759A"));
        for bad in ["DA123456A", "AO123456A", "GB123456A", "AB123456E", "AB12345A"] {
            assert!(!uk_nino(bad), "{bad}");
        }
    }

    #[test]
    fn german_tax_ids_by_digit_rule_and_check_digit() {
        // The Federal Central Tax Office's published example, and a look-alike one digit off.
        assert!(de_steuer_id("86095742719") && de_steuer_id("86 095 742 719"));
        assert!(!de_steuer_id("86095742718"), "wrong check digit");
        assert!(!de_steuer_id("12345678903"), "every digit once: not a Steuer-ID");
        assert!(!de_steuer_id("06095742719"), "no leading zero");
    }

    #[test]
    fn french_nirs_by_their_key_corsica_included() {
        assert!(fr_nir("1 85 05 78 006 084 91") && fr_nir("185057800608491"));
        assert!(!fr_nir("185057800608492"));
        // 2A (Corse-du-Sud): counted as 19.
        let body = "269052A123456";
        let n: u64 = body.replacen("2A", "19", 1).parse().unwrap();
        let key = 97 - n % 97;
        assert!(fr_nir(&format!("{body}{key:02}")));
    }

    #[test]
    fn spanish_dni_and_nie_letters() {
        assert!(es_dni("12345678Z") && es_dni("X1234567L") && es_dni("Y0000000Z"));
        assert!(!es_dni("12345678A") && !es_dni("X1234567A"));
    }

    #[test]
    fn italian_codici_fiscali_by_their_check_character() {
        assert!(it_codice_fiscale("RSSMRA85T10A562S"));
        assert!(!it_codice_fiscale("RSSMRA85T10A562T"));
    }

    #[test]
    fn dutch_bsns_by_the_elfproef() {
        assert!(nl_bsn("111222333") && nl_bsn("123456782"));
        assert!(!nl_bsn("123456789") && !nl_bsn("000000000"));
    }
}
