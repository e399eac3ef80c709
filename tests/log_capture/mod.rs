//! Captures the log lines of the current thread, for tests that check what the
//! crate tells the operator.

#![allow(dead_code)] // Each test binary uses its own part of this module.

use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use tracing::subscriber::DefaultGuard;

use crate::common;

/// A writer collecting what the tracing subscriber prints.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Collects this thread's log lines, at INFO and above, while it lives; the
/// tests' runtimes are single-threaded, so every poll happens here.
pub struct LogCapture {
    captured: Captured,
    _guard: DefaultGuard,
}

impl LogCapture {
    pub fn start() -> Self {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        Self {
            captured,
            _guard: tracing::subscriber::set_default(subscriber),
        }
    }

    /// The lines so far, checked to hold no secret and no token.
    pub fn lines(&self) -> Vec<String> {
        let log = self
            .captured
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let log = String::from_utf8(log).expect("a UTF-8 log");
        assert!(
            !log.contains(common::SECRET) && !log.contains("eyJ"),
            "{log}"
        );
        log.lines().map(str::to_owned).collect()
    }

    /// The lines so far, each checked to be an error.
    pub fn error_lines(&self) -> Vec<String> {
        let lines = self.lines();
        assert!(
            lines.iter().all(|line| line.contains("ERROR")),
            "{lines:#?}"
        );
        lines
    }
}
