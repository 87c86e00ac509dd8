//! `phonehook logs`'s table: a page of delivery log events as aligned text,
//! one line each, for people (`--json` prints the page as the API gave it).

use crate::deliverylog::{time, Event};

/// The text of a failure as one line, for tables.
fn outcome(event: &Event) -> String {
    match (&event.details, &event.vendor_message_id) {
        (Some(f), _) => {
            let vendor = f
                .vendor_code
                .as_deref()
                .map(|c| format!(" [{c}]"))
                .unwrap_or_default();
            format!("{}{vendor}: {}", f.code, f.message)
        }
        (None, Some(id)) => id.clone(),
        (None, None) => String::new(),
    }
}

/// Longest outcome text in a table cell; the JSON output has all of it.
const MAX_OUTCOME_CHARS: usize = 60;

/// The events as an aligned text table, newest first.
pub fn table(events: &[Event]) -> String {
    let header = [
        "TIME",
        "TYPE",
        "PLUGIN",
        "RECIPIENT",
        "USER",
        "CLIENT",
        "MS",
        "RESULT",
        "ID",
    ];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    for e in events {
        let mut result = outcome(e).replace(['\n', '\r', '\t'], " ");
        if result.chars().count() > MAX_OUTCOME_CHARS {
            result = result
                .chars()
                .take(MAX_OUTCOME_CHARS - 1)
                .chain(['…'])
                .collect();
        }
        rows.push(vec![
            time::format_rfc3339(e.time_ms),
            e.kind.code().to_owned(),
            format!("{}#{}", e.plugin, e.generation),
            e.recipient.clone(),
            e.user_id.clone(),
            e.client_id.clone(),
            format!("{:.0}", e.latency_ms),
            result,
            e.id.clone(),
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}
