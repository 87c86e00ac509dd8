//! Logging: `tracing` with an env filter (`RUST_LOG`, else a default level the
//! command chooses: `info` for the server, `warn` for one-shot commands), human
//! or JSON lines on stderr.
//!
//! When stderr is not a terminal (a file, a pipe, a journal) the lines go
//! through [`Batched`]: one line per message at thousands of messages a
//! second was one `write(2)` each, a few percent of the server's CPU in the
//! end-to-end benchmark. A person at a terminal gets every line at once.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber once; later calls are ignored.
/// `default_level` applies when `RUST_LOG` is not set. Keep the guard until
/// the command ends: dropping it writes the lines not yet written.
#[must_use = "dropping the guard at once writes each line as it comes, unbatched"]
pub fn init(format: LogFormat, default_level: &str) -> LogGuard {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    // Colour codes only for a person at a terminal: in a file, a pipe or a
    // journal they are noise that breaks searching.
    let terminal = std::io::stderr().is_terminal();
    let batched = (!terminal).then(Batched::start);
    let writer = Writer(batched.as_ref().map(|b| Arc::clone(&b.shared)));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(terminal)
        .with_writer(writer);
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    LogGuard(batched)
}

/// Writes the lines still waiting when dropped (the end of a command, or a
/// start-up error on its way to being printed after them).
pub struct LogGuard(Option<Batched>);

impl Drop for LogGuard {
    fn drop(&mut self) {
        if let Some(batched) = self.0.take() {
            batched.stop();
        }
    }
}

/// Where the subscriber writes: stderr directly, or the batch.
struct Writer(Option<Arc<Shared>>);

impl<'a> MakeWriter<'a> for Writer {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Line<'a> {
        Line(self.0.as_deref())
    }
}

/// One formatted line (the subscriber writes each event in one call).
struct Line<'a>(Option<&'a Shared>);

impl Write for Line<'_> {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        match self.0 {
            Some(shared) => {
                shared.push(line);
                Ok(line.len())
            }
            None => std::io::stderr().write(line),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self.0 {
            Some(shared) => {
                shared.write_out(&mut shared.lock());
                Ok(())
            }
            None => std::io::stderr().flush(),
        }
    }
}

/// How long the writer lets lines gather after writing: a line waits at
/// most this long under load, and an idle server's line is written at once.
const GATHER: Duration = Duration::from_millis(2);

/// Lines kept before the line that overflows writes them itself, so a
/// stalled stderr (a full pipe) bounds memory rather than growing it.
const MAX_PENDING: usize = 256 * 1024;

/// Lines are appended to one buffer; a thread writes it out with one
/// `write(2)`, then sleeps [`GATHER`] while the next lines gather. Every
/// write happens under the buffer's lock, by that thread or by a line that
/// finds the buffer full, so lines reach stderr in the order they were
/// logged and none is dropped.
struct Batched {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Shared {
    pending: Mutex<Pending>,
    ready: Condvar,
}

#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    closed: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        // A panic while holding the lock leaves only bytes behind: keep logging.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, line: &[u8]) {
        let mut pending = self.lock();
        if pending.closed {
            drop(pending);
            let _ = std::io::stderr().write_all(line);
            return;
        }
        let was_empty = pending.bytes.is_empty();
        pending.bytes.extend_from_slice(line);
        if pending.bytes.len() >= MAX_PENDING {
            self.write_out(&mut pending);
        } else if was_empty {
            self.ready.notify_one();
        }
    }

    /// Writes what is pending; the caller holds the lock, which keeps the
    /// order of lines across writers.
    fn write_out(&self, pending: &mut Pending) {
        if !pending.bytes.is_empty() {
            // Nowhere to report a failing stderr: the lines are lost, as
            // they would be written directly.
            let _ = std::io::stderr().write_all(&pending.bytes);
            pending.bytes.clear();
        }
    }
}

impl Batched {
    fn start() -> Batched {
        let shared = Arc::new(Shared::default());
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || loop {
                {
                    let mut pending = worker.lock();
                    while pending.bytes.is_empty() && !pending.closed {
                        pending = worker
                            .ready
                            .wait(pending)
                            .unwrap_or_else(PoisonError::into_inner);
                    }
                    worker.write_out(&mut pending);
                    if pending.closed {
                        return;
                    }
                }
                std::thread::sleep(GATHER);
            })
            .ok();
        if thread.is_none() {
            // No thread: every line is written by its caller.
            shared.lock().closed = true;
        }
        Batched { shared, thread }
    }

    fn stop(mut self) {
        {
            let mut pending = self.shared.lock();
            pending.closed = true;
            self.shared.write_out(&mut pending);
        }
        self.shared.ready.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_kept_in_order_and_written_when_closed() {
        let shared = Shared::default();
        shared.push(b"one\n");
        shared.push(b"two\n");
        assert_eq!(shared.lock().bytes, b"one\ntwo\n");
        let mut pending = shared.lock();
        pending.closed = true;
        shared.write_out(&mut pending);
        assert!(pending.bytes.is_empty());
    }
}
