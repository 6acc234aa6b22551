//! A tower layer under every kube client: each HTTP request to a target API server is
//! timed and counted by cluster, verb and outcome (`crate::metrics`). It sits below kube's
//! own stack, so it sees exactly what goes on the wire, whoever asked for it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{Method, Request, Response};
use tower::{Layer, Service};

#[derive(Clone)]
pub struct MeteredLayer {
    cluster: Arc<str>,
}

impl MeteredLayer {
    pub fn new(cluster: &str) -> Self {
        Self { cluster: cluster.into() }
    }
}

impl<S> Layer<S> for MeteredLayer {
    type Service = Metered<S>;
    fn layer(&self, inner: S) -> Metered<S> {
        Metered { inner, cluster: self.cluster.clone() }
    }
}

#[derive(Clone)]
pub struct Metered<S> {
    inner: S,
    cluster: Arc<str>,
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for Metered<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    S::Future: Send + 'static,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ResB>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let content_type = req.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let verb = verb(req.method(), req.uri().path(), req.uri().query().unwrap_or(""), content_type);
        let cluster = self.cluster.clone();
        let started = Instant::now();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let out = fut.await;
            let outcome = match &out {
                Ok(r) => outcome(r.status().as_u16()),
                Err(_) => "error",
            };
            crate::metrics::apiserver_request(&cluster, verb, outcome, started.elapsed());
            out
        })
    }
}

/// The outcome label of an answer.
pub fn outcome(status: u16) -> &'static str {
    match status {
        200..=299 => "success",
        404 => "not_found",
        409 => "conflict",
        401 | 403 => "unauthorized",
        400..=499 => "client_error",
        _ => "server_error",
    }
}

/// The Kubernetes verb of a request, as the API server's audit log would name it.
pub fn verb(method: &Method, path: &str, query: &str, content_type: &str) -> &'static str {
    let segments: Vec<&str> = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    let rest: &[&str] = match segments.first() {
        Some(&"api") => segments.get(2..).unwrap_or_default(),
        Some(&"apis") => segments.get(3..).unwrap_or_default(),
        _ => return if *method == Method::GET { "get" } else { "other" },
    };
    let rest = if rest.first() == Some(&"namespaces") && rest.len() >= 3 { &rest[2..] } else { rest };
    let collection = rest.len() <= 1;
    match *method {
        Method::GET if query.split('&').any(|kv| kv == "watch=true" || kv == "watch=1") => "watch",
        Method::GET if rest.is_empty() => "get",
        Method::GET if collection => "list",
        Method::GET => "get",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH if content_type.starts_with("application/apply-patch") => "apply",
        Method::PATCH => "patch",
        Method::DELETE if collection => "deletecollection",
        Method::DELETE => "delete",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_follow_the_request_shape() {
        let rows = [
            (Method::GET, "/api/v1/namespaces/ns/pods", "limit=500", "", "list"),
            (Method::GET, "/api/v1/namespaces/ns/pods/p", "", "", "get"),
            (Method::GET, "/api/v1/namespaces/ns", "", "", "get"),
            (Method::GET, "/api/v1/namespaces", "", "", "list"),
            (Method::GET, "/apis/apps/v1/namespaces/ns/statefulsets", "watch=true", "", "watch"),
            (Method::GET, "/apis/data.fluid.io/v1alpha1", "", "", "get"),
            (Method::GET, "/version", "", "", "get"),
            (Method::PATCH, "/apis/apps/v1/namespaces/ns/statefulsets/s", "", "application/apply-patch+yaml", "apply"),
            (Method::PATCH, "/apis/apps/v1/namespaces/ns/statefulsets/s", "", "application/json-patch+json", "patch"),
            (Method::DELETE, "/api/v1/namespaces/ns/pods/p", "", "", "delete"),
            (Method::POST, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", "", "", "create"),
            (Method::PUT, "/api/v1/namespaces/ns/configmaps/c", "", "", "update"),
        ];
        for (m, path, q, ct, want) in rows {
            assert_eq!(verb(&m, path, q, ct), want, "{m} {path}");
        }
        assert_eq!(outcome(201), "success");
        assert_eq!(outcome(404), "not_found");
        assert_eq!(outcome(422), "client_error");
        assert_eq!(outcome(503), "server_error");
    }
}
