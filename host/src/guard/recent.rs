//! Refusals per rule over the last hour, by minute, for `GET /api/v1/guard`.

use std::collections::VecDeque;
use std::sync::Mutex;

use super::Rule;

const MINUTES: u64 = 60;

/// Per-minute refusal counts for the last hour.
#[derive(Default)]
pub struct Recent {
    minutes: Mutex<VecDeque<(u64, [u64; Rule::ALL.len()])>>,
}

impl Recent {
    /// Counts one refusal by `rule` at `now_s`.
    pub fn record(&self, rule: Rule, now_s: u64) {
        let minute = now_s / 60;
        let mut minutes = self.minutes.lock().unwrap_or_else(|e| e.into_inner());
        while minutes.front().is_some_and(|(m, _)| *m + MINUTES <= minute) {
            minutes.pop_front();
        }
        match minutes.back_mut() {
            Some((m, counts)) if *m == minute => counts[rule.index()] += 1,
            _ => {
                let mut counts = [0; Rule::ALL.len()];
                counts[rule.index()] = 1;
                minutes.push_back((minute, counts));
            }
        }
    }

    /// Refusals per rule (indexed as [`Rule::ALL`]) in the hour up to `now_s`.
    pub fn last_hour(&self, now_s: u64) -> [u64; Rule::ALL.len()] {
        let minute = now_s / 60;
        let minutes = self.minutes.lock().unwrap_or_else(|e| e.into_inner());
        let mut total = [0; Rule::ALL.len()];
        for (_, counts) in minutes.iter().filter(|(m, _)| *m + MINUTES > minute) {
            for (t, c) in total.iter_mut().zip(counts) {
                *t += c;
            }
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_age_out_after_an_hour() {
        let recent = Recent::default();
        recent.record(Rule::PerIp, 0);
        recent.record(Rule::PerIp, 30);
        recent.record(Rule::Backoff, 1800);
        let at = |s| {
            let counts = recent.last_hour(s);
            (counts[Rule::PerIp.index()], counts[Rule::Backoff.index()])
        };
        assert_eq!(at(1800), (2, 1));
        assert_eq!(at(3600), (0, 1));
        assert_eq!(at(1800 + 3600), (0, 0));
    }
}
