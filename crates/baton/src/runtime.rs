//! The runtime: drives conversations by carrying out the core's effects.
//!
//! Write-ahead: every input is journaled before the core sees it, and every record the core
//! returns is journaled before the calls that follow it are made. A conversation is loaded by
//! replaying its journal; a turn that a crash interrupted is finished before the next begins.

use crate::ids::new_conversation_id;
use baton_core::{replay, Conversation, Effect, Input, JournalEntry, Record, Team, ToolOutput, TurnOutcome};
use baton_local::read_signals;
use baton_models::Model;
use baton_store::{ConversationInfo, Store, StoreError};
use baton_tools::Tool;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::task::JoinSet;

/// A team ready to run: its models, tools and journal.
pub struct Runtime {
    team: Arc<Team>,
    models: BTreeMap<String, Arc<dyn Model>>,
    tools: BTreeMap<String, Arc<dyn Tool>>,
    store: Arc<dyn Store>,
}

/// The result of one user turn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TurnReport {
    /// The conversation the turn belongs to.
    pub conversation: String,
    /// How the turn ended.
    pub outcome: TurnOutcome,
}

/// Why a turn could not be run at all (a turn that ran and failed is a [`TurnReport`]).
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The journal failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The conversation belongs to another team.
    #[error("conversation '{conversation}' belongs to team '{owner}', not '{team}': pass that team's file")]
    WrongTeam {
        /// The conversation.
        conversation: String,
        /// Its team.
        owner: String,
        /// The team given.
        team: String,
    },
    /// The journal does not replay under this team.
    #[error("conversation '{conversation}' cannot be loaded: {detail}")]
    Replay {
        /// The conversation.
        conversation: String,
        /// What does not fit.
        detail: String,
    },
}

impl Runtime {
    /// A runtime for `team` with the given providers (by model name), tools (by name) and store.
    pub fn new(
        team: Arc<Team>,
        models: BTreeMap<String, Arc<dyn Model>>,
        tools: BTreeMap<String, Arc<dyn Tool>>,
        store: Arc<dyn Store>,
    ) -> Self {
        Runtime { team, models, tools, store }
    }

    /// The team.
    pub fn team(&self) -> &Team {
        &self.team
    }

    /// The journal store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Runs one user turn: in a new conversation, or in `conversation` if given.
    pub async fn send(&self, conversation: Option<&str>, message: &str) -> Result<TurnReport, RuntimeError> {
        let (mut journal, mut state) = match conversation {
            Some(id) => self.load(id).await?,
            None => self.create()?,
        };
        let signals = read_signals(&self.team, message);
        let effects = journal.feed(&mut state, Input::UserMessage { text: message.to_string(), signals })?;
        let outcome = self.drive(&mut journal, &mut state, effects).await?;
        Ok(TurnReport { conversation: journal.conversation.clone(), outcome })
    }

    fn create(&self) -> Result<(Journal, Conversation), RuntimeError> {
        let id = new_conversation_id();
        self.store.create(&ConversationInfo { id: id.clone(), team: self.team.name.clone(), created_ms: now_ms() })?;
        let journal = Journal { store: self.store.clone(), conversation: id.clone(), next_seq: 0 };
        Ok((journal, Conversation::new(self.team.clone(), id)))
    }

    /// Rebuilds a conversation from its journal and finishes a turn a crash interrupted.
    async fn load(&self, id: &str) -> Result<(Journal, Conversation), RuntimeError> {
        let info = self.store.conversation(id)?.ok_or_else(|| StoreError::UnknownConversation(id.to_string()))?;
        if info.team != self.team.name {
            return Err(RuntimeError::WrongTeam {
                conversation: id.into(),
                owner: info.team,
                team: self.team.name.clone(),
            });
        }
        let stored = self.store.journal(id)?;
        let entries: Vec<JournalEntry> = stored.into_iter().map(|stored| stored.entry).collect();
        let replayed = replay(self.team.clone(), id, &entries)
            .map_err(|e| RuntimeError::Replay { conversation: id.into(), detail: e.to_string() })?;
        let mut journal =
            Journal { store: self.store.clone(), conversation: id.to_string(), next_seq: entries.len() as u64 };
        let mut state = replayed.conversation;
        if !replayed.unfinished.is_empty() {
            self.drive(&mut journal, &mut state, replayed.unfinished).await?;
        }
        Ok((journal, state))
    }

    /// Carries out effects until the turn ends.
    async fn drive(
        &self,
        journal: &mut Journal,
        state: &mut Conversation,
        effects: Vec<Effect>,
    ) -> Result<TurnOutcome, RuntimeError> {
        let mut queue: VecDeque<Effect> = effects.into();
        loop {
            let mut records = Vec::new();
            while let Some(Effect::Record(record)) = queue.front() {
                records.push(record.clone());
                queue.pop_front();
            }
            journal.append(records.iter().cloned().map(JournalEntry::Record).collect())?;
            if let Some(Record::TurnEnded(outcome)) = records.last() {
                return Ok(outcome.clone());
            }
            let inputs = match queue.pop_front() {
                Some(Effect::CallModel(request)) => vec![self.call_model(&request).await],
                Some(Effect::CallTool(first)) => {
                    let mut invocations = vec![first];
                    while let Some(Effect::CallTool(_)) = queue.front() {
                        if let Some(Effect::CallTool(next)) = queue.pop_front() {
                            invocations.push(next);
                        }
                    }
                    self.call_tools(invocations).await
                }
                Some(Effect::Record(_)) => unreachable!("records were taken above"),
                None => {
                    return Err(RuntimeError::Replay {
                        conversation: journal.conversation.clone(),
                        detail: "the core stopped without ending the turn".into(),
                    })
                }
            };
            for input in inputs {
                queue.extend(journal.feed(state, input)?);
            }
        }
    }

    async fn call_model(&self, request: &baton_core::ModelRequest) -> Input {
        let Some(model) = self.models.get(&request.model) else {
            return Input::ModelFailed { error: format!("no provider is configured for model '{}'", request.model) };
        };
        match model.complete(request).await {
            Ok(reply) => Input::ModelReplied { reply },
            Err(error) => Input::ModelFailed { error: error.message },
        }
    }

    /// Runs the tool calls of one model reply concurrently; results arrive as they finish.
    /// A tool that panics is answered with an error result, like any failing tool.
    async fn call_tools(&self, invocations: Vec<baton_core::ToolInvocation>) -> Vec<Input> {
        let mut running = JoinSet::new();
        let mut call_of_task = BTreeMap::new();
        let mut inputs = Vec::new();
        for invocation in invocations {
            let Some(tool) = self.tools.get(&invocation.tool).cloned() else {
                let output = ToolOutput::error(format!("error: tool '{}' is not available", invocation.tool));
                inputs.push(Input::ToolReturned { call_id: invocation.call_id, output });
                continue;
            };
            let call_id = invocation.call_id.clone();
            let task =
                running.spawn(async move { tool.call(&invocation.arguments, &invocation.idempotency_key).await });
            call_of_task.insert(task.id(), call_id);
        }
        while let Some(joined) = running.join_next_with_id().await {
            let (task, output) = match joined {
                Ok((task, output)) => (task, output),
                Err(error) => (error.id(), ToolOutput::error(format!("error: the tool failed unexpectedly ({error})"))),
            };
            if let Some(call_id) = call_of_task.remove(&task) {
                inputs.push(Input::ToolReturned { call_id, output });
            }
        }
        inputs
    }
}

/// A conversation's journal, appended in order.
struct Journal {
    store: Arc<dyn Store>,
    conversation: String,
    next_seq: u64,
}

impl Journal {
    fn append(&mut self, entries: Vec<JournalEntry>) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let at = now_ms();
        let stamped: Vec<(u64, JournalEntry)> = entries.into_iter().map(|entry| (at, entry)).collect();
        self.store.append(&self.conversation, self.next_seq, &stamped)?;
        self.next_seq += stamped.len() as u64;
        Ok(())
    }

    /// Journals the input, then lets the core handle it.
    fn feed(&mut self, state: &mut Conversation, input: Input) -> Result<Vec<Effect>, RuntimeError> {
        self.append(vec![JournalEntry::Input(input.clone())])?;
        state
            .handle(input)
            .map_err(|rejected| RuntimeError::Replay { conversation: self.conversation.clone(), detail: rejected.0 })
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}
