//! The metrics, the shipped alerting rules and the Grafana dashboard
//! (`packaging/prometheus/`), proven with the real thing: Debian's `prometheus` server scrapes
//! the agent's loopback listener and a real `prometheus-node-exporter` reading the agent's
//! textfile, while emulated validators lose the PAT and get it back; `promtool` lints the
//! agent's exposition and checks and unit-tests the rules.
//!
//! Needs prometheus, promtool and prometheus-node-exporter: `scripts/test` installs them
//! (Debian's packages, without starting their services).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::fake_chain::{ChainSpec, FakeChain};
use common::*;
use serde_json::{json, Value};

const PAT_ENV: (&str, &str) = ("GITTENSOR_MINER_PAT", PAT);
const RULES: &str = "packaging/prometheus/gittensor-miner-agent.rules.yml";
const RULES_TEST: &str = "packaging/prometheus/gittensor-miner-agent.rules.test.yml";
const DASHBOARD: &str = "packaging/prometheus/gittensor-miner-agent.grafana.json";
/// The scrape job the shipped "agent down" rule looks for.
const JOB: &str = "gittensor-miner-agent";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A tool this test cannot do without: missing means fail, never skip.
fn require(tool: &str) -> PathBuf {
    let out = Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().unwrap();
    assert!(
        out.status.success(),
        "{tool} is missing: run scripts/test (it installs Debian's prometheus and prometheus-node-exporter)"
    );
    PathBuf::from(text(&out.stdout).trim())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A server this test started; killed when the test ends, however it ends.
struct Server {
    child: Child,
    log: PathBuf,
}

impl Server {
    fn spawn(cmd: &mut Command, log: PathBuf) -> Server {
        let file = std::fs::File::create(&log).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        Server { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `promtool <args>` with `stdin`; its exit status and everything it printed.
fn promtool(args: &[&str], stdin: &str, dir: &Path) -> (bool, String) {
    let out = output_with_stdin(Command::new(require("promtool")).args(args).current_dir(dir), stdin);
    (out.status.success(), format!("{}{}", text(&out.stdout), text(&out.stderr)))
}

/// `promtool check metrics` must pass with nothing to say (no lint problem at all).
fn assert_lint_clean(exposition: &str, what: &str) {
    assert!(exposition.contains("gittensor_miner_agent_info{"), "{what} is not the agent's metrics:\n{exposition}");
    let (ok, said) = promtool(&["check", "metrics"], exposition, repo());
    assert!(ok && said.trim().is_empty(), "promtool check metrics on {what}:\n{said}\n---\n{exposition}");
}

/// Query text for a URL (reqwest is built here without its `query` feature).
fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

struct Prometheus {
    server: Server,
    url: String,
    http: reqwest::blocking::Client,
}

impl Prometheus {
    /// An instant query through the HTTP API: each series' labels and value.
    fn query(&self, promql: &str) -> Vec<(Value, f64)> {
        let url = format!("{}/api/v1/query?query={}", self.url, url_encode(promql));
        let body: Value = match self.http.get(&url).send().and_then(|r| r.json()) {
            Ok(body) => body,
            Err(_) => return Vec::new(), // not up yet
        };
        assert_eq!(body["status"], "success", "{promql}: {body}");
        body["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["metric"].clone(), s["value"][1].as_str().unwrap().parse().unwrap()))
            .collect()
    }

    /// The value of a query that yields one series, if it yields exactly one.
    fn value(&self, promql: &str) -> Option<f64> {
        match self.query(promql).as_slice() {
            [(_, v)] => Some(*v),
            _ => None,
        }
    }

    /// Waits until `promql` yields one series of value `want`, and says how long that took.
    fn wait_for(&self, promql: &str, want: f64, limit: Duration, context: &dyn Fn() -> String) -> Duration {
        let start = Instant::now();
        assert!(
            wait_until(limit, || self.value(promql) == Some(want)),
            "{promql} did not become {want} within {limit:?}; it is {:?}\n{}",
            self.query(promql),
            context()
        );
        start.elapsed()
    }

    /// The shipped alerts now pending or firing, by name.
    fn alerts(&self, state: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .query(&format!("ALERTS{{alertstate={state:?}}}"))
            .into_iter()
            .map(|(m, _)| m["alertname"].as_str().unwrap().to_owned())
            .collect();
        names.sort();
        names
    }

    /// Waits until the shipped alert `name` is (or, with `want` false, is no longer) in `state`.
    fn wait_for_alert(&self, name: &str, state: &str, want: bool, context: &dyn Fn() -> String) {
        assert!(
            wait_until(Duration::from_secs(10), || self.alerts(state).iter().any(|a| a == name) == want),
            "{name} {} {state}: {state} are {:?}\n{}",
            if want { "never" } else { "still" },
            self.alerts(state),
            context()
        );
    }
}

#[test]
fn the_shipped_rules_pass_promtool_and_their_unit_tests_and_the_dashboard_is_grafana_json() {
    let (ok, said) = promtool(&["check", "rules", RULES], "", repo());
    assert!(ok, "promtool check rules {RULES}:\n{said}");
    assert!(said.contains("SUCCESS: 9 rules found"), "{said}");
    let (ok, said) = promtool(&["test", "rules", RULES_TEST], "", repo());
    assert!(ok, "promtool test rules {RULES_TEST}:\n{said}");
    // Every alert is unit-tested, and every one tells the operator what to do.
    let rules = std::fs::read_to_string(repo().join(RULES)).unwrap();
    let tests = std::fs::read_to_string(repo().join(RULES_TEST)).unwrap();
    for line in rules.lines().filter_map(|l| l.trim().strip_prefix("- alert: ")) {
        assert!(tests.contains(&format!("alertname: {line}")), "{line} has no unit test in {RULES_TEST}");
    }
    assert_eq!(rules.matches("summary:").count(), 9);
    assert_eq!(rules.matches("description:").count(), 9);

    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(repo().join(DASHBOARD)).unwrap()).unwrap();
    assert_eq!(dashboard["uid"], "gittensor-miner-agent");
    let exprs = dashboard_exprs(&dashboard);
    assert!(exprs.len() >= 15, "{exprs:?}");
    for panel in dashboard["panels"].as_array().unwrap().iter().filter(|p| p["type"] != "row") {
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "panel {} picks its own data source", panel["title"]);
        assert!(panel["description"].as_str().is_some_and(|d| !d.is_empty()), "panel {} says nothing", panel["title"]);
    }
}

/// Every query of the dashboard, with Grafana's variables as "all agents" and a 1-minute
/// rate window.
fn dashboard_exprs(dashboard: &Value) -> Vec<String> {
    dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| {
            t["expr"]
                .as_str()
                .unwrap()
                .replace("$agent", ".*")
                .replace("$instance", ".*")
                .replace("$__rate_interval", "1m")
        })
        .collect()
}

#[test]
fn prometheus_scraping_the_agent_sees_coverage_drop_and_recover_and_the_shipped_alerts_follow() {
    let started = Instant::now();
    let (prometheus_bin, exporter_bin) = (require("prometheus"), require("prometheus-node-exporter"));
    require("promtool");

    let emu = Emulator::start(2);
    emu.preload(&[0, 1]);
    // A PAT that expires in 10 days: the expiry metric is there and the shipped rule sees it.
    let expiry = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(240)).strftime("%Y-%m-%d %H:%M:%S UTC");
    emu.control(
        json!({"op": "github_token", "token": PAT, "login": "octo-miner", "id": 4242, "expiry": expiry.to_string()}),
    );
    let chain = FakeChain::start(ChainSpec::new(74, emu.chain_neurons()));
    let dir = emu.dir.path();
    let textfiles = dir.join("textfile");
    std::fs::create_dir(&textfiles).unwrap();
    let (agent_port, exporter_port, prometheus_port) = (free_port(), free_port(), free_port());

    let config = emu.write_chain_config(
        &chain.url,
        &format!(
            "{FAST_DAEMON}[metrics]\ntextfile = {:?}\nlisten = \"127.0.0.1:{agent_port}\"\n",
            textfiles.join("gittensor-miner-agent.prom").display().to_string()
        ),
    );
    let mut daemon = Daemon::spawn(&config, &[PAT_ENV]);

    let exporter = Server::spawn(
        Command::new(exporter_bin).args([
            &format!("--web.listen-address=127.0.0.1:{exporter_port}"),
            "--collector.disable-defaults",
            "--collector.textfile",
            &format!("--collector.textfile.directory={}", textfiles.display()),
        ]),
        dir.join("node-exporter.log"),
    );

    // The operator's prometheus.yml: both ways of reading the agent, and the shipped rules.
    let prometheus_yml = dir.join("prometheus.yml");
    std::fs::write(
        &prometheus_yml,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             rule_files: [{:?}]\n\
             scrape_configs:\n  - job_name: {JOB}\n    static_configs: [{{targets: [\"127.0.0.1:{agent_port}\"]}}]\n\
             \x20 - job_name: node\n    static_configs: [{{targets: [\"127.0.0.1:{exporter_port}\"]}}]\n",
            repo().join(RULES).display().to_string()
        ),
    )
    .unwrap();
    let prometheus = Prometheus {
        server: Server::spawn(
            Command::new(prometheus_bin).current_dir(dir).args([
                &format!("--config.file={}", prometheus_yml.display()),
                &format!("--storage.tsdb.path={}", dir.join("tsdb").display()),
                &format!("--web.listen-address=127.0.0.1:{prometheus_port}"),
            ]),
            dir.join("prometheus.log"),
        ),
        url: format!("http://127.0.0.1:{prometheus_port}"),
        http: reqwest::blocking::Client::builder().timeout(Duration::from_secs(5)).build().unwrap(),
    };
    let agent_log = daemon.log.clone();
    let context = || {
        let agent = std::fs::read_to_string(&agent_log).unwrap_or_default();
        format!(
            "--- agent (the last 40 lines)\n{}\n--- prometheus\n{}\n--- node-exporter\n{}",
            agent.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n"),
            prometheus.server.log(),
            exporter.log()
        )
    };
    let covered = |job: &str| format!("gittensor_miner_agent_validators{{job={job:?},coverage=\"covered\"}}");
    let eligible = |job: &str| format!("gittensor_miner_agent_validators_eligible{{job={job:?}}}");

    // Both validators hold the PAT, seen both ways.
    let limit = Duration::from_secs(30);
    let first = prometheus.wait_for(&covered(JOB), 2.0, limit, &context);
    prometheus.wait_for(&covered("node"), 2.0, limit, &context);
    assert_eq!(prometheus.value(&eligible(JOB)), Some(2.0));
    assert_eq!(prometheus.value(&eligible("node")), Some(2.0));
    assert_eq!(prometheus.value(&format!("up{{job={JOB:?}}}")), Some(1.0));
    assert_eq!(prometheus.value("node_textfile_scrape_error"), Some(0.0), "{}", context());
    let scrape =
        || reqwest::blocking::get(format!("http://127.0.0.1:{agent_port}/metrics")).and_then(|r| r.text()).unwrap();
    assert_lint_clean(&scrape(), "the agent's /metrics");
    assert_lint_clean(
        &std::fs::read_to_string(textfiles.join("gittensor-miner-agent.prom")).unwrap(),
        "the agent's textfile",
    );
    // The expiry is on the way: 10 days left, which the shipped rule holds pending.
    let left = prometheus.value(&format!("gittensor_miner_agent_pat_expiry_timestamp_seconds{{job={JOB:?}}} - time()"));
    assert!(left.is_some_and(|s| (9.9 * 86400.0..=10.0 * 86400.0).contains(&s)), "{left:?}");
    prometheus.wait_for_alert("GittensorMinerAgentPatExpiringSoon", "pending", true, &context);
    assert!(prometheus.alerts("firing").is_empty(), "{:?}", prometheus.alerts("firing"));

    // Validator uid 2 goes down and comes back without its store: Prometheus sees coverage
    // drop to 1 of 2 and the (quiet) unreachable alert pending, never the coverage one, as
    // the validator never answered without the PAT while it was down; then coverage back to
    // 2 of 2 after a broadcast, and the alert gone.
    emu.control(json!({"op": "down", "uid": 1}));
    let drop_seen = prometheus.wait_for(&covered(JOB), 1.0, Duration::from_secs(20), &context);
    prometheus.wait_for(&covered("node"), 1.0, Duration::from_secs(20), &context);
    assert_eq!(prometheus.value(&eligible(JOB)), Some(2.0));
    prometheus.wait_for_alert("GittensorMinerAgentValidatorUnreachable", "pending", true, &context);
    assert!(
        !format!("{:?}{:?}", prometheus.alerts("pending"), prometheus.alerts("firing")).contains("CoverageLost"),
        "a validator merely down is not coverage lost: {:?}",
        prometheus.alerts("pending")
    );
    // The lost validator's own series say so too.
    prometheus.wait_for(
        &format!("gittensor_miner_agent_validator_covered{{job={JOB:?},uid=\"2\"}}"),
        0.0,
        limit,
        &context,
    );
    assert_lint_clean(&scrape(), "the agent's /metrics with a validator down");

    emu.control(json!({"op": "lose_store", "uid": 1}));
    emu.control(json!({"op": "up", "uid": 1}));
    let recovery_seen = prometheus.wait_for(&covered(JOB), 2.0, Duration::from_secs(20), &context);
    prometheus.wait_for(&covered("node"), 2.0, Duration::from_secs(20), &context);
    prometheus.wait_for_alert("GittensorMinerAgentValidatorUnreachable", "pending", false, &context);
    // The PAT was sent again (the store was lost), and Prometheus counted it.
    assert!(emu.counts("broadcasts")[1] >= 1, "{:?}", emu.counts("broadcasts"));
    let sent = prometheus
        .value(&format!("sum(gittensor_miner_agent_broadcasts_total{{job={JOB:?},uid=\"2\",outcome=\"accepted\"}})"));
    assert!(sent.is_some_and(|n| n >= 1.0), "{sent:?}");
    // The drop is in Prometheus' history, not only in the present.
    assert_eq!(prometheus.value(&format!("min_over_time({}[5m])", covered(JOB))), Some(1.0));
    assert_lint_clean(&scrape(), "the agent's /metrics after the repair");

    // Every query of the shipped dashboard runs and finds series.
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(repo().join(DASHBOARD)).unwrap()).unwrap();
    for expr in dashboard_exprs(&dashboard) {
        assert!(
            wait_until(Duration::from_secs(5), || !prometheus.query(&expr).is_empty()),
            "the dashboard's query {expr} finds nothing"
        );
    }
    assert!(prometheus.alerts("firing").is_empty(), "{:?}", prometheus.alerts("firing"));

    // The agent stops: the scrape fails and the shipped "down" rule goes pending; the
    // textfile stays (what the "not updating" rule watches, after 5 minutes).
    assert_eq!(daemon.stop(Duration::from_secs(5)), Some(0));
    prometheus.wait_for(&format!("up{{job={JOB:?}}}"), 0.0, Duration::from_secs(10), &context);
    prometheus.wait_for_alert("GittensorMinerAgentDown", "pending", true, &context);
    let age = prometheus.value("time() - gittensor_miner_agent_last_update_timestamp_seconds{job=\"node\"}");
    assert!(age.is_some_and(|s| s < 300.0), "{age:?}");

    eprintln!(
        "prometheus: coverage 2/2 seen {:.1} s after start, the drop {:.1} s after the validator went down, \
         2/2 again {:.1} s after it came back without its store; whole test {:.1} s",
        first.as_secs_f64(),
        drop_seen.as_secs_f64(),
        recovery_seen.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}
