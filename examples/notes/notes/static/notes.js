// The page of the notes plugin: lists the notes and adds them through its JSON routes.
//
// The gateway serves this page sandboxed, in an opaque origin, so each fetch() is a
// cross-origin request (Origin: null); the plugin's routes answer it for pages of
// this host (see cors_headers in plugin.py). Everything shown is set as text
// (textContent), never as markup: a note titled <script> shows as that text.

const NOTES = new URL("../notes", document.baseURI);
const PAGE = 10;
let offset = 0;

const list = document.getElementById("notes");
const statusLine = document.getElementById("status");
const position = document.getElementById("position");
const newer = document.getElementById("newer");
const older = document.getElementById("older");

async function call(url, options = {}) {
  const response = await fetch(url, options);
  if (response.status === 204) return null;
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.error || `the plugin answered ${response.status}`);
  return answer;
}

function element(tag, text, className) {
  const made = document.createElement(tag);
  if (text !== undefined) made.textContent = text;
  if (className) made.className = className;
  return made;
}

function show(note) {
  const item = element("li");
  item.append(element("h2", note.title));
  if (note.body) item.append(element("p", note.body));
  const words = note.word_count === 1 ? "1 word" : `${note.word_count} words`;
  item.append(element("small", `${words} · ${new Date(note.updated_at).toLocaleString()}`));
  const remove = element("button", "Delete", "delete");
  remove.type = "button";
  remove.addEventListener("click", () => run(async () => {
    await call(new URL(`notes/${note.id}`, NOTES), { method: "DELETE" });
    await load();
  }));
  item.append(remove);
  return item;
}

async function load() {
  const url = new URL(NOTES);
  url.searchParams.set("limit", PAGE);
  url.searchParams.set("offset", offset);
  const page = await call(url);
  if (page.notes.length === 0 && offset > 0) {  // the last note of a page was deleted
    offset = Math.max(0, offset - PAGE);
    return load();
  }
  list.replaceChildren(...page.notes.map(show));
  const last = offset + page.notes.length;
  position.textContent = page.total ? `${offset + 1}–${last} of ${page.total}` : "no notes yet";
  newer.hidden = offset === 0;
  older.hidden = page.next_offset === null;
}

async function run(action) {
  statusLine.textContent = "";
  try {
    await action();
  } catch (error) {
    statusLine.textContent = error.message;
  }
}

document.getElementById("new-note").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.target;
  const fields = new FormData(form);  // not form.title: that is the form's own attribute
  run(async () => {
    await call(NOTES, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ title: fields.get("title"), body: fields.get("body") }),
    });
    form.reset();
    offset = 0;
    await load();
  });
});
newer.addEventListener("click", () => run(() => { offset = Math.max(0, offset - PAGE); return load(); }));
older.addEventListener("click", () => run(() => { offset += PAGE; return load(); }));

run(load);
