use super::*;
use zeroize::Zeroizing;

fn setup() -> (tempfile::TempDir, Connection) {
    let dir = tempfile::tempdir().unwrap();
    let conn = crate::db::open(&dir.path().join("k.db")).unwrap();
    let u = crate::integrity::for_tests();
    let reach = keys::Reach::default();
    keys::add(&conn, &u, "openai", "work", None, Some(Zeroizing::new("sk-aaaaaaaaaaaaaaaaaaaa".into())), reach)
        .unwrap();
    keys::add(&conn, &u, "ollama", "local", Some("http://127.0.0.1:11434"), None, reach).unwrap();
    (dir, conn)
}

fn spec(name: &str) -> AgentSpec {
    AgentSpec {
        name: name.into(),
        model: "gpt-4o-mini".into(),
        key: None,
        system_prompt: Some("Be brief.".into()),
        temperature: Some(0.2),
        max_tokens: None,
        fallback: vec!["local:llama3.2:1b".into()],
        budget_usd: Some("2.50".into()),
        when_over: None,
        privacy: None,
        tool_values: None,
        fetched: None,
    }
}

#[test]
fn an_agent_is_saved_with_its_chain_and_budget() {
    let (_d, mut conn) = setup();
    let a = add(&mut conn, &crate::integrity::for_tests(), &spec("Writer")).unwrap().agent;
    assert_eq!(a.fallback, vec![Step { key_id: keys::find(&conn, "local").unwrap().id, model: "llama3.2:1b".into() }]);
    assert_eq!(a.budget, Some(crate::money::Money::from_nanos(2_500_000_000)));
    assert_eq!(a.max_tokens, DEFAULT_MAX_TOKENS);
    assert_eq!(a.when_over, WhenOver::Local);
    let copy = duplicate(&mut conn, &crate::integrity::for_tests(), "writer").unwrap();
    assert_eq!(copy.name, "Writer copy");
    assert_eq!(copy.fallback, a.fallback);
    assert_eq!(list(&conn).unwrap().len(), 2);
    remove(&conn, &crate::integrity::for_tests(), "Writer").unwrap();
    assert_eq!(list(&conn).unwrap().len(), 1);
}

#[test]
fn bad_input_is_refused_and_nothing_is_half_saved() {
    let (_d, mut conn) = setup();
    let cases: Vec<(AgentSpec, &str)> = vec![
        (AgentSpec { name: " ".into(), ..spec("x") }, "Give the agent a name."),
        (AgentSpec { budget_usd: Some("-1".into()), ..spec("x") }, "positive amount"),
        (AgentSpec { budget_usd: Some("0".into()), ..spec("x") }, "positive amount"),
        (AgentSpec { budget_usd: Some("lots".into()), ..spec("x") }, "positive amount"),
        (AgentSpec { fallback: vec!["nocolon".into()], ..spec("x") }, "is not KEY:MODEL"),
        (AgentSpec { fallback: vec!["nokey:gpt-4o".into()], ..spec("x") }, "No key called \"nokey\""),
        (AgentSpec { model: "mystery-model".into(), ..spec("x") }, "cannot tell which provider"),
        (AgentSpec { temperature: Some(3.0), ..spec("x") }, "between 0 and 2"),
    ];
    for (s, want) in cases {
        let err = add(&mut conn, &crate::integrity::for_tests(), &s).unwrap_err().to_string();
        assert!(err.contains(want), "{err}");
    }
    assert!(list(&conn).unwrap().is_empty());
    let n: i64 = conn.query_row("SELECT COUNT(*) FROM agent_steps", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 0);
    add(&mut conn, &crate::integrity::for_tests(), &spec("Once")).unwrap();
    assert!(matches!(add(&mut conn, &crate::integrity::for_tests(), &spec("once")), Err(AgentError::DuplicateName(_))));
}

#[test]
fn a_model_the_key_does_not_list_is_a_warning_with_the_list() {
    let (_d, mut conn) = setup();
    let id = keys::find(&conn, "work").unwrap().id;
    let valid =
        crate::providers::probe::Verdict::Valid { models: vec!["gpt-4o".to_string(), "gpt-4o-mini".to_string()] };
    keys::record_test(&conn, Some(&crate::integrity::for_tests()), &id, &valid, "Valid").unwrap();
    let saved = add(
        &mut conn,
        &crate::integrity::for_tests(),
        &AgentSpec { key: Some("work".into()), model: "gpt-5".into(), ..spec("A") },
    )
    .unwrap();
    assert_eq!(
        saved.warnings,
        vec!["work (openai) did not list \"gpt-5\" at its last test. It lists: gpt-4o, gpt-4o-mini.".to_string()]
    );
}
