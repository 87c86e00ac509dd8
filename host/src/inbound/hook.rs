//! Auth0's Send Phone Message hook payload: `{recipient, text, context}`.

use serde_json::{Map, Value};

use super::fields::{keep_rest, object, take_any, take_obj, take_str};
use super::{Inbound, InputError};

/// Reads a hook payload. Unknown fields are kept in the metadata's `extra`.
pub fn parse_hook(body: &[u8]) -> Result<Inbound, InputError> {
    let mut top = object(body)?;
    let mut ctx = take_obj(&mut top, "context", "context")?;
    let mut client = take_obj(&mut ctx, "client", "context.client")?;
    let mut user = take_obj(&mut ctx, "user", "context.user")?;
    let mut request = take_obj(&mut ctx, "request", "context.request")?;

    let ip = match take_str(&mut ctx, "ip", "context.ip")? {
        Some(ip) => Some(ip),
        None => take_str(&mut request, "ip", "context.request.ip")?,
    };
    // Auth0's Twilio and Infobip guides put the client's fields directly
    // under `context` (`client_id`, `name`, `client_metadata`); the hook
    // reference nests them in `context.client`. Both are read, nested first.
    let mut client_metadata = take_any(&mut client, "client_metadata");
    if client_metadata.is_null() {
        client_metadata = take_any(&mut ctx, "client_metadata");
    }
    let client_id = match take_str(&mut client, "client_id", "context.client.client_id")? {
        Some(id) => Some(id),
        None => take_str(&mut ctx, "client_id", "context.client_id")?,
    };
    let client_name = match take_str(&mut client, "name", "context.client.name")? {
        Some(name) => Some(name),
        None => take_str(&mut ctx, "name", "context.name")?,
    };
    let mut metadata = Map::new();
    metadata.insert("client_metadata".into(), client_metadata);
    metadata.insert("user_metadata".into(), take_any(&mut user, "user_metadata"));
    metadata.insert("app_metadata".into(), take_any(&mut user, "app_metadata"));

    let inbound = Inbound {
        recipient: take_str(&mut top, "recipient", "recipient")?,
        text: take_str(&mut top, "text", "text")?,
        message_type: take_str(&mut ctx, "message_type", "context.message_type")?,
        action: take_str(&mut ctx, "action", "context.action")?,
        language: take_str(&mut ctx, "language", "context.language")?,
        code: take_str(&mut ctx, "code", "context.code")?,
        ip,
        user_agent: take_str(&mut ctx, "user_agent", "context.user_agent")?,
        client_id,
        client_name,
        user_id: take_str(&mut user, "user_id", "context.user.user_id")?,
        user_name: take_str(&mut user, "name", "context.user.name")?,
        user_email: take_str(&mut user, "email", "context.user.email")?,
        metadata: Map::new(),
    };

    let mut extra = top;
    keep_rest(&mut ctx, "client", client);
    keep_rest(&mut ctx, "user", user);
    keep_rest(&mut ctx, "request", request);
    keep_rest(&mut extra, "context", ctx);
    metadata.insert("extra".into(), Value::Object(extra));
    Ok(Inbound {
        metadata,
        ..inbound
    })
}
