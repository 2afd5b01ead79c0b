//! `mockrig init [DIR]`: a starter spec and the JSON Schema beside it, so a newcomer's editor
//! checks the spec wherever it lives, and nothing the user already has is overwritten.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The starter spec: routes, a resource, a WebSocket and an SSE channel, each commented. Its
/// first line points the YAML language server at the schema file written beside it.
pub(crate) const STARTER: &str = include_str!("starter.yaml");

/// The spec's file name in DIR.
pub(crate) const SPEC_FILE: &str = "api.yaml";
/// The schema's file name in DIR, as the starter's modeline names it.
pub(crate) const SCHEMA_FILE: &str = "mockrig.schema.json";

/// Why `init` wrote nothing (or not everything).
#[derive(Debug, thiserror::Error)]
pub(crate) enum InitError {
    #[error(
        "{} already {}; mockrig init writes nothing over your files (pass --force to replace {})",
        .0.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" and "),
        if .0.len() == 1 { "exists" } else { "exist" },
        if .0.len() == 1 { "it" } else { "them" }
    )]
    Exists(Vec<PathBuf>),
    #[error("cannot write {}: {error}", .path.display())]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
}

/// Writes the starter spec and the schema into `dir` (created if missing) and returns what
/// to print: the files written and the command to run next.
pub(crate) fn init(dir: &Path, force: bool) -> Result<String, InitError> {
    let shown = |name: &str| {
        if dir == Path::new(".") || dir.as_os_str().is_empty() {
            PathBuf::from(name)
        } else {
            dir.join(name)
        }
    };
    let files = [
        (SPEC_FILE, STARTER.to_owned()),
        (SCHEMA_FILE, crate::spec::json_schema_text()),
    ];
    // Both are looked at before either is written: a refusal leaves the folder as it was.
    // `symlink_metadata`, so a dangling symlink counts as a file too (writing would follow it).
    let existing: Vec<PathBuf> = files
        .iter()
        .map(|(name, _)| shown(name))
        .filter(|p| std::fs::symlink_metadata(p).is_ok())
        .collect();
    if !force && !existing.is_empty() {
        return Err(InitError::Exists(existing));
    }
    if dir.exists() && !dir.is_dir() {
        return Err(InitError::Write {
            path: dir.to_owned(),
            error: std::io::Error::other("it is a file, not a folder"),
        });
    }
    std::fs::create_dir_all(dir).map_err(|e| InitError::Write {
        path: dir.to_owned(),
        error: e,
    })?;
    let mut out = String::new();
    for (name, text) in &files {
        let path = shown(name);
        // create_new: a file that appeared since the look above is still not overwritten.
        let mut options = OpenOptions::new();
        options.write(true);
        if force {
            options.create(true).truncate(true);
        } else {
            options.create_new(true);
        }
        options
            .open(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => InitError::Exists(vec![path.clone()]),
                _ => InitError::Write {
                    path: path.clone(),
                    error: e,
                },
            })?;
        out.push_str(&format!("wrote {}\n", path.display()));
    }
    let serve = format!("mockrig serve {SPEC_FILE}");
    if shown(SPEC_FILE) == Path::new(SPEC_FILE) {
        out.push_str(&format!("next: {serve}\n"));
    } else {
        out.push_str(&format!("next: cd {} && {serve}\n", dir.display()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_both_files_and_names_them() {
        let dir = std::env::temp_dir().join(format!("mockrig-init-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let printed = init(&dir, false).unwrap();
        assert!(
            printed.contains("wrote") && printed.contains("next: cd "),
            "{printed}"
        );
        let err = init(&dir, false).unwrap_err().to_string();
        assert!(
            err.contains("api.yaml and ") && err.contains("--force"),
            "{err}"
        );
        std::fs::write(dir.join(SPEC_FILE), "mine").unwrap();
        assert!(init(&dir, true).is_ok());
        assert_eq!(
            std::fs::read_to_string(dir.join(SPEC_FILE)).unwrap(),
            STARTER
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
