//! The floor for the rollback benchmark: the bare minimum a crash-safe
//! replacement of a document costs (temp file + fsync + rename + directory
//! fsync), with no parsing, locking or audit.
//!
//! usage: atomic_write SOURCE TARGET
// Tests and tools unwrap to fail loudly at the line that broke.
#![allow(clippy::unwrap_used)]

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (source, target) = (Path::new(&args[1]), Path::new(&args[2]));
    let bytes = fs::read(source)?;
    let dir = target.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(".atomic_write.tmp");
    let mut file = File::create(&tmp)?;
    file.write_all(&bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, target)?;
    File::open(dir)?.sync_all()
}
