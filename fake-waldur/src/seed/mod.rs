//! Loading a seed: normalise UUIDs to hex, fill defaults, and reject dangling
//! references up front so handlers can rely on a consistent graph.
//! Also provides the built-in demo seed.
//!
//! - `rules`: the per-field checks every loader uses (UUIDs, references, enums, stamps, slugs).
//! - `graph`: [`load`], the marketplace objects in dependency order.
//! - `agents`: agent identities, services, processors and event queues.
//! - [`demo`] and `demo_seed`: the demo world's fixed identifiers and the world itself.

mod agents;
pub mod demo;
mod demo_seed;
mod graph;
mod rules;

pub use demo_seed::demo_seed;
pub use graph::load;
pub use rules::slugify;
pub(crate) use rules::{err, one_of, own_uuid, reference, stamp};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid seed: {0}")]
pub struct SeedError(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_seed_loads_and_dump_reloads() {
        let loaded = load(demo_seed()).unwrap();
        assert_eq!(loaded.offerings[0].offering_type, "Marketplace.Slurm");
        assert_eq!(loaded.projects[0].members[0].role, "PROJECT.MEMBER");
        let again = load(loaded.clone()).unwrap();
        assert_eq!(again, loaded);
    }

    #[test]
    fn dangling_reference_is_rejected() {
        let mut seed = demo_seed();
        seed.resources[0].project = "ffffffffffffffffffffffffffffffff".into();
        assert!(load(seed).unwrap_err().0.contains("resources.project"));
    }

    #[test]
    fn slugs() {
        assert_eq!(slugify("Demo  HPC / Centre!"), "demo-hpc-centre");
    }
}
