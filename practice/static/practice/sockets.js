// The service's two WebSockets: the lobby (matchmaking events) and the live session (heartbeats, events,
// signalling). Unexpected closes reconnect with back-off; the close codes of API.md stop them for good.

import { authToken, refuseToken } from "./api.js";

const HEARTBEAT_MS = 10_000;
const RECONNECT_MAX_MS = 15_000;
const CLOSE_NORMAL = 1000;
const CLOSE_UNAUTHENTICATED = 4401;
// Forbidden, no such session, session over: reopening would only be refused again.
const FINAL_SESSION_CLOSES = new Set([4403, 4404, 4410]);
const REFUSED_TOKEN = gettext("The service refused your token: sign in again.");

let lobby = null; // {socket, retries, onEvent}
let live = null; // {sessionId, socket, retries, heartbeat, handlers}
let clockSkewMs = 0; // service clock minus ours, from heartbeat acks

function socketUrl(path) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}${path}?token=${encodeURIComponent(authToken())}`;
}

function backoff(entry) {
  entry.retries += 1;
  return Math.min(RECONNECT_MAX_MS, 500 * 2 ** entry.retries);
}

// The service's clock: countdowns and wait times read it, so a wrong local clock does not skew them.
export function serverNow() {
  return Date.now() + clockSkewMs;
}

// ---------------------------------------------------------------- lobby: /ws/v1/matchmaking/

export function openLobby({ onEvent }) {
  closeLobby();
  lobby = { socket: null, retries: 0, onEvent };
  connectLobby(lobby);
}

function connectLobby(entry) {
  const socket = new WebSocket(socketUrl("/ws/v1/matchmaking/"));
  entry.socket = socket;
  socket.onopen = () => {
    entry.retries = 0;
  };
  socket.onmessage = (message) => entry.onEvent(JSON.parse(message.data));
  socket.onclose = (event) => {
    if (lobby !== entry || entry.socket !== socket) return; // closed on purpose, or replaced
    entry.socket = null;
    if (event.code === CLOSE_UNAUTHENTICATED) {
      refuseToken(REFUSED_TOKEN);
      return;
    }
    setTimeout(() => lobby === entry && !entry.socket && connectLobby(entry), backoff(entry));
  };
}

export function closeLobby() {
  const entry = lobby;
  lobby = null;
  entry?.socket?.close(CLOSE_NORMAL);
}

// Without it, the waiting screen polls the request instead.
export function lobbyConnected() {
  return lobby?.socket?.readyState === WebSocket.OPEN;
}

// ---------------------------------------------------------------- session: /ws/v1/sessions/{id}/
//
// handlers: onEvent(event); wanted() says whether the session still needs its socket (not ended meanwhile);
// onClosed() after a final close, to re-read the session; onLost() before each reconnect.

export function joinSessionSocket(sessionId, handlers) {
  if (live?.sessionId === sessionId) return;
  leaveSessionSocket();
  live = { sessionId, socket: null, retries: 0, heartbeat: null, handlers };
  connectSession(live);
}

function connectSession(entry) {
  const socket = new WebSocket(socketUrl(`/ws/v1/sessions/${entry.sessionId}/`));
  entry.socket = socket;
  // The first heartbeat is the join: both joined starts the session.
  socket.onopen = () => {
    entry.retries = 0;
    send(entry, { type: "heartbeat" });
    clearInterval(entry.heartbeat);
    entry.heartbeat = setInterval(() => send(entry, { type: "heartbeat" }), HEARTBEAT_MS);
  };
  socket.onmessage = (message) => {
    const event = JSON.parse(message.data);
    if (event.type === "heartbeat.ack") clockSkewMs = Date.parse(event.serverTime) - Date.now();
    entry.handlers.onEvent(event);
  };
  socket.onclose = (event) => onSessionClose(entry, socket, event.code);
}

function onSessionClose(entry, socket, code) {
  if (live !== entry || entry.socket !== socket) return; // closed on purpose, or replaced
  entry.socket = null;
  clearInterval(entry.heartbeat);
  const { handlers } = entry;
  if (!handlers.wanted()) return;
  if (code === CLOSE_UNAUTHENTICATED) {
    refuseToken(REFUSED_TOKEN);
  } else if (FINAL_SESSION_CLOSES.has(code) || code === CLOSE_NORMAL) {
    handlers.onClosed();
  } else {
    handlers.onLost();
    setTimeout(() => live === entry && !entry.socket && handlers.wanted() && connectSession(entry), backoff(entry));
  }
}

export function leaveSessionSocket() {
  const entry = live;
  live = null;
  if (!entry) return;
  clearInterval(entry.heartbeat);
  entry.socket?.close(CLOSE_NORMAL);
}

function send(entry, message) {
  if (entry.socket?.readyState === WebSocket.OPEN) entry.socket.send(JSON.stringify(message));
}

// The service relays a signal's payload unchanged to the partner's sockets.
export function sendSignal(payload) {
  if (live) send(live, { type: "signal", payload });
}
