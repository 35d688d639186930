//! What the external test tier needs from outside Rust, and installing it into caches inside the
//! repository (`.ci/.cache/NAME`), each reused while its pins hold.
//!
//! `INSTALLERS` is the list: a later tier (a browser and its driver, an OTLP backend, an A2A SDK)
//! joins it with one entry. An entry names its pins (a requirements file for PyPI, a `package.json`
//! with its lockfile for npm) and the environment variables the tests read, each a path inside its
//! cache. Nothing here decides which tests run; it only makes what they need present.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where an installer's programs come from.
pub enum Source {
    /// A Python virtualenv holding exactly the pins of a requirements file (from PyPI), whose
    /// `imports` must then import.
    Pip { requirements: &'static str, imports: &'static [&'static str] },
    /// `npm ci` of the `package.json` and `package-lock.json` in `folder` (from npm).
    Npm { folder: &'static str },
}

/// One thing the external tests need, installed into a cache of its own.
pub struct Installer {
    /// What it is, for progress lines and errors: "the LiteLLM proxy".
    pub name: &'static str,
    /// Its cache folder's name, under `.ci/.cache/`.
    pub cache: &'static str,
    /// Where it comes from, with its pins.
    pub source: Source,
    /// The variables the tests read, each with the path inside the cache it names.
    pub exports: &'static [(&'static str, &'static str)],
}

/// Everything the external tests need, in the order it is installed.
pub const INSTALLERS: &[Installer] = &[
    Installer {
        name: "the LiteLLM proxy",
        cache: "litellm",
        source: Source::Pip { requirements: ".ci/litellm.txt", imports: &[] },
        exports: &[("BATON_TEST_LITELLM", "bin/litellm")],
    },
    Installer {
        name: "the MCP servers from npm",
        cache: "mcp-npm",
        source: Source::Npm { folder: "crates/baton-tools/tests/mcp/fixtures/npm" },
        exports: &[("BATON_TEST_MCP_EVERYTHING", "node_modules/.bin/mcp-server-everything")],
    },
    Installer {
        name: "the MCP servers from PyPI",
        cache: "mcp-pypi",
        source: Source::Pip {
            requirements: "crates/baton-tools/tests/mcp/fixtures/requirements.txt",
            imports: &["mcp.server.mcpserver"],
        },
        exports: &[("BATON_TEST_MCP_TIME", "bin/mcp-server-time"), ("BATON_TEST_MCP_PYTHON", "bin/python")],
    },
    Installer {
        name: "Arize Phoenix (an OpenTelemetry backend)",
        cache: "phoenix",
        source: Source::Pip { requirements: ".ci/phoenix.txt", imports: &["phoenix.server.main"] },
        exports: &[("BATON_TEST_PHOENIX", "bin/phoenix")],
    },
    Installer {
        name: "the HTTP clients (openai, schemathesis)",
        cache: "http-clients",
        source: Source::Pip { requirements: ".ci/http-clients.txt", imports: &["openai", "schemathesis.cli"] },
        exports: &[("BATON_TEST_HTTP_PYTHON", "bin/python")],
    },
];

/// The folder that holds every installer's cache.
pub const CACHE_ROOT: &str = ".ci/.cache";

/// The file in a cache that holds the pins it was installed from.
const STAMP: &str = "pins";

impl Source {
    /// The programs that must be on the PATH, with what to do when one is missing.
    fn programs(&self) -> &'static [(&'static str, &'static str)] {
        const PYTHON: (&str, &str) =
            ("python3", "install Python 3.11 or later (Debian: apt install python3 python3-venv)");
        const NODE: (&str, &str) = ("node", "install Node.js 20 or later with npm (Debian: apt install nodejs npm)");
        const NPM: (&str, &str) = ("npm", "install Node.js 20 or later with npm (Debian: apt install nodejs npm)");
        match self {
            Source::Pip { .. } => &[PYTHON],
            Source::Npm { .. } => &[NODE, NPM],
        }
    }

    /// The files whose contents pin what is installed.
    fn pin_files(&self, root: &Path) -> Vec<PathBuf> {
        match self {
            Source::Pip { requirements, .. } => vec![root.join(requirements)],
            Source::Npm { folder } => {
                vec![root.join(folder).join("package.json"), root.join(folder).join("package-lock.json")]
            }
        }
    }
}

impl Installer {
    /// Makes sure the cache holds what the pins name, installing it when it does not, and returns
    /// the variables the tests read with their values.
    pub fn ensure(&self, root: &Path) -> Result<Vec<(String, String)>, String> {
        for (program, how) in self.source.programs() {
            require(program, self.name, how)?;
        }
        let cache = root.join(CACHE_ROOT).join(self.cache);
        let pins = self.pins(root)?;
        let exports: Vec<(String, PathBuf)> =
            self.exports.iter().map(|(variable, path)| (variable.to_string(), cache.join(path))).collect();
        let stamp = std::fs::read_to_string(cache.join(STAMP)).ok();
        if stamp.as_deref() == Some(pins.as_str()) && exports.iter().all(|(_, path)| path.exists()) {
            eprintln!("== {}: up to date in {}", self.name, shown(root, &cache));
        } else {
            eprintln!("== installing {} into {}", self.name, shown(root, &cache));
            self.install(root, &cache)?;
            for (variable, path) in &exports {
                if !path.exists() {
                    return Err(format!(
                        "{} installed, but {} (for {variable}) is missing; its pins may have changed what it installs",
                        self.name,
                        path.display()
                    ));
                }
            }
            std::fs::write(cache.join(STAMP), &pins)
                .map_err(|error| format!("cannot write {}: {error}", cache.join(STAMP).display()))?;
        }
        Ok(exports.into_iter().map(|(variable, path)| (variable, path.display().to_string())).collect())
    }

    /// The contents of the pin files, which the cache's stamp must equal for it to be reused.
    fn pins(&self, root: &Path) -> Result<String, String> {
        let mut pins = String::new();
        for file in self.source.pin_files(root) {
            let text = std::fs::read_to_string(&file)
                .map_err(|error| format!("cannot read the pins of {} in {}: {error}", self.name, file.display()))?;
            pins.push_str(&text);
        }
        Ok(pins)
    }

    /// Installs into an emptied `cache`.
    fn install(&self, root: &Path, cache: &Path) -> Result<(), String> {
        if cache.exists() {
            std::fs::remove_dir_all(cache).map_err(|error| format!("cannot empty {}: {error}", cache.display()))?;
        }
        std::fs::create_dir_all(cache).map_err(|error| format!("cannot create {}: {error}", cache.display()))?;
        match &self.source {
            Source::Pip { requirements, imports } => {
                let python = cache.join("bin/python");
                run(Command::new("python3").arg("-m").arg("venv").arg(cache), "python3 -m venv")
                    .map_err(|error| format!("{error} (Debian needs the package python3-venv)"))?;
                let mut pip = Command::new(&python);
                pip.args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input", "-r"])
                    .arg(root.join(requirements));
                run(&mut pip, &format!("pip install -r {requirements}"))?;
                if !imports.is_empty() {
                    let code = format!("import {}", imports.join(", "));
                    run(Command::new(&python).args(["-c", &code]), &format!("python -c '{code}'"))?;
                }
            }
            Source::Npm { folder } => {
                for file in self.source.pin_files(root) {
                    let Some(name) = file.file_name() else { continue };
                    std::fs::copy(&file, cache.join(name))
                        .map_err(|error| format!("cannot copy {} to {}: {error}", file.display(), cache.display()))?;
                }
                let mut npm = Command::new("npm");
                npm.args(["ci", "--no-audit", "--no-fund", "--loglevel=error"]).current_dir(cache);
                run(&mut npm, &format!("npm ci of {folder}"))?;
            }
        }
        Ok(())
    }
}

/// Fails, saying what to do, when `program` cannot be run.
fn require(program: &str, needed_for: &str, how: &str) -> Result<(), String> {
    let found = Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if found {
        Ok(())
    } else {
        Err(format!("`{program}` is needed for {needed_for} but does not run from the PATH: {how}"))
    }
}

/// Runs an install step with its output on stderr (stdout is kept for `setup`'s export lines).
fn run(command: &mut Command, what: &str) -> Result<(), String> {
    let stderr = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|error| format!("cannot pass stderr on to {what}: {error}"))?;
    let status = command
        .stdin(Stdio::null())
        .stdout(Stdio::from(stderr))
        .status()
        .map_err(|error| format!("cannot start {what}: {error}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status}); its output is above"))
    }
}

/// `path` relative to the repository root when it is inside it.
fn shown(root: &Path, path: &Path) -> String {
    path.strip_prefix(root).unwrap_or(path).display().to_string()
}
