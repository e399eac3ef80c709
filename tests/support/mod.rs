//! A loopback HTTP server that records what each request carried.

#![allow(dead_code)] // Each test binary uses its own part of this module.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use http::header::{AUTHORIZATION, LOCATION};
use http::{Request, Response, StatusCode};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub type HyperClient = Client<HttpConnector, Empty<Bytes>>;

pub fn hyper_client() -> HyperClient {
    Client::builder(TokioExecutor::new()).build_http()
}

pub fn get(url: &str) -> Request<Empty<Bytes>> {
    Request::get(url).body(Empty::new()).expect("valid request")
}

/// A GET request carrying `extension`, such as a per-request grant or token.
pub fn get_with<T: Clone + Send + Sync + 'static>(
    url: &str,
    extension: T,
) -> Request<Empty<Bytes>> {
    let mut request = get(url);
    request.extensions_mut().insert(extension);
    request
}

/// What one request carried.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub authorization: Option<String>,
    pub live_mode: Option<String>,
    pub content_length: Option<String>,
}

/// A server on 127.0.0.1 that answers 200 and records every request; `/redirect`
/// answers 302 to the URL it was started with.
pub struct Recorder {
    pub base_url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    redirect_to: Arc<Mutex<Option<String>>>,
    task: JoinHandle<()>,
}

impl Recorder {
    pub async fn start() -> Self {
        Self::start_redirecting_to(None).await
    }

    pub async fn start_redirecting_to(redirect_to: Option<String>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let base_url = format!("http://{}", listener.local_addr().expect("local addr"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorded = seen.clone();
        let redirect_to = Arc::new(Mutex::new(redirect_to));
        let redirect_target = redirect_to.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let recorded = recorded.clone();
                let redirect_to = redirect_target.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<Incoming>| {
                        let header = |name| {
                            req.headers()
                                .get(name)
                                .map(|v: &http::HeaderValue| v.to_str().expect("ascii").to_owned())
                        };
                        recorded.lock().expect("not poisoned").push(Seen {
                            path: req.uri().path().to_owned(),
                            authorization: header(AUTHORIZATION.as_str()),
                            live_mode: header("source-live-mode"),
                            content_length: header("content-length"),
                        });
                        let redirect_to = redirect_to.lock().expect("not poisoned").clone();
                        let response = match (&redirect_to, req.uri().path()) {
                            (Some(to), "/redirect") => Response::builder()
                                .status(StatusCode::FOUND)
                                .header(LOCATION, to.as_str())
                                .body(Empty::<Bytes>::new()),
                            _ => Response::builder().body(Empty::new()),
                        };
                        async move { Ok::<_, Infallible>(response.expect("valid response")) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            base_url,
            seen,
            redirect_to,
            task,
        }
    }

    /// From now on `/redirect` answers 302 to `url`.
    pub fn redirect_to(&self, url: String) {
        *self.redirect_to.lock().expect("not poisoned") = Some(url);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("not poisoned").clone()
    }

    /// The `Authorization` values seen, in order.
    pub fn authorizations(&self) -> Vec<Option<String>> {
        self.seen()
            .into_iter()
            .map(|seen| seen.authorization)
            .collect()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}
