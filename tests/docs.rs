//! The documentation stays true to the code it describes:
//!
//! - every ```sql block of `docs/*.md` and `stores/*/README.md` is a
//!   statement (or statements) that a store of this workspace runs, word for
//!   word, as found in the string literals of `stores/sqlite/src` and
//!   `stores/postgres/src` (subfolders included);
//! - the README, the crate's front page, is at most 250 lines;
//! - every `cargo` command of a ```sh block that names an example, a bench,
//!   a test, a package or a fuzz target names one that exists;
//! - every relative link to a file (`[text](docs/x.md)`) leads to one.
//!
//! Only the standard library: the workspace is read as text.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

const README_MAX_LINES: usize = 250;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The files under `dir` (recursively) whose name ends with `suffix`, sorted.
fn files_under(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if !name.starts_with('.') && name != "target" {
                    pending.push(path);
                }
            } else if name.ends_with(suffix) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// The documents whose code blocks are checked: `README.md`, `docs/*.md`
/// and each store's README.
fn documents() -> Vec<PathBuf> {
    let root = root();
    let mut docs = vec![root.join("README.md")];
    if let Ok(entries) = fs::read_dir(root.join("docs")) {
        let mut md: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "md"))
            .collect();
        md.sort();
        docs.extend(md);
    }
    if let Ok(entries) = fs::read_dir(root.join("stores")) {
        let mut readmes: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path().join("README.md"))
            .filter(|p| p.is_file())
            .collect();
        readmes.sort();
        docs.extend(readmes);
    }
    docs
}

/// The fenced code blocks of a Markdown text whose info string's first word
/// is `lang`, with the line each starts on.
fn code_blocks(text: &str, lang: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, bool, String)> = None;
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        match &mut open {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    let first = info.split([',', ' ']).next().unwrap_or("").trim();
                    open = Some((n + 1, first == lang, String::new()));
                }
            }
            Some((start, wanted, body)) => {
                if trimmed.starts_with("```") {
                    if *wanted {
                        blocks.push((*start, std::mem::take(body)));
                    }
                    open = None;
                } else if *wanted {
                    body.push_str(line);
                    body.push('\n');
                }
            }
        }
    }
    assert!(open.is_none(), "a code block is never closed");
    blocks
}

/// Runs of whitespace as one space, none at either end.
fn normalise(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Rust source as the string literals read: a backslash at the end of a
/// line joins the next line without its leading whitespace.
fn join_continued_lines(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut lines = source.lines().peekable();
    while let Some(line) = lines.next() {
        if let Some(kept) = line.strip_suffix('\\') {
            out.push_str(kept);
            if let Some(next) = lines.peek_mut() {
                *next = next.trim_start();
            }
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The value of `const TABLE: &str = "…";` in `source`, if it has one.
fn table_constant(source: &str) -> Option<String> {
    let at = source.find("const TABLE: &str = \"")? + "const TABLE: &str = \"".len();
    let len = source[at..].find('"')?;
    Some(source[at..at + len].to_owned())
}

/// The SQL a store crate runs, as one normalised text: its sources with
/// continued lines joined and `{TABLE}` (in `format!` strings) replaced by
/// the crate's `TABLE` constant.
fn store_sql_text(store: &str) -> String {
    let src = root().join("stores").join(store).join("src");
    let files = files_under(&src, ".rs");
    assert!(!files.is_empty(), "no sources under {}", src.display());
    let joined: String = files
        .iter()
        .map(|f| join_continued_lines(&read(f)))
        .collect::<Vec<_>>()
        .join("\n");
    let table = table_constant(&joined)
        .unwrap_or_else(|| panic!("stores/{store}/src has no `const TABLE: &str`"));
    normalise(&joined.replace("{TABLE}", &table))
}

#[test]
fn every_sql_block_is_a_statement_the_stores_run() {
    let sources = ["sqlite", "postgres"].map(store_sql_text).join("\n");
    let mut checked = 0;
    let mut stale = Vec::new();
    for doc in documents() {
        let name = doc
            .strip_prefix(root())
            .unwrap_or(&doc)
            .display()
            .to_string();
        for (line, block) in code_blocks(&read(&doc), "sql") {
            let sql = normalise(&block);
            assert!(!sql.is_empty(), "{name}:{line}: an empty sql block");
            if !sources.contains(&sql) {
                stale.push(format!("{name}:{line}: {sql}"));
            }
            checked += 1;
        }
    }
    assert!(
        stale.is_empty(),
        "sql blocks that no store runs (copy them from stores/*/src):\n{}",
        stale.join("\n")
    );
    assert!(
        checked >= 10,
        "expected the statements of docs/stores.md, found {checked} sql blocks"
    );
}

#[test]
fn the_readme_is_a_front_page() {
    let lines = read(&root().join("README.md")).lines().count();
    assert!(
        lines <= README_MAX_LINES,
        "README.md has {lines} lines; the front page keeps to {README_MAX_LINES}, long-form goes to docs/"
    );
}

/// What a package offers to `cargo … --example/--bench/--test`.
#[derive(Debug, Default)]
struct Package {
    dir: PathBuf,
    examples: Vec<String>,
    benches: Vec<String>,
    tests: Vec<String>,
}

/// `name = "…"` entries of each `[section]` / `[[section]]` of a manifest.
fn manifest_names(manifest: &str) -> Vec<(String, String)> {
    let mut names = Vec::new();
    let mut section = String::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            section = line.trim_matches(['[', ']']).trim().to_owned();
        } else if let Some(value) = line.strip_prefix("name")
            && let Some(value) = value.trim_start().strip_prefix('=')
        {
            let value = value.trim().trim_matches('"').to_owned();
            names.push((section.clone(), value));
        }
    }
    names
}

/// Target names by cargo's conventions: `dir/X.rs` and `dir/X/main.rs`.
fn targets_in(dir: &Path) -> Vec<String> {
    let mut names = Vec::new();
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(stem) = name.strip_suffix(".rs") {
                names.push(stem.to_owned());
            } else if path.join("main.rs").is_file() {
                names.push(name);
            }
        }
    }
    names
}

/// Every package of the repository (each `Cargo.toml` with a `[package]`),
/// by name.
fn packages() -> BTreeMap<String, Package> {
    let mut packages = BTreeMap::new();
    for manifest in files_under(&root(), "Cargo.toml") {
        let text = read(&manifest);
        let names = manifest_names(&text);
        let Some((_, name)) = names.iter().find(|(s, _)| s == "package") else {
            continue;
        };
        let dir = manifest.parent().unwrap_or(&root()).to_path_buf();
        let mut package = Package {
            examples: targets_in(&dir.join("examples")),
            benches: targets_in(&dir.join("benches")),
            tests: targets_in(&dir.join("tests")),
            dir,
        };
        for (section, target) in &names {
            match section.as_str() {
                "example" => package.examples.push(target.clone()),
                "bench" => package.benches.push(target.clone()),
                "test" => package.tests.push(target.clone()),
                _ => {}
            }
        }
        packages.insert(name.clone(), package);
    }
    packages
}

/// The commands of a shell block: continued lines joined, comments cut,
/// split at `&&`, `||`, `;` and `|`, leading `VAR=value` assignments dropped.
fn commands(block: &str) -> Vec<String> {
    let mut logical = Vec::new();
    let mut current = String::new();
    for line in block.lines() {
        let line = match line.find(" #") {
            Some(at) => &line[..at],
            None if line.trim_start().starts_with('#') => "",
            None => line,
        };
        if let Some(kept) = line.trim_end().strip_suffix('\\') {
            current.push_str(kept);
            current.push(' ');
        } else {
            current.push_str(line);
            logical.push(std::mem::take(&mut current));
        }
    }
    logical.push(current);
    logical
        .iter()
        .flat_map(|l| {
            l.split("&&")
                .flat_map(|c| c.split("||"))
                .flat_map(|c| c.split([';', '|']))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .map(|c| {
            let words: Vec<&str> = c.split_whitespace().collect();
            let skip = words
                .iter()
                .take_while(|w| w.contains('=') && !w.starts_with('-'))
                .count();
            words[skip..].join(" ")
        })
        .filter(|c| c.starts_with("cargo "))
        .collect()
}

/// What is wrong with a `cargo` command's targets, if anything.
fn check_command(command: &str, packages: &BTreeMap<String, Package>) -> Vec<String> {
    let words: Vec<&str> = command.split_whitespace().collect();
    let value = |flag: &str| -> Vec<&str> {
        words
            .windows(2)
            .filter(|w| w[0] == flag)
            .map(|w| w[1])
            .chain(
                words
                    .iter()
                    .filter_map(|w| w.strip_prefix(&format!("{flag}=")[..])),
            )
            .collect()
    };
    let mut wrong = Vec::new();
    if words.get(1).is_some_and(|w| w.starts_with('+')) && words.get(2) == Some(&"fuzz") {
        // cargo +nightly fuzz run <target> (from fuzz/)
        if let Some(target) = words.iter().skip_while(|w| **w != "run").nth(1)
            && !root()
                .join("fuzz/fuzz_targets")
                .join(format!("{target}.rs"))
                .is_file()
        {
            wrong.push(format!("no fuzz target `{target}` in fuzz/fuzz_targets"));
        }
        return wrong;
    }
    let mut selected = Vec::new();
    for name in value("-p").into_iter().chain(value("--package")) {
        match packages.get(name) {
            Some(p) => selected.push(p),
            None => wrong.push(format!("no package `{name}`")),
        }
    }
    if selected.is_empty() {
        // Without -p, cargo picks the package of the root manifest.
        let root = root();
        selected.extend(packages.values().filter(|p| p.dir == root));
    }
    for (flag, kind) in [
        ("--example", "example"),
        ("--bench", "bench"),
        ("--test", "test"),
    ] {
        for target in value(flag) {
            let found = selected.iter().any(|p| {
                let list = match kind {
                    "example" => &p.examples,
                    "bench" => &p.benches,
                    _ => &p.tests,
                };
                list.iter().any(|t| t == target)
            });
            if !found {
                wrong.push(format!("no {kind} `{target}`"));
            }
        }
    }
    wrong
}

#[test]
fn every_cargo_command_in_the_docs_names_what_exists() {
    let packages = packages();
    assert!(
        packages.contains_key("tokenlife"),
        "the root package is not found"
    );
    let mut checked = 0;
    let mut stale = Vec::new();
    for doc in documents() {
        let name = doc
            .strip_prefix(root())
            .unwrap_or(&doc)
            .display()
            .to_string();
        for (line, block) in code_blocks(&read(&doc), "sh") {
            for command in commands(&block) {
                for wrong in check_command(&command, &packages) {
                    stale.push(format!("{name}:{line}: `{command}`: {wrong}"));
                }
                checked += 1;
            }
        }
    }
    assert!(stale.is_empty(), "stale commands:\n{}", stale.join("\n"));
    assert!(checked > 0, "no cargo command found in any sh block");
}

#[test]
fn the_command_checker_catches_a_stale_name() {
    let packages = packages();
    assert!(check_command("cargo run --example lifecycle", &packages).is_empty());
    assert_eq!(
        check_command("cargo run --example no_such_walkthrough", &packages),
        ["no example `no_such_walkthrough`"]
    );
    assert_eq!(
        check_command("cargo test -p no-such-crate", &packages),
        ["no package `no-such-crate`"]
    );
    assert_eq!(
        commands(
            "A=1 B=2 \\\n  cargo bench --bench x   # a comment\ncd fuzz && cargo +nightly fuzz run y"
        ),
        ["cargo bench --bench x", "cargo +nightly fuzz run y"]
    );
    assert_eq!(
        check_command("cargo +nightly fuzz run no_such_target", &packages),
        ["no fuzz target `no_such_target` in fuzz/fuzz_targets"]
    );
}

#[test]
fn sql_is_compared_as_the_string_literals_read() {
    let source = "format!(\"INSERT INTO {TABLE} (a) \\\n      VALUES (?1)\")";
    assert_eq!(
        normalise(&join_continued_lines(source)),
        "format!(\"INSERT INTO {TABLE} (a) VALUES (?1)\")"
    );
    assert_eq!(
        table_constant("pub const TABLE: &str = \"t\";").as_deref(),
        Some("t")
    );
    let blocks = code_blocks(
        "text\n```sql\nSELECT 1\n```\n```rust\nfn x() {}\n```\n",
        "sql",
    );
    assert_eq!(blocks, [(2, "SELECT 1\n".to_owned())]);
}

/// The link targets of a Markdown text outside code blocks: `[text](target)`.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut in_code = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            let Some(end) = rest.find(')') else { break };
            targets.push(rest[..end].to_owned());
            rest = &rest[end..];
        }
    }
    targets
}

#[test]
fn every_relative_link_leads_to_a_file() {
    let mut checked = 0;
    let mut broken = Vec::new();
    for doc in documents() {
        let name = doc
            .strip_prefix(root())
            .unwrap_or(&doc)
            .display()
            .to_string();
        let dir = doc.parent().unwrap_or(&root()).to_path_buf();
        for target in link_targets(&read(&doc)) {
            let path = target.split('#').next().unwrap_or("");
            // Web addresses, anchors and rustdoc's intra-doc paths are not files.
            let is_file_link =
                !path.contains("://") && (path.ends_with(".md") || path.contains('/'));
            if !is_file_link {
                continue;
            }
            if !dir.join(path).exists() {
                broken.push(format!("{name}: ({target})"));
            }
            checked += 1;
        }
    }
    assert!(
        broken.is_empty(),
        "links to files that do not exist:\n{}",
        broken.join("\n")
    );
    assert!(checked > 0, "no relative link found");
}
