// The agent's page: their state, their queues (log in, log out), pause with a reason,
// their calls today, their voicemail with a player and their phone's forwarding. It asks the server again every
// few seconds (agents do not get the supervisors' event stream).
"use strict";

(async () => {
  const { api, t, el, show, duration } = Ringfort;
  await Ringfort.start("agent");
  const problem = document.getElementById("problem");
  const stateBox = document.getElementById("state");
  const queuesBox = document.getElementById("queues");
  const callsBox = document.getElementById("calls");
  const voicemailBox = document.getElementById("voicemail");
  const pauseForm = document.getElementById("pause");

  async function act(work) {
    problem.hidden = true;
    try {
      await work();
      await refresh();
    } catch (error) {
      problem.textContent = error.message;
      problem.hidden = false;
    }
  }

  function renderMe(me) {
    const state = me.state;
    stateBox.className = `tile state-${state ? state.state : "logged-out"}`;
    stateBox.dataset.state = state ? state.state : "logged-out";
    show(stateBox,
      el("div", { class: "name" }, `${me.username}${me.agent ? ` · ${t("agent.agent")} ${me.agent}` : ""}`),
      el("div", { class: "state" }, state ? t(`state.${state.state}`) : t("state.logged-out")),
      state ? el("div", { class: "meta" }, `${t("live.in_state")}: ${duration(state.seconds_in_state)}`) : null,
      el("div", { class: "meta" }, `${t("live.phone")}: ${me.extension || "—"}`),
      state && state.caller ? el("div", { class: "meta current-caller" }, `${t("live.caller")}: ${state.caller}`) : null);
    if (!me.agent) {
      show(queuesBox, el("p", { class: "muted" }, t("agent.not_agent")));
      pauseForm.hidden = true;
      return;
    }
    pauseForm.hidden = false;
    show(queuesBox, ...me.queues.map((queue) => {
      const button = el("button", { class: queue.logged_in ? "" : "primary", "data-queue-action": queue.queue },
        queue.logged_in ? t("agent.log_out") : t("agent.log_in"));
      button.addEventListener("click", () => act(() => queue.logged_in
        ? api("DELETE", `/api/v1/me/queues/${encodeURIComponent(queue.queue)}`)
        : api("PUT", `/api/v1/me/queues/${encodeURIComponent(queue.queue)}`, {})));
      const status = queue.logged_in ? (queue.paused ? `${t("state.paused")} (${queue.reason || ""})` : t("agent.logged_in")) : t("state.logged-out");
      return el("div", { class: `tile ${queue.logged_in ? (queue.paused ? "state-paused" : "state-available") : "state-logged-out"}`, "data-my-queue": queue.queue },
        el("div", { class: "name" }, queue.queue), el("div", { class: "meta" }, status), button);
    }));
  }

  function renderCalls(calls) {
    if (!calls.length) { show(callsBox, el("p", { class: "muted" }, t("agent.no_calls"))); return; }
    const head = el("tr", {}, ["agent.time", "agent.from", "agent.to", "agent.talk", "agent.result"].map((key) => el("th", {}, t(key))));
    const rows = calls.map((call) => el("tr", {},
      el("td", {}, new Date(call.start).toLocaleTimeString()), el("td", {}, call.src), el("td", {}, call.dst),
      el("td", { class: "number" }, duration(call.billsec)), el("td", {}, call.disposition)));
    show(callsBox, el("table", { class: "data", id: "my-calls" }, el("thead", {}, head), el("tbody", {}, rows)));
  }

  function renderVoicemail(messages) {
    if (!messages.length) { show(voicemailBox, el("p", { class: "muted" }, t("agent.no_messages"))); return; }
    const head = el("tr", {}, ["agent.time", "agent.from", "agent.length", "agent.message", ""].map((key) => el("th", {}, key ? t(key) : "")));
    const rows = messages.map((message) => {
      const player = el("audio", { controls: true, preload: "metadata", src: message.audio });
      player.addEventListener("play", () => {
        if (message.folder === "INBOX") api("PATCH", `/api/v1/me/voicemail/${message.id}`, { read: true }).catch(() => {});
      });
      const remove = el("button", { "data-delete": message.id }, t("agent.delete"));
      remove.addEventListener("click", () => { if (confirm(t("agent.delete_confirm"))) act(() => api("DELETE", `/api/v1/me/voicemail/${message.id}`)); });
      return el("tr", { "data-message": message.id, class: message.folder === "INBOX" ? "new" : "" },
        el("td", {}, `${new Date(message.received_at).toLocaleString()}${message.folder === "INBOX" ? ` · ${t("agent.new")}` : ""}`),
        el("td", {}, message.clid || message.caller), el("td", { class: "number" }, duration(message.seconds)),
        el("td", {}, player), el("td", {}, remove));
    });
    show(voicemailBox, el("table", { class: "data", id: "my-voicemail" }, el("thead", {}, head), el("tbody", {}, rows)));
  }

  async function refresh() {
    const me = await api("GET", "/api/v1/me");
    renderMe(me);
    if (me.extension) {
      const [calls, messages] = await Promise.all([api("GET", "/api/v1/me/calls"), api("GET", "/api/v1/me/voicemail")]);
      renderCalls(calls);
      // A list being listened to is not redrawn under the listener's hand.
      if (![...document.querySelectorAll("#my-voicemail audio")].some((audio) => !audio.paused)) {
        renderVoicemail(messages);
      }
    } else {
      show(callsBox, el("p", { class: "muted" }, t("agent.no_extension")));
      show(voicemailBox, el("p", { class: "muted" }, t("agent.no_extension")));
    }
  }

  // The forwarding form is filled once (and after a save), not on every refresh, so the
  // numbers being typed are not overwritten.
  const forwarding = document.getElementById("forwarding");
  const FORWARDS = ["always", "busy", "no_answer"];
  function fillForwarding(mine) {
    forwarding.dnd.checked = mine.dnd;
    for (const name of FORWARDS) forwarding[name].value = mine[name] || "";
    forwarding.hidden = false;
  }
  forwarding.addEventListener("submit", async (event) => {
    event.preventDefault();
    forwarding.querySelectorAll(".field-error").forEach((node) => { node.textContent = ""; });
    document.getElementById("fwd-saved").hidden = true;
    const body = { dnd: forwarding.dnd.checked };
    for (const name of FORWARDS) body[name] = forwarding[name].value.trim();
    try {
      fillForwarding(await api("PATCH", "/api/v1/me/forwarding", body));
      document.getElementById("fwd-saved").hidden = false;
    } catch (error) {
      const where = error.field && document.getElementById(`fwd-error-${error.field}`);
      if (where) where.textContent = error.message;
      else { problem.textContent = error.message; problem.hidden = false; }
    }
  });

  pauseForm.addEventListener("submit", (event) => {
    event.preventDefault();
    act(() => api("POST", "/api/v1/me/pause", { reason: pauseForm.reason.value }));
  });
  document.getElementById("unpause-button").addEventListener("click", () => act(() => api("POST", "/api/v1/me/unpause")));
  await act(async () => {});
  api("GET", "/api/v1/me/forwarding").then(fillForwarding).catch(() => {});  // no extension: no form
  setInterval(() => refresh().catch(() => {}), 3000);
})();
