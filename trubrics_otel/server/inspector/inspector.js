// The inspector page of the trubrics-otel local server: what the server received, kept up to date by polling.
//
// Every piece of received data is put on the page as text (textContent, text nodes, attribute values),
// never parsed as markup: a prompt that holds <script> is shown as those characters.
"use strict";

(function () {
  const POLL_MS = 1000;
  const LIST_LIMIT = 50;
  const THREAD_LIMIT = 500;
  const HEADERS = { "X-Trubrics-Inspector": "1", Accept: "application/json" };
  // a server started with keys that listens beyond loopback needs one to read: asked once, kept in this tab
  const KEY_STORAGE = "trubrics-otel-inspector-key";
  const TOOL_FINISH_REASONS = new Set(["tool_calls", "tool_use", "function_call", "tool-calls"]);
  const TOOL_CALL_LINE = /^[A-Za-z_][\w.\-]*\((\{[\s\S]*\}|\[[\s\S]*\])?\)$/;
  const FILTERS = ["user", "event", "assistant", "thread"];

  const page = {
    summary: null,
    summaryText: "",
    dataVersion: "",
    refusalsVersion: null,
    filters: { user: "", event: "", assistant: "", thread: "" },
    placeholder: "[content not recorded]",
    focusConversation: false,
    needsKey: false,
  };

  // --- building the page from data, as text ----------------------------------------------------------

  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "className") node.className = value;
      else if (name === "onclick") node.addEventListener("click", value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) append(node, child);
    return node;
  }

  function append(node, child) {
    if (child === undefined || child === null || child === false) return;
    if (Array.isArray(child)) child.forEach((part) => append(node, part));
    else if (child instanceof Node) node.appendChild(child);
    else node.appendChild(document.createTextNode(String(child)));
  }

  function fill(id, ...children) {
    const node = document.getElementById(id);
    node.replaceChildren();
    append(node, children);
    return node;
  }

  function text(value) {
    if (value === undefined || value === null) return "";
    return typeof value === "string" ? value : JSON.stringify(value);
  }

  function excerpt(full, limit) {
    return full.length > limit ? full.slice(0, limit - 1) + "…" : full;
  }

  function shortJSON(value, limit) {
    return excerpt(JSON.stringify(value), limit);
  }

  function when(timestamp) {
    if (!timestamp) return "";
    const date = new Date(timestamp);
    if (Number.isNaN(date.getTime())) return String(timestamp);
    const pad = (n) => String(n).padStart(2, "0");
    return (
      `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
      `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
    );
  }

  function seconds(value) {
    if (typeof value !== "number") return "–";
    return value < 10 ? value.toFixed(2) : value.toFixed(1);
  }

  function count(value) {
    return typeof value === "number" ? value.toLocaleString("en") : "–";
  }

  function filterButton(kind, value, label) {
    return el(
      "button",
      { type: "button", className: "link", "data-filter": kind, "data-value": value, title: `Show only ${kind} ${value}` },
      label === undefined ? value : label,
    );
  }

  // --- the state: filters in the address's fragment, so that a view can be bookmarked ----------------

  function readFilters() {
    const params = new URLSearchParams(location.hash.replace(/^#/, ""));
    for (const name of FILTERS) page.filters[name] = params.get(name) || "";
  }

  function writeFilters(changes) {
    const params = new URLSearchParams();
    const next = { ...page.filters, ...changes };
    for (const name of FILTERS) if (next[name]) params.set(name, next[name]);
    const hash = params.toString();
    if (hash === location.hash.replace(/^#/, "")) return;
    location.hash = hash;
  }

  // --- talking to the server --------------------------------------------------------------------------

  class KeyNeeded extends Error {}

  function requestHeaders() {
    const key = window.sessionStorage.getItem(KEY_STORAGE);
    return key ? { ...HEADERS, "x-api-key": key } : HEADERS;
  }

  async function getJSON(path) {
    const response = await fetch(path, { headers: requestHeaders(), cache: "no-store" });
    if (response.status === 401) throw new KeyNeeded(`${path} needs an API key`);
    if (!response.ok) throw new Error(`${path} answered HTTP ${response.status}`);
    return response.json();
  }

  function askForKey() {
    const form = document.getElementById("key-form");
    const refused = window.sessionStorage.getItem(KEY_STORAGE) !== null;
    window.sessionStorage.removeItem(KEY_STORAGE);
    page.needsKey = true;
    document.getElementById("key-refused").hidden = !refused;
    if (form.hidden) {
      form.hidden = false;
      document.getElementById("key-input").focus();
    }
    setStatus("locked", "This server needs one of its API keys to show what it received.");
  }

  function onKeySubmit(event) {
    event.preventDefault();
    const input = document.getElementById("key-input");
    const key = input.value.trim();
    if (!key) return;
    window.sessionStorage.setItem(KEY_STORAGE, key);
    input.value = "";
    document.getElementById("key-form").hidden = true;
    page.needsKey = false;
    poll();
  }

  function listingPath(kind, extra) {
    const params = new URLSearchParams({ limit: String(LIST_LIMIT), ...extra });
    return `/${kind}?${params}`;
  }

  async function poll() {
    try {
      const summary = await getJSON("/_trubrics/summary");
      const summaryText = JSON.stringify(summary);
      const dataVersion = JSON.stringify([summary.generation, summary.cursors]);
      if (summaryText !== page.summaryText) {
        page.summary = summary;
        page.summaryText = summaryText;
        page.placeholder = summary.placeholder;
        renderSummary(summary);
      }
      if (dataVersion !== page.dataVersion) {
        page.dataVersion = dataVersion;
        await loadLists();
      }
      if (summary.requests.refusals_version !== page.refusalsVersion) {
        const listed = await getJSON("/_trubrics/requests?refused=true&limit=50");
        page.refusalsVersion = listed.refusals_version;
        renderRefusals(listed.requests);
      }
      setStatus("live", `Live · checked ${when(new Date().toISOString())}`);
    } catch (error) {
      if (error instanceof KeyNeeded) askForKey();
      else setStatus("offline", `The server is not answering (${error.message}); trying again…`);
    } finally {
      if (!page.needsKey) window.setTimeout(poll, POLL_MS); // a submitted key polls again
    }
  }

  function setStatus(kind, message) {
    const status = document.getElementById("status");
    status.dataset.state = kind;
    if (status.textContent !== message) status.textContent = message;
  }

  async function loadLists() {
    const f = page.filters;
    const version = JSON.stringify([page.dataVersion, f]);
    const common = {};
    if (f.user) common.user_id = f.user;
    if (f.thread) common.thread_id = f.thread;
    const llmWanted = !f.event;
    const eventsWanted = !f.assistant;
    const [llm, events, turns] = await Promise.all([
      llmWanted ? getJSON(listingPath("llm_events", f.assistant ? { ...common, assistant_id: f.assistant } : common)) : null,
      eventsWanted ? getJSON(listingPath("events", f.event ? { ...common, event: f.event } : common)) : null,
      f.thread ? getJSON(`/llm_events?${new URLSearchParams({ thread_id: f.thread, limit: String(THREAD_LIMIT) })}`) : null,
    ]);
    if (version !== JSON.stringify([page.dataVersion, page.filters])) return; // a newer load is under way
    renderLLMEvents(llm);
    renderEvents(events);
    renderConversation(turns);
  }

  // --- the summary: totals, filters' choices, counts, assistants, threads, repeats ------------------------

  function renderSummary(summary) {
    const t = summary.totals;
    const refused = Object.values(summary.requests.refused).reduce((a, b) => a + b, 0) + summary.requests.dropped;
    const totals = [
      ["LLM events", t.llm_events],
      ["Events", t.events],
      ["Users", t.users],
      ["Threads", t.threads],
      ["Refused requests", refused],
      ["Without content", t.missing_content],
    ];
    // shown once they happen: copies not stored again, and the oldest items dropped over max_items
    if (summary.deduplicated && summary.deduplicated.total) totals.push(["De-duplicated", summary.deduplicated.total]);
    const evicted = summary.evicted ? summary.evicted.events + summary.evicted.llm_events : 0;
    if (evicted) totals.push([`Oldest dropped (over ${count(summary.evicted.max_items)} of a kind)`, evicted]);
    fill(
      "totals",
      totals.map(([label, value]) => el("div", { className: "total" }, el("dt", {}, label), el("dd", {}, count(value)))),
    );
    renderChoices("filter-user", "Any user", summary.users.map((u) => u.user_id), page.filters.user);
    renderChoices("filter-event", "Any event", summary.event_names.map((e) => e.event), page.filters.event);
    renderChoices(
      "filter-assistant",
      "Any assistant",
      summary.assistants.map((a) => a.assistant_id).filter((a) => a !== null),
      page.filters.assistant,
    );
    renderChoices("filter-thread", "Any thread", summary.threads.map((th) => th.thread_id), page.filters.thread);

    fill(
      "user-rows",
      summary.users.length
        ? summary.users.map((u) =>
            el("tr", {}, el("td", {}, filterButton("user", u.user_id)), el("td", { className: "num" }, count(u.events)),
              el("td", { className: "num" }, count(u.llm_events))),
          )
        : emptyRow(3, "No user yet."),
    );
    fill(
      "event-name-rows",
      summary.event_names.length
        ? summary.event_names.map((e) =>
            el("tr", {}, el("td", {}, filterButton("event", e.event)), el("td", { className: "num" }, count(e.count))),
          )
        : emptyRow(2, "No event yet."),
    );
    fill(
      "assistant-rows",
      summary.assistants.length ? summary.assistants.map(assistantRow) : emptyRow(11, "No LLM event yet."),
    );
    fill(
      "thread-rows",
      summary.threads.length
        ? summary.threads.map((th) =>
            el("tr", {}, el("td", {}, filterButton("thread", th.thread_id)), el("td", {}, th.user_ids.join(", ")),
              el("td", { className: "num" }, count(th.llm_events)), el("td", { className: "num" }, count(th.events)),
              el("td", {}, when(th.last_received_at))),
          )
        : emptyRow(5, "No thread yet: an item names its thread with the $thread_id property."),
    );
    renderDeduplicated(summary.deduplicated);
    renderRepeats(summary.repeats, t.repeated);
    const byStatus = Object.entries(summary.requests.refused).map(([status, n]) => `${status}: ${n}`);
    if (summary.requests.dropped) byStatus.push(`dropped: ${summary.requests.dropped}`);
    fill(
      "refused-tally",
      `Since the server started: ${count(summary.requests.answered)} requests answered, ` +
        (byStatus.length ? `${count(refused)} refused (${byStatus.join(", ")}).` : "none refused."),
    );
  }

  function emptyRow(columns, message) {
    return el("tr", { className: "empty" }, el("td", { colspan: columns }, message));
  }

  function renderChoices(id, anyLabel, values, current) {
    const select = document.getElementById(id);
    const choices = current && !values.includes(current) ? [current, ...values] : values;
    const wanted = JSON.stringify(choices);
    if (select.dataset.choices !== wanted) {
      select.dataset.choices = wanted;
      select.replaceChildren(el("option", { value: "" }, anyLabel), ...choices.map((value) => el("option", { value }, value)));
    }
    select.value = current;
  }

  function assistantRow(a) {
    const latency = a.latency || {};
    const reasons = Object.entries(a.finish_reasons).map(([reason, n]) => `${reason} ${n}`).join(", ");
    return el(
      "tr",
      {},
      el("td", {}, a.assistant_id === null ? "(none)" : filterButton("assistant", a.assistant_id)),
      el("td", { className: "num" }, count(a.llm_events)),
      el("td", { className: "num" }, seconds(latency.mean)),
      el("td", { className: "num" }, seconds(latency.p50)),
      el("td", { className: "num" }, seconds(latency.p95)),
      el("td", { className: "num" }, seconds(latency.max)),
      el("td", { className: "num" }, a.tokens.calls ? count(a.tokens.input_tokens) : "–"),
      el("td", { className: "num" }, a.tokens.calls ? count(a.tokens.output_tokens) : "–"),
      el("td", { className: "num" }, a.tokens.calls ? count(a.tokens.total_tokens) : "–"),
      el("td", {}, reasons || "–"),
      el("td", { className: a.missing_content ? "num warn" : "num" }, count(a.missing_content)),
    );
  }

  function renderDeduplicated(deduplicated) {
    if (!deduplicated || !deduplicated.items.length) {
      fill("dedup-list", el("li", { className: "empty" }, "Nothing was de-duplicated by $idempotency_key."));
      return;
    }
    const total = deduplicated.total;
    fill(
      "dedup-list",
      el("li", { className: "note" },
        total === 1 ? "1 copy acknowledged, not stored again." : `${count(total)} copies acknowledged, not stored again.`),
      deduplicated.items.map((d) => {
        const item = d.item || {};
        const what = d.kind === "events" ? item.event : item.prompt;
        return el(
          "li",
          {},
          el("strong", {}, `${d.copies} copies, stored once`),
          ` as the ${d.kind === "events" ? "event" : "LLM event"} number ${d.first_received}, key `,
          el("code", {}, text(d.idempotency_key)),
          ": ",
          el("span", { className: "who" }, text(item.user_id)),
          " · ",
          el("span", {}, excerpt(text(what), 120)),
        );
      }),
    );
  }

  function renderRepeats(repeats, total) {
    if (!repeats.length) {
      fill("repeat-list", el("li", { className: "empty" }, "Nothing was stored twice."));
      return;
    }
    fill(
      "repeat-list",
      el("li", { className: "note" },
        total === 1 ? "1 extra copy stored in all." : `${count(total)} extra copies stored in all.`),
      repeats.map((r) => {
        const item = r.item || {};
        const what = r.kind === "events" ? item.event : item.prompt;
        return el(
          "li",
          {},
          el("strong", {}, `${r.copies} copies`),
          ` of the ${r.kind === "events" ? "event" : "LLM event"} first received as number ${r.first_received}: `,
          el("span", { className: "who" }, text(item.user_id)),
          " · ",
          el("span", {}, excerpt(text(what), 120)),
          " · ",
          el("span", { className: "muted" }, text(item.timestamp)),
        );
      }),
    );
  }

  // --- LLM events and events -----------------------------------------------------------------------------

  function renderLLMEvents(items) {
    const f = page.filters;
    if (items === null) {
      fill("llm-note", `Hidden while the event filter is set: LLM events have no event name.`);
      fill("llm-list");
      return;
    }
    fill("llm-note", describeListing(items.length, "LLM event"));
    fill("llm-list", items.length ? items.map((item) => callCard(item, { showThread: !f.thread })) : el("li", { className: "empty" }, "No LLM event here yet."));
  }

  function renderEvents(items) {
    if (items === null) {
      fill("events-note", "Hidden while the assistant filter is set: events have no assistant.");
      fill("event-rows");
      return;
    }
    fill("events-note", describeListing(items.length, "event"));
    fill(
      "event-rows",
      items.length
        ? items.map((item) => {
            const properties = { ...(item.properties || {}) };
            const thread = properties.$thread_id;
            delete properties.$thread_id;
            return el(
              "tr",
              {},
              el("td", { title: text(item.timestamp) }, when(item.timestamp)),
              el("td", {}, filterButton("user", text(item.user_id))),
              el("td", {}, filterButton("event", text(item.event))),
              el("td", {}, thread === undefined ? "" : filterButton("thread", text(thread))),
              el("td", {}, propertiesView(properties)),
            );
          })
        : emptyRow(5, "No event here yet."),
    );
  }

  function describeListing(n, noun) {
    const active = FILTERS.filter((name) => page.filters[name]).map((name) => `${name} ${page.filters[name]}`);
    const what = n === 1 ? `1 ${noun}` : `${n} ${noun}s`;
    const limit = n >= LIST_LIMIT ? `the latest ${LIST_LIMIT}` : what;
    return `${n >= LIST_LIMIT ? limit : what}, newest first${active.length ? `, for ${active.join(", ")}` : ""}.`;
  }

  function propertiesView(properties) {
    const keys = Object.keys(properties);
    if (!keys.length) return "";
    return el("details", {}, el("summary", {}, shortJSON(properties, 60)), el("pre", {}, JSON.stringify(properties, null, 2)));
  }

  function tokensOf(properties) {
    const parts = [];
    if (typeof properties.input_tokens === "number") parts.push(`${properties.input_tokens} in`);
    if (typeof properties.output_tokens === "number") parts.push(`${properties.output_tokens} out`);
    if (!parts.length && typeof properties.total_tokens === "number") parts.push(`${properties.total_tokens} total`);
    return parts.length ? `${parts.join(" / ")} tokens` : "";
  }

  function metaLine(item, options) {
    const properties = item.properties || {};
    const reasons = Array.isArray(properties.finish_reasons) ? properties.finish_reasons.map(text) : [];
    const parts = [
      el("span", { title: text(item.timestamp) }, when(item.timestamp)),
      filterButton("user", text(item.user_id)),
      item.assistant_id ? filterButton("assistant", text(item.assistant_id)) : el("span", { className: "muted" }, "no assistant"),
      typeof item.latency === "number" ? el("span", {}, `${seconds(item.latency)} s`) : null,
      tokensOf(properties) ? el("span", {}, tokensOf(properties)) : null,
      reasons.length ? el("span", {}, `finish: ${reasons.join(", ")}`) : null,
      options.showThread && properties.$thread_id !== undefined
        ? filterButton("thread", text(properties.$thread_id), `thread ${text(properties.$thread_id)}`)
        : null,
    ].filter(Boolean);
    return el("p", { className: "meta" }, parts.map((part, i) => (i ? [" · ", part] : part)));
  }

  function callCard(item, options) {
    return el("li", { className: "call" }, metaLine(item, options), messages(item));
  }

  // The prompt and the generation; a placeholder in place of either is shown as missing, with the fix.
  function messages(item) {
    const promptMissing = text(item.prompt) === page.placeholder;
    const generationMissing = text(item.generation) === page.placeholder;
    if (promptMissing && generationMissing) return missingContent("Prompt and generation not recorded");
    return [
      promptMissing ? missingContent("Prompt not recorded") : message("Prompt", item.prompt, item, "prompt"),
      generationMissing
        ? missingContent("Generation not recorded")
        : message("Generation", item.generation, item, "generation"),
    ];
  }

  function message(label, value, item, role) {
    const content = text(value);
    const calls = role === "generation" ? toolCalls(content, item) : null;
    if (calls) {
      return el(
        "div",
        { className: `message ${role} tools` },
        el("span", { className: "role" }, calls.text ? label : "Tool calls"),
        calls.text ? el("p", { className: "text" }, calls.text) : null,
        el("ul", { className: "tool-calls", "aria-label": "Tool calls" },
          calls.lines.map((line) => el("li", {}, el("span", { className: "badge" }, "tool call"), " ", el("code", {}, line)))),
      );
    }
    return el("div", { className: `message ${role}` }, el("span", { className: "role" }, label), el("p", { className: "text" }, content));
  }

  // A generation that answered with tool calls is `name(arguments)` a line, after any text.
  function toolCalls(content, item) {
    const properties = item.properties || {};
    const reasons = Array.isArray(properties.finish_reasons) ? properties.finish_reasons : [];
    const lines = content.split("\n");
    const callLines = lines.filter((line) => TOOL_CALL_LINE.test(line.trim()));
    if (!callLines.length) return null;
    const byReason = reasons.some((reason) => TOOL_FINISH_REASONS.has(String(reason)));
    if (!byReason && callLines.length !== lines.length) return null;
    const first = lines.findIndex((line) => TOOL_CALL_LINE.test(line.trim()));
    if (lines.slice(first).some((line) => !TOOL_CALL_LINE.test(line.trim()))) return null;
    return { text: lines.slice(0, first).join("\n"), lines: lines.slice(first).map((line) => line.trim()) };
  }

  function missingContent(title) {
    return el(
      "div",
      { className: "message missing", role: "note" },
      el("span", { className: "role" }, title),
      el(
        "p",
        {},
        "Missing content: the telemetry did not carry this text, so the exporter sent the placeholder ",
        el("code", {}, page.placeholder),
        ". The instrumentation's content capture is off, or its text travels in log records that no logs " +
          "exporter reads.",
      ),
      el(
        "p",
        {},
        "Fix: turn content capture on, e.g. ",
        el("code", {}, "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=SPAN_ONLY"),
        ", then run ",
        el("code", {}, "trubrics-otel check"),
        ": it shows the content setting of each instrumentation installed.",
      ),
      el(
        "details",
        {},
        el("summary", {}, "The setting of each instrumentation"),
        el(
          "ul",
          {},
          el("li", {}, "OpenTelemetry GenAI (openai-v2, google-genai): ",
            el("code", {}, "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=SPAN_ONLY")),
          el("li", {}, "OpenLLMetry: ", el("code", {}, "TRACELOOP_TRACE_CONTENT"), " unset or ", el("code", {}, "true")),
          el("li", {}, "OpenInference: ", el("code", {}, "OPENINFERENCE_HIDE_INPUTS"), " and ",
            el("code", {}, "OPENINFERENCE_HIDE_OUTPUTS"), " unset"),
          el("li", {}, "Text carried in log records: ", el("code", {}, "OTEL_LOGS_EXPORTER=trubrics"),
            " (or TrubricsLogExporter)"),
        ),
      ),
    );
  }

  // --- the conversation of one thread ---------------------------------------------------------------------

  function renderConversation(items) {
    const section = document.getElementById("conversation");
    if (items === null) {
      section.hidden = true;
      fill("turns");
      return;
    }
    section.hidden = false;
    fill("conversation-title", "Conversation ", el("span", { className: "thread-id" }, page.filters.thread));
    if (page.focusConversation) {
      page.focusConversation = false;
      document.getElementById("conversation-title").focus();
    }
    // the listing is newest first; a conversation reads oldest first, by each call's own time
    const turns = items
      .slice()
      .reverse()
      .map((item, arrival) => ({ item, arrival, time: Date.parse(item.timestamp) }))
      .sort((a, b) => (Number.isNaN(a.time) || Number.isNaN(b.time) ? 0 : a.time - b.time) || a.arrival - b.arrival);
    const users = new Set(items.map((item) => text(item.user_id)));
    fill(
      "conversation-note",
      items.length
        ? `${items.length === 1 ? "1 turn" : `${items.length} turns`}, oldest first; ` +
            `${users.size === 1 ? `user ${[...users][0]}` : `users ${[...users].join(", ")}`}.`
        : "No LLM event names this thread.",
    );
    fill(
      "turns",
      turns.map(({ item }, index) =>
        el("li", { className: "turn" }, el("span", { className: "turn-number" }, `Turn ${index + 1}`),
          metaLine(item, { showThread: false }), messages(item)),
      ),
    );
  }

  // --- refused requests -------------------------------------------------------------------------------------

  function renderRefusals(requests) {
    if (!requests.length) {
      fill("refused-list", el("li", { className: "empty" }, "No request was refused."));
      return;
    }
    fill(
      "refused-list",
      requests.map((r) =>
        el(
          "li",
          { className: "refusal" },
          el(
            "p",
            { className: "meta" },
            el("span", { className: "status-code" }, r.status === null ? "dropped" : String(r.status)),
            " ",
            el("code", {}, `${r.method} ${r.path}`),
            ` · ${when(r.at)}`,
            r.items === null ? "" : ` · ${r.items === 1 ? "1 item" : `${r.items} items`}`,
            r.has_key ? "" : " · no x-api-key",
            r.user_agent ? [" · ", el("span", { className: "muted" }, r.user_agent)] : null,
          ),
          el("p", { className: "reason" }, r.reason || ""),
          detailView(r.detail),
        ),
      ),
    );
  }

  function detailView(detail) {
    if (detail === null || detail === undefined) return null;
    if (!Array.isArray(detail)) return el("p", { className: "detail" }, text(detail));
    return el(
      "ul",
      { className: "problems" },
      detail.map((problem) => {
        const loc = Array.isArray(problem.loc) ? problem.loc.slice(1) : [];
        const where = loc.length
          ? loc.map((part) => (typeof part === "number" ? `item ${part}` : String(part))).join(", ")
          : "the body";
        return el("li", {}, el("strong", {}, where), `: ${text(problem.msg)}`, el("span", { className: "muted" }, ` (${text(problem.type)})`));
      }),
    );
  }

  // --- wiring -----------------------------------------------------------------------------------------------

  function onFilterChange(event) {
    const name = event.target.name;
    if (FILTERS.includes(name)) writeFilters({ [name]: event.target.value });
  }

  function start() {
    readFilters();
    document.getElementById("key-form").addEventListener("submit", onKeySubmit);
    const form = document.getElementById("filters");
    form.addEventListener("change", onFilterChange);
    form.addEventListener("submit", (event) => event.preventDefault());
    form.addEventListener("reset", (event) => {
      event.preventDefault();
      writeFilters({ user: "", event: "", assistant: "", thread: "" });
    });
    document.getElementById("close-conversation").addEventListener("click", () => {
      writeFilters({ thread: "" });
      document.getElementById("llm-events-title").focus();
    });
    document.body.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-filter]");
      if (!button) return;
      const kind = button.dataset.filter;
      // a thread opens its conversation: the keyboard's focus goes there once it is shown
      page.focusConversation = kind === "thread";
      writeFilters({ [kind]: button.dataset.value });
    });
    window.addEventListener("hashchange", () => {
      readFilters();
      if (page.summary) renderSummary(page.summary);
      loadLists().catch((error) => {
        if (error instanceof KeyNeeded) askForKey();
        else setStatus("offline", `The server is not answering (${error.message}).`);
      });
    });
    poll();
  }

  document.addEventListener("DOMContentLoaded", start);
})();
