// "Show a new picture" without reloading: a fresh challenge from POST /captcha/new, then the picture,
// the audio and the hidden id are swapped in place, so nothing typed in the form is touched.
// Without this script (or if the request fails) the same button posts the form and the server does it.
"use strict";

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-captcha-new]");
  if (!button || !button.form) return;
  event.preventDefault();
  const form = button.form;
  const fieldset = form.querySelector("fieldset.captcha");
  let challenge;
  button.disabled = true;
  try {
    const response = await fetch(button.dataset.captchaNew, {
      method: "POST",
      headers: {"X-CSRFToken": form.elements.csrf_token.value, "Accept": "application/json"},
      body: new URLSearchParams({previous: form.elements.captcha_id.value}),
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    challenge = await response.json();
  } catch (error) {
    button.disabled = false;
    form.requestSubmit(button);  // the server's way, as without JavaScript
    return;
  }
  button.disabled = false;
  form.elements.captcha_id.value = challenge.id;
  fieldset.querySelector("img").src = challenge.picture;
  const audio = fieldset.querySelector("audio");
  audio.src = challenge.audio;
  audio.querySelector("a").href = challenge.audio;
  form.elements.captcha.value = "";
  const status = fieldset.querySelector("[data-captcha-status]");
  status.textContent = status.dataset.captchaReady;  // in the page's language (templates/captcha/field.html)
});
