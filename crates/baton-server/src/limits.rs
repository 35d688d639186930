//! Per-key limits: how many requests a key may send a second, how many it may have in flight at
//! once and how many event streams it may hold open, so that one tenant cannot starve the
//! others. A request over a limit is refused with 429 and `Retry-After` before it does any work.
//! Without keys the server listens on loopback for one developer, and these limits are off.
//!
//! The request rate is governor's GCRA, per key name; the counts of requests and streams in
//! flight are baton's own (a slot is held until the response's body is dropped, so an open
//! stream holds its slot for as long as it is open).

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use http_body_util::BodyExt;
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The limits each API key has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyLimits {
    /// Requests a second, on average; 0 for no limit.
    pub rate: u32,
    /// Requests a key may send at once above the rate, after a quiet spell.
    pub burst: u32,
    /// Requests in flight at once (an event stream is not counted here); 0 for no limit.
    pub in_flight: usize,
    /// Event streams open at once; 0 for no limit.
    pub streams: usize,
}

impl Default for KeyLimits {
    fn default() -> KeyLimits {
        KeyLimits { rate: 50, burst: 100, in_flight: 32, streams: 64 }
    }
}

/// How long a client refused for too many streams is told to wait: a slot frees only when one
/// of its streams closes.
const STREAM_RETRY: Duration = Duration::from_secs(10);
/// How long a client refused for too many requests in flight is told to wait.
const IN_FLIGHT_RETRY: Duration = Duration::from_secs(1);

/// The per-key limits and what each key is using.
pub struct Limiter {
    limits: KeyLimits,
    rate: Option<DefaultKeyedRateLimiter<String>>,
    clock: DefaultClock,
    using: Arc<Mutex<HashMap<String, Using>>>,
}

/// What one key has in flight.
#[derive(Default)]
struct Using {
    requests: usize,
    streams: usize,
}

impl Using {
    /// The count of `slot`'s kind.
    fn count(&mut self, slot: Slot) -> &mut usize {
        match slot {
            Slot::Request => &mut self.requests,
            Slot::Stream => &mut self.streams,
        }
    }
}

/// Whether a request holds a request slot or a stream slot.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    Request,
    Stream,
}

impl Limiter {
    /// A limiter enforcing `limits` for every key.
    pub fn new(limits: KeyLimits) -> Limiter {
        let rate = NonZeroU32::new(limits.rate).map(|rate| {
            let burst = NonZeroU32::new(limits.burst).unwrap_or(rate).max(rate);
            DefaultKeyedRateLimiter::hashmap(Quota::per_second(rate).allow_burst(burst))
        });
        Limiter { limits, rate, clock: DefaultClock::default(), using: Arc::default() }
    }

    /// Takes a slot for one request of `key`, or says why not and when to try again.
    fn admit(&self, key: &str, slot: Slot) -> Result<Held, Refusal> {
        if let Some(rate) = &self.rate {
            if let Err(not_until) = rate.check_key(&key.to_string()) {
                let wait = not_until.wait_time_from(self.clock.now());
                return Err(Refusal {
                    code: "rate_limited",
                    retry_after: wait,
                    message: format!(
                        "this key sent more than {} requests a second: slow down and try again in {} s",
                        self.limits.rate,
                        whole_seconds(wait)
                    ),
                });
            }
        }
        let mut using = self.using.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = using.entry(key.to_string()).or_default().count(slot);
        let most = match slot {
            Slot::Stream => self.limits.streams,
            Slot::Request => self.limits.in_flight,
        };
        if most > 0 && *count >= most {
            return Err(match slot {
                Slot::Stream => Refusal {
                    code: "too_many_streams",
                    retry_after: STREAM_RETRY,
                    message: format!(
                        "this key has {count} event streams open, the most it may: close one (a stream can follow \
                         a conversation from where it stopped with Last-Event-ID)"
                    ),
                },
                Slot::Request => Refusal {
                    code: "too_many_requests",
                    retry_after: IN_FLIGHT_RETRY,
                    message: format!(
                        "this key has {count} requests in flight, the most it may: wait for one to finish"
                    ),
                },
            });
        }
        *count += 1;
        Ok(Held { using: self.using.clone(), key: key.to_string(), slot })
    }
}

/// A refused request: the error code, the message and when to try again.
struct Refusal {
    code: &'static str,
    retry_after: Duration,
    message: String,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut response = ApiError::new(StatusCode::TOO_MANY_REQUESTS, self.code, self.message).into_response();
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(whole_seconds(self.retry_after)));
        response
    }
}

/// A wait in whole seconds, rounded up, at least 1 (`Retry-After` counts seconds).
fn whole_seconds(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

/// A slot a request holds until dropped.
struct Held {
    using: Arc<Mutex<HashMap<String, Using>>>,
    key: String,
    slot: Slot,
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut using = self.using.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(usage) = using.get_mut(&self.key) {
            let count = usage.count(self.slot);
            *count = count.saturating_sub(1);
        }
    }
}

/// Middleware: refuses a keyed request over its key's limits, and holds its slot until the
/// response's body is dropped. A request without a valid key passes on, to be refused with 401;
/// the caller found is kept in the request's extensions for the handler's `Caller`.
pub async fn limit(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    if state.keys.is_none() {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let caller = Caller::from_request_parts(&mut parts, &state).await.ok();
    let key = caller.as_ref().and_then(|caller| caller.name.clone());
    if let Some(caller) = caller {
        parts.extensions.insert(caller);
    }
    let request = Request::from_parts(parts, body);
    let Some(key) = key else {
        return next.run(request).await;
    };
    let streaming = request.extensions().get::<MatchedPath>().is_some_and(|route| route.as_str().ends_with("/events"));
    let slot = if streaming { Slot::Stream } else { Slot::Request };
    let held = match state.limiter.admit(&key, slot) {
        Ok(held) => held,
        Err(refusal) => {
            state.metrics.refused(refusal.code);
            return refusal.into_response();
        }
    };
    next.run(request).await.map(|body| {
        Body::new(body.map_frame(move |frame| {
            let _slot = &held;
            frame
        }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_per_key_and_freed_when_dropped() {
        let limiter = Limiter::new(KeyLimits { rate: 0, burst: 0, in_flight: 2, streams: 1 });
        let first = limiter.admit("anna", Slot::Request).ok().unwrap();
        let _second = limiter.admit("anna", Slot::Request).ok().unwrap();
        let refused = limiter.admit("anna", Slot::Request).err().unwrap();
        assert_eq!((refused.code, refused.retry_after), ("too_many_requests", IN_FLIGHT_RETRY));
        // Another key has slots of its own, and a stream is counted apart from requests.
        assert!(limiter.admit("ben", Slot::Request).is_ok());
        let stream = limiter.admit("anna", Slot::Stream).ok().unwrap();
        assert_eq!(limiter.admit("anna", Slot::Stream).err().unwrap().code, "too_many_streams");
        drop(first);
        drop(stream);
        assert!(limiter.admit("anna", Slot::Request).is_ok());
        assert!(limiter.admit("anna", Slot::Stream).is_ok());
    }

    #[test]
    fn a_key_over_its_rate_is_told_when_to_come_back() {
        let limiter = Limiter::new(KeyLimits { rate: 1, burst: 3, in_flight: 0, streams: 0 });
        for _ in 0..3 {
            assert!(limiter.admit("anna", Slot::Request).is_ok());
        }
        let refused = limiter.admit("anna", Slot::Request).err().unwrap();
        assert_eq!(refused.code, "rate_limited");
        assert_eq!(whole_seconds(refused.retry_after), 1);
        assert!(limiter.admit("ben", Slot::Request).is_ok(), "another key's rate is its own");
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(whole_seconds(Duration::ZERO), 1);
        assert_eq!(whole_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(whole_seconds(Duration::from_secs(10)), 10);
    }
}
