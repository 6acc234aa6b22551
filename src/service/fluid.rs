//! Datasets and ThinRuntimeProfiles: accept Fluid's documents as users write them, validate
//! them, store them.

use super::{Result, ServiceError};
use crate::domain::dataset::parse_dataset;
use crate::domain::manifest::ManifestFormat;
use crate::domain::names::is_dns1123_subdomain;
use crate::domain::thin::parse_thin_profile;
use crate::domain::validate::{validate_dataset, validate_thin_profile};
use crate::store::Store;
use crate::store::datasets::DatasetRecord;
use crate::store::profiles::ProfileRecord;

pub struct PutDocument<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub cluster: &'a str,
    pub body: &'a [u8],
    pub format: ManifestFormat,
    pub if_match: Option<&'a str>,
    pub actor: &'a str,
}

pub async fn put_dataset(store: &Store, req: PutDocument<'_>) -> Result<(DatasetRecord, bool)> {
    let ds = parse_dataset(req.body, req.format).map_err(|e| ServiceError::Invalid(vec![e]))?;
    let errors = validate_dataset(&ds, req.namespace, req.name);
    if !errors.is_empty() {
        return Err(ServiceError::Invalid(errors));
    }
    Ok(store.put_dataset(req.namespace, req.name, req.cluster, &ds, req.if_match).await?)
}

pub async fn put_profile(store: &Store, req: PutDocument<'_>) -> Result<(ProfileRecord, bool)> {
    if !is_dns1123_subdomain(req.cluster) {
        return Err(ServiceError::invalid("cluster", "must name a registered cluster"));
    }
    let profile = parse_thin_profile(req.body, req.format).map_err(|e| ServiceError::Invalid(vec![e]))?;
    let errors = validate_thin_profile(&profile, req.name);
    if !errors.is_empty() {
        return Err(ServiceError::Invalid(errors));
    }
    Ok(store.put_profile(req.cluster, req.name, &profile, req.if_match, req.actor).await?)
}
