//! Log lines written in batches by a thread of their own.
//!
//! Written straight to standard error, each log line was a `write` of its
//! own on the thread serving the request: a fifth of the CPU of a product
//! read, which logs two lines (docs/performance.md, finding 21). Here a
//! line is appended to a buffer; a thread of its own, woken when the buffer
//! stops being empty, waits [`GATHER`] for more and writes them all at once.
//! A line thus comes out at most a few milliseconds late, and the lines
//! waiting when the process is killed (kill -9) are lost; on an orderly
//! exit [`Flushing`] writes them out. Past [`MAX_WAITING`] bytes (the sink
//! is not keeping up) the line's own thread writes everything out, as
//! before, so the buffer stays bounded and no line is dropped.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// How long the writing thread waits for more lines after the first.
pub const GATHER: Duration = Duration::from_millis(5);

/// Bytes waiting past which a line's own thread writes them out.
pub const MAX_WAITING: usize = 1 << 20;

/// Where log lines go: a buffer in front of `sink`.
pub struct Batched<W> {
    shared: Arc<Shared<W>>,
}

struct Shared<W> {
    /// Lines not yet written.
    waiting: Mutex<Vec<u8>>,
    /// Signalled when `waiting` stops being empty.
    arrived: Condvar,
    /// Held while a batch is taken and written, so batches keep their
    /// order; lines are added meanwhile without waiting for it.
    sink: Mutex<W>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl<W: Write + Send + 'static> Batched<W> {
    /// Lines for `sink`, and the guard that writes out what waits when it
    /// is dropped.
    pub fn new(sink: W) -> (Batched<W>, Flushing<W>) {
        let shared = Arc::new(Shared {
            waiting: Mutex::new(Vec::new()),
            arrived: Condvar::new(),
            sink: Mutex::new(sink),
        });
        let writer = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("shop-log".to_owned())
            .spawn(move || write_batches(&writer))
            .expect("a thread for the log");
        (
            Batched {
                shared: Arc::clone(&shared),
            },
            Flushing { shared },
        )
    }
}

impl<W: Write> Shared<W> {
    /// Writes out every line waiting.
    fn write_out(&self) -> std::io::Result<()> {
        let mut sink = lock(&self.sink);
        let batch = std::mem::take(&mut *lock(&self.waiting));
        sink.write_all(&batch)?;
        sink.flush()
    }
}

/// The writing thread: each time lines arrive, a moment for more, then
/// all of them in one write. It ends with the last handle.
fn write_batches<W: Write>(shared: &Arc<Shared<W>>) {
    loop {
        let mut waiting = lock(&shared.waiting);
        while waiting.is_empty() {
            if Arc::strong_count(shared) == 1 {
                return;
            }
            waiting = shared
                .arrived
                .wait_timeout(waiting, Duration::from_secs(1))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        drop(waiting);
        std::thread::sleep(GATHER);
        // A log that cannot be written has nowhere to say so.
        let _ = shared.write_out();
    }
}

/// Writes out the lines still waiting when dropped.
#[must_use = "the lines waiting are written out when this is dropped"]
pub struct Flushing<W: Write> {
    shared: Arc<Shared<W>>,
}

impl<W: Write> Drop for Flushing<W> {
    fn drop(&mut self) {
        let _ = self.shared.write_out();
    }
}

impl<W: Write> std::fmt::Debug for Flushing<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flushing").finish_non_exhaustive()
    }
}

/// One line's writer (tracing-subscriber writes each formatted line with
/// one `write_all`).
pub struct Line<'a, W>(&'a Shared<W>);

impl<W: Write> Write for Line<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut waiting = lock(&self.0.waiting);
        let was_empty = waiting.is_empty();
        waiting.extend_from_slice(buf);
        let over = waiting.len() > MAX_WAITING;
        drop(waiting);
        if over {
            self.0.write_out()?;
        } else if was_empty {
            self.0.arrived.notify_one();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a, W: Write + 'a> MakeWriter<'a> for Batched<W> {
    type Writer = Line<'a, W>;

    fn make_writer(&'a self) -> Line<'a, W> {
        Line(&self.shared)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink tests can read.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Sink {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    fn line(batched: &Batched<Sink>, text: &str) {
        batched.make_writer().write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn lines_come_out_soon_in_order_and_all_at_the_end() {
        let sink = Sink::default();
        let (batched, flushing) = Batched::new(sink.clone());
        line(&batched, "one\n");
        line(&batched, "two\n");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while sink.text() != "one\ntwo\n" {
            assert!(
                std::time::Instant::now() < deadline,
                "got {:?}",
                sink.text()
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        // Written from several threads at once, every line whole.
        let batched = Arc::new(batched);
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let batched = Arc::clone(&batched);
                std::thread::spawn(move || {
                    for i in 0..500 {
                        line(&batched, &format!("{t}:{i}\n"));
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        drop(flushing);
        let text = sink.text();
        let lines: Vec<&str> = text.lines().skip(2).collect();
        assert_eq!(lines.len(), 2000, "every line, once");
        for t in 0..4 {
            let own: Vec<String> = lines
                .iter()
                .filter(|l| l.starts_with(&format!("{t}:")))
                .map(|l| (*l).to_owned())
                .collect();
            let expected: Vec<String> = (0..500).map(|i| format!("{t}:{i}")).collect();
            assert_eq!(own, expected, "thread {t}'s lines in its order");
        }
    }

    #[test]
    fn a_slow_sink_keeps_no_line_waiting_for_it() {
        let sink = Sink::default();
        let (batched, flushing) = Batched::new(sink.clone());
        // The sink stuck: the writing thread blocks in its first write.
        let stuck = sink.0.lock().unwrap();
        line(&batched, "first\n");
        std::thread::sleep(GATHER * 4);
        // Lines still go in (below the bound) without waiting for it.
        for i in 0..100 {
            line(&batched, &format!("{i}\n"));
        }
        drop(stuck);
        drop(flushing);
        let expected: String = std::iter::once("first\n".to_owned())
            .chain((0..100).map(|i| format!("{i}\n")))
            .collect();
        assert_eq!(sink.text(), expected);
    }
}
