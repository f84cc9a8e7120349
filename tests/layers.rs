//! The house rules of `src/`, read from the source itself: every `crate::` path points down the
//! layers (`cli → course, serve, inpaint → labs, bench → models → train → report → data → kernels, linalg → runtime,
//! error`), so no two modules import each other, and no lab imports another lab.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, from the top: a module may name only modules of a later (lower) layer.
const LAYERS: &[&[&str]] = &[
    &["cli"],
    &["course", "serve", "inpaint"],
    &["labs", "bench"],
    &["models"],
    &["train"],
    &["report"],
    &["data"],
    &["kernels", "linalg"],
    &["runtime"],
    &["error"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without its comments (doc links name modules without importing them).
fn code_of(text: &str) -> String {
    text.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .map(|line| match line.find(" // ") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every path that follows `prefix` in `code`, as its segments: `crate::{a::b, c}` gives
/// `["a", "b"]` and `["c"]`.
fn paths_after(code: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(prefix) {
        let before = rest[..at].chars().last();
        rest = &rest[at + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // e.g. `my_crate::`
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let end = group
                .char_indices()
                .find(|&(_, c)| {
                    depth += match c {
                        '{' => 1,
                        '}' => -1,
                        _ => 0,
                    };
                    depth == 0
                })
                .map_or(group.len(), |(i, _)| i);
            let mut item = String::new();
            let mut level = 0;
            for c in group[..end].chars().chain(std::iter::once(',')) {
                match c {
                    '{' => level += 1,
                    '}' => level -= 1,
                    ',' if level == 0 => {
                        let segments = segments_of(item.trim());
                        if !segments.is_empty() {
                            paths.push(segments);
                        }
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
        } else {
            let segments = segments_of(rest);
            if !segments.is_empty() {
                paths.push(segments);
            }
        }
    }
    paths
}

/// The leading `a::b::c` of `text`, as segments.
fn segments_of(text: &str) -> Vec<String> {
    let mut segments = Vec::new();
    let mut rest = text;
    loop {
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if name.is_empty() {
            break;
        }
        rest = &rest[name.len()..];
        segments.push(name);
        match rest.strip_prefix("::") {
            Some(r) => rest = r,
            None => break,
        }
    }
    segments
}

struct Source {
    /// `src/labs/gan.rs` → ["labs", "gan"]
    module_path: Vec<String>,
    /// A folder's `mod.rs`, as `src/labs/common/mod.rs`.
    is_folder: bool,
    code: String,
}

fn sources() -> Vec<Source> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files
        .into_iter()
        .filter(|f| !f.ends_with("main.rs") && !f.ends_with("lib.rs"))
        .map(|f| {
            let relative = f.strip_prefix(&root).unwrap().with_extension("");
            let module_path = relative
                .iter()
                .map(|s| s.to_string_lossy().into_owned())
                .filter(|s| s != "mod")
                .collect();
            let code = code_of(&std::fs::read_to_string(&f).unwrap());
            let is_folder = f.ends_with("mod.rs");
            Source {
                module_path,
                is_folder,
                code,
            }
        })
        .collect()
}

#[test]
fn every_module_names_only_modules_of_lower_layers() {
    let mut edges: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    let mut unknown = BTreeSet::new();
    for source in sources() {
        let from = source.module_path[0].clone();
        for path in paths_after(&source.code, "crate::") {
            let to = &path[0];
            if *to != from {
                edges
                    .entry((from.clone(), to.clone()))
                    .or_default()
                    .insert(source.module_path.join("/"));
            }
        }
        if layer_of(&from).is_none() {
            unknown.insert(from);
        }
    }
    assert!(
        unknown.is_empty(),
        "modules missing from LAYERS: {unknown:?}"
    );
    let upward: Vec<String> = edges
        .iter()
        .filter(|((from, to), _)| match (layer_of(from), layer_of(to)) {
            (Some(f), Some(t)) => t <= f,
            _ => true,
        })
        .map(|((from, to), files)| format!("{from} → {to} (in {files:?})"))
        .collect();
    assert!(
        upward.is_empty(),
        "imports that point up or sideways:\n{}",
        upward.join("\n")
    );
    // the check sees real imports: without them it would pass for the wrong reason
    assert!(edges.contains_key(&("labs".to_string(), "train".to_string())));
    assert!(edges.contains_key(&("train".to_string(), "report".to_string())));
}

#[test]
fn no_lab_imports_another_lab() {
    let sources = sources();
    let labs: BTreeSet<String> = sources
        .iter()
        .filter(|s| s.module_path.len() == 2 && s.module_path[0] == "labs" && !s.is_folder)
        .map(|s| s.module_path[1].clone())
        .collect();
    assert!(labs.contains("cnn") && labs.contains("gan"), "{labs:?}");
    let mut found = Vec::new();
    for source in sources.iter().filter(|s| s.module_path[0] == "labs") {
        let this = source.module_path.get(1).cloned().unwrap_or_default();
        let named = paths_after(&source.code, "crate::labs::")
            .into_iter()
            .chain(paths_after(&source.code, "super::"))
            .chain(paths_after(&source.code, "super::super::"))
            .filter_map(|path| path.first().cloned());
        for lab in named.filter(|n| labs.contains(n) && *n != this) {
            found.push(format!(
                "{} names the lab {lab}",
                source.module_path.join("/")
            ));
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn the_parser_reads_grouped_and_nested_imports() {
    let code = "use crate::{data::images::{A, B}, error::Result};\nlet x = crate::train::fit(1);";
    let firsts: Vec<String> = paths_after(code, "crate::")
        .into_iter()
        .map(|p| p[0].clone())
        .collect();
    assert_eq!(firsts, ["data", "error", "train"]);
    assert!(paths_after("use my_crate::x;", "crate::").is_empty());
    assert_eq!(
        code_of("// crate::cli\nlet a = 1; // crate::cli"),
        "let a = 1;"
    );
}
