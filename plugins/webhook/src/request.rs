//! Building the gateway request from the settings and one message.

use phonehook_plugin_api::{encoding, HttpRequest, Message, PluginError};

use crate::settings::{Body, Settings};
use crate::template::{RenderError, Values};

impl From<RenderError> for PluginError {
    fn from(err: RenderError) -> Self {
        PluginError::config(err.to_string())
    }
}

/// Refuses a message the templates would deliver empty.
pub fn check_message(settings: &Settings, message: &Message) -> Result<(), PluginError> {
    if settings.code_only && message.code.trim().is_empty() {
        return Err(PluginError::invalid_message(
            "the templates send only `{{code}}`, and this message has no separate code",
        ));
    }
    Ok(())
}

/// The request for one message.
pub fn build(settings: &Settings, values: &Values<'_>) -> Result<HttpRequest, PluginError> {
    let url = append_query(&settings.url, &settings.query.render(values)?);
    let mut request = HttpRequest::new(settings.method, url);
    let headers = settings.headers.render(values)?;
    let configured = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));

    let (content_type, body, accept) = match &settings.body {
        Body::Empty => (None, Vec::new(), None),
        Body::Json(t) => (
            Some("application/json"),
            t.render(values)?.to_string().into_bytes(),
            Some("application/json"),
        ),
        Body::Form(t) => (
            Some("application/x-www-form-urlencoded"),
            encoding::form_encode(&t.render(values)?).into_bytes(),
            None,
        ),
    };
    request.body = body.into();
    // A configured header wins over the default, so a gateway that wants
    // `application/json; charset=utf-8` gets exactly that, once.
    for (name, value) in [("Content-Type", content_type), ("Accept", accept)] {
        if let Some(value) = value.filter(|_| !configured(name)) {
            request = request.header(name, value);
        }
    }
    for (name, value) in headers {
        if value.chars().any(char::is_control) {
            return Err(PluginError::config(format!(
                "header `{name}` would hold a line break or another control character \
                 (check its template and the secrets it uses)"
            )));
        }
        request = request.header(&name, value);
    }
    Ok(request)
}

/// `url` with `fields` form-encoded onto its query (the `query` table): after a `?` it already has
/// (joined with `&`), before any `#fragment`.
fn append_query<K: AsRef<str>, V: AsRef<str>>(url: &str, fields: &[(K, V)]) -> String {
    if fields.is_empty() {
        return url.to_owned();
    }
    let (base, fragment) = match url.split_once('#') {
        Some((base, fragment)) => (base, Some(fragment)),
        None => (url, None),
    };
    let sep = match base.find('?') {
        None => "?",
        Some(i) if i + 1 == base.len() || base.ends_with('&') => "",
        Some(_) => "&",
    };
    let mut out = format!("{base}{sep}{}", encoding::form_encode(fields));
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use phonehook_plugin_api::serde_json::{self, json, Value};
    use phonehook_plugin_api::{Channel, Config, ErrorKind, Message, Method, Pair};

    fn message() -> Message {
        Message::new("+14155550100", "Code: 123 & \"more\"").with_code("123")
    }

    fn build_with(
        settings: &[(&str, &str)],
        secrets: &[(&str, &str)],
    ) -> Result<HttpRequest, PluginError> {
        let settings: Vec<Pair> = settings.iter().map(|(n, v)| Pair::new(*n, *v)).collect();
        let secrets: Vec<Pair> = secrets.iter().map(|(n, v)| Pair::new(*n, *v)).collect();
        let config = Config::new(&settings, &secrets);
        let parsed = Settings::read(&config)?;
        let m = message();
        build(&parsed, &Values::new(&m, config))
    }

    #[test]
    fn json_body_with_a_secret_header() {
        let req = build_with(
            &[
                ("url", "https://gw.internal/v1/sms"),
                ("headers", r#"{"X-Api-Key": "{{secret.KEY}}", "Authorization": "Bearer {{secret.KEY}}"}"#),
                ("body", r#"{"to": "{{recipient}}", "message": "{{text}}", "meta": {"type": "{{message_type}}"}}"#),
                ("id_pointer", "/data/id"),
            ],
            &[("KEY", "k-1")],
        )
        .unwrap();
        assert_eq!(req.method, Method::Post);
        assert_eq!(req.url.as_str(), "https://gw.internal/v1/sms");
        assert_eq!(req.header_value("x-api-key"), Some("k-1"));
        assert_eq!(req.header_value("authorization"), Some("Bearer k-1"));
        assert_eq!(req.header_value("content-type"), Some("application/json"));
        assert_eq!(req.header_value("accept"), Some("application/json"));
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(
            body,
            json!({"to": "+14155550100", "message": "Code: 123 & \"more\"", "meta": {"type": "sms"}})
        );
    }

    #[test]
    fn form_body() {
        let req = build_with(
            &[
                ("url", "http://10.1.2.3/cgi-bin/send"),
                ("method", "PUT"),
                ("body_format", "form"),
                (
                    "body",
                    r#"{"msg": "{{text}}", "msisdn": "{{recipient_digits}}"}"#,
                ),
                ("id_pointer", "/id"),
            ],
            &[],
        )
        .unwrap();
        assert_eq!(req.method, Method::Put);
        assert_eq!(
            req.header_value("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(req.header_value("accept"), None);
        assert_eq!(
            req.body_text(),
            "msg=Code%3A+123+%26+%22more%22&msisdn=14155550100"
        );
    }

    #[test]
    fn get_with_query_and_no_body() {
        let req = build_with(
            &[
                ("url", "https://gw/send?account=otp"),
                ("method", "GET"),
                (
                    "query",
                    r#"{"code": "{{code}}", "key": "{{secret.K}}", "to": "{{recipient_digits}}"}"#,
                ),
                ("id_pointer", "/id"),
            ],
            &[("K", "s")],
        )
        .unwrap();
        assert_eq!(req.method, Method::Get);
        assert_eq!(
            req.url.as_str(),
            "https://gw/send?account=otp&code=123&key=s&to=14155550100"
        );
        assert!(req.body.is_empty());
        assert_eq!(req.header_value("content-type"), None);
    }

    #[test]
    fn configured_content_type_and_accept_replace_the_defaults() {
        let req = build_with(
            &[
                ("url", "https://gw/send"),
                (
                    "headers",
                    r#"{"Accept": "*/*", "content-type": "application/json; charset=utf-8"}"#,
                ),
                ("body", r#"{"t": "{{text}}"}"#),
                ("id_pointer", "/id"),
            ],
            &[],
        )
        .unwrap();
        let names: Vec<&str> = req.headers.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, vec!["Accept", "content-type"]);
        assert_eq!(
            req.header_value("content-type"),
            Some("application/json; charset=utf-8")
        );
    }

    #[test]
    fn control_characters_never_reach_a_header_and_secrets_are_not_quoted() {
        let settings = [
            ("url", "https://gw/send"),
            ("headers", r#"{"X-Key": "{{secret.K}}"}"#),
            ("body", r#"{"t": "{{text}}"}"#),
            ("id_pointer", "/id"),
        ];
        let err = build_with(&settings, &[("K", "abc\r\nX-Evil: 1")]).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Config);
        assert!(err.message.contains("header `X-Key`"), "{err}");
        assert!(!err.message.contains("abc"), "{err}");
        let err = build_with(&settings, &[]).unwrap_err();
        assert!(err.message.contains("secret `K` is not set"), "{err}");
    }

    #[test]
    fn a_code_only_template_needs_a_code() {
        let cases = [
            (r#"{"otp": "{{code}}"}"#, "", false),
            (r#"{"otp": "{{code}}"}"#, "123", true),
            (r#"{"otp": "{{code}}", "t": "{{text}}"}"#, "", true),
            (r#"{"t": "{{text}}"}"#, "", true),
        ];
        for (body, code, ok) in cases {
            let settings = [
                ("url", "https://gw/send"),
                ("body", body),
                ("id_pointer", "/id"),
            ];
            let pairs: Vec<Pair> = settings.iter().map(|(n, v)| Pair::new(*n, *v)).collect();
            let parsed = Settings::read(&Config::new(&pairs, &[])).unwrap();
            let m = Message::new("+14155550100", "Your code is 123").with_code(code);
            let got = check_message(&parsed, &m);
            assert_eq!(got.is_ok(), ok, "{body} {code:?}: {got:?}");
            if let Err(e) = got {
                assert_eq!(e.kind, ErrorKind::InvalidMessage);
            }
        }
    }

    #[test]
    fn voice_messages_carry_their_type() {
        let settings: Vec<Pair> = [
            ("url", "https://gw/call"),
            (
                "body",
                r#"{"type": "{{message_type}}", "say": "{{text}}", "lang": "{{language}}"}"#,
            ),
            ("id_pointer", "/id"),
        ]
        .iter()
        .map(|(n, v)| Pair::new(*n, *v))
        .collect();
        let config = Config::new(&settings, &[]);
        let m = message().with_channel(Channel::Voice).with_language("de");
        let req = build(&Settings::read(&config).unwrap(), &Values::new(&m, config)).unwrap();
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(
            body,
            json!({"type": "voice", "say": "Code: 123 & \"more\"", "lang": "de"})
        );
    }

    #[test]
    fn query_joins_the_url() {
        let fields = [("to", "+1 5"), ("t", "a&b")];
        let cases = [
            ("https://gw/send", "https://gw/send?to=%2B1+5&t=a%26b"),
            (
                "https://gw/send?user=x",
                "https://gw/send?user=x&to=%2B1+5&t=a%26b",
            ),
            ("https://gw/send?", "https://gw/send?to=%2B1+5&t=a%26b"),
            (
                "https://gw/send?a=1&",
                "https://gw/send?a=1&to=%2B1+5&t=a%26b",
            ),
            (
                "https://gw/send#frag",
                "https://gw/send?to=%2B1+5&t=a%26b#frag",
            ),
        ];
        for (url, want) in cases {
            assert_eq!(append_query(url, &fields), want, "{url}");
        }
        let none: [(&str, &str); 0] = [];
        assert_eq!(append_query("https://gw/send", &none), "https://gw/send");
    }
}
