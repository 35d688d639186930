//! The short names the log, the spans and the server's metrics give a change of control and a
//! refused handoff: one place, so the three always agree.

use baton_core::handoff::Refusal;
use baton_core::{LimitKind, TriggerKind};

/// What moved control in a `HandoffTaken` record: `escalation` (a limit tripped), `trigger`,
/// `operator` (a person handed back) or `model` (a handoff call).
pub fn handoff_kind(
    escalation: Option<&LimitKind>,
    trigger: Option<&TriggerKind>,
    operator: Option<&String>,
) -> &'static str {
    match (escalation, trigger, operator) {
        (Some(_), _, _) => "escalation",
        (_, Some(_), _) => "trigger",
        (_, _, Some(_)) => "operator",
        _ => "model",
    }
}

/// Why a handoff call did not move control, as the journal names it.
pub fn refusal_kind(refusal: &Refusal) -> &'static str {
    match refusal {
        Refusal::UnknownTarget => "unknown_target",
        Refusal::InvalidArguments { .. } => "invalid_arguments",
        Refusal::Ignored => "ignored",
        Refusal::PingPong => "ping_pong",
        Refusal::MaxUses => "max_uses",
        Refusal::MaxHandoffs => "max_handoffs",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_named_as_the_journal_names_it() {
        let refusals = [
            Refusal::UnknownTarget,
            Refusal::InvalidArguments { detail: "x".into() },
            Refusal::Ignored,
            Refusal::PingPong,
            Refusal::MaxUses,
            Refusal::MaxHandoffs,
        ];
        for refusal in refusals {
            let journaled = serde_json::to_value(&refusal).unwrap_or_default();
            assert_eq!(journaled["kind"], refusal_kind(&refusal));
        }
    }
}
