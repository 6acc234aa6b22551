//! The OpenAPI schema of a notification's PUT body, written out so that it says what
//! `service::notifications` checks: the URL's shape, at least one known trigger, and a
//! signing secret of 16 to 512 characters on every PUT.

use serde_json::json;
use utoipa::openapi::{RefOr, schema::Schema};

use crate::domain::notify::Trigger;
use crate::service::notifications::{MAX_DESCRIPTION, MAX_SECRET, MAX_URL, MIN_SECRET};

/// The body of `PUT /v1/notifications/{name}`.
pub struct NotificationPut;

impl utoipa::PartialSchema for NotificationPut {
    fn schema() -> RefOr<Schema> {
        let triggers: Vec<&str> = Trigger::SUBSCRIBABLE.iter().map(|t| t.as_str()).collect();
        let v = json!({
            "type": "object",
            "description": "A whole notification. `secret` is write-only and needed on every PUT (as a cluster's credential is): a replacement never keeps a secret its caller did not see.",
            "required": ["url", "triggers", "secret"],
            "properties": {
                "url": {"type": "string", "format": "uri", "maxLength": MAX_URL,
                    "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[^/?#@\\s]+([/?#]\\S*)?$",
                    "description": "Where deliveries are POSTed: an `http` or `https` URL without user or password."},
                "triggers": {"type": "array", "minItems": 1, "items": {"type": "string", "enum": triggers},
                    "description": "Triggers it subscribes to."},
                "secret": {"type": "string", "minLength": MIN_SECRET, "maxLength": MAX_SECRET, "writeOnly": true,
                    "description": "The HMAC-SHA512 signing key. Write-only."},
                "description": {"type": ["string", "null"], "maxLength": MAX_DESCRIPTION},
                "enabled": {"type": ["boolean", "null"], "description": "Default true; a disabled notification gets no deliveries."},
            },
            "additionalProperties": false,
        });
        RefOr::T(serde_json::from_value(v).expect("a valid schema"))
    }
}

impl utoipa::ToSchema for NotificationPut {
    fn name() -> std::borrow::Cow<'static, str> {
        "NotificationRequest".into()
    }
}
