//! The layout of `src/`: the top-level modules (`src/x.rs`, or a folder
//! `src/x/`) import one another in no circle, so that each can be read, and
//! moved, standing only on those below it.
//!
//! The test reads the sources as text: every `crate::…` path (in `use`
//! lines and inline) and every `super::…` path that climbs to the crate root
//! is an arrow from the module of the file to the module the path names.
//! A name re-exported by `lib.rs` (`crate::Error`) counts for the module it
//! comes from. Comments, doc comments and string literals are blanked out
//! first, so prose and doc links draw no arrow. A module's files importing
//! one another (`super::`, `self::`) stay inside it and draw none.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module → module → the paths that tie them (`file: crate::x::…`).
type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

#[test]
fn top_level_modules_of_src_import_each_other_in_no_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files: Vec<(String, String)> = support::rust_files(&src)
        .into_iter()
        .map(|path| {
            let rel = path.strip_prefix(&src).unwrap();
            let rel = rel.to_str().unwrap().replace('\\', "/");
            (rel, std::fs::read_to_string(&path).unwrap())
        })
        .collect();
    assert!(files.len() > 20, "only {} files under src/", files.len());
    let graph = module_graph(&files);

    // The scan sees the imports at all: a few arrows that must be there.
    for (from, to) in [
        ("authority", "session"),
        ("session", "error"),
        ("store", "session"),
    ] {
        assert!(
            graph.get(from).is_some_and(|t| t.contains_key(to)),
            "the scan of src/ found no import {from} -> {to}: it is broken\n{}",
            describe(&graph)
        );
    }

    let circles = circles(&graph);
    assert!(
        circles.is_empty(),
        "the top-level modules of src/ import each other in a circle:\n{}",
        circles.join("\n")
    );
}

/// The scan itself, on sources made up for it: it finds a circle, names
/// its files, follows `super::` to the root, and ignores prose and strings.
#[test]
fn the_layout_scan_finds_circles_and_ignores_prose() {
    let files = [
        (
            "lib.rs",
            "mod a;\nmod b;\nmod c;\nmod d;\npub use d::Thing;\n",
        ),
        ("a/mod.rs", "mod inner;\nuse crate::b::B;\n"),
        (
            "a/inner.rs",
            "use super::super::c::C;\nfn f() { super::g(); }\n",
        ),
        (
            "b.rs",
            "//! See [`A`](crate::d::A).\n\
             /// Calls crate::d::h.\n\
             fn f() -> crate::Thing { crate::a::f(); let _ = \"crate::d\"; let _ = '\"'; todo!() }\n\
             /* crate::d:: /* nested */ crate::d */\n\
             #[cfg(test)]\nmod tests { use super::*; }\n",
        ),
        ("c.rs", "use crate::{a::A, self as _};\n"),
        ("d.rs", "const S: &str = r#\"crate::a \"# ;\n"),
    ];
    let files: Vec<(String, String)> = files
        .iter()
        .map(|(p, s)| ((*p).to_owned(), (*s).to_owned()))
        .collect();
    let graph = module_graph(&files);
    let arrows: BTreeSet<(&str, &str)> = graph
        .iter()
        .flat_map(|(from, to)| to.keys().map(move |to| (from.as_str(), to.as_str())))
        .collect();
    assert_eq!(
        arrows,
        BTreeSet::from([("a", "b"), ("a", "c"), ("b", "a"), ("b", "d"), ("c", "a")]),
        "{}",
        describe(&graph)
    );
    let circles = circles(&graph);
    assert_eq!(circles.len(), 1, "{circles:?}");
    let circle = &circles[0];
    assert!(circle.starts_with("a, b, c:\n"), "{circle}");
    assert!(circle.contains("\n  a -> b -> a\n"), "{circle}");
    assert!(circle.contains("\n  a -> c -> a\n"), "{circle}");
    assert!(circle.contains("b -> a: b.rs: crate::a::f\n"), "{circle}");
    assert!(
        circle.contains("a -> c: a/inner.rs: super::super::c::C\n"),
        "{circle}"
    );
    assert!(circle.ends_with("c -> a: c.rs: crate::{a…}"), "{circle}");
}

/// The arrows among the top-level modules of `files` (paths relative to
/// `src/`, with their text). `lib.rs` is the root, not a module: its
/// `pub use` lines say where the names it re-exports come from.
fn module_graph(files: &[(String, String)]) -> Graph {
    let modules: BTreeSet<String> = files
        .iter()
        .filter(|(rel, _)| rel != "lib.rs")
        .map(|(rel, _)| module_path(rel)[0].clone())
        .collect();
    let root = files
        .iter()
        .find(|(rel, _)| rel == "lib.rs")
        .map(|(_, text)| tokens(&blank_prose(text)))
        .unwrap_or_default();
    let reexports = reexports(&root);

    let mut graph = Graph::new();
    for (rel, text) in files.iter().filter(|(rel, _)| rel != "lib.rs") {
        let own = module_path(rel);
        for (first, path) in root_paths(&own, &tokens(&blank_prose(text))) {
            let target = if modules.contains(&first) {
                first
            } else if let Some(module) = reexports.get(&first) {
                module.clone()
            } else {
                panic!(
                    "{rel}: `{path}` names neither a module of src/ nor a name that \
                     lib.rs re-exports from one: teach this test where `{first}` lives"
                )
            };
            if target != own[0] {
                graph
                    .entry(own[0].clone())
                    .or_default()
                    .entry(target)
                    .or_default()
                    .insert(format!("{rel}: {path}"));
            }
        }
    }
    graph
}

/// The module a file is: `x.rs` and `x/mod.rs` are `x`, `x/y.rs` is `x::y`.
fn module_path(rel: &str) -> Vec<String> {
    let mut parts: Vec<String> = rel.split('/').map(str::to_owned).collect();
    let last = parts.pop().unwrap();
    let stem = last.strip_suffix(".rs").unwrap();
    if stem != "mod" {
        parts.push(stem.to_owned());
    }
    parts
}

/// `lib.rs`'s `pub use module::{A, B as C, …}`: each name and its module.
fn reexports(root: &[String]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut i = 0;
    while i + 3 < root.len() {
        if root[i] == "use" && is_ident(&root[i + 1]) && root[i + 2] == "::" {
            let module = root[i + 1].clone();
            let mut j = i + 3;
            let mut depth = 0usize;
            let mut last = None;
            while j < root.len() && !(depth == 0 && root[j] == ";") {
                match root[j].as_str() {
                    "{" => depth += 1,
                    "}" => depth = depth.saturating_sub(1),
                    "," => {
                        out.extend(last.take().map(|n| (n, module.clone())));
                    }
                    t if is_ident(t) => last = Some(t.to_owned()),
                    _ => {}
                }
                j += 1;
            }
            out.extend(last.map(|n| (n, module)));
            i = j;
        }
        i += 1;
    }
    out
}

/// Every path of `toks` that starts at the crate root: `crate::x…`,
/// `crate::{x…, y…}`, and `super::…` climbing past the top-level module.
/// Each comes as (its first segment below the root, the path as written).
/// `own` is the module path of the file; inline `mod m { … }` blocks are
/// followed, so `super` inside `mod tests` is the file's own module.
fn root_paths(own: &[String], toks: &[String]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut inline: Vec<(String, usize)> = Vec::new(); // (name, brace depth at its `{`)
    let mut depth = 0usize;
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i].as_str();
        let prev = if i > 0 { toks[i - 1].as_str() } else { "" };
        let next = |k: usize| toks.get(i + k).map_or("", String::as_str);
        match t {
            "{" => depth += 1,
            "}" => {
                depth = depth.saturating_sub(1);
                while inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
            }
            "mod" if is_ident(next(1)) && next(2) == "{" => {
                inline.push((next(1).to_owned(), depth));
            }
            "crate" if prev != "$" && prev != "::" && next(1) == "::" => {
                for (first, rest) in group(&toks[i + 2..]) {
                    out.push((first, format!("crate::{rest}")));
                }
            }
            "super" if prev != "::" && next(1) == "::" => {
                let mut here: Vec<String> = own.to_vec();
                here.extend(inline.iter().map(|(name, _)| name.clone()));
                let mut j = i;
                let mut written = String::new();
                while toks.get(j).is_some_and(|s| s == "super")
                    && toks.get(j + 1).is_some_and(|s| s == "::")
                {
                    here.pop();
                    written.push_str("super::");
                    j += 2;
                }
                if here.is_empty() {
                    for (first, rest) in group(&toks[j..]) {
                        out.push((first, format!("{written}{rest}")));
                    }
                }
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// The first segments of what follows `crate::`: one name, or each item of
/// a `{…}` group (leaving out `self`), with the path as written.
fn group(toks: &[String]) -> Vec<(String, String)> {
    let Some(first) = toks.first() else {
        return Vec::new();
    };
    if first != "{" {
        return match toks.get(1).map(String::as_str) {
            Some("::") => {
                let second = match toks.get(2).map_or("", String::as_str) {
                    "{" => "{…}",
                    t => t,
                };
                vec![(first.clone(), format!("{first}::{second}"))]
            }
            _ => vec![(first.clone(), first.clone())],
        };
    }
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut expect_item = true;
    for t in toks {
        match t.as_str() {
            "{" => {
                depth += 1;
                expect_item = depth == 1;
            }
            "}" => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            "," if depth == 1 => expect_item = true,
            name if expect_item && depth == 1 && is_ident(name) => {
                if name != "self" {
                    out.push((name.to_owned(), format!("{{{name}…}}")));
                }
                expect_item = false;
            }
            _ => expect_item = false,
        }
    }
    out
}

fn is_ident(t: &str) -> bool {
    t.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && t.chars().all(|c| c.is_alphanumeric() || c == '_')
}

/// Identifiers, `::`, and every other character that is not white space
/// as a token of its own.
fn tokens(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(chars[start..i].iter().collect());
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            out.push("::".to_owned());
            i += 2;
        } else {
            if !c.is_whitespace() {
                out.push(c.to_string());
            }
            i += 1;
        }
    }
    out
}

/// `text` with its comments (line, block, doc), string literals (plain,
/// byte, raw) and character literals turned into blanks; lines are kept.
fn blank_prose(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = String::with_capacity(text.len());
    let blank = |out: &mut String, from: &[char]| {
        out.extend(from.iter().map(|&c| if c == '\n' { '\n' } else { ' ' }));
    };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let at = |k: usize| chars.get(i + k).copied();
        let after_ident = i > 0 && ident(chars[i - 1]);
        if c == '/' && at(1) == Some('/') {
            let end = chars[i..]
                .iter()
                .position(|&c| c == '\n')
                .map_or(chars.len(), |n| i + n);
            blank(&mut out, &chars[i..end]);
            i = end;
        } else if c == '/' && at(1) == Some('*') {
            let (mut j, mut nest) = (i + 2, 1);
            while j < chars.len() && nest > 0 {
                if chars[j] == '/' && chars.get(j + 1) == Some(&'*') {
                    nest += 1;
                    j += 2;
                } else if chars[j] == '*' && chars.get(j + 1) == Some(&'/') {
                    nest -= 1;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            blank(&mut out, &chars[i..j]);
            i = j;
        } else if c == 'r'
            && (!after_ident || (i == 1 || !ident(chars[i - 2])) && chars[i - 1] == 'b')
            && matches!(at(1), Some('"' | '#'))
        {
            // A raw string r"…", r#"…"#, br#"…"#, or an identifier starting with r.
            let hashes = chars[i + 1..].iter().take_while(|&&c| c == '#').count();
            if chars.get(i + 1 + hashes) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            let body = i + 2 + hashes;
            let mut j = body;
            while j < chars.len()
                && !(chars[j] == '"'
                    && chars[j + 1..]
                        .iter()
                        .take(hashes)
                        .filter(|&&c| c == '#')
                        .count()
                        == hashes)
            {
                j += 1;
            }
            let end = (j + 1 + hashes).min(chars.len());
            blank(&mut out, &chars[i..end]);
            i = end;
        } else if c == '"' {
            let mut j = i + 1;
            while j < chars.len() && chars[j] != '"' {
                j += if chars[j] == '\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(chars.len());
            blank(&mut out, &chars[i..end]);
            i = end;
        } else if c == '\'' && at(1) == Some('\\') {
            // '\n', '\'', '\u{…}'
            let end = chars[i + 2..]
                .iter()
                .position(|&c| c == '\'')
                .map_or(chars.len(), |n| i + 3 + n);
            blank(&mut out, &chars[i..end]);
            i = end;
        } else if c == '\'' && at(2) == Some('\'') {
            blank(&mut out, &chars[i..i + 3]);
            i += 3;
        } else {
            // A lifetime's quote, or any other character.
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Each group of modules that import one another in a circle (a strongly
/// connected component of more than one module): its members, then the
/// shortest circle through each of them, arrow by arrow, with the paths that
/// draw each arrow.
fn circles(graph: &Graph) -> Vec<String> {
    let nodes: BTreeSet<&str> = graph
        .iter()
        .flat_map(|(from, to)| core::iter::once(from.as_str()).chain(to.keys().map(String::as_str)))
        .collect();
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for &n in &nodes {
        if done.contains(n) || way(graph, n, n).is_none() {
            continue;
        }
        let group: BTreeSet<&str> = nodes
            .iter()
            .copied()
            .filter(|&m| m == n || (way(graph, n, m).is_some() && way(graph, m, n).is_some()))
            .collect();
        done.extend(group.iter().copied());
        // One shortest circle through each member, each written once,
        // starting at its least module.
        let mut rounds: BTreeSet<Vec<&str>> = BTreeSet::new();
        for &m in &group {
            let mut round = way(graph, m, m).unwrap_or_default();
            round.pop();
            let least = (0..round.len()).min_by_key(|&k| round[k]).unwrap_or(0);
            round.rotate_left(least);
            round.push(round[0]);
            rounds.insert(round);
        }
        let mut text = format!("{}:", group.iter().copied().collect::<Vec<_>>().join(", "));
        for round in &rounds {
            text.push_str(&format!("\n  {}", round.join(" -> ")));
            for pair in round.windows(2) {
                let paths = &graph[pair[0]][pair[1]];
                let shown: Vec<&str> = paths.iter().take(3).map(String::as_str).collect();
                let more = paths.len().saturating_sub(3);
                let more = if more > 0 {
                    format!("; and {more} more")
                } else {
                    String::new()
                };
                text.push_str(&format!(
                    "\n      {} -> {}: {}{more}",
                    pair[0],
                    pair[1],
                    shown.join("; ")
                ));
            }
        }
        out.push(text);
    }
    out
}

/// The shortest way along the arrows of `graph` from `from` to `to`
/// (breadth first), both ends included, if there is one.
fn way<'g>(graph: &'g Graph, from: &'g str, to: &'g str) -> Option<Vec<&'g str>> {
    let mut came: BTreeMap<&str, &str> = BTreeMap::new();
    let mut todo = std::collections::VecDeque::from([from]);
    while let Some(n) = todo.pop_front() {
        for m in graph.get(n).into_iter().flat_map(BTreeMap::keys) {
            let m = m.as_str();
            if m == to {
                let mut way = vec![n];
                while let Some(&p) = came.get(way[way.len() - 1]) {
                    way.push(p);
                }
                way.reverse();
                way.push(to);
                return Some(way);
            }
            if m != from && !came.contains_key(m) {
                came.insert(m, n);
                todo.push_back(m);
            }
        }
    }
    None
}

/// The whole graph, one arrow a line.
fn describe(graph: &Graph) -> String {
    let mut text = String::from("arrows found:");
    for (from, to) in graph {
        for to in to.keys() {
            text.push_str(&format!("\n  {from} -> {to}"));
        }
    }
    text
}
