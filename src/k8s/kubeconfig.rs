//! A kube client from a stored cluster connection, through an in-memory kubeconfig (the
//! credential never touches a file).

use kube::config::{
    AuthInfo, Cluster, Context as KubeContext, KubeConfigOptions, Kubeconfig, NamedAuthInfo, NamedCluster, NamedContext,
};

use crate::engine::port::{ClusterConnection, ClusterError, Result};

fn to_kubeconfig(c: &ClusterConnection) -> Kubeconfig {
    Kubeconfig {
        clusters: vec![NamedCluster {
            name: "target".into(),
            cluster: Some(Cluster {
                server: Some(c.server.clone()),
                insecure_skip_tls_verify: Some(c.insecure_skip_tls_verify),
                certificate_authority_data: c.ca_data.clone(),
                ..Default::default()
            }),
            other: Default::default(),
        }],
        auth_infos: vec![NamedAuthInfo {
            name: "fluidform".into(),
            auth_info: Some(AuthInfo {
                token: c.token.clone().map(Into::into),
                client_certificate_data: c.client_cert_data.clone(),
                client_key_data: c.client_key_data.clone().map(Into::into),
                ..Default::default()
            }),
            other: Default::default(),
        }],
        contexts: vec![NamedContext {
            name: "target".into(),
            context: Some(KubeContext {
                cluster: "target".into(),
                user: Some("fluidform".into()),
                ..Default::default()
            }),
            other: Default::default(),
        }],
        current_context: Some("target".into()),
        ..Default::default()
    }
}

/// A client for cluster `name` whose every request is timed and counted (`metered`).
pub async fn client(name: &str, conn: &ClusterConnection) -> Result<kube::Client> {
    // kube's client builder panics on a token that is no header value (a control character,
    // say); registration refuses those, and a token stored before that rule is refused here.
    if conn.token.as_deref().is_some_and(|t| http::HeaderValue::try_from(format!("Bearer {t}")).is_err()) {
        return Err(ClusterError::Config("the stored token is not a valid HTTP header value".into()));
    }
    let mut config = kube::Config::from_custom_kubeconfig(to_kubeconfig(conn), &KubeConfigOptions::default())
        .await
        .map_err(|e| ClusterError::Config(e.to_string()))?;
    super::timeouts(&mut config);
    let builder = kube::client::ClientBuilder::try_from(config).map_err(|e| ClusterError::Config(e.to_string()))?;
    Ok(builder.with_layer(&super::metered::MeteredLayer::new(name)).build())
}
