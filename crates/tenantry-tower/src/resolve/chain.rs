//! Several resolvers tried in order: [`Resolve::or`](super::Resolve::or).

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::request::Parts;
use pin_project_lite::pin_project;

use super::resolution::{Resolution, Resolve};

/// Tries `first`, then `second` when `first` finds no tenant. Made by
/// [`Resolve::or`](super::Resolve::or).
///
/// | first says | result |
/// |---|---|
/// | a tenant, or rejected (malformed, lookup failed) | that, `second` is not polled |
/// | no tenant or unmapped | what `second` says, except that "unmapped" wins over "no tenant" |
///
/// Both futures are made when the request arrives (a resolver's future cannot borrow the
/// request), so `second`'s synchronous work (reading its header) is done even when `first`
/// answers; its asynchronous work (a lookup) only happens if polled.
#[derive(Debug, Clone)]
pub struct Chain<A, B> {
    first: A,
    second: B,
}

impl<A, B> Chain<A, B> {
    /// `first`, then `second`.
    pub fn new(first: A, second: B) -> Self {
        Self { first, second }
    }
}

impl<A: Resolve, B: Resolve> Resolve for Chain<A, B> {
    type Future = ChainFuture<A::Future, B::Future>;

    fn resolve(&self, parts: &Parts) -> Self::Future {
        ChainFuture { first: self.first.resolve(parts), second: self.second.resolve(parts), first_said: None }
    }
}

pin_project! {
    /// The future of a [`Chain`].
    #[derive(Debug)]
    pub struct ChainFuture<A, B> {
        #[pin]
        first: A,
        #[pin]
        second: B,
        first_said: Option<Resolution>,
    }
}

impl<A, B> Future for ChainFuture<A, B>
where
    A: Future<Output = Resolution>,
    B: Future<Output = Resolution>,
{
    type Output = Resolution;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Resolution> {
        let this = self.project();
        if this.first_said.is_none() {
            match ready!(this.first.poll(cx)) {
                found @ (Resolution::Tenant(_) | Resolution::Rejected(_)) => return Poll::Ready(found),
                nothing => *this.first_said = Some(nothing),
            }
        }
        let second = ready!(this.second.poll(cx));
        Poll::Ready(match (second, this.first_said.take()) {
            (Resolution::NoTenant, Some(Resolution::Unmapped)) => Resolution::Unmapped,
            (second, _) => second,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::future::{ready, Ready};

    use futures_util::FutureExt;

    use super::*;
    use crate::error::Error;

    fn says(what: fn() -> Resolution) -> impl Fn(&Parts) -> Ready<Resolution> {
        move |_: &Parts| ready(what())
    }

    fn run(resolver: impl Resolve) -> Resolution {
        let (parts, ()) = http::Request::get("/").body(()).expect("request").into_parts();
        resolver.resolve(&parts).now_or_never().expect("ready")
    }

    #[test]
    fn first_answer_wins() {
        let chain = says(|| Resolution::tenant("a")).or(says(|| Resolution::tenant("b")));
        assert!(matches!(run(chain), Resolution::Tenant(c) if c.name() == "a"));
        let chain = says(|| Resolution::NoTenant).or(says(|| Resolution::tenant("b")));
        assert!(matches!(run(chain), Resolution::Tenant(c) if c.name() == "b"));
        let chain = says(|| Resolution::Unmapped).or(says(|| Resolution::tenant("b")));
        assert!(matches!(run(chain), Resolution::Tenant(c) if c.name() == "b"));
    }

    #[test]
    fn rejection_stops_and_unmapped_outranks_no_tenant() {
        let chain = says(|| Resolution::Rejected(Error::NoTenant)).or(says(|| Resolution::tenant("b")));
        assert!(matches!(run(chain), Resolution::Rejected(_)));
        let chain = says(|| Resolution::Unmapped).or(says(|| Resolution::NoTenant));
        assert!(matches!(run(chain), Resolution::Unmapped));
        let chain = says(|| Resolution::NoTenant).or(says(|| Resolution::Unmapped));
        assert!(matches!(run(chain), Resolution::Unmapped));
        let three =
            says(|| Resolution::NoTenant).or(says(|| Resolution::NoTenant)).or(says(|| Resolution::tenant("c")));
        assert!(matches!(run(three), Resolution::Tenant(c) if c.name() == "c"));
    }
}
