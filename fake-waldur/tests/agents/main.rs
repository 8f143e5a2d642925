//! Agent identities, event queue registration and Mastermind-style publishing, without a
//! broker: registration answers 503, and what would be published is still recorded (status
//! `no_broker`) for queues that a seed registered. tests/rabbitmq.rs covers the real broker.
//!
//! - `registration`: identities, services, processors, and queue registration without a broker;
//! - `queues`: a seed with queues of both schemes registered, and reading what was published;
//! - `publishing`: the messages state changes publish, as Mastermind does;
//! - `control_api`: arbitrary events and the control API's events and broker endpoints.

#[path = "../support/mod.rs"]
mod support;

mod control_api;
mod publishing;
mod queues;
mod registration;
