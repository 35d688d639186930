//! `GET /openapi.json`: an OpenAPI 3.1 document of exactly the routes the server answers, whose
//! references all resolve, and which the server keeps to: Schemathesis (from PyPI, installed by
//! `cargo xtask test`; the external tier) fuzzes every operation and checks every answer against it.

use crate::server::{client, get, post, TestServer};
#[cfg(feature = "external-tests")]
use baton_server::keys::Keys;
use baton_server::keys::{new_key, Role};
#[cfg(feature = "external-tests")]
use baton_server::{KeyLimits, Options};
use serde_json::{json, Value};
use std::collections::BTreeSet;
#[cfg(feature = "external-tests")]
use std::path::PathBuf;
#[cfg(feature = "external-tests")]
use std::process::Command;
#[cfg(feature = "external-tests")]
use std::time::Instant;

/// Every route of `Server::router` with its methods: the document has exactly these.
const ROUTES: &[(&str, &[&str])] = &[
    ("/v1/conversations", &["post"]),
    ("/v1/conversations/{id}", &["get"]),
    ("/v1/conversations/{id}/messages", &["post"]),
    ("/v1/conversations/{id}/trace", &["get"]),
    ("/v1/conversations/{id}/events", &["get"]),
    ("/v1/conversations/{id}/approvals/{call_id}", &["post"]),
    ("/v1/queue", &["get"]),
    ("/v1/queue/{id}", &["get"]),
    ("/v1/queue/{id}/claim", &["post"]),
    ("/v1/queue/{id}/reply", &["post"]),
    ("/v1/queue/{id}/handback", &["post"]),
    ("/v1/queue/{id}/close", &["post"]),
    ("/v1/chat/completions", &["post"]),
    ("/openapi.json", &["get"]),
    ("/healthz", &["get"]),
    ("/metrics", &["get"]),
];

/// The routes open to callers without a key.
const PUBLIC: &[&str] = &["/healthz", "/metrics", "/openapi.json"];

/// The statuses whose answers are errors in the shared `Error` shape.
const ERRORS: &[&str] = &["400", "401", "403", "404", "409", "413", "415", "422", "429", "500", "502", "503"];

/// The document, as a server without keys serves it.
async fn document(server: &TestServer) -> Value {
    let response = client().get(server.url("/openapi.json")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_string();
    assert!(content_type.starts_with("application/json"), "{content_type}");
    serde_json::from_str(&response.text().await.unwrap()).unwrap()
}

/// `template` with its path parameters filled in.
fn concrete(template: &str) -> String {
    template.replace("{id}", "no-such-conversation").replace("{call_id}", "call_1")
}

/// Every `$ref` in `value`, with where it is.
fn references(value: &Value, at: &str, found: &mut Vec<(String, String)>) {
    match value {
        Value::Object(object) => {
            for (key, value) in object {
                match (key.as_str(), value) {
                    ("$ref", Value::String(target)) => found.push((at.to_string(), target.clone())),
                    _ => references(value, &format!("{at}/{key}"), found),
                }
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                references(item, &format!("{at}/{index}"), found);
            }
        }
        _ => {}
    }
}

/// Every operation of the document: path, method, operation.
fn operations(document: &Value) -> Vec<(String, String, Value)> {
    let mut found = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            found.push((path.clone(), method.clone(), operation.clone()));
        }
    }
    found
}

#[tokio::test]
async fn the_document_is_openapi_3_1_about_baton() {
    let server = TestServer::start().await;
    let document = document(&server).await;
    let version = document["openapi"].as_str().unwrap();
    assert!(version.starts_with("3.1."), "{version}");
    assert_eq!(document["info"]["title"], "baton");
    assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        document["components"]["securitySchemes"]["bearerAuth"],
        json!({
            "type": "http",
            "scheme": "bearer",
            "description": document["components"]["securitySchemes"]["bearerAuth"]["description"],
        })
    );
    assert_eq!(document["security"], json!([{ "bearerAuth": [] }]));
    // The same document each time, byte for byte.
    let again = client().get(server.url("/openapi.json")).send().await.unwrap().text().await.unwrap();
    assert_eq!(serde_json::from_str::<Value>(&again).unwrap(), document);
}

#[tokio::test]
async fn every_route_is_documented_and_nothing_else() {
    let server = TestServer::start().await;
    let document = document(&server).await;
    let documented: BTreeSet<(String, String)> =
        operations(&document).into_iter().map(|(path, method, _)| (path, method)).collect();
    let routes: BTreeSet<(String, String)> = ROUTES
        .iter()
        .flat_map(|(path, methods)| methods.iter().map(|method| (path.to_string(), method.to_string())))
        .collect();
    assert_eq!(documented, routes, "the document's operations are not the router's routes");

    // The router answers each documented route itself (not with its "no such endpoint"), and no
    // method the document leaves out.
    for (path, methods) in ROUTES {
        let url = server.url(&concrete(path));
        for method in ["get", "post", "put", "delete", "patch"] {
            let request = match method {
                "get" => client().get(&url),
                "post" => client().post(&url).json(&json!({})),
                "put" => client().put(&url),
                "delete" => client().delete(&url),
                _ => client().patch(&url),
            };
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let streams =
                response.headers().get("content-type").is_some_and(|value| value.as_bytes() == b"text/event-stream");
            let body: Value = if streams { Value::Null } else { response.json().await.unwrap_or(Value::Null) };
            let code = body["error"]["code"].as_str().unwrap_or("").to_string();
            let message = body["error"]["message"].as_str().unwrap_or("").to_string();
            if methods.contains(&method) {
                assert_ne!(status, 405, "{method} {path}: {body}");
                assert!(!message.starts_with("no such endpoint"), "{method} {path}: {body}");
            } else {
                assert_eq!((status, code.as_str()), (405, "method_not_allowed"), "{method} {path}: {body}");
            }
        }
    }
    for undocumented in ["/v1", "/v1/conversations/x/y", "/v1/queue/x/y", "/v1/models", "/openapi.yaml", "/docs"] {
        let (status, body) = get(&server.url(undocumented), None).await;
        assert_eq!((status, &body["error"]["code"]), (404, &json!("not_found")), "{undocumented}: {body}");
    }
}

#[tokio::test]
async fn every_operation_is_described_with_its_parameters_errors_and_security() {
    let (secret, table) = new_key("admin", Role::Admin).unwrap();
    let server = TestServer::with_keys(&table).await;
    let (status, document) = get(&server.url("/openapi.json"), None).await;
    assert_eq!(status, 200, "the document is public");
    let mut ids = BTreeSet::new();
    for (path, method, operation) in operations(&document) {
        let at = format!("{method} {path}");
        let id = operation["operationId"].as_str().unwrap_or_else(|| panic!("{at}: no operationId"));
        assert!(ids.insert(id.to_string()), "{at}: operationId {id} twice");
        assert!(!operation["summary"].as_str().unwrap_or("").is_empty(), "{at}: no summary");
        assert!(operation["tags"].as_array().is_some_and(|tags| !tags.is_empty()), "{at}: no tag");

        // Each placeholder of the path is a required path parameter; `id` has the id rule and an example.
        let names: Vec<&str> = path.split('/').filter_map(|part| part.strip_prefix('{')?.strip_suffix('}')).collect();
        let parameters = operation["parameters"].as_array().cloned().unwrap_or_default();
        let in_path: Vec<&Value> = parameters.iter().filter(|parameter| parameter["in"] == "path").collect();
        assert_eq!(in_path.len(), names.len(), "{at}: {parameters:?}");
        for name in names {
            let parameter = in_path.iter().find(|parameter| parameter["name"] == name).unwrap();
            assert_eq!(parameter["required"], true, "{at}: {name}");
            if name == "id" {
                assert_eq!(parameter["schema"]["pattern"], "^[A-Za-z0-9_:@-][A-Za-z0-9._:@-]{0,127}$", "{at}");
                let example = parameter["example"].as_str().unwrap();
                assert_eq!(baton::check_conversation_id(example), Ok(()), "{at}");
            }
        }

        // Success answers; errors in the shared shape.
        let responses = operation["responses"].as_object().unwrap();
        assert!(responses.keys().any(|status| status.starts_with('2')), "{at}: no success answer");
        for (status, response) in responses {
            assert!(!response["description"].as_str().unwrap_or("").is_empty(), "{at} {status}: no description");
            if status.starts_with('4') || status.starts_with('5') {
                assert!(ERRORS.contains(&status.as_str()), "{at}: {status}");
                assert_eq!(
                    response["content"],
                    json!({ "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }),
                    "{at} {status}"
                );
            }
        }

        // A body is JSON of a schema in the components.
        if let Some(body) = operation.get("requestBody") {
            let schema = &body["content"]["application/json"]["schema"]["$ref"];
            assert!(schema.as_str().is_some_and(|target| target.starts_with("#/components/schemas/")), "{at}");
            assert!(body["content"]["application/json"].get("example").is_some(), "{at}: no example body");
        }

        // Security: everything but the public routes needs the key, and says it answers 401.
        let public = PUBLIC.contains(&path.as_str());
        assert_eq!(operation.get("security") == Some(&json!([])), public, "{at}: security");
        assert_eq!(responses.contains_key("401"), !public, "{at}: 401");
        let url = server.url(&concrete(&path));
        let request = match method.as_str() {
            "get" => client().get(&url),
            _ => client().post(&url).json(&json!({})),
        };
        let status = request.send().await.unwrap().status().as_u16();
        assert_eq!(status == 401, !public, "{at} without a key: {status}");
    }
    // With the key, a protected route answers.
    let (status, _) = get(&server.url("/v1/queue"), Some(&secret)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn every_reference_resolves_and_every_schema_is_used() {
    let server = TestServer::start().await;
    let document = document(&server).await;
    let mut found = Vec::new();
    references(&document, "#", &mut found);
    assert!(!found.is_empty());
    let mut used = BTreeSet::new();
    for (at, target) in &found {
        let pointer = target.strip_prefix('#').unwrap_or_else(|| panic!("{at}: {target} is not in the document"));
        assert!(document.pointer(pointer).is_some(), "{at}: {target} does not resolve");
        used.insert(pointer.trim_start_matches("/components/schemas/").to_string());
    }
    let schemas: BTreeSet<String> = document["components"]["schemas"].as_object().unwrap().keys().cloned().collect();
    let unused: Vec<&String> = schemas.difference(&used).collect();
    assert!(unused.is_empty(), "schemas no operation uses: {unused:?}");
}

#[tokio::test]
async fn the_largest_positions_the_document_allows_are_answered() {
    let server = TestServer::start().await;
    let document = document(&server).await;
    let events = &document["paths"]["/v1/conversations/{id}/events"]["get"]["parameters"];
    let after = events.as_array().unwrap().iter().find(|parameter| parameter["name"] == "after").unwrap();
    let largest = after["schema"]["maximum"].as_u64().unwrap();
    assert_eq!(largest, u64::MAX);
    let (status, body) = post(&server.url("/v1/conversations"), None, &json!({"team": "support", "id": "far"})).await;
    assert_eq!(status, 201, "{body}");
    let url = server.url("/v1/conversations/far/events");
    for request in [client().get(format!("{url}?after={largest}")), client().get(&url).header("Last-Event-ID", largest)]
    {
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
    }
    let (status, body) = get(&format!("{url}?after={}", u128::from(largest) + 1), None).await;
    assert_eq!((status, &body["error"]["code"]), (400, &json!("bad_request")), "{body}");
}

/// A scratch directory for one test, emptied first.
#[cfg(feature = "external-tests")]
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("baton-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Schemathesis's configuration: half the ids, teams, agents and operators it sends are ones the
/// server knows (the conversation `id`, the support team and its agents, the key's name), so that
/// requests get past "not found" into the handlers' work; the other half are its own.
#[cfg(feature = "external-tests")]
fn config(id: &str) -> String {
    format!(
        r#"# No 5xx; every status, content type and body as the document says; what the request
# schemas allow accepted, what they do not refused; no operation that needs a key answers
# without one.
[checks]
enabled = false
not_a_server_error.enabled = true
status_code_conformance.enabled = true
content_type_conformance.enabled = true
response_schema_conformance.enabled = true
positive_data_acceptance.enabled = true
negative_data_rejection.enabled = true
ignored_auth.enabled = true

# A conversation's event stream does not end: read a few events of each, or for a second.
[[operations]]
include-operation-id = "followEvents"
max-stream-events = 3
request-timeout = 1

[dictionaries.conversations]
values = ["{id}"]

[dictionaries.teams]
values = ["support"]

[dictionaries.agents]
values = ["triage", "technical", "billing", "spanish", "human"]

[dictionaries.operators]
values = ["fuzz"]

[parameters]
"path.id" = {{ dictionary = "conversations", probability = 0.5 }}
"header.x-baton-conversation" = {{ dictionary = "conversations", probability = 0.5 }}
"body.team" = {{ dictionary = "teams", probability = 0.5 }}
"body.model" = {{ dictionary = "teams", probability = 0.5 }}
"body.agent" = {{ dictionary = "agents", probability = 0.5 }}
"body.operator" = {{ dictionary = "operators", probability = 0.5 }}
"#
    )
}

#[cfg(feature = "external-tests")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error() {
    let python = std::env::var("BATON_TEST_HTTP_PYTHON")
        .unwrap_or_else(|_| panic!("BATON_TEST_HTTP_PYTHON is not set: run this test with `cargo xtask test`"));
    let (secret, table) = new_key("fuzz", Role::Admin).unwrap();
    // No request rate limit: at Schemathesis's pace the key would be refused with 429 most of the
    // time, before the handlers are reached.
    let keys = Keys::parse(&table, "keys.toml").unwrap();
    let key_limits = KeyLimits { rate: 0, ..KeyLimits::default() };
    let server = TestServer::with(Options { keys: Some(keys), key_limits, ..Options::default() }).await;

    // The conversation of the document's examples, escalated, so that the reads and the queue's
    // actions have something to work on.
    let (_, document) = get(&server.url("/openapi.json"), None).await;
    let id =
        document["paths"]["/v1/conversations/{id}"]["get"]["parameters"][0]["example"].as_str().unwrap().to_string();
    let (status, body) =
        post(&server.url("/v1/conversations"), Some(&secret), &json!({"team": "support", "id": id})).await;
    assert_eq!(status, 201, "{body}");
    let said = json!({"content": "I want to talk to a human, please"});
    let (status, body) = post(&server.url(&format!("/v1/conversations/{id}/messages")), Some(&secret), &said).await;
    assert_eq!((status, &body["status"]), (200, &json!("escalated")), "{body}");

    let dir = scratch("schemathesis");
    std::fs::write(dir.join("schemathesis.toml"), config(&id)).unwrap();
    let mut command = Command::new(&python);
    command
        .current_dir(&dir)
        .args(["-m", "schemathesis.cli", "--config-file", "schemathesis.toml", "run"])
        .arg(server.url("/openapi.json"))
        .args(["--header", &format!("Authorization: Bearer {secret}")])
        .args(["--phases", "examples,coverage,fuzzing"])
        // One worker: with more, Hypothesis parses lambdas' source in several threads at once,
        // which CPython 3.11 can fail at ("SystemError: AST constructor recursion depth mismatch").
        .args(["--max-examples", "50", "--seed", "4711", "--workers", "1"])
        // A busy machine makes a slow run, not a failed one.
        .args(["--suppress-health-check", "too_slow"])
        .args(["--generation-database", "none", "--request-timeout", "5", "--no-color"])
        .env("NO_COLOR", "1");
    let shown = format!("{command:?}").replace(&secret, "SECRET");
    let started = Instant::now();
    let output = tokio::task::spawn_blocking(move || command.output()).await.unwrap();
    let output = output.unwrap_or_else(|error| panic!("cannot run {python} -m schemathesis.cli: {error}"));
    let stdout = String::from_utf8_lossy(&output.stdout).replace(&secret, "SECRET");
    let stderr = String::from_utf8_lossy(&output.stderr).replace(&secret, "SECRET");
    eprintln!("{shown}\ntook {:.1} s\n{stdout}", started.elapsed().as_secs_f64());
    assert!(
        output.status.success(),
        "Schemathesis failed ({}; its files are in {}):\n{stdout}\n{stderr}",
        output.status,
        dir.display()
    );
    let _ = std::fs::remove_dir_all(&dir);
    server.stop().await;
}
