//! The egress connect timeout covers the whole connection set-up, the TLS
//! handshake included: a vendor that accepts the TCP connection and then
//! never answers the handshake is `vendor_unreachable` after
//! `vendor.connect_timeout_ms`, not `vendor_timeout` at the end of the much
//! longer request deadline.

use std::time::Duration;

use phonehook_e2e::Host;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vendor_that_stalls_the_tls_handshake_fails_at_the_connect_timeout() {
    // Accepts connections and holds them open without a byte of TLS.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let host = Host::builder()
        .plugin("phonehook-plugin-twilio")
        .active("twilio")
        .setting("twilio", "base_url", format!("https://127.0.0.1:{port}"))
        .secret(
            "twilio",
            "TWILIO_ACCOUNT_SID",
            "AC0123456789abcdef0123456789abcdef",
        )
        .secret(
            "twilio",
            "TWILIO_AUTH_TOKEN",
            "f00dfacef00dfacef00dfacef00dface",
        )
        .secret("twilio", "TWILIO_PHONE_NUMBER", "+15005550006")
        .config("vendor.connect_timeout_ms", 300)
        // Far beyond the connect timeout: which one fired shows in the code.
        .config("vendor.timeout_ms", 60_000)
        .start()
        .await;
    let sent = tokio::time::timeout(
        Duration::from_secs(30),
        host.send(
            json!({"recipient": "+14155550100", "text": "Your code is 123456",
                         "context": {"message_type": "sms", "code": "123456"}}),
        ),
    )
    .await;
    let Ok((status, body)) = sent else {
        panic!("no answer within 30 s: the connect timeout did not cover the TLS handshake");
    };
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (502, Some("vendor_unreachable")),
        "{body}"
    );
}
