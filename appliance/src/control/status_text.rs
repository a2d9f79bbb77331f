//! `appliance status` for a person: the daemon's status, a line a part.

use std::fmt::Write as _;

use super::Status;

/// The lines `appliance status` prints.
pub fn text(s: &Status) -> String {
    let mut t = String::new();
    // Writing to a String cannot fail.
    macro_rules! say {
        ($($words:tt)*) => {
            let _ = writeln!(t, $($words)*);
        };
    }
    // IT's name for the room (the settings refuse control characters).
    say!("room:          {}", s.room);
    say!("state:         {}", s.state);
    say!("shutter:       {}", s.shutter);
    say!("LED:           {}", s.led);
    say!("waiting:       {}", s.waiting);
    say!(
        "security code: {}",
        s.security_code.as_deref().unwrap_or("(no call)")
    );
    for fault in &s.faults {
        say!("fault:         {fault}");
    }
    let patient = s.patient_devices.and_then(|on| on.off());
    let (relay, call) = (&s.media.relay_problem, &s.call_problem);
    for (label, line) in [
        ("relay:", relay),
        ("patient:", &patient),
        ("last call:", call),
    ] {
        if let Some(line) = line {
            say!("{label:<15}{line}");
        }
    }
    if let Some(notice) = &s.notice {
        // Written by root on the box (the daemon keeps it printable).
        say!(
            "notice:        {}",
            notice.replace('\n', "\n               ")
        );
    }
    say!(
        "media:         {} video frames sent, {} received ({} packets, {} keyframes asked), {} audio received ({} audible)",
        s.media.video_frames_sent,
        s.media.video_frames_received,
        s.media.video_packets_received,
        s.media.keyframes_asked,
        s.media.audio_frames_received,
        s.media.audio_frames_audible,
    );
    let known = |v: Option<u64>, unit: &str| {
        v.map_or_else(|| "unknown".to_owned(), |v| format!("{v} {unit}"))
    };
    say!(
        "network:       video at {} kbit/s, path estimate {}, round trip {}",
        s.media.bitrate_kbps,
        known(s.media.estimate_kbps, "kbit/s"),
        known(s.media.rtt_ms, "ms")
    );
    t
}
