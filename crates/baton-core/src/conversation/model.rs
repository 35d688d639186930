//! Model calls of the agent in control: the next one is asked for while the turn has calls left
//! (`max_model_calls` trips otherwise), with what the agent is sent (the context it is packaged),
//! and each reply's token counts are added to the turn's usage.

use super::{Conversation, Waiting};
use crate::context::{package, View, ViewInput};
use crate::event::{Effect, LimitKind, ModelRequest, ModelUsage, Purpose, Record};
use crate::team::Agent;
use crate::transcript::Usage;

impl Conversation {
    /// Asks for the next model call, or trips `max_model_calls`.
    pub(super) fn call_model(&mut self, out: &mut Vec<Effect>) {
        let max = self.team.limits.max_model_calls;
        let turn = self.turn_mut();
        if turn.model_calls >= max {
            let detail = format!("the turn used all {max} model calls without an answer");
            self.trip(LimitKind::MaxModelCalls, detail, out);
            return;
        }
        turn.model_calls += 1;
        turn.waiting = Waiting::Model;
        let (number, index) = (turn.number, turn.model_calls);
        let agent = self.team.agent(&self.active).expect("the active agent is a team member");
        let model = agent.model.clone().unwrap_or_default();
        let calls_so_far = self.agent_model_calls.entry(agent.name.clone()).or_insert(0);
        let agent_call_index = *calls_so_far;
        *calls_so_far += 1;
        let view = if self.replaying { View::default() } else { self.view_of(agent) };
        out.push(Effect::Record(Record::ModelCallStarted {
            turn: number,
            index,
            agent: agent.name.clone(),
            model: model.clone(),
        }));
        out.push(Effect::CallModel(ModelRequest {
            turn: number,
            agent: agent.name.clone(),
            model,
            agent_call_index,
            purpose: Purpose::Act,
            system: view.system,
            messages: view.messages,
            tools: view.tools,
            facts: view.facts,
        }));
    }

    /// What `agent` is sent on its next model call.
    pub(super) fn view_of(&self, agent: &Agent) -> View {
        package(&ViewInput {
            team: &self.team,
            agent,
            transcript: &self.transcript,
            edge_uses: &self.edge_uses,
            facts: &self.facts,
        })
    }

    /// Adds a reply's token counts to the turn's usage of `agent` with `model`.
    pub(super) fn count_usage(&mut self, agent: &str, model: &str, usage: Option<Usage>) {
        let Some(usage) = usage else { return };
        let lines = &mut self.turn_mut().usage;
        let index = match lines.iter().position(|line| line.agent == agent && line.model == model) {
            Some(index) => index,
            None => {
                lines.push(ModelUsage {
                    agent: agent.to_string(),
                    model: model.to_string(),
                    calls: 0,
                    input_tokens: 0,
                    output_tokens: 0,
                });
                lines.len() - 1
            }
        };
        let line = &mut lines[index];
        line.calls += 1;
        line.input_tokens += usage.input_tokens;
        line.output_tokens += usage.output_tokens;
    }
}
