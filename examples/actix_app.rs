//! An actix-web app whose handlers act on Source as the signed-in user.
//!
//! `cargo run --example actix_app --features actix-web`
//!
//! Needs no configuration and exits by itself: it starts MockSource (a local
//! stand-in for Source's API) with a test key, serves the app on an ephemeral
//! port, calls it as a few demo users and prints what each got.
//!
//! The app has a toy login (the `x-demo-user` header), a `/source-token` endpoint
//! for Source Elements frontends, and handlers that call Source with the
//! extracted member or caregiver token as the per-request credential.

mod support;

use std::future::{Ready, ready};
use std::net::TcpListener;

use actix_web::dev::Payload;
use actix_web::error::ErrorUnauthorized;
use actix_web::http::StatusCode;
use actix_web::{App, FromRequest, HttpRequest, HttpResponse, HttpServer, web};
use source_auth::actix::{ExtractorConfig, SourceCaregiver, SourceMember, TokenIssuer, configure};
use source_auth::{MemberToken, SourceAuth, SourceIdentity, TokenSigner};
use support::{BoxError, HttpClient, LOGIN_HEADER};

/// The app's own user, from its own login.
struct User {
    member_id: Option<&'static str>,
}

impl SourceIdentity for User {
    fn source_member_id(&self) -> Option<&str> {
        self.member_id
    }
}

impl FromRequest for User {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let user = req
            .headers()
            .get(LOGIN_HEADER)
            .and_then(|name| name.to_str().ok())
            .and_then(support::member_of)
            .map(|member_id| User { member_id });
        ready(user.ok_or_else(|| ErrorUnauthorized("sign in first")))
    }
}

/// Calls Source with the API key, or with a request's own member token.
#[derive(Clone)]
struct Source {
    client: SourceAuth<HttpClient>,
    url: String,
}

/// The signed-in member's record, fetched from Source as that member.
async fn my_record(source: web::Data<Source>, member: SourceMember<User>) -> HttpResponse {
    ask_source(&source, &member.token).await
}

/// Another member's record, fetched as the signed-in user acting as their caregiver.
async fn member_record(
    source: web::Data<Source>,
    caregiver: SourceCaregiver<User>,
) -> HttpResponse {
    ask_source(&source, &caregiver.token).await
}

async fn ask_source(source: &Source, token: &MemberToken) -> HttpResponse {
    match support::call_source(&source.client, &source.url, token).await {
        Ok((status, body)) => {
            // actix-web has its own `StatusCode` type; hyper's converts through u16.
            let status = StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            HttpResponse::build(status).body(body)
        }
        Err(_) => HttpResponse::BadGateway().body("Source is unreachable"),
    }
}

#[actix_web::main]
async fn main() -> Result<(), BoxError> {
    let key = support::api_key()?;
    let mock = support::start_mock_source(&key).await?;

    // One signer for the extractors and the client: one estimate of Source's
    // clock, which the client learns at start-up and from Source's answers.
    let signer = TokenSigner::new(key.clone());
    let source = web::Data::new(Source {
        client: support::source_client(signer.clone(), mock.base_url()).await?,
        url: mock.base_url().to_owned(),
    });
    let issuer = TokenIssuer::new(signer, ExtractorConfig::default())?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let app_url = format!("http://{}", listener.local_addr()?);
    let server = HttpServer::new(move || {
        App::new()
            // The issuer for every extractor of the App, and the token endpoints.
            .configure(configure::<User>(issuer.clone()))
            .app_data(source.clone())
            .route("/me/record", web::get().to(my_record))
            .route("/members/{member_id}/record", web::get().to(member_record))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    println!(
        "actix-web app on {app_url}, Source stand-in on {}\n",
        mock.base_url()
    );

    let demo = support::run_demo(&app_url, key).await;
    handle.stop(true).await;
    demo
}
