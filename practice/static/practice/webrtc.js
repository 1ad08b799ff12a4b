// Audio between the two learners: the microphone, the RTCPeerConnection, offer/answer/ICE signalled
// through the session socket, and the connection's stats.
//
// participant1 always offers and participant2 always answers, so the two never offer at once. Every
// offer starts a fresh RTCPeerConnection tagged with an `epoch`; signals of an older epoch are ignored,
// so a reloaded page simply negotiates again: participant1 re-offers, participant2 asks for it with "hello".

import { randomId } from "./api.js";
import { sendSignal } from "./sockets.js";
import * as ui from "./ui.js";

const STATS_POLL_MS = 2_000;
const RETRY_FAILED_MS = 1_000;

let media = null; // the microphone's stream
let pc = null;
let epoch = null;
let pendingCandidates = []; // candidates that arrived before the remote description
let remote = null; // the partner's stream
let statsTimer = null;
// role() -> {offerer, active} of the current session, or null; the hooks let recording follow the call.
let hooks = { role: () => null, onRemoteStream: () => {}, onConnected: () => {} };

export function setupAudio(options) {
  hooks = { ...hooks, ...options };
}

export function localStream() {
  return media;
}

export function remoteStream() {
  return remote;
}

export function audioConnected() {
  return pc?.connectionState === "connected";
}

export async function prepareMedia() {
  if (media) return;
  if (!navigator.mediaDevices?.getUserMedia) {
    ui.logEvent(gettext("This browser cannot use a microphone here (it needs https or localhost). You can still listen."));
    return;
  }
  try {
    media = await navigator.mediaDevices.getUserMedia({ audio: true });
    ui.logEvent(gettext("Microphone ready."));
  } catch (error) {
    ui.logEvent(interpolate(gettext("No microphone (%(reason)s): you can still listen."), { reason: error.name }, true));
  }
}

export function reconnectAudio() {
  if (["connected", "connecting"].includes(pc?.connectionState)) return;
  if (hooks.role()?.offerer) startCall();
  else sendSignal({ kind: "hello" });
}

function renderAudioState(text) {
  ui.renderAudioState(text, pc?.connectionState ?? "none");
}

function newPeerConnection(callEpoch) {
  closePeerConnection();
  const connection = new RTCPeerConnection({ iceServers: [] });
  pc = connection;
  epoch = callEpoch;
  pendingCandidates = [];
  connection.onicecandidate = ({ candidate }) => {
    if (candidate && pc === connection) sendSignal({ kind: "candidate", epoch: callEpoch, candidate: candidate.toJSON() });
  };
  connection.ontrack = (event) => {
    if (pc !== connection) return;
    remote = event.streams[0] ?? new MediaStream([event.track]);
    ui.playRemoteAudio(remote);
    hooks.onRemoteStream(remote);
  };
  connection.onconnectionstatechange = () => onConnectionState(connection);
  startStatsPolling();
  return connection;
}

function addLocalAudio(connection) {
  const tracks = media?.getAudioTracks() ?? [];
  if (tracks.length) for (const track of tracks) connection.addTrack(track, media);
  else connection.addTransceiver("audio", { direction: "recvonly" });
}

function closePeerConnection() {
  const connection = pc;
  pc = null;
  epoch = null;
  remote = null;
  if (connection) {
    connection.onicecandidate = connection.ontrack = connection.onconnectionstatechange = null;
    connection.close();
  }
  clearInterval(statsTimer);
  statsTimer = null;
}

// Ends the call and releases the microphone.
export function hangUp() {
  closePeerConnection();
  ui.stopRemoteAudio();
  for (const track of media?.getTracks() ?? []) track.stop();
  media = null;
}

export async function startCall() {
  if (!hooks.role()?.active) return;
  const connection = newPeerConnection(randomId());
  const callEpoch = epoch;
  addLocalAudio(connection);
  await connection.setLocalDescription(await connection.createOffer());
  if (pc !== connection) return;
  sendSignal({ kind: "offer", epoch: callEpoch, description: connection.localDescription.toJSON() });
  renderAudioState(gettext("calling your partner…"));
}

async function answerCall(payload) {
  const connection = newPeerConnection(payload.epoch);
  await connection.setRemoteDescription(payload.description);
  addLocalAudio(connection);
  await connection.setLocalDescription(await connection.createAnswer());
  if (pc !== connection) return;
  sendSignal({ kind: "answer", epoch: payload.epoch, description: connection.localDescription.toJSON() });
  await flushCandidates(connection);
}

async function flushCandidates(connection) {
  const queued = pendingCandidates;
  pendingCandidates = [];
  for (const candidate of queued) await addCandidate(connection, candidate);
}

// A candidate the browser cannot use (another network, an unresolvable name) is not an error: others may work.
async function addCandidate(connection, candidate) {
  try {
    await connection.addIceCandidate(candidate);
  } catch (error) {
    console.debug("ignored ICE candidate", error);
  }
}

// The call's signal kinds: hello, offer, answer, candidate. Others are not the call's.
export async function handleSignal(payload) {
  const connection = pc;
  const role = hooks.role();
  const offerer = Boolean(role?.offerer);
  switch (payload.kind) {
    case "hello":
      if (offerer && role.active) await startCall();
      break;
    case "offer":
      if (!offerer) await answerCall(payload);
      break;
    case "answer":
      if (offerer && connection && payload.epoch === epoch && connection.signalingState === "have-local-offer") {
        await connection.setRemoteDescription(payload.description);
        await flushCandidates(connection);
      }
      break;
    case "candidate":
      if (!connection || payload.epoch !== epoch) break;
      if (connection.remoteDescription) await addCandidate(connection, payload.candidate);
      else pendingCandidates.push(payload.candidate);
      break;
    default:
      break;
  }
}

function onConnectionState(connection) {
  if (pc !== connection) return;
  renderAudioState(connection.connectionState);
  if (connection.connectionState === "connected") {
    ui.logEvent(gettext("Audio connected."));
    hooks.onConnected();
  }
  if (connection.connectionState === "failed") {
    ui.logEvent(gettext("Audio connection failed, retrying…"));
    setTimeout(() => pc === connection && reconnectAudio(), RETRY_FAILED_MS);
  }
}

function startStatsPolling() {
  clearInterval(statsTimer);
  statsTimer = setInterval(async () => {
    const stats = await audioStats();
    if (stats.connectionState === "connected") {
      renderAudioState(interpolate(gettext("connected · received %(size)s kB"), { size: Math.round(stats.bytesReceived / 1024) }, true));
    }
  }, STATS_POLL_MS);
}

// The audio path as the browser sees it (also window.practice.stats() for tests and the curious).
export async function audioStats() {
  const connection = pc;
  const result = { connectionState: connection?.connectionState ?? "none", bytesReceived: 0, bytesSent: 0 };
  if (!connection) return result;
  const report = await connection.getStats();
  report.forEach((entry) => {
    if (entry.kind !== "audio") return;
    if (entry.type === "inbound-rtp") result.bytesReceived += entry.bytesReceived ?? 0;
    if (entry.type === "outbound-rtp") result.bytesSent += entry.bytesSent ?? 0;
  });
  return result;
}
