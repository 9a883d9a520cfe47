#[derive(clap::Subcommand)]
pub enum TheoryCmd { Ode }
pub fn run(_c: TheoryCmd) -> anyhow::Result<()> { anyhow::bail!("TEMP") }
