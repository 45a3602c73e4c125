//! The check functions of the fuzz targets, shared with the stable tests
//! that replay the corpus (`tests/fuzz_corpus.rs`).

pub mod checks;
