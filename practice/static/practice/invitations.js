// Received invitations (scheduled sessions another learner proposed), with accept and decline.
// A module of its own: it reads the signed-in token the page keeps in sessionStorage and talks to
// GET /api/v1/sessions/invitations/ and POST /api/v1/sessions/{id}/accept|decline/ (API.md, Sessions).
const STORAGE_KEY = "practice.token";
const POLL_MS = 15_000;

const section = document.getElementById("invitations");
const list = document.getElementById("invitation-list");
const status = document.getElementById("invitation-status");

function token() {
  return sessionStorage.getItem(STORAGE_KEY);
}

async function call(method, path) {
  const response = await fetch(path, {
    method,
    headers: { Accept: "application/json", Authorization: `Bearer ${token()}` },
  });
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new Error(data?.detail ?? `The service answered with status ${response.status}.`);
  return data;
}

function when(iso) {
  return new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

function render(invitations) {
  list.replaceChildren(
    ...invitations.map((session) => {
      const item = document.createElement("li");
      item.dataset.sessionId = session.id;
      const text = document.createElement("span");
      const topic = session.topic ? ` · ${session.topic.title}` : "";
      text.textContent = `${session.participant1Id} · ${session.targetLanguageCode} · ${when(session.scheduledAt)} · ${session.plannedDurationMinutes} min${topic}`;
      const accept = document.createElement("button");
      accept.type = "button";
      accept.textContent = "Accept";
      accept.addEventListener("click", () => answer(session.id, "accept"));
      const decline = document.createElement("button");
      decline.type = "button";
      decline.className = "secondary";
      decline.textContent = "Decline";
      decline.addEventListener("click", () => answer(session.id, "decline"));
      item.append(text, " ", accept, " ", decline);
      return item;
    }),
  );
  section.hidden = invitations.length === 0;
}

async function refresh() {
  if (!token()) {
    section.hidden = true;
    return;
  }
  try {
    render((await call("GET", "/api/v1/sessions/invitations/")).results);
  } catch {
    // The page's own error area reports outages; a missed poll is retried on the next one.
  }
}

async function answer(sessionId, verb) {
  try {
    const session = await call("POST", `/api/v1/sessions/${sessionId}/${verb}/`);
    status.textContent =
      verb === "accept"
        ? `Accepted: join from 5 minutes before ${when(session.scheduledAt)}.`
        : "Declined: the session is cancelled.";
  } catch (error) {
    status.textContent = error.message;
  }
  await refresh();
}

if (section) {
  refresh();
  setInterval(refresh, POLL_MS);
  window.addEventListener("focus", refresh);
  document.addEventListener("practice:auth", refresh);
}
