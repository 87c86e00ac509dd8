//! The overview's chart: attempts per minute over the last hour, delivered
//! and failed stacked, as inline SVG. Colours come from the stylesheet
//! (classes, no `style` attributes), so the CSP needs no inline style.

use maud::{html, Markup};

use crate::deliverylog::time::format_rfc3339;
use crate::deliverylog::Minute;

const WIDTH: u32 = 960;
const HEIGHT: u32 = 200;
/// Room on the left for the scale and at the bottom for the time labels.
const LEFT: u32 = 40;
const BOTTOM: u32 = 20;

/// The chart of `minutes` (oldest first).
pub fn per_minute(minutes: &[Minute]) -> Markup {
    let peak = minutes
        .iter()
        .map(|m| m.delivered + m.failed)
        .max()
        .unwrap_or(0)
        .max(1);
    let plot_w = WIDTH - LEFT;
    let plot_h = HEIGHT - BOTTOM;
    let count = u32::try_from(minutes.len()).unwrap_or(u32::MAX).max(1);
    let slot = f64::from(plot_w) / f64::from(count);
    let bar = (slot - 1.0).max(1.0);
    let scale = |n: u64| (n as f64) * f64::from(plot_h) / (peak as f64);
    let total: u64 = minutes.iter().map(|m| m.delivered + m.failed).sum();
    let failed: u64 = minutes.iter().map(|m| m.failed).sum();
    let label = format!(
        "Attempts per minute, last {count} minutes: {total} in all, {failed} failed; at most {peak} in one minute"
    );
    html! {
        figure.chart {
            svg viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img" aria-label=(label) {
                title { (label) }
                line.axis x1=(LEFT) y1=(plot_h) x2=(WIDTH) y2=(plot_h) {}
                text.scale x=(LEFT - 4) y="12" text-anchor="end" { (peak) }
                text.scale x=(LEFT - 4) y=(plot_h) text-anchor="end" { "0" }
                @for (i, minute) in minutes.iter().enumerate() {
                    @let x = f64::from(LEFT) + slot * (i as f64);
                    @let ok_h = scale(minute.delivered);
                    @let bad_h = scale(minute.failed);
                    @let when = format_rfc3339(minute.start_ms);
                    g {
                        title { (when) ": " (minute.delivered) " delivered, " (minute.failed) " failed" }
                        @if minute.delivered > 0 {
                            rect.delivered x=(fmt(x)) y=(fmt(f64::from(plot_h) - ok_h)) width=(fmt(bar)) height=(fmt(ok_h)) {}
                        }
                        @if minute.failed > 0 {
                            rect.failed x=(fmt(x)) y=(fmt(f64::from(plot_h) - ok_h - bad_h)) width=(fmt(bar)) height=(fmt(bad_h)) {}
                        }
                    }
                }
                @if let (Some(first), Some(last)) = (minutes.first(), minutes.last()) {
                    text.scale x=(LEFT) y=(HEIGHT - 4) { (clock(first.start_ms)) }
                    text.scale x=(WIDTH) y=(HEIGHT - 4) text-anchor="end" { (clock(last.start_ms)) " UTC" }
                }
            }
            figcaption {
                span.key.delivered { "delivered" }
                " "
                span.key.failed { "failed" }
                " — " (total) " attempts in the last " (count) " minutes, " (failed) " failed."
            }
        }
    }
}

/// `HH:MM` of a time (UTC).
fn clock(ms: i64) -> String {
    let text = format_rfc3339(ms);
    text.get(11..16).unwrap_or(&text).to_owned()
}

fn fmt(v: f64) -> String {
    format!("{v:.1}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deliverylog::rate::MINUTE_MS;

    #[test]
    fn bars_are_drawn_for_minutes_with_attempts_only() {
        let minutes = [
            Minute {
                start_ms: 0,
                delivered: 3,
                failed: 1,
            },
            Minute {
                start_ms: MINUTE_MS,
                delivered: 0,
                failed: 0,
            },
            Minute {
                start_ms: 2 * MINUTE_MS,
                delivered: 0,
                failed: 2,
            },
        ];
        let svg = per_minute(&minutes).into_string();
        assert_eq!(svg.matches("<rect class=\"delivered\"").count(), 1);
        assert_eq!(svg.matches("<rect class=\"failed\"").count(), 2);
        assert!(svg.contains("6 in all, 3 failed; at most 4 in one minute"));
        assert!(!svg.contains("style="));
    }
}
