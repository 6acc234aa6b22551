//! Durations as requests give them: whole seconds, or a number with a unit (`"90s"`,
//! `"5m"`, `"24h"`, `"30d"`), always checked against a documented range.

use serde::Deserialize;

use super::FieldError;

/// Seconds, or a number with `s`, `m`, `h` or `d`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum DurationInput {
    Seconds(u64),
    /// `"90s"`, `"5m"`, `"24h"`, `"30d"`.
    Text(String),
}

/// Whole seconds of `text`, or `None` when it is not a duration (or overflows).
pub fn parse_seconds(text: &str) -> Option<u64> {
    let t = text.trim();
    let (num, mult) = match t.chars().last()? {
        's' => (&t[..t.len() - 1], 1),
        'm' => (&t[..t.len() - 1], 60),
        'h' => (&t[..t.len() - 1], 3_600),
        'd' => (&t[..t.len() - 1], 86_400),
        _ => (t, 1),
    };
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    num.parse::<u64>().ok().and_then(|n| n.checked_mul(mult))
}

fn human(secs: u64) -> String {
    match secs {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

impl DurationInput {
    /// The duration in seconds when it lies in `range`; otherwise an error on `field`.
    pub fn seconds_within(&self, field: &str, range: std::ops::RangeInclusive<u64>) -> Result<u64, FieldError> {
        let secs = match self {
            DurationInput::Seconds(s) => Some(*s),
            DurationInput::Text(t) => parse_seconds(t),
        };
        let bounds = format!("between {} and {}", human(*range.start()), human(*range.end()));
        match secs {
            Some(s) if range.contains(&s) => Ok(s),
            Some(_) => Err(FieldError::new(field, format!("must be {bounds}"))),
            None => Err(FieldError::new(field, format!("must be seconds or a number with s, m, h or d, {bounds}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_refuses_the_rest() {
        for (text, want) in [("90", Some(90)), ("90s", Some(90)), ("5m", Some(300)), ("24h", Some(86_400))] {
            assert_eq!(parse_seconds(text), want, "{text}");
        }
        assert_eq!(parse_seconds("2d"), Some(172_800));
        for bad in ["", "s", "-5s", "1.5h", "5w", "99999999999999999999d", "1 h"] {
            assert_eq!(parse_seconds(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn ranges_name_the_field() {
        let r = 60..=86_400;
        assert_eq!(DurationInput::Text("1h".into()).seconds_within("x", r.clone()), Ok(3_600));
        let e = DurationInput::Seconds(u64::MAX).seconds_within("expiresIn", r.clone()).unwrap_err();
        assert_eq!((e.field.as_str(), e.message.as_str()), ("expiresIn", "must be between 1m and 1d"));
        let e = DurationInput::Text("soon".into()).seconds_within("expiresIn", r).unwrap_err();
        assert!(e.message.contains("s, m, h or d"), "{}", e.message);
    }
}
