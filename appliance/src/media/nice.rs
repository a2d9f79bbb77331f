//! What webrtcbin's libnice agent needs beyond GStreamer's own settings:
//! UPnP off (`no_upnp`), and two calls that GStreamer does not wrap. Adding a local
//! address for ICE to gather on: libnice skips loopback interfaces, so
//! without it a box reached on 127.0.0.1 (tests, a box behind a reverse
//! proxy on the same host) offers no candidates at all. And giving back a
//! patient's TURN allocations before their webrtcbin goes: otherwise they
//! stay on the clinic's TURN server until they expire, and libnice warns of
//! them as the agent is freed.
#![allow(unsafe_code)]

use std::ffi::{CString, c_char, c_int, c_void};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use gst::glib;
use gst::glib::translate::ToGlibPtr;
use gst::prelude::*;

#[link(name = "nice")]
unsafe extern "C" {
    fn nice_address_new() -> *mut c_void;
    fn nice_address_set_from_string(addr: *mut c_void, s: *const c_char) -> c_int;
    fn nice_address_free(addr: *mut c_void);
    fn nice_agent_add_local_address(
        agent: *mut glib::gobject_ffi::GObject,
        addr: *const c_void,
    ) -> c_int;
    fn nice_agent_close_async(
        agent: *mut glib::gobject_ffi::GObject,
        callback: Option<
            unsafe extern "C" fn(*mut glib::gobject_ffi::GObject, *mut c_void, *mut c_void),
        >,
        data: *mut c_void,
    );
}

/// The NiceAgent inside `webrtcbin`'s ICE agent, if it is libnice's.
fn agent(webrtcbin: &gst::Element) -> Option<glib::Object> {
    let ice = webrtcbin.property::<Option<glib::Object>>("ice-agent")?;
    ice.find_property("agent")?;
    let agent = ice.property::<Option<glib::Object>>("agent")?;
    (agent.type_().name() == "NiceAgent").then_some(agent)
}

thread_local! {
    /// Where libnice says its relays are given back: the media thread's
    /// own context, iterated by [`release_relays`] and [`finish_releases`].
    static RELEASES: glib::MainContext = glib::MainContext::new();
}

/// Called by libnice once a `nice_agent_close_async` is done.
unsafe extern "C" fn released(
    _agent: *mut glib::gobject_ffi::GObject,
    _result: *mut c_void,
    done: *mut c_void,
) {
    // SAFETY: `done` is the Arc<AtomicBool> that release_relays turned into
    // a raw pointer for this one call; it is taken back exactly once, here.
    let done = unsafe { Arc::from_raw(done as *const AtomicBool) };
    done.store(true, Ordering::SeqCst);
}

/// Gives back the TURN allocations of `webrtcbin`'s agent (a refresh with a
/// lifetime of zero each), waiting up to `limit` for the TURN server's
/// answers: the agent must still run meanwhile, so call this before the
/// webrtcbin stops. Returns whether all were given back in time; a TURN
/// server that does not answer keeps them until they expire.
pub fn release_relays(webrtcbin: &gst::Element, limit: Duration) -> bool {
    let Some(agent) = agent(webrtcbin) else {
        return true;
    };
    let done = Arc::new(AtomicBool::new(false));
    let data = Arc::into_raw(done.clone()) as *mut c_void;
    RELEASES.with(|context| {
        let pushed = context.with_thread_default(|| {
            // SAFETY: `agent` is a live NiceAgent (checked by type name),
            // kept alive by our reference during the call and by libnice's
            // own task until the callback; `released` takes `data` back.
            unsafe { nice_agent_close_async(agent.to_glib_none().0, Some(released), data) };
        });
        if pushed.is_err() {
            // Not called: the Arc is taken back here instead.
            // SAFETY: `data` came from Arc::into_raw above and was not used.
            drop(unsafe { Arc::from_raw(data as *const AtomicBool) });
            return false;
        }
        let start = Instant::now();
        while !done.load(Ordering::SeqCst) && start.elapsed() < limit {
            if !context.iteration(false) {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        done.load(Ordering::SeqCst)
    })
}

/// Lets releases that outlasted their wait finish (their callbacks run on
/// the media thread's own context); the media thread calls it every turn.
pub fn finish_releases() {
    RELEASES.with(|context| {
        let _ = context.with_thread_default(|| while context.iteration(false) {});
    });
}

/// Keeps the NiceAgent inside `webrtcbin`'s ICE agent from asking the
/// clinic's router to open ports: libnice built with gupnp-igd (Debian's
/// is) searches the LAN for a UPnP gateway (SSDP multicast) and maps a
/// port on it for every candidate, by default. An appliance must not
/// reconfigure the clinic's network. Must be called before the local
/// description is set. Returns false if the agent is not libnice's; an
/// agent built without UPnP has nothing to switch off.
pub fn no_upnp(webrtcbin: &gst::Element) -> bool {
    let Some(agent) = agent(webrtcbin) else {
        return false;
    };
    if agent.find_property("upnp").is_some() {
        agent.set_property("upnp", false);
    }
    true
}

/// Adds `address` to the NiceAgent inside `webrtcbin`'s ICE agent. Must be
/// called before the local description is set. Returns false if webrtcbin's
/// ICE agent is not libnice's or the address was refused.
pub fn add_local_address(webrtcbin: &gst::Element, address: IpAddr) -> bool {
    let Some(agent) = agent(webrtcbin) else {
        return false;
    };
    let Ok(text) = CString::new(address.to_string()) else {
        return false;
    };
    // SAFETY: `agent` is a live NiceAgent (checked by type name above) kept
    // alive by our reference for the duration of the call; the address is
    // allocated, filled and freed by libnice's own functions, and
    // nice_agent_add_local_address copies it.
    unsafe {
        let addr = nice_address_new();
        if addr.is_null() {
            return false;
        }
        let ok = nice_address_set_from_string(addr, text.as_ptr()) != 0
            && nice_agent_add_local_address(agent.to_glib_none().0, addr) != 0;
        nice_address_free(addr);
        ok
    }
}
