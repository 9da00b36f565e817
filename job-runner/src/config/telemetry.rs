//! The `[telemetry]` section and the standard `OTEL_*` variables: where the runner sends its
//! traces (OTLP over HTTP), and under which service name. Export is off unless an endpoint
//! is given (or `OTEL_TRACES_EXPORTER=otlp` asks for the default one).

use serde::Deserialize;

use super::Env;
use super::error::ConfigError;

/// The service name spans are exported under unless told otherwise.
pub const DEFAULT_SERVICE_NAME: &str = "job-runner";

/// The collector's address when `OTEL_TRACES_EXPORTER=otlp` names none (the OTLP/HTTP
/// default).
pub const DEFAULT_OTLP_ENDPOINT: &str = "http://localhost:4318";

/// Where traces go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetryConfig {
    /// The OTLP/HTTP traces URL spans are sent to (`<endpoint>/v1/traces`); `None` exports
    /// nothing.
    pub traces_endpoint: Option<String>,
    /// The `service.name` of the exported spans.
    pub service_name: String,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            traces_endpoint: None,
            service_name: DEFAULT_SERVICE_NAME.to_owned(),
        }
    }
}

/// The `[telemetry]` section of `jobs.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TelemetryFile {
    endpoint: Option<String>,
    service_name: Option<String>,
}

impl TelemetryConfig {
    /// Applies the file's section; `origin` names a key with the file.
    pub(super) fn apply_file(
        &mut self,
        file: TelemetryFile,
        origin: &dyn Fn(&str) -> String,
    ) -> Result<(), ConfigError> {
        if let Some(endpoint) = file.endpoint {
            self.traces_endpoint = Some(traces_url(&endpoint, &origin("telemetry.endpoint"))?);
        }
        if let Some(name) = file.service_name {
            self.service_name = service_name(name, &origin("telemetry.service_name"))?;
        }
        Ok(())
    }

    /// Applies the standard variables: `OTEL_EXPORTER_OTLP_ENDPOINT` (the collector's base
    /// address), `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (the traces URL itself),
    /// `OTEL_SERVICE_NAME`, and `OTEL_TRACES_EXPORTER` (`otlp` or `none`).
    pub(super) fn apply_env(&mut self, env: Env<'_>) -> Result<(), ConfigError> {
        let set = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        if let Some(endpoint) = set("OTEL_EXPORTER_OTLP_ENDPOINT") {
            self.traces_endpoint = Some(traces_url(&endpoint, "OTEL_EXPORTER_OTLP_ENDPOINT")?);
        }
        if let Some(url) = set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            check_url(&url, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")?;
            self.traces_endpoint = Some(url);
        }
        if let Some(name) = set("OTEL_SERVICE_NAME") {
            self.service_name = service_name(name, "OTEL_SERVICE_NAME")?;
        }
        if let Some(exporter) = set("OTEL_TRACES_EXPORTER") {
            match exporter.trim().to_ascii_lowercase().as_str() {
                "none" => self.traces_endpoint = None,
                "otlp" => {
                    if self.traces_endpoint.is_none() {
                        self.traces_endpoint = Some(traces_url(
                            DEFAULT_OTLP_ENDPOINT,
                            "the default OTLP endpoint",
                        )?);
                    }
                }
                _ => {
                    return Err(ConfigError::Value {
                        origin: "OTEL_TRACES_EXPORTER".to_owned(),
                        message: format!(
                            "the runner exports traces with `otlp` (over HTTP) or not at all (`none`), not `{exporter}`"
                        ),
                    });
                }
            }
        }
        Ok(())
    }
}

/// The traces URL of a collector's base address: `http://host:4318` gives
/// `http://host:4318/v1/traces`.
fn traces_url(base: &str, origin: &str) -> Result<String, ConfigError> {
    let base = base.trim();
    check_url(base, origin)?;
    Ok(format!("{}/v1/traces", base.trim_end_matches('/')))
}

/// Refuses what is not an `http://` URL with a host.
fn check_url(url: &str, origin: &str) -> Result<(), ConfigError> {
    let refuse = |message: String| ConfigError::Value {
        origin: origin.to_owned(),
        message,
    };
    let uri: axum::http::Uri = url.trim().parse().map_err(|_| {
        refuse(format!(
            "`{url}` is not a URL; write the collector's OTLP/HTTP address, such as \"http://127.0.0.1:4318\""
        ))
    })?;
    match uri.scheme_str() {
        Some("http") if uri.host().is_some_and(|h| !h.is_empty()) => Ok(()),
        Some("https") => Err(refuse(format!(
            "`{url}`: the runner sends traces over plain HTTP only (it carries no TLS client); send them to a collector on this host or network, such as \"http://127.0.0.1:4318\", which forwards them over TLS"
        ))),
        _ => Err(refuse(format!(
            "`{url}` is not an http:// URL with a host; write the collector's OTLP/HTTP address, such as \"http://127.0.0.1:4318\""
        ))),
    }
}

/// A service name: not empty.
fn service_name(name: String, origin: &str) -> Result<String, ConfigError> {
    let name = name.trim().to_owned();
    if name.is_empty() {
        return Err(ConfigError::Value {
            origin: origin.to_owned(),
            message:
                "the service name is empty; leave it out for \"job-runner\", or name the service"
                    .into(),
        });
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::config::tests::env_of;

    #[test]
    fn export_is_off_unless_an_endpoint_is_given() {
        let config = Config::load(None, &env_of(&[])).unwrap();
        assert_eq!(config.telemetry.traces_endpoint, None);
        assert_eq!(config.telemetry.service_name, "job-runner");
        let config = Config::load(None, &env_of(&[("OTEL_TRACES_EXPORTER", "otlp")])).unwrap();
        assert_eq!(
            config.telemetry.traces_endpoint.as_deref(),
            Some("http://localhost:4318/v1/traces")
        );
    }

    #[test]
    fn the_file_then_the_otel_variables() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs.toml");
        std::fs::write(
            &path,
            "[telemetry]\nendpoint = \"http://collector:4318/\"\nservice_name = \"billing-jobs\"\n",
        )
        .unwrap();
        let config = Config::load(Some(&path), &env_of(&[])).unwrap();
        assert_eq!(
            config.telemetry.traces_endpoint.as_deref(),
            Some("http://collector:4318/v1/traces")
        );
        assert_eq!(config.telemetry.service_name, "billing-jobs");
        let config = Config::load(
            Some(&path),
            &env_of(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9999"),
                ("OTEL_SERVICE_NAME", "other"),
            ]),
        )
        .unwrap();
        assert_eq!(
            config.telemetry.traces_endpoint.as_deref(),
            Some("http://127.0.0.1:9999/v1/traces")
        );
        assert_eq!(config.telemetry.service_name, "other");
        let config = Config::load(
            Some(&path),
            &env_of(&[(
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://127.0.0.1:9999/traces",
            )]),
        )
        .unwrap();
        assert_eq!(
            config.telemetry.traces_endpoint.as_deref(),
            Some("http://127.0.0.1:9999/traces")
        );
        let config =
            Config::load(Some(&path), &env_of(&[("OTEL_TRACES_EXPORTER", "none")])).unwrap();
        assert_eq!(config.telemetry.traces_endpoint, None);
    }

    #[test]
    fn bad_values_say_what_is_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs.toml");
        std::fs::write(&path, "[telemetry]\nendpoint = \"collector:4318\"\n").unwrap();
        let error = Config::load(Some(&path), &env_of(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("invalid `telemetry.endpoint` in "),
            "{error}"
        );
        assert!(error.contains("http://127.0.0.1:4318"), "{error}");
        std::fs::write(&path, "[telemetry]\nendpont = \"http://a:4318\"\n").unwrap();
        let error = Config::load(Some(&path), &env_of(&[]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("unknown field `endpont`"), "{error}");
        let error = Config::load(
            None,
            &env_of(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4318")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.starts_with("invalid OTEL_EXPORTER_OTLP_ENDPOINT: ")
                && error.contains("plain HTTP only"),
            "{error}"
        );
        let error = Config::load(None, &env_of(&[("OTEL_TRACES_EXPORTER", "jaeger")]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "invalid OTEL_TRACES_EXPORTER: the runner exports traces with `otlp` (over HTTP) or not at all (`none`), not `jaeger`"
        );
    }
}
