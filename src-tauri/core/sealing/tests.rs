//! The tamper suite: someone running as the user edits Keyhold's SQLite file by hand (a second
//! connection, as `sqlite3` would), without the passphrase. Each edit must be refused with the
//! "changed outside Keyhold" error that names the record, listed by `vault check`, and nothing
//! may reach any provider for it — asserted on the simulators' own request logs.

use std::sync::Arc;

use zeroize::Zeroizing;

use crate::agents::{self, tokens, AgentSpec, WhenOver};
use crate::datadir::DataDir;
use crate::error::{ErrorKind, Kinded};
use crate::keys::{self, Reach};
use crate::ledger::Mode;
use crate::passphrase::Passphrase;
use crate::prices::{self, Override};
use crate::providers::canonical::{ChatRequest, Role, Turn};
use crate::router;
use crate::vault::{kdf::KdfParams, snapshot};
use crate::workspace::Workspace;
use keyhold_sim::{self as sim, Flavor};

const KEY: &str = "sk-sim-tamper-CANARY-openai";
const PASS: &str = "tamper suite passphrase";

struct Rig {
    tmp: tempfile::TempDir,
    ws: Arc<Workspace>,
    provider: sim::Running,
    attacker: sim::Running,
    token: String,
}

impl Rig {
    /// A connection of its own, as a process editing the file by hand would have.
    fn outside(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.tmp.path().join("keyhold.db")).unwrap()
    }

    fn dir(&self) -> DataDir {
        DataDir::resolve(Some(self.tmp.path().to_path_buf())).unwrap()
    }

    async fn chat(&self) -> Result<router::Reply, router::RouterError> {
        let a = agents::find(&self.ws.conn(), "bot").unwrap();
        let req = ChatRequest { turns: vec![Turn::new(Role::User, "hello")], max_tokens: 50, ..Default::default() };
        router::call(&self.ws, &a, req, Mode::Agent, &mut |_: &str| ()).await
    }

    fn nothing_reached_the_attacker(&self) {
        assert!(self.attacker.requests().is_empty(), "a request reached the attacker's server");
    }
}

async fn rig() -> Rig {
    snapshot::use_fast_encryption_for_tests();
    let tmp = tempfile::tempdir().unwrap();
    let ws = Workspace::open_with(DataDir::resolve(Some(tmp.path().to_path_buf())).unwrap(), KdfParams::FAST_FOR_TESTS)
        .unwrap();
    ws.create_vault(&Passphrase::new(PASS.into()), None).unwrap();
    let addr = "127.0.0.1:0".parse().unwrap();
    let provider = sim::start(Flavor::OpenAi, addr, vec![KEY.into()]).await.unwrap();
    // The attacker's server accepts any key, and records what it is sent.
    let attacker = sim::start(Flavor::OpenAi, addr, vec![]).await.unwrap();
    ws.with_unlocked(|c, u| {
        let url = provider.base_url();
        keys::add(c, u, "openai", "work", Some(&url), Some(Zeroizing::new(KEY.into())), Reach::default())?;
        keys::add(c, u, "openai", "spare", Some(&url), Some(Zeroizing::new(KEY.into())), Reach::default())?;
        keys::set_active(c, u, "spare", false)
    })
    .unwrap();
    let spec = AgentSpec {
        name: "bot".into(),
        model: "gpt-4o-mini".into(),
        key: Some("work".into()),
        budget_usd: Some("0.50".into()),
        when_over: Some(WhenOver::Refuse),
        ..Default::default()
    };
    ws.with_unlocked(|c, u| agents::add(c, u, &spec)).unwrap();
    let price = Override::from_text("0.15", "0.60", None, None).unwrap();
    ws.with_unlocked(|c, u| prices::set(c, u, "gpt-4o-mini", price)).unwrap();
    let token = ws.with_unlocked(|c, u| tokens::issue(c, u, "bot", None)).unwrap().token;
    Rig { tmp, ws: Arc::new(ws), provider, attacker, token }
}

#[tokio::test]
async fn an_untouched_configuration_works_and_vault_check_finds_nothing() {
    let r = rig().await;
    r.chat().await.unwrap();
    assert_eq!(r.provider.requests().len(), 1);
    let report = crate::app::vault::check(&r.dir(), &Passphrase::new(PASS.into())).unwrap();
    assert!(report.configuration_tagged);
    assert!(report.changed_outside.is_empty(), "{:?}", report.changed_outside);
}

#[tokio::test]
async fn a_key_address_changed_by_hand_sends_nothing_anywhere() {
    let r = rig().await;
    let attacker = r.attacker.base_url();
    r.outside().execute("UPDATE provider_keys SET base_url = ?1 WHERE label = 'work'", [&attacker]).unwrap();

    let err = r.chat().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ChangedOutsideKeyhold, "{err}");
    assert!(err.to_string().contains("The key \"work\" was changed outside Keyhold"), "{err}");
    let err = crate::app::keys::test(&r.ws, "work", std::time::Duration::from_secs(5)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ChangedOutsideKeyhold, "{err}");
    r.nothing_reached_the_attacker();
    assert!(r.provider.requests().is_empty());

    let report = crate::app::vault::check(&r.dir(), &Passphrase::new(PASS.into())).unwrap();
    assert_eq!(report.changed_outside.len(), 1, "{:?}", report.changed_outside);
    assert!(report.changed_outside[0].contains("The key \"work\""));
    assert!(!report.changed_outside[0].contains("CANARY"));
}

#[tokio::test]
async fn a_key_reactivated_or_moved_to_another_provider_by_hand_is_refused() {
    let r = rig().await;
    r.outside().execute("UPDATE provider_keys SET active = 1 WHERE label = 'spare'", []).unwrap();
    let err = crate::app::keys::test(&r.ws, "spare", std::time::Duration::from_secs(5)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ChangedOutsideKeyhold, "{err}");
    r.outside().execute("UPDATE provider_keys SET allow_insecure_http = 1 WHERE label = 'work'", []).unwrap();
    assert_eq!(r.chat().await.unwrap_err().kind(), ErrorKind::ChangedOutsideKeyhold);
    assert!(r.provider.requests().is_empty());
}

#[tokio::test]
async fn an_agent_chain_budget_or_key_changed_by_hand_is_refused() {
    for edit in [
        "UPDATE agents SET budget_nano = NULL",
        "UPDATE agents SET when_over = 'local'",
        "UPDATE agents SET key_id = (SELECT id FROM provider_keys WHERE label = 'spare')",
        "INSERT INTO agent_steps (agent_id, idx, key_id, model) SELECT id, 0, (SELECT id FROM provider_keys WHERE label = 'work'), 'gpt-4o' FROM agents",
        "UPDATE agents SET max_tokens = 1000000",
        "UPDATE agents SET privacy = 'off'",
        // What the agent's tool calls get back (restore is the default, so this is a change).
        "UPDATE agents SET tool_values = 'placeholders'",
        // What its paid steps do with fetched input (reserve is the default).
        "UPDATE agents SET fetched = 'refuse'",
    ] {
        let r = rig().await;
        r.outside().execute(edit, []).unwrap();
        let err = r.chat().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ChangedOutsideKeyhold, "{edit}: {err}");
        assert!(err.to_string().contains("The agent \"bot\" was changed outside Keyhold"), "{err}");
        assert!(r.provider.requests().is_empty(), "{edit}: a request was sent");
        let report = crate::app::vault::check(&r.dir(), &Passphrase::new(PASS.into())).unwrap();
        assert_eq!(report.changed_outside.len(), 1, "{edit}: {:?}", report.changed_outside);
    }
}

#[tokio::test]
async fn a_price_set_to_zero_or_removed_by_hand_does_not_reopen_a_budget() {
    for edit in [
        "UPDATE price_overrides SET input = 0, output = 0",
        "DELETE FROM price_overrides",
        "INSERT INTO price_overrides (model, input, output, cache_read, cache_write) VALUES ('gpt-4o', 0, 0, 0, 0)",
    ] {
        let r = rig().await;
        r.outside().execute(edit, []).unwrap();
        let err = r.chat().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ChangedOutsideKeyhold, "{edit}: {err}");
        assert!(err.to_string().contains("The table of your price overrides was changed outside Keyhold"), "{err}");
        assert!(r.provider.requests().is_empty());
    }
}

#[tokio::test]
async fn a_proxy_token_forged_or_moved_by_hand_does_not_authenticate() {
    let r = rig().await;
    // A second agent, and a token row moved onto it.
    let spec =
        AgentSpec { name: "other".into(), model: "gpt-4o-mini".into(), key: Some("work".into()), ..Default::default() };
    r.ws.with_unlocked(|c, u| agents::add(c, u, &spec)).unwrap();
    r.outside().execute("UPDATE agent_tokens SET agent_id = (SELECT id FROM agents WHERE name = 'other')", []).unwrap();
    let err = r.ws.with_unlocked(|c, u| tokens::authenticate(c, u, &r.token)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ChangedOutsideKeyhold);
    // A row inserted with the digest of a token of the attacker's choosing, in both schemes.
    use sha2::Digest;
    let chosen = "kh-attacker-chosen";
    let sha: String = sha2::Sha256::digest(chosen.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    for scheme in ["sha256", "hmac"] {
        let o = r.outside();
        o.execute("DELETE FROM agent_tokens WHERE label = 'forged'", []).unwrap();
        o.execute(
            "INSERT INTO agent_tokens (id, agent_id, label, scheme, hash, hint, created_at)
             SELECT ?1, id, 'forged', ?2, ?3, 'kh-…', '2026-11-30T00:00:00Z' FROM agents WHERE name = 'bot'",
            [format!("t_forged_{scheme}"), scheme.to_string(), sha.clone()],
        )
        .unwrap();
        match r.ws.with_unlocked(|c, u| tokens::authenticate(c, u, chosen)) {
            Err(e) => assert_eq!(e.kind(), ErrorKind::ChangedOutsideKeyhold, "{scheme}: {e}"),
            // The HMAC scheme: the attacker cannot compute the digest, so the token is unknown.
            Ok(found) => assert!(scheme == "hmac" && found.is_none(), "{scheme}: a forged token was accepted"),
        }
    }
    r.nothing_reached_the_attacker();
    let report = crate::app::vault::check(&r.dir(), &Passphrase::new(PASS.into())).unwrap();
    // The moved token and the forged row by their tags, and the forged row as one Keyhold never
    // saved (the configuration manifest in the vault).
    assert_eq!(report.changed_outside.len(), 3, "{:?}", report.changed_outside);
    assert!(report
        .changed_outside
        .iter()
        .any(|l| l == "token \"forged of agent bot\" was added or brought back outside Keyhold"));
}

#[tokio::test]
async fn offline_mode_turned_off_by_hand_stays_on_after_the_next_unlock() {
    let r = rig().await;
    r.ws.set_offline(true).unwrap();
    r.ws.lock();
    // Locked, offline mode can be turned on, never off.
    assert_eq!(r.ws.set_offline(false).unwrap_err().kind(), ErrorKind::Locked);
    r.outside().execute("UPDATE settings SET value = 'off' WHERE key = 'offline'", []).unwrap();
    r.ws.unlock(&Passphrase::new(PASS.into())).unwrap();
    assert!(r.ws.offline(), "a hand-made 'off' is not believed");
    let changed = r.ws.info().changed_outside;
    assert!(changed.iter().any(|c| c.contains("offline mode")), "{changed:?}");
    let err = r.chat().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::OfflineNoLocal, "{err}");
    assert!(r.provider.requests().is_empty());
    // Turning it off in Keyhold, unlocked, works and is believed again.
    r.ws.set_offline(false).unwrap();
    r.chat().await.unwrap();
}

#[tokio::test]
async fn a_database_this_vault_never_signed_is_used_only_after_the_user_sees_what_it_holds_and_adopts_it() {
    let r = rig().await;
    // Tags wiped, and the vault's mark removed, as a 0.1 vault and database would be (written
    // while locked: locking writes the snapshot's ledger mark).
    r.ws.lock();
    let paths = r.dir().vault_paths();
    let opened = crate::vault::open(&paths, &Passphrase::new(PASS.into())).unwrap();
    let old = crate::vault::Contents {
        master: opened.contents.master,
        pending: None,
        token_key: None,
        stretched: false,
        manifest: None,
        ledger: None,
    };
    crate::vault::rewrite(&paths, &opened.key, &old).unwrap();
    let o = r.outside();
    for table in ["provider_keys", "agents", "agent_tokens", "settings"] {
        o.execute(&format!("UPDATE {table} SET mac = NULL"), []).unwrap();
    }
    o.execute(
        "UPDATE agent_tokens SET scheme = 'sha256', hash = ?1",
        [{
            use sha2::Digest;
            sha2::Sha256::digest(r.token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect::<String>()
        }],
    )
    .unwrap();
    // A row planted before the first unlock: it must be among what the user is shown.
    o.execute(
        "INSERT INTO agents (id, name, model, key_id, system_prompt, temperature, max_tokens, budget_nano, when_over,
                             privacy, created_at, updated_at, mac)
         SELECT 'planted-id', 'Planted', model, key_id, system_prompt, temperature, max_tokens, NULL, when_over,
                'off', created_at, updated_at, NULL FROM agents WHERE name = 'bot'",
        [],
    )
    .unwrap();
    drop(o);
    let report = crate::app::vault::check(&r.dir(), &Passphrase::new(PASS.into())).unwrap();
    assert!(!report.configuration_tagged && report.never_signed, "{report:?}");
    assert!(report.changed_outside.iter().any(|l| l.contains("\"Planted\"")), "{report:?}");

    // Unlocked, it is signed under this vault but not used: nothing is sent, no token works,
    // and the window lists what the database holds, the planted agent with the rest.
    r.ws.unlock(&Passphrase::new(PASS.into())).unwrap();
    let shown = r.ws.info().changed_outside;
    assert!(shown[0].contains("never signed by this vault"), "{shown:?}");
    for name in ["\"bot\"", "\"Planted\"", "\"work\""] {
        assert!(shown.iter().any(|l| l.contains(name)), "{name} not shown: {shown:?}");
    }
    assert_eq!(r.chat().await.unwrap_err().kind(), ErrorKind::ChangedOutsideKeyhold);
    assert!(r.provider.requests().is_empty(), "nothing reached the provider before adoption");
    // Still not adopted at the next unlock: the question stands until the user answers it.
    r.ws.lock();
    r.ws.unlock(&Passphrase::new(PASS.into())).unwrap();
    assert!(r.ws.info().changed_outside[0].contains("never signed"));
    let report = crate::app::vault::check(&r.dir(), &Passphrase::new(PASS.into())).unwrap();
    assert!(report.never_signed, "{report:?}");

    // The user adopts it, having seen it: it is the configuration now.
    let adopted = r.ws.accept_configuration().unwrap();
    assert!(adopted.iter().any(|l| l.contains("\"Planted\"")), "{adopted:?}");
    assert!(r.ws.info().changed_outside.is_empty(), "{:?}", r.ws.info().changed_outside);
    r.chat().await.unwrap();
    assert_eq!(r.ws.with_unlocked(|c, u| tokens::authenticate(c, u, &r.token)).unwrap().unwrap().name, "bot");
    let report = crate::app::vault::check(&r.dir(), &Passphrase::new(PASS.into())).unwrap();
    assert!(report.configuration_tagged && !report.never_signed && report.changed_outside.is_empty(), "{report:?}");
    // Once adopted, a later hand edit is caught: the mark lives in the vault, not the database.
    r.outside().execute("UPDATE agents SET budget_nano = NULL", []).unwrap();
    assert_eq!(r.chat().await.unwrap_err().kind(), ErrorKind::ChangedOutsideKeyhold);
}

#[tokio::test]
async fn rotating_the_master_secret_keeps_everything_working_and_retires_the_old_one() {
    let r = rig().await;
    let pass = Passphrase::new(PASS.into());
    let before = crate::vault::open(&r.dir().vault_paths(), &pass).unwrap();
    // Each step is said as it starts, in order (the window's progress line).
    let steps = std::sync::Mutex::new(Vec::new());
    r.ws.rotate_master_reporting(&pass, &|s| steps.lock().unwrap().push(s)).unwrap();
    use crate::vault::VaultStep::{self, *};
    let steps = steps.into_inner().unwrap();
    assert_eq!(steps, [CheckingPassphrase, WritingNewSecret, ResealingRecords, RetiringOldSecret]);
    assert_eq!(steps.len() as u32, VaultStep::IN_A_ROTATION);
    r.chat().await.unwrap();
    assert_eq!(r.ws.with_unlocked(|c, u| tokens::authenticate(c, u, &r.token)).unwrap().unwrap().name, "bot");
    let report = crate::app::vault::check(&r.dir(), &pass).unwrap();
    assert!(report.keys_failed.is_empty() && report.changed_outside.is_empty(), "{report:?}");
    // The old master secret (an old copy of the vault file, an old passphrase) opens nothing now.
    let old = crate::integrity::Unlocked::new(&before.contents.master, before.contents.token_key.as_ref().unwrap());
    let conn = r.outside();
    assert!(matches!(keys::open_secret(&conn, &old, "work"), Err(keys::KeyError::Changed(_))));
    assert!(!crate::sealing::check_everything(&conn, &old).unwrap().is_empty());
}

#[tokio::test]
async fn a_rotation_refuses_to_bless_a_record_changed_outside_keyhold() {
    let r = rig().await;
    r.outside().execute("UPDATE agents SET budget_nano = NULL", []).unwrap();
    let err = r.ws.rotate_master(&Passphrase::new(PASS.into())).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ChangedOutsideKeyhold, "{err}");
    assert!(err.to_string().contains("The agent \"bot\""), "{err}");
    // Nothing moved: the key still opens, and the agent is still refused.
    crate::app::keys::test(&r.ws, "work", std::time::Duration::from_secs(5)).await.unwrap();
    assert_eq!(r.chat().await.unwrap_err().kind(), ErrorKind::ChangedOutsideKeyhold);
}

/// A rotation killed after the snapshot got the new secret, before the database moved: the
/// next unlock keeps the old one; killed after the database moved, before the snapshot was
/// finished: the next unlock keeps the new one. Either way every key opens.
#[tokio::test]
async fn a_rotation_killed_half_way_is_settled_by_the_next_unlock() {
    use crate::workspace::RotationStage;
    for stage in [RotationStage::SnapshotPending, RotationStage::DatabaseDone] {
        let r = rig().await;
        let pass = Passphrase::new(PASS.into());
        r.ws.rotate_master_until(&pass, stage, &|_| {}).unwrap();
        let pending = crate::vault::open(&r.dir().vault_paths(), &pass).unwrap();
        assert!(pending.contents.pending.is_some(), "{stage:?}: the snapshot holds both secrets");
        // The process dies here; a new one opens the data dir.
        let Rig { tmp, ws, provider, attacker, token } = r;
        drop(ws);
        let ws =
            Workspace::open_with(DataDir::resolve(Some(tmp.path().to_path_buf())).unwrap(), KdfParams::FAST_FOR_TESTS)
                .unwrap();
        ws.unlock(&pass).unwrap();
        let r = Rig { tmp, ws: Arc::new(ws), provider, attacker, token };
        assert!(r.ws.info().changed_outside.is_empty(), "{stage:?}: {:?}", r.ws.info().changed_outside);
        r.chat().await.unwrap();
        let settled = crate::vault::open(&r.dir().vault_paths(), &pass).unwrap();
        assert!(settled.contents.pending.is_none(), "{stage:?}: the rotation was settled");
        let report = crate::app::vault::check(&r.dir(), &pass).unwrap();
        assert!(report.keys_failed.is_empty() && report.changed_outside.is_empty(), "{stage:?}: {report:?}");
    }
}

#[tokio::test]
async fn offline_mode_turned_on_in_keyhold_raises_no_warning_at_the_next_unlock() {
    let r = rig().await;
    r.ws.set_offline(true).unwrap();
    r.ws.lock();
    r.ws.set_offline(true).unwrap();
    r.ws.unlock(&Passphrase::new(PASS.into())).unwrap();
    assert!(r.ws.offline());
    assert_eq!(r.ws.info().changed_outside, Vec::<String>::new(), "on needs no tag: it only keeps data here");
}
