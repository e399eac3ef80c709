//! Failures a test asked for ([`MockSource::fail_next`](super::MockSource::fail_next)):
//! the next requests get them, whatever they carry.

use axum::response::Response;
use http::StatusCode;

use super::record::Outcome;
use super::rejection::injected_failure;

/// One injected failure: the status and the error body's `code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    status: StatusCode,
    code: String,
}

impl Failure {
    /// What the request is recorded as, and the answer it gets.
    pub(crate) fn answer(self, request_id: &str) -> (Outcome, Response) {
        let response = injected_failure(self.status, &self.code, request_id);
        let outcome = Outcome::Injected {
            status: self.status,
            code: self.code,
        };
        (outcome, response)
    }
}

/// The failures still owed: the next `remaining` requests get `failure`.
#[derive(Debug)]
pub(crate) struct FailNext {
    remaining: usize,
    failure: Failure,
}

impl FailNext {
    pub(crate) fn new(n: usize, status: StatusCode, code: &str) -> Self {
        Self {
            remaining: n,
            failure: Failure {
                status,
                code: code.to_owned(),
            },
        }
    }

    /// The failure for the request arriving now, while any are owed.
    pub(crate) fn take(&mut self) -> Option<Failure> {
        self.remaining = self.remaining.checked_sub(1)?;
        Some(self.failure.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_n_failures_are_handed_out() {
        let mut fail = FailNext::new(2, StatusCode::SERVICE_UNAVAILABLE, "unavailable");
        let expected = Failure {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "unavailable".to_owned(),
        };
        assert_eq!(fail.take(), Some(expected.clone()));
        assert_eq!(fail.take(), Some(expected));
        assert_eq!(fail.take(), None);
        assert_eq!(fail.take(), None);
    }

    #[test]
    fn zero_failures_fail_nothing() {
        let mut fail = FailNext::new(0, StatusCode::INTERNAL_SERVER_ERROR, "boom");
        assert_eq!(fail.take(), None);
    }

    #[test]
    fn an_injected_failure_is_recorded_as_injected_with_its_status_and_code() {
        let failure = FailNext::new(1, StatusCode::TOO_MANY_REQUESTS, "rate_limited")
            .take()
            .expect("one failure owed");
        let (outcome, response) = failure.answer("req_mock1");
        assert_eq!(
            outcome,
            Outcome::Injected {
                status: StatusCode::TOO_MANY_REQUESTS,
                code: "rate_limited".to_owned(),
            }
        );
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    }
}
