//! Token counts and their cost: a turn's usage in total and per agent, priced with the team
//! file's `price` of each model.

use crate::config::Price;
use baton_core::{ModelUsage, TurnOutcome, Usage};
use serde::Serialize;
use std::collections::BTreeMap;

/// Tokens used and, when every model involved has a price, what they cost.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct UsageTotals {
    /// Tokens sent to models.
    pub input_tokens: u64,
    /// Tokens models produced.
    pub output_tokens: u64,
    /// The cost in US dollars; `None` when a model involved has no price.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
}

/// A turn's usage: in total, and per agent (`router` for the front-door router).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TurnUsage {
    /// All of the turn's model calls.
    #[serde(flatten)]
    pub total: UsageTotals,
    /// Per agent, by name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub agents: BTreeMap<String, UsageTotals>,
}

impl TurnUsage {
    /// The usage of a turn, priced by model name. A cost is known only where every model call
    /// reported its tokens and its model has a price.
    pub fn of(outcome: &TurnOutcome, prices: &BTreeMap<String, Price>) -> TurnUsage {
        let lines: &[ModelUsage] = outcome.usage.as_deref().unwrap_or_default();
        let counted: u32 = lines.iter().map(|line| line.calls).sum();
        let all_counted = !lines.is_empty() && counted >= outcome.model_calls;
        let zero = if all_counted { priced_zero() } else { UsageTotals::default() };
        let mut usage = TurnUsage { total: zero.clone(), agents: BTreeMap::new() };
        for line in lines {
            let tokens = Usage { input_tokens: line.input_tokens, output_tokens: line.output_tokens };
            let cost = prices.get(&line.model).map(|price| price.cost(tokens));
            usage.total.add(tokens, cost);
            usage.agents.entry(line.agent.clone()).or_insert_with(|| zero.clone()).add(tokens, cost);
        }
        usage
    }
}

/// No tokens, costing nothing.
fn priced_zero() -> UsageTotals {
    UsageTotals { input_tokens: 0, output_tokens: 0, cost_usd: Some(0.0) }
}

impl UsageTotals {
    /// Adds tokens and their cost; an unknown cost makes the total's cost unknown.
    fn add(&mut self, tokens: Usage, cost: Option<f64>) {
        self.input_tokens = self.input_tokens.saturating_add(tokens.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(tokens.output_tokens);
        self.cost_usd = match (self.cost_usd, cost) {
            (Some(so_far), Some(cost)) => Some(so_far + cost),
            _ => None,
        };
    }
}
