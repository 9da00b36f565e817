"use strict";
// Checks the token against the API, keeps it for this tab, and opens the dashboard.
document.getElementById("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const token = document.getElementById("token").value.trim();
  const error = document.getElementById("login-error");
  error.hidden = true;
  try {
    const response = await fetch("/api/jobs", { headers: { Authorization: "Bearer " + token } });
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
  sessionStorage.setItem("jobsToken", token);
  document.cookie = "jobs_token=" + encodeURIComponent(token) + "; path=/; SameSite=Strict";
  window.location.assign("/");
});
