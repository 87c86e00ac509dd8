//! Plugin libraries: reading and staging files, loading them with the ABI
//! checks, calling into them, and the registry that keeps exactly one active.

mod binding;
mod elf;
mod file;
mod generation;
mod info;
mod invoke;
mod loader;
mod permissions;
mod registry;
mod staging;
mod stamp;
mod sys;

pub use binding::{Binding, HostAllowList};
pub use file::{FileError, PluginFile};
pub use generation::{retained_count, Generation};
pub use info::PluginInfo;
pub use invoke::{OwnedError, OwnedRequest, OwnedStep};
pub use loader::LoadError;
pub use permissions::{check_trusted, PermissionError};
pub use registry::{
    file_label, rfc3339, ActivateError, Activation, Active, LoadOutcome, PluginStatus, Registry,
};
pub use staging::{Staging, StagingError};
pub use stamp::canonical_file;
