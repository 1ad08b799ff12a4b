// HTTP to the service: the signed-in learner's token (kept per tab), JSON requests, and API errors put
// into words. A refused token anywhere (401 here, 4401 on a socket) goes to the one onUnauthorized handler.

const STORAGE_KEY = "practice.token";

const FIELD_LABELS = {
  learningProfileId: gettext("Learning profile id"),
  targetLanguageCode: gettext("Language"),
  userLevel: gettext("Level"),
  preferredTopicId: gettext("Topic"),
  preferredDuration: gettext("Duration"),
  reason: gettext("Reason"),
  details: gettext("Details"),
  consent: gettext("Consent"),
  partnerRating: gettext("Partner rating"),
  connectionQuality: gettext("Connection rating"),
  topicRating: gettext("Topic rating"),
  talkAgain: gettext("Talk again"),
  levelFeltRight: gettext("Level felt right"),
  comment: gettext("Comment"),
  userId: gettext("User id"),
  key: gettext("Recording"),
  non_field_errors: "",
};

const STATUS_MESSAGES = {
  401: gettext("Your token was refused: sign in again."),
  403: gettext("You are not allowed to do this."),
  404: gettext("Not found."),
  413: gettext("That is too large."),
  429: gettext("Too many attempts: wait a minute and try again."),
  503: gettext("The service is temporarily unavailable: try again shortly."),
};

let credentials = null; // {token, userId} while signed in
let unauthorizedHandler = () => {};

class ApiError extends Error {
  constructor(status, message, data) {
    super(message);
    this.status = status;
    this.data = data;
    this.code = data && typeof data === "object" ? data.code : undefined;
  }
}

// A `detail`, or each field's messages after the field's label; else a sentence for the status.
function describeError(status, data) {
  if (data && typeof data === "object") {
    // One error shape: {detail, code, fields?}; `fields` names each bad field of a 400.
    const parts = Object.entries(data.fields ?? {}).map(([field, messages]) => {
      const label = Object.hasOwn(FIELD_LABELS, field) ? FIELD_LABELS[field] : field;
      const text = [].concat(messages).join(" ");
      return label ? interpolate(gettext("%(label)s: %(text)s"), { label, text }, true) : text;
    });
    if (parts.length) return parts.join(" ");
    if (typeof data.detail === "string") return data.detail;
  }
  return STATUS_MESSAGES[status] ?? interpolate(gettext("The service answered with status %(status)s."), { status }, true);
}

// ---------------------------------------------------------------- the token

export function onUnauthorized(handler) {
  unauthorizedHandler = handler;
}

export function refuseToken(message) {
  if (credentials) unauthorizedHandler(message);
}

export function authToken() {
  return credentials?.token ?? null;
}

export function signedInUser() {
  return credentials?.userId ?? null;
}

export function savedToken() {
  return sessionStorage.getItem(STORAGE_KEY);
}

function tokenClaims(token) {
  const part = token.split(".")[1];
  if (!part) throw new Error(gettext("This does not look like a JWT (three dot-separated parts)."));
  const json = atob(part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "="));
  return JSON.parse(json);
}

// Checks what can be checked here (shape, expiry) and keeps the token for this tab; returns the user id.
// The service has the last word: it may still refuse the token.
export function useToken(raw) {
  const token = raw.trim();
  let claims;
  try {
    claims = tokenClaims(token);
  } catch {
    throw new Error(gettext("This does not look like a JWT: paste the whole token."));
  }
  if (claims.exp && claims.exp * 1000 < Date.now()) throw new Error(gettext("This token has expired: get a new one."));
  credentials = { token, userId: claims.sub };
  sessionStorage.setItem(STORAGE_KEY, token);
  return credentials.userId;
}

export function forgetToken() {
  sessionStorage.removeItem(STORAGE_KEY);
  credentials = null;
}

// DEBUG only (the form exists only then): a token for any user id.
export async function devToken(userId) {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const data = await api("POST", "/practice/dev-token", { userId }, { "X-CSRFToken": csrf });
  return data.token;
}

// ---------------------------------------------------------------- requests

// Idempotency keys and call epochs; crypto.randomUUID exists only on secure origins.
export function randomId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

export async function api(method, path, body, extraHeaders = {}) {
  const headers = { Accept: "application/json", ...extraHeaders };
  if (credentials) headers.Authorization = `Bearer ${credentials.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, gettext("The service cannot be reached: check your connection."), null);
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
    if (response.status === 401) refuseToken(error.message);
    throw error;
  }
  return data;
}
