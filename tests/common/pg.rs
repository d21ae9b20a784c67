//! A throwaway PostgreSQL + PostGIS cluster for the PostGIS tests: initdb
//! in a temporary directory, a free loopback port, trust authentication for
//! the `postgres` user; stopped and removed when dropped. PostgreSQL will
//! not run as root, so as root the cluster runs as the `postgres` user.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where Debian puts the server binaries (the newest version present),
/// when PostGIS is installed beside them.
pub fn binaries() -> Result<PathBuf, String> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            let postgis = Path::new("/usr/share/postgresql")
                .join(v.to_string())
                .join("extension/postgis.control");
            (bin.join("initdb").exists() && postgis.exists()).then_some((v, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, b)| b).ok_or_else(|| {
        "PostgreSQL with PostGIS is not installed (apt-get install -y postgresql-15-postgis-3)"
            .to_owned()
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A running cluster.
pub struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    pub port: u16,
    root: bool,
}

impl Cluster {
    /// initdb and start; panics with PostgreSQL's words when that fails.
    pub fn start() -> Cluster {
        let bin = binaries().expect("PostgreSQL");
        let dir = tempfile::Builder::new()
            .prefix("za-pg")
            .tempdir()
            .expect("tempdir");
        let root = is_root();
        if root {
            run(Command::new("chown").arg("postgres").arg(dir.path()));
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let c = Cluster {
            bin,
            dir,
            port,
            root,
        };
        run(&mut c.as_pg(
            &c.bin.join("initdb"),
            &["-D", &c.data(), "-A", "trust", "-U", "postgres"],
        ));
        c.start_again();
        c
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn as_pg(&self, program: &Path, args: &[&str]) -> Command {
        let mut c = if self.root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        c.args(args);
        c
    }

    /// The URL zoneatlas is given.
    pub fn url(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Start (again, after `stop`), waiting until it takes connections.
    pub fn start_again(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=60",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log").display().to_string();
        run(&mut self.as_pg(
            &self.bin.join("pg_ctl"),
            &["-D", &self.data(), "-l", &log, "-w", "-o", &opts, "start"],
        ));
    }

    /// Stop (fast: clients are disconnected, as in a restart).
    pub fn stop(&self) {
        run(&mut self.as_pg(
            &self.bin.join("pg_ctl"),
            &["-D", &self.data(), "-m", "fast", "-w", "stop"],
        ));
    }

    /// Run SQL with psql; its output (unaligned, tuples only).
    pub fn psql(&self, sql: &str) -> String {
        let out = Command::new("psql")
            .args([
                "-X",
                "-q",
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-d",
                "postgres",
            ])
            .args(["-p", &self.port.to_string(), "-c", sql])
            .output()
            .expect("psql");
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .as_pg(
                &self.bin.join("pg_ctl"),
                &["-D", &self.data(), "-m", "immediate", "stop"],
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn run(c: &mut Command) {
    let out = c.output().expect("run a PostgreSQL command");
    assert!(
        out.status.success(),
        "{c:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A trial that needs PostgreSQL: ignored with the reason when it is
/// missing, failed instead when `ZONEATLAS_REQUIRE_TOOLS` is set.
pub fn trial(
    name: &str,
    body: impl FnOnce() -> Result<(), libtest_mimic::Failed> + Send + 'static,
) -> libtest_mimic::Trial {
    libtest_mimic::Trial::ignorable_test(name, move || match binaries() {
        Ok(_) => body().map(|()| libtest_mimic::Completion::Completed),
        Err(reason) if std::env::var_os("ZONEATLAS_REQUIRE_TOOLS").is_some() => {
            Err(format!("{reason} (required: ZONEATLAS_REQUIRE_TOOLS is set)").into())
        }
        Err(reason) => Ok(libtest_mimic::Completion::ignored_with(reason)),
    })
}
