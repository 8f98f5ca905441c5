//! Scaled out, for real: the wallet, the scratch-card service and two gateway replicas, each
//! a process of its own on a test host of its own (a network namespace on a bridge, made
//! here with `ip netns` and veth pairs), behind nginx as the L7 load balancer. Only the
//! namespaces' addresses and loopback are used, and every loop is bounded.
//!
//! It asserts that traffic reaches both replicas; that a deadline the client sets is honoured
//! across the hops (client → nginx → gateway → wallet), as a 504 when the wallet is slow;
//! that a breaker opened on one replica leaves the other's closed; and that killing a replica
//! mid-run fails no GET, nginx retrying on the other (`proxy_next_upstream`), counted.
//!
//! It needs root, iproute2 and nginx, and runs only with `RUNNER_SCALE_OUT=1`:
//! `bash scripts/scale_out.sh` (which `.ci/run` runs) installs them and sets it, and then a
//! missing piece fails the test. Without the variable (`cargo test --workspace`) it says so
//! and does nothing.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures::FutureExt;
use reqwest::StatusCode;
use serde_json::Value;

/// The longest any request here waits.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// How many times a service is asked whether it is up, 50 ms apart, before the test gives up.
const HEALTH_TRIES: usize = 200;

/// The gateways' policies: the built-in ones with a wallet breaker that stays open for
/// minutes once open, so that a loaded machine cannot see it close during the checks.
fn policies() -> String {
    runner_example::DEFAULT_POLICIES.replace(
        "[wallet.breaker]\nfailures = 5\nwindow = \"10s\"\ncooldown = \"5s\"",
        "[wallet.breaker]\nfailures = 5\nwindow = \"10s\"\ncooldown = \"5m\"",
    )
}

/// Runs a command to its end; its stderr is the error.
fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|error| format!("{program}: {error}"))?;
    match output.status.success() {
        true => Ok(()),
        false => Err(format!(
            "`{program} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        )),
    }
}

/// Why this machine cannot run the test, if it cannot.
fn missing() -> Option<String> {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.starts_with(b"0\n"));
    if !root {
        return Some("it must run as root (it makes network namespaces)".to_owned());
    }
    for (program, arg) in [("ip", "-V"), ("nginx", "-v")] {
        if Command::new(program).arg(arg).output().is_err() {
            return Some(format!("`{program}` is not installed"));
        }
    }
    None
}

/// The test hosts' names: the wallet, the scratch-card service, the two gateways.
const HOSTS: [&str; 4] = ["w", "s", "g1", "g2"];

/// One test host: a network namespace, its end of a veth pair on the bridge, an address.
struct Host {
    netns: String,
    addr: Ipv4Addr,
}

/// The test's network and processes; all torn down when dropped, whatever happened.
struct Lab {
    bridge: String,
    /// The namespaces made, and the veths' outer ends.
    hosts: Vec<String>,
    links: Vec<String>,
    children: Vec<(String, Child)>,
    dir: PathBuf,
}

impl Lab {
    fn new() -> Self {
        let id = std::process::id() % 100_000;
        let dir = std::env::temp_dir().join(format!("runner-scale-out-{id}"));
        let lab = Self {
            bridge: format!("rr{id}br"),
            hosts: HOSTS
                .iter()
                .map(|name| format!("rr{id}br-{name}"))
                .collect(),
            links: HOSTS
                .iter()
                .map(|name| format!("rr{id}br{name}o"))
                .collect(),
            children: Vec::new(),
            dir,
        };
        // What a run killed before its drop left under these names (its pid was this one's).
        lab.tear_down();
        fs::create_dir_all(lab.dir.join("nginx")).expect("a temp dir");
        lab
    }

    fn subnet(&self) -> [u8; 3] {
        let id = std::process::id() % 250;
        [10, 213, id as u8]
    }

    /// The bridge the hosts hang on, with an address in the root namespace so that the test
    /// and nginx reach them.
    fn bridge(&self) -> Result<(), String> {
        let [a, b, c] = self.subnet();
        run("ip", &["link", "add", &self.bridge, "type", "bridge"])?;
        run(
            "ip",
            &[
                "addr",
                "add",
                &format!("{a}.{b}.{c}.1/24"),
                "dev",
                &self.bridge,
            ],
        )?;
        run("ip", &["link", "set", &self.bridge, "up"])
    }

    /// A host `name` at `.n` on the bridge.
    fn host(&mut self, name: &str, n: u8) -> Result<Host, String> {
        let [a, b, c] = self.subnet();
        let netns = format!("{}-{name}", self.bridge);
        let (outer, inner) = (
            format!("{}{name}o", self.bridge),
            format!("{}{name}i", self.bridge),
        );
        run("ip", &["netns", "add", &netns])?;
        run(
            "ip",
            &[
                "link", "add", &outer, "type", "veth", "peer", "name", &inner,
            ],
        )?;
        run("ip", &["link", "set", &inner, "netns", &netns])?;
        run("ip", &["link", "set", &outer, "master", &self.bridge, "up"])?;
        let addr = Ipv4Addr::new(a, b, c, n);
        let inside = |args: &[&str]| {
            let mut all = vec!["netns", "exec", &netns, "ip"];
            all.extend_from_slice(args);
            run("ip", &all)
        };
        inside(&["addr", "add", &format!("{addr}/24"), "dev", &inner])?;
        inside(&["link", "set", &inner, "up"])?;
        inside(&["link", "set", "lo", "up"])?;
        Ok(Host { netns, addr })
    }

    /// `runner-example` with `args`, in `host`'s namespace; its output in a file of its own.
    fn start(&mut self, name: &str, host: &Host, args: &[String]) -> Result<(), String> {
        let log =
            fs::File::create(self.dir.join(format!("{name}.log"))).map_err(|e| e.to_string())?;
        let err = log.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &host.netns,
                env!("CARGO_BIN_EXE_runner-example"),
            ])
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(|error| format!("{name}: {error}"))?;
        self.children.push((name.to_owned(), child));
        Ok(())
    }

    /// nginx in front of `upstreams`, on a free loopback port, logging which replicas each
    /// request went to.
    fn nginx(&mut self, upstreams: &[SocketAddr]) -> Result<SocketAddr, String> {
        let listen = free_loopback_port();
        let dir = self.dir.join("nginx");
        let servers: String = upstreams
            .iter()
            .map(|addr| format!("    server {addr} max_fails=1 fail_timeout=60s;\n"))
            .collect();
        let conf = format!(
            r#"worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 256; }}
http {{
  log_format upstreams '$status "$upstream_addr" "$upstream_status"';
  access_log {dir}/access.log upstreams;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  upstream gateways {{
{servers}  }}
  server {{
    listen {listen};
    location / {{
      proxy_pass http://gateways;
      # An idempotent GET that finds a replica gone is sent to the other.
      proxy_next_upstream error timeout;
      proxy_connect_timeout 1s;
      proxy_read_timeout 5s;
    }}
  }}
}}
"#,
            dir = dir.display(),
        );
        let path = dir.join("nginx.conf");
        fs::write(&path, conf).map_err(|e| e.to_string())?;
        let log = fs::File::create(self.dir.join("nginx.log")).map_err(|e| e.to_string())?;
        let err = log.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new("nginx")
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&path)
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(|error| format!("nginx: {error}"))?;
        self.children.push(("nginx".to_owned(), child));
        Ok(listen)
    }

    /// Kills the process started as `name`, as a crash would.
    fn kill(&mut self, name: &str) {
        if let Some((_, child)) = self.children.iter_mut().find(|(n, _)| n == name) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// nginx's access log: per request, its status and the replicas it was sent to.
    fn access_log(&self) -> Vec<(u16, Vec<String>)> {
        let text = fs::read_to_string(self.dir.join("nginx/access.log")).unwrap_or_default();
        text.lines()
            .filter_map(|line| {
                let (status, rest) = line.split_once(' ')?;
                let upstreams = rest.split('"').nth(1)?;
                let tried = upstreams.split(", ").map(str::to_owned).collect();
                Some((status.parse().ok()?, tried))
            })
            .collect()
    }

    /// Every log, for a failure's message.
    fn logs(&self) -> String {
        let mut all = String::new();
        for entry in fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|ext| ext == "log") {
                let text = fs::read_to_string(&path).unwrap_or_default();
                all.push_str(&format!("--- {}\n{}\n", path.display(), tail(&text)));
            }
        }
        all
    }
}

impl Lab {
    /// Stops the processes, deletes the links, the namespaces, the bridge and the files:
    /// whichever of them exist.
    fn tear_down(&self) {
        // A veth goes with either end: deleting the outer one does not wait for the
        // namespace to be freed.
        for link in &self.links {
            let _ = run("ip", &["link", "del", link]);
        }
        for netns in &self.hosts {
            let _ = run("ip", &["netns", "del", netns]);
        }
        let _ = run("ip", &["link", "del", &self.bridge]);
        let _ = fs::remove_dir_all(&self.dir);
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for (name, child) in &mut self.children {
            // nginx's master stops its workers on SIGTERM; killed, it would leave them
            // running.
            if name == "nginx" {
                let _ = run("kill", &["-TERM", &child.id().to_string()]);
            } else {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
        self.tear_down();
    }
}

fn tail(text: &str) -> &str {
    let start = text.len().saturating_sub(4_000);
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    &text[start..]
}

fn free_loopback_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address")
}

/// Waits, a bounded number of times, for `url` to answer 200.
async fn up(http: &reqwest::Client, url: &str) -> Result<(), String> {
    for _ in 0..HEALTH_TRIES {
        if let Ok(response) = http.get(url).send().await
            && response.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!("{url} never came up"))
}

/// A GET's status and JSON body.
async fn get(http: &reqwest::Client, url: &str, deadline_ms: Option<u64>) -> (StatusCode, Value) {
    let mut request = http.get(url);
    if let Some(ms) = deadline_ms {
        request = request.header("x-request-deadline-ms", ms);
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|error| panic!("GET {url}: {error}"));
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// A counter's value in a `/metrics` text, 0 if it has no such series.
fn counter(metrics: &str, series: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
        .unwrap_or(0)
}

async fn put_faults(http: &reqwest::Client, service: SocketAddr, faults: Value) {
    let response = http
        .put(format!("http://{service}/admin/faults"))
        .json(&faults)
        .send()
        .await
        .expect("PUT /admin/faults");
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_behind_nginx_share_the_load_and_keep_their_own_breakers() {
    if std::env::var_os("RUNNER_SCALE_OUT").is_none() {
        eprintln!("skipped: it makes network namespaces; `bash scripts/scale_out.sh` runs it");
        return;
    }
    if let Some(why) = missing() {
        panic!("RUNNER_SCALE_OUT is set, but {why}");
    }
    let mut lab = Lab::new();
    // A failed check panics inside: catch it to show every process's log first.
    let result = AssertUnwindSafe(scale_out(&mut lab)).catch_unwind().await;
    match result {
        Ok(Ok(())) => {}
        Ok(Err(error)) => panic!("{error}\n{}", lab.logs()),
        Err(panic) => {
            eprintln!("{}", lab.logs());
            std::panic::resume_unwind(panic);
        }
    }
}

async fn scale_out(lab: &mut Lab) -> Result<(), String> {
    lab.bridge()?;
    let wallet = lab.host("w", 2)?;
    let scratch = lab.host("s", 3)?;
    let gateways = [lab.host("g1", 4)?, lab.host("g2", 5)?];
    let (wallet_at, scratch_at) = (
        SocketAddr::from((wallet.addr, 8081)),
        SocketAddr::from((scratch.addr, 8082)),
    );
    let upstream = Upstream {
        wallet: wallet_at,
        scratch: scratch_at,
        policies: lab.dir.join("policies.toml"),
    };
    fs::write(&upstream.policies, policies()).map_err(|e| e.to_string())?;
    let arg = |text: &str| text.to_owned();
    lab.start(
        "wallet",
        &wallet,
        &[
            arg("--role=wallet"),
            format!("--wallet-listen={wallet_at}"),
            arg("--db=:memory:"),
        ],
    )?;
    lab.start(
        "scratch",
        &scratch,
        &[
            arg("--role=scratch"),
            format!("--scratch-listen={scratch_at}"),
        ],
    )?;
    let mut replicas = Vec::new();
    for (n, host) in gateways.iter().enumerate() {
        start_gateway(lab, n + 1, host, &upstream)?;
        replicas.push(SocketAddr::from((host.addr, 8080)));
    }
    let lb = lab.nginx(&replicas)?;
    let http = reqwest::Client::builder()
        .timeout(CLIENT_TIMEOUT)
        .build()
        .map_err(|e| e.to_string())?;
    for service in [wallet_at, scratch_at, replicas[0], replicas[1], lb] {
        up(&http, &format!("http://{service}/healthz")).await?;
    }
    let page = |user_id: u64| format!("http://{lb}/get_balance?user_id={user_id}");
    let metrics = |replica: SocketAddr| {
        let http = http.clone();
        async move {
            let response = http.get(format!("http://{replica}/metrics")).send().await;
            response
                .expect("/metrics")
                .text()
                .await
                .expect("metrics text")
        }
    };

    // 1. Traffic reaches both replicas.
    for user_id in 1..=20 {
        let (status, body) = get(&http, &page(user_id), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["user_id"], user_id);
    }
    let served = |series: &str| format!("gateway_http_requests_total{{{series}}}");
    let pages = served(r#"route="/get_balance",method="GET",status="200""#);
    let per_replica = [
        counter(&metrics(replicas[0]).await, &pages),
        counter(&metrics(replicas[1]).await, &pages),
    ];
    println!("pages answered by each replica: {per_replica:?}");
    assert!(per_replica.iter().all(|&n| n > 0), "{per_replica:?}");
    assert_eq!(per_replica.iter().sum::<u64>(), 20);

    // 2. The client's deadline crosses every hop: with the wallet slow, the page is a 504,
    //    and the wallet was told what was left of the client's 100 ms, not the 200 ms of the
    //    gateway's own wallet timeout.
    let wallet_stats = || {
        let http = http.clone();
        async move {
            let response = http
                .get(format!("http://{wallet_at}/admin/stats"))
                .send()
                .await;
            response
                .expect("/admin/stats")
                .json::<Value>()
                .await
                .expect("stats")
        }
    };
    let asked = wallet_stats().await["with_deadline"].as_u64().unwrap_or(0);
    put_faults(&http, wallet_at, serde_json::json!({ "latency_ms": 2_000 })).await;
    let asked_at = std::time::Instant::now();
    let (status, body) = get(&http, &page(7), Some(100)).await;
    let took = asked_at.elapsed();
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert_eq!(body["error"], "upstream_timeout", "{body}");
    println!("the 504 came {took:?} after the client asked, with a budget of 100 ms");
    // In time: at the client's deadline, not once the wallet's 2 s were over. Half of them
    // is the bound, so that a busy machine's scheduling cannot fail it, and waiting for the
    // wallet still would.
    assert!(took < Duration::from_millis(1_000), "{took:?}");
    let stats = wallet_stats().await;
    // That page's one request reached the wallet, carrying what was left of the 100 ms.
    assert_eq!(stats["with_deadline"].as_u64(), Some(asked + 1), "{stats}");
    let told = stats["last_deadline_ms"]
        .as_u64()
        .expect("a budget reached the wallet");
    println!("the wallet was given {told} ms of the client's 100 ms");
    assert!((1..=100).contains(&told), "{stats}");
    put_faults(&http, wallet_at, serde_json::json!({})).await;

    // 3. A breaker opened on one replica is that replica's alone.
    put_faults(&http, wallet_at, serde_json::json!({ "error_rate": 1.0 })).await;
    let direct = |replica: SocketAddr| format!("http://{replica}/get_balance?user_id=7");
    let mut opened = false;
    for _ in 0..20 {
        let (status, body) = get(&http, &direct(replicas[0]), None).await;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(body["error"], "upstream_unavailable", "{body}");
            opened = true;
            break;
        }
    }
    assert!(opened, "replica 1's wallet breaker never opened");
    put_faults(&http, wallet_at, serde_json::json!({})).await;
    let (status, body) = get(&http, &direct(replicas[1]), None).await;
    assert_eq!(status, StatusCode::OK, "replica 2 refused: {body}");
    let (status, _) = get(&http, &direct(replicas[0]), None).await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "replica 1's breaker closed"
    );
    let open = r#"gateway_policy_breaker_transitions_total{task="get_balance",state="open"}"#;
    assert_eq!(counter(&metrics(replicas[0]).await, open), 1);
    assert_eq!(counter(&metrics(replicas[1]).await, open), 0);

    // 4. A replica killed mid-run fails no GET: nginx sends each request that finds it gone
    //    to the other, and marks it down. Replica 1 first starts again with a fresh breaker
    //    (nginx opens a connection per request, so it meets the new process as it did the
    //    old one).
    lab.kill("gateway1");
    start_gateway(lab, 1, &gateways[0], &upstream)?;
    up(&http, &format!("http://{}/healthz", replicas[0])).await?;
    let before = lab.access_log().len();
    const REQUESTS: u64 = 60;
    for n in 0..REQUESTS {
        if n == REQUESTS / 3 {
            lab.kill("gateway2");
        }
        let (status, body) = get(&http, &page(1 + n % 20), None).await;
        assert_eq!(status, StatusCode::OK, "request {n}: {body}");
    }
    let log = lab.access_log();
    let run = &log[before..];
    let retried = run.iter().filter(|(_, tried)| tried.len() > 1).count();
    let failed = run.iter().filter(|(status, _)| *status != 200).count();
    println!(
        "{} requests through nginx as replica 2 was killed: {failed} failed, {retried} retried on replica 1",
        run.len()
    );
    assert_eq!(run.len() as u64, REQUESTS);
    assert_eq!(failed, 0);
    assert!(retried >= 1, "no request found replica 2 gone: {run:?}");
    Ok(())
}

/// Where a gateway replica finds the services, and its policies.
struct Upstream {
    wallet: SocketAddr,
    scratch: SocketAddr,
    policies: PathBuf,
}

/// Starts gateway replica `n` on `host`, port 8080.
fn start_gateway(lab: &mut Lab, n: usize, host: &Host, upstream: &Upstream) -> Result<(), String> {
    let name = format!("gateway{n}");
    lab.children.retain(|(started, _)| *started != name);
    lab.start(
        &name,
        host,
        &[
            "--role=gateway".to_owned(),
            format!("--listen={}", SocketAddr::from((host.addr, 8080))),
            format!("--wallet-url=http://{}", upstream.wallet),
            format!("--scratch-url=http://{}", upstream.scratch),
            format!("--policies={}", upstream.policies.display()),
        ],
    )
}
