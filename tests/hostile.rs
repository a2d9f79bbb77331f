//! A stranger who opens thousands of connections to the box during a call:
//! the box holds only so many (in all, and from one address), so the call,
//! the control socket, the next patient's page and the log are untouched.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::support::{self, StatusLatency, in_own_network, start_daemon};
use super::{admitted_patient, counter};

/// The stranger's connections, held at once.
const CONNECTIONS: usize = 3000;
/// How long the attack lasts.
const ATTACK: Duration = Duration::from_secs(15);
const SECOND: Duration = Duration::from_secs(1);

/// Sets the descriptor limit of the process `pid` (util-linux's prlimit;
/// the tests run as root or in a user namespace that owns the limit).
fn allow_descriptors(pid: u32, count: u64) {
    let pid = pid.to_string();
    let limit = format!("--nofile={count}:{count}");
    let ok = std::process::Command::new("prlimit")
        .args(["--pid", &pid, &limit])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "prlimit could not set the descriptor limit");
}

/// Holds `CONNECTIONS` bare TCP connections to the box from 127.0.0.2 until
/// `stop`, opening each again a second after the box closes it. Counts the
/// connections opened.
fn stranger(stop: Arc<AtomicBool>, opened: Arc<AtomicUsize>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let target: SocketAddr = format!("127.0.0.1:{}", support::PORT).parse().unwrap();
        let mut tasks = Vec::new();
        for _ in 0..CONNECTIONS {
            let (stop, opened) = (stop.clone(), opened.clone());
            tasks.push(tokio::spawn(async move {
                use tokio::io::AsyncReadExt;
                // Bounded: at most one connection a second per task.
                for _ in 0..100 {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(socket) = tokio::net::TcpSocket::new_v4() else {
                        break;
                    };
                    let _ = socket.bind("127.0.0.2:0".parse().unwrap());
                    let connect = socket.connect(target);
                    if let Ok(Ok(mut stream)) = tokio::time::timeout(SECOND, connect).await {
                        opened.fetch_add(1, Ordering::Relaxed);
                        // Held until the box closes it or the attack ends.
                        let mut byte = [0u8; 1];
                        while !stop.load(Ordering::SeqCst) {
                            let read = stream.read(&mut byte);
                            if tokio::time::timeout(SECOND / 2, read).await.is_ok() {
                                break;
                            }
                        }
                    }
                    tokio::time::sleep(SECOND).await;
                }
            }));
        }
        for task in tasks {
            let _ = task.await;
        }
    });
}

/// How long the page's first file takes, from the patient's own address.
fn page_load() -> Duration {
    let start = Instant::now();
    let url = format!("https://127.0.0.1:{}/", support::PORT);
    let output = std::process::Command::new("curl")
        .args([
            "-sk",
            "--max-time",
            "10",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &url,
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout), "200");
    start.elapsed()
}

/// Video frames the box sent per second over `during`.
fn frame_rate(daemon: &support::Daemon, during: Duration) -> f64 {
    let before = counter(&daemon.status(), "video_frames_sent");
    std::thread::sleep(during);
    let after = counter(&daemon.status(), "video_frames_sent");
    (after - before) as f64 / during.as_secs_f64()
}

#[test]
fn a_stranger_s_thousands_of_connections_leave_the_call_and_the_next_patient_alone() {
    if !in_own_network(
        "hostile::a_stranger_s_thousands_of_connections_leave_the_call_and_the_next_patient_alone",
    ) {
        return;
    }
    // The daemon gets the kernel's default limit, 1024, as on a box without
    // the unit's LimitNOFILE; the stranger room for thousands.
    let daemon = start_daemon();
    allow_descriptors(daemon.pid(), 1024);
    allow_descriptors(std::process::id(), CONNECTIONS as u64 + 1024);
    let patient = admitted_patient(&daemon);
    let calm = frame_rate(&daemon, Duration::from_secs(3));
    let log_before = daemon.output().lines().count();

    let stop = Arc::new(AtomicBool::new(false));
    let opened = Arc::new(AtomicUsize::new(0));
    let attack = {
        let (stop, opened) = (stop.clone(), opened.clone());
        std::thread::spawn(move || stranger(stop, opened))
    };
    let latency = StatusLatency::start(&daemon);
    // Once the stranger holds what the box lets them.
    std::thread::sleep(Duration::from_secs(3));
    let under_attack = frame_rate(&daemon, Duration::from_secs(5));
    let loads: Vec<Duration> = (0..3).map(|_| page_load()).collect();
    std::thread::sleep(ATTACK.saturating_sub(Duration::from_secs(9)));
    let (answers, slowest) = latency.finish();
    stop.store(true, Ordering::SeqCst);
    attack.join().unwrap();

    let opened = opened.load(Ordering::SeqCst);
    println!(
        "the stranger opened {opened} connections; frames {calm:.1}/s calm, \
         {under_attack:.1}/s under attack; page loads {loads:?}; status slowest {slowest:?} of {answers}"
    );
    assert!(opened >= CONNECTIONS, "the attack did not happen: {opened}");
    assert!(
        under_attack >= 0.9 * calm,
        "{under_attack:.1} of {calm:.1} frames a second"
    );
    assert!(
        loads.iter().all(|l| *l < Duration::from_secs(1)),
        "{loads:?}"
    );
    assert!(
        answers > 100 && slowest < Duration::from_millis(200),
        "{slowest:?}"
    );
    let output = daemon.output();
    let logged = output.lines().count() - log_before;
    assert!(logged < 20, "{logged} lines in the log:\n{output}");
    assert_eq!(daemon.status()["state"], "live");
    assert_eq!(patient.browser.state(), "live");
}
