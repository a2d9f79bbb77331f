// The patient's page: camera check, join, WebRTC with the room, security code.
// Nothing the patient gives us (token, name, SDP) is ever logged.
"use strict";

(() => {
  const STATES = ["check", "early", "waiting", "starting", "live", "paused", "reconnecting", "ended", "denied", "error", "unsupported"];
  // Where the page keeps the secret that brings it back to its session after
  // a reload: this tab only, gone when the tab closes.
  const RESUME_KEY = "appliance-resume";
  const $ = (id) => document.getElementById(id);
  const els = {
    body: document.body,
    room: $("room"),
    roomLine: $("room-line"),
    mediaNote: $("media-note"),
    retryMedia: $("retry-media"),
    form: $("join-form"),
    name: $("name"),
    nameHint: $("name-hint"),
    errorText: $("error-text"),
    earlyText: $("early-text"),
    join: $("join"),
    remote: $("remote"),
    remoteAudio: $("remote-audio"),
    self: $("self"),
    security: $("security"),
    securityCode: $("security-code"),
    leave: $("leave"),
    allowHelp: $("allow-help"),
    allowText: $("allow-text"),
    allowList: $("allow-list"),
    unsupportedText: $("unsupported-text"),
    tapToHear: $("tap-to-hear"),
    micLevel: $("mic-level"),
    testSound: $("test-sound"),
    soundAnswer: $("sound-answer"),
    soundHeard: $("sound-heard"),
    soundNotHeard: $("sound-not-heard"),
    soundNote: $("sound-note"),
    devices: $("devices"),
    cameraChoice: $("camera-choice"),
    micChoice: $("mic-choice"),
    speakerRow: $("speaker-row"),
    speakerChoice: $("speaker-choice"),
    noCamera: $("no-camera"),
    micToggle: $("mic-toggle"),
    cameraToggle: $("camera-toggle"),
    language: $("language"),
    weakNotice: $("weak-notice"),
  };

  // ---- Words: the room's language, or the one the patient picks ----

  // One table per language (words/<code>.js), English the fallback for a
  // word a table lacks.
  const WORDS = window.APPLIANCE_WORDS || {};
  const LANGUAGE_KEY = "appliance-language";
  let lang = "en";
  // What each element's words fill in, to fill in anew in another language.
  const filled = new WeakMap();
  const known = (code) => typeof code === "string" && Object.prototype.hasOwnProperty.call(WORDS, code);

  function w(key, values) {
    const table = WORDS[lang] || {};
    let text = key in table ? table[key] : (WORDS.en || {})[key] || "";
    for (const [name, value] of Object.entries(values || {})) {
      text = text.split(`{${name}}`).join(typeof value === "function" ? value() : String(value));
    }
    return text;
  }

  // Puts the words `key` in `el` (as text, never markup), and keeps them
  // there when the language changes; null empties it.
  function say(el, key, values) {
    filled.delete(el);
    if (!key) {
      delete el.dataset.w;
      el.textContent = "";
      return;
    }
    el.dataset.w = key;
    if (values) filled.set(el, values);
    el.textContent = w(key, values);
  }

  function translate() {
    document.documentElement.lang = lang;
    document.title = w("title");
    for (const el of document.querySelectorAll("[data-w]")) el.textContent = w(el.dataset.w, filled.get(el));
    for (const el of document.querySelectorAll("[data-w-label]")) el.setAttribute("aria-label", w(el.dataset.wLabel));
    els.language.value = lang;
  }

  // The patient's pick (this tab only), a ?lang= in the link, the room's
  // language as the box serves the page, or English: the first there is a
  // table for. A code there is no table for is passed over.
  function firstLanguage() {
    let picked = null;
    try {
      picked = window.sessionStorage.getItem(LANGUAGE_KEY);
    } catch (err) {
      picked = null;
    }
    const asked = new URLSearchParams(location.search).get("lang");
    return [picked, asked, document.documentElement.lang, "en"].find(known) || "en";
  }

  function chooseLanguage() {
    if (!known(els.language.value)) return;
    lang = els.language.value;
    try {
      window.sessionStorage.setItem(LANGUAGE_KEY, lang);
    } catch (err) {
      // Storage switched off: the pick holds until the page reloads.
    }
    translate();
  }

  function startWords() {
    els.language.replaceChildren(...Object.keys(WORDS).map((code) => {
      const option = document.createElement("option");
      option.value = code;
      option.lang = code;
      option.textContent = WORDS[code].language_name || code;
      return option;
    }));
    lang = firstLanguage();
    translate();
    els.language.addEventListener("change", chooseLanguage);
  }
  startWords();

  // For tests: the live peer connection, the code the page computed, the
  // name as the page sent it, how often it asked for a new connection, how
  // many sockets it opened, and whether it asked for the camera.
  // And the check-in: the loudest the microphone was, what became of the
  // test sound, whether the page had to ask for a tap to play the room's
  // sound, and whether that sound plays.
  window.appliance = {
    pc: null, securityCode: null, name: null, reconnectsAsked: 0, sockets: 0, cameraAsked: false,
    micLevel: 0, testSound: null, tapAsked: false, soundPlaying: false,
  };

  let socket = null;
  let pc = null;
  let peerArgs = null; // what the connection was made with, to make it anew
  let localStream = null;
  let mediaReady = Promise.resolve(null);
  let pendingIce = []; // remote candidates that came before the remote description
  let finished = false; // ended, denied or failed for good: nothing more can happen
  let chain = Promise.resolve(); // signalling steps run one at a time, in order
  let boxState = "check"; // what the box last said (or the page's own first states)
  let hadConnection = false; // a connection with the room connected at least once
  let admitted = false; // the box welcomed this page at least once
  let socketAttempts = 0; // signalling reconnections since one last held
  let signalLostAt = 0; // when the socket was lost, while it is
  let mediaDownSince = 0; // when the connection with the room went down, while it is
  let lastReconnectAsk = 0;
  let lastHeard = 0; // when the box last said anything on the socket
  let pingSent = 0; // when the page asked the box for a pong, while it waits
  let opensAt = 0; // a link for later: when it lets the patient in (this page's clock)
  let joinWhenOpen = false; // the patient is ready and waits for the link to open
  let linkChecked = Promise.resolve(); // the check of the link, done or not

  // The token lives only in this closure; take it out of the address bar at once
  // so it does not linger in history, bookmarks or a shared screen.
  const token = location.hash.length > 1 ? location.hash.slice(1) : "";
  if (location.hash) history.replaceState(null, "", location.pathname + location.search);

  // For tests and whoever debugs: what happened to the connection and the
  // socket, and when (states and steps only, nothing the patient gave).
  function note(what) {
    window.appliance.log = (window.appliance.log || []).slice(-40);
    window.appliance.log.push([Date.now(), what]);
  }

  function storage() {
    try {
      return window.sessionStorage;
    } catch (err) {
      return null; // storage switched off: no coming back after a reload
    }
  }
  // A new link is a new session: a secret from an earlier one is dropped.
  if (token && storage()) storage().removeItem(RESUME_KEY);
  const resumeSecret = !token && storage() ? storage().getItem(RESUME_KEY) : null;
  const resumed = !!resumeSecret; // this page comes back to a session after a reload

  function setState(state) {
    if (finished || !STATES.includes(state) || els.body.dataset.state === state) return;
    els.body.dataset.state = state;
    // Hidden videos may not have started; make sure the picture runs once shown.
    if (state === "live") playRemote();
  }

  // The connection with the room is down (or not yet back after a reload).
  function mediaDown() {
    return (hadConnection || resumed) && (!iceUp() || stalled());
  }

  function iceUp() {
    return !!pc && ["connected", "completed"].includes(pc.iceConnectionState);
  }

  // The room's packets as last counted, and when they last moved: the room
  // always sends (black and silence while the camera is gated), so 1.5 s
  // without a packet is a connection down, seen well before the browser's
  // ICE says so (5 s and more).
  let inbound = { pc: null, packets: 0, at: 0 };

  function stalled() {
    return inbound.pc === pc && inbound.at > 0 && Date.now() - inbound.at > 1500;
  }

  async function countInbound() {
    if (!pc || !iceUp()) return;
    const counted = pc;
    let packets = 0;
    try {
      (await counted.getStats()).forEach((s) => {
        if (s.type === "inbound-rtp") packets += s.packetsReceived || 0;
      });
    } catch (err) {
      return;
    }
    if (inbound.pc !== counted || packets !== inbound.packets) {
      inbound = { pc: counted, packets, at: Date.now() };
    }
  }

  // What the page shows: the box's word, unless the call's connection is
  // down, which the patient sees as "Reconnecting…".
  function render() {
    const inCall = ["starting", "live", "paused"].includes(boxState) || (resumed && boxState === "check");
    setState(inCall && mediaDown() ? "reconnecting" : boxState);
  }

  // A state after which this page is done: release the camera and the socket.
  function finish(state) {
    setState(state);
    finished = true;
    els.tapToHear.hidden = true;
    els.weakNotice.hidden = true;
    if (storage()) storage().removeItem(RESUME_KEY);
    if (storage()) storage().removeItem(SENDING_KEY);
    closeMedia();
    if (socket && socket.readyState <= WebSocket.OPEN) socket.close();
  }

  // The box gave up on this page, saying why when it can.
  function failed(reason) {
    if (reason === "unreachable" || reason === "media") {
      els.body.dataset.reason = reason;
      say(els.errorText, `error_${reason}`);
    }
    finish("error");
  }

  function closeMedia() {
    if (pc && pc.signalingState !== "closed") pc.close();
    if (localStream) localStream.getTracks().forEach((t) => t.stop());
  }

  // Starts the room's picture and sound. A browser may refuse to play sound
  // the patient did not tap for (iOS Safari's rule): then one big button
  // asks for the tap, and playback starts on it.
  function playRemote() {
    for (const el of [els.remote, els.remoteAudio]) startPlaying(el);
  }

  function startPlaying(el) {
    if (!el.srcObject || finished) return;
    const playing = el.play();
    if (!playing || !playing.then) return;
    playing.then(() => {
      if (el === els.remoteAudio) window.appliance.soundPlaying = true;
    }, (err) => {
      // A new stream replacing the old one aborts its play(); not a refusal.
      if (err && err.name === "AbortError") return;
      if (el === els.remoteAudio) window.appliance.soundPlaying = false;
      askForTap();
    });
  }

  function askForTap() {
    if (finished || !els.tapToHear.hidden) return;
    window.appliance.tapAsked = true;
    els.tapToHear.hidden = false;
    els.tapToHear.focus();
  }

  function tapped() {
    els.tapToHear.hidden = true;
    // Within the tap itself: that is what such a browser allows.
    playRemote();
  }

  function send(msg) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(msg));
  }

  // ---- Camera and microphone check ----

  // The note on the camera and microphone, by its words' key; none for null.
  function showMediaNote(key) {
    say(els.mediaNote, key);
    els.mediaNote.hidden = !key;
  }

  // The devices the patient chose (ids), or null for the browser's own
  // choice; and the speaker, where the browser lets a page choose one.
  const chosen = { audio: null, video: null, speaker: null };

  function constraints() {
    const video = { facingMode: "user", width: { ideal: 1280 }, height: { ideal: 720 } };
    if (chosen.video) video.deviceId = { exact: chosen.video };
    return { audio: chosen.audio ? { deviceId: { exact: chosen.audio } } : true, video };
  }

  async function getMedia() {
    window.appliance.cameraAsked = true;
    const md = navigator.mediaDevices;
    showAllowHelp(false);
    try {
      return await md.getUserMedia(constraints());
    } catch (err) {
      if (err && (err.name === "NotAllowedError" || err.name === "SecurityError")) {
        els.retryMedia.hidden = false;
        showMediaNote("blocked");
        showAllowHelp(true);
        return null;
      }
    }
    // No camera, or it is busy: sound alone is still worth having.
    try {
      const stream = await md.getUserMedia({ audio: constraints().audio });
      els.retryMedia.hidden = false;
      showMediaNote("no_camera_sound_only");
      return stream;
    } catch (err) {
      els.retryMedia.hidden = false;
      showMediaNote("no_camera_or_mic");
      return null;
    }
  }

  function startMedia() {
    showMediaNote(null);
    els.retryMedia.hidden = true;
    mediaReady = getMedia().then((stream) => {
      // The patient may have joined or left meanwhile; a late stream must not stay on.
      if (stream && (finished || pc)) {
        stream.getTracks().forEach((t) => t.stop());
        return localStream;
      }
      if (localStream) localStream.getTracks().forEach((t) => t.stop());
      localStream = stream;
      const hasVideo = !!stream && stream.getVideoTracks().length > 0;
      els.body.classList.toggle("no-self", !hasVideo);
      els.self.srcObject = hasVideo ? stream : null;
      if (hasVideo) els.self.play().catch(() => {});
      watchMicrophone(stream);
      for (const track of stream ? stream.getTracks() : []) {
        // Unplugged while checking (a headset): back to the browser's choice.
        track.onended = () => {
          if (localStream !== stream || pc || finished) return;
          chosen[track.kind] = null;
          startMedia();
        };
      }
      if (stream) listDevices();
      return stream;
    });
    return mediaReady;
  }

  // ---- Check-in: the microphone's level, a test sound, the devices ----

  let audioCtx = null;
  function audioContext() {
    if (!audioCtx && window.AudioContext) audioCtx = new AudioContext();
    return audioCtx;
  }
  // Browsers that start sound only on a tap start the meter's too.
  for (const kind of ["pointerdown", "keydown"]) {
    document.addEventListener(kind, () => { if (audioCtx) audioCtx.resume().catch(() => {}); }, true);
  }

  let meter = null; // the microphone's analyser while checking
  function watchMicrophone(stream) {
    if (meter) meter.source.disconnect();
    meter = null;
    const track = stream ? stream.getAudioTracks()[0] : null;
    const ctx = track ? audioContext() : null;
    els.micLevel.value = 0;
    if (!ctx) return;
    const source = ctx.createMediaStreamSource(new MediaStream([track]));
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 1024;
    source.connect(analyser);
    meter = { source, analyser, data: new Float32Array(analyser.fftSize) };
  }

  // Ten times a second while the patient checks; let go once they join.
  setInterval(() => {
    if (!meter) return;
    if (pc || finished) {
      meter.source.disconnect();
      meter = null;
      return;
    }
    meter.analyser.getFloatTimeDomainData(meter.data);
    let sum = 0;
    for (const x of meter.data) sum += x * x;
    // Speech at a normal distance is around 0.05–0.2 RMS: shown on a
    // scale where it fills most of the bar.
    const level = Math.min(1, Math.sqrt(sum / meter.data.length) * 5);
    // Falls back slowly, so a word stays on the bar long enough to see.
    els.micLevel.value = Math.max(level, els.micLevel.value * 0.85);
    window.appliance.micLevel = Math.max(window.appliance.micLevel, level);
  }, 100);

  // A short two-note chime, made here: nothing to download.
  let chime = null;
  function chimeUrl() {
    if (chime) return chime;
    const rate = 22050;
    const length = Math.floor(rate * 0.9);
    const bytes = new DataView(new ArrayBuffer(44 + length * 2));
    const text = (at, word) => [...word].forEach((c, i) => bytes.setUint8(at + i, c.charCodeAt(0)));
    text(0, "RIFF"); bytes.setUint32(4, 36 + length * 2, true); text(8, "WAVEfmt ");
    bytes.setUint32(16, 16, true); bytes.setUint16(20, 1, true); bytes.setUint16(22, 1, true);
    bytes.setUint32(24, rate, true); bytes.setUint32(28, rate * 2, true);
    bytes.setUint16(32, 2, true); bytes.setUint16(34, 16, true);
    text(36, "data"); bytes.setUint32(40, length * 2, true);
    for (let i = 0; i < length; i++) {
      const t = i / rate;
      const note = t < 0.4 ? 660 : 880;
      const since = t < 0.4 ? t : t - 0.4;
      const envelope = Math.min(1, since * 50) * Math.exp(-since * 5);
      bytes.setInt16(44 + i * 2, Math.sin(2 * Math.PI * note * t) * envelope * 0.5 * 32767, true);
    }
    chime = URL.createObjectURL(new Blob([bytes.buffer], { type: "audio/wav" }));
    return chime;
  }

  let testAudio = null;
  function playTestSound() {
    if (!testAudio) {
      testAudio = new Audio();
      testAudio.onended = () => {
        window.appliance.testSound = "played";
        els.soundAnswer.hidden = false;
        els.soundHeard.focus();
      };
    }
    testAudio.src = chimeUrl();
    setSpeaker(testAudio);
    say(els.soundNote, null);
    testAudio.play().catch(() => {
      say(els.soundNote, "sound_not_played");
    });
  }

  function soundAnswered(heard) {
    window.appliance.testSound = heard ? "heard" : "not heard";
    els.soundAnswer.hidden = true;
    if (!heard) els.devices.open = true;
    const speakers = !els.speakerRow.hidden && !els.devices.hidden;
    say(els.soundNote, heard ? "sound_good" : speakers ? "sound_tips_speaker" : "sound_tips");
  }

  // The patient's cameras, microphones and speakers, as the browser names
  // them (shown as text, never markup).
  async function listDevices() {
    const md = navigator.mediaDevices;
    if (!md.enumerateDevices) return;
    let devices;
    try {
      devices = await md.enumerateDevices();
    } catch (err) {
      return;
    }
    const using = (kind) => {
      const track = localStream ? localStream.getTracks().find((t) => t.kind === kind) : null;
      const settings = track && track.getSettings ? track.getSettings() : {};
      return settings.deviceId || chosen[kind];
    };
    const cameras = fill(els.cameraChoice, devices, "videoinput", "camera", using("video"));
    const mics = fill(els.micChoice, devices, "audioinput", "microphone", using("audio"));
    const speakers = "setSinkId" in HTMLMediaElement.prototype
      ? fill(els.speakerChoice, devices, "audiooutput", "speaker", chosen.speaker) : 0;
    els.speakerRow.hidden = speakers === 0;
    els.devices.hidden = cameras + mics === 0;
    window.appliance.devices = { cameras, mics, speakers };
  }

  function fill(select, devices, kind, name, current) {
    const found = devices.filter((d) => d.kind === kind && d.deviceId);
    select.replaceChildren(...found.map((device, i) => {
      const option = document.createElement("option");
      option.value = device.deviceId;
      option.textContent = device.label || `${w(name)} ${i + 1}`;
      return option;
    }));
    if (found.some((d) => d.deviceId === current)) select.value = current;
    return found.length;
  }

  function deviceChosen(kind, select) {
    chosen[kind] = select.value || null;
    startMedia();
  }

  function setSpeaker(el) {
    if (chosen.speaker && el.setSinkId) el.setSinkId(chosen.speaker).catch(() => {});
  }

  function speakerChosen() {
    chosen.speaker = els.speakerChoice.value || null;
    setSpeaker(els.remoteAudio);
    if (testAudio) setSpeaker(testAudio);
  }

  // ---- The patient's own camera and microphone, on or off ----

  // What the patient chose to send; the room is told, and its TV says so.
  // Kept with the resume secret: a camera turned off stays off after a
  // reload.
  const SENDING_KEY = "appliance-sending";
  const sending = { camera: true, microphone: true };
  if (resumed) {
    try {
      const kept = JSON.parse(storage().getItem(SENDING_KEY)) || {};
      sending.camera = kept.camera !== false;
      sending.microphone = kept.microphone !== false;
    } catch (err) {
      // Nothing kept, or not ours: both on, as at the start.
    }
  }

  function trackOf(kind) {
    return localStream ? localStream.getTracks().find((t) => t.kind === kind) : null;
  }

  // A track turned off sends black or silence: the call and its
  // negotiation stay as they are, and turning it on again is instant.
  function applyDevices() {
    const video = trackOf("video");
    const audio = trackOf("audio");
    if (video) video.enabled = sending.camera;
    if (audio) audio.enabled = sending.microphone;
    const on = { camera: !!video && sending.camera, microphone: !!audio && sending.microphone };
    els.cameraToggle.hidden = !video;
    say(els.cameraToggle, on.camera ? "camera_off" : "camera_on");
    els.micToggle.hidden = !audio;
    say(els.micToggle, on.microphone ? "mute" : "unmute");
    els.body.classList.toggle("no-self", !on.camera);
    window.appliance.sending = on;
    if (storage()) storage().setItem(SENDING_KEY, JSON.stringify({ camera: sending.camera, microphone: sending.microphone }));
    send({ type: "devices", camera: on.camera, microphone: on.microphone });
  }

  function toggle(kind) {
    sending[kind] = !sending[kind];
    applyDevices();
  }

  // ---- Browsers that cannot, and permissions the patient refused ----

  // What keeps this browser from the call (its words' key); null when
  // nothing does.
  function unsupported() {
    const ua = navigator.userAgent || "";
    if (!window.isSecureContext) return "unsupported_insecure";
    // Apps' built-in browsers (and Android's web views) rarely get the camera.
    if (/FBAN|FBAV|FB_IAB|Instagram|Line\/|MicroMessenger|Snapchat|TikTok|musical_ly|LinkedInApp|; wv\)/.test(ua)) {
      return "unsupported_in_app";
    }
    const md = navigator.mediaDevices;
    if (!window.RTCPeerConnection || !md || !md.getUserMedia || !window.WebSocket || !window.crypto || !crypto.subtle) {
      return "unsupported_browser";
    }
    return null;
  }

  // The browsers whose words for allowing the camera again the page has.
  const BROWSERS = ["chrome", "edge", "firefox", "safari-ios", "safari-mac"];

  function browserName() {
    const ua = navigator.userAgent || "";
    // Every browser on an iPhone or iPad is Safari underneath.
    if (/iPhone|iPad|iPod/.test(ua) || (/Macintosh/.test(ua) && navigator.maxTouchPoints > 1)) return "safari-ios";
    if (/Edg\//.test(ua)) return "edge";
    if (/Firefox\//.test(ua)) return "firefox";
    if (/Chrome\/|Chromium\//.test(ua)) return "chrome";
    if (/Safari\//.test(ua)) return "safari-mac";
    return "chrome";
  }

  function showAllowHelp(shown) {
    els.allowHelp.hidden = !shown;
    if (shown) {
      els.body.dataset.media = "denied";
      els.body.dataset.browser = browserName();
      say(els.allowText, `allow_${browserName()}`);
      els.allowList.replaceChildren(...BROWSERS.map((browser) => {
        const item = document.createElement("li");
        say(item, `allow_${browser}`);
        return item;
      }));
    } else {
      delete els.body.dataset.media;
    }
  }

  // ---- Signalling ----

  // Mime subtypes this browser can send, minus the helpers that are not codecs.
  function videoCodecs() {
    const caps = window.RTCRtpSender && RTCRtpSender.getCapabilities
      ? RTCRtpSender.getCapabilities("video") : null;
    if (!caps || !Array.isArray(caps.codecs)) return ["VP8"];
    const out = [];
    for (const codec of caps.codecs) {
      const sub = String(codec.mimeType || "").split("/")[1];
      if (!sub || /^(rtx|red|ulpfec|flexfec.*)$/i.test(sub) || out.includes(sub)) continue;
      out.push(sub);
    }
    return out.length ? out : ["VP8"];
  }

  // ---- The name: cut and cleaned as the box does (src/session/name.rs) ----

  const MAX_NAME = 40; // characters as a person counts them
  // Control, format (bidi overrides, zero-width spaces) and broken (lone
  // surrogate) characters, line breaks, and the replacement character; not
  // the two joiners, which Arabic, Persian and Indic names and emoji need.
  const INVISIBLE = /(?![\u200C\u200D])[\p{Cc}\p{Cf}\p{Cs}\u2028\u2029\uFFFD]/gu;

  // What a person sees as one character each: an emoji with its skin tone,
  // a flag, a letter and its accent. Never cut inside one.
  function graphemes(text) {
    if (window.Intl && Intl.Segmenter) {
      const segmenter = new Intl.Segmenter(undefined, { granularity: "grapheme" });
      return Array.from(segmenter.segment(text), (s) => s.segment);
    }
    return Array.from(text); // code points: never half an emoji, at least
  }

  function cleanName(raw) {
    return graphemes(String(raw).replace(INVISIBLE, "").trim()).slice(0, MAX_NAME).join("").trim();
  }

  function join(event) {
    event.preventDefault();
    const name = cleanName(els.name.value);
    els.nameHint.hidden = !!name;
    if (!name) {
      els.name.focus();
      return;
    }
    window.appliance.name = name;
    sending.camera = !els.noCamera.checked;
    els.noCamera.disabled = true;
    for (const select of [els.cameraChoice, els.micChoice]) select.disabled = true;
    els.name.disabled = true;
    els.join.disabled = true;
    els.retryMedia.hidden = true;
    // After the link's check: the camera is asked for only once the link is
    // known to be good, and the join takes what it gave.
    // And after the camera and microphone are settled (a browser's prompt
    // may still be open): the box expects the offer it sends on joining to
    // be answered within seconds, and a page waiting on a prompt cannot.
    linkChecked.then(() => {
      if (!finished && !opensAt) say(els.join, "waiting_camera");
      return mediaReady;
    }).then(() => {
      if (finished) return;
      if (opensAt) {
        // Ready before the link opens: in by itself when it does.
        joinWhenOpen = true;
        const at = opensAt;
        say(els.join, "let_in_at", { time: () => clock(at) });
        return;
      }
      say(els.join, "joining");
      connect(() => ({ type: "join", token, name, video_codecs: videoCodecs() }));
    });
  }

  // ---- The link, checked before the camera is asked for ----

  // A time as the patient reads it: "14:00", or with the day when it is
  // not today.
  function clock(ms) {
    const at = new Date(ms);
    // The patient's own format for the page's language (en-GB's 24 hours
    // for a British patient on an English page), else the language's.
    const locale = (navigator.languages || []).find((l) => l.split("-")[0] === lang) || lang;
    const time = at.toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit" });
    if (at.toDateString() === new Date().toDateString()) return time;
    const day = at.toLocaleDateString(locale, { weekday: "long", day: "numeric", month: "long" });
    return w("time_on_day", { time, day });
  }

  // Asks the box what the link will do: a spent, expired or forged one is
  // refused before the camera is asked for; one for later says when it
  // opens. Times come as seconds from the box's now, so a patient's clock
  // that is wrong does not matter. A box that does not answer leaves it to
  // the join, as before.
  async function checkLink() {
    let verdict = null;
    try {
      const response = await fetch("link", { method: "POST", body: token, cache: "no-store" });
      if (response.ok) verdict = await response.json();
    } catch (err) {
      verdict = null;
    }
    if (finished) return;
    if (verdict && verdict.state === "denied") return finish("denied");
    if (verdict && verdict.state === "early" && verdict.opens_in > 0) waitForOpening(verdict);
    startMedia();
  }

  function waitForOpening(verdict) {
    const now = Date.now();
    opensAt = now + verdict.opens_in * 1000 + 1000; // a second's margin for the box's clock
    const starts = now + verdict.starts_in * 1000;
    const opens = opensAt;
    say(els.earlyText, "early", { starts: () => clock(starts), opens: () => clock(opens) });
    say(els.join, "join_when_open");
    setState("early");
    // Checked every second, not one long timer: a link days ahead outlasts
    // what a timer holds, and a laptop asleep meanwhile loses timers.
    const timer = setInterval(() => {
      if (finished || Date.now() < opensAt) return;
      clearInterval(timer);
      opensAt = 0;
      setState("check");
      say(els.join, "join");
      if (joinWhenOpen) {
        say(els.join, "joining");
        connect(() => ({ type: "join", token, name: window.appliance.name, video_codecs: videoCodecs() }));
      }
    }, 1000);
  }

  // Opens the signalling socket; `first` is what the page says first. Once
  // welcomed, a lost socket is opened again by itself, saying who it is with
  // the resume secret, waiting longer and longer between tries.
  function connect(first) {
    // Beside the page, wherever it is served from: the box itself, or a
    // path of the clinic's reverse proxy.
    const url = new URL("ws", location.href);
    url.protocol = location.protocol === "http:" ? "ws:" : "wss:";
    url.hash = "";
    if (admitted) note("socket opening");
    const ws = new WebSocket(url.href);
    window.appliance.sockets += 1;
    pingSent = 0;
    let openedAt = 0;
    socket = ws;
    ws.onopen = () => {
      if (admitted) note("socket open");
      openedAt = lastHeard = Date.now();
      send(first());
    };
    ws.onmessage = (event) => {
      if (socket !== ws) return;
      lastHeard = Date.now();
      pingSent = 0;
      onMessage(event.data);
    };
    ws.onclose = () => {
      if (finished || socket !== ws) return;
      socket = null;
      // Never let in: there is no session to come back to.
      if (!admitted && !resumed) return finish("error");
      // A socket that held a while starts the waits afresh.
      if (openedAt && Date.now() - openedAt > 10000) socketAttempts = 0;
      if (!signalLostAt) signalLostAt = Date.now();
      // The box keeps a session for a few minutes at most.
      if (Date.now() - signalLostAt > 5 * 60 * 1000) return finish("error");
      // At once the first time (a network that changed), then longer and
      // longer.
      const wait = socketAttempts === 0 ? 0
        : Math.min(1000 * 2 ** (socketAttempts - 1), 15000) * (0.75 + Math.random() / 2);
      socketAttempts += 1;
      setTimeout(() => { if (!finished) connect(resumeMessage); }, wait);
      render();
    };
  }

  function resumeMessage() {
    const secret = storage() ? storage().getItem(RESUME_KEY) : null;
    return { type: "resume", secret: secret || "" };
  }

  // Asks the box for a new connection: this page has none, or its
  // connection is down and not coming back by itself.
  function askReconnect() {
    note("new connection asked");
    lastReconnectAsk = Date.now();
    window.appliance.reconnectsAsked += 1;
    send({ type: "reconnect" });
  }

  // A socket that may be dead is dropped, and opened again at once: it was
  // open, so the box took it, and it went silent with the network (a
  // network that changed). The waits that grow are for sockets that do not
  // open; a phone that changes networks twice in a minute waits for none.
  function dropSocket() {
    note("socket dropped");
    socketAttempts = 0;
    const dead = socket;
    dead.onclose();
    dead.onclose = null;
    dead.close();
  }

  // Four times a second: a connection down for 5 s (or failed) is made anew, and
  // again while the network stays down (every 5 s, or 10 s for one that is
  // still checking); a short blip comes back by itself. While it is down, the socket is checked too: a network that
  // changed under the page took it along, silently.
  let watching = false;
  async function watchConnection() {
    if (watching || finished || !admitted) return;
    watching = true;
    try {
      await countInbound();
    } finally {
      watching = false;
    }
    if (finished || !socket || socket.readyState !== WebSocket.OPEN) return;
    render();
    if (!mediaDown()) {
      mediaDownSince = 0;
      return;
    }
    // The connection is down: the socket may have gone with it (a network
    // that changed under the page). A socket that does not answer a ping
    // within 0.75 s is dropped, and a fresh one (which asks for a new
    // connection at once) says where the page is now.
    const now = Date.now();
    if (!mediaDownSince) {
      note(stalled() ? "no packets" : "down");
      mediaDownSince = now;
    }
    if (pingSent && now - pingSent > 750) return dropSocket();
    if (!pingSent && now - lastHeard > 1000) {
      note("socket pinged");
      pingSent = now;
      send({ type: "ping" });
    }
    // A new connection still checking gets 10 s: asking again meanwhile
    // would tear it down just as the network comes back.
    const state = pc ? pc.iceConnectionState : "none";
    if (["new", "checking"].includes(state) && lastReconnectAsk && now - lastReconnectAsk < 10000) return;
    const failed = state === "failed" || state === "closed";
    const since = Math.max(mediaDownSince, lastReconnectAsk);
    if ((failed && now - lastReconnectAsk > 2000) || now - since >= 5000) askReconnect();
  }
  setInterval(watchConnection, 250);

  // Every 10 s the page checks that its socket still reaches the box: one
  // that has heard nothing for 25 s is dead (a network that changed under
  // it), and is opened again.
  function watchSocket() {
    if (finished || !admitted || !socket || socket.readyState !== WebSocket.OPEN) return;
    if (Date.now() - lastHeard > 25000) return dropSocket();
    send({ type: "ping" });
  }
  setInterval(watchSocket, 10000);

  function onMessage(data) {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch (err) {
      return; // not ours to understand; the content is not logged
    }
    if (!msg || typeof msg !== "object" || finished) return;
    switch (msg.type) {
      case "denied":
        finish("denied");
        break;
      case "welcome":
        welcome(msg);
        break;
      case "state":
        if (msg.state === "ended") finish("ended");
        else if (msg.state === "error") failed(msg.reason);
        else if (STATES.includes(msg.state)) {
          boxState = msg.state;
          render();
        }
        break;
      case "offer":
        note("offer");
        if (typeof msg.sdp === "string") enqueue(() => answerOffer(msg.sdp));
        break;
      case "ice":
        enqueue(() => addRemoteIce(msg));
        break;
      case "connection":
        boxSaysWeak = msg.weak === true;
        showConnection();
        break;
    }
  }

  function welcome(msg) {
    if (typeof msg.room === "string" && msg.room) {
      els.room.textContent = msg.room; // text only, never markup
      els.roomLine.hidden = false;
    }
    signalLostAt = 0;
    if (typeof msg.resume === "string" && storage()) storage().setItem(RESUME_KEY, msg.resume);
    // The room hears at once whether the patient's camera and microphone
    // are on, and again from a page that comes back.
    mediaReady.then(() => { if (!finished) applyDevices(); });
    const first = !admitted;
    admitted = true;
    if (!first) {
      note("welcomed back");
      // Back after a lost socket: fresh TURN credentials for the next
      // connection; the call, if it still holds, goes on.
      if (peerArgs) peerArgs[1] = msg.ice_servers;
      // A network that changed under the page took the call with it.
      if (mediaDown()) askReconnect();
      render();
      return;
    }
    note("welcome");
    enqueue(async () => {
      createPeer(await mediaReady, msg.ice_servers);
      note("connection made");
      // Back after a reload: this page has no connection with the room yet.
      if (resumed) askReconnect();
    });
  }

  function enqueue(step) {
    chain = chain.then(() => (finished ? undefined : step())).catch((e) => {
      // A broken negotiation cannot be repaired from here. The reason stays in
      // the page, for whoever debugs it; nothing is sent anywhere.
      window.appliance.lastError = String(e && e.message ? e.message : e);
      if (!finished) finish("error");
    });
  }

  function createPeer(stream, iceServers) {
    if (!window.RTCPeerConnection) throw new Error("no WebRTC");
    peerArgs = [stream, iceServers];
    pc = new RTCPeerConnection({
      iceServers: Array.isArray(iceServers) ? iceServers : [],
      bundlePolicy: "max-bundle",
    });
    window.appliance.pc = pc;

    pc.onicecandidate = (event) => {
      const c = event.candidate;
      if (!c || !c.candidate) return; // end of candidates: the server needs no marker
      send({ type: "ice", candidate: c.candidate, sdp_m_line_index: c.sdpMLineIndex || 0 });
    };

    pc.ontrack = (event) => {
      const media = event.streams && event.streams[0] ? event.streams[0] : new MediaStream([event.track]);
      // Audio needs its own element: Chromium only counts audio it plays out.
      const el = event.track.kind === "video" ? els.remote : els.remoteAudio;
      if (el.srcObject !== media) el.srcObject = media;
      startPlaying(el);
    };

    pc.oniceconnectionstatechange = () => {
      note(pc.iceConnectionState);
      if (pc.iceConnectionState === "connected" || pc.iceConnectionState === "completed") {
        hadConnection = true;
        reportPath();
      }
      // A first connection that fails has no path at all (the box says
      // why); a later one is made anew (see watchConnection).
      if (pc.iceConnectionState === "failed" && !finished && !hadConnection && !resumed) {
        window.appliance.lastError = "ICE failed";
        finish("error");
      }
      render();
    };

    for (const kind of ["audio", "video"]) {
      const track = stream ? stream.getTracks().find((t) => t.kind === kind) : null;
      if (track) pc.addTrack(track, stream);
      // Nothing to send: say we only want to receive this kind.
      else pc.addTransceiver(kind, { direction: "recvonly" });
    }
  }

  async function answerOffer(sdp) {
    if (!pc) throw new Error("offer before welcome");
    if (pc.remoteDescription) {
      // A second offer comes from a fresh endpoint on the box (it restarts
      // media that stopped flowing): new keys and addresses, so a new
      // connection, with the same camera and microphone.
      pc.onicecandidate = pc.ontrack = pc.oniceconnectionstatechange = null;
      pc.close();
      pendingIce.length = 0;
      // The old code named the old connection: nothing is shown until the
      // new one has its own.
      els.security.hidden = true;
      els.securityCode.textContent = "";
      window.appliance.securityCode = null;
      createPeer(...peerArgs);
    }
    await pc.setRemoteDescription({ type: "offer", sdp });
    for (const init of pendingIce.splice(0)) await addIce(init);
    // Send the answer before applying it: applying it starts the browser's ICE
    // checks, and the box answers those reliably only once it has the
    // answer's credentials.
    const answer = await pc.createAnswer();
    send({ type: "answer", sdp: answer.sdp });
    note("answer sent");
    await pc.setLocalDescription(answer);
    await updateSecurityCode();
  }

  async function addRemoteIce(msg) {
    if (typeof msg.candidate !== "string" || !msg.candidate) return;
    const index = Number.isInteger(msg.sdp_m_line_index) ? msg.sdp_m_line_index : 0;
    const init = { candidate: msg.candidate, sdpMLineIndex: index };
    if (!pc || !pc.remoteDescription) pendingIce.push(init);
    else await addIce(init);
  }

  async function addIce(init) {
    try {
      await pc.addIceCandidate(init);
    } catch (err) {
      // One unusable candidate is not fatal; others may work.
    }
  }

  // ---- The path the call took, for the box's status ----

  // This side's selected candidate pair (its candidates' types, and how this
  // browser reaches its TURN server when it relays): the box cannot see the
  // patient's leg. Sent when it changes; looked at again every few seconds,
  // since ICE may move to another pair.
  let reportedPath = "";
  async function reportPath() {
    if (!pc || finished) return;
    let stats;
    try {
      stats = await pc.getStats();
    } catch (err) {
      return;
    }
    let pair = null;
    stats.forEach((s) => {
      if (s.type === "transport" && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
    });
    stats.forEach((s) => {
      // Firefox marks the pair instead.
      if (!pair && s.type === "candidate-pair" && (s.selected || s.nominated) && s.state === "succeeded") pair = s;
    });
    const local = pair && stats.get(pair.localCandidateId);
    const remote = pair && stats.get(pair.remoteCandidateId);
    if (!local || !remote) return;
    const msg = { type: "path", local: local.candidateType, remote: remote.candidateType };
    if (local.candidateType === "relay" && local.relayProtocol) msg.relay = local.relayProtocol;
    const text = JSON.stringify(msg);
    if (text === reportedPath) return;
    reportedPath = text;
    window.appliance.path = msg;
    send(msg);
  }
  setInterval(reportPath, 3000);

  // ---- The connection's quality, in words ----

  // Weak as the box judges it (its bandwidth estimate, the round trip and
  // its packets' loss, over seconds), or as this page does from its own
  // side: a round trip over 0.4 s, or more than 5 % of the room's packets
  // lost, for 3 s; good again after 6 s of neither.
  let boxSaysWeak = false;
  let pageWeak = false;
  let turningSince = 0;
  let lastCount = null;

  async function judgeConnection() {
    if (!pc || !iceUp() || finished) return;
    const counted = pc;
    let stats;
    try {
      stats = await counted.getStats();
    } catch (err) {
      return;
    }
    let rtt = 0;
    let lost = 0;
    let received = 0;
    stats.forEach((s) => {
      if (s.type === "candidate-pair" && s.nominated && typeof s.currentRoundTripTime === "number") {
        rtt = Math.max(rtt, s.currentRoundTripTime);
      }
      if (s.type === "inbound-rtp") {
        lost += s.packetsLost || 0;
        received += s.packetsReceived || 0;
      }
    });
    const before = lastCount;
    lastCount = { pc: counted, lost, received };
    if (!before || before.pc !== counted) return;
    const newLost = Math.max(0, lost - before.lost);
    const newReceived = Math.max(0, received - before.received);
    const loss = newLost + newReceived > 0 ? newLost / (newLost + newReceived) : 0;
    const bad = rtt > 0.4 || loss > 0.05;
    const now = Date.now();
    if (bad === pageWeak) {
      turningSince = 0;
    } else if (!turningSince) {
      turningSince = now;
    } else if (now - turningSince >= (pageWeak ? 6000 : 3000)) {
      pageWeak = bad;
      turningSince = 0;
    }
    showConnection();
  }
  setInterval(judgeConnection, 1000);

  function showConnection() {
    const weak = (boxSaysWeak || pageWeak) && !finished;
    els.weakNotice.hidden = !weak;
    els.body.dataset.connection = weak ? "weak" : "good";
    window.appliance.weak = { shown: weak, box: boxSaysWeak, page: pageWeak };
  }

  // ---- Security code: must match the server's security_code() exactly ----

  // The value of the first "a=fingerprint:<algo> <value>" line, upper-cased.
  function fingerprint(sdp) {
    for (const raw of String(sdp || "").split("\n")) {
      const line = raw.trim();
      if (!line.startsWith("a=fingerprint:")) continue;
      const rest = line.slice("a=fingerprint:".length);
      const space = rest.indexOf(" ");
      if (space >= 0) return rest.slice(space + 1).trim().toUpperCase();
    }
    return null;
  }

  async function securityCode(localSdp, remoteSdp) {
    const a = fingerprint(localSdp);
    const b = fingerprint(remoteSdp);
    if (!a || !b) return null;
    const [first, second] = [a, b].sort();
    const bytes = new TextEncoder().encode("appliance-security-code-v1\n" + first + "\n" + second);
    const digest = await crypto.subtle.digest("SHA-256", bytes);
    const n = new DataView(digest).getUint32(0, false) % 1000000;
    const digits = String(n).padStart(6, "0");
    return digits.slice(0, 3) + " " + digits.slice(3);
  }

  async function updateSecurityCode() {
    if (!pc || !pc.localDescription || !pc.remoteDescription) return;
    const code = await securityCode(pc.localDescription.sdp, pc.remoteDescription.sdp);
    if (!code) return;
    window.appliance.securityCode = code;
    els.securityCode.textContent = code;
    els.security.hidden = false;
  }

  // ---- Leaving ----

  function leave() {
    if (!window.confirm(w("confirm_leave"))) return;
    send({ type: "leave" });
    finish("ended");
  }

  // The page going away (closed, reloaded) says nothing: a reload comes back
  // to the session with its resume secret, and a closed page's session ends
  // after the room's reconnect grace, or when the therapist ends it.

  // ---- Start ----

  els.remote.muted = true; // sound goes through #remote-audio only
  els.form.addEventListener("submit", join);
  els.retryMedia.addEventListener("click", startMedia);
  els.leave.addEventListener("click", leave);
  els.tapToHear.addEventListener("click", tapped);
  els.micToggle.addEventListener("click", () => toggle("microphone"));
  els.cameraToggle.addEventListener("click", () => toggle("camera"));
  els.testSound.addEventListener("click", playTestSound);
  els.soundHeard.addEventListener("click", () => soundAnswered(true));
  els.soundNotHeard.addEventListener("click", () => soundAnswered(false));
  els.cameraChoice.addEventListener("change", () => deviceChosen("video", els.cameraChoice));
  els.micChoice.addEventListener("change", () => deviceChosen("audio", els.micChoice));
  els.speakerChoice.addEventListener("change", speakerChosen);
  if (navigator.mediaDevices && navigator.mediaDevices.addEventListener) {
    // A headset plugged in or out while checking.
    navigator.mediaDevices.addEventListener("devicechange", () => { if (localStream && !pc) listDevices(); });
  }
  els.name.addEventListener("input", () => {
    if (els.name.value.trim()) els.nameHint.hidden = true;
    // The field stops at the same place as the name the room will see.
    const typed = graphemes(els.name.value);
    if (typed.length > MAX_NAME) els.name.value = typed.slice(0, MAX_NAME).join("");
  });

  if (resumed) {
    setState("reconnecting");
    startMedia();
    connect(resumeMessage);
  } else if (!token) {
    finish("denied");
  } else if (unsupported()) {
    // Said before the link is checked or the camera asked for: nothing
    // here can work, and waiting would not change that.
    say(els.unsupportedText, unsupported());
    finish("unsupported");
  } else {
    setState("check");
    linkChecked = checkLink();
  }
})();
