// Id tags: list with search, create/edit (status, expiry, parent group), delete, CSV import.
import { api, can, del, get, put } from "../api.js";
import { badge, busy, clear, fmt, h, table, toast } from "../dom.js";

export async function render(main) {
  document.title = "Id tags · WattHub";
  const operator = can("operator");
  const search = h("input", { type: "search", id: "tag-search", placeholder: "filter" });
  const list = h("div", { id: "tags" });
  const formBox = h("div", {});
  let tags = [];

  async function load() {
    tags = await get("/id-tags");
    draw();
  }
  function draw() {
    const q = search.value.trim().toLowerCase();
    const shown = tags.filter((t) => !q || t.idTag.toLowerCase().includes(q) || (t.parentIdTag || "").toLowerCase().includes(q) || (t.note || "").toLowerCase().includes(q));
    clear(
      list,
      table(
        [
          { label: "Id tag", render: (t) => h("code", {}, t.idTag) },
          { label: "Status", render: (t) => badge(t.status) },
          { label: "Expires", render: (t) => fmt.time(t.expiryDate) },
          { label: "Parent (group)", render: (t) => t.parentIdTag || "–" },
          { label: "Concurrent", cls: "hide-narrow", render: (t) => (t.allowConcurrentTx ? "yes" : "no") },
          { label: "Note", cls: "hide-narrow", key: "note" },
          operator
            ? {
                label: "",
                render: (t) => [
                  h("button", { type: "button", class: "secondary", onclick: () => edit(t) }, "Edit"),
                  " ",
                  h("button", { type: "button", class: "danger", onclick: (e) => confirm(`Delete id tag ${t.idTag}?`) && busy(e.currentTarget, async () => (await del(`/id-tags/${encodeURIComponent(t.idTag)}`), toast(`Deleted ${t.idTag}`), load())) }, "Delete"),
                ],
              }
            : null,
        ].filter(Boolean),
        shown,
        { empty: "No id tags. Stations can only charge with a known, accepted tag." },
      ),
    );
  }

  function edit(tag) {
    const t = tag || {};
    const idTag = h("input", { id: "tag-id", required: true, maxlength: 20, value: t.idTag || "", disabled: Boolean(tag) });
    const status = h("select", { id: "tag-status" }, ["Accepted", "Blocked", "Expired", "Invalid"].map((v) => h("option", { value: v, selected: v === (t.status || "Accepted") }, v)));
    const expiry = h("input", { id: "tag-expiry", type: "datetime-local", value: t.expiryDate ? t.expiryDate.slice(0, 16) : "" });
    const parent = h("input", { id: "tag-parent", maxlength: 20, value: t.parentIdTag || "" });
    const concurrent = h("input", { id: "tag-concurrent", type: "checkbox", checked: t.allowConcurrentTx });
    const note = h("input", { id: "tag-note", value: t.note || "" });
    const save = h("button", { type: "submit" }, tag ? "Save" : "Add id tag");
    const form = h(
      "form",
      { class: "card form", id: "tag-form" },
      h("label", {}, h("span", { class: "req" }, "Id tag"), idTag),
      h("label", {}, "Status", status),
      h("label", {}, "Expires (UTC)", expiry),
      h("label", {}, "Parent id tag", parent),
      h("label", { class: "inline" }, concurrent, "Concurrent transactions"),
      h("label", {}, "Note", note),
      save,
      h("button", { type: "button", class: "secondary", onclick: () => clear(formBox) }, "Cancel"),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      busy(save, async () => {
        await put(`/id-tags/${encodeURIComponent(idTag.value.trim())}`, {
          status: status.value,
          expiryDate: expiry.value ? `${expiry.value}:00Z` : null,
          parentIdTag: parent.value.trim() || null,
          allowConcurrentTx: concurrent.checked,
          note: note.value,
        });
        toast(`Saved ${idTag.value.trim()}`);
        clear(formBox);
        await load();
      });
    });
    clear(formBox, form);
    (tag ? status : idTag).focus();
  }

  const file = h("input", { type: "file", id: "tag-csv", accept: ".csv,text/csv" });
  file.addEventListener("change", async () => {
    if (!file.files.length) return;
    try {
      const text = await file.files[0].text();
      const answer = await api("POST", "/id-tags/import", text, { contentType: "text/csv" });
      toast(`Imported ${answer.imported} id tags`);
      await load();
    } catch (err) {
      toast(`Import refused, nothing changed: ${err.message}`, true);
    } finally {
      file.value = "";
    }
  });
  search.addEventListener("input", draw);
  main.append(
    h("h1", {}, "Id tags", operator ? h("button", { type: "button", id: "add-tag", onclick: () => edit(null) }, "Add id tag") : null),
    formBox,
    h(
      "div",
      { class: "toolbar" },
      h("label", {}, "Search", search),
      operator ? h("label", {}, "Import CSV (idTag,status,expiryDate,parentIdTag)", file) : null,
    ),
    list,
  );
  await load();
}
