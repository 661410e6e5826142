// dicomize serve: drag and drop with upload progress, checks as you type, live status.
// Plain JavaScript, no build step; every request carries the page's CSRF token.
"use strict";

const csrf = document.querySelector('meta[name="csrf-token"]').content;

function upload(zone, files) {
  const section = zone.closest(".series");
  const bar = section.querySelector("progress");
  const problem = section.querySelector(".upload-error");
  const body = new FormData();
  for (const file of files) body.append("files", file, file.name);
  const request = new XMLHttpRequest();
  request.open("POST", `/visit/${zone.dataset.visit}/files?series=${zone.dataset.series}`);
  request.setRequestHeader("X-CSRF-Token", csrf);
  request.upload.addEventListener("progress", (event) => {
    if (event.lengthComputable) bar.value = Math.round((100 * event.loaded) / event.total);
  });
  request.addEventListener("load", () => {
    bar.hidden = true;
    let answer = {};
    try { answer = JSON.parse(request.responseText); } catch (error) { answer = {}; }
    problem.textContent = request.status === 200 ? "" : (answer.error || request.responseText);
    refresh();
  });
  request.addEventListener("error", () => {
    bar.hidden = true;
    problem.textContent = "The upload did not reach the server: check the connection and try again.";
  });
  bar.value = 0;
  bar.hidden = false;
  problem.textContent = "";
  request.send(body);
}

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

// Checked with the command line's own rules, on the server, as the user types.
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
      const { error } = await answer.json();
      const message = document.getElementById(input.getAttribute("aria-describedby"));
      if (message) message.textContent = error;
      input.setAttribute("aria-invalid", error ? "true" : "false");
    }, 250);
  });
}

// The file list follows the jobs until none is still moving.
const files = document.getElementById("files");
const moving = ["new", "converted", "stored"];
async function refresh() {
  if (!files) return;
  const answer = await fetch(files.dataset.src, { headers: { Accept: "text/html" } });
  if (answer.ok) files.innerHTML = await answer.text();
}
if (files) {
  setInterval(() => {
    const states = [...files.querySelectorAll("[data-state]")].map((item) => item.dataset.state);
    if (states.some((state) => moving.includes(state))) refresh();
  }, 1000);
}
