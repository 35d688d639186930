//! The scripted tools: each call's behaviour is drawn from the seed, the idempotency key and the
//! attempt (or the key alone, when the world is repeatable): a result, an error, a panic, a hang
//! past the time limit, or a crash of the process before or after the side effect.
//!
//! A call checks, before it does anything, that its intent is journaled and its result is not
//! (write-ahead), and that a person approved it if its tool's rule asks for one. A
//! non-idempotent tool counts its side effects per idempotency key: twice is a violation.

use crate::check::invariant;
use crate::world::{GateOn, Process, World};
use async_trait::async_trait;
use baton::core::{Input, JournalEntry, Record, ToolDef, ToolOutput};
use baton::tools::Tool;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// One tool of a simulated team, as one process reaches it.
pub struct SimTool {
    definition: ToolDef,
    world: Arc<World>,
    process: Arc<Process>,
    /// Whether its time limit is short, so it may hang past it.
    may_hang: bool,
}

impl SimTool {
    /// The tool `definition` as `process` calls it.
    pub fn new(definition: ToolDef, world: Arc<World>, process: Arc<Process>, may_hang: bool) -> SimTool {
        SimTool { definition, world, process, may_hang }
    }

    /// Checks that the call's intent is journaled, its result is not, and it was approved if
    /// it had to be.
    fn check(&self, arguments: &Value, key: &str) {
        let journal = self.world.mirror();
        let name = &self.definition.name;
        let started = journal.iter().find_map(|entry| match entry {
            JournalEntry::Record(Record::ToolCallStarted { call_id, idempotency_key, .. })
                if idempotency_key == key =>
            {
                Some(call_id.clone())
            }
            _ => None,
        });
        let Some(call_id) = started else {
            self.world.violation(
                invariant::WRITE_AHEAD,
                format!("tool '{name}' ran (key {key}) before its intent was journaled"),
            );
            return;
        };
        let answered = journal.iter().any(|entry| {
            matches!(entry, JournalEntry::Input(Input::ToolReturned { call_id: id, .. } | Input::ToolOutcomeUnknown { call_id: id }) if *id == call_id)
        });
        if answered {
            self.world.violation(
                invariant::ONE_RESULT,
                format!("tool '{name}' ran again (call {call_id}) after its result was journaled"),
            );
        }
        if self.definition.approval.needed(arguments) {
            let approved = journal.iter().any(|entry| {
                matches!(entry, JournalEntry::Input(Input::ApprovalDecided { call_id: id, approved: true, .. }) if *id == call_id)
            });
            if !approved {
                self.world.violation(
                    invariant::APPROVAL,
                    format!("tool '{name}' ran (call {call_id}) without the approval it needs"),
                );
            }
        }
    }

    /// The call's side effect.
    fn take_effect(&self, key: &str) {
        if !self.definition.idempotent {
            self.world.took_effect(&self.definition.name, key);
        }
    }
}

#[async_trait]
impl Tool for SimTool {
    fn definition(&self) -> &ToolDef {
        &self.definition
    }

    async fn call(&self, arguments: &Value, idempotency_key: &str) -> ToolOutput {
        if self.process.is_dead() {
            return ToolOutput::error("simulated crash: the process is dead");
        }
        self.check(arguments, idempotency_key);
        let attempt = self.world.tool_attempt(idempotency_key);
        self.process.pass_gate(GateOn::Tool).await;
        let faults = &self.world.faults;
        let mut rng = self.world.rng(&format!("tool/{idempotency_key}"), attempt);
        let name = &self.definition.name;
        let number = self.process.number;
        if !self.world.repeatable && !self.process.is_calm() && rng.chance(faults.tool_crash) {
            let after = rng.chance(0.5);
            if after {
                self.take_effect(idempotency_key);
            }
            let when = if after { "after" } else { "before" };
            self.world.fault("crash_in_tool", format!("process {number} dies {when} '{name}' takes effect"));
            self.process.die();
            return ToolOutput::error("simulated crash: the process is dead");
        }
        if rng.chance(faults.tool_panic) {
            self.world.fault("tool_panic", format!("'{name}' panics (key {idempotency_key})"));
            panic!("simulated tool panic");
        }
        if self.may_hang && rng.chance(faults.tool_hang) {
            self.world.fault("tool_timeout", format!("'{name}' hangs past its time limit"));
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        if rng.chance(faults.tool_error) {
            self.world.fault("tool_error", format!("'{name}' answers an error"));
            return ToolOutput::error("error: simulated: the backend answered 500");
        }
        self.take_effect(idempotency_key);
        let id = arguments.get("id").cloned().unwrap_or(Value::Null);
        ToolOutput::ok(
            json!({ "tool": name, "id": id, "done": true, "note": "x".repeat(rng.below(100) as usize) }).to_string(),
        )
    }
}
