// /account while a new picture is being processed: ask the server every two seconds and, once the worker
// is done (or has given up), show the new picture or the reason in place. Without this script a reload
// shows the same thing.
"use strict";

const status = document.querySelector("[data-avatar-state]");
if (status && status.dataset.avatarState === "pending") {
  const picture = document.querySelector("[data-avatar-picture]");
  const poll = async () => {
    let state;
    try {
      const response = await fetch(status.dataset.avatarPoll, {headers: {"Accept": "application/json"}});
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      state = await response.json();
    } catch (error) {
      setTimeout(poll, 5000);  // the server is busy or the network is gone: try again a little later
      return;
    }
    if (state.state === "pending") {
      setTimeout(poll, 2000);
      return;
    }
    picture.srcset = state.srcset;
    picture.src = state.src;
    status.dataset.avatarState = state.state;
    status.className = `avatar-status ${state.state}`;
    status.textContent = state.state === "done" ? status.dataset.avatarReady : state.message;
  };
  setTimeout(poll, 1000);
}
