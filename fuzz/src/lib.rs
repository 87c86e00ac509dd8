//! Fuzz targets for phonehook: the host's input parsers ([`host_checks`]) and
//! every plugin's reading of vendor replies ([`vendors`]).
pub mod host_checks;
pub mod vendors;
