// The live panel: a tile per queue and per agent, kept current by the server's event stream.
// Supervisors act on agents from a tile's menu: log in to a queue, log out, pause, unpause.
"use strict";

(async () => {
  const { api, t, el, show, duration } = Ringfort;
  await Ringfort.start("live", ["admin", "supervisor"]);
  const queuesBox = document.getElementById("queues");
  const agentsBox = document.getElementById("agents");
  const status = document.getElementById("status");
  const problem = document.getElementById("problem");
  let snapshot = { queues: [], agents: [] };
  let receivedAt = performance.now();
  let pending = null;

  // A duration that keeps counting between updates (time in state, waits).
  function clock(seconds) {
    return el("span", { class: "clock", "data-seconds": seconds, "data-at": receivedAt }, duration(seconds));
  }

  function tick() {
    const now = performance.now();
    document.querySelectorAll(".clock").forEach((node) => {
      node.textContent = duration(Number(node.dataset.seconds) + (now - Number(node.dataset.at)) / 1000);
    });
  }

  function queueTile(queue) {
    const waiting = queue.waiting.length;
    const longest = waiting ? clock(queue.longest_wait) : duration(0);
    const level = queue.service_level_today === null ? "—" : `${queue.service_level_today} %`;
    const callers = queue.waiting.map((waiter) =>
      el("div", { class: "meta caller", "data-caller": waiter.caller },
        `${waiter.position}. ${waiter.caller} · `, clock(waiter.wait)));
    return el("div", { class: `tile queue-tile${waiting ? " busy" : ""}`, "data-queue": queue.name, "data-waiting": waiting },
      el("div", { class: "name" }, `${queue.name} (${queue.number ?? "—"})`),
      el("div", { class: "meta" }, `${t("live.longest")}: `, longest, ` · ${t("live.agents")}: ${queue.agents.length}`),
      el("div", { class: "figures" },
        el("div", { class: "waiting" }, el("b", {}, waiting), t("live.waiting")),
        el("div", {}, el("b", {}, queue.answered_today), t("live.answered")),
        el("div", {}, el("b", {}, queue.lost_today), t("live.lost"))),
      el("div", { class: "meta" }, `${t("live.service_level")}: ${level}`),
      ...callers);
  }

  function agentTile(agent) {
    const menuButton = el("button", { class: "menu-button", title: t("live.actions"), "aria-label": t("live.actions") }, "⋮");
    const menu = el("div", { class: "menu" });
    for (const queue of snapshot.queues) {
      if (agent.queues.includes(queue.name)) {
        menu.append(action(t("live.log_out_of", { queue: queue.name }), () =>
          api("DELETE", `/api/v1/queues/${encodeURIComponent(queue.name)}/agents/${encodeURIComponent(agent.agent)}`)));
      } else {
        menu.append(action(t("live.log_in_to", { queue: queue.name }), () => {
          const phone = agent.phone || prompt(t("live.which_phone"));
          if (!phone) return null;
          return api("PUT", `/api/v1/queues/${encodeURIComponent(queue.name)}/agents/${encodeURIComponent(agent.agent)}`, { phone });
        }));
      }
    }
    if (agent.state === "paused") {
      menu.append(action(t("live.unpause"), () => api("POST", `/api/v1/agents/${encodeURIComponent(agent.agent)}/unpause`, {})));
    } else if (agent.queues.length) {
      menu.append(action(t("live.pause"), () => {
        const reason = prompt(t("live.pause_reason"), t("live.pause_default"));
        if (reason === null) return null;
        return api("POST", `/api/v1/agents/${encodeURIComponent(agent.agent)}/pause`, { reason: reason || "pause" });
      }));
    }
    menuButton.addEventListener("click", (event) => {
      event.stopPropagation();
      const open = menu.classList.contains("open");
      document.querySelectorAll(".menu.open").forEach((other) => other.classList.remove("open"));
      menu.classList.toggle("open", !open);
    });
    return el("div", { class: `tile state-${agent.state}`, "data-agent": agent.agent, "data-state": agent.state },
      menuButton, menu,
      el("div", { class: "name" }, `${agent.name} (${agent.agent})`),
      el("div", { class: "state" }, t(`state.${agent.state}`)),
      el("div", { class: "meta" }, `${t("live.in_state")}: `, clock(agent.seconds_in_state)),
      el("div", { class: "meta" }, `${t("live.phone")}: ${agent.phone || "—"}`),
      agent.caller ? el("div", { class: "meta current-caller" }, `${t("live.caller")}: ${agent.caller}${agent.queue ? ` (${agent.queue})` : ""}`) : null,
      el("div", { class: "meta" }, `${t("live.queues")}: ${agent.queues.join(", ") || "—"}`));
  }

  function action(label, run) {
    const button = el("button", {}, label);
    button.addEventListener("click", async () => {
      document.querySelectorAll(".menu.open").forEach((menu) => menu.classList.remove("open"));
      problem.hidden = true;
      try {
        const done = run();
        if (done) await done;
        await refresh();
      } catch (error) {
        problem.textContent = error.message;
        problem.hidden = false;
      }
    });
    return button;
  }

  function render() {
    show(queuesBox, ...(snapshot.queues.length ? snapshot.queues.map(queueTile) : [el("p", { class: "muted" }, t("live.no_queues"))]));
    show(agentsBox, ...(snapshot.agents.length ? snapshot.agents.map(agentTile) : [el("p", { class: "muted" }, t("live.no_agents"))]));
  }

  async function refresh() {
    snapshot = await api("GET", "/api/v1/live");
    receivedAt = performance.now();
    if (!document.querySelector(".menu.open")) render();
  }

  // Events say something changed; one fetch of the whole state follows a burst of them.
  function soon() {
    if (pending) return;
    pending = setTimeout(async () => {
      pending = null;
      try { await refresh(); } catch (error) { status.textContent = error.message; }
    }, 150);
  }

  document.addEventListener("click", () => document.querySelectorAll(".menu.open").forEach((menu) => menu.classList.remove("open")));
  await refresh();
  const events = new EventSource("/api/v1/live/events");
  events.addEventListener("open", () => { status.textContent = t("live.connected"); status.dataset.connected = "yes"; });
  events.addEventListener("error", () => { status.textContent = t("live.reconnecting"); status.dataset.connected = "no"; });
  for (const kind of ["snapshot", "queue-event", "agent-state", "resync"]) events.addEventListener(kind, soon);
  // The clocks in the tiles move every second between events.
  setInterval(tick, 1000);
})();
