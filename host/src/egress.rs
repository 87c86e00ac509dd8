//! The only way out: every vendor request a plugin asks for goes through here.
//! The host owns the network so plugins cannot: it enforces the plugin's host
//! allow-list, one deadline for the whole exchange, a connect timeout, and a
//! cap on reply size, and it never follows a redirect.
//!
//! The client is hyper-util's pooled client with rustls, used directly: the
//! plugin's URL is parsed once, into the `Uri` the connection is made to, and
//! the host checked against the allow-list is that `Uri`'s host — the one the
//! connector dials — so no second parser can disagree with the check.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, ACCEPT, USER_AGENT};
use http::Uri;
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use phonehook_plugin_api::{Method, Pair};
use serde::{Deserialize, Serialize};

use crate::plugins::{HostAllowList, OwnedRequest};

/// How the host talks to vendors: `[vendor]` in the configuration, owned
/// here so the client and its settings change together.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct VendorConfig {
    /// Time allowed for one vendor request, from connect to the last body byte.
    pub timeout_ms: u64,
    /// Time allowed to establish a connection.
    pub connect_timeout_ms: u64,
    /// Largest vendor reply body accepted, in bytes.
    pub max_reply_bytes: usize,
}

impl Default for VendorConfig {
    fn default() -> Self {
        VendorConfig {
            timeout_ms: 10_000,
            connect_timeout_ms: 3_000,
            max_reply_bytes: 1024 * 1024,
        }
    }
}

/// Why a vendor request produced no reply for the plugin to read.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum EgressError {
    /// The URL is not absolute http(s).
    #[error("the plugin asked for an invalid URL: {0}")]
    InvalidUrl(String),
    /// The host is not among those the plugin declared.
    #[error("the plugin asked for host `{0}`, which it did not declare")]
    HostNotAllowed(String),
    /// No complete reply within the deadline.
    #[error("the vendor did not answer within {0} ms")]
    Timeout(u64),
    /// The connection could not be made or broke.
    #[error("the vendor could not be reached: {0}")]
    Unreachable(String),
    /// The reply body exceeded the cap.
    #[error("the vendor's reply exceeded {0} bytes")]
    TooLarge(usize),
}

impl EgressError {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            EgressError::InvalidUrl(_) | EgressError::HostNotAllowed(_) => "plugin_egress_denied",
            EgressError::Timeout(_) => "vendor_timeout",
            EgressError::Unreachable(_) => "vendor_unreachable",
            EgressError::TooLarge(_) => "vendor_reply_too_large",
        }
    }
}

/// Why the client could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up TLS for vendor requests: {0}")]
pub struct EgressSetupError(#[from] rustls::Error);

/// A vendor reply, owned by the host.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Headers, lower-case names.
    pub headers: Vec<Pair>,
    /// Body (at most the configured cap).
    pub body: Vec<u8>,
    /// Time from sending to the last body byte.
    pub elapsed: Duration,
}

type Connector = ConnectTimeout<HttpsConnector<HttpConnector>>;

/// The HTTP client shared by all plugins.
#[derive(Clone, Debug)]
pub struct Egress {
    client: Client<Connector, Full<Bytes>>,
    timeout: Duration,
    max_reply: usize,
}

/// Sent unless the plugin sets its own.
const DEFAULT_USER_AGENT: HeaderValue =
    HeaderValue::from_static(concat!("phonehook/", env!("CARGO_PKG_VERSION")));

impl Egress {
    /// A pooled client with the configured limits. Redirects are not followed
    /// (hyper's client never does): a vendor must not be able to send us to a
    /// host the plugin did not declare.
    pub fn new(cfg: &VendorConfig) -> Result<Egress, EgressSetupError> {
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(std::sync::Arc::new(
                rustls::crypto::ring::default_provider(),
            ))?
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(tcp);
        let connector = ConnectTimeout {
            inner: https,
            timeout: Duration::from_millis(cfg.connect_timeout_ms),
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(256)
            .build(connector);
        Ok(Egress {
            client,
            timeout: Duration::from_millis(cfg.timeout_ms),
            max_reply: cfg.max_reply_bytes,
        })
    }

    /// Performs `req` if `allow` permits its host.
    pub async fn send(
        &self,
        req: &OwnedRequest,
        allow: &HostAllowList,
    ) -> Result<Reply, EgressError> {
        let uri = checked_uri(&req.url, allow)?;
        let started = Instant::now();
        let timeout_ms = self.timeout.as_millis() as u64;
        match tokio::time::timeout(self.timeout, self.exchange(uri, req)).await {
            Ok(Ok((status, headers, body))) => Ok(Reply {
                status,
                headers,
                body,
                elapsed: started.elapsed(),
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(EgressError::Timeout(timeout_ms)),
        }
    }

    async fn exchange(
        &self,
        uri: Uri,
        req: &OwnedRequest,
    ) -> Result<(u16, Vec<Pair>, Vec<u8>), EgressError> {
        let method = match req.method {
            Method::Get => http::Method::GET,
            Method::Post => http::Method::POST,
            Method::Put => http::Method::PUT,
            Method::Patch => http::Method::PATCH,
            Method::Delete => http::Method::DELETE,
        };
        let mut request = http::Request::new(Full::new(Bytes::from(req.body.clone())));
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        for (name, value) in &req.headers {
            let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) else {
                // The value may be a credential: name the header only.
                return Err(EgressError::Unreachable(format!(
                    "the plugin's request has an invalid header `{}`",
                    name.escape_debug()
                )));
            };
            headers.append(name, value);
        }
        headers.entry(USER_AGENT).or_insert(DEFAULT_USER_AGENT);
        headers
            .entry(ACCEPT)
            .or_insert(HeaderValue::from_static("*/*"));

        let resp = self
            .client
            .request(request)
            .await
            .map_err(|e| EgressError::Unreachable(describe(&e)))?;
        let status = resp.status().as_u16();
        let declared = resp
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max_reply as u64) {
            return Err(EgressError::TooLarge(self.max_reply));
        }
        let headers = resp
            .headers()
            .iter()
            .map(|(n, v)| {
                Pair::new(
                    n.as_str(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut incoming = resp.into_body();
        let mut body = Vec::new();
        while let Some(frame) = incoming.frame().await {
            let frame = frame.map_err(|e| {
                EgressError::Unreachable(format!("the reply broke off: {}", describe(&e)))
            })?;
            if let Ok(chunk) = frame.into_data() {
                if body.len() + chunk.len() > self.max_reply {
                    return Err(EgressError::TooLarge(self.max_reply));
                }
                body.extend_from_slice(&chunk);
            }
        }
        Ok((status, headers, body))
    }
}

/// The plugin's URL as the `Uri` to connect to, if it is absolute http(s) and
/// its host is allowed.
fn checked_uri(url: &str, allow: &HostAllowList) -> Result<Uri, EgressError> {
    let uri: Uri = url
        .parse()
        .map_err(|e: http::uri::InvalidUri| EgressError::InvalidUrl(e.to_string()))?;
    match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https") => {}
        Some(s) => {
            return Err(EgressError::InvalidUrl(format!(
                "scheme `{s}` is not http(s)"
            )))
        }
        None => return Err(EgressError::InvalidUrl("not an absolute URL".to_owned())),
    }
    let host = uri
        .host()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| EgressError::InvalidUrl("no host".to_owned()))?;
    if !allow.allows(host) {
        return Err(EgressError::HostNotAllowed(host.to_owned()));
    }
    Ok(uri)
}

/// hyper's errors hide the useful part in their source chain (they never
/// carry the URL, which may hold credentials in its query).
fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Bounds the whole connection set-up — TCP and the TLS handshake — by the
/// connect timeout (hyper's own covers only the TCP connect).
#[derive(Clone, Debug)]
pub struct ConnectTimeout<C> {
    inner: C,
    timeout: Duration,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The connect timeout expired.
#[derive(Debug, thiserror::Error)]
#[error("no connection within {0} ms")]
struct ConnectTimedOut(u128);

impl<C> tower::Service<Uri> for ConnectTimeout<C>
where
    C: tower::Service<Uri>,
    C::Error: Into<BoxError>,
    C::Future: Send + 'static,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<C::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let timeout = self.timeout;
        let connecting = self.inner.call(uri);
        Box::pin(async move {
            match tokio::time::timeout(timeout, connecting).await {
                Ok(result) => result.map_err(Into::into),
                Err(_) => Err(ConnectTimedOut(timeout.as_millis()).into()),
            }
        })
    }
}
