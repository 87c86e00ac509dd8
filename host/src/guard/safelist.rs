//! Numbers and prefixes no limit applies to: QA phones, test ranges. Entries
//! come from the configuration (`guard.safe_list`) and from admins through
//! the API; the API's are stored (see `crate::deliverylog::guard_state`, or
//! with a shared store the `guard_safe_list` table every instance reads).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use arc_swap::ArcSwap;
use serde::Serialize;

/// Why a safe-list entry was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EntryError {
    /// Not `+` and digits.
    #[error("`{}` is not `+` followed by 1 to 15 digits (a number or a prefix in E.164 form)", crate::mask::excerpt(.0))]
    Malformed(String),
    /// The entry comes from the configuration file, which the API does not
    /// edit.
    #[error("`{0}` is in the configuration file's guard.safe_list; remove it there")]
    Configured(String),
}

/// Checks one entry: `+` and 1 to 15 digits.
pub fn check_entry(entry: &str) -> Result<(), EntryError> {
    let digits = entry.strip_prefix('+').unwrap_or("");
    if (1..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(EntryError::Malformed(entry.to_owned()))
    }
}

/// Where an entry comes from.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum EntrySource {
    /// `guard.safe_list` in the configuration.
    Configuration,
    /// Added through the admin API.
    Api,
}

/// One entry as the API shows it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Entry {
    /// `+` and digits.
    pub entry: String,
    /// Why it is there.
    pub note: String,
    /// When it was added (Unix ms; 0 for configured entries).
    pub added_ms: i64,
    /// Where it comes from.
    pub source: EntrySource,
}

#[derive(Default)]
struct Snapshot {
    entries: BTreeMap<String, Entry>,
    lookup: HashSet<String>,
}

impl Snapshot {
    fn of(entries: BTreeMap<String, Entry>) -> Snapshot {
        let lookup = entries.keys().cloned().collect();
        Snapshot { entries, lookup }
    }
}

/// The safe list: read lock-free on every message, replaced whole on an edit.
pub struct SafeList {
    current: ArcSwap<Snapshot>,
}

impl SafeList {
    /// A list holding the configured entries.
    pub fn new(configured: &[String]) -> SafeList {
        let entries = configured
            .iter()
            .map(|e| {
                (
                    e.clone(),
                    Entry {
                        entry: e.clone(),
                        note: String::new(),
                        added_ms: 0,
                        source: EntrySource::Configuration,
                    },
                )
            })
            .collect();
        SafeList {
            current: ArcSwap::from_pointee(Snapshot::of(entries)),
        }
    }

    /// Whether `e164` or one of its prefixes is on the list.
    pub fn covers(&self, e164: &str) -> bool {
        let snapshot = self.current.load();
        if snapshot.lookup.is_empty() {
            return false;
        }
        (2..=e164.len()).any(|end| e164.get(..end).is_some_and(|p| snapshot.lookup.contains(p)))
    }

    /// Every entry, configured and added, in entry order.
    pub fn entries(&self) -> Vec<Entry> {
        self.current.load().entries.values().cloned().collect()
    }

    /// The entries added through the API.
    pub fn api_entries(&self) -> Vec<Entry> {
        self.entries()
            .into_iter()
            .filter(|e| e.source == EntrySource::Api)
            .collect()
    }

    /// Adds (or re-notes) API entries.
    pub fn add(&self, added: &[Entry]) -> Result<(), EntryError> {
        self.edit(|entries| {
            for e in added {
                check_entry(&e.entry)?;
                if entries
                    .get(&e.entry)
                    .is_some_and(|old| old.source == EntrySource::Configuration)
                {
                    return Err(EntryError::Configured(e.entry.clone()));
                }
                entries.insert(e.entry.clone(), e.clone());
            }
            Ok(())
        })
    }

    /// Removes an API entry; whether it was there.
    pub fn remove(&self, entry: &str) -> Result<bool, EntryError> {
        let mut removed = false;
        self.edit(|entries| {
            match entries.get(entry).map(|e| e.source) {
                Some(EntrySource::Configuration) => {
                    return Err(EntryError::Configured(entry.to_owned()))
                }
                Some(EntrySource::Api) => {
                    entries.remove(entry);
                    removed = true;
                }
                None => {}
            }
            Ok(())
        })?;
        Ok(removed)
    }

    /// Replaces every API entry with `entries`.
    pub fn replace_api_entries(&self, replacement: &[Entry]) -> Result<(), EntryError> {
        self.edit(|entries| {
            entries.retain(|_, e| e.source == EntrySource::Configuration);
            for e in replacement {
                check_entry(&e.entry)?;
                if entries.contains_key(&e.entry) {
                    return Err(EntryError::Configured(e.entry.clone()));
                }
                entries.insert(e.entry.clone(), e.clone());
            }
            Ok(())
        })
    }

    /// Checks API entries as [`SafeList::add`] would, changing nothing: for
    /// an edit that goes to the shared store first.
    pub fn check_api_entries(&self, entries: &[Entry]) -> Result<(), EntryError> {
        let current = self.current.load();
        for e in entries {
            check_entry(&e.entry)?;
            if current
                .entries
                .get(&e.entry)
                .is_some_and(|old| old.source == EntrySource::Configuration)
            {
                return Err(EntryError::Configured(e.entry.clone()));
            }
        }
        Ok(())
    }

    /// Whether `entry` comes from the configuration.
    pub fn is_configured(&self, entry: &str) -> bool {
        self.current
            .load()
            .entries
            .get(entry)
            .is_some_and(|e| e.source == EntrySource::Configuration)
    }

    /// Replaces every API entry with `stored`, as a store holds them. An
    /// entry this instance cannot take (malformed, or in its own
    /// configuration) is skipped and said: another instance's edit must not
    /// keep this one from reading the rest.
    pub fn load_api_entries(&self, stored: Vec<Entry>) {
        let mut entries = self.current.load().entries.clone();
        entries.retain(|_, e| e.source == EntrySource::Configuration);
        for e in stored {
            if let Err(error) = check_entry(&e.entry) {
                tracing::warn!(%error, "a stored safe-list entry is not applied");
                continue;
            }
            if entries.contains_key(&e.entry) {
                // Configured here: the configuration's entry stays.
                continue;
            }
            entries.insert(
                e.entry.clone(),
                Entry {
                    source: EntrySource::Api,
                    ..e
                },
            );
        }
        self.current.store(Arc::new(Snapshot::of(entries)));
    }

    fn edit(
        &self,
        change: impl FnOnce(&mut BTreeMap<String, Entry>) -> Result<(), EntryError>,
    ) -> Result<(), EntryError> {
        let mut entries = self.current.load().entries.clone();
        change(&mut entries)?;
        self.current.store(Arc::new(Snapshot::of(entries)));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(entry: &str) -> Entry {
        Entry {
            entry: entry.into(),
            note: "qa".into(),
            added_ms: 1,
            source: EntrySource::Api,
        }
    }

    #[test]
    fn numbers_and_prefixes_cover_what_they_start() -> Result<(), EntryError> {
        let list = SafeList::new(&["+14155550100".to_owned()]);
        assert!(list.covers("+14155550100"));
        assert!(!list.covers("+14155550101"));
        list.add(&[api("+1555")])?;
        assert!(list.covers("+15550001234"));
        assert!(!list.covers("+15650001234"));
        assert_eq!(
            list.add(&[api("+14155550100")]),
            Err(EntryError::Configured("+14155550100".into()))
        );
        assert_eq!(
            list.add(&[api("1555")]),
            Err(EntryError::Malformed("1555".into()))
        );
        assert!(list.remove("+1555")?);
        assert!(!list.covers("+15550001234"));
        assert!(list.remove("+14155550100").is_err());
        list.replace_api_entries(&[api("+44")])?;
        assert_eq!(
            list.entries()
                .iter()
                .map(|e| e.entry.as_str())
                .collect::<Vec<_>>(),
            ["+14155550100", "+44"]
        );
        Ok(())
    }
}
