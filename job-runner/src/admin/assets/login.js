"use strict";
// Posts the token to /login, which opens a session in an HttpOnly cookie (this script never
// sees it), and opens the dashboard.
document.getElementById("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const token = document.getElementById("token").value.trim();
  const error = document.getElementById("login-error");
  error.hidden = true;
  try {
    // A form body: the token's `+ / =` arrive as typed.
    const response = await fetch("/login", {
      method: "POST",
      body: new URLSearchParams({ token }),
      credentials: "same-origin",
    });
    if (!response.ok) {
      error.textContent = response.status === 401 ? "Wrong token." : "The runner answered " + response.status + ".";
      error.hidden = false;
      return;
    }
  } catch (e) {
    error.textContent = "Cannot reach the runner: " + e;
    error.hidden = false;
    return;
  }
  window.location.assign("/");
});
