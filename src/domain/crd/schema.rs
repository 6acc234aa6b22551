//! Conversion of a type's utoipa schema (OpenAPI 3.1, as `ToSchema` derives it) into a
//! structural OpenAPI v3 schema as `apiextensions.k8s.io/v1` requires.
//!
//! - Every `$ref` is inlined from the components the type collects (`ToSchema::schemas`);
//!   a reference cycle is an error (structural schemas cannot recurse).
//! - `Option<T>` arrives as `oneOf: [T, {type: null}]` or `type: [t, "null"]`; it becomes
//!   `T`. Fields are optional in a CRD by not being `required`; `nullable` is never set,
//!   since fluidform omits absent fields rather than writing `null`.
//! - Maps become `additionalProperties`; `propertyNames` and `additionalProperties: false`
//!   are dropped (the API server prunes unknown fields; structural schemas forbid the
//!   boolean form).
//! - An object with neither properties nor additional properties is a free-form
//!   Kubernetes-typed value (`serde_json::Value`): `type: object` with
//!   `x-kubernetes-preserve-unknown-fields: true`.
//! - `StringOrNumber` becomes `x-kubernetes-int-or-string: true` with no type, as
//!   Kubernetes writes quantities.
//! - Any other `oneOf`/`anyOf`/`allOf`, an unknown keyword or a node without a type is an
//!   error naming its path, so a new model field cannot silently produce a schema the API
//!   server would refuse.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use crate::domain::manifest::StringOrNumber;

const REF_PREFIX: &str = "#/components/schemas/";
/// Keywords carried over as they are.
const CARRIED: [&str; 8] = ["description", "format", "enum", "minimum", "maximum", "minLength", "maxLength", "pattern"];
/// Keywords with no place in a structural schema, dropped.
const DROPPED: [&str; 8] =
    ["propertyNames", "default", "example", "examples", "deprecated", "title", "readOnly", "writeOnly"];
const TYPES: [&str; 6] = ["object", "array", "string", "integer", "number", "boolean"];

/// The structural schema of `T`, every reference inlined.
pub fn structural<T: ToSchema>() -> Result<Value, String> {
    let mut collected = Vec::new();
    T::schemas(&mut collected);
    let components = collected
        .into_iter()
        .map(|(name, schema)| serde_json::to_value(schema).map(|v| (name, v)))
        .collect::<Result<BTreeMap<_, _>, _>>()
        .map_err(|e| e.to_string())?;
    let root = serde_json::to_value(T::schema()).map_err(|e| e.to_string())?;
    Converter { components: &components, stack: Vec::new() }.convert(&root, "")
}

struct Converter<'a> {
    components: &'a BTreeMap<String, Value>,
    /// References being inlined, to refuse a cycle.
    stack: Vec<String>,
}

fn at(path: &str) -> &str {
    if path.is_empty() { "the root" } else { path }
}

impl Converter<'_> {
    fn convert(&mut self, node: &Value, path: &str) -> Result<Value, String> {
        let obj = node.as_object().ok_or_else(|| format!("{}: a schema must be an object", at(path)))?;
        if let Some(r) = obj.get("$ref") {
            return self.reference(r, obj, path);
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(alts) = obj.get(key) {
                return self.nullable(key, alts, obj, path);
            }
        }
        let ty = match obj.get("type") {
            Some(Value::String(t)) => t.clone(),
            Some(Value::Array(ts)) => {
                let real: Vec<&str> = ts.iter().filter_map(Value::as_str).filter(|t| *t != "null").collect();
                match real.as_slice() {
                    [t] => t.to_string(),
                    _ => return Err(format!("{}: type {ts:?} is not one type", at(path))),
                }
            }
            _ => return Err(format!("{}: no type", at(path))),
        };
        if !TYPES.contains(&ty.as_str()) {
            return Err(format!("{}: type {ty:?} has no structural equivalent", at(path)));
        }
        let mut out = Map::new();
        out.insert("type".into(), Value::String(ty.clone()));
        for (key, value) in obj {
            match key.as_str() {
                "type" => {}
                k if CARRIED.contains(&k) => {
                    out.insert(key.clone(), value.clone());
                }
                k if DROPPED.contains(&k) => {}
                "properties" if ty == "object" => {
                    let props = value.as_object().ok_or_else(|| format!("{}: properties is not a map", at(path)))?;
                    let mut converted = Map::new();
                    for (name, schema) in props {
                        let p = if path.is_empty() { name.clone() } else { format!("{path}.{name}") };
                        converted.insert(name.clone(), self.convert(schema, &p)?);
                    }
                    out.insert("properties".into(), Value::Object(converted));
                }
                "required" if ty == "object" => {
                    out.insert(key.clone(), value.clone());
                }
                "additionalProperties" if ty == "object" => match value {
                    Value::Bool(false) => {}
                    Value::Bool(true) => {
                        out.insert("x-kubernetes-preserve-unknown-fields".into(), Value::Bool(true));
                    }
                    schema => {
                        let converted = self.convert(schema, &format!("{path}{{}}"))?;
                        out.insert("additionalProperties".into(), converted);
                    }
                },
                "items" if ty == "array" => {
                    let converted = self.convert(value, &format!("{path}[]"))?;
                    out.insert("items".into(), converted);
                }
                other => return Err(format!("{}: keyword {other:?} has no structural equivalent", at(path))),
            }
        }
        if ty == "array" && !out.contains_key("items") {
            return Err(format!("{}: an array needs items", at(path)));
        }
        if ty == "object" && !out.contains_key("properties") && !out.contains_key("additionalProperties") {
            out.insert("x-kubernetes-preserve-unknown-fields".into(), Value::Bool(true));
        }
        Ok(Value::Object(out))
    }

    fn reference(&mut self, r: &Value, obj: &Map<String, Value>, path: &str) -> Result<Value, String> {
        let name = r
            .as_str()
            .and_then(|r| r.strip_prefix(REF_PREFIX))
            .ok_or_else(|| format!("{}: unsupported reference {r}", at(path)))?;
        let mut out = if name == StringOrNumber::name() {
            json!({"x-kubernetes-int-or-string": true})
        } else {
            if self.stack.iter().any(|s| s == name) {
                return Err(format!("{}: {name} refers to itself", at(path)));
            }
            let target = self.components.get(name).ok_or_else(|| format!("{}: {name} was not collected", at(path)))?;
            self.stack.push(name.to_string());
            let converted = self.convert(target, path);
            self.stack.pop();
            converted?
        };
        if let Some(d) = obj.get("description").filter(|d| d.as_str().is_some_and(|s| !s.is_empty())) {
            out["description"] = d.clone();
        }
        Ok(out)
    }

    /// `oneOf`/`anyOf` is accepted only as `Option<T>`: one real alternative and `null`.
    fn nullable(&mut self, key: &str, alts: &Value, obj: &Map<String, Value>, path: &str) -> Result<Value, String> {
        let alts = alts.as_array().ok_or_else(|| format!("{}: {key} is not a list", at(path)))?;
        let real: Vec<&Value> = alts.iter().filter(|a| a.get("type") != Some(&json!("null"))).collect();
        let [only] = real.as_slice() else {
            return Err(format!("{}: {key} with {} alternatives has no structural equivalent", at(path), real.len()));
        };
        let mut out = self.convert(only, path)?;
        if let Some(d) = obj.get("description") {
            out["description"] = d.clone();
        }
        Ok(out)
    }
}
