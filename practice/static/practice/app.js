// Reference web client of the conversation service: matchmaking, the live session
// (heartbeats, WebRTC audio signalled through the session socket), recording, feedback.
"use strict";

const HEARTBEAT_MS = 10_000;
const QUEUE_POLL_MS = 3_000;
const STATS_POLL_MS = 2_000;
const RECONNECT_MAX_MS = 15_000;
const STORAGE_KEY = "practice.token";
// Sockets closed with these codes must not be reopened (see API.md).
const CLOSE_UNAUTHENTICATED = 4401;
const FINAL_SESSION_CLOSES = new Set([4403, 4404, 4410]);

const FIELD_LABELS = {
  learningProfileId: "Learning profile id",
  targetLanguageCode: "Language",
  userLevel: "Level",
  preferredTopicId: "Topic",
  preferredDuration: "Duration",
  reason: "Reason",
  details: "Details",
  consent: "Consent",
  partnerRating: "Partner rating",
  connectionQuality: "Connection rating",
  topicRating: "Topic rating",
  talkAgain: "Talk again",
  levelFeltRight: "Level felt right",
  comment: "Comment",
  userId: "User id",
  key: "Recording",
  non_field_errors: "",
};

const state = {
  token: null,
  userId: null,
  request: null,
  session: null,
  finishedSessionId: null,
  mmSocket: null,
  mmRetry: 0,
  joinedSessionId: null,
  sessionSocket: null,
  sessionRetry: 0,
  heartbeatTimer: null,
  tickTimer: null,
  queueTimer: null,
  statsTimer: null,
  clockSkewMs: 0,
  partnerPresence: "not joined yet",
  media: null,
  pc: null,
  epoch: null,
  pendingCandidates: [],
  remoteStream: null,
  audioContext: null,
  mixer: null,
  recorder: null,
  recordedChunks: [],
  recordingSaved: false,
  partnerRecording: false,
};

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- small helpers

function show(id, visible = true) {
  $(id).hidden = !visible;
}

function showOnly(...ids) {
  for (const id of ["signin", "find", "waiting", "session", "ended"]) show(id, ids.includes(id));
}

function showError(error) {
  const message = error instanceof Error ? error.message : String(error);
  $("error-text").textContent = message;
  show("error");
}

function clearError() {
  show("error", false);
}

function notify(message) {
  const notice = $("notice");
  notice.textContent = message;
  notice.hidden = !message;
}

function serverNow() {
  return Date.now() + state.clockSkewMs;
}

function formatSeconds(total) {
  const seconds = Math.max(0, Math.round(total));
  const minutes = Math.floor(seconds / 60);
  return minutes ? `${minutes} min ${String(seconds % 60).padStart(2, "0")} s` : `${seconds} s`;
}

function clock(total) {
  const seconds = Math.max(0, Math.ceil(total));
  return `${String(Math.floor(seconds / 60)).padStart(2, "0")}:${String(seconds % 60).padStart(2, "0")}`;
}

function randomId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

function languageName(code) {
  try {
    return new Intl.DisplayNames(["en"], { type: "language" }).of(code) ?? code;
  } catch {
    return code;
  }
}

function wsUrl(path) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}${path}?token=${encodeURIComponent(state.token)}`;
}

// ---------------------------------------------------------------- HTTP

class ApiError extends Error {
  constructor(status, message, data) {
    super(message);
    this.status = status;
    this.data = data;
    this.code = data && typeof data === "object" ? data.code : undefined;
  }
}

function describeError(status, data) {
  if (data && typeof data === "object") {
    if (typeof data.detail === "string") return data.detail;
    const parts = Object.entries(data).map(([field, messages]) => {
      const label = FIELD_LABELS[field] ?? field;
      const text = [].concat(messages).join(" ");
      return label ? `${label}: ${text}` : text;
    });
    if (parts.length) return parts.join(" ");
  }
  const fallback = {
    401: "Your token was refused: sign in again.",
    403: "You are not allowed to do this.",
    404: "Not found.",
    413: "That is too large.",
    429: "Too many attempts: wait a minute and try again.",
    503: "The service is temporarily unavailable: try again shortly.",
  };
  return fallback[status] ?? `The service answered with status ${status}.`;
}

async function api(method, path, body, extraHeaders = {}) {
  const headers = { Accept: "application/json", ...extraHeaders };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, "The service cannot be reached: check your connection.", null);
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = new ApiError(response.status, describeError(response.status, data), data);
    if (response.status === 401 && state.token) signOut(error.message);
    throw error;
  }
  return data;
}

// ---------------------------------------------------------------- sign in

function tokenClaims(token) {
  const part = token.split(".")[1];
  if (!part) throw new Error("This does not look like a JWT (three dot-separated parts).");
  const json = atob(part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "="));
  return JSON.parse(json);
}

async function signIn(token) {
  let claims;
  try {
    claims = tokenClaims(token.trim());
  } catch {
    throw new Error("This does not look like a JWT: paste the whole token.");
  }
  if (claims.exp && claims.exp * 1000 < Date.now()) throw new Error("This token has expired: get a new one.");
  state.token = token.trim();
  state.userId = claims.sub;
  sessionStorage.setItem(STORAGE_KEY, state.token);
  document.dispatchEvent(new Event("practice:auth")); // invitations.js shows this user's invitations
  $("whoami-id").textContent = state.userId;
  show("whoami");
  show("history");
  showOnly("find");
  openMatchmakingSocket();
  await Promise.all([loadTopics(), loadHistory(), resume()]);
}

function signOut(reason = "") {
  sessionStorage.removeItem(STORAGE_KEY);
  document.dispatchEvent(new Event("practice:auth"));
  state.token = null;
  state.userId = null;
  closeMatchmakingSocket();
  leaveSession();
  stopWaiting();
  show("whoami", false);
  show("history", false);
  showOnly("signin");
  if (reason) showError(reason);
}

async function onTokenSubmit(event) {
  event.preventDefault();
  clearError();
  try {
    await signIn($("token-input").value);
  } catch (error) {
    showError(error);
  }
}

async function onDevLogin(event) {
  event.preventDefault();
  clearError();
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  try {
    const data = await api("POST", "/practice/dev-token", { userId: $("dev-user").value.trim() }, { "X-CSRFToken": csrf });
    await signIn(data.token);
  } catch (error) {
    showError(error);
  }
}

// Picks up where this user left off: a live session first, then a pending search.
async function resume() {
  try {
    const session = await api("GET", "/api/v1/sessions/current/");
    await enterSession(session);
    return;
  } catch (error) {
    if (error.status !== 404) throw error;
  }
  try {
    const request = await api("GET", "/api/v1/matchmaking/requests/current/");
    if (request.status === "pending" && Date.parse(request.expiresAt) > serverNow()) enterWaiting(request);
  } catch (error) {
    if (error.status !== 404) throw error;
  }
}

// ---------------------------------------------------------------- find a partner

function labelLanguages() {
  for (const option of $("language").options) option.textContent = `${languageName(option.value)} (${option.value})`;
  if ([...$("language").options].some((o) => o.value === "fr")) $("language").value = "fr";
}

async function loadTopics() {
  const language = $("language").value;
  const level = $("level").value;
  const select = $("topic");
  delete select.dataset.loaded;
  const params = new URLSearchParams({ targetLanguageCode: language, level, pageSize: "100" });
  const page = await api("GET", `/api/v1/topics/?${params}`);
  if ($("language").value !== language || $("level").value !== level) return; // the choice changed meanwhile
  const previous = select.value;
  select.replaceChildren(new Option(page.results.length ? "Any topic" : "Any topic (none listed yet)", ""));
  for (const topic of page.results) select.add(new Option(topic.title, topic.id, false, topic.id === previous));
  select.dataset.loaded = `${language}:${level}`;
}

function onChoiceChange() {
  loadTopics().catch(showError);
}

async function onFind(event) {
  event.preventDefault();
  clearError();
  notify("");
  unlockAudio();
  const body = {
    learningProfileId: $("profile").value.trim(),
    targetLanguageCode: $("language").value,
    userLevel: $("level").value,
    preferredDuration: Number($("duration").value),
  };
  if ($("topic").value) body.preferredTopicId = $("topic").value;
  $("find-button").disabled = true;
  try {
    const request = await api("POST", "/api/v1/matchmaking/requests/", body, { "Idempotency-Key": randomId() });
    await handleRequest(request);
  } catch (error) {
    if (error.code === "in_session" || error.code === "request_pending") {
      notify(error.message);
      await resume();
    } else {
      showError(error);
    }
  } finally {
    $("find-button").disabled = false;
  }
}

async function handleRequest(request) {
  state.request = request;
  if (request.status === "matched" && request.sessionId) {
    await enterSession(await api("GET", `/api/v1/sessions/${request.sessionId}/`));
  } else if (request.status === "pending") {
    enterWaiting(request);
  } else {
    stopWaiting();
    showOnly("find");
  }
}

function enterWaiting(request) {
  state.request = request;
  showOnly("waiting");
  const estimate = request.estimatedWaitSeconds;
  $("wait-estimate").textContent = estimate == null ? "unknown (no recent matches)" : `about ${formatSeconds(estimate)}`;
  clearInterval(state.tickTimer);
  clearInterval(state.queueTimer);
  tickWaiting();
  state.tickTimer = setInterval(tickWaiting, 1000);
  pollQueue();
  state.queueTimer = setInterval(pollQueue, QUEUE_POLL_MS);
}

function stopWaiting() {
  clearInterval(state.tickTimer);
  clearInterval(state.queueTimer);
  state.tickTimer = null;
  state.queueTimer = null;
}

function tickWaiting() {
  const request = state.request;
  if (!request) return;
  $("wait-elapsed").textContent = formatSeconds((serverNow() - Date.parse(request.createdAt)) / 1000);
  $("wait-left").textContent = formatSeconds((Date.parse(request.expiresAt) - serverNow()) / 1000);
}

async function pollQueue() {
  const request = state.request;
  if (!request) return;
  try {
    const queues = await api("GET", "/api/v1/matchmaking/queues/");
    const row = queues.find((q) => q.targetLanguageCode === request.targetLanguageCode && q.level === request.userLevel);
    const waiting = row ? row.waiting : 0;
    $("wait-queue").textContent = `${waiting} ${waiting === 1 ? "learner" : "learners"} waiting (${languageName(
      request.targetLanguageCode,
    )} ${request.userLevel})`;
    // Without a live socket, the request itself says whether a partner was found.
    if (state.mmSocket?.readyState !== WebSocket.OPEN) {
      const fresh = await api("GET", `/api/v1/matchmaking/requests/${request.id}/`);
      if (fresh.status !== "pending") onRequestOver(fresh);
    }
  } catch (error) {
    $("wait-queue").textContent = `unavailable (${error.message})`;
  }
}

async function onCancelRequest() {
  clearError();
  if (!state.request) return;
  try {
    onRequestOver(await api("DELETE", `/api/v1/matchmaking/requests/${state.request.id}/`));
  } catch (error) {
    if (error.code === "not_pending") {
      onRequestOver(await api("GET", `/api/v1/matchmaking/requests/${state.request.id}/`));
    } else {
      showError(error);
    }
  }
}

function onRequestOver(request) {
  if (!state.request || state.request.id !== request.id) return;
  if (request.status === "matched") {
    handleRequest(request).catch(showError);
    return;
  }
  stopWaiting();
  state.request = null;
  showOnly("find");
  if (request.status === "expired") notify("Nobody was free in time. Try again, or pick another level.");
  if (request.status === "cancelled") notify("Search cancelled.");
}

// ---------------------------------------------------------------- matchmaking socket

function openMatchmakingSocket() {
  closeMatchmakingSocket();
  const socket = new WebSocket(wsUrl("/ws/v1/matchmaking/"));
  state.mmSocket = socket;
  socket.onopen = () => {
    state.mmRetry = 0;
  };
  socket.onmessage = (message) => onMatchmakingEvent(JSON.parse(message.data));
  socket.onclose = (event) => {
    if (state.mmSocket !== socket) return;
    state.mmSocket = null;
    if (event.code === CLOSE_UNAUTHENTICATED) {
      signOut("The service refused your token: sign in again.");
      return;
    }
    if (state.token) setTimeout(() => state.token && !state.mmSocket && openMatchmakingSocket(), backoff("mmRetry"));
  };
}

function closeMatchmakingSocket() {
  const socket = state.mmSocket;
  state.mmSocket = null;
  socket?.close(1000);
}

function backoff(counter) {
  state[counter] += 1;
  return Math.min(RECONNECT_MAX_MS, 500 * 2 ** state[counter]);
}

function onMatchmakingEvent(event) {
  switch (event.type) {
    case "match.found":
      stopWaiting();
      state.request = event.request;
      enterSession(event.session).catch(showError);
      break;
    case "request.expired":
    case "request.cancelled":
      onRequestOver(event.request);
      break;
    case "request.requeued":
      notify("Your partner did not join. You are back at the front of the queue.");
      leaveSession();
      enterWaiting(event.request);
      break;
    case "session.ended":
      if (state.session?.id === event.session.id) finishSession(event.session);
      break;
    default:
      break;
  }
}

// ---------------------------------------------------------------- the session

function isOfferer() {
  return state.session?.participant1Id === state.userId;
}

function partnerId() {
  const session = state.session;
  return session.participant1Id === state.userId ? session.participant2Id : session.participant1Id;
}

function mySlot() {
  return isOfferer() ? "participant1" : "participant2";
}

async function enterSession(session) {
  if (state.joinedSessionId === session.id) {
    updateSession(session);
    return;
  }
  stopWaiting();
  leaveSession();
  clearError();
  state.joinedSessionId = session.id;
  state.session = session;
  state.finishedSessionId = null;
  state.partnerPresence = "not joined yet";
  state.recordingSaved = false;
  state.partnerRecording = false;
  $("events").replaceChildren();
  $("time-up").hidden = true;
  $("consent").checked = Boolean(session.recordingConsent?.[mySlot()]);
  showOnly("session");
  renderSession();
  logEvent(`Matched with ${partnerId()}.`);
  loadHistory().catch(showError);
  clearInterval(state.tickTimer);
  state.tickTimer = setInterval(renderCountdown, 1000);
  await prepareMedia();
  if (state.joinedSessionId === session.id && !state.sessionSocket) openSessionSocket();
}

function updateSession(session) {
  if (!state.session || state.session.id !== session.id) return;
  state.session = session;
  renderSession();
  if (session.status === "completed" || session.status === "cancelled") finishSession(session);
  else syncRecording();
}

function renderSession() {
  const session = state.session;
  const topic = session.topic;
  $("session-status").textContent = session.status;
  $("session-status").dataset.status = session.status;
  $("partner-id").textContent = partnerId();
  $("partner-presence").textContent = `(${state.partnerPresence})`;
  $("topic-title").textContent = topic ? topic.title : "Free conversation";
  $("topic-description").textContent = topic?.description ?? "No topic was available: talk about anything.";
  $("prompts").replaceChildren(
    ...(topic?.promptQuestions ?? []).map((question) => Object.assign(document.createElement("li"), { textContent: question })),
  );
  $("end-session").hidden = session.status !== "active";
  $("cancel-session").hidden = session.status !== "waiting";
  renderCountdown();
  renderRecording();
}

function renderCountdown() {
  const session = state.session;
  if (!session) return;
  const element = $("countdown");
  if (session.status === "waiting") {
    element.textContent = `${session.plannedDurationMinutes} min, starts when you both join`;
    return;
  }
  if (session.status !== "active" || !session.startedAt) {
    element.textContent = "–";
    return;
  }
  const endsAt = Date.parse(session.startedAt) + session.plannedDurationMinutes * 60_000;
  const left = (endsAt - serverNow()) / 1000;
  element.textContent = left > 0 ? `${clock(left)} left` : `time is up (+${clock(-left)})`;
  element.classList.toggle("over", left <= 0);
}

function logEvent(text) {
  const item = document.createElement("li");
  const time = new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  item.textContent = `${time} ${text}`;
  $("events").prepend(item);
}

function openSessionSocket() {
  const session = state.session;
  const socket = new WebSocket(wsUrl(`/ws/v1/sessions/${session.id}/`));
  state.sessionSocket = socket;
  socket.onopen = () => {
    state.sessionRetry = 0;
    sendHeartbeat();
    clearInterval(state.heartbeatTimer);
    state.heartbeatTimer = setInterval(sendHeartbeat, HEARTBEAT_MS);
  };
  socket.onmessage = (message) => onSessionEvent(JSON.parse(message.data));
  socket.onclose = (event) => onSessionSocketClose(socket, session.id, event.code);
}

function onSessionSocketClose(socket, sessionId, code) {
  if (state.sessionSocket !== socket) return;
  state.sessionSocket = null;
  clearInterval(state.heartbeatTimer);
  if (state.session?.id !== sessionId || state.finishedSessionId === sessionId) return;
  if (code === CLOSE_UNAUTHENTICATED) {
    signOut("The service refused your token: sign in again.");
  } else if (FINAL_SESSION_CLOSES.has(code) || code === 1000) {
    api("GET", `/api/v1/sessions/${sessionId}/`).then(updateSession, showError);
  } else {
    logEvent("Connection to the service lost, reconnecting…");
    setTimeout(() => {
      if (state.session?.id === sessionId && !state.sessionSocket && state.finishedSessionId !== sessionId) {
        openSessionSocket();
      }
    }, backoff("sessionRetry"));
  }
}

function sendOnSession(message) {
  if (state.sessionSocket?.readyState === WebSocket.OPEN) state.sessionSocket.send(JSON.stringify(message));
}

function sendHeartbeat() {
  sendOnSession({ type: "heartbeat" });
}

function sendSignal(payload) {
  sendOnSession({ type: "signal", payload });
}

function onSessionEvent(event) {
  switch (event.type) {
    case "session.state":
      updateSession(event.session);
      if (event.session.status === "active") reconnectAudio();
      break;
    case "heartbeat.ack":
      state.clockSkewMs = Date.parse(event.serverTime) - Date.now();
      break;
    case "partner.joined":
      setPresence("here", "Your partner joined.");
      break;
    case "session.started":
      setPresence("here", "You are both here: the session has started.");
      updateSession(event.session);
      if (isOfferer()) startCall();
      loadHistory().catch(showError);
      break;
    case "partner.disconnected":
      setPresence("disconnected", "Your partner lost their connection. Waiting for them to come back…");
      break;
    case "partner.reconnected":
      setPresence("here", "Your partner is back.");
      reconnectAudio();
      break;
    case "session.time_up":
      $("time-up").hidden = false;
      logEvent("The planned time is up.");
      break;
    case "session.ended":
      finishSession(event.session);
      break;
    case "signal":
      onSignal(event.payload).catch((error) => logEvent(`Audio negotiation failed: ${error.message}`));
      break;
    case "error":
      showError(event.detail ?? "The service reported an error.");
      break;
    default:
      break;
  }
}

function setPresence(presence, message) {
  state.partnerPresence = presence;
  $("partner-presence").textContent = `(${presence})`;
  logEvent(message);
}

// ---------------------------------------------------------------- WebRTC audio
//
// participant1 always offers and participant2 always answers, so the two never
// offer at once. Every offer starts a fresh RTCPeerConnection tagged with an
// `epoch`; signals of an older epoch are ignored, so a reloaded page simply
// negotiates again: participant1 re-offers, participant2 asks for it with "hello".

async function prepareMedia() {
  if (state.media) return;
  if (!navigator.mediaDevices?.getUserMedia) {
    logEvent("This browser cannot use a microphone here (it needs https or localhost). You can still listen.");
    return;
  }
  try {
    state.media = await navigator.mediaDevices.getUserMedia({ audio: true });
    logEvent("Microphone ready.");
  } catch (error) {
    logEvent(`No microphone (${error.name}): you can still listen.`);
  }
}

function reconnectAudio() {
  const connected = ["connected", "connecting"].includes(state.pc?.connectionState);
  if (connected) return;
  if (isOfferer()) startCall();
  else sendSignal({ kind: "hello" });
}

function newPeerConnection(epoch) {
  closePeerConnection();
  const pc = new RTCPeerConnection({ iceServers: [] });
  state.pc = pc;
  state.epoch = epoch;
  state.pendingCandidates = [];
  pc.onicecandidate = ({ candidate }) => {
    if (candidate && state.pc === pc) sendSignal({ kind: "candidate", epoch, candidate: candidate.toJSON() });
  };
  pc.ontrack = (event) => {
    if (state.pc !== pc) return;
    state.remoteStream = event.streams[0] ?? new MediaStream([event.track]);
    $("remote-audio").srcObject = state.remoteStream;
    $("remote-audio").play().catch(() => logEvent("Click anywhere to hear your partner (autoplay blocked)."));
    mixRemoteIntoRecording();
  };
  pc.onconnectionstatechange = () => onConnectionState(pc);
  startStatsPolling();
  return pc;
}

function addLocalAudio(pc) {
  const tracks = state.media?.getAudioTracks() ?? [];
  if (tracks.length) for (const track of tracks) pc.addTrack(track, state.media);
  else pc.addTransceiver("audio", { direction: "recvonly" });
}

function closePeerConnection() {
  const pc = state.pc;
  state.pc = null;
  state.epoch = null;
  state.remoteStream = null;
  if (pc) {
    pc.onicecandidate = pc.ontrack = pc.onconnectionstatechange = null;
    pc.close();
  }
  clearInterval(state.statsTimer);
  state.statsTimer = null;
}

async function startCall() {
  if (!state.session || state.session.status !== "active") return;
  const pc = newPeerConnection(randomId());
  const epoch = state.epoch;
  addLocalAudio(pc);
  await pc.setLocalDescription(await pc.createOffer());
  if (state.pc !== pc) return;
  sendSignal({ kind: "offer", epoch, description: pc.localDescription.toJSON() });
  renderAudioState("calling your partner…");
}

async function answerCall(payload) {
  const pc = newPeerConnection(payload.epoch);
  await pc.setRemoteDescription(payload.description);
  addLocalAudio(pc);
  await pc.setLocalDescription(await pc.createAnswer());
  if (state.pc !== pc) return;
  sendSignal({ kind: "answer", epoch: payload.epoch, description: pc.localDescription.toJSON() });
  await flushCandidates(pc);
}

async function flushCandidates(pc) {
  const queued = state.pendingCandidates;
  state.pendingCandidates = [];
  for (const candidate of queued) await addCandidate(pc, candidate);
}

// A candidate the browser cannot use (another network, an unresolvable name) is not an error: others may work.
async function addCandidate(pc, candidate) {
  try {
    await pc.addIceCandidate(candidate);
  } catch (error) {
    console.debug("ignored ICE candidate", error);
  }
}

async function onSignal(payload) {
  if (!payload || typeof payload !== "object") return;
  const pc = state.pc;
  switch (payload.kind) {
    case "hello":
      if (isOfferer() && state.session?.status === "active") await startCall();
      break;
    case "offer":
      if (!isOfferer()) await answerCall(payload);
      break;
    case "answer":
      if (isOfferer() && pc && payload.epoch === state.epoch && pc.signalingState === "have-local-offer") {
        await pc.setRemoteDescription(payload.description);
        await flushCandidates(pc);
      }
      break;
    case "candidate":
      if (!pc || payload.epoch !== state.epoch) break;
      if (pc.remoteDescription) await addCandidate(pc, payload.candidate);
      else state.pendingCandidates.push(payload.candidate);
      break;
    case "consent":
      updateSession(await api("GET", `/api/v1/sessions/${state.session.id}/`));
      logEvent(payload.consent ? "Your partner agreed to record." : "Your partner does not want to be recorded.");
      break;
    case "recording":
      state.partnerRecording = payload.state === "on";
      if (payload.state === "saved") logEvent("Your partner's browser saved the recording.");
      renderRecording();
      if (payload.state === "saved") loadHistory().catch(showError);
      break;
    default:
      break;
  }
}

function onConnectionState(pc) {
  if (state.pc !== pc) return;
  renderAudioState(pc.connectionState);
  if (pc.connectionState === "connected") {
    logEvent("Audio connected.");
    syncRecording();
  }
  if (pc.connectionState === "failed") {
    logEvent("Audio connection failed, retrying…");
    setTimeout(() => state.pc === pc && reconnectAudio(), 1000);
  }
}

function renderAudioState(text) {
  $("audio-state").textContent = text;
  $("audio-state").dataset.state = state.pc?.connectionState ?? "none";
}

function startStatsPolling() {
  clearInterval(state.statsTimer);
  state.statsTimer = setInterval(async () => {
    const stats = await audioStats();
    if (stats.connectionState === "connected") {
      renderAudioState(`connected · received ${Math.round(stats.bytesReceived / 1024)} kB`);
    }
  }, STATS_POLL_MS);
}

async function audioStats() {
  const pc = state.pc;
  const result = { connectionState: pc?.connectionState ?? "none", bytesReceived: 0, bytesSent: 0 };
  if (!pc) return result;
  const report = await pc.getStats();
  report.forEach((entry) => {
    if (entry.kind !== "audio") return;
    if (entry.type === "inbound-rtp") result.bytesReceived += entry.bytesReceived ?? 0;
    if (entry.type === "outbound-rtp") result.bytesSent += entry.bytesSent ?? 0;
  });
  return result;
}

// ---------------------------------------------------------------- recording
//
// Recorded only while both consent, by participant1's browser alone (one upload
// per session), mixing its microphone and the partner's audio.

function bothConsented() {
  const consent = state.session?.recordingConsent;
  return Boolean(consent?.participant1 && consent?.participant2);
}

// An AudioContext may only start after a user gesture: made on the first click.
function unlockAudio() {
  if (!window.AudioContext) return null;
  state.audioContext ??= new AudioContext();
  if (state.audioContext.state === "suspended") state.audioContext.resume().catch(() => {});
  return state.audioContext;
}

async function onConsentChange() {
  clearError();
  unlockAudio();
  const consent = $("consent").checked;
  try {
    const session = await api("PUT", `/api/v1/sessions/${state.session.id}/recording-consent/`, { consent });
    sendSignal({ kind: "consent", consent });
    updateSession(session);
  } catch (error) {
    $("consent").checked = !consent;
    showError(error);
  }
}

function syncRecording() {
  const session = state.session;
  if (!session) return;
  if (!bothConsented()) {
    state.recordingSaved = false; // withdrawing consent deletes a stored recording
    if (state.recorder) discardRecording("Recording stopped and discarded: consent was withdrawn.");
  } else if (isOfferer() && session.status === "active" && !state.recorder && !state.recordingSaved) {
    if (state.pc?.connectionState === "connected") startRecording();
  }
  renderRecording();
}

function startRecording() {
  const context = unlockAudio();
  if (!context || !window.MediaRecorder) {
    logEvent("This browser cannot record audio.");
    return;
  }
  const destination = context.createMediaStreamDestination();
  state.mixer = { context, destination, sources: [] };
  mixIntoRecording(state.media);
  mixRemoteIntoRecording();
  const type = MediaRecorder.isTypeSupported("audio/webm;codecs=opus") ? "audio/webm;codecs=opus" : "audio/webm";
  const recorder = new MediaRecorder(destination.stream, { mimeType: type });
  state.recordedChunks = [];
  recorder.ondataavailable = (event) => event.data.size && state.recordedChunks.push(event.data);
  recorder.start(1000);
  state.recorder = recorder;
  sendSignal({ kind: "recording", state: "on" });
  logEvent("Recording started (you both agreed).");
}

function mixIntoRecording(stream) {
  if (!state.mixer || !stream?.getAudioTracks().length) return;
  const source = state.mixer.context.createMediaStreamSource(stream);
  source.connect(state.mixer.destination);
  state.mixer.sources.push(source);
}

function mixRemoteIntoRecording() {
  if (state.mixer && state.remoteStream && state.mixer.remote !== state.remoteStream) {
    state.mixer.remote = state.remoteStream;
    mixIntoRecording(state.remoteStream);
  }
}

function stopRecorder() {
  const recorder = state.recorder;
  state.recorder = null;
  return new Promise((resolve) => {
    recorder.onstop = () => {
      for (const source of state.mixer?.sources ?? []) source.disconnect();
      state.mixer = null;
      resolve(new Blob(state.recordedChunks, { type: "audio/webm" }));
      state.recordedChunks = [];
    };
    recorder.stop();
  });
}

async function discardRecording(message) {
  if (!state.recorder) return;
  await stopRecorder();
  sendSignal({ kind: "recording", state: "off" });
  logEvent(message);
  renderRecording();
}

async function saveRecording() {
  if (!state.recorder) return;
  const sessionId = state.session.id;
  $("save-recording").disabled = true;
  $("recording-state").textContent = "Saving the recording…";
  try {
    const blob = await stopRecorder();
    if (!blob.size) throw new Error("Nothing was recorded.");
    const target = await api("POST", `/api/v1/sessions/${sessionId}/recording/upload-url/`, {
      contentType: "audio/webm",
    });
    if (target.maxBytes && blob.size > target.maxBytes) throw new Error("The recording is too large to upload.");
    await uploadBlob(target, blob);
    await api("POST", `/api/v1/sessions/${sessionId}/recording/complete/`, { key: target.key });
    state.recordingSaved = true;
    sendSignal({ kind: "recording", state: "saved" });
    logEvent(`Recording saved (${Math.round(blob.size / 1024)} kB).`);
    await loadHistory();
  } catch (error) {
    showError(`The recording could not be saved: ${error.message}`);
  } finally {
    $("save-recording").disabled = false;
    renderRecording();
  }
}

async function uploadBlob(target, blob) {
  let response;
  try {
    response = await fetch(target.uploadUrl, { method: target.method, headers: target.headers, body: blob });
  } catch {
    throw new Error("the storage server could not be reached (or refused this page's origin: check its CORS).");
  }
  if (!response.ok) throw new Error(`the storage server refused the upload (status ${response.status}).`);
}

function renderRecording() {
  const session = state.session;
  if (!session) return;
  const consent = session.recordingConsent ?? {};
  const partnerSlot = isOfferer() ? "participant2" : "participant1";
  let text;
  if (state.recorder) text = "● Recording you and your partner.";
  else if (state.recordingSaved) text = "Recording saved: play it from your sessions below.";
  else if (state.partnerRecording) text = "● Your partner's browser is recording this conversation.";
  else if (bothConsented()) text = "You both agreed: recording starts once the audio is connected.";
  else text = `Recorded only when you both agree. You: ${consent[mySlot()] ? "yes" : "no"}, partner: ${consent[partnerSlot] ? "yes" : "no"}.`;
  $("recording-state").textContent = text;
  $("save-recording").hidden = !state.recorder;
}

// ---------------------------------------------------------------- ending

async function sessionAction(action, body) {
  clearError();
  try {
    finishSession(await api("POST", `/api/v1/sessions/${state.session.id}/${action}/`, body));
  } catch (error) {
    showError(error);
  }
}

async function onReport(event) {
  event.preventDefault();
  const details = $("report-details").value.trim();
  await sessionAction("report", { reason: $("report-reason").value, ...(details ? { details } : {}) });
}

async function finishSession(session) {
  if (state.finishedSessionId === session.id) return;
  state.finishedSessionId = session.id;
  state.session = session;
  const keepRecording = state.recorder && bothConsented();
  if (keepRecording) await saveRecording();
  else if (state.recorder) await discardRecording("Recording discarded.");
  leaveSession({ keepSession: true });
  showOnly("ended");
  $("ended-summary").textContent = endSummary(session);
  const canGiveFeedback = session.status === "completed";
  $("feedback-form").hidden = !canGiveFeedback;
  $("feedback-done").hidden = true;
  loadHistory().catch(showError);
}

function endSummary(session) {
  const reasons = {
    completed: "ended",
    dropped: "ended because the connection was lost",
    timeout: session.status === "cancelled" ? "was cancelled: you did not both join in time" : "reached its time limit",
    reported: "ended with a report",
  };
  const how = session.endReason ? reasons[session.endReason] ?? session.endReason : "was cancelled";
  const duration = session.actualDurationSeconds ? ` after ${formatSeconds(session.actualDurationSeconds)}` : "";
  return `The session with ${partnerId()} ${how}${duration}.`;
}

// Stops everything tied to the live session (sockets, timers, audio).
function leaveSession({ keepSession = false } = {}) {
  const socket = state.sessionSocket;
  state.sessionSocket = null;
  state.joinedSessionId = null;
  socket?.close(1000);
  clearInterval(state.heartbeatTimer);
  clearInterval(state.tickTimer);
  state.heartbeatTimer = null;
  state.tickTimer = null;
  closePeerConnection();
  $("remote-audio").srcObject = null;
  for (const track of state.media?.getTracks() ?? []) track.stop();
  state.media = null;
  if (!keepSession) state.session = null;
}

async function onFeedback(event) {
  event.preventDefault();
  clearError();
  const body = {
    partnerRating: Number($("fb-partner").value),
    connectionQuality: Number($("fb-connection").value),
    topicRating: Number($("fb-topic").value),
    talkAgain: $("fb-again").checked,
    levelFeltRight: $("fb-level").checked,
  };
  const comment = $("fb-comment").value.trim();
  if (comment) body.comment = comment;
  try {
    await api("POST", `/api/v1/sessions/${state.session.id}/feedback/`, body);
    $("feedback-form").hidden = true;
    $("feedback-done").hidden = false;
  } catch (error) {
    showError(error);
  }
}

function onAgain() {
  clearError();
  notify("");
  state.session = null;
  showOnly("find");
}

// ---------------------------------------------------------------- history

async function loadHistory() {
  if (!state.token) return;
  const page = await api("GET", "/api/v1/sessions/?pageSize=20");
  const list = $("history-list");
  list.replaceChildren(...page.results.map(historyItem));
  show("history-empty", page.results.length === 0);
}

function historyItem(session) {
  const item = document.createElement("li");
  item.dataset.sessionId = session.id;
  const partner = session.participant1Id === state.userId ? session.participant2Id : session.participant1Id;
  const when = new Date(session.startedAt ?? session.createdAt).toLocaleString();
  const title = document.createElement("strong");
  title.textContent = session.topic?.title ?? "Free conversation";
  const facts = document.createElement("span");
  facts.className = "muted";
  const duration = session.actualDurationSeconds ? `, ${formatSeconds(session.actualDurationSeconds)}` : "";
  facts.textContent = ` ${when} · ${languageName(session.targetLanguageCode)} with ${partner} · ${session.status}${
    session.endReason ? ` (${session.endReason})` : ""
  }${duration}`;
  item.append(title, facts);
  if (session.audioRecordingUrl) item.append(playButton(session));
  return item;
}

function playButton(session) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "link";
  button.textContent = "Play the recording";
  button.setAttribute("aria-label", `Play the recording of ${session.topic?.title ?? "this session"}`);
  button.addEventListener("click", async () => {
    try {
      const { downloadUrl } = await api("GET", `/api/v1/sessions/${session.id}/recording/`);
      const audio = document.createElement("audio");
      audio.controls = true;
      audio.src = downloadUrl;
      audio.setAttribute("aria-label", `Recording of ${session.topic?.title ?? "the session"}`);
      button.replaceWith(audio);
      audio.play().catch(() => {});
    } catch (error) {
      showError(error);
    }
  });
  return button;
}

// ---------------------------------------------------------------- start

function bind() {
  $("token-form").addEventListener("submit", onTokenSubmit);
  $("dev-form")?.addEventListener("submit", onDevLogin);
  $("signout").addEventListener("click", () => signOut());
  $("error-close").addEventListener("click", clearError);
  $("language").addEventListener("change", onChoiceChange);
  $("level").addEventListener("change", onChoiceChange);
  $("find-form").addEventListener("submit", onFind);
  $("cancel-request").addEventListener("click", onCancelRequest);
  $("end-session").addEventListener("click", () => sessionAction("end"));
  $("cancel-session").addEventListener("click", () => sessionAction("cancel"));
  $("report-form").addEventListener("submit", onReport);
  $("consent").addEventListener("change", onConsentChange);
  $("save-recording").addEventListener("click", saveRecording);
  $("feedback-form").addEventListener("submit", onFeedback);
  $("again").addEventListener("click", onAgain);
  $("history-refresh").addEventListener("click", () => loadHistory().catch(showError));
  document.addEventListener("click", () => $("remote-audio").srcObject && $("remote-audio").play().catch(() => {}));
}

function start() {
  bind();
  labelLanguages();
  const devUser = $("dev-user");
  if (devUser) devUser.value = `learner-${Math.floor(100 + Math.random() * 900)}`;
  const saved = sessionStorage.getItem(STORAGE_KEY);
  if (saved) signIn(saved).catch((error) => signOut(error.message));
}

// For tests and the curious: the audio path as the browser sees it.
window.practice = {
  stats: audioStats,
  state: () => ({
    userId: state.userId,
    sessionId: state.session?.id ?? null,
    sessionStatus: state.session?.status ?? null,
    offerer: state.session ? isOfferer() : null,
    recording: Boolean(state.recorder),
    recordingSaved: state.recordingSaved,
  }),
};

start();
