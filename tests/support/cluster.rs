//! A real Kubernetes control plane for integration tests: its own etcd and
//! kube-apiserver on free loopback ports, certificates made with the `openssl`
//! CLI, readiness checked with `curl`. Optionally (`start_with_nodes`) also
//! kube-controller-manager, kube-scheduler and kwok (fake kubelets), so that
//! Deployments/StatefulSets get pods that turn Ready.
//!
//! The binaries come from `tests/cluster/build.sh` (built from Go modules and
//! cached); they are looked up in `$FLUIDFORM_K8S_BIN`, else in
//! `~/.cache/fluidform/k8s/<tests/cluster/VERSION>/bin`.
//!
//! Every `start` makes a new cluster (own etcd, own temp dir). Dropping the
//! `TestCluster` SIGKILLs exactly the processes it started and removes its temp
//! dir (set `FLUIDFORM_KEEP_CLUSTER_DIR=1` to keep it for its logs). The
//! processes are also spawned with a parent-death signal, so they die with the
//! test binary even when `Drop` never runs (a `static` cluster, a killed test).
//!
//! Needs only `anyhow`, `tokio` and `tempfile` (plus `openssl` and `curl` on
//! the PATH, both in the machine image).
#![allow(dead_code)]

use std::fs::{self, File};
use std::io::Read;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

/// The Kubernetes release that `tests/cluster/build.sh` builds (one file, read by both).
pub const K8S_VERSION: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cluster/VERSION"));

const READY_TIMEOUT: Duration = Duration::from_secs(90);
const SERVICE_CIDR: &str = "10.0.0.0/24";

pub struct TestCluster {
    /// `https://127.0.0.1:<port>`
    pub server: String,
    pub ca_pem: String,
    /// Admin client certificate (`CN=admin, O=system:masters`).
    pub client_cert_pem: String,
    pub client_key_pem: String,
    /// Admin kubeconfig YAML with embedded base64 data (certificate auth).
    pub kubeconfig: String,
    /// The same kubeconfig, written to a file in the cluster's temp dir.
    pub kubeconfig_path: PathBuf,
    /// Bearer token of user `admin` in group `system:masters`.
    pub admin_token: String,
    /// Bearer token of user `limited`, in no group (only `system:authenticated`),
    /// with no RBAC grants unless a test makes some.
    pub limited_token: String,
    /// The cluster's temp dir: certs, etcd data, `*.log` of each process.
    pub dir: PathBuf,
    /// Where the binaries were found.
    pub bin_dir: PathBuf,
    /// Names of the fake (kwok) nodes, empty unless `start_with_nodes`.
    pub nodes: Vec<String>,

    apiserver_port: u16,
    etcd_client_port: u16,
    etcd_peer_port: u16,
    etcd: Option<Child>,
    apiserver: Option<Child>,
    /// kube-controller-manager, kube-scheduler, kwok (when started).
    others: Vec<(String, Child)>,
    tempdir: Option<tempfile::TempDir>,
}

impl TestCluster {
    /// etcd + kube-apiserver, ready (`/readyz` is 200) when this returns.
    pub async fn start() -> Result<TestCluster> {
        let bin_dir = find_bin_dir(&["etcd", "kube-apiserver"])?;
        // A port picked free can be taken by someone else before etcd or
        // kube-apiserver binds it: then start over with new ports.
        let mut attempt = 1;
        loop {
            match Self::start_once(bin_dir.clone()).await {
                Err(e) if attempt < 3 && format!("{e:#}").contains("address already in use") => {
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn start_once(bin_dir: PathBuf) -> Result<TestCluster> {
        let tempdir =
            tempfile::Builder::new().prefix("fluidform-cluster-").tempdir().context("creating the cluster temp dir")?;
        let dir = tempdir.path().to_path_buf();

        let pki = make_pki(&dir).await?;
        let admin_token = random_token()?;
        let limited_token = random_token()?;
        fs::write(
            dir.join("tokens.csv"),
            format!("{admin_token},admin,uid-admin,\"system:masters\"\n{limited_token},limited,uid-limited\n"),
        )?;

        let etcd_client_port = free_port()?;
        let etcd_peer_port = free_port()?;
        let apiserver_port = free_port()?;
        let server = format!("https://127.0.0.1:{apiserver_port}");
        let kubeconfig = kubeconfig_yaml(&server, &pki.ca, Auth::Cert(&pki.client_cert, &pki.client_key));
        let kubeconfig_path = dir.join("kubeconfig");
        fs::write(&kubeconfig_path, &kubeconfig)?;

        let mut cluster = TestCluster {
            server,
            ca_pem: pki.ca,
            client_cert_pem: pki.client_cert,
            client_key_pem: pki.client_key,
            kubeconfig,
            kubeconfig_path,
            admin_token,
            limited_token,
            dir,
            bin_dir,
            nodes: Vec::new(),
            apiserver_port,
            etcd_client_port,
            etcd_peer_port,
            etcd: None,
            apiserver: None,
            others: Vec::new(),
            tempdir: Some(tempdir),
        };
        cluster.start_etcd()?;
        cluster.start_apiserver_process()?;
        cluster.wait_ready().await?;
        Ok(cluster)
    }

    /// `start()`, plus kube-controller-manager, kube-scheduler and kwok with
    /// `nodes` fake nodes (`kwok-node-0`, ...) that are Ready and run any pod
    /// that needs no toleration and no volume provisioner: its pods turn
    /// Running/Ready a moment after they are scheduled.
    pub async fn start_with_nodes(nodes: usize) -> Result<TestCluster> {
        find_bin_dir(&["kube-controller-manager", "kube-scheduler", "kwok"])?;
        let mut cluster = Self::start().await?;
        cluster.start_controllers()?;
        for i in 0..nodes {
            let name = format!("kwok-node-{i}");
            cluster.create_node(&name).await?;
            cluster.nodes.push(name);
        }
        cluster.wait_nodes_ready().await?;
        Ok(cluster)
    }

    /// SIGKILL kube-apiserver (etcd keeps the data); requests now fail.
    pub fn stop_apiserver(&mut self) {
        if let Some(child) = self.apiserver.take() {
            kill(child);
        }
    }

    /// Start kube-apiserver again (same port, certs and etcd) and wait for `/readyz`.
    pub async fn restart_apiserver(&mut self) -> Result<()> {
        self.stop_apiserver();
        self.start_apiserver_process()?;
        self.wait_ready().await
    }

    /// A kubeconfig YAML for this cluster that authenticates with a bearer token
    /// (e.g. `self.limited_token`).
    pub fn token_kubeconfig(&self, token: &str) -> String {
        kubeconfig_yaml(&self.server, &self.ca_pem, Auth::Token(token))
    }

    /// The last `lines` lines of a process's log (`etcd`, `kube-apiserver`,
    /// `kube-controller-manager`, `kube-scheduler`, `kwok`).
    pub fn log_tail(&self, process: &str, lines: usize) -> String {
        tail(&self.dir.join(format!("{process}.log")), lines)
    }

    fn bin(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }

    fn start_etcd(&mut self) -> Result<()> {
        let client = format!("http://127.0.0.1:{}", self.etcd_client_port);
        let peer = format!("http://127.0.0.1:{}", self.etcd_peer_port);
        let mut cmd = Command::new(self.bin("etcd"));
        cmd.arg("--name=default")
            .arg(format!("--data-dir={}", self.dir.join("etcd").display()))
            .arg(format!("--listen-client-urls={client}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=default={peer}"))
            .arg("--unsafe-no-fsync")
            .arg("--log-level=warn");
        self.etcd = Some(spawn_logged(cmd, &self.dir, "etcd")?);
        Ok(())
    }

    fn start_apiserver_process(&mut self) -> Result<()> {
        let d = &self.dir;
        let p = |f: &str| d.join(f).display().to_string();
        let mut cmd = Command::new(self.bin("kube-apiserver"));
        cmd.arg(format!("--etcd-servers=http://127.0.0.1:{}", self.etcd_client_port))
            .arg("--bind-address=127.0.0.1")
            .arg("--advertise-address=127.0.0.1")
            .arg(format!("--secure-port={}", self.apiserver_port))
            .arg(format!("--cert-dir={}", p("apiserver-certs")))
            .arg(format!("--tls-cert-file={}", p("serving.crt")))
            .arg(format!("--tls-private-key-file={}", p("serving.key")))
            .arg(format!("--client-ca-file={}", p("ca.crt")))
            .arg(format!("--token-auth-file={}", p("tokens.csv")))
            .arg(format!("--service-account-issuer=https://127.0.0.1:{}", self.apiserver_port))
            .arg(format!("--service-account-key-file={}", p("sa.pub")))
            .arg(format!("--service-account-signing-key-file={}", p("sa.key")))
            .arg(format!("--service-cluster-ip-range={SERVICE_CIDR}"))
            .arg("--authorization-mode=RBAC")
            .arg("--disable-admission-plugins=ServiceAccount")
            .arg("--allow-privileged=true")
            .arg("--endpoint-reconciler-type=none")
            .arg("--profiling=false");
        self.apiserver = Some(spawn_logged(cmd, &self.dir, "kube-apiserver")?);
        Ok(())
    }

    /// Poll `/readyz` with the admin cert until 200, failing early if etcd or
    /// kube-apiserver exits, and with their log tails on timeout.
    async fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let mut exited = None;
            for (name, child) in [("etcd", &mut self.etcd), ("kube-apiserver", &mut self.apiserver)] {
                if let Some(status) = child.as_mut().map(Child::try_wait).transpose()?.flatten() {
                    *child = None;
                    exited = Some(format!("{name} exited ({status})"));
                }
            }
            if let Some(what) = exited {
                bail!("{what} before the API server was ready\n{}", self.diagnostics());
            }
            let last = match self.curl(&["/readyz"]).await {
                Ok((200, _)) => return Ok(()),
                Ok((code, body)) => format!("HTTP {code}: {}", body.trim()),
                Err(e) => e.to_string(),
            };
            if Instant::now() > deadline {
                bail!(
                    "kube-apiserver at {} not ready after {:?} (last /readyz: {last})\n{}",
                    self.server,
                    READY_TIMEOUT,
                    self.diagnostics()
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// An admin request with curl; returns (status, body). Extra args follow the path
    /// (e.g. `-X POST -H ... --data-binary @file`).
    async fn curl(&self, args: &[&str]) -> Result<(u16, String)> {
        let (path, rest) = args.split_first().expect("a path");
        let out = tokio::process::Command::new("curl")
            .args(["--silent", "--show-error", "--max-time", "10"])
            .arg("--cacert")
            .arg(self.dir.join("ca.crt"))
            .arg("--cert")
            .arg(self.dir.join("admin.crt"))
            .arg("--key")
            .arg(self.dir.join("admin.key"))
            .args(["--write-out", "\n%{http_code}"])
            .args(rest)
            .arg(format!("{}{}", self.server, path))
            .stdin(Stdio::null())
            .output()
            .await
            .context("running curl (is it installed?)")?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            bail!("curl: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        let (body, code) = stdout.rsplit_once('\n').unwrap_or(("", stdout.as_str()));
        Ok((code.trim().parse().unwrap_or(0), body.to_string()))
    }

    fn start_controllers(&mut self) -> Result<()> {
        let d = self.dir.clone();
        let p = |f: &str| d.join(f).display().to_string();
        let kubeconfig = p("kubeconfig");

        let mut kcm = Command::new(self.bin("kube-controller-manager"));
        kcm.arg(format!("--kubeconfig={kubeconfig}"))
            .arg("--leader-elect=false")
            .arg("--bind-address=127.0.0.1")
            .arg("--secure-port=0")
            .arg(format!("--service-account-private-key-file={}", p("sa.key")))
            .arg(format!("--root-ca-file={}", p("ca.crt")))
            .arg(format!("--service-cluster-ip-range={SERVICE_CIDR}"))
            .arg("--use-service-account-credentials=false")
            .arg("--controllers=*");
        let child = spawn_logged(kcm, &self.dir, "kube-controller-manager")?;
        self.others.push(("kube-controller-manager".into(), child));

        let mut sched = Command::new(self.bin("kube-scheduler"));
        sched
            .arg(format!("--kubeconfig={kubeconfig}"))
            .arg(format!("--authentication-kubeconfig={kubeconfig}"))
            .arg(format!("--authorization-kubeconfig={kubeconfig}"))
            .arg("--leader-elect=false")
            .arg("--bind-address=127.0.0.1")
            .arg("--secure-port=0");
        let child = spawn_logged(sched, &self.dir, "kube-scheduler")?;
        self.others.push(("kube-scheduler".into(), child));

        let stages = self.bin_dir.join("kwok-stages");
        let mut configs: Vec<PathBuf> = fs::read_dir(&stages)
            .with_context(|| format!("reading {} (run tests/cluster/build.sh)", stages.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .collect();
        configs.sort();
        if configs.is_empty() {
            bail!("no kwok stage configs in {} (run tests/cluster/build.sh)", stages.display());
        }
        let kwok_port = free_port()?;
        let mut kwok = Command::new(self.bin("kwok"));
        kwok.arg(format!("--kubeconfig={kubeconfig}"))
            .arg("--manage-all-nodes=false")
            .arg("--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake")
            .arg("--node-ip=127.0.0.1")
            .arg("--cidr=10.244.0.0/16")
            .arg("--node-lease-duration-seconds=40")
            .arg(format!("--server-address=127.0.0.1:{kwok_port}"));
        for c in &configs {
            kwok.arg(format!("--config={}", c.display()));
        }
        // kwok reads ~/.kwok/kwok.yaml unless told otherwise: keep it out of $HOME.
        kwok.env("KWOK_WORKDIR", self.dir.join("kwok-home"));
        let child = spawn_logged(kwok, &self.dir, "kwok")?;
        self.others.push(("kwok".into(), child));
        Ok(())
    }

    async fn create_node(&self, name: &str) -> Result<()> {
        let node = format!(
            r#"{{"apiVersion":"v1","kind":"Node","metadata":{{"name":"{name}",
"annotations":{{"kwok.x-k8s.io/node":"fake","node.alpha.kubernetes.io/ttl":"0"}},
"labels":{{"kubernetes.io/hostname":"{name}","kubernetes.io/os":"linux","kubernetes.io/arch":"amd64","type":"kwok"}}}},
"spec":{{}},
"status":{{"allocatable":{{"cpu":"32","memory":"256Gi","pods":"110"}},
"capacity":{{"cpu":"32","memory":"256Gi","pods":"110"}}}}}}"#
        );
        let (code, body) = self
            .curl(&["/api/v1/nodes", "-X", "POST", "-H", "Content-Type: application/json", "--data-binary", &node])
            .await?;
        if code != 201 {
            bail!("creating node {name}: HTTP {code}: {body}");
        }
        Ok(())
    }

    async fn wait_nodes_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            self.check_others()?;
            let mut pending = Vec::new();
            for n in &self.nodes {
                let (code, body) = self.curl(&[&format!("/api/v1/nodes/{n}")]).await?;
                if code != 200 || !node_ready(&body) {
                    pending.push(n.clone());
                }
            }
            if pending.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("nodes {pending:?} not Ready after {READY_TIMEOUT:?}\n{}", self.diagnostics());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    fn check_others(&mut self) -> Result<()> {
        let mut exited = None;
        for (name, child) in &mut self.others {
            if let Some(status) = child.try_wait()? {
                exited = Some(format!("{name} exited ({status})"));
            }
        }
        match exited {
            Some(what) => bail!("{what}\n{}", self.diagnostics()),
            None => Ok(()),
        }
    }

    fn diagnostics(&self) -> String {
        let mut s = String::new();
        let mut names = vec!["etcd".to_string(), "kube-apiserver".to_string()];
        names.extend(self.others.iter().map(|(n, _)| n.clone()));
        for name in names {
            s += &format!("--- last lines of {name}.log ---\n{}\n", self.log_tail(&name, 30));
        }
        s
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        for (_, child) in self.others.drain(..).rev() {
            kill(child);
        }
        if let Some(child) = self.apiserver.take() {
            kill(child);
        }
        if let Some(child) = self.etcd.take() {
            kill(child);
        }
        // Dropping the TempDir removes it, unless asked to keep it for its logs.
        if let Some(t) = self.tempdir.take()
            && std::env::var_os("FLUIDFORM_KEEP_CLUSTER_DIR").is_some()
        {
            eprintln!("keeping test cluster dir {}", t.keep().display());
        }
    }
}

pub fn kill(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// `$FLUIDFORM_K8S_BIN`, else `~/.cache/fluidform/k8s/<VERSION>/bin`; every name must be there.
pub fn find_bin_dir(names: &[&str]) -> Result<PathBuf> {
    let dir = match std::env::var_os("FLUIDFORM_K8S_BIN") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => {
            let home = std::env::var_os("HOME").ok_or_else(|| anyhow!("HOME is not set"))?;
            PathBuf::from(home).join(".cache/fluidform/k8s").join(K8S_VERSION.trim()).join("bin")
        }
    };
    let missing: Vec<&str> = names.iter().copied().filter(|n| !dir.join(n).is_file()).collect();
    if !missing.is_empty() {
        bail!(
            "Kubernetes test binaries {missing:?} not found in {}: run tests/cluster/build.sh \
             (builds {} from Go modules into that dir, 10-25 min the first time), \
             or set FLUIDFORM_K8S_BIN to a dir that has them",
            dir.display(),
            K8S_VERSION.trim()
        );
    }
    Ok(dir)
}

/// A loopback port that was free a moment ago (bind port 0, read it, release it).
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub fn random_token() -> Result<String> {
    let mut b = [0u8; 24];
    File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Spawn with stdout+stderr to `<dir>/<name>.log`, stdin closed, and a
/// parent-death SIGKILL so the process never outlives the test binary.
pub fn spawn_logged(mut cmd: Command, dir: &Path, name: &str) -> Result<Child> {
    let log = File::options().create(true).append(true).open(dir.join(format!("{name}.log")))?;
    cmd.stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
    let program = cmd.get_program().to_owned();
    spawn_guarded(cmd).with_context(|| format!("starting {}", program.to_string_lossy()))
}

unsafe extern "C" {
    fn prctl(option: i32, ...) -> i32;
    fn getppid() -> i32;
}

/// PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, so
/// all children are forked from one thread that lives as long as the process
/// (a test's own thread ends with the test, even when a cluster is shared).
fn spawn_guarded(mut cmd: Command) -> std::io::Result<Child> {
    type Job = (Command, mpsc::Sender<std::io::Result<Child>>);
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    let tx = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("test-cluster-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("spawning the test-cluster spawner thread");
        Mutex::new(tx)
    });
    let parent = std::process::id() as i32;
    // SAFETY: prctl and getppid are async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            const PR_SET_PDEATHSIG: i32 = 1;
            const SIGKILL: u64 = 9;
            if prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if getppid() != parent {
                // The test binary died between fork and prctl.
                return Err(std::io::Error::other("parent exited"));
            }
            Ok(())
        });
    }
    let (reply_tx, reply_rx) = mpsc::channel();
    tx.lock()
        .unwrap_or_else(|e| e.into_inner())
        .send((cmd, reply_tx))
        .map_err(|_| std::io::Error::other("test-cluster spawner thread is gone"))?;
    reply_rx.recv().map_err(|_| std::io::Error::other("test-cluster spawner thread is gone"))?
}

fn tail(path: &Path, lines: usize) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("({}: {e})", path.display()),
    }
}

fn node_ready(node_json: &str) -> bool {
    // Avoid a JSON dependency: the Ready condition is serialized as
    // {"type": "Ready", "status": "True", ...} (pretty-printed for curl).
    let compact: String = node_json.chars().filter(|c| !c.is_whitespace()).collect();
    compact.split('{').any(|obj| obj.contains("\"type\":\"Ready\"") && obj.contains("\"status\":\"True\""))
}

struct Pki {
    ca: String,
    client_cert: String,
    client_key: String,
}

/// CA, serving cert (127.0.0.1/localhost), admin client cert
/// (`CN=admin, O=system:masters`) and an RSA service-account key pair, as
/// files in `dir`: ca.crt, serving.{crt,key}, admin.{crt,key}, sa.{key,pub}.
async fn make_pki(dir: &Path) -> Result<Pki> {
    // openssl runs in `dir`, so file names need no quoting.
    let ec = "-algorithm EC -pkeyopt ec_paramgen_curve:P-256";
    for key in ["ca", "serving", "admin"] {
        openssl(dir, &format!("genpkey {ec} -out {key}.key")).await?;
    }
    openssl(dir, "genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.key").await?;
    openssl(dir, "pkey -in sa.key -pubout -out sa.pub").await?;
    openssl(
        dir,
        "req -x509 -new -key ca.key -out ca.crt -days 3650 -subj /CN=fluidform-test-ca \
         -addext basicConstraints=critical,CA:TRUE \
         -addext keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
    )
    .await?;
    let leaf = "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n";
    fs::write(
        dir.join("serving.ext"),
        format!("{leaf}extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n"),
    )?;
    fs::write(dir.join("admin.ext"), format!("{leaf}extendedKeyUsage=clientAuth\n"))?;
    for (name, subj) in [("serving", "/CN=kube-apiserver"), ("admin", "/O=system:masters/CN=admin")] {
        openssl(dir, &format!("req -new -key {name}.key -subj {subj} -out {name}.csr")).await?;
        let serial = random_token()?;
        openssl(
            dir,
            &format!(
                "x509 -req -in {name}.csr -CA ca.crt -CAkey ca.key -set_serial 0x{serial} \
                 -days 3650 -extfile {name}.ext -out {name}.crt"
            ),
        )
        .await?;
    }
    Ok(Pki {
        ca: fs::read_to_string(dir.join("ca.crt"))?,
        client_cert: fs::read_to_string(dir.join("admin.crt"))?,
        client_key: fs::read_to_string(dir.join("admin.key"))?,
    })
}

/// `openssl <args>` in `dir`; `args` is split on whitespace.
pub async fn openssl(dir: &Path, args: &str) -> Result<()> {
    let out = tokio::process::Command::new("openssl")
        .args(args.split_whitespace())
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .await
        .context("running openssl (is it installed?)")?;
    if !out.status.success() {
        bail!("openssl {args}: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

enum Auth<'a> {
    Cert(&'a str, &'a str),
    Token(&'a str),
}

fn kubeconfig_yaml(server: &str, ca_pem: &str, auth: Auth<'_>) -> String {
    let user = match auth {
        Auth::Cert(cert, key) => format!(
            "    client-certificate-data: {}\n    client-key-data: {}\n",
            b64(cert.as_bytes()),
            b64(key.as_bytes())
        ),
        Auth::Token(token) => format!("    token: {token}\n"),
    };
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: fluidform-test\n  cluster:\n    server: {server}\n    \
         certificate-authority-data: {}\ncontexts:\n- name: fluidform-test\n  context:\n    cluster: fluidform-test\n    \
         user: fluidform-test\ncurrent-context: fluidform-test\nusers:\n- name: fluidform-test\n  user:\n{user}",
        b64(ca_pem.as_bytes())
    )
}

fn b64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
