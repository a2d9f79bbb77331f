//! The one call into libnice that GStreamer does not wrap: adding a local
//! address for ICE to gather on. libnice skips loopback interfaces, so without
//! it a box reached on 127.0.0.1 (tests, a box behind a reverse proxy on the
//! same host) offers no candidates at all.
#![allow(unsafe_code)]

use std::ffi::{CString, c_char, c_int, c_void};
use std::net::IpAddr;

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
}

/// Adds `address` to the NiceAgent inside `webrtcbin`'s ICE agent. Must be
/// called before the local description is set. Returns false if webrtcbin's
/// ICE agent is not libnice's or the address was refused.
pub fn add_local_address(webrtcbin: &gst::Element, address: IpAddr) -> bool {
    let Some(ice) = webrtcbin.property::<Option<glib::Object>>("ice-agent") else {
        return false;
    };
    if ice.find_property("agent").is_none() {
        return false;
    }
    let Some(agent) = ice.property::<Option<glib::Object>>("agent") else {
        return false;
    };
    if agent.type_().name() != "NiceAgent" {
        return false;
    }
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
