//! `--config-file`: etcd's YAML (etcd.conf.yml, whose keys are the flag names, with the TLS
//! flags in `client-transport-security` / `peer-transport-security` sections) or our TOML (the
//! flag names as keys). Told apart by the file's extension, else by which of the two reads it.
//! Both become flag values, validated later like flags.

use super::flags::{self, Kind};
use super::{error, yaml, ConfigError};
use std::collections::BTreeMap;

/// A configuration file larger than this is not one (say, --config-file /dev/zero).
const MAX_CONFIG_FILE_BYTES: u64 = 1024 * 1024;

/// Flags etcd's YAML holds as Go durations (a number there counts nanoseconds).
const DURATION_FLAGS: &[&str] = &[
    "backend-batch-interval",
    "grpc-keepalive-min-time",
    "grpc-keepalive-interval",
    "grpc-keepalive-timeout",
    "experimental-corrupt-check-time",
    "experimental-watch-progress-notify-interval",
    "experimental-warning-apply-duration",
    "experimental-lease-checkpoint-interval",
];

/// Keys etcd 3.4's YAML reads that are not flags: taken, and what they change said.
const YAML_ONLY_KEYS: &[(&str, &str)] = &[
    ("log-output", "the old name of log-outputs"),
    (
        "enable-grpc-gateway",
        "the JSON gateway is always served on the client URLs",
    ),
    (
        "unsafe-no-fsync",
        "this member always syncs its log: acknowledged writes are on disk",
    ),
    (
        "experimental-enable-lease-checkpoint-persist",
        "lease checkpoints are replicated through raft and kept in memory",
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Toml,
    Yaml,
}

/// The flag values a configuration file sets.
#[derive(Debug)]
pub struct FileValues {
    pub format: Format,
    pub values: BTreeMap<String, String>,
}

pub fn load(path: &str) -> Result<FileValues, ConfigError> {
    let text = read(path)?;
    let lower = path.to_ascii_lowercase();
    if lower.ends_with(".yml") || lower.ends_with(".yaml") {
        return from_yaml(path, &text);
    }
    if lower.ends_with(".toml") {
        return from_toml(path, &text);
    }
    match from_toml(path, &text) {
        Ok(values) => Ok(values),
        Err(toml_error) => from_yaml(path, &text).map_err(|yaml_error| {
            ConfigError(format!(
                "--config-file {path}: neither TOML ({}) nor etcd's YAML ({})",
                toml_error
                    .0
                    .trim_start_matches(&format!("--config-file {path}: ")),
                yaml_error
                    .0
                    .trim_start_matches(&format!("--config-file {path}: "))
            ))
        }),
    }
}

fn read(path: &str) -> Result<String, ConfigError> {
    use std::io::Read;
    let cannot = |e: std::io::Error| ConfigError(format!("--config-file: cannot read {path}: {e}"));
    let file = std::fs::File::open(path).map_err(cannot)?;
    let mut text = String::new();
    file.take(MAX_CONFIG_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(cannot)?;
    if text.len() as u64 > MAX_CONFIG_FILE_BYTES {
        return error(format!(
            "--config-file {path}: larger than {MAX_CONFIG_FILE_BYTES} bytes; not a configuration file"
        ));
    }
    Ok(text)
}

/// A key a file may set: a flag, but not the file itself or a command.
fn settable(key: &str) -> bool {
    flags::find(key).is_some() && !matches!(key, "config-file" | "help" | "version")
}

fn from_toml(path: &str, text: &str) -> Result<FileValues, ConfigError> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        ConfigError(format!("--config-file {path}: {}", e.message()))
    })?;
    let mut values = BTreeMap::new();
    for (key, value) in table {
        if !settable(&key) {
            return error(format!("--config-file {path}: unknown key '{key}'"));
        }
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Array(items) => {
                let mut parts = Vec::new();
                for item in items {
                    match item {
                        toml::Value::String(s) => parts.push(s),
                        _ => {
                            return error(format!(
                                "--config-file {path}: '{key}' must be a list of strings"
                            ))
                        }
                    }
                }
                parts.join(",")
            }
            _ => {
                return error(format!(
                    "--config-file {path}: '{key}' has an unsupported type"
                ))
            }
        };
        values.insert(key, text);
    }
    Ok(FileValues {
        format: Format::Toml,
        values,
    })
}

fn from_yaml(path: &str, text: &str) -> Result<FileValues, ConfigError> {
    let failed = |what: String| ConfigError(format!("--config-file {path}: {what}"));
    let yaml::Value::Mapping(entries) = yaml::parse(text).map_err(failed)? else {
        return error(format!(
            "--config-file {path}: not a mapping of configuration keys"
        ));
    };
    let mut values = BTreeMap::new();
    for (key, value) in entries {
        let section_prefix = match key.as_str() {
            "client-transport-security" => Some(""),
            "peer-transport-security" => Some("peer-"),
            _ => None,
        };
        match (section_prefix, value) {
            (Some(prefix), yaml::Value::Mapping(settings)) => {
                for (setting, value) in settings {
                    if !matches!(
                        setting.as_str(),
                        "cert-file"
                            | "key-file"
                            | "client-cert-auth"
                            | "trusted-ca-file"
                            | "auto-tls"
                    ) {
                        eprintln!("etcd: [WARNING] --config-file {path}: ignoring unknown key {key}.{setting}");
                        continue;
                    }
                    set(&mut values, &format!("{prefix}{setting}"), value).map_err(failed)?;
                }
            }
            (Some(_), yaml::Value::Null) => {}
            (Some(_), _) => return Err(failed(format!("{key} must be a mapping"))),
            (None, value) => {
                if let Some((_, effect)) = YAML_ONLY_KEYS.iter().find(|(k, _)| *k == key) {
                    if key == "log-output" {
                        set(&mut values, "log-outputs", value).map_err(failed)?;
                    } else {
                        eprintln!("etcd: [WARNING] --config-file {path}: {key}: {effect}");
                    }
                } else if settable(&key) {
                    set(&mut values, &key, value).map_err(failed)?;
                } else {
                    // etcd's YAML reader ignores what it does not know; we say so.
                    eprintln!("etcd: [WARNING] --config-file {path}: ignoring unknown key {key}");
                }
            }
        }
    }
    Ok(FileValues {
        format: Format::Yaml,
        values,
    })
}

/// One YAML value as the flag `name` takes it.
fn set(
    values: &mut BTreeMap<String, String>,
    name: &str,
    value: yaml::Value,
) -> Result<(), String> {
    let kind = flags::find(name).map(|f| f.kind);
    let text = match value {
        yaml::Value::Null => return Ok(()),
        yaml::Value::Sequence(items) => items.join(","),
        yaml::Value::Mapping(_) => return Err(format!("{name} must be a value, not a mapping")),
        yaml::Value::Scalar(text, quoted) => match (kind, quoted, text.as_str()) {
            // YAML 1.1 booleans, as etcd's reader takes them.
            (Some(Kind::Bool), false, "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON") => {
                "true".to_string()
            }
            (Some(Kind::Bool), false, "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF") => {
                "false".to_string()
            }
            _ if DURATION_FLAGS.contains(&name) && text.parse::<u64>().is_ok() => {
                format!("{text}ns")
            }
            _ => text,
        },
    };
    values.insert(name.to_string(), text);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml_values(text: &str) -> BTreeMap<String, String> {
        from_yaml("etcd.conf.yml", text).unwrap().values
    }

    #[test]
    fn etcds_yaml_becomes_flag_values() {
        let values = yaml_values(
            "name: node1\nheartbeat-interval: 100\ngrpc-keepalive-timeout: 20000000000\nstrict-reconfig-check: yes\nlog-outputs: [stderr, stdout]\nclient-transport-security:\n  cert-file: /etc/etcd/kubernetes.pem\n  client-cert-auth: true\npeer-transport-security:\n  trusted-ca-file: /etc/etcd/ca.pem\n  auto-tls: false\n",
        );
        let expected: BTreeMap<String, String> = [
            ("name", "node1"),
            ("heartbeat-interval", "100"),
            ("grpc-keepalive-timeout", "20000000000ns"),
            ("strict-reconfig-check", "true"),
            ("log-outputs", "stderr,stdout"),
            ("cert-file", "/etc/etcd/kubernetes.pem"),
            ("client-cert-auth", "true"),
            ("peer-trusted-ca-file", "/etc/etcd/ca.pem"),
            ("peer-auto-tls", "false"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(values, expected);
    }

    #[test]
    fn a_toml_file_and_a_yaml_file_are_told_apart_by_content() {
        let dir = std::env::temp_dir().join(format!("config-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let toml = dir.join("a.conf");
        std::fs::write(&toml, "name = \"t\"\nmax-txn-ops = 5\n").unwrap();
        let yaml = dir.join("b.conf");
        std::fs::write(&yaml, "name: y\nmax-txn-ops: 6\n").unwrap();
        let loaded = load(toml.to_str().unwrap()).unwrap();
        assert_eq!(
            (loaded.format, loaded.values["name"].as_str()),
            (Format::Toml, "t")
        );
        let loaded = load(yaml.to_str().unwrap()).unwrap();
        assert_eq!(
            (loaded.format, loaded.values["max-txn-ops"].as_str()),
            (Format::Yaml, "6")
        );
        let neither = dir.join("c.conf");
        std::fs::write(&neither, "[[[").unwrap();
        let error = load(neither.to_str().unwrap()).unwrap_err().0;
        assert!(error.contains("neither TOML"), "{error}");
    }
}
