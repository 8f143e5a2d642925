//! Wake-ups and what a pass covers.
//!
//! A wake-up names what changed: everything, an offering, or one project, resource or
//! order of an offering. Wake-ups arriving within the debounce window add up to one
//! [`Scope`]: an offering named whole absorbs its narrower parts, and an offering with
//! more parts than [`MAX_PARTS`] is passed whole (one full read is then cheaper). A pass
//! over parts reads and plans only them ([`crate::groups::GroupScope`]); an order is
//! looked up first to find its resource.

use std::collections::{BTreeMap, BTreeSet};

use agent_desired::scope::DocScope;
use tokio::sync::mpsc;

use crate::groups::{Group, GroupScope};
use crate::sides::Sides;

/// More parts of one offering than this in one pass: the offering is passed whole.
pub const MAX_PARTS: usize = 50;

/// What a wake-up asks to reconcile now. UUIDs are 32 lower-case hex digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wake {
    /// Every selected group (a forced full pass).
    All,
    /// The groups of this offering.
    Offering(String),
    /// One project's resources in an offering (a membership change).
    Project { offering: String, project: String },
    /// One resource of an offering (its flags, limits or settings changed).
    Resource { offering: String, resource: String },
    /// One order of an offering: its resource, found when the pass starts.
    Order { offering: String, order: String },
}

/// Sends wake-ups to a running daemon; cheap to clone.
#[derive(Clone)]
pub struct WakeHandle(mpsc::UnboundedSender<Wake>);

impl WakeHandle {
    /// Asks for a pass soon; ignored once the daemon has stopped.
    pub fn wake(&self, wake: Wake) {
        let _ = self.0.send(wake);
    }
}

pub type Wakes = mpsc::UnboundedReceiver<Wake>;

pub fn wake_channel() -> (WakeHandle, Wakes) {
    let (tx, rx) = mpsc::unbounded_channel();
    (WakeHandle(tx), rx)
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Part {
    Docs(DocScope),
    Order(String),
}

/// What a pass covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Scope {
    All,
    Some {
        /// Offerings passed whole.
        full: BTreeSet<String>,
        /// Parts of the other offerings.
        parts: BTreeMap<String, BTreeSet<Part>>,
    },
}

impl Default for Scope {
    fn default() -> Self {
        Scope::Some {
            full: BTreeSet::new(),
            parts: BTreeMap::new(),
        }
    }
}

impl Scope {
    pub(super) fn offerings(offerings: BTreeSet<String>) -> Scope {
        Scope::Some {
            full: offerings,
            parts: BTreeMap::new(),
        }
    }

    pub(super) fn add(&mut self, wake: Wake) {
        let Scope::Some { full, parts } = self else {
            return;
        };
        let (offering, part) = match wake {
            Wake::All => {
                *self = Scope::All;
                return;
            }
            Wake::Offering(o) => {
                parts.remove(&o);
                full.insert(o);
                return;
            }
            Wake::Project { offering, project } => {
                (offering, Part::Docs(DocScope::Project(project)))
            }
            Wake::Resource { offering, resource } => {
                (offering, Part::Docs(DocScope::Resource(resource)))
            }
            Wake::Order { offering, order } => (offering, Part::Order(order)),
        };
        if full.contains(&offering) {
            return;
        }
        let mine = parts.entry(offering.clone()).or_default();
        mine.insert(part);
        if mine.len() > MAX_PARTS {
            parts.remove(&offering);
            full.insert(offering);
        }
    }

    pub(super) fn covers(&self, group: &Group) -> bool {
        match self {
            Scope::All => true,
            Scope::Some { full, parts } => group
                .offerings
                .iter()
                .any(|o| full.contains(&o.uuid) || parts.contains_key(&o.uuid)),
        }
    }

    /// Gives each group its part of the scope: none (the full pass) when one of its
    /// offerings is named whole, else the parts of its offerings, orders looked up to
    /// their resources. An order Waldur cannot be asked about makes its offering whole;
    /// an order that is not the offering's (or is gone) is dropped.
    pub(super) async fn narrow<'a>(&self, groups: Vec<Group<'a>>, sides: &Sides) -> Vec<Group<'a>> {
        let Scope::Some { full, parts } = self else {
            return groups;
        };
        let mut out = Vec::new();
        for mut group in groups {
            if group.offerings.iter().any(|o| full.contains(&o.uuid)) {
                out.push(group);
                continue;
            }
            let mut scope = GroupScope::new();
            let mut whole = false;
            for o in &group.offerings {
                let Some(mine) = parts.get(&o.uuid) else {
                    continue;
                };
                let entry: &mut BTreeSet<DocScope> = scope.entry(o.uuid.clone()).or_default();
                for part in mine {
                    match part {
                        Part::Docs(d) => {
                            entry.insert(d.clone());
                        }
                        Part::Order(order) => match sides.waldur.order_resource(o, order).await {
                            Ok(Some(resource)) => {
                                entry.insert(DocScope::Resource(resource));
                            }
                            Ok(None) => {
                                tracing::info!(offering = %o.name, %order, "the event's order is not this offering's open order; nothing to do");
                            }
                            Err(e) => {
                                tracing::warn!(offering = %o.name, %order, "cannot look the event's order up ({e:#}); passing the offering whole");
                                whole = true;
                            }
                        },
                    }
                }
                if entry.is_empty() {
                    scope.remove(&o.uuid);
                }
            }
            if whole {
                out.push(group);
            } else if !scope.is_empty() {
                group.scope = Some(scope);
                out.push(group);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(o: &str, r: &str) -> Wake {
        Wake::Resource {
            offering: o.into(),
            resource: r.into(),
        }
    }

    #[test]
    fn wakes_add_up() {
        let mut s = Scope::default();
        s.add(res("o1", "r1"));
        s.add(res("o1", "r1"));
        s.add(Wake::Project {
            offering: "o2".into(),
            project: "p".into(),
        });
        let Scope::Some { full, parts } = &s else {
            panic!()
        };
        assert!(full.is_empty());
        assert_eq!(parts["o1"].len(), 1, "a duplicate is one part");
        s.add(Wake::Offering("o1".into()));
        s.add(res("o1", "r2"));
        let Scope::Some { full, parts } = &s else {
            panic!()
        };
        assert!(full.contains("o1") && !parts.contains_key("o1"));
        assert!(parts.contains_key("o2"));
        s.add(Wake::All);
        s.add(res("o3", "r"));
        assert_eq!(s, Scope::All);
    }

    #[test]
    fn many_parts_make_the_offering_whole() {
        let mut s = Scope::default();
        for i in 0..=MAX_PARTS {
            s.add(res("o1", &format!("r{i}")));
        }
        let Scope::Some { full, parts } = &s else {
            panic!()
        };
        assert!(full.contains("o1") && parts.is_empty());
    }
}
