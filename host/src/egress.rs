//! The only way out: every vendor request a plugin asks for goes through here.
//! The host owns the network so plugins cannot: it enforces the plugin's host
//! allow-list, one deadline for the whole exchange, and a cap on reply size.

use std::time::{Duration, Instant};

use phonehook_plugin_api::{Method, Pair};

use crate::config::VendorConfig;
use crate::plugins::{HostAllowList, OwnedRequest};

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

/// The HTTP client shared by all plugins.
#[derive(Clone, Debug)]
pub struct Egress {
    client: reqwest::Client,
    timeout: Duration,
    max_reply: usize,
}

impl Egress {
    /// A pooled client with the configured limits. Redirects are not followed:
    /// a vendor must not be able to send us to a host the plugin did not declare.
    pub fn new(cfg: &VendorConfig) -> Result<Egress, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(cfg.connect_timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(256)
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .user_agent(concat!("phonehook/", env!("CARGO_PKG_VERSION")))
            .build()?;
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
        let url = url::Url::parse(&req.url).map_err(|e| EgressError::InvalidUrl(format!("{e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(EgressError::InvalidUrl(format!(
                "scheme `{}` is not http(s)",
                url.scheme()
            )));
        }
        let host = url
            .host_str()
            .ok_or_else(|| EgressError::InvalidUrl("no host".to_owned()))?;
        if !allow.allows(host) {
            return Err(EgressError::HostNotAllowed(host.to_owned()));
        }
        let started = Instant::now();
        let timeout_ms = self.timeout.as_millis() as u64;
        match tokio::time::timeout(self.timeout, self.exchange(url, req)).await {
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
        url: url::Url,
        req: &OwnedRequest,
    ) -> Result<(u16, Vec<Pair>, Vec<u8>), EgressError> {
        let method = match req.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Patch => reqwest::Method::PATCH,
            Method::Delete => reqwest::Method::DELETE,
        };
        let mut builder = self.client.request(method, url);
        for (name, value) in &req.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let mut resp = builder
            .body(req.body.clone())
            .send()
            .await
            .map_err(|e| EgressError::Unreachable(describe(e)))?;
        let status = resp.status().as_u16();
        if resp
            .content_length()
            .is_some_and(|n| n > self.max_reply as u64)
        {
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
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| {
            EgressError::Unreachable(format!("the reply broke off: {}", describe(e)))
        })? {
            if body.len() + chunk.len() > self.max_reply {
                return Err(EgressError::TooLarge(self.max_reply));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, headers, body))
    }
}

/// reqwest's errors hide the useful part in their source chain. The URL is
/// dropped: a plugin may put credentials in a query string.
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
