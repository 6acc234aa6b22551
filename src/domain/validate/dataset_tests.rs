//! One failing case per Dataset rule, each asserting the field it names.

use serde_json::{Value, json};

use super::*;
use crate::domain::dataset::tests::dataset;
use crate::domain::manifest::ManifestFormat;
use crate::domain::testutil::patched;

fn with(patch: Value) -> Dataset {
    let v = patched(&serde_json::to_value(dataset()).unwrap(), &patch);
    crate::domain::dataset::parse_dataset(&serde_json::to_vec(&v).unwrap(), ManifestFormat::Json)
        .unwrap_or_else(|e| panic!("patched Dataset does not parse: {e}"))
}

fn check(ds: &Dataset) -> Vec<FieldError> {
    validate_dataset(ds, "default", "hbase")
}

fn mounts(list: Value) -> Value {
    json!({"spec": {"mounts": list}})
}

fn enc(name: &str, secret: &str, key: Option<&str>) -> Value {
    let mut sel = json!({"name": secret});
    if let Some(k) = key {
        sel["key"] = json!(k);
    }
    json!({"name": name, "valueFrom": {"secretKeyRef": sel}})
}

#[test]
fn example_passes() {
    assert_eq!(check(&dataset()), vec![]);
}

#[test]
fn each_rule_names_its_field() {
    let s3 = |name: &str| json!({"mountPoint": "s3://bucket/a", "name": name});
    let cases: Vec<(&str, Value, &str)> = vec![
        ("api version", json!({"apiVersion": "v1"}), "apiVersion"),
        ("kind", json!({"kind": "AlluxioRuntime"}), "kind"),
        ("name mismatch", json!({"metadata": {"name": "other"}}), "metadata.name"),
        ("namespace mismatch", json!({"metadata": {"namespace": "prod"}}), "metadata.namespace"),
        ("mounts empty", mounts(json!([])), "spec.mounts"),
        ("mountPoint missing", mounts(json!([{"name": "a"}])), "spec.mounts[0].mountPoint"),
        ("mountPoint short", mounts(json!([{"mountPoint": "s3:/"}])), "spec.mounts[0].mountPoint"),
        ("relative path", mounts(json!([{"mountPoint": "s3://b/a", "path": "data"}])), "spec.mounts[0].path"),
        ("duplicate name", mounts(json!([s3("a"), s3("b"), s3("a")])), "spec.mounts[2].name"),
        (
            "duplicate effective path",
            mounts(json!([s3("a"), {"mountPoint": "s3://b/c", "name": "c", "path": "/a"}])),
            "spec.mounts[1].path",
        ),
        (
            "two unnamed mounts share /",
            mounts(json!([{"mountPoint": "s3://b/a"}, {"mountPoint": "s3://b/c"}])),
            "spec.mounts[1].path",
        ),
        (
            "dataset mount not alone",
            mounts(json!([{"mountPoint": "dataset://ns/other"}, s3("a")])),
            "spec.mounts[0].mountPoint",
        ),
        ("dataset mount without name", mounts(json!([{"mountPoint": "dataset://ns"}])), "spec.mounts[0].mountPoint"),
        (
            "dataset mounts itself",
            mounts(json!([{"mountPoint": "dataset://default/hbase"}])),
            "spec.mounts[0].mountPoint",
        ),
        (
            "credential option",
            mounts(json!([{"mountPoint": "s3://b/a", "options": {"fs.s3a.access.key": "AKIA"}}])),
            "spec.mounts[0].options",
        ),
        ("credential shared option", json!({"spec": {"sharedOptions": {"aws.secretKey": "x"}}}), "spec.sharedOptions"),
        (
            "option also encrypted",
            mounts(
                json!([{"mountPoint": "s3://b/a", "options": {"fs.endpoint": "x"}, "encryptOptions": [enc("fs.endpoint", "s", Some("k"))]}]),
            ),
            "spec.mounts[0].options",
        ),
        (
            "shared option also encrypted, no mounts",
            json!({"spec": {"mounts": null, "sharedOptions": {"fs.endpoint": "x"}, "sharedEncryptOptions": [enc("fs.endpoint", "s", Some("k"))]}}),
            "spec.sharedOptions",
        ),
        (
            "shared option also encrypted by a mount",
            json!({"spec": {"sharedOptions": {"fs.endpoint": "x"}, "mounts": [{"mountPoint": "s3://b/a", "encryptOptions": [enc("fs.endpoint", "s", Some("k"))]}]}}),
            "spec.mounts[0].options",
        ),
        (
            "encrypt option name",
            mounts(json!([{"mountPoint": "s3://b/a", "encryptOptions": [enc("", "s", Some("k"))]}])),
            "spec.mounts[0].encryptOptions[0].name",
        ),
        (
            "encrypt option twice",
            mounts(
                json!([{"mountPoint": "s3://b/a", "encryptOptions": [enc("a", "s", Some("k")), enc("a", "s", Some("j"))]}]),
            ),
            "spec.mounts[0].encryptOptions[1].name",
        ),
        (
            "encrypt option without source",
            mounts(json!([{"mountPoint": "s3://b/a", "encryptOptions": [{"name": "a"}]}])),
            "spec.mounts[0].encryptOptions[0].valueFrom.secretKeyRef",
        ),
        (
            "secret name missing",
            mounts(json!([{"mountPoint": "s3://b/a", "encryptOptions": [enc("a", "", Some("k"))]}])),
            "spec.mounts[0].encryptOptions[0].valueFrom.secretKeyRef.name",
        ),
        (
            "secret name invalid",
            json!({"spec": {"sharedEncryptOptions": [enc("a", "Bad_Name", Some("k"))]}}),
            "spec.sharedEncryptOptions[0].valueFrom.secretKeyRef.name",
        ),
        (
            "secret key missing",
            json!({"spec": {"sharedEncryptOptions": [enc("a", "s", None)]}}),
            "spec.sharedEncryptOptions[0].valueFrom.secretKeyRef.key",
        ),
        (
            "secret key invalid",
            json!({"spec": {"sharedEncryptOptions": [enc("a", "s", Some("a/b"))]}}),
            "spec.sharedEncryptOptions[0].valueFrom.secretKeyRef.key",
        ),
        ("owner incomplete", json!({"spec": {"owner": {"uid": 1000, "gid": 1000}}}), "spec.owner.user"),
        (
            "owner negative",
            json!({"spec": {"owner": {"uid": -1, "gid": 1, "user": "a", "group": "a"}}}),
            "spec.owner.uid",
        ),
        ("placement", json!({"spec": {"placement": "exclusive"}}), "spec.placement"),
        ("access mode", json!({"spec": {"accessModes": ["ReadWriteMany", "ReadOnly"]}}), "spec.accessModes[1]"),
        (
            "access mode twice",
            json!({"spec": {"accessModes": ["ReadOnlyMany", "ReadOnlyMany"]}}),
            "spec.accessModes[1]",
        ),
        (
            "ReadWriteOncePod combined",
            json!({"spec": {"accessModes": ["ReadWriteOncePod", "ReadOnlyMany"]}}),
            "spec.accessModes",
        ),
        (
            "node affinity shape",
            json!({"spec": {"nodeAffinity": {"required": {"nodeSelectorTerms": "x"}}}}),
            "spec.nodeAffinity.required",
        ),
        (
            "node affinity unknown field",
            json!({"spec": {"nodeAffinity": {"required": {"terms": [], "nodeSelectorTerms": [{}]}}}}),
            "spec.nodeAffinity.required.terms",
        ),
        (
            "node affinity empty",
            json!({"spec": {"nodeAffinity": {"required": {"nodeSelectorTerms": []}}}}),
            "spec.nodeAffinity.required.nodeSelectorTerms",
        ),
        (
            "node affinity operator",
            json!({"spec": {"nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "k", "operator": "Is"}]}]}}}}),
            "spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].operator",
        ),
        ("toleration shape", json!({"spec": {"tolerations": [{"key": 1}]}}), "spec.tolerations[0]"),
        (
            "toleration operator",
            json!({"spec": {"tolerations": [{"key": "k", "operator": "In"}]}}),
            "spec.tolerations[0].operator",
        ),
        (
            "toleration exists value",
            json!({"spec": {"tolerations": [{"key": "k", "operator": "Exists", "value": "v"}]}}),
            "spec.tolerations[0].value",
        ),
        (
            "toleration effect",
            json!({"spec": {"tolerations": [{"operator": "Exists", "effect": "Never"}]}}),
            "spec.tolerations[0].effect",
        ),
        ("runtime name", json!({"spec": {"runtimes": [{"name": "1x"}]}}), "spec.runtimes[0].name"),
        (
            "restore path",
            json!({"spec": {"dataRestoreLocation": {"path": "s3://x/y"}}}),
            "spec.dataRestoreLocation.path",
        ),
        (
            "restore node",
            json!({"spec": {"dataRestoreLocation": {"path": "local:///x", "nodeName": "Node_1"}}}),
            "spec.dataRestoreLocation.nodeName",
        ),
        ("label", json!({"metadata": {"labels": {"a b": "x"}}}), "metadata.labels"),
    ];
    for (what, patch, field) in cases {
        let errors = check(&with(patch));
        assert!(errors.iter().any(|e| e.field == field), "{what}: expected an error at {field}, got {errors:?}");
    }
}

#[test]
fn path_name_rules() {
    let ds = dataset();
    assert!(validate_dataset(&ds, "default", "1hbase").iter().any(|e| e.field == "metadata.name"));
    assert!(validate_dataset(&ds, "Bad_NS", "hbase").iter().any(|e| e.field == "metadata.namespace"));
}

#[test]
fn credential_keys() {
    let refused = [
        "fs.oss.accessKeySecret",
        "fs.oss.accessKeyId",
        "fs.s3a.access.key",
        "fs.s3a.secret.key",
        "aws.secretKey",
        "fs.cos.userinfo.secretId",
        "PASSWORD",
        "db.passwd",
        "sas_token",
        "google.credentials.json",
        "fs.azure.account.key.x.dfs.core.windows.net",
        "access-key",
        "access_key",
        "ssh.private.key",
    ];
    for key in refused {
        assert!(is_credential_option(key), "{key} must be refused");
    }
    for key in ["fs.oss.endpoint", "alluxio.underfs.s3.region", "fs.s3a.path.style.access", "keyspace"] {
        assert!(!is_credential_option(key), "{key} must be accepted");
    }
}

#[test]
fn messages_never_echo_option_values() {
    let secret_value = "s3cr3t-VALUE-do-not-print";
    let ds = with(json!({"spec": {
        "mounts": [{"mountPoint": "s3://b/a", "options": {"fs.s3a.secret.key": secret_value, "token": secret_value}}],
        "sharedOptions": {"password": secret_value},
    }}));
    let errors = check(&ds);
    assert_eq!(errors.len(), 3, "{errors:?}");
    for e in &errors {
        assert!(!e.message.contains(secret_value) && !e.field.contains(secret_value), "{e:?}");
        assert!(e.message.contains("encryptOptions") && e.message.contains("Secret"), "{e:?}");
    }
    assert!(errors[0].message.contains("\"fs.s3a.secret.key\""), "the key is named: {:?}", errors[0]);
}

#[test]
fn every_violation_is_reported() {
    let ds = with(json!({
        "kind": "Other",
        "spec": {"placement": "x", "mounts": [{"mountPoint": "x"}, {"mountPoint": "dataset://a/b"}], "accessModes": ["x"]}
    }));
    let fields: Vec<String> = check(&ds).into_iter().map(|e| e.field).collect();
    for f in ["kind", "spec.placement", "spec.mounts[0].mountPoint", "spec.mounts[1].mountPoint", "spec.accessModes[0]"]
    {
        assert!(fields.contains(&f.to_string()), "{f} in {fields:?}");
    }
}

#[test]
fn valid_variants_pass() {
    let cases = [
        json!({"spec": {"mounts": null}}),
        mounts(json!([{"mountPoint": "dataset://other-ns/base/sub/dir"}])),
        mounts(
            json!([{"mountPoint": "local:///mnt/data", "name": "data"}, {"mountPoint": "pvc://claim/sub", "name": "claim"}]),
        ),
        mounts(json!([{"mountPoint": "https://mirror.example.com/x", "name": "a", "path": "/"}])),
        mounts(json!([{"mountPoint": "s3://b/a", "name": "a", "readOnly": true, "shared": true, "path": ""}])),
        json!({"spec": {
            "sharedOptions": {"fs.endpoint": "x"},
            "sharedEncryptOptions": [enc("fs.oss.accessKeyId", "oss", Some("id"))],
            "mounts": [{"mountPoint": "oss://b/a", "name": "a", "encryptOptions": [enc("fs.oss.accessKeyId", "other", Some("id"))]}]
        }}),
        json!({"spec": {"owner": {"uid": 0, "gid": 0, "user": "root", "group": "root"}}}),
        json!({"spec": {"accessModes": ["ReadWriteOnce", "ReadOnlyMany"], "placement": ""}}),
        json!({"spec": {"accessModes": ["ReadWriteOncePod"], "placement": "Exclusive"}}),
        json!({"spec": {"nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "k", "operator": "In", "values": ["a"]}]}]}}}}),
        json!({"spec": {"tolerations": [{"operator": "Exists"}, {"key": "k", "operator": "Equal", "value": "v", "effect": "NoExecute", "tolerationSeconds": 30}]}}),
        json!({"spec": {"runtimes": [{"name": "hbase", "namespace": "default", "category": "Accelerate", "type": "alluxio", "masterReplicas": 1}]}}),
        json!({"spec": {"dataRestoreLocation": {"path": "pvc://backup/hbase"}}}),
        json!({"spec": {"dataRestoreLocation": {"path": "local:///backup", "nodeName": "node-1"}}}),
    ];
    for patch in cases {
        let ds = with(patch.clone());
        assert_eq!(check(&ds), vec![], "{patch}");
    }
}

#[test]
fn a_shared_clash_is_reported_once() {
    let ds = with(json!({"spec": {
        "sharedOptions": {"fs.endpoint": "x"},
        "sharedEncryptOptions": [enc("fs.endpoint", "s", Some("k"))],
        "mounts": [{"mountPoint": "s3://b/a", "name": "a"}, {"mountPoint": "s3://b/c", "name": "c"}],
    }}));
    let clashes: Vec<FieldError> = check(&ds).into_iter().filter(|e| e.message.contains("both as an option")).collect();
    assert_eq!(
        clashes,
        vec![FieldError::new(
            "spec.sharedOptions",
            "\"fs.endpoint\" is given both as an option and as an encrypt option"
        )]
    );
}
