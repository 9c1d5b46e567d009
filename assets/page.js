/* R1V demo page script (loaded in <head> by ui/page/layout.py; window.R1V_NAMES holds the texts).
 * - Fits the chat to the window: the chat takes the height left once the header above it and the
 *   box, buttons, stats line and the rows under it (versions, editing) are placed, so the question
 *   box, Send and the version switcher stay on screen.
 * - Names the controls Gradio leaves unnamed or alike: each slider's reset button names its slider,
 *   the export buttons say what they download, the example cards say they are examples, each
 *   version switcher's ‹ and › name the turn they switch ("Previous version (Turn 1: 2 / 3)").
 * - window.r1v.showChat() / showSettings(): scrolling called from Gradio events (ui/page/layout.py).
 * - Keyboard focus never reaches what nobody can see: a closed sidebar's content (the history list's
 *   New and Delete) is `inert` until the sidebar opens.
 * - A lost connection is said: a request to this server failing at the network level, or the
 *   liveness check every LIVENESS_MS (an idle page sends nothing), is confirmed against /healthz;
 *   then the status line (#model-status) says so and the buttons that send are disabled.
 * - Toasts start below the header while it is on screen, so none covers the title or the switch.
 */
(() => {
  const MIN_CHAT_PX = 280;
  const EMPTY_PHONE_CHAT_PX = 120; // an empty chat on a narrow screen: the box and Send show on load
  const PHONE_PX = 720; // assets/style.css's narrow-screen width
  const GAP_PX = 12;
  const byId = (id) => document.getElementById(id);

  function language() {
    const checked = document.querySelector("#language input:checked");
    return (checked && checked.value) || (document.documentElement.lang || "en").slice(0, 2);
  }

  function say(key, fields) {
    const names = window.R1V_NAMES || {};
    const table = names[language()] || names.en || {};
    let text = table[key] || (names.en || {})[key] || "";
    for (const [name, value] of Object.entries(fields || {})) text = text.replace(`{${name}}`, value);
    return text;
  }

  function setName(element, name) {
    if (name && element.getAttribute("aria-label") !== name) element.setAttribute("aria-label", name);
  }

  function nameControls() {
    for (const reset of document.querySelectorAll("button.reset-button")) {
      const label = reset.closest(".block")?.querySelector("[data-testid=block-info]");
      if (label) setName(reset, say("aria.reset", { label: label.textContent.trim() }));
    }
    for (const [id, key] of [["export-md", "aria.export_markdown"], ["export-html", "aria.export_html"]]) {
      const element = byId(id);
      const button = element && (element.matches("button") ? element : element.querySelector("button"));
      if (button) setName(button, say(key));
    }
    for (const slot of document.querySelectorAll("#branches .branch-slot")) {
      const label = slot.querySelector(".branch-count")?.textContent.trim() || "";
      for (const [selector, key] of [[".branch-previous", "aria.branch_previous"], [".branch-next", "aria.branch_next"]]) {
        const element = slot.querySelector(selector);
        const button = element && (element.matches("button") ? element : element.querySelector("button"));
        if (button && label) setName(button, say(key, { label }));
      }
    }
    for (const card of document.querySelectorAll("#examples button.gallery-item")) {
      setName(card, say("aria.example", { text: card.textContent.trim() }));
    }
  }

  function fitChat() {
    const chat = byId("chat");
    // The last row under the chat that shows: the editing note, the version switcher, else the stats line.
    const last = ["editing", "branches", "stats-line"].map(byId).find((element) => element && element.offsetParent);
    if (!chat || !last || !chat.offsetParent) return;
    const box = chat.getBoundingClientRect();
    const top = box.top + window.scrollY;
    const below = last.getBoundingClientRect().bottom - box.bottom;
    const empty = !chat.querySelector("[data-testid=user], [data-testid=bot]");
    const least = empty && window.innerWidth <= PHONE_PX ? EMPTY_PHONE_CHAT_PX : MIN_CHAT_PX;
    const height = Math.max(least, Math.floor(window.innerHeight - top - below - GAP_PX));
    document.documentElement.style.setProperty("--chat-height", `${height}px`);
  }

  /* A closed sidebar slides off screen but keeps its buttons in the tab order: make its content inert. */
  function guardHidden() {
    for (const sidebar of document.querySelectorAll(".sidebar")) {
      const content = sidebar.querySelector(".sidebar-content");
      const closed = !sidebar.classList.contains("open");
      if (content && content.inert !== closed) content.inert = closed;
    }
  }

  const LIVENESS_MS = 15000;
  const SENDING = "#chat-buttons button, #sweep-run, #sweep-stop, #compare-run, #question button";
  const realFetch = window.fetch.bind(window);
  let lost = false;
  let checking = false;

  async function serverAnswers() {
    try {
      await realFetch(new URL("healthz", document.baseURI), { cache: "no-store" });
      return true; // any HTTP answer: the server is there
    } catch (error) {
      return false;
    }
  }

  async function checkServer() {
    if (lost || checking) return;
    checking = true;
    if (!(await serverAnswers())) {
      lost = true;
      showLost();
    }
    checking = false;
  }

  window.fetch = function (...args) {
    const pending = realFetch(...args);
    pending.catch((error) => { if (error && error.name === "TypeError") checkServer(); }); // not an abort
    return pending;
  };

  function showLost() {
    const status = byId("model-status");
    if (status && !byId("connection-lost")) {
      const line = document.createElement("p");
      line.id = "connection-lost";
      line.setAttribute("role", "alert");
      line.textContent = say("status.connection_lost");
      status.classList.add("connection-lost");
      status.append(line);
    }
    for (const button of document.querySelectorAll(SENDING)) button.disabled = true;
  }

  function placeToasts() {
    const header = byId("header");
    const top = Math.max(16, Math.ceil((header ? header.getBoundingClientRect().bottom : 0) + 8));
    for (const wrap of document.querySelectorAll(".toast-wrap")) wrap.style.top = `${top}px`;
  }

  let queued = false;
  function refresh() {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      guardHidden();
      fitChat();
      nameControls();
      placeToasts();
      if (lost) showLost(); // a redraw re-enabled a button
    });
  }

  function regionVisible(first, last) {
    const top = first.getBoundingClientRect().top;
    const bottom = last.getBoundingClientRect().bottom;
    return top >= 0 && bottom <= window.innerHeight;
  }

  window.r1v = {
    /* The chat with its box, buttons and stats line on screen, e.g. after sending or picking an
     * example: the page's top when they fit there (the header stays), else they end at the bottom. */
    showChat() {
      const chat = byId("chat");
      const last = byId("stats-line") || byId("chat-buttons");
      if (!chat || !last || regionVisible(chat, last)) return;
      const top = chat.getBoundingClientRect().top + window.scrollY;
      const bottom = last.getBoundingClientRect().bottom + window.scrollY;
      const target = bottom <= window.innerHeight ? 0 : Math.min(top, bottom - window.innerHeight);
      window.scrollTo({ top: target, behavior: "smooth" });
    },
    /* The settings in view, the first one focused (narrow screens put them below the chat). */
    showSettings() {
      const settings = byId("settings");
      if (!settings) return;
      settings.scrollIntoView({ block: "start", behavior: "smooth" });
      settings.querySelector("input, button")?.focus({ preventScroll: true });
    },
  };

  function start() {
    new MutationObserver(refresh).observe(document.body, { childList: true, subtree: true, characterData: true });
    // A sidebar opens and closes by its class alone: guard at once, before the next Tab can land.
    new MutationObserver(guardHidden).observe(document.body, { attributes: true, attributeFilter: ["class"], subtree: true });
    new ResizeObserver(refresh).observe(document.body);
    window.addEventListener("resize", refresh);
    window.addEventListener("scroll", refresh, { passive: true });
    setInterval(() => { if (document.visibilityState === "visible") checkServer(); }, LIVENESS_MS);
    refresh();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
