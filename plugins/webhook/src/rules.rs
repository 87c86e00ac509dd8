//! Reading the gateway's reply: which statuses count as success, JSON pointers
//! into JSON or form-encoded bodies, and the rules that turn a reply into a
//! delivery or a failure.

use std::fmt;
use std::ops::RangeInclusive;

use phonehook_plugin_api::serde_json::Value;
use phonehook_plugin_api::{encoding, Delivery, HttpReply, PluginError};

/// Why a rule in the configuration was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleError {
    /// Not a list of statuses or ranges between 100 and 599.
    StatusRange(String),
    /// Not a JSON pointer (RFC 6901) to a value inside the document.
    Pointer(String),
    /// Not `auto`, `json` or `form`.
    ReplyFormat(String),
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleError::StatusRange(s) => write!(
                f,
                "`{s}` is not a status range such as `200-299`, `200` or `200,202-204`"
            ),
            RuleError::Pointer(s) => write!(
                f,
                "`{s}` is not a JSON pointer such as `/data/id` (it must start with `/`, and `~` must be followed by 0 or 1)"
            ),
            RuleError::ReplyFormat(s) => write!(f, "`{s}` is not one of `auto`, `json`, `form`"),
        }
    }
}

/// The HTTP statuses that count as success.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusRanges(Vec<RangeInclusive<u16>>);

impl StatusRanges {
    /// Parses `200-299`, `200` or a comma-separated list of both.
    pub fn parse(text: &str) -> Result<StatusRanges, RuleError> {
        let bad = || RuleError::StatusRange(text.to_owned());
        let status = |s: &str| {
            s.trim()
                .parse::<u16>()
                .ok()
                .filter(|n| (100..=599).contains(n))
        };
        let mut ranges = Vec::new();
        for part in text.split(',') {
            let range = match part.split_once('-') {
                Some((lo, hi)) => status(lo).ok_or_else(bad)?..=status(hi).ok_or_else(bad)?,
                None => {
                    let n = status(part).ok_or_else(bad)?;
                    n..=n
                }
            };
            if range.is_empty() {
                return Err(bad());
            }
            ranges.push(range);
        }
        Ok(StatusRanges(ranges))
    }

    /// Whether `status` is one of them.
    pub fn contains(&self, status: u16) -> bool {
        self.0.iter().any(|r| r.contains(&status))
    }
}

impl Default for StatusRanges {
    fn default() -> Self {
        StatusRanges(vec![200..=299])
    }
}

/// A JSON pointer (RFC 6901), e.g. `/data/id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pointer(String);

impl Pointer {
    /// Parses a pointer; the whole document (the empty pointer) is refused
    /// because a message id or a status word is never the whole reply.
    pub fn parse(text: &str) -> Result<Pointer, RuleError> {
        let bad = || RuleError::Pointer(text.to_owned());
        let rest = text.strip_prefix('/').ok_or_else(bad)?;
        let mut chars = rest.chars();
        while let Some(c) = chars.next() {
            if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
                return Err(bad());
            }
        }
        Ok(Pointer(text.to_owned()))
    }

    /// The pointer as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The field a pointer names in a flat, form-encoded document: `/id` is
    /// field `id`; deeper pointers name nothing.
    fn form_field(&self) -> Option<String> {
        let name = self.0.strip_prefix('/')?;
        if name.contains('/') {
            return None;
        }
        Some(name.replace("~1", "/").replace("~0", "~"))
    }

    /// Whether it can address a field of a flat, form-encoded reply.
    pub fn is_flat(&self) -> bool {
        self.form_field().is_some()
    }
}

impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How to read the reply body.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReplyFormat {
    /// By its `Content-Type`: form-encoded when it says so, JSON otherwise.
    #[default]
    Auto,
    /// Always JSON.
    Json,
    /// Always `application/x-www-form-urlencoded`.
    Form,
}

impl ReplyFormat {
    /// Parses `auto`, `json` or `form`.
    pub fn parse(text: &str) -> Result<ReplyFormat, RuleError> {
        match text.trim() {
            "auto" => Ok(ReplyFormat::Auto),
            "json" => Ok(ReplyFormat::Json),
            "form" => Ok(ReplyFormat::Form),
            other => Err(RuleError::ReplyFormat(other.to_owned())),
        }
    }
}

/// A reply body, read as JSON or as form fields.
#[derive(Clone, Debug, PartialEq)]
pub enum Document {
    /// A JSON body.
    Json(Value),
    /// An `a=1&b=2` body.
    Form(Vec<(String, String)>),
}

impl Document {
    /// Reads the body; an empty or unreadable one is a protocol error.
    pub fn read(reply: &HttpReply<'_>, format: ReplyFormat) -> Result<Document, PluginError> {
        let is_form = match format {
            ReplyFormat::Form => true,
            ReplyFormat::Json => false,
            ReplyFormat::Auto => reply.content_type_is("application/x-www-form-urlencoded"),
        };
        if is_form {
            reply.form().map(Document::Form)
        } else {
            reply.json().map(Document::Json)
        }
    }

    /// The text of the value at `pointer`: strings as they are, numbers and
    /// booleans as written; `None` for anything absent, null or structured.
    pub fn get(&self, pointer: &Pointer) -> Option<String> {
        match self {
            Document::Json(doc) => match doc.pointer(pointer.as_str())? {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                Value::Bool(b) => Some(b.to_string()),
                Value::Null | Value::Array(_) | Value::Object(_) => None,
            },
            Document::Form(fields) => {
                let name = pointer.form_field()?;
                fields
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.clone())
            }
        }
    }

    fn snippet(&self) -> String {
        match self {
            Document::Json(doc) => encoding::snippet(&doc.to_string()),
            Document::Form(fields) => encoding::snippet(&encoding::form_encode(fields)),
        }
    }
}

/// A value the reply must hold for the message to count as accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SuccessField {
    /// Where it is.
    pub pointer: Pointer,
    /// What it must be, compared as text (`0`, `ok`, `true`).
    pub value: String,
}

/// How to tell an accepted message from a refused one, and where the id and
/// the error are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rules {
    /// Statuses that may mean success.
    pub success_status: StatusRanges,
    /// A field that must also hold a given value (for gateways that answer 200
    /// to everything).
    pub success_field: Option<SuccessField>,
    /// Where the message id is.
    pub id: Pointer,
    /// Where the gateway's error code is.
    pub error_code: Option<Pointer>,
    /// Where the gateway's error text is.
    pub error_message: Option<Pointer>,
    /// How to read the body.
    pub reply_format: ReplyFormat,
}

impl Rules {
    /// What a reply means: the delivery, or why there is none.
    pub fn outcome(&self, reply: &HttpReply<'_>) -> Result<Delivery, PluginError> {
        if !self.success_status.contains(reply.status) {
            return Err(self.failure(reply));
        }
        let doc = Document::read(reply, self.reply_format)?;
        let mut status_word = String::new();
        if let Some(field) = &self.success_field {
            let got = doc.get(&field.pointer);
            if got.as_deref() != Some(field.value.as_str()) {
                return Err(self.refusal(reply, &doc, field, got));
            }
            status_word = field.value.clone();
        }
        let id = doc
            .get(&self.id)
            .filter(|id| !id.trim().is_empty())
            .ok_or_else(|| {
                PluginError::protocol(format!(
                    "vendor reply has no message id at `{}`: {}",
                    self.id,
                    doc.snippet()
                ))
            })?;
        Ok(Delivery::new(id, status_word))
    }

    /// A status outside the success range: the gateway's own error when the
    /// error pointers find one, otherwise the status and the start of the body.
    fn failure(&self, reply: &HttpReply<'_>) -> PluginError {
        Document::read(reply, self.reply_format)
            .ok()
            .and_then(|doc| self.vendor_error(reply, &doc, reply.status.to_string()))
            .unwrap_or_else(|| reply.unexpected())
    }

    /// A success status whose success field says otherwise.
    fn refusal(
        &self,
        reply: &HttpReply<'_>,
        doc: &Document,
        field: &SuccessField,
        got: Option<String>,
    ) -> PluginError {
        let fallback_code = got.clone().unwrap_or_else(|| reply.status.to_string());
        if let Some(err) = self.vendor_error(reply, doc, fallback_code) {
            return err;
        }
        match got {
            Some(got) => PluginError::vendor(
                got.clone(),
                format!("`{}` is `{got}`, not `{}`", field.pointer, field.value),
            )
            .retryable(encoding::status_is_retryable(reply.status))
            .retry_after(reply.retry_after_secs()),
            None => PluginError::protocol(format!(
                "vendor reply has no `{}`: {}",
                field.pointer,
                doc.snippet()
            )),
        }
    }

    /// The gateway's error from the error pointers, if they find anything;
    /// `fallback_code` stands in for a code the reply does not give.
    fn vendor_error(
        &self,
        reply: &HttpReply<'_>,
        doc: &Document,
        fallback_code: String,
    ) -> Option<PluginError> {
        let found = |p: &Option<Pointer>| {
            p.as_ref()
                .and_then(|p| doc.get(p))
                .filter(|v| !v.trim().is_empty())
        };
        let code = found(&self.error_code);
        let message = found(&self.error_message);
        if code.is_none() && message.is_none() {
            return None;
        }
        let code = code.unwrap_or(fallback_code);
        let message = message.unwrap_or_else(|| format!("HTTP {}", reply.status));
        Some(
            PluginError::vendor(code, message)
                .retryable(encoding::status_is_retryable(reply.status))
                .retry_after(reply.retry_after_secs()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use phonehook_plugin_api::serde_json::json;
    use phonehook_plugin_api::{ErrorKind, Pair};

    #[test]
    fn status_ranges() {
        let cases: [(&str, &[u16], &[u16]); 5] = [
            ("200-299", &[200, 250, 299], &[199, 300, 500]),
            ("200", &[200], &[201]),
            ("200,202-204", &[200, 202, 204], &[201, 205]),
            (" 200 - 201 , 409 ", &[200, 201, 409], &[202]),
            ("100-599", &[100, 599], &[]),
        ];
        for (text, yes, no) in cases {
            let ranges = StatusRanges::parse(text).unwrap();
            assert!(yes.iter().all(|s| ranges.contains(*s)), "{text}");
            assert!(!no.iter().any(|s| ranges.contains(*s)), "{text}");
        }
        for bad in [
            "",
            "2xx",
            "299-200",
            "200-",
            "-299",
            "99",
            "600",
            "200,,201",
            "200-299-300",
        ] {
            assert_eq!(
                StatusRanges::parse(bad),
                Err(RuleError::StatusRange(bad.into())),
                "{bad}"
            );
        }
    }

    #[test]
    fn pointers() {
        for good in ["/id", "/data/id", "/a~1b/~0c", "/0", "/"] {
            assert!(Pointer::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "id", "data/id", "/a~2", "/a~", "$.id"] {
            assert_eq!(
                Pointer::parse(bad),
                Err(RuleError::Pointer(bad.into())),
                "{bad}"
            );
        }
    }

    fn reply_doc(content_type: &str, body: &str) -> Result<Document, PluginError> {
        let headers = [Pair::new("content-type", content_type)];
        Document::read(
            &HttpReply::new(200, &headers, body.as_bytes()),
            ReplyFormat::Auto,
        )
    }

    #[test]
    fn pointers_address_json_and_form_replies() {
        let json = reply_doc(
            "application/json; charset=utf-8",
            r#"{"data": {"id": "m-1", "n": 7, "ok": true, "none": null, "obj": {}}, "list": ["a"], "a/b": "slash"}"#,
        )
        .unwrap();
        let form = reply_doc(
            "application/x-www-form-urlencoded",
            "result=0&id=f-1&a%2Fb=slash&msg=a+b",
        )
        .unwrap();
        let cases = [
            (&json, "/data/id", Some("m-1")),
            (&json, "/data/n", Some("7")),
            (&json, "/data/ok", Some("true")),
            (&json, "/data/none", None),
            (&json, "/data/obj", None),
            (&json, "/list/0", Some("a")),
            (&json, "/a~1b", Some("slash")),
            (&json, "/missing", None),
            (&form, "/id", Some("f-1")),
            (&form, "/result", Some("0")),
            (&form, "/a~1b", Some("slash")),
            (&form, "/msg", Some("a b")),
            (&form, "/id/x", None),
            (&form, "/missing", None),
        ];
        for (doc, pointer, want) in cases {
            assert_eq!(
                doc.get(&Pointer::parse(pointer).unwrap()).as_deref(),
                want,
                "{pointer} in {doc:?}"
            );
        }
    }

    #[test]
    fn unreadable_bodies_are_protocol_errors() {
        let cases = [
            ("application/json", ""),
            ("application/json", "<html>oops</html>"),
            ("text/plain", "id=1"),
            ("application/x-www-form-urlencoded", "  "),
        ];
        for (ct, body) in cases {
            assert_eq!(
                reply_doc(ct, body).unwrap_err().kind,
                ErrorKind::Protocol,
                "{ct} {body:?}"
            );
        }
    }

    fn json_rules() -> Rules {
        Rules {
            success_status: StatusRanges::default(),
            success_field: Some(SuccessField {
                pointer: Pointer::parse("/status").unwrap(),
                value: "ok".into(),
            }),
            id: Pointer::parse("/data/id").unwrap(),
            error_code: Some(Pointer::parse("/error/code").unwrap()),
            error_message: Some(Pointer::parse("/error/message").unwrap()),
            reply_format: ReplyFormat::Auto,
        }
    }

    fn form_rules() -> Rules {
        Rules {
            success_status: StatusRanges::parse("200").unwrap(),
            success_field: Some(SuccessField {
                pointer: Pointer::parse("/result").unwrap(),
                value: "0".into(),
            }),
            id: Pointer::parse("/id").unwrap(),
            error_code: None,
            error_message: Some(Pointer::parse("/reason").unwrap()),
            reply_format: ReplyFormat::Auto,
        }
    }

    /// (kind, code, message fragment, retryable, retry_after) or the id.
    type Want = Result<&'static str, (ErrorKind, &'static str, &'static str, bool, u32)>;

    /// (case, HTTP status, headers, body, outcome).
    type Case<B> = (
        &'static str,
        u16,
        Vec<(&'static str, &'static str)>,
        B,
        Want,
    );

    fn outcome(
        rules: &Rules,
        status: u16,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Result<Delivery, PluginError> {
        let headers: Vec<Pair> = headers.iter().map(|(n, v)| Pair::new(*n, *v)).collect();
        rules.outcome(&HttpReply::new(status, &headers, body.as_bytes()))
    }

    fn assert_outcome(got: Result<Delivery, PluginError>, want: Want, case: &str) {
        match (got, want) {
            (Ok(d), Ok(id)) => assert_eq!(d.message_id.as_str(), id, "{case}"),
            (Err(e), Err((kind, code, text, retryable, after))) => {
                assert_eq!(
                    (e.kind, e.code.as_str(), e.retryable, e.retry_after_secs),
                    (kind, code, retryable, after),
                    "{case}: {e}"
                );
                assert!(e.message.contains(text), "{case}: {e}");
            }
            (got, want) => panic!("{case}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn json_api_outcomes() {
        const JSON: (&str, &str) = ("content-type", "application/json");
        let cases: Vec<Case<String>> = vec![
            ("accepted", 200, vec![JSON], json!({"status": "ok", "data": {"id": "m-1"}}).to_string(), Ok("m-1")),
            ("numeric id", 201, vec![JSON], json!({"status": "ok", "data": {"id": 42}}).to_string(), Ok("42")),
            (
                "refused inside a 200",
                200,
                vec![JSON],
                json!({"status": "error", "error": {"code": "BAD_NUMBER", "message": "no such number"}}).to_string(),
                Err((ErrorKind::Vendor, "BAD_NUMBER", "no such number", false, 0)),
            ),
            (
                "refused without details",
                200,
                vec![JSON],
                json!({"status": "failed"}).to_string(),
                Err((ErrorKind::Vendor, "failed", "`/status` is `failed`, not `ok`", false, 0)),
            ),
            (
                "no status field",
                200,
                vec![JSON],
                json!({"data": {"id": "m-1"}}).to_string(),
                Err((ErrorKind::Protocol, "", "no `/status`", false, 0)),
            ),
            (
                "ok without id",
                200,
                vec![JSON],
                json!({"status": "ok", "data": {}}).to_string(),
                Err((ErrorKind::Protocol, "", "no message id at `/data/id`", false, 0)),
            ),
            (
                "ok with empty id",
                200,
                vec![JSON],
                json!({"status": "ok", "data": {"id": " "}}).to_string(),
                Err((ErrorKind::Protocol, "", "no message id", false, 0)),
            ),
            (
                "unauthorized",
                401,
                vec![JSON],
                json!({"status": "error", "error": {"code": "unauthorized", "message": "bad key"}}).to_string(),
                Err((ErrorKind::Vendor, "unauthorized", "bad key", false, 0)),
            ),
            (
                "throttled",
                429,
                vec![JSON, ("retry-after", "7")],
                json!({"status": "error", "error": {"message": "slow down"}}).to_string(),
                Err((ErrorKind::Vendor, "429", "slow down", true, 7)),
            ),
            (
                "server error, html",
                503,
                vec![("content-type", "text/html")],
                "<h1>down</h1>".into(),
                Err((ErrorKind::Vendor, "503", "HTTP 503: <h1>down</h1>", true, 0)),
            ),
            (
                "server error, empty",
                500,
                vec![],
                String::new(),
                Err((ErrorKind::Vendor, "500", "(empty body)", true, 0)),
            ),
            (
                "server error, json without error fields",
                502,
                vec![JSON],
                "{}".into(),
                Err((ErrorKind::Vendor, "502", "HTTP 502: {}", true, 0)),
            ),
            ("not json", 200, vec![], "OK".into(), Err((ErrorKind::Protocol, "", "not JSON", false, 0))),
            ("empty", 200, vec![JSON], String::new(), Err((ErrorKind::Protocol, "", "empty body", false, 0))),
        ];
        let rules = json_rules();
        for (case, status, headers, body, want) in cases {
            assert_outcome(outcome(&rules, status, &headers, &body), want, case);
        }
    }

    #[test]
    fn form_api_outcomes() {
        const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");
        let cases: Vec<Case<&str>> = vec![
            ("accepted", 200, vec![FORM], "result=0&id=f-1", Ok("f-1")),
            ("field order", 200, vec![FORM], "id=f-2&result=0", Ok("f-2")),
            (
                "refused",
                200,
                vec![FORM],
                "result=7&reason=Unknown+subscriber",
                Err((ErrorKind::Vendor, "7", "Unknown subscriber", false, 0)),
            ),
            (
                "refused without reason",
                200,
                vec![FORM],
                "result=3",
                Err((
                    ErrorKind::Vendor,
                    "3",
                    "`/result` is `3`, not `0`",
                    false,
                    0,
                )),
            ),
            (
                "accepted without id",
                200,
                vec![FORM],
                "result=0",
                Err((ErrorKind::Protocol, "", "no message id at `/id`", false, 0)),
            ),
            (
                "201 is outside `200`",
                201,
                vec![FORM],
                "result=0&id=f-1",
                Err((ErrorKind::Vendor, "201", "HTTP 201", false, 0)),
            ),
            (
                "503 with a reason",
                503,
                vec![FORM, ("retry-after", "2")],
                "result=9&reason=maintenance",
                Err((ErrorKind::Vendor, "503", "maintenance", true, 2)),
            ),
            (
                "json instead",
                200,
                vec![("content-type", "application/json")],
                "{\"id\": 1}",
                Err((ErrorKind::Protocol, "", "no `/result`", false, 0)),
            ),
        ];
        let rules = form_rules();
        for (case, status, headers, body, want) in cases {
            assert_outcome(outcome(&rules, status, &headers, body), want, case);
        }
    }

    #[test]
    fn reply_format_overrides_the_content_type() {
        let mut rules = form_rules();
        rules.reply_format = ReplyFormat::Form;
        assert_outcome(
            outcome(
                &rules,
                200,
                &[("content-type", "text/plain")],
                "result=0&id=t-1",
            ),
            Ok("t-1"),
            "form",
        );
        let mut rules = json_rules();
        rules.reply_format = ReplyFormat::Json;
        let body = json!({"status": "ok", "data": {"id": "j-1"}}).to_string();
        assert_outcome(
            outcome(&rules, 200, &[("content-type", "text/plain")], &body),
            Ok("j-1"),
            "json",
        );
        for (text, want) in [
            ("auto", Ok(ReplyFormat::Auto)),
            ("json", Ok(ReplyFormat::Json)),
            ("form", Ok(ReplyFormat::Form)),
            ("xml", Err(RuleError::ReplyFormat("xml".into()))),
        ] {
            assert_eq!(ReplyFormat::parse(text), want);
        }
    }
}
