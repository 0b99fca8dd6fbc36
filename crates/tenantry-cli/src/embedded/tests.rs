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
    let password = std::fs::read_to_string(embedded.password_file()).expect("the password file");
    assert_eq!(url, format!("postgresql://postgres:{}@127.0.0.1:{port}/tenantry", password.trim()));
    assert_eq!(current_database(&url), "tenantry");
    let port_file = std::fs::read_to_string(embedded.root().join("port")).expect("the port file");
    assert_eq!(port_file.trim(), port.to_string());

    let EmbeddedStatus::Running { port: status_port, url: status_url, data_dir, pid } =
        embedded.status().expect("status")
    else {
        panic!("the cluster should run")
    };
    assert_eq!(status_port, port);
    assert_eq!(status_url, tenantry::error::mask_password(&url), "status never shows the password");
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

/// The first column of every row `sql` returns, over a fresh connection to `url`.
fn simple_query(url: &str, sql: &str) -> Vec<String> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, NoTls).await.expect("connect to the embedded cluster");
        let driver = tokio::spawn(connection);
        let messages = client.simple_query(sql).await.expect("query the embedded cluster");
        drop(client);
        let _ = driver.await;
        messages
            .iter()
            .filter_map(|message| match message {
                tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
                _ => None,
            })
            .collect()
    })
}

/// How connecting with `config` ends: `Ok` or the error's text.
fn try_connect(config: &tokio_postgres::Config) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    runtime.block_on(async {
        let (client, connection) = config.connect(NoTls).await.map_err(|err| format!("{err:?}"))?;
        let driver = tokio::spawn(connection);
        let result = client.simple_query("SELECT 1").await.map(drop).map_err(|err| format!("{err:?}"));
        drop(client);
        let _ = driver.await;
        result
    })
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

/// No connection without the password: over TCP none or a wrong one is refused, over the socket
/// none is refused, the stored one works; the password and its directory are private.
fn assert_only_the_password_lets_in(embedded: &Embedded, url: &str) {
    let port = port_of(url);
    let password = std::fs::read_to_string(embedded.password_file()).expect("the password file");
    let password = password.trim();
    let tcp = |password: Option<&str>| {
        let mut config = tokio_postgres::Config::new();
        config.host("127.0.0.1").port(port).user("postgres").dbname("tenantry");
        if let Some(password) = password {
            config.password(password);
        }
        try_connect(&config)
    };
    let refused = tcp(None).expect_err("TCP without a password is refused");
    assert!(refused.contains("password missing"), "{refused}");
    let refused = tcp(Some("not-the-password")).expect_err("a wrong password is refused");
    assert!(refused.contains("28P01") || refused.contains("password authentication failed"), "{refused}");
    tcp(Some(password)).expect("the stored password lets in");
    let mut socket = tokio_postgres::Config::new();
    socket.host_path(embedded.socket_dir()).port(port).user("postgres").dbname("tenantry");
    let refused = try_connect(&socket).expect_err("the Unix socket without a password is refused");
    assert!(refused.contains("password missing"), "{refused}");
    assert_eq!(current_database(url), "tenantry");
    assert_eq!(mode(embedded.root()), 0o700, ".tenantry");
    assert_eq!(mode(embedded.password_file()), 0o600, ".tenantry/password");
}

#[test]
fn every_connection_needs_the_stored_password() {
    let project = Project::new();
    let url = project.embedded.ensure_running().expect("start the embedded cluster");
    assert_only_the_password_lets_in(&project.embedded, &url);
    let hba = std::fs::read_to_string(project.embedded.root().join("data/pg_hba.conf")).expect("pg_hba.conf");
    assert!(!super::auth::trusts(&hba), "{hba}");
}

/// What `initdb --auth=trust` left in the clusters older tenantry versions made.
const OLD_HBA: &str = "local all all trust\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n";

/// Makes the project's cluster look like one an older tenantry made: a trusting pg_hba.conf,
/// no password file, `.tenantry` open to others.
fn make_it_old(embedded: &Embedded) {
    std::fs::write(embedded.root().join("data/pg_hba.conf"), OLD_HBA).expect("write the old pg_hba.conf");
    std::fs::remove_file(embedded.password_file()).expect("remove the password file");
    std::fs::set_permissions(embedded.root(), std::fs::Permissions::from_mode(0o755)).expect("open .tenantry");
}

#[test]
fn a_cluster_made_by_an_older_tenantry_is_given_a_password_in_place() {
    let project = Project::new();
    let embedded = &project.embedded;
    let url = embedded.ensure_running().expect("start");
    simple_query(&url, "CREATE TABLE kept (id int); INSERT INTO kept VALUES (7)");

    // Stopped, as an older tenantry left it: upgraded at the next start.
    assert!(embedded.stop().expect("stop"));
    make_it_old(embedded);
    let upgraded = embedded.ensure_running().expect("start and upgrade");
    assert_ne!(upgraded, url, "a new password");
    assert_only_the_password_lets_in(embedded, &upgraded);
    let backup = embedded.root().join("data/pg_hba.conf.trust-before-tenantry");
    assert_eq!(std::fs::read_to_string(backup).expect("the old pg_hba.conf is kept"), OLD_HBA);

    // Running with a trusting configuration loaded: upgraded without a restart.
    make_it_old(embedded);
    simple_query(&upgraded, "SELECT pg_reload_conf()");
    let EmbeddedStatus::Running { pid, .. } = embedded.status().expect("status") else { panic!("running") };
    let again = embedded.ensure_running().expect("upgrade the running cluster");
    assert!(matches!(embedded.status().expect("status"), EmbeddedStatus::Running { pid: same, .. } if same == pid));
    assert_only_the_password_lets_in(embedded, &again);
    assert_eq!(simple_query(&again, "SELECT id FROM kept"), ["7"], "the data survived");
}
