//! The operator's live view, `speakerd top`, in a real terminal: tmux runs it inside speakerd's
//! namespace, `capture-pane` reads the screen, `send-keys q` quits it.

use super::*;

const TMUX: &str = "/usr/bin/tmux";

/// tmux on a socket of the test's own, so that it touches no other tmux server.
fn tmux(socket: &str, args: &[&str]) -> Result<String, String> {
    let mut all = vec!["-L", socket];
    all.extend_from_slice(args);
    let out = lab::run(TMUX, &all);
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn top_shows_sessions_and_prefixes_in_a_terminal_and_quits_on_q() {
    lab::require(TMUX);
    let mut lab = Lab::new("top");
    let (sd, peer) = lab.pair();
    let routes = ["198.19.100.0/24", "198.19.101.0/24", "198.19.102.0/24"];
    let _bird = bird_and_speakerd(&mut lab, (&sd, &peer), &routes, true);

    let socket = format!("speakerd-top-{}", std::process::id());
    let command = format!(
        "{} netns exec {sd} {} top --interval 0.5",
        lab::IP,
        lab::SPEAKERD
    );
    tmux(
        &socket,
        &[
            "new-session",
            "-d",
            "-s",
            "top",
            "-x",
            "160",
            "-y",
            "30",
            &command,
        ],
    )
    .unwrap();
    let screen = wait_for("top shows the session and its prefixes", SOON, || {
        let screen = tmux(&socket, &["capture-pane", "-p", "-t", "top"])?;
        let row = screen
            .lines()
            .find(|l| l.starts_with("198.18.0.2"))
            .ok_or_else(|| screen.clone())?;
        // Accepted 3, advertised 1 (our prefix), and a rate once there are two samples.
        let fields: Vec<&str> = row.split_whitespace().collect();
        if fields.get(2) == Some(&"Established")
            && fields.get(4) == Some(&"3")
            && fields.get(5) == Some(&"1")
            && fields.get(6).is_some_and(|r| *r != "-")
        {
            Ok(screen)
        } else {
            Err(screen)
        }
    });
    assert!(screen.contains("sessions 1/1 Established"), "{screen}");
    assert!(
        screen.contains("IN Q") && screen.contains("OUT Q") && screen.contains("pending 0"),
        "the queues: {screen}"
    );
    assert!(
        screen.contains("ipv4 4"),
        "three routes and our prefix: {screen}"
    );
    tmux(&socket, &["send-keys", "-t", "top", "q"]).unwrap();
    wait_for("q quits top", SOON, || {
        match tmux(&socket, &["has-session", "-t", "top"]) {
            Ok(_) => Err("still running".to_string()),
            Err(_) => Ok(()),
        }
    });
    let _ = tmux(&socket, &["kill-server"]);
}
