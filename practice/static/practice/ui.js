// The page's DOM: which view shows, errors and notices, reading the forms, and one section of render
// functions per panel. No fetches, sockets or timers here: the other modules pass in what to show.
// A new panel is a <section> in index.html, a section of functions below and its wiring in app.js.

export const $ = (id) => document.getElementById(id);

// The main views, one shown at a time; panels outside this list (who am I, history) show on their own.
const VIEWS = ["signin", "find", "waiting", "session", "ended"];

// ---------------------------------------------------------------- shell

function show(id, visible = true) {
  $(id).hidden = !visible;
}

export function showView(...ids) {
  for (const id of VIEWS) show(id, ids.includes(id));
}

export function showError(error) {
  $("error-text").textContent = error instanceof Error ? error.message : String(error);
  show("error");
}

export function clearError() {
  show("error", false);
}

export function notify(message) {
  const notice = $("notice");
  notice.textContent = message;
  notice.hidden = !message;
}

// Binds a control; whatever the handler throws lands in the alert box. Absent controls (the dev login
// outside DEBUG) are skipped.
export function on(id, type, handler) {
  $(id)?.addEventListener(type, async (event) => {
    if (type === "submit") event.preventDefault();
    try {
      await handler(event);
    } catch (error) {
      showError(error);
    }
  });
}

// ---------------------------------------------------------------- words

// gettext, ngettext and interpolate come from /jsi18n/ (Django's JavaScriptCatalog), loaded before the modules.

// The partner's presence is a state of the page (session.js); shown in the page's language.
const PRESENCE = {
  "not joined yet": gettext("not joined yet"),
  here: gettext("here"),
  disconnected: gettext("disconnected"),
};

function formatSeconds(total) {
  const seconds = Math.max(0, Math.round(total));
  const minutes = Math.floor(seconds / 60);
  const values = { minutes, seconds: minutes ? String(seconds % 60).padStart(2, "0") : seconds };
  return interpolate(minutes ? gettext("%(minutes)s min %(seconds)s s") : gettext("%(seconds)s s"), values, true);
}

function clock(total) {
  const seconds = Math.max(0, Math.ceil(total));
  return `${String(Math.floor(seconds / 60)).padStart(2, "0")}:${String(seconds % 60).padStart(2, "0")}`;
}

function languageName(code) {
  try {
    return new Intl.DisplayNames([document.documentElement.lang || "en"], { type: "language" }).of(code) ?? code;
  } catch {
    return code;
  }
}

// ---------------------------------------------------------------- sign in

export function tokenInput() {
  return $("token-input").value;
}

export function devUserInput() {
  return $("dev-user").value.trim();
}

export function suggestDevUser() {
  const devUser = $("dev-user");
  if (devUser) devUser.value = `learner-${Math.floor(100 + Math.random() * 900)}`;
}

export function showSignedIn(userId) {
  $("whoami-id").textContent = userId;
  show("whoami");
  show("history");
  showView("find");
}

export function showSignedOut() {
  show("whoami", false);
  show("history", false);
  showView("signin");
}

// ---------------------------------------------------------------- find a partner

export function labelLanguages() {
  const select = $("language");
  for (const option of select.options) option.textContent = `${languageName(option.value)} (${option.value})`;
  if ([...select.options].some((o) => o.value === "fr")) select.value = "fr";
}

export function findChoice() {
  return { language: $("language").value, level: $("level").value };
}

export function readFindForm() {
  const body = {
    learningProfileId: $("profile").value.trim(),
    targetLanguageCode: $("language").value,
    userLevel: $("level").value,
    preferredDuration: Number($("duration").value),
  };
  if ($("topic").value) body.preferredTopicId = $("topic").value;
  return body;
}

export function topicsLoading() {
  delete $("topic").dataset.loaded;
}

// data-loaded says which choice the list belongs to (the e2e test waits on it).
export function renderTopics(topics, { language, level }) {
  const select = $("topic");
  const previous = select.value;
  select.replaceChildren(new Option(topics.length ? gettext("Any topic") : gettext("Any topic (none listed yet)"), ""));
  for (const topic of topics) select.add(new Option(topic.title, topic.id, false, topic.id === previous));
  select.dataset.loaded = `${language}:${level}`;
}

export function setFindBusy(busy) {
  $("find-button").disabled = busy;
}

// ---------------------------------------------------------------- waiting

export function showWaiting(request) {
  showView("waiting");
  const estimate = request.estimatedWaitSeconds;
  $("wait-estimate").textContent =
    estimate == null ? gettext("unknown (no recent matches)") : interpolate(gettext("about %(wait)s"), { wait: formatSeconds(estimate) }, true);
}

export function renderWaitClock(request, nowMs) {
  $("wait-elapsed").textContent = formatSeconds((nowMs - Date.parse(request.createdAt)) / 1000);
  $("wait-left").textContent = formatSeconds((Date.parse(request.expiresAt) - nowMs) / 1000);
}

export function renderQueue(waiting, request) {
  const who = `${languageName(request.targetLanguageCode)} ${request.userLevel}`;
  $("wait-queue").textContent = interpolate(
    ngettext("%(count)s learner waiting (%(who)s)", "%(count)s learners waiting (%(who)s)", waiting),
    { count: waiting, who },
    true,
  );
}

export function renderQueueUnavailable(message) {
  $("wait-queue").textContent = interpolate(gettext("unavailable (%(reason)s)"), { reason: message }, true);
}

// ---------------------------------------------------------------- the session

export function resetSessionPanel({ consent }) {
  $("events").replaceChildren();
  $("time-up").hidden = true;
  $("consent").checked = consent;
  showView("session");
}

export function renderSession(session, { partner, presence }) {
  const topic = session.topic;
  $("session-status").textContent = session.status;
  $("session-status").dataset.status = session.status;
  $("partner-id").textContent = partner;
  renderPresence(presence);
  $("topic-title").textContent = topic ? topic.title : gettext("Free conversation");
  $("topic-description").textContent = topic?.description ?? gettext("No topic was available: talk about anything.");
  $("prompts").replaceChildren(
    ...(topic?.promptQuestions ?? []).map((question) => Object.assign(document.createElement("li"), { textContent: question })),
  );
  $("end-session").hidden = session.status !== "active";
  $("cancel-session").hidden = session.status !== "waiting";
}

export function renderPresence(presence) {
  $("partner-presence").textContent = `(${PRESENCE[presence] ?? presence})`;
}

export function renderCountdown(session, nowMs) {
  const element = $("countdown");
  if (session.status === "waiting") {
    element.textContent = interpolate(gettext("%(minutes)s min, starts when you both join"), { minutes: session.plannedDurationMinutes }, true);
    return;
  }
  if (session.status !== "active" || !session.startedAt) {
    element.textContent = "–";
    return;
  }
  const endsAt = Date.parse(session.startedAt) + session.plannedDurationMinutes * 60_000;
  const left = (endsAt - nowMs) / 1000;
  element.textContent =
    left > 0 ? interpolate(gettext("%(time)s left"), { time: clock(left) }, true) : interpolate(gettext("time is up (+%(time)s)"), { time: clock(-left) }, true);
  element.classList.toggle("over", left <= 0);
}

export function showTimeUp() {
  $("time-up").hidden = false;
}

export function logEvent(text) {
  const item = document.createElement("li");
  const time = new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  item.textContent = `${time} ${text}`;
  $("events").prepend(item);
}

export function readReport() {
  const details = $("report-details").value.trim();
  return { reason: $("report-reason").value, ...(details ? { details } : {}) };
}

// ---------------------------------------------------------------- audio

export function renderAudioState(text, connectionState) {
  $("audio-state").textContent = text;
  $("audio-state").dataset.state = connectionState;
}

export function playRemoteAudio(stream) {
  $("remote-audio").srcObject = stream;
  $("remote-audio").play().catch(() => logEvent(gettext("Click anywhere to hear your partner (autoplay blocked).")));
}

// Browsers that blocked autoplay allow it after a click: any click retries.
export function replayRemoteAudio() {
  if ($("remote-audio").srcObject) $("remote-audio").play().catch(() => {});
}

export function stopRemoteAudio() {
  $("remote-audio").srcObject = null;
}

// ---------------------------------------------------------------- recording

export function consentChecked() {
  return $("consent").checked;
}

export function setConsent(checked) {
  $("consent").checked = checked;
}

export function renderRecordingState(text, { canSave }) {
  $("recording-state").textContent = text;
  $("save-recording").hidden = !canSave;
}

export function showSaving(saving) {
  $("save-recording").disabled = saving;
  if (saving) $("recording-state").textContent = gettext("Saving the recording…");
}

// ---------------------------------------------------------------- ended

function endSummary(session, partner) {
  // Whole sentences per ending, so each language orders its own words; %(after)s is the duration, if known.
  const sentences = {
    completed: gettext("The session with %(partner)s ended%(after)s."),
    dropped: gettext("The session with %(partner)s ended because the connection was lost%(after)s."),
    timeout:
      session.status === "cancelled"
        ? gettext("The session with %(partner)s was cancelled: you did not both join in time.")
        : gettext("The session with %(partner)s reached its time limit%(after)s."),
    reported: gettext("The session with %(partner)s ended with a report%(after)s."),
  };
  const sentence = session.endReason
    ? (sentences[session.endReason] ?? sentences.completed)
    : gettext("The session with %(partner)s was cancelled.");
  const seconds = session.actualDurationSeconds;
  const after = seconds ? interpolate(gettext(" after %(duration)s"), { duration: formatSeconds(seconds) }, true) : "";
  return interpolate(sentence, { partner, after }, true);
}

export function showEnded(session, partner) {
  showView("ended");
  $("ended-summary").textContent = endSummary(session, partner);
  $("feedback-form").hidden = session.status !== "completed"; // feedback is for completed sessions
  $("feedback-done").hidden = true;
}

export function readFeedback() {
  const body = {
    partnerRating: Number($("fb-partner").value),
    connectionQuality: Number($("fb-connection").value),
    topicRating: Number($("fb-topic").value),
    talkAgain: $("fb-again").checked,
    levelFeltRight: $("fb-level").checked,
  };
  const comment = $("fb-comment").value.trim();
  if (comment) body.comment = comment;
  return body;
}

export function showFeedbackDone() {
  $("feedback-form").hidden = true;
  $("feedback-done").hidden = false;
}

// ---------------------------------------------------------------- history

// onPlay(session, button) fetches the recording and calls showRecordingPlayer.
export function renderHistory(sessions, userId, onPlay) {
  $("history-list").replaceChildren(...sessions.map((session) => historyItem(session, userId, onPlay)));
  show("history-empty", sessions.length === 0);
}

function historyItem(session, userId, onPlay) {
  const item = document.createElement("li");
  item.dataset.sessionId = session.id;
  const partner = session.participant1Id === userId ? session.participant2Id : session.participant1Id;
  const when = new Date(session.startedAt ?? session.createdAt).toLocaleString();
  const title = document.createElement("strong");
  title.textContent = session.topic?.title ?? gettext("Free conversation");
  const facts = document.createElement("span");
  facts.className = "muted";
  const ending = session.endReason ? ` (${session.endReason})` : "";
  const duration = session.actualDurationSeconds ? `, ${formatSeconds(session.actualDurationSeconds)}` : "";
  const withWhom = interpolate(gettext("%(language)s with %(partner)s"), { language: languageName(session.targetLanguageCode), partner }, true);
  facts.textContent = ` ${when} · ${withWhom} · ${session.status}${ending}${duration}`;
  item.append(title, facts);
  if (session.audioRecordingUrl) item.append(playButton(session, onPlay));
  return item;
}

function playButton(session, onPlay) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "link";
  button.textContent = gettext("Play the recording");
  const what = session.topic?.title ?? gettext("this session");
  button.setAttribute("aria-label", interpolate(gettext("Play the recording of %(what)s"), { what }, true));
  button.addEventListener("click", () => onPlay(session, button).catch(showError));
  return button;
}

export function showRecordingPlayer(button, url, session) {
  const audio = document.createElement("audio");
  audio.controls = true;
  audio.src = url;
  const what = session.topic?.title ?? gettext("the session");
  audio.setAttribute("aria-label", interpolate(gettext("Recording of %(what)s"), { what }, true));
  button.replaceWith(audio);
  audio.play().catch(() => {});
}

// ---------------------------------------------------------------- invitations

function invitationTime(iso) {
  // In the page's language, like the rest of its words (not the browser's, which may differ).
  return new Date(iso).toLocaleString(document.documentElement.lang || undefined, {
    dateStyle: "medium",
    timeStyle: "short",
  });
}

export function renderInvitations(invitations, { onAnswer }) {
  $("invitation-list").replaceChildren(
    ...invitations.map((session) => {
      const item = document.createElement("li");
      item.dataset.sessionId = session.id;
      const topic = session.topic ? ` · ${session.topic.title}` : "";
      const text = document.createElement("span");
      text.textContent = `${session.participant1Id} · ${languageName(session.targetLanguageCode)} · ${invitationTime(session.scheduledAt)} · ${session.plannedDurationMinutes} min${topic}`;
      const buttons = [
        [gettext("Accept"), "accept", ""],
        [gettext("Decline"), "decline", "secondary"],
      ].map(([label, verb, className]) => {
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = label;
        button.className = className;
        button.addEventListener("click", () => onAnswer(session.id, verb).catch(showError));
        return button;
      });
      item.append(text, " ", ...buttons);
      return item;
    }),
  );
  show("invitations", invitations.length > 0);
}

export function invitationAnswered(session, verb) {
  return verb === "accept"
    ? interpolate(
        gettext("Invitation accepted: join from 5 minutes before %(time)s."),
        { time: invitationTime(session.scheduledAt) },
        true,
      )
    : gettext("Invitation declined: the session is cancelled.");
}
