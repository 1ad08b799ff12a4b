// Recording the conversation: consent, the Web Audio mix of both voices, MediaRecorder, the upload
// straight to S3 through a presigned URL, and playing a stored recording back.
//
// Recorded only while both consent, by participant1's browser alone (one upload per session), mixing
// its microphone and the partner's audio.

import { api } from "./api.js";
import { sendSignal } from "./sockets.js";
import * as ui from "./ui.js";
import { audioConnected, localStream, remoteStream } from "./webrtc.js";

const MIME_TYPE = "audio/webm";
const TIMESLICE_MS = 1000;

// role() -> {session, offerer, slot, partnerSlot, active} of the current session, or null.
let role = () => null;
let audioContext = null;
let mixer = null; // {context, destination, sources, remote}
let recorder = null;
let chunks = [];
let saved = false;
let partnerRecording = false;

export function setupRecording(options) {
  role = options.role;
}

function bothConsented() {
  const consent = role()?.session.recordingConsent;
  return Boolean(consent?.participant1 && consent?.participant2);
}

// An AudioContext may only start after a user gesture: made on the first click.
export function unlockAudio() {
  if (!window.AudioContext) return null;
  audioContext ??= new AudioContext();
  if (audioContext.state === "suspended") audioContext.resume().catch(() => {});
  return audioContext;
}

export function resetRecording() {
  saved = false;
  partnerRecording = false;
}

// Returns the session as the service now has it; the partner's page re-reads it on the signal.
export async function giveConsent(sessionId, consent) {
  unlockAudio();
  const session = await api("PUT", `/api/v1/sessions/${sessionId}/recording-consent/`, { consent });
  sendSignal({ kind: "consent", consent });
  return session;
}

// Starts or stops the recorder to match the session's consent; called on every change of the session or call.
export function syncRecording() {
  const current = role();
  if (!current) return;
  if (!bothConsented()) {
    saved = false; // withdrawing consent deletes a stored recording
    if (recorder) discardRecording(gettext("Recording stopped and discarded: consent was withdrawn."));
  } else if (current.offerer && current.active && !recorder && !saved && audioConnected()) {
    startRecording();
  }
  renderRecording();
}

function startRecording() {
  const context = unlockAudio();
  if (!context || !window.MediaRecorder) {
    ui.logEvent(gettext("This browser cannot record audio."));
    return;
  }
  const destination = context.createMediaStreamDestination();
  mixer = { context, destination, sources: [], remote: null };
  mixIntoRecording(localStream());
  mixRemoteIntoRecording();
  const type = MediaRecorder.isTypeSupported(`${MIME_TYPE};codecs=opus`) ? `${MIME_TYPE};codecs=opus` : MIME_TYPE;
  const started = new MediaRecorder(destination.stream, { mimeType: type });
  chunks = [];
  started.ondataavailable = (event) => event.data.size && chunks.push(event.data);
  started.start(TIMESLICE_MS);
  recorder = started;
  sendSignal({ kind: "recording", state: "on" });
  ui.logEvent(gettext("Recording started (you both agreed)."));
}

function mixIntoRecording(stream) {
  if (!mixer || !stream?.getAudioTracks().length) return;
  const source = mixer.context.createMediaStreamSource(stream);
  source.connect(mixer.destination);
  mixer.sources.push(source);
}

// The partner's stream changes with every renegotiation: each new one joins the mix.
export function mixRemoteIntoRecording() {
  const stream = remoteStream();
  if (mixer && stream && mixer.remote !== stream) {
    mixer.remote = stream;
    mixIntoRecording(stream);
  }
}

function stopRecorder() {
  const stopping = recorder;
  recorder = null;
  return new Promise((resolve) => {
    stopping.onstop = () => {
      for (const source of mixer?.sources ?? []) source.disconnect();
      mixer = null;
      resolve(new Blob(chunks, { type: MIME_TYPE }));
      chunks = [];
    };
    stopping.stop();
  });
}

async function discardRecording(message) {
  if (!recorder) return;
  await stopRecorder();
  sendSignal({ kind: "recording", state: "off" });
  ui.logEvent(message);
  renderRecording();
}

// Stops the recorder and stores the recording; true once the service has it.
export async function saveRecording() {
  if (!recorder) return false;
  const sessionId = role().session.id;
  ui.showSaving(true);
  try {
    const blob = await stopRecorder();
    if (!blob.size) throw new Error(gettext("Nothing was recorded."));
    const target = await api("POST", `/api/v1/sessions/${sessionId}/recording/upload-url/`, { contentType: MIME_TYPE });
    if (target.maxBytes && blob.size > target.maxBytes) throw new Error(gettext("The recording is too large to upload."));
    await uploadBlob(target, blob);
    await api("POST", `/api/v1/sessions/${sessionId}/recording/complete/`, { key: target.key });
    saved = true;
    sendSignal({ kind: "recording", state: "saved" });
    ui.logEvent(interpolate(gettext("Recording saved (%(size)s kB)."), { size: Math.round(blob.size / 1024) }, true));
    return true;
  } catch (error) {
    ui.showError(interpolate(gettext("The recording could not be saved: %(reason)s"), { reason: error.message }, true));
    return false;
  } finally {
    ui.showSaving(false);
    renderRecording();
  }
}

// A presigned POST: the policy's fields first, the file last (S3 ignores fields after it).
async function uploadBlob(target, blob) {
  const form = new FormData();
  for (const [name, value] of Object.entries(target.fields)) form.append(name, value);
  form.append("file", blob, "recording.webm");
  let response;
  try {
    response = await fetch(target.uploadUrl, { method: "POST", body: form });
  } catch {
    throw new Error(gettext("the storage server could not be reached (or refused this page's origin: check its CORS)."));
  }
  if (!response.ok) throw new Error(interpolate(gettext("the storage server refused the upload (status %(status)s)."), { status: response.status }, true));
}

// When the session ends: a recording both still agree to is saved, any other discarded. True if saved.
export async function settleRecording() {
  if (!recorder) return false;
  if (bothConsented()) return saveRecording();
  await discardRecording(gettext("Recording discarded."));
  return false;
}

// The partner's browser records ("on", "off", "saved"); true when it saved one.
export function onPartnerRecording(state) {
  partnerRecording = state === "on";
  if (state === "saved") ui.logEvent(gettext("Your partner's browser saved the recording."));
  renderRecording();
  return state === "saved";
}

export function renderRecording() {
  const current = role();
  if (!current) return;
  const consent = current.session.recordingConsent ?? {};
  let text;
  if (recorder) text = gettext("● Recording you and your partner.");
  else if (saved) text = gettext("Recording saved: play it from your sessions below.");
  else if (partnerRecording) text = gettext("● Your partner's browser is recording this conversation.");
  else if (bothConsented()) text = gettext("You both agreed: recording starts once the audio is connected.");
  else {
    const yes = (slot) => (consent[slot] ? gettext("yes") : gettext("no"));
    text = interpolate(gettext("Recorded only when you both agree. You: %(you)s, partner: %(partner)s."), { you: yes(current.slot), partner: yes(current.partnerSlot) }, true);
  }
  ui.renderRecordingState(text, { canSave: Boolean(recorder) });
}

// A stored recording plays from a presigned GET, in place of its button in the history.
export async function playRecording(session, button) {
  const { downloadUrl } = await api("GET", `/api/v1/sessions/${session.id}/recording/`);
  ui.showRecordingPlayer(button, downloadUrl, session);
}

export function recordingSnapshot() {
  return { recording: Boolean(recorder), recordingSaved: saved };
}
