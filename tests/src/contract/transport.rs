//! The faults that are the same for every vendor, made by a layer in front of
//! a mock out of the vendor's own healthy reply: a dribbled body and a proxy's
//! error page.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::mocks::scenario::{proxy_unavailable, Switch};

/// How long a dribbled reply waits between bytes.
const DRIBBLE_PAUSE: Duration = Duration::from_millis(50);

/// A fault the layer in front of the mock makes from its healthy reply.
#[derive(Clone, Copy, Debug)]
pub(super) enum Transport {
    Dribble,
    ErrorPage,
}

pub(super) async fn transport(
    State(switch): State<Switch<Option<Transport>>>,
    req: Request,
    next: Next,
) -> Response {
    let response = next.run(req).await;
    // A reply the vendor refused goes through untouched: a plugin that sends
    // a malformed request must fail the row, not be covered by the fault.
    if !response.status().is_success() {
        return response;
    }
    match switch.get() {
        None => response,
        Some(Transport::ErrorPage) => proxy_unavailable(),
        Some(Transport::Dribble) => dribble(response).await,
    }
}

/// The same reply, one byte every [`DRIBBLE_PAUSE`].
async fn dribble(response: Response) -> Response {
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let bytes =
        futures_util::stream::unfold((bytes, 0), |(bytes, at): (Bytes, usize)| async move {
            if at >= bytes.len() {
                return None;
            }
            tokio::time::sleep(DRIBBLE_PAUSE).await;
            let byte = bytes.slice(at..at + 1);
            Some((Ok::<_, Infallible>(byte), (bytes, at + 1)))
        });
    Response::from_parts(parts, Body::from_stream(bytes))
}
