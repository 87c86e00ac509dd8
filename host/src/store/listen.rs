//! The listener: one connection of its own (a pooled one would be recycled
//! and lose its `LISTEN`) that hears the `phonehook` channel and hands each
//! topic to this instance's subscribers. Every (re)connect announces
//! [`Topic::Reconnected`], so a notification sent while the connection was
//! down cannot leave an instance stale: subscribers re-read their state.

use std::time::Duration;

use tokio_postgres::{AsyncMessage, NoTls};

use super::postgres::{Postgres, Topic, CHANNEL, CONNECT_TIMEOUT};

/// Longest wait between reconnection attempts.
const MAX_RETRY: Duration = Duration::from_secs(2);

/// Runs until the process ends: listens, and reconnects after a loss with a
/// growing wait (100 ms doubling to [`MAX_RETRY`]).
pub async fn run(pg: Postgres) {
    let mut wait = Duration::from_millis(100);
    loop {
        match listen_once(&pg).await {
            Ok(()) => wait = Duration::from_millis(100),
            Err(e) => pg.health().failed("listening for changes", &e),
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(MAX_RETRY);
    }
}

/// One connection's life: connect, `LISTEN`, announce `Reconnected`, then
/// forward notifications until the connection ends.
async fn listen_once(pg: &Postgres) -> Result<(), tokio_postgres::Error> {
    let mut config: tokio_postgres::Config = pg.url().expose().parse()?;
    config.connect_timeout(CONNECT_TIMEOUT);
    config.application_name("phonehook-listener");
    // Keepalives notice a database host that vanished without closing.
    config.keepalives_idle(Duration::from_secs(5));
    let (client, mut connection) = config.connect(NoTls).await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    // The connection must be polled for the LISTEN below to complete and for
    // notifications to arrive; messages go to the loop below.
    let driver = tokio::spawn(async move {
        while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    if tx.send(Ok(n.payload().to_owned())).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        }
    });
    let listening = client.batch_execute(&format!("LISTEN {CHANNEL}")).await;
    if let Err(e) = listening {
        driver.abort();
        return Err(e);
    }
    pg.announce(Topic::Reconnected);
    let result = loop {
        match rx.recv().await {
            Some(Ok(payload)) => {
                if let Some(topic) = Topic::parse(&payload) {
                    pg.announce(topic);
                }
            }
            Some(Err(e)) => break Err(e),
            // The connection ended without an error (server shut down).
            None => break Ok(()),
        }
    };
    driver.abort();
    drop(client);
    if result.is_ok() {
        pg.health().failed(
            "listening for changes",
            &"the database closed the connection",
        );
    }
    result
}
