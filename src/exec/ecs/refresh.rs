//! The endpoint's credentials, held in memory and refreshed ahead (issue 17, point 3).
//!
//! A refresh through STS (or SSO) can take seconds, and the child's SDK gives up on the
//! endpoint after 1 s (the JS SDK's `fromHttp`) or 2 s (botocore). So no request ever calls
//! STS: one background task ([`Refresher::run`]) holds the current credentials ([`Held`], the
//! zeroed [`Credentials`]) and renews them a [`cache::lead`] before the cache's
//! [`cache::margin`], while the old ones can still be served; a request ([`Creds::get`]) is
//! answered from memory. A request that finds nothing it may serve (the first under `--lazy`,
//! or a refresh that is late) waits for the one refresh in flight, never starts its own. A
//! failed refresh is logged and retried with backoff while the old credentials last; once
//! nothing servable is held, a request gets the last failure (the endpoint's 500) and asks the
//! task for another try, which it makes no sooner than its backoff allows.
//!
//! The child is never handed credentials with less than the margin left (the rule vault's
//! session cache applies to every command).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use crate::aws::cache;
use crate::creds::Credentials;
use crate::error::{Error, Result};

/// The first retry after a failed refresh, and the least time between two attempts.
const MIN_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait between retries.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The task looks at the wall clock at least this often (a suspended machine's timers lag it).
const CHECK_EVERY: Duration = Duration::from_secs(30);

/// Credentials in memory, with when they stop being served and when they are renewed.
#[derive(Debug)]
pub struct Held {
    /// The credentials (their `Debug` redacts the secrets).
    pub creds: Credentials,
    /// Expiry less the cache's margin: from then on they are never handed out.
    serve_until: Option<OffsetDateTime>,
    /// A lead before `serve_until`: when the task renews them.
    renew_at: Option<OffsetDateTime>,
}

impl Held {
    /// Holds `creds` obtained at `now`. Without an issue time (a `credential_process`'s
    /// credentials) the lifetime counts from `now`; without an expiry they are served as
    /// long as the child runs.
    pub fn new(creds: Credentials, now: OffsetDateTime) -> Held {
        let (serve_until, renew_at) = match creds.expiration {
            Some(expiry) => {
                let issued = creds.issued.unwrap_or(now).min(expiry);
                let lifetime: Duration = (expiry - issued).try_into().unwrap_or_default();
                let until = expiry - cache::margin(lifetime);
                (Some(until), Some(until - cache::lead(lifetime)))
            }
            None => (None, None),
        };
        Held {
            creds,
            serve_until,
            renew_at,
        }
    }

    /// Whether they may still be handed out.
    pub fn servable(&self, now: OffsetDateTime) -> bool {
        self.serve_until.is_none_or(|until| now < until)
    }

    fn due(&self, now: OffsetDateTime) -> bool {
        self.renew_at.is_some_and(|at| now >= at)
    }

    /// Seconds from `now` until `t`, for the log.
    fn secs_until(t: Option<OffsetDateTime>, now: OffsetDateTime) -> i64 {
        t.map_or(-1, |t| (t - now).whole_seconds())
    }
}

/// What the task publishes to the requests.
#[derive(Debug, Default, Clone)]
struct State {
    /// The current credentials, if any.
    held: Option<Arc<Held>>,
    /// The last refresh's failure; cleared by a success.
    failed: Option<Arc<Error>>,
    /// Whether a refresh is in flight.
    refreshing: bool,
}

/// The requests' side: reads what the task holds.
#[derive(Debug, Clone)]
pub struct Creds {
    rx: watch::Receiver<State>,
    wake: Arc<Notify>,
}

/// The task's side: the only caller of the fetch.
#[derive(Debug)]
pub struct Refresher {
    tx: watch::Sender<State>,
    wake: Arc<Notify>,
}

/// A refresher and its requests' side, holding `first` (fetched before the child started)
/// or nothing (`--lazy`: the first request asks for them).
pub fn channel(first: Option<Credentials>) -> (Refresher, Creds) {
    let now = OffsetDateTime::now_utc();
    let held = first.map(|c| {
        let held = Held::new(c, now);
        log_new(&held, now);
        Arc::new(held)
    });
    let (tx, rx) = watch::channel(State {
        held,
        ..State::default()
    });
    let wake = Arc::new(Notify::new());
    (
        Refresher {
            tx,
            wake: wake.clone(),
        },
        Creds { rx, wake },
    )
}

fn log_new(held: &Held, now: OffsetDateTime) {
    let margin = held
        .creds
        .expiration
        .zip(held.serve_until)
        .map_or(0.0, |(expiry, until)| (expiry - until).as_seconds_f64());
    tracing::info!(
        "credential endpoint: new credentials, served for {} s (margin {margin:.3} s), renewed in {} s",
        Held::secs_until(held.serve_until, now),
        Held::secs_until(held.renew_at, now)
    );
}

impl Creds {
    /// Credentials that may be handed out now: from memory, else after the refresh in
    /// flight. Without one in flight and nothing servable, the last refresh's failure (and
    /// the task is asked to try again).
    pub async fn get(&self) -> std::result::Result<Arc<Held>, Arc<Error>> {
        let mut rx = self.rx.clone();
        loop {
            let state = rx.borrow_and_update().clone();
            if let Some(held) = state.held.filter(|h| h.servable(OffsetDateTime::now_utc())) {
                return Ok(held);
            }
            if !state.refreshing {
                // The first request under --lazy, a retry after a failure, or a clock that
                // jumped (a suspended machine): the task fetches, no sooner than its backoff.
                self.wake.notify_one();
                if let Some(failed) = state.failed {
                    return Err(failed);
                }
            }
            if rx.changed().await.is_err() {
                return Err(Arc::new(Error::Other(
                    "the credential refresh has stopped".into(),
                )));
            }
        }
    }
}

impl Refresher {
    /// Renews the credentials ahead of their margin for as long as it runs (the caller drops
    /// it with the child). `fetch` is called by this task alone, one call at a time.
    pub async fn run<F, Fut>(self, mut fetch: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Credentials>>,
    {
        let mut backoff = MIN_BACKOFF;
        // No attempt before this (after a failure: the backoff; after a success: the least
        // gap, so credentials that are due at once cannot make the task spin).
        let mut not_before: Option<Instant> = None;
        // A request asked for credentials that are not there.
        let mut asked = false;
        loop {
            let now = OffsetDateTime::now_utc();
            let held = self.tx.borrow().held.clone();
            let servable = held.as_ref().filter(|h| h.servable(now));
            if servable.is_some() {
                asked = false;
            } else if held.is_some() {
                // Past their margin: never served again, so not kept either.
                self.tx.send_modify(|s| s.held = None);
            }
            // Servable credentials are renewed when due; otherwise only when a request asks.
            let due = match servable {
                Some(h) => h.due(now),
                None => asked,
            };
            let allowed = not_before.is_none_or(|t| Instant::now() >= t);
            if due && allowed {
                asked = false;
                self.tx.send_modify(|s| s.refreshing = true);
                let fetched = fetch().await;
                let now = OffsetDateTime::now_utc();
                match fetched {
                    Ok(creds) => {
                        let held = Held::new(creds, now);
                        log_new(&held, now);
                        backoff = MIN_BACKOFF;
                        not_before = Some(Instant::now() + MIN_BACKOFF);
                        self.tx.send_modify(|s| {
                            s.held = Some(Arc::new(held));
                            s.failed = None;
                            s.refreshing = false;
                        });
                    }
                    Err(e) => {
                        // Retry sooner as the old credentials run out: two tries before then.
                        let left: Option<Duration> = servable
                            .and_then(|h| h.serve_until)
                            .and_then(|until| (until - now).try_into().ok())
                            .filter(|left: &Duration| !left.is_zero());
                        let wait = match left {
                            Some(left) => backoff.min(left / 2).max(MIN_BACKOFF),
                            None => backoff,
                        };
                        match left {
                            Some(left) => tracing::warn!(
                                "credential endpoint: refreshing the credentials failed: {e}; serving the old ones ({} s left) and retrying in {} s",
                                left.as_secs(),
                                wait.as_secs()
                            ),
                            None => tracing::warn!(
                                "credential endpoint: refreshing the credentials failed: {e}; retrying when the command asks again (in {} s at the earliest)",
                                wait.as_secs()
                            ),
                        }
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        not_before = Some(Instant::now() + wait);
                        self.tx.send_modify(|s| {
                            s.failed = Some(Arc::new(e));
                            s.refreshing = false;
                        });
                    }
                }
                continue;
            }
            let mut wait = CHECK_EVERY;
            if let Some(at) = servable.and_then(|h| h.renew_at).filter(|_| !due) {
                wait = wait.min((at - now).try_into().unwrap_or_default());
            }
            if let Some(t) = not_before.filter(|_| due) {
                wait = wait.min(t.saturating_duration_since(Instant::now()));
            }
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.wake.notified() => asked = true,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn creds(issued: OffsetDateTime, lifetime: i64) -> Credentials {
        Credentials {
            access_key_id: "ASIAEXAMPLEEXAMPLE".into(),
            secret_access_key: Secret::new("sk"),
            session_token: Some(Secret::new("tok")),
            expiration: Some(issued + time::Duration::seconds(lifetime)),
            issued: Some(issued),
        }
    }

    /// Requests that find nothing share the one fetch and its failure; a later request makes
    /// the task try again (after its backoff), and that success is served.
    #[tokio::test]
    async fn requests_share_one_fetch_and_its_failure() {
        let calls = std::cell::Cell::new(0);
        let (refresher, creds_side) = channel(None);
        let run = refresher.run(|| {
            calls.set(calls.get() + 1);
            let n = calls.get();
            async move {
                match n {
                    1 => Err(Error::Other("STS is down".into())),
                    _ => Ok(creds(OffsetDateTime::now_utc(), 20)),
                }
            }
        });
        let body = async {
            let (a, b, c) = tokio::join!(creds_side.get(), creds_side.get(), creds_side.get());
            for r in [a, b, c] {
                assert!(r.unwrap_err().to_string().contains("STS is down"));
            }
            assert_eq!(calls.get(), 1);
            let end = Instant::now() + Duration::from_secs(10);
            loop {
                match creds_side.get().await {
                    Ok(held) => break assert!(held.servable(OffsetDateTime::now_utc())),
                    Err(_) if Instant::now() < end => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Err(e) => panic!("never retried: {e}"),
                }
            }
            assert_eq!(calls.get(), 2);
        };
        tokio::select! {
            () = run => unreachable!("the refresher runs until dropped"),
            () = body => {}
        }
    }

    #[test]
    fn held_credentials_are_served_until_the_margin_and_renewed_a_lead_before() {
        let t0 = OffsetDateTime::now_utc();
        let s = |n: i64| t0 + time::Duration::seconds(n);
        // 20 s: margin 10 s, lead 5 s.
        let h = Held::new(creds(t0, 20), t0);
        assert!(!h.due(s(4)) && h.due(s(5)));
        assert!(h.servable(s(9)) && !h.servable(s(10)));
        // Fetched from the cache 30 min into a 1 h session: the margin is the session's
        // (6 min), not one of the half hour it has left.
        let h = Held::new(creds(t0, 3600), s(1800));
        assert!(h.servable(s(3600 - 361)) && !h.servable(s(3600 - 359)));
        // Nonsense (expiry before issue) is never served.
        let h = Held::new(creds(t0, -5), t0);
        assert!(!h.servable(t0));
    }
}
