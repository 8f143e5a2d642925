//! End-to-end tests over real sockets against an in-process fake.
//!
//! - `http`: pagination, paths and methods, token authentication, field projection, UUID forms;
//! - `orders`: the order state machine;
//! - `usages`: usage submission, validation and upsert;
//! - `control`: fault injection, the request log and the control API.

#[path = "../support/mod.rs"]
mod support;

mod control;
mod http;
mod orders;
mod usages;

pub const RES: &str = "/api/marketplace-provider-resources/";
