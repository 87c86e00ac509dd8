//! Auth0's newer Actions trigger (`send-phone-message`) event: the same data
//! under `message_options`, `request`, `client`, `user` and `tenant`.

use serde_json::{Map, Value};

use super::fields::{keep_rest, object, take_any, take_obj, take_str};
use super::{Inbound, InputError};

/// Reads an Actions event. Unknown fields are kept in the metadata's `extra`.
pub fn parse_actions_event(body: &[u8]) -> Result<Inbound, InputError> {
    let mut top = object(body)?;
    let mut opts = take_obj(&mut top, "message_options", "message_options")?;
    let mut request = take_obj(&mut top, "request", "request")?;
    let mut client = take_obj(&mut top, "client", "client")?;
    let mut user = take_obj(&mut top, "user", "user")?;

    let mut metadata = Map::new();
    metadata.insert("client_metadata".into(), take_any(&mut client, "metadata"));
    metadata.insert("user_metadata".into(), take_any(&mut user, "user_metadata"));
    metadata.insert("app_metadata".into(), take_any(&mut user, "app_metadata"));

    let inbound = Inbound {
        recipient: take_str(&mut opts, "recipient", "message_options.recipient")?,
        text: take_str(&mut opts, "text", "message_options.text")?,
        message_type: take_str(&mut opts, "message_type", "message_options.message_type")?,
        action: take_str(&mut opts, "action", "message_options.action")?,
        code: take_str(&mut opts, "code", "message_options.code")?,
        language: take_str(&mut request, "language", "request.language")?,
        ip: take_str(&mut request, "ip", "request.ip")?,
        user_agent: take_str(&mut request, "user_agent", "request.user_agent")?,
        client_id: take_str(&mut client, "client_id", "client.client_id")?,
        client_name: take_str(&mut client, "name", "client.name")?,
        user_id: take_str(&mut user, "user_id", "user.user_id")?,
        user_name: take_str(&mut user, "name", "user.name")?,
        user_email: take_str(&mut user, "email", "user.email")?,
        metadata: Map::new(),
    };

    let mut extra = top;
    keep_rest(&mut extra, "message_options", opts);
    keep_rest(&mut extra, "request", request);
    keep_rest(&mut extra, "client", client);
    keep_rest(&mut extra, "user", user);
    metadata.insert("extra".into(), Value::Object(extra));
    Ok(Inbound {
        metadata,
        ..inbound
    })
}
