// dicomize serve: drag and drop with upload progress, settings saved as they change, checks as
// you type, live status. Plain JavaScript, no build step; every request carries the CSRF token.
"use strict";

document.documentElement.classList.add("js"); // the settings' save buttons are for no-JS only

const csrf = document.querySelector('meta[name="csrf-token"]').content;
const notice = document.getElementById("notice");

function say(text, problem) {
  if (!notice) return;
  notice.textContent = text;
  notice.classList.toggle("error", Boolean(problem));
  // Said where it is seen: the control that led to it may be a long way down a phone's page.
  notice.scrollIntoView({ block: "nearest" });
}

// -- uploads ---------------------------------------------------------------------------------
// The names being sent are kept for the tab (sessionStorage) until their answer comes: a page
// reloaded or left meanwhile finds them on its next load and says which did not arrive.
const sendingKey = (visit) => `dicomize-sending-${visit}`;
const noticeKey = (visit) => `dicomize-notice-${visit}`;
let uploading = 0;
let reloadWhenDone = false;

function remember(visit, names, keep) {
  const list = JSON.parse(sessionStorage.getItem(sendingKey(visit)) || "[]");
  for (const name of names) {
    if (keep) list.push(name);
    else if (list.includes(name)) list.splice(list.indexOf(name), 1);
  }
  if (list.length) sessionStorage.setItem(sendingKey(visit), JSON.stringify(list));
  else sessionStorage.removeItem(sendingKey(visit));
}

function upload(zone, files) {
  // A setting typed just before the drop is saved first: it is the files' too.
  const chosen = [...files];
  flushSettings().then(() => send(zone, chosen));
}

function send(zone, files) {
  const section = zone.closest(".series");
  const bar = section.querySelector("progress");
  const problem = section.querySelector(".upload-error");
  const visit = zone.dataset.visit;
  const names = files.map((file) => file.name);
  const body = new FormData();
  for (const file of files) body.append("files", file, file.name);
  const request = new XMLHttpRequest();
  request.open("POST", `/visit/${visit}/files?series=${zone.dataset.series}`);
  request.setRequestHeader("X-CSRF-Token", csrf);
  request.upload.addEventListener("progress", (event) => {
    if (event.lengthComputable) bar.value = Math.round((100 * event.loaded) / event.total);
  });
  const ended = () => {
    uploading -= 1;
    remember(visit, names, false);
    bar.hidden = true;
  };
  request.addEventListener("load", () => {
    ended();
    let answer = {};
    try { answer = JSON.parse(request.responseText); } catch (error) { answer = {}; }
    if (request.status !== 200) {
      problem.textContent = answer.error || "The files were not taken: reload the page and try again.";
      return;
    }
    const notes = (answer.notes || []).join(" ");
    if (answer.reload) {
      // A series was made for another kind of file: the page shows it once reloaded.
      if (notes) sessionStorage.setItem(noticeKey(visit), notes);
      reloadWhenDone = true;
    } else if (notes) {
      say(notes, false);
    }
    if (reloadWhenDone && uploading === 0) flushSettings().then(() => window.location.reload());
    else refresh();
  });
  request.addEventListener("error", () => {
    ended();
    problem.textContent = "The upload did not reach the server: check the connection and add the files again.";
  });
  remember(visit, names, true);
  uploading += 1;
  bar.value = 0;
  bar.hidden = false;
  problem.textContent = "";
  request.send(body);
}

// Leaving or reloading the page ends the uploads under way: the browser asks first.
window.addEventListener("beforeunload", (event) => {
  if (uploading > 0) {
    event.preventDefault();
    event.returnValue = "";
  }
});

for (const zone of document.querySelectorAll(".drop")) {
  const input = zone.querySelector("input[type=file]");
  input.addEventListener("change", () => { if (input.files.length) upload(zone, input.files); input.value = ""; });
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    if (event.dataTransfer.files.length) upload(zone, event.dataTransfer.files);
  });
}

function arrivals() {
  const zone = document.querySelector(".drop");
  if (!zone) return;
  const visit = zone.dataset.visit;
  const said = sessionStorage.getItem(noticeKey(visit));
  sessionStorage.removeItem(noticeKey(visit));
  if (said) say(said, false);
  const sent = JSON.parse(sessionStorage.getItem(sendingKey(visit)) || "[]");
  sessionStorage.removeItem(sendingKey(visit));
  const here = new Set([...document.querySelectorAll("li.object")].map((item) => item.dataset.name));
  const lost = sent.filter((name) => !here.has(name));
  if (!lost.length) return;
  const one = lost.length === 1;
  say(`${lost.join(", ")} did not arrive: the page was reloaded or left while ${one ? "it was" : "they were"} ` +
      `being sent. Add ${one ? "it" : "them"} again.`, true);
}
arrivals();

// -- series settings: each change is saved as it is made --------------------------------------
function showProblems(form, problems) {
  for (const field of form.querySelectorAll("[aria-describedby]")) {
    const message = document.getElementById(field.getAttribute("aria-describedby"));
    const problem = problems[field.name] || "";
    if (message) message.textContent = problem;
    field.setAttribute("aria-invalid", problem ? "true" : "false");
  }
}

// Each form's pending save, to be made at once before an upload or a reload.
const savers = [];
function flushSettings() { return Promise.all(savers.map((saver) => saver.flush())); }

for (const form of document.querySelectorAll("form[data-autosave]")) {
  const status = form.querySelector(".saved");
  let last = new URLSearchParams(new FormData(form)).toString();
  let queue = Promise.resolve();
  let timer = null;
  const unsaved = () => new URLSearchParams(new FormData(form)).toString() !== last;
  const save = async () => {
    const body = new URLSearchParams(new FormData(form));
    if (body.toString() === last) return;
    status.textContent = "Saving…";
    const answer = await fetch(form.action, {
      method: "POST",
      headers: { Accept: "application/json", "X-CSRF-Token": csrf },
      body,
    });
    let reply = {};
    try { reply = await answer.json(); } catch (error) { reply = {}; }
    showProblems(form, reply.problems || {});
    if (!answer.ok) {
      status.textContent = reply.problems ? "Not saved: see above." : "Not saved: reload the page and try again.";
      return;
    }
    last = body.toString();
    status.textContent = reply.saved;
    const description = form.closest(".series").querySelector("h2 .description");
    const named = (body.get("SeriesDescription") || "").trim();
    if (description) description.textContent = named ? `: ${named}` : "";
    refresh();
  };
  const later = () => {
    clearTimeout(timer);
    queue = queue.then(save).catch(() => { status.textContent = "Not saved: check the connection."; });
    return queue;
  };
  savers.push({ flush: later, form, unsaved });
  form.addEventListener("change", later);
  form.addEventListener("input", (event) => {
    if (event.target.tagName !== "INPUT") return;
    clearTimeout(timer);
    timer = setTimeout(later, 800);
  });
  form.addEventListener("submit", (event) => { event.preventDefault(); later(); });
}

// A change typed just before the page is left is sent anyway (the body carries the CSRF token).
window.addEventListener("pagehide", () => {
  for (const saver of savers) {
    if (saver.unsaved()) navigator.sendBeacon(saver.form.action, new URLSearchParams(new FormData(saver.form)));
  }
});

// -- checked with the command line's own rules, on the server, as the user types --------------
let pending = null;
for (const input of document.querySelectorAll("input[data-check]")) {
  input.addEventListener("input", () => {
    clearTimeout(pending);
    pending = setTimeout(async () => {
      const answer = await fetch("/check", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({ keyword: input.dataset.check, value: input.value }),
      });
      if (!answer.ok) return;
      const { error, reading } = await answer.json();
      const message = document.getElementById(input.getAttribute("aria-describedby"));
      if (message) message.textContent = error;
      const read = input.dataset.reading && document.getElementById(input.dataset.reading);
      if (read) read.textContent = reading && !error ? `Read as ${reading}` : "";
      input.setAttribute("aria-invalid", error ? "true" : "false");
    }, 250);
  });
}

// -- the file list follows the jobs until none is still moving ---------------------------------
const files = document.getElementById("files");
const moving = ["new", "converted", "stored"];
async function refresh() {
  if (!files) return;
  // A list being used (a file's "move to" open) is not replaced under the hand.
  if (files.contains(document.activeElement)) return;
  const answer = await fetch(files.dataset.src, { headers: { Accept: "text/html" } });
  if (answer.ok) files.innerHTML = await answer.text();
  showSend();
}
// A visit that is done has nothing left to send: its next step is the next visit.
function showSend() {
  const send = document.getElementById("send-section");
  if (send && files) send.hidden = Boolean(files.querySelector("#summary.done"));
}
showSend();
if (files) {
  setInterval(() => {
    const states = [...files.querySelectorAll("[data-state]")].map((item) => item.dataset.state);
    if (states.some((state) => moving.includes(state))) refresh();
  }, 1000);
}

// -- one tap, one send: the button waits for its answer -------------------------------------
const sendForm = document.querySelector("#send-section form");
if (sendForm) {
  const button = sendForm.querySelector("button");
  const label = button.textContent;
  sendForm.addEventListener("submit", (event) => {
    if (button.disabled) {
      event.preventDefault();
      return;
    }
    button.disabled = true;
    button.textContent = button.dataset.busy || label;
  });
  // A page come back to from the history is as it was left: the button is ready again.
  window.addEventListener("pageshow", () => {
    button.disabled = false;
    button.textContent = label;
  });
}
