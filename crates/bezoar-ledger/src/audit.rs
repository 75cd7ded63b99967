//! The least-privilege report (`bezoar identity audit`): rights that are broader or older than
//! what the identity needs. Only active identities are audited (revoked and expired ones can do
//! nothing).

use serde::Serialize;

use crate::error::Result;
use crate::grants::Role;
use crate::store::Ledger;
use crate::util::rfc3339;

#[derive(Debug, Clone, Copy)]
pub struct AuditOptions {
    /// A grant not used for this many days (or never used, and older than that) is reported.
    pub unused_days: u32,
    /// Tokens and keys older than this are due for rotation.
    pub max_key_age_days: u32,
    pub now: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AuditFinding {
    /// `unused-grant`, `wildcard-grant`, `admin-non-human`, `stale-credential`, `no-expiry`.
    pub kind: String,
    pub identity: String,
    pub detail: String,
    /// `warning` (a right to cut: `identity audit` exits 1) or `note` (by design, shown with
    /// what to do about it: the first admin `init` created needs admin on `*` to manage
    /// identities).
    pub level: &'static str,
}

/// Whether `i` is the first admin that `bezoar init` created (no creator, human, admin on `*`).
fn is_bootstrap_admin(i: &crate::identity::IdentityInfo) -> bool {
    i.created_by.is_none()
        && !i.kind.is_non_human()
        && i.grants
            .iter()
            .any(|g| g.revoked_at.is_none() && g.is_global_admin())
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditReport {
    pub identities: usize,
    pub active: usize,
    pub unused_days: u32,
    pub max_key_age_days: u32,
    pub findings: Vec<AuditFinding>,
}

const DAY: i64 = 86_400;

impl Ledger {
    pub fn audit(&self, opts: &AuditOptions) -> Result<AuditReport> {
        let ids = self.identities()?;
        let now = opts.now;
        let mut findings = Vec::new();
        let mut push = |kind: &str, identity: &str, detail: String, bootstrap: bool| {
            let note = bootstrap && matches!(kind, "wildcard-grant" | "no-expiry");
            findings.push(AuditFinding {
                kind: kind.to_string(),
                identity: identity.to_string(),
                detail: if note {
                    format!("{detail} (the first admin, created by `bezoar init`: it needs admin on * to manage identities; keep its token offline and give it an expiry)")
                } else {
                    detail
                },
                level: if note { "note" } else { "warning" },
            })
        };
        let unused_cut = now - i64::from(opts.unused_days) * DAY;
        let age_cut = now - i64::from(opts.max_key_age_days) * DAY;
        let active: Vec<_> = ids.iter().filter(|i| i.active_at(now)).collect();
        for i in &active {
            let bootstrap = is_bootstrap_admin(i);
            let grants: Vec<_> = i.grants.iter().filter(|g| g.revoked_at.is_none()).collect();
            for g in &grants {
                // `<=`: with --unused-days 0 every grant not used this very second counts.
                let stale = match g.last_used_at {
                    None => g.created_at <= unused_cut,
                    Some(t) => t <= unused_cut,
                };
                if stale {
                    push(
                        "unused-grant",
                        &i.name,
                        format!(
                            "{} {}; revoke it if it is not needed: `bezoar grant {} --dataset {} --role {}{} --revoke`",
                            g.describe(),
                            match g.last_used_at {
                                None => format!("never used (granted {})", rfc3339(g.created_at)),
                                Some(t) => format!("last used {}", rfc3339(t)),
                            },
                            i.name,
                            if g.dataset == "*" { "'*'".to_string() } else { g.dataset.clone() },
                            g.role.as_str(),
                            g.source.as_deref().map(|s| format!(" --source {s}")).unwrap_or_default()
                        ),
                        bootstrap,
                    );
                }
                if g.dataset == "*" {
                    push(
                        "wildcard-grant",
                        &i.name,
                        format!("{}: prefer one grant per dataset", g.describe()),
                        bootstrap,
                    );
                } else if g.source.is_none() && matches!(g.role, Role::Contributor | Role::Labeler)
                {
                    push(
                        "wildcard-grant",
                        &i.name,
                        format!(
                            "{} for any source: limit it with --source so it cannot write as another source",
                            g.describe()
                        ),
                        bootstrap,
                    );
                }
                if g.role == Role::Admin && i.kind.is_non_human() {
                    push(
                        "admin-non-human",
                        &i.name,
                        format!(
                            "{} account holds {}: automation should not administer the ledger",
                            i.kind.as_str(),
                            g.describe()
                        ),
                        bootstrap,
                    );
                }
            }
            if let Some(t) = i.token_created_at.filter(|&t| t <= age_cut) {
                push(
                    "stale-credential",
                    &i.name,
                    format!(
                        "token issued {} is older than {} days: `bezoar identity rotate {}`",
                        rfc3339(t),
                        opts.max_key_age_days,
                        i.name
                    ),
                    bootstrap,
                );
            }
            for k in i
                .keys
                .iter()
                .filter(|k| k.revoked_at.is_none() && k.created_at <= age_cut)
            {
                push(
                    "stale-credential",
                    &i.name,
                    format!(
                        "key {} registered {} is older than {} days: `bezoar identity rotate {} --key NEW.pub.pem`",
                        k.keyid,
                        rfc3339(k.created_at),
                        opts.max_key_age_days,
                        i.name
                    ),
                        bootstrap,
                    );
            }
            if i.expires_at.is_none() && grants.iter().any(|g| g.role.writes()) {
                push(
                    "no-expiry",
                    &i.name,
                    format!(
                        "can write but never expires: `bezoar identity rotate {} --expires YYYY-MM-DD`",
                        i.name
                    ),
                        bootstrap,
                    );
            }
        }
        Ok(AuditReport {
            identities: ids.len(),
            active: active.len(),
            unused_days: opts.unused_days,
            max_key_age_days: opts.max_key_age_days,
            findings,
        })
    }
}
