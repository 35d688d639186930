//! `baton trace CONVERSATION`: the journal as a readable timeline, or as JSON lines.

use crate::setup;
use crate::Exit;
use baton::core::{Input, JournalEntry, Record, StopReason, TurnStatus};
use baton::store::{ConversationInfo, StoreError, StoredEntry};
use std::io::Write;

/// Prints the journal of `conversation`.
pub fn run(conversation: &str, db: &setup::Db, json: bool) -> Exit {
    let (tokio, store) = match setup::existing_journal(db) {
        Ok(opened) => opened,
        Err(exit) => return exit,
    };
    let journal = tokio.block_on(async {
        let info = store
            .conversation(conversation)
            .await?
            .ok_or_else(|| StoreError::UnknownConversation(conversation.into()))?;
        Ok::<_, StoreError>((info, store.journal(conversation).await?))
    });
    let (info, journal) = match journal {
        Ok(found) => found,
        Err(error @ StoreError::UnknownConversation(_)) => {
            eprintln!("error: {error}");
            return Exit::Usage;
        }
        Err(error) => {
            eprintln!("error: {error}");
            return Exit::Failed;
        }
    };
    // A closed pipe (`baton trace … | head`) ends the output quietly.
    let _ = print_journal(&info, &journal, json, &mut std::io::stdout().lock());
    Exit::Ok
}

pub(crate) fn print_journal(
    info: &ConversationInfo,
    journal: &[StoredEntry],
    json: bool,
    out: &mut impl Write,
) -> std::io::Result<()> {
    if json {
        for stored in journal {
            writeln!(out, "{}", baton::trace::entry_json(stored))?;
        }
    } else {
        writeln!(out, "conversation {} · team {} · {} journal entries", info.id, info.team, journal.len())?;
        let mut in_turn_under = None;
        for stored in journal {
            if in_turn_under.is_some_and(|epoch| epoch != stored.epoch) {
                let line = format!("RESUMED: the turn was taken up again under lease epoch {}", stored.epoch);
                writeln!(out, "{}  {line}", clock(stored.at_ms))?;
            }
            in_turn_under = match &stored.entry {
                JournalEntry::Record(Record::TurnEnded(_)) => None,
                _ => Some(stored.epoch),
            };
            for line in describe(&stored.entry) {
                writeln!(out, "{}  {line}", clock(stored.at_ms))?;
            }
        }
    }
    Ok(())
}

/// `HH:MM:SS.mmm` in UTC.
fn clock(at_ms: u64) -> String {
    let seconds_of_day = (at_ms / 1000) % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        seconds_of_day / 3600,
        seconds_of_day / 60 % 60,
        seconds_of_day % 60,
        at_ms % 1000
    )
}

/// The timeline lines of one entry.
fn describe(entry: &JournalEntry) -> Vec<String> {
    match entry {
        JournalEntry::Input(input) => describe_input(input),
        JournalEntry::Record(record) => describe_record(record),
    }
}

fn describe_input(input: &Input) -> Vec<String> {
    match input {
        Input::UserMessage { text, signals } => {
            let mut read = Vec::new();
            if let Some(language) = &signals.language {
                read.push(format!("language {language}"));
            }
            if signals.asks_for_human {
                read.push("asks for a person".to_string());
            }
            match read.is_empty() {
                true => vec![format!("user: {text}")],
                false => vec![format!("user: {text}  [{}]", read.join(", "))],
            }
        }
        Input::ModelReplied { reply } => {
            let mut lines = Vec::new();
            if let Some(text) = &reply.text {
                lines.push(format!("    reply: {text}"));
            }
            for call in &reply.tool_calls {
                lines.push(format!("    calls {}({}) [{}]", call.name, call.arguments, call.id));
            }
            if let Some(usage) = reply.usage {
                lines.push(format!("    tokens: {} in, {} out", usage.input_tokens, usage.output_tokens));
            }
            match reply.stop {
                Some(StopReason::Length) => lines.push("    CUT OFF: the reply reached the model's max_tokens".into()),
                Some(StopReason::Refusal) => lines.push("    REFUSED: the model declined to answer".into()),
                Some(StopReason::ContentFilter) => {
                    lines.push("    FILTERED: the provider's content filter withheld part of the reply".into())
                }
                None => {}
            }
            if reply.text.is_none() && reply.tool_calls.is_empty() {
                lines.push("    (empty reply: no text, no tool calls)".into());
            }
            lines
        }
        Input::ModelFailed { error } => vec![format!("    MODEL ERROR: {error}")],
        Input::ToolReturned { call_id, output } => {
            let verdict = if output.is_error { "error" } else { "result" };
            vec![format!("    {verdict} [{call_id}]: {}", output.content)]
        }
        Input::ToolOutcomeUnknown { call_id } => {
            vec![format!(
                "    TOOL OUTCOME UNKNOWN [{call_id}]: it was running when the process stopped; not run again"
            )]
        }
        Input::ApprovalDecided { call_id, approved, reason, by } => {
            let verdict = if *approved { "APPROVED" } else { "DENIED" };
            let by = by.as_deref().map(|by| format!(" by {by}")).unwrap_or_default();
            let reason = reason.as_deref().map(|reason| format!(": {reason}")).unwrap_or_default();
            vec![format!("  {verdict}{by} [{call_id}]{reason}")]
        }
        Input::TicketClaimed { operator } => vec![format!("  ticket claimed by operator {operator}")],
        Input::OperatorReplied { operator, text } => vec![format!("  operator {operator}: {text}")],
        Input::TicketHandedBack { operator, to, note } => {
            let note = note.as_deref().map(|note| format!(": {note}")).unwrap_or_default();
            vec![format!("  operator {operator} hands back to {to}{note}")]
        }
        Input::TicketClosed { operator } => vec![format!("  ticket closed by operator {operator}")],
    }
}

fn describe_record(record: &Record) -> Vec<String> {
    match record {
        Record::TurnStarted { turn, agent } => vec![format!("── turn {turn} ── {agent} has control")],
        Record::RouterCallStarted { model, .. } => vec![format!("  router call → model '{model}'")],
        Record::Routed { from, to, reason, .. } => vec![format!("  ROUTED {from} ⇢ {to}: {reason}")],
        Record::ModelCallStarted { index, agent, model, .. } => {
            vec![format!("  model call {index}: {agent} → model '{model}'")]
        }
        Record::ToolCallStarted { agent, tool, arguments, call_id, .. } => {
            vec![format!("  tool call: {agent} runs {tool}({arguments}) [{call_id}]")]
        }
        Record::ToolCallRejected { agent, tool, error, .. } => {
            vec![format!("  tool call rejected: {agent} → {tool}: {error}")]
        }
        Record::HandoffTaken { from, to, payload, context, escalation, trigger, operator, .. } => {
            let kind = match (escalation, trigger, operator) {
                (Some(_), _, _) => "ESCALATION",
                (None, Some(_), _) => "TRIGGERED HANDOFF",
                (None, None, Some(_)) => "HANDBACK",
                (None, None, None) => "HANDOFF",
            };
            let mut lines = vec![format!("  {kind} {from} → {to} (context {}): {}", context.as_str(), payload.reason)];
            if let Some(summary) = &payload.summary {
                lines.push(format!("    summary: {summary}"));
            }
            for (key, value) in &payload.facts {
                lines.push(format!("    fact {key} = {value}"));
            }
            lines
        }
        Record::HandoffRefused { from, to, refusal, .. } => {
            let why = serde_json::to_value(refusal)
                .ok()
                .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(String::from));
            vec![format!("  handoff refused: {from} → {to} ({})", why.unwrap_or_default())]
        }
        Record::ApprovalRequested { agent, tool, arguments, call_id, .. } => {
            vec![format!("  APPROVAL NEEDED: {agent} wants to run {tool}({arguments}) [{call_id}]")]
        }
        Record::TicketOpened { agent, reason, .. } => vec![format!("  TICKET OPENED in queue '{agent}': {reason}")],
        Record::LimitTripped { limit, detail, .. } => vec![format!("  LIMIT {}: {detail}", limit.as_str())],
        Record::TurnEnded(outcome) => {
            let status = match outcome.status {
                TurnStatus::AwaitingApproval => "suspended: awaiting approval",
                other => other.as_str(),
            };
            let mut lines = vec![format!(
                "── turn {} {status} · {} in control · {} model calls · {} tool calls",
                outcome.turn, outcome.agent, outcome.model_calls, outcome.tool_calls
            )];
            if let Some(error) = &outcome.error {
                lines.push(format!("   error: {error}"));
            }
            if let Some(malformed @ 1..) = outcome.malformed_calls {
                lines.push(format!("   {malformed} call(s) with malformed arguments, answered with an error"));
            }
            for used in outcome.usage.iter().flatten() {
                lines.push(format!(
                    "   tokens: {} (model '{}'): {} in, {} out in {} call(s)",
                    used.agent, used.model, used.input_tokens, used.output_tokens, used.calls
                ));
            }
            lines
        }
    }
}
