//! What the CLI prints: aligned tables for people, JSON or YAML for scripts.

use serde_json::Value;

use super::client::Output;

/// Prints `value` as JSON or YAML; false when the output is a table (the caller draws it).
pub fn structured(output: Output, value: &Value) -> bool {
    match output {
        Output::Json => {
            println!("{}", serde_json::to_string_pretty(value).expect("JSON serializes"));
            true
        }
        Output::Yaml => {
            print!("{}", serde_saphyr::to_string(value).unwrap_or_default());
            true
        }
        Output::Table => false,
    }
}

/// A table: a header row and rows of cells, columns padded to their widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(c);
                s.push_str(&" ".repeat(widths[i] - c.chars().count() + 3));
            }
        }
        s.trim_end().to_string()
    };
    let mut out = line(header.to_vec());
    out.push('\n');
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

/// A cell from a JSON field: strings as they are, numbers and booleans as text, `-` when absent.
pub fn cell(v: &Value, pointer: &str) -> String {
    match v.pointer(pointer) {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| x.as_str().map(str::to_owned).unwrap_or_else(|| x.to_string()))
            .collect::<Vec<_>>()
            .join(","),
        Some(other) => other.to_string(),
    }
}

/// `2026-11-26T10:00:00.123456Z` → `2026-11-26 10:00:00`.
pub fn time(v: &Value, pointer: &str) -> String {
    let t = cell(v, pointer);
    if t.len() >= 19 && t.as_bytes()[10] == b'T' { format!("{} {}", &t[..10], &t[11..19]) } else { t }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up() {
        let t =
            table(&["NAME", "STATE"], &[vec!["a".into(), "running".into()], vec!["longer-name".into(), "-".into()]]);
        assert_eq!(t, "NAME          STATE\na             running\nlonger-name   -\n");
        let v = serde_json::json!({"a": {"b": 2}, "l": ["x", "y"], "t": "2026-11-26T10:00:00.123Z"});
        assert_eq!(cell(&v, "/a/b"), "2");
        assert_eq!(cell(&v, "/l"), "x,y");
        assert_eq!(cell(&v, "/missing"), "-");
        assert_eq!(time(&v, "/t"), "2026-11-26 10:00:00");
    }
}
