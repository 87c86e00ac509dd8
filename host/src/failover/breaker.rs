//! One circuit breaker per plugin: after `breaker_failures` failures in a row
//! that fell over, the circuit opens and messages skip the plugin at once
//! (no waiting for its timeout); after the cool-down one probe message is let
//! through (half-open); its success closes the circuit, its failure opens it
//! again. Transitions are logged once each and shown in `/metrics` and
//! `GET /api/v1/plugins`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

/// A circuit's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Messages go through.
    Closed,
    /// Messages skip the plugin until the cool-down ends.
    Open,
    /// One probe message is (or may be) in flight.
    HalfOpen,
}

impl State {
    /// `closed`, `open`, `half_open`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
        }
    }
}

/// Whether a message may try a plugin now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// Yes.
    Yes,
    /// Yes, as the half-open circuit's one probe.
    Probe,
    /// No: the circuit is open (or its probe is in flight).
    Skip,
}

#[derive(Clone, Copy, Debug)]
struct Circuit {
    state: State,
    failures: u32,
    opened_at: Instant,
    probing: bool,
}

impl Default for Circuit {
    fn default() -> Self {
        Circuit {
            state: State::Closed,
            failures: 0,
            opened_at: Instant::now(),
            probing: false,
        }
    }
}

/// Every plugin's circuit.
pub struct Breakers {
    failures: u32,
    cool_down: Duration,
    circuits: Mutex<HashMap<String, Circuit>>,
}

impl Breakers {
    /// Circuits that open after `failures` in a row and stay open for
    /// `cool_down`.
    pub fn new(failures: u32, cool_down: Duration) -> Breakers {
        Breakers {
            failures,
            cool_down,
            circuits: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Circuit>> {
        self.circuits.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a message may try `plugin` now.
    pub fn admit(&self, plugin: &str) -> Admit {
        let mut circuits = self.lock();
        let Some(c) = circuits.get_mut(plugin) else {
            return Admit::Yes;
        };
        match c.state {
            State::Closed => Admit::Yes,
            State::Open if c.opened_at.elapsed() >= self.cool_down => {
                transition(plugin, c, State::HalfOpen);
                c.probing = true;
                Admit::Probe
            }
            State::Open => Admit::Skip,
            State::HalfOpen if !c.probing => {
                c.probing = true;
                Admit::Probe
            }
            State::HalfOpen => Admit::Skip,
        }
    }

    /// `plugin` delivered, or gave a final answer (it is up).
    pub fn succeeded(&self, plugin: &str) {
        let mut circuits = self.lock();
        if let Some(c) = circuits.get_mut(plugin) {
            c.failures = 0;
            c.probing = false;
            if c.state != State::Closed {
                transition(plugin, c, State::Closed);
            }
        }
    }

    /// `plugin` failed in a way that fell over.
    pub fn failed(&self, plugin: &str) {
        let mut circuits = self.lock();
        let c = circuits.entry(plugin.to_owned()).or_default();
        c.failures = c.failures.saturating_add(1);
        c.probing = false;
        let open = match c.state {
            State::Closed => c.failures >= self.failures,
            State::HalfOpen => true,
            State::Open => false,
        };
        if open {
            c.opened_at = Instant::now();
            transition(plugin, c, State::Open);
        }
    }

    /// A probe that ended without an outcome (the message's deadline passed
    /// first) lets the next message probe.
    pub fn probe_abandoned(&self, plugin: &str) {
        if let Some(c) = self.lock().get_mut(plugin) {
            c.probing = false;
        }
    }

    /// Every plugin's circuit state (plugins never failed are closed).
    pub fn state(&self, plugin: &str) -> State {
        self.lock()
            .get(plugin)
            .map(|c| c.state)
            .unwrap_or(State::Closed)
    }
}

fn transition(plugin: &str, c: &mut Circuit, to: State) {
    let from = c.state;
    c.state = to;
    crate::metrics::circuit_state(plugin, to);
    match to {
        State::Open => tracing::warn!(
            plugin,
            from = from.as_str(),
            failures = c.failures,
            "circuit opened: messages skip this plugin until its cool-down ends"
        ),
        State::HalfOpen => {
            tracing::info!(plugin, "circuit half-open: one probe message goes through")
        }
        State::Closed => tracing::info!(
            plugin,
            from = from.as_str(),
            "circuit closed: the plugin serves again"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_of_failures_opens_and_a_probe_closes() {
        let b = Breakers::new(2, Duration::from_millis(50));
        assert_eq!(b.admit("twilio"), Admit::Yes);
        b.failed("twilio");
        assert_eq!(b.state("twilio"), State::Closed);
        b.succeeded("twilio");
        b.failed("twilio");
        assert_eq!(b.state("twilio"), State::Closed, "a success ends the run");
        b.failed("twilio");
        assert_eq!(b.state("twilio"), State::Open);
        assert_eq!(b.admit("twilio"), Admit::Skip);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(b.admit("twilio"), Admit::Probe);
        assert_eq!(b.admit("twilio"), Admit::Skip, "one probe at a time");
        b.failed("twilio");
        assert_eq!(b.state("twilio"), State::Open, "a failed probe opens again");
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(b.admit("twilio"), Admit::Probe);
        b.succeeded("twilio");
        assert_eq!(b.state("twilio"), State::Closed);
        assert_eq!(b.admit("twilio"), Admit::Yes);
        assert_eq!(b.state("vonage"), State::Closed);
    }
}
