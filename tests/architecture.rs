//! The invariants of ARCHITECTURE.md that the source text shows, checked
//! on every `cargo test`: which modules may name HTTP, SQL and I/O, that
//! the modules' imports form no circle, that every module says what it is
//! for, that no file grows back into a house of several jobs, and that the
//! web page names no layer of the sample (it learns them from the data).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A source file: its module path (`api::middleware::pin`; `api` for
/// `api/mod.rs`) and its code without comments and unit tests.
struct Source {
    path: PathBuf,
    module: Vec<String>,
    code: String,
    lines: usize,
}

fn sources() -> Vec<Source> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let rel = p.strip_prefix(&root).unwrap();
                let mut module: Vec<String> = rel
                    .iter()
                    .map(|s| s.to_string_lossy().trim_end_matches(".rs").to_owned())
                    .collect();
                if matches!(
                    module.last().map(String::as_str),
                    Some("mod" | "lib" | "main")
                ) {
                    module.pop();
                }
                let text = std::fs::read_to_string(&p).unwrap();
                out.push(Source {
                    lines: text.lines().count(),
                    code: code_of(&text),
                    module,
                    path: rel.to_path_buf(),
                });
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// The code: line comments dropped, and the unit tests at the bottom.
fn code_of(text: &str) -> String {
    let end = text.find("#[cfg(test)]\nmod tests").unwrap_or(text.len());
    text[..end]
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn under(s: &Source, folder: &str) -> bool {
    s.module.first().is_some_and(|m| m == folder)
}

/// Files whose code matches `needle` (a word boundary before it).
fn naming<'a>(all: &'a [Source], needle: &str) -> Vec<&'a Source> {
    all.iter()
        .filter(|s| {
            s.code.match_indices(needle).any(|(i, _)| {
                i == 0
                    || !s.code.as_bytes()[i - 1].is_ascii_alphanumeric()
                        && s.code.as_bytes()[i - 1] != b'_'
            })
        })
        .collect()
}

fn paths(files: &[&Source]) -> Vec<String> {
    files.iter().map(|s| s.path.display().to_string()).collect()
}

#[test]
fn the_web_page_names_no_layer_of_the_sample() {
    // Every layer id of the sample's manifest, as a quoted literal in the
    // page's scripts, would tie the page to one data set.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest: toml::Table =
        toml::from_str(&std::fs::read_to_string(root.join("geodata/layers.toml")).unwrap())
            .unwrap();
    let ids: Vec<String> = manifest["layer"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_owned())
        .collect();
    let mut found = Vec::new();
    for e in std::fs::read_dir(root.join("web")).unwrap().flatten() {
        let p = e.path();
        if p.extension().is_none_or(|x| x != "js") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        for id in &ids {
            for q in ['\'', '"', '`'] {
                if text.contains(&format!("{q}{id}{q}")) {
                    found.push(format!("{}: {q}{id}{q}", p.display()));
                }
            }
        }
    }
    assert!(ids.len() >= 5, "{ids:?}");
    assert!(found.is_empty(), "the page names layers: {found:?}");
}

#[test]
fn only_the_api_names_http_frameworks() {
    let all = sources();
    for crate_name in [
        "axum::",
        "hyper::",
        "hyper_util::",
        "tower::",
        "tower_http::",
        "http_body_util::",
    ] {
        let outside: Vec<&Source> = naming(&all, crate_name)
            .into_iter()
            .filter(|s| !under(s, "api"))
            // lib.rs names the Router `app` returns.
            .filter(|s| !(s.module.is_empty() && crate_name == "axum::"))
            .collect();
        assert!(
            outside.is_empty(),
            "{crate_name} outside api/: {:?}",
            paths(&outside)
        );
    }
}

#[test]
fn sql_lives_in_its_store_alone() {
    let all = sources();
    let sqlite: Vec<&Source> = naming(&all, "rusqlite")
        .into_iter()
        .filter(|s| {
            !s.path.starts_with("store/gpkg") && s.path != Path::new("store/gpkg_source.rs")
        })
        .collect();
    assert!(
        sqlite.is_empty(),
        "rusqlite outside store/gpkg: {:?}",
        paths(&sqlite)
    );
    let pg: Vec<&Source> = naming(&all, "postgres::")
        .into_iter()
        .filter(|s| !s.path.starts_with("store/pg"))
        .collect();
    assert!(pg.is_empty(), "postgres outside store/pg: {:?}", paths(&pg));
}

#[test]
fn the_store_knows_nothing_of_coverage_snapshots_or_serving() {
    let all = sources();
    for upper in [
        "crate::coverage",
        "crate::catalog",
        "crate::live",
        "crate::api",
        "crate::edit",
    ] {
        let bad: Vec<&Source> = naming(&all, upper)
            .into_iter()
            .filter(|s| under(s, "store"))
            .collect();
        assert!(bad.is_empty(), "store names {upper}: {:?}", paths(&bad));
    }
}

#[test]
fn the_engines_do_no_io() {
    let all = sources();
    let engines = [
        "coverage", "index", "geodesy", "crs", "clock", "model", "encode", "cql2", "tiles",
        "catalog", "edit", "query", "props", "compare", "chunked",
    ];
    for io in [
        "std::fs",
        "std::net",
        "std::process",
        "File::",
        "/proc/",
        "crate::metrics",
        "read_regular",
        "load_folder",
        "load_dir",
    ] {
        let bad: Vec<&Source> = naming(&all, io)
            .into_iter()
            .filter(|s| engines.iter().any(|e| under(s, e)))
            .collect();
        assert!(bad.is_empty(), "{io} in an engine: {:?}", paths(&bad));
    }
}

#[test]
fn every_module_says_what_it_is_for() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let missing: Vec<String> = sources()
        .iter()
        .filter(|s| {
            !std::fs::read_to_string(root.join(&s.path))
                .unwrap()
                .starts_with("//!")
        })
        .map(|s| s.path.display().to_string())
        .collect();
    assert!(missing.is_empty(), "no //! doc: {missing:?}");
}

/// A file past this many lines holds more than one job (cql2/mod.rs, one
/// pipeline of parse, check and evaluate, is the longest at under 900).
const MAX_FILE_LINES: usize = 900;

#[test]
fn no_file_grows_into_a_house_of_several_jobs() {
    let long: Vec<String> = sources()
        .iter()
        .filter(|s| s.lines > MAX_FILE_LINES && !s.path.ends_with("tests.rs"))
        .map(|s| format!("{} ({} lines)", s.path.display(), s.lines))
        .collect();
    assert!(long.is_empty(), "over {MAX_FILE_LINES} lines: {long:?}");
}

/// Every `crate::...` and `super::...` path of a file's code, with `use`
/// groups (`use super::{a, b::c}`) spelled out, as absolute module paths.
fn references(s: &Source) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let bytes = s.code.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !s.code.is_char_boundary(i) {
            i += 1;
            continue;
        }
        let rest = &s.code[i..];
        let starts = (rest.starts_with("crate::") || rest.starts_with("super::"))
            && (i == 0
                || !(bytes[i - 1].is_ascii_alphanumeric()
                    || bytes[i - 1] == b'_'
                    || bytes[i - 1] == b':'));
        if !starts {
            i += 1;
            continue;
        }
        let (tree, len) = path_tree(rest);
        for p in tree {
            out.push(resolve(&s.module, &p, s.path.ends_with("mod.rs")));
        }
        i += len.max(1);
    }
    out
}

/// A path and its `{...}` groups from the start of `text`: the paths it
/// spells, and how many bytes it took.
fn path_tree(text: &str) -> (Vec<Vec<String>>, usize) {
    let b = text.as_bytes();
    let mut i = 0;
    let mut prefix: Vec<String> = Vec::new();
    loop {
        let start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            i += 1;
        }
        if i > start {
            prefix.push(text[start..i].to_owned());
        }
        if text[i..].starts_with("::{") {
            i += 3;
            let mut paths = Vec::new();
            loop {
                while i < b.len() && (b[i] == b' ' || b[i] == b'\n' || b[i] == b',') {
                    i += 1;
                }
                if i >= b.len() || b[i] == b'}' {
                    i += 1;
                    break;
                }
                let (inner, n) = path_tree(&text[i..]);
                for p in inner {
                    paths.push(prefix.iter().cloned().chain(p).collect());
                }
                i += n.max(1);
            }
            return (paths, i);
        }
        if text[i..].starts_with("::") {
            i += 2;
            continue;
        }
        return (vec![prefix], i);
    }
}

/// A path as written in module `at` as an absolute module path.
fn resolve(at: &[String], path: &[String], is_mod_rs: bool) -> Vec<String> {
    let _ = is_mod_rs;
    let mut base: Vec<String> = at.to_vec();
    let mut rest = path;
    match rest.first().map(String::as_str) {
        Some("crate") => {
            base.clear();
            rest = &rest[1..];
        }
        _ => {
            while rest.first().map(String::as_str) == Some("super") {
                base.pop();
                rest = &rest[1..];
            }
        }
    }
    base.extend(rest.iter().filter(|s| s.as_str() != "self").cloned());
    base
}

/// The module graph: module -> the modules it imports, ancestors and
/// descendants left out (a parent declares and re-exports its children).
fn graph(all: &[Source]) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let modules: BTreeSet<Vec<String>> = all.iter().map(|s| s.module.clone()).collect();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for s in all {
        for r in references(s) {
            // The deepest module the path names (the rest is an item).
            let Some(target) = (0..=r.len())
                .rev()
                .map(|n| r[..n].to_vec())
                .find(|m| modules.contains(m))
            else {
                continue;
            };
            let related = target.starts_with(&s.module) || s.module.starts_with(&target);
            if !related {
                edges.entry(s.module.clone()).or_default().insert(target);
            }
        }
    }
    edges
}

/// A circle in the graph, if there is one (depth-first, a back edge).
fn circle(edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Option<Vec<String>> {
    fn visit(
        at: &Vec<String>,
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        state: &mut BTreeMap<Vec<String>, u8>,
        stack: &mut Vec<Vec<String>>,
    ) -> Option<Vec<Vec<String>>> {
        state.insert(at.clone(), 1);
        stack.push(at.clone());
        for next in edges.get(at).into_iter().flatten() {
            match state.get(next) {
                Some(1) => {
                    let from = stack.iter().position(|m| m == next).unwrap_or(0);
                    let mut circle = stack[from..].to_vec();
                    circle.push(next.clone());
                    return Some(circle);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(next, edges, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(at.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for m in edges.keys() {
        if state.contains_key(m) {
            continue;
        }
        if let Some(c) = visit(m, edges, &mut state, &mut Vec::new()) {
            return Some(c.iter().map(|m| m.join("::")).collect());
        }
    }
    None
}

#[test]
fn the_modules_imports_form_no_circle() {
    let edges = graph(&sources());
    if let Some(c) = circle(&edges) {
        panic!("an import circle: {}", c.join(" -> "));
    }
    // The check sees the graph, not an empty one.
    assert!(
        edges.len() > 30,
        "only {} modules import others",
        edges.len()
    );
}

/// The check finds the circle the API had (`edit` and `items` each using
/// the other's half of a feature's answer), and none once they share a
/// third file.
#[test]
fn the_circle_check_finds_a_circle_between_two_files() {
    let file = |module: &str, code: &str| Source {
        path: PathBuf::from(format!("{}.rs", module.replace("::", "/"))),
        module: module.split("::").map(str::to_owned).collect(),
        code: code.to_owned(),
        lines: 1,
    };
    let before = [
        file("api", "mod edit; mod items;"),
        file("api::edit", "use super::items::encode_segment;"),
        file("api::items", "let e = super::edit::feature_etag(f);"),
    ];
    assert_eq!(
        circle(&graph(&before)),
        Some(vec![
            "api::edit".into(),
            "api::items".into(),
            "api::edit".into()
        ])
    );
    let after = [
        file("api", "mod edit; mod feature; mod items;"),
        file(
            "api::edit",
            "use super::feature::{encode_segment, feature_etag};",
        ),
        file(
            "api::items",
            "use super::{feature::feature_etag, ApiError};",
        ),
        file("api::feature", "use crate::model::Feature;"),
        file("model", ""),
    ];
    assert_eq!(circle(&graph(&after)), None);
}

/// The check itself: it finds a circle where there is one.
#[test]
fn the_circle_check_reads_use_groups() {
    let (paths, _) = path_tree("super::{a, b::{c, d}, e::f};");
    let want: Vec<Vec<String>> = [
        vec!["super", "a"],
        vec!["super", "b", "c"],
        vec!["super", "b", "d"],
        vec!["super", "e", "f"],
    ]
    .iter()
    .map(|p| p.iter().map(|s| s.to_string()).collect())
    .collect();
    assert_eq!(paths, want);
    let at: Vec<String> = vec!["api".into(), "edit".into()];
    assert_eq!(
        resolve(
            &at,
            &["super".into(), "items".into(), "encode".into()],
            false
        ),
        vec!["api", "items", "encode"]
    );
}
