//! `pgveil inspect ARCHIVE`: print a custom-format archive's header and TOC with offsets and block sizes.

use std::path::PathBuf;

use anyhow::Context;

#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// A custom-format archive (pgveil's NAME.dump or pg_dump -Fc output).
    archive: PathBuf,
}

pub fn run(args: InspectArgs) -> anyhow::Result<()> {
    let text = pgveil::archive::inspect(&args.archive)
        .with_context(|| format!("inspecting {}", args.archive.display()))?;
    print!("{text}");
    Ok(())
}
