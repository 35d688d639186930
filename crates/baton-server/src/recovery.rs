//! Finishing interrupted turns: at start, and every little while after, the server looks for
//! turns that stopped halfway (this process crashed, or another one sharing the journal died
//! mid-turn) and finishes those of its teams once their lease has run out.

use crate::observer::TurnObserver;
use crate::state::AppState;
use std::sync::Arc;
use std::time::Duration;

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
/// side (one slow model call holds up no other conversation); reports each on stderr.
async fn finish_interrupted(state: &Arc<AppState>) {
    let interrupted = match state.store.interrupted().await {
        Ok(interrupted) => interrupted,
        Err(error) => {
            eprintln!("warning: cannot look for interrupted turns: {error}");
            return;
        }
    };
    let mut resuming = tokio::task::JoinSet::new();
    for info in interrupted {
        let Ok(runtime) = state.service.team(&info.team) else { continue };
        if state.turns.is_busy(&info.id) || *state.stopping.borrow() {
            continue;
        }
        let observer = TurnObserver::new(state, &info.team, &info.id, None);
        let id = info.id.clone();
        // A conversation another process holds is left to it, and looked at again next time.
        let work = move || {
            let (runtime, observer, id) = (runtime.clone(), observer.clone(), id.clone());
            async move { runtime.resume_observed(&id, observer).await }
        };
        let state = state.clone();
        resuming.spawn(async move {
            let resumed = match state.turns.run_waiting(&info.id, Duration::ZERO, work).await {
                Err(error) if error.code == "conversation_busy" => Ok(None),
                resumed => resumed,
            };
            report(&info.id, &info.team, resumed);
        });
    }
    while resuming.join_next().await.is_some() {}
}

/// Says on stderr how a resumed turn ended, or why it could not be resumed.
fn report(conversation: &str, team: &str, resumed: Result<Option<baton::TurnReport>, crate::ApiError>) {
    match resumed {
        Ok(Some(report)) => eprintln!(
            "resumed conversation {conversation} (team {team}): turn {} {}",
            report.outcome.turn,
            report.outcome.status.as_str()
        ),
        Ok(None) => {}
        Err(error) => eprintln!("warning: cannot resume conversation {conversation}: {}", error.message),
    }
}
