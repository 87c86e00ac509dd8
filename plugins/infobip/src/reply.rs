//! Reading Infobip's replies: the per-message statuses of an accepted send,
//! and both error formats (the legacy `requestError.serviceException` and the
//! newer `errorCode`/`description`/`violations`).

use phonehook_plugin_api::serde_json::Value;
use phonehook_plugin_api::{encoding, Delivery, HttpReply, PluginError};

/// Status groups that mean the message will never arrive.
/// 1 PENDING and 3 DELIVERED are fine; 2 UNDELIVERABLE, 4 EXPIRED and
/// 5 REJECTED are not.
const FAILED_GROUPS: [i64; 3] = [2, 4, 5];

/// What a reply means: the delivery of the first message, or an error.
pub fn interpret(reply: &HttpReply<'_>) -> Result<Delivery, PluginError> {
    if !reply.is_success() {
        return Err(refusal(reply));
    }
    let body = reply.json()?;
    if let Some(err) = vendor_error(&body) {
        return Err(decorate(err, reply));
    }
    accepted(&body)
}

/// The delivery described by a 2xx body, checking every entry's status.
fn accepted(body: &Value) -> Result<Delivery, PluginError> {
    let entries = body["messages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let Some(first) = entries.first() else {
        return Err(PluginError::protocol(format!(
            "Infobip reply has no `messages`: {}",
            encoding::snippet(&body.to_string())
        )));
    };
    if let Some(err) = entries.iter().find_map(rejected) {
        return Err(err);
    }
    let id = first["messageId"]
        .as_str()
        .map(str::trim)
        .filter(|id| !id.trim().is_empty())
        .ok_or_else(|| {
            PluginError::protocol(format!(
                "Infobip reply has no `messages[0].messageId`: {}",
                encoding::snippet(&body.to_string())
            ))
        })?;
    let status = first["status"]["groupName"]
        .as_str()
        .or_else(|| first["status"]["name"].as_str())
        .unwrap_or_default();
    Ok(Delivery::new(id, status))
}

/// The error for an entry whose status group says it will never arrive.
fn rejected(entry: &Value) -> Option<PluginError> {
    let status = &entry["status"];
    let group = status["groupId"].as_i64()?;
    if !FAILED_GROUPS.contains(&group) {
        return None;
    }
    let code = first_text(&[&status["name"], &status["groupName"]]).unwrap_or("REJECTED");
    let description =
        first_text(&[&status["description"], &status["groupName"]]).unwrap_or("message refused");
    // v2 and voice replies name the recipient `to`, v3 replies `destination`.
    let to = first_text(&[&entry["to"], &entry["destination"]]);
    let message = match to {
        Some(to) => format!("{description} (status group {group}, to {to})"),
        None => format!("{description} (status group {group})"),
    };
    Some(PluginError::vendor(code, message))
}

/// The error for a non-2xx reply, in whichever format Infobip used.
fn refusal(reply: &HttpReply<'_>) -> PluginError {
    let parsed = reply.json().ok();
    match parsed.as_ref().and_then(vendor_error) {
        Some(err) => decorate(err, reply),
        None => reply.unexpected(),
    }
}

/// Adds what the HTTP layer says about retrying.
fn decorate(err: PluginError, reply: &HttpReply<'_>) -> PluginError {
    err.retryable(encoding::status_is_retryable(reply.status))
        .retry_after(reply.retry_after_secs())
}

/// The vendor code and text of either error format, if the body is one.
fn vendor_error(body: &Value) -> Option<PluginError> {
    legacy_error(body).or_else(|| new_error(body))
}

/// `{"requestError":{"serviceException":{"messageId","text","validationErrors":{property:[..]}}}}`
fn legacy_error(body: &Value) -> Option<PluginError> {
    let exception = body.get("requestError")?.get("serviceException")?;
    let code = first_text(&[&exception["messageId"]]).unwrap_or("UNKNOWN");
    let text = first_text(&[&exception["text"]]).unwrap_or("request refused");
    let mut violations = Vec::new();
    if let Some(map) = exception["validationErrors"].as_object() {
        for (property, problems) in map {
            match problems {
                Value::Array(list) => violations.extend(
                    list.iter()
                        .filter_map(Value::as_str)
                        .map(|v| format!("{property}: {v}")),
                ),
                Value::String(v) => violations.push(format!("{property}: {v}")),
                _ => {}
            }
        }
    }
    Some(PluginError::vendor(code, describe(text, &violations, None)))
}

/// `{"errorCode","description","action","violations":[{"property","violation"}]}`
fn new_error(body: &Value) -> Option<PluginError> {
    let code = first_text(&[&body["errorCode"]])?;
    let text = first_text(&[&body["description"]]).unwrap_or("request refused");
    let violations: Vec<String> = body["violations"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|v| {
                    let violation = first_text(&[&v["violation"]])?;
                    Some(match first_text(&[&v["property"]]) {
                        Some(property) => format!("{property}: {violation}"),
                        None => violation.to_owned(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let action = first_text(&[&body["action"]]);
    Some(PluginError::vendor(
        code,
        describe(text, &violations, action),
    ))
}

/// `text — property: violation; property: violation. action`
fn describe(text: &str, violations: &[String], action: Option<&str>) -> String {
    let mut out = text.to_owned();
    if !violations.is_empty() {
        out.truncate(out.trim_end_matches('.').len());
        out.push_str(" — ");
        out.push_str(&violations.join("; "));
    }
    if let Some(action) = action {
        let kept = out.trim_end_matches('.').len();
        out.truncate(kept);
        out.push_str(". ");
        out.push_str(action);
    }
    out
}

/// The first of these values that is a non-empty string.
fn first_text<'v>(values: &[&'v Value]) -> Option<&'v str> {
    values
        .iter()
        .filter_map(|v| v.as_str())
        .map(str::trim)
        .find(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use phonehook_plugin_api::serde_json::json;
    use phonehook_plugin_api::{ErrorKind, Pair};

    fn run(status: u16, headers: &[Pair], body: &str) -> Result<Delivery, PluginError> {
        interpret(&HttpReply::new(status, headers, body.as_bytes()))
    }

    fn pending(id: &str) -> Value {
        json!({"to": "41793026727", "messageId": id, "status": {"groupId": 1, "groupName": "PENDING",
            "id": 26, "name": "PENDING_ACCEPTED", "description": "Message sent to next instance"}})
    }

    #[test]
    fn the_first_message_id_is_the_delivery() {
        let body = json!({"bulkId": "2034072219640523072", "messages": [pending("2250be2d4219-3af1-78856-aabe-1362af1edfd2")]});
        let d = run(200, &[], &body.to_string()).unwrap();
        assert_eq!(
            d.message_id.as_str(),
            "2250be2d4219-3af1-78856-aabe-1362af1edfd2"
        );
        assert_eq!(d.status.as_str(), "PENDING");
    }

    #[test]
    fn a_rejected_entry_in_a_200_is_a_vendor_error() {
        let body = json!({"bulkId": "b", "messages": [{"messageId": "m1", "destination": "41793026727",
            "status": {"groupId": 5, "groupName": "REJECTED", "id": 6, "name": "REJECTED_NETWORK", "description": "Network is forbidden"}}]});
        let err = run(200, &[], &body.to_string()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Vendor);
        assert_eq!(err.code.as_str(), "REJECTED_NETWORK");
        assert!(err.message.contains("Network is forbidden"), "{err}");
        assert!(err.message.contains("41793026727"), "{err}");
        assert!(!err.retryable);

        let body = json!({"messages": [{"messageId": "m1", "status": {"groupId": 2, "groupName": "UNDELIVERABLE"}}]});
        assert_eq!(
            run(200, &[], &body.to_string()).unwrap_err().code.as_str(),
            "UNDELIVERABLE"
        );
    }

    #[test]
    fn delivered_and_pending_groups_are_fine() {
        let body = json!({"messages": [{"messageId": "m1", "status": {"groupId": 3, "groupName": "DELIVERED"}}]});
        assert_eq!(
            run(200, &[], &body.to_string()).unwrap().status.as_str(),
            "DELIVERED"
        );
    }

    #[test]
    fn unreadable_success_bodies_are_protocol_errors() {
        for body in [
            "",
            "<html>oops</html>",
            "{}",
            r#"{"messages": []}"#,
            r#"{"messages": [{"messageId": ""}]}"#,
        ] {
            assert_eq!(
                run(200, &[], body).unwrap_err().kind,
                ErrorKind::Protocol,
                "{body:?}"
            );
        }
    }

    #[test]
    fn legacy_errors_carry_message_id_text_and_validation_errors() {
        let body = json!({"requestError": {"serviceException": {"messageId": "BAD_REQUEST", "text": "Bad request",
            "validationErrors": {"messages[0].text": ["invalid text"]}}}});
        let err = run(400, &[], &body.to_string()).unwrap_err();
        assert_eq!(
            (err.kind, err.code.as_str(), err.retryable),
            (ErrorKind::Vendor, "BAD_REQUEST", false)
        );
        assert_eq!(
            err.message.as_str(),
            "Bad request — messages[0].text: invalid text"
        );
    }

    #[test]
    fn new_errors_carry_code_description_violations_and_action() {
        let body = json!({"errorCode": "E400", "description": "Request cannot be processed.",
            "action": "Check the syntax, violations and adjust the request.",
            "violations": [{"property": "messages[0].content.text", "violation": "Must not be null."}],
            "resources": [{"name": "API documentation", "url": "https://www.infobip.com/docs/api"}]});
        let err = run(400, &[], &body.to_string()).unwrap_err();
        assert_eq!(err.code.as_str(), "E400");
        assert_eq!(
            err.message.as_str(),
            "Request cannot be processed — messages[0].content.text: Must not be null. Check the syntax, violations and adjust the request."
        );
    }

    #[test]
    fn throttling_and_server_faults_are_retryable() {
        let headers = [Pair::new("retry-after", "7")];
        let body = json!({"requestError": {"serviceException": {"messageId": "TOO_MANY_REQUESTS", "text": "Too many requests"}}});
        let err = run(429, &headers, &body.to_string()).unwrap_err();
        assert_eq!(
            (err.code.as_str(), err.retryable, err.retry_after_secs),
            ("TOO_MANY_REQUESTS", true, 7)
        );

        let body = json!({"requestError": {"serviceException": {"messageId": "GENERAL_ERROR", "text": "Something went wrong. Please contact support."}}});
        let err = run(500, &[], &body.to_string()).unwrap_err();
        assert_eq!((err.code.as_str(), err.retryable), ("GENERAL_ERROR", true));
        assert_eq!(
            err.message.as_str(),
            "Something went wrong. Please contact support."
        );

        let err = run(503, &[], "<html>Service Unavailable</html>").unwrap_err();
        assert_eq!(
            (err.kind, err.code.as_str(), err.retryable),
            (ErrorKind::Vendor, "503", true)
        );
        let err = run(502, &[], "").unwrap_err();
        assert!(err.message.contains("empty body"), "{err}");
    }

    #[test]
    fn an_error_body_inside_a_2xx_is_still_an_error() {
        let body = json!({"requestError": {"serviceException": {"messageId": "UNAUTHORIZED", "text": "Invalid login details"}}});
        let err = run(200, &[], &body.to_string()).unwrap_err();
        assert_eq!(
            (err.kind, err.code.as_str()),
            (ErrorKind::Vendor, "UNAUTHORIZED")
        );
    }
}
