// Ringfort's web interface: what every page shares (the API, the language, the top bar).
// No framework and no build step: the server has no internet, and every asset is here.
"use strict";

const Ringfort = (() => {
  let catalogue = {};
  let me = null;
  let firstStart = false;
  const CSRF = "ringfort.csrf";

  // The translated text of `key`, with {name} replaced from `params`.
  function t(key, params) {
    // A key the catalogue lacks shows its last part in words rather than nothing.
    let text = catalogue[key] ?? key.split(".").pop().replaceAll("_", " ");
    for (const [name, value] of Object.entries(params || {})) {
      text = text.replaceAll(`{${name}}`, String(value));
    }
    return text;
  }

  async function loadLanguage(language) {
    const lang = ["en", "ru"].includes(language) ? language : "en";
    const answer = await fetch(`/ui/static/i18n/${lang}.json`);
    catalogue = await answer.json();
    document.documentElement.lang = lang;
    translate(document.body);
    return lang;
  }

  // Elements say what they show with data-t (text), data-t-placeholder, data-t-title.
  function translate(root) {
    root.querySelectorAll("[data-t]").forEach((node) => { node.textContent = t(node.dataset.t); });
    root.querySelectorAll("[data-t-placeholder]").forEach((node) => {
      node.placeholder = t(node.dataset.tPlaceholder);
    });
    root.querySelectorAll("[data-t-title]").forEach((node) => { node.title = t(node.dataset.tTitle); });
  }

  class ApiError extends Error {
    constructor(message, status, field) {
      super(message);
      this.status = status;
      this.field = field;
    }
  }

  // Call the REST API; a 401 sends the browser to the login page, other errors throw
  // an ApiError carrying the server's message (and the field it names, if any).
  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (!["GET", "HEAD"].includes(method)) headers["X-CSRF-Token"] = sessionStorage.getItem(CSRF) || "";
    const response = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 401 && !path.endsWith("/auth/login")) {
      const next = encodeURIComponent(location.pathname + location.search);
      location.href = `/ui/login?next=${next}`;
      return new Promise(() => {}); // the page is going away: nothing more happens here
    }
    const text = await response.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch { data = text; }
    }
    if (!response.ok) {
      const detail = data && typeof data === "object" ? data.detail : null;
      const message = Array.isArray(detail)
        ? detail.map((item) => `${(item.loc || []).slice(-1)[0]}: ${item.msg}`).join("; ")
        : detail || `${response.status} ${response.statusText}`;
      throw new ApiError(message, response.status, data && data.field);
    }
    return data;
  }

  function remember(csrf) {
    if (csrf) sessionStorage.setItem(CSRF, csrf);
  }

  // Every page but the login starts here: who is logged in, their language, the bar.
  async function start(page, roles) {
    const answer = await api("GET", "/api/v1/auth/me");
    me = answer.user;
    firstStart = Boolean(answer.first_start);
    remember(answer.csrf);
    await loadLanguage((me && me.language) || localStorage.getItem("ringfort.lang") || browserLanguage());
    bar(page);
    if (roles && me && !roles.includes(me.role)) {
      show(document.querySelector("main"), el("div", { class: "error" }, t("page.not_for_role")));
      throw new ApiError(t("page.not_for_role"), 403);
    }
    return me;
  }

  function browserLanguage() {
    return (navigator.language || "en").toLowerCase().startsWith("ru") ? "ru" : "en";
  }

  const PAGES = [
    ["live", "/ui/live", ["admin", "supervisor"]],
    ["reports", "/ui/reports", ["admin", "supervisor"]],
    ["agent", "/ui/agent", ["admin", "supervisor", "agent"]],
    ["admin", "/ui/admin", ["admin"]],
  ];

  function bar(page) {
    const header = el("header", { class: "bar" }, el("span", { class: "brand" }, "Ringfort"));
    const nav = el("nav");
    for (const [name, href, roles] of PAGES) {
      if (me && !roles.includes(me.role)) continue;
      nav.append(el("a", { href, class: name === page ? "current" : "" }, t(`nav.${name}`)));
    }
    header.append(nav);
    const who = el("span", { class: "who" }, me ? `${me.username} (${t(`role.${me.role}`)})` : t("first_start.who"));
    header.append(who);
    const language = el("select", { "aria-label": "language", id: "language" },
      el("option", { value: "en" }, "EN"), el("option", { value: "ru" }, "RU"));
    language.value = document.documentElement.lang;
    language.addEventListener("change", async () => {
      localStorage.setItem("ringfort.lang", language.value);
      if (me) {
        try { await api("PATCH", `/api/v1/users/${me.username}`, { language: language.value }); } catch { /* only admins may; the choice stays in this browser */ }
      }
      location.reload();
    });
    header.append(language);
    if (me) {
      const out = el("button", { id: "logout" }, t("nav.logout"));
      out.addEventListener("click", async () => {
        await api("POST", "/api/v1/auth/logout");
        sessionStorage.removeItem(CSRF);
        location.href = "/ui/login";
      });
      header.append(out);
    }
    document.body.prepend(header);
    if (firstStart) {
      document.querySelector("main").prepend(el("div", { class: "notice" }, t("first_start.notice")));
    }
  }

  // A small element builder: el("td", {class: "number"}, "12").
  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === null || value === undefined || value === false) continue;
      node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function show(container, ...nodes) {
    container.replaceChildren(...nodes.filter((node) => node !== null && node !== undefined));
  }

  // 75 -> "1:15", 3725 -> "1:02:05".
  function duration(seconds) {
    const total = Math.max(0, Math.round(Number(seconds) || 0));
    const hours = Math.floor(total / 3600);
    const minutes = Math.floor((total % 3600) / 60);
    const rest = String(total % 60).padStart(2, "0");
    return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${rest}` : `${minutes}:${rest}`;
  }

  return { api, start, t, el, show, duration, translate, loadLanguage, browserLanguage, remember, ApiError, me: () => me };
})();
