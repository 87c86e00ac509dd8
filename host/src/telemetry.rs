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

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::field::{MakeVisitor, VisitFmt, VisitOutput};
use tracing_subscriber::fmt::format::{
    DefaultVisitor, Format, FormatEvent, FormatFields, Writer as FmtWriter,
};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormattedFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;
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
        LogFormat::Human if !terminal => builder
            .event_format(Plain::default())
            .fmt_fields(PlainFields)
            .try_init(),
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    LogGuard(batched)
}

/// tracing-subscriber's full human format, without colour, written
/// directly: its own formatter passes every part of a line (timestamp,
/// level, span names, braces, colons, target) through a colour style even
/// when colour is off, 22 styled writes a message line. The line is the
/// same, byte for byte: `TIME LEVEL span{fields}:span{fields}: target:
/// fields`. Records bridged from the `log` crate (their target is a field)
/// and a writer with colour go to tracing-subscriber's own.
#[derive(Default)]
struct Plain {
    full: Format,
}

impl<S, N> FormatEvent<S, N> for Plain
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: FmtWriter<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        if writer.has_ansi_escapes() || meta.fields().field("log.target").is_some() {
            return self.full.format_event(ctx, writer, event);
        }
        if SystemTime.format_time(&mut writer).is_err() {
            writer.write_str("<unknown time>")?;
        }
        writer.write_str(match *meta.level() {
            Level::TRACE => " TRACE ",
            Level::DEBUG => " DEBUG ",
            Level::INFO => "  INFO ",
            Level::WARN => "  WARN ",
            Level::ERROR => " ERROR ",
        })?;
        if let Some(scope) = ctx.event_scope() {
            let mut seen = false;
            for span in scope.from_root() {
                writer.write_str(span.metadata().name())?;
                seen = true;
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<N>>() {
                    if !fields.fields.is_empty() {
                        writer.write_char('{')?;
                        writer.write_str(&fields.fields)?;
                        writer.write_char('}')?;
                    }
                }
                writer.write_char(':')?;
            }
            if seen {
                writer.write_char(' ')?;
            }
        }
        writer.write_str(meta.target())?;
        writer.write_str(": ")?;
        ctx.format_fields(writer.by_ref(), event)?;
        writer.write_char('\n')
    }
}

/// tracing-subscriber's default field format without colour, for the same
/// reason as [`Plain`]: its visitor writes each field as `name=value`
/// through two colour styles (a formatted write each, even with colour off),
/// about a tenth of the CPU of the per-message line. Here a field is a
/// name, `=` and the value's own `Debug`: the same bytes. The `message`
/// field (which the default escapes against terminal injection), errors
/// (with their sources) and `log.` metadata go to the default visitor.
#[derive(Clone, Copy, Debug, Default)]
struct PlainFields;

impl<'a> MakeVisitor<FmtWriter<'a>> for PlainFields {
    type Visitor = PlainVisitor<'a>;

    fn make_visitor(&self, writer: FmtWriter<'a>) -> PlainVisitor<'a> {
        PlainVisitor {
            writer,
            is_empty: true,
            result: Ok(()),
        }
    }
}

struct PlainVisitor<'a> {
    writer: FmtWriter<'a>,
    /// Nothing written yet: no space before the first field.
    is_empty: bool,
    result: fmt::Result,
}

impl PlainVisitor<'_> {
    /// Whether `field` is one the default visitor writes differently from
    /// `name=value`.
    fn special(field: &Field) -> bool {
        let name = field.name();
        name == "message" || name.starts_with("log.")
    }

    /// Lets tracing-subscriber's own visitor write one field, continuing
    /// this line.
    fn by_default(&mut self, record: impl FnOnce(&mut DefaultVisitor<'_>)) {
        let mut default = DefaultVisitor::new(self.writer.by_ref(), self.is_empty);
        record(&mut default);
        self.result = default.finish();
        // The default visitor writes nothing for skipped `log.` fields; a
        // later field then pads as it would (an event's fields after its
        // `log.` ones are never written by this formatter: `Plain` hands
        // bridged records to the full format).
        self.is_empty = false;
    }
}

impl Visit for PlainVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.result.is_err() {
            return;
        }
        if Self::special(field) {
            self.by_default(|d| d.record_str(field, value));
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if self.result.is_err() {
            return;
        }
        self.by_default(|d| d.record_error(field, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_err() {
            return;
        }
        if Self::special(field) {
            self.by_default(|d| d.record_debug(field, value));
            return;
        }
        let name = field.name();
        let name = name.strip_prefix("r#").unwrap_or(name);
        let pad = if std::mem::take(&mut self.is_empty) {
            ""
        } else {
            " "
        };
        self.result = (|| {
            self.writer.write_str(pad)?;
            self.writer.write_str(name)?;
            self.writer.write_char('=')?;
            write!(self.writer, "{value:?}")
        })();
    }
}

impl VisitOutput<fmt::Result> for PlainVisitor<'_> {
    fn finish(self) -> fmt::Result {
        self.result
    }
}

impl VisitFmt for PlainVisitor<'_> {
    fn writer(&mut self) -> &mut dyn fmt::Write {
        &mut self.writer
    }
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

    /// A writer the tests read back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What each formatter writes for the same events, timestamps cut off.
    fn lines(plain: bool) -> Vec<String> {
        let out = Captured::default();
        let sink = out.clone();
        let builder = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(Level::TRACE)
            .with_writer(move || sink.clone());
        let log = || {
            let span = tracing::info_span!("message", event_id = %"ev_1", route = "hook", n = 3);
            let _entered = span.enter();
            let inner = tracing::debug_span!("inner");
            let _inner = inner.enter();
            tracing::info!(message_id = %"SM1", elapsed_ms = 1.5, "message accepted by vendor");
            tracing::warn!(code = "vendor_error", error = %"no \"quote\"", "message not delivered");
            tracing::error!(r#type = 1, "bad");
            tracing::trace!("t");
            // Every kind of value, a message that tries a terminal escape,
            // an error with a source, and an event with only a message.
            let io = std::io::Error::other("disk \x1b[31mfull");
            let source = anyhow::Error::new(io).context("cannot write");
            let err: &(dyn std::error::Error + 'static) = source.as_ref();
            tracing::info!(
                s = "quoted \"str\"",
                n = -3i64,
                u = 7u64,
                b = true,
                x = 0.25,
                "esc \x1b[2J \u{9b}"
            );
            tracing::warn!(error = err, reason = ?Some("x"), "failed");
            tracing::info!(message = "only a message");
            tracing::info!(alone = 1);
        };
        if plain {
            let subscriber = builder
                .event_format(Plain::default())
                .fmt_fields(PlainFields)
                .finish();
            tracing::subscriber::with_default(subscriber, log);
        } else {
            tracing::subscriber::with_default(builder.finish(), log);
        }
        let text = String::from_utf8_lossy(&out.0.lock().unwrap_or_else(PoisonError::into_inner))
            .into_owned();
        text.lines()
            .map(|l| l.split_once(' ').map_or(l, |(_, rest)| rest).to_owned())
            .collect()
    }

    #[test]
    fn the_plain_format_writes_what_the_full_format_writes() {
        let plain = lines(true);
        assert_eq!(plain.len(), 8, "{plain:?}");
        assert_eq!(plain, lines(false));
    }

    #[test]
    fn lines_are_kept_in_order() {
        let shared = Shared::default();
        shared.push(b"one\n");
        shared.push(b"two\n");
        assert_eq!(shared.lock().bytes, b"one\ntwo\n");
    }
}
