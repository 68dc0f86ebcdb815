//! `speakerd init --role node|edge|reflector`: a commented starter configuration for each
//! role, written to a file (never over an existing one unless forced) or to stdout. The
//! templates are `src/init/*.toml`; tests hold them to `speakerd check`.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::ValueEnum;
use thiserror::Error;

/// What the configuration is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Role {
    /// A Kubernetes node (DaemonSet): peers with the ToR of its rack, announces its PodCIDRs.
    Node,
    /// An edge router: eBGP upstreams, policies, kernel routes.
    Edge,
    /// A route reflector: iBGP clients from a range, a cluster id, no kernel routes.
    Reflector,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 3] = [Role::Node, Role::Edge, Role::Reflector];

    /// The starter configuration of the role.
    pub fn template(self) -> &'static str {
        match self {
            Role::Node => include_str!("init/node.toml"),
            Role::Edge => include_str!("init/edge.toml"),
            Role::Reflector => include_str!("init/reflector.toml"),
        }
    }

    /// The environment variables the template uses (`${VAR}`), with example values for a
    /// check outside the DaemonSet.
    pub fn variables(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Role::Node => &[("NODE_IP", "198.18.1.11"), ("NODE_NAME", "node1")],
            Role::Edge | Role::Reflector => &[],
        }
    }
}

/// Why `speakerd init` wrote nothing.
#[derive(Debug, Error)]
pub enum InitError {
    /// The output file exists and `--force` was not given.
    #[error("{0} exists: not overwritten (give --force to replace it)")]
    Exists(PathBuf),
    /// The output could not be written.
    #[error("cannot write {0}: {1}")]
    Write(PathBuf, std::io::Error),
}

/// Writes the starter configuration of `role` to `output`, or to stdout without one. An
/// existing file is replaced only with `force`.
pub fn write(role: Role, output: Option<&Path>, force: bool) -> Result<(), InitError> {
    let text = role.template();
    let Some(path) = output else {
        let mut out = std::io::stdout().lock();
        return out
            .write_all(text.as_bytes())
            .map_err(|e| InitError::Write(PathBuf::from("stdout"), e));
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        // Refused by the kernel if the file exists, so nothing is lost to a race either.
        options.create_new(true);
    }
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            InitError::Exists(path.to_path_buf())
        } else {
            InitError::Write(path.to_path_buf(), e)
        }
    })?;
    file.write_all(text.as_bytes())
        .map_err(|e| InitError::Write(path.to_path_buf(), e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// The template as `speakerd check` reads it, with the role's variables set.
    fn check(role: Role, text: &str) -> Result<Config, String> {
        let env = |name: &str| {
            role.variables()
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        };
        Config::parse(text, Path::new("starter.toml"), &env).map_err(|errors| {
            errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        })
    }

    /// The optional keys shown as `# key = value`, uncommented.
    fn with_optional_keys(text: &str) -> (String, usize) {
        let mut count = 0;
        let lines: Vec<String> = text
            .lines()
            .map(|line| {
                let Some(rest) = line.strip_prefix("# ") else {
                    return line.to_string();
                };
                let key = rest.split(" = ").next().unwrap_or_default();
                let is_key = rest.contains(" = ")
                    && !key.is_empty()
                    && key.chars().all(|c| c.is_ascii_lowercase() || c == '_');
                if is_key {
                    count += 1;
                    rest.to_string()
                } else {
                    line.to_string()
                }
            })
            .collect();
        (lines.join("\n"), count)
    }

    #[test]
    fn every_role_passes_the_check() {
        for role in Role::ALL {
            let config = check(role, role.template()).unwrap_or_else(|e| panic!("{role:?}: {e}"));
            match role {
                Role::Node => {
                    let k = config.kubernetes.expect("node: the Kubernetes integration");
                    assert_eq!(k.mode, crate::config::PeeringMode::Tor);
                    assert_eq!(k.tors.len(), 2);
                    assert_eq!(k.node_name, "node1");
                    assert!(config.prefixes.is_empty(), "PodCIDRs come from the Node");
                    assert!(config.listen.is_empty());
                }
                Role::Edge => {
                    assert!(config.kernel.install);
                    assert_eq!(config.neighbors.len(), 2);
                    assert!(config.neighbors.iter().all(|n| n.remote_asn != config.asn));
                    assert_eq!(config.prefixes.len(), 1);
                }
                Role::Reflector => {
                    assert!(!config.kernel.install);
                    assert!(config.cluster_id.is_some());
                    let range = &config.dynamic_neighbors[0].template;
                    assert!(range.rr_client && range.remote_asn == config.asn);
                }
            }
        }
    }

    #[test]
    fn the_optional_keys_are_real_keys_too() {
        for role in Role::ALL {
            let (text, count) = with_optional_keys(role.template());
            // password_env names a variable of the daemon's environment (read as the key, not
            // through `${}`): one that is set wherever the test runs.
            let text = text.replace("\"UPSTREAM_A_KEY\"", "\"PATH\"");
            assert!(count >= 2, "{role:?}: {count} optional keys");
            check(role, &text).unwrap_or_else(|e| panic!("{role:?} with optional keys: {e}"));
        }
    }

    #[test]
    fn every_key_is_explained() {
        // A key has a comment right above it (or above its table's header), unless the same
        // key was explained earlier in the file (a second neighbour repeats the first's keys).
        for role in Role::ALL {
            let lines: Vec<&str> = role.template().lines().collect();
            let mut explained = std::collections::HashSet::new();
            let mut unexplained = Vec::new();
            for (i, line) in lines.iter().enumerate() {
                let Some((key, _)) = line.split_once(" = ") else {
                    continue;
                };
                if line.starts_with('#') || line.starts_with(' ') {
                    continue;
                }
                let above = |n: usize| i.checked_sub(n).map_or("", |j| lines[j]);
                let commented = above(1).starts_with('#')
                    || (above(1).starts_with('[') && above(2).starts_with('#'));
                if !commented && !explained.contains(key) {
                    unexplained.push(*line);
                }
                explained.insert(key);
            }
            assert!(
                unexplained.is_empty(),
                "{role:?}: not explained: {unexplained:#?}"
            );
        }
    }

    #[test]
    fn an_existing_file_is_kept_unless_forced() {
        let dir = std::env::temp_dir().join(format!("speakerd-init-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("speakerd.toml");
        std::fs::write(&path, "mine").unwrap();
        let refused = write(Role::Edge, Some(&path), false);
        assert!(matches!(refused, Err(InitError::Exists(_))), "{refused:?}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "mine");
        write(Role::Edge, Some(&path), true).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            Role::Edge.template()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
