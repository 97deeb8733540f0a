//! Migrating groups and the default permissions.

use super::{GROUP, MigrateOptions, MigrationOutcome, MigrationRecord, SourceGroup};
use crate::error::{Error, Result};
use crate::id::{GroupId, UserId};
use crate::service::Core;
use crate::service::import::describe;
use crate::store::{ExternalRef, Group, StoreError};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

impl Core {
    pub(super) async fn migrate_group(
        &self,
        source: &str,
        input: SourceGroup,
        options: &MigrateOptions,
        group_refs: &HashMap<String, ExternalRef>,
        local_ids: &HashMap<String, UserId>,
    ) -> MigrationRecord {
        let mut record = MigrationRecord {
            kind: GROUP,
            source_id: input.source_id.clone(),
            who: input.name.clone(),
            outcome: MigrationOutcome::Failed,
            reasons: Vec::new(),
            local_id: None,
        };
        match self.plan_group(source, &input, options, group_refs, local_ids).await {
            Ok((outcome, id, missing)) => {
                record.outcome = outcome;
                record.local_id = id;
                if missing > 0 {
                    record
                        .reasons
                        .push(format!("{missing} member(s) were not migrated and are left out"));
                }
            }
            Err(e) => record.reasons.push(describe(&e)),
        }
        record
    }

    pub(super) async fn plan_group(
        &self,
        source: &str,
        input: &SourceGroup,
        options: &MigrateOptions,
        group_refs: &HashMap<String, ExternalRef>,
        local_ids: &HashMap<String, UserId>,
    ) -> Result<(MigrationOutcome, Option<i64>, usize)> {
        let name = crate::user::validate_text("name", &input.name, 128)?
            .ok_or_else(|| Error::invalid("name", "must not be empty"))?;
        let description = crate::user::validate_text("description", &input.description, 2000)?.unwrap_or_default();
        let permissions = crate::service::groups::validate_permissions(input.permissions.clone())?;
        let members: Vec<UserId> = input.members.iter().filter_map(|m| local_ids.get(m).copied()).collect();
        let missing = input.members.len() - members.len();
        let now = self.clock.now();
        let existing = match group_refs.get(&input.source_id) {
            Some(r) => match self.store.get_group(GroupId(r.local_id)).await {
                Ok(g) => Some(g),
                Err(StoreError::NotFound) => None,
                Err(e) => return Err(e.into()),
            },
            None => None,
        };
        let (group, is_new, changed) = match existing {
            None => (
                Group {
                    id: GroupId(self.next_id()),
                    name,
                    description,
                    permissions,
                    created_by: None,
                    created_at: input.created_at.unwrap_or(now),
                    updated_at: now,
                },
                true,
                true,
            ),
            Some(before) => {
                let current: HashSet<UserId> = self.store.list_group_members(before.id).await?.into_iter().collect();
                let changed = before.name != name
                    || before.description != description
                    || before.permissions != permissions
                    || members.iter().any(|m| !current.contains(m));
                let group = Group {
                    name,
                    description,
                    permissions,
                    updated_at: now,
                    ..before
                };
                (group, false, changed)
            }
        };
        let outcome = if is_new {
            MigrationOutcome::Created
        } else if changed {
            MigrationOutcome::Updated
        } else {
            MigrationOutcome::Unchanged
        };
        if options.dry_run || !changed {
            return Ok((outcome, (!is_new).then_some(group.id.0), missing));
        }
        self.store
            .write_migrated_group(source, &input.source_id, &group, is_new, &members)
            .await?;
        Ok((outcome, Some(group.id.0), missing))
    }

    pub(super) async fn migrate_default_permissions(
        &self,
        permissions: Value,
        options: &MigrateOptions,
    ) -> MigrationRecord {
        let mut record = MigrationRecord {
            kind: "default permissions",
            source_id: crate::service::DEFAULT_TEMPLATE.into(),
            who: crate::service::DEFAULT_TEMPLATE.into(),
            outcome: MigrationOutcome::Failed,
            reasons: Vec::new(),
            local_id: None,
        };
        let result: Result<MigrationOutcome> = async {
            let permissions = crate::service::groups::validate_permissions(permissions)?;
            let stored = self
                .store
                .get_permission_template(crate::service::DEFAULT_TEMPLATE)
                .await?;
            let outcome = match &stored {
                None => MigrationOutcome::Created,
                Some(p) if *p == permissions => return Ok(MigrationOutcome::Unchanged),
                Some(_) => MigrationOutcome::Updated,
            };
            if !options.dry_run {
                self.store
                    .put_permission_template(
                        crate::service::DEFAULT_TEMPLATE,
                        &permissions,
                        self.clock.now(),
                        &self
                            .journal(None)
                            .audit(
                                crate::journal::audit::PERMISSION_TEMPLATE_UPDATE,
                                None,
                                serde_json::json!({ "name": crate::service::DEFAULT_TEMPLATE, "by": "migrate" }),
                            )
                            .build(),
                    )
                    .await?;
            }
            Ok(outcome)
        }
        .await;
        match result {
            Ok(outcome) => record.outcome = outcome,
            Err(e) => record.reasons.push(describe(&e)),
        }
        record
    }
}
