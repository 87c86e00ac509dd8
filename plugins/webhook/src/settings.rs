//! The plugin's configuration, read and checked as a whole: every problem is
//! reported at once, by setting name, so an admin fixes a template when the
//! plugin is activated rather than at the first real message.

use std::fmt;

use phonehook_plugin_api::serde_json::{self, Value};
use phonehook_plugin_api::{Config, Method, PluginError};

use crate::rules::{Pointer, ReplyFormat, Rules, StatusRanges, SuccessField};
use crate::template::{FlatTemplate, JsonTemplate, Located, Placeholder};

/// The settings the plugin reads: name, required, description.
pub const FIELDS: &[(&str, bool, &str)] = &[
    (
        "url",
        true,
        "The gateway endpoint, e.g. https://sms.internal.example/send (no placeholders)",
    ),
    ("method", false, "POST (default), PUT, PATCH or GET"),
    (
        "headers",
        false,
        "Request headers, a table; values may use placeholders such as {{secret.NAME}}",
    ),
    (
        "query",
        false,
        "Query parameters added to the url, a flat table of templates",
    ),
    ("body_format", false, "json (default) or form"),
    (
        "body",
        false,
        "The body template, a table; for form a flat table",
    ),
    (
        "success_status",
        false,
        "HTTP statuses that may mean success, default 200-299",
    ),
    (
        "success_pointer",
        false,
        "JSON pointer to a field that must equal success_value, e.g. /status",
    ),
    (
        "success_value",
        false,
        "The value success_pointer must hold, e.g. ok",
    ),
    (
        "id_pointer",
        true,
        "JSON pointer to the message id in the reply, e.g. /data/id",
    ),
    (
        "error_code_pointer",
        false,
        "JSON pointer to the gateway's error code",
    ),
    (
        "error_message_pointer",
        false,
        "JSON pointer to the gateway's error text",
    ),
    (
        "reply_format",
        false,
        "auto (default: by Content-Type), json or form",
    ),
];

/// How the body is encoded.
#[derive(Clone, Debug, PartialEq)]
pub enum Body {
    /// No body.
    Empty,
    /// A JSON document.
    Json(JsonTemplate),
    /// `application/x-www-form-urlencoded` fields.
    Form(FlatTemplate),
}

/// A usable configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// The endpoint, without the `query` parameters.
    pub url: String,
    /// The method.
    pub method: Method,
    /// Header templates.
    pub headers: FlatTemplate,
    /// Query parameter templates.
    pub query: FlatTemplate,
    /// The body template.
    pub body: Body,
    /// How to read the reply.
    pub rules: Rules,
    /// Whether the templates send `{{code}}` but not `{{text}}`, so a message
    /// without a separate code would reach the user empty.
    pub code_only: bool,
}

/// Everything wrong with a configuration, one line per problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problems(pub Vec<String>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("; "))
    }
}

impl From<Problems> for PluginError {
    fn from(problems: Problems) -> Self {
        PluginError::config(problems.to_string())
    }
}

/// Headers the HTTP client sets itself; a template must not fight it.
const RESERVED_HEADERS: &[&str] = &["host", "content-length", "transfer-encoding", "connection"];

impl Settings {
    /// Reads and checks the configuration.
    pub fn read(config: &Config<'_>) -> Result<Settings, Problems> {
        let mut r = Reader {
            config: *config,
            problems: Vec::new(),
            template_refused: false,
        };
        let url = r.required("url").and_then(|u| r.check("url", u, parse_url));
        let method = r.optional("method", Method::Post, parse_method);
        let headers = r.table("headers", FlatTemplate::parse);
        r.check_header_names(&headers);
        let query = r.table("query", FlatTemplate::parse);
        let body_format = r.optional("body_format", BodyFormat::Json, BodyFormat::parse);
        let body = match body_format {
            BodyFormat::Json => r
                .setting("body")
                .map(|_| Body::Json(r.table("body", JsonTemplate::parse))),
            BodyFormat::Form => r
                .setting("body")
                .map(|_| Body::Form(r.table("body", FlatTemplate::parse))),
        }
        .unwrap_or(Body::Empty);
        if method == Method::Get && body != Body::Empty {
            r.problem(
                "body",
                "a GET request has no body; put the fields in `query`",
            );
        }
        let rules = r.rules();

        let mut used: Vec<&Placeholder> = headers.placeholders();
        used.extend(query.placeholders());
        match &body {
            Body::Empty => {}
            Body::Json(t) => used.extend(t.placeholders()),
            Body::Form(t) => used.extend(t.placeholders()),
        }
        r.check_placeholders(&used);
        let code_only = used.contains(&&Placeholder::Code) && !used.contains(&&Placeholder::Text);

        match (url, rules) {
            (Some(url), Some(rules)) if r.problems.is_empty() => Ok(Settings {
                url,
                method,
                headers,
                query,
                body,
                rules,
                code_only,
            }),
            _ => Err(Problems(r.problems)),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BodyFormat {
    Json,
    Form,
}

impl BodyFormat {
    fn parse(text: &str) -> Result<BodyFormat, String> {
        match text.trim() {
            "json" => Ok(BodyFormat::Json),
            "form" => Ok(BodyFormat::Form),
            other => Err(format!("`{other}` is not `json` or `form`")),
        }
    }
}

fn parse_url(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.contains("{{") {
        return Err("the url takes no placeholders; put them in `query` or `body`".to_owned());
    }
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
        .ok_or_else(|| format!("`{text}` must start with https:// or http://"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || text.chars().any(char::is_whitespace) {
        return Err(format!("`{text}` is not a URL with a host"));
    }
    Ok(text.to_owned())
}

fn parse_method(text: &str) -> Result<Method, String> {
    match text.trim().to_ascii_uppercase().as_str() {
        "POST" => Ok(Method::Post),
        "PUT" => Ok(Method::Put),
        "PATCH" => Ok(Method::Patch),
        "GET" => Ok(Method::Get),
        _ => Err(format!("`{text}` is not one of POST, PUT, PATCH, GET")),
    }
}

/// RFC 9110 `token` characters, the only ones allowed in a header name.
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Collects problems while reading settings.
struct Reader<'a> {
    config: Config<'a>,
    problems: Vec<String>,
    /// Whether a template was refused, so the placeholders seen are incomplete.
    template_refused: bool,
}

impl<'a> Reader<'a> {
    fn problem(&mut self, setting: &str, what: impl fmt::Display) {
        self.problems.push(format!("setting `{setting}`: {what}"));
    }

    fn setting(&self, name: &str) -> Option<&'a str> {
        self.config.setting(name)
    }

    fn required(&mut self, name: &str) -> Option<&'a str> {
        let value = self.setting(name);
        if value.is_none() {
            self.problems.push(format!("setting `{name}` is not set"));
        }
        value
    }

    fn check<T, E: fmt::Display>(
        &mut self,
        name: &str,
        value: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        parse(value).map_err(|e| self.problem(name, e)).ok()
    }

    fn optional<T, E: fmt::Display>(
        &mut self,
        name: &str,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> T {
        match self.setting(name) {
            Some(value) => self.check(name, value, parse).unwrap_or(default),
            None => default,
        }
    }

    fn pointer(&mut self, name: &str) -> Option<Pointer> {
        let value = self.setting(name)?;
        self.check(name, value, Pointer::parse)
    }

    /// A table setting: TOML tables arrive as JSON text, and JSON text written
    /// as a string reads the same way.
    fn table<T: Default>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&Value) -> Result<T, Vec<Located>>,
    ) -> T {
        let Some(text) = self.setting(name) else {
            return T::default();
        };
        let doc: Value = match serde_json::from_str(text) {
            Ok(doc) => doc,
            Err(e) => {
                self.problem(name, format_args!("is not a table or JSON text ({e})"));
                self.template_refused = true;
                return T::default();
            }
        };
        parse(&doc).unwrap_or_else(|errors| {
            self.template_refused = true;
            for error in errors {
                self.problem(name, error);
            }
            T::default()
        })
    }

    fn check_header_names(&mut self, headers: &FlatTemplate) {
        let names: Vec<String> = headers.names().map(str::to_owned).collect();
        for name in names {
            if !is_header_name(&name) {
                self.problem("headers", format_args!("`{name}` is not a header name"));
            } else if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                self.problem(
                    "headers",
                    format_args!("`{name}` is set by the host and cannot be configured"),
                );
            }
        }
    }

    fn rules(&mut self) -> Option<Rules> {
        let success_status = self.optional(
            "success_status",
            StatusRanges::default(),
            StatusRanges::parse,
        );
        let success_pointer = self.pointer("success_pointer");
        let success_value = self.setting("success_value");
        let success_field = match (self.setting("success_pointer"), success_value) {
            (Some(_), None) => {
                self.problem(
                    "success_pointer",
                    "needs `success_value`, the value that means success",
                );
                None
            }
            (None, Some(_)) => {
                self.problem(
                    "success_value",
                    "needs `success_pointer`, where the value is",
                );
                None
            }
            _ => success_pointer
                .zip(success_value)
                .map(|(pointer, value)| SuccessField {
                    pointer,
                    value: value.to_owned(),
                }),
        };
        let id = self
            .required("id_pointer")
            .and_then(|p| self.check("id_pointer", p, Pointer::parse));
        let error_code = self.pointer("error_code_pointer");
        let error_message = self.pointer("error_message_pointer");
        let reply_format = self.optional("reply_format", ReplyFormat::Auto, ReplyFormat::parse);
        if reply_format == ReplyFormat::Form {
            let pointers = [
                (
                    "success_pointer",
                    success_field.as_ref().map(|f| &f.pointer),
                ),
                ("id_pointer", id.as_ref()),
                ("error_code_pointer", error_code.as_ref()),
                ("error_message_pointer", error_message.as_ref()),
            ];
            for (name, pointer) in pointers {
                if let Some(p) = pointer.filter(|p| !p.is_flat()) {
                    self.problems.push(format!(
                        "setting `{name}`: `{p}` goes deeper than a form-encoded reply, whose fields are `/name`"
                    ));
                }
            }
        }
        Some(Rules {
            success_status,
            success_field,
            id: id?,
            error_code,
            error_message,
            reply_format,
        })
    }

    fn check_placeholders(&mut self, used: &[&Placeholder]) {
        let mut missing: Vec<&str> = Vec::new();
        for p in used {
            if let Placeholder::Secret(name) = p {
                if self.config.secret(name).is_none() && !missing.contains(&name.as_str()) {
                    missing.push(name);
                }
            }
        }
        for name in missing {
            self.problems.push(format!(
                "secret `{name}` is not set (a template uses `{{{{secret.{name}}}}}`)"
            ));
        }
        if !self.template_refused && !used.iter().any(|p| p.is_message_content()) {
            self.problems.push(
                "no template uses `{{text}}` or `{{code}}`, so the message would never reach the user; \
                 put one in `body`, `query` or `headers`"
                    .to_owned(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use phonehook_plugin_api::Pair;

    const JSON_BODY: &str = r#"{"to": "{{recipient}}", "text": "{{text}}"}"#;

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            ("url", "https://sms.internal.example/send"),
            ("body", JSON_BODY),
            ("id_pointer", "/id"),
        ]
    }

    fn read(settings: &[(&str, &str)], secrets: &[(&str, &str)]) -> Result<Settings, Problems> {
        let settings: Vec<Pair> = settings.iter().map(|(n, v)| Pair::new(*n, *v)).collect();
        let secrets: Vec<Pair> = secrets.iter().map(|(n, v)| Pair::new(*n, *v)).collect();
        Settings::read(&Config::new(&settings, &secrets))
    }

    /// `base()` with some settings replaced (an empty value unsets one).
    fn with(changes: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut settings = base();
        for (name, value) in changes {
            settings.retain(|(n, _)| n != name);
            settings.push((name, value));
        }
        settings
    }

    #[test]
    fn a_minimal_configuration_reads_with_defaults() {
        let s = read(&base(), &[]).unwrap();
        assert_eq!(s.url, "https://sms.internal.example/send");
        assert_eq!(s.method, Method::Post);
        assert!(matches!(s.body, Body::Json(_)));
        assert_eq!(s.rules.success_status, StatusRanges::default());
        assert_eq!(s.rules.success_field, None);
        assert_eq!(s.rules.reply_format, ReplyFormat::Auto);
    }

    #[test]
    fn good_variations_read() {
        let cases: Vec<Vec<(&str, &str)>> = vec![
            with(&[("method", "put")]),
            with(&[
                ("method", "GET"),
                ("body", ""),
                ("query", r#"{"to": "{{recipient}}", "m": "{{text}}"}"#),
            ]),
            with(&[
                ("body_format", "form"),
                (
                    "body",
                    r#"{"msisdn": "{{recipient_digits}}", "msg": "{{text}}", "n": 1}"#,
                ),
            ]),
            with(&[(
                "body",
                r#"{"messages": [{"to": "{{recipient}}", "text": "{{text}}"}], "flash": false}"#,
            )]),
            with(&[("body", ""), ("headers", r#"{"X-Text": "{{code}}"}"#)]),
            with(&[
                ("success_status", "200,202"),
                ("success_pointer", "/status"),
                ("success_value", "ok"),
            ]),
            with(&[
                ("reply_format", "form"),
                ("id_pointer", "/id"),
                ("error_code_pointer", "/result"),
            ]),
            with(&[
                ("error_code_pointer", "/error/code"),
                ("error_message_pointer", "/error/message"),
            ]),
            with(&[("url", "http://10.0.0.5:8080/cgi-bin/send?user=otp")]),
        ];
        for settings in cases {
            assert!(
                read(&settings, &[]).is_ok(),
                "{settings:?}: {:?}",
                read(&settings, &[])
            );
        }
    }

    #[test]
    fn each_mistake_is_named() {
        let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (with(&[("url", "")]), "setting `url` is not set"),
            (
                with(&[("id_pointer", "")]),
                "setting `id_pointer` is not set",
            ),
            (
                with(&[("url", "sms.internal.example/send")]),
                "setting `url`: `sms.internal.example/send` must start with https://",
            ),
            (
                with(&[("url", "https:///send")]),
                "setting `url`: `https:///send` is not a URL with a host",
            ),
            (
                with(&[("url", "https://gw/{{recipient}}")]),
                "setting `url`: the url takes no placeholders",
            ),
            (
                with(&[("method", "DELETE")]),
                "setting `method`: `DELETE` is not one of POST, PUT, PATCH, GET",
            ),
            (
                with(&[("body", r#"{"to": "{{recipient}}", "text": "{{txt}}"}"#)]),
                "setting `body`: unknown placeholder `{{txt}}`",
            ),
            (
                with(&[("body", r#"{"text": "{{text"}"#)]),
                "setting `body`: `{{` without a closing `}}` at `/text`",
            ),
            (
                with(&[("body", r#"{"to": "#)]),
                "setting `body`: is not a table or JSON text",
            ),
            (
                with(&[("body_format", "xml")]),
                "setting `body_format`: `xml` is not `json` or `form`",
            ),
            (
                with(&[
                    ("body_format", "form"),
                    ("body", r#"{"a": {"b": "{{text}}"}}"#),
                ]),
                "setting `body`: values must be text, numbers or booleans at `/a`",
            ),
            (
                with(&[("headers", "[1]")]),
                "setting `headers`: must be a table",
            ),
            (
                with(&[("headers", r#"{"X-Key": "{{secret.API_KEY}}"}"#)]),
                "secret `API_KEY` is not set (a template uses `{{secret.API_KEY}}`)",
            ),
            (
                with(&[("headers", r#"{"Bad Name": "x"}"#)]),
                "setting `headers`: `Bad Name` is not a header name",
            ),
            (
                with(&[("headers", r#"{"Host": "x"}"#)]),
                "setting `headers`: `Host` is set by the host",
            ),
            (
                with(&[("headers", r#"{"X": {"y": 1}}"#)]),
                "setting `headers`: values must be text",
            ),
            (
                with(&[("query", r#"{"k": "{{nope}}"}"#)]),
                "setting `query`: unknown placeholder `{{nope}}`",
            ),
            (
                with(&[("method", "GET")]),
                "setting `body`: a GET request has no body",
            ),
            (
                with(&[("success_status", "2xx")]),
                "setting `success_status`: `2xx` is not a status range",
            ),
            (
                with(&[("success_pointer", "status"), ("success_value", "ok")]),
                "setting `success_pointer`: `status` is not a JSON pointer",
            ),
            (
                with(&[("success_pointer", "/status")]),
                "setting `success_pointer`: needs `success_value`",
            ),
            (
                with(&[("success_value", "ok")]),
                "setting `success_value`: needs `success_pointer`",
            ),
            (
                with(&[("id_pointer", "data.id")]),
                "setting `id_pointer`: `data.id` is not a JSON pointer",
            ),
            (
                with(&[("error_code_pointer", "code")]),
                "setting `error_code_pointer`: `code` is not a JSON pointer",
            ),
            (
                with(&[("error_message_pointer", "/a~")]),
                "setting `error_message_pointer`: `/a~` is not a JSON pointer",
            ),
            (
                with(&[("reply_format", "xml")]),
                "setting `reply_format`: `xml` is not one of",
            ),
            (
                with(&[("reply_format", "form"), ("id_pointer", "/data/id")]),
                "setting `id_pointer`: `/data/id` goes deeper than a form-encoded reply",
            ),
            (
                with(&[("body", r#"{"to": "{{recipient}}"}"#)]),
                "no template uses `{{text}}` or `{{code}}`",
            ),
        ];
        for (settings, want) in cases {
            let problems = read(&settings, &[]).unwrap_err();
            assert!(
                problems.0.iter().any(|p| p.starts_with(want)),
                "want {want:?}, got {problems:?}"
            );
        }
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let settings = [
            ("headers", r#"{"K": "{{secret.S}}"}"#),
            ("body", r#"{"a": "{{x}}", "b": "{{y}}", "t": "{{text}}"}"#),
            ("success_status", "ok"),
        ];
        let problems = read(&settings, &[]).unwrap_err().0;
        let starts: Vec<&str> = problems
            .iter()
            .map(|p| p.split(':').next().unwrap_or_default())
            .collect();
        assert_eq!(
            starts,
            vec![
                "setting `url` is not set",
                "setting `body`",
                "setting `body`",
                "setting `success_status`",
                "setting `id_pointer` is not set",
                "secret `S` is not set (a template uses `{{secret.S}}`)",
            ],
            "{problems:?}"
        );
    }

    #[test]
    fn a_set_secret_satisfies_its_placeholder_and_is_never_quoted() {
        let settings = with(&[("headers", r#"{"X-Key": "{{secret.API_KEY}}"}"#)]);
        assert!(read(&settings, &[("API_KEY", "s3cr3t")]).is_ok());
        let settings = with(&[
            ("headers", r#"{"X-Key": "{{secret.API_KEY}}"}"#),
            ("method", "nope"),
        ]);
        let problems = read(&settings, &[("API_KEY", "s3cr3t")]).unwrap_err();
        assert!(!problems.to_string().contains("s3cr3t"), "{problems}");
    }

    #[test]
    fn problems_become_a_config_error() {
        let err = PluginError::from(read(&with(&[("url", "")]), &[]).unwrap_err());
        assert_eq!(err.kind, phonehook_plugin_api::ErrorKind::Config);
        assert_eq!(err.message.as_str(), "setting `url` is not set");
    }
}
