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
