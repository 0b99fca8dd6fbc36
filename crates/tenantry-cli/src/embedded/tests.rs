//! The embedded cluster against the machine's real PostgreSQL programs.
//!
//! Each test uses its own temporary project; [`Project`] stops its cluster when dropped,
//! before the directory is removed, so no server outlives the test binary.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use tokio_postgres::NoTls;

use super::process::running_as_root;
use super::{Embedded, EmbeddedError, EmbeddedStatus};

/// A temporary project directory and its cluster, stopped on drop (also when a test fails).
struct Project {
    embedded: Embedded,
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary project directory");
        // tempfile makes it 0700; as root the server runs as `postgres`, who must enter it.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("open the project dir");
        Self { embedded: Embedded::new(dir.path()), dir }
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        if let Err(err) = self.embedded.stop() {
            eprintln!("could not stop the test cluster in {}: {err}", self.dir.path().display());
        }
    }
}

/// `SELECT current_database()` over a fresh connection to `url`.
fn current_database(url: &str) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, NoTls).await.expect("connect to the embedded cluster");
        let driver = tokio::spawn(connection);
        let row = client.query_one("SELECT current_database()", &[]).await.expect("query the embedded cluster");
        drop(client);
        let _ = driver.await;
        row.get(0)
    })
}

fn port_of(url: &str) -> u16 {
    url.rsplit_once(':')
        .and_then(|(_, rest)| rest.split_once('/'))
        .and_then(|(port, _)| port.parse().ok())
        .expect("a port in the URL")
}

/// Field 4 (parent pid) and 6 (session id) of `/proc/<pid>/stat`.
fn parent_and_session(pid: u32) -> (u32, u32) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read the postmaster's stat");
    // The command name (field 2) is parenthesised and may hold spaces: split after it.
    let (_, rest) = stat.rsplit_once(')').expect("a stat line");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    (fields[1].parse().expect("a parent pid"), fields[3].parse().expect("a session id"))
}

fn own_session() -> u32 {
    parent_and_session(std::process::id()).1
}

#[test]
fn starts_reuses_stops_and_restarts_on_the_same_port() {
    let project = Project::new();
    let embedded = &project.embedded;
    assert_eq!(embedded.status().expect("status"), EmbeddedStatus::NotInitialised);

    let started = Instant::now();
    let url = embedded.ensure_running().expect("start the embedded cluster");
    eprintln!("first ensure_running (initdb + start): {:?}", started.elapsed());
    let port = port_of(&url);
    assert_eq!(url, format!("postgresql://postgres@127.0.0.1:{port}/tenantry"));
    assert_eq!(current_database(&url), "tenantry");
    let port_file = std::fs::read_to_string(embedded.root().join("port")).expect("the port file");
    assert_eq!(port_file.trim(), port.to_string());

    let EmbeddedStatus::Running { port: status_port, url: status_url, data_dir, pid } =
        embedded.status().expect("status")
    else {
        panic!("the cluster should run")
    };
    assert_eq!((status_port, status_url.as_str()), (port, url.as_str()));
    assert_eq!(data_dir, embedded.root().join("data"));
    // Detached: another session than ours and not our child, so it survives us; and it holds
    // none of our pipes (stdin is /dev/null, stdout and stderr the log).
    let (parent, session) = parent_and_session(pid);
    assert_ne!(parent, std::process::id());
    assert_ne!(session, own_session());
    for fd in 0..3 {
        let target = std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).expect("the postmaster's fd");
        assert!(!target.to_string_lossy().starts_with("pipe:"), "fd {fd} is {}", target.display());
    }

    let again = Instant::now();
    assert_eq!(embedded.ensure_running().expect("reuse the running cluster"), url);
    let reuse = again.elapsed();
    eprintln!("second ensure_running (already running): {reuse:?}");
    assert!(reuse < Duration::from_secs(1), "reusing took {reuse:?}");
    assert!(matches!(embedded.status().expect("status"), EmbeddedStatus::Running { pid: same, .. } if same == pid));

    assert!(embedded.stop().expect("stop"), "it was running");
    assert_eq!(embedded.status().expect("status"), EmbeddedStatus::Stopped { data_dir: data_dir.clone() });
    assert!(!embedded.stop().expect("stop again"), "it was already stopped");
    assert!(embedded.socket_dir().to_string_lossy().starts_with("/tmp/tenantry-"));
    assert!(!embedded.socket_dir().exists(), "stop removes the socket directory");

    let restarted = Instant::now();
    assert_eq!(embedded.ensure_running().expect("restart"), url, "a restart reuses the port");
    eprintln!("third ensure_running (start only): {:?}", restarted.elapsed());
    assert_eq!(current_database(&url), "tenantry");
}

#[test]
fn a_taken_port_is_replaced_and_recorded() {
    let project = Project::new();
    let embedded = &project.embedded;
    let first = port_of(&embedded.ensure_running().expect("start"));
    assert!(embedded.stop().expect("stop"));

    let squatter = std::net::TcpListener::bind(("127.0.0.1", first)).expect("take the cluster's port");
    let url = embedded.ensure_running().expect("start on another port");
    let second = port_of(&url);
    assert_ne!(second, first);
    assert_eq!(current_database(&url), "tenantry");
    let port_file = std::fs::read_to_string(embedded.root().join("port")).expect("the port file");
    assert_eq!(port_file.trim(), second.to_string());
    drop(squatter);
}

#[test]
fn concurrent_first_uses_share_one_cluster() {
    let project = Project::new();
    let urls: Vec<String> = std::thread::scope(|scope| {
        let runs: Vec<_> = (0..2).map(|_| scope.spawn(|| project.embedded.ensure_running())).collect();
        runs.into_iter().map(|run| run.join().expect("no panic").expect("start the embedded cluster")).collect()
    });
    assert_eq!(urls[0], urls[1]);
    assert_eq!(current_database(&urls[0]), "tenantry");
    let leftovers: Vec<_> = std::fs::read_dir(project.embedded.root())
        .expect("read .tenantry")
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("data."))
        .collect();
    assert!(leftovers.is_empty(), "staging directories left: {leftovers:?}");
}

#[test]
fn an_empty_project_is_not_initialised() {
    let dir = tempfile::tempdir().expect("a temporary project directory");
    let embedded = Embedded::new(dir.path());
    assert_eq!(embedded.status().expect("status"), EmbeddedStatus::NotInitialised);
    assert!(!embedded.stop().expect("stop"), "nothing to stop");
    assert!(!dir.path().join(".tenantry").exists(), "status and stop create nothing");
}

#[test]
fn as_root_a_project_closed_to_postgres_names_the_fix() {
    if !running_as_root() {
        return;
    }
    let dir = tempfile::tempdir().expect("a temporary project directory");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).expect("close the project dir");
    let embedded = Embedded::new(dir.path());
    let error = embedded.ensure_running().expect_err("postgres cannot enter a 0700 root directory");
    let closed = std::fs::canonicalize(dir.path()).expect("canonical path");
    assert!(
        matches!(&error, EmbeddedError::ServerUserCannotReach { blocker: Some(blocker), .. } if *blocker == closed),
        "{error:?}"
    );
    assert!(error.to_string().contains("chmod o+x"), "{error}");
    assert_eq!(embedded.status().expect("status"), EmbeddedStatus::NotInitialised);
}
