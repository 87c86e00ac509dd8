//! The benchmark's yardstick: the least a gateway can do for one message —
//! parse the inbound JSON, make one pooled form request to Twilio's Messages
//! API, read the `sid`, answer `{"MessageID"}`. No plugin, no validation, no
//! log. Run: `minimal_gateway 127.0.0.1:PORT http://VENDOR`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

const SID: &str = "AC00000000000000000000000000000000";

#[derive(Clone)]
struct Gateway {
    client: reqwest::Client,
    url: String,
}

async fn send(State(gw): State<Gateway>, Json(msg): Json<Value>) -> (StatusCode, Json<Value>) {
    let form = [
        ("To", msg["recipient"].as_str().unwrap_or_default()),
        ("From", "+15005550006"),
        ("Body", msg["text"].as_str().unwrap_or_default()),
    ];
    let reply = gw
        .client
        .post(&gw.url)
        .basic_auth(SID, Some("token"))
        .form(&form)
        .send()
        .await;
    let Ok(reply) = reply else {
        return (StatusCode::BAD_GATEWAY, Json(json!({"error": "vendor"})));
    };
    let body: Value = reply.json().await.unwrap_or_default();
    match body["sid"].as_str() {
        Some(sid) => (StatusCode::OK, Json(json!({ "MessageID": sid }))),
        None => (StatusCode::BAD_GATEWAY, Json(json!({"error": "no sid"}))),
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:0".into());
    let vendor = args.next().unwrap_or_else(|| "http://127.0.0.1:9".into());
    let gw = Gateway {
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .tcp_nodelay(true)
            .build()
            .expect("client"),
        url: format!("{vendor}/2010-04-01/Accounts/{SID}/Messages.json"),
    };
    let app = Router::new()
        .route("/api/v1/messages", post(send))
        .with_state(gw);
    let listener = tokio::net::TcpListener::bind(&listen).await.expect("bind");
    println!("{}", listener.local_addr().expect("addr"));
    axum::serve(listener, app).await.expect("serve");
}
