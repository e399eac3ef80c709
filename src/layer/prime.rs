//! Learning Source's clock before the first member request.

use std::future::poll_fn;

use http::{Request, Response};
use tower_service::Service;

use crate::error::{BoxError, Error, ErrorKind, Result};
use crate::skew::{ClockBound, ClockProbe};

use super::SourceAuthLayer;

impl SourceAuthLayer {
    /// A request that, sent through a client with this layer, teaches the
    /// layer Source's clock: `GET {origin}/v1` marked [`ClockProbe`], which the
    /// layer sends with **no credential at all**, whatever it was built with,
    /// and whose answer's `Date` it reads into its estimate. Source dates every
    /// answer, its 401 to a request with no credential included, so the probe
    /// needs nothing an app might not have yet.
    ///
    /// The probe goes through the layer, not around it, because only the layer
    /// knows its origin and estimate; a plain client's request would teach
    /// nothing, and a request through the layer with no marker would carry the
    /// API key (or be refused by a [`per_request`](Self::per_request) layer).
    /// [`prime`](Self::prime) sends it and checks it taught something.
    pub fn clock_probe<B: Default>(&self) -> Request<B> {
        let mut probe = Request::new(B::default());
        *probe.uri_mut() = format!("{}/v1", self.origin())
            .parse()
            .expect("an origin and a path make a valid URI");
        probe.extensions_mut().insert(ClockProbe);
        probe
    }

    /// Learns Source's clock now, through `client` (a tower service with this
    /// layer in it: hyper-util's client, say), with one [`clock_probe`](Self::clock_probe):
    /// call it at start-up, so that the first member request is already signed
    /// on Source's clock. Returns the estimate.
    ///
    /// Fails with [`ErrorKind::ClockNotLearned`] when the answer taught nothing
    /// (no `Date`, from another origin, or too slow), and with the client's
    /// error when it could not send.
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use http::{Request, Response, StatusCode, header::{AUTHORIZATION, DATE}};
    /// use source_auth::{ApiKey, SourceAuthLayer};
    /// use tower::{ServiceBuilder, service_fn};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), source_auth::BoxError> {
    /// let key = ApiKey::new("key_0EipsUv2yRFxynHshisN", "sk_test_4eC39HqLyjWDarjtT1zdp7dc00000000")?;
    /// let layer = SourceAuthLayer::new(key);
    /// // Stands in for Source: a 401 to a request with no credential, dated.
    /// let source = service_fn(|request: Request<()>| async move {
    ///     assert!(request.headers().get(AUTHORIZATION).is_none());
    ///     let mut answer = Response::new(());
    ///     *answer.status_mut() = StatusCode::UNAUTHORIZED;
    ///     let now = httpdate::fmt_http_date(std::time::SystemTime::now());
    ///     answer.headers_mut().insert(DATE, now.parse().unwrap());
    ///     Ok::<_, Infallible>(answer)
    /// });
    /// let client = ServiceBuilder::new().layer(layer.clone()).service(source);
    /// let bound = layer.prime(client).await?;
    /// assert!(bound.width() <= std::time::Duration::from_secs(2));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn prime<S, B, ResBody>(
        &self,
        mut client: S,
    ) -> std::result::Result<ClockBound, BoxError>
    where
        S: Service<Request<B>, Response = Response<ResBody>>,
        S::Error: Into<BoxError>,
        B: Default,
    {
        let before = self.source_clock().samples();
        poll_fn(|cx| client.poll_ready(cx))
            .await
            .map_err(Into::into)?;
        client.call(self.clock_probe()).await.map_err(Into::into)?;
        Ok(self.learned_since(before)?)
    }

    /// [`prime`](Self::prime) through a reqwest-middleware client built with
    /// this layer.
    #[cfg(feature = "reqwest")]
    #[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
    pub async fn prime_middleware(
        &self,
        client: &reqwest_middleware::ClientWithMiddleware,
    ) -> std::result::Result<ClockBound, BoxError> {
        let before = self.source_clock().samples();
        client
            .get(format!("{}/v1", self.origin()))
            .with_extension(ClockProbe)
            .send()
            .await?;
        Ok(self.learned_since(before)?)
    }

    /// The estimate, if a sample was taken since there were `before`.
    fn learned_since(&self, before: u64) -> Result<ClockBound> {
        if self.source_clock().samples() == before {
            return Err(Error::new(
                ErrorKind::ClockNotLearned,
                "Source's answer to the clock probe taught nothing: it carried no `Date` (or an \
                 `Age`), came from another origin than the layer's, or took longer than \
                 `skew::MAX_SAMPLE_ROUND_TRIP`; check the client the layer is in and its base URL",
            ));
        }
        Ok(self.source_clock().bound())
    }
}
