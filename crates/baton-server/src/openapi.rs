//! `GET /openapi.json`: the API's OpenAPI 3.1 document, built once from the code. The request
//! bodies' schemas come from their Rust types (through schemars, as JSON Schema 2020-12); the
//! answers' schemas are declared here, after what the handlers return, and the HTTP tests hold
//! the server to them: Schemathesis fuzzes every operation and checks every answer against this
//! document.
//!
//! Event streams (`text/event-stream`) describe one event per schema, as an object with the
//! event's `event`, `data` and `id`, the way OpenAPI 3.2 models server-sent events.

use crate::approvals::NewDecision;
use crate::conversations::{NewConversation, NewMessage, TRACE_PAGE, TRACE_PAGE_MAX};
use crate::openai::{ChatCompletion, ChatRequest, CONVERSATION_HEADER};
use crate::queue::{Acting, NewHandback, NewReply};
use axum::http::header;
use axum::response::IntoResponse;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::JsonSchema;
use serde_json::{json, Map, Value};
use std::sync::OnceLock;

/// Where the document keeps its schemas, as a JSON pointer.
const SCHEMAS: &str = "/components/schemas";

/// A conversation id, as [`baton::check_conversation_id`] accepts them (and a ticket's name).
pub const ID_PATTERN: &str = "^[A-Za-z0-9_:@-][A-Za-z0-9._:@-]{0,127}$";

/// The conversation id of the document's examples, in the form of the ids the server makes.
const EXAMPLE_ID: &str = "c-0193a5f2c1d4-7f3a9c";

/// `GET /openapi.json`: the document, made on the first request and kept.
pub async fn document() -> impl IntoResponse {
    static TEXT: OnceLock<String> = OnceLock::new();
    let text = TEXT.get_or_init(|| build().to_string());
    ([(header::CONTENT_TYPE, "application/json")], text.as_str())
}

/// The whole document.
fn build() -> Value {
    let settings = SchemaSettings::draft2020_12().with(|settings| {
        settings.definitions_path = SCHEMAS.into();
        settings.meta_schema = None;
    });
    let mut requests = settings.clone().for_deserialize().into_generator();
    let mut answers = settings.for_serialize().into_generator();
    let paths = paths(&mut requests, &mut answers);
    let mut schemas = answer_schemas();
    schemas.extend(requests.take_definitions(true));
    schemas.extend(answers.take_definitions(true));
    // The Rust type holds the turn report as JSON it does not describe: it is the message answer's.
    let baton = schemas.get_mut("ChatCompletion").and_then(|schema| schema.pointer_mut("/properties/baton"));
    if let Some(Value::Object(baton)) = baton {
        baton.insert("$ref".into(), format!("#{SCHEMAS}/TurnReport").into());
    }
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
            .answer("201", "The conversation, as `GET /v1/conversations/{id}` shows it.", json_of("Conversation"))
            .errors(&[400, 401, 403, 404, 409, 413, 415, 422, 500, 503]),
    );
    add(
        "/v1/conversations/{id}",
        "get",
        Operation::new("getConversation", "conversations", "Read a conversation")
            .describe("Where the conversation stands: its agent, status, ticket, facts and transcript.")
            .parameter(id_parameter())
            .answer("200", "The conversation.", json_of("Conversation"))
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
                let mut content = json_of("TurnReport");
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
            .answer("200", "A page of the journal.", json_of("Trace"))
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
            .answer("200", "The turn's result.", json_of("TurnReport"))
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
            .answer("200", "The tickets.", json_of("Queue"))
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
            .answer("200", "The ticket.", json_of("Ticket"))
            .errors(&[400, 401, 403, 404, 409, 500, 503]),
    );
    let action = |operation_id: &str, summary: &str, description: &str| {
        Operation::new(operation_id, "queue", summary)
            .describe(&format!(
                "{description} The operator is the key's name (without keys, the body's `operator`). Needs an \
                 operator or admin key."
            ))
            .parameter(id_parameter())
            .answer("200", "The ticket after the action, as the queue lists it.", json_of("TicketSummary"))
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
            .answer("200", "The server is healthy.", json_of("Health"))
            .errors(&[503]),
    );
    add(
        "/metrics",
        "get",
        Operation::new("getMetrics", "service", "Metrics in the Prometheus text format")
            .describe(
                "Requests by method, route and status, turns, model calls and their durations. Public, \
                 unless the server runs with --private-metrics: then it needs an operator or admin key.",
            )
            .public()
            .answer("200", "The metrics.", json!({ "text/plain": { "schema": { "type": "string" } } })),
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

/// The answers' schemas, by name.
fn answer_schemas() -> Map<String, Value> {
    let string_or_null = || json!({ "type": ["string", "null"] });
    let count = || json!({ "type": "integer", "minimum": 0 });
    let facts = || json!({ "type": "object", "additionalProperties": { "type": "string" } });
    let ticket_summary = json!({
        "conversation": { "type": "string", "description": "The conversation, and the ticket's name." },
        "team": { "type": "string" },
        "status": {
            "enum": ["open", "claimed", "closed", "none"],
            "description": "`none`: no human agent has control.",
        },
        "queue": { "type": ["string", "null"], "description": "The human agent, when there is a ticket." },
        "operator": { "type": ["string", "null"], "description": "Who claimed it." },
        "reason": { "type": ["string", "null"], "description": "Why it opened." },
        "opened_turn": { "type": ["integer", "null"], "minimum": 0 },
        "opened_ms": { "type": ["integer", "null"], "minimum": 0, "description": "Milliseconds since the Unix epoch." },
        "agent": { "type": "string", "description": "The agent in control." },
        "last_user_message": string_or_null(),
    });
    let mut ticket = ticket_summary.clone();
    if let Some(ticket) = ticket.as_object_mut() {
        ticket.insert("note".into(), nullable(reference("HandoffNote")));
        ticket.insert("facts".into(), facts());
        ticket.insert("transcript".into(), json!({ "type": "array", "items": reference("TranscriptEntry") }));
    }
    let limit = json!({
        "enum": ["max_handoffs", "max_model_calls", "ping_pong", "max_uses", "tool_outcome_unknown", "turn_seconds", null],
    });
    let schemas = json!({
        "Error": object(
            "Every error answer.",
            json!({ "error": reference("ErrorDetail") }),
        ),
        "ErrorDetail": object(
            "What went wrong.",
            json!({
                "code": {
                    "type": "string",
                    "description": "Stable and machine-readable, e.g. `not_found`, `forbidden`, `conversation_busy`.",
                },
                "message": { "type": "string", "description": "What went wrong and what to do." },
            }),
        ),
        "Conversation": object(
            "A conversation: where it stands.",
            json!({
                "id": { "type": "string", "pattern": ID_PATTERN },
                "team": { "type": "string" },
                "created_ms": { "type": "integer", "minimum": 0, "description": "Milliseconds since the Unix epoch." },
                "owner": { "type": ["string", "null"], "description": "The name of the key that created it." },
                "agent": { "type": "string", "description": "The agent in control." },
                "turns": count(),
                "status": { "enum": ["idle", "in_turn", "awaiting_approval"] },
                "pending": nullable(reference("PendingApproval")),
                "ticket": nullable(reference("TicketSummary")),
                "facts": facts(),
                "transcript": { "type": "array", "items": reference("TranscriptEntry") },
            }),
        ),
        "TranscriptEntry": {
            "description": "One entry of a transcript: the user's message, a model's response, a tool's result or a \
                        handoff (then with the handoff note's fields).",
            "type": "object",
            "required": ["type"],
            "properties": { "type": { "enum": ["user", "assistant", "tool_result", "handoff"] } },
        },
        "PendingApproval": object(
            "The tool call a turn waits on.",
            json!({
                "call_id": { "type": "string", "description": "The id to decide on." },
                "tool": { "type": "string" },
                "args": { "type": "object" },
            }),
        ),
        "HandoffStep": object(
            "One step of a turn's handoff chain.",
            json!({ "from": { "type": "string" }, "to": { "type": "string" }, "reason": { "type": "string" } }),
        ),
        "HandoffNote": object(
            "The context package an agent gets with control.",
            json!({
                "from": { "type": "string" },
                "to": { "type": "string" },
                "reason": { "type": "string" },
                "summary": string_or_null(),
                "facts": facts(),
                "request": { "type": "string", "description": "The user's message of the turn control passed in." },
                "first_request": string_or_null(),
                "context": { "enum": ["full", "summary", "none"] },
                "escalation": limit.clone(),
            }),
        ),
        "UsageTotals": {
            "type": "object",
            "required": ["input_tokens", "output_tokens"],
            "additionalProperties": false,
            "properties": {
                "input_tokens": count(),
                "output_tokens": count(),
                "cost_usd": { "type": "number", "description": "In US dollars; absent when a model has no price." },
            },
        },
        "TurnUsage": {
            "description": "A turn's tokens, in total and per agent (`router` for the front-door router).",
            "type": "object",
            "required": ["input_tokens", "output_tokens"],
            "additionalProperties": false,
            "properties": {
                "input_tokens": count(),
                "output_tokens": count(),
                "cost_usd": { "type": "number" },
                "agents": { "type": "object", "additionalProperties": reference("UsageTotals") },
            },
        },
        "TurnReport": object(
            "The result of one user turn (what `baton run --json` prints).",
            json!({
                "conversation": { "type": "string" },
                "turn": count(),
                "status": { "enum": ["answered", "escalated", "failed", "awaiting_approval"] },
                "agent": { "type": "string", "description": "The agent in control at the end." },
                "reply": string_or_null(),
                "handoffs": { "type": "array", "items": reference("HandoffStep") },
                "limit": limit,
                "model_calls": count(),
                "tool_calls": count(),
                "error": string_or_null(),
                "routed": nullable(reference("HandoffStep")),
                "malformed_calls": count(),
                "usage": reference("TurnUsage"),
                "pending": nullable(reference("PendingApproval")),
            }),
        ),
        "JournalEntry": object(
            "One journal entry.",
            json!({
                "seq": { "type": "integer", "minimum": 0, "description": "Its position in the journal, from 0." },
                "at_ms": { "type": "integer", "minimum": 0 },
                "epoch": { "type": "integer", "minimum": 0 },
                "kind": { "type": "string", "description": "e.g. `user_message`, `turn_started`, `ticket_opened`." },
                "data": {
                    "type": "object",
                    "required": ["type"],
                    "description": "The entry itself: an input or a record, tagged by `type`.",
                },
            }),
        ),
        "Trace": object(
            "A page of a conversation's journal.",
            json!({
                "conversation": { "type": "string" },
                "team": { "type": "string" },
                "entries": { "type": "array", "items": reference("JournalEntry") },
                "next": {
                    "type": ["integer", "null"],
                    "minimum": 0,
                    "description": "Where the next page starts: pass it as `after`. `null` when no entry follows.",
                },
            }),
        ),
        "TicketSummary": object("A ticket without its context package.", ticket_summary),
        "Ticket": object("A ticket with its context package.", ticket),
        "Queue": object(
            "The tickets waiting for an operator or held by one, oldest first.",
            json!({
                "tickets": { "type": "array", "items": reference("TicketSummary") },
                "unreadable": {
                    "type": "array",
                    "description": "The tickets left out because their conversation cannot be read: an entry that \
                                does not decode (`journal_entry_unreadable`) or a journal that does not replay \
                                (`journal_does_not_replay`).",
                    "items": object("", json!({
                        "conversation": { "type": "string" },
                        "team": { "type": "string" },
                        "error": reference("ErrorDetail"),
                    })),
                },
            }),
        ),
        "Health": object(
            "A healthy server.",
            json!({
                "status": { "const": "ok" },
                "teams": { "type": "array", "items": { "type": "string" } },
                "turns_in_flight": count(),
            }),
        ),
        "JournalEvent": event(
            "A journal entry as a server-sent event: named by its kind, its position as the id, the entry as \
             `JournalEntry` JSON as the data.",
            json!({ "type": "string" }),
            json!({ "type": "string", "contentMediaType": "application/json", "contentSchema": reference("JournalEntry") }),
            true,
        ),
        "TurnEvent": event(
            "An event of a streamed turn: `delta` (`{\"agent\", \"text\"}`: text as it is written), a journal entry \
             named by its kind (data as in `JournalEntry`, with its position as the id), then `result` (the \
             `TurnReport`) or `error` (an `Error`).",
            json!({ "type": "string" }),
            json!({ "type": "string", "contentMediaType": "application/json" }),
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

/// An object schema with exactly these properties, all of them required.
fn object(description: &str, properties: Value) -> Value {
    let required: Vec<&String> =
        properties.as_object().map(|properties| properties.keys().collect()).unwrap_or_default();
    let mut schema = json!({
        "type": "object",
        "required": required,
        "additionalProperties": false,
        "properties": properties,
    });
    if let (false, Some(schema)) = (description.is_empty(), schema.as_object_mut()) {
        schema.insert("description".into(), description.into());
    }
    schema
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

/// `schema`, or null.
fn nullable(schema: Value) -> Value {
    json!({ "anyOf": [schema, { "type": "null" }] })
}

/// JSON content of the schema `name`.
fn json_of(name: &str) -> Map<String, Value> {
    content("application/json", name)
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
            let mut response = json!({ "description": description, "content": json_of("Error") });
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
