//! The end-to-end benchmark's vendor: a Twilio-shaped Messages API in a
//! process of its own, so the vendor, the server under test and the load
//! generator never share a runtime. Every POST is answered at once with
//! `201` and the message resource Twilio returns for a queued SMS; nothing is
//! checked (the functional mock in `tests/src/mocks/twilio.rs` does that).
//! Prints the bound address on the first line of stdout.
//!
//! Run: `mock_twilio [127.0.0.1:PORT]` (default: a free loopback port).

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

/// A queued message, as Twilio's `POST .../Messages.json` answers it (its
/// size matters: the server under test reads and parses all of it).
const CREATED: &str = r#"{"account_sid": "AC00000000000000000000000000000000", "api_version": "2010-04-01", "body": "Your code is 123456", "date_created": "Thu, 24 Aug 2023 05:01:45 +0000", "date_sent": null, "date_updated": "Thu, 24 Aug 2023 05:01:45 +0000", "direction": "outbound-api", "error_code": null, "error_message": null, "from": "+15005550006", "num_media": "0", "num_segments": "1", "price": null, "price_unit": null, "messaging_service_sid": null, "sid": "SM00000000000000000000000000000001", "status": "queued", "subresource_uris": {"media": "/2010-04-01/Accounts/AC00000000000000000000000000000000/Messages/SM00000000000000000000000000000001/Media.json"}, "to": "+14155552671", "uri": "/2010-04-01/Accounts/AC00000000000000000000000000000000/Messages/SM00000000000000000000000000000001.json"}"#;

async fn answer(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    // Read the whole request, as a real vendor does, before answering.
    let status = match req.into_body().collect().await {
        Ok(_) => StatusCode::CREATED,
        Err(_) => StatusCode::BAD_REQUEST,
    };
    let mut resp = Response::new(Full::new(Bytes::from_static(CREATED.as_bytes())));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(resp)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("{}", listener.local_addr()?);
    loop {
        // A failed accept (out of descriptors) ends one connection, not the mock.
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(answer))
                .await;
        });
    }
}
