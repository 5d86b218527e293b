// A form sent back with errors puts the cursor in its first invalid field, where the person has to act.
"use strict";

document.querySelector("main [aria-invalid=true]")?.focus();
