//! Tool use across protocols, over real HTTP: a caller of one protocol, a chain whose answering
//! step speaks another, the simulators behind refusing what the real APIs refuse (a call without
//! its result, a result without its call, an input that is not an object).

use serde_json::{json, Value};
use zeroize::Zeroizing;

use super::tests::{rig, Rig, KEY};
use crate::agents::{self, tokens, AgentSpec, WhenOver};
use crate::keys;
use keyhold_sim::{self as sim, Behavior, Flavor};

fn c() -> reqwest::Client {
    reqwest::Client::new()
}

/// What a caller got, whatever its protocol and whether streamed: text, tool calls (id, name,
/// arguments) and the stop reason in the caller's words.
#[derive(Debug, Default)]
struct Got {
    text: String,
    calls: Vec<(String, String, String)>,
    stop: String,
}

fn events(body: &str) -> Vec<Value> {
    body.lines().filter_map(|l| l.strip_prefix("data: ")).filter_map(|d| serde_json::from_str(d).ok()).collect()
}

fn read_openai(body: &str) -> Got {
    let mut g = Got::default();
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        let m = &v["choices"][0]["message"];
        g.text = m["content"].as_str().unwrap_or("").into();
        for c in m["tool_calls"].as_array().into_iter().flatten() {
            let s = |p: &str| c.pointer(p).and_then(Value::as_str).unwrap_or("").to_string();
            g.calls.push((s("/id"), s("/function/name"), s("/function/arguments")));
        }
        g.stop = v["choices"][0]["finish_reason"].as_str().unwrap_or("").into();
        return g;
    }
    for e in events(body) {
        let d = &e["choices"][0]["delta"];
        g.text.push_str(d["content"].as_str().unwrap_or(""));
        for c in d["tool_calls"].as_array().into_iter().flatten() {
            let i = c["index"].as_u64().unwrap() as usize;
            if let Some(id) = c["id"].as_str() {
                assert_eq!(i, g.calls.len(), "calls are numbered in order");
                g.calls.push((id.into(), c["function"]["name"].as_str().unwrap().into(), String::new()));
            }
            g.calls[i].2.push_str(c["function"]["arguments"].as_str().unwrap_or(""));
        }
        if let Some(f) = e["choices"][0]["finish_reason"].as_str() {
            g.stop = f.into();
        }
    }
    g
}

fn read_anthropic(body: &str) -> Got {
    let mut g = Got::default();
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        for b in v["content"].as_array().into_iter().flatten() {
            match b["type"].as_str() {
                Some("text") => g.text.push_str(b["text"].as_str().unwrap()),
                Some("tool_use") => g.calls.push((
                    b["id"].as_str().unwrap().into(),
                    b["name"].as_str().unwrap().into(),
                    b["input"].to_string(),
                )),
                _ => {}
            }
        }
        g.stop = v["stop_reason"].as_str().unwrap_or("").into();
        return g;
    }
    let mut open: Option<u64> = None;
    for e in events(body) {
        match e["type"].as_str().unwrap() {
            "content_block_start" => {
                assert!(open.is_none(), "a block starts only after the last one stopped: {body}");
                open = e["index"].as_u64();
                let b = &e["content_block"];
                if b["type"] == "tool_use" {
                    g.calls.push((b["id"].as_str().unwrap().into(), b["name"].as_str().unwrap().into(), String::new()));
                }
            }
            "content_block_delta" => {
                assert_eq!(open, e["index"].as_u64(), "a delta goes to the open block");
                match e["delta"]["type"].as_str().unwrap() {
                    "text_delta" => g.text.push_str(e["delta"]["text"].as_str().unwrap()),
                    "input_json_delta" => {
                        g.calls.last_mut().unwrap().2.push_str(e["delta"]["partial_json"].as_str().unwrap())
                    }
                    other => panic!("unexpected delta {other}"),
                }
            }
            "content_block_stop" => open = None,
            "message_delta" => g.stop = e["delta"]["stop_reason"].as_str().unwrap_or("").into(),
            _ => {}
        }
    }
    g
}

fn read_responses(body: &str) -> Got {
    let mut g = Got::default();
    let output = match serde_json::from_str::<Value>(body) {
        Ok(v) => v,
        Err(_) => {
            let all = events(body);
            assert!(all.iter().enumerate().all(|(i, e)| e["sequence_number"] == i as u64), "{body}");
            all.last().unwrap()["response"].clone()
        }
    };
    for item in output["output"].as_array().into_iter().flatten() {
        match item["type"].as_str().unwrap() {
            "message" => g.text.push_str(item["content"][0]["text"].as_str().unwrap_or("")),
            "function_call" | "custom_tool_call" => g.calls.push((
                item["call_id"].as_str().unwrap().into(),
                item["name"].as_str().unwrap().into(),
                item["arguments"].as_str().or(item["input"].as_str()).unwrap().into(),
            )),
            other => panic!("unexpected item {other}"),
        }
    }
    g.stop = output["status"].as_str().unwrap_or("").into();
    g
}

/// An agent on `model` whose first step always fails over to `fallback`.
fn chained(r: &Rig, name: &str, model: &str, key: &str, fallback: &str) -> String {
    let spec = AgentSpec {
        name: name.into(),
        model: model.into(),
        key: Some(key.into()),
        max_tokens: Some(100),
        fallback: vec![fallback.into()],
        when_over: Some(WhenOver::Refuse),
        ..Default::default()
    };
    r.ws.with_unlocked(|c, u| agents::add(c, u, &spec)).unwrap();
    r.ws.with_unlocked(|c, u| tokens::issue(c, u, name, None)).unwrap().token
}

fn down(s: &sim::Running) {
    s.set_behavior(vec![Behavior { status: Some(529), times: Some(100), ..Default::default() }]);
}

fn outcomes(r: &Rig) -> Vec<String> {
    crate::ledger::export(&r.ws.conn(), &Default::default()).unwrap().into_iter().map(|row| row.outcome).collect()
}

#[tokio::test]
async fn an_openai_tool_round_trip_falls_back_to_anthropic_with_its_tools() {
    let r = rig().await;
    let t = chained(&r, "mixed", "gpt-4o-mini", "oa", "an:claude-haiku-4-5");
    down(&r.openai);
    let tools = json!([{ "type": "function", "function": { "name": "lookup", "description": "Looks things up",
        "parameters": { "type": "object", "properties": { "input": { "type": "string" } } } } }]);
    for stream in [true, false] {
        let ask = json!({ "model": "x", "stream": stream, "tools": tools, "tool_choice": "auto",
                          "messages": [{ "role": "user", "content": "What is the weather?" }] });
        let resp = c().post(r.url("/v1/chat/completions")).bearer_auth(&t).json(&ask).send().await.unwrap();
        assert_eq!(resp.status(), 200, "stream {stream}");
        let got = read_openai(&resp.text().await.unwrap());
        assert_eq!(got.calls.len(), 1, "{got:?}");
        let (id, name, args) = got.calls[0].clone();
        assert_eq!((name.as_str(), args.as_str(), got.stop.as_str()), ("lookup", sim::tools::ARGUMENTS, "tool_calls"));
        // The provider got the tools in its own words.
        let sent = r.anthropic.requests().last().unwrap().body.clone().unwrap();
        assert_eq!(sent["tools"][0]["name"], "lookup");
        assert_eq!(sent["tools"][0]["input_schema"]["properties"]["input"]["type"], "string");
        assert_eq!(sent["tool_choice"], json!({ "type": "auto" }));
        // The client runs the tool and sends its result back, in OpenAI's shape.
        let result = json!({ "model": "x", "stream": stream, "tools": tools, "messages": [
            { "role": "user", "content": "What is the weather?" },
            { "role": "assistant", "content": null, "tool_calls": [{ "id": id, "type": "function",
                "function": { "name": "lookup", "arguments": args } }] },
            { "role": "tool", "tool_call_id": id, "content": "42 degrees" } ] });
        let resp = c().post(r.url("/v1/chat/completions")).bearer_auth(&t).json(&result).send().await.unwrap();
        assert_eq!(resp.status(), 200, "stream {stream}");
        let got = read_openai(&resp.text().await.unwrap());
        assert_eq!((got.text.as_str(), got.stop.as_str()), ("The tool said: 42 degrees", "stop"));
        let sent = r.anthropic.requests().last().unwrap().body.clone().unwrap();
        assert_eq!(sent["messages"][1]["content"][0]["type"], "tool_use");
        assert_eq!(sent["messages"][1]["content"][0]["input"], json!({ "input": "sim" }));
        assert_eq!(sent["messages"][2]["content"][0]["tool_use_id"], sent["messages"][1]["content"][0]["id"]);
    }
    let rows = outcomes(&r);
    assert_eq!(rows.iter().filter(|o| *o == "ok").count(), 4, "{rows:?}");
    assert!(!rows.iter().any(|o| o == "tools_unsupported"), "{rows:?}");
}

#[tokio::test]
async fn an_anthropic_tool_round_trip_falls_back_to_openai_with_its_tools() {
    let r = rig().await;
    let t = chained(&r, "claude-first", "claude-haiku-4-5", "an", "oa:gpt-4o-mini");
    down(&r.anthropic);
    let tools = json!([{ "name": "lookup", "description": "Looks things up", "input_schema": { "type": "object" } }]);
    for stream in [true, false] {
        let ask = json!({ "model": "x", "max_tokens": 50, "stream": stream, "tools": tools,
                          "tool_choice": { "type": "tool", "name": "lookup" },
                          "messages": [{ "role": "user", "content": "What is the weather?" }] });
        let resp = c().post(r.url("/v1/messages")).header("x-api-key", &t).json(&ask).send().await.unwrap();
        assert_eq!(resp.status(), 200, "stream {stream}");
        let got = read_anthropic(&resp.text().await.unwrap());
        assert_eq!(got.calls.len(), 1, "{got:?}");
        let (id, name, args) = got.calls[0].clone();
        assert_eq!((name.as_str(), got.stop.as_str()), ("lookup", "tool_use"));
        assert_eq!(serde_json::from_str::<Value>(&args).unwrap(), json!({ "input": "sim" }));
        let sent = r.openai.requests().last().unwrap().body.clone().unwrap();
        assert_eq!(sent["tools"][0]["function"]["name"], "lookup");
        assert_eq!(sent["tool_choice"], json!({ "type": "function", "function": { "name": "lookup" } }));
        let result = json!({ "model": "x", "max_tokens": 50, "stream": stream, "tools": tools, "messages": [
            { "role": "user", "content": "What is the weather?" },
            { "role": "assistant", "content": [{ "type": "text", "text": "Let me look." },
                { "type": "tool_use", "id": id, "name": "lookup", "input": { "input": "sim" } }] },
            { "role": "user", "content": [{ "type": "tool_result", "tool_use_id": id, "content": "42 degrees" },
                { "type": "text", "text": "Thanks" }] } ] });
        let resp = c().post(r.url("/v1/messages")).header("x-api-key", &t).json(&result).send().await.unwrap();
        assert_eq!(resp.status(), 200, "stream {stream}");
        let got = read_anthropic(&resp.text().await.unwrap());
        assert_eq!(got.stop, "end_turn");
        let sent = r.openai.requests().last().unwrap().body.clone().unwrap();
        let roles: Vec<&str> =
            sent["messages"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
        assert_eq!(roles, ["user", "assistant", "tool", "user"], "{sent}");
        assert_eq!(sent["messages"][1]["content"], "Let me look.");
        assert_eq!(sent["messages"][2]["tool_call_id"], sent["messages"][1]["tool_calls"][0]["id"]);
    }
    assert_eq!(outcomes(&r).iter().filter(|o| *o == "ok").count(), 4);
}

#[tokio::test]
async fn a_codex_style_responses_round_trip_is_served_by_an_anthropic_agent() {
    let r = rig().await;
    let tools = json!([{ "type": "function", "name": "shell", "description": "Runs a command",
                         "parameters": { "type": "object", "properties": { "input": { "type": "string" } } } }]);
    for stream in [true, false] {
        let ask = json!({ "model": "x", "stream": stream, "instructions": "You are a coding agent.", "tools": tools,
            "input": [{ "type": "message", "role": "user", "content": [{ "type": "input_text", "text": "List files" }] }] });
        let resp = c().post(r.url("/v1/responses")).bearer_auth(&r.anthropic_token).json(&ask).send().await.unwrap();
        assert_eq!(resp.status(), 200, "stream {stream}");
        let got = read_responses(&resp.text().await.unwrap());
        assert_eq!(got.calls.len(), 1, "{got:?}");
        let (call_id, name, args) = got.calls[0].clone();
        assert_eq!((name.as_str(), got.stop.as_str()), ("shell", "completed"));
        assert_eq!(serde_json::from_str::<Value>(&args).unwrap(), json!({ "input": "sim" }));
        let result = json!({ "model": "x", "stream": stream, "instructions": "You are a coding agent.", "tools": tools,
            "input": [
                { "type": "message", "role": "user", "content": [{ "type": "input_text", "text": "List files" }] },
                { "type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "opaque" },
                { "type": "function_call", "call_id": call_id, "name": "shell", "arguments": args },
                { "type": "function_call_output", "call_id": call_id, "output": "a.txt b.txt" } ] });
        let resp = c().post(r.url("/v1/responses")).bearer_auth(&r.anthropic_token).json(&result).send().await.unwrap();
        assert_eq!(resp.status(), 200, "stream {stream}");
        let got = read_responses(&resp.text().await.unwrap());
        assert_eq!(got.text, "The tool said: a.txt b.txt");
        let sent = r.anthropic.requests().last().unwrap().body.clone().unwrap();
        assert_eq!(sent["system"], "You are a coding agent.");
        assert_eq!(sent["messages"].as_array().unwrap().len(), 3, "the reasoning item stays behind: {sent}");
    }
}

#[tokio::test]
async fn a_local_step_serves_a_tool_round_trip_in_ollamas_words() {
    let r = rig().await;
    let ollama = sim::start(Flavor::Ollama, "127.0.0.1:0".parse().unwrap(), vec![]).await.unwrap();
    r.ws.with_unlocked(|c, u| keys::add(c, u, "ollama", "local", Some(&ollama.base_url()), None, Default::default()))
        .unwrap();
    let t = chained(&r, "to-local", "gpt-4o-mini", "oa", "local:llama3.2:1b");
    down(&r.openai);
    let tools = json!([{ "type": "function", "function": { "name": "lookup", "parameters": { "type": "object" } } }]);
    let ask = json!({ "model": "x", "stream": true, "tools": tools, "messages": [{ "role": "user", "content": "Weather?" }] });
    let resp = c().post(r.url("/v1/chat/completions")).bearer_auth(&t).json(&ask).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let got = read_openai(&resp.text().await.unwrap());
    assert_eq!(got.calls.len(), 1, "{got:?}");
    let (id, name, args) = got.calls[0].clone();
    assert_eq!((name.as_str(), got.stop.as_str()), ("lookup", "tool_calls"));
    assert_eq!(serde_json::from_str::<Value>(&args).unwrap(), json!({ "input": "sim" }));
    assert!(!id.is_empty(), "Ollama gives no id: Keyhold makes one");
    let result = json!({ "model": "x", "tools": tools, "messages": [
        { "role": "user", "content": "Weather?" },
        { "role": "assistant", "content": null, "tool_calls": [{ "id": id, "type": "function", "function": { "name": "lookup", "arguments": args } }] },
        { "role": "tool", "tool_call_id": id, "content": "sunny" } ] });
    let resp = c().post(r.url("/v1/chat/completions")).bearer_auth(&t).json(&result).send().await.unwrap();
    assert_eq!(read_openai(&resp.text().await.unwrap()).text, "The tool said: sunny");
    let sent = ollama.requests().last().unwrap().body.clone().unwrap();
    assert_eq!(sent["messages"][1]["tool_calls"][0]["function"]["arguments"], json!({ "input": "sim" }));
    assert_eq!(
        (sent["messages"][2]["role"].as_str(), sent["messages"][2]["tool_name"].as_str()),
        (Some("tool"), Some("lookup"))
    );
    assert_eq!(sent["tools"][0]["function"]["name"], "lookup");
}

#[tokio::test]
async fn a_provider_side_tool_still_skips_a_step_of_another_protocol_and_the_note_names_it() {
    let r = rig().await;
    let t = chained(&r, "searcher", "claude-haiku-4-5", "an", "oa:gpt-4o-mini");
    down(&r.anthropic);
    let ask = json!({ "model": "x", "max_tokens": 50, "messages": [{ "role": "user", "content": "News?" }],
        "tools": [{ "type": "code_execution_20250522", "name": "code_execution" },
                  { "name": "lookup", "input_schema": { "type": "object" } }] });
    let resp = c().post(r.url("/v1/messages")).header("x-api-key", &t).json(&ask).send().await.unwrap();
    assert_eq!(resp.status(), 502);
    let text = resp.text().await.unwrap();
    assert!(text.contains("code_execution_20250522"), "{text}");
    assert!(r.openai.requests().is_empty(), "nothing went to the step that would have lost the code execution");
    assert_eq!(outcomes(&r), ["http_529", "tools_unsupported"]);
}

#[tokio::test]
async fn a_responses_turn_stored_at_openai_is_not_translated() {
    let r = rig().await;
    let ask = json!({ "model": "x", "previous_response_id": "resp_abc", "input": "and then?" });
    let resp = c().post(r.url("/v1/responses")).bearer_auth(&r.anthropic_token).json(&ask).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let text = resp.text().await.unwrap();
    assert!(text.contains("previous_response_id"), "{text}");
    assert!(r.anthropic.requests().is_empty());
}

#[tokio::test]
async fn a_placeholder_in_translated_tool_arguments_comes_back_restored_and_json_escaped() {
    let r = rig().await;
    let spec = AgentSpec {
        name: "pii-tools".into(),
        model: "claude-haiku-4-5".into(),
        key: Some("an".into()),
        max_tokens: Some(100),
        privacy: Some(crate::privacy::Policy::Pii),
        ..Default::default()
    };
    r.ws.with_unlocked(|c, u| agents::add(c, u, &spec)).unwrap();
    let t = r.ws.with_unlocked(|c, u| tokens::issue(c, u, "pii-tools", None)).unwrap().token;
    // The simulated model echoes the placeholder into its call's arguments when told to.
    let key = Zeroizing::new(KEY.to_string());
    drop(key);
    let tools = json!([{ "type": "function", "function": { "name": "mail", "parameters": { "type": "object" } } }]);
    let ask = json!({ "model": "x", "stream": true, "tools": tools, "messages": [
        { "role": "user", "content": "Mail jane.doe@example.com please" },
        { "role": "assistant", "content": null, "tool_calls": [{ "id": "call_1", "type": "function",
            "function": { "name": "mail", "arguments": "{\"to\":\"jane.doe@example.com\"}" } }] },
        { "role": "tool", "tool_call_id": "call_1", "content": "sent to jane.doe@example.com" } ] });
    let resp = c().post(r.url("/v1/chat/completions")).bearer_auth(&t).json(&ask).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let got = read_openai(&resp.text().await.unwrap());
    assert_eq!(got.text, "The tool said: sent to jane.doe@example.com", "restored in the answer");
    let sent = r.anthropic.requests().last().unwrap().body.clone().unwrap().to_string();
    assert!(!sent.contains("jane.doe@example.com"), "the address never reached the provider: {sent}");
    assert!(sent.contains("[EMAIL_1]"), "{sent}");
}

#[tokio::test]
async fn a_translated_tool_call_stream_cut_inside_characters_and_crlf_arrives_whole() {
    let r = rig().await;
    r.anthropic.set_behavior(vec![Behavior {
        crlf: Some(true),
        split_writes: Some(true),
        times: Some(10),
        ..Default::default()
    }]);
    let tools = json!([{ "type": "function", "function": { "name": "lookup", "parameters": { "type": "object" } } }]);
    let ask = json!({ "model": "x", "stream": true, "tools": tools, "messages": [{ "role": "user", "content": "Wetter in Zürich? 🌦" }] });
    let resp = c().post(r.url("/v1/chat/completions")).bearer_auth(&r.anthropic_token).json(&ask).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let got = read_openai(&resp.text().await.unwrap());
    assert_eq!(got.calls.len(), 1, "{got:?}");
    assert_eq!((got.calls[0].2.as_str(), got.stop.as_str()), (sim::tools::ARGUMENTS, "tool_calls"));
}

#[tokio::test]
async fn codex_tools_reach_anthropic_namespaced_and_with_its_web_search_and_calls_come_back_in_their_namespace() {
    let r = rig().await;
    let tools = json!([
        { "type": "namespace", "name": "multi_agent_v1", "description": "Sub-agents",
          "tools": [{ "type": "function", "name": "spawn", "parameters": { "type": "object" } }] },
        { "type": "web_search", "external_web_access": true, "filters": { "allowed_domains": ["docs.rs"] } } ]);
    for stream in [true, false] {
        let ask = json!({ "model": "x", "stream": stream, "tools": tools, "input": "[tool:multi_agent_v1__spawn] go" });
        let resp = c().post(r.url("/v1/responses")).bearer_auth(&r.anthropic_token).json(&ask).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let body = resp.text().await.unwrap();
        let whole = match serde_json::from_str::<Value>(&body) {
            Ok(v) => v,
            Err(_) => events(&body).last().unwrap()["response"].clone(),
        };
        let item = &whole["output"][0];
        assert_eq!(
            (item["name"].as_str(), item["namespace"].as_str()),
            (Some("spawn"), Some("multi_agent_v1")),
            "{whole}"
        );
        let sent = r.anthropic.requests().last().unwrap().body.clone().unwrap();
        assert_eq!(
            sent["tools"][0],
            json!({ "type": "web_search_20250305", "name": "web_search", "allowed_domains": ["docs.rs"] })
        );
        assert_eq!(sent["tools"][1]["name"], "multi_agent_v1__spawn");
        // The next turn names the call in its namespace: it reaches Anthropic joined again.
        let next = json!({ "model": "x", "stream": stream, "tools": tools, "input": [
            { "type": "message", "role": "user", "content": "go" },
            { "type": "function_call", "call_id": item["call_id"], "namespace": "multi_agent_v1", "name": "spawn", "arguments": "{}" },
            { "type": "function_call_output", "call_id": item["call_id"], "output": "spawned" } ] });
        let resp = c().post(r.url("/v1/responses")).bearer_auth(&r.anthropic_token).json(&next).send().await.unwrap();
        assert_eq!(read_responses(&resp.text().await.unwrap()).text, "The tool said: spawned");
        let sent = r.anthropic.requests().last().unwrap().body.clone().unwrap();
        assert_eq!(sent["messages"][1]["content"][0]["name"], "multi_agent_v1__spawn");
    }
}

#[tokio::test]
async fn a_web_search_skips_a_step_without_one_and_the_note_says_so() {
    let r = rig().await;
    let ask = json!({ "model": "x", "tools": [{ "type": "web_search" }], "input": "news?" });
    // The bot agent is on OpenAI, whose Responses step takes the body as it is; a chain of only
    // chat-completions steps has no search.
    let t = chained(&r, "chat-only", "claude-haiku-4-5", "an", "oa:gpt-4o-mini");
    down(&r.anthropic);
    let ask_chat = json!({ "model": "x", "max_tokens": 20, "tools": [{ "type": "web_search_20250305", "name": "web_search" }],
                           "messages": [{ "role": "user", "content": "news?" }] });
    let resp = c().post(r.url("/v1/messages")).header("x-api-key", &t).json(&ask_chat).send().await.unwrap();
    assert_eq!(resp.status(), 502);
    assert!(resp.text().await.unwrap().contains("web search"));
    let resp = c().post(r.url("/v1/responses")).bearer_auth(&r.token).json(&ask).send().await.unwrap();
    assert_eq!(resp.status(), 200, "OpenAI's own step takes its search as it is");
}

#[tokio::test]
async fn the_model_list_holds_every_model_of_the_chain_with_context_window_and_price_in_both_shapes() {
    let r = rig().await;
    let t = chained(&r, "listed", "gpt-4o-mini", "oa", "an:claude-haiku-4-5");
    let openai: Value = c().get(r.url("/v1/models")).bearer_auth(&t).send().await.unwrap().json().await.unwrap();
    let ids: Vec<&str> = openai["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["gpt-4o-mini", "claude-haiku-4-5"]);
    let first = &openai["data"][0];
    assert_eq!((first["object"].as_str(), first["context_window"].as_u64()), (Some("model"), Some(128_000)));
    assert_eq!(first["keyhold"]["usd_per_million_tokens"]["input"], "0.15");
    assert_eq!(first["keyhold"]["provider"], "openai");
    let anthropic: Value = c()
        .get(r.url("/v1/models"))
        .header("x-api-key", &t)
        .header("anthropic-version", "2023-06-01")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (anthropic["first_id"].as_str(), anthropic["last_id"].as_str()),
        (Some("gpt-4o-mini"), Some("claude-haiku-4-5"))
    );
    assert_eq!(anthropic["data"][1]["type"], "model");
    assert_eq!(anthropic["data"][1]["max_input_tokens"], 200_000);
    assert_eq!(anthropic["data"][1]["keyhold"]["usd_per_million_tokens"]["output"], "5");
}

#[tokio::test]
async fn a_prompt_injected_model_hands_a_tool_the_placeholder_never_the_secret() {
    let r = rig().await;
    let spec = AgentSpec {
        name: "guarded".into(),
        model: "gpt-4o-mini".into(),
        key: Some("oa".into()),
        max_tokens: Some(100),
        privacy: Some(crate::privacy::Policy::Pii),
        ..Default::default()
    };
    r.ws.with_unlocked(|c, u| agents::add(c, u, &spec)).unwrap();
    let t = r.ws.with_unlocked(|c, u| tokens::issue(c, u, "guarded", None)).unwrap().token;
    let secret = "sk-proj-InjectedCanary0123456789abcdefABCDEF";
    let tools = json!([{ "type": "function", "function": { "name": "post", "parameters": { "type": "object" } } }]);
    for (path, body) in [
        (
            "/v1/chat/completions",
            json!({ "model": "x", "stream": true, "tools": tools,
            "messages": [{ "role": "user", "content": format!("Deploy with {secret}, mail jane.doe@example.com. [tool:post:echo]") }] }),
        ),
        (
            "/v1/chat/completions",
            json!({ "model": "x", "stream": false, "tools": tools,
            "messages": [{ "role": "user", "content": format!("Deploy with {secret}, mail jane.doe@example.com. [tool:post:echo]") }] }),
        ),
    ] {
        let resp = c().post(r.url(path)).bearer_auth(&t).json(&body).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let got = read_openai(&resp.text().await.unwrap());
        let args: Value = serde_json::from_str(&got.calls[0].2).unwrap();
        assert_eq!(args["input"], "[SECRET_1] [EMAIL_1]".replace("[EMAIL_1]", "jane.doe@example.com"), "{args}");
        assert!(!got.calls[0].2.contains(secret));
    }
    // Translated (an OpenAI caller on an Anthropic agent), the same holds.
    let spec =
        AgentSpec { name: "guarded-an".into(), model: "claude-haiku-4-5".into(), key: Some("an".into()), ..spec };
    r.ws.with_unlocked(|c, u| agents::add(c, u, &spec)).unwrap();
    let t = r.ws.with_unlocked(|c, u| tokens::issue(c, u, "guarded-an", None)).unwrap().token;
    let body = json!({ "model": "x", "stream": true, "tools": tools,
        "messages": [{ "role": "user", "content": format!("Deploy with {secret}. [tool:post:echo]") }] });
    let resp = c().post(r.url("/v1/chat/completions")).bearer_auth(&t).json(&body).send().await.unwrap();
    let got = read_openai(&resp.text().await.unwrap());
    assert_eq!(serde_json::from_str::<Value>(&got.calls[0].2).unwrap()["input"], "[SECRET_1]");
}

/// What a prompt-injected model's tool call carries back to the caller, in every protocol Keyhold
/// speaks (native and translated, streamed and whole), for an agent with `tool_values`.
async fn injected_tool_inputs(r: &Rig, name: &str, tool_values: Option<crate::privacy::ToolValues>) -> Vec<Value> {
    let secret = "sk-proj-InjectedCanary0123456789abcdefABCDEF";
    let ask = format!("Deploy with {secret}, mail jane.doe@example.com. [tool:post:echo]");
    let mut inputs = Vec::new();
    for (model, key) in [("claude-haiku-4-5", "an"), ("gpt-4o-mini", "oa")] {
        let agent = format!("{name}-{key}");
        let spec = AgentSpec {
            name: agent.clone(),
            model: model.into(),
            key: Some(key.into()),
            max_tokens: Some(100),
            privacy: Some(crate::privacy::Policy::Pii),
            tool_values,
            ..Default::default()
        };
        r.ws.with_unlocked(|c, u| agents::add(c, u, &spec)).unwrap();
        let t = r.ws.with_unlocked(|c, u| tokens::issue(c, u, &agent, None)).unwrap().token;
        for stream in [true, false] {
            let asks = [
                (
                    "/v1/chat/completions",
                    json!({ "model": "x", "stream": stream, "messages": [{ "role": "user", "content": ask }],
                    "tools": [{ "type": "function", "function": { "name": "post", "parameters": { "type": "object" } } }] }),
                ),
                (
                    "/v1/messages",
                    json!({ "model": "x", "stream": stream, "max_tokens": 100, "messages": [{ "role": "user", "content": ask }],
                    "tools": [{ "name": "post", "input_schema": { "type": "object" } }] }),
                ),
                (
                    "/v1/responses",
                    json!({ "model": "x", "stream": stream, "input": ask,
                    "tools": [{ "type": "function", "name": "post", "parameters": { "type": "object" } }] }),
                ),
            ];
            for (path, body) in asks {
                let resp = c().post(r.url(path)).bearer_auth(&t).json(&body).send().await.unwrap();
                assert_eq!(resp.status(), 200, "{model} {path} stream {stream}");
                let text = resp.text().await.unwrap();
                assert!(
                    !text.contains(secret),
                    "{model} {path} stream {stream}: the secret reached the caller: {text}"
                );
                let got = match path {
                    "/v1/messages" => read_anthropic(&text),
                    "/v1/responses" => read_responses(&text),
                    _ => read_openai(&text),
                };
                let input: Value = serde_json::from_str(&got.calls[0].2).unwrap();
                inputs.push(json!({ "where": format!("{model} {path} stream {stream}"), "input": input["input"] }));
            }
        }
    }
    inputs
}

#[tokio::test]
async fn a_prompt_injected_tool_call_gets_the_secrets_placeholder_in_every_protocol_and_an_agent_can_keep_every_value_out(
) {
    let r = rig().await;
    // By default a tool gets the user's e-mail back (a mail tool needs it), never the secret.
    for got in injected_tool_inputs(&r, "default", None).await {
        assert_eq!(got["input"], "[SECRET_1] jane.doe@example.com", "{got}");
    }
    // An agent set to keep values out of tools hands every tool the placeholders.
    for got in injected_tool_inputs(&r, "sealed", Some(crate::privacy::ToolValues::Placeholders)).await {
        assert_eq!(got["input"], "[SECRET_1] [EMAIL_1]", "{got}");
    }
}
