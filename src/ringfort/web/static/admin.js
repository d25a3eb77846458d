// The admin pages: each kind of object in a table (paged, searchable), with forms to add and
// change them and a button to delete. The forms are built from the API's own OpenAPI
// document (fields, which are required, what each means), so a field added to the API is
// on the page without changing this file; the server's message about a field is shown
// under that field.
"use strict";

(async () => {
  const { api, t, el, show } = Ringfort;
  await Ringfort.start("admin", ["admin"]);

  // What each page lists; `key` names an object in its path.
  const RESOURCES = [
    {
      name: "extensions", path: "/api/v1/extensions", key: "number",
      columns: ["number", "name", "dnd", "forward_always", "forward_busy", "forward_no_answer", "created_at"],
      // Forwarding has its own form (PATCH .../forwarding); an emptied forward is sent as
      // "" so it is switched off rather than left as it was.
      extra: [{ name: "forwarding", path: "forwarding", clearEmpty: true,
        values: (row) => ({ always: row.forward_always, busy: row.forward_busy, no_answer: row.forward_no_answer, dnd: row.dnd }) }],
    },
    { name: "agents", path: "/api/v1/agents", key: "number", columns: ["number", "name", "wrapup"] },
    { name: "queues", path: "/api/v1/queues", key: "name", columns: ["name", "number", "strategy", "ring_timeout", "max_wait"], members: true },
    { name: "menus", path: "/api/v1/menus", key: "name", columns: ["name", "number", "language", "timeout_destination"] },
    { name: "timeconditions", path: "/api/v1/timeconditions", key: "name", columns: ["name", "number", "timezone", "match", "nomatch"] },
    { name: "dids", path: "/api/v1/dids", key: "number", columns: ["number", "destination", "description"] },
    { name: "recording-rules", path: "/api/v1/recording-rules", key: "id", columns: ["id", "kind", "target", "direction"], noEdit: true },
    { name: "users", path: "/api/v1/users", key: "username", columns: ["username", "role", "extension", "agent", "language", "disabled"] },
    { name: "audit", path: "/api/v1/audit", key: "id", columns: ["at", "username", "source", "method", "path", "status", "before", "after"], readOnly: true },
  ];
  const PAGE_SIZE = 25;
  const nav = document.getElementById("resources");
  const listBox = document.getElementById("list");
  const formBox = document.getElementById("form");
  const problem = document.getElementById("problem");
  const notice = document.getElementById("notice");
  const search = document.getElementById("search");
  const spec = await (await fetch("/api/v1/openapi.json")).json();
  const wanted = new URLSearchParams(location.search).get("resource") || "extensions";
  const resource = RESOURCES.find((one) => one.name === wanted) || RESOURCES[0];
  let offset = 0;

  for (const one of RESOURCES) {
    nav.append(el("a", { href: `/ui/admin?resource=${one.name}`, class: one === resource ? "current" : "" }, t(`admin.${one.name}`)));
  }
  document.getElementById("title").textContent = t(`admin.${resource.name}`);

  // The JSON schema of a request body, with references followed.
  function bodySchema(path, method) {
    const operation = spec.paths[path] && spec.paths[path][method];
    const content = operation && operation.requestBody && operation.requestBody.content["application/json"];
    return content ? resolve(content.schema) : null;
  }

  function resolve(schema) {
    if (schema && schema.$ref) return resolve(spec.components.schemas[schema.$ref.split("/").pop()]);
    return schema;
  }

  // The type a property takes when given (a nullable one is its non-null kind).
  function kindOf(property) {
    const options = (property.anyOf || [property]).map(resolve).filter((one) => one.type !== "null");
    const first = options[0] || {};
    if (first.enum) return { type: "enum", values: first.enum };
    if (first.type === "array") return { type: (resolve(first.items) || {}).type === "string" ? "list" : "json" };
    if (first.type === "object" || (!first.type && !first.enum)) return { type: "json" };
    return { type: first.type };
  }

  function field(name, property, required, value) {
    const kind = kindOf(property);
    const id = `field-${name}`;
    let input;
    if (kind.type === "boolean") {
      input = el("input", { id, name, type: "checkbox" });
      input.checked = Boolean(value ?? property.default);
    } else if (kind.type === "enum") {
      input = el("select", { id, name }, (required ? [] : [el("option", { value: "" }, "—")]).concat(kind.values.map((v) => el("option", { value: v }, v))));
      input.value = value ?? property.default ?? "";
    } else if (kind.type === "json") {
      input = el("textarea", { id, name, rows: 4, cols: 60, placeholder: "JSON" });
      input.value = value === undefined || value === null ? "" : JSON.stringify(value, null, 1);
    } else {
      const type = kind.type === "integer" || kind.type === "number" ? "number" : (name.includes("password") ? "password" : "text");
      input = el("input", { id, name, type, step: kind.type === "number" ? "any" : null, required: required || null, size: 40 });
      input.value = value === undefined || value === null ? "" : (kind.type === "list" && Array.isArray(value) ? value.join(", ") : value);
      if (kind.type === "list") input.placeholder = t("admin.list_hint");
    }
    input.dataset.kind = kind.type;
    return el("div", { class: "form-field" },
      el("label", { for: id }, `${property.title || name}${required ? " *" : ""}`),
      input,
      property.description ? el("div", { class: "muted" }, property.description) : null,
      el("div", { class: "field-error", id: `error-${name}` }));
  }

  function valueOf(input) {
    const kind = input.dataset.kind;
    if (kind === "boolean") return input.checked;
    const text = input.value.trim();
    if (text === "") return undefined;
    if (kind === "integer") return Number.parseInt(text, 10);
    if (kind === "number") return Number(text);
    if (kind === "list") return text.split(",").map((one) => one.trim()).filter(Boolean);
    if (kind === "json") return JSON.parse(text);
    return text;
  }

  // `extra` (one of a resource's extra forms) changes a part of an object at its own path.
  function openForm(mode, row, extra) {
    const keyPath = `${resource.path}/{${resource.key === "id" ? "rule_id" : resource.key}}`;
    const path = mode === "add" ? resource.path : (extra ? `${keyPath}/${extra.path}` : keyPath);
    const method = mode === "add" ? "post" : "patch";
    const schema = bodySchema(path, method) || bodySchema(`${resource.path}/{${resource.key}}`, method);
    if (!schema) { show(formBox); return; }
    const required = new Set(schema.required || []);
    const values = extra ? extra.values(row) : row;
    const fields = Object.entries(schema.properties || {}).map(([name, property]) =>
      field(name, property, mode === "add" && required.has(name), values ? values[name] : undefined));
    let title = t("admin.add");
    if (mode !== "add") title = extra ? `${t(`admin.${extra.name}`)}: ${row[resource.key]}` : `${t("admin.change")} ${row[resource.key]}`;
    const form = el("form", { class: "card", id: "object-form", novalidate: true },
      el("h2", {}, title),
      ...fields,
      el("button", { class: "primary", type: "submit" }, t("admin.save")), " ",
      el("button", { type: "button", id: "cancel" }, t("admin.cancel")));
    form.querySelector("#cancel").addEventListener("click", () => show(formBox));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      form.querySelectorAll(".field-error").forEach((node) => { node.textContent = ""; });
      problem.hidden = true;
      const body = {};
      try {
        for (const input of form.querySelectorAll("input, select, textarea")) {
          const value = valueOf(input);
          if (value !== undefined) body[input.name] = value;
          else if (extra && extra.clearEmpty) body[input.name] = "";
        }
      } catch (error) {
        problem.textContent = `${t("admin.bad_json")}: ${error.message}`;
        problem.hidden = false;
        return;
      }
      try {
        const objectPath = `${resource.path}/${encodeURIComponent(row ? row[resource.key] : "")}`;
        const target = mode === "add" ? resource.path : (extra ? `${objectPath}/${extra.path}` : objectPath);
        const answer = await api(mode === "add" ? "POST" : "PATCH", target, body);
        show(formBox);
        // A secret made by the server (a generated password, a token) is shown once.
        const secret = answer && (answer.password || answer.token);
        notice.textContent = secret ? `${t("admin.saved")} ${t("admin.secret_once")}: ${secret}` : t("admin.saved");
        notice.hidden = false;
        await load();
      } catch (error) {
        const where = error.field && form.querySelector(`#error-${CSS.escape(String(error.field).split(".")[0])}`);
        if (where) {
          where.textContent = error.message;
          form.querySelector(`[name="${CSS.escape(String(error.field).split(".")[0])}"]`)?.focus();
        } else {
          problem.textContent = error.message;
          problem.hidden = false;
        }
      }
    });
    show(formBox, form);
    form.querySelector("input, select, textarea")?.focus();
  }

  // A queue's agents: who answers it, with their penalty; add and remove them.
  async function openMembers(queue) {
    problem.hidden = true;
    const base = `/api/v1/queues/${encodeURIComponent(queue)}/members`;
    const [members, agents] = await Promise.all([
      api("GET", `${base}?limit=1000`), api("GET", "/api/v1/agents?limit=1000")]);
    const rows = members.items.map((member) => {
      const remove = el("button", { "data-remove-member": member.agent }, t("admin.delete"));
      remove.addEventListener("click", async () => {
        try { await api("DELETE", `${base}/${encodeURIComponent(member.agent)}`); await openMembers(queue); } catch (error) { problem.textContent = error.message; problem.hidden = false; }
      });
      return el("tr", { "data-member": member.agent }, el("td", {}, member.agent), el("td", {}, member.name),
        el("td", { class: "number" }, member.penalty), el("td", {}, member.phone || "—"), el("td", {}, remove));
    });
    const choice = el("select", { id: "member-agent", name: "agent" },
      agents.items.filter((agent) => !members.items.some((m) => m.agent === agent.number))
        .map((agent) => el("option", { value: agent.number }, `${agent.number} ${agent.name}`)));
    const penalty = el("input", { id: "member-penalty", type: "number", min: 0, value: 0, size: 4 });
    const add = el("button", { class: "primary", type: "submit" }, t("admin.add"));
    const form = el("form", { class: "filters" },
      el("div", {}, el("label", { for: "member-agent" }, t("reports.agent")), choice),
      el("div", {}, el("label", { for: "member-penalty" }, t("admin.penalty")), penalty),
      el("div", {}, add), el("div", { class: "field-error", id: "error-penalty" }));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!choice.value) return;
      try {
        await api("PUT", `${base}/${encodeURIComponent(choice.value)}`, { penalty: Number(penalty.value || 0) });
        await openMembers(queue);
      } catch (error) {
        form.querySelector("#error-penalty").textContent = error.message;
      }
    });
    const close = el("button", { type: "button" }, t("admin.cancel"));
    close.addEventListener("click", () => show(formBox));
    show(formBox, el("div", { class: "card", id: "members" },
      el("h2", {}, `${t("admin.members")}: ${queue}`),
      el("table", { class: "data" },
        el("thead", {}, el("tr", {}, ["agent", "name", "penalty", "phone", ""].map((name) => el("th", {}, name)))),
        el("tbody", {}, rows.length ? rows : [el("tr", {}, el("td", { colspan: 5, class: "muted" }, t("admin.none")))])),
      form, close));
  }

  function shown(value) {
    if (value === null || value === undefined) return "";
    if (typeof value === "object") return JSON.stringify(value);
    return String(value);
  }

  async function load() {
    problem.hidden = true;
    const params = new URLSearchParams({ limit: PAGE_SIZE, offset });
    if (search.value.trim()) params.set("search", search.value.trim());
    let answer;
    try {
      answer = await api("GET", `${resource.path}?${params}`);
    } catch (error) {
      problem.textContent = error.message;
      problem.hidden = false;
      return;
    }
    // Most lists come in pages; the users' list is whole.
    const items = Array.isArray(answer) ? answer : answer.items;
    const total = Array.isArray(answer) ? answer.length : answer.total;
    const columns = resource.columns;
    const head = el("tr", {}, columns.map((name) => el("th", {}, name)), el("th", {}, ""));
    const rows = items.map((row) => {
      const actions = el("td", {});
      if (resource.readOnly) return el("tr", { "data-key": row[resource.key] }, columns.map((name) => el("td", { class: "clip" }, shown(row[name]))), actions);
      if (!resource.noEdit) {
        const edit = el("button", { "data-edit": row[resource.key] }, t("admin.change"));
        edit.addEventListener("click", () => openForm("change", row));
        actions.append(edit, " ");
      }
      for (const extra of resource.extra || []) {
        const button = el("button", { [`data-${extra.name}`]: row[resource.key] }, t(`admin.${extra.name}`));
        button.addEventListener("click", () => openForm("change", row, extra));
        actions.append(button, " ");
      }
      if (resource.members) {
        const members = el("button", { "data-members": row[resource.key] }, t("admin.members"));
        members.addEventListener("click", () => openMembers(row[resource.key]));
        actions.append(members, " ");
      }
      const remove = el("button", { "data-delete": row[resource.key] }, t("admin.delete"));
      remove.addEventListener("click", async () => {
        if (!confirm(t("admin.delete_confirm", { name: row[resource.key] }))) return;
        try {
          await api("DELETE", `${resource.path}/${encodeURIComponent(row[resource.key])}`);
          await load();
        } catch (error) {
          problem.textContent = error.message;
          problem.hidden = false;
        }
      });
      actions.append(remove);
      return el("tr", { "data-key": row[resource.key] }, columns.map((name) => el("td", {}, shown(row[name]))), actions);
    });
    if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: columns.length + 1, class: "muted" }, t("admin.none"))));
    const pager = el("div", { class: "muted" }, t("admin.showing", { from: total ? offset + 1 : 0, to: offset + items.length, total }));
    if (offset > 0) {
      const back = el("button", {}, "‹");
      back.addEventListener("click", () => { offset = Math.max(0, offset - PAGE_SIZE); load(); });
      pager.append(" ", back);
    }
    if (!Array.isArray(answer) && offset + items.length < total) {
      const next = el("button", {}, "›");
      next.addEventListener("click", () => { offset += PAGE_SIZE; load(); });
      pager.append(" ", next);
    }
    show(listBox, el("table", { class: "data", id: "objects" }, el("thead", {}, head), el("tbody", {}, rows)), pager);
  }

  document.getElementById("add").hidden = Boolean(resource.readOnly);
  document.getElementById("add").addEventListener("click", () => openForm("add"));
  let typing = null;
  search.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => { offset = 0; load(); }, 250);
  });
  await load();
})();
