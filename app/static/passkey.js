// Passkeys: make one (the passkeys page's form) or sign in with one (the login, second-step and
// re-authentication pages' button). The server sends WebAuthn options as JSON, the browser asks the
// device, and the answer goes back as JSON with the page's CSRF token in a header. Browsers without
// WebAuthn's JSON helpers (before 2024) are told to use the other way in.
"use strict";

const box = document.querySelector("[data-passkey-options]");
const problem = box.querySelector("[data-passkey-error]");
const supported = window.PublicKeyCredential && PublicKeyCredential.parseRequestOptionsFromJSON;

function show(message) {
  problem.textContent = message;
  problem.hidden = !message;
}

async function post(url, body) {
  const response = await fetch(url, {
    method: "POST", credentials: "same-origin",
    headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": box.dataset.csrf},
    body: JSON.stringify(body || {}),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.error || response.statusText);
  return answer;
}

async function ceremony(extra) {
  show("");
  if (!supported) return show(box.dataset.passkeyUnsupported);
  const next = new URLSearchParams(location.search).get("next");
  const finish = box.dataset.passkeyFinish + (next && !box.dataset.passkeyFinish.includes("?") ? "?next=" + encodeURIComponent(next) : "");
  try {
    const options = await post(box.dataset.passkeyOptions);
    const credential = "passkeyCreate" in box.dataset
      ? await navigator.credentials.create({publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options)})
      : await navigator.credentials.get({publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options)});
    const answer = await post(finish, extra ? {...extra, credential: credential.toJSON()} : credential.toJSON());
    location.assign(answer.redirect);
  } catch (error) {
    // NotAllowedError: the person cancelled or the device timed out; the message says what the server said
    show(error.name === "NotAllowedError" ? box.dataset.passkeyCancelled || error.message : error.message);
  }
}

if ("passkeyCreate" in box.dataset) {
  box.addEventListener("submit", (event) => {
    event.preventDefault();
    const name = box.querySelector("input[name=name]");
    if (!name.reportValidity()) return;
    ceremony({name: name.value});
  });
} else {
  box.querySelector("[data-passkey-sign-in]").addEventListener("click", () => ceremony());
}
