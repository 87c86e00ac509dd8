//! `phonehook guard ...`: the abuse guard of a running server, through its
//! admin API.

use clap::Subcommand;
use serde_json::{json, Value};

use crate::guard::CountedBy;

/// What to do with the guard.
#[derive(Subcommand, Debug)]
pub enum GuardCommand {
    /// Rules, mode and refusals per rule over the last hour.
    Status,
    /// One number's counter and backoff, and what the destination policy says.
    Number {
        /// The number (E.164, or national in the server's default region).
        number: String,
    },
    /// Forget one number's counter and backoff (e.g. after support verified
    /// the user).
    Reset {
        /// The number.
        number: String,
    },
    /// Put a number or prefix (`+1555`) on the safe list, or take it off.
    Allow {
        /// `+` and digits.
        entry: String,
        /// Why it is there (QA phone, test range...).
        #[arg(long, default_value = "")]
        note: String,
        /// Take it off the list instead.
        #[arg(long)]
        remove: bool,
    },
    /// List the safe list.
    SafeList,
}

/// A path segment, percent-encoded (`+` must not read as a space).
fn segment(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

impl GuardCommand {
    /// The admin call: method, path and body.
    pub fn call(&self) -> (reqwest::Method, String, Option<Value>) {
        use reqwest::Method;
        match self {
            GuardCommand::Status => (Method::GET, "/api/v1/guard".into(), None),
            GuardCommand::Number { number } => (
                Method::GET,
                format!("/api/v1/guard/numbers/{}", segment(number)),
                None,
            ),
            GuardCommand::Reset { number } => (
                Method::DELETE,
                format!("/api/v1/guard/numbers/{}", segment(number)),
                None,
            ),
            GuardCommand::Allow {
                entry,
                note,
                remove,
            } => {
                let path = format!("/api/v1/guard/safe-list/{}", segment(entry));
                if *remove {
                    (Method::DELETE, path, None)
                } else {
                    (Method::PUT, path, Some(json!({ "note": note })))
                }
            }
            GuardCommand::SafeList => (Method::GET, "/api/v1/guard/safe-list".into(), None),
        }
    }

    /// The answer, for people.
    pub fn print(&self, body: &Value) {
        match self {
            GuardCommand::Status => print_status(body),
            GuardCommand::Number { .. } => print_number(body),
            GuardCommand::Reset { .. } => {
                println!("reset: {}", body["reset"].as_str().unwrap_or("?"));
            }
            GuardCommand::Allow { .. } | GuardCommand::SafeList => print_safe_list(body),
        }
    }
}

fn print_status(body: &Value) {
    let enabled = body["enabled"].as_bool() == Some(true);
    println!(
        "guard: {} ({})",
        if enabled { "on" } else { "off" },
        body["mode"].as_str().unwrap_or("?")
    );
    for (rule, limit) in body["limits"].as_object().into_iter().flatten() {
        match (limit["limit"].as_u64(), limit["window_secs"].as_u64()) {
            (Some(n), Some(w)) => println!("  {rule:<12} {n} per {w} s"),
            _ => println!("  {rule:<12} off"),
        }
    }
    let b = &body["backoff"];
    println!(
        "  backoff      after {} messages: {} s doubling to {} s; reset after {} s quiet",
        b["after"], b["base_secs"], b["max_secs"], b["quiet_secs"]
    );
    let list = |v: &Value| -> String {
        let items: Vec<&str> = v
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if items.is_empty() {
            "-".to_owned()
        } else {
            items.join(", ")
        }
    };
    println!(
        "  countries    allow {}; deny {}",
        list(&body["allow_countries"]),
        list(&body["deny_countries"])
    );
    println!("  refused      {}", list(&body["block_number_types"]));
    println!(
        "  tracked keys {} of {}; safe list {} entries",
        body["tracked_keys"], body["max_tracked_keys"], body["safe_list_entries"]
    );
    println!("refused in the last hour:");
    for (rule, n) in body["blocked_last_hour"].as_object().into_iter().flatten() {
        println!("  {rule:<12} {n}");
    }
}

fn print_number(body: &Value) {
    println!(
        "{}: {} {}{}",
        body["number"].as_str().unwrap_or("?"),
        body["country"].as_str().unwrap_or("country unknown"),
        body["number_type"].as_str().unwrap_or("?"),
        if body["safe_listed"].as_bool() == Some(true) {
            ", safe-listed"
        } else {
            ""
        }
    );
    if let Some(reason) = body["blocked"].as_str() {
        println!("  refused: {reason}");
    }
    match body["per_number"].as_object() {
        Some(c) => println!(
            "  {} of {} messages in this window; resets in {} s",
            c["count"], c["limit"], c["resets_in_secs"]
        ),
        None => println!("  no messages counted in the current window"),
    }
    if let Some(b) = body["backoff"].as_object() {
        println!(
            "  backoff: {} messages in this burst; next allowed in {} s",
            b["sends"], b["next_in_secs"]
        );
    }
    let counted_by = serde_json::from_value::<CountedBy>(body["counted_by"].clone());
    if let Ok(outage @ CountedBy::ThisInstanceStoreUnreachable) = counted_by {
        println!("  counted by {}", outage.describe());
    }
}

fn print_safe_list(body: &Value) {
    let entries = body["entries"].as_array().cloned().unwrap_or_default();
    if entries.is_empty() {
        println!("the safe list is empty");
    }
    for e in entries {
        println!(
            "{:<16} {:<13} {}",
            e["entry"].as_str().unwrap_or("?"),
            e["source"].as_str().unwrap_or("?"),
            e["note"].as_str().unwrap_or("")
        );
    }
    if body["persistent"].as_bool() == Some(false) {
        eprintln!("note: the delivery log is off, so API entries last until the server stops");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_entries_are_encoded_into_their_paths() {
        let (method, path, body) = GuardCommand::Reset {
            number: "+14155550100".into(),
        }
        .call();
        assert_eq!(
            (method, path.as_str(), body),
            (
                reqwest::Method::DELETE,
                "/api/v1/guard/numbers/%2B14155550100",
                None
            )
        );
        let (method, path, body) = GuardCommand::Allow {
            entry: "+1555".into(),
            note: "QA".into(),
            remove: false,
        }
        .call();
        assert_eq!(method, reqwest::Method::PUT);
        assert_eq!(path, "/api/v1/guard/safe-list/%2B1555");
        assert_eq!(body, Some(json!({"note": "QA"})));
    }
}
