//! `pgveil inspect ARCHIVE`: print a custom-format archive's header and TOC with offsets and block sizes.

use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// A custom-format archive (pgveil's NAME.dump or pg_dump -Fc output).
    archive: PathBuf,
}

pub fn run(args: InspectArgs) -> anyhow::Result<()> {
    // The reader's errors name the archive (`reading PATH: …`, `PATH: not a custom-format
    // archive`): no context repeating it.
    let text = pgveil::archive::inspect(&args.archive)?;
    print!("{text}");
    Ok(())
}
