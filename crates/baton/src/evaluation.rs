//! Routing evaluation: a JSON-lines file of cases, each one or more user turns run in a fresh
//! conversation, and the figures of a run. A case passes when the agent in control after its
//! last turn (and the status, when the case names one) is the one expected; a run gives the
//! accuracy, each agent's precision and recall, and the confusion matrix. `baton eval` reads,
//! runs and prints with this module.

use crate::{Runtime, RuntimeError};
use baton_core::names::{closest, list};
use baton_core::{TurnOutcome, TurnStatus};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The column of the confusion matrix for the cases that could not run.
pub const COULD_NOT_RUN: &str = "(error)";

/// What the user says in a case, as the cases file writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CaseMessages {
    /// One message, one turn (`"input"`).
    Input(String),
    /// One message per turn, in order (`"turns"`).
    Turns(Vec<String>),
}

/// One case: what the user says, turn by turn, and who should be in control after the last turn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvalCase {
    /// Its line in the cases file, from 1.
    pub line: usize,
    /// What the user says.
    pub messages: CaseMessages,
    /// The agent that should be in control after the last turn.
    pub expect_agent: String,
    /// How the last turn should end; any way when `None`.
    pub expect_status: Option<TurnStatus>,
}

impl EvalCase {
    /// The user's messages, one per turn.
    pub fn turns(&self) -> &[String] {
        match &self.messages {
            CaseMessages::Input(message) => std::slice::from_ref(message),
            CaseMessages::Turns(turns) => turns,
        }
    }

    /// Whether `outcome` is what the case expects: the agent, and the status when it names one.
    pub fn passes(&self, outcome: &CaseOutcome) -> bool {
        outcome.agent() == Some(self.expect_agent.as_str())
            && self.expect_status.is_none_or(|status| outcome.status() == Some(status))
    }
}

/// What running a case gave.
#[derive(Debug)]
pub enum CaseOutcome {
    /// Every turn ran; this is how the last one ended (it may have failed: see its status and
    /// error).
    Ran(TurnOutcome),
    /// A turn could not run.
    NotRun(RuntimeError),
    /// The case has no turns to run.
    NoTurns,
}

impl CaseOutcome {
    /// The last turn, when every turn ran.
    pub fn turn(&self) -> Option<&TurnOutcome> {
        match self {
            CaseOutcome::Ran(outcome) => Some(outcome),
            CaseOutcome::NotRun(_) | CaseOutcome::NoTurns => None,
        }
    }

    /// The agent in control after the last turn, when every turn ran.
    pub fn agent(&self) -> Option<&str> {
        self.turn().map(|outcome| outcome.agent.as_str())
    }

    /// How the last turn ended, when every turn ran.
    pub fn status(&self) -> Option<TurnStatus> {
        self.turn().map(|outcome| outcome.status)
    }

    /// Why the case could not run, or why its last turn failed.
    pub fn error(&self) -> Option<String> {
        match self {
            CaseOutcome::Ran(outcome) => outcome.error.clone(),
            CaseOutcome::NotRun(error) => Some(error.to_string()),
            CaseOutcome::NoTurns => Some("no turn ran".into()),
        }
    }
}

/// A case and what running it gave.
#[derive(Debug)]
pub struct CaseResult {
    /// The case.
    pub case: EvalCase,
    /// What running it gave.
    pub outcome: CaseOutcome,
}

impl CaseResult {
    /// Whether the case passed.
    pub fn passed(&self) -> bool {
        self.case.passes(&self.outcome)
    }
}

/// How far a run is, told after each case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// The cases run so far.
    pub done: usize,
    /// Of those, the ones that passed.
    pub correct: usize,
    /// Every case of the run.
    pub total: usize,
}

/// Runs every case, one after the other, each in a fresh conversation of `runtime` (whose
/// journal should be memory: every case leaves a conversation behind), and tells `progress`
/// after each.
pub async fn evaluate(runtime: &Runtime, cases: Vec<EvalCase>, mut progress: impl FnMut(Progress)) -> Evaluation {
    let started = Instant::now();
    let total = cases.len();
    let mut results = Vec::with_capacity(total);
    let mut correct = 0;
    for case in cases {
        let outcome = run_case(runtime, &case).await;
        let result = CaseResult { case, outcome };
        correct += usize::from(result.passed());
        results.push(result);
        progress(Progress { done: results.len(), correct, total });
    }
    Evaluation::new(results, started.elapsed().as_secs_f64())
}

/// Runs one case in a fresh conversation.
async fn run_case(runtime: &Runtime, case: &EvalCase) -> CaseOutcome {
    let mut conversation: Option<String> = None;
    let mut last = None;
    for message in case.turns() {
        match runtime.send(conversation.as_deref(), message).await {
            Ok(report) => {
                conversation = Some(report.conversation);
                last = Some(report.outcome);
            }
            Err(error) => return CaseOutcome::NotRun(error),
        }
    }
    match last {
        Some(outcome) => CaseOutcome::Ran(outcome),
        None => CaseOutcome::NoTurns,
    }
}

/// The figures of a run: every case with its outcome, the accuracy, the confusion matrix and
/// each agent's score.
#[derive(Debug)]
pub struct Evaluation {
    results: Vec<CaseResult>,
    correct: usize,
    seconds: f64,
    confusion: ConfusionMatrix,
}

impl Evaluation {
    /// The figures of `results`, which took `seconds` to run.
    pub fn new(results: Vec<CaseResult>, seconds: f64) -> Self {
        let correct = results.iter().filter(|result| result.passed()).count();
        let mut rows: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
        for result in &results {
            let got = result.outcome.agent().unwrap_or(COULD_NOT_RUN).to_string();
            *rows.entry(result.case.expect_agent.clone()).or_default().entry(got).or_default() += 1;
        }
        Evaluation { results, correct, seconds, confusion: ConfusionMatrix { rows } }
    }

    /// Every case with its outcome, in the order they ran.
    pub fn results(&self) -> &[CaseResult] {
        &self.results
    }

    /// The cases that did not pass, in the order they ran.
    pub fn failures(&self) -> impl Iterator<Item = &CaseResult> {
        self.results.iter().filter(|result| !result.passed())
    }

    /// How many cases ran.
    pub fn cases(&self) -> usize {
        self.results.len()
    }

    /// How many passed.
    pub fn correct(&self) -> usize {
        self.correct
    }

    /// The share of the cases that passed, from 0 to 1 (0 without cases).
    pub fn accuracy(&self) -> f64 {
        match self.results.len() {
            0 => 0.0,
            cases => self.correct as f64 / cases as f64,
        }
    }

    /// How long the run took, in seconds.
    pub fn seconds(&self) -> f64 {
        self.seconds
    }

    /// Expected agent against the agent in control after the last turn.
    pub fn confusion(&self) -> &ConfusionMatrix {
        &self.confusion
    }

    /// The score of every agent expected or in control at the end of a case, by name. It counts
    /// the agent in control alone: a case with the right agent but not the expected status counts
    /// as right here, and as a failure in the accuracy.
    pub fn per_agent(&self) -> BTreeMap<String, AgentScore> {
        let mut scores: BTreeMap<String, AgentScore> = BTreeMap::new();
        for (expected, row) in &self.confusion.rows {
            for (got, count) in row {
                scores.entry(expected.clone()).or_default().support += count;
                if got != COULD_NOT_RUN {
                    scores.entry(got.clone()).or_default().predicted += count;
                }
                if expected == got {
                    scores.entry(got.clone()).or_default().correct += count;
                }
            }
        }
        scores
    }
}

/// How many cases expecting each agent ended with each agent in control ([`COULD_NOT_RUN`] for
/// the cases that could not run). Serialized as `{"expected": {"got": count}}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct ConfusionMatrix {
    rows: BTreeMap<String, BTreeMap<String, usize>>,
}

impl ConfusionMatrix {
    /// Each expected agent (by name) with the counts of the agents the cases ended with.
    pub fn rows(&self) -> &BTreeMap<String, BTreeMap<String, usize>> {
        &self.rows
    }

    /// How many cases expecting `expected` ended with `got` in control.
    pub fn count(&self, expected: &str, got: &str) -> usize {
        self.rows.get(expected).and_then(|row| row.get(got)).copied().unwrap_or(0)
    }

    /// Whether some case could not run (the matrix has a [`COULD_NOT_RUN`] column).
    pub fn has_errors(&self) -> bool {
        self.rows.values().any(|row| row.contains_key(COULD_NOT_RUN))
    }
}

/// How the routing did for one agent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AgentScore {
    /// The cases that expect it.
    pub support: usize,
    /// The cases that ended with it in control.
    pub predicted: usize,
    /// The cases that expect it and ended with it in control.
    pub correct: usize,
}

impl AgentScore {
    /// Of the cases that ended with it in control, the share that expect it; `None` when none did.
    pub fn precision(&self) -> Option<f64> {
        ratio(self.correct, self.predicted)
    }

    /// Of the cases that expect it, the share that ended with it in control; `None` when none
    /// expect it.
    pub fn recall(&self) -> Option<f64> {
        ratio(self.correct, self.support)
    }
}

fn ratio(part: usize, whole: usize) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// One line of the cases file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    input: Option<String>,
    turns: Option<Vec<String>>,
    expect_agent: String,
    expect_status: Option<TurnStatus>,
}

/// A problem with a cases file; the message names the file and, for a line, the line.
#[derive(Debug, thiserror::Error)]
pub enum CaseFileError {
    /// The file could not be read.
    #[error("cannot read the cases file {}: {source}", .path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line is not a case object: not JSON, an unknown field, a field of the wrong type.
    #[error(
        "{}:{line}: {source}\n  = help: each line is {{\"input\": \"...\", \"expect_agent\": \"...\"}} or {{\"turns\": [\"...\", \"...\"], \"expect_agent\": \"...\"}}, optionally with \"expect_status\"",
        .path.display()
    )]
    NotACase {
        /// The file.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
        /// Why it does not read.
        source: serde_json::Error,
    },
    /// A case has neither `"input"` nor a non-empty `"turns"`, or both.
    #[error("{}:{line}: a case has either \"input\" or a non-empty \"turns\" list", .path.display())]
    NoMessages {
        /// The file.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
    },
    /// A case expects an agent the team does not have.
    #[error(
        "{}:{line}: expect_agent '{agent}' is not an agent of the team\n  = help: {}",
        .path.display(),
        unknown_agent_help(.did_you_mean, .agents)
    )]
    UnknownAgent {
        /// The file.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
        /// The agent the case expects.
        agent: String,
        /// The team's agent with the closest name, if one is close.
        did_you_mean: Option<String>,
        /// The team's agents.
        agents: Vec<String>,
    },
    /// The file has no case (only blank lines, or nothing).
    #[error("{} holds no cases", .path.display())]
    NoCases {
        /// The file.
        path: PathBuf,
    },
}

fn unknown_agent_help(did_you_mean: &Option<String>, agents: &[String]) -> String {
    match did_you_mean {
        Some(name) => format!("did you mean '{name}'?"),
        None => format!("the agents are {}", list(agents)),
    }
}

impl CaseFileError {
    /// The case, as a short stable name.
    pub fn kind(&self) -> &'static str {
        match self {
            CaseFileError::Unreadable { .. } => "unreadable",
            CaseFileError::NotACase { .. } => "not_a_case",
            CaseFileError::NoMessages { .. } => "no_messages",
            CaseFileError::UnknownAgent { .. } => "unknown_agent",
            CaseFileError::NoCases { .. } => "no_cases",
        }
    }

    /// The line it is about (from 1), when it is about one.
    pub fn line(&self) -> Option<usize> {
        match self {
            CaseFileError::NotACase { line, .. }
            | CaseFileError::NoMessages { line, .. }
            | CaseFileError::UnknownAgent { line, .. } => Some(*line),
            CaseFileError::Unreadable { .. } | CaseFileError::NoCases { .. } => None,
        }
    }
}

/// Every problem found in a cases file, in line order (at least one); no case was taken from it.
/// Its message is theirs, one per line.
#[derive(Debug)]
pub struct CaseFileErrors {
    errors: Vec<CaseFileError>,
}

impl CaseFileErrors {
    /// The problems, in line order.
    pub fn errors(&self) -> &[CaseFileError] {
        &self.errors
    }
}

impl IntoIterator for CaseFileErrors {
    type Item = CaseFileError;
    type IntoIter = std::vec::IntoIter<CaseFileError>;

    fn into_iter(self) -> Self::IntoIter {
        self.errors.into_iter()
    }
}

impl<'a> IntoIterator for &'a CaseFileErrors {
    type Item = &'a CaseFileError;
    type IntoIter = std::slice::Iter<'a, CaseFileError>;

    fn into_iter(self) -> Self::IntoIter {
        self.errors.iter()
    }
}

impl fmt::Display for CaseFileErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.errors.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CaseFileErrors {}

/// Reads the cases file at `path`, one JSON object per line (blank lines skipped), for a team
/// whose agents are `agents`. Every bad line is reported, with the file and line.
pub fn read_cases(path: &Path, agents: &[&str]) -> Result<Vec<EvalCase>, CaseFileErrors> {
    let text = std::fs::read_to_string(path).map_err(|source| CaseFileErrors {
        errors: vec![CaseFileError::Unreadable { path: path.to_path_buf(), source }],
    })?;
    parse_cases(&text, path, agents)
}

/// The cases in `text`, read from `path`.
fn parse_cases(text: &str, path: &Path, agents: &[&str]) -> Result<Vec<EvalCase>, CaseFileErrors> {
    let mut cases = Vec::new();
    let mut errors = Vec::new();
    for (index, text) in text.lines().enumerate() {
        let line = index + 1;
        if text.trim().is_empty() {
            continue;
        }
        match parse_case(text, agents) {
            Ok(parsed) => cases.push(EvalCase { line, ..parsed }),
            Err(problem) => errors.push(problem.at(path, line)),
        }
    }
    if cases.is_empty() && errors.is_empty() {
        errors.push(CaseFileError::NoCases { path: path.to_path_buf() });
    }
    match errors.is_empty() {
        true => Ok(cases),
        false => Err(CaseFileErrors { errors }),
    }
}

/// What is wrong with a line, before it is placed in its file.
enum LineProblem {
    NotACase(serde_json::Error),
    NoMessages,
    UnknownAgent { agent: String, did_you_mean: Option<String>, agents: Vec<String> },
}

impl LineProblem {
    fn at(self, path: &Path, line: usize) -> CaseFileError {
        let path = path.to_path_buf();
        match self {
            LineProblem::NotACase(source) => CaseFileError::NotACase { path, line, source },
            LineProblem::NoMessages => CaseFileError::NoMessages { path, line },
            LineProblem::UnknownAgent { agent, did_you_mean, agents } => {
                CaseFileError::UnknownAgent { path, line, agent, did_you_mean, agents }
            }
        }
    }
}

/// The case one line holds (its line number is set by the caller).
fn parse_case(text: &str, agents: &[&str]) -> Result<EvalCase, LineProblem> {
    let raw: RawCase = serde_json::from_str(text).map_err(LineProblem::NotACase)?;
    let messages = match (raw.input, raw.turns) {
        (Some(input), None) => CaseMessages::Input(input),
        (None, Some(turns)) if !turns.is_empty() => CaseMessages::Turns(turns),
        _ => return Err(LineProblem::NoMessages),
    };
    if !agents.contains(&raw.expect_agent.as_str()) {
        return Err(LineProblem::UnknownAgent {
            did_you_mean: closest(&raw.expect_agent, agents.iter().copied()).map(str::to_string),
            agent: raw.expect_agent,
            agents: agents.iter().map(|agent| agent.to_string()).collect(),
        });
    }
    Ok(EvalCase { line: 0, messages, expect_agent: raw.expect_agent, expect_status: raw.expect_status })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use baton_core::HandoffStep;
    use baton_store::StoreLocation;

    const AGENTS: [&str; 3] = ["triage", "technical", "billing"];

    fn case(line: usize, expect_agent: &str, expect_status: Option<TurnStatus>) -> EvalCase {
        let messages = CaseMessages::Input(format!("message {line}"));
        EvalCase { line, messages, expect_agent: expect_agent.into(), expect_status }
    }

    fn ran(agent: &str, status: TurnStatus) -> CaseOutcome {
        CaseOutcome::Ran(TurnOutcome {
            turn: 1,
            status,
            agent: agent.into(),
            reply: None,
            handoffs: vec![HandoffStep { from: "triage".into(), to: agent.into(), reason: "asked".into() }],
            limit: None,
            model_calls: 1,
            tool_calls: 0,
            error: None,
            routed: None,
            malformed_calls: Some(0),
            usage: None,
            pending: None,
        })
    }

    fn not_run() -> CaseOutcome {
        CaseOutcome::NotRun(RuntimeError::BadId(crate::check_conversation_id("a b").expect_err("a space is no id")))
    }

    fn result(case: EvalCase, outcome: CaseOutcome) -> CaseResult {
        CaseResult { case, outcome }
    }

    /// Six cases: two right, one right agent with the wrong status, one wrong agent, one that
    /// could not run, one right with the expected status.
    fn figures() -> Evaluation {
        use TurnStatus::{Answered, Escalated, Failed};
        Evaluation::new(
            vec![
                result(case(1, "technical", None), ran("technical", Answered)),
                result(case(2, "technical", None), ran("technical", Failed)),
                result(case(3, "billing", Some(Answered)), ran("billing", Escalated)),
                result(case(4, "billing", None), ran("technical", Answered)),
                result(case(5, "triage", None), not_run()),
                result(case(7, "billing", Some(Answered)), ran("billing", Answered)),
            ],
            1.5,
        )
    }

    #[test]
    fn the_accuracy_counts_the_agent_and_the_expected_status() {
        let evaluation = figures();
        assert_eq!(evaluation.cases(), 6);
        assert_eq!(evaluation.correct(), 3);
        assert!((evaluation.accuracy() - 0.5).abs() < 1e-12);
        assert_eq!(evaluation.seconds(), 1.5);
        let failed: Vec<usize> = evaluation.failures().map(|result| result.case.line).collect();
        assert_eq!(failed, [3, 4, 5]);
        assert_eq!(evaluation.results().len(), 6);
    }

    #[test]
    fn no_cases_is_an_accuracy_of_zero() {
        let evaluation = Evaluation::new(Vec::new(), 0.0);
        assert_eq!(evaluation.accuracy(), 0.0);
        assert!(evaluation.per_agent().is_empty());
        assert!(!evaluation.confusion().has_errors());
    }

    #[test]
    fn the_confusion_matrix_has_expected_rows_and_got_columns() {
        let evaluation = figures();
        let confusion = evaluation.confusion();
        assert_eq!(confusion.count("technical", "technical"), 2);
        assert_eq!(confusion.count("billing", "billing"), 2);
        assert_eq!(confusion.count("billing", "technical"), 1);
        assert_eq!(confusion.count("triage", COULD_NOT_RUN), 1);
        assert_eq!(confusion.count("triage", "triage"), 0);
        assert_eq!(confusion.count("nobody", "triage"), 0);
        assert!(confusion.has_errors());
        let total: usize = confusion.rows().values().flat_map(|row| row.values()).sum();
        assert_eq!(total, evaluation.cases());
        assert_eq!(
            serde_json::to_string(confusion).unwrap(),
            r#"{"billing":{"billing":2,"technical":1},"technical":{"technical":2},"triage":{"(error)":1}}"#
        );
    }

    #[test]
    fn each_agent_is_scored_by_the_agent_in_control_alone() {
        let scores = figures().per_agent();
        let names: Vec<&str> = scores.keys().map(String::as_str).collect();
        assert_eq!(names, ["billing", "technical", "triage"]);
        // The case with the right agent and the wrong status counts as right here.
        assert_eq!(scores["billing"], AgentScore { support: 3, predicted: 2, correct: 2 });
        assert_eq!(scores["billing"].precision(), Some(1.0));
        assert_eq!(scores["billing"].recall(), Some(2.0 / 3.0));
        assert_eq!(scores["technical"], AgentScore { support: 2, predicted: 3, correct: 2 });
        assert_eq!(scores["technical"].precision(), Some(2.0 / 3.0));
        assert_eq!(scores["technical"].recall(), Some(1.0));
        // A case that could not run predicts no agent.
        assert_eq!(scores["triage"], AgentScore { support: 1, predicted: 0, correct: 0 });
        assert_eq!(scores["triage"].precision(), None);
        assert_eq!(scores["triage"].recall(), Some(0.0));
    }

    #[test]
    fn an_agent_only_predicted_has_no_recall() {
        let evaluation =
            Evaluation::new(vec![result(case(1, "billing", None), ran("technical", TurnStatus::Answered))], 0.0);
        let scores = evaluation.per_agent();
        assert_eq!(scores["technical"], AgentScore { support: 0, predicted: 1, correct: 0 });
        assert_eq!(scores["technical"].recall(), None);
        assert_eq!(scores["technical"].precision(), Some(0.0));
    }

    #[test]
    fn an_outcome_tells_its_agent_status_and_error() {
        let outcome = ran("billing", TurnStatus::Answered);
        assert_eq!(outcome.agent(), Some("billing"));
        assert_eq!(outcome.status(), Some(TurnStatus::Answered));
        assert_eq!(outcome.error(), None);
        assert_eq!(outcome.turn().map(|turn| turn.handoffs.len()), Some(1));
        let refused = not_run();
        assert_eq!((refused.agent(), refused.status()), (None, None));
        let refused_id = "'a b' is not a usable conversation id: use 1 to 128 letters, digits, '-', '_', '.', ':' or \
                          '@', not starting with '.'";
        assert_eq!(refused.error().as_deref(), Some(refused_id));
        assert_eq!(CaseOutcome::NoTurns.error().as_deref(), Some("no turn ran"));
        assert!(!case(1, "billing", None).passes(&CaseOutcome::NoTurns));
    }

    fn parse(lines: &[&str]) -> Result<Vec<EvalCase>, CaseFileErrors> {
        parse_cases(&lines.join("\n"), Path::new("cases.jsonl"), &AGENTS)
    }

    #[test]
    fn cases_keep_their_line_and_how_they_were_written() {
        let cases = parse(&[
            r#"{"input": "my internet is down", "expect_agent": "technical"}"#,
            "",
            "   ",
            r#"{"turns": ["hi", "I was charged twice"], "expect_agent": "billing", "expect_status": "answered"}"#,
        ])
        .unwrap();
        assert_eq!(cases.len(), 2);
        assert_eq!(cases[0].line, 1);
        assert_eq!(cases[0].messages, CaseMessages::Input("my internet is down".into()));
        assert_eq!(cases[0].turns(), ["my internet is down"]);
        assert_eq!(cases[0].expect_status, None);
        assert_eq!(cases[1].line, 4);
        assert_eq!(cases[1].turns(), ["hi", "I was charged twice"]);
        assert_eq!(cases[1].expect_agent, "billing");
        assert_eq!(cases[1].expect_status, Some(TurnStatus::Answered));
    }

    #[test]
    fn every_bad_line_is_reported_with_its_line() {
        let errors = parse(&[
            r#"{"input": "my internet is down", "expect_agent": "technical"}"#,
            r#"{"input": "hi", "expect_agent": "techincal"}"#,
            "not json",
            "",
            r#"{"expect_agent": "billing"}"#,
            r#"{"input": "hi", "expect_agent": "triage", "expect": "x"}"#,
            r#"{"turns": [], "expect_agent": "triage"}"#,
            r#"{"input": "hi", "turns": ["x"], "expect_agent": "triage"}"#,
            r#"{"input": "hi", "expect_agent": "zzzzzzzzzzzz"}"#,
        ])
        .unwrap_err();
        let found: Vec<(Option<usize>, &str)> = errors.errors().iter().map(|e| (e.line(), e.kind())).collect();
        assert_eq!(
            found,
            [
                (Some(2), "unknown_agent"),
                (Some(3), "not_a_case"),
                (Some(5), "no_messages"),
                (Some(6), "not_a_case"),
                (Some(7), "no_messages"),
                (Some(8), "no_messages"),
                (Some(9), "unknown_agent"),
            ]
        );
        let messages: Vec<String> = errors.errors().iter().map(ToString::to_string).collect();
        assert_eq!(
            messages[0],
            "cases.jsonl:2: expect_agent 'techincal' is not an agent of the team\n  = help: did you mean 'technical'?"
        );
        assert_eq!(
            messages[1],
            "cases.jsonl:3: expected ident at line 1 column 2\n  = help: each line is {\"input\": \"...\", \
             \"expect_agent\": \"...\"} or {\"turns\": [\"...\", \"...\"], \"expect_agent\": \"...\"}, optionally \
             with \"expect_status\""
        );
        assert_eq!(messages[2], "cases.jsonl:5: a case has either \"input\" or a non-empty \"turns\" list");
        assert!(messages[3].starts_with("cases.jsonl:6: unknown field `expect`"), "{}", messages[3]);
        assert_eq!(
            messages[6],
            "cases.jsonl:9: expect_agent 'zzzzzzzzzzzz' is not an agent of the team\n  = help: the agents are \
             'triage', 'technical' and 'billing'"
        );
        assert_eq!(errors.to_string(), messages.join("\n"));
        assert_eq!(errors.into_iter().count(), 7);
    }

    #[test]
    fn a_file_without_cases_is_refused() {
        for text in ["", "\n  \n"] {
            let errors = parse_cases(text, Path::new("empty.jsonl"), &AGENTS).unwrap_err();
            let found: Vec<(&str, String)> = errors.errors().iter().map(|e| (e.kind(), e.to_string())).collect();
            assert_eq!(found, [("no_cases", "empty.jsonl holds no cases".to_string())]);
            assert_eq!(errors.errors()[0].line(), None);
        }
    }

    #[test]
    fn the_cases_file_is_read_from_disk_and_an_unreadable_one_named() {
        let dir = std::env::temp_dir().join(format!("baton-evaluation-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cases.jsonl");
        std::fs::write(&path, "{\"input\": \"hi\", \"expect_agent\": \"triage\"}\n").unwrap();
        let cases = read_cases(&path, &AGENTS).unwrap();
        assert_eq!(
            cases,
            [EvalCase {
                line: 1,
                messages: CaseMessages::Input("hi".into()),
                expect_agent: "triage".into(),
                expect_status: None
            }]
        );
        let missing = dir.join("missing.jsonl");
        let errors = read_cases(&missing, &AGENTS).unwrap_err();
        assert_eq!(errors.errors().len(), 1);
        assert_eq!(errors.errors()[0].kind(), "unreadable");
        let message = errors.to_string();
        assert!(message.starts_with(&format!("cannot read the cases file {}: ", missing.display())), "{message}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn a_run_reports_each_case_as_it_goes() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/minimal/team.toml");
        let config = crate::config::load_team(&path).unwrap().config;
        let runtime = crate::assemble::open_runtime(&config, &StoreLocation::Memory).await.unwrap();
        let cases = vec![
            EvalCase {
                line: 1,
                messages: CaseMessages::Input("hi there".into()),
                expect_agent: "assistant".into(),
                expect_status: Some(TurnStatus::Answered),
            },
            EvalCase {
                line: 2,
                messages: CaseMessages::Turns(vec!["hello".into(), "I think I paid my bill twice".into()]),
                expect_agent: "billing".into(),
                expect_status: None,
            },
            EvalCase {
                line: 3,
                messages: CaseMessages::Input("x".repeat(70_000)),
                expect_agent: "assistant".into(),
                expect_status: None,
            },
            EvalCase {
                line: 4,
                messages: CaseMessages::Turns(Vec::new()),
                expect_agent: "billing".into(),
                expect_status: None,
            },
        ];
        let mut told = Vec::new();
        let evaluation = evaluate(&runtime, cases, |progress| told.push(progress)).await;
        let progress = |done, correct| Progress { done, correct, total: 4 };
        assert_eq!(told, [progress(1, 1), progress(2, 2), progress(3, 2), progress(4, 2)]);
        assert_eq!((evaluation.cases(), evaluation.correct()), (4, 2));
        let results = evaluation.results();
        assert_eq!(results[1].outcome.turn().map(|turn| turn.turn), Some(2), "both turns ran in one conversation");
        assert!(matches!(results[2].outcome, CaseOutcome::NotRun(RuntimeError::MessageTooLarge { .. })));
        assert!(matches!(results[3].outcome, CaseOutcome::NoTurns));
        assert_eq!(evaluation.confusion().count("assistant", COULD_NOT_RUN), 1);
        assert_eq!(evaluation.confusion().count("billing", COULD_NOT_RUN), 1);
    }
}
