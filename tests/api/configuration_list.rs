//! The one list of the function's variables (`docs/function-variables.json`),
//! which the deploy script and the local tools forward from, against the
//! contract's configuration table and what `Config` reads: a variable added
//! to one and not the others fails here instead of drifting.

use std::collections::BTreeSet;

use serde_json::Value;

fn repository_file(path: &str) -> String {
    let full = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

fn listed() -> BTreeSet<String> {
    let list: Value = serde_json::from_str(&repository_file("docs/function-variables.json")).unwrap();
    list["variables"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap().to_owned()).collect()
}

/// The first column of the table under `## Configuration` in docs/contract.md.
fn in_the_contracts_table() -> BTreeSet<String> {
    let contract = repository_file("docs/contract.md");
    let section = contract.split("\n## Configuration\n").nth(1).expect("a Configuration section");
    let section = section.split("\n## ").next().unwrap();
    section
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once('`'))
        .map(|(name, _)| name.to_owned())
        .collect()
}

#[test]
fn every_variable_of_the_contracts_table_is_in_the_one_list_and_nothing_else_is() {
    let table = in_the_contracts_table();
    assert!(table.len() >= 10, "the table was read: {table:?}");
    let list = listed();
    let missing: Vec<_> = table.difference(&list).collect();
    let extra: Vec<_> = list.difference(&table).collect();
    assert!(missing.is_empty(), "in docs/contract.md but not in docs/function-variables.json: {missing:?}");
    assert!(extra.is_empty(), "in docs/function-variables.json but not in docs/contract.md: {extra:?}");
}

#[test]
fn every_listed_variable_is_one_the_configuration_reads() {
    let config = configuration_source();
    let unread: Vec<_> =
        listed().into_iter().filter(|name| !config.contains(&format!("\"{name}\""))).collect();
    assert!(unread.is_empty(), "listed but never read by Config: {unread:?}");
}

#[test]
fn every_variable_the_configuration_reads_is_listed() {
    let config = configuration_source();
    let read: BTreeSet<String> = ["get(\"", "flag(&get, \"", "whole_number(get, \""]
        .iter()
        .flat_map(|opening| config.split(opening).skip(1).filter_map(|rest| rest.split_once('"')))
        .map(|(name, _)| name.to_owned())
        // AWS_* belong to the platform (the SDK, Lambda, SAM), not to the function's own list.
        .filter(|name| !name.starts_with("AWS_"))
        .collect();
    assert!(read.len() >= 10, "the reads were found: {read:?}");
    let listed = listed();
    let unlisted: Vec<_> = read.difference(&listed).collect();
    assert!(unlisted.is_empty(), "read by Config but not in docs/function-variables.json: {unlisted:?}");
}

/// `src/config.rs` and its readers under `src/config/` (not its tests).
fn configuration_source() -> String {
    let mut text = repository_file("src/config.rs");
    let dir = format!("{}/src/config", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    for path in files.iter().filter(|p| p.extension().is_some_and(|e| e == "rs") && !p.ends_with("tests.rs"))
    {
        text.push_str(&std::fs::read_to_string(path).unwrap());
    }
    text
}
