//! `zoneatlas import`: a Shapefile, GeoPackage table or OpenStreetMap
//! extract into a store's layer (and optionally its coverage rules), with a
//! progress line on a terminal.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;

pub fn run(args: crate::config::ImportArgs) -> anyhow::Result<ExitCode> {
    // The rules are read and parsed before any data is imported: a rules
    // file with a mistake leaves the store as it was.
    let rules = match &args.rules {
        None => None,
        Some(path) => {
            let text = crate::load::read_regular_text(path)
                .with_context(|| format!("{}", path.display()))?;
            crate::coverage::rules::parse(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}; nothing was imported", path.display()))?;
            Some((path, text))
        }
    };
    let code = import_data(&args)?;
    if let Some((path, text)) = rules {
        crate::import::set_rules(&args.store, &text).with_context(|| {
            format!(
                "{}: the data was imported, but its coverage rules were not set",
                crate::store::display_name(&args.store)
            )
        })?;
        say!(
            "{}: coverage rules from {}",
            crate::store::display_name(&args.store),
            path.display()
        );
    }
    Ok(code)
}

fn import_data(args: &crate::config::ImportArgs) -> anyhow::Result<ExitCode> {
    if let Some(pbf) = &args.osm {
        let profile = args
            .profile
            .as_ref()
            .map(|p| crate::load::read_regular_text(p).with_context(|| format!("{}", p.display())))
            .transpose()?;
        let started = Instant::now();
        let s =
            crate::import::import_osm(&args.store, pbf, profile.as_deref()).with_context(|| {
                format!(
                    "importing {} into {}",
                    pbf.display(),
                    crate::store::display_name(&args.store)
                )
            })?;
        for l in &s.layers {
            say!(
                "  {}: {} of {} mapped features{}",
                l.layer,
                l.imported,
                l.mapped,
                if l.refused > 0 {
                    format!(", {} refused", l.refused)
                } else {
                    String::new()
                }
            );
            for (why, n) in &l.reasons {
                say!("      {n} × {why}");
            }
        }
        let empty = s.empty_layers();
        if !empty.is_empty() {
            let names: Vec<&str> = empty.iter().map(|l| l.layer.as_str()).collect();
            eprintln!(
                "error: {}: nothing imported: {} would receive none of the features mapped into {} (the reasons above); adapt the layer's required properties or the profile (--profile)",
                crate::store::display_name(&args.store),
                names.join(", "),
                if names.len() > 1 { "them" } else { "it" }
            );
            return Ok(ExitCode::FAILURE);
        }
        say!(
            "{}: {} features from {} in {:.2?}, revision {}{}",
            crate::store::display_name(&args.store),
            s.layers.iter().map(|l| l.imported).sum::<usize>(),
            pbf.display(),
            started.elapsed(),
            s.revision
                .map_or("unchanged (nothing to import)".into(), |r| r.to_string()),
            if s.dropped > 0 {
                format!(
                    "; {} elements without a buildable geometry dropped",
                    s.dropped
                )
            } else {
                String::new()
            }
        );
        return Ok(ExitCode::SUCCESS);
    }
    let (Some(layer), Some(source)) = (args.layer.clone(), args.source.clone()) else {
        anyhow::bail!("give --layer ID SOURCE, or --osm EXTRACT.osm.pbf");
    };
    let progress = std::sync::Arc::new(crate::import::Progress::default());
    let pair = |s: &str, what: &str| -> anyhow::Result<(String, String)> {
        s.split_once('=')
            .map(|(a, b)| (a.trim().to_owned(), b.trim().to_owned()))
            .filter(|(a, _)| !a.is_empty())
            .ok_or_else(|| anyhow::anyhow!("--{what} {s:?}: expected NAME=VALUE"))
    };
    let crs = crs_flag(args.crs.as_deref())?;
    let opts = crate::import::Options {
        layer,
        crs,
        encoding: args.encoding.clone(),
        map: args
            .map
            .iter()
            .map(|m| pair(m, "map"))
            .collect::<Result<_, _>>()?,
        set: args
            .set
            .iter()
            .map(|m| {
                pair(m, "set").map(|(k, v)| {
                    let value = serde_json::from_str(&v).unwrap_or(serde_json::Value::String(v));
                    (k, value)
                })
            })
            .collect::<Result<_, _>>()?,
        skip_invalid: args.skip_invalid,
        title: args.title.clone(),
        progress: Some(progress.clone()),
    };
    // A progress line on a terminal while a large file is validated.
    let shown = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ticker = std::io::stderr().is_terminal().then(|| {
        let (p, shown) = (progress.clone(), shown.clone());
        std::thread::spawn(move || loop {
            std::thread::sleep(std::time::Duration::from_millis(250));
            let (done, total) = (
                p.done.load(std::sync::atomic::Ordering::Relaxed),
                p.total.load(std::sync::atomic::Ordering::Relaxed),
            );
            if total >= 10_000 && done < total {
                shown.store(true, std::sync::atomic::Ordering::Relaxed);
                eprint!(
                    "\rvalidating {done}/{total} features ({:.0}%)",
                    done as f64 * 100.0 / total as f64
                );
            }
            if total > 0 && done >= total {
                break;
            }
        })
    });
    let started = Instant::now();
    let result = crate::import::import(&args.store, &source, &opts);
    progress
        .done
        .store(usize::MAX, std::sync::atomic::Ordering::Relaxed);
    progress
        .total
        .store(1, std::sync::atomic::Ordering::Relaxed);
    if let Some(t) = ticker {
        let _ = t.join();
    }
    if shown.load(std::sync::atomic::Ordering::Relaxed) {
        eprintln!();
    }
    let s = result.with_context(|| {
        format!(
            "importing {source} into {}",
            crate::store::display_name(&args.store)
        )
    })?;
    for skip in &s.skipped {
        eprintln!("skipped: {skip}");
    }
    say!(
        "{}: {} features {} layer {} from {} ({}), revision {}, in {:.2?}{}",
        crate::store::display_name(&args.store),
        s.imported,
        if s.created_layer {
            "into the new"
        } else {
            "appended to"
        },
        s.layer,
        source,
        s.crs,
        s.revision,
        started.elapsed(),
        if s.skipped.is_empty() {
            String::new()
        } else {
            format!(", {} skipped", s.skipped.len())
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// A `--crs` flag's CRS.
pub(super) fn crs_flag(text: Option<&str>) -> anyhow::Result<Option<crate::crs::Crs>> {
    text.map(crate::crs::Crs::parse)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--crs: {e}"))
}
