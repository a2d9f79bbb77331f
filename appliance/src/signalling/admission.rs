//! Letting a page in: its first message is a join, whose link is redeemed
//! and whose patient goes in the lobby, or a resume, which brings a patient
//! back to their session. Refusals are counted against the client's
//! address and logged without what the page sent.

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::extract::ws::Message;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot};

use super::protocol::{self, ClientMessage, ServerMessage};
use super::resume;
use super::server::{App, FromPage, JOIN_TIMEOUT, OUTBOX, PatientEvent, Resumed, ToPage, json};
use crate::invite::unix_now;
use crate::media::Codec;
use crate::session::PeerId;

/// Reads the page's first message: a join, whose link is redeemed and whose
/// patient goes in the lobby, or a resume, which brings a patient back to
/// their session. Gives the patient's number and the queue of what the
/// session tells them, or None when the page was refused or went away.
pub(super) async fn admit(
    to_page: &mut ToPage,
    from_page: &mut FromPage,
    (app, socket): (&App, u64),
    client: IpAddr,
) -> Option<(PeerId, mpsc::Receiver<ServerMessage>)> {
    let first = match tokio::time::timeout(JOIN_TIMEOUT, from_page.next()).await {
        Ok(Some(Ok(Message::Text(text)))) => protocol::decode(&text),
        _ => return None,
    };
    let admitted = match first {
        Ok(ClientMessage::Join {
            token,
            name,
            video_codecs,
        }) => {
            join(
                (app, socket),
                &zeroize::Zeroizing::new(token),
                name,
                &video_codecs,
            )
            .await
        }
        Ok(ClientMessage::Resume { secret }) => {
            come_back((app, socket), client, &zeroize::Zeroizing::new(secret)).await
        }
        _ => Err("a page spoke before joining".to_owned()),
    };
    let (peer, inbox, resume) = match admitted {
        Ok(admitted) => admitted,
        Err(reason) if reason == SLOW_DOWN => {
            // Not denied: the page tries again later, waiting longer.
            app.refusals.log(SLOW_DOWN);
            let _ = to_page.close().await;
            return None;
        }
        Err(reason) => {
            app.joins.refused(client, Instant::now());
            app.refusals.log(&format!("{reason}; refused"));
            let _ = to_page.send(json(&ServerMessage::Denied)).await;
            let _ = to_page.close().await;
            return None;
        }
    };
    let welcome = ServerMessage::Welcome {
        room: app.room.clone(),
        ice_servers: app.ice.for_page(unix_now()),
        resume: resume.map(|secret| secret.to_string()),
    };
    to_page.send(json(&welcome)).await.ok()?;
    Some((peer, inbox))
}

/// Why a resume waits: too many from one address in a minute.
const SLOW_DOWN: &str = "too many resumes from one address; the page is to try again later";

/// What a page that was let in has: the patient's number, the queue of
/// what the session tells them, and, at admission, the resume secret for
/// the page.
type Admitted = (
    PeerId,
    mpsc::Receiver<ServerMessage>,
    Option<zeroize::Zeroizing<String>>,
);

/// Redeems a link and puts its patient in the lobby.
async fn join(
    (app, socket): (&App, u64),
    token: &str,
    name: String,
    video_codecs: &[String],
) -> Result<Admitted, String> {
    let redeemed = match app.invites.lock() {
        Ok(mut invites) => invites.redeem(token, unix_now()),
        Err(_) => return Err("the invites are unavailable".into()),
    };
    if let Err(reason) = redeemed {
        return Err(format!("patient link refused: {reason}"));
    }
    let (secret, resume) =
        resume::new_secret().map_err(|e| format!("no resume secret could be made: {e}"))?;
    let peer: PeerId = app.next_peer.fetch_add(1, Ordering::Relaxed);
    let codec = Codec::choose(video_codecs);
    eprintln!("appliance: patient {peer} joined the lobby ({codec:?})");
    let (outbox, inbox) = mpsc::channel::<ServerMessage>(OUTBOX);
    let joined = PatientEvent::Joined {
        peer,
        name,
        codec,
        outbox,
        resume,
        socket,
    };
    app.session
        .send(joined)
        .await
        .map_err(|_| "the session is gone".to_owned())?;
    Ok((peer, inbox, Some(secret)))
}

/// Brings a patient back to their session with the resume secret their
/// page was given; refused when it is not one of a patient the session
/// knows whose page is away (another session's, a forged one, one whose
/// session ended, or one already in use).
async fn come_back(
    (app, socket): (&App, u64),
    client: IpAddr,
    secret: &str,
) -> Result<Admitted, String> {
    let now = Instant::now();
    if app.resumes.blocked(client, now) {
        return Err(SLOW_DOWN.into());
    }
    // Every resume counts here, good or not: a page that reconnects in a
    // tight loop is slowed down.
    app.resumes.refused(client, now);
    let resume = resume::hash(secret).ok_or("a resume secret that is none of ours")?;
    // Twice at most: once more after the patient's old socket, silent,
    // was found gone.
    for _ in 0..2 {
        let (outbox, inbox) = mpsc::channel::<ServerMessage>(OUTBOX);
        let (reply, answer) = oneshot::channel();
        let asked = PatientEvent::Resume {
            resume,
            outbox,
            socket,
            reply,
        };
        app.session
            .send(asked)
            .await
            .map_err(|_| "the session is gone".to_owned())?;
        match answer.await {
            Ok(Resumed::Back(peer)) => {
                eprintln!("appliance: patient {peer} is back");
                return Ok((peer, inbox, None));
            }
            Ok(Resumed::Busy(peer)) if !app.sockets.still_there(peer).await => {}
            Ok(Resumed::Busy(_)) => {
                return Err("the resume secret of a patient whose page is still there".into());
            }
            _ => break,
        }
    }
    Err("a resume secret of no patient who is away".into())
}
