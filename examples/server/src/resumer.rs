//! Publishes left unfinished: this server's own from before a restart, taken back at start,
//! and those of servers that stopped renewing their leases, taken over as they lapse.

use std::time::Duration;

use beams_core::{BeamsError, Publication, Timestamp};
use tokio_util::sync::CancellationToken;

use crate::state::AppState;

/// How long a finished publish's report stays in the journal.
pub const KEEP_REPORTS: Duration = Duration::from_secs(24 * 60 * 60);

/// Takes back this server's unfinished publishes, then every `every` takes over lapsed ones
/// and forgets reports older than [`KEEP_REPORTS`], until `stop`.
pub async fn resume_publishes(state: AppState, every: Duration, stop: CancellationToken) {
    let beams = state.beams();
    match beams.resume_all().await {
        Ok(resumed) => {
            if !resumed.is_empty() {
                tracing::info!(
                    resumed = resumed.len(),
                    "resuming publishes left unfinished"
                );
            }
            for publication in resumed {
                start(&state, publication);
            }
        }
        Err(err) => tracing::warn!(error = %err, "could not read the publish journal"),
    }
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        let taken = start_all(&state, || beams.take_over_next()).await;
        if taken > 0 {
            tracing::warn!(
                taken,
                "took over publishes whose server stopped delivering them"
            );
        }
        forget_old_reports(&state).await;
    }
}

/// Starts every publication `next` hands out; answers how many.
async fn start_all<F>(state: &AppState, mut next: impl FnMut() -> F) -> usize
where
    F: Future<Output = Result<Option<Publication>, BeamsError>>,
{
    let mut started = 0;
    loop {
        match next().await {
            Ok(Some(publication)) => {
                start(state, publication);
                started += 1;
            }
            Ok(None) => return started,
            Err(err) => {
                tracing::warn!(error = %err, "could not read the publish journal");
                return started;
            }
        }
    }
}

fn start(state: &AppState, publication: Publication) {
    state.reports().ledger().track(publication.id());
    let id = state.publishes().start(publication);
    tracing::info!(publish_id = %id, "resuming publish");
}

async fn forget_old_reports(state: &AppState) {
    let keep = i64::try_from(KEEP_REPORTS.as_millis()).unwrap_or(i64::MAX);
    let now = state.beams().clock_now().as_unix_millis();
    let before = Timestamp::from_unix_millis(now.saturating_sub(keep));
    if let Err(err) = state.beams().journal().forget_finished(before).await {
        tracing::warn!(error = %err, "could not forget old publish reports");
    }
}
