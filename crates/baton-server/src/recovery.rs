//! Finishing interrupted turns: at start, and every little while after, the server has the
//! service sweep the turns that stopped halfway (this process crashed, or another one sharing the
//! journal died mid-turn) and finish those of its teams once their lease has run out; each is
//! logged.

use crate::observer::TurnObserver;
use crate::state::AppState;
use baton::service::{Resumed, Sweep};
use baton::store::ConversationInfo;
use baton::Observer;
use std::sync::Arc;
use std::time::Duration;

/// How many interrupted turns are finished at a time.
const SIDE_BY_SIDE: usize = 64;

/// Looks for interrupted turns now and every `every`, until the server stops.
pub async fn sweep(state: Arc<AppState>, every: Duration) {
    let mut stopping = state.stopping.clone();
    loop {
        finish_interrupted(&state).await;
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stopping.wait_for(|stopping| *stopping) => return,
        }
    }
}

/// Finishes every interrupted turn of a served team that no process is advancing now, side by
/// side (one slow model call holds up no other conversation). A conversation another process
/// holds is left to it, and looked at again next time.
async fn finish_interrupted(state: &Arc<AppState>) {
    let interrupted = match state.service.interrupted().await {
        Ok(interrupted) => interrupted,
        Err(error) => {
            tracing::warn!("cannot look for interrupted turns: {error}");
            return;
        }
    };
    let served = state.service.team_names();
    let ours: Vec<ConversationInfo> = interrupted.into_iter().filter(|info| served.contains(&info.team)).collect();
    if ours.is_empty() {
        return;
    }
    let observing = state.clone();
    let observer_for = move |info: &ConversationInfo| -> Arc<dyn Observer> {
        TurnObserver::new(&observing, &info.team, &info.id, None)
    };
    let mut sweeping =
        state.service.sweep(ours, Sweep { concurrency: SIDE_BY_SIDE, wait: Duration::ZERO }, observer_for).await;
    while let Some(resumed) = sweeping.next().await {
        match resumed {
            Resumed::Finished { info, report, .. } => tracing::info!(
                conversation = info.id,
                team = info.team,
                turn = report.outcome.turn,
                status = report.outcome.status.as_str(),
                "resumed conversation {} (team {}): turn {} {}",
                info.id,
                info.team,
                report.outcome.turn,
                report.outcome.status.as_str()
            ),
            Resumed::Failed { conversations, error } => {
                for info in &conversations {
                    tracing::warn!(conversation = info.id, "cannot resume conversation {}: {error}", info.id);
                }
                if conversations.is_empty() {
                    tracing::warn!("cannot resume a conversation: {error}");
                }
            }
            Resumed::TakenOver(info) => {
                tracing::info!(conversation = info.id, "another process took over conversation {}", info.id)
            }
            Resumed::Elsewhere(_) | Resumed::Waiting(_) | Resumed::Skipped { .. } => {}
        }
    }
}
