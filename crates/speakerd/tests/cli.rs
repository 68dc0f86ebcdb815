//! The command-line tools as a user runs them, without root: `speakerd show` against an
//! admin API (a small HTTP server in the test answering with real JSON) and `speakerd decode`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::thread;

const SPEAKERD: &str = env!("CARGO_BIN_EXE_speakerd");

/// Serves one GET with `body` as JSON, on a port of 127.0.0.1.
fn admin_api(body: String) -> (String, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        // The whole request, so that closing sends no reset.
        let mut request = Vec::new();
        let mut chunk = [0u8; 1024];
        while !request.ends_with(b"\r\n\r\n") {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => request.extend_from_slice(&chunk[..n]),
            }
        }
        let _ = write!(
            stream,
            "HTTP/1.0 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
    });
    (address, server)
}

/// Runs speakerd with `args`, reads the first line of its output and closes the pipe long
/// before it has written the rest (thousands of lines); then checks it ended quietly, with no
/// panic and nothing on stderr. Returns the first line and stderr.
fn first_line_then_close(args: &[&str]) -> (String, String) {
    let mut child = Command::new(SPEAKERD)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader is gone (dropped above).
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_ne!(output.status.code(), Some(101), "a panic: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.is_empty(), "nothing on stderr: {stderr}");
    (first, stderr)
}

/// `speakerd show routes | head -1`: when the reader goes away, speakerd ends quietly as Unix
/// tools do (killed by SIGPIPE), with no panic and no backtrace.
#[test]
fn show_routes_into_a_closed_pipe_exits_quietly() {
    let routes: Vec<String> = (0..20_000u32)
        .map(|i| {
            format!(
                r#"{{"prefix":"10.{}.{}.0/24","next_hops":["198.18.0.2"],"as_path":"4200000002","from":"198.18.0.2"}}"#,
                i / 256,
                i % 256
            )
        })
        .collect();
    let (admin, server) = admin_api(format!("[{}]", routes.join(",")));
    let (first, stderr) = first_line_then_close(&["show", "routes", "--admin", &admin]);
    server.join().unwrap();
    assert!(first.starts_with("prefix"), "{first:?}; {stderr}");
}

/// The same for `speakerd decode` with many messages.
#[test]
fn decode_into_a_closed_pipe_exits_quietly() {
    let keepalive = format!("{}001304", "ff".repeat(16));
    let messages = vec![keepalive; 20_000];
    let mut args = vec!["decode"];
    args.extend(messages.iter().map(String::as_str));
    let (first, stderr) = first_line_then_close(&args);
    assert!(
        first.contains("KEEPALIVE") || first.contains("keepalive"),
        "{first:?}; {stderr}"
    );
}
