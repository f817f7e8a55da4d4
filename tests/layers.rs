//! The top-level modules of src/ form layers: no circle of `crate::` references between them
//! (storage below apply, apply below raft, raft below the API, the server on top). Read from the
//! source itself, so a new `use` that closes a circle fails here with the files that make it.
//! And ARCHITECTURE.md's code map names every file and directory of src/.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Each top-level module's references to other top-level modules, with the file of each.
type References = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

fn rust_files(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

fn identifier(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// The top-level modules a file's production code names: `crate::x` and `use crate::{x, y}`.
fn named_modules(source: &str) -> BTreeSet<String> {
    // Unit tests may reach anywhere; only what ships makes layers.
    let code = match source.find("#[cfg(test)]\nmod tests") {
        Some(at) => &source[..at],
        None => source,
    };
    let mut named = BTreeSet::new();
    for line in code.lines() {
        let line = line.trim_start();
        if line.starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let group = &group[..group.find('}').unwrap_or(group.len())];
                named.extend(
                    group
                        .split(',')
                        .map(|item| identifier(item.trim()).to_string())
                        .filter(|name| !name.is_empty()),
                );
            } else {
                named.insert(identifier(rest).to_string());
            }
        }
    }
    named
}

fn references(src: &Path) -> References {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut references = References::new();
    for file in files {
        let relative = file.strip_prefix(src).unwrap().display().to_string();
        let top = relative
            .split('/')
            .next()
            .unwrap()
            .trim_end_matches(".rs")
            .to_string();
        let source = std::fs::read_to_string(&file).unwrap();
        for named in named_modules(&source) {
            if named != top && !named.is_empty() {
                references
                    .entry(top.clone())
                    .or_default()
                    .entry(named)
                    .or_default()
                    .insert(relative.clone());
            }
        }
    }
    references
}

/// A circle through the graph, as the modules along it, if there is one.
fn find_circle(references: &References) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        references: &References,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut circle = path[at..].to_vec();
            circle.push(node.to_string());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in references.get(node).into_iter().flat_map(|m| m.keys()) {
            if let Some(circle) = visit(next, references, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    references
        .keys()
        .find_map(|node| visit(node, references, &mut Vec::new(), &mut done))
}

#[test]
fn no_circle_between_top_level_modules() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let references = references(&src);
    assert!(
        references
            .get("api")
            .is_some_and(|m| m.contains_key("raft")),
        "the reader sees the API's use of raft"
    );
    if let Some(circle) = find_circle(&references) {
        let steps: Vec<String> = circle
            .windows(2)
            .map(|step| {
                let files = &references[&step[0]][&step[1]];
                format!("{} -> {} (in {:?})", step[0], step[1], files)
            })
            .collect();
        panic!("a circle between modules:\n{}", steps.join("\n"));
    }
}

#[test]
fn the_circle_finder_finds_circles() {
    let mut references = References::new();
    for (from, to) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")] {
        references
            .entry(from.to_string())
            .or_default()
            .entry(to.to_string())
            .or_default()
            .insert("x.rs".to_string());
    }
    assert_eq!(
        find_circle(&references),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    references.get_mut("c").unwrap().remove("a");
    assert_eq!(find_circle(&references), None);
    assert_eq!(
        named_modules(
            "use crate::{mvcc::Store, raft};\nlet x = crate::api::Status::new();\n// crate::peer\n"
        ),
        ["api", "mvcc", "raft"].map(String::from).into()
    );
}

#[test]
fn the_code_map_names_everything_in_src() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let architecture = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(root.join("src")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        let named = match entry.path().is_dir() {
            true => format!("`src/{name}/"),
            false => format!("`src/{name}"),
        };
        if !architecture.contains(&named) {
            missing.push(named);
        }
    }
    missing.sort();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md's code map does not name {missing:?}"
    );
}
