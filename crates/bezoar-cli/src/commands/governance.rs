//! `bezoar policy check | approve | gate | bom`.

use std::process::ExitCode;

use crate::cli_gov::{ApproveArgs, BomArgs, GateArgs, PolicyArgs};

pub fn policy(_a: &PolicyArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet")
}
pub fn approve(_a: &ApproveArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet")
}
pub fn gate(_a: &GateArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet")
}
pub fn bom(_a: &BomArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet")
}
