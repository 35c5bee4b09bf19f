//! The labelled corpus the recognizers are measured on, made by a seeded generator: planted
//! values of every kind in prose, chat, e-mails, logs, code and JSON, in English, German,
//! French, Spanish and Japanese; and negatives that look similar but are not sensitive (UUIDs,
//! git SHAs, lock-file hashes, versions, dates, colours, order numbers, sample code).
//! The same seed always gives the same corpus.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::Kind;

pub struct Sample {
    pub text: String,
    /// Planted values: kind and exact text.
    pub planted: Vec<(Kind, String)>,
    /// The user's phone region the text is read in (national numbers without a context word).
    pub region: Option<super::Region>,
}

/// "keyhold" in ASCII.
pub const SEED: u64 = 0x006b_6579_686f_6c64;

pub const DICTIONARY: &[&str] =
    &["Project Nightingale", "Acme Holdings", "Elena Petrova", "Bluefin", "Kowalski & Partners"];

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const UPPER_DIGIT: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const HEX: &[u8] = b"0123456789abcdef";

fn chars(rng: &mut StdRng, set: &[u8], n: usize) -> String {
    (0..n).map(|_| set[rng.gen_range(0..set.len())] as char).collect()
}

fn digits(rng: &mut StdRng, n: usize) -> String {
    chars(rng, b"0123456789", n)
}

fn secret(rng: &mut StdRng) -> (String, String) {
    // (value, how it is written around the value: {} is the value)
    let v = match rng.gen_range(0..18) {
        0 => format!("sk-ant-api03-{}", chars(rng, ALNUM, 80)),
        1 => format!("sk-proj-{}", chars(rng, ALNUM, 48)),
        2 => format!("sk-{}", chars(rng, ALNUM, 48)),
        3 => format!("AIza{}", chars(rng, ALNUM, 35)),
        4 => format!("xai-{}", chars(rng, ALNUM, 60)),
        5 => format!("gsk_{}", chars(rng, ALNUM, 52)),
        6 => format!("csk-{}", chars(rng, ALNUM, 48)),
        7 => format!("AKIA{}", chars(rng, UPPER_DIGIT, 16)),
        8 => format!("ghp_{}", chars(rng, ALNUM, 36)),
        9 => format!("github_pat_{}_{}", chars(rng, ALNUM, 22), chars(rng, ALNUM, 59)),
        10 => format!("glpat-{}", chars(rng, ALNUM, 20)),
        11 => format!("xoxb-{}-{}-{}", digits(rng, 12), digits(rng, 13), chars(rng, ALNUM, 24)),
        12 => format!("sk_live_{}", chars(rng, ALNUM, 24)),
        13 => format!("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ{}.{}", chars(rng, ALNUM, 40), chars(rng, ALNUM, 43)),
        14 => format!("tgp_v1_{}", chars(rng, ALNUM, 43)),
        15 => format!("sk-or-v1-{}", chars(rng, HEX, 64)),
        16 => {
            let body: Vec<String> = (0..6).map(|_| chars(rng, ALNUM, 64)).collect();
            format!("-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----", body.join("\n"))
        }
        _ => {
            // A password in an assignment or a URL.
            let pw = format!("{}{}!{}", chars(rng, ALNUM, 6), digits(rng, 2), chars(rng, ALNUM, 4));
            return match rng.gen_range(0..5) {
                0 => (pw.clone(), format!("password = \"{pw}\"")),
                1 => (pw.clone(), format!("DB_PASSWORD={pw}")),
                2 => (pw.clone(), format!("postgres://app:{pw}@db.internal:5432/orders")),
                3 => {
                    let key = format!("{pw}{}", chars(rng, ALNUM, 12));
                    (key.clone(), format!("\"api_key\": \"{key}\""))
                }
                _ => (pw.clone(), format!("my password is {pw}")),
            };
        }
    };
    (v.clone(), v)
}

const FIRST: &[&str] =
    &["anna", "jonas", "marie", "li", "sofia", "omar", "yuki", "pierre", "lucia", "ben", "mia", "noah"];
const LAST: &[&str] = &["schmidt", "dubois", "garcia", "tanaka", "nguyen", "oconnor", "rossi", "kim", "novak", "silva"];
const DOMAINS: &[&str] = &[
    "example.org",
    "mail.example.com",
    "acme-corp.de",
    "uni-bonn.de",
    "startup.io",
    "example.co.uk",
    "correo.es",
    "yahoo.co.jp",
];

fn email(rng: &mut StdRng) -> String {
    let (f, l, d) = (FIRST.choose(rng).unwrap(), LAST.choose(rng).unwrap(), DOMAINS.choose(rng).unwrap());
    match rng.gen_range(0..4) {
        0 => format!("{f}.{l}@{d}"),
        1 => format!("{f}{}@{d}", rng.gen_range(1..99)),
        2 => format!("{f}+invoices@{d}"),
        _ => format!("{}{l}@{d}", &f[..1]),
    }
}

/// A phone number the library itself calls valid, in the ways people write them; the context
/// word (when national) is part of the text, not of the value.
fn phone(rng: &mut StdRng) -> (String, String, Option<super::Region>) {
    loop {
        let (value, context) = match rng.gen_range(0..13) {
            0 => (
                format!(
                    "+1 {} {}-{}",
                    ["212", "415", "646", "312", "617", "206"].choose(rng).unwrap(),
                    rng.gen_range(200..999),
                    digits(rng, 4)
                ),
                "",
            ),
            1 => (
                format!(
                    "({}) {}-{}",
                    ["212", "415", "646", "312", "617"].choose(rng).unwrap(),
                    rng.gen_range(200..999),
                    digits(rng, 4)
                ),
                "call me at",
            ),
            2 => (format!("+44 20 7946 0{}", digits(rng, 3)), ""),
            3 => (format!("+49 30 {}", digits(rng, 8)), ""),
            4 => (format!("+49 151 {}", digits(rng, 8)), ""),
            5 => (format!("030 {}", digits(rng, 7)), "Telefon:"),
            6 => (format!("+33 6 {} {} {} {}", digits(rng, 2), digits(rng, 2), digits(rng, 2), digits(rng, 2)), ""),
            7 => (format!("+81 3-{}-{}", digits(rng, 4), digits(rng, 4)), ""),
            // National numbers with no context word, read in their region.
            8 => (
                format!(
                    "({}) {}-{}",
                    ["212", "415", "646"].choose(rng).unwrap(),
                    rng.gen_range(200..999),
                    digits(rng, 4)
                ),
                "US",
            ),
            9 => (format!("030 {}", digits(rng, 8)), "DE"),
            10 => (format!("06 {} {} {} {}", digits(rng, 2), digits(rng, 2), digits(rng, 2), digits(rng, 2)), "FR"),
            11 => (format!("6{} {} {} {}", digits(rng, 2), digits(rng, 2), digits(rng, 2), digits(rng, 2)), "ES"),
            _ => (format!("03-{}-{}", digits(rng, 4), digits(rng, 4)), "JP"),
        };
        if let Some(region) = super::Region::parse(context) {
            let valid = phonenumber::parse(Some(context.parse().expect("a region")), &value)
                .is_ok_and(|n| phonenumber::is_valid(&n));
            if valid {
                return (value.clone(), value, Some(region));
            }
            continue;
        }
        let international = value.starts_with('+');
        let parsed = if international {
            phonenumber::parse(None, &value)
        } else if context == "Telefon:" {
            phonenumber::parse(Some(phonenumber::country::Id::DE), &value)
        } else {
            phonenumber::parse(Some(phonenumber::country::Id::US), &value)
        };
        if parsed.is_ok_and(|n| phonenumber::is_valid(&n)) {
            let written = if context.is_empty() { value.clone() } else { format!("{context} {value}") };
            return (value, written, None);
        }
    }
}

fn card(rng: &mut StdRng) -> String {
    let (prefix, len) =
        *[("4", 16), ("51", 16), ("55", 16), ("37", 15), ("6011", 16), ("2221", 16)].choose(rng).unwrap();
    let mut d: Vec<u32> = prefix.chars().map(|c| c.to_digit(10).unwrap()).collect();
    while d.len() < len - 1 {
        d.push(rng.gen_range(0..10));
    }
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| {
            if i % 2 == 0 {
                if x * 2 > 9 {
                    x * 2 - 9
                } else {
                    x * 2
                }
            } else {
                x
            }
        })
        .sum();
    d.push((10 - sum % 10) % 10);
    let s: String = d.iter().map(|x| char::from_digit(*x, 10).unwrap()).collect();
    match rng.gen_range(0..3) {
        0 if len == 16 => format!("{} {} {} {}", &s[..4], &s[4..8], &s[8..12], &s[12..]),
        1 if len == 16 => format!("{}-{}-{}-{}", &s[..4], &s[4..8], &s[8..12], &s[12..]),
        _ => s,
    }
}

fn iban(rng: &mut StdRng) -> String {
    let (country, bban) = match rng.gen_range(0..5) {
        0 => ("DE", digits(rng, 18)),
        1 => ("FR", format!("{}{}{}", digits(rng, 10), chars(rng, UPPER_DIGIT, 11), digits(rng, 2))),
        2 => ("GB", format!("{}{}", chars(rng, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", 4), digits(rng, 14))),
        3 => ("NL", format!("{}{}", chars(rng, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", 4), digits(rng, 10))),
        _ => ("ES", digits(rng, 20)),
    };
    let numeric: String = bban
        .chars()
        .chain(country.chars())
        .chain("00".chars())
        .map(|c| if c.is_ascii_digit() { c.to_string() } else { (c as u32 - 'A' as u32 + 10).to_string() })
        .collect();
    let rem = numeric.chars().fold(0u32, |r, c| (r * 10 + c.to_digit(10).unwrap()) % 97);
    let s = format!("{country}{:02}{bban}", 98 - rem);
    if rng.gen_bool(0.5) {
        s.as_bytes().chunks(4).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join(" ")
    } else {
        s
    }
}

/// A valid national identifier of one of the seven countries, and how it is written (with the
/// word its country's documents put before it, in that country's language).
fn national_id(rng: &mut StdRng) -> (String, String) {
    use super::national as n;
    const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    loop {
        let (v, written, ok) = match rng.gen_range(0..7) {
            0 => {
                let v = format!("{}-{}-{}", digits(rng, 3), digits(rng, 2), digits(rng, 4));
                (v.clone(), format!("SSN {v}"), n::us_ssn(&v))
            }
            1 => {
                let v = format!(
                    "{}{} {} {} {} {}",
                    chars(rng, b"ABCEGHJKLMNPRSTWXYZ", 1),
                    chars(rng, b"ABCEGHJKLMNPRSTWXYZ", 1),
                    digits(rng, 2),
                    digits(rng, 2),
                    digits(rng, 2),
                    chars(rng, b"ABCD", 1)
                );
                (v.clone(), format!("NI number {v}"), n::uk_nino(&v))
            }
            2 => {
                let v = format!("{}{}", rng.gen_range(1..10), digits(rng, 10));
                (v.clone(), format!("Steuer-ID {v}"), n::de_steuer_id(&v))
            }
            3 => {
                let v = format!(
                    "{}{}{:02}{}{}",
                    rng.gen_range(1..3),
                    digits(rng, 2),
                    rng.gen_range(1..13),
                    digits(rng, 8),
                    digits(rng, 2)
                );
                (v.clone(), format!("n° de sécurité sociale {v}"), n::fr_nir(&v))
            }
            4 => {
                let v = format!("{}{}", digits(rng, 8), chars(rng, UPPER, 1));
                (v.clone(), format!("DNI {v}"), n::es_dni(&v))
            }
            5 => {
                let v = format!(
                    "{}{}{}{}{}{}{}",
                    chars(rng, UPPER, 6),
                    digits(rng, 2),
                    chars(rng, b"ABCDEHLMPRST", 1),
                    digits(rng, 2),
                    chars(rng, UPPER, 1),
                    digits(rng, 3),
                    chars(rng, UPPER, 1)
                );
                (v.clone(), format!("codice fiscale {v}"), n::it_codice_fiscale(&v))
            }
            _ => {
                let v = digits(rng, 9);
                (v.clone(), format!("BSN {v}"), n::nl_bsn(&v))
            }
        };
        if ok {
            return (v, written);
        }
    }
}

fn ip(rng: &mut StdRng) -> String {
    if rng.gen_bool(0.75) {
        format!(
            "{}.{}.{}.{}",
            rng.gen_range(11..223),
            rng.gen_range(0..256),
            rng.gen_range(0..256),
            rng.gen_range(1..255)
        )
    } else {
        let groups: Vec<String> = (0..5).map(|_| format!("{:x}", rng.gen_range(1..0xffff))).collect();
        format!("2001:db8:{}::{}", groups[..2].join(":"), groups[2..].join(":"))
    }
}

fn address(rng: &mut StdRng) -> String {
    match rng.gen_range(0..3) {
        0 => format!("{} {} Street", rng.gen_range(1..999), ["Maple", "Oak", "Hill", "Market"].choose(rng).unwrap()),
        1 => format!(
            "{}straße {}",
            ["Berliner", "Haupt", "Goethe", "Linden"].choose(rng).unwrap(),
            rng.gen_range(1..200)
        ),
        _ => format!("{} rue de la {}", rng.gen_range(1..99), ["Paix", "Gare", "République"].choose(rng).unwrap()),
    }
}

/// Sentences around a value, by genre and language; `{}` is where the value goes.
const FRAMES: &[&str] = &[
    "Hi team, please use {} for the staging deploy and let me know if anything breaks.",
    "Can you summarise this thread? The customer wrote from {} yesterday.",
    "2026-11-29T14:02:11Z ERROR auth failed for {} after 3 retries",
    "[2026-11-29 14:02:11] INFO request from {} took 231 ms",
    "const config = { endpoint: \"https://api.example.com\", value: \"{}\" };",
    "{\"user\": {\"contact\": \"{}\", \"plan\": \"pro\"}}",
    "Subject: Invoice 2026-114\n\nDear Sir or Madam,\nplease find the details below: {}\nBest regards",
    "Bitte schick die Unterlagen an {} bis Freitag.",
    "Merci de répondre à {} avant la réunion de lundi.",
    "Por favor, contacta con {} para la factura.",
    "詳細は {} までご連絡ください。",
    "| id | owner | value |\n|----|-------|-------|\n| 17 | ops | {} |",
    "export SETTING='{}' # do not commit",
    "> {}\nthat's what they sent, is it legit?",
    "<li>Contact: <a href=\"#\">{}</a></li>",
    "- [ ] follow up ({}), then close the ticket",
    "(see {})",
    "Notes from the call — {}. Next steps below.",
    "    \"value\": \"{}\",",
    "Hola, ¿me puedes confirmar {}? Gracias.",
    "Wichtig: {}!",
];

const NEGATIVES: &[&str] = &[
    "Request id {uuid} finished in 120 ms.",
    "Merge commit {sha} into main after review.",
    "\"integrity\": \"sha512-{b64}\",",
    "Bumped the version to {ver} and tagged the release.",
    "The meeting moved to {date} at 14:30.",
    "Use the colour #{hex6} for the header and #{hex3} for links.",
    "Order #{order} shipped; tracking 1Z{track}.",
    "for (let i = 0; i < {n}; i++) {{ total += prices[i] * 1.19; }}",
    "Build {build} passed 1432 tests in 3m41s.",
    "Die Rechnung INV-2026-{n5} über 1.299,00 € ist bezahlt.",
    "Le colis {n5}-{n4} arrivera le 30/11/2026.",
    "ISBN 978-3-16-148410-0, {n} Seiten, Auflage {n}.",
    "Test data uses 666-{n2}-{n4} and 000-{n2}-{n4}, which are never issued.",
    "Die Sendungsnummer {n11} ist unterwegs.",
    "Référence client {n5}{n5}{n5} à rappeler.",
    "Pedido {n5}{n4}Q confirmado.",
    "Batch {n9} finished with exit code 0.",
    "Listening on localhost:{port} (pid {n5}).",
    "Set password to ******** in the form, then press Save.",
    "api_key = os.environ[\"OPENAI_API_KEY\"]",
    "token: <your-token-here>",
    "Coordinates 48.8566, 2.3522; elevation {n} m.",
    "git checkout {sha7} && cargo build --release",
    "docker pull ghcr.io/example/app@sha256:{sha256}",
    "Ticket ABC-{n4}: the cache key is {hex32}.",
    "SKU 4-{n4}-{n4} is back in stock ({n} units).",
    "Temperature {n}.5°C, humidity {n}%, pressure 1013 hPa.",
    "本日の注文番号は {n5}-{n4} です。",
    "Version v{ver}-beta.{n} ships with {n} fixes.",
    "The test used seed {n5}{n5} and {n} iterations.",
    "Shipment {n16} left the warehouse on 2026-11-28.",
    "Windows build 10.0.{n5}.{n4} needs the update.",
    "MAC a4:5e:60:{hex2}:{hex2}:{hex2} joined the network.",
    "Timestamps: 14:05:33, 14:06:01 and 1764200000.",
    "Dann am 30.11.2026 um 9:15 Uhr im Raum {n}.",
    "Le total est de {n},{n} € pour {n} articles (réf. {n5}).",
    "Die Postleitzahl 10115 gehört zu Berlin-Mitte.",
    "Run `npm install react@18.{n}.{n}` then restart.",
    "[EMAIL_1] and [SECRET_2] are placeholders in the docs.",
    "data:image/png;base64,{b64}",
    "SELECT * FROM orders WHERE id = {n5} AND total > {n};",
    "The answer is 42, the ratio 3.14159 and the limit 1e9.",
    "User agent Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36",
    "See RFC 5737: 192.0.2.x addresses are for documentation examples.",
];

fn fill_negative(rng: &mut StdRng, frame: &str) -> String {
    let mut s = frame.to_string();
    type Fill = Box<dyn Fn(&mut StdRng) -> String>;
    let reps: Vec<(&str, Fill)> = vec![
        (
            "{uuid}",
            Box::new(|r: &mut StdRng| {
                format!(
                    "{}-{}-4{}-a{}-{}",
                    chars(r, HEX, 8),
                    chars(r, HEX, 4),
                    chars(r, HEX, 3),
                    chars(r, HEX, 3),
                    chars(r, HEX, 12)
                )
            }),
        ),
        ("{sha256}", Box::new(|r: &mut StdRng| chars(r, HEX, 64))),
        ("{sha7}", Box::new(|r: &mut StdRng| chars(r, HEX, 7))),
        ("{sha}", Box::new(|r: &mut StdRng| chars(r, HEX, 40))),
        ("{hex32}", Box::new(|r: &mut StdRng| chars(r, HEX, 32))),
        (
            "{b64}",
            Box::new(|r: &mut StdRng| {
                chars(r, b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 86) + "=="
            }),
        ),
        (
            "{ver}",
            Box::new(|r: &mut StdRng| format!("{}.{}.{}", r.gen_range(0..20), r.gen_range(0..50), r.gen_range(0..100))),
        ),
        ("{date}", Box::new(|r: &mut StdRng| format!("2026-{:02}-{:02}", r.gen_range(1..13), r.gen_range(1..29)))),
        ("{hex6}", Box::new(|r: &mut StdRng| chars(r, HEX, 6))),
        ("{hex3}", Box::new(|r: &mut StdRng| chars(r, HEX, 3))),
        (
            "{order}",
            Box::new(|r: &mut StdRng| format!("A-{}-{}", digits(r, 5), chars(r, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", 2))),
        ),
        ("{track}", Box::new(|r: &mut StdRng| chars(r, UPPER_DIGIT, 16))),
        ("{build}", Box::new(|r: &mut StdRng| format!("20261130.{}", r.gen_range(1..40)))),
        ("{port}", Box::new(|r: &mut StdRng| r.gen_range(1024..65535).to_string())),
        ("{n16}", Box::new(|r: &mut StdRng| format!("{}{}", r.gen_range(1..10), digits(r, 15)))),
        ("{hex2}", Box::new(|r: &mut StdRng| chars(r, HEX, 2))),
        ("{n5}", Box::new(|r: &mut StdRng| digits(r, 5))),
        ("{n11}", Box::new(|r: &mut StdRng| format!("{}{}", r.gen_range(1..10), digits(r, 10)))),
        ("{n9}", Box::new(|r: &mut StdRng| digits(r, 9))),
        ("{n2}", Box::new(|r: &mut StdRng| digits(r, 2))),
        ("{n4}", Box::new(|r: &mut StdRng| digits(r, 4))),
        ("{n}", Box::new(|r: &mut StdRng| r.gen_range(2..500).to_string())),
    ];
    for (k, f) in &reps {
        while let Some(i) = s.find(k) {
            let v = f(rng);
            s.replace_range(i..i + k.len(), &v);
        }
    }
    s
}

/// `n` samples with planted values, and `negatives` lines with none.
pub fn generate(n: usize, negatives: usize) -> (Vec<Sample>, Vec<String>) {
    let mut rng = StdRng::seed_from_u64(SEED);
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let kind = Kind::ALL[rng.gen_range(0..Kind::ALL.len())];
        let mut region = None;
        let (value, written) = match kind {
            Kind::Secret => secret(&mut rng),
            Kind::Email => {
                let v = email(&mut rng);
                (v.clone(), v)
            }
            Kind::Phone => {
                let (value, written, r) = phone(&mut rng);
                region = r;
                (value, written)
            }
            Kind::PaymentCard => {
                let v = card(&mut rng);
                (v.clone(), format!("card {v}"))
            }
            Kind::Iban => {
                let v = iban(&mut rng);
                (v.clone(), format!("IBAN {v}"))
            }
            Kind::Ip => {
                let v = ip(&mut rng);
                (v.clone(), v)
            }
            Kind::Address => {
                let v = address(&mut rng);
                (v.clone(), v)
            }
            Kind::NationalId => national_id(&mut rng),
            Kind::Custom => {
                let v = DICTIONARY.choose(&mut rng).unwrap().to_string();
                (v.clone(), v)
            }
        };
        let frame = FRAMES.choose(&mut rng).unwrap();
        samples.push(Sample { text: frame.replacen("{}", &written, 1), planted: vec![(kind, value)], region });
    }
    let negs = (0..negatives)
        .map(|_| {
            let frame = *NEGATIVES.choose(&mut rng).unwrap();
            fill_negative(&mut rng, frame)
        })
        .collect();
    (samples, negs)
}
