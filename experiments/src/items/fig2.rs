use anyhow::Result;
pub fn run(_: &super::Ctx, _: &mut crate::output::ItemOutput) -> Result<()> { anyhow::bail!("TEMP") }
