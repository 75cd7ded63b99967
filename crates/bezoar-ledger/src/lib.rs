//! The bezoar provenance ledger: signed, content-addressed dataset snapshots with a
//! tamper-evident, append-only Merkle event log.
//!
//! Layout of `.bezoar/` (created by [`Ledger::init`]):
//! - `ledger.db`: SQLite (WAL), schema in [`schema`];
//! - `objects/`: zstd-compressed row chunks named by the SHA-256 of their content ([`objects`]);
//! - `log.key` (0600) / `log.pub`: the Ed25519 key that signs checkpoints ([`keys`]).
//!
//! Modules: [`rows`] (canonical row encoding, row digests, chunking), [`merkle`] (RFC 6962),
//! [`checkpoint`] (C2SP signed notes), [`snapshot`] (add, resolve, load, quarantine), [`diff`],
//! [`verify`], [`signing`] (OpenSSF model-signing bundles).
//!
//! Governance (issue #5): [`identity`] (identities, keys), [`auth`] (API tokens), [`grants`]
//! (roles and the checks on every write), [`policy`] (`bezoar.toml`), [`approval`] (t-of-n
//! DSSE approvals), [`gate`] (the retraining verdict), [`audit`] (least privilege), [`bom`]
//! (CycloneDX ML-BOM).

pub mod approval;
pub mod audit;
pub mod auth;
pub mod bom;
pub mod checkpoint;
pub mod diff;
mod error;
pub mod gate;
pub mod grants;
pub mod identity;
pub mod keys;
pub mod merkle;
pub mod names;
pub mod objects;
pub mod policy;
pub mod promote;
pub mod proofs;
pub mod rows;
pub mod schema;
pub mod signing;
pub mod snapshot;
mod store;
pub mod util;
pub mod verify;

pub use error::{LedgerError, Result};
pub use store::{Event, Ledger, LEDGER_DIR};
