//! Front ends: each reads one kind of input (a TOML scenario, a HAR recording, an
//! OpenAPI spec, a Postman collection, the command line) into a located
//! `crate::draft::Draft`.

pub mod flags;
pub mod har;
pub mod openapi;
pub mod postman;
pub mod targets;
pub(crate) mod toml;
