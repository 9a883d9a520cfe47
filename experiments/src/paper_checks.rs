pub fn run(_a: &std::path::Path, _b: &std::path::Path) -> anyhow::Result<()> { anyhow::bail!("TEMP") }
