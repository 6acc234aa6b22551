//! Wire types: the JSON shapes the API returns for things the store keeps, apart from the
//! store's rows so a column can change without changing the API, and the API's schema is
//! documented here rather than on persistence types. Each converts from its row with `From`.
//! Field names, order and the skipping of absent optional fields are the API's contract.

pub mod audit;
pub mod locks;
pub mod notifications;
pub mod rotations;
pub mod runs;
pub mod runtimes;

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    #[test]
    fn a_lock_is_written_as_the_api_always_wrote_it() {
        let t = chrono::Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let row = crate::store::locks::LockRecord {
            id: "runtime:team-a:hbase".into(),
            holder: "replica-1".into(),
            run_id: None,
            acquired_at: t,
            renewed_at: t,
            expires_at: t,
            token: 0,
        };
        assert_eq!(
            serde_json::to_string(&super::locks::LockRecord::from(row)).unwrap(),
            r#"{"id":"runtime:team-a:hbase","holder":"replica-1","acquiredAt":"2026-01-02T03:04:05Z","renewedAt":"2026-01-02T03:04:05Z","expiresAt":"2026-01-02T03:04:05Z"}"#
        );
    }

    #[test]
    fn a_layer_change_keeps_its_field_names() {
        let row = crate::store::runtimes::LayerChange { layer: "fuse".into(), old: vec!["a".into()], new: vec![] };
        assert_eq!(
            serde_json::to_string(&super::runtimes::LayerChange::from(row)).unwrap(),
            r#"{"layer":"fuse","old":["a"],"new":[]}"#
        );
    }
}
