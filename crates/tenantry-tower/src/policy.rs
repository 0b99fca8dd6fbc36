//! What the layer does when a request names no tenant, and the response it sends when it
//! refuses one.

use http::header::{HeaderValue, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use http::Response;

use crate::error::Error;

/// What to do with a request that names no tenant (an apex domain, an excluded subdomain
/// such as `www`, an IP address, no tenant header).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum NoTenant {
    /// Refuse it with [`Error::NoTenant`] (`404` by default). The default: a request that
    /// names no tenant never touches data unless you say so.
    #[default]
    Reject,
    /// Run it in the default schema (outside any tenant), as apartment does for excluded
    /// subdomains: for a marketing site or sign-up page on the apex domain.
    DefaultSchema,
}

/// Makes the response for a refused request. Any `Fn(&Error) -> Response<B>` is one; give
/// it to [`ResolveTenantLayer::on_rejection`](crate::ResolveTenantLayer::on_rejection).
///
/// ```
/// use tenantry_tower::{Error, OnRejection};
///
/// let json = |error: &Error| -> http::Response<String> {
///     http::Response::builder()
///         .status(error.status())
///         .header("content-type", "application/json")
///         .body(format!(r#"{{"error":"{}"}}"#, error.code()))
///         .unwrap_or_default()
/// };
/// let response = json.response(&Error::NoTenant);
/// assert_eq!(response.status(), 404);
/// assert_eq!(response.body(), r#"{"error":"no_tenant"}"#);
/// ```
pub trait OnRejection<B> {
    /// The response for `error`.
    fn response(&self, error: &Error) -> Response<B>;
}

impl<B, F> OnRejection<B> for F
where
    F: Fn(&Error) -> Response<B>,
{
    fn response(&self, error: &Error) -> Response<B> {
        self(error)
    }
}

/// The default refusal: [`Error::status`], and [`Error::public_message`] as plain text. The
/// body never echoes the request's input.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultRejection;

impl<B: From<String>> OnRejection<B> for DefaultRejection {
    fn response(&self, error: &Error) -> Response<B> {
        let mut response = Response::new(B::from(format!("{}\n", error.public_message())));
        *response.status_mut() = error.status();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
        headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_rejection_does_not_echo_input() {
        let error =
            Error::InvalidTenantName { name: "<script>".to_owned(), reason: tenantry::InvalidNameReason::Empty };
        let response: Response<String> = DefaultRejection.response(&error);
        assert_eq!(response.status(), http::StatusCode::NOT_FOUND);
        assert_eq!(response.body(), "tenant not found\n");
        assert_eq!(response.headers()[CONTENT_TYPE], "text/plain; charset=utf-8");
    }
}
