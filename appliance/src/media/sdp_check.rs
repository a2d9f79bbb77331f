//! What a patient's page sends for media, checked in Rust before GStreamer's
//! C code parses it: the answer against the box's own offer, and each ICE
//! candidate on its own. The parser is Mozilla's `webrtc-sdp`, the one
//! Firefox parses every remote description with. Reasons name lines and
//! fields, never what the page wrote.

use webrtc_sdp::attribute_type::{SdpAttribute, SdpAttributeCandidate, SdpAttributeRtpmap};
use webrtc_sdp::error::SdpParserError;
use webrtc_sdp::media_type::{SdpFormatList, SdpMedia};
use webrtc_sdp::{SdpSession, parse_sdp};

/// Attributes one media section may carry: a browser's answer has a few
/// dozen.
const MAX_ATTRIBUTES: usize = 256;
/// Candidates one media section may carry in the answer itself.
const MAX_CANDIDATES: usize = 64;
/// The longest candidate line a page may send on its own; a real one is
/// about 150 characters.
pub const MAX_CANDIDATE_BYTES: usize = 512;

/// Checks a patient's `answer` against the box's `offer`: it parses, it
/// answers each of the offer's media sections in order with the same kind
/// of media, it picks only codecs the offer named (by payload type and
/// name), it carries no SSRC 0, its sections are of a sane size, and it
/// has a DTLS fingerprint.
pub fn check_answer(offer: &str, answer: &str) -> Result<(), String> {
    let offer = parse_sdp(offer, false).map_err(|e| format!("the box's offer: {}", reason(&e)))?;
    check_answer_to(&offer, answer)
}

/// [`check_answer`] against an offer already parsed.
pub fn check_answer_to(offer: &SdpSession, answer: &str) -> Result<(), String> {
    let answer = parse_sdp(answer, false).map_err(|e| reason(&e))?;
    if answer.media.len() != offer.media.len() {
        return Err(format!(
            "{} media sections for the offer's {}",
            answer.media.len(),
            offer.media.len()
        ));
    }
    for (i, (asked, answered)) in offer.media.iter().zip(&answer.media).enumerate() {
        check_section(asked, answered).map_err(|e| format!("media section {i}: {e}"))?;
    }
    if !has_fingerprint(&answer) {
        return Err("no DTLS fingerprint".into());
    }
    Ok(())
}

/// One media section of the answer against the offer's.
fn check_section(asked: &SdpMedia, answered: &SdpMedia) -> Result<(), String> {
    if asked.get_type() != answered.get_type() {
        return Err(format!(
            "{} for the offer's {}",
            answered.get_type(),
            asked.get_type()
        ));
    }
    let attributes = answered.get_attributes();
    if attributes.len() > MAX_ATTRIBUTES {
        return Err(format!("{} attributes", attributes.len()));
    }
    let candidates: Vec<_> = (attributes.iter())
        .filter_map(|a| match a {
            SdpAttribute::Candidate(c) => Some(c),
            _ => None,
        })
        .collect();
    if candidates.len() > MAX_CANDIDATES {
        return Err(format!("{} candidates", candidates.len()));
    }
    // libnice asserts on a component of 0 in the answer's own candidates
    // (found by the webrtcbin fuzz target) as in trickled ones.
    candidates.into_iter().try_for_each(candidate_fits)?;
    let offered = rtpmaps(asked);
    for map in rtpmaps(answered) {
        let known = offered.iter().any(|o| {
            o.payload_type == map.payload_type && o.codec_name.eq_ignore_ascii_case(&map.codec_name)
        });
        if !known {
            return Err(format!("payload type {} was not offered", map.payload_type));
        }
    }
    if let (SdpFormatList::Integers(formats), SdpFormatList::Integers(offered)) =
        (answered.get_formats(), asked.get_formats())
        && let Some(format) = formats.iter().find(|f| !offered.contains(f))
    {
        return Err(format!("format {format} was not offered"));
    }
    for attribute in attributes {
        let zero = match attribute {
            SdpAttribute::Ssrc(ssrc) => ssrc.id == 0,
            SdpAttribute::SsrcGroup(_, ssrcs) => ssrcs.iter().any(|s| s.id == 0),
            _ => false,
        };
        if zero {
            return Err("SSRC 0".into());
        }
    }
    Ok(())
}

fn rtpmaps(media: &SdpMedia) -> Vec<&SdpAttributeRtpmap> {
    (media.get_attributes().iter())
        .filter_map(|a| match a {
            SdpAttribute::Rtpmap(map) => Some(map),
            _ => None,
        })
        .collect()
}

fn has_fingerprint(session: &SdpSession) -> bool {
    let is = |a: &SdpAttribute| matches!(a, SdpAttribute::Fingerprint(_));
    session.attribute.iter().any(is)
        || (session.media.iter()).all(|m| m.get_attributes().iter().any(is))
}

/// Checks one of the page's ICE candidates (`candidate:…`, as a browser's
/// `RTCIceCandidate.candidate`): a candidate line that parses, of a
/// component and port that can be. An empty one (the end of the page's
/// candidates) is fine.
pub fn check_candidate(candidate: &str) -> Result<(), String> {
    if candidate.is_empty() {
        return Ok(());
    }
    if candidate.len() > MAX_CANDIDATE_BYTES {
        return Err(format!("candidate of {} bytes", candidate.len()));
    }
    let parsed = candidate
        .parse::<SdpAttribute>()
        .map_err(|_| "candidate that does not parse".to_owned())?;
    let SdpAttribute::Candidate(c) = parsed else {
        return Err("candidate that is another attribute".into());
    };
    candidate_fits(&c)
}

/// Whether a parsed candidate is of a component, ports and a priority that
/// can be.
fn candidate_fits(c: &SdpAttributeCandidate) -> Result<(), String> {
    if !(1..=2).contains(&c.component) {
        return Err(format!("candidate of component {}", c.component));
    }
    if c.port > u32::from(u16::MAX) || c.rport.is_some_and(|p| p > u32::from(u16::MAX)) {
        return Err("candidate with a port past 65535".into());
    }
    if c.priority > u64::from(u32::MAX) {
        return Err("candidate with a priority past 32 bits".into());
    }
    Ok(())
}

/// Why `error` refused an SDP: its line number, never the line.
fn reason(error: &SdpParserError) -> String {
    match error {
        SdpParserError::Line { line_number, .. } => format!("line {line_number} is not SDP"),
        SdpParserError::Unsupported { line_number, .. } => {
            format!("line {line_number} is not supported")
        }
        SdpParserError::Sequence { line_number, .. } => {
            format!("line {line_number} is out of order")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An offer as the box makes it (two sections, H.264 and Opus).
    const OFFER: &str = "v=0\r\no=- 1 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n\
        a=group:BUNDLE video0 audio1\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=setup:actpass\r\n\
        a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=mid:video0\r\n\
        a=rtcp-mux\r\na=sendrecv\r\na=rtpmap:96 H264/90000\r\na=ssrc:1111 cname:box\r\n\
        a=fingerprint:sha-256 AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 97\r\nc=IN IP4 0.0.0.0\r\na=setup:actpass\r\n\
        a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=mid:audio1\r\n\
        a=rtcp-mux\r\na=sendrecv\r\na=rtpmap:97 OPUS/48000/2\r\na=ssrc:2222 cname:box\r\n\
        a=fingerprint:sha-256 AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89\r\n";

    /// A browser's answer to it.
    fn answer() -> String {
        OFFER
            .replace("a=setup:actpass", "a=setup:active")
            .replace("ssrc:1111 cname:box", "ssrc:3333 cname:page")
            .replace("ssrc:2222 cname:box", "ssrc:4444 cname:page")
    }

    #[test]
    fn a_browser_s_answer_passes() {
        assert_eq!(check_answer(OFFER, &answer()), Ok(()));
    }

    #[test]
    fn what_webrtcbin_s_c_code_choked_on_is_refused() {
        assert!(check_answer(OFFER, "").is_err());
        let zero = answer().replace("ssrc:3333", "ssrc:0");
        assert_eq!(
            check_answer(OFFER, &zero),
            Err("media section 0: SSRC 0".into())
        );
    }

    #[test]
    fn an_answer_that_does_not_answer_the_offer_is_refused() {
        let one = answer();
        let one = &one[..one.find("m=audio").unwrap()];
        assert_eq!(
            check_answer(OFFER, one),
            Err("1 media sections for the offer's 2".into())
        );
        let swapped = answer()
            .replace("m=video", "m=XXX")
            .replace("m=audio", "m=video")
            .replace("m=XXX", "m=audio");
        assert!(
            check_answer(OFFER, &swapped)
                .unwrap_err()
                .contains("audio for the offer's video")
        );
        let vp8 = answer().replace("96 H264", "96 VP8");
        assert!(
            check_answer(OFFER, &vp8)
                .unwrap_err()
                .contains("payload type 96")
        );
        let other = answer().replace("SAVPF 96", "SAVPF 100");
        assert!(
            check_answer(OFFER, &other)
                .unwrap_err()
                .contains("format 100")
        );
        let unsigned: String = answer()
            .lines()
            .filter(|l| !l.starts_with("a=fingerprint"))
            .map(|l| format!("{l}\r\n"))
            .collect();
        assert_eq!(
            check_answer(OFFER, &unsigned),
            Err("no DTLS fingerprint".into())
        );
    }

    #[test]
    fn a_refusal_names_the_line_never_its_text() {
        let secret = "Zebulon-s-secret";
        let bad = answer().replace("a=rtcp-mux", &format!("m=bogus {secret}"));
        let reason = check_answer(OFFER, &bad).unwrap_err();
        assert!(!reason.contains(secret), "{reason}");
    }

    #[test]
    fn an_oversized_section_is_refused() {
        let many: String = (0..MAX_CANDIDATES + 1)
            .map(|i| {
                format!(
                    "a=candidate:{i} 1 udp 2122260223 192.0.2.1 {} typ host\r\n",
                    5000 + i
                )
            })
            .collect();
        let crowded = answer().replacen("a=rtcp-mux\r\n", &format!("a=rtcp-mux\r\n{many}"), 1);
        assert!(
            check_answer(OFFER, &crowded)
                .unwrap_err()
                .contains("candidates")
        );
    }

    #[test]
    fn an_answer_s_own_candidates_are_checked_too() {
        let zero = "a=candidate:1 0 udp 2122260223 192.0.2.1 5000 typ host\r\n";
        let bad = answer().replacen("a=rtcp-mux\r\n", &format!("a=rtcp-mux\r\n{zero}"), 1);
        assert_eq!(
            check_answer(OFFER, &bad),
            Err("media section 0: candidate of component 0".into())
        );
    }

    #[test]
    fn candidates_are_checked_before_libnice_sees_them() {
        let good = "candidate:842163049 1 udp 1677729535 203.0.113.5 46154 typ srflx \
                    raddr 10.0.0.2 rport 46154 generation 0 ufrag abcd network-cost 999";
        assert_eq!(check_candidate(good), Ok(()));
        assert_eq!(check_candidate(""), Ok(()));
        let tcp = "candidate:1 1 tcp 1518280447 192.0.2.1 9 typ host tcptype active";
        assert_eq!(check_candidate(tcp), Ok(()));
        // Chromium's hidden local address, and Firefox's spelling.
        let mdns = "candidate:3 1 udp 2113937151 8f0b4a9c-1b2c-4d5e-8f90-123456789abc.local \
                    53704 typ host generation 0 ufrag abcd network-cost 999";
        assert_eq!(check_candidate(mdns), Ok(()));
        let firefox = "candidate:0 1 UDP 2122252543 10.0.0.2 38765 typ host";
        assert_eq!(check_candidate(firefox), Ok(()));
        let relay =
            "candidate:5 1 UDP 8331263 203.0.113.9 50000 typ relay raddr 203.0.113.9 rport 50000";
        assert_eq!(check_candidate(relay), Ok(()));
        for bad in [
            "candidate:1 -1 udp 1 192.0.2.1 5000 typ host",
            "candidate:1 1 udp -5 192.0.2.1 5000 typ host",
            "candidate:1 1 udp 1 192.0.2.1 -5000 typ host",
            "candidate:1 7 udp 1 192.0.2.1 5000 typ host",
            "candidate:1 1 udp 1 192.0.2.1 70000 typ host",
            "candidate:1 1 udp 99999999999 192.0.2.1 5000 typ host",
            "candidate:1 1 udp 1 192.0.2.1 5000 typ nonsense",
            "ssrc:1 cname:x",
            "not a candidate",
        ] {
            assert!(check_candidate(bad).is_err(), "{bad}");
        }
        assert!(check_candidate(&"candidate:1 ".repeat(100)).is_err());
    }
}
