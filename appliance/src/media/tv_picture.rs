//! The TV's picture: the therapist's only screen, drawn in the pipeline.
//!
//! A `compositor` runs on a black background at the TV's size and rate, in
//! I420 throughout (left to choose, it blends in a format with alpha and
//! costs ten times the CPU); the
//! patient in a live call fills it (keeping their aspect), the room's own
//! camera (after the gate: what the patient sees) sits small in a corner
//! while live, and two `textoverlay`s write the screen's words: one large in
//! the middle, one small at the top for the security code. The result goes
//! to `kmssink` on the box (no display server), a window on a desktop, or a
//! null sink when headless. In simulation a small copy of every picture is
//! kept for `appliance sim tv grab`, so tests can see what the TV shows.
//!
//! Every text is escaped before it reaches Pango, whose markup the overlay
//! would otherwise interpret: a patient's name is shown as typed, never as
//! markup.

use std::sync::Arc;

use gst::prelude::*;

use super::{MediaError, Stats};

/// The TV's picture size and rate.
pub const TV_WIDTH: i32 = 1280;
/// See [`TV_WIDTH`].
pub const TV_HEIGHT: i32 = 720;
const TV_RATE: i32 = 30;

/// The self view's size and its margin from the bottom right corner.
const SELF_WIDTH: i32 = 320;
const SELF_HEIGHT: i32 = 180;
const SELF_MARGIN: i32 = 32;

/// The size of the copies kept for `sim tv grab`.
pub const GRAB_WIDTH: u32 = 320;
/// See [`GRAB_WIDTH`].
pub const GRAB_HEIGHT: u32 = 180;

/// What the TV shows besides the patient: plain text, escaped here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScreenText {
    /// The large words in the middle (may be several lines).
    pub title: String,
    /// The small words at the top (the security code).
    pub corner: String,
    /// Whether the room's own camera shows in the corner.
    pub self_view: bool,
}

/// A picture copied from the TV, RGB, for `sim tv grab`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Packed RGB, row by row.
    pub rgb: Vec<u8>,
}

/// The TV's picture in GStreamer's launch syntax: a black background, the
/// patient (on the compositor's `sink_%u` pads, added per patient), the
/// title and the corner written over it, the self view in its corner, out
/// to the TV; in simulation also small RGB copies for `sim tv grab`.
fn description(headless: bool, simulated: bool) -> String {
    let sink = tv_sink(headless);
    let grab = if simulated {
        format!(
            "tv_out. ! queue leaky=downstream max-size-buffers=1 ! \
             videorate drop-only=true max-rate=5 ! videoscale method=nearest-neighbour ! \
             videoconvert ! video/x-raw,format=RGB,width={GRAB_WIDTH},height={GRAB_HEIGHT} ! \
             fakesink name=tv_grab sync=false async=false"
        )
    } else {
        String::new()
    };
    format!(
        "videotestsrc pattern=black is-live=true ! \
         video/x-raw,format=I420,width={TV_WIDTH},height={TV_HEIGHT},framerate={TV_RATE}/1 ! \
         tv_comp.sink_0 compositor name=tv_comp background=black latency=100000000 ! \
         video/x-raw,format=I420,width={TV_WIDTH},height={TV_HEIGHT},framerate={TV_RATE}/1 ! \
         textoverlay name=tv_title valignment=center halignment=center \
         line-alignment=center font-desc=\"Sans 36\" \
         shaded-background=false ! \
         textoverlay name=tv_corner valignment=top halignment=center \
         font-desc=\"Sans 22\" shaded-background=true ! \
         tee name=tv_out ! queue leaky=downstream max-size-buffers=2 ! videoconvert ! {sink} \
         {grab} \
         queue name=self_in leaky=downstream max-size-buffers=1 ! \
         valve name=self_valve drop=true ! videoscale method=nearest-neighbour ! videoconvert ! \
         video/x-raw,format=I420,width={SELF_WIDTH},height={SELF_HEIGHT} ! tv_comp.sink_1"
    )
}

/// Keeps the latest small copy of the TV's picture in `stats`, for `sim tv
/// grab` (simulation only: a copy of the TV would be a copy of the session).
fn keep_grabs(grab: &gst::Element, stats: &Arc<Stats>) -> Result<(), MediaError> {
    let stats = Arc::downgrade(stats);
    grab.static_pad("sink")
        .ok_or_else(|| MediaError::Pipeline("the TV grab has no pad".into()))?
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let (Some(gst::PadProbeData::Buffer(buffer)), Some(stats)) =
                (&info.data, stats.upgrade())
                && let Ok(map) = buffer.map_readable()
                && let Ok(mut slot) = stats.tv_frame.lock()
            {
                *slot = Some(Frame {
                    width: GRAB_WIDTH,
                    height: GRAB_HEIGHT,
                    rgb: map.as_slice().to_vec(),
                });
            }
            gst::PadProbeReturn::Ok
        });
    Ok(())
}

/// Feeds the self view from the camera's tee, behind a barrier: the TV is
/// for the room, and the call must not depend on it.
fn feed_self_view(
    pipeline: &gst::Pipeline,
    bin: &gst::Bin,
    camera: &gst::Element,
    self_in: &gst::Element,
) -> Result<(), MediaError> {
    let entry = gst::GhostPad::builder_with_target(
        &self_in
            .static_pad("sink")
            .ok_or_else(|| MediaError::Pipeline("no self view input".into()))?,
    )?
    .name("self_view")
    .build();
    bin.add_pad(&entry)?;
    pipeline.add(bin)?;
    let tee_pad = camera
        .request_pad_simple("src_%u")
        .ok_or_else(|| MediaError::Pipeline("the camera has no pad for the TV".into()))?;
    if let Err(e) = tee_pad.link(&entry) {
        camera.release_request_pad(&tee_pad);
        let _ = pipeline.remove(bin);
        return Err(MediaError::Pipeline(format!(
            "cannot show the self view: {e:?}"
        )));
    }
    super::error_barrier(&tee_pad, "the TV's picture");
    Ok(())
}

/// The TV's picture: its compositor (whose `sink_%u` pads take the patient)
/// and the overlays to write on.
#[derive(Debug)]
pub struct TvPicture {
    compositor: gst::Element,
    title: gst::Element,
    corner: gst::Element,
    self_pad: gst::Pad,
    /// Stops the camera's frames before they are scaled, while unseen.
    self_valve: gst::Element,
}

impl TvPicture {
    /// Builds the TV's picture into `pipeline`, with the self view fed from
    /// `camera` (the gated camera's tee). Call before the pipeline plays.
    pub fn build(
        pipeline: &gst::Pipeline,
        camera: &gst::Element,
        headless: bool,
        simulated: bool,
        stats: &Arc<Stats>,
    ) -> Result<TvPicture, MediaError> {
        let description = description(headless, simulated);
        let bin = gst::parse::bin_from_description_with_name(&description, false, "tv_screen")
            .map_err(|e| MediaError::Pipeline(format!("cannot build the TV's picture: {e}")))?;
        let by_name = |name: &str| {
            bin.by_name(name)
                .ok_or_else(|| MediaError::Pipeline(format!("the TV has no {name}")))
        };
        let compositor = by_name("tv_comp")?;
        let title = by_name("tv_title")?;
        let corner = by_name("tv_corner")?;
        let self_valve = by_name("self_valve")?;
        let self_pad = compositor
            .static_pad("sink_1")
            .ok_or_else(|| MediaError::Pipeline("the TV has no self view pad".into()))?;
        self_pad.set_property("xpos", TV_WIDTH - SELF_WIDTH - SELF_MARGIN);
        self_pad.set_property("ypos", TV_HEIGHT - SELF_HEIGHT - SELF_MARGIN);
        self_pad.set_property("zorder", 3u32);
        self_pad.set_property("alpha", 0.0f64);

        if simulated {
            keep_grabs(&by_name("tv_grab")?, stats)?;
        }
        feed_self_view(pipeline, &bin, camera, &by_name("self_in")?)?;
        let picture = TvPicture {
            compositor,
            title,
            corner,
            self_pad,
            self_valve,
        };
        picture.show(&ScreenText::default());
        Ok(picture)
    }

    /// The compositor, whose `sink_%u` pads take the patient's picture.
    pub fn compositor(&self) -> &gst::Element {
        &self.compositor
    }

    /// Writes a screen's words and shows or hides the self view.
    pub fn show(&self, text: &ScreenText) {
        self.title.set_property("text", plain(&text.title).as_str());
        self.title.set_property("silent", text.title.is_empty());
        self.corner
            .set_property("text", plain(&text.corner).as_str());
        self.corner.set_property("silent", text.corner.is_empty());
        self.self_valve.set_property("drop", !text.self_view);
        self.self_pad
            .set_property("alpha", if text.self_view { 1.0f64 } else { 0.0 });
    }
}

/// Where the TV's picture goes: nowhere when headless, a window on a
/// desktop, else straight to the HDMI output with `kmssink` (the box has no
/// display server). A box whose HDMI output cannot be opened still runs its
/// sessions, with a warning: the patient is not kept waiting on the TV.
/// Never a sink that prerolls (`async=false`, or a bin that keeps its own):
/// a sink that lost its state (a flush) once waited for preroll for good in
/// the running pipeline, the camera behind it, and no patient was offered a
/// call (`bus.rs`).
fn tv_sink(headless: bool) -> &'static str {
    if headless {
        return "fakesink sync=false async=false";
    }
    if std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some() {
        return "autovideosink sync=false async-handling=true";
    }
    let usable = gst::ElementFactory::make("kmssink")
        .build()
        .is_ok_and(|sink| {
            let ready = sink.set_state(gst::State::Ready).is_ok();
            let _ = sink.set_state(gst::State::Null);
            ready
        });
    if usable {
        "kmssink sync=false async=false"
    } else {
        eprintln!(
            "appliance: warning: no display and no usable HDMI output (kmssink): \
             the TV shows nothing"
        );
        "fakesink sync=false async=false"
    }
}

/// Text as `textoverlay` must be given it to draw it as it is: the overlay
/// reads Pango markup, where `<`, `>` and `&` mean something. Emoji are left
/// out (see [`drawable`]).
fn plain(text: &str) -> gst::glib::GString {
    gst::glib::markup_escape_text(&drawable(text))
}

/// The text without its emoji: the TV's font (DejaVu, the one the image
/// carries) has none, and Pango would draw each as an empty box. Whatever a
/// person sees as one emoji (with its skin tone, a flag, a ZWJ family) goes
/// whole, and so does the space it leaves doubled.
fn drawable(text: &str) -> String {
    use unicode_segmentation::UnicodeSegmentation;
    let kept: String = text
        .graphemes(true)
        .filter(|g| !g.chars().any(is_emoji))
        .collect();
    if kept.len() == text.len() {
        return kept;
    }
    kept.split('\n')
        .map(|line| {
            line.split(' ')
                .filter(|w| !w.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether `c` makes its grapheme an emoji: the emoji planes' blocks, the
/// characters of the first plane shown as emoji by default, and the emoji
/// presentation selector and keycap mark, which turn a character into one.
fn is_emoji(c: char) -> bool {
    matches!(
        c,
        '\u{1F000}'..='\u{1FAFF}'
            | '\u{FE0F}'
            | '\u{20E3}'
            | '\u{E0020}'..='\u{E007F}'
            | '\u{231A}'..='\u{231B}'
            | '\u{23E9}'..='\u{23EC}'
            | '\u{23F0}'
            | '\u{23F3}'
            | '\u{25FD}'..='\u{25FE}'
            | '\u{2614}'..='\u{2615}'
            | '\u{2648}'..='\u{2653}'
            | '\u{267F}'
            | '\u{2693}'
            | '\u{26A1}'
            | '\u{26AA}'..='\u{26AB}'
            | '\u{26BD}'..='\u{26BE}'
            | '\u{26C4}'..='\u{26C5}'
            | '\u{26CE}'
            | '\u{26D4}'
            | '\u{26EA}'
            | '\u{26F2}'..='\u{26F3}'
            | '\u{26F5}'
            | '\u{26FA}'
            | '\u{26FD}'
            | '\u{2705}'
            | '\u{270A}'..='\u{270B}'
            | '\u{2728}'
            | '\u{274C}'
            | '\u{274E}'
            | '\u{2753}'..='\u{2755}'
            | '\u{2757}'
            | '\u{2795}'..='\u{2797}'
            | '\u{27B0}'
            | '\u{27BF}'
            | '\u{2B1B}'..='\u{2B1C}'
            | '\u{2B50}'
            | '\u{2B55}'
    )
}

/// Sets up a compositor pad for the patient's picture: full screen, their
/// aspect kept, under the self view, hidden until they are on the TV.
pub fn patient_pad(pad: &gst::Pad, shown: bool) {
    pad.set_property("xpos", 0i32);
    pad.set_property("ypos", 0i32);
    pad.set_property("width", TV_WIDTH);
    pad.set_property("height", TV_HEIGHT);
    pad.set_property("zorder", 1u32);
    pad.set_property_from_str("sizing-policy", "keep-aspect-ratio");
    show_patient(pad, shown);
}

/// Shows or hides the patient's picture on the TV.
pub fn show_patient(pad: &gst::Pad, shown: bool) {
    pad.set_property("alpha", if shown { 1.0f64 } else { 0.0 });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_sink_of_the_tv_s_picture_waits_for_preroll() {
        gst::init().unwrap();
        let bin = gst::parse::bin_from_description(&description(true, true), false).unwrap();
        assert_eq!(
            super::super::bus::prerolling_sinks(&bin),
            Vec::<String>::new()
        );
    }

    /// How many pixels of a 320x120 picture `text` lights, as the TV's
    /// overlay draws it.
    fn lit(text: &str) -> usize {
        gst::init().unwrap();
        let pipeline = gst::parse::launch(
            "videotestsrc pattern=black num-buffers=1 ! \
             video/x-raw,width=320,height=120,format=I420 ! \
             textoverlay name=text font-desc=\"Sans 20\" ! videoconvert ! \
             video/x-raw,format=GRAY8 ! fakesink name=sink",
        )
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        pipeline.by_name("text").unwrap().set_property("text", text);
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = count.clone();
        pipeline
            .by_name("sink")
            .unwrap()
            .static_pad("sink")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                if let Some(gst::PadProbeData::Buffer(b)) = &info.data {
                    let map = b.map_readable().unwrap();
                    let n = map.iter().filter(|&&p| p > 128).count();
                    seen.store(n, std::sync::atomic::Ordering::SeqCst);
                }
                gst::PadProbeReturn::Ok
            });
        pipeline.set_state(gst::State::Playing).unwrap();
        let bus = pipeline.bus().unwrap();
        let done = bus.timed_pop_filtered(
            gst::ClockTime::from_seconds(10),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        );
        pipeline.set_state(gst::State::Null).unwrap();
        assert!(matches!(
            done.as_ref().map(|m| m.view()),
            Some(gst::MessageView::Eos(_))
        ));
        count.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// A camera feeding a call and another branch (a TV, or a patient's
    /// media going away, whose sink answers every frame with `fails`), with
    /// or without the barrier in between; how many of the camera's 30
    /// frames the call got.
    fn frames_to_the_call(fails: Option<gst::FlowError>, barrier: bool) -> usize {
        gst::init().unwrap();
        let pipeline = gst::parse::launch(
            "videotestsrc is-live=true num-buffers=30 ! video/x-raw,width=64,height=36 ! \
             tee name=camera ! queue ! fakesink name=call sync=false async=false \
             camera. ! queue ! fakesink name=tv sync=false async=false",
        )
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        let pad = |name: &str| pipeline.by_name(name).unwrap().static_pad("sink").unwrap();
        if let Some(error) = fails {
            pad("tv").add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                info.flow_res = Err(error);
                gst::PadProbeReturn::Handled
            });
        }
        let frames = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = frames.clone();
        pad("call").add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            gst::PadProbeReturn::Ok
        });
        if barrier {
            let to_tv = pipeline.by_name("camera").unwrap().src_pads()[1].clone();
            crate::media::error_barrier(&to_tv, "the test's branch");
        }
        pipeline.set_state(gst::State::Playing).unwrap();
        // 30 frames at 30 a second, and some room; ends early when the
        // call has them all.
        for _ in 0..40 {
            if frames.load(std::sync::atomic::Ordering::SeqCst) == 30 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        pipeline.set_state(gst::State::Null).unwrap();
        frames.load(std::sync::atomic::Ordering::SeqCst)
    }

    #[test]
    fn a_failing_tv_does_not_stop_the_camera() {
        assert_eq!(frames_to_the_call(None, true), 30);
        let failing = Some(gst::FlowError::Error);
        let without = frames_to_the_call(failing, false);
        assert!(without < 30, "the test's TV does not fail: {without}");
        assert_eq!(frames_to_the_call(failing, true), 30);
    }

    #[test]
    fn a_patient_s_media_going_away_does_not_stop_the_camera() {
        // Torn down for a repair, its pad flushes under a frame in flight.
        let flushing = Some(gst::FlowError::Flushing);
        let without = frames_to_the_call(flushing, false);
        assert!(without < 30, "a flushing branch did not stop it: {without}");
        assert_eq!(frames_to_the_call(flushing, true), 30);
    }

    #[test]
    fn emoji_are_left_out_whole_and_words_stay() {
        assert_eq!(drawable("Ada 🌻 is waiting"), "Ada is waiting");
        assert_eq!(drawable("Ada👍🏽\nPress"), "Ada\nPress");
        assert_eq!(
            drawable("👨\u{200D}👩\u{200D}👧 Zoë 🇳🇱 ❤\u{FE0F} 1\u{FE0F}\u{20E3} ⭐"),
            "Zoë"
        );
        // Text symbols the font has, and every script's letters, stay.
        for kept in [
            "Tom & Jerry ☺ ✓",
            "محمد is waiting",
            "王小明",
            "  two  spaces ",
        ] {
            assert_eq!(drawable(kept), kept);
        }
        // On the TV: nothing at all, not an empty box per emoji (which is
        // what the overlay draws of them as they are).
        assert!(lit(&gst::glib::markup_escape_text("🌻👍🏽🇳🇱")) > 0);
        assert_eq!(lit(&plain("🌻👍🏽🇳🇱")), 0);
        assert_eq!(lit(&plain("Ada 🌻")), lit(&plain("Ada")));
    }

    #[test]
    fn a_name_that_looks_like_markup_is_drawn_as_typed() {
        // Raw, the overlay takes it for markup: broken markup draws nothing,
        // and good markup would style the TV as the patient pleases.
        assert_eq!(lit("<b>Ada"), 0);
        let name = lit(&plain("Ada"));
        let typed = lit(&plain("<b>Ada"));
        assert!(name > 0);
        assert!(typed > name, "the tags are drawn too: {typed} > {name}");
        assert!(lit(&plain("Tom & Jerry")) > lit(&plain("Tom  Jerry")));
    }
}
