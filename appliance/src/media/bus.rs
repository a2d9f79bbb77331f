//! What the pipeline's bus says, and where media stands: errors, the
//! pipeline leaving PLAYING, and the elements that are not PLAYING when
//! media stopped doing what it should.

use gst::prelude::*;

/// Says what the pipeline's bus reports that someone should know: errors,
/// and the pipeline leaving PLAYING while it runs. Nothing in it may make
/// it preroll again (see `decoders.rs`): while it does, the TV's sinks wait
/// and the camera with them, for every patient.
pub fn report(message: &gst::Message) {
    let from = || {
        (message.src())
            .map(|s| s.path_string().to_string())
            .unwrap_or_default()
    };
    match message.view() {
        gst::MessageView::Error(error) => {
            eprintln!("appliance: media error from {}: {}", from(), error.error());
        }
        gst::MessageView::StateChanged(change)
            if message.src().is_some_and(|s| s.is::<gst::Pipeline>())
                && left_playing(change.old(), change.current()) =>
        {
            eprintln!(
                "appliance: media left PLAYING ({:?} to {:?}): something in it is prerolling",
                change.old(),
                change.current()
            );
        }
        _ => {}
    }
}

/// The elements of `pipeline` that are not PLAYING, or are changing state,
/// as their paths with their states, the first 24: where media stands when
/// it stopped doing what it should.
pub fn not_playing(pipeline: &gst::Pipeline) -> String {
    let elements = pipeline.iterate_recurse().into_iter().flatten();
    let lagging: Vec<String> = elements
        .filter_map(|e| {
            let (_, now, pending) = e.state(gst::ClockTime::ZERO);
            (now != gst::State::Playing || pending != gst::State::VoidPending)
                .then(|| format!("{} {now:?}/{pending:?}", e.path_string()))
        })
        .take(24)
        .collect();
    if lagging.is_empty() {
        "none".into()
    } else {
        lagging.join(", ")
    }
}

/// Whether a change of the running pipeline's state takes it out of
/// PLAYING: straight down, or "lost" (PAUSED to PAUSED, which GStreamer
/// posts when an element starts prerolling again).
fn left_playing(old: gst::State, now: gst::State) -> bool {
    (old == gst::State::Playing && now != gst::State::Playing)
        || (old == gst::State::Paused && now == gst::State::Paused)
}

/// The sinks in `bin` that would wait for preroll after losing their state:
/// those with `async` on. The running pipeline must have none (see
/// `tv_picture::tv_sink`).
#[cfg(test)]
pub fn prerolling_sinks(bin: &gst::Bin) -> Vec<String> {
    (bin.iterate_recurse().into_iter().flatten())
        .filter(|e| e.element_flags().contains(gst::ElementFlags::SINK))
        .filter(|e| e.find_property("async").is_some() && e.property::<bool>("async"))
        .map(|e| e.path_string().to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaving_playing_is_going_down_from_it_or_losing_the_state() {
        use gst::State::*;
        assert!(left_playing(Playing, Paused));
        assert!(left_playing(Paused, Paused), "lost state");
        assert!(!left_playing(Ready, Paused), "starting");
        assert!(!left_playing(Paused, Playing));
    }

    #[test]
    fn elements_not_playing_are_named_with_their_states() {
        gst::init().unwrap();
        let pipeline = gst::parse::launch("fakesrc is-live=true ! fakesink name=out async=false")
            .unwrap()
            .downcast::<gst::Pipeline>()
            .unwrap();
        pipeline.set_state(gst::State::Paused).unwrap();
        let paused = not_playing(&pipeline);
        assert!(
            paused.contains("/GstFakeSink:out Paused/VoidPending"),
            "{paused}"
        );
        pipeline.set_state(gst::State::Playing).unwrap();
        let _ = pipeline.state(gst::ClockTime::from_seconds(5));
        assert_eq!(not_playing(&pipeline), "none");
        pipeline.set_state(gst::State::Null).unwrap();
    }
}
