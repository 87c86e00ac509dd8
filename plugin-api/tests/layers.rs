//! The crate's modules import in one direction: each only from modules in a
//! layer below its own. The ABI contract (`step`, `plugin`, `module`: a change
//! there is a major version) then never depends on helpers that keep changing,
//! and a cycle — which needs at least one import sideways or upwards — fails
//! here. Run with `cargo test -p phonehook-plugin-api --test layers`.
//!
//! The check reads `src/**/*.rs` as text: every `crate::NAME` path outside
//! comments is an import of module `NAME` (a name the root re-exports, such as
//! `crate::PluginError`, counts as the module it comes from). `lib.rs`, which
//! declares and re-exports everything, is the one file above all layers.

// A test: a failed expect is a failed test.
#![allow(clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;

/// Bottom first. A module may import only from modules of a lower layer.
const LAYERS: &[&[&str]] = &[
    // Encodings: no other module of the crate.
    &["encoding"],
    // Text rules and errors (the redactor uses the encodings).
    &["lang", "date", "speech", "redact", "error", "pair"],
    // Plain data and hashes built on them.
    &["message", "crypto"],
    // HTTP requests and replies, a call's inputs, the manifest.
    &["http", "call", "manifest"],
    // What a plugin answers a call with.
    &["step"],
    // The contract: the safe trait and the ABI root module.
    &["plugin", "module"],
    // The entry points `export_plugin!` generates.
    &["export"],
    // Driving a plugin without a host.
    &["testing"],
];

#[test]
fn modules_import_only_from_layers_below() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("read src/lib.rs");
    let mut files = Vec::new();
    collect(&src, &src, &mut files);
    let problems = violations(&files, &root_reexports(&lib));
    assert!(
        problems.is_empty(),
        "plugin-api modules must import only from lower layers (order in tests/layers.rs):\n{}",
        problems.join("\n")
    );
}

/// The check itself: a cycle between two modules, an upward import, an
/// import through a root re-export and an unplaced module are each caught.
#[test]
fn the_check_catches_cycles_and_upward_imports() {
    let reexports = BTreeMap::from([("Step".to_owned(), "step".to_owned())]);
    let file = |module: &str, text: &str| (module.to_owned(), text.to_owned());
    let cases = [
        // A cycle: http → step → http.
        (
            vec![
                file("http", "use crate::step::Step;"),
                file("step", "use crate::http::HttpRequest;"),
            ],
            1,
        ),
        // Sideways, inside one layer.
        (vec![file("http", "use crate::call::Call;")], 1),
        // Upwards through the root's re-export, in a grouped import.
        (vec![file("message", "use crate::{lang, Step};")], 1),
        // A module no layer names.
        (vec![file("newcomer", "fn f() {}")], 1),
        // Downwards, and mentions in comments: fine.
        (
            vec![file(
                "step",
                "// crate::testing::Harness\nuse crate::{error::PluginError, http};",
            )],
            0,
        ),
    ];
    for (files, expected) in cases {
        let problems = violations(&files, &reexports);
        assert_eq!(problems.len(), expected, "{files:?}: {problems:?}");
    }
}

/// `(module, text)` of every source file but `lib.rs`; a directory module's
/// files (`testing/mod.rs`, `testing/fuzz.rs`) are one module.
fn collect(src: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read a source directory")
        .map(|e| e.expect("read a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(src, &path, out);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") || path == src.join("lib.rs") {
            continue;
        }
        let relative = path.strip_prefix(src).expect("a path under src");
        let first = relative
            .components()
            .next()
            .expect("a non-empty path")
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_owned();
        let text = std::fs::read_to_string(&path).expect("read a source file");
        out.push((module, text));
    }
}

/// Names `lib.rs` re-exports (`pub use call::{Call, Config};`), by module.
fn root_reexports(lib: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for line in code_lines(lib) {
        let Some(rest) = line.trim().strip_prefix("pub use ") else {
            continue;
        };
        let Some((module, names)) = rest.trim_end_matches(';').split_once("::") else {
            continue;
        };
        let names = names.trim_start_matches('{').trim_end_matches('}');
        for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            map.insert(name.to_owned(), module.to_owned());
        }
    }
    map
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

fn violations(files: &[(String, String)], reexports: &BTreeMap<String, String>) -> Vec<String> {
    let mut problems = Vec::new();
    for (module, text) in files {
        let Some(own) = layer_of(module) else {
            problems.push(format!(
                "`{module}` is in no layer: add it to LAYERS in tests/layers.rs"
            ));
            continue;
        };
        for name in imported_names(text) {
            let target = reexports.get(&name).cloned().unwrap_or(name);
            if &target == module {
                continue;
            }
            match layer_of(&target) {
                Some(layer) if layer < own => {}
                Some(_) => problems.push(format!(
                    "`{module}` imports `{target}`, which is not in a lower layer"
                )),
                None => problems.push(format!(
                    "`{module}` imports `crate::{target}`, which is no module of a layer"
                )),
            }
        }
    }
    problems
}

/// The first segment of every `crate::` path in the code (`crate::a::B` and
/// `crate::{a::B, c}` give `a`, and `a` and `c`). `$crate::` (inside macros,
/// resolved in the plugin crate) is not an import of this crate's modules.
fn imported_names(text: &str) -> Vec<String> {
    let code = code_lines(text).collect::<Vec<_>>().join("\n");
    let mut names = Vec::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        let preceded_by_dollar = rest[..at].ends_with('$');
        let after = &rest[at + "crate::".len()..];
        rest = after;
        if preceded_by_dollar {
            continue;
        }
        if let Some(group) = after.strip_prefix('{') {
            let end = matching_brace(group);
            for item in split_top_level(&group[..end]) {
                names.extend(leading_ident(item));
            }
        } else {
            names.extend(leading_ident(after));
        }
    }
    names
}

/// Each line with any `//` comment (including doc comments) cut off.
fn code_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(|line| line.split_once("//").map_or(line, |(code, _)| code))
}

fn leading_ident(text: &str) -> Option<String> {
    let text = text.trim_start();
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    (end > 0).then(|| text[..end].to_owned())
}

/// Where the group that starts just after a `{` ends.
fn matching_brace(group: &str) -> usize {
    let mut depth = 0usize;
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return i,
            '}' => depth -= 1,
            _ => {}
        }
    }
    group.len()
}

fn split_top_level(group: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                items.push(&group[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&group[start..]);
    items
}
