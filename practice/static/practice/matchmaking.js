// Finding a partner: the search form and its topics, the waiting screen, cancelling, the lobby socket's
// events, and picking up a session or search after a reload.

import { api, randomId } from "./api.js";
import { unlockAudio } from "./recording.js";
import { currentSessionId, enterSession, finishSession, leaveSession } from "./session.js";
import { lobbyConnected, serverNow } from "./sockets.js";
import * as ui from "./ui.js";

const QUEUE_POLL_MS = 3_000;
const RESUMABLE = new Set(["in_session", "request_pending"]);

let request = null; // the search being waited on
let clockTimer = null;
let queueTimer = null;

export async function loadTopics() {
  const choice = ui.findChoice();
  ui.topicsLoading();
  const params = new URLSearchParams({ targetLanguageCode: choice.language, level: choice.level, pageSize: "100" });
  const page = await api("GET", `/api/v1/topics/?${params}`);
  const now = ui.findChoice();
  if (now.language !== choice.language || now.level !== choice.level) return; // the choice changed meanwhile
  ui.renderTopics(page.results, choice);
}

export async function findPartner() {
  ui.clearError();
  ui.notify("");
  unlockAudio();
  ui.setFindBusy(true);
  try {
    const created = await api("POST", "/api/v1/matchmaking/requests/", ui.readFindForm(), { "Idempotency-Key": randomId() });
    await handleRequest(created);
  } catch (error) {
    if (!RESUMABLE.has(error.code)) throw error;
    ui.notify(error.message); // already searching or talking: go back to it
    await resume();
  } finally {
    ui.setFindBusy(false);
  }
}

async function handleRequest(next) {
  request = next;
  if (next.status === "matched" && next.sessionId) {
    const session = await api("GET", `/api/v1/sessions/${next.sessionId}/`);
    stopWaiting();
    await enterSession(session);
  } else if (next.status === "pending") {
    enterWaiting(next);
  } else {
    stopWaiting();
    ui.showView("find");
  }
}

function enterWaiting(next) {
  request = next;
  ui.showWaiting(next);
  stopWaiting();
  tickWaiting();
  clockTimer = setInterval(tickWaiting, 1000);
  pollQueue();
  queueTimer = setInterval(pollQueue, QUEUE_POLL_MS);
}

export function stopWaiting() {
  clearInterval(clockTimer);
  clearInterval(queueTimer);
  clockTimer = null;
  queueTimer = null;
}

function tickWaiting() {
  if (request) ui.renderWaitClock(request, serverNow());
}

async function pollQueue() {
  const polled = request;
  if (!polled) return;
  try {
    const queues = await api("GET", "/api/v1/matchmaking/queues/");
    const row = queues.find((q) => q.targetLanguageCode === polled.targetLanguageCode && q.level === polled.userLevel);
    ui.renderQueue(row ? row.waiting : 0, polled);
    // Without a live socket, the request itself says whether a partner was found.
    if (!lobbyConnected()) {
      const fresh = await api("GET", `/api/v1/matchmaking/requests/${polled.id}/`);
      if (fresh.status !== "pending") onRequestOver(fresh);
    }
  } catch (error) {
    ui.renderQueueUnavailable(error.message);
  }
}

export async function cancelSearch() {
  ui.clearError();
  if (!request) return;
  const path = `/api/v1/matchmaking/requests/${request.id}/`;
  try {
    onRequestOver(await api("DELETE", path));
  } catch (error) {
    if (error.code !== "not_pending") throw error;
    onRequestOver(await api("GET", path)); // matched or expired meanwhile
  }
}

function onRequestOver(over) {
  if (!request || request.id !== over.id) return;
  if (over.status === "matched") {
    handleRequest(over).catch(ui.showError);
    return;
  }
  stopWaiting();
  request = null;
  ui.showView("find");
  if (over.status === "expired") ui.notify(gettext("Nobody was free in time. Try again, or pick another level."));
  if (over.status === "cancelled") ui.notify(gettext("Search cancelled."));
}

// One handler per event type of the lobby socket (API.md).
const LOBBY_EVENTS = new Map([
  [
    "match.found",
    (event) => {
      stopWaiting();
      request = event.request;
      enterSession(event.session).catch(ui.showError);
    },
  ],
  ["request.expired", (event) => onRequestOver(event.request)],
  ["request.cancelled", (event) => onRequestOver(event.request)],
  [
    "request.requeued", // the partner never joined: back to the head of the queue
    (event) => {
      ui.notify(gettext("Your partner did not join. You are back at the front of the queue."));
      leaveSession();
      enterWaiting(event.request);
    },
  ],
  [
    "session.ended",
    (event) => {
      if (currentSessionId() === event.session.id) finishSession(event.session);
    },
  ],
]);

export function onLobbyEvent(event) {
  LOBBY_EVENTS.get(event.type)?.(event);
}

// Picks up where this learner left off: a live session first, then a pending search.
export async function resume() {
  try {
    const session = await api("GET", "/api/v1/sessions/current/");
    stopWaiting();
    await enterSession(session);
    return;
  } catch (error) {
    if (error.status !== 404) throw error;
  }
  try {
    const pending = await api("GET", "/api/v1/matchmaking/requests/current/");
    if (pending.status === "pending" && Date.parse(pending.expiresAt) > serverNow()) enterWaiting(pending);
  } catch (error) {
    if (error.status !== 404) throw error;
  }
}
