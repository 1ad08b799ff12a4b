// Entry of the practice page (a module: no build step): wires the modules that own each concern to the
// page's controls and to each other, signs in and out, and resumes where this tab left off.

import { devToken, forgetToken, onUnauthorized, savedToken, useToken } from "./api.js";
import * as invitations from "./invitations.js";
import * as matchmaking from "./matchmaking.js";
import * as recording from "./recording.js";
import * as session from "./session.js";
import { closeLobby, openLobby } from "./sockets.js";
import * as ui from "./ui.js";
import * as audio from "./webrtc.js";

async function signIn(token) {
  ui.showSignedIn(useToken(token));
  openLobby({
    onEvent: (event) => {
      invitations.onLobbyEvent(event);
      matchmaking.onLobbyEvent(event);
    },
  });
  await Promise.all([
    matchmaking.loadTopics(),
    session.loadHistory(),
    invitations.loadInvitations(),
    matchmaking.resume(),
  ]);
}

function signOut(reason = "") {
  forgetToken();
  closeLobby();
  session.leaveSession();
  matchmaking.stopWaiting();
  invitations.clearInvitations();
  ui.showSignedOut();
  if (reason) ui.showError(reason);
}

function bind() {
  ui.on("token-form", "submit", async () => {
    ui.clearError();
    await signIn(ui.tokenInput());
  });
  ui.on("dev-form", "submit", async () => {
    ui.clearError();
    await signIn(await devToken(ui.devUserInput()));
  });
  ui.on("signout", "click", () => signOut());
  ui.on("error-close", "click", () => ui.clearError());
  ui.on("language", "change", matchmaking.loadTopics);
  ui.on("level", "change", matchmaking.loadTopics);
  ui.on("find-form", "submit", matchmaking.findPartner);
  ui.on("cancel-request", "click", matchmaking.cancelSearch);
  ui.on("end-session", "click", () => session.endSession("end"));
  ui.on("cancel-session", "click", () => session.endSession("cancel"));
  ui.on("report-form", "submit", session.report);
  ui.on("consent", "change", session.changeConsent);
  ui.on("save-recording", "click", session.saveRecording);
  ui.on("feedback-form", "submit", session.sendFeedback);
  ui.on("again", "click", session.practiseAgain);
  ui.on("history-refresh", "click", session.loadHistory);
  document.addEventListener("click", ui.replayRemoteAudio);
}

onUnauthorized(signOut);
audio.setupAudio({
  role: session.role,
  onRemoteStream: recording.mixRemoteIntoRecording,
  onConnected: recording.syncRecording,
});
recording.setupRecording({ role: session.role });
bind();
ui.labelLanguages();
ui.suggestDevUser();

// For tests and the curious: the audio path and the session as the page sees them.
window.practice = {
  stats: audio.audioStats,
  state: () => ({ ...session.sessionSnapshot(), ...recording.recordingSnapshot() }),
};

const saved = savedToken();
if (saved) signIn(saved).catch((error) => signOut(error.message));
