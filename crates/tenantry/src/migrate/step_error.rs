//! Why a group of steps failed: a database error (with what tenantry did about the invalid
//! indexes the step left), or a step that finished but left invalid indexes.

use crate::error::describe_pg;

/// Why a group of steps failed.
#[derive(Debug)]
pub(crate) enum StepError {
    /// The server's or the connection's error; `note` says what tenantry did about the invalid
    /// indexes the step left.
    Database { error: tokio_postgres::Error, note: Option<String> },
    /// The step's statement succeeded, but left invalid indexes: the message names them.
    LeftInvalidIndexes(String),
}

impl From<tokio_postgres::Error> for StepError {
    fn from(error: tokio_postgres::Error) -> Self {
        Self::Database { error, note: None }
    }
}

impl StepError {
    /// Worth another attempt: a transient database error, or a step that left invalid indexes
    /// (dropped since, so the next attempt builds them again).
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            Self::Database { error, .. } => super::schema_run::is_transient(error),
            Self::LeftInvalidIndexes(_) => true,
        }
    }

    /// The SQLSTATE, for database errors.
    pub(crate) fn sqlstate(&self) -> Option<String> {
        match self {
            Self::Database { error, .. } => error.code().map(|code| code.code().to_owned()),
            Self::LeftInvalidIndexes(_) => None,
        }
    }

    /// The message for reports and logs.
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Database { error, note: None } => describe_pg(error),
            Self::Database { error, note: Some(note) } => format!("{}; {note}", describe_pg(error)),
            Self::LeftInvalidIndexes(message) => message.clone(),
        }
    }
}

/// What a group returns: the failing step's version, if known, and why.
pub(crate) type GroupResult = Result<(), (Option<i64>, StepError)>;
