//! Fault injection: a vendor that misbehaves at the TCP and HTTP level, and
//! callers that abuse the server. Each fault gets a clear error within the
//! configured deadline, memory stays bounded, and the next message to a
//! healthy vendor (or from a well-behaved caller) goes through.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use phonehook_e2e::load::rss_mib;
use phonehook_e2e::mocks::twilio::{ACCOUNT_SID, AUTH_TOKEN, FROM};
use phonehook_e2e::Host;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the raw vendor does with the next request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// Twilio's 201 with a message sid.
    Healthy,
    /// Reads the request and never answers.
    Silent,
    /// Sends a healthy reply one byte at a time, slower than the deadline.
    Dribble,
    /// Promises 200 bytes of body, sends 20, closes.
    CloseMidReply,
    /// 200 with an empty body.
    EmptyOk,
    /// 201 with JSON cut off in the middle (and a matching length).
    TruncatedJson,
    /// 201 with JSON holding bytes that are not UTF-8.
    InvalidUtf8,
    /// 200 with an HTML page where JSON belongs.
    WrongContentType,
    /// 200 with a chunked body of 512 MiB.
    Huge,
}

const HEALTHY_BODY: &str = r#"{"sid": "SM0123456789abcdef0123456789abcdef", "status": "queued"}"#;
const HUGE_BYTES: usize = 512 * 1024 * 1024;

/// A vendor written on raw TCP, so it can break HTTP in ways a framework won't.
struct RawVendor {
    url: String,
    fault: Arc<Mutex<Fault>>,
    task: tokio::task::JoinHandle<()>,
}

impl RawVendor {
    async fn start() -> RawVendor {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let fault = Arc::new(Mutex::new(Fault::Healthy));
        let current = fault.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let fault = *current.lock().unwrap_or_else(|p| p.into_inner());
                tokio::spawn(serve(stream, fault));
            }
        });
        RawVendor { url, fault, task }
    }

    fn set(&self, fault: Fault) {
        *self.fault.lock().unwrap_or_else(|p| p.into_inner()) = fault;
    }
}

impl Drop for RawVendor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one request (head and `content-length` body), then misbehaves.
async fn serve(mut stream: TcpStream, fault: Fault) {
    if read_request(&mut stream).await.is_none() {
        return;
    }
    let head = |status: &str, ct: &str, len: usize| {
        format!("HTTP/1.1 {status}\r\ncontent-type: {ct}\r\ncontent-length: {len}\r\nconnection: close\r\n\r\n")
    };
    let json = "application/json; charset=utf-8";
    let reply: Vec<u8> = match fault {
        Fault::Healthy => [
            head("201 Created", json, HEALTHY_BODY.len()).as_bytes(),
            HEALTHY_BODY.as_bytes(),
        ]
        .concat(),
        Fault::Silent => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            return;
        }
        Fault::Dribble => {
            let all = [
                head("201 Created", json, HEALTHY_BODY.len()).as_bytes(),
                HEALTHY_BODY.as_bytes(),
            ]
            .concat();
            for byte in all {
                if stream.write_all(&[byte]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            return;
        }
        Fault::CloseMidReply => [
            head("200 OK", json, 200).as_bytes(),
            &HEALTHY_BODY.as_bytes()[..20],
        ]
        .concat(),
        Fault::EmptyOk => head("200 OK", json, 0).into_bytes(),
        Fault::TruncatedJson => {
            let cut = &HEALTHY_BODY.as_bytes()[..25];
            [head("201 Created", json, cut.len()).as_bytes(), cut].concat()
        }
        Fault::InvalidUtf8 => {
            let body = b"{\"sid\": \"SM\xff\xfe\xfd\", \"status\": \"queued\"}";
            [head("201 Created", json, body.len()).as_bytes(), body].concat()
        }
        Fault::WrongContentType => {
            let body = "<html><body><h1>Gateway OK</h1></body></html>";
            [
                head("200 OK", "text/html", body.len()).as_bytes(),
                body.as_bytes(),
            ]
            .concat()
        }
        Fault::Huge => {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
            if stream.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let chunk = [b"10000\r\n".as_slice(), &[b'a'; 0x10000], b"\r\n"].concat();
            for _ in 0..HUGE_BYTES / 0x10000 {
                // The host hangs up once it has seen enough; that ends this.
                if stream.write_all(&chunk).await.is_err() {
                    return;
                }
            }
            let _ = stream.write_all(b"0\r\n\r\n").await;
            return;
        }
    };
    let _ = stream.write_all(&reply).await;
    let _ = stream.shutdown().await;
}

/// Reads the head and a `content-length` body; `None` if the peer left.
async fn read_request(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = stream.read(&mut chunk).await.ok().filter(|&n| n > 0)?;
                buf.extend_from_slice(&chunk[..n]);
            }
            return Some(buf);
        }
        let n = stream.read(&mut chunk).await.ok().filter(|&n| n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    }
}

const TIMEOUT_MS: u64 = 1_000;

async fn twilio_host(vendor: &RawVendor) -> Host {
    Host::builder()
        .plugin("phonehook-plugin-twilio")
        .active("twilio")
        .setting("twilio", "base_url", vendor.url.as_str())
        .secret("twilio", "TWILIO_ACCOUNT_SID", ACCOUNT_SID)
        .secret("twilio", "TWILIO_AUTH_TOKEN", AUTH_TOKEN)
        .secret("twilio", "TWILIO_PHONE_NUMBER", FROM)
        .config("vendor.timeout_ms", TIMEOUT_MS as i64)
        .config("vendor.max_reply_bytes", 65_536)
        .start()
        .await
}

fn sms() -> Value {
    json!({"recipient": "+14155550100", "text": "Your code is 123456",
           "context": {"message_type": "sms", "code": "123456"}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_vendor_fault_is_a_clear_error_in_time_and_the_next_message_goes_through() {
    let vendor = RawVendor::start().await;
    let host = twilio_host(&vendor).await;
    let cases = [
        (Fault::Silent, 504, "vendor_timeout"),
        (Fault::Dribble, 504, "vendor_timeout"),
        (Fault::CloseMidReply, 502, "vendor_unreachable"),
        (Fault::EmptyOk, 502, "vendor_protocol"),
        (Fault::TruncatedJson, 502, "vendor_protocol"),
        (Fault::InvalidUtf8, 502, "vendor_protocol"),
        (Fault::WrongContentType, 502, "vendor_protocol"),
        (Fault::Huge, 502, "vendor_reply_too_large"),
    ];
    for (fault, status_want, code) in cases {
        vendor.set(fault);
        let rss_before = rss_mib(std::process::id());
        let started = Instant::now();
        let (status, body) = host.send(sms()).await;
        let took = started.elapsed();
        // Huge offers 512 MiB; the host reads at most its cap of them. (Other
        // tests share this process, hence the generous margin.)
        let grown = rss_mib(std::process::id()) - rss_before;
        assert!(grown < 128.0, "{fault:?}: memory grew by {grown:.1} MiB");
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (status_want, Some(code)),
            "{fault:?}: {body}"
        );
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.len() > 10,
            "{fault:?}: the message says what happened: {body}"
        );
        assert!(
            took < Duration::from_millis(TIMEOUT_MS + 1_500),
            "{fault:?}: answered after {took:?}, the deadline is {TIMEOUT_MS} ms"
        );

        vendor.set(Fault::Healthy);
        let (status, body) = host.send(sms()).await;
        assert_eq!(
            status, 200,
            "after {fault:?} a healthy vendor serves again: {body}"
        );
        assert_eq!(body["MessageID"], "SM0123456789abcdef0123456789abcdef");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_stalled_connections_do_not_stop_a_real_caller_and_are_closed() {
    phonehook_e2e::fds::raise_limit(4_096);
    let host = Host::builder()
        .config("limits.header_timeout_ms", 1_500)
        .start()
        .await;
    let addr = host.url().trim_start_matches("http://").to_owned();
    let mut idle = Vec::new();
    for i in 0..1_000 {
        let mut stream = TcpStream::connect(&addr).await.expect("connect");
        // Half say nothing; half start a request and stall in the head.
        if i % 2 == 1 {
            stream
                .write_all(b"POST /api/v1/messages HTTP/1.1\r\nHost: x\r\n")
                .await
                .expect("write");
        }
        idle.push(stream);
    }
    let started = Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(10), host.send(sms())).await;
    let (status, body) = answer.expect("a real caller is served while 1,000 connections stall");
    assert_eq!(status, 200, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "served in {:?}",
        started.elapsed()
    );
    let (status, _) = host.admin("GET", "/healthz", None).await;
    assert_eq!(status, 200);

    // Past the header timeout the host has closed every stalled connection.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let mut still_open = 0;
    for stream in idle.iter_mut() {
        let mut buf = [0u8; 512];
        // EOF (or a reset) means closed; a read that blocks means still held.
        let read = tokio::time::timeout(Duration::from_millis(2_000), async {
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => continue,
                }
            }
        });
        if read.await.is_err() {
            still_open += 1;
        }
    }
    assert_eq!(
        still_open, 0,
        "stalled connections the host still holds after its header timeout"
    );
}

/// Writes raw bytes to the host and returns the status line of its answer.
async fn raw_exchange(addr: &str, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    // The host may answer and close before it has read everything.
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    let read = async {
        while let Ok(n) = stream.read(&mut chunk).await {
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&chunk[..n]);
            if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), read).await;
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_body_is_refused_before_it_is_sent() {
    let host = Host::builder().start().await;
    let addr = host.url().trim_start_matches("http://").to_owned();
    // 100 MB announced, 1 KiB sent: the answer must not wait for the rest.
    let mut request = b"POST /api/v1/messages HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 100000000\r\n\r\n".to_vec();
    request.extend_from_slice(&[b' '; 1024]);
    let started = Instant::now();
    let status = raw_exchange(&addr, &request).await;
    assert!(status.starts_with("HTTP/1.1 413"), "got {status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "refused after {:?}",
        started.elapsed()
    );

    // Without a length, the cap is enforced as the chunks arrive.
    let big = vec![b'x'; 128 * 1024];
    let (status, body) = host
        .send_raw("/api/v1/messages", "application/json", big)
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (413, Some("body_too_large")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_and_path_abuse_gets_4xx_and_the_host_keeps_serving() {
    let host = Host::builder().start().await;
    let addr = host.url().trim_start_matches("http://").to_owned();
    let long_path = format!("/api/v1/{}", "a".repeat(64 * 1024));
    let huge_header = format!("x-filler: {}\r\n", "b".repeat(1024 * 1024));
    let many_headers: String = (0..500).map(|i| format!("x-h{i}: v\r\n")).collect();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("a path of 64 KiB", format!("GET {long_path} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes()),
        ("a header of 1 MiB", format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{huge_header}\r\n").into_bytes()),
        ("500 headers", format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{many_headers}\r\n").into_bytes()),
        ("bytes that are not UTF-8 in the path", b"GET /api/v1/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        ("a path that climbs", b"GET /../../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        ("an escaped climb", b"POST /api/v1/plugins/..%2F..%2Fetc/test HTTP/1.1\r\nHost: x\r\ncontent-length: 0\r\n\r\n".to_vec()),
        ("a broken escape", b"GET /api/v1/%ZZ HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        ("an unknown method", b"BREW /api/v1/messages HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        (
            "both a length and chunked encoding",
            b"POST /api/v1/messages HTTP/1.1\r\nHost: x\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(),
        ),
        ("a malformed request line", b"GET\r\n\r\n".to_vec()),
        ("a header without a colon", b"GET /healthz HTTP/1.1\r\nHost: x\r\nnocolon\r\n\r\n".to_vec()),
        ("a JSON body that is not an object", b"POST /api/v1/messages HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 7\r\n\r\n[1,2,3]".to_vec()),
    ];
    for (what, request) in cases {
        let status = raw_exchange(&addr, &request).await;
        let code: u16 = status
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        assert!((400..500).contains(&code), "{what}: got {status:?}");
    }
    let (status, body) = host.send(sms()).await;
    assert_eq!(status, 200, "the host still serves: {body}");
}
