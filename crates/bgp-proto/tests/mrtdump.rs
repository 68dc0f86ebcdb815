//! `mrtdump` against `bgpdump -m` on every shared MRT capture: the outputs must be identical.

use std::path::{Path, PathBuf};
use std::process::Command;

fn testdata_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/mrt")
}

fn run(program: &str, file: &Path) -> String {
    let output = Command::new(program)
        .arg("-m")
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (is it installed?): {e}"));
    assert!(
        output.status.success(),
        "{program} -m {} failed: {}\n{}",
        file.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("output is UTF-8")
}

#[test]
fn mrtdump_matches_bgpdump() {
    let dir = testdata_dir();
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("MRT test data {} missing: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.is_file() && p.extension().is_none_or(|ext| ext != "md"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no MRT files in {}", dir.display());

    let mut failures = Vec::new();
    for file in &files {
        let ours = Command::new(env!("CARGO_BIN_EXE_mrtdump"))
            .arg(file)
            .output()
            .expect("run mrtdump");
        assert!(ours.status.success(), "mrtdump {} failed", file.display());
        let ours = String::from_utf8(ours.stdout).expect("mrtdump output is UTF-8");
        let reference = run("bgpdump", file);
        assert!(
            !reference.is_empty(),
            "bgpdump printed nothing for {}",
            file.display()
        );
        let ours_lines: Vec<&str> = ours.lines().collect();
        let ref_lines: Vec<&str> = reference.lines().collect();
        if ours_lines == ref_lines {
            continue;
        }
        let first = ours_lines
            .iter()
            .zip(&ref_lines)
            .position(|(a, b)| a != b)
            .unwrap_or(ours_lines.len().min(ref_lines.len()));
        let mut report = format!(
            "{}: first difference at line {} ({} lines from bgpdump, {} from mrtdump)\n",
            file.display(),
            first + 1,
            ref_lines.len(),
            ours_lines.len()
        );
        for i in first..(first + 5) {
            let (b, m) = (ref_lines.get(i), ours_lines.get(i));
            if b.is_none() && m.is_none() {
                break;
            }
            if b != m {
                report.push_str(&format!(
                    "- bgpdump {}: {}\n",
                    i + 1,
                    b.unwrap_or(&"<none>")
                ));
                report.push_str(&format!(
                    "+ mrtdump {}: {}\n",
                    i + 1,
                    m.unwrap_or(&"<none>")
                ));
            }
        }
        failures.push(report);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
