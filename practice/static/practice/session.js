// The learner's current session: entering it (microphone, session socket), following its events, ending
// it, feedback, and the list of past sessions. The only module that holds the session document.

import { api, signedInUser } from "./api.js";
import * as recording from "./recording.js";
import { joinSessionSocket, leaveSessionSocket, serverNow } from "./sockets.js";
import * as ui from "./ui.js";
import * as audio from "./webrtc.js";

let session = null; // as last read from the service
let joinedId = null; // the session whose microphone and socket are set up
let finishedId = null; // the session already shown as ended
let presence = "not joined yet";
let countdownTimer = null;

// Who this learner is in the current session; webrtc.js and recording.js read it through setup hooks.
export function role() {
  if (!session) return null;
  const offerer = session.participant1Id === signedInUser(); // participant1, who waited, offers
  return {
    session,
    offerer,
    active: session.status === "active",
    slot: offerer ? "participant1" : "participant2",
    partnerSlot: offerer ? "participant2" : "participant1",
  };
}

export function currentSessionId() {
  return session?.id ?? null;
}

function partnerId() {
  return session.participant1Id === signedInUser() ? session.participant2Id : session.participant1Id;
}

export async function enterSession(next) {
  if (joinedId === next.id) {
    updateSession(next);
    return;
  }
  leaveSession();
  ui.clearError();
  joinedId = next.id;
  session = next;
  finishedId = null;
  presence = "not joined yet";
  recording.resetRecording();
  ui.resetSessionPanel({ consent: Boolean(next.recordingConsent?.[role().slot]) });
  render();
  ui.logEvent(interpolate(gettext("Matched with %(partner)s."), { partner: partnerId() }, true));
  loadHistory().catch(ui.showError);
  countdownTimer = setInterval(renderCountdown, 1000);
  await audio.prepareMedia();
  if (joinedId !== next.id) return; // left or replaced while the microphone was asked for
  const id = next.id;
  joinSessionSocket(id, {
    onEvent: onSessionEvent,
    wanted: () => session?.id === id && finishedId !== id,
    onClosed: () => api("GET", `/api/v1/sessions/${id}/`).then(updateSession, ui.showError),
    onLost: () => ui.logEvent(gettext("Connection to the service lost, reconnecting…")),
  });
}

function updateSession(next) {
  if (!session || session.id !== next.id) return;
  session = next;
  render();
  if (next.status === "completed" || next.status === "cancelled") finishSession(next);
  else recording.syncRecording();
}

function render() {
  ui.renderSession(session, { partner: partnerId(), presence });
  renderCountdown();
  recording.renderRecording();
}

function renderCountdown() {
  if (session) ui.renderCountdown(session, serverNow());
}

function setPresence(next, message) {
  presence = next;
  ui.renderPresence(next);
  ui.logEvent(message);
}

// One handler per event type of the session socket (API.md); heartbeat.ack is the socket's own business.
const SESSION_EVENTS = new Map([
  [
    "session.state",
    (event) => {
      updateSession(event.session);
      if (event.session.status === "active") audio.reconnectAudio();
    },
  ],
  ["partner.joined", () => setPresence("here", gettext("Your partner joined."))],
  [
    "session.started",
    (event) => {
      setPresence("here", gettext("You are both here: the session has started."));
      updateSession(event.session);
      if (role()?.offerer) audio.startCall();
      loadHistory().catch(ui.showError);
    },
  ],
  [
    "partner.disconnected",
    () => setPresence("disconnected", gettext("Your partner lost their connection. Waiting for them to come back…")),
  ],
  [
    "partner.reconnected",
    () => {
      setPresence("here", gettext("Your partner is back."));
      audio.reconnectAudio();
    },
  ],
  [
    "session.time_up",
    () => {
      ui.showTimeUp();
      ui.logEvent(gettext("The planned time is up."));
    },
  ],
  ["session.ended", (event) => finishSession(event.session)],
  [
    "signal",
    (event) => onSignal(event.payload).catch((error) => ui.logEvent(interpolate(gettext("Audio negotiation failed: %(reason)s"), { reason: error.message }, true))),
  ],
  ["error", (event) => ui.showError(event.detail ?? gettext("The service reported an error."))],
]);

function onSessionEvent(event) {
  SESSION_EVENTS.get(event.type)?.(event);
}

// Signals are relayed unchanged from the partner's page: consent and recording news here, the call's own
// kinds to webrtc.js.
async function onSignal(payload) {
  if (!payload || typeof payload !== "object") return;
  if (payload.kind === "consent") {
    updateSession(await api("GET", `/api/v1/sessions/${session.id}/`)); // recordingConsent is the truth
    ui.logEvent(payload.consent ? gettext("Your partner agreed to record.") : gettext("Your partner does not want to be recorded."));
  } else if (payload.kind === "recording") {
    if (recording.onPartnerRecording(payload.state)) loadHistory().catch(ui.showError);
  } else {
    await audio.handleSignal(payload);
  }
}

export async function changeConsent() {
  ui.clearError();
  const consent = ui.consentChecked();
  try {
    updateSession(await recording.giveConsent(session.id, consent));
  } catch (error) {
    ui.setConsent(!consent);
    ui.showError(error);
  }
}

export async function saveRecording() {
  if (await recording.saveRecording()) await loadHistory();
}

// ---------------------------------------------------------------- ending

// action: "end", "cancel" or "report"; the service answers with the ended session.
export async function endSession(action, body) {
  ui.clearError();
  try {
    finishSession(await api("POST", `/api/v1/sessions/${session.id}/${action}/`, body));
  } catch (error) {
    ui.showError(error);
  }
}

export async function report() {
  await endSession("report", ui.readReport());
}

export async function finishSession(ended) {
  if (finishedId === ended.id) return;
  finishedId = ended.id;
  session = ended;
  await recording.settleRecording(); // the socket stays open meanwhile: the partner hears it was saved
  leaveSession({ keepSession: true });
  ui.showEnded(ended, partnerId());
  loadHistory().catch(ui.showError);
}

// Stops everything tied to the live session (socket, timers, audio).
export function leaveSession({ keepSession = false } = {}) {
  leaveSessionSocket();
  joinedId = null;
  clearInterval(countdownTimer);
  countdownTimer = null;
  audio.hangUp();
  if (!keepSession) session = null;
}

export async function sendFeedback() {
  ui.clearError();
  await api("POST", `/api/v1/sessions/${session.id}/feedback/`, ui.readFeedback());
  ui.showFeedbackDone();
}

export function practiseAgain() {
  ui.clearError();
  ui.notify("");
  session = null;
  ui.showView("find");
}

// ---------------------------------------------------------------- history

export async function loadHistory() {
  const userId = signedInUser();
  if (!userId) return;
  const page = await api("GET", "/api/v1/sessions/?pageSize=20");
  ui.renderHistory(page.results, userId, recording.playRecording);
}

// window.practice.state(): the page's view of the session, for tests and the curious.
export function sessionSnapshot() {
  return {
    userId: signedInUser(),
    sessionId: session?.id ?? null,
    sessionStatus: session?.status ?? null,
    offerer: session ? role().offerer : null,
  };
}
