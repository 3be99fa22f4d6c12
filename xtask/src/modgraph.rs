//! The kernel's module graph, read from its source: which module's code names which other
//! module (`use crate::…`, `super::…`, paths in expressions), and the two rules that keep the
//! kernel a table of subsystems over a shared context:
//!
//! 1. **No cycles.** Among the modules of `kernel/src`, references form a DAG. A module naming
//!    one of its own ancestors (a file in `oom/` using `super::` items of `oom/mod.rs`) is the
//!    folder's shared context, not an edge; every other reference is.
//! 2. **Layers.** The crate root (`main.rs`, which owns the subsystem table) may name anything;
//!    the shared context ([`SHARED`]) names no subsystem; a subsystem names no other subsystem
//!    and nothing of the crate root. The in-kernel test harness (`ktest`) is a leaf that may
//!    name subsystems and the shared context, but not the crate root either.
//!
//! The analysis is plain text scanning (comments stripped), unit-tested below on synthetic
//! trees; the real check is the host test `kernel_module_graph_is_acyclic`, which runs in
//! `cargo xtask test`'s host phase (`cargo test`). Neighbours: docs/ARCHITECTURE.md states the
//! rules in prose.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, Result, bail};

/// Top-level modules that form the shared context below the subsystems.
pub const SHARED: &[&str] = &["ctx", "files", "kmetrics", "reclaim"];
/// The in-kernel test harness: above the subsystems, below the crate root.
pub const HARNESS: &str = "ktest";

/// A module path, `[]` for the crate root.
type ModPath = Vec<String>;

/// Source of each module, by path.
pub type Sources = BTreeMap<ModPath, String>;

/// Reads every `.rs` file under `src` (a `main.rs`/`lib.rs` crate root, `x.rs` or `x/mod.rs`).
pub fn read_tree(src: &Path) -> Result<Sources> {
    let mut out = Sources::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {dir:?}"))? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            let rel = path.strip_prefix(src)?;
            let mut parts: Vec<String> = rel
                .iter()
                .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
                .collect();
            if matches!(
                parts.last().map(String::as_str),
                Some("mod" | "main" | "lib")
            ) {
                parts.pop();
            }
            let text = std::fs::read_to_string(&path).with_context(|| format!("{path:?}"))?;
            out.insert(parts, text);
        }
    }
    Ok(out)
}

/// The text of a file without `//` comments (doc comments mention paths they do not use).
fn strip_comments(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Reads `a::b::c` at the start of `s`; returns the segments and the rest after them.
fn read_path(s: &str) -> (Vec<String>, &str) {
    let mut segments = Vec::new();
    let mut rest = s;
    loop {
        let end = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
        if end == 0 {
            break;
        }
        segments.push(rest[..end].to_string());
        rest = &rest[end..];
        match rest.strip_prefix("::") {
            Some(after) if after.starts_with(|c: char| is_ident(c)) => rest = after,
            _ => break,
        }
    }
    (segments, rest)
}

/// The first segment of every alternative in a `{a, b::c, d}` group at the start of `s`
/// (after `::`, or right away for `super::{…}`).
fn read_group(s: &str) -> Vec<String> {
    let Some(body) = s.strip_prefix("::{").or_else(|| s.strip_prefix('{')) else {
        return Vec::new();
    };
    let mut depth = 1;
    let mut end = body.len();
    for (i, c) in body.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    end = i;
                    break;
                }
            }
            _ => {}
        }
    }
    let mut firsts = Vec::new();
    let mut depth = 0;
    let mut item = String::new();
    for c in body[..end].chars().chain(std::iter::once(',')) {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                let (path, _) = read_path(item.trim());
                if let Some(first) = path.into_iter().next() {
                    firsts.push(first);
                }
                item.clear();
                continue;
            }
            _ => {}
        }
        item.push(c);
    }
    firsts
}

/// Every module path `module`'s code refers to (as written, before resolution): `crate::…`
/// paths from the root, `super::…` and `self::…` relative to `module`.
fn raw_references(module: &ModPath, text: &str) -> Vec<ModPath> {
    let text = strip_comments(text);
    let mut refs = Vec::new();
    let bytes = text.as_bytes();
    for (at, _) in text.match_indices("::") {
        // Find the word that ends right before this `::`.
        let start = text[..at]
            .rfind(|c: char| !is_ident(c))
            .map_or(0, |i| i + 1);
        let word = &text[start..at];
        if start > 0 && bytes[start - 1] == b':' {
            continue; // a later segment of a path, not its head
        }
        let mut base: ModPath = match word {
            "crate" => Vec::new(),
            "super" => {
                let mut b = module.clone();
                b.pop();
                b
            }
            "self" => module.clone(),
            _ => continue,
        };
        let mut rest = &text[at + 2..];
        // `super::super::x`
        while let Some(after) = rest.strip_prefix("super::") {
            base.pop();
            rest = after;
        }
        let (path, after) = read_path(rest);
        let mut full = base.clone();
        full.extend(path);
        let group = read_group(after);
        if group.is_empty() {
            refs.push(full);
        } else {
            for first in group {
                let mut one = full.clone();
                one.push(first);
                refs.push(one);
            }
        }
    }
    refs
}

/// The deepest module of `modules` that is a prefix of `path`.
fn resolve(modules: &BTreeSet<ModPath>, path: &ModPath) -> ModPath {
    (0..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|prefix| modules.contains(prefix))
        .unwrap_or_default()
}

fn name(path: &ModPath) -> String {
    if path.is_empty() {
        "crate root".into()
    } else {
        path.join("::")
    }
}

/// Edges `from → to` between distinct modules, without references to a module's own ancestors.
pub fn edges(sources: &Sources) -> BTreeSet<(ModPath, ModPath)> {
    let modules: BTreeSet<ModPath> = sources.keys().cloned().collect();
    let mut out = BTreeSet::new();
    for (module, text) in sources {
        // A parent declaring `mod child;` uses the child.
        for child in modules
            .iter()
            .filter(|m| m.len() == module.len() + 1 && m.starts_with(module))
        {
            out.insert((module.clone(), child.clone()));
        }
        for raw in raw_references(module, text) {
            let target = resolve(&modules, &raw);
            // Upward references (to the folder's own mod.rs) are shared context; the crate
            // root is everyone's ancestor but is still an edge, for the layer rule.
            let folder_context =
                !target.is_empty() && target.len() < module.len() && module.starts_with(&target);
            if target != *module && !folder_context {
                out.insert((module.clone(), target));
            }
        }
    }
    out
}

/// Checks both rules; the error lists every violation.
pub fn check(sources: &Sources) -> Result<()> {
    let edges = edges(sources);
    let mut problems = Vec::new();
    for (from, to) in &edges {
        let top = |p: &ModPath| p.first().cloned().unwrap_or_default();
        let (ft, tt) = (top(from), top(to));
        if from.is_empty() || ft == tt {
            continue;
        }
        let from_shared = SHARED.contains(&ft.as_str());
        let to_shared = SHARED.contains(&tt.as_str());
        let allowed = if to.is_empty() {
            false
        } else if from_shared {
            to_shared
        } else {
            // A subsystem or the harness: the shared context; the harness also subsystems.
            to_shared || ft == HARNESS
        };
        if !allowed {
            problems.push(format!("{} names {}", name(from), name(to)));
        }
    }
    // Cycles: depth-first search for a back edge.
    let mut adjacency: BTreeMap<&ModPath, Vec<&ModPath>> = BTreeMap::new();
    for (from, to) in &edges {
        adjacency.entry(from).or_default().push(to);
    }
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    let mut marks: BTreeMap<&ModPath, Mark> = BTreeMap::new();
    fn visit<'a>(
        node: &'a ModPath,
        adjacency: &BTreeMap<&'a ModPath, Vec<&'a ModPath>>,
        marks: &mut BTreeMap<&'a ModPath, Mark>,
        trail: &mut Vec<&'a ModPath>,
        problems: &mut Vec<String>,
    ) {
        marks.insert(node, Mark::Open);
        trail.push(node);
        for &next in adjacency.get(node).map(Vec::as_slice).unwrap_or_default() {
            match marks.get(next) {
                Some(Mark::Open) => {
                    let at = trail.iter().position(|m| *m == next).unwrap_or(0);
                    let cycle: Vec<String> = trail[at..].iter().map(|m| name(m)).collect();
                    problems.push(format!("cycle: {} -> {}", cycle.join(" -> "), name(next)));
                }
                Some(Mark::Done) => {}
                None => visit(next, adjacency, marks, trail, problems),
            }
        }
        trail.pop();
        marks.insert(node, Mark::Done);
    }
    for module in sources.keys() {
        if !marks.contains_key(module) {
            visit(
                module,
                &adjacency,
                &mut marks,
                &mut Vec::new(),
                &mut problems,
            );
        }
    }
    if !problems.is_empty() {
        bail!(
            "the kernel's module graph breaks its rules:\n  {}",
            problems.join("\n  ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> Sources {
        files
            .iter()
            .map(|(path, text)| {
                let p: ModPath = if path.is_empty() {
                    Vec::new()
                } else {
                    path.split("::").map(String::from).collect()
                };
                (p, text.to_string())
            })
            .collect()
    }

    fn p(s: &str) -> ModPath {
        s.split("::").map(String::from).collect()
    }

    #[test]
    fn references_are_read_from_use_lines_groups_and_expressions() {
        let text = "use crate::ctx::{KernelCtx, Out};\nuse super::{compact, eval::Line};\n\
                    fn f() { crate::reclaim::run(); self::inner::g(); }\n\
                    // crate::storage::x in a comment is not a reference\n\
                    let s = \"a\"; super::super::top::h();";
        let refs = raw_references(&p("oom::monitor"), text);
        assert!(refs.contains(&p("ctx::KernelCtx")));
        assert!(refs.contains(&p("ctx::Out")));
        assert!(refs.contains(&p("oom::compact")));
        assert!(refs.contains(&p("oom::eval")));
        assert!(refs.contains(&p("reclaim::run")));
        assert!(refs.contains(&p("oom::monitor::inner::g")));
        assert!(refs.contains(&p("top::h")));
        assert!(
            !refs
                .iter()
                .any(|r| r.first().is_some_and(|s| s == "storage"))
        );
    }

    #[test]
    fn a_layered_tree_passes() {
        let t = tree(&[
            ("", "mod ctx; mod oom; static T: &[&ctx::S] = &[&oom::S];"),
            ("ctx", "pub struct S;"),
            ("reclaim", "use crate::ctx::S;"),
            (
                "oom",
                "mod pool; use crate::reclaim; pub fn f() { pool::g() }",
            ),
            ("oom::pool", "use super::SHARED_ITEM; use crate::ctx::S;"),
            ("oom::monitor", "use super::pool;"),
            ("ktest", "use crate::oom::pool; use crate::ctx::S;"),
        ]);
        check(&t).unwrap();
    }

    #[test]
    fn sibling_cycles_fail() {
        let t = tree(&[
            ("", "mod oom;"),
            ("oom", "mod pool; mod monitor;"),
            ("oom::pool", "use super::monitor::note;"),
            ("oom::monitor", "use super::pool::held;"),
        ]);
        let err = check(&t).unwrap_err().to_string();
        assert!(err.contains("cycle"), "{err}");
        assert!(
            err.contains("oom::pool") && err.contains("oom::monitor"),
            "{err}"
        );
    }

    #[test]
    fn layer_violations_fail() {
        let t = tree(&[
            ("", "mod ctx; mod oom; mod storage;"),
            ("ctx", "use crate::oom::X;"),
            ("oom", "use crate::storage::reclaim;"),
            ("storage", "fn f() { crate::SUBSYSTEMS.len(); }"),
            ("ktest", "use crate::command_registry;"),
        ]);
        let err = check(&t).unwrap_err().to_string();
        assert!(err.contains("ctx names oom"), "{err}");
        assert!(err.contains("oom names storage"), "{err}");
        assert!(err.contains("storage names crate root"), "{err}");
        assert!(err.contains("ktest names crate root"), "{err}");
    }

    #[test]
    fn kernel_module_graph_is_acyclic() {
        let src = crate::image::workspace_root().join("kernel/src");
        let sources = read_tree(&src).unwrap();
        assert!(sources.contains_key(&Vec::new()), "no main.rs found");
        assert!(sources.len() > 10, "{} modules read", sources.len());
        if let Err(e) = check(&sources) {
            panic!("{e}");
        }
    }
}
