//! Local anonymization on the request path: redacting a 100 KB mixed prompt (prose, logs,
//! code, JSON, with secrets, e-mails, phones, cards, IBANs, IPs and dictionary terms in it) with
//! the pii policy, and restoring an answer of the same size.
//! Run: `cargo bench -p keyhold-core --bench privacy`.

use criterion::{criterion_group, criterion_main, Criterion};
use keyhold_core::privacy::{Dictionary, Policy, Redactor, Region, Rules};

/// About 100 KB: paragraphs of ordinary text with a sensitive value every few lines. Numbers
/// differ from paragraph to paragraph, so nothing is checked twice.
fn mixed_prompt(offset: usize) -> String {
    let paragraphs = [
        "The quarterly review is on Thursday; please bring the slides and the revised budget for the platform team.",
        "2026-11-29T14:02:11Z INFO request 8f14e45f-ceea-467f-a0e5-0f7c5e1c3b2a took 231 ms (build 20261130.4)",
        "Contact anna.schmidt@example.org or call +49 30 12345678 about Project Nightingale before Friday.",
        "const config = { endpoint: \"https://api.example.com\", retries: 3, colour: \"#1e90ff\" };",
        "{\"user\": {\"id\": 48213, \"plan\": \"pro\", \"card\": \"4111 1111 1111 1111\", \"ip\": \"203.0.113.42\"}}",
        "Wire the deposit to DE89 3704 0044 0532 0130 00 and keep the receipt with order A-20391-XZ.",
        "export OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD # staging only",
        "Merged 3f5a9c1 into main; version 2.14.1 ships with 37 fixes and a new cache layer.",
        "Die Besprechung mit Acme Holdings ist am 30.11.2026 um 9:15 Uhr in der Goethestraße 12.",
    ];
    let mut out = String::with_capacity(110_000);
    let mut i = 0;
    while out.len() < 100_000 {
        // A number of its own for every paragraph of every prompt.
        let n = format!("{:07}", (offset * 10_000 + i) % 10_000_000);
        let p = paragraphs[i % paragraphs.len()]
            .replace("12345678", &format!("1{n}"))
            .replace("113.42", &format!("113.{}", i % 250));
        out.push_str(&p.replace("48213", &n[2..]));
        out.push('\n');
        i += 1;
    }
    out
}

fn redact(c: &mut Criterion) {
    let rules = Rules::builtin();
    let dictionary = Dictionary::new(&["Project Nightingale", "Acme Holdings", "Elena Petrova"]);
    let prompt = mixed_prompt(0);
    let mut group = c.benchmark_group("privacy");
    // A conversation re-sends its history: the same values come back call after call.
    group.bench_function("redact 100 KB mixed prompt (pii + dictionary), values seen before", |b| {
        b.iter(|| {
            let mut r = Redactor::new(rules, Policy::Pii, &dictionary);
            r.redact(&prompt, "message 1")
        })
    });
    // Every phone number new to the process (more prompts than the verdict table holds).
    let fresh: Vec<String> = (0..160).map(mixed_prompt).collect();
    let mut next = 0;
    group.bench_function("redact 100 KB mixed prompt (pii + dictionary), every value new", |b| {
        b.iter(|| {
            next = (next + 1) % fresh.len();
            let mut r = Redactor::new(rules, Policy::Pii, &dictionary);
            r.redact(&fresh[next], "message 1")
        })
    });
    group.bench_function("redact 100 KB mixed prompt (secrets only)", |b| {
        b.iter(|| {
            let mut r = Redactor::new(rules, Policy::Secrets, &dictionary);
            r.redact(&prompt, "message 1")
        })
    });
    let mut r = Redactor::new(rules, Policy::Pii, &dictionary);
    let redacted = r.redact(&prompt, "message 1");
    let restorer = r.restorer();
    group.bench_function("restore a 100 KB answer streamed in 20-byte pieces", |b| {
        b.iter(|| {
            let mut back = restorer.clone();
            let mut out = String::with_capacity(redacted.len());
            let bytes = redacted.as_bytes();
            let mut at = 0;
            while at < bytes.len() {
                let mut end = (at + 20).min(bytes.len());
                while !redacted.is_char_boundary(end) {
                    end += 1;
                }
                out.push_str(&back.push(&redacted[at..end]));
                at = end;
            }
            out.push_str(&back.finish());
            out
        })
    });
    group.finish();
}

/// 8 MiB of short e-mail addresses, as one text and as 1,024 messages of 8 KiB redacted by one
/// redactor (as a request's messages are): every address is new, then seen again in the next
/// messages. Each pass over the findings is linear (issue 21: under 1 s). MIB=N for another size.
fn adversarial(c: &mut Criterion) {
    let rules = Rules::builtin();
    let dictionary = Dictionary::new::<&str>(&[]);
    let mut text = String::with_capacity(8 << 20);
    let mut n = 0usize;
    let size: usize = std::env::var("MIB").ok().and_then(|m| m.parse().ok()).unwrap_or(8) << 20;
    while text.len() < size {
        // Each address twice, and the previous one again: findings, repeats and overlaps.
        text.push_str(&format!("u{n}@x.io v{n}@y.io u{n}@x.io "));
        n += 1;
    }
    let messages: Vec<&str> = {
        let mut out = Vec::new();
        let mut at = 0;
        while at < text.len() {
            let mut end = (at + 8192).min(text.len());
            while !text.is_char_boundary(end) {
                end += 1;
            }
            out.push(&text[at..end]);
            at = end;
        }
        out
    };
    let mut group = c.benchmark_group("privacy, adversarial");
    group.sample_size(10);
    group.bench_function("redact 8 MiB of short e-mails as one text (pii)", |b| {
        b.iter(|| Redactor::new(rules, Policy::Pii, &dictionary).redact(&text, "message 1").len())
    });
    group.bench_function("redact 8 MiB of short e-mails as 1,024 messages (pii)", |b| {
        b.iter(|| {
            let mut r = Redactor::new(rules, Policy::Pii, &dictionary);
            messages.iter().map(|m| r.redact(m, "message").len()).sum::<usize>()
        })
    });
    // Grouped digit runs with no context word, each new, read in a region: every one is a
    // national phone candidate the phone-number library is asked about.
    let mut digits = String::with_capacity(size);
    let mut n = 0u64;
    while digits.len() < size {
        digits.push_str(&format!("0{} {:07} ", 30 + n % 60, 1_000_000 + n * 7919 % 9_000_000));
        n += 1;
    }
    let de = Region::parse("DE");
    group.bench_function("redact 8 MiB of new national phone candidates in region DE (pii)", |b| {
        b.iter(|| Redactor::new(rules, Policy::Pii, &dictionary).in_region(de).redact(&digits, "message 1").len())
    });
    group.finish();
}

criterion_group!(benches, redact, adversarial);
criterion_main!(benches);
