//! A plugin's manifest, copied into host-owned memory so it outlives the
//! library that described it.

use phonehook_plugin_api::{Channel, Manifest};
use serde::Serialize;

/// A secret or setting a plugin declares.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct FieldInfo {
    /// Its name.
    pub name: String,
    /// Whether the plugin cannot work without it.
    pub required: bool,
    /// What it is for.
    pub description: String,
}

/// What a plugin says about itself.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PluginInfo {
    /// Unique name (`twilio`).
    pub name: String,
    /// Its version.
    pub version: String,
    /// The vendor.
    pub vendor: String,
    /// One line.
    pub description: String,
    /// `sms` and/or `voice`.
    #[serde(serialize_with = "channel_names")]
    pub channels: Vec<Channel>,
    /// Declared secrets.
    pub secrets: Vec<FieldInfo>,
    /// Declared settings.
    pub settings: Vec<FieldInfo>,
    /// Hosts it may call.
    pub hosts: Vec<String>,
}

fn channel_names<S: serde::Serializer>(channels: &[Channel], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(channels.iter().map(|c| c.as_str()))
}

fn fields(list: &[phonehook_plugin_api::Field]) -> Vec<FieldInfo> {
    list.iter()
        .map(|f| FieldInfo {
            name: f.name.to_string(),
            required: f.required,
            description: f.description.to_string(),
        })
        .collect()
}

impl PluginInfo {
    /// Copies a manifest and checks what the host relies on.
    pub fn from_manifest(m: &Manifest) -> Result<PluginInfo, String> {
        let name = m.name.to_string();
        let valid_name = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !valid_name {
            return Err(format!(
                "plugin name `{name}` must be 1-64 characters of a-z, 0-9, - and _"
            ));
        }
        if m.version.is_empty() {
            return Err(format!("plugin `{name}` has no version"));
        }
        if m.channels.is_empty() {
            return Err(format!("plugin `{name}` supports no channel"));
        }
        Ok(PluginInfo {
            name,
            version: m.version.to_string(),
            vendor: m.vendor.to_string(),
            description: m.description.to_string(),
            channels: m.channels.to_vec(),
            secrets: fields(&m.secrets),
            settings: fields(&m.settings),
            hosts: m.hosts.iter().map(|h| h.to_string()).collect(),
        })
    }

    /// Whether the plugin delivers on this channel.
    pub fn supports(&self, channel: Channel) -> bool {
        self.channels.contains(&channel)
    }
}
