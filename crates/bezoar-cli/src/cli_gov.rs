//! Command-line arguments of the governance commands: identities, grants, policy, approvals,
//! the retraining gate and the ML-BOM.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

/// How a write authenticates. The token is read from `--token` or, better (a flag shows up in
/// `ps` and shell history), the BEZOAR_TOKEN environment variable.
#[derive(Debug, Args, Clone, Default)]
pub struct AuthArgs {
    /// API token of the writing identity [default: $BEZOAR_TOKEN]; prefer the environment
    /// variable, a flag is visible to other users in the process list
    #[arg(long, value_name = "TOKEN", help_heading = "Authentication")]
    pub token: Option<String>,
}

impl AuthArgs {
    pub fn token(&self) -> Option<String> {
        self.token
            .clone()
            .or_else(|| std::env::var("BEZOAR_TOKEN").ok())
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KindArg {
    Human,
    Service,
    Agent,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Reader,
    Contributor,
    Labeler,
    Approver,
    Admin,
}

#[derive(Debug, Args)]
pub struct IdentityArgs {
    #[command(subcommand)]
    pub command: IdentityCommand,
}

#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// Create an identity and issue its credentials (token printed once, last line)
    #[command(long_about = IDENTITY_ADD_LONG_ABOUT)]
    Add(IdentityAddArgs),
    /// Replace an identity's token and/or key, or set a new expiry
    #[command(long_about = IDENTITY_ROTATE_LONG_ABOUT)]
    Rotate(IdentityRotateArgs),
    /// Revoke an identity: its token, keys and grants stop working at once
    #[command(long_about = IDENTITY_REVOKE_LONG_ABOUT)]
    Revoke(IdentityRevokeArgs),
    /// List identities with their status, credentials and grants
    #[command(long_about = IDENTITY_LIST_LONG_ABOUT)]
    List(IdentityListArgs),
    /// Least-privilege report: unused or wildcard rights, admin service accounts, old keys
    #[command(long_about = IDENTITY_AUDIT_LONG_ABOUT)]
    Audit(IdentityAuditArgs),
}

#[derive(Debug, Args)]
pub struct IdentityAddArgs {
    /// Name of the identity (A-Z a-z 0-9 - _ . @ :), e.g. vendor-a-upload or alice
    #[arg(value_name = "NAME")]
    pub name: String,

    /// What it is: a person, a service account / CI job, or an AI agent
    #[arg(long, value_enum)]
    pub kind: KindArg,

    /// When its credentials stop working (YYYY-MM-DD, midnight UTC, or YYYY-MM-DDTHH:MM:SSZ)
    #[arg(long, value_name = "DATE")]
    pub expires: Option<String>,

    /// Register a public key (ECDSA P-256 or Ed25519, PEM) for signed approvals
    #[arg(long, value_name = "PUB.pem")]
    pub key: Option<PathBuf>,

    /// Issue no API token (a key-only identity, e.g. an approver who never writes)
    #[arg(long, requires = "key")]
    pub no_token: bool,

    #[command(flatten)]
    pub auth: AuthArgs,
}

#[derive(Debug, Args)]
pub struct IdentityRotateArgs {
    #[arg(value_name = "NAME")]
    pub name: String,

    /// Issue a new token (the old one stops working at once); the default when neither --key
    /// nor --expires is given
    #[arg(long = "new-token")]
    pub new_token: bool,

    /// Replace its keys with this public key (older keys are revoked)
    #[arg(long, value_name = "PUB.pem")]
    pub key: Option<PathBuf>,

    /// New expiry (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)
    #[arg(long, value_name = "DATE")]
    pub expires: Option<String>,

    #[command(flatten)]
    pub auth: AuthArgs,
}

#[derive(Debug, Args)]
pub struct IdentityRevokeArgs {
    #[arg(value_name = "NAME")]
    pub name: String,

    /// Why (recorded in the log)
    #[arg(long, short, value_name = "M")]
    pub message: Option<String>,

    #[command(flatten)]
    pub auth: AuthArgs,
}

#[derive(Debug, Args)]
pub struct IdentityListArgs {
    /// Print as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct IdentityAuditArgs {
    /// A right not used for this many days is reported as unused
    #[arg(long, value_name = "N", default_value_t = 90)]
    pub unused_days: u32,

    /// Tokens and keys older than this many days are due for rotation
    #[arg(long, value_name = "N", default_value_t = 90)]
    pub max_key_age_days: u32,

    /// Print as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct GrantArgs {
    /// The identity to grant the role to
    #[arg(value_name = "IDENTITY")]
    pub identity: String,

    /// The dataset, or '*' for every dataset
    #[arg(long, value_name = "D")]
    pub dataset: String,

    #[arg(long, value_enum)]
    pub role: RoleArg,

    /// Limit a contributor or labeler to writing rows under this source
    #[arg(long, value_name = "S")]
    pub source: Option<String>,

    /// Revoke this grant instead of adding it
    #[arg(long)]
    pub revoke: bool,

    #[command(flatten)]
    pub auth: AuthArgs,
}

#[derive(Debug, Args)]
pub struct PolicyArgs {
    #[command(subcommand)]
    pub command: PolicyCommand,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate bezoar.toml (and check it against the ledger, when there is one)
    #[command(long_about = POLICY_CHECK_LONG_ABOUT)]
    Check(PolicyCheckArgs),
}

#[derive(Debug, Args)]
pub struct PolicyCheckArgs {
    /// The policy file
    #[arg(long, value_name = "FILE", default_value = "bezoar.toml")]
    pub policy: PathBuf,
}

#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The snapshot to approve (NAME = its latest snapshot, NAME@N, or id)
    #[arg(value_name = "SNAPSHOT")]
    pub snapshot: String,

    /// Private key to sign with (PEM: ECDSA P-256 or Ed25519; its public half must be registered
    /// to your identity) [default: $BEZOAR_APPROVAL_KEY]
    #[arg(long, value_name = "KEY.pem")]
    pub key: Option<PathBuf>,

    /// Also write the envelope (with every signature so far) to FILE
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    #[command(flatten)]
    pub auth: AuthArgs,
}

#[derive(Debug, Args)]
pub struct GateArgs {
    /// The snapshot to evaluate (NAME = its latest snapshot, NAME@N, or id)
    #[arg(value_name = "SNAPSHOT")]
    pub snapshot: String,

    /// The policy file
    #[arg(long, value_name = "FILE", default_value = "bezoar.toml")]
    pub policy: PathBuf,

    /// Where to write the verification summary [default: .bezoar/gate/NAME@N.vsa.json]
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Print the verdict as JSON
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub auth: AuthArgs,
}

#[derive(Debug, Args)]
pub struct BomArgs {
    /// The snapshot (NAME = its latest snapshot, NAME@N, or id)
    #[arg(value_name = "SNAPSHOT")]
    pub snapshot: String,

    /// The policy file (for classification and owners)
    #[arg(long, value_name = "FILE", default_value = "bezoar.toml")]
    pub policy: PathBuf,

    /// Write the BOM to FILE instead of stdout
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub const IDENTITY_LONG_ABOUT: &str = "\
Identities are who writes: people, service accounts and CI jobs, AI agents. Each has an API token \
(shown once, stored only as a salted hash) and/or a public key for signed approvals, an optional \
expiry, and grants (`bezoar grant`). Every write authenticates with the token in BEZOAR_TOKEN (or \
--token) and is recorded in the log under that identity. Managing identities needs admin on '*'.

Examples:
  bezoar identity add vendor-a-upload --kind service --expires 2027-03-31
  bezoar identity add alice --kind human --key alice.pub.pem
  bezoar identity rotate vendor-a-upload
  bezoar identity revoke vendor-a-upload -m \"key leaked\"
  bezoar identity list
  bezoar identity audit

Exit codes:
  0  done (audit: no finding)
  1  audit: findings
  2  bad input, unknown identity, missing token or permission denied";

const IDENTITY_ADD_LONG_ABOUT: &str = "\
Create an identity and issue its credentials: an API token (printed once as the last line of \
stdout; bezoar keeps only a salted SHA-256 hash of it) and, with --key, a public key (ECDSA P-256 \
or Ed25519) for signed approvals. A new identity can do nothing until it is granted a role with \
`bezoar grant`. Needs admin on '*'.

Examples:
  export BEZOAR_TOKEN=<admin token>
  bezoar identity add vendor-a-upload --kind service --expires 2027-03-31
  TOKEN=$(bezoar identity add ci-labeler --kind service | tail -n 1)
  bezoar identity add alice --kind human --key alice.pub.pem

Exit codes:
  0  created
  2  bad name or date, the name exists, missing token or permission denied";

const IDENTITY_ROTATE_LONG_ABOUT: &str = "\
Rotate an identity's credentials: a new token (the old token stops working immediately; printed \
once as the last line), a new public key (--key; its older keys are revoked, so approvals signed \
with them no longer count), and/or a new expiry (--expires). Without options, issues a new token.

Examples:
  bezoar identity rotate vendor-a-upload
  bezoar identity rotate alice --key alice-2027.pub.pem
  bezoar identity rotate vendor-a-upload --expires 2027-06-30

Exit codes:
  0  rotated
  2  unknown or revoked identity, missing token or permission denied";

const IDENTITY_REVOKE_LONG_ABOUT: &str = "\
Revoke an identity: its token stops authenticating, its keys stop counting for approvals, and its \
grants end, at once. Everything it did stays in the log. Names are never reused. The last active \
admin cannot be revoked.

Example:
  bezoar identity revoke vendor-a-upload -m \"credentials leaked in CI logs\"

Exit codes:
  0  revoked
  2  unknown or already revoked identity, missing token or permission denied";

const IDENTITY_LIST_LONG_ABOUT: &str = "\
List every identity: kind, status (active, expired, revoked), expiry, token id (never the token), \
keys and grants, and when it last wrote. Reading needs no token.

Examples:
  bezoar identity list
  bezoar identity list --json

Exit codes:
  0  listed
  2  no ledger";

const IDENTITY_AUDIT_LONG_ABOUT: &str = "\
The least-privilege report a security reviewer asks for. Reports, for active identities:
  unused-grant     a grant not used for --unused-days days (or never used)
  wildcard-grant   a grant on every dataset ('*'), or a contributor/labeler grant for any source
  admin-non-human  a service account or agent with the admin role
  stale-credential a token or key older than --max-key-age-days (due for rotation)
  no-expiry        an identity that can write (contributor, labeler, admin) with no expiry
Reading needs no token.

Examples:
  bezoar identity audit
  bezoar identity audit --unused-days 30 --max-key-age-days 60 --json

Exit codes:
  0  no finding
  1  findings
  2  no ledger or bad input";

pub const GRANT_LONG_ABOUT: &str = "\
Grant a role on a dataset (or '*', every dataset) to an identity. Roles:
  reader       reads only (recorded so read access is reviewed too)
  contributor  adds rows, and new content for existing rows, under its --source only
  labeler      changes labels of existing rows (same id, same text); adds no rows
  approver     approves snapshots (`bezoar approve`), never its own change
  admin        everything on the dataset, incl. quarantine and granting; admin on '*' also
               manages identities
A contributor or labeler grant without --source allows any source (the audit flags it). Needs \
admin on the dataset.

Examples:
  bezoar grant vendor-a-upload --dataset reviews --role contributor --source vendor-a
  bezoar grant label-team --dataset reviews --role labeler --source labelers
  bezoar grant alice --dataset reviews --role approver
  bezoar grant vendor-a-upload --dataset reviews --role contributor --source vendor-a --revoke

Exit codes:
  0  granted (or revoked)
  2  unknown identity, duplicate grant, missing token or permission denied";

pub const POLICY_LONG_ABOUT: &str = "\
The retraining policy lives in bezoar.toml in the working directory: which sources are trusted, \
how many approvals (t of n approvers) a snapshot with rows from untrusted sources needs, which \
keys must sign, and the scan thresholds a snapshot must pass. `bezoar gate` applies it.

Example bezoar.toml:
  [defaults]
  trusted_sources = [\"internal\"]
  required_approvals = 1

  [datasets.reviews]
  trusted_sources = [\"internal\", \"vendor-a\"]
  required_approvals = 2                 # t
  approvers = [\"alice\", \"bob\", \"carol\"]  # n (default: anyone with the approver role)
  required_signers = [\"alice\"]           # identities (or key ids) that must sign
  [datasets.reviews.scan]
  required = true
  fail_on = \"high\"                       # fail on a finding at or above this severity
  max_flagged_rate = 0.01

Example:
  bezoar policy check

Exit codes:
  0  valid
  1  valid but with warnings that the ledger does not satisfy (e.g. unknown approvers)
  2  invalid (each error names the key and the fix), or the file is missing";

const POLICY_CHECK_LONG_ABOUT: &str = POLICY_LONG_ABOUT;

pub const APPROVE_LONG_ABOUT: &str = "\
Approve a snapshot for training: sign its approval statement (an in-toto Statement v1 whose \
subject is the snapshot's rows Merkle root, predicate https://slsa.dev/verification_summary/v1) \
and add the signature to the snapshot's DSSE envelope, which carries one signature per approver \
(t-of-n). The key (ECDSA P-256 or Ed25519) must be registered to your identity (`bezoar identity \
add/rotate --key`), you need the approver role on the dataset, and you cannot approve a snapshot \
you recorded (nor one whose unapproved ancestors you recorded). The envelope is kept in the \
ledger and written to .bezoar/approvals/NAME@N.dsse.json; key ids follow securesystemslib, so \
`Envelope.verify(keys, threshold)` checks it. With a token (BEZOAR_TOKEN or --token) the token's \
identity approves and the key must be its own; without one, the registered key itself \
authenticates (identities created with --no-token).

Examples:
  BEZOAR_TOKEN=$ALICE_TOKEN bezoar approve reviews --key alice.pem
  bezoar approve reviews@3 --key bob.pem --out reviews-3.approvals.json

Exit codes:
  0  signature added
  2  self-approval, no approver role, unregistered key, already approved by you, missing token";

pub const GATE_LONG_ABOUT: &str = "\
Decide whether a snapshot may be used for training, by the policy in bezoar.toml: every \
approval signature valid and from an active approver who is not the author, at least t approvals \
when the snapshot has rows from untrusted sources, every required signer present, the latest \
recorded scan of exactly the snapshot's rows (`bezoar scan NAME@N --record`) under the \
thresholds, and the snapshot's data verified \
against the ledger. Prints the verdict with every reason, records the decision in the log, and \
writes an in-toto verification-summary statement (https://slsa.dev/verification_summary/v1, \
verificationResult PASSED or FAILED) that a training job can check.

Examples:
  bezoar gate reviews
  bezoar gate reviews@3 --out gate.json && python train.py
  bezoar gate reviews --json

Exit codes:
  0  PASSED
  1  FAILED (the reasons are listed)
  2  bad input: unknown snapshot, invalid policy, missing token";

pub const BOM_LONG_ABOUT: &str = "\
Write a CycloneDX 1.6 ML-BOM for a snapshot: a component of type `data` with the recorded file's \
SHA-256 (and BLAKE3), its sources, governance (owners: the dataset's admins; stewards: the \
identities whose approvals verify), the parent snapshot as pedigree, and an attestation \
reference to the approval envelope. Reading needs no token.

Examples:
  bezoar bom reviews > reviews.cdx.json
  bezoar bom reviews@3 --out reviews-3.cdx.json

Exit codes:
  0  written
  2  unknown snapshot or no ledger";
