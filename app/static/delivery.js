// The "check your inbox" page's live delivery state: polls this browser's own ticket and updates the
// state, its message and the "send again" button in place. Without this script the page shows the
// state at load and a "check again" link that reloads it.
"use strict";

const box = document.querySelector("[data-delivery]");
const POLL_MS = 2000;
const GIVE_UP_MS = 15 * 60 * 1000;  // a forgotten tab stops asking
const started = Date.now();

function show(state) {
  box.dataset.state = state.state;
  box.querySelector(".state").textContent = state.label;
  box.querySelector(".message").textContent = state.message;
  box.querySelector("form.send-again").hidden = !state.resend;
}

async function poll() {
  try {
    const response = await fetch(box.dataset.delivery, {headers: {"Accept": "application/json"}});
    if (response.status === 404) return;  // the ticket expired or belongs to another sign-up
    if (response.ok) {
      const state = await response.json();
      show(state);
      if (state.final) return;
    }
  } catch (error) {
    // offline for a moment: try again at the next tick
  }
  if (Date.now() - started < GIVE_UP_MS) setTimeout(poll, POLL_MS);
}

if (box) {
  box.querySelector("a.refresh").hidden = true;  // the page updates itself
  setTimeout(poll, POLL_MS);
}
