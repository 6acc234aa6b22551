//! Kubernetes resource quantities (`2Gi`, `500m`, `1.5G`, `1e3`): parsing, exact values,
//! byte counts for splitting a tier's quota across its paths, and canonical formatting.
//!
//! A quantity is held exactly as `numerator / 10^scale`. Values that do not fit in an
//! `i128` at that precision are rejected as too large; that is far beyond any real quota.
//! Canonical formatting follows the API server's spirit: keep the suffix family the user
//! wrote (binary `Ki…Ei`, decimal `k…E`, or exponent `eN`), pick the largest exact unit,
//! and round a fraction finer than nano up to the next nano.

use std::fmt;

/// The suffix family a quantity was written in; it decides how it is formatted back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantityFormat {
    BinarySI,
    DecimalSI,
    DecimalExponent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity {
    numerator: i128,
    scale: u32,
    format: QuantityFormat,
}

const MAX_SCALE: u32 = 40;
const BINARY: [(&str, u32); 6] = [("Ki", 1), ("Mi", 2), ("Gi", 3), ("Ti", 4), ("Pi", 5), ("Ei", 6)];
const DECIMAL: [(&str, i32); 9] =
    [("n", -9), ("u", -6), ("m", -3), ("k", 3), ("M", 6), ("G", 9), ("T", 12), ("P", 15), ("E", 18)];

fn pow10(e: u32) -> Option<i128> {
    10i128.checked_pow(e)
}

/// Parse a quantity string exactly as Kubernetes accepts it.
pub fn parse_quantity(input: &str) -> Result<Quantity, String> {
    let bad = || format!("{input:?} is not a valid quantity (e.g. 2Gi, 512Mi, 100G, 1.5, 500m)");
    let s = input.trim();
    if s.is_empty() || s != input {
        return Err(bad());
    }
    let (negative, rest) = match s.as_bytes()[0] {
        b'+' => (false, &s[1..]),
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(num_end);
    let (int_part, frac_part) = match number.split_once('.') {
        Some((i, f)) => (i, f),
        None => (number, ""),
    };
    if (int_part.is_empty() && frac_part.is_empty()) || frac_part.contains('.') {
        return Err(bad());
    }
    let too_large = || format!("{input:?} is too large a quantity");
    let mut numerator: i128 = 0;
    for c in int_part.bytes().chain(frac_part.bytes()) {
        numerator =
            numerator.checked_mul(10).and_then(|n| n.checked_add(i128::from(c - b'0'))).ok_or_else(too_large)?;
    }
    let mut dec_exp: i64 = -(frac_part.len() as i64);
    let mut binary_power = 0u32;
    let format = if suffix.is_empty() {
        QuantityFormat::DecimalSI
    } else if let Some((_, p)) = BINARY.iter().find(|(name, _)| *name == suffix) {
        binary_power = *p;
        QuantityFormat::BinarySI
    } else if let Some((_, e)) = DECIMAL.iter().find(|(name, _)| *name == suffix) {
        dec_exp += i64::from(*e);
        QuantityFormat::DecimalSI
    } else if let Some(exp) = suffix.strip_prefix(['e', 'E']) {
        let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
        if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) || digits.len() > 3 {
            return Err(bad());
        }
        dec_exp += exp.parse::<i64>().map_err(|_| bad())?;
        QuantityFormat::DecimalExponent
    } else {
        return Err(bad());
    };
    for _ in 0..binary_power {
        numerator = numerator.checked_mul(1024).ok_or_else(too_large)?;
    }
    let scale = if dec_exp >= 0 {
        let e = u32::try_from(dec_exp).map_err(|_| too_large())?;
        numerator = numerator.checked_mul(pow10(e).ok_or_else(too_large)?).ok_or_else(too_large)?;
        0
    } else {
        u32::try_from(-dec_exp).map_err(|_| bad())?
    };
    if scale > MAX_SCALE {
        return Err(format!("{input:?} has more precision than a quantity can hold"));
    }
    if negative {
        numerator = -numerator;
    }
    Ok(Quantity { numerator, scale, format }.normalized())
}

impl Quantity {
    fn normalized(mut self) -> Self {
        while self.scale > 0 && self.numerator % 10 == 0 {
            self.numerator /= 10;
            self.scale -= 1;
        }
        if self.numerator == 0 {
            self.scale = 0;
        }
        self
    }

    /// A whole number of bytes (or units), in the binary family: how split quotas are made.
    pub fn from_bytes(bytes: u128) -> Quantity {
        Quantity { numerator: i128::try_from(bytes).unwrap_or(i128::MAX), scale: 0, format: QuantityFormat::BinarySI }
    }

    pub fn format(&self) -> QuantityFormat {
        self.format
    }

    pub fn is_negative(&self) -> bool {
        self.numerator < 0
    }

    pub fn is_zero(&self) -> bool {
        self.numerator == 0
    }

    /// The value rounded up to a whole number, or `None` when negative.
    pub fn to_bytes(&self) -> Option<u128> {
        if self.numerator < 0 {
            return None;
        }
        let n = self.numerator as u128;
        let d = 10u128.pow(self.scale);
        Some(n.div_ceil(d))
    }

    pub fn as_f64(&self) -> f64 {
        self.numerator as f64 / 10f64.powi(self.scale as i32)
    }

    /// Size for Alluxio properties (`2GB`, `512MB`, or bytes with a `B`), where Alluxio's
    /// units are binary. Fractions round up to a whole byte.
    pub fn to_alluxio_size(&self) -> String {
        let bytes = self.to_bytes().unwrap_or(0);
        alluxio_size(bytes)
    }
}

/// Alluxio's size syntax for a byte count: the largest exact binary unit.
pub fn alluxio_size(bytes: u128) -> String {
    const UNITS: [&str; 6] = ["KB", "MB", "GB", "TB", "PB", "EB"];
    if bytes == 0 {
        return "0B".into();
    }
    let mut value = bytes;
    let mut unit = None;
    for u in UNITS {
        if !value.is_multiple_of(1024) {
            break;
        }
        value /= 1024;
        unit = Some(u);
    }
    format!("{value}{}", unit.unwrap_or("B"))
}

fn largest_unit(mut value: i128, base: i128, max: usize) -> (i128, usize) {
    let mut k = 0;
    while k < max && value != 0 && value % base == 0 {
        value /= base;
        k += 1;
    }
    (value, k)
}

impl fmt::Display for Quantity {
    /// Canonical text: same value, same string.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.numerator == 0 {
            return f.write_str("0");
        }
        if self.scale == 0 {
            let n = self.numerator;
            if self.format == QuantityFormat::BinarySI && n % 1024 == 0 {
                let (v, k) = largest_unit(n, 1024, 6);
                return write!(f, "{v}{}", BINARY[k - 1].0);
            }
            let (v, k) = largest_unit(n, 1000, 6);
            return match (self.format, k) {
                (_, 0) => write!(f, "{v}"),
                (QuantityFormat::DecimalExponent, k) => write!(f, "{v}e{}", 3 * k),
                (_, k) => write!(f, "{v}{}", DECIMAL[2 + k].0),
            };
        }
        // A fraction: express it in milli, micro or nano units, rounding up past nano.
        let target = self.scale.div_ceil(3).clamp(1, 3) * 3;
        let v = if self.scale <= target {
            self.numerator * pow10(target - self.scale).unwrap_or(1)
        } else {
            let d = pow10(self.scale - target).unwrap_or(1);
            let q = self.numerator / d;
            if self.numerator % d > 0 { q + 1 } else { q }
        };
        match self.format {
            QuantityFormat::DecimalExponent => write!(f, "{v}e-{target}"),
            _ => write!(f, "{v}{}", DECIMAL[(3 - target / 3) as usize].0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_canonical() {
        // (input, canonical, bytes rounded up)
        let cases: &[(&str, &str, Option<u128>)] = &[
            ("2Gi", "2Gi", Some(2 << 30)),
            ("2048Mi", "2Gi", Some(2 << 30)),
            ("1.5Gi", "1536Mi", Some(1536 << 20)),
            ("100G", "100G", Some(100_000_000_000)),
            ("1000", "1k", Some(1000)),
            ("1024", "1024", Some(1024)),
            ("1500", "1500", Some(1500)),
            ("500m", "500m", Some(1)),
            ("0.5", "500m", Some(1)),
            (".5", "500m", Some(1)),
            ("1.", "1", Some(1)),
            ("1e3", "1e3", Some(1000)),
            ("1E3", "1e3", Some(1000)),
            ("1E", "1E", Some(1_000_000_000_000_000_000)),
            ("1e-3", "1e-3", Some(1)),
            ("+3k", "3k", Some(3000)),
            ("-3k", "-3k", None),
            ("0", "0", Some(0)),
            ("0Gi", "0", Some(0)),
            ("1n", "1n", Some(1)),
            ("1.0000000001", "1000000001n", Some(2)),
            ("12u", "12u", Some(1)),
            ("8Ei", "8Ei", Some(8 << 60)),
        ];
        for (input, canonical, bytes) in cases {
            let q = parse_quantity(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(q.to_string(), *canonical, "canonical of {input}");
            assert_eq!(q.to_bytes(), *bytes, "bytes of {input}");
        }
    }

    #[test]
    fn rejects() {
        for bad in [
            "", " 1", "1 ", "Gi", "2gi", "2GB", "2 Gi", "1..2", "1.2.3", "1e", "1e+", "abc", "1Ki1", "0x10", "--1",
            "1e9999",
        ] {
            assert!(parse_quantity(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(parse_quantity("99999999999999999999999Ei").is_err());
    }

    #[test]
    fn alluxio_sizes() {
        let cases: &[(u128, &str)] =
            &[(2 << 30, "2GB"), (1 << 30, "1GB"), (3 << 29, "1536MB"), (1000, "1000B"), (0, "0B"), (1024, "1KB")];
        for (bytes, want) in cases {
            assert_eq!(alluxio_size(*bytes), *want);
        }
        assert_eq!(parse_quantity("2Gi").unwrap().to_alluxio_size(), "2GB");
        assert_eq!(Quantity::from_bytes(1 << 30).to_string(), "1Gi");
        assert!((parse_quantity("0.95").unwrap().as_f64() - 0.95).abs() < 1e-12);
    }
}
