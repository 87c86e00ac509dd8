//! `GET /console/guard`: the abuse guard as `GET /api/v1/guard` reports it
//! (rules, backoff, country and number-type policy, tracked keys, refusals
//! per rule over the last hour), one number's state
//! (`?number=...`, as `GET /api/v1/guard/numbers/{number}`), a reset of one
//! number, and the safe list with its add and remove forms. Every reading
//! and edit goes through the JSON routes' own functions in `api::guard`.
//!
//! A number typed into the lookup or reset form is shown back masked only:
//! the inputs start empty again, so no rendered page holds a full number.
//! Safe-list entries are shown as written, as the API lists them: an admin
//! put them there, and a prefix is useless masked.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::StatusCode;
use maud::{html, Markup};

use super::{api_error, csrf_field, form_field, layout, time, Frame, Page, Section};
use crate::api::guard::{self as api, Summary};
use crate::api::ApiError;
use crate::console::Session;
use crate::guard::safelist::{Entry, EntrySource};
use crate::guard::{kind_names, CountedBy, GuardMode, NumberStatus, Rule};
use crate::state::AppState;

/// `GET /console/guard?number=...`: the page, with one number's state when
/// `number` is given.
pub async fn show(
    State(state): State<Arc<AppState>>,
    Extension(session): Extension<Session>,
    RawQuery(raw): RawQuery,
) -> Page {
    let typed = raw
        .as_deref()
        .and_then(|q| form_field(q.as_bytes(), "number"));
    let (status, lookup) = match typed.as_deref().map(str::trim) {
        None | Some("") => (StatusCode::OK, None),
        Some(typed) => match api::status_of(&state, typed).await {
            Ok(number) => (StatusCode::OK, Some(number_status(&number))),
            Err(error) => (error.status, Some(api_error(&error))),
        },
    };
    page(&state, &session, status, None, lookup)
}

/// `POST /console/guard/{action}`, one handler for the page's three forms
/// (the CSRF check has run before it):
/// - `reset` (`number`): forgets that number's counter and backoff, then
///   shows its state;
/// - `safe-list-add` (`entry`, `note`): adds a safe-list entry;
/// - `safe-list-remove` (`entry`): removes one added through the API or
///   this page.
pub async fn edit(
    State(state): State<Arc<AppState>>,
    Extension(session): Extension<Session>,
    Path(action): Path<String>,
    body: Bytes,
) -> Page {
    let field = |name: &str| form_field(&body, name).unwrap_or_default();
    let (outcome, lookup) = match action.as_str() {
        "reset" => {
            let typed = field("number");
            let outcome = api::reset(&state, &typed).await.map(|masked| {
                html! { p { "The counter and backoff of " strong { (masked) } " are forgotten: its next message is counted from zero." } }
            });
            // The state after the reset, so the admin sees what is left (the
            // destination policy and the safe list still apply).
            let lookup = api::status_of(&state, &typed).await.ok();
            (outcome, lookup.map(|s| number_status(&s)))
        }
        "safe-list-add" => {
            let entry = field("entry");
            let outcome = api::add(&state, entry.clone(), field("note")).await.map(|()| {
                html! { p { strong { (entry.trim()) } " is on the safe list: no limit applies to the numbers it covers." } }
            });
            (outcome, None)
        }
        "safe-list-remove" => {
            let entry = field("entry");
            let outcome = api::remove(&state, entry.clone()).await.map(|()| {
                html! { p { strong { (entry.trim()) } " is off the safe list: the limits apply to its numbers again." } }
            });
            (outcome, None)
        }
        _ => {
            let error = ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such form");
            (Err(error), None)
        }
    };
    let (status, outcome) = match outcome {
        Ok(done) => (
            StatusCode::OK,
            html! { div.outcome.delivered #guard-outcome { (done) } },
        ),
        Err(error) => (error.status, failed(&error)),
    };
    page(&state, &session, status, Some(outcome), lookup)
}

fn failed(error: &ApiError) -> Markup {
    html! { div #guard-outcome { (api_error(error)) } }
}

fn page(
    state: &AppState,
    session: &Session,
    status: StatusCode,
    outcome: Option<Markup>,
    lookup: Option<Markup>,
) -> Page {
    let summary = api::summary(&state.guard);
    let body = html! {
        h1 { "Abuse guard" }
        @if let Some(outcome) = outcome { (outcome) }
        (settings(&summary))
        (safe_list(session, &state.guard.safe_list().entries(), summary.persistent))
        (numbers(session, lookup))
    };
    Page::with_status(
        status,
        layout(
            "Guard",
            Some(session),
            Section::Guard,
            Frame::default(),
            body,
        ),
    )
}

/// The refusals per rule over the last hour, as a line of counts (the
/// overview shows the same).
pub(crate) fn refusals(summary: &Summary<'_>) -> Markup {
    let total: u64 = summary.blocked_last_hour.iter().map(|(_, n)| n).sum();
    let verb = match summary.config.mode {
        GuardMode::Enforce => "refused",
        GuardMode::Monitor => "would have been refused (monitor mode)",
    };
    html! {
        p #guard-total { strong { (total) } " messages " (verb) " in the last hour." }
        dl.row #guard-refusals {
            @for (rule, n) in &summary.blocked_last_hour {
                dt { (rule.as_str()) } dd { (n) }
            }
        }
    }
}

fn settings(s: &Summary<'_>) -> Markup {
    let c = s.config;
    let blocked = |rule: Rule| {
        s.blocked_last_hour
            .iter()
            .find(|(r, _)| *r == rule)
            .map_or(0, |(_, n)| *n)
    };
    let limit = |name: &str| {
        s.limits
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, l)| *l)
    };
    let counting = [
        (Rule::PerNumber, "per destination number"),
        (Rule::PerIp, "per caller address"),
        (Rule::PerPrefix, "per number prefix"),
        (Rule::PerCountry, "per destination country"),
    ];
    let b = c.backoff;
    let types = kind_names(&c.block_number_types);
    let mut logs = vec![("guard_blocked", "Refused messages in the delivery log")];
    if c.mode == GuardMode::Monitor {
        logs.push((
            "guard_would_block",
            "Messages it would have refused in the delivery log",
        ));
    }
    html! {
        section #guard-settings {
            h2 { "Rules" }
            p #guard-state {
                @if !c.enabled {
                    span.error { "Off" } " (guard.enabled = false): every valid number is sent to the vendor."
                } @else {
                    "On, " strong { (c.mode.as_str()) } " mode"
                    @if c.mode == GuardMode::Monitor { ": rules are counted and refusals recorded, nothing is refused." }
                }
                // The log's refusal events, one click away from the counts.
                @for (kind, label) in &logs {
                    " · " a href=(format!("/console/logs?type={kind}")) { (label) }
                }
            }
            table.rules #guard-rules {
                thead { tr { th { "Rule" } th { "Setting" } th { "Refused, last hour" } } }
                tbody {
                    @for (rule, what) in counting {
                        tr id=(format!("rule-{}", rule.as_str())) {
                            td { code { (rule.as_str()) } " " span.muted { (what) } }
                            td {
                                @match limit(rule.as_str()) {
                                    Some(l) => { (l.limit) " per " (l.window_secs) " s" }
                                    None => span.muted { "off" },
                                }
                            }
                            td { (blocked(rule)) }
                        }
                    }
                    tr #rule-backoff {
                        td { code { "backoff" } " " span.muted { "waits after a burst to one number" } }
                        td {
                            @if b.after == 0 { span.muted { "off" } } @else {
                                "after " (b.after) " messages: wait " (b.base_secs) " s, doubling up to " (b.max_secs) " s; " (b.quiet_secs) " s quiet ends a burst"
                            }
                        }
                        td { (blocked(Rule::Backoff)) }
                    }
                    tr #rule-country {
                        td { code { "country" } " " span.muted { "country policy" } }
                        td {
                            @if c.allow_countries.is_empty() && c.deny_countries.is_empty() {
                                span.muted { "any country (no policy set)" }
                            }
                            @if !c.allow_countries.is_empty() { "only " (c.allow_countries.join(", ")) " " }
                            @if !c.deny_countries.is_empty() { "never " (c.deny_countries.join(", ")) }
                        }
                        td { (blocked(Rule::Country)) }
                    }
                    tr #rule-number_type {
                        td { code { "number_type" } " " span.muted { "refused kinds of line" } }
                        td {
                            @if types.is_empty() { span.muted { "none" } } @else { (types.join(", ")) }
                        }
                        td { (blocked(Rule::NumberType)) }
                    }
                }
            }
            dl.row {
                dt { "Prefix" } dd { "a number without its last " (c.prefix_hidden_digits) " digits" }
                dt { "IPv6 callers" } dd { "counted per /" (c.ipv6_prefix_len) }
                dt { "Tracked keys" } dd #tracked-keys { (s.tracked_keys) " of " (c.max_tracked_keys) }
                dt { "Safe-list entries" } dd { (s.safe_list_entries) }
            }
        }
    }
}

fn numbers(session: &Session, lookup: Option<Markup>) -> Markup {
    html! {
        section #guard-number {
            h2 { "One number" }
            p { "Its counter, backoff and what the country and number-type policy say of it; nothing of any other number. Shown masked." }
            form.inline method="get" action="/console/guard" {
                label for="lookup-number" { "Number" }
                input #lookup-number name="number" type="tel" required placeholder="+14155550100" autocomplete="off";
                button type="submit" #lookup { "Look up" }
            }
            @if let Some(lookup) = lookup { (lookup) }
            form.inline method="post" action="/console/guard/reset" {
                (csrf_field(session))
                label for="reset-number" { "Number" }
                input #reset-number name="number" type="tel" required placeholder="+14155550100" autocomplete="off";
                button type="submit" #reset { "Reset its counter and backoff" }
            }
        }
    }
}

/// One number's state as `GET /api/v1/guard/numbers/{number}` returns it.
fn number_status(s: &NumberStatus) -> Markup {
    html! {
        dl #number-status {
            dt { "Number" } dd #status-number { (s.number) }
            dt { "Country" } dd { (s.country.as_deref().unwrap_or("unknown")) }
            dt { "Type" } dd { (s.number_type) }
            dt { "Safe-listed" } dd { (if s.safe_listed { "yes: no limit applies" } else { "no" }) }
            dt { "Blocked" }
            dd {
                @match &s.blocked {
                    Some(reason) => span.error { (reason) },
                    None => "no",
                }
            }
            dt { "Messages in the window" }
            dd {
                @match s.per_number {
                    Some(c) => { (c.count) " of " (c.limit) ", window ends in " (c.resets_in_secs) " s" }
                    None => "none counted",
                }
            }
            dt { "Backoff" }
            dd {
                @match s.backoff {
                    Some(b) if b.next_in_secs > 0 => { (b.sends) " messages in this burst; the next may go in " (b.next_in_secs) " s" }
                    Some(b) => { (b.sends) " messages in this burst; the next may go now" }
                    None => "none",
                }
            }
            dt { "Counted by" }
            dd #status-counted-by {
                @if s.counted_by == CountedBy::ThisInstanceStoreUnreachable {
                    span.error { (s.counted_by.describe()) }
                } @else {
                    (s.counted_by.describe())
                }
            }
        }
    }
}

fn safe_list(session: &Session, entries: &[Entry], persistent: bool) -> Markup {
    html! {
        section #safe-list {
            h2 { "Safe list" }
            p {
                "Numbers and prefixes no limit or policy applies to (QA phones, test ranges). "
                @if persistent { "Entries added here are kept across restarts." }
                @else { "The delivery log is off, so entries added here last until the next restart." }
            }
            @if entries.is_empty() {
                p.muted { "No entries." }
            } @else {
                table.rules #safe-entries {
                    thead { tr { th { "Entry" } th { "Note" } th { "Source" } th { "Added" } th {} } }
                    tbody {
                        @for e in entries {
                            tr {
                                td.entry { code { (e.entry) } }
                                td { (e.note) }
                                td { (match e.source { EntrySource::Api => "api", EntrySource::Configuration => "configuration" }) }
                                td { @if let Some(at) = api::added(e) { (time(&at)) } }
                                td {
                                    @match e.source {
                                        EntrySource::Api => {
                                            form.inline method="post" action="/console/guard/safe-list-remove" {
                                                (csrf_field(session))
                                                input type="hidden" name="entry" value=(e.entry);
                                                button type="submit" { "Remove" }
                                            }
                                        }
                                        EntrySource::Configuration => {
                                            span.muted { "in the configuration file (guard.safe_list): remove it there" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            form.inline method="post" action="/console/guard/safe-list-add" {
                (csrf_field(session))
                label for="safe-entry" { "Entry" }
                input #safe-entry name="entry" type="text" required placeholder="+1555 or +14155550100" autocomplete="off";
                label for="safe-note" { "Note" }
                input #safe-note name="note" type="text" placeholder="QA phones" autocomplete="off";
                button type="submit" #add-entry { "Add" }
            }
        }
    }
}
