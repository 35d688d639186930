//! `GET /openapi.json`: the API's OpenAPI 3.1 document, built once from the code. The schemas
//! of the request bodies and of the answers come from the Rust types the handlers take and
//! return (through schemars, as JSON Schema 2020-12: OpenAPI 3.1's dialect), so they cannot
//! drift from what the server reads and writes; the paths, their parameters and descriptions
//! are declared here. The HTTP tests hold the server to the document: Schemathesis fuzzes every
//! operation and checks every answer against it.
//!
//! Event streams (`text/event-stream`) describe one event per schema, as an object with the
//! event's `event`, `data` and `id`, the way OpenAPI 3.2 models server-sent events: those
//! framings are declared here, their data's JSON comes from the Rust types.

use crate::approvals::NewDecision;
use crate::conversations::{Conversation, NewConversation, NewMessage, TextDelta, Trace, TRACE_PAGE, TRACE_PAGE_MAX};
use crate::error::ErrorBody;
use crate::openai::{ChatCompletion, ChatRequest, CONVERSATION_HEADER};
use crate::queue::{Acting, NewHandback, NewReply, Queue};
use axum::http::header;
use axum::response::IntoResponse;
use baton::wire::{JournalEntry, Ticket, TicketSummary, TurnReport};
use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::sync::OnceLock;

/// Where the document keeps its schemas, as a JSON pointer.
const SCHEMAS: &str = "/components/schemas";

/// A conversation id, as [`baton::check_conversation_id`] accepts them (and a ticket's name).
pub const ID_PATTERN: &str = "^[A-Za-z0-9_:@-][A-Za-z0-9._:@-]{0,127}$";

/// The conversation id of the document's examples, in the form of the ids the server makes.
const EXAMPLE_ID: &str = "c-0193a5f2c1d4-7f3a9c";

/// A healthy server (the answer of `GET /healthz`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Health {
    /// Always `ok`: an unhealthy server answers with an error.
    pub status: HealthStatus,
    /// The teams it serves.
    pub teams: Vec<String>,
    /// The turns running or waiting in this process.
    pub turns_in_flight: usize,
}

/// Whether the server is healthy: it always is when it answers 200.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// The journal answers.
    Ok,
}

/// `GET /openapi.json`: the document, made on the first request and kept.
pub async fn document() -> impl IntoResponse {
    static TEXT: OnceLock<String> = OnceLock::new();
    let text = TEXT.get_or_init(|| build().to_string());
    ([(header::CONTENT_TYPE, "application/json")], text.as_str())
}

/// The schema generators: of the request bodies (as the handlers read them), and of the
/// answers (as they write them).
fn generators() -> (SchemaGenerator, SchemaGenerator) {
    let settings = SchemaSettings::draft2020_12().with(|settings| {
        settings.definitions_path = SCHEMAS.into();
        settings.meta_schema = None;
    });
    (settings.clone().for_deserialize().into_generator(), settings.for_serialize().into_generator())
}

/// The whole document.
fn build() -> Value {
    let (mut requests, mut answers) = generators();
    let paths = paths(&mut requests, &mut answers);
    let mut schemas = stream_schemas(&mut answers);
    schemas.extend(requests.take_definitions(true));
    schemas.extend(answers.take_definitions(true));
    chat_completion_report(&mut schemas);
    chat_request_rules(&mut schemas);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "baton",
            "version": env!("CARGO_PKG_VERSION"),
            "summary": "Handoff orchestration for AI agents: conversations with a team of agents, the operator queue, \
                    and an OpenAI-compatible endpoint.",
            "description": "Every error answers `{\"error\": {\"code\", \"message\"}}`: the code is stable and \
                        machine-readable, the message says what to do. Without a keys file the server listens on \
                        loopback only and every caller is an admin; with one, send `Authorization: Bearer KEY`.",
            "license": { "name": env!("CARGO_PKG_LICENSE"), "identifier": env!("CARGO_PKG_LICENSE") },
        },
        "tags": [
            { "name": "conversations", "description": "Start a conversation, talk to it, read it, follow it." },
            { "name": "queue", "description": "The tickets of conversations a human agent holds, for operators." },
            { "name": "openai", "description": "OpenAI's Chat Completions API, answered by a team." },
            { "name": "service", "description": "Health, metrics and this document." },
        ],
        "security": [{ "bearerAuth": [] }],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A key from the server's keys file (an admin makes one with `baton keys new`). Its \
                                role (client, operator or admin) decides what it may do.",
                },
            },
        },
    })
}

/// Every route of `Server::router`, by path and method.
fn paths(requests: &mut SchemaGenerator, answers: &mut SchemaGenerator) -> Map<String, Value> {
    // Every operation's error answers refer to it.
    answers.subschema_for::<ErrorBody>();
    let mut paths = Map::new();
    // Any request with a key counts against the key's limits, the public routes' too.
    let mut add = |path: &str, method: &str, operation: Operation| {
        let item = paths.entry(path).or_insert_with(|| json!({}));
        if let Some(item) = item.as_object_mut() {
            item.insert(method.into(), operation.errors(&[429]).into_value());
        }
    };

    add(
        "/v1/conversations",
        "post",
        Operation::new("createConversation", "conversations", "Start a conversation")
            .describe("Starts a conversation with a team (no turn runs yet). Needs a client or admin key.")
            .body(requests.subschema_for::<NewConversation>(), true, json!({ "team": "support" }))
            .answer(
                "201",
                "The conversation, as `GET /v1/conversations/{id}` shows it.",
                json_of::<Conversation>(answers),
            )
            .errors(&[400, 401, 403, 404, 409, 413, 415, 422, 500, 503]),
    );
    add(
        "/v1/conversations/{id}",
        "get",
        Operation::new("getConversation", "conversations", "Read a conversation")
            .describe("Where the conversation stands: its agent, status, ticket, facts and transcript.")
            .parameter(id_parameter())
            .answer("200", "The conversation.", json_of::<Conversation>(answers))
            .errors(&[400, 401, 404, 409, 500, 503]),
    );
    add(
        "/v1/conversations/{id}/messages",
        "post",
        Operation::new("sendMessage", "conversations", "Send the user's message: one turn")
            .describe(
                "Runs one user turn and answers with its result, or with `\"stream\": true` streams it as \
                 server-sent events: `delta` events for text as it is written, one event per journal entry \
                 named by its kind, then `result` (the turn report) or `error`. Needs the key that created the \
                 conversation, or an admin's.",
            )
            .parameter(id_parameter())
            .body(requests.subschema_for::<NewMessage>(), true, json!({ "content": "my internet is down" }))
            .answer("200", "The turn's result, or its events.", {
                let mut content = json_of::<TurnReport>(answers);
                content.extend(events_of("TurnEvent"));
                content
            })
            .errors(&[400, 401, 403, 404, 409, 413, 415, 422, 500, 503]),
    );
    add(
        "/v1/conversations/{id}/trace",
        "get",
        Operation::new("getTrace", "conversations", "Read a conversation's journal")
            .describe(&format!(
                "The conversation's journal in order, a page at a time: the entries after `after` (from the \
                 first without it), at most `limit` of them ({TRACE_PAGE} unless it says). `next` is the `after` \
                 of the next page, `null` once the page ends the journal."
            ))
            .parameter(id_parameter())
            .parameter(json!({
                "name": "after",
                "in": "query",
                "required": false,
                "description": "Start after this entry: the `next` of the page before (or an entry's `seq`).",
                "schema": u64_schema(answers),
            }))
            .parameter(json!({
                "name": "limit",
                "in": "query",
                "required": false,
                "description": format!("At most this many entries; {TRACE_PAGE} if absent."),
                "schema": { "type": "integer", "minimum": 1, "maximum": TRACE_PAGE_MAX, "default": TRACE_PAGE },
            }))
            .answer("200", "A page of the journal.", json_of::<Trace>(answers))
            .errors(&[400, 401, 404, 409, 503]),
    );
    add(
        "/v1/conversations/{id}/events",
        "get",
        Operation::new("followEvents", "conversations", "Follow a conversation's journal")
            .describe(
                "The journal as server-sent events: first the entries there are, then each one as it is \
                 written, by this server or another sharing the journal. Each event is named by the entry's \
                 kind and its id is the entry's position: reconnect with `Last-Event-ID` (or `?after=`) to go \
                 on where the stream stopped. The stream does not end while the server runs.",
            )
            .parameter(id_parameter())
            .parameter(json!({
                "name": "after",
                "in": "query",
                "required": false,
                "description": "Start after this entry: the id of the last event received.",
                "schema": u64_schema(answers),
            }))
            .parameter(json!({
                "name": "Last-Event-ID",
                "in": "header",
                "required": false,
                "description": "Start after this entry, as `after` does (and before it).",
                // What the server reads as a number: `str::parse::<u64>` of the trimmed value.
                "schema": { "type": "string", "pattern": format!("^[ \\t]*\\+?0*({})[ \\t]*$", u64_digits()) },
            }))
            .answer("200", "The journal's entries, as they come.", events_of("JournalEvent"))
            .errors(&[400, 401, 404, 409, 503]),
    );
    add(
        "/v1/conversations/{id}/approvals/{call_id}",
        "post",
        Operation::new("decideApproval", "conversations", "Decide on a tool call waiting for approval")
            .describe(
                "Approves or denies the tool call the conversation's turn waits on, and the turn carries on: \
                 the answer is its result, as a message's. Needs an operator or admin key.",
            )
            .parameter(id_parameter())
            .parameter(json!({
                "name": "call_id",
                "in": "path",
                "required": true,
                "description": "The waiting call's id: the conversation's `pending.call_id`.",
                "schema": { "type": "string", "minLength": 1 },
                "example": "call_1",
            }))
            .body(requests.subschema_for::<NewDecision>(), true, json!({ "approve": true }))
            .answer("200", "The turn's result.", json_of::<TurnReport>(answers))
            .errors(&[400, 401, 403, 404, 409, 413, 415, 422, 500, 503]),
    );
    add(
        "/v1/queue",
        "get",
        Operation::new("listQueue", "queue", "List the tickets")
            .describe(
                "The tickets waiting for an operator or held by one, oldest first. Needs an operator or \
                 admin key.",
            )
            .answer("200", "The tickets.", json_of::<Queue>(answers))
            .errors(&[401, 403, 404, 409, 500, 503]),
    );
    add(
        "/v1/queue/{id}",
        "get",
        Operation::new("getTicket", "queue", "Read a ticket")
            .describe(
                "One ticket with its context package: the handoff note the human agent received, the facts \
                 and the transcript. Needs an operator or admin key.",
            )
            .parameter(id_parameter())
            .answer("200", "The ticket.", json_of::<Ticket>(answers))
            .errors(&[400, 401, 403, 404, 409, 500, 503]),
    );
    let summary = json_of::<TicketSummary>(answers);
    let action = |operation_id: &str, summary_line: &str, description: &str| {
        Operation::new(operation_id, "queue", summary_line)
            .describe(&format!(
                "{description} The operator is the key's name (without keys, the body's `operator`). Needs an \
                 operator or admin key."
            ))
            .parameter(id_parameter())
            .answer("200", "The ticket after the action, as the queue lists it.", summary.clone())
            .errors(&[400, 401, 403, 404, 409, 413, 415, 422, 500, 503])
    };
    let optional = "The body may be left out (sent without a `Content-Type`).";
    add(
        "/v1/queue/{id}/claim",
        "post",
        action("claimTicket", "Claim a ticket", &format!("Takes the ticket; claims are exclusive. {optional}")).body(
            requests.subschema_for::<Acting>(),
            false,
            json!({}),
        ),
    );
    add(
        "/v1/queue/{id}/reply",
        "post",
        action(
            "replyToTicket",
            "Write to the user",
            "Writes to the user as the human agent; the ticket's holder does.",
        )
        .body(
            requests.subschema_for::<NewReply>(),
            true,
            json!({ "text": "I have reset your line: try again now." }),
        ),
    );
    add(
        "/v1/queue/{id}/handback",
        "post",
        action(
            "handBackTicket",
            "Hand the conversation back to an AI agent",
            "Gives control back to an AI agent along a declared edge of the human agent, with a note; the next user \
             turn goes to it.",
        )
        .body(
            requests.subschema_for::<NewHandback>(),
            true,
            json!({ "agent": "triage", "note": "The line is reset." }),
        ),
    );
    add(
        "/v1/queue/{id}/close",
        "post",
        action(
            "closeTicket",
            "Close a ticket",
            &format!("Closes the ticket; it opens again if the user writes. {optional}"),
        )
        .body(requests.subschema_for::<Acting>(), false, json!({})),
    );
    add("/v1/chat/completions", "post", chat_completions(requests, answers));
    add(
        "/openapi.json",
        "get",
        Operation::new("getOpenApi", "service", "This document").public().answer("200", "The OpenAPI document.", {
            let document = json!({ "type": "object", "required": ["openapi", "info", "paths", "components"] });
            json!({ "application/json": { "schema": document } })
        }),
    );
    add(
        "/healthz",
        "get",
        Operation::new("getHealth", "service", "Whether the server can serve")
            .describe("Ok while the journal answers.")
            .public()
            .answer("200", "The server is healthy.", {
                let mut content = json_of::<Health>(answers);
                let example = Health { status: HealthStatus::Ok, teams: vec!["support".into()], turns_in_flight: 0 };
                if let Some(Value::Object(json)) = content.get_mut("application/json") {
                    json.insert("example".into(), serde_json::to_value(example).unwrap_or_default());
                }
                content
            })
            .errors(&[503]),
    );
    add(
        "/metrics",
        "get",
        Operation::new("getMetrics", "service", "Metrics in the OpenMetrics text format")
            .describe(
                "Turns, handoffs, refusals, limits, escalations, approvals, operator actions, tool calls, tokens \
                 and cost, model calls and journal appends and their durations, requests by method, route and \
                 status. Public, unless the server runs with --private-metrics: then it needs an operator or \
                 admin key.",
            )
            .public()
            .answer(
                "200",
                "The metrics.",
                json!({ "application/openmetrics-text": { "schema": { "type": "string" } } }),
            ),
    );
    paths
}

/// `POST /v1/chat/completions`.
fn chat_completions(requests: &mut SchemaGenerator, answers: &mut SchemaGenerator) -> Operation {
    // An id, or nothing; around it what the server trims.
    let id = ID_PATTERN.trim_start_matches('^').trim_end_matches('$');
    let header = json!({ "type": "string", "pattern": format!("^[ \\t]*({id})?[ \\t]*$") });
    let conversation = json!({
        "description": "The conversation: send it back to continue it.",
        "schema": { "type": "string", "pattern": ID_PATTERN },
    });
    Operation::new("createChatCompletion", "openai", "One turn, as OpenAI's Chat Completions")
        .describe(
            "One user turn of the team `model` names, answered as a `chat.completion` (with baton's turn report in \
             `baton`) or with `\"stream\": true` as `chat.completion.chunk` events ending with `data: [DONE]`. The \
             conversation is the one the `X-Baton-Conversation` header names, or a new one when it is absent or \
             empty; every answer carries the header once the conversation is known. A failed turn answers 502. \
             Needs a client or admin key.",
        )
        .parameter(json!({
            "name": CONVERSATION_HEADER,
            "in": "header",
            "required": false,
            "description": "The conversation to continue; leave it out (or empty) to start one.",
            "schema": header,
            "example": EXAMPLE_ID,
        }))
        .body(
            requests.subschema_for::<ChatRequest>(),
            true,
            json!({ "model": "support", "messages": [{ "role": "user", "content": "my internet is down" }] }),
        )
        .answer_with_headers(
            "200",
            "The answer, or its chunks.",
            {
                let mut content = Map::new();
                content
                    .insert("application/json".into(), json!({ "schema": answers.subschema_for::<ChatCompletion>() }));
                content.extend(events_of("ChatChunkEvent"));
                content
            },
            json!({ CONVERSATION_HEADER: conversation }),
        )
        .errors(&[400, 401, 403, 404, 409, 413, 415, 422, 500, 502, 503])
}

/// What the chat endpoint takes beyond the shape of OpenAI's request, said in the request's
/// schemas so that a request they allow is answered: one choice (`n` 1), no tools, at least one
/// `user` message, each with text (the last one is what the user says), and text content parts
/// only.
fn chat_request_rules(schemas: &mut Map<String, Value>) {
    let user = json!({ "type": "object", "required": ["role"], "properties": { "role": { "const": "user" } } });
    let text = json!({ "type": "string", "pattern": r"\S" });
    let part_with_text = json!({ "required": ["text"], "properties": { "text": text } });
    let with_text = json!({ "anyOf": [text, { "type": "array", "contains": part_with_text }] });
    let rules = [
        ("ChatRequest", "/properties/n", json!({ "minimum": 1, "maximum": 1 })),
        ("ChatRequest", "/properties/tools", json!({ "maxItems": 0 })),
        ("ChatRequest", "/properties/messages", json!({ "contains": user })),
        (
            "ChatMessage",
            "",
            json!({ "if": user, "then": { "required": ["content"], "properties": { "content": with_text } } }),
        ),
        ("ChatContentPart", "/properties/type", json!({ "const": "text" })),
    ];
    for (name, pointer, rule) in rules {
        let schema = schemas.get_mut(name).and_then(|schema| schema.pointer_mut(pointer));
        if let (Some(Value::Object(schema)), Value::Object(rule)) = (schema, rule) {
            schema.extend(rule);
        }
    }
}

/// Where the turn report of a chat completion's `baton` is: the Rust type holds it as JSON.
fn chat_completion_report(schemas: &mut Map<String, Value>) {
    let baton = schemas.get_mut("ChatCompletion").and_then(|schema| schema.pointer_mut("/properties/baton"));
    if let Some(Value::Object(baton)) = baton {
        baton.insert("$ref".into(), format!("#{SCHEMAS}/{}", TurnReport::schema_name()).into());
    }
}

/// The event streams' schemas, by name: each event's name, data and id. The data's JSON is
/// described by the schemas of the Rust types the server writes there.
fn stream_schemas(answers: &mut SchemaGenerator) -> Map<String, Value> {
    let entry = answers.subschema_for::<JournalEntry>();
    let turn_data = json!({
        "anyOf": [
            answers.subschema_for::<TextDelta>(),
            entry,
            answers.subschema_for::<TurnReport>(),
            answers.subschema_for::<ErrorBody>(),
        ],
    });
    let schemas = json!({
        "JournalEvent": event(
            "A journal entry as a server-sent event: named by its kind, its position as the id, the entry as \
             `JournalEntry` JSON as the data.",
            json!({ "type": "string" }),
            json!({ "type": "string", "contentMediaType": "application/json", "contentSchema": entry }),
            true,
        ),
        "TurnEvent": event(
            "An event of a streamed turn: `delta` (a `TextDelta`: text as it is written), a journal entry named by \
             its kind (data as in `JournalEntry`, with its position as the id), then `result` (the `TurnReport`) or \
             `error` (an `Error`).",
            json!({ "type": "string" }),
            json!({ "type": "string", "contentMediaType": "application/json", "contentSchema": turn_data }),
            false,
        ),
        "ChatChunkEvent": event(
            "An event of a streamed chat completion: a `chat.completion.chunk` object (the last one with `baton`, \
             the turn report), an `Error` object if the turn fails, and last the data `[DONE]`.",
            json!({ "const": "message" }),
            json!({ "type": "string" }),
            false,
        ),
    });
    match schemas {
        Value::Object(schemas) => schemas,
        _ => Map::new(),
    }
}

/// A server-sent event: its name, its data, and its id where `with_id`.
fn event(description: &str, name: Value, data: Value, with_id: bool) -> Value {
    let required = match with_id {
        true => json!(["event", "data", "id"]),
        false => json!(["event", "data"]),
    };
    json!({
        "description": description,
        "type": "object",
        "required": required,
        "properties": {
            "event": name,
            "data": data,
            "id": { "type": "string", "pattern": "^[0-9]+$" },
        },
    })
}

/// The schema of a `u64`, as the query parser reads one.
fn u64_schema(generator: &mut SchemaGenerator) -> Value {
    let mut schema = u64::json_schema(generator).to_value();
    if let Some(schema) = schema.as_object_mut() {
        schema.insert("maximum".into(), u64::MAX.into());
    }
    schema
}

/// A regular expression of the numbers a `u64` holds, in decimal without leading zeros: those
/// shorter than `u64::MAX`, and those of its length that are not above it.
fn u64_digits() -> String {
    let max = u64::MAX.to_string();
    let mut numbers = vec![format!("[0-9]{{1,{}}}", max.len() - 1)];
    for (at, digit) in max.char_indices() {
        // Below it from position `at` on: its digits before, a smaller one there, any after (its
        // first digit is 1, and a smaller one there would be a leading zero).
        if at > 0 && digit > '0' {
            let below = char::from(digit as u8 - 1);
            numbers.push(format!("{}[0-{below}][0-9]{{{}}}", &max[..at], max.len() - at - 1));
        }
    }
    numbers.push(max);
    numbers.join("|")
}

/// The `id` path parameter: a conversation, or the ticket it names.
fn id_parameter() -> Value {
    json!({
        "name": "id",
        "in": "path",
        "required": true,
        "description": "The conversation (a ticket is named by its conversation): 1 to 128 letters, digits, `-`, `_`, \
                    `.` or `:`, not starting with `.`.",
        "schema": { "type": "string", "pattern": ID_PATTERN },
        "example": EXAMPLE_ID,
    })
}

/// A reference to the schema `name`.
fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#{SCHEMAS}/{name}") })
}

/// JSON content of `T`'s schema.
fn json_of<T: JsonSchema>(answers: &mut SchemaGenerator) -> Map<String, Value> {
    let mut content = Map::new();
    content.insert("application/json".into(), json!({ "schema": answers.subschema_for::<T>() }));
    content
}

/// Server-sent events, each of the schema `name`.
fn events_of(name: &str) -> Map<String, Value> {
    content("text/event-stream", name)
}

/// `media_type` content of the schema `name`.
fn content(media_type: &str, name: &str) -> Map<String, Value> {
    let mut content = Map::new();
    content.insert(media_type.into(), json!({ "schema": reference(name) }));
    content
}

/// One operation, built up.
struct Operation {
    fields: Map<String, Value>,
    parameters: Vec<Value>,
    responses: Map<String, Value>,
}

impl Operation {
    /// An operation with this id, tag and summary.
    fn new(id: &str, tag: &str, summary: &str) -> Operation {
        let mut fields = Map::new();
        fields.insert("operationId".into(), id.into());
        fields.insert("tags".into(), json!([tag]));
        fields.insert("summary".into(), summary.into());
        Operation { fields, parameters: Vec::new(), responses: Map::new() }
    }

    /// With a description.
    fn describe(mut self, description: &str) -> Operation {
        self.fields.insert("description".into(), description.into());
        self
    }

    /// Open to callers without a key.
    fn public(mut self) -> Operation {
        self.fields.insert("security".into(), json!([]));
        self
    }

    /// With a parameter.
    fn parameter(mut self, parameter: Value) -> Operation {
        self.parameters.push(parameter);
        self
    }

    /// With a JSON body of `schema`.
    fn body(mut self, schema: schemars::Schema, required: bool, example: Value) -> Operation {
        let content = json!({ "application/json": { "schema": schema, "example": example } });
        self.fields.insert("requestBody".into(), json!({ "required": required, "content": content }));
        self
    }

    /// Answering `status` with `content`.
    fn answer(self, status: &str, description: &str, content: impl Into<Value>) -> Operation {
        self.answer_with_headers(status, description, content, json!({}))
    }

    /// Answering `status` with `content` and `headers`.
    fn answer_with_headers(
        mut self,
        status: &str,
        description: &str,
        content: impl Into<Value>,
        headers: Value,
    ) -> Operation {
        let mut response = json!({ "description": description, "content": content.into() });
        if let (Some(response), Some(false)) = (response.as_object_mut(), headers.as_object().map(Map::is_empty)) {
            response.insert("headers".into(), headers);
        }
        self.responses.insert(status.into(), response);
        self
    }

    /// Answering these error statuses with an `Error`.
    fn errors(mut self, statuses: &[u16]) -> Operation {
        for status in statuses {
            let description = match status {
                400 => {
                    "The request is malformed: a body that is not JSON, a bad id or value (`bad_request`, `bad_id`)."
                }
                401 => "No API key, or one the server does not know (`unauthorized`); only with a keys file.",
                403 => "The key's role may not do this (`forbidden`).",
                404 => "No such conversation for this key, or no such team (`not_found`, `unknown_team`).",
                409 => {
                    "The conversation refuses this in the state it is in, or is busy, moved or served elsewhere \
                     (`refused`, `conversation_exists`, `conversation_busy`, `conversation_moved`, `wrong_team`, \
                     `team_not_served`)."
                }
                413 => {
                    "The body is over the server's limit (`body_too_large`), or the message over the team's \
                        `max_message_bytes` (`message_too_large`)."
                }
                415 => "The body is not sent as JSON (`unsupported_media_type`).",
                422 => "The body does not fit the schema (`invalid_body`).",
                500 => {
                    "The journal does not replay, an entry of it cannot be read, or work stopped unexpectedly \
                     (`journal_does_not_replay`, `journal_entry_unreadable`, `internal`)."
                }
                502 => "The turn failed: its model did not answer usably (`turn_failed`).",
                429 => {
                    "The key is over one of its limits: requests a second, requests in flight or event streams open \
                     (`rate_limited`, `too_many_requests`, `too_many_streams`); only with a keys file."
                }
                503 => "The journal does not answer (`journal_unavailable`).",
                _ => "An error.",
            };
            let error = json!({ "application/json": { "schema": reference(&ErrorBody::schema_name()) } });
            let mut response = json!({ "description": description, "content": error });
            let header = match status {
                401 => Some(("WWW-Authenticate", "`Bearer`.", json!({ "type": "string" }))),
                429 => Some(("Retry-After", "Seconds to wait before trying again.", json!({ "type": "integer" }))),
                _ => None,
            };
            if let (Some((name, description, schema)), Some(response)) = (header, response.as_object_mut()) {
                let header = json!({ "description": description, "schema": schema });
                response.insert("headers".into(), json!({ name: header }));
            }
            self.responses.insert(status.to_string(), response);
        }
        self
    }

    /// The operation as the document has it.
    fn into_value(mut self) -> Value {
        if !self.parameters.is_empty() {
            self.fields.insert("parameters".into(), Value::Array(self.parameters));
        }
        self.fields.insert("responses".into(), Value::Object(self.responses));
        Value::Object(self.fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The schemas of the answers as schemars makes them from the types the handlers return,
    /// and of the types they name.
    fn generated() -> Map<String, Value> {
        let (_, mut answers) = generators();
        answers.subschema_for::<TurnReport>();
        answers.subschema_for::<Conversation>();
        answers.subschema_for::<Trace>();
        answers.subschema_for::<JournalEntry>();
        answers.subschema_for::<TextDelta>();
        answers.subschema_for::<Queue>();
        answers.subschema_for::<Ticket>();
        answers.subschema_for::<TicketSummary>();
        answers.subschema_for::<ErrorBody>();
        answers.subschema_for::<Health>();
        answers.subschema_for::<ChatCompletion>();
        answers.take_definitions(true)
    }

    /// The names of the schemas `value` refers to, and of those they refer to.
    fn reachable(value: &Value, schemas: &Map<String, Value>, found: &mut BTreeSet<String>) {
        match value {
            Value::Object(members) => {
                for (key, member) in members {
                    let name = member.as_str().and_then(|target| target.strip_prefix(&format!("#{SCHEMAS}/")));
                    match (key.as_str(), name) {
                        ("$ref", Some(name)) => {
                            if found.insert(name.to_string()) {
                                reachable(&schemas[name], schemas, found);
                            }
                        }
                        _ => reachable(member, schemas, found),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|item| reachable(item, schemas, found)),
            _ => {}
        }
    }

    #[test]
    fn every_answer_schema_is_the_one_generated_from_its_rust_type() {
        let document = build();
        let schemas = document["components"]["schemas"].as_object().cloned().unwrap_or_default();
        let mut answered = BTreeSet::new();
        for item in document["paths"].as_object().into_iter().flat_map(Map::values) {
            for operation in item.as_object().into_iter().flat_map(Map::values) {
                reachable(&operation["responses"], &schemas, &mut answered);
            }
        }
        let generated = generated();
        // The event streams' framings are declared (their data's JSON is generated).
        let declared = BTreeSet::from(["ChatChunkEvent", "JournalEvent", "TurnEvent"].map(String::from));
        for name in &answered {
            let Some(expected) = generated.get(name) else {
                assert!(declared.contains(name), "the answers' schema {name} is not generated from a Rust type");
                continue;
            };
            let mut expected = expected.clone();
            if name == "ChatCompletion" {
                // openai.rs holds `baton` as JSON: the document says it is the turn report.
                let baton = expected.pointer_mut("/properties/baton").and_then(Value::as_object_mut);
                baton.map(|baton| baton.insert("$ref".into(), json!(format!("#{SCHEMAS}/TurnReport"))));
            }
            assert_eq!(schemas[name], expected, "{name} is not the schema generated from its Rust type");
        }
        let missing: Vec<&String> = generated.keys().filter(|name| !answered.contains(*name)).collect();
        assert!(missing.is_empty(), "generated but no answer's: {missing:?}");
        assert!(answered.contains("Error") && answered.contains("TurnReport"), "{answered:?}");
    }

    #[test]
    fn no_request_schema_shares_a_name_with_an_answer_schema() {
        let (mut requests, mut answers) = generators();
        paths(&mut requests, &mut answers);
        stream_schemas(&mut answers);
        let (requests, answers) = (requests.take_definitions(true), answers.take_definitions(true));
        let shared: Vec<&String> = requests.keys().filter(|name| answers.contains_key(*name)).collect();
        assert!(shared.is_empty(), "one name for a request's schema and an answer's: {shared:?}");
    }
}
