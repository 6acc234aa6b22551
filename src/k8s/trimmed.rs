//! A listed object read without its `metadata.managedFields`: nothing in fluidform reads
//! them, and on objects written by server-side apply they are about as large as the object
//! itself, so skipping them while parsing halves what a refresh allocates.

use std::fmt;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};

#[derive(Debug, Clone)]
pub struct Trimmed(pub Value);

/// A JSON object, `skip` (if any) left out.
struct ObjectWithout {
    skip: Option<&'static str>,
    /// The key whose value is itself read without `managedFields`.
    trim: Option<&'static str>,
}

impl<'de> Visitor<'de> for ObjectWithout {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if Some(key.as_str()) == self.skip {
                map.next_value::<IgnoredAny>()?;
            } else if Some(key.as_str()) == self.trim {
                let meta = map.next_value::<Metadata>()?;
                out.insert(key, Value::Object(meta.0));
            } else {
                out.insert(key, map.next_value()?);
            }
        }
        Ok(out)
    }
}

struct Metadata(Map<String, Value>);

impl<'de> Deserialize<'de> for Metadata {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ObjectWithout { skip: Some("managedFields"), trim: None }).map(Metadata)
    }
}

impl<'de> Deserialize<'de> for Trimmed {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ObjectWithout { skip: None, trim: Some("metadata") }).map(|m| Trimmed(Value::Object(m)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn managed_fields_are_left_out_and_nothing_else() {
        let obj = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "managedFields": [{"manager": "fluidform", "fieldsV1": {"f:data": {}}}], "labels": {"a": "b"}},
            "data": {"k": "v"}, "status": {"x": 1}});
        let t: Trimmed = serde_json::from_value(obj.clone()).unwrap();
        let mut want = obj;
        want["metadata"].as_object_mut().unwrap().remove("managedFields");
        assert_eq!(t.0, want);
    }
}
