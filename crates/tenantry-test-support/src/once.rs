//! Starting a per-binary service once, and failing fast afterwards if that start failed.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

/// The value in `cell`, started with `start` on first use.
///
/// If `start` panics, the message is remembered: every later caller (every other test of the
/// binary) panics at once with it, instead of retrying a slow start that will fail again.
pub(crate) fn get_or_start<'a, T>(
    cell: &'a OnceLock<Result<T, String>>,
    what: &str,
    start: impl FnOnce() -> T,
) -> &'a T {
    let started = cell.get_or_init(|| catch_unwind(AssertUnwindSafe(start)).map_err(|p| panic_text(&*p)));
    match started {
        Ok(value) => value,
        Err(message) => panic!("{what} could not be started: {message}"),
    }
}

fn panic_text(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "(a panic without a message)".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_once() {
        let cell = OnceLock::new();
        assert_eq!(*get_or_start(&cell, "x", || 1), 1);
        assert_eq!(*get_or_start(&cell, "x", || 2), 1);
    }

    #[test]
    fn remembers_a_failed_start() {
        let cell: OnceLock<Result<u8, String>> = OnceLock::new();
        let first = catch_unwind(|| *get_or_start(&cell, "the thing", || panic!("no disk")));
        assert!(first.is_err());
        let again = catch_unwind(|| *get_or_start(&cell, "the thing", || 1));
        let message = again.expect_err("a remembered failure panics again");
        assert_eq!(panic_text(&*message), "the thing could not be started: no disk");
    }
}
