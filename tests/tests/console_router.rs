//! The admin console's HTTP surface in-process (`phonehook_e2e::inprocess`):
//! security headers, the session cookie, CSRF refusal, logout, the page
//! shown without an admin token, and that no page carries the admin token or
//! a full number; the Guard page's rules, number lookup, reset and safe-list
//! forms. No socket, no plugin, no log: the browser flows are in
//! `console.rs`. Run with `cargo test -p phonehook-e2e --test console_router`.

use axum::body::Body;
use axum::http::{header, HeaderMap, Request};
use axum::Router;
use http_body_util::BodyExt;
use phonehook::config::Config;
use phonehook_e2e::inprocess::{router, with_state};
use tower::ServiceExt;

const ADMIN: &str = "admin-token-0123456789abcdef";
/// A number the pages must never show in full.
const NUMBER: &str = "+14155550123";

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The CSRF token of the first form on the page.
    fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self.body.find(marker).expect("the page has a CSRF field") + marker.len();
        let end = self.body[start..].find('"').expect("the field is closed");
        self.body[start..start + end].to_owned()
    }

    /// The session id of the `Set-Cookie` answer.
    fn session_cookie(&self) -> String {
        let set = self.header("set-cookie");
        let pair = set.split(';').next().unwrap_or("");
        assert!(pair.starts_with("phonehook_console="), "{set}");
        pair.to_owned()
    }
}

async fn request(
    app: &Router,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: Option<&str>,
    extra: &[(&str, &str)],
) -> Answer {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(cookie) = cookie {
        req = req.header(header::COOKIE, cookie);
    }
    for (name, value) in extra {
        req = req.header(*name, *value);
    }
    let body = match form {
        Some(form) => {
            req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
            Body::from(form.to_owned())
        }
        None => Body::empty(),
    };
    let response = app.clone().oneshot(req.body(body).unwrap()).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

fn with_admin_token() -> Config {
    Config {
        admin_token: Some(ADMIN.to_owned()),
        ..Config::default()
    }
}

/// Posts the login form with the admin token and `extra` headers.
async fn post_login(app: &Router, extra: &[(&str, &str)]) -> Answer {
    let form = format!("token={ADMIN}");
    request(app, "POST", "/console/login", None, Some(&form), extra).await
}

/// Posts `form` to `path` in the session of `cookie`.
async fn post_form(app: &Router, path: &str, cookie: &str, form: &str) -> Answer {
    request(app, "POST", path, Some(cookie), Some(form), &[]).await
}

/// Gets `path` in the session of `cookie`.
async fn get(app: &Router, path: &str, cookie: &str) -> Answer {
    request(app, "GET", path, Some(cookie), None, &[]).await
}

/// Logs in; the session cookie and the session's CSRF token.
async fn logged_in(app: &Router) -> (String, String) {
    let cookie = login(app).await;
    let page = request(app, "GET", "/console", Some(&cookie), None, &[]).await;
    (cookie, page.csrf())
}

/// Logs in; the session cookie (`name=value`) to send back.
async fn login(app: &Router) -> String {
    let answer = post_login(app, &[]).await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    assert_eq!(answer.header("location"), "/console");
    answer.session_cookie()
}

fn assert_security_headers(answer: &Answer, what: &str) {
    let csp = answer.header("content-security-policy");
    assert!(csp.contains("default-src 'self'"), "{what}: {csp}");
    assert!(csp.contains("script-src 'self'"), "{what}: {csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
    assert_eq!(answer.header("x-frame-options"), "DENY", "{what}");
    assert_eq!(answer.header("referrer-policy"), "no-referrer", "{what}");
}

#[tokio::test]
async fn every_console_answer_has_the_security_headers_and_pages_are_not_stored() {
    let app = router(with_admin_token());
    let cookie = login(&app).await;
    let anonymous = [
        "/console/login",
        "/console",
        "/console/static/console.css",
        "/console/static/console.js",
    ];
    for path in anonymous {
        let answer = request(&app, "GET", path, None, None, &[]).await;
        assert_security_headers(&answer, path);
    }
    // The in-process host has its log off: the log page answers as
    // `GET /api/v1/logs` does, 404 log_disabled, in a page.
    let pages = [
        ("/console", 200),
        ("/console/plugins", 200),
        ("/console/logs", 404),
        ("/console/plugins/sandbox/test", 200),
        ("/console/guard", 200),
        ("/console/guard?number=%2B14155550123", 200),
    ];
    for (path, status) in pages {
        let answer = request(&app, "GET", path, Some(&cookie), None, &[]).await;
        assert_eq!(answer.status, status, "{path}: {}", answer.body);
        assert_security_headers(&answer, path);
        assert_eq!(answer.header("cache-control"), "no-store", "{path}");
        assert!(answer.header("content-type").starts_with("text/html"));
        // Nothing the CSP would block: no inline script, no style attribute.
        assert!(!answer.body.contains("<script>"), "{path}");
        assert!(!answer.body.contains("style="), "{path}");
        assert!(answer.body.contains("src=\"/console/static/console.js\""));
    }
}

#[tokio::test]
async fn the_session_cookie_is_http_only_strict_and_expires() {
    let app = router(with_admin_token());
    let answer = post_login(&app, &[]).await;
    let cookie = answer.header("set-cookie");
    for attribute in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/console",
        "Max-Age=28800",
    ] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    // Plain HTTP on loopback: a Secure cookie would never come back.
    assert!(!cookie.contains("Secure"), "{cookie}");

    // Behind a TLS proxy, or when configured, it is Secure.
    let proxied = post_login(&app, &[("x-forwarded-proto", "https")]).await;
    assert!(proxied.header("set-cookie").ends_with("; Secure"));
    let mut config = with_admin_token();
    config.console.secure_cookie = true;
    config.console.session_idle_minutes = 30;
    let configured = router(config);
    let answer = post_login(&configured, &[]).await;
    let cookie = answer.header("set-cookie");
    assert!(
        cookie.contains("Max-Age=1800") && cookie.ends_with("; Secure"),
        "{cookie}"
    );
}

#[tokio::test]
async fn a_wrong_token_gets_the_login_page_again_with_401() {
    let app = router(with_admin_token());
    for wrong in ["token=admin-token-0123456789abcdeX", "token=", "other=1"] {
        let answer = request(&app, "POST", "/console/login", None, Some(wrong), &[]).await;
        assert_eq!(answer.status, 401, "{wrong}");
        assert!(answer.body.contains("That is not the admin token"));
        assert!(answer.body.contains("name=\"token\""), "the form again");
        assert!(answer.header("set-cookie").is_empty());
        assert_security_headers(&answer, wrong);
    }
    let slash = request(&app, "GET", "/console/", None, None, &[]).await;
    assert_eq!((slash.status, slash.header("location")), (303, "/console"));
    // Without a session every page leads to the login page.
    let answer = request(&app, "GET", "/console/plugins", None, None, &[]).await;
    assert_eq!(answer.status, 303);
    assert_eq!(answer.header("location"), "/console/login");
    let forged = request(
        &app,
        "GET",
        "/console",
        Some("phonehook_console=00112233"),
        None,
        &[],
    )
    .await;
    assert_eq!(forged.header("location"), "/console/login");
}

#[tokio::test]
async fn a_post_without_the_sessions_csrf_token_is_refused_with_403() {
    let app = router(with_admin_token());
    let cookie = login(&app).await;
    let other = login(&app).await;
    let page = request(&app, "GET", "/console/plugins", Some(&cookie), None, &[]).await;
    let token = page.csrf();
    let other_token = request(&app, "GET", "/console", Some(&other), None, &[])
        .await
        .csrf();
    assert_ne!(token, other_token, "each session has its own token");

    let forms = [
        ("/console/plugins/sandbox/activate", String::new()),
        ("/console/plugins/sandbox/activate", "csrf=".to_owned()),
        (
            "/console/plugins/sandbox/activate",
            format!("csrf={other_token}"),
        ),
        (
            "/console/plugins/sandbox/test",
            format!("number=%2B14155550123&text=hi&csrf={}x", token),
        ),
        ("/console/logout", "csrf=0".to_owned()),
        ("/console/guard/reset", "number=%2B14155550123".to_owned()),
        (
            "/console/guard/safe-list-add",
            format!("entry=%2B1555&note=qa&csrf={other_token}"),
        ),
        (
            "/console/guard/safe-list-remove",
            "entry=%2B1555".to_owned(),
        ),
    ];
    for (path, form) in &forms {
        let answer = post_form(&app, path, &cookie, form).await;
        assert_eq!(answer.status, 403, "{path} {form}: {}", answer.body);
        assert_security_headers(&answer, path);
    }
    // The refused logout did not end the session.
    let still = request(&app, "GET", "/console", Some(&cookie), None, &[]).await;
    assert_eq!(still.status, 200);

    // With the token the same form is carried out (here: no such plugin).
    let answer = post_form(
        &app,
        "/console/plugins/sandbox/activate",
        &cookie,
        &format!("csrf={token}"),
    )
    .await;
    assert_eq!(answer.status, 404, "{}", answer.body);
    assert!(answer.body.contains("unknown_plugin"));
}

#[tokio::test]
async fn logging_out_ends_the_session_on_the_server() {
    let app = router(with_admin_token());
    let (cookie, token) = logged_in(&app).await;
    let answer = post_form(&app, "/console/logout", &cookie, &format!("csrf={token}")).await;
    assert_eq!(answer.status, 303);
    assert_eq!(answer.header("location"), "/console/login");
    assert!(answer.header("set-cookie").contains("Max-Age=0"));
    // The old cookie, replayed as is, opens nothing.
    for path in ["/console", "/console/plugins", "/console/logs"] {
        let after = request(&app, "GET", path, Some(&cookie), None, &[]).await;
        assert_eq!(after.status, 303, "{path}");
        assert_eq!(after.header("location"), "/console/login");
    }
    let login_page = request(&app, "GET", "/console/login", Some(&cookie), None, &[]).await;
    assert_eq!(login_page.status, 200);
    assert!(login_page.body.contains("name=\"token\""));
}

#[tokio::test]
async fn without_an_admin_token_the_login_page_says_how_to_set_one() {
    let app = router(Config::default());
    let answer = request(&app, "GET", "/console/login", None, None, &[]).await;
    assert_eq!(answer.status, 503);
    assert!(answer.body.contains("No admin token is configured"));
    assert!(answer.body.contains("PHONEHOOK_ADMIN_TOKEN"));
    assert!(
        !answer.body.contains("name=\"token\""),
        "no form that cannot work"
    );
    assert_security_headers(&answer, "login");
    let post = request(&app, "POST", "/console/login", None, Some("token=x"), &[]).await;
    assert_eq!(post.status, 503);
    assert!(post.header("set-cookie").is_empty());
    let page = request(&app, "GET", "/console", None, None, &[]).await;
    assert_eq!(page.header("location"), "/console/login");
}

#[tokio::test]
async fn no_page_carries_the_admin_token_or_a_full_number() {
    let app = router(with_admin_token());
    let (cookie, token) = logged_in(&app).await;
    // A test message: validated (the number is fine), then refused for want
    // of a plugin; the outcome names neither the number nor the text.
    let sent = post_form(&app, "/console/plugins/nosuch/test", &cookie, &format!(
            "number=%2B14155550123&text=Your+code+is+864213&channel=sms&language=en&code=864213&csrf={token}"
        )).await;
    assert_eq!(sent.status, 404, "{}", sent.body);
    assert!(sent.body.contains("unknown_plugin"));
    let mut pages = vec![sent.body];
    // A reset shows the number it reset, masked.
    let form = format!("number=%2B14155550123&csrf={token}");
    let reset = post_form(&app, "/console/guard/reset", &cookie, &form).await;
    assert_eq!(reset.status, 200, "{}", reset.body);
    assert!(reset.body.contains("+1********23"));
    pages.push(reset.body);
    for path in [
        "/console",
        "/console/plugins",
        "/console/logs",
        "/console/plugins/sandbox/activate",
        "/console/guard?number=%2B14155550123",
        "/console/guard?number=4155550123",
    ] {
        pages.push(
            request(&app, "GET", path, Some(&cookie), None, &[])
                .await
                .body,
        );
    }
    pages.push(
        request(&app, "GET", "/console/login", None, None, &[])
            .await
            .body,
    );
    for page in &pages {
        assert!(!page.contains(ADMIN), "the admin token in a page");
        assert!(!page.contains(NUMBER) && !page.contains("4155550123"));
        assert!(!page.contains("864213"), "the code in a page");
    }
}

#[tokio::test]
async fn a_bearer_token_opens_no_console_page() {
    // The console is its own access group: only its session cookie opens
    // it, so a script holding the admin token (which never has the CSRF
    // token) cannot post its forms either.
    let app = router(with_admin_token());
    let routes = [
        ("GET", "/console"),
        ("GET", "/console/plugins"),
        ("GET", "/console/plugins/sandbox/activate"),
        ("POST", "/console/plugins/sandbox/activate"),
        ("GET", "/console/plugins/sandbox/test"),
        ("POST", "/console/plugins/sandbox/test"),
        ("GET", "/console/logs"),
        ("GET", "/console/logs/ev_0"),
        ("GET", "/console/guard"),
        ("POST", "/console/guard/reset"),
        ("POST", "/console/guard/safe-list-add"),
        ("POST", "/console/guard/safe-list-remove"),
        ("POST", "/console/logout"),
    ];
    for (method, path) in routes {
        for token in [ADMIN, phonehook::inbox::token()] {
            let bearer = format!("Bearer {token}");
            let form = (method == "POST").then_some("csrf=x");
            let answer = request(
                &app,
                method,
                path,
                None,
                form,
                &[("authorization", bearer.as_str())],
            )
            .await;
            assert_eq!(answer.status, 303, "{method} {path}");
            assert_eq!(answer.header("location"), "/console/login");
            assert_security_headers(&answer, path);
        }
    }
}

#[tokio::test]
async fn the_guard_page_shows_every_rule_and_one_number_masked() {
    let app = router(with_admin_token());
    let (cookie, _) = logged_in(&app).await;
    let page = get(&app, "/console/guard", &cookie).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page
        .body
        .contains("href=\"/console/guard\" aria-current=\"page\""));
    assert!(page.body.contains("enforce"), "the mode");
    // The defaults: three counting rules on, per country off, the backoff.
    for rule in [
        "rule-per_number",
        "rule-per_ip",
        "rule-per_prefix",
        "rule-per_country",
        "rule-backoff",
        "rule-country",
        "rule-number_type",
    ] {
        assert!(page.body.contains(&format!("id=\"{rule}\"")), "{rule}");
    }
    for setting in [
        "10 per 3600 s",
        "50 per 3600 s",
        "30 per 3600 s",
        "after 3 messages",
    ] {
        assert!(page.body.contains(setting), "{setting}");
    }
    assert!(page.body.contains("/console/logs?type=guard_blocked"));
    assert!(
        !page.body.contains("guard_would_block"),
        "the monitor link only in monitor mode"
    );

    // One number, as `GET /api/v1/guard/numbers/{number}` reads it: masked.
    let lookup = get(&app, "/console/guard?number=%2B1+415+555+0123", &cookie).await;
    assert_eq!(lookup.status, 200, "{}", lookup.body);
    assert!(lookup.body.contains("id=\"number-status\""));
    assert!(lookup.body.contains("+1********23"));
    assert!(
        lookup
            .body
            .contains("id=\"status-counted-by\">this instance<"),
        "{}",
        lookup.body
    );
    assert!(!lookup.body.contains("4155550123") && !lookup.body.contains("555 0123"));
    // A number the send routes would refuse is refused the same way.
    let invalid = get(&app, "/console/guard?number=not-a-number", &cookie).await;
    assert_eq!(invalid.status, 422, "{}", invalid.body);
    assert!(invalid.body.contains("invalid_recipient"));
    assert!(
        invalid.body.contains("id=\"guard-rules\""),
        "the page still"
    );

    // The overview sums the same refusals and links here.
    let overview = get(&app, "/console", &cookie).await;
    assert!(overview.body.contains("id=\"guard-refusals\""));
    assert!(overview.body.contains("href=\"/console/guard\""));
}

#[tokio::test]
async fn the_safe_list_forms_edit_the_guards_safe_list() {
    let mut config = with_admin_token();
    config.guard.safe_list = vec!["+1800".to_owned()];
    let (app, state) = with_state(config);
    let (cookie, token) = logged_in(&app).await;
    let listed = || -> Vec<String> {
        state
            .guard
            .safe_list()
            .entries()
            .into_iter()
            .map(|e| e.entry)
            .collect()
    };
    assert_eq!(listed(), ["+1800"]);

    // Each form in turn: what it answers, a text the page shows, and the
    // list after it. Malformed and configured entries are refused inline.
    let steps: [(&str, &str, u16, &str, &[&str]); 6] = [
        (
            "safe-list-add",
            "entry=+%2B1555+&note=QA+phones",
            200,
            "QA phones",
            &["+1555", "+1800"],
        ),
        (
            "safe-list-add",
            "entry=1555",
            422,
            "invalid_safe_list_entry",
            &["+1555", "+1800"],
        ),
        (
            "safe-list-remove",
            "entry=%2B1800",
            409,
            "remove it there",
            &["+1555", "+1800"],
        ),
        (
            "safe-list-remove",
            "entry=%2B1555",
            200,
            "is off the safe list",
            &["+1800"],
        ),
        (
            "safe-list-remove",
            "entry=%2B1555",
            404,
            "no such safe-list entry",
            &["+1800"],
        ),
        ("nosuch", "entry=%2B1555", 404, "no such form", &["+1800"]),
    ];
    for (action, form, status, shown, after) in steps {
        let path = format!("/console/guard/{action}");
        let answer = post_form(&app, &path, &cookie, &format!("{form}&csrf={token}")).await;
        assert_eq!(answer.status, status, "{action} {form}: {}", answer.body);
        assert!(answer.body.contains(shown), "{action} {form}: {shown}");
        assert_eq!(listed(), after, "{action} {form}");
    }
    // An added entry has its remove form; a configured one says where it is.
    let page = get(&app, "/console/guard", &cookie).await;
    assert!(page
        .body
        .contains("in the configuration file (guard.safe_list)"));
}

#[tokio::test]
async fn in_monitor_mode_the_guard_page_links_what_it_would_have_refused() {
    let mut config = with_admin_token();
    config.guard.mode = phonehook::guard::GuardMode::Monitor;
    let app = router(config);
    let (cookie, _) = logged_in(&app).await;
    let page = get(&app, "/console/guard", &cookie).await;
    assert!(page.body.contains("monitor"), "{}", page.body);
    assert!(page.body.contains("/console/logs?type=guard_would_block"));
    assert!(page.body.contains("/console/logs?type=guard_blocked"));
    let overview = get(&app, "/console", &cookie).await;
    assert!(overview
        .body
        .contains("would have been refused (monitor mode)"));
}
