// The reports page: every call-centre report for a period, filtered by queue, agent or
// caller; totals, a chart where one helps, the table, CSV download and a print layout.
// An answered call that was recorded has a player in its row.
"use strict";

(async () => {
  const { api, t, el, show, duration } = Ringfort;
  const me = await Ringfort.start("reports", ["admin", "supervisor"]);
  const form = document.getElementById("filters");
  const output = document.getElementById("output");
  const problem = document.getElementById("problem");
  const csv = document.getElementById("csv");
  const printButton = document.getElementById("print");

  // A supervisor of some queues picks one of them: their reports are those queues'.
  if (me && me.role === "supervisor" && me.queues && me.queues.length) {
    const choice = el("select", { id: "queue", name: "queue" }, me.queues.map((name) => el("option", { value: name }, name)));
    form.queue.replaceWith(choice);
  }
  const reports = await api("GET", "/api/v1/reports");
  for (const report of reports) {
    if (report.name === "queue-log") continue;
    form.report.append(el("option", { value: report.name, title: report.summary }, t(`report.${report.name}`)));
  }
  const today = new Date().toISOString().slice(0, 10);
  const wanted = new URLSearchParams(location.search);
  for (const name of ["report", "from", "to", "queue", "agent", "caller", "by", "service_level"]) {
    if (wanted.has(name) && form[name]) form[name].value = wanted.get(name);
  }
  if (!form.from.value) form.from.value = today;
  if (!form.to.value) form.to.value = today;
  function fitFilters() {
    form.by.parentElement.hidden = form.report.value !== "distribution";
    form.group.closest("div").hidden = form.report.value !== "answered";
  }
  form.report.addEventListener("change", fitFilters);
  fitFilters();

  function query(format) {
    const params = new URLSearchParams();
    params.set("from", form.from.value);
    params.set("to", form.to.value); // a date as the end counts whole
    for (const name of ["queue", "agent", "caller"]) if (form[name].value.trim()) params.set(name, form[name].value.trim());
    if (form.report.value === "distribution") params.set("by", form.by.value);
    if (form.report.value === "service-level" && form.service_level.value) params.set("service_level", form.service_level.value);
    params.set("tz", Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC");
    if (format) params.set("format", format);
    return params;
  }

  function cell(column, value) {
    if (value === null || value === undefined || value === "") return el("td", {}, "");
    if (column.key === "recording") {
      return el("td", {}, el("audio", { controls: true, preload: "metadata", src: `/api/v1/recordings/${encodeURIComponent(value)}/audio`, "data-recording": value }));
    }
    switch (column.kind) {
      case "seconds": return el("td", { class: "number" }, duration(value));
      case "percent": return el("td", { class: "number" }, `${Number(value).toFixed(1)} %`);
      case "count": return el("td", { class: "number" }, value);
      case "time": return el("td", {}, new Date(value).toLocaleString());
      default: return el("td", {}, value);
    }
  }

  // The answered calls, as the printed report has them: per agent, each agent's calls
  // then their totals (calls; average, shortest, longest and total wait and talk).
  function byAgent(result) {
    const groups = new Map();
    for (const row of result.rows) {
      const key = `${row.agent_name || row.agent}`;
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(row);
    }
    const width = result.columns.length;
    const waitAt = result.columns.findIndex((column) => column.key === "wait");
    const rows = [];
    for (const [agent, calls] of groups) {
      rows.push(el("tr", { class: "group" }, el("th", { colspan: width }, agent)));
      for (const row of calls) rows.push(el("tr", {}, result.columns.map((column) => cell(column, row[column.key]))));
      const waits = calls.map((row) => Number(row.wait) || 0);
      const talks = calls.map((row) => Number(row.talk) || 0);
      const sum = (values) => values.reduce((a, b) => a + b, 0);
      const figures = [
        [t("print.calls"), String(calls.length), ""],
        [t("print.average"), duration(sum(waits) / calls.length), duration(sum(talks) / calls.length)],
        [t("print.shortest"), duration(Math.min(...waits)), duration(Math.min(...talks))],
        [t("print.longest"), duration(Math.max(...waits)), duration(Math.max(...talks))],
        [t("print.total"), duration(sum(waits)), duration(sum(talks))],
      ];
      figures.forEach(([label, wait, talk], index) => {
        const cells = [el("td", { colspan: Math.max(1, waitAt), class: "subtotal-label" }, index === 0 ? `${t("print.subtotal")} · ${label}` : label),
          el("td", { class: "number" }, wait), el("td", { class: "number" }, talk)];
        const rest = width - Math.max(1, waitAt) - 2;
        if (rest > 0) cells.push(el("td", { colspan: rest }));
        rows.push(el("tr", { class: "subtotal" }, cells));
      });
    }
    return rows;
  }

  function table(result) {
    const head = el("tr", {}, result.columns.map((column) => el("th", {}, column.title)));
    const grouped = result.report === "answered" && result.rows.length && form.group.checked;
    const rows = grouped ? byAgent(result) : result.rows.map((row) => el("tr", {}, result.columns.map((column) => cell(column, row[column.key]))));
    if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: result.columns.length, class: "muted" }, t("reports.no_rows"))));
    return el("table", { class: "data", id: "report-table" }, el("thead", {}, head), el("tbody", {}, rows));
  }

  function totals(summary) {
    return el("div", { class: "totals", id: "totals" }, Object.entries(summary || {}).map(([key, value]) => {
      const shown = typeof value === "number" && /wait|talk|time|hold/.test(key) && !/pct|level/.test(key) ? duration(value) : value;
      return el("div", {}, el("b", {}, shown ?? "—"), t(`total.${key}`));
    }));
  }

  // A bar chart of one or two series, drawn as SVG (no chart library: nothing to download).
  function chart(title, labels, series) {
    const width = 800;
    const height = 200;
    const max = Math.max(1, ...series.flatMap((one) => one.values));
    const slot = width / Math.max(1, labels.length);
    const bar = (slot * 0.8) / series.length;
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", `0 0 ${width} ${height + 30}`);
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", title);
    labels.forEach((label, index) => {
      series.forEach((one, which) => {
        const value = one.values[index] || 0;
        const rect = document.createElementNS(svg.namespaceURI, "rect");
        const barHeight = (value / max) * height;
        rect.setAttribute("x", index * slot + slot * 0.1 + which * bar);
        rect.setAttribute("y", height - barHeight);
        rect.setAttribute("width", bar);
        rect.setAttribute("height", barHeight);
        rect.setAttribute("class", `bar${which ? " second" : ""}`);
        const tip = document.createElementNS(svg.namespaceURI, "title");
        tip.textContent = `${label}: ${one.name} ${value}`;
        rect.append(tip);
        svg.append(rect);
      });
      const text = document.createElementNS(svg.namespaceURI, "text");
      text.setAttribute("x", index * slot + slot / 2);
      text.setAttribute("y", height + 14);
      text.setAttribute("text-anchor", "middle");
      text.textContent = label;
      svg.append(text);
    });
    const legend = series.map((one, which) => el("span", { class: "muted" }, `${which ? "■ " : "■ "}${one.name}  `));
    return el("div", { class: "chart", id: "chart" }, el("div", {}, el("b", {}, title), " ", legend), svg);
  }

  function chartFor(name, result) {
    const rows = result.rows;
    if (!rows.length) return null;
    const values = (key) => rows.map((row) => Number(row[key]) || 0);
    if (name === "service-level") {
      return chart(t("chart.service_level"), rows.map((row) => row.wait), [
        { name: t("live.answered"), values: values("answered") }, { name: t("live.lost"), values: values("lost") }]);
    }
    if (name === "distribution") {
      const key = result.columns[0].key;
      return chart(t("chart.by_period"), rows.map((row) => String(row[key])), [
        { name: t("live.answered"), values: values("answered") }, { name: t("live.lost"), values: values("lost") }]);
    }
    if (name === "agents") {
      return chart(t("chart.agents"), rows.map((row) => row.agent_name || row.agent), [{ name: t("live.answered"), values: values("answered") }]);
    }
    if (name === "queues") {
      return chart(t("chart.queues"), rows.map((row) => row.queue), [
        { name: t("live.answered"), values: values("answered") }, { name: t("live.lost"), values: values("lost") }]);
    }
    return null;
  }

  async function run() {
    problem.hidden = true;
    const name = form.report.value;
    const params = query();
    history.replaceState(null, "", `?report=${name}&from=${form.from.value}&to=${form.to.value}`);
    csv.href = `/api/v1/reports/${name}?${query("csv")}`;
    try {
      const result = await api("GET", `/api/v1/reports/${name}?${params}`);
      const period = `${form.from.value} — ${form.to.value}`;
      show(output,
        el("div", { class: "print-title" }, el("h1", {}, result.title), el("div", {}, period)),
        el("h2", { class: "no-print" }, `${result.title} · ${period}`),
        totals(result.summary),
        chartFor(name, result),
        table(result));
    } catch (error) {
      problem.textContent = error.message;
      problem.hidden = false;
    }
  }

  form.addEventListener("submit", (event) => { event.preventDefault(); run(); });
  printButton.addEventListener("click", () => window.print());
  await run();
})();
