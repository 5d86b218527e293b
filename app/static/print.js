// The recovery codes page's "Print" button (no inline script: the CSP allows only files from this site).
"use strict";

document.querySelector("[data-print]")?.addEventListener("click", () => window.print());
