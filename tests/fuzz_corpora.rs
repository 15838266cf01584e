//! Replays every fuzz corpus (fuzz/corpus/<target>/) through its target in
//! `vault::fuzzing::TARGETS`, on stable and without cargo-fuzz: an input that once crashed a
//! parser, or that reached a new branch, keeps being tried by every CI run.

use std::path::Path;

#[test]
fn every_corpus_replays_without_a_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut dirs: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    dirs.sort();
    let mut names: Vec<String> = vault::fuzzing::TARGETS
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    names.sort();
    assert_eq!(
        dirs, names,
        "fuzz/corpus/ must have one directory per vault::fuzzing::TARGETS entry"
    );

    let mut inputs = vec![];
    for (name, target) in vault::fuzzing::TARGETS {
        let mut files: Vec<_> = std::fs::read_dir(root.join(name))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "fuzz/corpus/{name}/ is empty");
        for file in files {
            let data = std::fs::read(&file).unwrap();
            inputs.push((*target, file, data));
        }
    }

    // The targets' panics are caught and reported by file; keep them off stderr meanwhile.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut failures = vec![];
    for (target, file, data) in &inputs {
        if let Err(panic) = std::panic::catch_unwind(|| target(data)) {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            failures.push(format!("{}: {why}", file.display()));
        }
    }
    std::panic::set_hook(hook);
    assert!(failures.is_empty(), "inputs that panic: {failures:#?}");
}
