//! `pgveil inspect ARCHIVE`: print a custom-format archive's header and TOC with offsets and block sizes.

use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// A custom-format archive (pgveil's NAME.dump or pg_dump -Fc output).
    archive: PathBuf,
}

pub fn run(args: InspectArgs) -> anyhow::Result<()> {
    // Every error of `inspect` names the archive itself.
    let text = pgveil::sink::archive::inspect(&args.archive)?;
    print!("{text}");
    Ok(())
}
