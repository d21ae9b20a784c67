//! Reading data files safely: regular files only (a FIFO or a device named
//! as a layer would block the loader forever).

use std::path::Path;

/// Read a whole file, refusing anything that is not a regular file: a FIFO
/// or a device named as a layer would block the loader forever.
pub fn read_regular_file(path: &Path) -> std::io::Result<Vec<u8>> {
    regular_file_size(path)?;
    std::fs::read(path)
}

/// The size of a regular file; an error for anything else (opening a FIFO
/// would block).
pub(super) fn regular_file_size(path: &Path) -> std::io::Result<u64> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file (a FIFO, device or folder cannot be a data file)",
        ));
    }
    Ok(meta.len())
}

/// `read_regular_file` for a text file (UTF-8).
pub fn read_regular_text(path: &Path) -> std::io::Result<String> {
    String::from_utf8(read_regular_file(path)?)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}
