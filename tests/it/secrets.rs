//! Secrets never leave in clear text: not in responses, not in the daemon's log, not in the
//! database files. Runs the real binary against a real data directory.

use crate::support::daemon::{Daemon, http};

fn assert_absent(haystack: &[u8], secrets: &[&str], what: &str) {
    let text = String::from_utf8_lossy(haystack);
    for s in secrets {
        assert!(!text.contains(s), "{what} contains the secret {s:?}");
    }
}

#[test]
fn secrets_stay_out_of_responses_logs_and_database() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("daemon.log");
    let data = dir.path().join("data");
    let d = Daemon::start(&data, &log, None);

    let admin = std::fs::read_to_string(data.join("admin.token")).expect("admin token generated");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in ["admin.token", "master.key"] {
            let mode = std::fs::metadata(data.join(f)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{f} is private");
        }
    }
    let password = "registry-pass-0f1e2d3c";
    let password2 = "registry-pass-v2-4b5a69";
    let cluster_token = "cluster-bearer-8877aa";
    let key_pem = "-----BEGIN RSA PRIVATE KEY-----\nsecretkeymaterial123\n-----END RSA PRIVATE KEY-----\n";
    use base64::Engine;
    let key_b64 = base64::engine::general_purpose::STANDARD.encode(key_pem);
    let cert_b64 =
        base64::engine::general_purpose::STANDARD.encode("-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n");
    let secrets = [admin.as_str(), password, password2, cluster_token, key_b64.as_str(), "secretkeymaterial123"];

    let mut responses = String::new();
    let mut call = |method: &str, path: &str, body: Option<String>| {
        let (status, text) = http(&d.addr, method, path, Some(&admin), body.as_deref()).unwrap();
        assert!(status < 500, "{method} {path}: {text}");
        responses.push_str(&text);
        (status, text)
    };
    assert_eq!(
        call(
            "PUT",
            "/v1/clusters/tok",
            Some(format!(
                r#"{{"server":"https://127.0.0.1:1","insecureSkipTlsVerify":true,"token":"{cluster_token}"}}"#
            ))
        )
        .0,
        201
    );
    assert_eq!(call("PUT", "/v1/clusters/cert", Some(format!(r#"{{"server":"https://127.0.0.1:1","insecureSkipTlsVerify":true,"clientCertData":"{cert_b64}","clientKeyData":"{key_b64}"}}"#))).0, 201);
    assert_eq!(
        call(
            "PUT",
            "/v1/credentials/global-secret",
            Some(format!(r#"{{"registry":"r.example.com","username":"u","password":"{password}"}}"#))
        )
        .0,
        201
    );
    assert_eq!(
        call(
            "POST",
            "/v1/credentials/global-secret/versions",
            Some(format!(r#"{{"registry":"r.example.com","username":"u","password":"{password2}"}}"#))
        )
        .0,
        201
    );
    // A rejected request carrying a secret must not echo it either.
    assert_eq!(
        call("PUT", "/v1/clusters/bad", Some(format!(r#"{{"server":"nope","token":"{cluster_token}"}}"#))).0,
        422
    );
    let seed = r#"{"apiVersion":"data.fluid.io/v1alpha1","kind":"AlluxioRuntime","metadata":{"name":"hbase"},"spec":{"imagePullSecrets":[{"name":"global-secret"}]}}"#;
    assert_eq!(call("PUT", "/v1/runtimes/default/hbase?cluster=tok", Some(seed.to_string())).0, 201);
    for path in [
        "/v1/clusters",
        "/v1/clusters/tok",
        "/v1/clusters/cert",
        "/v1/credentials",
        "/v1/credentials/global-secret/versions",
        "/v1/runtimes/default/hbase/manifests",
        "/v1/runtimes/default/hbase/resolved",
    ] {
        assert_eq!(call("GET", path, None).0, 200, "{path}");
    }
    // The admin token itself is in requests only; strip the request echo by checking bodies.
    assert_absent(responses.as_bytes(), &secrets, "an API response");
    drop(d);

    let log_text = std::fs::read(&log).unwrap();
    assert!(String::from_utf8_lossy(&log_text).contains("admin.token"), "the log names the token file");
    assert_absent(&log_text, &secrets, "the daemon log");
    if fluidform::store::scratch::postgres_server().is_some() {
        let dump = fluidform::store::scratch::database_bytes(&data);
        assert!(String::from_utf8_lossy(&dump).contains("hbase"), "the dump holds the stored runtime");
        assert_absent(&dump, &secrets, "the PostgreSQL database");
        return;
    }
    let mut files = 0;
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("fluidform.db") {
            files += 1;
            assert_absent(&std::fs::read(&path).unwrap(), &secrets, &name);
        }
    }
    assert!(files >= 1, "database files were checked");
}
