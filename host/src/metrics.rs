//! Prometheus metrics: a `metrics` recorder rendered by the host's own
//! `GET /metrics` route (no second listener to secure and configure), and
//! the small typed functions the rest of the host calls.
//!
//! **Architecture Invariant:** the recorder is process-global and installed
//! once ([`handle`] installs it on first use, whoever calls first). Several
//! servers in one process (the test suite) therefore share one set of
//! counters: tests compare values before and after, never absolute values.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `phonehook_messages_total` | counter | `plugin`, `channel`, `outcome` (`delivered` or the API error code) |
//! | `phonehook_message_duration_seconds` | histogram | `plugin` (host-side, whole attempt) |
//! | `phonehook_vendor_latency_seconds` | histogram | `plugin` |
//! | `phonehook_plugin_reloads_total` | counter | `plugin` |
//! | `phonehook_plugin_reload_failures_total` | counter | `plugin` (the file name: a refused file may have no readable manifest) |
//! | `phonehook_active_plugin` | gauge | `plugin` (1 for the active one, 0 for one that was) |
//! | `phonehook_active_plugin_generation` | gauge | `plugin` |
//! | `phonehook_log_events_written_total` | counter | |
//! | `phonehook_log_events_dropped_total` | counter | `reason` (`queue_full`, `write_failed`, `closed`) |
//! | `phonehook_config_reloads_total` | counter | |
//! | `phonehook_unknown_actions_total` | counter | (none: the values are the caller's, unbounded) |
//! | `phonehook_guard_blocked_total` | counter | `rule`, `mode` (`enforce`: refused; `monitor`: would have been) |
//! | `phonehook_guard_untracked_total` | counter | (keys the guard could not track: its table was full of live keys) |
//! | `phonehook_guard_tracked_keys` | gauge | |
//! | `phonehook_circuit_state` | gauge | `plugin`, `state` (1 for the state the plugin's circuit last moved to: `closed`, `open`, `half_open`; all 0 until it first moves, i.e. closed) |
//! | `phonehook_fallbacks_total` | counter | `from`, `to` (a message moved on to the next plugin) |
//! | `phonehook_store_degraded` | gauge | (1 while the shared PostgreSQL store is unreachable; always 0 with SQLite) |
//! | `phonehook_config_generation` | gauge | (the shared store's control generation this instance applied; 0 with SQLite) |
//!
//! Every series is listed from the start with 0: the unlabelled and
//! fixed-label ones when the recorder is installed, a plugin's when it is
//! loaded ([`plugin_registered`]). A dashboard or alert then sees 0, not a
//! missing series, until something happens.

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// The `Content-Type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

const MESSAGES: &str = "phonehook_messages_total";
const MESSAGE_DURATION: &str = "phonehook_message_duration_seconds";
const VENDOR_LATENCY: &str = "phonehook_vendor_latency_seconds";
const RELOADS: &str = "phonehook_plugin_reloads_total";
const RELOAD_FAILURES: &str = "phonehook_plugin_reload_failures_total";
const ACTIVE: &str = "phonehook_active_plugin";
const ACTIVE_GENERATION: &str = "phonehook_active_plugin_generation";
const LOG_WRITTEN: &str = "phonehook_log_events_written_total";
const LOG_DROPPED: &str = "phonehook_log_events_dropped_total";
const CONFIG_RELOADS: &str = "phonehook_config_reloads_total";
const UNKNOWN_ACTIONS: &str = "phonehook_unknown_actions_total";
const GUARD_BLOCKED: &str = "phonehook_guard_blocked_total";
const GUARD_UNTRACKED: &str = "phonehook_guard_untracked_total";
const GUARD_TRACKED: &str = "phonehook_guard_tracked_keys";
const CIRCUIT: &str = "phonehook_circuit_state";
const FALLBACKS: &str = "phonehook_fallbacks_total";
const STORE_DEGRADED: &str = "phonehook_store_degraded";
const CONFIG_GENERATION: &str = "phonehook_config_generation";

/// Every value the `reason` label of [`LOG_DROPPED`] takes.
const DROP_REASONS: [&str; 3] = ["queue_full", "write_failed", "closed"];

/// Latency buckets in seconds: vendor APIs answer in tens to hundreds of
/// milliseconds; the top buckets catch the timeouts (10 s by default).
const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Histograms keep samples until upkeep folds them in; this bounds the memory.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The plugin [`active_plugin`] last reported, whose gauge drops to 0 when
/// another takes over.
static PREVIOUS_ACTIVE: Mutex<Option<String>> = Mutex::new(None);

/// The shared handle, installing the recorder on first use.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(install)
}

fn install() -> PrometheusHandle {
    let recorder = builder().build_recorder();
    let handle = recorder.handle();
    if metrics::set_global_recorder(recorder).is_err() {
        // Someone else (an embedding program) installed a recorder first; our
        // handle then renders an empty page rather than failing the host.
        tracing::warn!("another metrics recorder is installed; GET /metrics will be empty");
    }
    describe();
    register_fixed();
    spawn_upkeep(handle.clone());
    handle
}

fn builder() -> PrometheusBuilder {
    let builder = PrometheusBuilder::new();
    let histograms = Matcher::Suffix("_seconds".to_owned());
    // Infallible for a non-empty bucket list; keep the defaults (summaries)
    // rather than fail if that ever changes.
    match builder.set_buckets_for_metric(histograms, LATENCY_BUCKETS) {
        Ok(builder) => builder,
        Err(_) => PrometheusBuilder::new(),
    }
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(MESSAGES, "Send attempts by plugin, channel and outcome");
    describe_histogram!(
        MESSAGE_DURATION,
        Unit::Seconds,
        "Time in the host per send attempt"
    );
    describe_histogram!(
        VENDOR_LATENCY,
        Unit::Seconds,
        "Time waiting for the vendor per delivered message"
    );
    describe_counter!(RELOADS, "Plugin loads and reloads that succeeded");
    describe_counter!(
        RELOAD_FAILURES,
        "Plugin loads and reloads that were refused"
    );
    describe_gauge!(ACTIVE, "1 for the plugin serving messages");
    describe_gauge!(ACTIVE_GENERATION, "Loaded generation of the active plugin");
    describe_counter!(LOG_WRITTEN, "Delivery log events written");
    describe_counter!(LOG_DROPPED, "Delivery log events lost, by reason");
    describe_counter!(
        CONFIG_RELOADS,
        "Changes of the configuration file that were applied"
    );
    describe_counter!(
        UNKNOWN_ACTIONS,
        "Messages delivered with a context.action phonehook does not know"
    );
    describe_counter!(
        GUARD_BLOCKED,
        "Messages the abuse guard refused (or would have, in monitor mode), by rule"
    );
    describe_counter!(
        GUARD_UNTRACKED,
        "Messages whose keys the guard could not track (table full of live keys)"
    );
    describe_gauge!(GUARD_TRACKED, "Keys the abuse guard tracks now");
    describe_gauge!(CIRCUIT, "1 for each plugin's current circuit state");
    describe_counter!(
        FALLBACKS,
        "Messages that moved on from one plugin to the next"
    );
    describe_gauge!(
        STORE_DEGRADED,
        "1 while the shared PostgreSQL store is unreachable"
    );
    describe_gauge!(
        CONFIG_GENERATION,
        "Control generation of the shared store this instance applied"
    );
}

/// The series whose labels are known before anything happens, at 0.
fn register_fixed() {
    metrics::counter!(LOG_WRITTEN).increment(0);
    metrics::counter!(CONFIG_RELOADS).increment(0);
    metrics::counter!(UNKNOWN_ACTIONS).increment(0);
    metrics::counter!(GUARD_UNTRACKED).increment(0);
    metrics::gauge!(GUARD_TRACKED).set(0.0);
    metrics::gauge!(STORE_DEGRADED).set(0.0);
    metrics::gauge!(CONFIG_GENERATION).set(0.0);
    for rule in crate::guard::Rule::ALL {
        for mode in ["enforce", "monitor"] {
            metrics::counter!(GUARD_BLOCKED, "rule" => rule.as_str(), "mode" => mode).increment(0);
        }
    }
    for reason in DROP_REASONS {
        metrics::counter!(LOG_DROPPED, "reason" => reason).increment(0);
    }
}

fn spawn_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("phonehook-metrics-upkeep".to_owned())
        .spawn(move || loop {
            std::thread::sleep(UPKEEP_INTERVAL);
            handle.run_upkeep();
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start metrics upkeep; histogram memory grows until restart");
    }
}

/// The Prometheus text page.
pub fn render() -> String {
    handle().render()
}

/// One send attempt ended: `outcome` is `delivered` or the API error code
/// (a fixed set, so the label stays low-cardinality).
pub fn message_outcome(plugin: &str, channel: &'static str, outcome: &'static str) {
    handle();
    metrics::counter!(MESSAGES, "plugin" => plugin.to_owned(), "channel" => channel, "outcome" => outcome)
        .increment(1);
}

/// Host-side duration of one attempt.
pub fn message_duration(plugin: &str, seconds: f64) {
    handle();
    metrics::histogram!(MESSAGE_DURATION, "plugin" => plugin.to_owned()).record(seconds);
}

/// Time spent waiting for the vendor for one delivered message.
pub fn vendor_latency(plugin: &str, seconds: f64) {
    handle();
    metrics::histogram!(VENDOR_LATENCY, "plugin" => plugin.to_owned()).record(seconds);
}

/// One plugin's per-message series, registered once (with its binding) and
/// then only incremented: looking a series up by its labels — a key built
/// and hashed, the plugin's name copied — was most of what the metrics cost
/// a message. Failures still go through [`message_outcome`], their outcome
/// being one of many codes.
pub struct PluginMetrics {
    delivered_sms: metrics::Counter,
    delivered_voice: metrics::Counter,
    duration: metrics::Histogram,
    vendor_latency: metrics::Histogram,
}

impl PluginMetrics {
    /// The series of `plugin`.
    pub fn new(plugin: &str) -> PluginMetrics {
        handle();
        let delivered = |channel: phonehook_plugin_api::Channel| metrics::counter!(MESSAGES, "plugin" => plugin.to_owned(), "channel" => channel.as_str(), "outcome" => "delivered");
        PluginMetrics {
            delivered_sms: delivered(phonehook_plugin_api::Channel::Sms),
            delivered_voice: delivered(phonehook_plugin_api::Channel::Voice),
            duration: metrics::histogram!(MESSAGE_DURATION, "plugin" => plugin.to_owned()),
            vendor_latency: metrics::histogram!(VENDOR_LATENCY, "plugin" => plugin.to_owned()),
        }
    }

    /// [`message_outcome`] for a delivery on `channel`.
    pub fn delivered(&self, channel: phonehook_plugin_api::Channel) {
        match channel {
            phonehook_plugin_api::Channel::Sms => self.delivered_sms.increment(1),
            phonehook_plugin_api::Channel::Voice => self.delivered_voice.increment(1),
        }
    }

    /// [`message_duration`].
    pub fn duration(&self, seconds: f64) {
        self.duration.record(seconds);
    }

    /// [`vendor_latency`].
    pub fn vendor_latency(&self, seconds: f64) {
        self.vendor_latency.record(seconds);
    }
}

/// A plugin was loaded from `file` (its file name): its series appear at 0,
/// so they are listed before its first message or reload.
pub fn plugin_registered(plugin: &str, file: &str, channels: &[phonehook_plugin_api::Channel]) {
    handle();
    for channel in channels {
        metrics::counter!(MESSAGES, "plugin" => plugin.to_owned(), "channel" => channel.as_str(), "outcome" => "delivered")
            .increment(0);
    }
    // Registering a histogram lists it (count 0) without recording a sample.
    let _ = metrics::histogram!(MESSAGE_DURATION, "plugin" => plugin.to_owned());
    let _ = metrics::histogram!(VENDOR_LATENCY, "plugin" => plugin.to_owned());
    metrics::counter!(RELOADS, "plugin" => plugin.to_owned()).increment(0);
    metrics::counter!(RELOAD_FAILURES, "plugin" => file.to_owned()).increment(0);
    // Listed without changing a value: a reload keeps the circuit's state
    // (the breakers know plugins by name), and a circuit that never moved
    // shows 0 for every state.
    for state in ["closed", "open", "half_open"] {
        metrics::gauge!(CIRCUIT, "plugin" => plugin.to_owned(), "state" => state).increment(0.0);
    }
}

/// A changed configuration file was applied.
pub fn config_reloaded() {
    handle();
    metrics::counter!(CONFIG_RELOADS).increment(1);
}

/// A plugin file was loaded (`ok`) or refused.
pub fn plugin_reload(plugin: &str, ok: bool) {
    handle();
    let name = if ok { RELOADS } else { RELOAD_FAILURES };
    metrics::counter!(name, "plugin" => plugin.to_owned()).increment(1);
}

/// The plugin that serves messages now. The previous one's gauge drops to 0
/// so a dashboard shows exactly one active plugin.
pub fn active_plugin(name: &str, generation: u64) {
    handle();
    let mut previous = PREVIOUS_ACTIVE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(old) = previous.as_deref().filter(|old| *old != name) {
        metrics::gauge!(ACTIVE, "plugin" => old.to_owned()).set(0.0);
    }
    metrics::gauge!(ACTIVE, "plugin" => name.to_owned()).set(1.0);
    // Generations are small counters; f64 holds them exactly up to 2^53.
    metrics::gauge!(ACTIVE_GENERATION, "plugin" => name.to_owned()).set(generation as f64);
    *previous = Some(name.to_owned());
}

/// No plugin serves messages: every active gauge drops to 0.
pub fn no_active_plugin() {
    handle();
    let mut previous = PREVIOUS_ACTIVE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(old) = previous.take() {
        metrics::gauge!(ACTIVE, "plugin" => old).set(0.0);
    }
}

/// `n` delivery log events were lost (`reason`: `queue_full`,
/// `write_failed`, `closed`).
pub fn log_events_dropped(reason: &'static str, n: u64) {
    handle();
    metrics::counter!(LOG_DROPPED, "reason" => reason).increment(n);
}

/// `n` delivery log events were written.
pub fn log_events_written(n: u64) {
    handle();
    metrics::counter!(LOG_WRITTEN).increment(n);
}

/// A message came with an `action` no documented spelling matches; it was
/// delivered all the same.
pub fn unknown_action() {
    handle();
    metrics::counter!(UNKNOWN_ACTIONS).increment(1);
}

/// The guard refused a message by `rule` (`mode` `enforce`), or would have
/// (`monitor`).
pub fn guard_blocked(rule: &'static str, mode: &'static str) {
    handle();
    metrics::counter!(GUARD_BLOCKED, "rule" => rule, "mode" => mode).increment(1);
}

/// The guard could not track a key (its table was full of live keys).
pub fn guard_untracked() {
    handle();
    metrics::counter!(GUARD_UNTRACKED).increment(1);
}

/// How many keys the guard tracks now.
pub fn guard_tracked(keys: usize) {
    handle();
    metrics::gauge!(GUARD_TRACKED).set(keys as f64);
}

/// A plugin's circuit moved to `state`.
pub fn circuit_state(plugin: &str, state: crate::failover::breaker::State) {
    use crate::failover::breaker::State;
    handle();
    for s in [State::Closed, State::Open, State::HalfOpen] {
        let value = if s == state { 1.0 } else { 0.0 };
        metrics::gauge!(CIRCUIT, "plugin" => plugin.to_owned(), "state" => s.as_str()).set(value);
    }
}

/// Whether the shared store is unreachable now.
pub fn store_degraded(degraded: bool) {
    handle();
    metrics::gauge!(STORE_DEGRADED).set(if degraded { 1.0 } else { 0.0 });
}

/// The shared store's control generation this instance now serves.
pub fn config_generation(generation: i64) {
    handle();
    // Generations count changes; f64 holds them exactly up to 2^53.
    metrics::gauge!(CONFIG_GENERATION).set(generation as f64);
}

/// A message moved on from plugin `from` to `to`.
pub fn fallback(from: &str, to: &str) {
    handle();
    metrics::counter!(FALLBACKS, "from" => from.to_owned(), "to" => to.to_owned()).increment(1);
}

/// The value of one sample line in a rendered page: `name{labels}` exactly as
/// rendered (labels in the order they were given), or the bare name. For
/// tests and tools that read [`render`]'s output.
pub fn sample(page: &str, series: &str) -> Option<f64> {
    page.lines().find_map(|line| {
        line.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each test uses its own plugin name: the recorder is shared by every
    /// test in the process.
    fn value(series: &str) -> f64 {
        sample(&render(), series).unwrap_or(0.0)
    }

    #[test]
    fn message_counters_move() {
        let series = r#"phonehook_messages_total{plugin="metrics-test-a",channel="sms",outcome="delivered"}"#;
        let before = value(series);
        message_outcome("metrics-test-a", "sms", "delivered");
        message_outcome("metrics-test-a", "sms", "delivered");
        message_outcome("metrics-test-a", "voice", "vendor_error");
        assert_eq!(value(series) - before, 2.0);
        let failed = r#"phonehook_messages_total{plugin="metrics-test-a",channel="voice",outcome="vendor_error"}"#;
        assert_eq!(value(failed), 1.0);
    }

    #[test]
    fn latencies_are_histograms() {
        vendor_latency("metrics-test-b", 0.2);
        vendor_latency("metrics-test-b", 3.0);
        message_duration("metrics-test-b", 0.3);
        let page = render();
        assert!(
            page.contains("# TYPE phonehook_vendor_latency_seconds histogram"),
            "{page}"
        );
        let bucket =
            r#"phonehook_vendor_latency_seconds_bucket{plugin="metrics-test-b",le="0.25"}"#;
        assert_eq!(sample(&page, bucket), Some(1.0));
        let count = r#"phonehook_vendor_latency_seconds_count{plugin="metrics-test-b"}"#;
        assert_eq!(sample(&page, count), Some(2.0));
        let duration = r#"phonehook_message_duration_seconds_count{plugin="metrics-test-b"}"#;
        assert_eq!(sample(&page, duration), Some(1.0));
    }

    #[test]
    fn reloads_and_the_active_plugin() {
        plugin_reload("metrics-test-c", true);
        plugin_reload("metrics-test-c", false);
        plugin_reload("metrics-test-c", false);
        assert_eq!(
            value(r#"phonehook_plugin_reloads_total{plugin="metrics-test-c"}"#),
            1.0
        );
        assert_eq!(
            value(r#"phonehook_plugin_reload_failures_total{plugin="metrics-test-c"}"#),
            2.0
        );
        active_plugin("metrics-test-c", 3);
        active_plugin("metrics-test-d", 7);
        assert_eq!(
            value(r#"phonehook_active_plugin{plugin="metrics-test-c"}"#),
            0.0
        );
        assert_eq!(
            value(r#"phonehook_active_plugin{plugin="metrics-test-d"}"#),
            1.0
        );
        assert_eq!(
            value(r#"phonehook_active_plugin_generation{plugin="metrics-test-d"}"#),
            7.0
        );
    }

    #[test]
    fn log_drops_are_counted_by_reason() {
        let series = r#"phonehook_log_events_dropped_total{reason="queue_full"}"#;
        let before = value(series);
        log_events_dropped("queue_full", 5);
        assert!(value(series) - before >= 5.0);
    }

    #[test]
    fn the_handle_is_shared() {
        assert!(std::ptr::eq(handle(), handle()));
    }
}
