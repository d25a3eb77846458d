// The login page: username and password to a session cookie, then on to where the user was.
"use strict";

(async () => {
  const { api, t, loadLanguage, browserLanguage, remember } = Ringfort;
  await loadLanguage(localStorage.getItem("ringfort.lang") || browserLanguage());
  const form = document.getElementById("login");
  const problem = document.getElementById("problem");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    problem.hidden = true;
    const body = { username: form.username.value.trim(), password: form.password.value };
    try {
      const answer = await api("POST", "/api/v1/auth/login", body);
      remember(answer.csrf);
      localStorage.setItem("ringfort.lang", answer.user.language);
      const next = new URLSearchParams(location.search).get("next");
      const home = answer.user.role === "agent" ? "/ui/agent" : "/ui/live";
      location.href = next && next.startsWith("/ui/") ? next : home;
    } catch (error) {
      problem.textContent = error.status === 401 ? t("login.wrong") : error.message;
      problem.hidden = false;
      form.password.value = "";
      form.password.focus();
    }
  });
})();
