use abi_stable::std_types::{RString, RVec};
use abi_stable::StableAbi;

use crate::message::Channel;

/// A secret or setting a plugin understands.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct Field {
    /// The name, e.g. `TWILIO_AUTH_TOKEN` (a secret is also read from the
    /// environment variable of that name) or `from`.
    pub name: RString,
    /// Whether the plugin cannot work without it. Conditional requirements
    /// ("this or that") are checked by [`crate::Plugin::check`] instead.
    pub required: bool,
    /// One line for admins.
    pub description: RString,
}

/// What a plugin says about itself.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct Manifest {
    /// The plugin's name, unique within a host (`twilio`). It is how admins
    /// select the plugin; a file's name does not matter.
    pub name: RString,
    /// The plugin's version (`1.2.0`).
    pub version: RString,
    /// The vendor it talks to (`Twilio`).
    pub vendor: RString,
    /// One line for admins.
    pub description: RString,
    /// The channels it can deliver on.
    pub channels: RVec<Channel>,
    /// The secrets it reads.
    pub secrets: RVec<Field>,
    /// The settings it reads.
    pub settings: RVec<Field>,
    /// The hosts it may send requests to (`api.twilio.com`, or `*.api.infobip.com`).
    pub hosts: RVec<RString>,
}

impl Manifest {
    /// A manifest with a name and a version; fill the rest with the builder methods.
    pub fn new(name: &str, version: &str) -> Self {
        Manifest {
            name: name.into(),
            version: version.into(),
            vendor: RString::new(),
            description: RString::new(),
            channels: RVec::new(),
            secrets: RVec::new(),
            settings: RVec::new(),
            hosts: RVec::new(),
        }
    }

    /// Sets the vendor.
    pub fn vendor(mut self, vendor: &str) -> Self {
        self.vendor = vendor.into();
        self
    }

    /// Sets the description.
    pub fn description(mut self, description: &str) -> Self {
        self.description = description.into();
        self
    }

    /// Adds a channel.
    pub fn channel(mut self, channel: Channel) -> Self {
        self.channels.push(channel);
        self
    }

    /// Adds a secret.
    pub fn secret(mut self, name: &str, required: bool, description: &str) -> Self {
        self.secrets.push(Field {
            name: name.into(),
            required,
            description: description.into(),
        });
        self
    }

    /// Adds a setting.
    pub fn setting(mut self, name: &str, required: bool, description: &str) -> Self {
        self.settings.push(Field {
            name: name.into(),
            required,
            description: description.into(),
        });
        self
    }

    /// Adds a host the plugin may call.
    pub fn host(mut self, host: &str) -> Self {
        self.hosts.push(host.into());
        self
    }

    /// Whether the plugin can deliver on this channel.
    pub fn supports(&self, channel: Channel) -> bool {
        self.channels.contains(&channel)
    }
}
