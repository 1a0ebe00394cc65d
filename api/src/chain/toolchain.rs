//! The Foundry toolchain from npm (`verifier-contract/node_modules`): a local anvil chain that is
//! killed when dropped, and forge to compile a verifier generated at run time.
//!
//! Nothing is downloaded but npm packages: forge compiles through `tools/solc-shim.js` (solc-js),
//! as `verifier-contract/scripts/test.sh` does. The platform binaries are used, never the npm
//! wrappers in `node_modules/.bin` (forge 1.7.1's wrapper exits 0 when forge fails).

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy::primitives::Bytes;

use super::ChainError;

/// The first account of anvil's default mnemonic ("test test ... junk"). Public knowledge: it
/// only ever holds value on a local development chain.
pub const ANVIL_DEV_PRIVATE_KEY: &str =
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

/// How long anvil may take to accept connections after it was started.
const ANVIL_START_TIMEOUT: Duration = Duration::from_secs(20);

/// The Foundry project `verifier-contract/`: `GRIDPROOF_CONTRACTS_DIR` if set, else the one
/// beside this crate in the source tree (the binary runs from a checkout).
pub fn default_contracts_dir() -> PathBuf {
    match std::env::var_os("GRIDPROOF_CONTRACTS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../verifier-contract"),
    }
}

/// The platform binary `tool` (`forge`, `anvil`) that npm installed under
/// `contracts_dir/node_modules/@foundry-rs/<tool>-<os>-<arch>/bin/`.
pub fn foundry_binary(contracts_dir: &Path, tool: &str) -> Result<PathBuf, ChainError> {
    let scope = contracts_dir.join("node_modules/@foundry-rs");
    let prefix = format!("{tool}-");
    let found = std::fs::read_dir(&scope).ok().and_then(|entries| {
        entries
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .map(|e| e.path().join("bin").join(tool))
            .find(|p| p.is_file())
    });
    found.ok_or_else(|| ChainError::Toolchain {
        what: format!(
            "no {tool} binary under {} (install the pinned Foundry toolchain: run \
             verifier-contract/scripts/test.sh, or `npm ci` in verifier-contract)",
            scope.display()
        ),
    })
}

/// Runs `npm ci` in `contracts_dir` if its `node_modules` is missing (a fresh checkout).
pub fn ensure_npm_toolchain(contracts_dir: &Path) -> Result<(), ChainError> {
    if contracts_dir.join("node_modules/@foundry-rs").is_dir() {
        return Ok(());
    }
    eprintln!(
        "demo: installing the Foundry toolchain from npm (npm ci in {}) ...",
        contracts_dir.display()
    );
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(contracts_dir)
        .stdout(Stdio::null())
        .status()
        .map_err(|e| ChainError::Toolchain {
            what: format!("cannot run npm (Node.js 20+ with npm is required): {e}"),
        })?;
    if !status.success() {
        return Err(ChainError::Toolchain {
            what: format!("npm ci in {} failed ({status})", contracts_dir.display()),
        });
    }
    Ok(())
}

/// A directory under the system's temporary directory, removed (with its contents) on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates `gridproof-<label>-<pid>-<nanos>` in the temporary directory.
    pub fn new(label: &str) -> Result<Self, ChainError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path =
            std::env::temp_dir().join(format!("gridproof-{label}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).map_err(|source| ChainError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(Self(path))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Compiles a generated `Groth16Verifier.sol` (from `gridproof_prover::solidity::render_verifier`)
/// with the npm forge and solc-js, with the compiler settings of `verifier-contract/foundry.toml`
/// (Cancun, optimizer 10,000 runs, no metadata hash), in a temporary project. Returns the
/// creation bytecode.
pub fn compile_verifier(contracts_dir: &Path, source: &str) -> Result<Bytes, ChainError> {
    let forge = foundry_binary(contracts_dir, "forge")?;
    let shim =
        std::fs::canonicalize(contracts_dir.join("tools/solc-shim.js")).map_err(|source| {
            ChainError::Io {
                path: contracts_dir.join("tools/solc-shim.js"),
                source,
            }
        })?;
    let project = TempDir::new("verifier")?;
    let write = |rel: &str, text: &str| -> Result<(), ChainError> {
        let path = project.path().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| ChainError::Io {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        std::fs::write(&path, text).map_err(|source| ChainError::Io { path, source })
    };
    write(
        "foundry.toml",
        "[profile.default]\nsrc = \"src\"\nout = \"out\"\ncache_path = \"cache\"\noffline = true\n\
         auto_detect_solc = false\nevm_version = \"cancun\"\noptimizer = true\n\
         optimizer_runs = 10000\nbytecode_hash = \"none\"\n",
    )?;
    write("src/Groth16Verifier.sol", source)?;
    let output = Command::new(&forge)
        .arg("build")
        .arg("--offline")
        .arg("--use")
        .arg(&shim)
        .arg("--root")
        .arg(project.path())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| ChainError::Toolchain {
            what: format!("cannot run {}: {e}", forge.display()),
        })?;
    if !output.status.success() {
        return Err(ChainError::Toolchain {
            what: format!(
                "forge build of the generated verifier failed ({}): {}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        });
    }
    let artifact = project
        .path()
        .join("out/Groth16Verifier.sol/Groth16Verifier.json");
    let text = std::fs::read_to_string(&artifact).map_err(|source| ChainError::Io {
        path: artifact.clone(),
        source,
    })?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| ChainError::Toolchain {
            what: format!("{}: {e}", artifact.display()),
        })?;
    let hex_code = json["bytecode"]["object"]
        .as_str()
        .ok_or_else(|| ChainError::Toolchain {
            what: format!("{}: no bytecode.object", artifact.display()),
        })?;
    let code =
        hex::decode(hex_code.trim_start_matches("0x")).map_err(|e| ChainError::Toolchain {
            what: format!("{}: bytecode is not hex: {e}", artifact.display()),
        })?;
    if code.is_empty() {
        return Err(ChainError::Toolchain {
            what: format!("{}: empty bytecode", artifact.display()),
        });
    }
    Ok(Bytes::from(code))
}

/// A local anvil chain on 127.0.0.1, started from the npm toolchain; killed when dropped (also
/// when the caller returns early with an error).
#[derive(Debug)]
pub struct Anvil {
    child: Child,
    port: u16,
}

impl Anvil {
    /// Starts anvil on a free port of 127.0.0.1 (chain id 31337, the default funded accounts)
    /// and waits until it accepts connections.
    pub fn start(contracts_dir: &Path) -> Result<Self, ChainError> {
        let binary = foundry_binary(contracts_dir, "anvil")?;
        let mut last_error = String::new();
        // A free port can be taken by someone else between the probe and anvil's bind: retry.
        for _ in 0..3 {
            let port = free_port()?;
            let child = Command::new(&binary)
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--chain-id", "31337", "--quiet"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| ChainError::Toolchain {
                    what: format!("cannot start {}: {e}", binary.display()),
                })?;
            let mut anvil = Self { child, port };
            match anvil.wait_ready() {
                Ok(()) => return Ok(anvil),
                Err(e) => last_error = e,
            }
        }
        Err(ChainError::Toolchain {
            what: format!("anvil did not start: {last_error}"),
        })
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let started = Instant::now();
        let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, self.port);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("anvil exited ({status}) on port {}", self.port));
            }
            if TcpStream::connect_timeout(&addr.into(), Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if started.elapsed() > ANVIL_START_TIMEOUT {
                return Err(format!(
                    "no connection on port {} after {} s",
                    self.port,
                    ANVIL_START_TIMEOUT.as_secs()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The JSON-RPC endpoint, `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16, ChainError> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| ChainError::Toolchain {
            what: format!("cannot find a free port on 127.0.0.1: {e}"),
        })?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| ChainError::Toolchain {
            what: format!("cannot find a free port on 127.0.0.1: {e}"),
        })
}
