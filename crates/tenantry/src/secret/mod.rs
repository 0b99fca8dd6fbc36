//! Keeping passwords out of every message, log line and `Debug` print (issue 10, "Secrets
//! never printed").
//!
//! [`mask_password`] is the one way tenantry shows a connection string: the URL form
//! (`postgres://user:password@host/db?password=…`, percent-encoded or not) and the key/value
//! form (`host=… password='it\'s'`) are masked where tokio-postgres' parser would find a
//! password, and the result is checked against the password the string really holds.

mod conninfo;
mod guard;
mod url;

pub(crate) use guard::describe_parse_error;
pub use guard::mask_password;

/// What a password is replaced by.
pub(crate) const MASK: &str = "********";
