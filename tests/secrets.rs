//! Secrets never leave Squint: configured Kafka secrets and camera passwords are absent from
//! every output of `squint run` — start-up errors, log lines, /health, /metrics and the stats
//! file — while the errors still name the key to fix.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use squint::testing;

mod common;

fn config(dir: &Path, kafka: &str, cameras: &str, extra: &str) -> String {
    let repo = testing::repo();
    format!(
        "{extra}\n[models]\ndetector = \"{repo}/models/yunet.card.toml\"\nrecognizer = \"{repo}/models/sface.card.toml\"\n\
         [pipeline]\nstate_dir = \"{dir}/state\"\n[gallery]\npath = \"{dir}/g.db\"\n{cameras}\n{kafka}\n",
        repo = repo.display(),
        dir = dir.display()
    )
}

fn make_gallery(dir: &Path) {
    drop(squint::gallery::Gallery::create(&dir.join("g.db")).unwrap());
}

fn squint_run(config: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_squint"));
    command
        .args(["run", "--config", config.to_str().unwrap()])
        .args(args)
        .envs(testing::ort_library().map(|p| ("ORT_DYLIB_PATH", p)));
    command
}

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "openssl {args:?}");
}

/// A private key encrypted with one passphrase, its certificate, and a PKCS#12 keystore.
fn key_material(dir: &Path) {
    openssl(
        dir,
        &[
            "genrsa",
            "-aes256",
            "-passout",
            "pass:TheRealPass",
            "-out",
            "enc.key",
            "2048",
        ],
    );
    let subject = ["-subj", "/CN=squint-client", "-days", "1"];
    openssl(
        dir,
        &[
            &[
                "req",
                "-x509",
                "-key",
                "enc.key",
                "-passin",
                "pass:TheRealPass",
                "-out",
                "cert.pem",
            ][..],
            &subject[..],
        ]
        .concat(),
    );
    openssl(
        dir,
        &[
            "pkcs12",
            "-export",
            "-inkey",
            "enc.key",
            "-passin",
            "pass:TheRealPass",
            "-in",
            "cert.pem",
            "-passout",
            "pass:TheRealPass",
            "-out",
            "ks.p12",
        ],
    );
}

#[test]
fn a_secret_property_that_breaks_start_up_is_named_but_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    make_gallery(dir.path());
    key_material(dir.path());
    let d = dir.path().display();
    let closed = common::closed_port();
    // (secret, what the error must name, [kafka.properties] lines)
    let cases = [
        (
            "JaasPassXYZ",
            "sasl.jaas.config",
            r#""sasl.jaas.config" = "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"svc\" password=\"JaasPassXYZ\";""#.to_string(),
        ),
        (
            "PemBodyXYZ0123456789abcdef",
            "ssl.key.pem",
            "\"security.protocol\" = \"SSL\"\n\"ssl.key.pem\" = \"-----BEGIN PRIVATE KEY-----\\nPemBodyXYZ0123456789abcdef\\n-----END PRIVATE KEY-----\"".to_string(),
        ),
        (
            "SslKeyPassXYZ",
            "ssl.key.password",
            format!("\"security.protocol\" = \"SSL\"\n\"ssl.key.location\" = \"{d}/enc.key\"\n\"ssl.certificate.location\" = \"{d}/cert.pem\"\n\"ssl.key.password\" = \"SslKeyPassXYZ\""),
        ),
        (
            "KeystorePassXYZ",
            "ssl.keystore.password",
            format!("\"security.protocol\" = \"SSL\"\n\"ssl.keystore.location\" = \"{d}/ks.p12\"\n\"ssl.keystore.password\" = \"KeystorePassXYZ\""),
        ),
        (
            "OidcSecretXYZ",
            "sasl.oauthbearer.client.secret",
            format!(
                "\"security.protocol\" = \"SASL_PLAINTEXT\"\n\"sasl.mechanism\" = \"OAUTHBEARER\"\n\"sasl.oauthbearer.method\" = \"oidc\"\n\
                 \"sasl.oauthbearer.client.id\" = \"squint\"\n\"sasl.oauthbearer.client.secret\" = \"OidcSecretXYZ\"\n\
                 \"sasl.oauthbearer.token.endpoint.url\" = \"http://127.0.0.1:{closed}/token\""
            ),
        ),
    ];
    let camera = format!("[[cameras]]\nid = \"gate\"\nurl = \"rtsp://127.0.0.1:{closed}/x\"\n");
    for (secret, named, properties) in cases {
        let path = dir.path().join("secret.toml");
        let kafka = format!("[kafka]\nbrokers = \"127.0.0.1:{closed}\"\n[kafka.properties]\n{properties}\n");
        std::fs::write(&path, config(dir.path(), &kafka, &camera, "")).unwrap();
        let out = squint_run(&path, &["--duration", "1"])
            .env("SQUINT_LOG", "debug")
            .output()
            .unwrap();
        let output = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "{named}: start-up must fail\n{output}");
        let last = output.lines().last().unwrap_or("");
        assert!(last.contains(named), "the error names {named}: {last}");
        assert!(!output.contains(secret), "{named}'s value leaked:\n{output}");
    }
}

#[test]
fn camera_and_kafka_secrets_never_reach_logs_health_metrics_or_stats() {
    let dir = tempfile::tempdir().unwrap();
    make_gallery(dir.path());
    let closed = common::closed_port();
    let http = common::closed_port();
    // Passwords holding `/ # ? space "`, one in a query string, and Kafka secrets the
    // embedded broker ignores.
    let cameras = format!(
        "[[cameras]]\nid = \"door\"\nurl = 'rtsp://admin:Pa/ss#9?q z\"w@127.0.0.1:{closed}/x'\nbackoff_initial_ms = 100\nbackoff_max_ms = 200\n\
         [[cameras]]\nid = \"yard\"\nurl = \"rtsp://127.0.0.1:{closed}/y?channel=1&password=QueryPassXYZ\"\nbackoff_initial_ms = 100\nbackoff_max_ms = 200\n"
    );
    let kafka = "[kafka]\nbrokers = \"embedded\"\n[kafka.properties]\n\"sasl.password\" = \"SaslPassXYZ\"\n\
                 \"ssl.key.password\" = \"SslKeyPassXYZ\"\n\"ssl.keystore.password\" = \"KeystorePassXYZ\"\n";
    let path = dir.path().join("run.toml");
    let http_section = format!("[http]\naddress = \"127.0.0.1:{http}\"\n");
    std::fs::write(&path, config(dir.path(), kafka, &cameras, "") + &http_section).unwrap();
    let stats = dir.path().join("stats.json");
    let child = squint_run(&path, &["--duration", "8", "--stats-json", stats.to_str().unwrap()])
        .env("SQUINT_LOG", "debug")
        .env_remove("NO_COLOR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let address = format!("127.0.0.1:{http}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut health, mut metrics) = (String::new(), String::new());
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(300));
        if std::net::TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
            continue;
        }
        health = common::get(address, "/health").1;
        metrics = common::get(address, "/metrics").1;
        let errors = serde_json::from_str::<serde_json::Value>(&health)
            .map(|h| {
                h["cameras"]
                    .as_array()
                    .map_or(0, |c| c.iter().filter(|c| c["last_error"].is_string()).count())
            })
            .unwrap_or(0);
        if errors == 2 {
            break;
        }
    }
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    let stats = std::fs::read_to_string(&stats).unwrap_or_default();

    assert!(
        health.contains("last_error") && health.contains("127.0.0.1"),
        "each camera reports its error: {health}"
    );
    assert!(metrics.contains("squint_"), "{metrics}");
    assert!(stats.contains("door"), "stats written: {stats}");
    assert!(!log.contains('\u{1b}'), "no colour codes in a pipe");
    for (what, text) in [
        ("log", &log),
        ("/health", &health),
        ("/metrics", &metrics),
        ("stats", &stats),
    ] {
        for secret in [
            "Pa/ss",
            "ss#9",
            "q z",
            "QueryPassXYZ",
            "SaslPassXYZ",
            "SslKeyPassXYZ",
            "KeystorePassXYZ",
        ] {
            assert!(!text.contains(secret), "{secret} leaked into {what}:\n{text}");
        }
    }
}
