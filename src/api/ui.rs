//! `/ui`: the operator's live page. Its three files are compiled into the binary
//! (`include_str!`): nothing is fetched from anywhere but this daemon, and the
//! Content-Security-Policy says so to the browser. The page speaks only the REST API,
//! with the token the operator types once per browser session (kept in
//! `sessionStorage`); rotations fill in live from `/v1/rotations/{id}/events`.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, HeaderValue};
use actix_web::{HttpResponse, web};

const INDEX: &str = include_str!("ui_assets/index.html");
const SCRIPT: &str = include_str!("ui_assets/app.js");
const STYLE: &str = include_str!("ui_assets/app.css");

/// Only this origin, for everything; no inline script, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; \
                   base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn asset(body: &'static str, content_type: &'static str) -> HttpResponse {
    let mut r = HttpResponse::Ok().body(body);
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(actix_web::http::header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    r
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/ui", web::get().to(|| async { asset(INDEX, "text/html; charset=utf-8") }))
        .route("/ui/", web::get().to(|| async { asset(INDEX, "text/html; charset=utf-8") }))
        .route("/ui/app.js", web::get().to(|| async { asset(SCRIPT, "text/javascript; charset=utf-8") }))
        .route("/ui/app.css", web::get().to(|| async { asset(STYLE, "text/css; charset=utf-8") }));
}
