//! `baton trace CONVERSATION`: the journal as a readable timeline, or as JSON lines. Each line
//! of the timeline starts with when its entry was journaled, in RFC 3339 with the date and UTC
//! (`2025-03-14T09:26:53.589Z`): the time zone of server logs, the same on every machine that
//! reads the journal.

use crate::db;
use crate::paint::{self, paint, print_error};
use crate::plural::count;
use crate::setup;
use crate::stdout;
use crate::Exit;
use baton::core::{Input, JournalEntry, Record, StopReason, TurnStatus};
use baton::store::{ConversationInfo, StoreError, StoredEntry};
use std::io::Write;

/// Prints the journal of `conversation`.
pub fn run(conversation: &str, db: &db::Db, json: bool) -> Exit {
    let (tokio, store) = match setup::journal_to_read(db) {
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
            print_error!("{error}");
            return Exit::Usage;
        }
        Err(error) => {
            print_error!("{error}");
            return Exit::Failed;
        }
    };
    // A closed pipe (`baton trace … | head`) ends the output quietly.
    match stdout::note(print_journal(&info, &journal, json, &mut anstream::stdout().lock())) {
        Ok(()) => Exit::Ok,
        Err(error) => {
            print_error!("cannot write the trace to stdout: {error}");
            Exit::Failed
        }
    }
}

pub(crate) fn print_journal(
    info: &ConversationInfo,
    journal: &[StoredEntry],
    json: bool,
    out: &mut impl Write,
) -> std::io::Result<()> {
    if json {
        for stored in journal {
            let entry =
                serde_json::to_string(&baton::wire::JournalEntry::from(stored)).map_err(std::io::Error::other)?;
            writeln!(out, "{entry}")?;
        }
    } else {
        let entries = count(journal.len(), "journal entry", "journal entries");
        writeln!(out, "conversation {} · team {} · {entries} · times in UTC", info.id, info.team)?;
        let mut epoch = None;
        for stored in journal {
            let at = paint(paint::NOTE, timestamp(stored.at_ms));
            if epoch.is_some_and(|epoch| epoch != stored.epoch) && !starts_work(&stored.entry) {
                let line = format!("RESUMED: the turn was taken up again under lease epoch {}", stored.epoch);
                writeln!(out, "{at}  {}", paint(paint::ERROR, line))?;
            }
            epoch = Some(stored.epoch);
            for line in describe(&stored.entry) {
                writeln!(out, "{at}  {line}")?;
            }
            if let JournalEntry::Record(Record::TurnStarted { turn, .. }) = &stored.entry {
                let trace = baton::trace_ids::turn_trace_hex(&info.id, info.created_ms, *turn);
                writeln!(out, "{at}  {}", paint(paint::NOTE, format!("   OpenTelemetry trace {trace}")))?;
            }
        }
    }
    Ok(())
}

/// Whether `entry` begins new work rather than carrying on work already begun: a user's
/// message, an approval decision, an operator's action. Another process (a later `baton run`, an
/// operator's command) journals these under a new lease epoch as a matter of course; anything
/// else under a new epoch is work a crash or a lost lease interrupted, taken up again.
fn starts_work(entry: &JournalEntry) -> bool {
    matches!(
        entry,
        JournalEntry::Input(
            Input::UserMessage { .. }
                | Input::ApprovalDecided { .. }
                | Input::TicketClaimed { .. }
                | Input::OperatorReplied { .. }
                | Input::TicketHandedBack { .. }
                | Input::TicketClosed { .. }
        )
    )
}

/// `at_ms` (milliseconds since the Unix epoch) in RFC 3339, UTC: `2025-03-14T09:26:53.589Z`.
fn timestamp(at_ms: u64) -> String {
    let (days, millis_of_day) = (at_ms / 86_400_000, at_ms % 86_400_000);
    let (year, month, day) = civil_from_days(days);
    let seconds_of_day = millis_of_day / 1000;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        seconds_of_day / 3600,
        seconds_of_day / 60 % 60,
        seconds_of_day % 60,
        millis_of_day % 1000
    )
}

/// The Gregorian (year, month, day) of a count of days since 1970-01-01: Howard Hinnant's
/// `civil_from_days`, exact for every date (Unix time has no leap seconds to account for).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Count from 0000-03-01, so that each 400-year era ends with its leap day.
    let days = days + 719_468;
    let era = days / 146_097;
    let day_of_era = days % 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
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
        Input::ModelFailed { error } => vec![format!("    {} {error}", paint(paint::ERROR, "MODEL ERROR:"))],
        Input::ToolReturned { call_id, output } => {
            let verdict = if output.is_error { "error" } else { "result" };
            vec![format!("    {verdict} [{call_id}]: {}", output.content)]
        }
        Input::ToolOutcomeUnknown { call_id } => {
            vec![format!(
                "    TOOL OUTCOME UNKNOWN [{call_id}]: it was running when the process stopped; not run again"
            )]
        }
        Input::DeadlinePassed { seconds } => {
            vec![format!(
                "    {} the turn ran for its {seconds} s; the calls in flight were cut off",
                paint(paint::ERROR, "DEADLINE:")
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
        Record::TurnStarted { turn, agent } => {
            vec![paint(paint::HEADING, format!("── turn {turn} ── {agent} has control"))]
        }
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
            let line = format!("  APPROVAL NEEDED: {agent} wants to run {tool}({arguments}) [{call_id}]");
            vec![paint(paint::WARNING, line)]
        }
        Record::TicketOpened { agent, reason, .. } => {
            vec![paint(paint::WARNING, format!("  TICKET OPENED in queue '{agent}': {reason}"))]
        }
        Record::LimitTripped { limit, detail, .. } => vec![format!("  LIMIT {}: {detail}", limit.as_str())],
        Record::TurnEnded(outcome) => {
            let status = match outcome.status {
                TurnStatus::AwaitingApproval => "suspended: awaiting approval",
                other => other.as_str(),
            };
            let mut lines = vec![paint(
                paint::HEADING,
                format!(
                    "── turn {} {status} · {} in control · {} · {}",
                    outcome.turn,
                    outcome.agent,
                    count(outcome.model_calls, "model call", "model calls"),
                    count(outcome.tool_calls, "tool call", "tool calls")
                ),
            )];
            if let Some(error) = &outcome.error {
                lines.push(format!("   {} {error}", paint(paint::ERROR, "error:")));
            }
            if let Some(malformed @ 1..) = outcome.malformed_calls {
                let calls = count(malformed, "call", "calls");
                lines.push(format!("   {calls} with malformed arguments, answered with an error"));
            }
            for used in outcome.usage.iter().flatten() {
                lines.push(format!(
                    "   tokens: {} (model '{}'): {} in, {} out in {}",
                    used.agent,
                    used.model,
                    used.input_tokens,
                    used.output_tokens,
                    count(used.calls, "call", "calls")
                ));
            }
            lines
        }
    }
}

#[cfg(test)]
mod tests {
    use super::timestamp;

    #[test]
    fn timestamps_have_the_date_the_time_and_utc() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(timestamp(951_782_400_000), "2000-02-29T00:00:00.000Z", "a leap day");
        assert_eq!(timestamp(1_741_944_413_589), "2025-03-14T09:26:53.589Z");
        assert_eq!(timestamp(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
        assert_eq!(timestamp(253_402_300_799_999), "9999-12-31T23:59:59.999Z");
    }
}
