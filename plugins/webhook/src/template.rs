//! Templates: text with `{{placeholder}}`s, and JSON documents or flat tables
//! whose string values are such texts.
//!
//! Placeholders are only substituted inside string values, after the document
//! was parsed, so a message text full of quotes or ampersands can never change
//! the document's structure: the JSON or form encoder escapes it.

use std::fmt;

use phonehook_plugin_api::serde_json::{Map, Value};
use phonehook_plugin_api::{Config, Message};

/// A value a template can insert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Placeholder {
    /// `{{recipient}}`: E.164 with `+`.
    Recipient,
    /// `{{recipient_digits}}`: E.164 without `+`.
    RecipientDigits,
    /// `{{text}}`: the text to send or read out.
    Text,
    /// `{{code}}`: the one-time code, when the caller sent it.
    Code,
    /// `{{message_type}}`: `sms` or `voice`.
    MessageType,
    /// `{{language}}`: the user's language, e.g. `fr-CA`.
    Language,
    /// `{{action}}`: `enrollment` or `second-factor-authentication`.
    Action,
    /// `{{client_id}}`: the identity platform's application id.
    ClientId,
    /// `{{user_id}}`: the user's id.
    UserId,
    /// `{{secret.NAME}}`: a secret of the plugin's configuration.
    Secret(String),
}

/// The placeholder names a template may use, for error messages.
pub const KNOWN: &str = "recipient, recipient_digits, text, code, message_type, language, action, client_id, user_id, secret.NAME";

impl Placeholder {
    fn parse(name: &str) -> Option<Placeholder> {
        let placeholder = match name {
            "recipient" => Placeholder::Recipient,
            "recipient_digits" => Placeholder::RecipientDigits,
            "text" => Placeholder::Text,
            "code" => Placeholder::Code,
            "message_type" => Placeholder::MessageType,
            "language" => Placeholder::Language,
            "action" => Placeholder::Action,
            "client_id" => Placeholder::ClientId,
            "user_id" => Placeholder::UserId,
            _ => {
                let secret = name.strip_prefix("secret.")?;
                let valid = !secret.is_empty()
                    && secret
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !valid {
                    return None;
                }
                Placeholder::Secret(secret.to_owned())
            }
        };
        Some(placeholder)
    }

    /// Whether this placeholder carries what the user must receive.
    pub fn is_message_content(&self) -> bool {
        matches!(self, Placeholder::Text | Placeholder::Code)
    }
}

/// Why a template was refused. Never contains a secret: templates hold only
/// secret *names*.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TemplateError {
    /// `{{name}}` is not a known placeholder.
    UnknownPlaceholder(String),
    /// A `{{` without its `}}`.
    Unclosed,
    /// A placeholder in a field or header name, where it is not substituted.
    PlaceholderInName(String),
    /// A value of a flat table that is a table, an array or null.
    NotFlat,
    /// The document is not a table.
    NotATable,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateError::UnknownPlaceholder(name) => {
                write!(f, "unknown placeholder `{{{{{name}}}}}` (known: {KNOWN})")
            }
            TemplateError::Unclosed => write!(f, "`{{{{` without a closing `}}}}`"),
            TemplateError::PlaceholderInName(name) => write!(
                f,
                "placeholders are only substituted in values, not in the name `{name}`"
            ),
            TemplateError::NotFlat => write!(f, "values must be text, numbers or booleans"),
            TemplateError::NotATable => write!(f, "must be a table (a JSON object)"),
        }
    }
}

/// A [`TemplateError`] and where it is, as a JSON pointer (`/data/to`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    /// The JSON pointer of the offending value (empty for the whole document).
    pub at: String,
    /// What is wrong there.
    pub error: TemplateError,
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.at.is_empty() {
            write!(f, "{}", self.error)
        } else {
            write!(f, "{} at `{}`", self.error, self.at)
        }
    }
}

/// Why a template could not be filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RenderError {
    /// `{{secret.NAME}}` names a secret that is not configured.
    MissingSecret(String),
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RenderError::MissingSecret(name) => write!(f, "secret `{name}` is not set"),
        }
    }
}

/// What the placeholders of one message stand for.
pub struct Values<'a> {
    message: &'a Message,
    config: Config<'a>,
}

impl<'a> Values<'a> {
    /// The values of a message, with the secrets of a configuration.
    pub fn new(message: &'a Message, config: Config<'a>) -> Self {
        Values { message, config }
    }

    fn get(&self, placeholder: &Placeholder) -> Result<&'a str, RenderError> {
        let m = self.message;
        Ok(match placeholder {
            Placeholder::Recipient => m.recipient.as_str(),
            Placeholder::RecipientDigits => m.recipient_digits(),
            Placeholder::Text => m.text.as_str(),
            Placeholder::Code => m.code.as_str(),
            Placeholder::MessageType => m.channel.as_str(),
            Placeholder::Language => m.language.as_str(),
            Placeholder::Action => m.action.as_str(),
            Placeholder::ClientId => m.client_id.as_str(),
            Placeholder::UserId => m.user_id.as_str(),
            Placeholder::Secret(name) => self
                .config
                .secret(name)
                .ok_or_else(|| RenderError::MissingSecret(name.clone()))?,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Value(Placeholder),
}

/// One text with placeholders.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    segments: Vec<Segment>,
}

impl Template {
    /// Parses `Your code: {{code}}`. Whitespace inside the braces is ignored.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut segments = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                segments.push(Segment::Literal(rest[..open].to_owned()));
            }
            let after = &rest[open + 2..];
            let close = after.find("}}").ok_or(TemplateError::Unclosed)?;
            let name = after[..close].trim();
            let placeholder = Placeholder::parse(name)
                .ok_or_else(|| TemplateError::UnknownPlaceholder(name.to_owned()))?;
            segments.push(Segment::Value(placeholder));
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            segments.push(Segment::Literal(rest.to_owned()));
        }
        Ok(Template { segments })
    }

    /// A template that inserts nothing.
    pub fn literal(text: &str) -> Template {
        Template {
            segments: vec![Segment::Literal(text.to_owned())],
        }
    }

    /// The placeholders it uses, in order.
    pub fn placeholders(&self) -> impl Iterator<Item = &Placeholder> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Value(p) => Some(p),
            Segment::Literal(_) => None,
        })
    }

    /// The text with every placeholder replaced.
    pub fn render(&self, values: &Values<'_>) -> Result<String, RenderError> {
        let mut out = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => out.push_str(text),
                Segment::Value(p) => out.push_str(values.get(p)?),
            }
        }
        Ok(out)
    }
}

/// Appends `name` to a JSON pointer, escaping `~` and `/` as RFC 6901 says.
fn child(at: &str, name: &str) -> String {
    format!("{at}/{}", name.replace('~', "~0").replace('/', "~1"))
}

fn check_name(name: &str, at: &str, errors: &mut Vec<Located>) {
    if name.contains("{{") {
        errors.push(Located {
            at: at.to_owned(),
            error: TemplateError::PlaceholderInName(name.to_owned()),
        });
    }
}

/// A JSON document whose string values are templates (a `json` body).
#[derive(Clone, Debug, PartialEq)]
pub enum JsonTemplate {
    /// A number, boolean or null, sent as it is.
    Literal(Value),
    /// A string value.
    Text(Template),
    /// An array.
    Array(Vec<JsonTemplate>),
    /// An object, its names sent as they are.
    Object(Vec<(String, JsonTemplate)>),
}

impl Default for JsonTemplate {
    fn default() -> Self {
        JsonTemplate::Literal(Value::Null)
    }
}

impl JsonTemplate {
    /// Parses every string value of `doc`; reports every bad one.
    pub fn parse(doc: &Value) -> Result<JsonTemplate, Vec<Located>> {
        let mut errors = Vec::new();
        let template = Self::parse_at(doc, "", &mut errors);
        if errors.is_empty() {
            Ok(template)
        } else {
            Err(errors)
        }
    }

    fn parse_at(doc: &Value, at: &str, errors: &mut Vec<Located>) -> JsonTemplate {
        match doc {
            Value::String(text) => match Template::parse(text) {
                Ok(t) => JsonTemplate::Text(t),
                Err(error) => {
                    errors.push(Located {
                        at: at.to_owned(),
                        error,
                    });
                    JsonTemplate::Literal(Value::Null)
                }
            },
            Value::Array(items) => JsonTemplate::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| Self::parse_at(item, &child(at, &i.to_string()), errors))
                    .collect(),
            ),
            Value::Object(fields) => JsonTemplate::Object(
                fields
                    .iter()
                    .map(|(name, value)| {
                        let at = child(at, name);
                        check_name(name, &at, errors);
                        (name.clone(), Self::parse_at(value, &at, errors))
                    })
                    .collect(),
            ),
            other => JsonTemplate::Literal(other.clone()),
        }
    }

    /// Every placeholder used anywhere in the document.
    pub fn placeholders(&self) -> Vec<&Placeholder> {
        match self {
            JsonTemplate::Literal(_) => Vec::new(),
            JsonTemplate::Text(t) => t.placeholders().collect(),
            JsonTemplate::Array(items) => items.iter().flat_map(Self::placeholders).collect(),
            JsonTemplate::Object(fields) => {
                fields.iter().flat_map(|(_, v)| v.placeholders()).collect()
            }
        }
    }

    /// The document with every placeholder replaced.
    pub fn render(&self, values: &Values<'_>) -> Result<Value, RenderError> {
        Ok(match self {
            JsonTemplate::Literal(v) => v.clone(),
            JsonTemplate::Text(t) => Value::String(t.render(values)?),
            JsonTemplate::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|item| item.render(values))
                    .collect::<Result<_, _>>()?,
            ),
            JsonTemplate::Object(fields) => {
                let mut map = Map::new();
                for (name, value) in fields {
                    map.insert(name.clone(), value.render(values)?);
                }
                Value::Object(map)
            }
        })
    }
}

/// A flat table of templates: form fields, query parameters or headers.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FlatTemplate {
    fields: Vec<(String, Template)>,
}

impl FlatTemplate {
    /// Parses a JSON object whose values are text, numbers or booleans.
    pub fn parse(doc: &Value) -> Result<FlatTemplate, Vec<Located>> {
        let Value::Object(fields) = doc else {
            return Err(vec![Located {
                at: String::new(),
                error: TemplateError::NotATable,
            }]);
        };
        let mut errors = Vec::new();
        let mut parsed = Vec::new();
        for (name, value) in fields {
            let at = child("", name);
            check_name(name, &at, &mut errors);
            match flat_value(value) {
                Ok(t) => parsed.push((name.clone(), t)),
                Err(error) => errors.push(Located { at, error }),
            }
        }
        if errors.is_empty() {
            Ok(FlatTemplate { fields: parsed })
        } else {
            Err(errors)
        }
    }

    /// The field names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|(n, _)| n.as_str())
    }

    /// Every placeholder used in a value.
    pub fn placeholders(&self) -> Vec<&Placeholder> {
        self.fields
            .iter()
            .flat_map(|(_, t)| t.placeholders())
            .collect()
    }

    /// The fields with every placeholder replaced, in order.
    pub fn render(&self, values: &Values<'_>) -> Result<Vec<(String, String)>, RenderError> {
        self.fields
            .iter()
            .map(|(name, t)| Ok((name.clone(), t.render(values)?)))
            .collect()
    }
}

fn flat_value(value: &Value) -> Result<Template, TemplateError> {
    match value {
        Value::String(text) => Template::parse(text),
        Value::Number(n) => Ok(Template::literal(&n.to_string())),
        Value::Bool(b) => Ok(Template::literal(&b.to_string())),
        Value::Null | Value::Array(_) | Value::Object(_) => Err(TemplateError::NotFlat),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use phonehook_plugin_api::serde_json::json;
    use phonehook_plugin_api::{Channel, Pair};

    fn message() -> Message {
        let mut m = Message::new("+14155550100", "Say \"hi\" & <bye>\n")
            .with_channel(Channel::Voice)
            .with_language("fr-CA")
            .with_code("123456");
        m.action = "enrollment".into();
        m.client_id = "cli_1".into();
        m.user_id = "auth0|42".into();
        m
    }

    fn render(template: &str, secrets: &[Pair]) -> Result<String, String> {
        let m = message();
        let values = Values::new(&m, Config::new(&[], secrets));
        let t = Template::parse(template).map_err(|e| e.to_string())?;
        t.render(&values).map_err(|e| e.to_string())
    }

    #[test]
    fn placeholders_render_from_the_message() {
        let secrets = [Pair::new("API_KEY", "k-1")];
        let cases = [
            ("{{recipient}}", "+14155550100"),
            ("{{recipient_digits}}", "14155550100"),
            ("{{text}}", "Say \"hi\" & <bye>\n"),
            ("{{code}}", "123456"),
            ("{{message_type}}", "voice"),
            ("{{language}}", "fr-CA"),
            ("{{action}}", "enrollment"),
            ("{{client_id}}", "cli_1"),
            ("{{user_id}}", "auth0|42"),
            ("{{secret.API_KEY}}", "k-1"),
            ("Bearer {{ secret.API_KEY }}!", "Bearer k-1!"),
            ("to={{recipient}}&c={{code}}", "to=+14155550100&c=123456"),
            ("no placeholders", "no placeholders"),
            ("", ""),
            ("a }} b {", "a }} b {"),
        ];
        for (template, want) in cases {
            assert_eq!(
                render(template, &secrets).as_deref(),
                Ok(want),
                "{template}"
            );
        }
    }

    #[test]
    fn bad_templates_are_refused() {
        let cases = [
            (
                "{{recipent}}",
                TemplateError::UnknownPlaceholder("recipent".into()),
            ),
            ("{{}}", TemplateError::UnknownPlaceholder(String::new())),
            (
                "{{secret.}}",
                TemplateError::UnknownPlaceholder("secret.".into()),
            ),
            (
                "{{secret.A-B}}",
                TemplateError::UnknownPlaceholder("secret.A-B".into()),
            ),
            ("{{Text}}", TemplateError::UnknownPlaceholder("Text".into())),
            ("code {{code", TemplateError::Unclosed),
            ("{{code}} {{", TemplateError::Unclosed),
            ("{{code}", TemplateError::Unclosed),
        ];
        for (template, want) in cases {
            assert_eq!(Template::parse(template), Err(want), "{template}");
        }
    }

    #[test]
    fn a_missing_secret_is_named_at_render_time() {
        assert_eq!(
            render("{{secret.TOKEN}}", &[]),
            Err("secret `TOKEN` is not set".into())
        );
    }

    #[test]
    fn json_templates_substitute_only_inside_strings() {
        let doc = json!({
            "to": "{{recipient}}",
            "body": {"text": "{{text}}", "lang": "{{language}}"},
            "tags": ["otp", "{{message_type}}"],
            "priority": 1,
            "flash": false,
            "ref": null
        });
        let m = message();
        let got = JsonTemplate::parse(&doc)
            .unwrap()
            .render(&Values::new(&m, Config::new(&[], &[])))
            .unwrap();
        assert_eq!(
            got,
            json!({
                "to": "+14155550100",
                "body": {"text": "Say \"hi\" & <bye>\n", "lang": "fr-CA"},
                "tags": ["otp", "voice"],
                "priority": 1,
                "flash": false,
                "ref": null
            })
        );
        let text = got.to_string();
        assert!(text.contains(r#""Say \"hi\" & <bye>\n""#), "{text}");
    }

    #[test]
    fn json_template_errors_say_where() {
        let doc = json!({"a": {"b": ["ok", "{{nope}}"]}, "x/y": "{{code", "{{code}}": "v"});
        let errors: Vec<String> = JsonTemplate::parse(&doc)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(
            errors[0].starts_with("unknown placeholder `{{nope}}`"),
            "{errors:?}"
        );
        assert!(errors[0].ends_with("at `/a/b/1`"), "{errors:?}");
        assert_eq!(errors[1], "`{{` without a closing `}}` at `/x~1y`");
        assert!(
            errors[2].contains("not in the name `{{code}}`"),
            "{errors:?}"
        );
    }

    #[test]
    fn flat_templates_take_text_numbers_and_booleans_only() {
        let ok = FlatTemplate::parse(&json!({"f": true, "msisdn": "{{recipient_digits}}", "n": 2}))
            .unwrap();
        let m = message();
        let fields = ok.render(&Values::new(&m, Config::new(&[], &[]))).unwrap();
        assert_eq!(
            fields,
            vec![
                ("f".to_owned(), "true".to_owned()),
                ("msisdn".to_owned(), "14155550100".to_owned()),
                ("n".to_owned(), "2".to_owned()),
            ]
        );
        let cases = [
            (
                json!({"a": {"b": "c"}}),
                "values must be text, numbers or booleans at `/a`",
            ),
            (
                json!({"a": ["x"]}),
                "values must be text, numbers or booleans at `/a`",
            ),
            (
                json!({"a": null}),
                "values must be text, numbers or booleans at `/a`",
            ),
            (json!({"a": "{{x}}"}), "unknown placeholder"),
            (json!(["a"]), "must be a table (a JSON object)"),
            (json!("text"), "must be a table (a JSON object)"),
        ];
        for (doc, want) in cases {
            let errors = FlatTemplate::parse(&doc).unwrap_err();
            assert!(errors[0].to_string().contains(want), "{doc}: {errors:?}");
        }
    }

    #[test]
    fn placeholders_are_listed() {
        let t =
            JsonTemplate::parse(&json!({"a": "{{secret.K}} {{text}}", "b": ["{{code}}"]})).unwrap();
        let got: Vec<&Placeholder> = t.placeholders();
        assert_eq!(
            got,
            vec![
                &Placeholder::Secret("K".into()),
                &Placeholder::Text,
                &Placeholder::Code
            ]
        );
    }
}
