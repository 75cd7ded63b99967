//! Grants: which identity may do what to which dataset, and from which source.
//!
//! A grant is (identity, dataset or `*`, role, optional source). Roles and what they allow:
//!
//! | role | allows |
//! |---|---|
//! | `reader` | nothing that writes (recorded so that read access is reviewed with the rest) |
//! | `contributor` | `add` new rows written as the grant's source, and new content (text, label) for existing rows whose current source is the grant's source (any source when the grant has none: a wildcard the audit flags) |
//! | `labeler` | `add` a file whose rows only change labels (same id, same text) of existing rows whose current source is the grant's source, to classes the dataset already has; no new rows, no text edits, no removals |
//! | `approver` | `approve` snapshots of the dataset (never their own change) |
//! | `admin` | everything on the dataset: all of the above, `quarantine`, `add --replace` that removes rows, granting roles on it; `admin` on `*` also manages identities |
//!
//! Any active identity may record evidence that changes no data (`scan --record`, `sign`,
//! `gate`): those events are attributed to it and cannot alter a snapshot.

use rusqlite::params;
use serde::Serialize;
use serde_json::json;

use crate::auth::Actor;
use crate::error::{LedgerError, Result};
use crate::store::Ledger;
use crate::util::now_unix;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Reader,
    Contributor,
    Labeler,
    Approver,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Contributor => "contributor",
            Role::Labeler => "labeler",
            Role::Approver => "approver",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "reader" => Role::Reader,
            "contributor" => Role::Contributor,
            "labeler" => Role::Labeler,
            "approver" => Role::Approver,
            "admin" => Role::Admin,
            _ => return None,
        })
    }

    /// Roles that change data (the audit wants an expiry on these).
    pub fn writes(self) -> bool {
        matches!(self, Role::Contributor | Role::Labeler | Role::Admin)
    }
}

/// A grant as stored.
#[derive(Debug, Clone, Serialize)]
pub struct GrantInfo {
    pub id: i64,
    pub identity: String,
    pub dataset: String,
    pub role: Role,
    /// `None`: any source.
    pub source: Option<String>,
    pub created_at: i64,
    pub created_by: Option<String>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl GrantInfo {
    pub fn is_global_admin(&self) -> bool {
        self.revoked_at.is_none() && self.role == Role::Admin && self.dataset == "*"
    }

    pub fn describe(&self) -> String {
        format!(
            "{} on {}{}",
            self.role.as_str(),
            if self.dataset == "*" {
                "every dataset (*)".to_string()
            } else {
                format!("dataset '{}'", self.dataset)
            },
            match &self.source {
                Some(s) => format!(" for source '{s}'"),
                None => String::new(),
            }
        )
    }
}

/// A write that needs a right.
#[derive(Debug, Clone)]
pub enum Action<'a> {
    /// New rows or new text for existing rows, written as `source`.
    AddRows {
        dataset: &'a str,
        source: &'a str,
    },
    /// New content for existing rows whose current source is `current_source`.
    UpdateRows {
        dataset: &'a str,
        current_source: &'a str,
    },
    /// Label-only changes (to existing classes) of rows whose current source is `source`.
    Relabel {
        dataset: &'a str,
        source: &'a str,
    },
    /// Removing rows (`quarantine`, `add --replace`).
    RemoveRows {
        dataset: &'a str,
    },
    Approve {
        dataset: &'a str,
    },
    /// Granting or revoking roles on a dataset.
    ManageGrants {
        dataset: &'a str,
    },
    /// Adding, rotating and revoking identities.
    ManageIdentities,
    /// Recording evidence (scan results, signatures, gate decisions).
    RecordEvidence,
}

impl Action<'_> {
    fn dataset(&self) -> &str {
        match self {
            Action::AddRows { dataset, .. }
            | Action::UpdateRows { dataset, .. }
            | Action::Relabel { dataset, .. }
            | Action::RemoveRows { dataset }
            | Action::Approve { dataset }
            | Action::ManageGrants { dataset } => dataset,
            Action::ManageIdentities | Action::RecordEvidence => "*",
        }
    }

    fn describe(&self) -> String {
        match self {
            Action::AddRows { dataset, source } => {
                format!("add rows from source '{source}' to dataset '{dataset}'")
            }
            Action::UpdateRows {
                dataset,
                current_source,
            } => format!("rewrite rows of source '{current_source}' in dataset '{dataset}'"),
            Action::Relabel { dataset, source } => {
                format!("change labels of rows of source '{source}' in dataset '{dataset}'")
            }
            Action::RemoveRows { dataset } => format!("remove rows from dataset '{dataset}'"),
            Action::Approve { dataset } => format!("approve snapshots of dataset '{dataset}'"),
            Action::ManageGrants { dataset } => format!("grant roles on dataset '{dataset}'"),
            Action::ManageIdentities => "manage identities".to_string(),
            Action::RecordEvidence => "record evidence".to_string(),
        }
    }

    /// Does a grant allow this action?
    fn allowed_by(&self, g: &GrantInfo) -> bool {
        if g.revoked_at.is_some() {
            return false;
        }
        let ds_ok = g.dataset == "*" || g.dataset == self.dataset();
        let src_ok = |s: &str| g.source.as_deref().is_none_or(|gs| gs == s);
        match self {
            Action::RecordEvidence => true,
            Action::ManageIdentities => g.is_global_admin(),
            _ if !ds_ok => false,
            _ if g.role == Role::Admin => true,
            Action::AddRows { source, .. } => g.role == Role::Contributor && src_ok(source),
            Action::UpdateRows { current_source, .. } => {
                g.role == Role::Contributor && src_ok(current_source)
            }
            Action::Relabel { source, .. } => {
                matches!(g.role, Role::Labeler | Role::Contributor) && src_ok(source)
            }
            Action::Approve { .. } => g.role == Role::Approver,
            Action::RemoveRows { .. } | Action::ManageGrants { .. } => false,
        }
    }

    /// The grant that would allow this action, as a command.
    fn remedy(&self, identity: &str) -> String {
        let cmd = |role: &str, ds: &str, src: Option<&str>| {
            format!(
                "`bezoar grant {identity} --dataset {ds} --role {role}{}`",
                src.map(|s| format!(" --source {s}")).unwrap_or_default()
            )
        };
        match self {
            Action::AddRows { dataset, source } => format!(
                "an admin can allow it with {}",
                cmd("contributor", dataset, Some(source))
            ),
            Action::UpdateRows {
                dataset,
                current_source,
            } => format!(
                "an admin can allow it with {}",
                cmd("contributor", dataset, Some(current_source))
            ),
            Action::Relabel { dataset, source } => format!(
                "an admin can allow it with {}",
                cmd("labeler", dataset, Some(source))
            ),
            Action::RemoveRows { dataset } | Action::ManageGrants { dataset } => format!(
                "only a dataset admin may; an admin can allow it with {}",
                cmd("admin", dataset, None)
            ),
            Action::Approve { dataset } => format!(
                "an admin can allow it with {}",
                cmd("approver", dataset, None)
            ),
            Action::ManageIdentities => format!(
                "only a global admin may; an admin can allow it with {}",
                cmd("admin", "'*'", None)
            ),
            Action::RecordEvidence => String::new(),
        }
    }

    fn missing(&self) -> &'static str {
        match self {
            Action::AddRows { .. } => "it holds no contributor grant for that dataset and source",
            Action::UpdateRows { .. } => {
                "it holds no contributor grant for the source those rows currently come from"
            }
            Action::Relabel { .. } => {
                "it holds no labeler (or contributor) grant for that dataset and source"
            }
            Action::RemoveRows { .. } | Action::ManageGrants { .. } => {
                "it holds no admin grant for that dataset"
            }
            Action::Approve { .. } => "it holds no approver grant for that dataset",
            Action::ManageIdentities => "it holds no admin grant on every dataset (*)",
            Action::RecordEvidence => "",
        }
    }
}

impl Ledger {
    /// All grants (revoked ones too), oldest first.
    pub fn grants(&self) -> Result<Vec<GrantInfo>> {
        let mut st = self.conn.prepare(
            "SELECT g.id, i.name, g.dataset, g.role, g.source, g.created_at, g.created_by, \
             g.last_used_at, g.revoked_at FROM grants g JOIN identities i ON i.id = g.identity_id ORDER BY g.id",
        )?;
        let rows = st.query_map([], |r| {
            Ok(GrantInfo {
                id: r.get(0)?,
                identity: r.get(1)?,
                dataset: r.get(2)?,
                role: Role::parse(&r.get::<_, String>(3)?).unwrap_or(Role::Reader),
                source: r.get(4)?,
                created_at: r.get(5)?,
                created_by: r.get(6)?,
                last_used_at: r.get(7)?,
                revoked_at: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Check that the authenticated identity may perform `action`; mark the grant that allows it
    /// as used (the audit's "rights never used" relies on this).
    pub(crate) fn authorize(&self, action: &Action) -> Result<Actor> {
        let actor = self.require_actor()?;
        if matches!(action, Action::RecordEvidence) {
            return Ok(actor);
        }
        let grants = self.grants()?;
        // Prefer the narrowest grant, so a wildcard that is never needed shows up as unused.
        let mut mine: Vec<&GrantInfo> = grants
            .iter()
            .filter(|g| g.identity == actor.name && action.allowed_by(g))
            .collect();
        mine.sort_by_key(|g| (g.dataset == "*", g.source.is_none(), g.role == Role::Admin));
        match mine.first() {
            Some(g) => {
                self.conn.execute(
                    "UPDATE grants SET last_used_at = ?1 WHERE id = ?2",
                    params![now_unix(), g.id],
                )?;
                Ok(actor)
            }
            None => Err(LedgerError::Denied {
                identity: actor.name.clone(),
                action: action.describe(),
                missing: action.missing().to_string(),
                hint: action.remedy(&actor.name),
            }),
        }
    }

    /// Grant a role (dataset admins for their dataset, global admins for any).
    pub fn grant(
        &mut self,
        identity: &str,
        dataset: &str,
        role: Role,
        source: Option<&str>,
    ) -> Result<GrantInfo> {
        let by = self.authorize(&Action::ManageGrants { dataset })?.name;
        let ident = self.identity(identity)?;
        if !ident.active_at(now_unix()) {
            return Err(LedgerError::Invalid(format!(
                "identity '{identity}' is {}; it cannot be granted anything",
                ident.status(now_unix())
            )));
        }
        if dataset != "*" {
            crate::names::check_name(crate::names::NameKind::Dataset, dataset)
                .map_err(|e| LedgerError::Invalid(format!("{e} (or * for every dataset)")))?;
        }
        if let Some(s) = source {
            crate::names::check_name(crate::names::NameKind::Source, s)?;
        }
        if source.is_some() && !matches!(role, Role::Contributor | Role::Labeler) {
            return Err(LedgerError::Invalid(format!(
                "--source only limits contributor and labeler grants, not {}",
                role.as_str()
            )));
        }
        if ident.grants.iter().any(|g| {
            g.revoked_at.is_none()
                && g.dataset == dataset
                && g.role == role
                && g.source.as_deref() == source
        }) {
            return Err(LedgerError::Invalid(format!(
                "'{identity}' already holds this grant"
            )));
        }
        let now = now_unix();
        let id = self.in_write_tx(|tx, log| {
            tx.execute(
                "INSERT INTO grants(identity_id, dataset, role, source, created_at, created_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![ident.id, dataset, role.as_str(), source, now, by],
            )?;
            let id = tx.last_insert_rowid();
            log.append(
                tx,
                "grant",
                now,
                json!({"action": "grant", "grant": id, "identity": identity, "dataset": dataset,
                       "role": role.as_str(), "source": source, "by": by}),
            )?;
            Ok(id)
        })?;
        Ok(self
            .grants()?
            .into_iter()
            .find(|g| g.id == id)
            .expect("grant just written"))
    }

    /// Revoke matching active grants; returns how many.
    pub fn revoke_grant(
        &mut self,
        identity: &str,
        dataset: &str,
        role: Role,
        source: Option<&str>,
    ) -> Result<usize> {
        let by = self.authorize(&Action::ManageGrants { dataset })?.name;
        let ident = self.identity(identity)?;
        let ids: Vec<i64> = ident
            .grants
            .iter()
            .filter(|g| {
                g.revoked_at.is_none()
                    && g.dataset == dataset
                    && g.role == role
                    && g.source.as_deref() == source
            })
            .map(|g| g.id)
            .collect();
        if ids.is_empty() {
            return Err(LedgerError::Invalid(format!(
                "'{identity}' holds no such active grant"
            )));
        }
        let now = now_unix();
        self.in_write_tx(|tx, log| {
            for id in &ids {
                tx.execute(
                    "UPDATE grants SET revoked_at = ?1 WHERE id = ?2",
                    params![now, id],
                )?;
                log.append(
                    tx,
                    "grant",
                    now,
                    json!({"action": "revoke", "grant": id, "identity": identity, "dataset": dataset,
                           "role": role.as_str(), "source": source, "by": by}),
                )?;
            }
            Ok(())
        })?;
        Ok(ids.len())
    }
}
