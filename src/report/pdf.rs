//! A report page printed to PDF by headless Chromium: the same page the
//! browser shows, so the two never differ. Chromium is found at
//! `ZONEATLAS_CHROMIUM`, else `chromium`, `chromium-browser` or
//! `google-chrome` on the usual paths; without it a PDF is refused (the HTML
//! page still answers).
//!
//! Must not: know about HTTP. Runs a child process on a temporary directory
//! it removes, and kills it past its deadline.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Why no PDF was made.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error("PDF reports need Chromium, which this server cannot find (set ZONEATLAS_CHROMIUM or install it: apt-get install -y chromium); the HTML report answers without it")]
    NoChromium,
    #[error("Chromium did not print the report within {0:.0} s")]
    TimedOut(f64),
    #[error("Chromium failed to print the report: {0}")]
    Failed(String),
}

/// The Chromium binary to print with, if any.
pub fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ZONEATLAS_CHROMIUM") {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
        "/usr/local/bin/chromium",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
}

/// Print an HTML page (self-contained: inline styles and SVG) to PDF.
pub fn render(html: &str, timeout: Duration) -> Result<Vec<u8>, PdfError> {
    let bin = chromium().ok_or(PdfError::NoChromium)?;
    let dir = tempfile::tempdir().map_err(|e| PdfError::Failed(e.to_string()))?;
    let page = dir.path().join("report.html");
    let out = dir.path().join("report.pdf");
    std::fs::write(&page, html).map_err(|e| PdfError::Failed(e.to_string()))?;
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-pdf-header-footer",
        ])
        // Its own profile, so it never touches a user's or another run's.
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ))
        .arg(format!("--print-to-pdf={}", out.display()))
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| PdfError::Failed(format!("cannot start it: {e}")))?;
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => break,
            Ok(Some(status)) => return Err(PdfError::Failed(format!("it exited with {status}"))),
            Ok(None) if started.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(PdfError::TimedOut(timeout.as_secs_f64()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(PdfError::Failed(e.to_string())),
        }
    }
    let pdf = std::fs::read(&out).map_err(|e| PdfError::Failed(format!("no PDF written: {e}")))?;
    if !pdf.starts_with(b"%PDF") {
        return Err(PdfError::Failed("what it wrote is not a PDF".into()));
    }
    Ok(pdf)
}
