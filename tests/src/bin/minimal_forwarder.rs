//! The end-to-end benchmark's yardstick: the least a server can do to turn an
//! Auth0 send-phone-message hook into a Twilio message. hyper 1 on both sides
//! and nothing else — no framework, no logging, no validation: read the hook
//! JSON, make one form POST through hyper-util's pooled client, read the
//! reply's `sid`, answer `{"MessageID": sid}`. phonehook's cost per message is
//! measured against this.
//!
//! Run: `minimal_forwarder 127.0.0.1:PORT http://VENDOR` (prints the bound
//! address on the first line of stdout).

use std::borrow::Cow;
use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde::{Deserialize, Serialize};

const ACCOUNT_SID: &str = "AC00000000000000000000000000000000";
const AUTH_TOKEN: &str = "token";
const FROM: &str = "+15005550006";

/// The fields of the hook this forwarder needs.
#[derive(Deserialize)]
struct Hook<'a> {
    #[serde(borrow)]
    recipient: Cow<'a, str>,
    #[serde(borrow)]
    text: Cow<'a, str>,
}

/// The field of Twilio's reply this forwarder needs.
#[derive(Deserialize)]
struct Created<'a> {
    #[serde(borrow)]
    sid: Cow<'a, str>,
}

/// The answer Auth0's hook expects.
#[derive(Serialize)]
struct Sent<'a> {
    #[serde(rename = "MessageID")]
    message_id: &'a str,
}

struct Forwarder {
    client: Client<HttpConnector, Full<Bytes>>,
    messages: Uri,
    authorization: HeaderValue,
}

fn respond(status: StatusCode, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

fn error(status: StatusCode, what: &'static str) -> Response<Full<Bytes>> {
    respond(status, format!(r#"{{"error":"{what}"}}"#).into_bytes())
}

impl Forwarder {
    async fn send(&self, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
        let Ok(body) = req.into_body().collect().await.map(|b| b.to_bytes()) else {
            return Ok(error(StatusCode::BAD_REQUEST, "body"));
        };
        let Ok(hook) = serde_json::from_slice::<Hook>(&body) else {
            return Ok(error(StatusCode::BAD_REQUEST, "json"));
        };
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("To", &hook.recipient)
            .append_pair("From", FROM)
            .append_pair("Body", &hook.text)
            .finish();
        let mut out = Request::new(Full::new(Bytes::from(form)));
        *out.method_mut() = Method::POST;
        *out.uri_mut() = self.messages.clone();
        let headers = out.headers_mut();
        headers.insert(AUTHORIZATION, self.authorization.clone());
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        let Ok(reply) = self.client.request(out).await else {
            return Ok(error(StatusCode::BAD_GATEWAY, "vendor"));
        };
        let created = reply.status().is_success();
        let Ok(reply) = reply.into_body().collect().await.map(|b| b.to_bytes()) else {
            return Ok(error(StatusCode::BAD_GATEWAY, "vendor"));
        };
        let sent = serde_json::from_slice::<Created>(&reply)
            .ok()
            .filter(|_| created)
            .and_then(|c| serde_json::to_vec(&Sent { message_id: &c.sid }).ok());
        Ok(match sent {
            Some(body) => respond(StatusCode::OK, body),
            None => error(StatusCode::BAD_GATEWAY, "no sid"),
        })
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:0".into());
    let vendor = args.next().unwrap_or_else(|| "http://127.0.0.1:9".into());
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let forwarder: &'static Forwarder = Box::leak(Box::new(Forwarder {
        client: Client::builder(TokioExecutor::new()).build(connector),
        messages: format!("{vendor}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json").parse()?,
        authorization: HeaderValue::from_str(&phonehook_plugin_api::encoding::basic_auth(
            ACCOUNT_SID,
            AUTH_TOKEN,
        ))?,
    }));
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("{}", listener.local_addr()?);
    loop {
        // A failed accept (out of descriptors) ends one connection, not the server.
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(
                    TokioIo::new(stream),
                    service_fn(move |req| forwarder.send(req)),
                )
                .await;
        });
    }
}
