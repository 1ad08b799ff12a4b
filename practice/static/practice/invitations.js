// Received invitations: scheduled sessions another learner proposed, answered with accept or decline
// (API.md, Sessions). Read at sign-in, on the lobby's `invitation.received`, and after each answer.

import { api } from "./api.js";
import * as ui from "./ui.js";

export async function loadInvitations() {
  const page = await api("GET", "/api/v1/sessions/invitations/");
  ui.renderInvitations(page.results, { onAnswer: answer });
}

async function answer(sessionId, verb) {
  const session = await api("POST", `/api/v1/sessions/${sessionId}/${verb}/`);
  ui.notify(ui.invitationAnswered(session, verb));
  await loadInvitations();
}

export function onLobbyEvent(event) {
  if (event.type === "invitation.received") loadInvitations().catch(ui.showError);
}

export function clearInvitations() {
  ui.renderInvitations([], { onAnswer: answer });
}
