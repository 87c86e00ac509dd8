//! The admin console in a real browser: headless Chromium (Debian's
//! `chromium` and `chromium-driver`) against a real phonehook on loopback.
//! Logs in (a wrong token first), reads the overview, activates another
//! plugin and checks the JSON API agrees, sends a test message through the
//! sandbox and finds it in the inbox, filters the log to one user and opens
//! the event, puts a prefix on the guard's safe list, is refused a POST
//! without the CSRF token, and logs out.
//! With `PHONEHOOK_SCREENSHOTS=1` it writes each page to `docs/console/`.
//! Run with `cargo test -p phonehook-e2e --test console`.

mod browser;

use std::time::Duration;

use browser::Browser;
use fantoccini::{Client, Locator};
use phonehook_e2e::Host;
use serde_json::{json, Value};

const ADMIN: &str = "console-admin-token-0123456789";
const SEND: &str = "console-send-token-0123456789";
/// The test message's number and code: no page may show either.
const NUMBER: &str = "+14155550123";
const CODE: &str = "864213";

fn hook(user: &str, recipient: &str) -> Value {
    json!({
        "recipient": recipient,
        "text": "Your code is 371902",
        "context": {
            "message_type": "sms",
            "language": "en",
            "code": "371902",
            "user": {"user_id": user},
            "client": {"client_id": "console-tests"}
        }
    })
}

async fn css(client: &Client, selector: &str) -> fantoccini::elements::Element {
    let found = client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(selector))
        .await;
    match found {
        Ok(element) => element,
        Err(e) => {
            let url = client.current_url().await;
            let source = client.source().await.unwrap_or_default();
            panic!("{selector} not found on {url:?}: {e}\n{source}")
        }
    }
}

async fn type_into(client: &Client, selector: &str, keys: &str) {
    css(client, selector).await.send_keys(keys).await.unwrap();
}

async fn click(client: &Client, selector: &str) {
    css(client, selector).await.click().await.unwrap();
}

async fn text(client: &Client, selector: &str) -> String {
    css(client, selector).await.text().await.unwrap()
}

async fn path(client: &Client) -> String {
    client.current_url().await.unwrap().path().to_owned()
}

/// The page's source, checked for what must never be on a page.
async fn checked_source(client: &Client, what: &str) -> String {
    let source = client.source().await.unwrap();
    assert!(
        !source.contains(ADMIN),
        "{what}: the admin token on the page"
    );
    assert!(
        !source.contains(NUMBER),
        "{what}: a full number on the page"
    );
    assert!(!source.contains("4155550123"), "{what}: a full number");
    assert!(!source.contains("8085555555"), "{what}: a full number");
    assert!(
        !source.contains(CODE) && !source.contains("371902"),
        "{what}: a code"
    );
    source
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_uses_the_console_in_a_browser() {
    let host = Host::builder()
        .plugin("fixture-echo-v1")
        .plugin("phonehook-plugin-twilio")
        .config("admin_token", ADMIN)
        .config("send_token", SEND)
        // On, with its defaults: the traffic below stays under every limit.
        .guard()
        .start()
        .await;
    // Traffic for the chart and the log: two users, one failure (the
    // sandbox's failing number).
    for (user, recipient) in [
        ("user-alice", "+18085555555"),
        ("user-bob", "+18085555555"),
        ("user-alice", "+18085555555"),
        ("user-carol", "+15005550001"),
    ] {
        host.send(hook(user, recipient)).await;
    }
    let browser = Browser::start().await;
    let c = &browser.client;
    let viewport = c
        .execute("return [window.innerWidth, window.innerHeight];", vec![])
        .await
        .unwrap();
    assert_eq!(viewport, json!([browser::WIDTH, browser::HEIGHT]));
    let base = host.url().to_owned();

    // Every page leads to the login page first; a wrong token is refused.
    c.goto(&format!("{base}/console")).await.unwrap();
    assert_eq!(path(c).await, "/console/login");
    type_into(c, "#token", "not-the-admin-token").await;
    click(c, "section.login button[type=submit]").await;
    assert!(text(c, "p.error")
        .await
        .contains("That is not the admin token"));
    assert_eq!(path(c).await, "/console/login");
    checked_source(c, "login refused").await;
    browser.screenshot("login").await;

    // The right token: the overview names the active plugin.
    type_into(c, "#token", ADMIN).await;
    click(c, "section.login button[type=submit]").await;
    assert_eq!(text(c, "#active-name").await, "sandbox");
    assert_eq!(path(c).await, "/console");
    assert_eq!(text(c, "#active-source").await, "configuration");
    let caption = text(c, "figure.chart figcaption").await;
    assert!(
        caption.contains("4 attempts") && caption.contains("1 failed"),
        "{caption}"
    );
    checked_source(c, "overview").await;
    browser.screenshot("overview").await;

    // Plugins: activate echo, through the confirmation step.
    click(c, "nav a[href='/console/plugins']").await;
    let twilio = text(c, "#plugin-twilio").await;
    assert!(twilio.contains("unset"), "secrets shown as unset: {twilio}");
    checked_source(c, "plugins").await;
    browser.screenshot("plugins").await;
    click(c, "#plugin-echo a[href$='/activate']").await;
    let question = text(c, "main").await;
    assert!(question.contains("Activate echo?"), "{question}");
    assert!(question.contains("Now sandbox serves"), "{question}");
    browser.screenshot("activate").await;
    click(c, "#confirm-activate").await;
    assert!(text(c, "#activation").await.contains("echo now serves"));
    let (status, active) = host.admin("GET", "/api/v1/active-plugin", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        (active["name"].as_str(), active["source"].as_str()),
        (Some("echo"), Some("api"))
    );
    c.goto(&format!("{base}/console")).await.unwrap();
    assert_eq!(text(c, "#active-name").await, "echo");
    assert_eq!(text(c, "#active-source").await, "api");

    // A test message through the sandbox (not the active plugin now).
    c.goto(&format!("{base}/console/plugins/sandbox/test"))
        .await
        .unwrap();
    type_into(c, "#number", NUMBER).await;
    type_into(c, "#text", &format!("Your code is {CODE}")).await;
    type_into(c, "#code", CODE).await;
    click(c, "#send-test").await;
    let outcome = text(c, "#test-outcome").await;
    assert!(outcome.contains("Delivered"), "{outcome}");
    let vendor_id = text(c, "#vendor-id").await;
    let event_id = text(c, "#event-id").await;
    assert!(event_id.starts_with("ev_"), "{event_id}");
    checked_source(c, "test message").await;
    browser.screenshot("test-message").await;
    let inbox = host.inbox().await;
    let delivered = inbox
        .iter()
        .find(|m| m["id"].as_str() == Some(vendor_id.as_str()))
        .unwrap_or_else(|| panic!("{vendor_id} in the inbox: {inbox:?}"));
    assert_eq!(delivered["to"], NUMBER);
    assert!(delivered["text"].as_str().unwrap().contains(CODE));

    // The log, filtered to one user; then one event.
    click(c, "nav a[href='/console/logs']").await;
    type_into(c, "#f-user_id", "user-alice").await;
    click(c, "#apply-filters").await;
    // The unfiltered page's table is still there until the filtered page
    // loads, and the log writes in batches: wait for the filtered page, and
    // for both of alice's events in it.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let users = loop {
        let url = c.current_url().await.unwrap();
        let filtered = url
            .query()
            .is_some_and(|q| q.contains("user_id=user-alice"));
        let users = if filtered {
            c.find_all(Locator::Css("table.events td.user"))
                .await
                .unwrap()
        } else {
            Vec::new()
        };
        if users.len() >= 2 {
            break users;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "alice's two messages: filtered={filtered}, found {}",
            users.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        if filtered {
            c.refresh().await.unwrap();
        }
    };
    assert_eq!(users.len(), 2, "alice's two messages");
    for user in &users {
        assert_eq!(user.text().await.unwrap(), "user-alice");
    }
    checked_source(c, "log").await;
    browser.screenshot("log").await;
    click(c, "table.events a.event").await;
    let fields = text(c, "#event-fields").await;
    assert!(
        fields.contains("user-alice") && fields.contains("+1********55"),
        "{fields}"
    );
    assert!(path(c).await.starts_with("/console/logs/ev_"));
    checked_source(c, "event").await;
    browser.screenshot("event").await;
    // The test message's event, by the id a support ticket would quote.
    c.goto(&format!("{base}/console/logs/{event_id}"))
        .await
        .unwrap();
    let fields = text(c, "#event-fields").await;
    assert!(
        fields.contains("runner") && fields.contains("+1********23"),
        "{fields}"
    );

    // Pages: five events (four sends, one test message), two a page, each
    // page continuing where the last stopped.
    c.goto(&format!("{base}/console/logs?limit=2"))
        .await
        .unwrap();
    let mut seen: Vec<String> = Vec::new();
    loop {
        let links = c
            .find_all(Locator::Css("table.events a.event"))
            .await
            .unwrap();
        assert!(
            !links.is_empty() && links.len() <= 2,
            "{} rows",
            links.len()
        );
        for link in links {
            seen.push(link.text().await.unwrap());
        }
        let next = c.find_all(Locator::Css("#next-page")).await.unwrap();
        match next.first() {
            Some(next) => next.click().await.unwrap(),
            None => break,
        }
        assert!(seen.len() < 10, "the pages do not end: {seen:?}");
    }
    assert_eq!(seen.len(), 5, "{seen:?}");
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 5, "no event twice: {seen:?}");
    assert!(seen.contains(&event_id));

    // The guard: its rules, and a prefix put on the safe list.
    click(c, "nav a[href='/console/guard']").await;
    let rules = text(c, "#guard-rules").await;
    assert!(rules.contains("10 per 3600 s"), "{rules}");
    type_into(c, "#safe-entry", "+1555").await;
    type_into(c, "#safe-note", "QA phones").await;
    click(c, "#add-entry").await;
    assert!(text(c, "#guard-outcome").await.contains("+1555"));
    let listed = text(c, "#safe-entries").await;
    assert!(
        listed.contains("+1555") && listed.contains("QA phones"),
        "{listed}"
    );
    let (_, safe) = host.admin("GET", "/api/v1/guard/safe-list", None).await;
    assert_eq!(safe["entries"][0]["entry"], "+1555", "{safe}");
    c.goto(&format!("{base}/console/guard")).await.unwrap();
    checked_source(c, "guard").await;
    browser.screenshot("guard").await;

    // A POST without the CSRF token is refused, and changes nothing.
    let status = c
        .execute(
            "return fetch('/console/plugins/sandbox/activate', \
             {method: 'POST', body: new URLSearchParams({name: 'sandbox'})}).then(r => r.status);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(status, json!(403));
    let (_, active) = host.admin("GET", "/api/v1/active-plugin", None).await;
    assert_eq!(active["name"], "echo");

    // Logging out: the next page load is the login page.
    click(c, "form.logout button").await;
    css(c, "#token").await;
    c.goto(&format!("{base}/console/plugins")).await.unwrap();
    assert_eq!(path(c).await, "/console/login");
    css(c, "#token").await;

    browser.close().await;
    host.shutdown().await;
}
