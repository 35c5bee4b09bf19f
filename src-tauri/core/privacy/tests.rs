//! Accuracy, measured on the seeded corpus; and the recognizers' behaviour on bad input.

use std::collections::BTreeMap;

use super::corpus::{self, DICTIONARY};
use super::*;

fn overlaps(a: (usize, usize), b: (usize, usize)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

#[test]
fn precision_and_recall_on_the_labelled_corpus_meet_their_floors() {
    let rules = Rules::builtin();
    let dictionary = Dictionary::new(DICTIONARY);
    let (samples, negatives) = corpus::generate(6000, 4000);
    // kind -> (planted, found planted, findings, findings on a planted value of that kind)
    let mut stats: BTreeMap<Kind, (u32, u32, u32, u32)> = BTreeMap::new();
    let mut misses: BTreeMap<Kind, Vec<String>> = BTreeMap::new();
    let mut wrong: BTreeMap<Kind, Vec<String>> = BTreeMap::new();
    for s in &samples {
        let found = rules.find_in(&s.text, Policy::Pii, &dictionary, s.region);
        let planted: Vec<(Kind, (usize, usize))> = s
            .planted
            .iter()
            .map(|(k, v)| {
                let at = s.text.find(v.as_str()).expect("the value is in its text");
                (*k, (at, at + v.len()))
            })
            .collect();
        for (k, span) in &planted {
            let e = stats.entry(*k).or_default();
            e.0 += 1;
            if found.iter().any(|f| f.kind == *k && overlaps((f.start, f.end), *span)) {
                e.1 += 1;
            } else {
                misses.entry(*k).or_default().push(s.text.clone());
            }
        }
        for f in &found {
            let e = stats.entry(f.kind).or_default();
            e.2 += 1;
            if planted.iter().any(|(k, span)| *k == f.kind && overlaps((f.start, f.end), *span)) {
                e.3 += 1;
            } else {
                wrong.entry(f.kind).or_default().push(format!("{:?} in {:?}", &s.text[f.start..f.end], s.text));
            }
        }
    }
    let mut negative_hits = Vec::new();
    // Each negative line is read with no region, and again in one of the regions the corpus
    // writes national numbers for (whatever the line's language: a German reading of "Le colis
    // 04535-5594" finds a number grouped as Germany groups its numbers). A region makes phone
    // numbers count without a context word, so it has a floor of its own.
    let regions = ["US", "GB", "DE", "FR", "ES", "JP"].map(|r| Region::parse(r).unwrap());
    let mut regional_hits = Vec::new();
    for (i, line) in negatives.iter().enumerate() {
        let found = rules.find(line, Policy::Pii, &dictionary);
        let region = regions[i % regions.len()];
        for f in rules.find_in(line, Policy::Pii, &dictionary, Some(region)) {
            if !found.contains(&f) {
                let e = stats.entry(f.kind).or_default();
                e.2 += 1;
                regional_hits.push(format!("{:?} in {:?} read in {}", &line[f.start..f.end], line, region.code()));
            }
        }
        for f in &found {
            let e = stats.entry(f.kind).or_default();
            e.2 += 1;
            wrong.entry(f.kind).or_default().push(format!("{:?} in negative {:?}", &line[f.start..f.end], line));
        }
        if !found.is_empty() {
            negative_hits.push(line.clone());
        }
    }
    let mut report = String::new();
    let mut failed = Vec::new();
    for (kind, (planted, hit, findings, right)) in &stats {
        let recall = if *planted == 0 { 1.0 } else { *hit as f64 / *planted as f64 };
        let precision = if *findings == 0 { 1.0 } else { *right as f64 / *findings as f64 };
        report.push_str(&format!(
            "{:<13} recall {recall:.4} ({hit}/{planted})  precision {precision:.4} ({right}/{findings})\n",
            kind.as_str()
        ));
        let (min_recall, min_precision) = match kind {
            Kind::Secret | Kind::Email | Kind::PaymentCard | Kind::Iban | Kind::Ip | Kind::NationalId => (0.98, 0.97),
            Kind::Phone => (0.95, 0.0),
            _ => (0.0, 0.0),
        };
        if recall < min_recall || precision < min_precision {
            failed.push(format!(
                "{}: recall {recall:.4} (floor {min_recall}), precision {precision:.4} (floor {min_precision}); missed e.g. {:?}; wrongly e.g. {:?}",
                kind.as_str(),
                misses.get(kind).map(|m| &m[..m.len().min(3)]),
                wrong.get(kind).map(|w| &w[..w.len().min(3)])
            ));
        }
    }
    let fp_rate = negative_hits.len() as f64 / negatives.len() as f64;
    report.push_str(&format!(
        "negative lines with a finding: {} of {} ({fp_rate:.4})\n",
        negative_hits.len(),
        negatives.len()
    ));
    println!("{report}");
    for (k, m) in &misses {
        println!("missed {}: {:?}", k.as_str(), &m[..m.len().min(4)]);
    }
    for (k, w) in &wrong {
        println!("wrong {}: {:?}", k.as_str(), &w[..w.len().min(4)]);
    }
    if fp_rate > 1.0 / 200.0 {
        failed.push(format!(
            "false positives on the negative corpus {fp_rate:.4} > 0.005: e.g. {:?}",
            &negative_hits[..negative_hits.len().min(5)]
        ));
    }
    let regional_rate = regional_hits.len() as f64 / negatives.len() as f64;
    println!(
        "negative lines with one more finding read in a region: {} ({regional_rate:.4}): {:?}",
        regional_hits.len(),
        &regional_hits[..regional_hits.len().min(6)]
    );
    if regional_rate > 1.0 / 100.0 {
        failed.push(format!(
            "false positives read in a region {regional_rate:.4} > 0.01: e.g. {:?}",
            &regional_hits[..regional_hits.len().min(5)]
        ));
    }
    assert!(failed.is_empty(), "{report}\n{}", failed.join("\n"));
}

#[test]
fn the_same_value_gets_the_same_placeholder_everywhere_and_comes_back_exactly() {
    let rules = Rules::builtin();
    let dictionary = Dictionary::new(&["Project Nightingale"]);
    let mut r = Redactor::new(rules, Policy::Pii, &dictionary);
    let a = r.redact("Mail anna.schmidt@example.org about Project Nightingale.", "message 1");
    let b = r.redact(
        "Again: anna.schmidt@example.org, and bob@example.com. Key sk-ant-api03-AAAAAAAAAAAAAAAAAAAAAAAAAAAA.",
        "message 2",
    );
    assert_eq!(a, "Mail [EMAIL_1] about [TERM_1].");
    assert_eq!(b, "Again: [EMAIL_1], and [EMAIL_2]. Key [SECRET_1].");
    assert_eq!(r.counts().to_ledger(), "secret:1 email:3 custom:1");
    assert_eq!(r.counts().sentence(), "1 secret, 3 e-mail addresses and 1 dictionary term");
    let mut back = r.restorer();
    assert_eq!(
        back.restore_all(&b),
        "Again: anna.schmidt@example.org, and bob@example.com. Key sk-ant-api03-AAAAAAAAAAAAAAAAAAAAAAAAAAAA."
    );
    assert_eq!(r.findings()[0].placeholder, "[EMAIL_1]");
}

#[test]
fn secrets_policy_leaves_personal_data_and_off_leaves_everything() {
    let rules = Rules::builtin();
    let none = Dictionary::default();
    let text = "anna@example.org, password = hunter2hunter2, 4111 1111 1111 1111";
    let mut s = Redactor::new(rules, Policy::Secrets, &none);
    assert_eq!(s.redact(text, "m"), "anna@example.org, password = [SECRET_1], 4111 1111 1111 1111");
    let mut o = Redactor::new(rules, Policy::Off, &none);
    assert_eq!(o.redact(text, "m"), text);
}

#[test]
fn a_rules_file_that_is_wrong_is_refused_with_the_reason() {
    assert!(matches!(Rules::parse("{"), Err(detect::RulesError::Shape(_))));
    let bad = r#"{"rules":[{"kind":"email","name":"broken","policy":"pii","pattern":"([a-z"}]}"#;
    let err = Rules::parse(bad).err().unwrap();
    assert!(err.to_string().contains("\"broken\""), "{err}");
    let group = r#"{"rules":[{"kind":"email","name":"g","policy":"pii","pattern":"a","group":2}]}"#;
    assert!(matches!(Rules::parse(group), Err(detect::RulesError::Group { .. })));
}

#[test]
fn pathological_input_is_handled_in_bounded_time() {
    let rules = Rules::builtin();
    let dictionary = Dictionary::new(DICTIONARY);
    let started = std::time::Instant::now();
    // A 10 MB prompt of one long line, digits and separators that tempt every number rule.
    let long: String = "1234 5678 90-12.34 ".repeat(10 * 1024 * 1024 / 19);
    let found = rules.find(&long, Policy::Pii, &dictionary);
    // Nested brackets and a huge run of `[` for the restorer.
    let nested = "[".repeat(1_000_000) + &"]".repeat(1_000_000);
    let mut r = Redactor::new(rules, Policy::Pii, &dictionary);
    let _ = r.redact(&nested, "m");
    let mut back = r.restorer();
    let _ = back.push(&nested);
    assert!(started.elapsed() < std::time::Duration::from_secs(60), "took {:?}", started.elapsed());
    assert!(found.len() < long.len(), "bounded output");
}

#[test]
fn every_text_part_of_a_request_is_redacted_and_nothing_else() {
    use crate::providers::canonical::{ChatRequest, RawBody};
    use crate::providers::Protocol;
    use serde_json::json;
    let rules = Rules::builtin();
    let none = Dictionary::default();
    let secret = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";
    let anthropic = json!({
        "model": "claude-haiku-4-5", "system": [{ "type": "text", "text": format!("use {secret}") }],
        "tools": [{ "name": "lookup", "description": format!("not text to redact {secret}"), "input_schema": {} }],
        "messages": [
            { "role": "user", "content": format!("hi {secret}") },
            { "role": "assistant", "content": [{ "type": "tool_use", "id": "t1", "name": "lookup", "input": { "q": secret } }] },
            { "role": "user", "content": [{ "type": "tool_result", "tool_use_id": "t1", "content": [{ "type": "text", "text": secret }] },
                                          { "type": "image", "source": { "data": secret } }] }
        ]
    });
    let req = ChatRequest { raw: Some(RawBody::new(Protocol::AnthropicMessages, anthropic)), ..Default::default() };
    let mut r = Redactor::new(rules, Policy::Secrets, &none);
    let out = request::redact(&req, &mut r).raw.unwrap().body;
    assert_eq!(out["system"][0]["text"], "use [SECRET_1]");
    assert_eq!(out["messages"][0]["content"], "hi [SECRET_1]");
    assert_eq!(out["messages"][1]["content"][0]["input"]["q"], "[SECRET_1]");
    assert_eq!(out["messages"][2]["content"][0]["content"][0]["text"], "[SECRET_1]");
    // Tool schemas, model names and non-text parts are not the user's text.
    assert!(out["tools"][0]["description"].as_str().unwrap().contains(secret));
    assert_eq!(out["messages"][2]["content"][1]["source"]["data"], secret);
    assert_eq!(r.counts().to_ledger(), "secret:4");

    let openai = json!({ "model": "gpt-4o-mini", "messages": [
        { "role": "system", "content": format!("key {secret}") },
        { "role": "user", "content": [{ "type": "text", "text": format!("x {secret}") }, { "type": "image_url", "image_url": { "url": "data:..." } }] },
        { "role": "assistant", "tool_calls": [{ "id": "c1", "type": "function", "function": { "name": "f", "arguments": format!("{{\"k\":\"{secret}\"}}") } }] },
        { "role": "tool", "tool_call_id": "c1", "content": format!("result {secret}") }
    ]});
    let req = ChatRequest { raw: Some(RawBody::new(Protocol::OpenAiChat, openai)), ..Default::default() };
    let mut r = Redactor::new(rules, Policy::Secrets, &none);
    let out = request::redact(&req, &mut r).raw.unwrap().body;
    assert_eq!(out["messages"][0]["content"], "key [SECRET_1]");
    assert_eq!(out["messages"][1]["content"][0]["text"], "x [SECRET_1]");
    assert_eq!(out["messages"][2]["tool_calls"][0]["function"]["arguments"], "{\"k\":\"[SECRET_1]\"}");
    assert_eq!(out["messages"][3]["content"], "result [SECRET_1]");
}

#[test]
fn a_mistral_key_is_recognised_next_to_its_name() {
    let rules = Rules::builtin();
    let none = Dictionary::default();
    let mut r = Redactor::new(rules, Policy::Secrets, &none);
    assert_eq!(r.redact("my Mistral key: Xk2pQ9vLm3Nz8Rt5Wy7Ab4Cd6Ef1Gh0J", "m"), "my Mistral key: [SECRET_1]");
    // Once known, the same value is replaced wherever it appears again.
    assert_eq!(r.redact("again: Xk2pQ9vLm3Nz8Rt5Wy7Ab4Cd6Ef1Gh0J", "m"), "again: [SECRET_1]");
    // 32 letters and digits without the name nearby (a hash, an id) are left alone.
    let mut fresh = Redactor::new(rules, Policy::Secrets, &none);
    assert_eq!(fresh.redact("id Xk2pQ9vLm3Nz8Rt5Wy7Ab4Cd6Ef1Gh0J", "m"), "id Xk2pQ9vLm3Nz8Rt5Wy7Ab4Cd6Ef1Gh0J");
}

#[test]
fn national_identifiers_in_five_languages_are_replaced_and_look_alikes_are_not() {
    let rules = Rules::builtin();
    let none = Dictionary::default();
    let mut r = Redactor::new(rules, Policy::Pii, &none);
    let cases = [
        ("My SSN is 536-22-1187, please update the form.", "My SSN is [ID_1], please update the form."),
        ("Meine Steuer-ID lautet 86095742719.", "Meine Steuer-ID lautet [ID_2]."),
        ("Mon numéro de sécurité sociale : 1 85 05 78 006 084 91", "Mon numéro de sécurité sociale : [ID_3]"),
        ("Mi DNI es 12345678Z y el NIE de mi socio X1234567L.", "Mi DNI es [ID_4] y el NIE de mi socio [ID_5]."),
        ("Il codice fiscale è RSSMRA85T10A562S.", "Il codice fiscale è [ID_6]."),
        ("NI number AB 12 34 56 C; BSN 111222333.", "NI number [ID_7]; BSN [ID_8]."),
    ];
    for (text, want) in cases {
        assert_eq!(r.redact(text, "message"), want);
    }
    for look_alike in [
        "Test range 666-12-3456 and 000-12-3456 are never issued.",
        "Sendungsnummer 86095742718 ist unterwegs.",
        "Pedido 12345678A confirmado.",
        "Batch 123456789 finished.",
        "Codice RSSMRA85T10A562T (sbagliato).",
    ] {
        assert_eq!(r.redact(look_alike, "message"), look_alike, "a look-alike is left as it is");
    }
    let mut back = r.restorer();
    assert_eq!(back.restore_all("[ID_1] and [ID_6]"), "536-22-1187 and RSSMRA85T10A562S");
}

#[test]
fn the_users_own_placeholder_like_text_never_collides_and_comes_back_unchanged() {
    let rules = Rules::builtin();
    let none = Dictionary::default();
    let mut r = Redactor::new(rules, Policy::Pii, &none);
    // The literal comes later in the request than the address it would collide with.
    let req = crate::providers::canonical::ChatRequest {
        turns: vec![
            crate::providers::canonical::Turn::new(
                crate::providers::canonical::Role::User,
                "Write to anna@example.org",
            ),
            crate::providers::canonical::Turn::new(
                crate::providers::canonical::Role::User,
                "Our template uses [EMAIL_1] as its field name.",
            ),
        ],
        ..Default::default()
    };
    let out = crate::privacy::request::redact(&req, &mut r);
    assert_eq!(out.turns[0].text, "Write to [EMAIL_2]");
    assert_eq!(out.turns[1].text, "Our template uses [EMAIL_1] as its field name.");
    let mut back = r.restorer();
    assert_eq!(
        back.restore_all("Sent to [EMAIL_2]; the field [EMAIL_1] is kept."),
        "Sent to anna@example.org; the field [EMAIL_1] is kept."
    );
    assert_eq!(back.unknown(), 0, "the user's own text is not a made-up placeholder");
}

#[test]
fn every_text_bearing_field_is_redacted_and_block_sees_them_all() {
    use crate::providers::canonical::{ChatRequest, RawBody};
    use crate::providers::Protocol;
    use serde_json::json;
    let rules = Rules::builtin();
    let none = Dictionary::default();
    let canary = "leak.canary@example.org";
    let anthropic = json!({ "model": "m", "max_tokens": 10, "metadata": { "user_id": canary },
        "messages": [{ "role": "user", "content": [
            { "type": "document", "source": { "type": "text", "media_type": "text/plain", "data": format!("Contract for {canary}") },
              "title": format!("Notes of {canary}"), "context": format!("from {canary}") },
            { "type": "document", "source": { "type": "content", "content": [{ "type": "text", "text": format!("see {canary}") }] } },
            { "type": "search_result", "source": "https://example.org", "title": format!("{canary} profile"),
              "content": [{ "type": "text", "text": format!("contact {canary}") }] } ] }] });
    let openai = json!({ "model": "m", "user": canary, "metadata": { "owner": canary },
        "prediction": { "type": "content", "content": format!("Dear {canary}") },
        "messages": [
            { "role": "user", "name": canary, "content": "hi" },
            { "role": "assistant", "content": null, "function_call": { "name": "mail", "arguments": format!("{{\"to\":\"{canary}\"}}") } },
            { "role": "function", "name": "mail", "content": "sent" } ] });
    for (protocol, body) in [(Protocol::AnthropicMessages, anthropic), (Protocol::OpenAiChat, openai)] {
        let req = ChatRequest { raw: Some(RawBody::new(protocol, body)), ..Default::default() };
        let mut r = Redactor::new(rules, Policy::Pii, &none);
        let out = crate::privacy::request::redact(&req, &mut r);
        let sent = out.raw.unwrap().body.to_string();
        assert!(!sent.contains(canary), "{protocol:?}: {sent}");
        let mut b = Redactor::new(rules, Policy::Block, &none);
        crate::privacy::request::redact(&req, &mut b);
        assert!(!b.counts().is_empty(), "block sees them");
    }
}

#[test]
fn an_assignment_from_a_call_or_a_variable_is_code_not_a_secret() {
    let rules = Rules::builtin();
    let none = Dictionary::default();
    for code in [
        "password = getpass.getpass(\"Password: \")",
        "api_key = os.getenv(\"OPENAI_API_KEY\")",
        "secret = settings.SECRET_KEY",
        "password = user_password",
        "auth_token = self.auth_token",
    ] {
        let mut r = Redactor::new(rules, Policy::Secrets, &none);
        assert_eq!(r.redact(code, "code"), code, "code is not a secret");
    }
    let mut r = Redactor::new(rules, Policy::Secrets, &none);
    assert_eq!(r.redact("password = hunter2hunter2", "code"), "password = [SECRET_1]", "a literal still is");
}

#[test]
fn national_phone_numbers_are_found_without_a_context_word_in_the_users_region_and_look_alikes_are_not() {
    let rules = Rules::builtin();
    let none = Dictionary::new::<&str>(&[]);
    let region = |c: &str| Region::parse(c).unwrap();
    let phones = |text: &str, r: Option<Region>| -> Vec<String> {
        rules
            .find_in(text, Policy::Pii, &none, r)
            .into_iter()
            .filter(|f| f.kind == Kind::Phone)
            .map(|f| text[f.start..f.end].to_string())
            .collect()
    };
    for (r, text, number) in [
        ("US", "Ping me at (415) 247-9263 tomorrow.", "(415) 247-9263"),
        ("US", "Reach Dana on 415-247-9263 or by mail.", "415-247-9263"),
        ("US", "Office: 212.555.0188", "212.555.0188"),
        ("DE", "Rückruf bitte unter 06 23 24 37 12", "06 23 24 37 12"),
        ("DE", "Erreichbar unter 030 12345678 ab neun.", "030 12345678"),
        ("DE", "Bin unter 0151 23456789 erreichbar", "0151 23456789"),
        ("FR", "Je suis joignable au 06 12 34 56 78 ce soir.", "06 12 34 56 78"),
        ("GB", "Ring the desk on 020 7946 0018 first.", "020 7946 0018"),
        ("ES", "Escríbeme al 612 34 56 78, gracias.", "612 34 56 78"),
        ("JP", "連絡先は 03-1234-5678 です。", "03-1234-5678"),
    ] {
        assert_eq!(phones(text, Some(region(r))), [number], "{r}: {text}");
        // Without the user's region, a national number still needs its context word.
        assert!(phones(text, None).is_empty(), "no region: {text}");
    }
    // Look-alikes that a region must not turn into phone numbers.
    for r in ["US", "DE", "FR", "GB", "ES", "JP", "NL", "IT"] {
        for text in [
            "Le colis 12345-6789 arrivera le 30/11/2026.",
            "SKU 4-1234-5678 is back in stock.",
            "Die Rechnung INV-2026-55881 ist bezahlt.",
            "Order 4152479263 shipped.",
            "Windows build 10.0.19045.2006 needs the update.",
            "Dann am 30.11.2026 um 9:15 Uhr.",
            "Le prix est de 12 500 000 € hors taxes.",
            "Scores this week: 12 15 18 22 25.",
            "ISBN 978-3-16-148410-0, 320 Seiten.",
            "本日の注文番号は 12345-6789 です。",
            "Listening on localhost:8080 (pid 41237).",
        ] {
            assert!(phones(text, Some(region(r))).is_empty(), "{r}: {text}: {:?}", phones(text, Some(region(r))));
        }
    }
    // An invalid US social security number is no phone number in the US; in Spain 666 12 34 56
    // is a mobile number, however it is grouped.
    let ssn_like = "Test data uses 666-12-3456 and 000-12-3456.";
    assert!(phones(ssn_like, Some(region("US"))).is_empty());
    assert_eq!(phones(ssn_like, Some(region("ES"))), ["666-12-3456"]);
}

#[test]
fn the_phone_region_comes_from_the_locale_and_a_bad_one_is_named() {
    assert_eq!(Region::from_locale("de_DE.UTF-8").map(|r| r.code().to_string()), Some("DE".into()));
    assert_eq!(Region::from_locale("en_GB").map(|r| r.code().to_string()), Some("GB".into()));
    assert_eq!(Region::from_locale("fr_CA.utf8@euro").map(|r| r.code().to_string()), Some("CA".into()));
    for no_region in ["C", "POSIX", "C.UTF-8", "", "en", "xx_ZZ"] {
        assert_eq!(Region::from_locale(no_region), None, "{no_region}");
    }
    assert_eq!(Region::parse("de").map(|r| r.code().to_string()), Some("DE".into()));
    assert!(Region::parse("Germany").is_none() && Region::parse("ZZ").is_none());
}

#[test]
fn past_its_budget_of_library_lookups_a_request_keeps_phone_shaped_numbers_from_the_cloud() {
    let rules = Rules::builtin();
    let none = Dictionary::new::<&str>(&[]);
    let de = Region::parse("DE");
    // Not a German number: with lookups left, the library says so.
    let text = "Erreichbar unter 000 0000047.";
    let fresh = rules.find_counted(text, Policy::Pii, &none, de, &mut detect::Lookups::default());
    assert!(fresh.is_empty(), "{fresh:?}");
    // A request that has spent its budget takes the next new candidate as a number.
    let text = "Erreichbar unter 000 0000048.";
    let spent = rules.find_counted(text, Policy::Pii, &none, de, &mut detect::Lookups::spent());
    assert_eq!(spent.iter().map(|f| &text[f.start..f.end]).collect::<Vec<_>>(), ["000 0000048"]);
}

#[test]
fn every_kind_sits_at_its_own_index_in_the_list_of_kinds() {
    // The redactor counts per kind in an array indexed by the kind.
    for (i, k) in Kind::ALL.into_iter().enumerate() {
        assert_eq!(k as usize, i, "{k:?}");
    }
}
