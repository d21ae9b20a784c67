//! The web map in a real browser: Debian's Chromium driven by playwright-core
//! (`tests/browser/map.test.mjs`) against the server on a loopback port.
//! Skips loudly without node, playwright-core or Chromium; fails instead when
//! `ZONEATLAS_REQUIRE_TOOLS` is set (as `.ci/run` does). The screenshot is
//! saved as `target/map-screenshot.png`.

mod common;

use std::path::Path;
use std::process::Command;

use common::{geodata, serve_with_web, tool_available};

#[test]
fn the_map_draws_every_layer_and_answers_clicks() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !tool_available(
        "Chromium (Debian package chromium)",
        Command::new(&chromium).arg("--version"),
    ) || !tool_available("node", Command::new("node").arg("--version"))
        || !tool_available(
            "playwright-core (npm ci --prefix tests/browser)",
            Command::new("node")
                .current_dir(root.join("tests/browser"))
                .args(["-e", "require.resolve('playwright-core')"]),
        )
    {
        return;
    }
    let base = serve_with_web(&geodata());
    let shot = root.join("target/map-screenshot.png");
    let out = Command::new("node")
        .arg(root.join("tests/browser/map.test.mjs"))
        .arg(&base)
        .arg(&shot)
        .env("CHROMIUM", &chromium)
        .output()
        .expect("node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "browser checks failed:\n{stdout}");
    assert!(shot.exists(), "no screenshot at {}", shot.display());
}
