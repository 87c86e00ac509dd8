//! SMS request bodies for both Infobip SMS APIs.

use phonehook_plugin_api::serde_json::{json, Map, Value};
use phonehook_plugin_api::{encoding, PluginError};

use crate::settings::SmsApi;

/// The most SMS parts a message may take. Infobip splits long texts into
/// concatenated parts itself and bills each; a one-time-code text that needs
/// more than this is a mistake, not a message (10 parts are 1530 GSM-7 or
/// 670 UCS-2 characters).
pub const MAX_PARTS: usize = 10;

/// Refuses texts that are empty or longer than [`MAX_PARTS`] SMS parts.
pub fn check_length(text: &str) -> Result<(), PluginError> {
    if text.trim().is_empty() {
        return Err(PluginError::invalid_message("the message text is empty"));
    }
    let parts = encoding::sms_segments(text);
    if parts > MAX_PARTS {
        let encoding = if encoding::is_gsm7(text) {
            "GSM-7"
        } else {
            "UCS-2"
        };
        return Err(PluginError::invalid_message(format!(
            "the text needs {parts} SMS parts ({encoding}); the infobip plugin sends at most {MAX_PARTS}"
        )));
    }
    Ok(())
}

/// The JSON body for one text to one destination (`to`: digits, no `+`).
pub fn body(api: SmsApi, sender: Option<&str>, to: &str, text: &str) -> Value {
    let mut message = Map::new();
    match api {
        SmsApi::V2 => {
            if let Some(sender) = sender {
                message.insert("from".into(), json!(sender));
            }
            message.insert("destinations".into(), json!([{ "to": to }]));
            message.insert("text".into(), json!(text));
        }
        SmsApi::V3 => {
            if let Some(sender) = sender {
                message.insert("sender".into(), json!(sender));
            }
            message.insert("destinations".into(), json!([{ "to": to }]));
            message.insert("content".into(), json!({ "text": text }));
        }
    }
    json!({ "messages": [Value::Object(message)] })
}

#[cfg(test)]
mod tests {
    use super::*;
    use phonehook_plugin_api::ErrorKind;

    #[test]
    fn v2_body_matches_the_advanced_text_endpoint() {
        let b = body(
            SmsApi::V2,
            Some("InfoSMS"),
            "41793026727",
            "Your code is 123456",
        );
        assert_eq!(
            b,
            json!({"messages": [{"from": "InfoSMS", "destinations": [{"to": "41793026727"}], "text": "Your code is 123456"}]})
        );
        let b = body(SmsApi::V2, None, "41793026727", "hi");
        assert_eq!(
            b,
            json!({"messages": [{"destinations": [{"to": "41793026727"}], "text": "hi"}]})
        );
    }

    #[test]
    fn v3_body_puts_text_in_content_and_names_the_sender() {
        let b = body(
            SmsApi::V3,
            Some("InfoSMS"),
            "41793026727",
            "Your code is 123456",
        );
        assert_eq!(
            b,
            json!({"messages": [{"sender": "InfoSMS", "destinations": [{"to": "41793026727"}], "content": {"text": "Your code is 123456"}}]})
        );
        let b = body(SmsApi::V3, None, "41793026727", "hi");
        assert!(b["messages"][0].get("sender").is_none());
    }

    #[test]
    fn long_texts_are_refused_past_ten_parts() {
        assert!(check_length(&"a".repeat(153 * MAX_PARTS)).is_ok());
        let err = check_length(&"a".repeat(153 * MAX_PARTS + 1)).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidMessage);
        assert!(err.message.contains("11 SMS parts"), "{err}");
        assert!(check_length(&"ж".repeat(67 * MAX_PARTS)).is_ok());
        assert!(check_length(&"ж".repeat(67 * MAX_PARTS + 1)).is_err());
        assert_eq!(
            check_length("  ").unwrap_err().kind,
            ErrorKind::InvalidMessage
        );
    }
}
