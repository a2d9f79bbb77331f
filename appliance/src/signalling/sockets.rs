//! The patients' sockets, by patient: so that when a page presents a resume
//! secret whose patient still has a socket open, that socket can be asked
//! whether its page is still there. A network that changes under a page (a
//! phone leaving Wi-Fi) leaves its old socket open at the box, silent; a
//! second browser with a copied secret finds the first one answering.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::session::PeerId;

/// A question to a patient's socket: is its page still there? A socket
/// that cannot show it within [`PROBE_WAIT`] closes, and answers false (as
/// it does every question still waiting) once the session has heard it is
/// lost.
pub type Probe = oneshot::Sender<bool>;

/// How long a socket has to show its page is still there: a browser
/// answers a ping by itself, in one round trip. Too short a wait only lets
/// the page that asks (with the patient's own secret) take over sooner.
pub const PROBE_WAIT: Duration = Duration::from_millis(500);

/// Each patient's open socket, as a queue of questions to it.
#[derive(Debug, Default)]
pub struct Sockets {
    open: Mutex<HashMap<PeerId, (u64, mpsc::Sender<Probe>)>>,
    next: AtomicU64,
}

impl Sockets {
    /// A number for a new socket: the session tells a patient's sockets
    /// apart by it.
    pub fn number(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// Patient `peer`'s socket numbered `id` was let in (or took over from
    /// one that closed): the questions to it.
    pub fn opened(&self, peer: PeerId, id: u64) -> mpsc::Receiver<Probe> {
        let (questions, probes) = mpsc::channel(4);
        if let Ok(mut open) = self.open.lock() {
            open.insert(peer, (id, questions));
        }
        probes
    }

    /// The socket numbered `id` closed.
    pub fn closed(&self, peer: PeerId, id: u64) {
        if let Ok(mut open) = self.open.lock()
            && open.get(&peer).is_some_and(|(open_id, _)| *open_id == id)
        {
            open.remove(&peer);
        }
    }

    /// Whether the patient's open socket shows its page is still there;
    /// true when it cannot be asked (the safe answer: the call goes on).
    pub async fn still_there(&self, peer: PeerId) -> bool {
        let questions = match self.open.lock() {
            Ok(open) => open.get(&peer).map(|(_, q)| q.clone()),
            Err(_) => None,
        };
        let Some(questions) = questions else {
            return true;
        };
        let (ask, answer) = oneshot::channel();
        if questions.try_send(ask).is_err() {
            return true;
        }
        let wait = PROBE_WAIT + Duration::from_secs(1);
        !matches!(tokio::time::timeout(wait, answer).await, Ok(Ok(false)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_socket_is_asked_and_its_answer_given() {
        let sockets = Sockets::default();
        assert!(sockets.still_there(1).await, "none open: the call goes on");
        let id = sockets.number();
        let mut probes = sockets.opened(1, id);
        let answering = tokio::spawn(async move {
            let ask = probes.recv().await.unwrap();
            ask.send(false).unwrap();
            probes
        });
        assert!(!sockets.still_there(1).await);
        let _probes = answering.await.unwrap();
        // A newer socket took over: the older one's closing leaves it be.
        let _newer_probes = sockets.opened(1, sockets.number());
        sockets.closed(1, id);
        assert!(sockets.open.lock().unwrap().contains_key(&1));
    }
}
