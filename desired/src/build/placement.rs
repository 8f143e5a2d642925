//! Where an allocation hangs: the customer/project/allocation account names (prefixes,
//! the name generation policy of a new resource) and the tree accounts above it.

use std::collections::BTreeMap;

use agent_reconcile::names;
use agent_reconcile::plan::Reason;
use agent_reconcile::state::{AccountField, AccountSpec, Tier, Value};

use super::Builder;
use crate::waldur::Resource;

/// The names an allocation hangs from.
pub(super) struct Placement {
    pub(super) customer: Option<String>,
    pub(super) project: String,
    pub(super) allocation: String,
}

impl Builder<'_> {
    pub(super) fn placement(&mut self, r: &Resource) -> Option<Placement> {
        let s = &self.cfg.slurm;
        let customer_slug = r.customer_slug.clone().unwrap_or_default();
        let project_slug = r.project_slug.clone().unwrap_or_default();
        if project_slug.is_empty() || (s.parent_account.is_none() && customer_slug.is_empty()) {
            self.skip(
                r,
                "missing_slug",
                "unset or missing slug fields (customer_slug/project_slug)".into(),
            );
            return None;
        }
        let customer = if s.parent_account.is_some() {
            None
        } else {
            match names::account(&format!("{}{}", s.customer_prefix, customer_slug)) {
                Ok(n) => Some(n),
                Err(e) => {
                    self.skip(r, "invalid_name", e.to_string());
                    return None;
                }
            }
        };
        let project = match names::account(&format!("{}{}", s.project_prefix, project_slug)) {
            Ok(n) => n,
            Err(e) => {
                self.skip(r, "invalid_name", e.to_string());
                return None;
            }
        };
        let allocation = match r.backend_id() {
            Some(b) => names::account(b),
            None => {
                let policy = r
                    .offering_plugin_options
                    .get("account_name_generation_policy")
                    .and_then(|v| v.as_str())
                    .unwrap_or("resource_name");
                let base = if policy == "project_slug" {
                    &project_slug
                } else {
                    &r.slug
                };
                names::account(&format!("{}{}", s.allocation_prefix, base))
            }
        };
        let allocation = match allocation {
            Ok(n) => n,
            Err(e) => {
                self.skip(r, "invalid_name", e.to_string());
                return None;
            }
        };
        if allocation == project || Some(&allocation) == customer.as_ref() {
            self.skip(r, "name_collision", format!("allocation account {allocation} would coincide with its project/customer account"));
            return None;
        }
        Some(Placement {
            customer,
            project,
            allocation,
        })
    }

    pub(super) fn text_fields(
        parent: &str,
        description: &str,
        organization: &str,
        name: &str,
    ) -> BTreeMap<AccountField, Value> {
        let description = match names::free_text(description) {
            d if d.is_empty() => name.to_string(),
            d => d,
        };
        BTreeMap::from([
            (AccountField::Parent, Value::Text(parent.to_string())),
            (AccountField::Description, Value::Text(description)),
            (
                AccountField::Organization,
                Value::Text(organization.to_string()),
            ),
        ])
    }

    pub(super) fn tree(&mut self, r: &Resource, p: &Placement) {
        let s = &self.cfg.slurm;
        let project_parent = match (&p.customer, &s.parent_account) {
            (_, Some(flat)) => flat.clone(),
            (Some(c), None) => c.clone(),
            (None, None) => s.root_account.clone(),
        };
        if let Some(c) = &p.customer {
            self.out.add_account(AccountSpec {
                name: c.clone(),
                tier: Tier::Customer,
                fields: Self::text_fields(&s.root_account, &r.customer_name, c, c),
                fresh: false,
                reason: Reason::new(
                    "waldur_customer",
                    format!(
                        "customer {} of Waldur resource {:?}",
                        r.customer_slug.as_deref().unwrap_or("?"),
                        r.name
                    ),
                ),
            });
        }
        self.out.add_account(AccountSpec {
            name: p.project.clone(),
            tier: Tier::Project,
            fields: Self::text_fields(&project_parent, &r.project_name, &p.project, &p.project),
            fresh: false,
            reason: Reason::new(
                "waldur_project",
                format!(
                    "project {} of Waldur resource {:?}",
                    r.project_slug.as_deref().unwrap_or("?"),
                    r.name
                ),
            ),
        });
    }
}
