//! Turns a panic inside a request future into an `Err`, so the adapter can
//! still answer with the contract's 500 instead of losing the invocation.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

pub struct CatchPanic<F> {
    inner: Pin<Box<F>>,
}

/// Wraps `future`; polling it yields `Err(())` if `future` panicked.
pub fn catch_panic<F: Future>(future: F) -> CatchPanic<F> {
    CatchPanic { inner: Box::pin(future) }
}

impl<F: Future> Future for CatchPanic<F> {
    type Output = Result<F::Output, ()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.inner.as_mut();
        match catch_unwind(AssertUnwindSafe(move || inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Err(_) => Poll::Ready(Err(())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_future_becomes_an_error() {
        let result = catch_panic(async { panic!("boom") }).await;
        assert_eq!(result, Err::<(), ()>(()));
        assert_eq!(catch_panic(async { 7 }).await, Ok(7));
    }
}
