//! Loopback mock vendors, one module per vendor, each answering as the
//! vendor's documented API does: it checks method, path, auth, content type and
//! body fields, and replies with the vendor's own success and error bodies.

pub mod esendex;
pub mod infobip;
pub mod scenario;
pub mod sns;
pub mod telesign;
pub mod twilio;
pub mod vonage;
pub mod webhook;
